// The exec driver's shared parts: the process handle, pty sizes, Docker's signal names, the
// helper's default path and the native driver's factory (the driver lives in native/native.cpp).
#include "drivers/exec/driver.hpp"

#include "drivers/io.hpp"
#include "messages/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace berth::exec {

namespace detail {
// Defined in native/native.cpp.
caf::expected<std::unique_ptr<driver>> make_native_driver(const std::string& helper,
                                                          const std::string& cgroup_root);
// Defined in oci/oci.cpp.
caf::expected<std::unique_ptr<driver>>
make_oci_driver(const std::string& runtime, const std::string& state_dir, const std::string& helper,
                const std::string& cgroup_root, const std::vector<std::string>& runtime_args);
} // namespace detail

cgroup_owner::cgroup_owner(std::unique_ptr<cgroups::manager> mgr) : cgroups_(std::move(mgr)) {}

caf::expected<std::unique_ptr<cgroups::group>> cgroup_owner::open_group(const std::string& parent,
                                                                        const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  return cgroups_->open(parent, id);
}

std::string cgroup_owner::cgroup_driver() const {
  return cgroups_->driver();
}

std::string cgroup_owner::cgroup_version() const {
  return cgroups_->version() == cgroups::version::v1 ? "1" : "2";
}

namespace {

// The kernel's real-time signal range, as Docker's signal map has it (Go's syscall values, not
// glibc's SIGRTMIN, which reserves two for itself).
constexpr int rtmin = 34;
constexpr int rtmax = 64;

// Docker's Linux signal map (moby/sys/signal), canonical names first where two share a number.
constexpr std::pair<const char*, int> signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},   {"IOT", SIGIOT},
    {"CLD", SIGCHLD},  {"POLL", SIGPOLL},
};

// A decimal number without sign or junk; -1 otherwise (or when absurdly long).
int parse_uint(const std::string& s) {
  if (s.empty() || s.size() > 4) return -1;
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// Capability names by number (linux/capability.h).
constexpr const char* capability_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
constexpr int known_capabilities = sizeof(capability_names) / sizeof(capability_names[0]);

// Docker's default capabilities (moby oci/caps/defaults.go).
constexpr const char* default_capabilities[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

// Docker's default masked and read-only paths (moby oci/defaults.go).
const std::vector<std::string> default_masked_paths = {
    "/proc/asound",        "/proc/acpi",       "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",          "/sys/firmware",
};
const std::vector<std::string> default_readonly_paths = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

// `--ulimit` names (Docker's go-units).
constexpr std::pair<const char*, int> rlimit_names[] = {
    {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},       {"as", RLIMIT_AS},
};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

int capability_number(const std::string& name) {
  for (int i = 0; i < known_capabilities; ++i)
    if (name == capability_names[i]) return i;
  return -1;
}

// The kernel's highest capability (/proc/sys/kernel/cap_last_cap), bounded by the names known.
int read_last_cap() {
  std::ifstream in{"/proc/sys/kernel/cap_last_cap"};
  int n = -1;
  if (!(in >> n) || n < 0 || n >= known_capabilities) n = known_capabilities - 1;
  return n;
}

// The capability set as moby's TweakCapabilities computes it: the defaults plus cap_add minus
// cap_drop; "ALL" in cap_add means every capability but the dropped ones, "ALL" in cap_drop means
// only the added ones. Names with or without CAP_, any case.
caf::expected<uint64_t> capability_set(const process_spec& spec, int last_cap) {
  uint64_t all = last_cap >= 63 ? ~uint64_t{0} : (uint64_t{1} << (last_cap + 1)) - 1;
  if (spec.privileged) return all;
  auto parse = [](const std::vector<std::string>& names, uint64_t& mask,
                  bool& has_all) -> caf::error {
    for (auto& raw : names) {
      auto name = upper(raw);
      if (name == "ALL") {
        has_all = true;
        continue;
      }
      if (name.rfind("CAP_", 0) != 0) name = "CAP_" + name;
      auto n = capability_number(name);
      if (n < 0) return make_error(ec::invalid_argument, "unknown capability: \"" + name + "\"");
      mask |= uint64_t{1} << n;
    }
    return {};
  };
  uint64_t add = 0, drop = 0;
  bool add_all = false, drop_all = false;
  if (auto err = parse(spec.cap_add, add, add_all)) return err;
  if (auto err = parse(spec.cap_drop, drop, drop_all)) return err;
  if (add_all) return all & ~drop;
  if (drop_all) return add & all;
  uint64_t base = 0;
  for (auto name : default_capabilities)
    base |= uint64_t{1} << capability_number(name);
  return ((base & ~drop) | add) & all;
}

} // namespace

process::~process() {
  for (int fd : {stdin_fd, stdout_fd, stderr_fd, pty_fd, pidfd})
    if (fd >= 0) ::close(fd);
}

caf::error resize_pty(int pty_fd, uint16_t rows, uint16_t cols) {
  struct winsize ws {};
  ws.ws_row = rows;
  ws.ws_col = cols;
  if (::ioctl(pty_fd, TIOCSWINSZ, &ws) != 0)
    return make_error(ec::system, std::string{"resize tty: "} + std::strerror(errno));
  return {};
}

int parse_signal(const std::string& name) {
  if (auto n = parse_uint(name); n >= 0) return n >= 1 && n <= rtmax ? n : -1;
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (s.rfind("SIG", 0) == 0) s.erase(0, 3);
  for (auto& [n, sig] : signal_names)
    if (s == n) return sig;
  auto relative = [&](const char* base, int origin, int dir) {
    auto len = std::strlen(base);
    if (s.compare(0, len, base) != 0) return -1;
    if (s.size() == len) return origin;
    if (s[len] != (dir > 0 ? '+' : '-')) return -1;
    auto off = parse_uint(s.substr(len + 1));
    if (off < 0) return -1;
    auto sig = origin + dir * off;
    return sig >= rtmin && sig <= rtmax ? sig : -1;
  };
  if (auto sig = relative("RTMIN", rtmin, 1); sig > 0) return sig;
  return relative("RTMAX", rtmax, -1);
}

std::string signal_name(int sig) {
  for (auto& [n, s] : signal_names)
    if (s == sig) return std::string{"SIG"} + n;
  if (sig == rtmin) return "SIGRTMIN";
  if (sig == rtmax) return "SIGRTMAX";
  if (sig > rtmin && sig <= rtmin + 15) return "SIGRTMIN+" + std::to_string(sig - rtmin);
  if (sig > rtmin + 15 && sig < rtmax) return "SIGRTMAX-" + std::to_string(rtmax - sig);
  return std::to_string(sig);
}

std::string capability_name(int n) {
  return n >= 0 && n < known_capabilities ? capability_names[n] : "";
}

int last_capability() {
  static const int n = read_last_cap();
  return n;
}

caf::expected<uint64_t> capability_set(const process_spec& spec) {
  return capability_set(spec, last_capability());
}

uint64_t rlimit_value(int64_t v) {
  return v < 0 ? RLIM_INFINITY : static_cast<uint64_t>(v);
}

caf::expected<int> rlimit_resource(const ulimit& u) {
  int resource = -1;
  for (auto& [name, r] : rlimit_names)
    if (u.name == name) resource = r;
  if (resource < 0) return make_error(ec::invalid_argument, "invalid ulimit type: " + u.name);
  if (rlimit_value(u.soft) > rlimit_value(u.hard))
    return make_error(ec::invalid_argument,
                      "ulimit soft limit must be less than or equal to hard limit: " +
                          std::to_string(u.soft) + " > " + std::to_string(u.hard));
  return resource;
}

std::vector<std::string> masked_paths(const process_spec& spec) {
  if (spec.privileged) return {};
  return spec.masked_paths.empty() ? default_masked_paths : spec.masked_paths;
}

std::vector<std::string> readonly_paths(const process_spec& spec) {
  if (spec.privileged) return {};
  return spec.readonly_paths.empty() ? default_readonly_paths : spec.readonly_paths;
}

std::vector<host_device> host_devices(const std::string& dir) {
  std::vector<host_device> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    auto path = dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (name == "pts" || name == "shm" || name == "fd" || name == "mqueue" || name == ".lxc" ||
          name == ".lxd-mounts" || name == ".udev")
        continue;
      auto sub = host_devices(path);
      out.insert(out.end(), sub.begin(), sub.end());
      continue;
    }
    if (name == "console" || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) continue;
    out.push_back({path, S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev), minor(st.st_rdev),
                   static_cast<uint32_t>(st.st_mode & 07777), st.st_uid, st.st_gid});
  }
  ::closedir(d);
  return out;
}

namespace {

// A program's standard output (stderr to /dev/null), and its exit status; 10 s at most.
caf::expected<std::pair<int, std::string>> run_output(const std::vector<std::string>& argv) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    return make_error(ec::system, "pipe: " + std::string{std::strerror(errno)});
  io::unique_fd rd{p[0]}, wr{p[1]};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.fd, 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  wr.reset();
  if (rc != 0) return make_error(ec::system, "run " + argv[0] + ": " + std::strerror(rc));
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd pfd{rd.fd, POLLIN, 0};
    if (left <= 0 || (::poll(&pfd, 1, static_cast<int>(left)) == 0)) {
      ::kill(pid, SIGKILL);
      break;
    }
    auto n = ::read(rd.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out);
}

// Go's strings.Fields on ASCII whitespace.
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in{line};
  std::string f;
  while (in >> f)
    out.push_back(f);
  return out;
}

} // namespace

caf::expected<std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>>>
top(const std::vector<pid_t>& pids, const std::string& ps_args) {
  auto args = ps_args.empty() ? std::string{"-ef"} : ps_args;
  // moby's validatePSArgs: "k=PID..." only as "pid=".
  for (auto& f : fields(args)) {
    auto eq = f.find('=');
    if (eq != std::string::npos && f.compare(eq + 1, 3, "PID") == 0 && f.substr(0, eq) != "pid")
      return make_error(ec::invalid_argument, "specifying \"" + f.substr(0, eq) + "=" +
                                                  f.substr(eq + 1) + "\" is not allowed");
  }
  std::vector<std::string> argv{"ps"};
  for (auto& f : fields(args))
    argv.push_back(f);
  std::string list;
  for (auto pid : pids)
    list += (list.empty() ? "" : ",") + std::to_string(pid);
  auto with_q = argv;
  with_q.push_back("-q" + list);
  auto r = run_output(with_q);
  if (!r) return r.error();
  if (r->first != 0) { // some options (f) do not go with -q
    r = run_output(argv);
    if (!r) return r.error();
    if (r->first != 0)
      return make_error(ec::system, "Error running ps: exit status " + std::to_string(r->first));
  }
  std::istringstream in{r->second};
  std::string line;
  std::getline(in, line);
  auto titles = fields(line);
  auto pid_col = std::find(titles.begin(), titles.end(), "PID");
  if (pid_col == titles.end())
    return make_error(ec::system, "Couldn't find PID field in ps output");
  auto index = static_cast<std::size_t>(pid_col - titles.begin());
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    auto cols = fields(line);
    if (cols.size() < titles.size()) continue;
    auto pid = cols[index] == "-" ? 0 : std::atoi(cols[index].c_str());
    if (std::find(pids.begin(), pids.end(), pid) == pids.end()) continue;
    std::vector<std::string> row(cols.begin(), cols.begin() + static_cast<long>(titles.size()) - 1);
    std::string last;
    for (auto i = titles.size() - 1; i < cols.size(); ++i)
      last += (last.empty() ? "" : " ") + cols[i];
    row.push_back(last);
    rows.push_back(std::move(row));
  }
  return std::make_pair(std::move(titles), std::move(rows));
}

std::string default_helper_path() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "berth-exec";
  std::string exe{buf, static_cast<size_t>(n)};
  auto slash = exe.rfind('/');
  return (slash == std::string::npos ? std::string{"."} : exe.substr(0, slash)) + "/berth-exec";
}

caf::expected<std::unique_ptr<driver>> make_native(const std::string& helper,
                                                   const std::string& cgroup_root) {
  return detail::make_native_driver(helper, cgroup_root);
}

} // namespace berth::exec

namespace berth::exec {

caf::expected<std::unique_ptr<driver>>
make_oci(const std::string& runtime, const std::string& state_dir, const std::string& helper,
         const std::string& cgroup_root, const std::vector<std::string>& runtime_args) {
  return detail::make_oci_driver(runtime, state_dir, helper, cgroup_root, runtime_args);
}

} // namespace berth::exec
