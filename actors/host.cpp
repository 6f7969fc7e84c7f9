#include "actors/host.hpp"

#include <dirent.h>
#include <sched.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace berth::host {

namespace {

constexpr long cgroup2_magic = 0x63677270; // CGROUP2_SUPER_MAGIC

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

std::string unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    return v.substr(1, v.size() - 2);
  return v;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

int64_t count_dir(const char* path) {
  int64_t n = 0;
  if (DIR* d = ::opendir(path)) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

} // namespace

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string go_arch(const std::string& machine) {
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  if (machine == "i686" || machine == "i386") return "386";
  if (machine.rfind("armv", 0) == 0) return "arm";
  return machine;
}

int64_t open_fds() {
  return count_dir("/proc/self/fd") - 1; /* the DIR itself */
}

int64_t thread_count() {
  return count_dir("/proc/self/task");
}

host_facts read_facts() {
  host_facts f;
  struct utsname u {};
  if (::uname(&u) == 0) {
    f.kernel_version = u.release;
    f.architecture = u.machine;
    f.hostname = u.nodename;
  }
  f.go_arch = go_arch(f.architecture);
  std::istringstream os{read_file("/etc/os-release")};
  for (std::string line; std::getline(os, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto key = line.substr(0, eq);
    auto value = unquote(line.substr(eq + 1));
    if (key == "PRETTY_NAME")
      f.operating_system = value;
    else if (key == "VERSION_ID")
      f.os_version = value;
  }
  if (f.operating_system.empty()) f.operating_system = "<unknown>";
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    f.ncpu = CPU_COUNT(&set);
  else
    f.ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
  struct sysinfo si {};
  if (::sysinfo(&si) == 0) f.mem_total = static_cast<int64_t>(si.totalram) * si.mem_unit;
  // cgroups: pure v2 when /sys/fs/cgroup itself is cgroup2, else v1 or hybrid.
  struct statfs fs {};
  bool v2 = ::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == cgroup2_magic;
  f.cgroup_version = v2 ? "2" : "1";
  if (v2) {
    auto controllers = " " + trim(read_file("/sys/fs/cgroup/cgroup.controllers")) + " ";
    auto has = [&](const char* c) {
      return controllers.find(std::string{" "} + c + " ") != std::string::npos;
    };
    f.memory_limit = has("memory");
    f.swap_limit = f.memory_limit; // memory.swap.max exists in every non-root cgroup
    f.cpu_cfs_period = f.cpu_cfs_quota = f.cpu_shares = has("cpu");
    f.cpuset = has("cpuset");
    f.pids_limit = has("pids");
    f.oom_kill_disable = false;
    f.kernel_memory = false;
  } else {
    const std::string root = "/sys/fs/cgroup/";
    f.memory_limit = exists(root + "memory/memory.limit_in_bytes");
    f.swap_limit = exists(root + "memory/memory.memsw.limit_in_bytes");
    f.kernel_memory = exists(root + "memory/memory.kmem.limit_in_bytes");
    f.oom_kill_disable = exists(root + "memory/memory.oom_control");
    f.cpu_cfs_period = exists(root + "cpu/cpu.cfs_period_us");
    f.cpu_cfs_quota = exists(root + "cpu/cpu.cfs_quota_us");
    f.cpu_shares = exists(root + "cpu/cpu.shares");
    f.cpuset = exists(root + "cpuset/cpuset.cpus");
    f.pids_limit = exists(root + "pids");
  }
  f.ipv4_forwarding = trim(read_file("/proc/sys/net/ipv4/ip_forward")) == "1";
  f.bridge_nf_iptables = trim(read_file("/proc/sys/net/bridge/bridge-nf-call-iptables")) == "1";
  f.bridge_nf_ip6tables = trim(read_file("/proc/sys/net/bridge/bridge-nf-call-ip6tables")) == "1";
  f.overlay_supported = read_file("/proc/filesystems").find("\toverlay\n") != std::string::npos ||
                        exists("/sys/module/overlay") ||
                        exists("/lib/modules/" + f.kernel_version + "/kernel/fs/overlayfs");
  return f;
}

} // namespace berth::host
