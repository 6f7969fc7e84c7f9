// One `docker stats` sample (see stats.hpp).
#include "drivers/exec/stats.hpp"

#include "drivers/io.hpp"
#include "messages/error.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <string_view>

namespace berth::exec {

namespace {

/// A whole (small, procfs) file: read until EOF, as procfs reports no size.
caf::expected<std::string> slurp(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io::sys_error("cannot read " + path, errno);
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return io::sys_error("cannot read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i])))
      ++i;
    auto start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])))
      ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool to_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

/// Calls `f(line)` for each line of `s`.
template <class F> void each_line(std::string_view s, F f) {
  while (!s.empty()) {
    auto nl = s.find('\n');
    f(s.substr(0, nl));
    s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
  }
}

int64_t wall_nano() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

caf::expected<uint64_t> system_cpu_usage(const host_files& host) {
  auto path = host.proc + "/stat";
  auto text = slurp(path);
  if (!text) return text.error();
  static const uint64_t ticks = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<uint64_t>(t) : uint64_t{100};
  }();
  caf::expected<uint64_t> result =
      make_error(ec::system, "invalid format while trying to parse " + path);
  bool found = false;
  each_line(*text, [&](std::string_view line) {
    if (found) return;
    auto f = fields_of(line);
    if (f.empty() || f[0] != "cpu") return;
    found = true;
    if (f.size() < 8) {
      result = make_error(ec::system, "invalid number of cpu fields in " + path);
      return;
    }
    uint64_t total = 0;
    for (std::size_t i = 1; i < 8; ++i) {
      uint64_t v = 0;
      if (!to_u64(f[i], v)) {
        result =
            make_error(ec::system, "unable to convert value " + std::string{f[i]} + " in " + path);
        return;
      }
      total += v;
    }
    result = total * (1000000000 / ticks);
  });
  return result;
}

uint32_t online_cpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint32_t>(n) : 0;
}

uint64_t host_memory(const host_files& host) {
  auto text = slurp(host.proc + "/meminfo");
  if (!text) return 0;
  uint64_t kib = 0;
  each_line(*text, [&](std::string_view line) {
    auto f = fields_of(line);
    if (f.size() >= 2 && f[0] == "MemTotal:") to_u64(f[1], kib);
  });
  return kib * 1024;
}

caf::expected<std::vector<network_stats>> read_net_dev(const std::string& path) {
  auto text = slurp(path);
  if (!text) return text.error();
  std::vector<network_stats> out;
  caf::error bad;
  each_line(*text, [&](std::string_view line) {
    // "  eth0: 1234 5 0 0 0 0 0 0 678 9 0 0 0 0 0 0"; the two header lines have no colon
    // before the fields (the first has "|" only).
    auto colon = line.find(':');
    if (colon == std::string_view::npos || bad) return;
    auto name = fields_of(line.substr(0, colon));
    auto f = fields_of(line.substr(colon + 1));
    if (name.size() != 1) return;
    if (f.size() < 16) {
      bad = make_error(ec::system, "invalid line in " + path + ": " + std::string{line});
      return;
    }
    network_stats n;
    n.name = std::string{name[0]};
    uint64_t* rx[] = {&n.rx_bytes, &n.rx_packets, &n.rx_errors, &n.rx_dropped};
    uint64_t* tx[] = {&n.tx_bytes, &n.tx_packets, &n.tx_errors, &n.tx_dropped};
    for (std::size_t i = 0; i < 4; ++i)
      if (!to_u64(f[i], *rx[i]) || !to_u64(f[8 + i], *tx[i])) {
        bad = make_error(ec::system, "invalid line in " + path + ": " + std::string{line});
        return;
      }
    if (n.name != "lo") out.push_back(std::move(n));
  });
  if (bad) return bad;
  return out;
}

caf::expected<container_stats> sample_stats(const cgroups::group& group, pid_t pid, bool networks,
                                            const host_files& host) {
  container_stats s;
  s.running = true;
  auto cg = group.read_stats();
  if (!cg) return cg.error();
  // As close to the cgroup's figures as possible (moby samples them right after).
  s.read_nano = wall_nano();
  auto system = system_cpu_usage(host);
  if (!system) return system.error();
  s.system_cpu_usage = *system;
  s.online_cpus = online_cpus();
  s.cgroup = std::move(*cg);
  // moby: "if the container does not set memory limit, use the machineMemory"
  static const uint64_t mem_total = host_memory(host_files{}); // it does not change
  auto machine = host.proc == host_files{}.proc ? mem_total : host_memory(host);
  if (machine > 0 && s.cgroup.memory_limit > machine) s.cgroup.memory_limit = machine;
  if (networks && pid > 0) {
    auto nets = read_net_dev(host.proc + "/" + std::to_string(pid) + "/net/dev");
    if (!nets) return nets.error();
    s.networks = std::move(*nets);
  }
  return s;
}

} // namespace berth::exec
