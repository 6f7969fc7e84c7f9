// The exec driver conformance suite (drivers/exec/*): every case runs against every driver
// available here: native, and oci when runc is installed (scripts/setup.sh installs it). The
// containers run a static busybox in a temp rootfs. Needs root: every case skips cleanly without
// it.
#include "drivers/exec/driver.hpp"

#include "messages/error.hpp"
#include "tests/unit/util.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

using namespace berth;
using namespace berth::exec;
using namespace berth::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* test_cgroup_parent = "berth-unit";
constexpr int io_timeout_ms = 10000; // a container that hangs fails the case instead

bool root() {
  if (::geteuid() == 0) return true;
  BOOST_TEST_MESSAGE("skipped: the exec driver needs root");
  return false;
}

bool runc_installed() {
  for (auto dir : {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"})
    if (::access((std::string{dir} + "/runc").c_str(), X_OK) == 0) return true;
  return false;
}

std::vector<std::string> available_drivers() {
  if (runc_installed()) return {"native", "oci"};
  BOOST_TEST_MESSAGE("runc is not installed: the oci driver is not tested");
  return {"native"};
}

// berth-exec: next to the test binary, or in the build dir above tests/.
std::string helper_path() {
  auto next_to = default_helper_path();
  if (::access(next_to.c_str(), X_OK) == 0) return next_to;
  auto dir = fs::path{next_to}.parent_path();
  auto above = (dir.parent_path() / "berth-exec").string();
  if (::access(above.c_str(), X_OK) == 0) return above;
  return {};
}

// A busybox root filesystem, built once for the whole run.
const std::string& busybox_rootfs() {
  static temp_dir dir;
  static std::string path = [] {
    auto root = dir.path + "/rootfs";
    for (auto d : {"bin", "etc", "tmp", "proc", "sys", "dev", "home/app", "root"})
      fs::create_directories(root + "/" + d);
    fs::permissions(root + "/tmp", fs::perms::all | fs::perms::sticky_bit);
    fs::copy_file("/bin/busybox", root + "/bin/busybox");
    for (auto tool : {"sh", "echo", "cat", "id", "hostname", "sleep", "ls", "pwd", "true", "false",
                      "env", "grep", "test", "tty", "stty", "stat", "wc", "touch", "head"})
      fs::create_symlink("busybox", root + "/bin/" + tool);
    std::ofstream{root + "/etc/passwd"} << "root:x:0:0:root:/root:/bin/sh\n"
                                        << "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                                        << "app:x:1000:1000::/home/app:/bin/sh\n";
    std::ofstream{root + "/etc/group"} << "root:x:0:\n"
                                       << "app:x:1000:\n"
                                       << "nogroup:x:65534:\n"
                                       << "extra:x:2000:app\n";
    return root;
  }();
  return path;
}

std::string unique_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream out;
  out << std::hex << rng() << rng();
  return out.str();
}

process_spec base_spec(std::vector<std::string> args) {
  process_spec s;
  s.id = unique_id();
  s.rootfs = busybox_rootfs();
  s.args = std::move(args);
  s.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  s.cgroup_parent = test_cgroup_parent;
  return s;
}

struct fixture {
  std::unique_ptr<driver> d;
  explicit fixture(const std::string& name) {
    BOOST_TEST_CHECKPOINT("driver " << name);
    auto helper = helper_path();
    BOOST_REQUIRE_MESSAGE(!helper.empty(), "berth-exec is not built next to berth_unit");
    static temp_dir oci_state;
    auto made = name == "oci" ? make_oci("runc", oci_state.path, helper) : make_native(helper);
    BOOST_REQUIRE_MESSAGE(made, name + ": " + why(made));
    d = std::move(*made);
  }
  ~fixture() {
    // The parent groups of the test containers (empty by now) go too.
    std::error_code ec;
    for (auto& ctl : fs::directory_iterator{"/sys/fs/cgroup", ec}) {
      ::rmdir((ctl.path() / test_cgroup_parent).c_str());
    }
  }
};

// The exit status as a shell reports it: the code, or 128 + the signal.
int wait_exit(int pidfd) {
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED) != 0)
    if (errno != EINTR) return -1;
  return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

// Remove the container's cgroup and check that nothing is left of it.
void remove_group(process& p) {
  BOOST_REQUIRE(p.cgroup);
  auto path = p.cgroup->path();
  BOOST_CHECK(!p.cgroup->kill_all());
  BOOST_CHECK(!p.cgroup->remove());
  BOOST_CHECK_MESSAGE(!fs::exists(path), "cgroup left behind: " + path);
  p.cgroup.reset();
}

// A started container that is killed, reaped and removed however the case ends (a failed
// REQUIRE included); remove_group() first checks that removal works.
struct container {
  std::unique_ptr<process> p;
  std::string error;
  explicit container(caf::expected<std::unique_ptr<process>> x) {
    if (x)
      p = std::move(*x);
    else
      error = error_message(x.error());
  }
  container(container&&) = default;
  ~container() {
    if (!p || !p->cgroup) return;
    p->cgroup->kill_all();
    siginfo_t info{};
    ::waitid(P_PIDFD, static_cast<id_t>(p->pidfd), &info, WEXITED);
    p->cgroup->remove();
  }
  process& operator*() { return *p; }
  process* operator->() { return p.get(); }
};

struct outcome {
  std::string out, err;
  int status = -1;
};

// Write `input` to `in` (then close it, unless it is also an output) while reading `outs` until
// EOF (a pty master: until EIO), so that neither side blocks the other.
void pump(int in, std::string input, std::vector<std::pair<int, std::string*>> outs,
          bool close_in = true) {
  char buf[4096];
  size_t done = 0;
  if (in >= 0 && input.empty() && close_in) {
    ::close(in);
    in = -1;
  }
  while (!outs.empty()) {
    std::vector<pollfd> p;
    for (auto& [fd, _] : outs)
      p.push_back({fd, POLLIN, 0});
    if (in >= 0 && done < input.size()) p.push_back({in, POLLOUT, 0});
    auto r = ::poll(p.data(), p.size(), io_timeout_ms);
    BOOST_REQUIRE_MESSAGE(r > 0, "no output from the container within the timeout");
    if (p.size() > outs.size() && p.back().revents != 0) {
      auto n = ::write(in, input.data() + done, input.size() - done);
      if (n > 0) done += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) done = input.size();
      if (done == input.size() && close_in) {
        ::close(in);
        in = -1;
      }
      p.pop_back();
    }
    for (size_t i = p.size(); i-- > 0;) {
      if (p[i].revents == 0) continue;
      auto n = ::read(p[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) {
        outs.erase(outs.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      outs[i].second->append(buf, static_cast<size_t>(n));
    }
  }
}

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    BOOST_REQUIRE(::poll(&p, 1, io_timeout_ms) > 0);
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EAGAIN) continue;
    BOOST_REQUIRE(n > 0);
    done += static_cast<size_t>(n);
  }
}

// Start, feed stdin, collect the output, reap, remove the cgroup.
outcome run(driver& d, const process_spec& spec, const std::string& input = {}) {
  container c{d.start(spec)};
  BOOST_REQUIRE_MESSAGE(c.p, "start " + spec.args[0] + ": " + c.error);
  auto& proc = *c;
  outcome o;
  if (proc.pty_fd >= 0) {
    pump(proc.pty_fd, input, {{proc.pty_fd, &o.out}}, false);
  } else {
    pump(proc.stdin_fd, input, {{proc.stdout_fd, &o.out}, {proc.stderr_fd, &o.err}});
    proc.stdin_fd = -1;
  }
  o.status = wait_exit(proc.pidfd);
  remove_group(proc);
  return o;
}

// A start that must fail: the error, and no cgroup left behind.
caf::error start_error(driver& d, const process_spec& spec) {
  auto p = d.start(spec);
  BOOST_REQUIRE_MESSAGE(!p, "start " + spec.args[0] + " succeeded");
  std::error_code ec;
  for (auto& ctl : fs::directory_iterator{"/sys/fs/cgroup", ec})
    BOOST_CHECK_MESSAGE(!fs::exists(ctl.path() / spec.cgroup_parent / spec.id),
                        "cgroup left behind in " + ctl.path().string());
  return p.error();
}

size_t open_fds() {
  return static_cast<size_t>(
      std::distance(fs::directory_iterator{"/proc/self/fd"}, fs::directory_iterator{}));
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(exec_signals)

BOOST_AUTO_TEST_CASE(parse_docker_names) {
  BOOST_CHECK_EQUAL(parse_signal("KILL"), SIGKILL);
  BOOST_CHECK_EQUAL(parse_signal("SIGKILL"), SIGKILL);
  BOOST_CHECK_EQUAL(parse_signal("kill"), SIGKILL);
  BOOST_CHECK_EQUAL(parse_signal("sigterm"), SIGTERM);
  BOOST_CHECK_EQUAL(parse_signal("9"), 9);
  BOOST_CHECK_EQUAL(parse_signal("64"), 64);
  BOOST_CHECK_EQUAL(parse_signal("SIGRTMIN+3"), 37);
  BOOST_CHECK_EQUAL(parse_signal("RTMIN+3"), 37);
  BOOST_CHECK_EQUAL(parse_signal("RTMIN"), 34);
  BOOST_CHECK_EQUAL(parse_signal("SIGRTMAX-1"), 63);
  BOOST_CHECK_EQUAL(parse_signal("CLD"), SIGCHLD);
  BOOST_CHECK_EQUAL(parse_signal("IOT"), SIGABRT);
  for (auto bad : {"", "0", "65", "100000", "-1", "NOSUCH", "SIG", "RTMIN+31", "RTMAX-31",
                   "RTMIN-1", "RTMAX+1", "9x", "SIGKILLX"})
    BOOST_CHECK_MESSAGE(parse_signal(bad) == -1, bad);
}

BOOST_AUTO_TEST_CASE(names_round_trip) {
  BOOST_CHECK_EQUAL(signal_name(SIGTERM), "SIGTERM");
  BOOST_CHECK_EQUAL(signal_name(SIGCHLD), "SIGCHLD");
  BOOST_CHECK_EQUAL(signal_name(SIGABRT), "SIGABRT");
  BOOST_CHECK_EQUAL(signal_name(34), "SIGRTMIN");
  BOOST_CHECK_EQUAL(signal_name(37), "SIGRTMIN+3");
  BOOST_CHECK_EQUAL(signal_name(63), "SIGRTMAX-1");
  BOOST_CHECK_EQUAL(signal_name(64), "SIGRTMAX");
  for (int sig = 1; sig <= 64; ++sig)
    if (sig != 32 && sig != 33) BOOST_CHECK_EQUAL(parse_signal(signal_name(sig)), sig);
}

BOOST_AUTO_TEST_CASE(helper_next_to_the_executable) {
  auto p = default_helper_path();
  BOOST_CHECK(p.size() > 11 && p.compare(p.size() - 11, 11, "/berth-exec") == 0);
  BOOST_CHECK_EQUAL(p[0], '/');
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(exec_driver)

BOOST_AUTO_TEST_CASE(stdout_stderr_and_exit_code) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    BOOST_CHECK_EQUAL(f.d->name(), name);
    BOOST_CHECK(f.d->cgroup_version() == "1" || f.d->cgroup_version() == "2");
    auto fds_before = open_fds();
    auto o = run(*f.d, base_spec({"sh", "-c", "echo out; echo err >&2"}));
    BOOST_CHECK_EQUAL(o.out, "out\n");
    BOOST_CHECK_EQUAL(o.err, "err\n");
    BOOST_CHECK_EQUAL(o.status, 0);
    BOOST_CHECK_EQUAL(open_fds(), fds_before);
    BOOST_CHECK_EQUAL(run(*f.d, base_spec({"sh", "-c", "exit 7"})).status, 7);
    BOOST_CHECK_EQUAL(run(*f.d, base_spec({"false"})).status, 1);
  }
}

BOOST_AUTO_TEST_CASE(exec_failures_use_runcs_wording) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto fds_before = open_fds();
    struct want {
      const char* cmd;
      const char* text;
    };
    for (auto w : {want{"nosuchcmd", "exec: \"nosuchcmd\": executable file not found in $PATH"},
                   want{"/bin/x", "exec: \"/bin/x\": stat /bin/x: no such file or directory"},
                   want{"/etc", "exec: \"/etc\": is a directory"},
                   want{"/etc/passwd", "exec: \"/etc/passwd\": permission denied"}}) {
      auto err = start_error(*f.d, base_spec({w.cmd}));
      // oci: dockerd's wording around runc's ("OCI runtime create failed: runc create failed:
      // unable to start container process: exec: ...: unknown"); runc 1.1 calls a directory
      // "permission denied", as Go's exec.LookPath does.
      auto msg = error_message(err);
      if (name == "oci" && std::string{w.cmd} == "/etc")
        BOOST_CHECK(contains(msg, "exec: \"/etc\": permission denied"));
      else if (name == "oci")
        BOOST_CHECK_MESSAGE(contains(msg, w.text), msg);
      else
        BOOST_CHECK_EQUAL(msg, w.text);
      BOOST_CHECK(err == ec::invalid_argument);
    }
    // The same through the init: found missing at start (native), or by the init, which exits
    // 127 as docker-init does (oci).
    auto spec = base_spec({"nosuchcmd"});
    spec.init = true;
    if (name == "oci") {
      auto o = run(*f.d, spec);
      BOOST_CHECK_EQUAL(o.status, 127);
      BOOST_CHECK_MESSAGE(contains(o.err, "executable file not found"), o.err);
    } else {
      BOOST_CHECK(contains(error_message(start_error(*f.d, spec)), "executable file not found"));
    }
    // Setup failures are system errors.
    spec = base_spec({"true"});
    spec.user = "nosuch";
    auto err = start_error(*f.d, spec);
    BOOST_CHECK_EQUAL(error_message(err),
                      "unable to find user nosuch: no matching entries in passwd file");
    BOOST_CHECK(err == ec::system);
    spec = base_spec({"true"});
    spec.rootfs = "/nonexistent-rootfs";
    BOOST_CHECK(start_error(*f.d, spec) == ec::system);
    spec = base_spec({"true"});
    spec.cap_add = {"CAP_NOSUCH"};
    BOOST_CHECK(start_error(*f.d, spec) == ec::invalid_argument);
    BOOST_CHECK_EQUAL(open_fds(), fds_before);
  }
}

BOOST_AUTO_TEST_CASE(env_path_and_home) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto spec = base_spec({"sh", "-c", "echo $FOO $PATH $HOME"});
    spec.env = {"FOO=bar baz", "PATH=/bin"};
    BOOST_CHECK_EQUAL(run(*f.d, spec).out, "bar baz /bin /root\n");
    // Without PATH in the env, the command is looked up in the default PATH.
    spec = base_spec({"env"});
    spec.env = {"A=1"};
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.status, 0);
    BOOST_CHECK(contains(o.out, "A=1\n"));
    BOOST_CHECK(contains(o.out, "HOME=/root\n"));
  }
}

// As moby (SetupWorkingDirectory): a missing workdir is created owned by root, whoever the user.
BOOST_AUTO_TEST_CASE(workdir_is_created) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto dir = "/work-" + unique_id() + "/a/b";
    auto spec = base_spec({"sh", "-c", "pwd; stat -c '%u:%g' ."});
    spec.cwd = dir;
    spec.user = "1000:1000";
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.out, dir + "\n0:0\n");
    BOOST_CHECK_EQUAL(o.err, "");
  }
}

BOOST_AUTO_TEST_CASE(users_and_groups) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto id = [&](const std::string& user, std::vector<std::string> extra = {}) {
      auto spec = base_spec({"sh", "-c", "id -u; id -g; id -G"});
      spec.user = user;
      spec.additional_groups = std::move(extra);
      auto o = run(*f.d, spec);
      BOOST_CHECK_MESSAGE(o.status == 0, user + ": " + o.err);
      return o.out;
    };
    BOOST_CHECK_EQUAL(id(""), "0\n0\n0\n");
    BOOST_CHECK_EQUAL(id("1000:1000"), "1000\n1000\n1000\n");
    BOOST_CHECK_EQUAL(id("app"), "1000\n1000\n1000 2000\n");
    BOOST_CHECK_EQUAL(id("nobody"), "65534\n65534\n65534\n");
    BOOST_CHECK_EQUAL(id("app:nogroup"), "1000\n65534\n65534\n");
    BOOST_CHECK_EQUAL(id("4242"), "4242\n0\n0\n");
    BOOST_CHECK_EQUAL(id("nobody", {"extra", "3000"}), "65534\n65534\n65534 2000 3000\n");
    auto spec = base_spec({"id"});
    spec.user = "app:nosuchgroup";
    BOOST_CHECK_EQUAL(error_message(start_error(*f.d, spec)),
                      "unable to find group nosuchgroup: no matching entries in group file");
  }
}

BOOST_AUTO_TEST_CASE(namespaces_hostname_and_pid_1) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    // Every hierarchy rooted at the container's cgroup: the namespace was made after the join.
    auto spec = base_spec({"sh", "-c", "hostname; echo $$; grep -vc ':/$' /proc/self/cgroup"});
    spec.hostname = "berth-test";
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.out, "berth-test\n1\n0\n");
    BOOST_CHECK_EQUAL(o.err, "");
    // The host's PID namespace: not PID 1.
    spec = base_spec({"sh", "-c", "echo $$"});
    spec.host_pid = true;
    spec.host_uts = true;
    spec.host_ipc = true;
    spec.new_net_namespace = false;
    o = run(*f.d, spec);
    BOOST_CHECK_NE(o.out, "1\n");
    BOOST_CHECK_EQUAL(o.status, 0);
  }
}

// Docker's device rules: any node can be made, only the standard ones opened; a privileged
// container gets the host's devices and may open them.
BOOST_AUTO_TEST_CASE(device_access) {
  if (!root()) return;
  bool v1_devices = fs::exists("/sys/fs/cgroup/devices/devices.list");
  bool kmsg = fs::exists("/dev/kmsg");
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto spec = base_spec({"sh", "-c",
                           "mknod /dev/k c 1 11 && echo made; head -c 1 /dev/k >/dev/null && "
                           "echo opened; head -c 1 /dev/urandom | wc -c"});
    auto o = run(*f.d, spec);
    if (v1_devices) {
      BOOST_CHECK_MESSAGE(o.out == "made\n1\n", name + ": " + o.out + o.err);
      BOOST_CHECK_MESSAGE(o.err.find("Operation not permitted") != std::string::npos, o.err);
    }
    if (!kmsg) continue;
    spec = base_spec({"sh", "-c", "test -c /dev/kmsg && head -c 1 /dev/kmsg | wc -c"});
    spec.privileged = true;
    o = run(*f.d, spec);
    BOOST_CHECK_MESSAGE(o.out == "1\n", name + ": " + o.out + o.err);
  }
}

BOOST_AUTO_TEST_CASE(standard_mounts_and_masks) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    // /proc/kcore where the kernel has it (not every kernel does).
    std::string masked_file = fs::exists("/proc/kcore") ? "/proc/kcore" : "/proc/timer_list";
    auto script = "test -f /proc/self/status && echo proc;"
                  "grep -q ' /sys sysfs ro,' /proc/mounts && echo sys-ro;"
                  "wc -c < " +
                  masked_file +
                  ";"
                  "grep -q ' /proc/sys proc ro,' /proc/mounts && echo proc-sys-ro;"
                  "grep -q ' /proc/acpi tmpfs ro,' /proc/mounts && echo acpi-masked;"
                  "test -c /dev/null && test -c /dev/urandom && test -L /dev/ptmx && echo dev;"
                  "grep -q ' /dev/shm tmpfs .*size=1024k' /proc/mounts && echo shm;"
                  "grep -q ' /dev/mqueue mqueue' /proc/mounts && echo mqueue;"
                  "echo hi > /dev/null && head -c 3 /dev/zero | wc -c;"
                  "touch /rootfs-writable && echo rw";
    auto spec = base_spec({"sh", "-c", script});
    spec.shm_size = 1 << 20;
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.out,
                      "proc\nsys-ro\n0\nproc-sys-ro\nacpi-masked\ndev\nshm\nmqueue\n3\nrw\n");
    BOOST_CHECK_EQUAL(o.err, "");
    // Privileged: nothing masked, /sys writable.
    spec = base_spec(
        {"sh", "-c", "grep -c ' /sys sysfs rw,' /proc/mounts; grep -c kcore /proc/mounts"});
    spec.privileged = true;
    BOOST_CHECK_EQUAL(run(*f.d, spec).out, "1\n0\n");
    // A read-only rootfs.
    spec =
        base_spec({"sh", "-c", "touch /x 2>/dev/null || echo ro; touch /dev/shm/x && echo shm-rw"});
    spec.readonly_rootfs = true;
    BOOST_CHECK_EQUAL(run(*f.d, spec).out, "ro\nshm-rw\n");
  }
}

BOOST_AUTO_TEST_CASE(spec_mounts) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    temp_dir host;
    std::ofstream{host.path + "/file"} << "from the host\n";
    auto spec = base_spec({"sh", "-c",
                           "cat /data/file; touch /data/new && echo rw;"
                           "touch /ro/x 2>/dev/null || echo ro;"
                           "cat /one/file;"
                           "grep ' /scratch ' /proc/mounts | grep -q 'size=512k' && echo tmpfs"});
    spec.mounts = {{host.path, "/data", "bind", {"rbind", "rprivate"}},
                   {host.path, "/ro", "bind", {"rbind", "ro"}},
                   {host.path + "/file", "/one/file", "bind", {"bind"}},
                   {"tmpfs", "/scratch", "tmpfs", {"nosuid", "size=512k", "mode=1777"}}};
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.out, "from the host\nrw\nro\nfrom the host\ntmpfs\n");
    BOOST_CHECK_EQUAL(o.err, "");
    BOOST_CHECK(fs::exists(host.path + "/new"));
  }
}

BOOST_AUTO_TEST_CASE(capabilities) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto caps = [&](process_spec spec) {
      spec.args = {"sh", "-c", "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status"};
      return run(*f.d, spec).out;
    };
    auto dflt = caps(base_spec({}));
    BOOST_CHECK(contains(dflt, "CapEff:\t00000000a80425fb"));
    BOOST_CHECK(contains(dflt, "CapBnd:\t00000000a80425fb"));
    auto spec = base_spec({});
    spec.cap_drop = {"ALL"};
    auto none = caps(spec);
    BOOST_CHECK(contains(none, "CapEff:\t0000000000000000"));
    BOOST_CHECK_NE(dflt, none);
    spec = base_spec({});
    spec.cap_drop = {"ALL"};
    spec.cap_add = {"net_admin", "CAP_KILL"};
    BOOST_CHECK(contains(caps(spec), "CapEff:\t0000000000001020"));
    spec = base_spec({});
    spec.cap_drop = {"CHOWN"};
    BOOST_CHECK(contains(caps(spec), "CapEff:\t00000000a80425fa"));
    // A non-root user keeps the bounding set only (as Docker).
    spec = base_spec({});
    spec.user = "app";
    auto user = caps(spec);
    BOOST_CHECK(contains(user, "CapEff:\t0000000000000000"));
    BOOST_CHECK(contains(user, "CapBnd:\t00000000a80425fb"));
    // no_new_privileges.
    spec = base_spec({"grep", "NoNewPrivs", "/proc/self/status"});
    spec.no_new_privileges = true;
    BOOST_CHECK(contains(run(*f.d, spec).out, "NoNewPrivs:\t1"));
  }
}

BOOST_AUTO_TEST_CASE(rlimits_and_sysctls) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto spec = base_spec({"sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward"});
    spec.rlimits = {{"nofile", 1024, 2048}};
    spec.sysctls = {{"net.ipv4.ip_forward", "1"}};
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.out, "1024\n2048\n1\n");
    // Above the hard limit: clamped, not EPERM (without CAP_SYS_RESOURCE).
    struct rlimit mine {};
    ::getrlimit(RLIMIT_NOFILE, &mine);
    spec = base_spec({"sh", "-c", "ulimit -Hn"});
    spec.rlimits = {{"nofile", 1 << 30, 1 << 30}};
    o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.status, 0);
    if (mine.rlim_max < (1u << 30)) BOOST_CHECK_EQUAL(o.out, std::to_string(mine.rlim_max) + "\n");
    spec.rlimits = {{"nosuch", 1, 1}};
    BOOST_CHECK(start_error(*f.d, spec) == ec::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(stdin_pipe) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto spec = base_spec({"cat"});
    spec.open_stdin = true;
    std::string big(256 << 10, 'x'); // more than a pipe holds
    auto o = run(*f.d, spec, "hello\n" + big);
    BOOST_CHECK(o.out == "hello\n" + big);
    // Without open_stdin, stdin is /dev/null.
    BOOST_CHECK_EQUAL(run(*f.d, base_spec({"cat"})).out, "");
  }
}

BOOST_AUTO_TEST_CASE(tty) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto spec = base_spec({"sh", "-c", "test -t 0 && test -t 1 && echo isatty; stty size; tty"});
    spec.tty = true;
    spec.rows = 24;
    spec.cols = 80;
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.status, 0);
    // the pty is the container's own (as runc's): /dev/pts/0, also on /dev/console
    BOOST_CHECK_MESSAGE(contains(o.out, "isatty\r\n24 80\r\n/dev/pts/0\r\n"), o.out);
    // Resize while it runs: the shell reads a line first, then prints the size.
    spec = base_spec({"sh", "-c", "read line; stty size"});
    spec.tty = true;
    container c{f.d->start(spec)};
    BOOST_REQUIRE_MESSAGE(c.p, c.error);
    auto& proc = *c;
    BOOST_CHECK_EQUAL(proc.stdin_fd, -1);
    BOOST_CHECK_EQUAL(proc.stdout_fd, -1);
    BOOST_CHECK(!resize_pty(proc.pty_fd, 40, 100));
    write_all(proc.pty_fd, "go\n");
    std::string out;
    pump(-1, {}, {{proc.pty_fd, &out}});
    BOOST_CHECK_MESSAGE(contains(out, "40 100"), out);
    BOOST_CHECK_EQUAL(wait_exit(proc.pidfd), 0);
    remove_group(proc);
    BOOST_CHECK(resize_pty(-1, 1, 1));
  }
}

BOOST_AUTO_TEST_CASE(init) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    // The command is not PID 1 (its PID depends on the driver: runc's threads use up a few).
    auto spec = base_spec({"sh", "-c", "test $$ -gt 1 && echo child; exit 3"});
    spec.init = true;
    auto o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.out, "child\n");
    BOOST_CHECK_EQUAL(o.status, 3);
    // SIGTERM reaches the command through the init (busybox sleep as PID 1 would ignore it).
    spec = base_spec({"sleep", "30"});
    spec.init = true;
    container c{f.d->start(spec)};
    BOOST_REQUIRE_MESSAGE(c.p, c.error);
    BOOST_CHECK_EQUAL(::syscall(SYS_pidfd_send_signal, c->pidfd, SIGTERM, nullptr, 0U), 0);
    BOOST_CHECK_EQUAL(wait_exit(c->pidfd), 128 + SIGTERM);
    remove_group(*c);
    // With a tty.
    spec = base_spec({"sh", "-c", "test -t 0 && test $$ -gt 1 && echo child"});
    spec.init = true;
    spec.tty = true;
    o = run(*f.d, spec);
    BOOST_CHECK_EQUAL(o.out, "child\r\n");
    BOOST_CHECK_EQUAL(o.status, 0);
  }
}

BOOST_AUTO_TEST_CASE(cgroup_limits) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto spec = base_spec({"sleep", "30"});
    spec.resources.memory = 64 << 20;
    container c{f.d->start(spec)};
    BOOST_REQUIRE_MESSAGE(c.p, c.error);
    auto& proc = *c;
    auto dir = proc.cgroup->path();
    auto file = f.d->cgroup_version() == "1" ? "/memory.limit_in_bytes" : "/memory.max";
    std::string limit;
    std::ifstream{dir + file} >> limit;
    BOOST_CHECK_EQUAL(limit, std::to_string(64 << 20));
    auto pids = proc.cgroup->pids();
    BOOST_REQUIRE(pids);
    BOOST_CHECK(std::find(pids->begin(), pids->end(), proc.pid) != pids->end());
    // The caller kills through the cgroup (sleep as PID 1 ignores SIGTERM).
    BOOST_CHECK(!proc.cgroup->kill_all());
    BOOST_CHECK_EQUAL(wait_exit(proc.pidfd), 128 + SIGKILL);
    remove_group(proc);
    // open_group finds a container's group again (after a daemon restart).
    spec = base_spec({"sleep", "30"});
    container c2{f.d->start(spec)};
    BOOST_REQUIRE_MESSAGE(c2.p, c2.error);
    auto again = f.d->open_group(test_cgroup_parent, spec.id);
    BOOST_REQUIRE_MESSAGE(again, why(again));
    BOOST_CHECK_EQUAL((*again)->path(), c2->cgroup->path());
    BOOST_CHECK(!(*again)->kill_all());
    BOOST_CHECK_EQUAL(wait_exit(c2->pidfd), 128 + SIGKILL);
    remove_group(*c2);
  }
}

BOOST_AUTO_TEST_CASE(concurrent_starts) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    // Starts from several threads at once (berthd runs them on detached actors); the checks run
    // on this thread, as Boost.Test's are not thread-safe.
    constexpr int n = 6;
    std::vector<process_spec> specs;
    for (int i = 0; i < n; ++i)
      specs.push_back(base_spec({"sh", "-c", "echo " + std::to_string(i)}));
    std::vector<caf::expected<std::unique_ptr<process>>> started;
    for (int i = 0; i < n; ++i)
      started.emplace_back(caf::error{});
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] { started[i] = f.d->start(specs[i]); });
    for (auto& t : threads)
      t.join();
    std::vector<container> cs;
    cs.reserve(n);
    for (auto& x : started)
      cs.emplace_back(std::move(x));
    for (int i = 0; i < n; ++i) {
      BOOST_REQUIRE_MESSAGE(cs[i].p, cs[i].error);
      auto& proc = *cs[i];
      std::string out, err;
      pump(proc.stdin_fd, {}, {{proc.stdout_fd, &out}, {proc.stderr_fd, &err}});
      proc.stdin_fd = -1;
      BOOST_CHECK_EQUAL(out, std::to_string(i) + "\n");
      BOOST_CHECK_EQUAL(wait_exit(proc.pidfd), 0);
      remove_group(proc);
    }
  }
}

BOOST_AUTO_TEST_CASE(start_time) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    using clock = std::chrono::steady_clock;
    std::vector<double> to_exit, total;
    for (int i = 0; i < 20; ++i) {
      auto spec = base_spec({"true"});
      auto t0 = clock::now();
      container c{f.d->start(spec)};
      BOOST_REQUIRE_MESSAGE(c.p, c.error);
      BOOST_CHECK_EQUAL(wait_exit(c->pidfd), 0);
      auto t1 = clock::now();
      c->cgroup->kill_all();
      c->cgroup->remove();
      c->cgroup.reset();
      auto t2 = clock::now();
      to_exit.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      total.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    };
    BOOST_TEST_MESSAGE(name << ": `true` start to exit, median of 20: " << median(to_exit)
                            << " ms; with cgroup removal: " << median(total) << " ms");
  }
}

// docker exec: a process joins a running container's namespaces and cgroup, with its own
// user, workdir, env, stdin and tty; it is the caller's child, reaped through its pidfd; a
// command that cannot run fails with runc's wording and leaves no process behind.
BOOST_AUTO_TEST_CASE(exec_joins_a_running_container) {
  if (!root()) return;
  for (auto& name : available_drivers()) {
    fixture f{name};
    auto spec = base_spec({"sleep", "1000"});
    spec.hostname = "joined";
    container c{f.d->start(spec)};
    BOOST_REQUIRE_MESSAGE(c.p, c.error);
    auto target = ::fcntl(c->pidfd, F_DUPFD_CLOEXEC, 0);
    auto join = [&](std::vector<std::string> args, const std::string& input = {},
                    bool tty = false) {
      join_spec js;
      js.process = base_spec(std::move(args));
      js.process.user = "app";
      js.process.cwd = "/home/app";
      js.process.env.push_back("FOO=bar");
      js.process.open_stdin = !input.empty();
      js.process.tty = tty;
      js.target_pidfd = target;
      js.target_pid = c->pid;
      js.cgroup = c->cgroup.get();
      auto p = f.d->exec(js);
      outcome o;
      if (!p) {
        o.err = error_message(p.error());
        return o;
      }
      BOOST_CHECK(!(*p)->cgroup);
      if ((*p)->pty_fd >= 0) {
        pump((*p)->pty_fd, input, {{(*p)->pty_fd, &o.out}}, false);
      } else {
        pump((*p)->stdin_fd, input, {{(*p)->stdout_fd, &o.out}, {(*p)->stderr_fd, &o.err}});
        (*p)->stdin_fd = -1;
      }
      o.status = wait_exit((*p)->pidfd);
      return o;
    };
    auto o = join({"sh", "-c",
                   "hostname; id -u; pwd; echo $FOO; cat /proc/1/comm; echo $$ >&2; "
                   "exit 4"});
    BOOST_TEST(o.status == 4, name + ": " + o.err);
    BOOST_TEST(o.out == "joined\n1000\n/home/app\nbar\nsleep\n", name + ": " + o.out);
    BOOST_TEST((o.err != "1\n" && !o.err.empty() && o.err.size() <= 4u), name + ": " + o.err);
    o = join({"cat"}, "in\n");
    BOOST_TEST(o.out == "in\n", name + ": " + o.out + o.err);
    o = join({"tty"}, {}, true);
    BOOST_TEST(o.out.rfind("/dev/pts/", 0) == 0, name + ": " + o.out);
    o = join({"nosuch"});
    BOOST_TEST(o.status == -1);
    BOOST_TEST(o.err == "exec: \"nosuch\": executable file not found in $PATH",
               name + ": " + o.err);
    // the exec ran in the container's cgroup, and left nothing there
    auto pids = c->cgroup->pids();
    BOOST_REQUIRE(pids);
    BOOST_TEST(pids->size() == 1u, name);
    ::close(target);
    BOOST_CHECK(!c->cgroup->kill_all());
    BOOST_TEST(wait_exit(c->pidfd) == 128 + SIGKILL);
    remove_group(*c);
  }
}

BOOST_AUTO_TEST_SUITE_END()
