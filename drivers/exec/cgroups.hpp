// Control groups for containers, on cgroup v2, v1 and hybrid hosts (this project's build machines
// are hybrid: v1 controllers under /sys/fs/cgroup/<controller>, an empty cgroup2 at
// /sys/fs/cgroup/unified). The layout is detected once; every container gets one cgroup named
// `<parent>/<id>` in each controller berth uses (v1: memory, cpu, cpuacct, cpuset, pids, freezer,
// devices, blkio; v2: one directory with the controllers enabled on the way down).
//
// Defaults: parent "berth" (as dockerd's "docker"); `--cgroup-parent` may name another.
#pragma once

#include "messages/stats.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace berth::cgroups {

enum class version { v1, v2 };

/// Resource limits, in Docker's units (HostConfig). Zero means "not set".
struct resources {
  int64_t memory = 0;             // bytes
  int64_t memory_swap = 0;        // memory + swap; -1 = unlimited
  int64_t memory_reservation = 0; // soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low)
  int64_t memory_swappiness = -1; // v1 only; -1 = not set
  bool oom_kill_disable = false;  // v1 only
  int64_t cpu_shares = 0;         // v1 cpu.shares; v2 cpu.weight converted as runc does
  int64_t cpu_period = 0;         // microseconds
  int64_t cpu_quota = 0;          // microseconds; with nano_cpus: period 100000
  int64_t nano_cpus = 0;          // 1e9 = one CPU
  std::string cpuset_cpus;
  std::string cpuset_mems;
  int64_t pids_limit = 0; // 0 or -1 = unlimited
};

/// Memory, CPU and pids figures of one cgroup (for stats and OOM detection).
struct usage {
  uint64_t memory_usage = 0;
  uint64_t memory_limit = 0;
  uint64_t oom_kills = 0; // v1 memory.oom_control oom_kill, v2 memory.events oom_kill
  uint64_t cpu_usage_ns = 0;
  uint64_t pids_current = 0;
};

/// One container's cgroup (in every controller). Not thread-safe; one owner.
class group {
public:
  virtual ~group() = default;
  /// Move process `pid` into the group (every controller).
  virtual caf::error add(pid_t pid) = 0;
  /// Apply limits (at create, and `docker update` later).
  virtual caf::error apply(const resources& r) = 0;
  /// Device access, once before the container runs: Docker's default rules (mknod of any node;
  /// read, write and open of null, zero, full, random, urandom, tty, console, ptmx, pts and
  /// tun only), or every device for a privileged container. v1's devices controller; on v2 it
  /// needs an eBPF device program, which berth does not load (no error, nothing restricted).
  virtual caf::error limit_devices(bool all) = 0;
  /// Freeze / thaw every process (pause, unpause); returns once the state is reached.
  virtual caf::error freeze() = 0;
  virtual caf::error thaw() = 0;
  /// The PIDs in the group (host PID namespace), e.g. for `docker top`.
  virtual caf::expected<std::vector<pid_t>> pids() const = 0;
  /// SIGKILL every process in the group (thawing it first), until it is empty or 1 s passed.
  virtual caf::error kill_all() = 0;
  virtual caf::expected<usage> read_usage() const = 0;
  /// Everything `docker stats` shows, as moby copies it from containerd's v1/v2 metrics (see
  /// cgroup_stats). Missing files read as 0; a group whose directory is gone is not_found.
  virtual caf::expected<cgroup_stats> read_stats() const = 0;
  /// Remove the group's directories (it must be empty: kill_all first). Missing is not an error.
  virtual caf::error remove() = 0;
  /// The path of the group in the memory controller (v1) or the unified hierarchy (v2), e.g.
  /// /sys/fs/cgroup/memory/berth/<id>: for logs and tests.
  virtual std::string path() const = 0;
};

class manager {
public:
  virtual ~manager() = default;
  virtual cgroups::version version() const = 0;
  /// "cgroupfs" (berth does not use systemd's cgroup driver).
  virtual std::string driver() const = 0;
  /// Create (or open, after a daemon restart) the group of container `id` under `parent`
  /// ("" = "berth"). Missing controllers are skipped, as long as no limit needs them.
  virtual caf::expected<std::unique_ptr<group>> open(const std::string& parent,
                                                     const std::string& id) = 0;
  /// The IDs of the groups that exist under `parent` (cleaning up after a crash).
  virtual std::vector<std::string> list(const std::string& parent) const = 0;
};

/// Detect the host's layout under `root` (default /sys/fs/cgroup; tests pass a fake tree).
caf::expected<std::unique_ptr<manager>> make_manager(const std::string& root = "/sys/fs/cgroup");

/// The group's path below each hierarchy's root, "/berth/<id>" (an OCI cgroupsPath).
caf::expected<std::string> relative_path(const std::string& parent, const std::string& id);

/// Validation with Docker's wording, e.g. "Minimum memory limit allowed is 6MB".
caf::error validate(const resources& r);

} // namespace berth::cgroups
