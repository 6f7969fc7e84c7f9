// Control groups (see cgroups.hpp). Every file access is relative to the manager's root, so
// tests run on a fake tree of plain files.
//
// On-disk layout (cgroupfs, no systemd):
//   v1:  <root>/<controller>/<parent>/<id>/   for each controller present (cpu and cpuacct may
//        be one directory, e.g. <root>/cpu,cpuacct with symlinks cpu and cpuacct)
//   v2:  <root>/<parent>/<id>/                with +cpu +memory +pids +cpuset +io enabled in the
//        cgroup.subtree_control of <root> and of every directory of <parent>
#include "drivers/exec/cgroups.hpp"
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <thread>

namespace berth::cgroups {

namespace {

using io::sys_error;
using io::unique_fd;

using clock_type = std::chrono::steady_clock;

/// How long freeze, thaw and kill_all wait for the kernel.
constexpr auto settle_timeout = std::chrono::seconds(1);
/// The first and the longest sleep between two polls.
constexpr auto poll_first = std::chrono::microseconds(100);
constexpr auto poll_max = std::chrono::milliseconds(10);

/// Docker's minimum memory limit (linuxMinMemory).
constexpr int64_t min_memory = 6 * 1024 * 1024;
/// The CFS period Docker uses with --cpus (nano_cpus).
constexpr int64_t nano_cpus_period = 100000;

/// The v1 controllers berth uses, in the order the group's directories are created.
const char* const v1_controllers[] = {"memory", "cpu",     "cpuacct", "cpuset",
                                      "pids",   "freezer", "devices", "blkio"};
/// runc's default device rules (what moby's containers get), after a deny of everything.
const char* const default_device_rules[] = {
    "c *:* m",   "b *:* m",   "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",   "c 1:8 rwm",
    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"};
/// The v2 controllers berth enables on the way down.
const char* const v2_controllers[] = {"cpu", "memory", "pids", "cpuset", "io"};

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// Reads a (small) control file into `out`; returns 0 or the errno.
int read_control(const std::string& path, std::string& out) {
  out.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return 0;
}

caf::expected<std::string> read_string(const std::string& path) {
  std::string out;
  if (int err = read_control(path, out)) return sys_error("cannot read " + path, err);
  return out;
}

/// Writes `value` to a control file in one write(2), as the kernel expects. The file must
/// exist (no O_CREAT: cgroupfs files cannot be created, and a missing one is a missing feature).
caf::error write_control(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return sys_error("cannot write " + value + " to " + path, errno);
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  int err = n < 0 ? errno : 0;
  ::close(fd);
  if (err != 0) return sys_error("cannot write " + value + " to " + path, err);
  return caf::none;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == '\n' || s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  return s;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
      ++i;
    auto start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])))
      ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  s = trim(s);
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    auto d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

/// A number file; missing is 0 (the controller or the kernel lacks it), "max" is UINT64_MAX.
caf::expected<uint64_t> read_u64(const std::string& path) {
  std::string s;
  int err = read_control(path, s);
  if (err == ENOENT) return uint64_t{0};
  if (err != 0) return sys_error("cannot read " + path, err);
  if (trim(s) == "max") return std::numeric_limits<uint64_t>::max();
  uint64_t v = 0;
  if (!parse_u64(s, v))
    return make_error(ec::system, "unexpected content in " + path + ": " + std::string{trim(s)});
  return v;
}

/// The value of `key` in a flat keyed file ("oom_kill 3\n..."); missing file or key is 0.
caf::expected<uint64_t> read_keyed(const std::string& path, std::string_view key) {
  std::string s;
  int err = read_control(path, s);
  if (err == ENOENT) return uint64_t{0};
  if (err != 0) return sys_error("cannot read " + path, err);
  std::string_view rest{s};
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    auto fields = split_ws(line);
    uint64_t v = 0;
    if (fields.size() == 2 && fields[0] == key && parse_u64(fields[1], v)) return v;
  }
  return uint64_t{0};
}

caf::expected<std::vector<pid_t>> read_pids(const std::string& path) {
  auto s = read_string(path);
  if (!s) return s.error();
  std::vector<pid_t> out;
  for (auto f : split_ws(*s)) {
    uint64_t v = 0;
    if (parse_u64(f, v) && v > 0 && v <= static_cast<uint64_t>(std::numeric_limits<pid_t>::max()))
      out.push_back(static_cast<pid_t>(v));
  }
  return out;
}

// -- stats (docker stats; see read_stats in cgroups.hpp) -------------------------------------

/// The keys of memory.stat moby passes on (daemon statsV1 / statsV2); missing ones are 0.
constexpr std::string_view v1_memory_keys =
    "cache rss rss_huge mapped_file dirty writeback pgpgin pgpgout pgfault pgmajfault "
    "inactive_anon active_anon inactive_file active_file unevictable hierarchical_memory_limit "
    "hierarchical_memsw_limit total_cache total_rss total_rss_huge total_mapped_file total_dirty "
    "total_writeback total_pgpgin total_pgpgout total_pgfault total_pgmajfault "
    "total_inactive_anon total_active_anon total_inactive_file total_active_file "
    "total_unevictable";
constexpr std::string_view v2_memory_keys =
    "anon file kernel_stack slab sock shmem file_mapped file_dirty file_writeback anon_thp "
    "inactive_anon active_anon inactive_file active_file unevictable slab_reclaimable "
    "slab_unreclaimable pgfault pgmajfault workingset_refault workingset_activate "
    "workingset_nodereclaim pgrefill pgscan pgsteal pgactivate pgdeactivate pglazyfree "
    "pglazyfreed thp_fault_alloc thp_collapse_alloc";

/// Every "key value" line of a flat keyed file (memory.stat, cpu.stat); missing file: empty.
caf::expected<std::map<std::string, uint64_t, std::less<>>>
read_keyed_all(const std::string& path) {
  std::map<std::string, uint64_t, std::less<>> out;
  std::string s;
  int err = read_control(path, s);
  if (err == ENOENT) return out;
  if (err != 0) return sys_error("cannot read " + path, err);
  std::string_view rest{s};
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto fields = split_ws(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    uint64_t v = 0;
    if (fields.size() == 2 && parse_u64(fields[1], v)) out.emplace(std::string{fields[0]}, v);
  }
  return out;
}

uint64_t value_of(const std::map<std::string, uint64_t, std::less<>>& m, std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

/// A space-separated list of numbers (cpuacct.usage_percpu); missing file: empty.
caf::expected<std::vector<uint64_t>> read_numbers(const std::string& path) {
  std::string s;
  std::vector<uint64_t> out;
  int err = read_control(path, s);
  if (err == ENOENT) return out;
  if (err != 0) return sys_error("cannot read " + path, err);
  for (auto f : split_ws(s)) {
    uint64_t v = 0;
    if (!parse_u64(f, v))
      return make_error(ec::system, "unexpected content in " + path + ": " + std::string{f});
    out.push_back(v);
  }
  return out;
}

/// Call `each` with every non-empty line of the control file `path`, split at white space.
/// Missing file: no line.
template <class F> caf::error for_each_line(const std::string& path, F each) {
  std::string s;
  int err = read_control(path, s);
  if (err == ENOENT) return caf::none;
  if (err != 0) return sys_error("cannot read " + path, err);
  std::string_view rest{s};
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    auto fields = split_ws(line);
    if (fields.empty()) continue;
    if (auto e = each(line, fields)) return e;
  }
  return caf::none;
}

/// "MAJ:MIN" of a device.
bool parse_device(std::string_view f, uint64_t& major, uint64_t& minor) {
  auto colon = f.find(':');
  return colon != std::string_view::npos && parse_u64(f.substr(0, colon), major) &&
         parse_u64(f.substr(colon + 1), minor);
}

/// A v1 blkio file, as containerd reads it: "MAJ:MIN OP VALUE" or "MAJ:MIN VALUE" lines; the
/// "Total N" line is skipped. Missing file: nothing.
caf::error read_blkio(const std::string& path, std::vector<blkio_entry>& out) {
  return for_each_line(path, [&](std::string_view line, const auto& fields) -> caf::error {
    if (fields.size() == 2 && fields[0] == "Total") return caf::none;
    blkio_entry e;
    bool ok =
        (fields.size() == 2 || fields.size() == 3) && parse_device(fields[0], e.major, e.minor);
    if (ok && fields.size() == 3) e.op = std::string{fields[1]};
    if (!ok || !parse_u64(fields.back(), e.value))
      return make_error(ec::system, "invalid line in " + path + ": " + std::string{line});
    out.push_back(std::move(e));
    return caf::none;
  });
}

/// v2 io.stat ("MAJ:MIN rbytes=N wbytes=N rios=N ..."): a "read" and a "write" entry per
/// device, as moby's statsV2. Missing file: nothing.
caf::error read_io_stat(const std::string& path, std::vector<blkio_entry>& out) {
  return for_each_line(path, [&](std::string_view, const auto& fields) -> caf::error {
    uint64_t major = 0, minor = 0, rbytes = 0, wbytes = 0;
    if (fields.size() < 2 || !parse_device(fields[0], major, minor)) return caf::none;
    for (std::size_t i = 1; i < fields.size(); ++i) {
      auto eq = fields[i].find('=');
      if (eq == std::string_view::npos) continue;
      auto key = fields[i].substr(0, eq);
      uint64_t v = 0;
      if (!parse_u64(fields[i].substr(eq + 1), v)) continue;
      if (key == "rbytes") rbytes = v;
      if (key == "wbytes") wbytes = v;
    }
    out.push_back({major, minor, "read", rbytes});
    out.push_back({major, minor, "write", wbytes});
    return caf::none;
  });
}

/// Clock ticks per second of cpuacct.stat (USER_HZ).
uint64_t clock_ticks() {
  static const uint64_t ticks = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<uint64_t>(t) : uint64_t{100};
  }();
  return ticks;
}

caf::error mkdir_p(const std::string& path) {
  if (is_dir(path)) return caf::none;
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto err = mkdir_p(path.substr(0, slash))) return err;
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return sys_error("cannot create cgroup " + path, errno);
  return caf::none;
}

caf::error rmdir_group(const std::string& path) {
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
    return sys_error("cannot remove cgroup " + path, errno);
  return caf::none;
}

std::vector<std::string> list_dirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && is_dir(dir + "/" + name)))
      out.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

/// "" = "berth"; a leading '/' is dropped ("/mygroup" as dockerd accepts it). No "..", ".",
/// or empty components.
caf::expected<std::string> clean_parent(const std::string& parent) {
  std::string p = parent;
  while (!p.empty() && p.front() == '/')
    p.erase(p.begin());
  while (!p.empty() && p.back() == '/')
    p.pop_back();
  if (p.empty()) return std::string{"berth"};
  std::size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    auto part = std::string_view{p}.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      return make_error(ec::invalid_argument, "invalid cgroup parent: " + parent);
    start = end + 1;
  }
  return p;
}

caf::error check_id(const std::string& id) {
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos)
    return make_error(ec::invalid_argument, "invalid cgroup name: " + id);
  return caf::none;
}

/// Polls `reached` with growing sleeps until it is true or `settle_timeout` passed.
template <class Reached> caf::error wait_until(Reached reached, const std::string& what) {
  auto deadline = clock_type::now() + settle_timeout;
  auto nap = std::chrono::duration_cast<clock_type::duration>(poll_first);
  for (;;) {
    auto r = reached();
    if (!r) return r.error();
    if (*r) return caf::none;
    if (clock_type::now() >= deadline) return make_error(ec::timeout, "timed out after 1s " + what);
    std::this_thread::sleep_for(nap);
    nap = std::min<clock_type::duration>(nap * 2, poll_max);
  }
}

/// SIGKILL the processes in `procs` until it is empty (bounded).
caf::error kill_until_empty(const std::string& procs, const std::string& group) {
  return wait_until(
      [&]() -> caf::expected<bool> {
        auto pids = read_pids(procs);
        if (!pids) return pids.error();
        for (auto pid : *pids)
          ::kill(pid, SIGKILL); // ESRCH: exited meanwhile
        return pids->empty();
      },
      "killing the processes of cgroup " + group);
}

/// runc's conversion of v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000].
int64_t shares_to_weight(int64_t shares) {
  shares = std::clamp<int64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

/// The CFS period and quota Docker derives (nano_cpus wins; 0 = not set).
std::pair<int64_t, int64_t> cfs(const resources& r) {
  if (r.nano_cpus > 0) return {nano_cpus_period, r.nano_cpus * nano_cpus_period / 1000000000};
  return {r.cpu_period, r.cpu_quota};
}

/// memory_swap as dockerd applies it: 0 with a memory limit means twice the memory.
int64_t effective_swap(const resources& r) {
  if (r.memory > 0 && r.memory_swap == 0) return r.memory * 2;
  return r.memory_swap;
}

/// "max" for unlimited (negative), else the number.
std::string limit_string(int64_t v) {
  return v < 0 ? std::string{"max"} : std::to_string(v);
}

// -- v1 -------------------------------------------------------------------------------------

/// One v1 controller: its name and the directory of berth's group in it. `shared`: the same
/// directory as an earlier controller's (cpu and cpuacct mounted together).
struct v1_dir {
  std::string controller;
  std::string path;
  bool shared = false;
};

class v1_group final : public group {
public:
  explicit v1_group(std::vector<v1_dir> dirs) : dirs_{std::move(dirs)} {}

  caf::error add(pid_t pid) override {
    auto value = std::to_string(pid);
    for (auto& d : dirs_) {
      if (d.shared) continue;
      if (auto err = write_control(d.path + "/cgroup.procs", value)) return err;
    }
    return caf::none;
  }

  caf::error apply(const resources& r) override {
    if (auto err = apply_memory(r)) return err;
    if (auto err = apply_cpu(r)) return err;
    if (!r.cpuset_cpus.empty() || !r.cpuset_mems.empty()) {
      auto dir = need("cpuset", "cpuset");
      if (!dir) return dir.error();
      if (!r.cpuset_cpus.empty())
        if (auto err = write_control(*dir + "/cpuset.cpus", r.cpuset_cpus)) return err;
      if (!r.cpuset_mems.empty())
        if (auto err = write_control(*dir + "/cpuset.mems", r.cpuset_mems)) return err;
    }
    if (r.pids_limit != 0) {
      auto dir = need("pids", "the pids limit");
      if (!dir) return dir.error();
      if (auto err = write_control(*dir + "/pids.max", limit_string(r.pids_limit))) return err;
    }
    return caf::none;
  }

  caf::error limit_devices(bool all) override {
    auto* dir = find("devices");
    if (dir == nullptr) return caf::none; // (no devices controller on this host)
    if (all) return write_control(*dir + "/devices.allow", "a");
    if (auto err = write_control(*dir + "/devices.deny", "a")) return err;
    for (auto* rule : default_device_rules)
      if (auto err = write_control(*dir + "/devices.allow", rule)) return err;
    return caf::none;
  }

  caf::error freeze() override { return set_freezer("FROZEN"); }
  caf::error thaw() override { return set_freezer("THAWED"); }

  caf::expected<std::vector<pid_t>> pids() const override {
    return read_pids(path() + "/cgroup.procs");
  }

  caf::error kill_all() override {
    if (find("freezer") != nullptr)
      if (auto err = thaw()) return err;
    // Every controller directory: a process may have been added to some only.
    for (auto& d : dirs_) {
      if (d.shared) continue;
      if (auto err = kill_until_empty(d.path + "/cgroup.procs", d.path)) return err;
    }
    return caf::none;
  }

  caf::expected<usage> read_usage() const override {
    usage u;
    if (auto* mem = find("memory")) {
      auto v = read_u64(*mem + "/memory.usage_in_bytes");
      if (!v) return v.error();
      u.memory_usage = *v;
      v = read_u64(*mem + "/memory.limit_in_bytes");
      if (!v) return v.error();
      u.memory_limit = *v;
      v = read_keyed(*mem + "/memory.oom_control", "oom_kill");
      if (!v) return v.error();
      u.oom_kills = *v;
    }
    if (auto* cpu = find("cpuacct")) {
      auto v = read_u64(*cpu + "/cpuacct.usage");
      if (!v) return v.error();
      u.cpu_usage_ns = *v;
    }
    if (auto* pids = find("pids")) {
      auto v = read_u64(*pids + "/pids.current");
      if (!v) return v.error();
      u.pids_current = *v;
    }
    return u;
  }

  caf::expected<cgroup_stats> read_stats() const override {
    if (!is_dir(path())) return make_error(ec::not_found, "cgroup " + path() + " is gone");
    cgroup_stats s;
    s.version = 1;
    if (auto* dir = find("cpuacct")) {
      auto total = read_u64(*dir + "/cpuacct.usage");
      if (!total) return total.error();
      s.cpu_total = *total;
      auto percpu = read_numbers(*dir + "/cpuacct.usage_percpu");
      if (!percpu) return percpu.error();
      s.cpu_percpu = std::move(*percpu);
      auto stat = read_keyed_all(*dir + "/cpuacct.stat"); // in USER_HZ ticks
      if (!stat) return stat.error();
      s.cpu_user = value_of(*stat, "user") * 1000000000 / clock_ticks();
      s.cpu_kernel = value_of(*stat, "system") * 1000000000 / clock_ticks();
    }
    if (auto* dir = find("cpu")) {
      auto stat = read_keyed_all(*dir + "/cpu.stat");
      if (!stat) return stat.error();
      s.throttling_periods = value_of(*stat, "nr_periods");
      s.throttled_periods = value_of(*stat, "nr_throttled");
      s.throttled_time = value_of(*stat, "throttled_time");
    }
    if (auto* dir = find("memory")) {
      s.has_memory = true;
      for (auto [file, slot] : {std::pair{"/memory.usage_in_bytes", &s.memory_usage},
                                std::pair{"/memory.max_usage_in_bytes", &s.memory_max_usage},
                                std::pair{"/memory.failcnt", &s.memory_failcnt},
                                std::pair{"/memory.limit_in_bytes", &s.memory_limit}}) {
        auto v = read_u64(*dir + file);
        if (!v) return v.error();
        *slot = *v;
      }
      auto stat = read_keyed_all(*dir + "/memory.stat");
      if (!stat) return stat.error();
      for (auto key : split_ws(v1_memory_keys))
        s.memory_stat[std::string{key}] = value_of(*stat, key);
    }
    if (auto* dir = find("pids")) {
      auto current = read_u64(*dir + "/pids.current");
      if (!current) return current.error();
      auto max = read_u64(*dir + "/pids.max");
      if (!max) return max.error();
      s.pids_current = *current;
      s.pids_limit = *max == std::numeric_limits<uint64_t>::max() ? 0 : *max; // as containerd
    }
    if (auto* dir = find("blkio")) {
      s.has_blkio = true;
      // The CFQ files when the kernel has them; when they say nothing (no CFQ device), the
      // throttle files, as containerd.
      if (exists(*dir + "/blkio.io_serviced_recursive")) {
        for (auto [file, list] : {std::pair{"sectors_recursive", &s.sectors},
                                  std::pair{"io_service_bytes_recursive", &s.io_service_bytes},
                                  std::pair{"io_serviced_recursive", &s.io_serviced},
                                  std::pair{"io_queued_recursive", &s.io_queued},
                                  std::pair{"io_service_time_recursive", &s.io_service_time},
                                  std::pair{"io_wait_time_recursive", &s.io_wait_time},
                                  std::pair{"io_merged_recursive", &s.io_merged},
                                  std::pair{"time_recursive", &s.io_time}})
          if (auto err = read_blkio(*dir + "/blkio." + file, *list)) return err;
      }
      bool any = !s.sectors.empty() || !s.io_service_bytes.empty() || !s.io_serviced.empty() ||
                 !s.io_queued.empty() || !s.io_service_time.empty() || !s.io_wait_time.empty() ||
                 !s.io_merged.empty() || !s.io_time.empty();
      if (!any) {
        if (auto err = read_blkio(*dir + "/blkio.throttle.io_serviced", s.io_serviced)) return err;
        if (auto err = read_blkio(*dir + "/blkio.throttle.io_service_bytes", s.io_service_bytes))
          return err;
      }
    }
    return s;
  }

  caf::error remove() override {
    caf::error first;
    for (auto& d : dirs_) {
      if (d.shared) continue;
      if (auto err = rmdir_group(d.path); err && !first) first = std::move(err);
    }
    return first;
  }

  std::string path() const override {
    if (auto* mem = find("memory")) return *mem;
    return dirs_.empty() ? std::string{} : dirs_.front().path;
  }

private:
  const std::string* find(std::string_view controller) const {
    for (auto& d : dirs_)
      if (d.controller == controller) return &d.path;
    return nullptr;
  }

  caf::expected<std::string> need(std::string_view controller, std::string_view what) const {
    if (auto* p = find(controller)) return *p;
    return make_error(ec::invalid_argument, "the cgroup controller " + std::string{controller} +
                                                " is not mounted on this host, needed for " +
                                                std::string{what});
  }

  caf::error apply_memory(const resources& r) {
    auto swap = effective_swap(r);
    bool any = r.memory != 0 || swap != 0 || r.memory_reservation != 0 ||
               r.memory_swappiness >= 0 || r.oom_kill_disable;
    if (!any) return caf::none;
    auto dir = need("memory", "the memory limits");
    if (!dir) return dir.error();
    auto limit = *dir + "/memory.limit_in_bytes";
    auto memsw = *dir + "/memory.memsw.limit_in_bytes";
    if (r.memory == -1 && swap == 0) swap = -1; // unlimited memory lifts the swap limit too
    if (swap != 0 && exists(memsw)) {
      // memory.limit_in_bytes <= memory.memsw.limit_in_bytes at all times: raise swap first
      // when it grows beyond the current memory limit (as runc).
      uint64_t current = 0;
      std::string s;
      bool swap_first = swap == -1;
      if (!swap_first && read_control(limit, s) == 0 && parse_u64(s, current))
        swap_first = current < static_cast<uint64_t>(swap);
      if (swap_first) {
        if (auto err = write_control(memsw, std::to_string(swap))) return err;
        if (r.memory != 0)
          if (auto err = write_control(limit, std::to_string(r.memory))) return err;
      } else {
        if (r.memory != 0)
          if (auto err = write_control(limit, std::to_string(r.memory))) return err;
        if (auto err = write_control(memsw, std::to_string(swap))) return err;
      }
    } else if (r.memory != 0) {
      if (auto err = write_control(limit, std::to_string(r.memory))) return err;
    }
    if (r.memory_reservation != 0)
      if (auto err = write_control(*dir + "/memory.soft_limit_in_bytes",
                                   std::to_string(r.memory_reservation)))
        return err;
    if (r.memory_swappiness >= 0)
      if (auto err =
              write_control(*dir + "/memory.swappiness", std::to_string(r.memory_swappiness)))
        return err;
    if (r.oom_kill_disable)
      if (auto err = write_control(*dir + "/memory.oom_control", "1")) return err;
    return caf::none;
  }

  caf::error apply_cpu(const resources& r) {
    auto [period, quota] = cfs(r);
    if (r.cpu_shares == 0 && period == 0 && quota == 0) return caf::none;
    auto dir = need("cpu", "the CPU limits");
    if (!dir) return dir.error();
    if (r.cpu_shares != 0)
      if (auto err = write_control(*dir + "/cpu.shares", std::to_string(r.cpu_shares))) return err;
    bool retry_period = false;
    if (period != 0) {
      // The kernel may refuse a smaller period while the old quota is in place (old quota / new
      // period over the parent's limit): retry after the quota, as runc.
      if (auto err = write_control(*dir + "/cpu.cfs_period_us", std::to_string(period))) {
        if (quota == 0) return err;
        retry_period = true;
      }
    }
    if (quota != 0)
      if (auto err = write_control(*dir + "/cpu.cfs_quota_us", std::to_string(quota))) return err;
    if (retry_period)
      if (auto err = write_control(*dir + "/cpu.cfs_period_us", std::to_string(period))) return err;
    return caf::none;
  }

  caf::error set_freezer(const std::string& state) {
    auto dir = need("freezer", state == "FROZEN" ? "pause" : "unpause");
    if (!dir) return dir.error();
    auto file = *dir + "/freezer.state";
    return wait_until(
        [&]() -> caf::expected<bool> {
          // Writing again is harmless and kicks a freeze stuck in FREEZING.
          if (auto err = write_control(file, state)) return err;
          auto s = read_string(file);
          if (!s) return s.error();
          return trim(*s) == state;
        },
        "waiting for " + file + " to read " + state);
  }

  std::vector<v1_dir> dirs_;
};

/// One mounted v1 controller: its name, the root of its hierarchy under the manager's root,
/// and whether an earlier controller has the same hierarchy (cpu and cpuacct as cpu,cpuacct).
struct v1_mount {
  std::string controller;
  std::string root;
  bool shared = false;
};

class v1_manager final : public manager {
public:
  explicit v1_manager(std::vector<v1_mount> mounts) : mounts_{std::move(mounts)} {}

  cgroups::version version() const override { return version::v1; }
  std::string driver() const override { return "cgroupfs"; }

  caf::expected<std::unique_ptr<group>> open(const std::string& parent,
                                             const std::string& id) override {
    auto p = clean_parent(parent);
    if (!p) return p.error();
    if (auto err = check_id(id)) return err;
    std::vector<v1_dir> dirs;
    for (auto& m : mounts_) {
      auto dir = m.root + "/" + *p + "/" + id;
      if (auto err = mkdir_p(dir)) return err;
      if (m.controller == "cpuset")
        if (auto err = fill_cpuset(m.root, *p + "/" + id)) return err;
      dirs.push_back({m.controller, std::move(dir), m.shared});
    }
    return std::unique_ptr<group>{new v1_group(std::move(dirs))};
  }

  std::vector<std::string> list(const std::string& parent) const override {
    auto p = clean_parent(parent);
    if (!p) return {};
    for (auto& m : mounts_)
      if (m.controller == "memory") return list_dirs(m.root + "/" + *p);
    return mounts_.empty() ? std::vector<std::string>{}
                           : list_dirs(mounts_.front().root + "/" + *p);
  }

private:
  /// v1 cpuset: a new group's cpuset.cpus and cpuset.mems are empty, and a process cannot join
  /// it until they are set: copy them down from the parent at every level (as dockerd).
  static caf::error fill_cpuset(const std::string& root, const std::string& rel) {
    std::string dir = root;
    std::size_t start = 0;
    while (start < rel.size()) {
      auto end = rel.find('/', start);
      if (end == std::string::npos) end = rel.size();
      auto child = dir + "/" + rel.substr(start, end - start);
      for (const char* file : {"/cpuset.cpus", "/cpuset.mems"}) {
        std::string mine;
        int err = read_control(child + file, mine);
        if (err == ENOENT) continue; // not a cpuset hierarchy (a fake tree without the file)
        if (err != 0) return sys_error("cannot read " + child + file, err);
        if (!trim(mine).empty()) continue;
        std::string theirs;
        if (int e = read_control(dir + file, theirs); e != 0)
          return sys_error("cannot read " + dir + file, e);
        if (auto v = trim(theirs); !v.empty())
          if (auto werr = write_control(child + file, std::string{v})) return werr;
      }
      dir = std::move(child);
      start = end + 1;
    }
    return caf::none;
  }

  std::vector<v1_mount> mounts_;
};

// -- v2 -------------------------------------------------------------------------------------

class v2_group final : public group {
public:
  explicit v2_group(std::string dir) : dir_{std::move(dir)} {}

  caf::error add(pid_t pid) override {
    return write_control(dir_ + "/cgroup.procs", std::to_string(pid));
  }

  caf::error apply(const resources& r) override {
    if (r.memory != 0)
      if (auto err = write_control(dir_ + "/memory.max", limit_string(r.memory))) return err;
    auto swap = effective_swap(r);
    if (swap != 0 && exists(dir_ + "/memory.swap.max")) {
      // v2 limits swap alone: memory_swap is memory + swap in Docker's terms.
      std::string value;
      if (swap < 0 || r.memory < 0)
        value = "max";
      else if (r.memory > 0)
        value = std::to_string(std::max<int64_t>(swap - r.memory, 0));
      if (!value.empty())
        if (auto err = write_control(dir_ + "/memory.swap.max", value)) return err;
    }
    if (r.memory_reservation != 0)
      if (auto err = write_control(dir_ + "/memory.low", limit_string(r.memory_reservation)))
        return err;
    if (r.cpu_shares != 0)
      if (auto err =
              write_control(dir_ + "/cpu.weight", std::to_string(shares_to_weight(r.cpu_shares))))
        return err;
    auto [period, quota] = cfs(r);
    if (period != 0 || quota != 0) {
      if (period == 0) period = current_period();
      std::string q = quota > 0 ? std::to_string(quota) : "max";
      if (quota == 0) q = current_quota(); // only the period changes
      if (auto err = write_control(dir_ + "/cpu.max", q + " " + std::to_string(period))) return err;
    }
    if (!r.cpuset_cpus.empty())
      if (auto err = write_control(dir_ + "/cpuset.cpus", r.cpuset_cpus)) return err;
    if (!r.cpuset_mems.empty())
      if (auto err = write_control(dir_ + "/cpuset.mems", r.cpuset_mems)) return err;
    if (r.pids_limit != 0)
      if (auto err = write_control(dir_ + "/pids.max", limit_string(r.pids_limit))) return err;
    return caf::none;
  }

  caf::error limit_devices(bool) override { return caf::none; } // (needs eBPF: see the header)

  caf::error freeze() override { return set_frozen(true); }
  caf::error thaw() override { return set_frozen(false); }

  caf::expected<std::vector<pid_t>> pids() const override {
    return read_pids(dir_ + "/cgroup.procs");
  }

  caf::error kill_all() override {
    if (exists(dir_ + "/cgroup.freeze"))
      if (auto err = thaw()) return err;
    // Linux >= 5.14: one write kills the whole group, race-free.
    if (exists(dir_ + "/cgroup.kill"))
      if (auto err = write_control(dir_ + "/cgroup.kill", "1")) return err;
    return kill_until_empty(dir_ + "/cgroup.procs", dir_);
  }

  caf::expected<usage> read_usage() const override {
    usage u;
    auto v = read_u64(dir_ + "/memory.current");
    if (!v) return v.error();
    u.memory_usage = *v;
    v = read_u64(dir_ + "/memory.max");
    if (!v) return v.error();
    u.memory_limit = *v;
    v = read_keyed(dir_ + "/memory.events", "oom_kill");
    if (!v) return v.error();
    u.oom_kills = *v;
    v = read_keyed(dir_ + "/cpu.stat", "usage_usec");
    if (!v) return v.error();
    u.cpu_usage_ns = *v * 1000;
    v = read_u64(dir_ + "/pids.current");
    if (!v) return v.error();
    u.pids_current = *v;
    return u;
  }

  caf::expected<cgroup_stats> read_stats() const override {
    if (!is_dir(dir_)) return make_error(ec::not_found, "cgroup " + dir_ + " is gone");
    cgroup_stats s;
    s.version = 2;
    auto cpu = read_keyed_all(dir_ + "/cpu.stat"); // microseconds
    if (!cpu) return cpu.error();
    s.cpu_total = value_of(*cpu, "usage_usec") * 1000;
    s.cpu_kernel = value_of(*cpu, "system_usec") * 1000;
    s.cpu_user = value_of(*cpu, "user_usec") * 1000;
    s.throttling_periods = value_of(*cpu, "nr_periods");
    s.throttled_periods = value_of(*cpu, "nr_throttled");
    s.throttled_time = value_of(*cpu, "throttled_usec") * 1000;
    s.has_memory = true;
    auto usage = read_u64(dir_ + "/memory.current");
    if (!usage) return usage.error();
    s.memory_usage = *usage;
    auto limit = read_u64(dir_ + "/memory.max");
    if (!limit) return limit.error();
    s.memory_limit = *limit;
    auto stat = read_keyed_all(dir_ + "/memory.stat");
    if (!stat) return stat.error();
    for (auto key : split_ws(v2_memory_keys))
      s.memory_stat[std::string{key}] = value_of(*stat, key);
    // containerd reads v2's pids.max "max" as UINT64_MAX (v1's as 0)
    auto current = read_u64(dir_ + "/pids.current");
    if (!current) return current.error();
    auto max = read_u64(dir_ + "/pids.max");
    if (!max) return max.error();
    s.pids_current = *current;
    s.pids_limit = *max;
    if (auto err = read_io_stat(dir_ + "/io.stat", s.io_service_bytes)) return err;
    return s;
  }

  caf::error remove() override { return rmdir_group(dir_); }

  std::string path() const override { return dir_; }

private:
  /// The fields of cpu.max ("max 100000" by default).
  std::vector<std::string> cpu_max() const {
    std::string s;
    std::vector<std::string> out;
    if (read_control(dir_ + "/cpu.max", s) == 0)
      for (auto f : split_ws(s))
        out.emplace_back(f);
    return out;
  }
  int64_t current_period() const {
    auto f = cpu_max();
    uint64_t v = 0;
    if (f.size() == 2 && parse_u64(f[1], v) && v > 0) return static_cast<int64_t>(v);
    return nano_cpus_period;
  }
  std::string current_quota() const {
    auto f = cpu_max();
    return f.size() == 2 ? f[0] : std::string{"max"};
  }

  caf::error set_frozen(bool frozen) {
    if (auto err = write_control(dir_ + "/cgroup.freeze", frozen ? "1" : "0")) return err;
    auto events = dir_ + "/cgroup.events";
    std::string_view want = frozen ? "1" : "0";
    return wait_until(
        [&]() -> caf::expected<bool> {
          auto s = read_string(events);
          if (!s) return s.error();
          std::string_view rest{*s};
          while (!rest.empty()) {
            auto nl = rest.find('\n');
            auto fields = split_ws(rest.substr(0, nl));
            if (fields.size() == 2 && fields[0] == "frozen") return fields[1] == want;
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
          }
          return false;
        },
        "waiting for " + events + " to read frozen " + std::string{want});
  }

  std::string dir_;
};

class v2_manager final : public manager {
public:
  explicit v2_manager(std::string root) : root_{std::move(root)} {}

  cgroups::version version() const override { return version::v2; }
  std::string driver() const override { return "cgroupfs"; }

  caf::expected<std::unique_ptr<group>> open(const std::string& parent,
                                             const std::string& id) override {
    auto p = clean_parent(parent);
    if (!p) return p.error();
    if (auto err = check_id(id)) return err;
    auto dir = root_ + "/" + *p + "/" + id;
    if (auto err = mkdir_p(dir)) return err;
    // Enable the controllers in the root and in every directory of the parent, so that the
    // leaf gets their files. Leaves hold processes, so they enable nothing themselves.
    std::string level = root_;
    std::size_t start = 0;
    for (;;) {
      if (auto err = enable_controllers(level)) return err;
      if (start >= p->size()) break;
      auto end = p->find('/', start);
      if (end == std::string::npos) end = p->size();
      level += "/" + p->substr(start, end - start);
      start = end + 1;
    }
    return std::unique_ptr<group>{new v2_group(std::move(dir))};
  }

  std::vector<std::string> list(const std::string& parent) const override {
    auto p = clean_parent(parent);
    if (!p) return {};
    return list_dirs(root_ + "/" + *p);
  }

private:
  /// Writes "+cpu +memory ..." for those of berth's controllers that `dir` has and has not
  /// enabled yet. Controllers the kernel refuses are skipped: a limit that needs one fails in
  /// apply() naming the missing file.
  static caf::error enable_controllers(const std::string& dir) {
    std::string available;
    std::set<std::string_view> have;
    bool known = read_control(dir + "/cgroup.controllers", available) == 0;
    if (known)
      for (auto c : split_ws(available))
        have.insert(c);
    std::string enabled;
    std::set<std::string> on;
    if (read_control(dir + "/cgroup.subtree_control", enabled) == 0)
      for (auto c : split_ws(enabled))
        on.emplace(c.front() == '+' ? c.substr(1) : c);
    std::vector<std::string> want;
    for (const char* c : v2_controllers)
      if ((!known || have.count(c) > 0) && on.count(c) == 0) want.push_back(std::string{"+"} + c);
    if (want.empty()) return caf::none;
    auto file = dir + "/cgroup.subtree_control";
    std::string all;
    for (auto& w : want)
      all += (all.empty() ? "" : " ") + w;
    if (!write_control(file, all)) return caf::none;
    for (auto& w : want)
      write_control(file, w); // best effort, one by one (see above)
    return caf::none;
  }

  std::string root_;
};

} // namespace

caf::expected<std::string> relative_path(const std::string& parent, const std::string& id) {
  auto p = clean_parent(parent);
  if (!p) return p.error();
  if (auto err = check_id(id)) return err;
  return "/" + *p + "/" + id;
}

caf::expected<std::unique_ptr<manager>> make_manager(const std::string& root_in) {
  std::string root = root_in;
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  if (exists(root + "/cgroup.controllers")) return std::unique_ptr<manager>{new v2_manager(root)};
  // v1: each controller is a directory named after it, or after a list that includes it
  // ("cpu,cpuacct"). Two names for one hierarchy (symlinks) share one directory.
  auto entries = list_dirs(root);
  std::vector<v1_mount> mounts;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (std::size_t i = 0; i < std::size(v1_controllers); ++i) {
    std::string name = v1_controllers[i];
    std::string dir;
    if (is_dir(root + "/" + name)) {
      dir = root + "/" + name;
    } else {
      for (auto& e : entries) {
        auto padded = "," + e + ",";
        if (padded.find("," + name + ",") != std::string::npos) {
          dir = root + "/" + e;
          break;
        }
      }
    }
    if (dir.empty()) continue;
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) continue;
    bool shared = !seen.insert({st.st_dev, st.st_ino}).second;
    mounts.push_back({name, dir, shared});
  }
  if (mounts.empty())
    return make_error(ec::unavailable, "no cgroup hierarchy found under " + root +
                                           " (neither cgroup v2 nor v1 controllers)");
  return std::unique_ptr<manager>{new v1_manager(std::move(mounts))};
}

caf::error validate(const resources& r) {
  auto bad = [](std::string msg) { return make_error(ec::invalid_argument, std::move(msg)); };
  if (r.memory > 0 && r.memory < min_memory) return bad("Minimum memory limit allowed is 6MB");
  if (r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory)
    return bad("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (r.memory == 0 && r.memory_swap > 0)
    return bad("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (r.memory_swappiness < -1 || r.memory_swappiness > 100)
    return bad("Invalid value: " + std::to_string(r.memory_swappiness) +
               ", valid memory swappiness range is 0-100");
  if (r.nano_cpus > 0 && r.cpu_period > 0)
    return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (r.nano_cpus > 0 && r.cpu_quota > 0)
    return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (r.nano_cpus != 0) {
    cpu_set_t set;
    int64_t ncpu = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    if (r.nano_cpus < 0 || r.nano_cpus > ncpu * 1000000000)
      return bad("Range of CPUs is from 0.01 to " + std::to_string(ncpu) +
                 ".00, as there are only " + std::to_string(ncpu) + " CPUs available");
  }
  if (r.cpu_period != 0 && (r.cpu_period < 1000 || r.cpu_period > 1000000))
    return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. "
               "1000000)");
  if (r.cpu_quota > 0 && r.cpu_quota < 1000)
    return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  return caf::none;
}

} // namespace berth::cgroups
