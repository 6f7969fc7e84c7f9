// Containers on the native exec driver, driven by the stock docker CLI: run (echo, exit codes
// 0/7/125/126/127, -i, -e/-w/-u), -d with ps/logs/stop/start/restart/kill/wait/rm -f, a name
// conflict, --memory in the cgroup, --restart on-failure:2 and --init. The image is a busybox
// rootfs imported with `docker import` (no registry needed).
#include <boost/test/unit_test.hpp>

#include "tests/integration/harness.hpp"

#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <thread>

using namespace berth::it;
using namespace std::chrono_literals;

namespace {

struct busybox_daemon {
  explicit busybox_daemon(std::vector<std::string> args = {}) : d{std::move(args)} {
    auto root = d.dir.file("rootfs");
    auto r = sh("set -e; mkdir -p " + root + "/bin " + root + "/etc " + root +
                "/tmp; cp /bin/busybox " + root + "/bin/busybox; chroot " + root +
                " /bin/busybox --install -s /bin; printf '"
                "root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/false\\n' > " +
                root + "/etc/passwd; printf 'root:x:0:\\nnogroup:x:65534:\\n' > " + root +
                "/etc/group; tar -C " + root + " -c . | " +
                d.docker("import -c 'CMD [\"sh\"]' - busybox:latest"));
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  ~busybox_daemon() {
    // every container goes, so that no mount, cgroup or process outlives the test
    sh(d.docker("ps -aq") + " | xargs -r " + d.docker("rm -f") + " >/dev/null 2>&1", 60s);
  }
  berthd d;
};

bool is_root() {
  return ::geteuid() == 0;
}

// Can the host listen on ::1 (no ipv6.disable=1)?
bool ipv6_loopback() {
  return sh("python3 -c 'import socket; socket.socket(socket.AF_INET6).bind((\"::1\", 0))'")
             .exit_code == 0;
}

// "hi" to host:port over UDP, again every 250 ms (a server still starting) up to 5 s: the reply
// and a newline, or "".
std::string udp_exchange(const std::string& host, const std::string& port) {
  return sh("python3 -c 'import socket, sys\n"
            "s = socket.socket(socket.AF_INET6 if \":\" in sys.argv[1] else socket.AF_INET, "
            "socket.SOCK_DGRAM)\n"
            "s.settimeout(0.25)\n"
            "for i in range(20):\n"
            "  s.sendto(b\"hi\", (sys.argv[1], int(sys.argv[2])))\n"
            "  try:\n"
            "    print(s.recv(100).decode()); break\n"
            "  except OSError: pass' " +
            host + " " + port)
      .out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(containers)

BOOST_AUTO_TEST_CASE(run_exit_codes_and_io) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run --rm busybox echo hi"));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out == "hi\n");
  BOOST_TEST(sh(d.docker("run --rm busybox sh -c 'exit 7'")).exit_code == 7);
  r = sh(d.docker("run --rm busybox nosuchcmd"));
  BOOST_TEST(r.exit_code == 127);
  BOOST_TEST(contains(r.err, "executable file not found"));
  BOOST_TEST(!contains(r.err, "Error waiting"), r.err);
  r = sh(d.docker("run --name nocmd busybox nosuchcmd"));
  BOOST_TEST(r.exit_code == 127);
  BOOST_TEST(!contains(r.err, "Error waiting"), r.err);
  BOOST_TEST(sh(d.docker("rm nocmd")).exit_code == 0);
  // -t: a pty (one stream, \r\n line ends), with the window size the CLI sets
  r = sh(d.docker("run --rm -t busybox sh -c 'test -t 0 && test -t 1 && echo tty'"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "tty\r\n", r.out);
  r = sh(d.docker("run --rm -t busybox sh -c 'tty; test -c /dev/console && echo console'"));
  BOOST_TEST(r.out == "/dev/pts/0\r\nconsole\r\n", r.out);
  BOOST_TEST(sh(d.docker("run --rm busybox /etc")).exit_code == 126);
  BOOST_TEST(sh(d.docker("run --rm --memory 1k busybox true")).exit_code == 125);
  r = sh("printf 'piped\\n' | " + d.docker("run -i --rm busybox cat"));
  BOOST_TEST(r.out == "piped\n");
  r = sh(d.docker("run --rm -e FOO=bar -w /work/x -u 65534:65534 busybox sh -c "
                  "'echo $FOO; pwd; id -u; echo $$'"));
  BOOST_TEST(r.out == "bar\n/work/x\n65534\n1\n");
  // --init: the command is not PID 1 (which PID it gets depends on the driver: runc's threads
  // use up a few)
  r = sh(d.docker("run --rm --init busybox sh -c 'test $$ -gt 1 && echo child'"));
  BOOST_TEST(r.out == "child\n", r.out + r.err);
  r = sh(d.docker("ps -aq"));
  BOOST_TEST(r.out.empty()); // --rm removed them all, the failed starts too
}

BOOST_AUTO_TEST_CASE(detached_lifecycle) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run -d --name web busybox sh -c 'trap \"exit 0\" TERM; echo up; "
                       "while true; do sleep 0.1; done'"));
  BOOST_REQUIRE(r.exit_code == 0);
  auto id = r.out.substr(0, 64);
  BOOST_TEST(id.size() == 64u);
  sh("sleep 0.5");
  BOOST_TEST(contains(sh(d.docker("ps")).out, "web"));
  BOOST_TEST(sh(d.docker("logs web")).out == "up\n");
  BOOST_TEST(contains(sh(d.docker("logs -t web")).out, "Z up"));
  r = sh(d.docker("run --name web busybox true"));
  BOOST_TEST(r.exit_code == 125);
  BOOST_TEST(contains(r.err, "is already in use"));
  r = sh(d.docker("rm web"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "You cannot remove a running container"));
  BOOST_TEST(sh(d.docker("stop web")).exit_code == 0);
  BOOST_TEST(sh(d.docker("inspect -f '{{.State.Status}} {{.State.ExitCode}}' web")).out ==
             "exited 0\n");
  BOOST_TEST(sh(d.docker("stop web")).exit_code == 0); // 304
  BOOST_TEST(sh(d.docker("start web")).exit_code == 0);
  BOOST_TEST(sh(d.docker("restart -t 1 web")).exit_code == 0);
  BOOST_TEST(sh(d.docker("kill web")).exit_code == 0);
  BOOST_TEST(sh(d.docker("wait web")).out == "137\n");
  r = sh(d.docker("kill web"));
  BOOST_TEST(contains(r.err, "is not running"));
  BOOST_TEST(sh(d.docker("rm -f web")).exit_code == 0);
  BOOST_TEST(sh(d.docker("ps -aq")).out.empty());
}

BOOST_AUTO_TEST_CASE(memory_limit_and_restart_policy) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run -d --memory 64m busybox sleep 30"));
  auto id = r.out.substr(0, 64);
  auto limit = sh("cat /sys/fs/cgroup/memory/berth/" + id +
                  "/memory.limit_in_bytes 2>/dev/null || "
                  "cat /sys/fs/cgroup/berth/" +
                  id + "/memory.max");
  BOOST_TEST(limit.out == "67108864\n");
  BOOST_TEST(sh(d.docker("rm -f " + id)).exit_code == 0);
  sh(d.docker("run -d --name rp --restart on-failure:2 busybox sh -c 'exit 3'"));
  std::string state;
  for (int i = 0; i < 50; ++i) {
    state = sh(d.docker("inspect -f '{{.RestartCount}} {{.State.Status}}' rp")).out;
    if (state == "2 exited\n") break;
    sh("sleep 0.2");
  }
  BOOST_TEST(state == "2 exited\n");
}

// docker update: limits applied to a running container's cgroup and kept in its config; the
// restart policy too; refusals in moby's words.
BOOST_AUTO_TEST_CASE(update_resources_and_policy) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto id = sh(d.docker("run -d --name upd busybox sleep 100")).out.substr(0, 64);
  auto memory = [&] {
    return sh("cat /sys/fs/cgroup/memory/berth/" + id +
              "/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/berth/" + id +
              "/memory.max")
        .out;
  };
  auto r = sh(d.docker("update --memory 64m --memory-swap 128m --cpu-shares 512 upd"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "upd\n");
  BOOST_TEST(memory() == "67108864\n");
  r = sh(d.docker("inspect -f '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} "
                  "{{.HostConfig.CpuShares}}' upd"));
  BOOST_TEST(r.out == "67108864 134217728 512\n", r.out + r.err);
  r = sh(d.docker("update --memory 256m upd")); // above the swap limit already set
  BOOST_TEST(contains(r.err, "Memory limit should be smaller than already set memoryswap limit"),
             r.err);
  BOOST_TEST(memory() == "67108864\n");
  r = sh(d.docker("update --memory 1m upd"));
  BOOST_TEST(contains(r.err, "Minimum memory limit allowed is 6MB"), r.err);
  r = sh(d.docker("update --restart on-failure:3 upd"));
  BOOST_TEST(r.exit_code == 0, r.err);
  r = sh(d.docker("inspect -f '{{.HostConfig.RestartPolicy.Name}} "
                  "{{.HostConfig.RestartPolicy.MaximumRetryCount}}' upd"));
  BOOST_TEST(r.out == "on-failure 3\n", r.out + r.err);
  sh(d.docker("rm -f upd"));
  // A stopped container: the config changes, the next start applies it.
  sh(d.docker("create --name later busybox sleep 100"));
  BOOST_TEST(sh(d.docker("update --memory 32m later")).exit_code == 0);
  id = sh(d.docker("start later") + " >/dev/null && " + d.docker("inspect -f '{{.Id}}' later"))
           .out.substr(0, 64);
  BOOST_TEST(memory() == "33554432\n");
  r = sh(d.docker("run -d --rm --name auto busybox sleep 100"));
  r = sh(d.docker("update --restart always auto"));
  BOOST_TEST(contains(r.err, "AutoRemove is enabled"), r.err);
  sh(d.docker("rm -f later auto"));
}

// rmi against containers, with moby's conflict rules: a stopped container is a soft conflict
// (force wins), a running one a hard one (force only untags), and a container keeps its layers
// after its image is deleted until the container goes.
BOOST_AUTO_TEST_CASE(rmi_conflicts_with_containers) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto id = sh(d.docker("image inspect --format '{{.Id}}' busybox:latest")).out;
  BOOST_REQUIRE(id.size() == 72u);
  id.pop_back();
  auto short_id = id.substr(7, 12);
  auto created = sh(d.docker("create --name c1 busybox sh -c 'echo still here'"));
  BOOST_REQUIRE_MESSAGE(created.exit_code == 0, created.err);
  auto c1 = created.out.substr(0, 12);
  auto r = sh(d.docker("rmi busybox:latest"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "conflict: unable to remove repository reference \"busybox:latest\" "
                             "(must force) - container " +
                                 c1 + " is using its referenced image " + short_id),
             r.err);
  r = sh(d.docker("rmi " + short_id));
  BOOST_TEST(contains(r.err, "conflict: unable to delete " + short_id +
                                 " (must be forced) - image is being used by stopped container " +
                                 c1),
             r.err);
  auto running = sh(d.docker("run -d --name r1 busybox sleep 1000"));
  BOOST_REQUIRE_MESSAGE(running.exit_code == 0, running.err + d.log());
  auto r1 = running.out.substr(0, 12);
  r = sh(d.docker("rmi -f " + short_id));
  BOOST_TEST(contains(r.err, "conflict: unable to delete " + short_id +
                                 " (cannot be forced) - image is being used by running container " +
                                 r1),
             r.err);
  // a running container: force only untags, and the image stays (dangling)
  r = sh(d.docker("rmi -f busybox:latest"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "Untagged: busybox:latest\n", r.out);
  BOOST_TEST(contains(sh(d.docker("images -q --no-trunc")).out, id));
  BOOST_REQUIRE(sh(d.docker("rm -f r1"), 30s).exit_code == 0);
  // only a stopped container now: force deletes the image, the container still runs
  r = sh(d.docker("rmi -f " + short_id));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "Deleted: " + id), r.out);
  BOOST_TEST(sh(d.docker("images -q")).out == "");
  r = sh(d.docker("start -a c1"), 30s);
  BOOST_TEST(r.exit_code == 0, r.err + d.log());
  BOOST_TEST(r.out == "still here\n", r.out);
  auto layers = sh("ls -d " + d.data_root + "/image/*/layers").out;
  BOOST_REQUIRE(!layers.empty());
  layers.pop_back();
  BOOST_TEST(sh("ls -A " + layers + " | wc -l").out != "0\n");
  // removing the container frees the layers
  BOOST_REQUIRE(sh(d.docker("rm c1"), 30s).exit_code == 0);
  BOOST_TEST(sh("ls -A " + layers + " | wc -l").out == "0\n");
  BOOST_TEST(sh("ls -A " + layers + "/../mounts | wc -l").out == "0\n");
}

BOOST_AUTO_TEST_CASE(follow_logs_start_attach_and_events) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run -d --name fl busybox sh -c 'echo one; sleep 1; echo two'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // follow ends when the container stops
  auto logs = sh(d.docker("logs -f fl"), 20s);
  BOOST_TEST(logs.exit_code == 0, logs.err);
  BOOST_TEST(logs.out == "one\ntwo\n", logs.out);
  // attach with logs=1 and no stream: what was written, framed, then the end
  auto replay = raw_unix(d.socket, "POST /v1.41/containers/fl/attach?logs=1&stdout=1 HTTP/1.1\r\n"
                                   "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
  BOOST_TEST(contains(replay, "101 UPGRADED"), replay);
  BOOST_TEST(contains(replay, std::string{"\x01\0\0\0\0\0\0\x04one\n", 12}), replay);
  BOOST_TEST(contains(replay, std::string{"\x01\0\0\0\0\0\0\x04two\n", 12}), replay);
  BOOST_REQUIRE(sh(d.docker("create --name at busybox sh -c 'echo attached; exit 3'")).exit_code ==
                0);
  auto attached = sh(d.docker("start -a at"), 20s);
  BOOST_TEST(attached.exit_code == 3, attached.err);
  BOOST_TEST(attached.out == "attached\n", attached.out);
  BOOST_REQUIRE(sh(d.docker("rm at fl"), 20s).exit_code == 0);
  auto events = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter container=at "
                            "--format '{{.Action}} {{index .Actor.Attributes \"exitCode\"}}'"),
                   20s);
  BOOST_TEST(events.out == "create \nattach \nstart \ndie 3\ndestroy \n", events.out);
}

// berthd --init: containers get the init as PID 1 unless they ask otherwise (--init=false)
BOOST_AUTO_TEST_CASE(daemon_init_default) {
  if (!is_root()) return;
  busybox_daemon b{{"--init"}};
  auto& d = b.d;
  auto r = sh(d.docker("run --rm busybox sh -c 'test $$ -gt 1 && echo child'"));
  BOOST_TEST(r.out == "child\n", r.out + r.err);
  r = sh(d.docker("run --rm --init=false busybox sh -c 'echo $$'"));
  BOOST_TEST(r.out == "1\n", r.out + r.err);
}

// docker diff: added, changed and deleted paths of the container's layer, stopped or running.
BOOST_AUTO_TEST_CASE(diff_after_changes) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run --name changed busybox sh -c "
                       "'touch /added && rm /bin/ls && echo x >> /etc/passwd'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out + r.err);
  r = sh(d.docker("diff changed"));
  BOOST_TEST(r.exit_code == 0, r.err);
  for (auto line : {"A /added\n", "D /bin/ls\n", "C /etc/passwd\n", "C /etc\n", "C /bin\n"})
    BOOST_TEST(contains(r.out, line), r.out);
  BOOST_TEST(!contains(r.out, "/etc/hosts"), r.out); // the init layer's files are not changes
  // docker export: the merged tree, streamed; to a file with -o.
  r = sh(d.docker("export changed") + " | tar t");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "added\n"), r.out);
  BOOST_TEST(contains(r.out, "bin/busybox\n"), r.out);
  BOOST_TEST(!contains(r.out, "bin/ls\n"), r.out);
  auto file = d.dir.file("exported.tar");
  r = sh(d.docker("export -o " + file + " changed") + " && tar xOf " + file +
         " etc/passwd 2>/dev/null || tar xOf " + file + " ./etc/passwd");
  BOOST_TEST(contains(r.out, "x\n"), r.out + r.err);
  BOOST_TEST(sh(d.docker("export nosuch") + " > /dev/null").exit_code != 0);
  // None: dockerd's null, which the CLI prints as nothing.
  r = sh(d.docker("run -d --name quiet busybox sleep 100"));
  BOOST_REQUIRE(r.exit_code == 0);
  r = sh(d.docker("diff quiet"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "");
  auto raw = http_unix(d.socket, "GET", "/v1.41/containers/quiet/changes");
  BOOST_TEST(raw.body.rfind("null", 0) == 0u, raw.body); // (json_response adds a newline)
  BOOST_TEST(sh(d.docker("diff nosuch")).exit_code != 0);
  sh(d.docker("rm -f quiet"));
}

// docker top: the container's processes as ps shows them, with ps options; 409 when stopped.
BOOST_AUTO_TEST_CASE(top_processes) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  BOOST_REQUIRE(
      sh(d.docker("run -d --name busy busybox sh -c 'sleep 300 & sleep 301'")).exit_code == 0);
  command_result r;
  for (int i = 0; i < 100; ++i) { // until the shell has started both
    r = sh(d.docker("top busy"));
    if (contains(r.out, "sleep 300") && contains(r.out, "sleep 301")) break;
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((contains(r.out, "UID") && contains(r.out, "PID") && contains(r.out, "CMD")), r.out);
  BOOST_TEST(contains(r.out, "sleep 300"), r.out);
  BOOST_TEST(contains(r.out, "sleep 301"), r.out);
  BOOST_TEST(!contains(r.out, "berthd"), r.out); // only the container's
  r = sh(d.docker("top busy -o pid,args"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "PID"), r.out);
  BOOST_TEST(contains(r.out, "sleep 301"), r.out);
  auto raw = http_unix(d.socket, "GET", "/v1.41/containers/busy/top?ps_args=-o%20ppid%3DPID");
  BOOST_TEST(raw.status == 400, raw.body);
  sh(d.docker("kill busy"));
  r = sh(d.docker("top busy"));
  BOOST_TEST(contains(r.err, "is not running"), r.err);
}

// docker container prune: stopped containers only, with until and label filters.
BOOST_AUTO_TEST_CASE(container_prune) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto kept = sh(d.docker("create --label keep=1 busybox true")).out;
  auto done = sh(d.docker("run -d --label x=y busybox sh -c 'echo data > /file'")).out;
  auto up = sh(d.docker("run -d busybox sleep 100")).out;
  BOOST_REQUIRE(!kept.empty() && !done.empty() && !up.empty());
  sh(d.docker("wait " + done));
  auto r = sh(d.docker("container prune -f --filter until=24h")); // all are younger
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(!contains(r.out, "Deleted Containers"), r.out);
  r = sh(d.docker("container prune -f --filter label!=keep"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "Deleted Containers:\n" + done), r.out);
  BOOST_TEST(!contains(r.out, kept), r.out);
  BOOST_TEST(contains(r.out, "Total reclaimed space:"), r.out);
  r = sh(d.docker("container prune -f"));
  BOOST_TEST(contains(r.out, kept), r.out);
  BOOST_TEST(!contains(r.out, up), r.out);
  r = sh(d.docker("ps -aq --no-trunc"));
  BOOST_TEST(r.out == up, r.out); // the running one stays
  r = sh(d.docker("container prune -f --filter status=exited"));
  BOOST_TEST(contains(r.err, "invalid filter 'status'"), r.err);
  auto raw = http_unix(d.socket, "POST", "/v1.41/containers/prune");
  BOOST_TEST(raw.status == 200);
  BOOST_TEST(contains(raw.body, "\"ContainersDeleted\":null"), raw.body);
  sh(d.docker("rm -f " + up));
}

// docker rename: 409 on a name in use, 400 for the same or a bad name; the event carries the
// old name; the new name survives a daemon restart and frees the old one.
BOOST_AUTO_TEST_CASE(rename_containers) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  BOOST_REQUIRE(sh(d.docker("create --name first busybox true")).exit_code == 0);
  BOOST_REQUIRE(sh(d.docker("run -d --name second busybox sleep 100")).exit_code == 0);
  auto r = sh(d.docker("rename first second"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "is already in use by container"), r.err);
  r = sh(d.docker("rename first first"));
  BOOST_TEST(contains(r.err, "Renaming a container with the same name"), r.err);
  r = sh(d.docker("rename first 'bad name'"));
  BOOST_TEST(contains(r.err, "Invalid container name"), r.err);
  r = sh(d.docker("rename second renamed")); // a running one
  BOOST_TEST(r.exit_code == 0, r.err);
  r = sh(d.docker("rename first second")); // the old name is free again
  BOOST_TEST(r.exit_code == 0, r.err);
  r = sh(d.docker("ps -a --format '{{.Names}}' --filter name=renamed"));
  BOOST_TEST(r.out == "renamed\n", r.out + r.err);
  r = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter event=rename "
                  "--format '{{.Actor.Attributes.oldName}} {{.Actor.Attributes.name}}'"));
  BOOST_TEST(r.out == "/second renamed\n/first second\n", r.out + r.err);
  r = sh(d.docker("inspect -f '{{.Name}}' renamed"));
  BOOST_TEST(r.out == "/renamed\n");
  sh(d.docker("rm -f renamed"));
}

// Runtimes: the daemon's default one runs every container and shows in info and inspect; an
// unknown one is dockerd's 400; another known one is not built yet (501).
BOOST_AUTO_TEST_CASE(runtimes) {
  if (!is_root()) return;
  busybox_daemon b{{"--add-runtime", "other=/bin/false"}};
  auto& d = b.d;
  auto* driver = std::getenv("BERTH_TEST_EXEC_DRIVER");
  std::string def = driver && std::string{driver} == "oci" ? "runc" : "native";
  auto info = sh(d.docker("info --format '{{.DefaultRuntime}} {{len .Runtimes}}'"));
  BOOST_TEST(info.out == def + " 3\n", info.out + info.err);
  auto r = sh(d.docker("run --rm --runtime=nope busybox true"));
  BOOST_TEST(r.exit_code == 125);
  BOOST_TEST(contains(r.err, "Unknown runtime specified nope"), r.err);
  r = sh(d.docker("run --rm --runtime=other busybox true"));
  BOOST_TEST(r.exit_code == 125);
  BOOST_TEST(contains(r.err, "not built yet"), r.err);
  r = sh(d.docker("run --name rt --runtime=" + def + " busybox true"));
  BOOST_TEST(r.exit_code == 0, r.out + r.err);
  r = sh(d.docker("inspect -f '{{.HostConfig.Runtime}}' rt"));
  BOOST_TEST(r.out == def + "\n", r.out + r.err);
}

// SIGTERM stops the running containers before berthd exits; the next start on the same data
// root reloads them and starts again the ones whose restart policy says so.
BOOST_AUTO_TEST_CASE(sigterm_stops_containers_and_restart_recovers) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto loop = std::string{" busybox sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.1; done'"};
  BOOST_REQUIRE(sh(d.docker("run -d --name keep --restart always" + loop)).exit_code == 0);
  BOOST_REQUIRE(sh(d.docker("run -d --name once" + loop)).exit_code == 0);
  std::vector<std::string> pids;
  for (auto name : {"keep", "once"}) {
    auto pid = sh(d.docker("inspect -f '{{.State.Pid}}' ") + name).out;
    BOOST_REQUIRE(pid.size() > 1u);
    pid.pop_back();
    pids.push_back(pid);
  }
  d.signal(SIGTERM);
  BOOST_TEST(d.wait_exit() == 0, d.log());
  for (auto& pid : pids)
    BOOST_TEST(sh("test -e /proc/" + pid).exit_code != 0, "process " + pid + " outlived berthd");
  BOOST_TEST(sh("grep -c ' " + d.data_root + "/' /proc/mounts").out == "0\n");
  berthd again{{"--data-root", d.data_root}};
  // as dockerd's restore: the restart at boot is over before the API serves
  auto states = sh(again.docker("ps -a --format '{{.Names}} {{.State}}'"));
  BOOST_TEST(contains(states.out, "keep running"), states.out + again.log());
  BOOST_TEST(contains(states.out, "once exited"), states.out);
  auto exit_code = sh(again.docker("inspect -f '{{.State.ExitCode}}' once"));
  BOOST_TEST(exit_code.out == "0\n", exit_code.out);
  BOOST_TEST(sh(again.docker("rm -f keep once"), 30s).exit_code == 0);
  BOOST_TEST(sh("grep -c ' " + d.data_root + "/' /proc/mounts").out == "0\n");
}

BOOST_AUTO_TEST_CASE(pause_and_unpause) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run -d --name pz busybox sh -c 'while true; do sleep 0.1; done'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = r.out.substr(0, 64);
  auto freezer = "cat /sys/fs/cgroup/freezer/berth/" + id +
                 "/freezer.state 2>/dev/null || cat /sys/fs/cgroup/berth/" + id + "/cgroup.freeze";
  r = sh(d.docker("pause pz"));
  BOOST_TEST(r.exit_code == 0, r.err);
  auto frozen = sh(freezer).out;
  BOOST_TEST((frozen == "FROZEN\n" || frozen == "1\n"), frozen);
  auto state =
      sh(d.docker("inspect -f '{{.State.Status}} {{.State.Paused}} {{.State.Running}}' pz"));
  BOOST_TEST(state.out == "paused true true\n", state.out);
  BOOST_TEST(contains(sh(d.docker("ps --format '{{.Status}}'")).out, "(Paused)"));
  r = sh(d.docker("pause pz"));
  BOOST_TEST(contains(r.err, "Container " + id + " is already paused"), r.err);
  r = sh(d.docker("start pz"));
  BOOST_TEST(contains(r.err, "cannot start a paused container, try unpause instead"), r.err);
  r = sh(d.docker("unpause pz"));
  BOOST_TEST(r.exit_code == 0, r.err);
  auto thawed = sh(freezer).out;
  BOOST_TEST((thawed == "THAWED\n" || thawed == "0\n"), thawed);
  r = sh(d.docker("unpause pz"));
  BOOST_TEST(contains(r.err, "Container " + id + " is not paused"), r.err);
  // a paused container still goes at once with rm -f (the kill thaws it)
  BOOST_REQUIRE(sh(d.docker("pause pz")).exit_code == 0);
  auto t0 = std::chrono::steady_clock::now();
  r = sh(d.docker("rm -f pz"), 30s);
  BOOST_TEST(r.exit_code == 0, r.err + d.log());
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
  auto events = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter event=pause "
                            "--filter event=unpause --format '{{.Action}}'"),
                   20s);
  BOOST_TEST(events.out == "pause\nunpause\npause\n", events.out);
}

// The harness itself: a berthd killed with SIGKILL (as after a failed test) leaves a running, a
// paused and an exited container behind; destroying the harness kills their processes and
// removes their cgroups and mounts.
BOOST_AUTO_TEST_CASE(a_killed_daemon_leaves_nothing_behind) {
  if (!is_root()) return;
  std::vector<std::string> pids, ids;
  std::string data_root;
  {
    busybox_daemon b;
    auto& d = b.d;
    data_root = d.data_root;
    for (auto name : {"left1", "left2"}) {
      auto r = sh(d.docker(std::string{"run -d --name "} + name + " busybox sleep 1000"));
      BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      ids.push_back(r.out.substr(0, 64));
      auto pid = sh(d.docker("inspect -f '{{.State.Pid}}' ") + name).out;
      BOOST_REQUIRE(pid.size() > 1u);
      pid.pop_back();
      pids.push_back(pid);
    }
    BOOST_REQUIRE(sh(d.docker("pause left2")).exit_code == 0);
    BOOST_REQUIRE(sh(d.docker("create --name left3 busybox true")).exit_code == 0);
    d.signal(SIGKILL);
    BOOST_TEST(d.wait_exit() == 128 + SIGKILL);
    BOOST_TEST(sh("test -e /proc/" + pids[0]).exit_code == 0); // containers outlive a crash
  }
  for (auto& pid : pids) // gone, or a zombie until whoever inherited it reaps it
  {
    auto state = sh("awk '/^State:/ {print $2}' /proc/" + pid + "/status 2>/dev/null").out;
    BOOST_TEST((state.empty() || state == "Z\n"), "process " + pid + " left behind: " + state);
  }
  for (auto& id : ids)
    BOOST_TEST(
        sh("ls -d /sys/fs/cgroup/*/berth/" + id + " /sys/fs/cgroup/berth/" + id + " 2>/dev/null")
            .out.empty());
  BOOST_TEST(sh("grep -c ' " + data_root + "/' /proc/mounts").out == "0\n");
}

// docker exec: the process joins the container's namespaces and cgroup, with its env, user and
// workdir unless the exec gives its own; exit codes, stdin, a tty, detach, inspect, events, and
// moby's refusals for stopped and paused containers.
BOOST_AUTO_TEST_CASE(exec_in_running_containers) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run -d --name ex -e FOO=bar -w /tmp busybox sleep 1000"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = r.out.substr(0, 64);
  r = sh(d.docker("exec ex echo hi"));
  BOOST_TEST(r.exit_code == 0, r.err + d.log());
  BOOST_TEST(r.out == "hi\n");
  BOOST_TEST(sh(d.docker("exec ex sh -c 'exit 3'")).exit_code == 3);
  r = sh(d.docker("exec ex nosuchcmd"));
  BOOST_TEST(r.exit_code == 127, r.out + r.err);
  BOOST_TEST(contains(r.out + r.err, "executable file not found"), r.out + r.err);
  r = sh(d.docker("exec ex /etc"));
  BOOST_TEST(r.exit_code == 126, r.out + r.err);
  // the container's env, workdir and user; the exec's own
  r = sh(d.docker("exec -e BAR=baz ex sh -c 'echo $FOO $BAR; pwd; id -u'"));
  BOOST_TEST(r.out == "bar baz\n/tmp\n0\n", r.out + r.err);
  r = sh(d.docker("exec -e FOO=over -w / -u nobody ex sh -c 'echo $FOO; pwd; id -u'"));
  BOOST_TEST(r.out == "over\n/\n65534\n", r.out + r.err);
  r = sh(d.docker("exec ex sh -c 'echo out; echo err >&2'"));
  BOOST_TEST(r.out == "out\n");
  BOOST_TEST(r.err == "err\n");
  // its namespaces: the container's PID 1, hostname and root
  r = sh(d.docker("exec ex sh -c 'cat /proc/1/cmdline | tr \"\\0\" \" \"; hostname'"));
  auto hostname = sh(d.docker("inspect -f '{{.Config.Hostname}}' ex")).out;
  BOOST_TEST(r.out == "sleep 1000 " + hostname, r.out + r.err);
  r = sh(d.docker("exec ex sh -c 'echo $$'"));
  BOOST_TEST((r.out != "1\n" && r.out.size() <= 4u), r.out); // a small PID of its namespace
  // stdin, and a tty
  r = sh("printf 'piped\\n' | " + d.docker("exec -i ex cat"));
  BOOST_TEST(r.out == "piped\n", r.out + r.err);
  r = sh(d.docker("exec -t ex sh -c 'tty; echo $TERM'"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((r.out.rfind("/dev/pts/", 0) == 0 && contains(r.out, "\r\nxterm\r\n")), r.out);
  // detached: it runs in the container's cgroup
  r = sh(d.docker("exec -d ex sleep 777"));
  BOOST_TEST(r.exit_code == 0, r.err);
  std::string sleeper, procs;
  for (int i = 0; i < 50 && sleeper.empty(); ++i) {
    std::this_thread::sleep_for(50ms);
    sleeper = sh("pgrep -f '^sleep 777$'").out;
  }
  procs = sh("cat /sys/fs/cgroup/pids/berth/" + id + "/cgroup.procs /sys/fs/cgroup/berth/" + id +
             "/cgroup.procs 2>/dev/null")
              .out;
  BOOST_TEST((!sleeper.empty() && contains(procs, sleeper)), sleeper + " in " + procs);
  // inspect: null ExitCode before the start, the code after
  auto created =
      http_unix(d.socket, "POST", "/v1.41/containers/ex/exec", "Content-Type: application/json\r\n",
                R"({"Cmd":["sh","-c","exit 5"],"AttachStdout":true})");
  BOOST_TEST(created.status == 201, created.body);
  auto pos = created.body.find("\"Id\":\"");
  BOOST_REQUIRE(pos != std::string::npos);
  auto exec_id = created.body.substr(pos + 6, 64);
  auto before = http_unix(d.socket, "GET", "/v1.41/exec/" + exec_id + "/json");
  BOOST_TEST(contains(before.body, "\"ExitCode\":null"), before.body);
  BOOST_TEST(contains(before.body, "\"ContainerID\":\"" + id + "\""), before.body);
  auto started = http_unix(d.socket, "POST", "/v1.41/exec/" + exec_id + "/start",
                           "Content-Type: application/json\r\n", R"({"Detach":true})");
  BOOST_TEST(started.status == 200, started.body);
  std::string after;
  for (int i = 0; i < 50 && !contains(after, "\"ExitCode\":5"); ++i) {
    std::this_thread::sleep_for(50ms);
    after = http_unix(d.socket, "GET", "/v1.41/exec/" + exec_id + "/json").body;
  }
  BOOST_TEST(contains(after, "\"Running\":false"), after);
  BOOST_TEST(contains(after, "\"ExitCode\":5"), after);
  BOOST_TEST(
      contains(
          after,
          R"("ProcessConfig":{"tty":false,"entrypoint":"sh","arguments":["-c","exit 5"],"privileged":false})"),
      after);
  auto again = http_unix(d.socket, "POST", "/v1.41/exec/" + exec_id + "/start",
                         "Content-Type: application/json\r\n", R"({"Detach":true})");
  BOOST_TEST(again.status == 409, again.body);
  // a resize with a size that is no number is moby's 400; an unknown exec is 404
  auto bad_size = http_unix(d.socket, "POST", "/v1.41/exec/" + exec_id + "/resize?h=abc&w=80");
  BOOST_TEST(bad_size.status == 400, bad_size.body);
  BOOST_TEST(contains(bad_size.body, R"(strconv.Atoi: parsing \"abc\": invalid syntax)"),
             bad_size.body);
  bad_size = http_unix(d.socket, "POST", "/v1.41/exec/" + exec_id + "/resize?h=24");
  BOOST_TEST(bad_size.status == 400, bad_size.body);
  auto missing = http_unix(d.socket, "POST", "/v1.41/exec/nope/resize?h=24&w=80");
  BOOST_TEST(missing.status == 404, missing.body);
  missing = http_unix(d.socket, "GET", "/v1.41/exec/nope/json");
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(contains(missing.body, "No such exec instance: nope"), missing.body);
  auto nocmd = http_unix(d.socket, "POST", "/v1.41/containers/ex/exec",
                         "Content-Type: application/json\r\n", R"({"Cmd":[]})");
  BOOST_TEST(nocmd.status == 400, nocmd.body);
  // paused: refused; after unpause it runs again and so does the container's process
  BOOST_REQUIRE(sh(d.docker("pause ex")).exit_code == 0);
  r = sh(d.docker("exec ex true"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "Container " + id + " is paused, unpause the container before exec"),
             r.err);
  BOOST_REQUIRE(sh(d.docker("unpause ex")).exit_code == 0);
  r = sh(d.docker("exec ex cat /proc/1/cmdline"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(sh(d.docker("inspect -f '{{.State.Status}}' ex")).out == "running\n");
  // stopped: refused
  BOOST_REQUIRE(sh(d.docker("kill ex")).exit_code == 0);
  sh(d.docker("wait ex"));
  r = sh(d.docker("exec ex true"));
  BOOST_TEST(contains(r.err, "Container " + id + " is not running"), r.err);
  auto events = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter container=ex "
                            "--format '{{.Action}} {{index .Actor.Attributes \"exitCode\"}}'"),
                   20s);
  BOOST_TEST(contains(events.out, "exec_create: echo hi \nexec_start: echo hi \nexec_die 0\n"),
             events.out);
  BOOST_TEST(contains(events.out, "exec_die 3\n"), events.out);
}

// docker stats (GET /containers/{id}/stats): the CLI's table, the raw JSON's fields and types,
// one-shot, a stream that follows the container (moby: after the container stops it sends
// name-and-ID objects, and it ends when the container is removed), the stream's sampling stops
// with its client, and a stopped container answers at once.
BOOST_AUTO_TEST_CASE(stats) {
  if (!is_root()) return;
  busybox_daemon b{{"-D"}}; // -D: the engine logs each job (counted below)
  auto& d = b.d;
  auto r = sh(d.docker("run -d --name st busybox sh -c 'x=$(seq 1 20000); while true; do sleep "
                       "1; done'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = r.out.substr(0, 64);
  auto since = [](auto t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0);
  };

  // The CLI: one row with a non-zero MEM USAGE and a PIDS column, well within its 2 s.
  auto t0 = std::chrono::steady_clock::now();
  r = sh(d.docker("stats --no-stream st"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((since(t0) < 3s));
  BOOST_TEST(contains(r.out, "MEM USAGE / LIMIT"), r.out);
  BOOST_TEST(contains(r.out, "PIDS"), r.out);
  r = sh(d.docker("stats --no-stream --format '{{.Name}}|{{.MemUsage}}|{{.PIDs}}' st"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.rfind("st|", 0) == 0u, r.out);
  BOOST_TEST(!contains(r.out, "|0B /"), r.out); // usage minus inactive_file is not zero
  BOOST_TEST(!contains(r.out, "|0|"), r.out);   // sh and sleep
  // (all running containers: the CLI lists them, then asks each)
  r = sh(d.docker("stats --no-stream --format '{{.Name}}'"));
  BOOST_TEST(r.out == "st\n", r.out + r.err);

  // Raw HTTP, stream=0: two samples about a second apart, every field with moby's JSON type.
  // (returns how long the request took)
  auto check = [&](const std::string& query, const std::string& checks) {
    auto t0 = std::chrono::steady_clock::now();
    auto reply = http_unix(d.socket, "GET", "/v1.41/containers/st/stats" + query);
    auto took = since(t0);
    BOOST_TEST(reply.status == 200, reply.body);
    BOOST_TEST(reply.headers["content-type"] == "application/json");
    d.dir.write("stats.json", reply.body);
    auto v = sh("python3 -c '\nimport json, sys\no = json.load(open(sys.argv[1]))\n" + checks +
                "\nprint(\"ok\")' " + d.dir.file("stats.json") + " " + id);
    BOOST_TEST(v.out == "ok\n", v.err + reply.body);
    return took;
  };
  bool v1 = sh("test -e /sys/fs/cgroup/cgroup.controllers").exit_code != 0;
  std::string common = R"(
zero = "0001-01-01T00:00:00Z"
assert isinstance(o["read"], str) and o["read"] != zero and o["read"].endswith("Z")
assert isinstance(o["preread"], str)
assert o["name"] == "/st" and o["id"] == sys.argv[2]
assert o["num_procs"] == 0 and o["storage_stats"] == {}
n = o["networks"]  # eth0 of the bridge (lo is never reported)
assert list(n) == ["eth0"], n
assert all(type(n["eth0"][k]) is int for k in ("rx_bytes", "rx_packets", "tx_bytes", "tx_dropped"))
cpu = o["cpu_stats"]
u = cpu["cpu_usage"]
assert all(type(u[k]) is int for k in ("total_usage", "usage_in_kernelmode", "usage_in_usermode"))
assert u["total_usage"] > 0
assert type(cpu["system_cpu_usage"]) is int and cpu["system_cpu_usage"] > 0
assert type(cpu["online_cpus"]) is int and cpu["online_cpus"] >= 1
assert all(type(cpu["throttling_data"][k]) is int for k in ("periods", "throttled_periods", "throttled_time"))
m = o["memory_stats"]
assert type(m["usage"]) is int and m["usage"] > 0
assert type(m["limit"]) is int and m["limit"] > 0
assert isinstance(m["stats"], dict) and all(type(v) is int for v in m["stats"].values())
assert type(o["pids_stats"]["current"]) is int and o["pids_stats"]["current"] >= 1
bs = o["blkio_stats"]
assert set(bs) == {"io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive", "sectors_recursive"}
for l in bs.values():
    assert l is None or all(type(e["major"]) is int and type(e["value"]) is int and isinstance(e["op"], str) for e in l)
)";
  std::string per_version = v1 ? R"(
assert isinstance(u["percpu_usage"], list) and all(type(x) is int for x in u["percpu_usage"])
assert type(m["max_usage"]) is int and "total_inactive_file" in m["stats"]
assert isinstance(bs["io_service_bytes_recursive"], list)
)"
                               : R"(
assert "percpu_usage" not in u and "inactive_file" in m["stats"]
)";
  auto took = check("?stream=0", common + per_version + R"(
assert o["preread"] != zero and o["preread"] < o["read"]
assert o["precpu_stats"]["system_cpu_usage"] > 0
)");
  BOOST_TEST((took >= 900ms && took < 2s), took.count());
  // one-shot (API 1.41): one sample at once, no previous one
  took = check("?stream=0&one-shot=1", common + per_version + R"(
assert o["preread"] == zero and "system_cpu_usage" not in o["precpu_stats"]
)");
  BOOST_TEST((took < 500ms), took.count());
  auto bad = http_unix(d.socket, "GET", "/v1.41/containers/st/stats?one-shot=1");
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(contains(bad.body, "cannot have stream=true and one-shot=true"), bad.body);
  auto missing = http_unix(d.socket, "GET", "/v1.41/containers/nope/stats?stream=0");
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(contains(missing.body, "No such container: nope"), missing.body);
  missing = http_unix(d.socket, "GET", "/v1.41/containers/nope/stats");
  BOOST_TEST(missing.status == 404);

  // A stream: an object a second; after the container stops, name-and-ID objects; it ends
  // when the container is removed.
  command_result streamed;
  std::thread client{[&] {
    streamed = sh("curl -sN --max-time 30 --unix-socket " + d.socket +
                      " http://d/v1.41/containers/st/stats",
                  40s);
  }};
  std::this_thread::sleep_for(2500ms);
  BOOST_TEST(sh(d.docker("kill st")).exit_code == 0);
  std::this_thread::sleep_for(2500ms);
  t0 = std::chrono::steady_clock::now();
  BOOST_TEST(sh(d.docker("rm st")).exit_code == 0);
  client.join();
  BOOST_TEST((since(t0) < 3s), since(t0).count());
  BOOST_TEST(streamed.exit_code == 0, streamed.err); // a complete chunked response
  d.dir.write("stream.json", streamed.out);
  auto v = sh(R"(python3 -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
zero = "0001-01-01T00:00:00Z"
live = [o for o in objs if o["read"] != zero]
dead = [o for o in objs if o["read"] == zero]
assert len(live) >= 2, len(live)
assert live[1]["preread"] == live[0]["read"]
assert live[1]["precpu_stats"]["cpu_usage"]["total_usage"] == live[0]["cpu_stats"]["cpu_usage"]["total_usage"]
assert len(dead) >= 1 and all(o["name"] == "/st" and o["memory_stats"] == {} for o in dead)
assert objs.index(dead[0]) > objs.index(live[-1])
print("ok")' )" +
              d.dir.file("stream.json"));
  BOOST_TEST(v.out == "ok\n", v.err + streamed.out);

  // The client goes: the stream's sampling stops (no more container_stats jobs).
  BOOST_REQUIRE(sh(d.docker("run -d --name st2 busybox sleep 1000")).exit_code == 0);
  r = sh("curl -sN --max-time 2.5 --unix-socket " + d.socket +
         " http://d/v1.41/containers/st2/stats | wc -l");
  BOOST_TEST(std::atoi(r.out.c_str()) >= 2, r.out); // at 0, 1 and 2 s
  auto jobs = [&] { return sh("grep -c '+job container_stats' " + d.log_file).out; };
  std::this_thread::sleep_for(300ms); // the close reaches the stream
  auto before = jobs();
  BOOST_TEST(std::atoi(before.c_str()) >= 2, before);
  std::this_thread::sleep_for(2500ms);
  BOOST_TEST(jobs() == before);

  // A stopped container answers at once, with its name and ID only.
  BOOST_REQUIRE(sh(d.docker("create --name stopped busybox true")).exit_code == 0);
  t0 = std::chrono::steady_clock::now();
  auto reply = http_unix(d.socket, "GET", "/v1.41/containers/stopped/stats?stream=0");
  BOOST_TEST((since(t0) < 500ms));
  BOOST_TEST(reply.status == 200);
  BOOST_TEST(
      contains(
          reply.body,
          R"({"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},)"),
      reply.body);
  BOOST_TEST(contains(reply.body, R"("memory_stats":{},"name":"/stopped","id":")"), reply.body);
  r = sh(d.docker("stats --no-stream --format '{{.Name}} {{.MemUsage}}' stopped"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "stopped 0B / 0B\n", r.out);
  sh(d.docker("rm -f st2 stopped"));
}

// docker system df and ps -s: the images with their containers, the containers' read-write
// layer sizes, no null UsageData or lists the CLI would trip on.
BOOST_AUTO_TEST_CASE(system_df_and_sizes) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run --name sized busybox sh -c 'head -c 300000 /dev/zero > /big'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = sh(d.docker("system df"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "Images          1         1"), r.out);
  BOOST_TEST(contains(r.out, "Containers      1         0"), r.out);
  BOOST_TEST(contains(r.out, "Local Volumes   0         0"), r.out);
  r = sh(d.docker("system df -v --format '{{json .}}'"));
  BOOST_TEST(r.exit_code == 0, r.err);
  auto raw = http_unix(d.socket, "GET", "/v1.41/system/df");
  BOOST_TEST(raw.status == 200);
  BOOST_TEST(contains(raw.body, "\"Volumes\":[]"), raw.body);
  BOOST_TEST(contains(raw.body, "\"BuildCache\":[]"), raw.body);
  BOOST_TEST(contains(raw.body, "\"Containers\":1,"), raw.body);
  BOOST_TEST(contains(raw.body, "\"SharedSize\":0"), raw.body);
  BOOST_TEST(!contains(raw.body, "\"LayersSize\":0"), raw.body);
  auto rw = sh(d.docker("ps -as --format '{{.Size}}'")).out;
  BOOST_TEST((contains(rw, "kB") && contains(rw, "virtual")), rw);
  auto sized = http_unix(d.socket, "GET", "/v1.41/containers/json?all=1&size=1").body;
  BOOST_TEST(contains(sized, "\"SizeRw\":3"), sized); // 300000 bytes and /big's directory entry
}

// The CLI under a terminal (python's pty): `docker run -it busybox sh` and `docker exec -it`
// give an interactive shell whose exit code is the CLI's.
BOOST_AUTO_TEST_CASE(interactive_shells_under_a_pty) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  d.dir.write("drive_tty.py", R"(import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out, sent, deadline = b"", False, time.time() + 30
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not sent and b"#" in out:
        os.write(fd, b"echo $((6*7)); exit 5\r")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
)");
  auto py = "python3 " + d.dir.file("drive_tty.py") + " docker -H unix://" + d.socket + " ";
  auto r = sh(py + "run --rm -it busybox sh", 60s);
  BOOST_TEST(r.exit_code == 5, r.out + r.err);
  BOOST_TEST(contains(r.out, "\r\n42\r\n"), r.out);
  BOOST_REQUIRE(sh(d.docker("run -d --name shell busybox sleep 1000")).exit_code == 0);
  r = sh(py + "exec -it shell sh", 60s);
  BOOST_TEST(r.exit_code == 5, r.out + r.err);
  BOOST_TEST(contains(r.out, "\r\n42\r\n"), r.out);
}

// docker cp: files and directories out of and into a running and a stopped container, the
// tar on stdout and from stdin, a renamed target, errors (404, not a directory, read-only
// rootfs), the archive events. The running container sees what is copied into its own tmpfs.
BOOST_AUTO_TEST_CASE(cp_running_and_stopped) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto tmp = d.dir.file("cp");
  BOOST_REQUIRE(sh("set -e; mkdir -p " + tmp + "/dir/sub " + tmp + "/out; echo hello > " + tmp +
                   "/f.txt; echo a > " + tmp + "/dir/a; echo b > " + tmp + "/dir/sub/b")
                    .exit_code == 0);
  auto r = sh(d.docker("run -d --name cpr --tmpfs /scratch busybox sh -c 'while [ ! -f "
                       "/scratch/f.txt ]; do sleep 0.1; done; cat /scratch/f.txt; sleep 1000'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = sh(d.docker("create --name cps busybox cat /tmp/f.txt /tmp/renamed.txt /tmp/dir/sub/b "
                  "/tmp/stdin.txt"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (std::string c : {"cpr", "cps"}) {
    auto out = tmp + "/out/" + c;
    r = sh(d.docker("cp " + tmp + "/f.txt " + c + ":/tmp/"));
    BOOST_TEST(r.exit_code == 0, c + ": " + r.err);
    r = sh(d.docker("cp " + tmp + "/f.txt " + c + ":/tmp/renamed.txt"));
    BOOST_TEST(r.exit_code == 0, c + ": " + r.err);
    r = sh(d.docker("cp " + tmp + "/dir " + c + ":/tmp/"));
    BOOST_TEST(r.exit_code == 0, c + ": " + r.err);
    r = sh("tar -C " + tmp + " -c f.txt --transform s/f.txt/stdin.txt/ | " +
           d.docker("cp - " + c + ":/tmp"));
    BOOST_TEST(r.exit_code == 0, c + ": " + r.err);
    // back out: a file, a directory, the tar on stdout
    r = sh(d.docker("cp " + c + ":/tmp/renamed.txt " + out + "-f.txt") + " && cat " + out +
           "-f.txt");
    BOOST_TEST(r.out == "hello\n", c + ": " + r.err);
    r = sh(d.docker("cp " + c + ":/tmp/dir " + out + "-dir") + " && cat " + out + "-dir/sub/b");
    BOOST_TEST(r.out == "b\n", c + ": " + r.err);
    r = sh(d.docker("cp " + c + ":/tmp/dir -") + " | tar t | sort");
    BOOST_TEST(r.out == "dir/\ndir/a\ndir/sub/\ndir/sub/b\n", c + ": " + r.out + r.err);
    r = sh(d.docker("cp " + c + ":/tmp/stdin.txt -") + " | tar xO");
    BOOST_TEST(r.out == "hello\n", c + ": " + r.err);
    r = sh(d.docker("cp " + c + ":/etc/passwd -") + " | tar t");
    BOOST_TEST(r.out == "passwd\n", c + ": " + r.err);
    // errors
    r = sh(d.docker("cp " + c + ":/nope " + out + "-nope"));
    BOOST_TEST(contains(r.err, "Could not find the file /nope in container " + c), r.err);
    r = sh(d.docker("cp " + tmp + "/f.txt " + c + ":/nodir/x"));
    BOOST_TEST(r.exit_code != 0);
    auto put = http_unix(d.socket, "PUT", "/v1.41/containers/" + c + "/archive?path=/etc/passwd");
    BOOST_TEST(put.status == 400);
    BOOST_TEST(contains(put.body, "extraction point is not a directory"), put.body);
  }
  // the running container saw the file in its own tmpfs mount
  r = sh(d.docker("cp " + tmp + "/f.txt cpr:/scratch/"));
  BOOST_TEST(r.exit_code == 0, r.err);
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i) {
    seen = sh(d.docker("logs cpr")).out == "hello\n";
    if (!seen) std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST(seen);
  // the stopped one sees everything once started
  r = sh(d.docker("start -a cps"), 30s);
  BOOST_TEST(r.out == "hello\nhello\nb\nhello\n", r.out + r.err);
  // a read-only rootfs refuses (403), reading still works
  BOOST_REQUIRE(sh(d.docker("create --name cpro --read-only busybox true")).exit_code == 0);
  r = sh(d.docker("cp " + tmp + "/f.txt cpro:/tmp/"));
  BOOST_TEST(contains(r.err, "container rootfs is marked read-only"), r.err);
  BOOST_TEST(sh(d.docker("cp cpro:/etc/passwd -") + " | tar t").out == "passwd\n");
  // bind mounts of a running container: a read-only one refuses (403), a writable one takes the
  // file even on a read-only rootfs
  BOOST_REQUIRE(sh("mkdir -p " + tmp + "/ro " + tmp + "/rw").exit_code == 0);
  r = sh(d.docker("run -d --name cpv --read-only -v " + tmp + "/ro:/ro:ro -v " + tmp +
                  "/rw:/rw busybox sleep 1000"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = sh(d.docker("cp " + tmp + "/f.txt cpv:/ro/"));
  BOOST_TEST(contains(r.err, "mounted volume is marked read-only"), r.err);
  r = sh(d.docker("cp " + tmp + "/f.txt cpv:/rw/") + " && cat " + tmp + "/rw/f.txt");
  BOOST_TEST(r.out == "hello\n", r.err);
  r = sh(d.docker("cp " + tmp + "/f.txt cpv:/tmp/"));
  BOOST_TEST(contains(r.err, "container rootfs is marked read-only"), r.err);
  // the tar's owner is kept; with -a (copyUIDGID) the container's user, looked up on the host
  // as moby does (busybox's and Debian's nobody are both 65534)
  BOOST_REQUIRE(sh(d.docker("create --name cpu -u nobody busybox true")).exit_code == 0);
  BOOST_REQUIRE(sh("chown 123:456 " + tmp + "/f.txt").exit_code == 0);
  r = sh(d.docker("cp " + tmp + "/f.txt cpu:/tmp/") + " && " + d.docker("cp cpu:/tmp/f.txt -") +
         " | tar tv --numeric-owner");
  BOOST_TEST(contains(r.out, "123/456"), r.out + r.err);
  r = sh(d.docker("cp -a " + tmp + "/f.txt cpu:/tmp/") + " && " + d.docker("cp cpu:/tmp/f.txt -") +
         " | tar tv --numeric-owner");
  BOOST_TEST(contains(r.out, "65534/65534"), r.out + r.err);
  // raw HTTP: the stat header of HEAD (Go FileMode bits, base64 JSON)
  auto h = http_unix(d.socket, "HEAD", "/v1.41/containers/cps/archive?path=/tmp/dir");
  BOOST_TEST(h.status == 200);
  auto hdr = h.headers["x-docker-container-path-stat"];
  r = sh("echo " + hdr + " | base64 -d");
  BOOST_TEST(contains(r.out, "\"name\":\"dir\""), r.out);
  BOOST_TEST(contains(r.out, "\"mode\":2147484141"), r.out);
  BOOST_TEST(contains(r.out, "\"linkTarget\":\"\""), r.out);
  h = http_unix(d.socket, "HEAD", "/v1.41/containers/cps/archive?path=/nope");
  BOOST_TEST(h.status == 404);
  auto events = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter container=cps "
                            "--filter event=archive-path --filter event=extract-to-dir "
                            "--format '{{.Action}}'"),
                   20s);
  BOOST_TEST(contains(events.out, "extract-to-dir\n"), events.out);
  BOOST_TEST(contains(events.out, "archive-path\n"), events.out);
}

// docker cp never leaves the container root: hostile symlinks made inside the container (to /,
// up with .., to /proc/self/root, in the middle of the path) for reading and writing, and a
// crafted tar (.. entries, absolute names, a symlink then a file under it, a hardlink out),
// on a running container and once it is stopped.
BOOST_AUTO_TEST_CASE(cp_hostile_symlinks_and_tars_stay_inside) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto tmp = d.dir.file("cpx");
  auto probe = "berth-cp-probe-" + std::to_string(::getpid());
  BOOST_REQUIRE(sh("mkdir -p " + tmp + " && echo probe > " + tmp + "/" + probe).exit_code == 0);
  auto r = sh(d.docker("run -d --name evil busybox sh -c 'hostname > /etc/hostname; ln -s / "
                       "/evil; ln -s ../../../../../ /tmp/up; ln -s /proc/self/root /pself; "
                       "mkdir -p /tmp/x /d; ln -s /evil/etc /d/mid; touch /ready; sleep 1000'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = r.out.substr(0, 12);
  bool ready = false;
  for (int i = 0; i < 50 && !ready; ++i) {
    ready = sh(d.docker("cp evil:/ready -") + " >/dev/null").exit_code == 0;
    if (!ready) std::this_thread::sleep_for(100ms);
  }
  BOOST_REQUIRE(ready);
  auto host_hostname = sh("cat /etc/hostname").out;
  auto nlink = sh("stat -c %h /etc/passwd").out;
  // the crafted tar
  auto tar = tmp + "/crafted.tar";
  r = sh("python3 - <<'EOF'\n"
         "import io, tarfile\n"
         "t = tarfile.open('" +
         tar +
         "', 'w', format=tarfile.GNU_FORMAT)\n"
         "def f(name, data=b'x'):\n"
         "    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))\n"
         "def l(name, target, kind=tarfile.SYMTYPE):\n"
         "    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; t.addfile(i)\n"
         "f('../../../../" +
         probe +
         "-1')\n"
         "f('/" +
         probe +
         "-2')\n"
         "l('lnk', '/')\n"
         "f('lnk/" +
         probe +
         "-3')\n"
         "l('hostlnk', '../../../../../../../..')\n"
         "f('hostlnk/" +
         probe +
         "-4')\n"
         "l('hl', '../../../../../../etc/passwd', tarfile.LNKTYPE)\n"
         "t.close()\n"
         "EOF");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto host_clean = [&](const std::string& when) {
    for (auto dir : {"/", "/tmp/", "/etc/"})
      for (auto suffix : {"", "-1", "-2", "-3", "-4"})
        BOOST_TEST(sh(std::string{"test -e "} + dir + probe + suffix).exit_code != 0,
                   when + ": " + dir + probe + suffix + " written on the host");
    BOOST_TEST(sh("stat -c %h /etc/passwd").out == nlink, when);
  };
  for (std::string when : {"running", "stopped"}) {
    // reading through the symlinks gives the container's file
    for (auto path : {"/evil/etc/hostname", "/tmp/up/etc/hostname", "/d/mid/hostname"}) {
      r = sh(d.docker(std::string{"cp evil:"} + path + " -") + " | tar xO");
      BOOST_TEST(r.out == id + "\n", when + " " + path + ": " + r.out + r.err);
      BOOST_TEST(r.out != host_hostname);
    }
    r = sh(d.docker("cp evil:/pself/etc/hostname -") + " | tar xO");
    BOOST_TEST((r.out.empty() || r.out == id + "\n"), when + " /pself: " + r.out);
    // writing through them lands in the container
    for (auto dst : {"/evil/tmp/", "/tmp/up/tmp/", "/pself/tmp/"}) {
      sh(d.docker("cp " + tmp + "/" + probe + " evil:" + dst));
      host_clean(when + " " + dst);
    }
    r = sh(d.docker("cp evil:/tmp/" + probe + " -") + " | tar xO");
    BOOST_TEST(r.out == "probe\n", when + ": " + r.out + r.err);
    // the crafted tar: everything under the extraction point, the hardlink refused
    sh(d.docker("cp - evil:/tmp/x") + " < " + tar);
    host_clean(when + " crafted tar");
    r = sh(d.docker("cp evil:/tmp/x -") + " | tar t | sort");
    for (auto n : {"-1", "-2", "-3", "-4"})
      BOOST_TEST(contains(r.out, "x/" + probe + n + "\n"), when + ": " + r.out + r.err);
    auto found = sh("find " + d.data_root + " -name '" + probe + "*'").out;
    std::istringstream lines{found};
    for (std::string line; std::getline(lines, line);)
      BOOST_TEST(contains(line, id), when + ": " + line + " outside the container");
    if (when == "running") BOOST_REQUIRE(sh(d.docker("kill evil")).exit_code == 0);
    sh(d.docker("wait evil"), 30s);
  }
}

// docker cp through a stopped container's binds: mounted for the copy in a namespace of its
// own (nothing shows on the host), a read-only bind refuses writes.
BOOST_AUTO_TEST_CASE(cp_through_the_binds_of_a_stopped_container) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto rw = d.dir.file("bind-rw");
  auto ro = d.dir.file("bind-ro");
  BOOST_REQUIRE(sh("mkdir -p " + rw + " " + ro + " && echo fromhost > " + rw +
                   "/h.txt && echo ro > " + ro + "/r.txt && echo tohost > " + d.dir.file("in.txt"))
                    .exit_code == 0);
  auto r = sh(d.docker("run --name binds -v " + rw + ":/data -v " + ro + ":/ro:ro busybox true"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = sh(d.docker("cp binds:/data/h.txt -") + " | tar xO");
  BOOST_TEST(r.out == "fromhost\n", r.out + r.err);
  r = sh(d.docker("cp " + d.dir.file("in.txt") + " binds:/data/"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(sh("cat " + rw + "/in.txt").out == "tohost\n");
  r = sh(d.docker("cp " + d.dir.file("in.txt") + " binds:/ro/"));
  BOOST_TEST(contains(r.err, "mounted volume is marked read-only"), r.err);
  BOOST_TEST(sh("test -e " + ro + "/in.txt").exit_code != 0);
  r = sh(d.docker("cp binds:/ -") + " | tar t");
  BOOST_TEST(contains(r.out, "/ro/r.txt\n"), r.out);
  BOOST_TEST(sh("grep -c " + d.dir.path + " /proc/self/mountinfo").out == "0\n");
}

// docker commit: the read-write layer (an added file, a deletion) becomes a layer on the image,
// the changes and the container's config make the new config; it runs, saves and loads.
BOOST_AUTO_TEST_CASE(commit_and_run_the_new_image) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run --name made -e KEEP=1 busybox sh -c "
                       "'echo hello > /tmp/f && mkdir -p /data/x && echo y > /data/x/y && "
                       "rm /bin/ls'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out + r.err);
  r = sh(d.docker("commit -m 'my msg' -a me -c 'ENV FOO=bar' -c 'CMD [\"cat\", \"/tmp/f\"]' "
                  "-c 'EXPOSE 8080' -c 'LABEL stage=two' -c 'WORKDIR /data' made myimg:v1"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err + d.log());
  BOOST_TEST(r.out.rfind("sha256:", 0) == 0u, r.out);
  auto id = r.out.substr(0, 71);
  r = sh(d.docker("run --rm myimg:v1"));
  BOOST_TEST(r.out == "hello\n", r.out + r.err);
  r = sh(d.docker("run --rm myimg:v1 sh -c 'echo $FOO $KEEP; pwd; cat x/y; ls /bin/ls'"));
  BOOST_TEST(contains(r.out, "bar 1\n/data\ny\n"), r.out + r.err);
  BOOST_TEST(contains(r.err, "/bin/ls: No such file or directory"), r.err);
  r = sh(d.docker("image inspect -f '{{.Id}}|{{.Comment}}|{{.Author}}|{{len .RootFS.Layers}}|"
                  "{{.Config.Env}}|{{.Config.Cmd}}|{{.Config.ExposedPorts}}|{{.Config.Labels}}|"
                  "{{.Config.WorkingDir}}' myimg:v1"));
  BOOST_TEST(r.out == id + "|my msg|me|2|[FOO=bar KEEP=1]|[cat /tmp/f]|map[8080/tcp:map[]]|"
                           "map[stage:two]|/data\n",
             r.out + r.err);
  BOOST_TEST(sh(d.docker("image inspect -f '{{.Parent}}' myimg:v1")).out ==
             sh(d.docker("image inspect -f '{{.Id}}' busybox")).out);
  r = sh(d.docker("history --no-trunc --format '{{.CreatedBy}}|{{.Comment}}' myimg:v1"));
  BOOST_TEST(r.out.rfind("sh -c echo hello > /tmp/f", 0) == 0u, r.out);
  BOOST_TEST(contains(r.out, "|my msg\n"), r.out);
  // a running container: frozen for the commit (by default), running after it; no change is
  // no new layer
  r = sh(d.docker("run -d --name busy busybox sleep 1000"));
  BOOST_REQUIRE(r.exit_code == 0);
  for (auto pause : {"", "--pause=false "}) {
    r = sh(d.docker(std::string{"commit "} + pause + "busy snap"));
    BOOST_TEST(r.exit_code == 0, r.err);
    r = sh(d.docker("inspect -f '{{.State.Status}}' busy"));
    BOOST_TEST(r.out == "running\n", r.out);
    r = sh(d.docker("image inspect -f '{{len .RootFS.Layers}} {{.Config.Cmd}}' snap"));
    BOOST_TEST(r.out == "1 [sleep 1000]\n", r.out);
  }
  // save, remove, load: the committed layer's bytes are kept (the diff IDs check out)
  auto file = d.dir.file("myimg.tar");
  BOOST_TEST(sh(d.docker("save -o " + file + " myimg:v1")).exit_code == 0);
  BOOST_TEST(sh(d.docker("rm made")).exit_code == 0);
  r = sh(d.docker("rmi myimg:v1"));
  BOOST_TEST(r.exit_code == 0, r.err);
  r = sh(d.docker("load -i " + file));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(sh(d.docker("run --rm myimg:v1")).out == "hello\n");
  // errors: moby's wording
  r = sh(d.docker("commit -c 'BOGUS x' busy"));
  BOOST_TEST(contains(r.err, "bogus is not a valid change command"), r.err);
  r = sh(d.docker("commit nosuch"));
  BOOST_TEST(contains(r.err, "No such container: nosuch"), r.err);
  auto raw = http_unix(d.socket, "POST", "/v1.41/commit?container=busy&repo=UPPER");
  BOOST_TEST(raw.status == 400, raw.body);
  raw = http_unix(d.socket, "POST", "/v1.41/commit?container=busy&comment=raw",
                  "Content-Type: application/json\r\n", R"({"Env":["A=b"]})");
  BOOST_TEST(raw.status == 201, raw.body);
  BOOST_TEST(contains(raw.body, R"({"Id":"sha256:)"), raw.body);
  auto events = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter event=commit "
                            "--format '{{.Actor.Attributes.name}} {{.Actor.Attributes.imageRef}}'"),
                   20s);
  BOOST_TEST(events.out == "made myimg:v1\nbusy snap:latest\nbusy snap:latest\nbusy \n",
             events.out);
}

// Named volumes: the volume API, data kept across containers, :ro, 409 while in use (also after
// a daemon restart), made by their first use, system df, prune.
BOOST_AUTO_TEST_CASE(named_volumes_and_the_volume_api) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("volume create --label app=web data"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err + d.log());
  BOOST_TEST(r.out == "data\n");
  r = sh(d.docker("volume inspect -f '{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Labels.app}} "
                  "{{.Scope}}' data"));
  BOOST_TEST(r.out == "data local " + d.data_root + "/volumes/data/_data web local\n",
             r.out + r.err);
  BOOST_TEST(sh(d.docker("volume ls -q -f label=app=web")).out == "data\n");
  r = sh(d.docker("run --rm -v data:/d busybox sh -c 'echo one > /d/f'"));
  BOOST_TEST(r.exit_code == 0, r.err);
  r = sh(d.docker("run --rm -v data:/d:ro busybox sh -c 'cat /d/f; echo x > /d/g'"));
  BOOST_TEST(r.out == "one\n", r.out + r.err);
  BOOST_TEST(contains(r.err, "Read-only file system"), r.err);
  BOOST_REQUIRE(sh(d.docker("run --name holder -v data:/d busybox true")).exit_code == 0);
  r = sh(d.docker("inspect -f '{{range .Mounts}}{{.Type}} {{.Name}} {{.Source}} {{.Destination}} "
                  "{{.Driver}} {{.RW}}{{end}}' holder"));
  BOOST_TEST(r.out == "volume data " + d.data_root + "/volumes/data/_data /d local true\n", r.out);
  r = sh(d.docker("volume rm data"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "volume is in use"), r.err);
  BOOST_TEST(sh(d.docker("volume ls -q -f dangling=true")).out == "");
  r = sh(d.docker("system df"));
  BOOST_TEST(contains(r.out, "Local Volumes   1         1"), r.out + r.err);
  // the hold is taken again when the daemon loads the container
  d.signal(SIGTERM);
  BOOST_REQUIRE(d.wait_exit() == 0);
  berthd again{{"--data-root", d.data_root}};
  BOOST_TEST(contains(sh(again.docker("volume rm data")).err, "volume is in use"));
  BOOST_TEST(sh(again.docker("ps -a --filter volume=data --format '{{.Names}}'")).out ==
             "holder\n");
  BOOST_TEST(sh(again.docker("rm holder")).exit_code == 0);
  BOOST_TEST(sh(again.docker("volume rm data")).exit_code == 0);
  BOOST_TEST(sh("test -e " + d.data_root + "/volumes/data").exit_code != 0);
  r = sh(again.docker("volume inspect data"));
  BOOST_TEST(contains(r.err, "no such volume"), r.err);
  // a name that is not a path makes a volume at its first use; prune takes the unused ones
  BOOST_REQUIRE(sh(again.docker("run --rm -v auto:/x busybox true")).exit_code == 0);
  BOOST_TEST(sh(again.docker("volume ls -q")).out == "auto\n");
  r = sh(again.docker("volume prune -f"));
  BOOST_TEST(contains(r.out, "auto"), r.out + r.err);
  BOOST_TEST(sh(again.docker("volume ls -q")).out == "");
  r = sh(again.docker("run --rm -v bad/name:/x busybox true"));
  BOOST_TEST(r.exit_code == 125);
  BOOST_TEST(contains(r.err, "If you intended to pass a host directory"), r.err);
}

// Anonymous volumes: an image's VOLUME gets its content copied up, rm -v and --rm remove them,
// nocopy leaves the volume empty.
BOOST_AUTO_TEST_CASE(anonymous_volumes_copy_up_and_rm_v) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run --name seed busybox sh -c 'mkdir /vol && echo seeded > /vol/seed && "
                       "chown 65534 /vol'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_REQUIRE(sh(d.docker("commit -c 'VOLUME /vol' seed volimg")).exit_code == 0);
  r = sh(d.docker("run --name a1 volimg sh -c 'cat /vol/seed; stat -c %u /vol'"));
  BOOST_TEST(r.out == "seeded\n65534\n", r.out + r.err);
  auto name = sh(d.docker("inspect -f '{{range .Mounts}}{{.Name}}{{end}}' a1")).out;
  BOOST_TEST(name.size() == 65u, name);
  BOOST_TEST(sh(d.docker("volume ls -q")).out == name);
  BOOST_TEST(sh(d.docker("rm -v a1")).exit_code == 0);
  BOOST_TEST(sh(d.docker("volume ls -q")).out == "");
  // -v /path: an anonymous volume too; --rm removes it
  r = sh(d.docker("run --rm -v /scratch busybox sh -c 'echo x > /scratch/y && cat /scratch/y'"));
  BOOST_TEST(r.out == "x\n", r.err);
  BOOST_TEST(sh(d.docker("volume ls -q")).out == "");
  // nocopy: the image's content stays out
  r = sh(d.docker("run --rm --mount type=volume,dst=/vol,volume-nocopy volimg ls -A /vol"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "", r.out);
  // a named volume is filled from the image the first time only
  r = sh(
      d.docker("run --rm -v filled:/vol volimg sh -c 'cat /vol/seed; echo changed > /vol/seed'"));
  BOOST_TEST(r.out == "seeded\n", r.out + r.err);
  r = sh(d.docker("run --rm -v filled:/vol volimg cat /vol/seed"));
  BOOST_TEST(r.out == "changed\n", r.out + r.err);
  BOOST_TEST(sh(d.docker("volume rm filled")).exit_code == 0);
}

// Binds both ways, --mount bind (a missing source is an error, readonly), tmpfs with a size
// from --tmpfs and --mount, --read-only.
BOOST_AUTO_TEST_CASE(binds_tmpfs_and_the_mount_flag) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto host = d.dir.file("shared");
  BOOST_REQUIRE(sh("mkdir -p " + host + " && echo fromhost > " + host + "/in").exit_code == 0);
  auto r = sh(d.docker("run --rm -v " + host + ":/h busybox sh -c 'cat /h/in; echo out > /h/out'"));
  BOOST_TEST(r.out == "fromhost\n", r.out + r.err);
  BOOST_TEST(sh("cat " + host + "/out").out == "out\n");
  // -v makes a missing host dir; --mount refuses one
  auto made = d.dir.file("made/deep");
  BOOST_TEST(sh(d.docker("run --rm -v " + made + ":/m busybox true")).exit_code == 0);
  BOOST_TEST(sh("test -d " + made).exit_code == 0);
  r = sh(d.docker("run --rm --mount type=bind,src=" + d.dir.file("absent") +
                  ",dst=/x busybox "
                  "true"));
  BOOST_TEST(r.exit_code == 125);
  BOOST_TEST(contains(r.err, "bind source path does not exist"), r.err);
  r = sh(d.docker("run --name ro --mount type=bind,src=" + host +
                  ",dst=/h,readonly busybox sh -c "
                  "'cat /h/in; touch /h/no'"));
  BOOST_TEST(r.out == "fromhost\n", r.out);
  BOOST_TEST(contains(r.err, "Read-only file system"), r.err);
  r = sh(d.docker("inspect -f '{{range .Mounts}}{{.Type}} {{.Source}} {{.RW}} "
                  "{{.Propagation}}{{end}}|{{range .HostConfig.Mounts}}{{.Target}} "
                  "{{.ReadOnly}}{{end}}' ro"));
  BOOST_TEST(r.out == "bind " + host + " false rprivate|/h true\n", r.out + r.err);
  // tmpfs: --tmpfs with options, --mount with a size; --read-only leaves them writable
  r = sh(d.docker("run --rm --read-only --tmpfs /t:size=1m --mount type=tmpfs,dst=/t2,"
                  "tmpfs-size=2097152 busybox sh -c 'grep -E \" /t2? \" /proc/mounts; "
                  "echo x > /t/f && echo x > /t2/f && echo ok; touch /root-write'"));
  BOOST_TEST(contains(r.out, "tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k"), r.out);
  BOOST_TEST(contains(r.out, "tmpfs /t2 tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k"), r.out);
  BOOST_TEST(contains(r.out, "ok\n"), r.out);
  BOOST_TEST(contains(r.err, "Read-only file system"), r.err);
  r = sh(d.docker("run --rm -v " + host + ":/x -v vol:/x busybox true"));
  BOOST_TEST(contains(r.err, "Duplicate mount point: /x"), r.err);
}

// A volume with the local driver's DriverOpts (a tmpfs): shared by its containers, mounted on
// the host while one uses it, and unmounted at the next start after a SIGKILL of the daemon.
// Volume events: create, mount, unmount, destroy.
BOOST_AUTO_TEST_CASE(volume_driver_opts_events_and_leftovers) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto since = sh("date +%s").out;
  since.pop_back();
  auto r = sh(d.docker("volume create -d local -o type=tmpfs -o device=tmpfs -o o=size=1m tv"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto point = d.data_root + "/volumes/tv/_data";
  BOOST_REQUIRE(sh(d.docker("run -d --name tw -v tv:/t busybox sh -c 'echo shared > /t/f; "
                            "sleep 30'"))
                    .exit_code == 0);
  r = sh(d.docker("run --rm -v tv:/t busybox sh -c 'sleep 0.3; cat /t/f'"));
  BOOST_TEST(r.out == "shared\n", r.out + r.err);
  BOOST_TEST(contains(sh("grep ' " + point + " ' /proc/self/mountinfo").out, "tmpfs"));
  BOOST_TEST(sh(d.docker("volume inspect -f '{{.Options.type}} {{.Options.o}}' tv")).out ==
             "tmpfs size=1m\n");
  // the daemon dies: the tmpfs stays mounted until the next start cleans it up
  d.signal(SIGKILL);
  BOOST_REQUIRE(d.wait_exit() == 128 + SIGKILL);
  BOOST_TEST(sh("grep -c ' " + point + " ' /proc/self/mountinfo").out == "1\n");
  {
    berthd again{{"--data-root", d.data_root}};
    BOOST_TEST(sh(again.docker("rm -f tw"), 30s).exit_code == 0, again.log());
    BOOST_TEST(sh("grep -c ' " + point + " ' /proc/self/mountinfo").out == "0\n");
    BOOST_TEST(sh(again.docker("volume rm tv")).exit_code == 0);
    r = sh(again.docker("volume create -o type=tmpfs -o size=1m bad"));
    BOOST_TEST(contains(r.err, "invalid option key: \"size\""), r.err);
  }
  berthd third{{"--data-root", d.data_root}};
  r = sh(third.docker("volume create ev"));
  BOOST_REQUIRE(r.exit_code == 0);
  BOOST_REQUIRE(sh(third.docker("run --name evc -v ev:/e busybox true")).exit_code == 0);
  BOOST_REQUIRE(sh(third.docker("rm evc")).exit_code == 0);
  BOOST_REQUIRE(sh(third.docker("volume rm ev")).exit_code == 0);
  auto until = sh("date +%s").out;
  until.pop_back();
  r = sh(third.docker("events --since " + since + " --until " +
                      std::to_string(std::stoll(until) + 1) +
                      " --filter type=volume --filter volume=ev --format '{{.Action}}'"));
  BOOST_TEST(r.out == "create\nmount\nunmount\ndestroy\n", r.out + r.err);
}

// --network none: only lo; host: the host's interfaces; container:<name>: that container's
// network namespace (while it runs), as moby.
BOOST_AUTO_TEST_CASE(network_modes_none_host_and_container) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto r = sh(d.docker("run --rm --network none busybox ls /sys/class/net"));
  BOOST_TEST(r.out == "lo\n", r.out + r.err);
  // moby's generated files: hostname, hosts with --add-host, resolv.conf with --dns
  r = sh(d.docker("run --rm -h box --add-host db:192.0.2.7 --dns 192.0.2.53 --dns-search "
                  "example.test busybox sh -c 'hostname; cat /etc/hostname; grep db /etc/hosts; "
                  "cat /etc/resolv.conf'"));
  BOOST_TEST(r.out == "box\nbox\n192.0.2.7\tdb\nnameserver 192.0.2.53\nsearch example.test\n",
             r.out + r.err);
  r = sh(d.docker("run --name files busybox true"));
  BOOST_REQUIRE(r.exit_code == 0);
  r = sh(d.docker("inspect -f '{{.HostsPath}} {{.ResolvConfPath}}' files"));
  auto dir = d.data_root + "/containers/";
  BOOST_TEST(
      (contains(r.out, dir) && contains(r.out, "/hosts ") && contains(r.out, "/resolv.conf")),
      r.out);
  r = sh(d.docker("run --rm --network host busybox ls /sys/class/net"));
  BOOST_TEST(r.out == sh("ls /sys/class/net").out, r.out + r.err);
  BOOST_REQUIRE(sh(d.docker("run -d --name netowner --network none busybox sh -c "
                            "'ip link add dummy7 type dummy 2>/dev/null; sleep 30'"))
                    .exit_code == 0);
  auto inode = [&](const std::string& who) {
    return sh(d.docker("exec " + who + " readlink /proc/self/ns/net")).out;
  };
  r = sh(d.docker("run -d --name joiner --network container:netowner busybox sleep 30"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err + d.log());
  BOOST_TEST(inode("joiner") == inode("netowner"));
  BOOST_TEST(inode("joiner") != sh("readlink /proc/self/ns/net").out);
  r = sh(d.docker("inspect -f '{{.HostConfig.NetworkMode}}' joiner"));
  BOOST_TEST(r.out == "container:netowner\n", r.out);
  r = sh(d.docker("run --rm --network container:nosuch busybox true"));
  BOOST_TEST(contains(r.err, "No such container: nosuch"), r.err);
  BOOST_REQUIRE(sh(d.docker("rm -f joiner")).exit_code == 0);
  BOOST_REQUIRE(sh(d.docker("stop -t 0 netowner")).exit_code == 0);
  r = sh(d.docker("run --rm --network container:netowner busybox true"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "cannot join network of a non running container"), r.err);
}

BOOST_AUTO_TEST_CASE(bridge_network_and_published_ports) {
  if (!is_root()) return;
  auto port = std::to_string(free_port());
  {
    busybox_daemon b;
    auto& d = b.d;
    // the default network: eth0 with an address of berth0's subnet, Docker's MAC, a default route
    auto r = sh(d.docker("run --rm busybox sh -c 'ls /sys/class/net; ip -4 -o addr show eth0; "
                         "ip route; cat /sys/class/net/eth0/address'"));
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
    BOOST_TEST(contains(r.out, "eth0\nlo\n"), r.out);
    BOOST_TEST(contains(r.out, "default via "), r.out);
    BOOST_TEST(contains(r.out, "02:42:"), r.out);
    BOOST_TEST(sh("ip -o link show berth0").exit_code == 0);
    // a web server published on loopback, with its address in inspect, ps and docker port
    r = sh(d.docker("run -d --name web -h web -p 127.0.0.1:" + port +
                    ":80 busybox sh -c 'mkdir /www && echo hello > /www/index.html && "
                    "exec httpd -f -p 80 -h /www'"));
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
    auto ip = sh(d.docker("inspect -f '{{.NetworkSettings.IPAddress}}' web")).out;
    if (!ip.empty()) ip.pop_back();
    BOOST_TEST(ip.rfind("172.", 0) == 0, ip);
    r = sh(d.docker("inspect -f "
                    "'{{.NetworkSettings.Networks.bridge.IPAddress}} "
                    "{{.NetworkSettings.Networks.bridge.Gateway}} {{.NetworkSettings.MacAddress}} "
                    "{{json .HostConfig.PortBindings}}' web"));
    BOOST_TEST(contains(r.out, ip + " 172."), r.out);
    BOOST_TEST(
        contains(r.out, "{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"" + port + "\"}]}"),
        r.out);
    r = sh(d.docker("port web"));
    BOOST_TEST(r.out == "80/tcp -> 127.0.0.1:" + port + "\n", r.out + r.err);
    r = sh(d.docker("ps --format '{{.Ports}}' -f name=web"));
    BOOST_TEST(r.out == "127.0.0.1:" + port + "->80/tcp\n", r.out);
    // its own address is in its /etc/hosts
    r = sh(d.docker("exec web grep web /etc/hosts"));
    BOOST_TEST(r.out == ip + "\tweb\n", r.out);
    // reached from the host through the proxy, and at its own address
    auto got = fetch_until("http://127.0.0.1:" + port + "/", "hello\n");
    BOOST_TEST(got == "hello\n");
    BOOST_TEST(sh("curl -s -m 2 http://" + ip + ":80/").out == "hello\n");
    // another container reaches it at its address, and through the published port (hairpin)
    r = sh(d.docker("run --rm busybox sh -c 'ping -c 1 -W 2 " + ip +
                    " >/dev/null && wget -q -O - "
                    "http://" +
                    ip + "/'"));
    BOOST_TEST(r.out == "hello\n", r.out + r.err);
    // a port another container holds, and one the host holds, are clear errors
    r = sh(d.docker("run --rm -p 127.0.0.1:" + port + ":80 busybox true"));
    BOOST_TEST(r.exit_code != 0);
    BOOST_TEST(contains(r.err, "Bind for 127.0.0.1:" + port + " failed: port is already allocated"),
               r.err);
    auto held = std::to_string(free_port());
    r = sh("python3 -c 'import socket,subprocess,sys; s=socket.socket(); s.bind((\"127.0.0.1\"," +
           held +
           ")); s.listen(); r=subprocess.run(sys.argv[1], shell=True, "
           "capture_output=True, text=True); print(r.stderr)' '" +
           d.docker("run --rm -p 127.0.0.1:" + held + ":80 busybox true") + "'");
    BOOST_TEST(contains(r.out, "listen tcp4 127.0.0.1:" + held + ": bind: address already in use"),
               r.out + r.err);
    // -P: every exposed port on a port the kernel picks, on every address
    r = sh(d.docker("run -d --name any --expose 80 -P busybox sh -c 'mkdir /www && echo any > "
                    "/www/index.html && exec httpd -f -p 80 -h /www'"));
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    r = sh(d.docker("port any 80"));
    BOOST_TEST(contains(r.out, "0.0.0.0:"), r.out + r.err);
    auto any_port = r.out.substr(r.out.rfind(':') + 1);
    if (!any_port.empty()) any_port.pop_back();
    got = fetch_until("http://127.0.0.1:" + any_port + "/", "any\n");
    BOOST_TEST(got == "any\n");
    // ... and on IPv6's, with the same port, where the host has IPv6 (as dockerd)
    if (ipv6_loopback()) {
      BOOST_TEST(r.out == "0.0.0.0:" + any_port + "\n[::]:" + any_port + "\n", r.out);
      BOOST_TEST(fetch_until("-g http://[::1]:" + any_port + "/", "any\n") == "any\n");
    }
    // stop frees the port and the address: a new container gets both
    BOOST_REQUIRE(sh(d.docker("stop -t 1 web")).exit_code == 0);
    BOOST_TEST(sh("curl -s -m 2 http://127.0.0.1:" + port + "/").exit_code != 0);
    r = sh(d.docker("inspect -f '{{.NetworkSettings.IPAddress}}|{{json .NetworkSettings.Ports}}' "
                    "web"));
    BOOST_TEST(r.out == "|{}\n", r.out);
    r = sh(d.docker("run -d --name web2 -p 127.0.0.1:" + port +
                    ":80 busybox sh -c 'mkdir /www && echo again > /www/index.html && "
                    "exec httpd -f -p 80 -h /www'"));
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
    got = fetch_until("http://127.0.0.1:" + port + "/", "again\n");
    BOOST_TEST(got == "again\n");
    BOOST_REQUIRE(sh(d.docker("rm -f web2 any web")).exit_code == 0);
    // no veth outlives its container
    BOOST_TEST(eventually([] { return sh("ip -o link show master berth0").out == ""; }));
    // the daemon removes the bridge it made when it stops
    d.signal(SIGTERM);
    BOOST_TEST(d.wait_exit() == 0);
    BOOST_TEST(sh("ip -o link show berth0 2>/dev/null").out == "");
  }
  // -b none: containers of the default mode get only their loopback
  busybox_daemon none{{"-b", "none"}};
  auto r = sh(none.d.docker("run --rm busybox ls /sys/class/net"));
  BOOST_TEST(r.out == "lo\n", r.out + r.err);
  BOOST_TEST(sh("ip -o link show berth0 2>/dev/null").out == "");
}

// The text of a command's output without its last newline.
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
  return s;
}

BOOST_AUTO_TEST_CASE(user_networks_and_dns) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  // create: subnet, gateway, IP range and labels; a name in use is 409, an overlap an error
  auto r = sh(d.docker("network create --subnet 10.231.0.0/24 --gateway 10.231.0.254 "
                       "--ip-range 10.231.0.128/25 --label team=a net1"));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
  auto id = trimmed(r.out);
  BOOST_TEST_REQUIRE(id.size() == 64u, id);
  auto bridge = "br-" + id.substr(0, 12);
  BOOST_TEST(contains(sh("ip -o -4 addr show " + bridge).out, "10.231.0.254/24"));
  auto reply = http_unix(d.socket, "POST", "/v1.41/networks/create",
                         "Content-Type: application/json\r\n", R"({"Name":"net1"})");
  BOOST_TEST(reply.status == 409, reply.body);
  BOOST_TEST(contains(reply.body, "network with name net1 already exists"), reply.body);
  r = sh(d.docker("network create --subnet 10.231.0.0/16 net2"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "Pool overlaps with other one on this address space"), r.err);
  // ls and inspect
  r = sh(d.docker("network ls --format '{{.Name}} {{.Driver}} {{.Scope}}'"));
  for (auto want :
       {"bridge bridge local", "host host local", "none null local", "net1 bridge local"})
    BOOST_TEST(contains(r.out, want), r.out + r.err);
  r = sh(d.docker("network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} "
                  "{{.IPRange}}{{end}} {{.Labels.team}} {{.Internal}}' net1"));
  BOOST_TEST(r.out == "10.231.0.0/24 10.231.0.254 10.231.0.128/25 a false\n", r.out + r.err);
  // two containers reach each other by name and by alias, through the embedded DNS server
  r = sh(d.docker("run -d --name srv --network net1 --network-alias web busybox sh -c 'mkdir /www "
                  "&& echo named > /www/index.html && exec httpd -f -p 80 -h /www'"));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
  auto ip =
      trimmed(sh(d.docker("inspect -f '{{.NetworkSettings.Networks.net1.IPAddress}}' srv")).out);
  BOOST_TEST(ip.rfind("10.231.0.1", 0) == 0, ip); // within the range: .128 and up
  r = sh(d.docker("run --rm --network net1 busybox sh -c 'cat /etc/resolv.conf; "
                  "ping -c 1 -W 2 srv >/dev/null && wget -q -O - http://srv/ && "
                  "wget -q -O - http://web/ && nslookup srv 127.0.0.11'"));
  BOOST_TEST(r.exit_code == 0, r.out + r.err + d.log());
  BOOST_TEST(contains(r.out, "nameserver 127.0.0.11\n"), r.out);
  BOOST_TEST(contains(r.out, "named\nnamed\n"), r.out);
  BOOST_TEST(contains(r.out, ip), r.out);
  // --link on a user network: an alias the linking container resolves (only it: the unit tests;
  // a query here for a name the table lacks would be forwarded off the machine); on the default
  // bridge, 501
  r = sh(d.docker("run --rm --network net1 --link srv:backend busybox wget -q -O - "
                  "http://backend/"));
  BOOST_TEST(r.out == "named\n", r.out + r.err);
  r = sh(d.docker("create --link srv:backend busybox true"));
  BOOST_TEST(contains(r.err, "legacy links (--link) on the default bridge network are not built"),
             r.err);
  // a container's own --dns: the embedded server forwards other names there (a fake resolver on
  // a loopback address of the host)
  d.dir.write("fake_dns.py", R"(import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    q, a = s.recvfrom(512)
    end = 12
    while q[end] != 0:
        end += q[end] + 1
    end += 5
    s.sendto(q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:end] +
             b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([10, 1, 2, 3]), a)
)");
  auto fake_pid = trimmed(sh("python3 " + d.dir.file("fake_dns.py") + " 127.53.53.53 > " +
                             d.dir.file("fake_dns.log") + " 2>&1 & echo $!")
                              .out);
  struct stop_fake {
    std::string pid;
    ~stop_fake() { sh("kill " + pid + " 2>/dev/null"); }
  } stop{fake_pid};
  if (eventually([&] { return contains(sh("cat " + d.dir.file("fake_dns.log")).out, "ready"); })) {
    r = sh(d.docker("run --rm --network net1 --dns 127.53.53.53 busybox nslookup -type=a "
                    "upstream.test"));
    BOOST_TEST(contains(r.out, "10.1.2.3"), r.out + r.err + d.log());
  } else {
    BOOST_TEST_MESSAGE("skipped --dns: " + sh("cat " + d.dir.file("fake_dns.log")).out);
  }
  // a static address
  r = sh(d.docker("run -d --name fixed --network net1 --ip 10.231.0.200 busybox sleep 60"));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
  r = sh(d.docker("exec fixed ip -4 -o addr show eth0"));
  BOOST_TEST(contains(r.out, "10.231.0.200/24"), r.out + r.err);
  r = sh(d.docker("run --rm --network net1 --ip 10.231.0.200 busybox true"));
  BOOST_TEST(r.exit_code != 0);
  // inspect lists the running containers; rm while they run is 409
  r = sh(d.docker("network inspect -f '{{len .Containers}}' net1"));
  BOOST_TEST(r.out == "2\n", r.out + r.err);
  reply = http_unix(d.socket, "DELETE", "/v1.41/networks/net1");
  BOOST_TEST(reply.status == 409, reply.body);
  BOOST_TEST(contains(reply.body, "has active endpoints"), reply.body);
  // connect and disconnect a running container of the default bridge, with an alias
  r = sh(d.docker("run -d --name other busybox sleep 60"));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  r = sh(d.docker("network connect --alias extra net1 other"));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
  r = sh(d.docker("exec other ls /sys/class/net"));
  BOOST_TEST(r.out == "eth0\neth1\nlo\n", r.out + r.err);
  // its first user network: its resolv.conf now names the embedded server, which answers it
  r = sh(d.docker("exec other sh -c 'cat /etc/resolv.conf; nslookup srv'"));
  BOOST_TEST(contains(r.out, "nameserver 127.0.0.11\n"), r.out + r.err);
  BOOST_TEST(contains(r.out, ip), r.out + r.err);
  r = sh(d.docker("run --rm --network net1 busybox ping -c 1 -W 2 extra"));
  BOOST_TEST(r.exit_code == 0, r.out + r.err);
  r = sh(d.docker("inspect -f '{{len .NetworkSettings.Networks}} "
                  "{{.NetworkSettings.Networks.net1.Aliases}}' other"));
  BOOST_TEST(contains(r.out, "2 ["), r.out);
  BOOST_TEST(contains(r.out, "extra"), r.out);
  r = sh(d.docker("network connect net1 other"));
  BOOST_TEST(contains(r.err, "already exists in network net1"), r.err);
  r = sh(d.docker("network disconnect net1 other"));
  BOOST_TEST(r.exit_code == 0, r.err);
  r = sh(d.docker("exec other ls /sys/class/net"));
  BOOST_TEST(r.out == "eth0\nlo\n", r.out + r.err);
  // a stopped container joins at its next start
  BOOST_REQUIRE(sh(d.docker("create --name later busybox ls /sys/class/net")).exit_code == 0);
  BOOST_TEST(sh(d.docker("network connect net1 later")).exit_code == 0);
  r = sh(d.docker("start -a later"));
  BOOST_TEST(r.out == "eth0\neth1\nlo\n", r.out + r.err);
  // the predefined networks stay; the events
  r = sh(d.docker("network rm bridge"));
  BOOST_TEST(contains(r.err, "bridge is a pre-defined network and cannot be removed"), r.err);
  r = sh(d.docker("events --since 0 --until $(($(date +%s)+1)) --filter type=network "
                  "--format '{{.Action}}'"));
  for (auto want : {"create\n", "connect\n", "disconnect\n"})
    BOOST_TEST(contains(r.out, want), r.out + r.err);
  // removed once its containers are gone: its bridge goes too; prune takes unused ones
  BOOST_REQUIRE(sh(d.docker("rm -f srv fixed other later")).exit_code == 0);
  r = sh(d.docker("network rm net1"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(sh("ip -o link show " + bridge + " 2>/dev/null").out == "");
  BOOST_REQUIRE(sh(d.docker("network create --label gone=yes net3")).exit_code == 0);
  BOOST_REQUIRE(sh(d.docker("network create net4")).exit_code == 0);
  r = sh(d.docker("network prune -f --filter label=gone"));
  BOOST_TEST(contains(r.out, "net3"), r.out + r.err);
  BOOST_TEST(!contains(r.out, "net4"), r.out);
  auto net4 = trimmed(sh(d.docker("network inspect -f '{{.Id}}' net4")).out);
  // the daemon removes the bridges it made when it stops
  d.signal(SIGTERM);
  BOOST_TEST(d.wait_exit() == 0);
  BOOST_TEST(sh("ip -o link show br-" + net4.substr(0, 12) + " 2>/dev/null").out == "");
}

BOOST_AUTO_TEST_CASE(iptables_nat_and_icc) {
  if (!is_root() || sh("iptables -w -S FORWARD").exit_code != 0) return;
  auto port = std::to_string(free_port());
  auto nat = [] { return sh("iptables -w -t nat -S").out; };
  {
    busybox_daemon b;
    auto& d = b.d;
    // berth's chains, hooked, and the bridge's rules
    auto rules = nat();
    BOOST_TEST(contains(rules, "-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH"), rules);
    BOOST_TEST(contains(rules, "-A BERTH -i berth0 -j RETURN"), rules);
    BOOST_TEST(contains(rules, "! -o berth0 -j MASQUERADE"), rules);
    // a published port: its DNAT rule, reached at a host address that is not loopback
    auto r = sh(d.docker("run -d --name web -p " + port +
                         ":80 busybox sh -c 'mkdir /www && echo nat > /www/index.html && exec "
                         "httpd -f -p 80 -h /www'"));
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
    auto ip = trimmed(sh(d.docker("inspect -f '{{.NetworkSettings.IPAddress}}' web")).out);
    auto gw = trimmed(sh(d.docker("inspect -f '{{.NetworkSettings.Gateway}}' web")).out);
    rules = nat();
    BOOST_TEST(contains(rules, "--dport " + port + " -j DNAT --to-destination " + ip + ":80"),
               rules);
    auto got = fetch_until("http://" + gw + ":" + port + "/", "nat\n");
    BOOST_TEST(got == "nat\n");
    // --add-host x:host-gateway is the bridge's gateway
    r = sh(d.docker("run --rm --add-host hg:host-gateway busybox grep hg /etc/hosts"));
    BOOST_TEST(r.out == gw + "\thg\n", r.out + r.err);
    // containers of the bridge reach each other (icc)
    r = sh(d.docker("run --rm busybox ping -c 1 -W 2 " + ip));
    BOOST_TEST(r.exit_code == 0, r.out + r.err);
    // stop: the rule goes
    BOOST_REQUIRE(sh(d.docker("rm -f web")).exit_code == 0);
    BOOST_TEST(eventually([&] { return !contains(nat(), "--to-destination " + ip + ":80"); }));
    d.signal(SIGTERM);
    BOOST_TEST(d.wait_exit() == 0);
  }
  // shutdown removed berth's chains
  BOOST_TEST(sh("iptables -w -t nat -S BERTH").exit_code != 0);
  BOOST_TEST(sh("iptables -w -S BERTH-ISOLATION-STAGE-1").exit_code != 0);
  {
    // --icc=false: the bridge's containers cannot reach each other (with bridge netfilter)
    busybox_daemon b{{"--icc=false"}};
    auto& d = b.d;
    BOOST_TEST(contains(sh("iptables -w -S FORWARD").out, "-i berth0 -o berth0 -j DROP"));
    auto r = sh(d.docker("run -d --name iso busybox sleep 60"));
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
    auto ip = trimmed(sh(d.docker("inspect -f '{{.NetworkSettings.IPAddress}}' iso")).out);
    // (a pinger at an address new to this test: conntrack remembers the echo of the icc case)
    BOOST_REQUIRE(sh(d.docker("run -d --name iso2 busybox sleep 60")).exit_code == 0);
    if (trimmed(sh("cat /proc/sys/net/bridge/bridge-nf-call-iptables").out) == "1") {
      r = sh(d.docker("run --rm busybox ping -c 1 -W 1 " + ip));
      BOOST_TEST(r.exit_code != 0, r.out);
    }
    // the host still reaches it
    BOOST_TEST(sh("/bin/busybox ping -c 1 -W 2 " + ip).exit_code == 0);
    d.signal(SIGTERM);
    BOOST_TEST(d.wait_exit() == 0);
  }
  // --iptables=false: no rule at all; the daemon's --dns and --dns-search are the containers'
  // defaults (no query is sent: the address is only written down)
  busybox_daemon none{{"--iptables=false", "--dns", "10.55.0.1", "--dns-search", "berth.test"}};
  BOOST_TEST(sh("iptables -w -t nat -S BERTH").exit_code != 0);
  BOOST_TEST(!contains(sh("iptables -w -S FORWARD").out, "berth0"));
  auto r = sh(none.d.docker("run --rm busybox cat /etc/resolv.conf"));
  BOOST_TEST(r.out.rfind("nameserver 10.55.0.1\nsearch berth.test\n", 0) == 0, r.out + r.err);
  r = sh(none.d.docker("run --rm --dns 10.55.0.2 busybox cat /etc/resolv.conf"));
  BOOST_TEST(r.out.rfind("nameserver 10.55.0.2\nsearch berth.test\n", 0) == 0, r.out + r.err);
}

// UDP ports published through the userland proxy (loopback, IPv6) and NAT (the gateway): a
// static echo server bind-mounted into busybox, which has no UDP server of its own.
BOOST_AUTO_TEST_CASE(udp_and_ipv6_published_ports) {
  if (!is_root()) return;
  busybox_daemon b;
  auto& d = b.d;
  auto lo_port = std::to_string(free_port());
  auto any_port = std::to_string(free_port());
  auto r =
      sh(d.docker("run -d --name udp -v " UDP_ECHO_PATH ":/udp_echo:ro -p 127.0.0.1:" + lo_port +
                  ":5300/udp -p " + any_port + ":5300/udp busybox /udp_echo 5300"));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + d.log());
  r = sh(d.docker("port udp"));
  BOOST_TEST(contains(r.out, "5300/udp -> 127.0.0.1:" + lo_port + "\n"), r.out + r.err);
  BOOST_TEST(contains(r.out, "5300/udp -> 0.0.0.0:" + any_port + "\n"), r.out);
  auto gw = trimmed(sh(d.docker("inspect -f '{{.NetworkSettings.Gateway}}' udp")).out);
  BOOST_TEST(udp_exchange("127.0.0.1", lo_port) == "echo:hi\n");
  BOOST_TEST(udp_exchange(gw, any_port) == "echo:hi\n"); // NAT (or the proxy without iptables)
  if (ipv6_loopback()) {
    BOOST_TEST(contains(r.out, "5300/udp -> [::]:" + any_port + "\n"), r.out);
    BOOST_TEST(udp_exchange("::1", any_port) == "echo:hi\n");
  }
  if (sh("iptables -w -t nat -S BERTH").exit_code == 0)
    BOOST_TEST(contains(sh("iptables -w -t nat -S BERTH").out,
                        "-p udp -m udp --dport " + any_port + " -j DNAT"));
  // SCTP is not built: a clear 501
  r = sh(d.docker("run --rm -p 9999:9/sctp busybox true"));
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "publishing sctp ports is not built yet"), r.err);
  // rm frees the ports
  BOOST_REQUIRE(sh(d.docker("rm -f udp")).exit_code == 0);
  auto bind = "python3 -c 'import socket; socket.socket(socket.AF_INET, "
              "socket.SOCK_DGRAM).bind((\"127.0.0.1\", " +
              lo_port + "))'";
  BOOST_TEST(eventually([&] { return sh(bind).exit_code == 0; }));
}

// A berthd killed with SIGKILL leaves its network state behind: a running container's veth on a
// user network's bridge, and the DNAT and hairpin rules of its published port. The next start
// sweeps them, the container starts again with its port, and SIGTERM removes the rest.
BOOST_AUTO_TEST_CASE(network_leftovers_of_a_crash) {
  if (!is_root() || sh("iptables -w -S FORWARD").exit_code != 0) return;
  busybox_daemon b;
  auto& d = b.d;
  auto port = std::to_string(free_port());
  auto r = sh(d.docker("network create --subnet 10.232.0.0/24 crashnet"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto bridge = "br-" + trimmed(r.out).substr(0, 12);
  r = sh(
      d.docker("run -d --name lc --network crashnet -p " + port +
               ":80 busybox sh -c 'mkdir -p /www && echo back > /www/index.html && exec httpd -f "
               "-p 80 -h /www'"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err + d.log());
  auto ip =
      trimmed(sh(d.docker("inspect -f '{{.NetworkSettings.Networks.crashnet.IPAddress}}' lc")).out);
  auto hairpin = "-s " + ip + "/32 -d " + ip + "/32 -p tcp -m tcp --dport 80 -j MASQUERADE";
  auto ports = [&] { return sh("ip -o link show master " + bridge).out; };
  auto nat = [] { return sh("iptables -w -t nat -S").out; };
  BOOST_TEST(contains(ports(), "veth"), ports());
  BOOST_TEST(contains(nat(), hairpin), nat());
  d.signal(SIGKILL);
  BOOST_REQUIRE(d.wait_exit() == 128 + SIGKILL);
  BOOST_TEST(contains(ports(), "veth")); // its container still runs
  {
    berthd again{{"--data-root", d.data_root}};
    BOOST_TEST(eventually([&] { return !contains(ports(), "veth"); }), ports());
    auto rules = nat();
    BOOST_TEST(!contains(rules, hairpin), rules);
    BOOST_TEST(!contains(rules, "--dport " + port + " -j DNAT"), rules);
    BOOST_TEST(contains(rules, "-s 10.232.0.0/24 ! -o " + bridge + " -j MASQUERADE"), rules);
    // the container starts again, with its port
    r = sh(again.docker("start lc"));
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err + again.log());
    BOOST_TEST(fetch_until("http://127.0.0.1:" + port + "/", "back\n") == "back\n");
    BOOST_REQUIRE(sh(again.docker("rm -f lc")).exit_code == 0);
    again.signal(SIGTERM);
    BOOST_TEST(again.wait_exit() == 0);
    BOOST_TEST(sh("ip -o link show " + bridge + " 2>/dev/null").out == "");
    rules = nat();
    BOOST_TEST(!contains(rules, "BERTH"), rules);
    BOOST_TEST(!contains(rules, "10.232.0."), rules);
  }
}

BOOST_AUTO_TEST_SUITE_END()
