// The offline image fixtures (tests/fixtures/images.sh): loopback registries serving busybox in
// every manifest format, a multi-platform index, a 4-layer image, an htpasswd-protected copy, a
// copy behind Bearer token auth (tests/fixtures/token_server.py) and a registry whose blobs do not
// match their digests (tests/fixtures/bad_registry.py). Later suites pull from them.
#include <algorithm>
#include <string>
#include <utility>

#include <boost/test/unit_test.hpp>

#include "tests/integration/harness.hpp"

using namespace berth::it;

namespace {

// Starts the fixture registries once for the suite; stops them and removes their files even
// when a test fails.
struct fixture_images {
  fixture_images() {
    auto r =
        sh("bash " FIXTURES_DIR "/images.sh start " + dir.file("fx"), std::chrono::seconds{180});
    if (r.exit_code != 0) {
      // the destructor does not run when the constructor throws: stop what did start
      sh("bash " FIXTURES_DIR "/images.sh stop " + dir.file("fx"));
    }
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    env = dir.file("fx/env");
    registry = value("REGISTRY");
    instance = this;
  }
  ~fixture_images() {
    instance = nullptr;
    sh("bash " FIXTURES_DIR "/images.sh stop " + dir.file("fx"));
  }
  std::string value(const std::string& key) const {
    return sh(". " + env + " && printf %s \"$" + key + "\"").out;
  }
  std::string manifest(const std::string& repo, const std::string& accept) const {
    return sh("curl -fsS -H 'Accept: " + accept + "' http://" + registry + "/v2/" + repo +
              "/manifests/latest")
        .out;
  }
  temp_dir dir;
  std::string env;
  std::string registry;
  static inline fixture_images* instance = nullptr;
};

const fixture_images& fx() {
  BOOST_REQUIRE(fixture_images::instance != nullptr);
  return *fixture_images::instance;
}

const char* docker_v2 = "application/vnd.docker.distribution.manifest.v2+json";
const char* oci_manifest = "application/vnd.oci.image.manifest.v1+json";

// A shell expression printing field KEY of the JSON object on standard input.
std::string json_field(const std::string& key) {
  return "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"" + key + "\"])'";
}

// A token from the token server (curl options such as -u USER:PASSWORD) for pulling busybox.
std::string busybox_token(const std::string& creds) {
  auto r = sh("curl -fsS " + creds + " '" + fx().value("TOKEN_REALM") +
              "?service=" + fx().value("TOKEN_SERVICE") + "&scope=repository:busybox:pull' | " +
              json_field("token"));
  BOOST_TEST(r.exit_code == 0, r.err);
  return r.out.empty() ? r.out : r.out.substr(0, r.out.size() - 1);
}

// The HTTP status of the token registry's busybox manifest with this bearer token.
std::string token_manifest_status(const std::string& token) {
  return sh("curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer " + token +
            "' -H 'Accept: " + docker_v2 + "' http://" + fx().value("REGISTRY_TOKEN") +
            "/v2/busybox/manifests/latest")
      .out;
}

// The number of lines of a file.
int lines_of(const std::string& file) {
  auto r = sh("wc -l < " + file);
  return r.exit_code == 0 ? std::stoi(r.out) : -1;
}

} // namespace

BOOST_AUTO_TEST_SUITE(image_fixtures, *boost::unit_test::fixture<fixture_images>())

BOOST_AUTO_TEST_CASE(registry_serves_busybox_as_schema2_and_oci) {
  BOOST_TEST(fx().registry.rfind("127.0.0.1:", 0) == 0u);
  auto docker = fx().manifest("busybox", docker_v2);
  BOOST_TEST(contains(docker, std::string{"\"mediaType\":\""} + docker_v2 + "\""), docker);
  auto typed = fx().manifest("busybox-oci", oci_manifest);
  BOOST_TEST(contains(typed, std::string{"\"mediaType\": \""} + oci_manifest + "\""), typed);
  auto untyped = fx().manifest("busybox-oci-nomt", oci_manifest);
  BOOST_TEST(!contains(untyped, oci_manifest), untyped);
  // the layer holds busybox with its applets linked to /bin/busybox inside the image
  auto layer =
      sh("curl -fsS http://" + fx().registry +
         "/v2/busybox/blobs/$(curl -fsS -H 'Accept: " + docker_v2 + "' http://" + fx().registry +
         "/v2/busybox/manifests/latest | python3 -c 'import json,sys; "
         "print(json.load(sys.stdin)[\"layers\"][0][\"digest\"])') | tar tzv");
  BOOST_TEST(layer.exit_code == 0, layer.err);
  BOOST_TEST(contains(layer.out, "bin/sh -> /bin/busybox"));
  BOOST_TEST(contains(layer.out, "etc/passwd"));
}

BOOST_AUTO_TEST_CASE(index_and_multilayer_are_served) {
  auto index = fx().manifest("busybox-multi", "application/vnd.oci.image.index.v1+json");
  BOOST_TEST(contains(index, R"("architecture": "amd64")"), index);
  BOOST_TEST(contains(index, R"("architecture": "arm64")"));
  BOOST_TEST(contains(index, R"("architecture": "unknown")"));
  auto layers = sh("curl -fsS -H 'Accept: " + std::string{docker_v2} + "' http://" + fx().registry +
                   "/v2/multilayer/manifests/latest | python3 -c 'import json,sys; "
                   "print(len(json.load(sys.stdin)[\"layers\"]))'");
  BOOST_TEST(layers.out == "4\n");
}

BOOST_AUTO_TEST_CASE(auth_registry_wants_the_password) {
  auto url = "http://" + fx().value("REGISTRY_AUTH") + "/v2/busybox/manifests/latest";
  auto code = [&](const std::string& creds) {
    return sh("curl -s -o /dev/null -w '%{http_code}' " + creds + " -H 'Accept: " + docker_v2 +
              "' " + url)
        .out;
  };
  auto user = fx().value("AUTH_USER");
  BOOST_TEST(code("") == "401");
  BOOST_TEST(code("-u " + user + ":wrong") == "401");
  BOOST_TEST(code("-u " + user + ":" + fx().value("AUTH_PASSWORD")) == "200");
}

BOOST_AUTO_TEST_CASE(token_registry_challenges_with_bearer) {
  BOOST_TEST(fx().value("TOKEN_SERVICE") == "berth-fixture-registry");
  auto r = sh("curl -si http://" + fx().value("REGISTRY_TOKEN") + "/v2/ | tr -d '\\r'");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "HTTP/1.1 401"), r.out);
  BOOST_TEST(contains(r.out, "Bearer realm=\"" + fx().value("TOKEN_REALM") +
                                 "\",service=\"berth-fixture-registry\""),
             r.out);
}

BOOST_AUTO_TEST_CASE(token_with_the_password_reads_the_manifest) {
  auto log = fx().value("TOKEN_LOG");
  auto before = lines_of(log);
  auto token = busybox_token("-u " + fx().value("AUTH_USER") + ":" + fx().value("AUTH_PASSWORD"));
  BOOST_TEST(std::count(token.begin(), token.end(), '.') == 2, token); // a JWT
  BOOST_TEST(token_manifest_status(token) == "200");
  // the token server logged the request, with the access it granted
  BOOST_TEST(lines_of(log) == before + 1);
  auto last = sh("tail -n 1 " + log).out;
  BOOST_TEST(contains(last, R"("actions": ["pull"])"), last);
  // without a token the manifest is refused
  auto bare = sh("curl -s -o /dev/null -w '%{http_code}' http://" + fx().value("REGISTRY_TOKEN") +
                 "/v2/busybox/manifests/latest");
  BOOST_TEST(bare.out == "401");
}

BOOST_AUTO_TEST_CASE(token_server_refuses_a_wrong_password) {
  auto r = sh("curl -s -w ' %{http_code}' -u " + fx().value("AUTH_USER") + ":wrong '" +
              fx().value("TOKEN_REALM") + "?service=" + fx().value("TOKEN_SERVICE") +
              "&scope=repository:busybox:pull'");
  BOOST_TEST(contains(r.out, " 401"), r.out);
  BOOST_TEST(contains(r.out, "UNAUTHORIZED"), r.out);
}

BOOST_AUTO_TEST_CASE(anonymous_token_gets_no_access) {
  auto token = busybox_token("");
  BOOST_TEST(!token.empty());
  auto status = token_manifest_status(token);
  BOOST_TEST((status == "401" || status == "403"), status);
}

BOOST_AUTO_TEST_CASE(corrupt_registry_serves_blobs_that_do_not_match) {
  auto base = "http://" + fx().value("REGISTRY_CORRUPT") + "/v2/";
  auto blob = fx().dir.file("blob");
  struct blob_check {
    std::string digest;        // named by the manifest
    std::string served_digest; // sha256 of the bytes served for it
    bool same_size = false;    // the bytes served are as long as the manifest says
  };
  // the blob at PATH (python subscripts) of REPO's manifest, fetched to `blob`
  auto check = [&](const std::string& repo, const std::string& path) {
    auto desc = sh("curl -fsS " + base + repo +
                   "/manifests/latest | python3 -c 'import json,sys; "
                   "m=json.load(sys.stdin); d=m" +
                   path + "; print(d[\"digest\"], d[\"size\"])'");
    BOOST_TEST(desc.exit_code == 0, desc.err);
    auto space = desc.out.find(' ');
    blob_check c;
    c.digest = desc.out.substr(0, space);
    auto size = desc.out.substr(space + 1, desc.out.find('\n') - space - 1);
    auto served = sh("curl -fsS -o " + blob + " " + base + repo + "/blobs/" + c.digest +
                     " && sha256sum < " + blob + " && stat -c %s " + blob);
    BOOST_TEST(served.exit_code == 0, served.err);
    c.served_digest = "sha256:" + served.out.substr(0, served.out.find(' '));
    c.same_size = contains(served.out, "\n" + size + "\n");
    return c;
  };
  // the first diff_id of REPO's config, and the sha256 of its uncompressed layer
  auto diff_ids = [&](const std::string& repo) {
    auto config = check(repo, R"(["config"])").digest;
    auto diff_id = sh("curl -fsS " + base + repo + "/blobs/" + config +
                      " | python3 -c 'import json,sys; "
                      "print(json.load(sys.stdin)[\"rootfs\"][\"diff_ids\"][0])'");
    auto layer = check(repo, R"(["layers"][0])").digest;
    auto real = sh("curl -fsS -o " + blob + " " + base + repo + "/blobs/" + layer +
                   " && gunzip < " + blob + " | sha256sum");
    BOOST_TEST(real.exit_code == 0, real.err);
    return std::make_pair(diff_id.out.substr(0, diff_id.out.find('\n')),
                          "sha256:" + real.out.substr(0, real.out.find(' ')));
  };

  auto manifest = sh("curl -fsSI " + base + "corrupt/manifests/latest | tr -d '\\r'");
  BOOST_TEST(contains(manifest.out, std::string{"Content-Type: "} + docker_v2), manifest.out);
  auto digest = sh("curl -fsS " + base + "corrupt/manifests/latest | sha256sum");
  BOOST_TEST(contains(manifest.out, "Docker-Content-Digest: sha256:" + digest.out.substr(0, 64)),
             manifest.out);

  // the control: every blob as named
  for (auto path : {R"(["layers"][0])", R"(["config"])"}) {
    auto good = check("good", path);
    BOOST_TEST(good.digest == good.served_digest);
    BOOST_TEST(good.same_size);
  }
  auto [good_diff_id, good_real] = diff_ids("good");
  BOOST_TEST(good_diff_id == good_real);

  // corrupt: the layer's bytes (not its size) differ; the config is right
  auto layer = check("corrupt", R"(["layers"][0])");
  BOOST_TEST(layer.digest.rfind("sha256:", 0) == 0u, layer.digest);
  BOOST_TEST(layer.digest != layer.served_digest);
  BOOST_TEST(layer.same_size);
  auto config = check("corrupt", R"(["config"])");
  BOOST_TEST(config.digest == config.served_digest);

  // badconfig: the config's bytes differ
  auto bad_config = check("badconfig", R"(["config"])");
  BOOST_TEST(bad_config.digest != bad_config.served_digest);
  BOOST_TEST(bad_config.same_size);

  // baddiffid: both blobs match, but the config's first diff_id is not the uncompressed layer's
  for (auto path : {R"(["layers"][0])", R"(["config"])"}) {
    auto c = check("baddiffid", path);
    BOOST_TEST(c.digest == c.served_digest);
  }
  auto [diff_id, real] = diff_ids("baddiffid");
  BOOST_TEST(diff_id.rfind("sha256:", 0) == 0u, diff_id);
  BOOST_TEST(diff_id != real);
  BOOST_TEST(real == good_real);
}

BOOST_AUTO_TEST_SUITE_END()
