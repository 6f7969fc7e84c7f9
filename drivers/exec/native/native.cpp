// The native exec driver: berthd clones its helper, berth-exec, straight into the container's new
// namespaces, puts it into the container's cgroup, and hands it the process spec; the helper sets
// the container up (mounts, pivot_root, user, capabilities) and execs the command.
//
// The start protocol (mirrored in native/berth_exec.cpp):
//   1. The parent prepares everything the child needs: the helper's argv/envp, the stdio pipes
//      (with a tty: /dev/null, replaced by the helper), the spec channel (a socket pair) and the
//      error pipe, all CLOEXEC and numbered >= 5.
//   2. clone3(CLONE_PIDFD | namespaces, exit_signal SIGCHLD; on x86_64 also CLONE_VM |
//      CLONE_VFORK, as posix_spawn, so the daemon's page tables are not copied). The child only
//      dup2s its ends to fds 0-2 (stdio), 3 (spec, read end) and 4 (errors, write end), closes
//      the rest and execs the helper: berthd is multithreaded, so nothing but async-signal-safe
//      calls in between.
//   3. The parent moves the child into the container's cgroup, then sends the spec on fd 3 and
//      shuts its writing side down. The helper blocks on that read, so it never runs unconfined.
//   4. With a tty, the helper makes the pty in the container's own devpts (as runc does) and
//      sends the master back over fd 3 before it execs; the parent receives it after step 5.
//   5. The parent reads fd 4 until EOF. The helper keeps fd 4 CLOEXEC: EOF without data means the
//      command was exec'd. Otherwise the data is one failure ('I' or 'S', then the message): the
//      parent reaps the helper, removes the cgroup and returns the error.
// The caller owns the pidfd and reaps the process (waitid P_PIDFD); the driver never reaps a
// running container and installs no SIGCHLD handler (the oci driver makes berthd a subreaper,
// which changes nothing here: the helper is berthd's own child). No PR_SET_PDEATHSIG: containers
// outlive a daemon crash, and the restarted daemon kills leftovers through their cgroups.
//
// Spec encoding on fd 3: see spec_format.hpp, in the order of `encode` below.
#include "drivers/exec/driver.hpp"
#include "drivers/exec/native/spec_format.hpp"
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
#include <mutex>
#include <utility>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

namespace berth::exec::detail {

caf::expected<std::unique_ptr<driver>> make_native_driver(const std::string& helper,
                                                          const std::string& cgroup_root);

namespace {

using io::sys_error;
using io::unique_fd;

using namespace std::chrono_literals;

// How long the helper may take to set a container up before start() gives up and kills it
// (a hung mount, say). Normal setups take a few milliseconds.
constexpr auto helper_setup_timeout = 60s;

// The child's fds are renumbered to >= this before clone3, so its dup2s to 0-5 never collide.
constexpr int first_free_fd = 6;

constexpr uint64_t spec_magic = berth::exec::spec_format::magic;

using spec_flag = berth::exec::spec_format::flag;
using namespace berth::exec::spec_format; // the flag_* names

// Renumber a child's fd to >= first_free_fd (CLOEXEC), so dup2 onto 0-4 cannot clobber another.
caf::error raise_fd(unique_fd& f) {
  if (f.fd >= first_free_fd) return {};
  int n = ::fcntl(f.fd, F_DUPFD_CLOEXEC, first_free_fd);
  if (n < 0) return sys_error("dup");
  f.reset(n);
  return {};
}

caf::error set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return sys_error("fcntl");
  return {};
}

// The encoder of the spec sent to the helper (see the file comment).
struct encoder {
  std::string out;
  void u64(uint64_t x) { out.append(reinterpret_cast<const char*>(&x), sizeof(x)); }
  void i64(int64_t x) { u64(static_cast<uint64_t>(x)); }
  void str(const std::string& s) {
    u64(s.size());
    out += s;
  }
  void strs(const std::vector<std::string>& v) {
    u64(v.size());
    for (auto& s : v)
      str(s);
  }
  caf::error rlimits(const std::vector<ulimit>& v) {
    u64(v.size());
    for (auto& u : v) {
      auto resource = rlimit_resource(u);
      if (!resource) return resource.error();
      i64(*resource);
      u64(rlimit_value(u.soft));
      u64(rlimit_value(u.hard));
    }
    return {};
  }
  // The byte count first: the helper reads the spec, then (start) waits for the go.
  std::string framed() const {
    encoder f;
    f.u64(out.size());
    return f.out + out;
  }
};

// The part of both specs that describes the process (spec_format.hpp): args, env, cwd, user,
// additional groups, flags, capabilities, rlimits.
caf::error encode_process(encoder& e, const process_spec& spec, uint64_t flags) {
  auto caps = capability_set(spec);
  if (!caps) return caps.error();
  e.strs(spec.args);
  e.strs(spec.env);
  e.str(spec.cwd.empty() ? "/" : spec.cwd);
  e.str(spec.user);
  e.strs(spec.additional_groups);
  e.u64(flags);
  e.u64(*caps);
  return e.rlimits(spec.rlimits);
}

// The spec as the helper reads it.
caf::expected<std::string> encode(const process_spec& spec) {
  encoder e;
  e.u64(spec_magic);
  e.str(spec.rootfs);
  uint64_t flags = 0;
  auto set = [&](bool on, spec_flag f) {
    if (on) flags |= f;
  };
  set(spec.tty, flag_tty);
  set(spec.init, flag_init);
  set(spec.privileged, flag_privileged);
  set(spec.readonly_rootfs, flag_readonly_rootfs);
  set(spec.no_new_privileges, flag_no_new_privileges);
  set(spec.new_net_namespace, flag_new_net);
  set(spec.host_pid, flag_host_pid);
  set(spec.host_ipc, flag_host_ipc);
  set(spec.host_uts, flag_host_uts);
  if (auto err = encode_process(e, spec, flags)) return err;
  e.str(spec.hostname);
  e.str(spec.domainname);
  e.u64(spec.sysctls.size());
  for (auto& [key, value] : spec.sysctls) {
    if (key.empty() || key.find('/') != std::string::npos || key.find("..") != std::string::npos)
      return make_error(ec::invalid_argument, "invalid sysctl: " + key);
    e.str(key);
    e.str(value);
  }
  e.i64(spec.shm_size > 0 ? spec.shm_size : int64_t{64} << 20);
  e.u64(spec.mounts.size());
  for (auto& m : spec.mounts) {
    if (m.destination.empty() || m.destination[0] != '/')
      return make_error(ec::invalid_argument,
                        "invalid mount destination (not absolute): " + m.destination);
    e.str(m.source);
    e.str(m.destination);
    e.str(m.type);
    e.strs(m.options);
  }
  e.strs(masked_paths(spec));
  e.strs(readonly_paths(spec));
  std::vector<host_device> devices; // moby: a privileged container gets every host device
  if (spec.privileged) devices = host_devices();
  e.u64(devices.size());
  for (auto& d : devices) {
    e.str(d.path);
    e.u64(static_cast<uint64_t>(d.type));
    e.u64(d.major);
    e.u64(d.minor);
    e.u64(d.mode);
    e.u64(d.uid);
    e.u64(d.gid);
  }
  e.str(spec.join_net_namespace);
  return e.framed();
}

// The spec of `berth-exec --join` (spec_format.hpp): the process part alone.
caf::expected<std::string> encode_join(const process_spec& spec) {
  encoder e;
  e.u64(berth::exec::spec_format::join_magic);
  uint64_t flags = 0;
  if (spec.tty) flags |= flag_tty;
  if (spec.privileged) flags |= flag_privileged;
  if (spec.no_new_privileges) flags |= flag_no_new_privileges;
  if (auto err = encode_process(e, spec, flags)) return err;
  return e.framed();
}

// The clone3 argument block (linux/sched.h's struct clone_args, which clashes with <sched.h>).
struct clone3_args {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};

// What the child of clone3 needs; all of it prepared by the parent.
struct child_args {
  const char* helper;
  char** argv;
  char** envp;
  int from[6]; // become fds 0..count-1
  int count;
};

// The child between clone3 and execve: async-signal-safe calls only, on memory it shares with
// berthd (CLONE_VM) while berthd's thread waits (CLONE_VFORK). Not instrumented: a sanitizer's
// bookkeeping would write to berthd's shadow memory for this short-lived stack.
__attribute__((no_sanitize_address, no_sanitize_undefined, noinline)) int child_main(void* p) {
  auto* a = static_cast<child_args*>(p);
  for (int i = 0; i < a->count; ++i)
    if (::dup2(a->from[i], i) < 0) return 126;
  ::syscall(SYS_close_range, static_cast<unsigned>(a->count), ~0U, 0U);
  ::syscall(SYS_execve, a->helper, a->argv, a->envp);
  // The helper could not be exec'd (berthd formats the errno).
  static const char msg[] = "Sexec berth-exec: the helper cannot be executed";
  ::syscall(SYS_write, 4, msg, sizeof(msg) - 1);
  return 127;
}

#if defined(__x86_64__)
constexpr bool shared_vm_clone = true;
constexpr size_t child_stack_size = 64 << 10;

// clone3 whose child runs fn(arg) on the stack given in `args` and exits with its result; the
// parent gets clone3's result. (glibc exports no clone3 wrapper that takes a function.)
__attribute__((noinline)) long clone3_run(clone3_args* args, int (*fn)(void*), void* arg) {
  register long r12 asm("r12") = reinterpret_cast<long>(fn);
  register long r13 asm("r13") = reinterpret_cast<long>(arg);
  long ret = SYS_clone3;
  asm volatile("syscall\n\t"
               "test %%rax, %%rax\n\t"
               "jnz 1f\n\t"
               "xor %%ebp, %%ebp\n\t"
               "mov %%r13, %%rdi\n\t"
               "call *%%r12\n\t"
               "mov %%eax, %%edi\n\t"
               "mov %[exit], %%eax\n\t"
               "syscall\n\t"
               "ud2\n"
               "1:"
               : "+a"(ret)
               : "D"(args), "S"(sizeof(clone3_args)), "r"(r12), "r"(r13), [exit] "i"(SYS_exit)
               : "rcx", "r11", "memory", "cc");
  return ret;
}
#else
constexpr bool shared_vm_clone = false;
#endif

// Clone the helper's process (returns its pid, or -errno). Where the architecture allows, as
// posix_spawn does: CLONE_VM | CLONE_VFORK on a stack of its own, so that berthd's page tables
// are not copied (that copy grows with the daemon's memory); elsewhere a plain fork-like clone3.
// Signals stay blocked in the child (no handler of berthd's may run there); the helper unblocks
// them before it execs the command.
long spawn_helper(uint64_t flags, int* pidfd, child_args& child) {
  clone3_args args{};
  args.flags = flags;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = -ENOSYS;
  if constexpr (shared_vm_clone) {
    void* stack = ::mmap(nullptr, child_stack_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
      pid = -errno;
    } else {
      args.flags |= CLONE_VM | CLONE_VFORK;
      args.stack = reinterpret_cast<uint64_t>(stack);
      args.stack_size = child_stack_size;
#if defined(__x86_64__)
      pid = clone3_run(&args, child_main, &child);
#endif
      ::munmap(stack, child_stack_size);
    }
  } else {
    pid = ::syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) ::_exit(child_main(&child));
    if (pid < 0) pid = -errno;
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

// Kill and reap a helper that failed or hung (its exit status is of no interest).
void kill_and_reap(int pidfd) {
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0U);
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED) != 0 && errno == EINTR) {
  }
}

// Removes a container's cgroup unless dismissed (every failure path of start).
struct group_guard {
  cgroups::group* g;
  ~group_guard() {
    if (g) {
      g->kill_all();
      g->remove();
    }
  }
};

// Read the helper's report from the error pipe until EOF (bounded by helper_setup_timeout).
caf::expected<std::string> read_report(int fd) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + helper_setup_timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(ec::timeout, "container setup did not finish within " +
                                         std::to_string(helper_setup_timeout.count()) + " s");
    pollfd p{fd, POLLIN, 0};
    auto r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error("poll error pipe");
    if (r == 0) continue;
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return sys_error("read error pipe");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

caf::error make_pipe(unique_fd& rd, unique_fd& wr) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
  rd.reset(p[0]);
  wr.reset(p[1]);
  return {};
}

// The fds between berthd and a helper it clones: the child's ends (renumbered >= first_free_fd
// for its dup2s) and ours. Stdio are pipes; with a tty /dev/null, which the helper replaces with
// a pty of the container's devpts (its master comes back on the spec channel). The spec channel
// is a socket (a dead helper means EPIPE, never SIGPIPE); the error pipe reports failures.
struct channels {
  unique_fd child_in, child_out, child_err;
  unique_fd mine_in, mine_out, mine_err, mine_pty;
  unique_fd spec_mine, spec_child, report_mine, report_child;

  caf::error open(bool tty, bool open_stdin) {
    if (tty) {
      for (auto* f : {&child_in, &child_out, &child_err}) {
        f->reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!*f) return sys_error("open /dev/null");
      }
    } else {
      if (open_stdin) {
        if (auto err = make_pipe(child_in, mine_in)) return err;
      } else {
        child_in.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!child_in) return sys_error("open /dev/null");
      }
      if (auto err = make_pipe(mine_out, child_out)) return err;
      if (auto err = make_pipe(mine_err, child_err)) return err;
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      return sys_error("socketpair");
    spec_mine.reset(sv[0]);
    spec_child.reset(sv[1]);
    if (auto err = make_pipe(report_mine, report_child)) return err;
    for (auto* f : {&child_in, &child_out, &child_err, &spec_child, &report_child})
      if (auto err = raise_fd(*f)) return err;
    return {};
  }

  /// Once the helper runs: our copies of its ends go.
  void close_child_ends() {
    for (auto* f : {&child_in, &child_out, &child_err, &spec_child, &report_child})
      f->reset();
  }

  /// Hand our ends (non-blocking) to `proc`.
  caf::error give(process& proc) {
    for (auto* f : {&mine_in, &mine_out, &mine_err, &mine_pty})
      if (*f)
        if (auto err = set_nonblocking(f->fd)) return err;
    proc.stdin_fd = mine_in.release();
    proc.stdout_fd = mine_out.release();
    proc.stderr_fd = mine_err.release();
    proc.pty_fd = mine_pty.release();
    return {};
  }
};

// Send all of `data` on the spec channel; false when the helper is gone.
bool send_all(int fd, const char* data, size_t left) {
  while (left > 0) {
    auto n = ::send(fd, data, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false; // the helper died: its report (or its silence) says why
    data += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

// The helper's report: "" once the command was exec'd; else one failure ('I' = the command
// cannot be exec'd: 400, as moby; 'S' = setup: 500) in runc's wording.
caf::error report_error(const std::string& report) {
  if (report.empty()) return {};
  auto kind = report[0];
  auto msg = report.substr(1);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\0'))
    msg.pop_back();
  if (msg.empty()) msg = "container setup failed";
  return make_error(kind == 'I' ? ec::invalid_argument : ec::system, std::move(msg));
}

class native_driver final : public cgroup_owner {
public:
  native_driver(std::string helper, std::unique_ptr<cgroups::manager> mgr)
      : cgroup_owner(std::move(mgr)), helper_(std::move(helper)) {}

  std::string name() const override { return "native"; }

  caf::expected<std::unique_ptr<process>> start(const process_spec& spec) override;

  caf::expected<std::unique_ptr<process>> exec(const join_spec& spec) override {
    return join_container(helper_, spec);
  }

private:
  std::string helper_;
};

caf::expected<std::unique_ptr<process>> native_driver::start(const process_spec& spec) {
  if (spec.id.empty()) return make_error(ec::invalid_argument, "no container ID");
  if (spec.args.empty() || spec.args[0].empty())
    return make_error(ec::invalid_argument, "No command specified");
  if (spec.rootfs.empty() || spec.rootfs[0] != '/')
    return make_error(ec::invalid_argument, "rootfs must be an absolute path: " + spec.rootfs);
  auto payload = encode(spec);
  if (!payload) return payload.error();
  auto proc = std::make_unique<process>();
  channels ch;
  if (auto err = ch.open(spec.tty, spec.open_stdin)) return err;

  // Everything the child touches is ready before clone3: it only dup2s, closes and execs.
  char arg0[] = "berth-exec";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  child_args child{
      helper_.c_str(),
      argv,
      envp,
      {ch.child_in.fd, ch.child_out.fd, ch.child_err.fd, ch.spec_child.fd, ch.report_child.fd, -1},
      5};
  uint64_t flags = CLONE_PIDFD | CLONE_NEWNS;
  if (!spec.host_pid) flags |= CLONE_NEWPID;
  if (!spec.host_uts) flags |= CLONE_NEWUTS;
  if (!spec.host_ipc) flags |= CLONE_NEWIPC;
  if (spec.new_net_namespace) flags |= CLONE_NEWNET;
  int pidfd = -1;
  auto pid = spawn_helper(flags, &pidfd, child);
  if (pid < 0) return sys_error("clone3", static_cast<int>(-pid));
  unique_fd pidfd_owner{pidfd};
  ch.close_child_ends();

  auto fail = [&](caf::error err) {
    kill_and_reap(pidfd_owner.fd);
    return err;
  };
  // The spec goes first: the helper sets the container up while we make its cgroup.
  bool sent = send_all(ch.spec_mine.fd, payload->data(), payload->size());

  // The container's cgroup, with its limits. The helper waits for the go below before it
  // enters its cgroup namespace and runs the command, so nothing of the container's runs outside.
  std::unique_ptr<cgroups::group> group;
  {
    auto g = open_group(spec.cgroup_parent, spec.id);
    if (!g) return fail(g.error());
    group = std::move(*g);
  }
  group_guard cleanup{group.get()};
  if (auto err = group->apply(spec.resources)) return fail(std::move(err));
  if (auto err = group->limit_devices(spec.privileged)) return fail(std::move(err));
  if (auto err = group->add(static_cast<pid_t>(pid))) return fail(std::move(err));
  if (spec.prestart)
    if (auto err = spec.prestart(static_cast<pid_t>(pid))) return fail(std::move(err));
  const char go = 'G';
  sent = sent && send_all(ch.spec_mine.fd, &go, 1);
  ::shutdown(ch.spec_mine.fd, SHUT_WR); // with a tty, the helper sends the pty back

  auto report = read_report(ch.report_mine.fd);
  if (!report) return fail(report.error());
  if (auto err = report_error(*report)) return fail(std::move(err));
  if (!sent) return fail(make_error(ec::system, "container setup failed: the helper exited"));
  if (spec.tty) {
    if (auto err = io::receive_fd(ch.spec_mine.fd, ch.mine_pty))
      return fail(make_error(ec::system, "container setup failed: no pty from the helper: " +
                                             error_message(err)));
    if (spec.rows != 0 && spec.cols != 0)
      if (auto err = resize_pty(ch.mine_pty.fd, spec.rows, spec.cols)) return fail(std::move(err));
  }

  if (auto err = ch.give(*proc)) return fail(std::move(err));
  proc->pid = static_cast<pid_t>(pid);
  proc->pidfd = pidfd_owner.release();
  cleanup.g = nullptr;
  proc->cgroup = std::move(group);
  return proc;
}

// The helper's hand-over after --join: the command's pid (data), its pidfd and, with a tty,
// the pty master (SCM_RIGHTS). Nothing (EOF) when the helper failed before.
caf::error receive_command(int sock, pid_t& pid, unique_fd& pidfd, unique_fd& pty) {
  int32_t p = 0;
  std::vector<unique_fd> fds;
  auto n = io::receive_fds(sock, &p, sizeof(p), fds, 2, MSG_DONTWAIT);
  if (!n) return sys_error("receive the exec'd command");
  if (!fds.empty()) pidfd = std::move(fds[0]);
  if (fds.size() > 1) pty = std::move(fds[1]);
  if (*n != sizeof(p) || !pidfd)
    return make_error(ec::system, "exec failed: the helper handed no process over");
  pid = static_cast<pid_t>(p);
  return {};
}

} // namespace

// docker exec (both drivers). The protocol, as start's with these differences:
//   - the helper runs `berth-exec --join` in berthd's namespaces, with fd 5 a pidfd of the
//     container's first process; berthd moves it into the container's cgroup before it sends
//     the spec, so all it forks runs there;
//   - the helper joins the container's namespaces at once (setns on the pidfd), makes the pty
//     in the container's devpts (tty), then forks the command with CLONE_PARENT, so that the
//     command is berthd's child (in the container's PID namespace) and is watched through its
//     pidfd like a container; it hands the pid, the pidfd and the pty master back on fd 3 and
//     exits;
//   - fd 4 reaches EOF once the command is exec'd (or reports why it could not be).
caf::expected<std::unique_ptr<process>> join_container(const std::string& helper,
                                                       const join_spec& js) {
  auto& spec = js.process;
  if (spec.args.empty() || spec.args[0].empty())
    return make_error(ec::invalid_argument, "No exec command specified");
  if (js.target_pidfd < 0 || js.cgroup == nullptr)
    return make_error(ec::conflict, "the container has no running process");
  auto payload = encode_join(spec);
  if (!payload) return payload.error();
  channels ch;
  if (auto err = ch.open(spec.tty, spec.open_stdin)) return err;
  unique_fd target{::fcntl(js.target_pidfd, F_DUPFD_CLOEXEC, first_free_fd)};
  if (!target) return sys_error("dup the container's pidfd");

  char arg0[] = "berth-exec";
  char arg1[] = "--join";
  char* argv[] = {arg0, arg1, nullptr};
  char* envp[] = {nullptr};
  child_args child{helper.c_str(),
                   argv,
                   envp,
                   {ch.child_in.fd, ch.child_out.fd, ch.child_err.fd, ch.spec_child.fd,
                    ch.report_child.fd, target.fd},
                   6};
  int pidfd = -1;
  auto pid = spawn_helper(CLONE_PIDFD, &pidfd, child);
  if (pid < 0) return sys_error("clone3", static_cast<int>(-pid));
  unique_fd helper_pidfd{pidfd};
  ch.close_child_ends();
  target.reset();

  unique_fd command_pidfd;
  auto fail = [&](caf::error err) {
    if (helper_pidfd) kill_and_reap(helper_pidfd.fd);
    if (command_pidfd) kill_and_reap(command_pidfd.fd);
    return err;
  };
  if (auto err = js.cgroup->add(static_cast<pid_t>(pid))) return fail(std::move(err));
  bool sent = send_all(ch.spec_mine.fd, payload->data(), payload->size());
  ::shutdown(ch.spec_mine.fd, SHUT_WR);
  auto report = read_report(ch.report_mine.fd);
  // The helper exits once it handed the command over (or failed): reap it.
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(helper_pidfd.fd), &info, WEXITED) != 0 &&
         errno == EINTR) {
  }
  helper_pidfd.reset();
  pid_t command_pid = -1;
  auto handed = receive_command(ch.spec_mine.fd, command_pid, command_pidfd, ch.mine_pty);
  if (!report) return fail(report.error());
  if (auto err = report_error(*report)) return fail(std::move(err));
  if (!sent) return fail(make_error(ec::system, "exec failed: the helper exited"));
  if (handed) return fail(std::move(handed));
  if (spec.tty && !ch.mine_pty)
    return fail(make_error(ec::system, "exec failed: no pty from the helper"));
  if (spec.tty && spec.rows != 0 && spec.cols != 0)
    if (auto err = resize_pty(ch.mine_pty.fd, spec.rows, spec.cols)) return fail(std::move(err));
  auto proc = std::make_unique<process>();
  if (auto err = ch.give(*proc)) return fail(std::move(err));
  proc->pid = command_pid;
  proc->pidfd = command_pidfd.release();
  return proc;
}

caf::expected<std::unique_ptr<driver>> make_native_driver(const std::string& helper,
                                                          const std::string& cgroup_root) {
  if (helper.empty() || helper[0] != '/')
    return make_error(ec::invalid_argument, "berth-exec path must be absolute: " + helper);
  if (::access(helper.c_str(), X_OK) != 0) return sys_error("berth-exec at " + helper);
  auto mgr = cgroups::make_manager(cgroup_root);
  if (!mgr) return mgr.error();
  return std::unique_ptr<driver>{new native_driver(helper, std::move(*mgr))};
}

} // namespace berth::exec::detail
