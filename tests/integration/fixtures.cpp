// The offline image fixtures (tests/fixtures/images.sh): loopback registries serving busybox in
// every manifest format, a multi-platform index, a 4-layer image and an htpasswd-protected copy.
// Later suites pull from them.
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

BOOST_AUTO_TEST_SUITE_END()
