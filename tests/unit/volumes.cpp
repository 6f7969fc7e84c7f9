// The volume store (create, list with filters, holds, rm -v, prune, reload), the mounts of a
// create (Binds, Mounts, Config.Volumes), and the volume API's encoders and parser.
#include <boost/test/unit_test.hpp>

#include "actors/containers/container.hpp"
#include "actors/engine.hpp"
#include "actors/events.hpp"
#include "actors/volumes/store.hpp"
#include "api/volumes.hpp"
#include "drivers/io.hpp"
#include "tests/unit/util.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <thread>

using namespace berth;
using namespace std::chrono_literals;

namespace {

bool is(const caf::error& err, ec code) {
  return err && err.category() == caf::atom("berth") && static_cast<ec>(err.code()) == code;
}

struct volume_fixture {
  volume_fixture() : sys{test::actor_config()} {
    auto e = spawn_engine(sys, engine_options{{}, {}, "test", "vfs", {}});
    BOOST_REQUIRE(e);
    engine = *e;
    auto bus = spawn_events(sys, events_options{engine});
    BOOST_REQUIRE(bus);
    events = *bus;
    start();
  }
  ~volume_fixture() {
    for (auto h : {caf::actor_cast<caf::actor>(store), caf::actor_cast<caf::actor>(events),
                   caf::actor_cast<caf::actor>(engine)})
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }
  void start() {
    if (store) {
      caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
      std::this_thread::sleep_for(50ms);
    }
    auto s = spawn_volume_store(sys, volume_store_options{dir.path, engine, events});
    BOOST_REQUIRE(s);
    store = *s;
  }
  job_result run(job j) {
    caf::scoped_actor self{sys};
    job_result out;
    self->request(store, 10s, std::move(j))
        .receive([&](job_result& r) { out = std::move(r); },
                 [&](caf::error& err) {
                   out = job_result{status_err, err, {}};
                 });
    return out;
  }
  caf::expected<std::vector<mount_point>> retain(const std::string& id,
                                                 std::vector<mount_point> mounts) {
    caf::scoped_actor self{sys};
    caf::expected<std::vector<mount_point>> out{caf::error{}};
    self->request(store, 10s, atom::retain_v, id, std::move(mounts))
        .receive([&](std::vector<mount_point>& r) { out = std::move(r); },
                 [&](caf::error& err) { out = std::move(err); });
    return out;
  }
  void release(const std::string& id, bool remove) {
    caf::anon_send(store, atom::release_v, id, remove);
  }
  job_result create(const std::string& name, std::map<std::string, std::string> labels = {}) {
    volume_info v;
    v.name = name;
    v.labels = std::move(labels);
    return run(job{"volume_create", {}, {}, caf::make_message(v)});
  }
  std::vector<std::string> names(filter_args f = {}) {
    auto r = run(job{"volumes", {}, {}, caf::make_message(std::move(f))});
    BOOST_REQUIRE(r.status == status_ok);
    std::vector<std::string> out;
    for (auto& v : r.output.get_as<std::vector<volume_info>>(0))
      out.push_back(v.name);
    return out;
  }
  bool exists(const std::string& path) {
    // removals run on a worker: give them a moment
    struct stat st;
    for (int i = 0; i < 100 && ::stat(path.c_str(), &st) == 0; ++i)
      std::this_thread::sleep_for(10ms);
    return ::stat(path.c_str(), &st) == 0;
  }

  test::temp_dir dir;
  caf::actor_system sys;
  engine_actor engine;
  events_actor events;
  volume_store_actor store;
};

mount_point volume_mount(std::string name, std::string dest) {
  mount_point m;
  m.source = std::move(name);
  m.destination = std::move(dest);
  return m;
}

const std::string id1(64, 'a');
const std::string id2(64, 'b');

} // namespace

BOOST_AUTO_TEST_SUITE(volume_store)

BOOST_FIXTURE_TEST_CASE(create_inspect_list_delete, volume_fixture) {
  auto r = create("data", {{"app", "web"}});
  BOOST_TEST_REQUIRE(r.status == status_ok, error_message(r.error));
  auto v = r.output.get_as<volume_info>(0);
  BOOST_TEST(v.name == "data");
  BOOST_TEST(v.driver == "local");
  BOOST_TEST(v.mountpoint == dir.path + "/volumes/data/_data");
  struct stat st;
  BOOST_TEST(::stat(v.mountpoint.c_str(), &st) == 0);
  // a second create of the name answers the same volume
  BOOST_TEST(create("data").output.get_as<volume_info>(0).labels.count("app") == 1);
  BOOST_TEST(create("other").status == status_ok);
  BOOST_TEST((names() == std::vector<std::string>{"data", "other"}));
  BOOST_TEST((names({{"label", {"app=web"}}}) == std::vector<std::string>{"data"}));
  BOOST_TEST((names({{"name", {"oth"}}}) == std::vector<std::string>{"other"}));
  auto i = run(job{"volume_inspect", {"data"}, {}, {}});
  BOOST_TEST(i.status == status_ok);
  BOOST_TEST(i.output.get_as<volume_info>(0).ref_count == 0);
  BOOST_TEST(run(job{"volume_delete", {"data"}, {}, {}}).status == status_ok);
  BOOST_TEST(!exists(dir.path + "/volumes/data"));
  auto missing = run(job{"volume_inspect", {"data"}, {}, {}});
  BOOST_TEST(is(missing.error, ec::not_found));
  BOOST_TEST(error_message(missing.error) == "get data: no such volume");
  BOOST_TEST(is(run(job{"volume_delete", {"data"}, {}, {}}).error, ec::not_found));
  BOOST_TEST(run(job{"volume_delete", {"data"}, {{"force", "1"}}, {}}).status == status_ok);
}

BOOST_FIXTURE_TEST_CASE(bad_names_options_and_drivers, volume_fixture) {
  BOOST_TEST(is(create("a").error, ec::invalid_argument));
  BOOST_TEST(is(create("bad/name").error, ec::invalid_argument));
  BOOST_TEST(error_message(create("-x").error).find("includes invalid characters") !=
             std::string::npos);
  volume_info v;
  v.name = "opts";
  v.options = {{"size", "1g"}};
  BOOST_TEST(
      is(run(job{"volume_create", {}, {}, caf::make_message(v)}).error, ec::invalid_argument));
  v.options.clear();
  v.driver = "nfs-plugin";
  BOOST_TEST(is(run(job{"volume_create", {}, {}, caf::make_message(v)}).error, ec::not_found));
  BOOST_TEST(names().empty());
  BOOST_TEST(is(run(job{"volumes", {}, {}, caf::make_message(filter_args{{"color", {"x"}}})}).error,
                ec::invalid_argument));
}

BOOST_FIXTURE_TEST_CASE(holds_rm_v_and_prune, volume_fixture) {
  // a named volume made by its first use, an anonymous one, and a bind passing through
  mount_point bind;
  bind.type = "bind";
  bind.source = bind.host_path = "/tmp";
  bind.destination = "/host";
  auto taken = retain(id1, {volume_mount("shared", "/data"), volume_mount("", "/cache"), bind});
  BOOST_TEST_REQUIRE(static_cast<bool>(taken), test::why(taken));
  BOOST_TEST((*taken)[0].host_path == dir.path + "/volumes/shared/_data");
  BOOST_TEST(!(*taken)[0].anonymous);
  auto anon = (*taken)[1].source;
  BOOST_TEST(anon.size() == 64u);
  BOOST_TEST((*taken)[1].anonymous);
  BOOST_TEST((*taken)[2].host_path == "/tmp");
  BOOST_TEST(static_cast<bool>(retain(id2, {volume_mount("shared", "/data")})));
  // in use: 409 naming the users, and not dangling
  auto del = run(job{"volume_delete", {"shared"}, {}, {}});
  BOOST_TEST(is(del.error, ec::conflict));
  BOOST_TEST(error_message(del.error).find(id1) != std::string::npos);
  BOOST_TEST(names({{"dangling", {"true"}}}).empty());
  // rm -v of the first: its anonymous volume goes, the named one stays (still used)
  release(id1, true);
  BOOST_TEST(!exists(dir.path + "/volumes/" + anon));
  BOOST_TEST((names() == std::vector<std::string>{"shared"}));
  // the holds are in memory: a restarted store knows none until they are taken again
  start();
  BOOST_TEST(static_cast<bool>(retain(id2, {volume_mount("shared", "/data")})));
  BOOST_TEST(create("unused").status == status_ok);
  auto p = run(job{"volume_prune", {}, {}, caf::make_message(filter_args{})});
  BOOST_TEST_REQUIRE(p.status == status_ok);
  BOOST_TEST((p.output.get_as<std::vector<std::string>>(0) == std::vector<std::string>{"unused"}));
  release(id2, false);
  BOOST_TEST((names({{"dangling", {"1"}}}) == std::vector<std::string>{"shared"}));
}

BOOST_FIXTURE_TEST_CASE(a_failed_retain_takes_nothing, volume_fixture) {
  auto r = retain(id1, {volume_mount("fresh", "/a"), volume_mount("x", "/b")});
  BOOST_TEST(!r);
  BOOST_TEST(names().empty());
  BOOST_TEST(!exists(dir.path + "/volumes/fresh"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(container_mounts)

BOOST_AUTO_TEST_CASE(binds_mounts_and_image_volumes) {
  test::temp_dir tmp;
  container_config c;
  c.host.binds = {tmp.path + "/new:/srv:ro", "named:/data:nocopy", "/anon"};
  mount_point tmpfs;
  tmpfs.type = "tmpfs";
  tmpfs.destination = "/run/t";
  tmpfs.tmpfs_size = 1 << 20;
  c.host.mounts = {tmpfs};
  c.volumes = {"/data", "/image-vol/"};
  auto m = resolve_mounts(c);
  BOOST_TEST_REQUIRE(static_cast<bool>(m), test::why(m));
  BOOST_TEST_REQUIRE(m->size() == 5u);
  BOOST_TEST((*m)[0].type == "bind");
  BOOST_TEST((*m)[0].read_only);
  BOOST_TEST((*m)[0].host_path == tmp.path + "/new");
  struct stat st;
  BOOST_TEST(::stat((tmp.path + "/new").c_str(), &st) == 0); // -v makes a missing source
  BOOST_TEST((*m)[1].type == "volume");
  BOOST_TEST((*m)[1].source == "named");
  BOOST_TEST((*m)[1].no_copy);
  BOOST_TEST((*m)[2].source == "");
  BOOST_TEST((*m)[2].destination == "/anon");
  BOOST_TEST((*m)[3].type == "tmpfs");
  // the image's /data is mounted already; /image-vol gets an anonymous volume
  BOOST_TEST((*m)[4].destination == "/image-vol");
}

BOOST_AUTO_TEST_CASE(bad_mounts_are_400) {
  auto fails = [](container_config c, const std::string& text) {
    auto m = resolve_mounts(c);
    BOOST_TEST_REQUIRE(!m);
    BOOST_TEST(is(m.error(), ec::invalid_argument));
    BOOST_TEST(error_message(m.error()).find(text) != std::string::npos, error_message(m.error()));
  };
  container_config c;
  c.host.binds = {"/a:/x", "b:/x"};
  fails(c, "Duplicate mount point: /x");
  c.host.binds = {"vol:relative"};
  fails(c, "mount path must be absolute");
  c.host.binds = {"vol:/x:bogus"};
  fails(c, "invalid mode: bogus");
  c.host.binds = {"a:b:c:d"};
  fails(c, "invalid volume specification");
  c.host.binds = {"/a:/"};
  fails(c, "destination can't be '/'");
  c.host.binds.clear();
  mount_point bind;
  bind.type = "bind";
  bind.source = "/nonexistent/berth-test";
  bind.destination = "/x";
  c.host.mounts = {bind};
  fails(c, "bind source path does not exist: /nonexistent/berth-test");
  mount_point tmpfs;
  tmpfs.type = "tmpfs";
  tmpfs.source = "x";
  tmpfs.destination = "/t";
  c.host.mounts = {tmpfs};
  fails(c, "field Source must not be specified");
  mount_point none;
  none.type = "volume";
  c.host.mounts = {none};
  fails(c, "field Target must not be empty");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(volume_encoders)

BOOST_AUTO_TEST_CASE(inspect_list_and_create_body) {
  volume_info v;
  v.name = "data";
  v.mountpoint = "/var/lib/berth/volumes/data/_data";
  v.created_nano = 1700000000123456789;
  v.labels = {{"a", "b"}};
  v.size = 10;
  v.ref_count = 2;
  auto one = api::encode_volume(v);
  BOOST_TEST(one.find("\"CreatedAt\":\"2023-11-14T22:13:20Z\"") != std::string::npos, one);
  BOOST_TEST(one.find("\"Scope\":\"local\"") != std::string::npos);
  BOOST_TEST(one.find("UsageData") == std::string::npos);
  BOOST_TEST(api::encode_volume(v, true).find("\"UsageData\":{\"Size\":10,\"RefCount\":2}") !=
             std::string::npos);
  BOOST_TEST(api::encode_volume_list({}) == "{\"Volumes\":[],\"Warnings\":null}");
  auto body = api::parse_volume_create(
      R"({"Name":"x1","Driver":"","DriverOpts":{"type":"tmpfs"},"Labels":{"k":"v"}})");
  BOOST_TEST_REQUIRE(static_cast<bool>(body), test::why(body));
  BOOST_TEST(body->name == "x1");
  BOOST_TEST(body->options.at("type") == "tmpfs");
  BOOST_TEST(body->labels.at("k") == "v");
  BOOST_TEST(!api::parse_volume_create("{"));
  BOOST_TEST(!api::parse_volume_create(R"({"Name":5})"));
  BOOST_TEST(static_cast<bool>(api::parse_volume_create("")));
}

BOOST_AUTO_TEST_SUITE_END()
