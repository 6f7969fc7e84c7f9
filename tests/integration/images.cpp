// Images against the fixture registries, driven by the stock docker CLI and raw HTTP: pull (tag,
// digest, OCI, index), auth (basic, token), images/inspect/history/tag/rmi, concurrent pulls,
// corrupt blobs, and a pull killed with SIGKILL.
#include <boost/test/unit_test.hpp>

#include "tests/integration/harness.hpp"

#include <signal.h>
#include <unistd.h>

#include <thread>

using namespace berth::it;
using namespace std::chrono_literals;

namespace {

struct registries {
  registries() {
    auto r = sh("bash " FIXTURES_DIR "/images.sh start " + dir.file("fx"), 180s);
    if (r.exit_code != 0) {
      sh("bash " FIXTURES_DIR "/images.sh stop " + dir.file("fx"));
      BOOST_FAIL("fixture registries did not start: " + r.err);
    }
    env = dir.file("fx/env");
    for (auto key : {"REGISTRY", "REGISTRY_AUTH", "REGISTRY_TOKEN", "REGISTRY_CORRUPT",
                     "REGISTRY_TLS", "REGISTRY_STORAGE", "AUTH_USER", "AUTH_PASSWORD"})
      values[key] = sh(". " + env + " && printf %s \"$" + std::string{key} + "\"").out;
    instance = this;
  }
  ~registries() {
    instance = nullptr;
    sh("bash " FIXTURES_DIR "/images.sh stop " + dir.file("fx"));
  }
  temp_dir dir;
  std::string env;
  std::map<std::string, std::string> values;
  static inline registries* instance = nullptr;
};

const std::string& reg(const char* key = "REGISTRY") {
  BOOST_REQUIRE(registries::instance != nullptr);
  return registries::instance->values.at(key);
}

/// `docker` with its own config dir (logins stay in the test).
std::string docker_cfg(const berthd& d, const temp_dir& cfg, const std::string& args) {
  return "DOCKER_CONFIG=" + cfg.path + " " + d.docker(args);
}

/// `docker login` to `host` as the fixture's user, with the config dir `cfg`.
command_result docker_login(const berthd& d, const temp_dir& cfg, const std::string& host) {
  return sh("printf %s " + reg("AUTH_PASSWORD") + " | " +
                docker_cfg(d, cfg, "login -u berth --password-stdin " + host),
            60s);
}

std::size_t count_files(const std::string& dir) {
  auto r = sh("ls -A " + dir + " 2>/dev/null | wc -l");
  return static_cast<std::size_t>(std::stoul(r.out.empty() ? "0" : r.out));
}

std::string store_dir(const berthd& d) {
  auto r = sh("ls -d " + d.data_root + "/image/*/ | head -1");
  auto out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '/'))
    out.pop_back();
  return out;
}

std::string driver_dir(const berthd& d) {
  auto s = store_dir(d);
  return d.data_root + "/" + s.substr(s.rfind('/') + 1);
}

} // namespace

BOOST_AUTO_TEST_SUITE(images, *boost::unit_test::fixture<registries>())

BOOST_AUTO_TEST_CASE(pull_by_tag_then_up_to_date) {
  berthd d;
  auto ref = reg() + "/busybox:latest";
  auto r = sh(d.docker("pull " + ref), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  BOOST_TEST(contains(r.out, "Pull complete"), r.out);
  BOOST_TEST(contains(r.out, "Digest: sha256:"), r.out);
  BOOST_TEST(contains(r.out, "Status: Downloaded newer image for " + ref), r.out);
  auto again = sh(d.docker("pull " + ref), 60s);
  BOOST_TEST(again.exit_code == 0, again.err);
  BOOST_TEST(contains(again.out, "Status: Image is up to date for " + ref), again.out);
  auto images = sh(d.docker("images --format '{{.Repository}}:{{.Tag}} {{.ID}}'"));
  BOOST_TEST(images.exit_code == 0, images.err);
  BOOST_TEST(contains(images.out, ref + " "), images.out);
  // the image ID is the config digest, and the digest reference is recorded
  auto manifest = sh("curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                     "http://" +
                     reg() + "/v2/busybox/manifests/latest");
  auto digest = sh("curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                   "http://" +
                   reg() + "/v2/busybox/manifests/latest | sha256sum | cut -c1-64")
                    .out.substr(0, 64);
  auto inspect = sh(d.docker("image inspect --format '{{.Id}} {{json .RepoDigests}} "
                             "{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}}' " +
                             ref));
  BOOST_TEST(inspect.exit_code == 0, inspect.err);
  BOOST_TEST(contains(inspect.out, "sha256:"), inspect.out);
  BOOST_TEST(contains(inspect.out, reg() + "/busybox@sha256:" + digest), inspect.out);
  BOOST_TEST(contains(inspect.out, "linux/amd64 1"), inspect.out);
  auto config_digest = manifest.out.substr(manifest.out.find("sha256:"), 71);
  BOOST_TEST(contains(inspect.out, config_digest), inspect.out + " vs " + manifest.out);
  // stored once: one image, one layer
  BOOST_TEST(count_files(store_dir(d) + "/layers") == 1u);
}

BOOST_AUTO_TEST_CASE(pull_by_digest_and_every_manifest_format) {
  berthd d;
  auto digest = sh("curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                   "http://" +
                   reg() + "/v2/busybox/manifests/latest | sha256sum | cut -c1-64")
                    .out.substr(0, 64);
  auto by_digest = sh(d.docker("pull " + reg() + "/busybox@sha256:" + digest), 120s);
  BOOST_TEST(by_digest.exit_code == 0, by_digest.out + by_digest.err + d.log());
  BOOST_TEST(contains(by_digest.out, "Digest: sha256:" + digest), by_digest.out);
  for (auto name : {"busybox-oci", "busybox-oci-nomt", "busybox-multi"}) {
    auto r = sh(d.docker("pull " + reg() + "/" + name + ":latest"), 120s);
    BOOST_TEST(r.exit_code == 0, name << ": " << r.out << r.err);
    // the busybox layer is already there
    BOOST_TEST(contains(r.out, "Already exists"), name << ": " << r.out);
  }
  auto arch = sh(
      d.docker("image inspect --format '{{.Os}}/{{.Architecture}}' " + reg() + "/busybox-multi"));
  BOOST_TEST(arch.out == "linux/amd64\n");
  // the multi-platform image records the index digest
  auto index_digest = sh("curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' http://" +
                         reg() + "/v2/busybox-multi/manifests/latest | sha256sum | cut -c1-64")
                          .out.substr(0, 64);
  auto repo_digests =
      sh(d.docker("image inspect --format '{{json .RepoDigests}}' " + reg() + "/busybox-multi"));
  BOOST_TEST(contains(repo_digests.out, index_digest), repo_digests.out);
}

// 127.0.0.0/8 is an insecure registry: HTTPS without certificate checks comes first, as dockerd
BOOST_AUTO_TEST_CASE(insecure_registry_over_https_with_a_self_signed_certificate) {
  berthd d;
  auto ref = reg("REGISTRY_TLS") + "/busybox:latest";
  auto r = sh(d.docker("pull " + ref), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  BOOST_TEST(contains(r.out, "Status: Downloaded newer image for " + ref), r.out);
}

BOOST_AUTO_TEST_CASE(pull_all_tags) {
  berthd d;
  auto repo = reg() + "/tagged";
  auto r = sh(d.docker("pull -a " + repo), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  BOOST_TEST(contains(r.out, "one: Pulling from tagged"), r.out);
  BOOST_TEST(contains(r.out, "two: Pulling from tagged"), r.out);
  BOOST_TEST(contains(r.out, "Status: Downloaded newer image for " + repo + "\n"), r.out);
  auto tags = sh(d.docker("images " + repo + " --format '{{.Tag}}'"));
  BOOST_TEST((tags.out == "one\ntwo\n" || tags.out == "two\none\n"), tags.out);
  auto again = sh(d.docker("pull --all-tags " + repo), 60s);
  BOOST_TEST(contains(again.out, "Status: Image is up to date for " + repo + "\n"), again.out);
}

// --registry-mirror for Docker Hub images. berthd runs in a network namespace of its own with
// only lo (and the bridge it makes there), and the mirror (docker-registry on the fixture's
// storage) inside it: the mirror answers `docker pull busybox`, and no fallback to Docker Hub can
// leave the machine.
BOOST_AUTO_TEST_CASE(registry_mirror_serves_docker_hub_images) {
  if (::geteuid() != 0) return;
  berthd d{{"--registry-mirror", "http://127.0.0.1:5000"}, true, {}, "{}", true};
  auto devices =
      sh("nsenter -t " + std::to_string(d.pid()) +
         " -n sh -c \"tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | grep -vx berth0\"");
  BOOST_REQUIRE_MESSAGE(devices.out == "lo\n", "the namespace holds more than lo: " + devices.out);
  temp_dir mirror;
  mirror.write("config.yml", "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                             "    rootdirectory: " +
                                 reg("REGISTRY_STORAGE") +
                                 "\n  maintenance:\n    readonly:\n      enabled: true\n"
                                 "http:\n  addr: 127.0.0.1:5000\n");
  auto started =
      sh("setsid nsenter -t " + std::to_string(d.pid()) + " -n docker-registry serve " +
         mirror.file("config.yml") + " >" + mirror.file("log") + " 2>&1 </dev/null & " + "echo $!");
  auto mirror_pid = std::stoi(started.out);
  struct stop_mirror {
    int pid;
    ~stop_mirror() { ::kill(pid, SIGKILL); }
  } stop{mirror_pid};
  auto up = sh("for i in $(seq 100); do nsenter -t " + std::to_string(d.pid()) +
                   " -n curl -fsS -o /dev/null http://127.0.0.1:5000/v2/ && exit 0; sleep 0.1; "
                   "done; exit 1",
               30s);
  BOOST_REQUIRE_MESSAGE(up.exit_code == 0, "the mirror did not start: " + up.err);
  auto r = sh(d.docker("pull busybox"), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  BOOST_TEST(contains(r.out, "Status: Downloaded newer image for busybox:latest"), r.out);
  auto inspect = sh(d.docker("image inspect --format '{{json .RepoTags}} {{json .RepoDigests}}' "
                             "busybox"));
  BOOST_TEST(contains(inspect.out, "[\"busybox:latest\"] [\"busybox@sha256:"), inspect.out);
  // a tag the mirror lacks falls back to Docker Hub, which this namespace cannot reach
  auto missing = sh(d.docker("pull busybox:not-on-the-mirror"), 60s);
  BOOST_TEST(missing.exit_code != 0, missing.out);
  BOOST_TEST(contains(missing.err, "registry-1.docker.io"), missing.err);
}

BOOST_AUTO_TEST_CASE(bad_references_and_missing_images) {
  berthd d;
  auto upper = http_unix(d.socket, "POST", "/v1.41/images/create?fromImage=UPPER&tag=latest",
                         "Content-Length: 0\r\n");
  BOOST_TEST(upper.status == 400);
  BOOST_TEST(contains(upper.body, "invalid reference format: repository name must be lowercase"),
             upper.body);
  auto missing = sh(d.docker("pull " + reg() + "/nonexistent:latest"), 60s);
  BOOST_TEST(missing.exit_code != 0);
  BOOST_TEST(contains(missing.err, "nonexistent"), missing.err);
  auto no_tag = sh(d.docker("pull " + reg() + "/busybox:nope"), 60s);
  BOOST_TEST(no_tag.exit_code != 0);
  BOOST_TEST(contains(no_tag.err, "manifest for " + reg() + "/busybox:nope not found"), no_tag.err);
  auto inspect = http_unix(d.socket, "GET", "/v1.41/images/nothere/json");
  BOOST_TEST(inspect.status == 404);
  BOOST_TEST(contains(inspect.body, "No such image: nothere"), inspect.body);
  auto search = http_unix(d.socket, "GET", "/v1.41/images/search?term=busybox");
  BOOST_TEST(search.status == 501);
}

namespace {

/// Anonymous pull refused, wrong password refused, login, pull.
void login_and_pull(const std::string& host) {
  berthd d;
  temp_dir cfg;
  auto anonymous = sh(docker_cfg(d, cfg, "pull " + host + "/busybox:latest"), 60s);
  BOOST_TEST(anonymous.exit_code != 0);
  BOOST_TEST(contains(anonymous.err, "pull access denied"), anonymous.err);
  auto wrong =
      sh("echo wrong | " + docker_cfg(d, cfg, "login -u berth --password-stdin " + host), 60s);
  BOOST_TEST(wrong.exit_code != 0);
  BOOST_TEST(contains(wrong.err, "unauthorized"), wrong.err);
  auto login = docker_login(d, cfg, host);
  BOOST_TEST(login.exit_code == 0, login.out + login.err);
  BOOST_TEST(contains(login.out, "Login Succeeded"), login.out);
  auto pull = sh(docker_cfg(d, cfg, "pull " + host + "/busybox:latest"), 120s);
  BOOST_TEST(pull.exit_code == 0, pull.out + pull.err + d.log());
  BOOST_TEST(contains(pull.out, "Pull complete"), pull.out);
}

} // namespace

BOOST_AUTO_TEST_CASE(basic_auth_login_and_pull) {
  login_and_pull(reg("REGISTRY_AUTH"));
}

BOOST_AUTO_TEST_CASE(token_auth_login_and_pull) {
  login_and_pull(reg("REGISTRY_TOKEN"));
}

BOOST_AUTO_TEST_CASE(images_inspect_history_tag_rmi) {
  berthd d;
  auto ref = reg() + "/busybox:latest";
  BOOST_REQUIRE(sh(d.docker("pull -q " + ref), 120s).exit_code == 0);
  auto id = sh(d.docker("image inspect --format '{{.Id}}' " + ref)).out;
  BOOST_REQUIRE(id.size() > 7);
  id.pop_back();
  auto tag = sh(d.docker("tag " + ref + " mybox:v1"));
  BOOST_TEST(tag.exit_code == 0, tag.err);
  auto listed = sh(d.docker("images --format '{{.Repository}}:{{.Tag}}'"));
  BOOST_TEST(contains(listed.out, "mybox:v1"), listed.out);
  auto filtered = sh(d.docker("images mybox --format '{{.Repository}}:{{.Tag}}'"));
  BOOST_TEST(filtered.out == "mybox:v1\n", filtered.out);
  // short and qualified names, and ID prefixes, find the same image
  for (auto name :
       {std::string{"mybox:v1"}, std::string{"docker.io/library/mybox:v1"}, id.substr(7, 12), id}) {
    auto r = sh(d.docker("image inspect --format '{{.Id}}' " + name));
    BOOST_TEST(r.out == id + "\n", name << ": " << r.out << r.err);
  }
  auto history = sh(d.docker("history " + ref));
  BOOST_TEST(history.exit_code == 0, history.err);
  BOOST_TEST(contains(history.out, "IMAGE"), history.out);
  auto untag = sh(d.docker("rmi mybox:v1"));
  BOOST_TEST(untag.exit_code == 0, untag.err);
  BOOST_TEST(untag.out == "Untagged: mybox:v1\n", untag.out);
  auto rmi = sh(d.docker("rmi " + ref));
  BOOST_TEST(rmi.exit_code == 0, rmi.err);
  BOOST_TEST(contains(rmi.out, "Untagged: " + ref), rmi.out);
  BOOST_TEST(contains(rmi.out, "Deleted: " + id), rmi.out);
  auto empty = sh(d.docker("images -q"));
  BOOST_TEST(empty.out == "", empty.out);
  BOOST_TEST(count_files(store_dir(d) + "/layers") == 0u);
  auto gone = sh(d.docker("rmi " + ref));
  BOOST_TEST(gone.exit_code != 0);
  BOOST_TEST(contains(gone.err, "No such image"), gone.err);
  // events: pull, tag, untag, delete
  auto events = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter type=image "
                            "--format '{{.Action}}'"),
                   20s);
  for (auto action : {"pull", "tag", "untag", "delete"})
    BOOST_TEST(contains(events.out, std::string{action} + "\n"), events.out);
}

BOOST_AUTO_TEST_CASE(save_rmi_load_round_trip_and_import) {
  berthd d;
  temp_dir work;
  auto ref = reg() + "/multilayer:latest";
  BOOST_REQUIRE(sh(d.docker("pull -q " + ref), 300s).exit_code == 0);
  auto id = sh(d.docker("image inspect --format '{{.Id}}' " + ref)).out;
  auto save = sh(d.docker("save -o " + work.file("img.tar") + " " + ref), 120s);
  BOOST_TEST(save.exit_code == 0, save.err);
  // docker's layout: manifest.json, repositories, the config, and layer tars whose sha256 are
  // the image's diff IDs (so dockerd can load it)
  auto listing = sh("tar tf " + work.file("img.tar")).out;
  BOOST_TEST(contains(listing, "manifest.json"), listing);
  BOOST_TEST(contains(listing, "repositories"), listing);
  BOOST_TEST(contains(listing, id.substr(7, 64) + ".json"), listing);
  auto diff_ids =
      sh(d.docker("image inspect --format '{{range .RootFS.Layers}}{{.}} {{end}}' " + ref)).out;
  auto layer_sums =
      sh("mkdir -p " + work.file("x") + " && tar -C " + work.file("x") + " -xf " +
         work.file("img.tar") + " && sha256sum " + work.file("x") + "/*/layer.tar | cut -c1-64")
          .out;
  std::size_t pos = 0, n = 0;
  while ((pos = layer_sums.find('\n', pos)) != std::string::npos) {
    auto sum = layer_sums.substr(pos - 64, 64);
    BOOST_TEST(contains(diff_ids, "sha256:" + sum), sum << " not in " << diff_ids);
    ++pos;
    ++n;
  }
  BOOST_TEST(n == 4u);
  // a third party reads it: skopeo checks every layer against the config's diff IDs
  auto skopeo = sh("skopeo --insecure-policy copy -q docker-archive:" + work.file("img.tar") +
                       " oci:" + work.file("oci") + ":x",
                   120s);
  BOOST_TEST(skopeo.exit_code == 0, skopeo.out + skopeo.err);
  BOOST_REQUIRE(sh(d.docker("rmi " + ref)).exit_code == 0);
  auto load = sh(d.docker("load -i " + work.file("img.tar")), 120s);
  BOOST_TEST(load.exit_code == 0, load.out + load.err + d.log());
  BOOST_TEST(load.out == "Loaded image: " + ref + "\n", load.out);
  BOOST_TEST(sh(d.docker("image inspect --format '{{.Id}}' " + ref)).out == id);
  // stdin works too, and a second load reuses everything
  auto again = sh("cat " + work.file("img.tar") + " | " + d.docker("load"), 120s);
  BOOST_TEST(again.exit_code == 0, again.err);
  // import: a rootfs tar with changes and a message
  sh("mkdir -p " + work.file("rootfs/etc") + " && echo hi >" + work.file("rootfs/etc/hello"));
  auto import = sh("tar -C " + work.file("rootfs") + " -cf - . | " +
                       d.docker("import -c 'ENV A=b' -c 'CMD [\"sh\"]' -m imported - mine:v1"),
                   60s);
  BOOST_TEST(import.exit_code == 0, import.err + d.log());
  BOOST_TEST(import.out.rfind("sha256:", 0) == 0u, import.out);
  auto config = sh(d.docker("image inspect --format '{{json .Config.Env}} {{json .Config.Cmd}} "
                            "{{.Comment}} {{len .RootFS.Layers}}' mine:v1"));
  BOOST_TEST(config.out == "[\"A=b\"] [\"sh\"] imported 1\n", config.out);
  auto bad = sh("echo notatar | " + d.docker("load"), 60s);
  BOOST_TEST(bad.exit_code != 0);
  auto events = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter type=image "
                            "--format '{{.Action}}'"),
                   20s);
  for (auto action : {"save", "load", "import"})
    BOOST_TEST(contains(events.out, std::string{action} + "\n"), events.out);
}

BOOST_AUTO_TEST_CASE(concurrent_pulls_share_layers) {
  berthd d;
  auto ref = reg() + "/multilayer:latest";
  auto a = std::thread{[&] {
    auto r = sh(d.docker("pull " + ref), 300s);
    BOOST_TEST(r.exit_code == 0, r.out + r.err);
  }};
  auto b = sh(d.docker("pull " + ref), 300s);
  a.join();
  BOOST_TEST(b.exit_code == 0, b.out + b.err + d.log());
  BOOST_TEST(count_files(store_dir(d) + "/layers") == 4u);
  BOOST_TEST(count_files(store_dir(d) + "/imagedb") == 2u); // config + metadata
  // the whiteout and the opaque dir took effect: check through the driver's files
  auto images = sh(d.docker("images -q"));
  BOOST_TEST(images.out.size() == 13u, images.out);
}

BOOST_AUTO_TEST_CASE(corrupt_blob_fails_and_leaves_nothing) {
  berthd d;
  auto host = reg("REGISTRY_CORRUPT");
  auto r = sh(d.docker("pull " + host + "/corrupt:latest"), 60s);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.out + r.err, "filesystem layer verification failed for digest"),
             r.out + r.err);
  auto config = sh(d.docker("pull " + host + "/badconfig:latest"), 60s);
  BOOST_TEST(config.exit_code != 0);
  auto diff = sh(d.docker("pull " + host + "/baddiffid:latest"), 60s);
  BOOST_TEST(diff.exit_code != 0);
  BOOST_TEST(contains(diff.out + diff.err, "layers from manifest don't match image configuration"),
             diff.out + diff.err);
  BOOST_TEST(count_files(store_dir(d) + "/layers") == 0u);
  BOOST_TEST(sh(d.docker("images -q")).out == "");
  auto leftovers = sh("find " + driver_dir(d) +
                      " -mindepth 1 -maxdepth 1 ! -name l ! -name .trash ! -name .init | wc -l");
  BOOST_TEST(leftovers.out == "0\n", sh("ls -la " + driver_dir(d)).out);
  // removed layers go through the trash, which the driver empties in the background
  std::string trash;
  for (int i = 0; i < 100; ++i) {
    trash = sh("ls -A " + driver_dir(d) + "/.trash | wc -l").out;
    if (trash == "0\n") break;
    std::this_thread::sleep_for(20ms);
  }
  BOOST_TEST(trash == "0\n");
}

BOOST_AUTO_TEST_CASE(pull_killed_then_restarted_pulls_again) {
  auto ref = reg() + "/multilayer:latest";
  std::string data_root;
  {
    berthd d;
    data_root = d.data_root;
    auto pull = std::thread{[&] { sh(d.docker("pull " + ref), 120s); }};
    // wait until a layer is being written, then kill the daemon hard
    for (int i = 0; i < 200; ++i) {
      if (sh("grep -c 'Downloading\\|layer' " + d.log_file + " 2>/dev/null").out != "0\n" &&
          sh("find " + driver_dir(d) +
             " -mindepth 1 -maxdepth 1 ! -name l ! -name .trash ! -name .init 2>/dev/null | wc -l")
                  .out != "0\n")
        break;
      std::this_thread::sleep_for(20ms);
    }
    d.signal(SIGKILL);
    pull.join();
    // a restart on the same data root must clean up and pull again
    berthd again{{"--data-root", data_root}};
    BOOST_REQUIRE(again.running());
    // no half layer survives the restart: every driver layer has its complete record
    auto records = count_files(data_root + "/image/overlay2/layers");
    auto dirs =
        sh("find " + data_root +
           "/overlay2 -mindepth 1 -maxdepth 1 ! -name l ! -name .trash ! -name .init | wc -l");
    BOOST_TEST(dirs.out == std::to_string(records) + "\n", again.log());
    auto r = sh(again.docker("pull " + ref), 300s);
    BOOST_TEST(r.exit_code == 0, r.out + r.err + again.log());
    BOOST_TEST(count_files(data_root + "/image/overlay2/layers") == 4u);
    auto inspect = sh(again.docker("image inspect --format '{{len .RootFS.Layers}}' " + ref));
    BOOST_TEST(inspect.out == "4\n");
  }
}

BOOST_AUTO_TEST_CASE(unknown_storage_driver_fails_startup) {
  berthd d{{"--storage-driver", "zfs-nope"}, false};
  BOOST_TEST(d.wait_exit() == 1);
  BOOST_TEST(contains(d.log(), "overlay2"), d.log());
  BOOST_TEST(contains(d.log(), "vfs"), d.log());
}

BOOST_AUTO_TEST_CASE(vfs_driver_pulls_too) {
  berthd d{{"--storage-driver", "vfs"}};
  auto r = sh(d.docker("pull " + reg() + "/multilayer:latest"), 300s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  auto info = sh(d.docker("info --format '{{.Driver}} {{.Images}} {{json .DriverStatus}}'"));
  BOOST_TEST(info.out.rfind("vfs 1 [[\"Backing Filesystem\",", 0) == 0u, info.out);
}

// docker commit, then docker push: the committed layer and the pulled one go up (a blob the
// registry has is not sent again), the schema 2 manifest under the tag; pulled back, it runs.
BOOST_AUTO_TEST_CASE(commit_push_and_pull_back) {
  berthd d;
  auto base = reg() + "/busybox:latest";
  BOOST_REQUIRE(sh(d.docker("pull " + base), 120s).exit_code == 0);
  auto r = sh(d.docker("run --name made " + base + " sh -c 'echo hello > /tmp/f'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out + r.err + d.log());
  auto ref = reg() + "/committed:v1";
  r = sh(d.docker("commit -c 'CMD [\"cat\", \"/tmp/f\"]' made " + ref));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = sh(d.docker("push " + ref), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  BOOST_TEST(contains(r.out, "The push refers to repository [" + reg() + "/committed]"), r.out);
  BOOST_TEST(contains(r.out, ": Pushed\n"), r.out);
  BOOST_TEST(contains(r.out, "v1: digest: sha256:"), r.out);
  auto manifest = sh("curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                     "http://" +
                     reg() + "/v2/committed/manifests/v1");
  BOOST_TEST(contains(manifest.out, "application/vnd.docker.distribution.manifest.v2+json"),
             manifest.out);
  auto digest = sh("curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                   "http://" +
                   reg() + "/v2/committed/manifests/v1 | sha256sum | cut -c1-64")
                    .out.substr(0, 64);
  BOOST_TEST(contains(r.out, "v1: digest: sha256:" + digest), r.out);
  // again, and a second tag with -a: every blob is there already
  BOOST_REQUIRE(sh(d.docker("tag " + ref + " " + reg() + "/committed:v2")).exit_code == 0);
  r = sh(d.docker("push -a " + reg() + "/committed"), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err);
  BOOST_TEST(!contains(r.out, "Pushed"), r.out);
  BOOST_TEST(contains(r.out, ": Layer already exists\n"), r.out);
  BOOST_TEST(contains(r.out, "v2: digest: sha256:" + digest), r.out);
  // pulled back into an empty daemon, it runs
  berthd fresh;
  r = sh(fresh.docker("pull " + reg() + "/committed:v2"), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + fresh.log());
  r = sh(fresh.docker("run --rm " + reg() + "/committed:v2"));
  BOOST_TEST(r.out == "hello\n", r.out + r.err);
  r = sh(fresh.docker("image inspect -f '{{len .RootFS.Layers}}' " + reg() + "/committed:v2"));
  BOOST_TEST(r.out == "2\n", r.out);
  // what is not there
  r = sh(d.docker("push " + reg() + "/committed:nosuch"), 60s);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "tag does not exist: " + reg() + "/committed:nosuch"), r.err);
  r = sh(d.docker("push -a " + reg() + "/nothing"), 60s);
  BOOST_TEST(contains(r.err, "An image does not exist locally with the tag: " + reg() + "/nothing"),
             r.err);
  // a token registry: denied without login; with it, the token's scope is pull,push
  auto host = reg("REGISTRY_TOKEN");
  temp_dir cfg;
  BOOST_REQUIRE(sh(d.docker("tag " + ref + " " + host + "/committed:v1")).exit_code == 0);
  r = sh(docker_cfg(d, cfg, "push " + host + "/committed:v1"), 60s);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "denied"), r.err);
  auto login = docker_login(d, cfg, host);
  BOOST_TEST(login.exit_code == 0, login.out + login.err);
  r = sh(docker_cfg(d, cfg, "push " + host + "/committed:v1"), 120s);
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  BOOST_TEST(contains(r.out, "v1: digest: sha256:" + digest), r.out);
}

BOOST_AUTO_TEST_SUITE_END()
