// The offline image fixtures (tests/fixtures/images.sh): a loopback registry serving busybox as
// a Docker schema2 manifest and as an OCI manifest. Later suites pull from it.
#include <boost/test/unit_test.hpp>

#include "tests/integration/harness.hpp"

using namespace berth::it;

namespace {

// Starts the fixture registry; stops it and removes its files even when a test fails.
struct fixture_images {
  fixture_images() {
    auto r =
        sh("bash " FIXTURES_DIR "/images.sh start " + dir.file("fx"), std::chrono::seconds{120});
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto line = sh("cat " + dir.file("fx/env")).out;
    registry = line.substr(line.find('=') + 1);
    registry.erase(registry.find_last_not_of("\n") + 1);
  }
  ~fixture_images() { sh("bash " FIXTURES_DIR "/images.sh stop " + dir.file("fx")); }
  std::string manifest(const std::string& repo, const std::string& accept) {
    return sh("curl -fsS -H 'Accept: " + accept + "' http://" + registry + "/v2/" + repo +
              "/manifests/latest")
        .out;
  }
  temp_dir dir;
  std::string registry;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(image_fixtures, fixture_images)

BOOST_AUTO_TEST_CASE(registry_serves_busybox_as_schema2_and_oci) {
  BOOST_TEST(registry.rfind("127.0.0.1:", 0) == 0u);
  auto docker = manifest("busybox", "application/vnd.docker.distribution.manifest.v2+json");
  BOOST_TEST(
      contains(docker, R"("mediaType":"application/vnd.docker.distribution.manifest.v2+json")"),
      docker);
  auto oci = manifest("busybox-oci", "application/vnd.oci.image.manifest.v1+json");
  BOOST_TEST(contains(oci, "application/vnd.oci.image.layer.v1.tar+gzip"), oci);
  // the layer holds busybox with its applets linked to /bin/busybox inside the image
  auto layer = sh("curl -fsS http://" + registry +
                  "/v2/busybox/blobs/$(curl -fsS -H 'Accept: "
                  "application/vnd.docker.distribution.manifest.v2+json' http://" +
                  registry +
                  "/v2/busybox/manifests/latest | python3 -c 'import json,sys; "
                  "print(json.load(sys.stdin)[\"layers\"][0][\"digest\"])') | tar tzv");
  BOOST_TEST(layer.exit_code == 0, layer.err);
  BOOST_TEST(contains(layer.out, "bin/sh -> /bin/busybox"));
  BOOST_TEST(contains(layer.out, "etc/passwd"));
}

BOOST_AUTO_TEST_SUITE_END()
