// One `docker stats` sample of a running container: its cgroup (cgroups::group::read_stats)
// plus what moby reads from the host at the same moment: the system CPU time and the online
// CPUs (daemon/stats/collector_unix.go), MemTotal (the memory limit of an unlimited container)
// and the container's network interfaces. Blocking file reads: call off the actor threads.
#pragma once

#include "drivers/exec/cgroups.hpp"
#include "messages/stats.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace berth::exec {

/// Where the host's files are (tests pass a fake /proc).
struct host_files {
  std::string proc = "/proc";
};

/// moby's system CPU usage: the first seven fields of /proc/stat's "cpu" line (user nice
/// system idle iowait irq softirq), in clock ticks, made nanoseconds.
caf::expected<uint64_t> system_cpu_usage(const host_files& host = {});

/// The CPUs online (sysconf _SC_NPROCESSORS_ONLN, as moby 20.10).
uint32_t online_cpus();

/// MemTotal of /proc/meminfo in bytes; 0 when unknown.
uint64_t host_memory(const host_files& host = {});

/// The interfaces of a /proc/<pid>/net/dev file except lo, in the file's order.
caf::expected<std::vector<network_stats>> read_net_dev(const std::string& path);

/// A sample of a running container: `group` is its cgroup, `pid` its init (host PID namespace).
/// `networks`: read the interfaces of its network namespace (false for --network host and none,
/// which moby reports without networks). An unlimited memory limit is the host's MemTotal.
caf::expected<container_stats> sample_stats(const cgroups::group& group, pid_t pid, bool networks,
                                            const host_files& host = {});

} // namespace berth::exec
