// The image store with a fake registry and the vfs driver (pull, shared layers, tag, delete,
// digest mismatch), and the image API's encoders.
#include <boost/test/unit_test.hpp>

#include "actors/engine.hpp"
#include "actors/events.hpp"
#include "actors/images/store.hpp"
#include "actors/registry/client.hpp"
#include "api/images.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"
#include "tests/unit/util.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using namespace berth;
using namespace std::chrono_literals;
using berth::test::gzip;

namespace {

/// One fake image: gzip'd layers and a config naming their diff IDs.
struct fake_image {
  std::vector<std::string> tars;
  std::vector<std::string> blobs;
  resolved_image resolved;

  explicit fake_image(std::vector<std::vector<std::pair<std::string, std::string>>> layers,
                      std::string created = "2024-01-02T03:04:05Z") {
    std::string diff_ids;
    for (auto& files : layers) {
      tars.push_back(test::make_tar(files));
      blobs.push_back(gzip(tars.back()));
      if (!diff_ids.empty()) diff_ids += ",";
      diff_ids += "\"" + io::digest_of(tars.back()) + "\"";
      resolved.layers.push_back(layer_descriptor{registry::mt_docker_layer,
                                                 io::digest_of(blobs.back()),
                                                 static_cast<int64_t>(blobs.back().size()),
                                                 {}});
    }
    resolved.config =
        R"({"architecture":"amd64","os":"linux","created":")" + created +
        R"(","config":{"Cmd":["sh"],"Labels":{"a":"b"}},"rootfs":{"type":"layers","diff_ids":[)" +
        diff_ids + R"(]},"history":[{"created_by":"test"}]})";
    resolved.config_digest = io::digest_of(resolved.config);
    resolved.manifest_digest = io::digest_of("manifest of " + resolved.config);
  }
};

struct fake_registry_state {
  static inline const char* name = "fake-registry";
};

/// Serves fake images by reference; blobs by digest (possibly corrupted).
registry_actor::behavior_type
fake_registry(registry_actor::stateful_pointer<fake_registry_state>,
              std::shared_ptr<std::map<std::string, fake_image>> images,
              std::shared_ptr<std::atomic<int>> opened) {
  return {
      [images](atom::resolve, std::string& ref, std::string&,
               std::string&) -> caf::result<resolved_image> {
        auto it = images->find(ref);
        if (it == images->end())
          return make_error(ec::not_found, "manifest for " + ref + " not found: manifest unknown");
        auto r = it->second.resolved;
        r.reference = ref;
        return r;
      },
      [images](atom::tags, std::string& repo,
               std::string&) -> caf::result<std::vector<std::string>> {
        std::vector<std::string> tags;
        for (auto& [ref, img] : *images)
          if (ref.rfind(repo + ":", 0) == 0) tags.push_back(ref.substr(repo.size() + 1));
        if (tags.empty())
          return make_error(ec::not_found, "repository " + repo + " not found: name unknown");
        return tags;
      },
      [images, opened](atom::open_blob, std::string&, std::string&,
                       layer_descriptor& d) -> caf::result<blob_handle> {
        for (auto& [ref, img] : *images)
          for (std::size_t i = 0; i < img.blobs.size(); ++i)
            if (img.resolved.layers[i].digest == d.digest) {
              ++*opened;
              auto s = std::make_shared<registry::blob_stream>();
              s->length = static_cast<int64_t>(img.blobs[i].size());
              s->body = io::string_reader(img.blobs[i]);
              return blob_handle{s};
            }
        return make_error(ec::not_found, "blob unknown");
      },
      [](atom::push, std::string&, std::string&) -> caf::result<registry_session> {
        return make_error(ec::not_implemented, "the fake registry takes no push");
      },
      [](atom::config, daemon_config&) {},
      [](job&) -> job_result { return {}; },
  };
}

struct collected {
  std::vector<progress_message> messages;
  caf::error error;
  std::atomic<bool> done{false}; // set last: the test thread reads the rest after it
};

// (CAF 0.17.6: a function actor needs at least one argument besides self, or UBSan trips.)
progress_sink_actor::behavior_type recording_sink(progress_sink_actor::pointer,
                                                  std::shared_ptr<collected> log) {
  return {
      [log](progress_message& m) { log->messages.push_back(m); },
      [log](atom::done, caf::error& err) {
        log->error = err;
        log->done = true;
      },
  };
}

struct store_fixture {
  store_fixture() : sys{test::actor_config()} {
    char tmpl[] = "/tmp/berth-images-XXXXXX";
    root = ::mkdtemp(tmpl);
    auto engine = spawn_engine(sys, engine_options{{}, {}, "test", "vfs", {}});
    BOOST_REQUIRE(engine);
    this->engine = *engine;
    auto bus = spawn_events(sys, events_options{*engine});
    BOOST_REQUIRE(bus);
    events = *bus;
    registry = sys.spawn(fake_registry, images, opened);
    start_store();
  }
  ~store_fixture() {
    for (auto h : {caf::actor_cast<caf::actor>(store), caf::actor_cast<caf::actor>(registry),
                   caf::actor_cast<caf::actor>(events), caf::actor_cast<caf::actor>(engine)})
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
    io::remove_all(root);
  }
  void start_store() {
    if (store) {
      caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
      std::this_thread::sleep_for(50ms);
    }
    // a fresh engine each time: the store registers its jobs again
    auto made = graph::make_driver("vfs", root);
    BOOST_REQUIRE(made);
    std::shared_ptr<graph::driver> drv = std::move(*made);
    driver = drv;
    auto s = spawn_image_store(sys, image_store_options{root, drv, 3, engine, events, registry});
    BOOST_REQUIRE(s);
    store = *s;
  }
  job_result run(job j) {
    caf::scoped_actor self{sys};
    job_result out;
    self->request(store, 30s, std::move(j))
        .receive([&](job_result& r) { out = std::move(r); },
                 [&](caf::error& err) {
                   out = job_result{status_err, err, {}};
                 });
    return out;
  }
  std::shared_ptr<collected> pull(const std::string& ref, bool all_tags = false) {
    auto log = std::make_shared<collected>();
    auto sink = sys.spawn(recording_sink, log);
    std::vector<std::string> args{ref, ""};
    if (all_tags) args.emplace_back("all");
    auto r = run(job{"pull", std::move(args), {}, caf::make_message(sink)});
    for (int i = 0; i < 100 && !log->done; ++i)
      std::this_thread::sleep_for(10ms);
    if (r.status != status_ok && !log->error) log->error = r.error;
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
    return log;
  }
  std::vector<image_info> list() {
    auto r = run(job{"images", {}, {}, caf::make_message(filter_args{})});
    BOOST_REQUIRE(r.status == status_ok);
    return r.output.get_as<std::vector<image_info>>(0);
  }
  std::size_t files(const std::string& sub) {
    std::size_t n = 0;
    if (auto* d = ::opendir((root + "/" + sub).c_str())) {
      while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
      ::closedir(d);
    }
    return n;
  }

  caf::actor_system sys;
  std::string root;
  engine_actor engine;
  events_actor events;
  registry_actor registry;
  image_store_actor store;
  std::shared_ptr<graph::driver> driver;
  std::shared_ptr<std::map<std::string, fake_image>> images =
      std::make_shared<std::map<std::string, fake_image>>();
  std::shared_ptr<std::atomic<int>> opened = std::make_shared<std::atomic<int>>(0);
};

bool has_status(const collected& c, const std::string& status) {
  return std::any_of(c.messages.begin(), c.messages.end(),
                     [&](const progress_message& m) { return m.status == status; });
}

} // namespace

BOOST_AUTO_TEST_SUITE(image_store)

BOOST_FIXTURE_TEST_CASE(pull_list_tag_delete, store_fixture) {
  images->emplace("docker.io/library/app:latest", fake_image{{{{"bin/a", "1"}}, {{"etc/b", "2"}}}});
  images->emplace("docker.io/library/other:latest",
                  fake_image{{{{"bin/a", "1"}}, {{"etc/c", "3"}}}, "2024-02-01T00:00:00Z"});
  auto first = pull("app");
  BOOST_TEST(!first->error, error_message(first->error));
  BOOST_TEST(has_status(*first, "Pull complete"));
  BOOST_TEST(has_status(*first, "Status: Downloaded newer image for app:latest"));
  BOOST_TEST(*opened == 2);
  // the shared bottom layer is not fetched again
  auto second = pull("other:latest");
  BOOST_TEST(!second->error, error_message(second->error));
  BOOST_TEST(has_status(*second, "Already exists"));
  BOOST_TEST(*opened == 3);
  auto again = pull("docker.io/library/app:latest");
  BOOST_TEST(has_status(*again, "Status: Image is up to date for app:latest"));
  auto all = list();
  BOOST_REQUIRE(all.size() == 2u);
  BOOST_TEST(all[0].repo_tags == std::vector<std::string>{"other:latest"}); // newest first
  BOOST_TEST(files("image/vfs/layers") == 3u);
  // tag, then delete by tag (untag only) and by ID (delete, with the layers only it used)
  auto tagged = run(job{"image_tag", {"app", "docker.io/library/copy", "v1"}, {}, {}});
  BOOST_TEST(tagged.status == status_ok);
  auto untag = run(job{"image_delete", {"copy:v1"}, {}, {}});
  BOOST_REQUIRE(untag.status == status_ok);
  auto items = untag.output.get_as<std::vector<image_delete_item>>(0);
  BOOST_REQUIRE(items.size() == 1u);
  BOOST_TEST(items[0].kind == "Untagged");
  BOOST_TEST(items[0].value == "copy:v1");
  auto id = all[1].id;
  auto del = run(job{"image_delete", {id.substr(7, 10)}, {}, {}});
  BOOST_REQUIRE_MESSAGE(del.status == status_ok, error_message(del.error));
  auto deleted = del.output.get_as<std::vector<image_delete_item>>(0);
  // untag app:latest and its digest, delete the image and its top layer (the bottom is shared)
  BOOST_TEST(std::count_if(deleted.begin(), deleted.end(),
                           [](auto& i) { return i.kind == "Deleted"; }) == 2);
  BOOST_TEST(files("image/vfs/layers") == 2u);
  // what is on disk comes back after a restart
  start_store();
  auto reloaded = list();
  BOOST_REQUIRE(reloaded.size() == 1u);
  BOOST_TEST(reloaded[0].repo_tags == std::vector<std::string>{"other:latest"});
  auto missing = run(job{"image_inspect", {"app"}, {}, {}});
  BOOST_TEST(missing.status != status_ok);
  BOOST_TEST(error_message(missing.error) == "No such image: app");
}

// docker pull -a: every tag, one stream, moby's messages (per tag "Pulling from" and "Digest",
// then one status for the repository)
BOOST_FIXTURE_TEST_CASE(pull_all_tags, store_fixture) {
  images->emplace("docker.io/library/app:v1", fake_image{{{{"bin/a", "1"}}}});
  images->emplace("docker.io/library/app:v2", fake_image{{{{"bin/a", "1"}}, {{"etc/b", "2"}}}});
  auto r = pull("app", true);
  BOOST_TEST(!r->error, error_message(r->error));
  BOOST_TEST(r->done.load());
  std::vector<std::string> pulling, digests;
  for (auto& m : r->messages) {
    if (m.status == "Pulling from library/app") pulling.push_back(m.id);
    if (m.status.rfind("Digest: ", 0) == 0) digests.push_back(m.status);
  }
  BOOST_TEST(pulling == (std::vector<std::string>{"v1", "v2"}));
  BOOST_TEST(digests.size() == 2u);
  BOOST_REQUIRE(!r->messages.empty());
  BOOST_TEST(r->messages.back().status == "Status: Downloaded newer image for app");
  BOOST_TEST(has_status(*r, "Already exists")); // v2 shares v1's layer
  BOOST_TEST(list().size() == 2u);
  auto again = pull("app", true);
  BOOST_REQUIRE(!again->messages.empty());
  BOOST_TEST(again->messages.back().status == "Status: Image is up to date for app");
  auto missing = pull("nothere", true);
  BOOST_TEST(error_message(missing->error).find("not found") != std::string::npos,
             error_message(missing->error));
}

BOOST_FIXTURE_TEST_CASE(corrupt_blob_fails_and_leaves_nothing, store_fixture) {
  fake_image img{{{{"bin/a", "1"}}}};
  img.blobs[0][img.blobs[0].size() / 2] ^= 0x20; // the registry serves a corrupted blob
  images->emplace("docker.io/library/bad:latest", std::move(img));
  auto r = pull("bad");
  BOOST_REQUIRE(r->error);
  BOOST_TEST(error_message(r->error).find("filesystem layer verification failed for digest") !=
                 std::string::npos,
             error_message(r->error));
  BOOST_TEST(list().empty());
  BOOST_TEST(files("image/vfs/layers") == 0u);
  BOOST_TEST(driver->list().empty());
}

BOOST_FIXTURE_TEST_CASE(wrong_diff_id_fails_and_leaves_nothing, store_fixture) {
  fake_image img{{{{"bin/a", "1"}}}};
  auto wrong = io::digest_of("not the tar");
  auto pos = img.resolved.config.find(io::digest_of(img.tars[0]));
  img.resolved.config.replace(pos, wrong.size(), wrong);
  img.resolved.config_digest = io::digest_of(img.resolved.config);
  images->emplace("docker.io/library/bad:latest", std::move(img));
  auto r = pull("bad");
  BOOST_REQUIRE(r->error);
  BOOST_TEST(error_message(r->error).find("layers from manifest don't match image configuration") !=
             std::string::npos);
  BOOST_TEST(files("image/vfs/layers") == 0u);
  BOOST_TEST(driver->list().empty());
}

BOOST_FIXTURE_TEST_CASE(unknown_image_and_bad_reference, store_fixture) {
  auto r = pull("nothere");
  BOOST_REQUIRE(r->error);
  BOOST_TEST(error_message(r->error).find("not found") != std::string::npos);
  auto bad = run(job{"pull", {"UPPER", ""}, {}, caf::make_message(progress_sink_actor{})});
  BOOST_TEST(bad.status != status_ok);
  BOOST_TEST(error_message(bad.error).find("must be lowercase") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(image_encoders)

BOOST_AUTO_TEST_CASE(rfc3339_times) {
  BOOST_TEST(*parse_rfc3339("1970-01-01T00:00:01Z") == 1000000000);
  BOOST_TEST(*parse_rfc3339("1970-01-01T00:00:01.5Z") == 1500000000);
  BOOST_TEST(*parse_rfc3339("1970-01-01T01:00:00+01:00") == 0);
  BOOST_TEST(!parse_rfc3339("yesterday"));
}

BOOST_AUTO_TEST_CASE(progress_messages) {
  BOOST_TEST(api::encode_progress({"latest", "Pulling from library/busybox", -1, -1}) ==
             R"({"status":"Pulling from library/busybox","progressDetail":{},"id":"latest"})");
  BOOST_TEST(api::encode_progress({"", "Digest: sha256:ab", -1, -1}) ==
             R"({"status":"Digest: sha256:ab"})");
  auto p = api::encode_progress({"abc", "Downloading", 50, 100});
  BOOST_TEST(p.find(R"("progressDetail":{"current":50,"total":100})") != std::string::npos, p);
  BOOST_TEST(api::encode_stream_error("boom") ==
             R"({"errorDetail":{"message":"boom"},"error":"boom"})");
}

BOOST_AUTO_TEST_CASE(summaries_inspect_history) {
  image_info img;
  img.id = "sha256:" + std::string(64, 'a');
  img.config = R"({"created":"2024-01-02T03:04:05Z","os":"linux","architecture":"amd64",)"
               R"("config":{"Labels":{"k":"v"}},"history":[{"created_by":"a"},)"
               R"({"created_by":"b","empty_layer":true},{"created_by":"c"}]})";
  img.layer_sizes = {10, 20};
  img.size = 30;
  auto list = api::encode_image_summaries({img});
  BOOST_TEST(list.find(R"("RepoTags":["<none>:<none>"])") != std::string::npos, list);
  BOOST_TEST(list.find(R"("Created":1704164645)") != std::string::npos, list);
  BOOST_TEST(list.find(R"("Labels":{"k":"v"})") != std::string::npos, list);
  img.repo_tags = {"busybox:latest"};
  auto inspect = api::encode_image_inspect(img);
  BOOST_TEST(inspect.find(R"("Created":"2024-01-02T03:04:05Z")") != std::string::npos);
  BOOST_TEST(inspect.find(R"("LastTagTime":"0001-01-01T00:00:00Z")") != std::string::npos);
  auto history = api::encode_image_history(img);
  // newest first: c (20 bytes, the image's ID and tags), b (empty), a (10 bytes)
  BOOST_TEST(history.find(R"("Id":"sha256:aaaa)") < history.find(R"("CreatedBy":"b")"));
  BOOST_TEST(history.find(R"("CreatedBy":"c","Tags":["busybox:latest"],"Size":20)") !=
                 std::string::npos,
             history);
}

BOOST_AUTO_TEST_SUITE_END()
