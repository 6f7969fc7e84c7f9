// Resource usage of a container (`docker stats`, GET /containers/{id}/stats), in moby's units:
// what the exec driver reads from the container's cgroup and from the host, as one sample. The
// api turns samples into Docker's JSON (api/stats.cpp). Nothing here does work.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace berth {

/// One entry of a blkio list: a line of a v1 blkio file ("8:0 Read 4096": op as the kernel
/// writes it, "" for files without one) or one direction of a v2 io.stat line (op "read" or
/// "write").
struct blkio_entry {
  uint64_t major = 0;
  uint64_t minor = 0;
  std::string op;
  uint64_t value = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, blkio_entry& x) {
  return f(caf::meta::type_name("berth.blkio_entry"), x.major, x.minor, x.op, x.value);
}

/// What one container's cgroup reports (cgroups::group::read_stats), as moby's statsV1 and
/// statsV2 copy it from containerd's metrics. Times are nanoseconds, sizes bytes.
struct cgroup_stats {
  int32_t version = 1; // 1 or 2: moby fills some fields on one only
  // CPU: v1 cpuacct.usage, cpuacct.stat (ticks made ns), cpu.stat; v2 cpu.stat (usec made ns).
  uint64_t cpu_total = 0;
  uint64_t cpu_kernel = 0;
  uint64_t cpu_user = 0;
  std::vector<uint64_t> cpu_percpu; // v1 cpuacct.usage_percpu; v2 has none
  uint64_t throttling_periods = 0;
  uint64_t throttled_periods = 0;
  uint64_t throttled_time = 0;
  // Memory: v1 memory.usage_in_bytes, max_usage_in_bytes, failcnt, limit_in_bytes; v2
  // memory.current and memory.max (no max_usage, no failcnt). "max" is UINT64_MAX here.
  bool has_memory = false;
  uint64_t memory_usage = 0;
  uint64_t memory_max_usage = 0;
  uint64_t memory_failcnt = 0;
  uint64_t memory_limit = 0;
  std::map<std::string, uint64_t> memory_stat; // memory.stat, with the keys moby passes on
  // Pids: pids.current and pids.max ("max" is 0, as containerd reads it).
  uint64_t pids_current = 0;
  uint64_t pids_limit = 0;
  // Block I/O, moby's eight lists in its order. v1: the CFQ files when the kernel has them,
  // else throttle.io_service_bytes and throttle.io_serviced; v2: io.stat's rbytes/wbytes as
  // io_service_bytes only.
  bool has_blkio = false; // v1: the blkio controller is mounted (its lists are [] when empty)
  std::vector<blkio_entry> io_service_bytes;
  std::vector<blkio_entry> io_serviced;
  std::vector<blkio_entry> io_queued;
  std::vector<blkio_entry> io_service_time;
  std::vector<blkio_entry> io_wait_time;
  std::vector<blkio_entry> io_merged;
  std::vector<blkio_entry> io_time;
  std::vector<blkio_entry> sectors;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, cgroup_stats& x) {
  return f(caf::meta::type_name("berth.cgroup_stats"), x.version, x.cpu_total, x.cpu_kernel,
           x.cpu_user, x.cpu_percpu, x.throttling_periods, x.throttled_periods, x.throttled_time,
           x.has_memory, x.memory_usage, x.memory_max_usage, x.memory_failcnt, x.memory_limit,
           x.memory_stat, x.pids_current, x.pids_limit, x.has_blkio, x.io_service_bytes,
           x.io_serviced, x.io_queued, x.io_service_time, x.io_wait_time, x.io_merged, x.io_time,
           x.sectors);
}

/// One network interface of the container's namespace (/proc/<pid>/net/dev).
struct network_stats {
  std::string name;
  uint64_t rx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t rx_errors = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_errors = 0;
  uint64_t tx_dropped = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, network_stats& x) {
  return f(caf::meta::type_name("berth.network_stats"), x.name, x.rx_bytes, x.rx_packets,
           x.rx_errors, x.rx_dropped, x.tx_bytes, x.tx_packets, x.tx_errors, x.tx_dropped);
}

/// One sample of a container (the `container_stats` job's output). A container that does not
/// run (or restarts) gives moby's empty stats: `running` false, only `id` and `name` set.
struct container_stats {
  std::string id;
  std::string name; // "/name"
  bool running = false;
  int64_t read_nano = 0; // wall clock of the sample
  cgroup_stats cgroup;
  uint64_t system_cpu_usage = 0; // /proc/stat's cpu line, ns (moby's getSystemCPUUsage)
  uint32_t online_cpus = 0;
  std::vector<network_stats> networks; // not lo; none for --network host or none (as moby)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_stats& x) {
  return f(caf::meta::type_name("berth.container_stats"), x.id, x.name, x.running, x.read_nano,
           x.cgroup, x.system_cpu_usage, x.online_cpus, x.networks);
}

} // namespace berth
