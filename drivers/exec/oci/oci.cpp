// The oci exec driver: for each container berthd writes an OCI runtime bundle (config.json, the
// rootfs being the graph driver's mount) and has an OCI runtime run it, runc by default
// (`--exec-opt oci.runtime=<name or path>`, e.g. crun):
//
//   <runtime> --root <state> --log <bundle>/runtime.log --log-format json
//             create --bundle <bundle> --pid-file <bundle>/pid [--console-socket <sock>] <id>
//   <runtime> --root <state> start <id>
//
// The container's stdio: `create` passes its own stdin, stdout and stderr through to the
// container (our pipes), or with a tty sends the pty master over the console socket.
//
// berthd is a child subreaper (PR_SET_CHILD_SUBREAPER) once this driver exists: when `create`
// exits, the container's init is re-parented to berthd, which watches and reaps it through a
// pidfd (waitid P_PIDFD) as with the native driver. Signals, the freezer, stats and kill_all go
// to the process and its cgroup directly; the runtime is only run to create, start and delete.
// The group handed out wraps the cgroup: its remove() runs `<runtime> delete --force`, which
// removes every cgroup the runtime made and its state, then the bundle.
//
// `--init`: berth-exec (static) is bind-mounted read-only at /sbin/docker-init and runs the
// command as its child, as dockerd does with docker-init.
#include "drivers/exec/driver.hpp"
#include "drivers/exec/users.hpp"
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <boost/json.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

extern char** environ;

namespace berth::exec::detail {

caf::expected<std::unique_ptr<driver>> make_oci_driver(const std::string& runtime,
                                                       const std::string& state_dir,
                                                       const std::string& helper,
                                                       const std::string& cgroup_root);

namespace {

using io::sys_error;
using io::unique_fd;

using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

// How long one run of the runtime may take before it is killed (a hung mount, say).
constexpr auto runtime_timeout = 60s;

constexpr const char* init_path = "/sbin/docker-init";

// ---- running the runtime ----

// The runtime's last error from its JSON log ("" when none).
std::string last_logged_error(const std::string& log_path) {
  std::ifstream in{log_path};
  std::string line, msg;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    auto& o = v.as_object();
    auto* level = o.if_contains("level");
    auto* m = o.if_contains("msg");
    if (level && level->is_string() && level->as_string() == "error" && m && m->is_string())
      msg = std::string{m->as_string()};
  }
  return msg;
}

// One run of the runtime. stdio: the given fds (-1 = /dev/null). With `console`, a listening
// socket, the pty master sent over it lands in `master`.
class runtime_run {
public:
  // Spawns argv (argv[0] a path or a name looked up in PATH).
  caf::error spawn(const std::vector<std::string>& argv, int in, int out, int err) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int fds[3] = {in, out, err};
    for (int i = 0; i < 3; ++i) {
      if (fds[i] >= 0)
        posix_spawn_file_actions_adddup2(&fa, fds[i], i);
      else
        posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return sys_error("run " + argv[0], rc);
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd_) {
      auto e = errno;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return sys_error("pidfd_open", e);
    }
    return {};
  }

  // Waits for the exit (and for the console, when given); returns the exit status.
  caf::expected<int> wait(int console_listen = -1, unique_fd* master = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + runtime_timeout;
    bool exited = false;
    while (!exited) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        ::syscall(SYS_pidfd_send_signal, pidfd_.fd, SIGKILL, nullptr, 0U);
        reap();
        return make_error(ec::timeout, "the OCI runtime did not finish within " +
                                           std::to_string(runtime_timeout.count()) + " s");
      }
      pollfd p[2] = {{pidfd_.fd, POLLIN, 0}, {console_listen, POLLIN, 0}};
      int n = console_listen >= 0 && master && !*master ? 2 : 1;
      auto r = ::poll(p, static_cast<nfds_t>(n), static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return sys_error("poll");
      if (n == 2 && (p[1].revents & POLLIN))
        if (auto err = receive_master(console_listen, *master)) return err;
      exited = (p[0].revents & POLLIN) != 0;
    }
    return reap();
  }

private:
  int reap() {
    siginfo_t info{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.fd), &info, WEXITED) != 0 && errno == EINTR) {
    }
    return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  }

  static caf::error receive_master(int listen_fd, unique_fd& master) {
    unique_fd conn{::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC)};
    if (!conn) return sys_error("accept console socket");
    if (auto err = io::receive_fd(conn.fd, master))
      return make_error(ec::system, "the OCI runtime sent no console: " + error_message(err));
    return {};
  }

  unique_fd pidfd_;
};

// ---- the bundle ----

// A file of the container's rootfs, read without leaving it (RESOLVE_IN_ROOT): "" when missing.
std::string read_in_root(const std::string& rootfs, const char* path) {
  unique_fd root{::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  if (!root) return {};
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  unique_fd f{static_cast<int>(::syscall(SYS_openat2, root.fd, path, &how, sizeof(how)))};
  if (!f) return {};
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(f.fd, buf, sizeof(buf))) > 0 && out.size() < (16u << 20))
    out.append(buf, static_cast<size_t>(n));
  return out;
}

// berthd's permitted capabilities (bit n = capability n).
uint64_t own_capabilities() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapPrm:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return ~uint64_t{0};
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (auto& s : v)
    a.emplace_back(s);
  return a;
}

json::object mount(const std::string& dest, const std::string& type, const std::string& source,
                   std::vector<std::string> options) {
  return {{"destination", dest}, {"type", type}, {"source", source}, {"options", strings(options)}};
}

bool has_env(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=')
      return true;
  return false;
}

json::object resources_of(const cgroups::resources& r, bool privileged) {
  json::object res;
  json::array devices;
  devices.push_back(json::object{{"allow", privileged}, {"access", "rwm"}});
  if (!privileged) {
    devices.push_back(json::object{{"allow", true}, {"type", "c"}, {"access", "m"}});
    devices.push_back(json::object{{"allow", true}, {"type", "b"}, {"access", "m"}});
  }
  res["devices"] = std::move(devices);
  json::object mem;
  if (r.memory > 0) mem["limit"] = r.memory;
  if (r.memory_swap != 0) mem["swap"] = r.memory_swap;
  if (r.memory_reservation > 0) mem["reservation"] = r.memory_reservation;
  if (r.memory_swappiness >= 0) mem["swappiness"] = static_cast<uint64_t>(r.memory_swappiness);
  if (r.oom_kill_disable) mem["disableOOMKiller"] = true;
  if (!mem.empty()) res["memory"] = std::move(mem);
  json::object cpu;
  if (r.cpu_shares > 0) cpu["shares"] = static_cast<uint64_t>(r.cpu_shares);
  if (r.nano_cpus > 0) {
    cpu["period"] = uint64_t{100000};
    cpu["quota"] = r.nano_cpus * 100000 / 1000000000;
  } else {
    if (r.cpu_period > 0) cpu["period"] = static_cast<uint64_t>(r.cpu_period);
    if (r.cpu_quota != 0) cpu["quota"] = r.cpu_quota;
  }
  if (!r.cpuset_cpus.empty()) cpu["cpus"] = r.cpuset_cpus;
  if (!r.cpuset_mems.empty()) cpu["mems"] = r.cpuset_mems;
  if (!cpu.empty()) res["cpu"] = std::move(cpu);
  if (r.pids_limit != 0)
    res["pids"] = json::object{{"limit", r.pids_limit > 0 ? r.pids_limit : -1}};
  return res;
}

// config.json for `spec`, as moby's default Linux spec has it (oci/defaults.go) plus the
// container's settings.
caf::expected<std::string> bundle_config(const process_spec& spec, const std::string& helper) {
  auto caps = capability_set(spec);
  if (!caps) return caps.error();
  if (auto err = cgroups::validate(spec.resources)) return err;
  users::exec_user user;
  auto msg = users::resolve(
      spec.user, spec.additional_groups,
      [&](const char* path) { return read_in_root(spec.rootfs, path); }, user);
  if (!msg.empty()) return make_error(ec::system, std::move(msg));
  auto cgroups_path = cgroups::relative_path(spec.cgroup_parent, spec.id);
  if (!cgroups_path) return cgroups_path.error();

  json::object process;
  process["terminal"] = spec.tty;
  if (spec.tty && spec.rows != 0 && spec.cols != 0)
    process["consoleSize"] = json::object{{"height", spec.rows}, {"width", spec.cols}};
  json::array gids;
  for (auto g : user.groups)
    gids.emplace_back(g);
  process["user"] = json::object{{"uid", user.uid}, {"gid", user.gid}, {"additionalGids", gids}};
  auto args = spec.args;
  if (spec.init) args.insert(args.begin(), {init_path, "--"});
  process["args"] = strings(args);
  auto env = spec.env;
  if (!has_env(env, "PATH"))
    env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has_env(env, "HOME")) env.push_back("HOME=" + user.home);
  process["env"] = strings(env);
  process["cwd"] = spec.cwd.empty() ? "/" : spec.cwd;
  // Only capabilities berthd holds can be given (root here lacks CAP_SYS_RESOURCE, say).
  auto mine = own_capabilities();
  json::array all_caps, kept;
  for (int c = 0; c <= last_capability(); ++c) {
    if ((*caps & mine & (uint64_t{1} << c)) == 0) continue;
    all_caps.emplace_back(capability_name(c));
  }
  // As the native driver (and moby): a non-root user keeps no effective or permitted capability.
  if (user.uid == 0) kept = all_caps;
  process["capabilities"] = json::object{{"bounding", all_caps},
                                         {"effective", kept},
                                         {"permitted", kept},
                                         {"inheritable", json::array{}}};
  json::array rlimits;
  for (auto& u : spec.rlimits) {
    auto resource = rlimit_resource(u);
    if (!resource) return resource.error();
    std::string type = "RLIMIT_";
    for (char c : u.name)
      type += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    // As the native driver: above berthd's hard limit, clamped (raising it would be EPERM
    // without CAP_SYS_RESOURCE).
    rlimit own{};
    auto soft = rlimit_value(u.soft), hard = rlimit_value(u.hard);
    if ((mine & (uint64_t{1} << CAP_SYS_RESOURCE)) == 0 && ::getrlimit(*resource, &own) == 0) {
      soft = std::min<uint64_t>(soft, own.rlim_max);
      hard = std::min<uint64_t>(hard, own.rlim_max);
    }
    rlimits.push_back(json::object{{"type", type}, {"soft", soft}, {"hard", hard}});
  }
  if (!rlimits.empty()) process["rlimits"] = std::move(rlimits);
  process["noNewPrivileges"] = spec.no_new_privileges;

  json::array mounts;
  mounts.push_back(mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  mounts.push_back(
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
  mounts.push_back(mount("/sys", "sysfs", "sysfs",
                         spec.privileged
                             ? std::vector<std::string>{"nosuid", "noexec", "nodev"}
                             : std::vector<std::string>{"nosuid", "noexec", "nodev", "ro"}));
  mounts.push_back(mount("/sys/fs/cgroup", "cgroup", "cgroup",
                         {"nosuid", "noexec", "nodev", spec.privileged ? "rw" : "ro"}));
  mounts.push_back(mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  auto shm = spec.shm_size > 0 ? spec.shm_size : int64_t{64} << 20;
  mounts.push_back(
      mount("/dev/shm", "tmpfs", "shm",
            {"nosuid", "noexec", "nodev", "mode=1777", "size=" + std::to_string(shm)}));
  if (spec.init) mounts.push_back(mount(init_path, "bind", helper, {"bind", "ro"}));
  for (auto& m : spec.mounts) {
    if (m.destination.empty() || m.destination[0] != '/')
      return make_error(ec::invalid_argument,
                        "invalid mount destination (not absolute): " + m.destination);
    mounts.push_back(mount(m.destination, m.type, m.source, m.options));
  }

  json::array namespaces;
  auto ns = [&](const char* type) { namespaces.push_back(json::object{{"type", type}}); };
  ns("mount");
  if (!spec.join_net_namespace.empty())
    namespaces.push_back(json::object{{"type", "network"}, {"path", spec.join_net_namespace}});
  else if (spec.new_net_namespace)
    ns("network");
  if (!spec.host_uts) ns("uts");
  if (!spec.host_pid) ns("pid");
  if (!spec.host_ipc) ns("ipc");
  ns("cgroup");

  json::object linux;
  linux["namespaces"] = std::move(namespaces);
  linux["cgroupsPath"] = *cgroups_path;
  linux["resources"] = resources_of(spec.resources, spec.privileged);
  if (spec.privileged) { // moby: every device of the host
    json::array devices;
    for (auto& d : host_devices())
      devices.push_back(json::object{{"path", d.path},
                                     {"type", std::string(1, d.type)},
                                     {"major", d.major},
                                     {"minor", d.minor},
                                     {"fileMode", d.mode},
                                     {"uid", d.uid},
                                     {"gid", d.gid}});
    linux["devices"] = std::move(devices);
  }
  linux["maskedPaths"] = strings(masked_paths(spec));
  linux["readonlyPaths"] = strings(readonly_paths(spec));
  if (!spec.sysctls.empty()) {
    json::object sysctl;
    for (auto& [k, v] : spec.sysctls)
      sysctl[k] = v;
    linux["sysctl"] = std::move(sysctl);
  }

  json::object config;
  config["ociVersion"] = "1.0.2";
  config["process"] = std::move(process);
  config["root"] = json::object{{"path", spec.rootfs}, {"readonly", spec.readonly_rootfs}};
  if (!spec.host_uts) {
    if (!spec.hostname.empty()) config["hostname"] = spec.hostname;
    if (!spec.domainname.empty()) config["domainname"] = spec.domainname;
  }
  config["mounts"] = std::move(mounts);
  config["linux"] = std::move(linux);
  return json::serialize(config);
}

// The executable process `pid` runs ("" when gone).
std::string exe_of(pid_t pid) {
  char buf[4096];
  auto n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string{buf, static_cast<size_t>(n)} : std::string{};
}

// True once process `pid` blocks signals (/proc/<pid>/status SigBlk), or is gone.
bool blocks_signals(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16) != 0;
  return true;
}

// `start` returns once the runtime's init was told to exec the command, not once it did: a
// signal sent in between would reach the runtime's init, not the command. Wait (bounded) until
// the process runs another executable than the runtime's (`before`, read while it waited) and,
// for our init, until it blocks signals to forward them (a PID 1 drops signals it has no
// handler for, so a SIGTERM in between would be lost).
void wait_for_exec(pid_t pid, const std::string& before, bool init) {
  auto deadline = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto now = exe_of(pid);
    if (now.empty()) return;
    if (now != before && (!init || blocks_signals(pid))) return;
    std::this_thread::sleep_for(100us);
  }
}

// ---- the driver ----

struct runtime_cmd {
  std::string runtime;           // name or path
  std::string state;             // --root
  std::vector<std::string> args; // global options before ours (daemon.json "runtimeArgs")
  std::vector<std::string> argv(std::initializer_list<std::string> rest) const {
    std::vector<std::string> v{runtime};
    v.insert(v.end(), args.begin(), args.end());
    v.push_back("--root");
    v.push_back(state);
    v.insert(v.end(), rest);
    return v;
  }
  // `delete --force`: kills what is left, removes the runtime's cgroups and state.
  void remove(const std::string& id) const {
    runtime_run r;
    if (!r.spawn(argv({"delete", "--force", id}), -1, -1, -1)) r.wait();
  }
  // What `delete` does for a container whose processes are gone, without running the runtime
  // (which takes tens of milliseconds): remove the cgroups its state.json lists (runc's
  // "cgroup_paths", in every hierarchy it used) and its state dir. False when that state cannot
  // be read or a cgroup is still busy: then `delete --force` is needed.
  bool remove_stopped(const std::string& id) const {
    auto dir = state + "/" + id;
    auto text = io::read_file(dir + "/state.json");
    if (!text) return ::access(dir.c_str(), F_OK) != 0; // no state: nothing to remove
    boost::system::error_code ec;
    auto doc = json::parse(*text, ec);
    if (ec || !doc.is_object()) return false;
    if (auto* paths = doc.as_object().if_contains("cgroup_paths"); paths && paths->is_object())
      for (auto& [controller, path] : paths->as_object())
        if (path.is_string() && ::rmdir(std::string{path.as_string()}.c_str()) != 0 &&
            errno != ENOENT)
          return false;
    std::error_code fs_ec;
    fs::remove_all(dir, fs_ec);
    return !fs_ec;
  }
};

// The container's cgroup; remove() also deletes the runtime's state and the bundle.
class oci_group final : public cgroups::group {
public:
  oci_group(std::unique_ptr<cgroups::group> inner, runtime_cmd cmd, std::string id,
            std::string bundle)
      : inner_(std::move(inner)), cmd_(std::move(cmd)), id_(std::move(id)),
        bundle_(std::move(bundle)) {}
  caf::error add(pid_t pid) override { return inner_->add(pid); }
  caf::error apply(const cgroups::resources& r) override { return inner_->apply(r); }
  caf::error limit_devices(bool all) override { return inner_->limit_devices(all); }
  caf::error freeze() override { return inner_->freeze(); }
  caf::error thaw() override { return inner_->thaw(); }
  caf::expected<std::vector<pid_t>> pids() const override { return inner_->pids(); }
  caf::error kill_all() override { return inner_->kill_all(); }
  caf::expected<cgroups::usage> read_usage() const override { return inner_->read_usage(); }
  caf::expected<cgroup_stats> read_stats() const override { return inner_->read_stats(); }
  caf::error remove() override {
    auto err = inner_->remove();
    if (!cmd_.remove_stopped(id_)) {
      cmd_.remove(id_);
      if (err) err = inner_->remove(); // once the runtime killed what kept it busy
    }
    std::error_code ec;
    fs::remove_all(bundle_, ec);
    return err;
  }
  std::string path() const override { return inner_->path(); }

private:
  std::unique_ptr<cgroups::group> inner_;
  runtime_cmd cmd_;
  std::string id_;
  std::string bundle_;
};

class oci_driver final : public cgroup_owner {
public:
  oci_driver(runtime_cmd cmd, std::string bundles, std::string helper,
             std::unique_ptr<cgroups::manager> mgr)
      : cgroup_owner(std::move(mgr)), cmd_(std::move(cmd)), bundles_(std::move(bundles)),
        helper_(std::move(helper)) {}

  std::string name() const override { return "oci"; }

  // The group wrapped: its remove() also deletes the runtime's state and the bundle.
  caf::expected<std::unique_ptr<cgroups::group>> open_group(const std::string& parent,
                                                            const std::string& id) override {
    auto g = cgroup_owner::open_group(parent, id);
    if (!g) return g.error();
    return std::unique_ptr<cgroups::group>{
        new oci_group(std::move(*g), cmd_, id, bundles_ + "/" + id)};
  }

  caf::expected<std::unique_ptr<process>> start(const process_spec& spec) override;

  // berth-exec joins the container (no runtime run: `runc exec` costs ~100 ms a call).
  caf::expected<std::unique_ptr<process>> exec(const join_spec& spec) override {
    return detail::join_container(helper_, spec);
  }

private:
  runtime_cmd cmd_;
  std::string bundles_;
  std::string helper_;
};

caf::expected<std::unique_ptr<process>> oci_driver::start(const process_spec& spec) {
  if (spec.id.empty() || spec.id.find('/') != std::string::npos || spec.id[0] == '.')
    return make_error(ec::invalid_argument, "invalid container ID: " + spec.id);
  if (spec.args.empty() || spec.args[0].empty())
    return make_error(ec::invalid_argument, "No command specified");
  if (spec.rootfs.empty() || spec.rootfs[0] != '/')
    return make_error(ec::invalid_argument, "rootfs must be an absolute path: " + spec.rootfs);
  auto config = bundle_config(spec, helper_);
  if (!config) return config.error();
  auto bundle = bundles_ + "/" + spec.id;
  // Leftovers of an earlier run of this container (a daemon crash) go first; the runtime is run
  // for that only when it has state for the ID.
  if (::access((cmd_.state + "/" + spec.id).c_str(), F_OK) == 0) cmd_.remove(spec.id);
  std::error_code ec;
  fs::remove_all(bundle, ec);
  if (::mkdir(bundle.c_str(), 0700) != 0) return sys_error("create bundle " + bundle);
  struct bundle_guard {
    const runtime_cmd& cmd;
    std::string id, dir;
    bool armed = true;
    ~bundle_guard() {
      if (!armed) return;
      cmd.remove(id);
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{cmd_, spec.id, bundle};
  if (auto err = io::write_file_atomic(bundle + "/config.json", *config, 0600)) return err;

  // Stdio: pipes passed through `create`, or a pty from the console socket.
  unique_fd child_in, child_out, child_err, mine_in, mine_out, mine_err, listen_fd, master;
  auto make_pipe = [](unique_fd& rd, unique_fd& wr) -> caf::error {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
    rd.reset(p[0]);
    wr.reset(p[1]);
    return {};
  };
  // sun_path holds 108 bytes: the socket sits beside the state dir, under a short name.
  std::string console = cmd_.state + "/" + spec.id.substr(0, 12) + ".sock";
  struct unlink_guard {
    std::string path;
    ~unlink_guard() { ::unlink(path.c_str()); }
  } console_gone{spec.tty ? console : std::string{}};
  if (spec.tty) {
    listen_fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listen_fd) return sys_error("console socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (console.size() >= sizeof(addr.sun_path))
      return make_error(ec::system, "console socket path too long: " + console);
    std::memcpy(addr.sun_path, console.c_str(), console.size() + 1);
    if (::bind(listen_fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd.fd, 1) != 0)
      return sys_error("console socket " + console);
  } else {
    if (spec.open_stdin)
      if (auto err = make_pipe(child_in, mine_in)) return err;
    if (auto err = make_pipe(mine_out, child_out)) return err;
    if (auto err = make_pipe(mine_err, child_err)) return err;
  }

  auto log = bundle + "/runtime.log";
  auto pid_file = bundle + "/pid";
  auto create = cmd_.argv(
      {"--log", log, "--log-format", "json", "create", "--bundle", bundle, "--pid-file", pid_file});
  if (spec.tty) {
    create.push_back("--console-socket");
    create.push_back(console);
  }
  create.push_back(spec.id);
  runtime_run run;
  if (auto err = run.spawn(create, child_in.fd, child_out.fd, child_err.fd)) return err;
  for (auto* f : {&child_in, &child_out, &child_err})
    f->reset();
  auto status = run.wait(listen_fd.fd, &master);
  if (!status) return status.error();
  if (*status != 0) {
    auto msg = last_logged_error(log);
    if (msg.empty()) msg = "exit status " + std::to_string(*status);
    // dockerd's wording; the CLI and the container actor map exec failures to 126 and 127.
    auto code = msg.find("unable to start container process: exec:") != std::string::npos
                    ? ec::invalid_argument
                    : ec::system;
    return make_error(code, "OCI runtime create failed: " + msg + ": unknown");
  }
  if (spec.tty && !master) return make_error(ec::system, "the OCI runtime sent no console");

  // The container's init: re-parented to us (we are a subreaper) when `create` exited.
  pid_t pid = 0;
  {
    std::ifstream in{pid_file};
    if (!(in >> pid) || pid <= 0) return make_error(ec::system, "no pid file from the runtime");
  }
  unique_fd pidfd{static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))};
  if (!pidfd) return sys_error("pidfd_open");
  auto group = open_group(spec.cgroup_parent, spec.id);
  if (!group) return group.error();
  if (spec.prestart)
    if (auto err = spec.prestart(pid)) return err;

  auto runtime_exe = exe_of(pid);
  runtime_run starter;
  if (auto err = starter.spawn(cmd_.argv({"--log", log, "--log-format", "json", "start", spec.id}),
                               -1, -1, -1))
    return err;
  auto started = starter.wait();
  if (!started) return started.error();
  if (*started != 0) {
    auto msg = last_logged_error(log);
    return make_error(ec::system,
                      "OCI runtime start failed: " +
                          (msg.empty() ? "exit status " + std::to_string(*started) : msg));
  }
  wait_for_exec(pid, runtime_exe, spec.init);
  for (auto* f : {&mine_in, &mine_out, &mine_err, &master})
    if (*f) {
      int fl = ::fcntl(f->fd, F_GETFL);
      if (fl < 0 || ::fcntl(f->fd, F_SETFL, fl | O_NONBLOCK) < 0) return sys_error("fcntl");
    }
  if (master && spec.rows != 0 && spec.cols != 0) resize_pty(master.fd, spec.rows, spec.cols);
  cleanup.armed = false;
  auto proc = std::make_unique<process>();
  proc->pid = pid;
  proc->pidfd = pidfd.release();
  proc->stdin_fd = mine_in.release();
  proc->stdout_fd = mine_out.release();
  proc->stderr_fd = mine_err.release();
  proc->pty_fd = master.release();
  proc->cgroup = std::move(*group);
  return proc;
}

} // namespace

caf::expected<std::unique_ptr<driver>>
make_oci_driver(const std::string& runtime, const std::string& state_dir, const std::string& helper,
                const std::string& cgroup_root, const std::vector<std::string>& runtime_args) {
  if (runtime.empty()) return make_error(ec::invalid_argument, "no OCI runtime given");
  if (state_dir.empty() || state_dir[0] != '/')
    return make_error(ec::invalid_argument, "the OCI state dir must be absolute: " + state_dir);
  // The runtime must run: `<runtime> --version`.
  {
    runtime_run probe;
    if (auto err = probe.spawn({runtime, "--version"}, -1, -1, -1))
      return make_error(ec::invalid_argument,
                        "OCI runtime \"" + runtime + "\" cannot be run: " + error_message(err));
    auto status = probe.wait();
    if (!status) return status.error();
    if (*status != 0)
      return make_error(ec::invalid_argument, "OCI runtime \"" + runtime + "\" --version failed");
  }
  std::error_code ec;
  auto bundles = state_dir + "/bundles";
  auto state = state_dir + "/state";
  fs::create_directories(bundles, ec);
  fs::create_directories(state, ec);
  if (ec) return sys_error("create " + state_dir, ec.value());
  auto mgr = cgroups::make_manager(cgroup_root);
  if (!mgr) return mgr.error();
  // Containers are re-parented to berthd when the runtime's `create` exits.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return sys_error("PR_SET_CHILD_SUBREAPER");
  return std::unique_ptr<driver>{
      new oci_driver(runtime_cmd{runtime, state, runtime_args}, bundles, helper, std::move(*mgr))};
}

} // namespace berth::exec::detail
