// docker save / load tarballs, commit/import changes and import configs:
// actors/images/tarexport.cpp. Layers live in a vfs driver; tars are built here with libarchive.
#include "actors/images/tarexport.hpp"

#include "messages/error.hpp"
#include "tests/unit/util.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>

using namespace berth;
using namespace berth::images;
using namespace berth::test;
namespace json = boost::json;

namespace {

// The member names of a tar and how often each occurs.
std::map<std::string, int> members(const std::string& tar) {
  std::map<std::string, int> out;
  auto* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, tar.data(), tar.size());
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK)
    ++out[archive_entry_pathname(e)];
  archive_read_free(a);
  return out;
}

std::string config_of(const std::vector<std::string>& diff_ids, const std::string& cmd) {
  json::array ids;
  for (auto& d : diff_ids)
    ids.emplace_back(d);
  json::object cfg{{"architecture", "amd64"},
                   {"os", "linux"},
                   {"created", "2021-01-01T00:00:00Z"},
                   {"config", json::object{{"Cmd", json::array{cmd}}}},
                   {"rootfs", json::object{{"type", "layers"}, {"diff_ids", ids}}},
                   {"history", json::array{}}};
  return json::serialize(cfg);
}

// Two layers in a vfs driver and an image made of them.
struct layered {
  temp_dir tmp;
  std::unique_ptr<graph::driver> drv = graph::make_vfs(tmp.sub("vfs"));
  std::string tar1 = make_tar({{"etc/", ""}, {"etc/hello", "hello\n"}, {"bin/", ""}});
  std::string tar2 = make_tar({{"etc/world", "world\n"}, {"bin/sh", "->/bin/busybox"}});
  std::vector<std::string> diff_ids{io::digest_of(tar1), io::digest_of(tar2)};
  std::vector<std::string> cache_ids{io::random_hex(), io::random_hex()};

  layered() {
    BOOST_REQUIRE_MESSAGE(drv->apply_layer(cache_ids[0], "", io::string_reader(tar1)),
                          "apply layer 1");
    BOOST_REQUIRE_MESSAGE(drv->apply_layer(cache_ids[1], cache_ids[0], io::string_reader(tar2)),
                          "apply layer 2");
  }

  export_image image(const std::string& cmd, std::vector<std::string> tags, size_t n = 2) {
    export_image img;
    img.diff_ids.assign(diff_ids.begin(), diff_ids.begin() + static_cast<long>(n));
    img.cache_ids.assign(cache_ids.begin(), cache_ids.begin() + static_cast<long>(n));
    img.config = config_of(img.diff_ids, cmd);
    img.id = io::digest_of(img.config);
    img.repo_tags = std::move(tags);
    return img;
  }

  std::string save(const std::vector<export_image>& imgs) {
    std::string out;
    auto err = write_save_tar(imgs, *drv, [&out](const char* d, std::size_t n) -> caf::error {
      out.append(d, n);
      return caf::none;
    });
    BOOST_REQUIRE_MESSAGE(!err, error_message(err));
    return out;
  }
};

std::string sha_of_file(const std::string& path) {
  auto data = io::read_file(path);
  BOOST_REQUIRE(data);
  return io::digest_of(*data);
}

json::object change(const std::string& base, std::vector<std::string> changes) {
  auto r = apply_changes(base, changes);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  return json::parse(*r).as_object();
}

} // namespace

BOOST_AUTO_TEST_SUITE(tarexport)

BOOST_AUTO_TEST_CASE(save_then_load_round_trip) {
  layered l;
  auto img = l.image("sh", {"busybox:latest", "127.0.0.1:5000/x:1"});
  auto tar = l.save({img});
  auto names = members(tar);
  BOOST_TEST(names.count("manifest.json") == 1u);
  BOOST_TEST(names.count("repositories") == 1u);
  BOOST_TEST(names.count(io::digest_hex(img.id) + ".json") == 1u);
  auto dir = l.tmp.sub("load");
  auto loaded = unpack_load_tar(io::string_reader(tar), dir);
  BOOST_REQUIRE_MESSAGE(loaded, why(loaded));
  BOOST_REQUIRE_EQUAL(loaded->size(), 1u);
  auto& li = loaded->front();
  BOOST_TEST(li.config == img.config);
  BOOST_TEST(li.repo_tags == img.repo_tags);
  BOOST_REQUIRE_EQUAL(li.layer_paths.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    BOOST_TEST(li.layer_paths[i].rfind(dir, 0) == 0u);
    BOOST_TEST(sha_of_file(li.layer_paths[i]) == l.diff_ids[i]);
    auto v1dir = li.layer_paths[i].substr(0, li.layer_paths[i].rfind('/'));
    BOOST_TEST(*io::read_file(v1dir + "/VERSION") == "1.0");
    auto v1 = json::parse(*io::read_file(v1dir + "/json")).as_object();
    BOOST_TEST(v1.at("id").as_string() == v1dir.substr(v1dir.rfind('/') + 1));
    BOOST_TEST(v1.contains("parent") == (i == 1));
  }
  auto repos = json::parse(*io::read_file(dir + "/repositories")).as_object();
  auto top = li.layer_paths[1].substr(0, li.layer_paths[1].rfind('/'));
  top = top.substr(top.rfind('/') + 1);
  BOOST_TEST(repos.at("busybox").at("latest").as_string() == top);
  BOOST_TEST(repos.at("127.0.0.1:5000/x").at("1").as_string() == top);
}

BOOST_AUTO_TEST_CASE(shared_layers_written_once) {
  layered l;
  auto a = l.image("a", {"a:1"});
  auto b = l.image("b", {});
  auto base = l.image("base", {"base:latest"}, 1);
  auto tar = l.save({a, b, base});
  int layer_tars = 0;
  for (auto& [name, n] : members(tar)) {
    BOOST_TEST(n == 1, name << " written " << n << " times");
    if (name.size() > 10 && name.substr(name.size() - 10) == "/layer.tar") ++layer_tars;
  }
  BOOST_TEST(layer_tars == 2);
  auto loaded = unpack_load_tar(io::string_reader(tar), l.tmp.sub("load"));
  BOOST_REQUIRE_MESSAGE(loaded, why(loaded));
  BOOST_REQUIRE_EQUAL(loaded->size(), 3u);
  BOOST_TEST((*loaded)[1].repo_tags.empty());
  BOOST_TEST((*loaded)[1].config == b.config);
  BOOST_TEST((*loaded)[0].layer_paths == (*loaded)[1].layer_paths);
  BOOST_REQUIRE_EQUAL((*loaded)[2].layer_paths.size(), 1u);
  BOOST_TEST((*loaded)[2].layer_paths[0] == (*loaded)[0].layer_paths[0]);
  auto manifest = json::parse(*io::read_file(l.tmp.path + "/load/manifest.json")).as_array();
  BOOST_TEST(manifest[1].at("RepoTags").is_null());
}

BOOST_AUTO_TEST_CASE(gzip_compressed_save_loads) {
  layered l;
  auto img = l.image("sh", {"busybox:latest"});
  auto tar = gzip(l.save({img}));
  auto loaded = unpack_load_tar(io::string_reader(tar), l.tmp.sub("load"));
  BOOST_REQUIRE_MESSAGE(loaded, why(loaded));
  BOOST_TEST(loaded->front().config == img.config);
  BOOST_TEST(sha_of_file(loaded->front().layer_paths[1]) == l.diff_ids[1]);
}

BOOST_AUTO_TEST_CASE(writer_failure_is_reported) {
  layered l;
  int calls = 0;
  auto err = write_save_tar({l.image("sh", {})}, *l.drv, [&calls](const char*, std::size_t) {
    ++calls;
    return make_error(ec::system, "disk full");
  });
  BOOST_REQUIRE(err);
  BOOST_TEST(error_message(err) == "disk full");
  BOOST_TEST(calls == 1); // nothing is written after a failure
  // a layer the driver does not have: an error, and no tar trailer after it
  auto img = l.image("sh", {});
  img.cache_ids[1] = "missing";
  std::string out;
  err = write_save_tar({img}, *l.drv, [&out](const char* d, std::size_t n) -> caf::error {
    out.append(d, n);
    return caf::none;
  });
  BOOST_TEST(static_cast<bool>(err));
}

BOOST_AUTO_TEST_CASE(no_manifest_fails) {
  temp_dir tmp;
  auto tar = make_tar({{"foo/", ""}, {"foo/layer.tar", "x"}});
  auto r = unpack_load_tar(io::string_reader(tar), tmp.sub("a"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(http_status(r.error()) == 400u);
  BOOST_TEST(why(r).find("no manifest.json") != std::string::npos, why(r));
  auto legacy = make_tar({{"repositories", "{}"}});
  r = unpack_load_tar(io::string_reader(legacy), tmp.sub("b"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(why(r).find("not supported") != std::string::npos, why(r));
  r = unpack_load_tar(io::string_reader(make_tar({{"manifest.json", "{nope"}})), tmp.sub("c"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(why(r).find("manifest.json") != std::string::npos, why(r));
}

BOOST_AUTO_TEST_CASE(hostile_paths_fail) {
  temp_dir tmp;
  // a member escaping the directory
  auto r = unpack_load_tar(io::string_reader(make_tar({{"../evil", "x"}})), tmp.sub("a"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(!io::read_file(tmp.path + "/evil"));
  // manifest entries escaping the directory, directly or through a symlink
  std::string m1 = R"([{"Config":"../../etc/passwd","RepoTags":null,"Layers":[]}])";
  r = unpack_load_tar(io::string_reader(make_tar({{"manifest.json", m1}})), tmp.sub("b"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(why(r).find("escapes") != std::string::npos, why(r));
  std::string m2 = R"([{"Config":"c.json","RepoTags":null,"Layers":["l/layer.tar"]}])";
  r = unpack_load_tar(
      io::string_reader(make_tar(
          {{"manifest.json", m2}, {"c.json", "{}"}, {"l/", ""}, {"l/layer.tar", "->/etc/passwd"}})),
      tmp.sub("c"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(why(r).find("escapes") != std::string::npos, why(r));
  // a missing config
  std::string m3 = R"([{"Config":"gone.json","RepoTags":["x:1"],"Layers":[]}])";
  r = unpack_load_tar(io::string_reader(make_tar({{"manifest.json", m3}})), tmp.sub("d"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(why(r).find("gone.json") != std::string::npos, why(r));
}

BOOST_AUTO_TEST_CASE(changes_table) {
  auto c = change("", {"CMD [\"echo\",\"hi\"]", "ENTRYPOINT /bin/run --x"});
  BOOST_TEST(json::serialize(c.at("Cmd")) == R"(["echo","hi"])");
  BOOST_TEST(json::serialize(c.at("Entrypoint")) == R"(["/bin/sh","-c","/bin/run --x"])");
  c = change("", {"cmd echo hi"});
  BOOST_TEST(json::serialize(c.at("Cmd")) == R"(["/bin/sh","-c","echo hi"])");
  c = change(R"({"Env":["PATH=/bin","A=0"]})", {"ENV A=1 B=\"two words\"", "ENV C some value"});
  BOOST_TEST(json::serialize(c.at("Env")) == R"(["PATH=/bin","A=1","B=two words","C=some value"])");
  c = change("", {"EXPOSE 80 53/udp 8000-8001"});
  BOOST_TEST(json::serialize(c.at("ExposedPorts")) ==
             R"({"80/tcp":{},"53/udp":{},"8000/tcp":{},"8001/tcp":{}})");
  c = change("", {"LABEL a=b \"c d\"=e", "LABEL legacy form value"});
  BOOST_TEST(json::serialize(c.at("Labels")) == R"({"a":"b","c d":"e","legacy":"form value"})");
  c = change(R"({"WorkingDir":"/srv"})",
             {"USER nobody:nogroup", "WORKDIR app/../web", "STOPSIGNAL SIGKILL"});
  BOOST_TEST(c.at("User").as_string() == "nobody:nogroup");
  BOOST_TEST(c.at("WorkingDir").as_string() == "/srv/web");
  BOOST_TEST(c.at("StopSignal").as_string() == "SIGKILL");
  c = change("", {"VOLUME [\"/data\", \"/logs\"]", "VOLUME /cache /tmp/x"});
  BOOST_TEST(json::serialize(c.at("Volumes")) ==
             R"({"/data":{},"/logs":{},"/cache":{},"/tmp/x":{}})");
  c = change("", {"ONBUILD RUN make", "onbuild ADD . /src"});
  BOOST_TEST(json::serialize(c.at("OnBuild")) == R"(["RUN make","ADD . /src"])");
  c = change(R"({"Hostname":"h","Cmd":["x"]})", {});
  BOOST_TEST(c.at("Hostname").as_string() == "h");

  auto bad = apply_changes("", {"RUN make"});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(error_message(bad.error()) == "run is not a valid change command");
  BOOST_TEST(http_status(bad.error()) == 400u);
  BOOST_TEST(!apply_changes("", {"EXPOSE 99999"}));
  BOOST_TEST(!apply_changes("", {"ENV"}));
  BOOST_TEST(!apply_changes("", {"FROM busybox"}));
}

BOOST_AUTO_TEST_CASE(import_config_fields) {
  auto diff = io::digest_of("layer");
  auto text = import_config("amd64", diff, R"({"Cmd":["sh"]})", "", 1609459200123456000);
  auto c = json::parse(text).as_object();
  BOOST_TEST(c.at("architecture").as_string() == "amd64");
  BOOST_TEST(c.at("os").as_string() == "linux");
  BOOST_TEST(c.at("created").as_string() == "2021-01-01T00:00:00.123456Z");
  BOOST_TEST(c.at("comment").as_string() == "Imported from -");
  BOOST_TEST(json::serialize(c.at("config")) == R"({"Cmd":["sh"]})");
  BOOST_TEST(c.at("rootfs").at("type").as_string() == "layers");
  BOOST_TEST(json::serialize(c.at("rootfs").at("diff_ids")) == "[\"" + diff + "\"]");
  auto& h = c.at("history").as_array();
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_TEST(h[0].at("created").as_string() == "2021-01-01T00:00:00.123456Z");
  BOOST_TEST(h[0].at("comment").as_string() == "Imported from -");
  c = json::parse(import_config("arm64", diff, "", "my import", 1609459200000000000)).as_object();
  BOOST_TEST(c.at("created").as_string() == "2021-01-01T00:00:00Z");
  BOOST_TEST(c.at("comment").as_string() == "my import");
  BOOST_TEST(c.at("config").as_object().empty());
}

// docker commit's config: moby's merge of the changes with the container's config, the parent's
// history and diff IDs plus the new ones.
BOOST_AUTO_TEST_CASE(commit_config_merges_like_moby) {
  auto d1 = io::digest_of("one");
  auto d2 = io::digest_of("two");
  auto parent = R"({"architecture":"arm64","os":"linux","config":{"Cmd":["sh"]},)"
                R"("history":[{"created":"2021-01-01T00:00:00Z","created_by":"base"}],)"
                R"("rootfs":{"type":"layers","diff_ids":[")" +
                d1 + R"("]}})";
  std::string cc = R"({"Hostname":"abc","Image":"busybox","Env":["A=container","B=container"],)"
                   R"("Cmd":["sh","-c","echo hi > /f"],"Entrypoint":["/init"],)"
                   R"("Labels":{"l1":"container","l2":"container"},)"
                   R"("ExposedPorts":{"80/tcp":{}},"WorkingDir":"/w"})";
  auto user = apply_changes(
      "", {"ENV A=changed", "LABEL l1=changed", "CMD [\"cat\", \"/f\"]", "EXPOSE 53/udp"});
  BOOST_REQUIRE(user);
  commit_info info{"c0ffee", "msg", "me", d2, "1.2.3", 1609459200000000000};
  auto text = commit_config(parent, *user, cc, info);
  BOOST_REQUIRE(text);
  auto c = json::parse(*text).as_object();
  BOOST_TEST(c.at("architecture").as_string() == "arm64");
  BOOST_TEST(c.at("author").as_string() == "me");
  BOOST_TEST(c.at("comment").as_string() == "msg");
  BOOST_TEST(c.at("container").as_string() == "c0ffee");
  BOOST_TEST(c.at("docker_version").as_string() == "1.2.3");
  auto& cfg = c.at("config").as_object();
  BOOST_TEST(json::serialize(cfg.at("Env")) == R"(["A=changed","B=container"])");
  BOOST_TEST(json::serialize(cfg.at("Cmd")) == R"(["cat","/f"])");
  BOOST_TEST(json::serialize(cfg.at("Entrypoint")) == R"(["/init"])");
  BOOST_TEST(json::serialize(cfg.at("Labels")) == R"({"l1":"changed","l2":"container"})");
  BOOST_TEST(cfg.at("ExposedPorts").as_object().contains("80/tcp"));
  BOOST_TEST(cfg.at("ExposedPorts").as_object().contains("53/udp"));
  BOOST_TEST(cfg.at("WorkingDir").as_string() == "/w");
  BOOST_TEST(cfg.at("Hostname").as_string() == ""); // not merged (moby)
  BOOST_TEST(c.at("container_config").at("Hostname").as_string() == "abc");
  BOOST_TEST(json::serialize(c.at("rootfs").at("diff_ids")) == "[\"" + d1 + "\",\"" + d2 + "\"]");
  auto& h = c.at("history").as_array();
  BOOST_REQUIRE_EQUAL(h.size(), 2u);
  BOOST_TEST(h[1].at("created_by").as_string() == "sh -c echo hi > /f");
  BOOST_TEST(h[1].at("comment").as_string() == "msg");
  BOOST_TEST(!h[1].as_object().contains("empty_layer"));
  // no change: no diff ID, an empty_layer entry; no changes: the container's Cmd
  info.diff_id.clear();
  text = commit_config(parent, "", cc, info);
  BOOST_REQUIRE(text);
  c = json::parse(*text).as_object();
  BOOST_TEST(c.at("rootfs").at("diff_ids").as_array().size() == 1u);
  BOOST_TEST(c.at("history").as_array()[1].at("empty_layer").as_bool());
  BOOST_TEST(json::serialize(c.at("config").at("Cmd")) == R"(["sh","-c","echo hi > /f"])");
  BOOST_TEST(!commit_config("not json", "", cc, info));
  BOOST_TEST(!commit_config(parent, "", "[]", info));
}

BOOST_AUTO_TEST_SUITE_END()
