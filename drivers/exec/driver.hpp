// The exec driver interface: starts a container's first process in its own namespaces and
// cgroup, signals it, pauses it and cleans up after it. Two implementations, chosen by
// `-e/--exec-driver`: native (berth's own helper, `berth-exec`) and oci (an OCI bundle run by
// runc or crun).
//
// A started process is watched by the caller: exits come through the pidfd (waitid P_PIDFD),
// never by polling. start() blocks for the few milliseconds the helper needs to set the
// container up and exec the command; callers run it off the actor threads (run_detached).
#pragma once

#include "drivers/exec/cgroups.hpp"
#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <vector>

namespace berth::exec {

/// A mount inside the container, applied after the standard ones (/proc, /sys, /dev, ...).
struct mount_spec {
  std::string source;
  std::string destination;          // absolute, inside the container
  std::string type;                 // bind, tmpfs, ...
  std::vector<std::string> options; // ro, rbind, nosuid, size=..., mode=...
};

/// Everything needed to start a container's first process. Built by the container actor from
/// the container config merged with the image config.
struct process_spec {
  std::string id;                // the container ID: the cgroup name
  std::string rootfs;            // the graph driver's mount (merged root)
  std::vector<std::string> args; // argv; args[0] without a '/' is looked up in the env's PATH
  std::vector<std::string> env;  // KEY=VALUE, PATH included
  std::string cwd = "/";         // created (owned by root, as moby) when missing
  std::string user;              // "", uid, uid:gid, name, name:group (container's /etc/passwd)
  std::vector<std::string> additional_groups; // --group-add: names or GIDs
  std::string hostname;
  std::string domainname;
  bool tty = false;        // a pty: stdin/stdout/stderr on one terminal
  bool open_stdin = false; // a stdin pipe (else /dev/null)
  bool init = false; // a minimal reaping init as PID 1 (forwards signals, exits with the child)
  bool privileged = false;
  bool readonly_rootfs = false;
  bool no_new_privileges = false;
  std::vector<std::string> cap_add; // CAP_X; "ALL"
  std::vector<std::string> cap_drop;
  std::vector<ulimit> rlimits; // on top of the defaults (the daemon's, clamped to hard)
  std::map<std::string, std::string> sysctls;
  int64_t shm_size = 64 << 20;
  std::vector<mount_spec> mounts;
  bool new_net_namespace = true;  // false: the host's network (--network host)
  std::string join_net_namespace; // a netns to join instead (--network container:<id>)
  bool host_pid = false;
  bool host_ipc = false;
  bool host_uts = false;
  std::vector<std::string> masked_paths;   // empty: Docker's defaults (unless privileged)
  std::vector<std::string> readonly_paths; // empty: Docker's defaults (unless privileged)
  cgroups::resources resources;
  std::string cgroup_parent; // "" = berth
  uint16_t rows = 0;         // initial pty size (0 = the kernel default)
  uint16_t cols = 0;
  /// Run once the process exists in its namespaces, before the command runs (the veth of the
  /// bridge network is wired into its network namespace here). An error fails the start.
  std::function<caf::error(pid_t)> prestart;
};

/// A process to run inside a running container (docker exec): it joins every namespace of the
/// container's first process and the container's cgroup, then runs `process` (args, env, cwd,
/// user, tty, stdin, capabilities, rlimits; the namespace, mount and cgroup fields are unused).
struct join_spec {
  process_spec process;
  int target_pidfd = -1;            // the container's first process (borrowed)
  pid_t target_pid = -1;            // the same, for messages
  cgroups::group* cgroup = nullptr; // the container's cgroup (borrowed)
};

/// A running container process and the caller's ends of its stdio. Owns its file descriptors.
struct process {
  process() = default;
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process();
  pid_t pid = -1;     // in the host PID namespace
  int pidfd = -1;     // for waitid(P_PIDFD) and pidfd_send_signal
  int stdin_fd = -1;  // write end; -1 unless open_stdin (and not tty)
  int stdout_fd = -1; // read end; with a tty: -1
  int stderr_fd = -1; // read end; with a tty: -1
  int pty_fd = -1;    // the pty master with a tty (read output, write input, resize)
  std::unique_ptr<cgroups::group> cgroup;
};

class driver {
public:
  virtual ~driver() = default;
  /// "native" or "oci".
  virtual std::string name() const = 0;
  /// Start the process; returns once it runs the command. A failure to exec the command uses
  /// runc's wording, which the CLI maps to exit codes: `exec: "x": executable file not found in
  /// $PATH` (127), `... no such file or directory` (127), `... permission denied` (126).
  /// Errors of that kind are ec::invalid_argument (400, as moby); others ec::system (500).
  virtual caf::expected<std::unique_ptr<process>> start(const process_spec& spec) = 0;
  /// docker exec: start a process in a running container (see join_spec). The process is the
  /// caller's child, watched through its pidfd like a container's; it has no cgroup of its own
  /// (`cgroup` is null). Errors as start()'s.
  virtual caf::expected<std::unique_ptr<process>> exec(const join_spec& spec) = 0;
  /// The group of container `id` after a daemon restart (to kill leftovers), or an error.
  virtual caf::expected<std::unique_ptr<cgroups::group>> open_group(const std::string& parent,
                                                                    const std::string& id) = 0;
  /// `docker info`: CgroupDriver, CgroupVersion.
  virtual std::string cgroup_driver() const = 0;
  virtual std::string cgroup_version() const = 0;
};

/// What both drivers share: one cgroups manager, used under a lock (starts run concurrently),
/// the groups opened through it, and what `docker info` reads of it.
class cgroup_owner : public driver {
public:
  explicit cgroup_owner(std::unique_ptr<cgroups::manager> mgr);
  caf::expected<std::unique_ptr<cgroups::group>> open_group(const std::string& parent,
                                                            const std::string& id) override;
  std::string cgroup_driver() const override;
  std::string cgroup_version() const override;

private:
  std::unique_ptr<cgroups::manager> cgroups_;
  std::mutex mtx_;
};

/// The capability set of moby's TweakCapabilities (bit n = capability n): Docker's defaults plus
/// cap_add minus cap_drop ("ALL" allowed; names with or without CAP_, any case); every
/// capability the kernel has when privileged. 400 for an unknown name.
caf::expected<uint64_t> capability_set(const process_spec& spec);
/// "CAP_CHOWN" for 0; "" when unknown.
std::string capability_name(int n);
/// The kernel's highest capability number (/proc/sys/kernel/cap_last_cap).
int last_capability();
/// The RLIMIT_* number of a `--ulimit`, checked (400 for an unknown name or soft > hard).
caf::expected<int> rlimit_resource(const ulimit& u);
/// A ulimit value as setrlimit takes it (-1 = unlimited).
uint64_t rlimit_value(int64_t v);
/// The spec's masked and read-only paths: Docker's defaults unless given; none when privileged.
std::vector<std::string> masked_paths(const process_spec& spec);
std::vector<std::string> readonly_paths(const process_spec& spec);

/// A device node of the host, given to privileged containers (moby: all of /dev).
struct host_device {
  std::string path; // under /dev
  char type;        // 'c' or 'b'
  uint32_t major, minor;
  uint32_t mode; // permission bits
  uint32_t uid, gid;
};
/// The char and block devices under `dir`, as containerd's HostDevices finds them: not in pts,
/// shm, fd, mqueue, .lxc, .lxd-mounts or .udev, and not the console.
std::vector<host_device> host_devices(const std::string& dir = "/dev");

/// `docker top` as moby runs it: `ps <ps_args>` ("-ef" when empty) on the host, with `-q <pids>`
/// when ps takes it, then the rows of `pids` only; the last column takes what overhangs. 400 for
/// a "k=PID" other than "pid=", 500 when ps fails or shows no PID column.
caf::expected<std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>>>
top(const std::vector<pid_t>& pids, const std::string& ps_args);

/// Set a pty's window size.
caf::error resize_pty(int pty_fd, uint16_t rows, uint16_t cols);

/// Signal numbers by Docker's names: "KILL", "SIGKILL", "9", "SIGRTMIN+3"; -1 when unknown.
int parse_signal(const std::string& name);
/// "SIGTERM" for 15.
std::string signal_name(int sig);

/// The native driver; `helper` is the path of the berth-exec binary (by default next to the
/// daemon's executable). Fails when cgroups cannot be set up.
caf::expected<std::unique_ptr<driver>>
make_native(const std::string& helper, const std::string& cgroup_root = "/sys/fs/cgroup");

/// The oci driver: `runtime` (runc, crun: a name looked up in PATH, or a path) runs bundles kept
/// under `state_dir` (bundles/ and the runtime's state/); `helper` is berth-exec, mounted as
/// /sbin/docker-init for `--init`. Makes berthd a child subreaper. Fails when the runtime does
/// not run. `runtime_args` go before the runtime's command (daemon.json "runtimeArgs").
caf::expected<std::unique_ptr<driver>> make_oci(const std::string& runtime,
                                                const std::string& state_dir,
                                                const std::string& helper,
                                                const std::string& cgroup_root = "/sys/fs/cgroup",
                                                const std::vector<std::string>& runtime_args = {});

namespace detail {
/// docker exec for both drivers: berth-exec joins the container's namespaces (setns through the
/// pidfd), then forks the command as berthd's child (CLONE_PARENT). See native/native.cpp.
caf::expected<std::unique_ptr<process>> join_container(const std::string& helper,
                                                       const join_spec& spec);
} // namespace detail

/// The path of berth-exec next to the running executable.
std::string default_helper_path();

} // namespace berth::exec
