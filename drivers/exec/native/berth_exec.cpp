// berth-exec: the native exec driver's helper. berthd clones it into a container's new namespaces
// (and, as a rule, as PID 1 of a new PID namespace); it sets the container up and execs the
// command. It is never run by hand.
//
// Its fds on entry (see native/native.cpp for the parent's side):
//   0-2  the container's stdio (pipes, or /dev/null; with a tty we replace them with the pty)
//   3    the spec (its byte count, then the spec), then one byte once berthd has moved us into
//        the container's cgroup (we set the container up meanwhile); with a tty we send the pty
//        master back on it
//   4    the error pipe: kept CLOEXEC, so EOF without data tells berthd the command was exec'd;
//        on failure one report ('I' = the command cannot be exec'd, 'S' = setup failed, then the
//        message in runc's wording) and exit.
//
// The setup, in order: private mounts; rootfs bind-mounted onto itself; the
// sources of bind mounts cloned (open_tree) while the host's tree is visible; pivot_root; /proc,
// /sys, /dev (nodes, pts, shm, mqueue), the spec's mounts, all created inside the new
// root (so symlinks in the image cannot lead out of it); hostname, sysctls, rlimits, lo up; the
// user from the container's /etc/passwd and /etc/group; the workdir; the console (a pty of the
// container's devpts); masked and read-only paths,
// read-only rootfs; berthd's go, then the cgroup namespace; session and controlling tty;
// capabilities, uid/gid, no_new_privs; then either exec the command, or (init) fork it and stay as
// a reaping, signal-forwarding PID 1.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "drivers/exec/native/spec_format.hpp"
#include "drivers/exec/users.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

namespace {

constexpr int spec_fd = 3;
constexpr int report_fd = 4;

// Run as `docker-init -- cmd...` (the oci driver's --init): errors go to stderr.
bool standalone_init = false;
constexpr uint64_t spec_magic = berth::exec::spec_format::magic;
constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

using spec_flag = berth::exec::spec_format::flag;
using namespace berth::exec::spec_format; // the flag_* names

struct rlimit_spec {
  int resource;
  uint64_t soft, hard;
};

struct mount_spec {
  std::string source, destination, type;
  std::vector<std::string> options;
};

struct spec {
  std::string rootfs;
  std::vector<std::string> args, env;
  std::string cwd, user;
  std::vector<std::string> additional_groups;
  std::string hostname, domainname;
  uint64_t flags = 0;
  uint64_t caps = 0;
  std::vector<rlimit_spec> rlimits;
  std::vector<std::pair<std::string, std::string>> sysctls;
  int64_t shm_size = 0;
  std::vector<mount_spec> mounts;
  std::vector<std::string> masked, readonly;
  struct device {
    std::string path;
    char type;
    uint64_t major, minor, mode, uid, gid;
  };
  std::vector<device> devices; // the host's, for a privileged container
  std::string net_ns;          // a network namespace to join (--network container:<id>)
  bool has(spec_flag f) const { return (flags & f) != 0; }
};

// ---- reporting ----

// Go's rendering of an errno (runc's messages): strerror with a lower-case first letter.
std::string errstr(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

[[noreturn]] void report(char kind, const std::string& msg, int code = 1) {
  std::string out(1, kind);
  out += msg;
  if (standalone_init) {
    out = "docker-init: " + msg + "\n";
    if (kind == 'I') // as tini: 126 for a command that cannot run, 127 for a missing one
      code = msg.find("permission denied") != std::string::npos ||
                     msg.find("is a directory") != std::string::npos
                 ? 126
                 : 127;
  }
  [[maybe_unused]] auto n = ::write(standalone_init ? 2 : report_fd, out.data(), out.size());
  ::_exit(code);
}

[[noreturn]] void fail(const std::string& step, int err = errno) {
  report('S', step + ": " + errstr(err));
}

// ---- the spec ----

struct decoder {
  const char* p;
  const char* end;
  uint64_t u64() {
    uint64_t x = 0;
    if (end - p < static_cast<std::ptrdiff_t>(sizeof(x))) report('S', "malformed spec");
    std::memcpy(&x, p, sizeof(x));
    p += sizeof(x);
    return x;
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  uint64_t count() {
    auto n = u64();
    if (n > static_cast<uint64_t>(end - p)) report('S', "malformed spec");
    return n;
  }
  std::string str() {
    auto n = count();
    std::string s{p, static_cast<size_t>(n)};
    p += n;
    return s;
  }
  std::vector<std::string> strs() {
    std::vector<std::string> v(count());
    for (auto& s : v)
      s = str();
    return v;
  }
};

// Exactly `n` bytes from berthd.
void read_exact(char* p, size_t n, const char* what) {
  while (n > 0) {
    auto r = ::read(spec_fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(what);
    if (r == 0) report('S', std::string{what} + ": berthd gave up");
    p += r;
    n -= static_cast<size_t>(r);
  }
}

// The spec's bytes (after its byte count).
std::string read_framed() {
  uint64_t size = 0;
  read_exact(reinterpret_cast<char*>(&size), sizeof size, "read spec");
  if (size > (uint64_t{64} << 20)) report('S', "malformed spec");
  std::string data(size, '\0');
  read_exact(data.data(), data.size(), "read spec");
  return data;
}

void read_rlimits(decoder& d, std::vector<rlimit_spec>& out) {
  out.resize(d.count());
  for (auto& r : out) {
    r.resource = static_cast<int>(d.i64());
    r.soft = d.u64();
    r.hard = d.u64();
  }
}

// The process part of both specs (spec_format.hpp).
void read_process(decoder& d, spec& s) {
  s.args = d.strs();
  s.env = d.strs();
  s.cwd = d.str();
  s.user = d.str();
  s.additional_groups = d.strs();
  s.flags = d.u64();
  s.caps = d.u64();
  read_rlimits(d, s.rlimits);
  if (s.args.empty()) report('S', "malformed spec");
}

// The spec of --join (spec_format.hpp): what a command in a running container needs.
spec read_join_spec() {
  auto data = read_framed();
  decoder d{data.data(), data.data() + data.size()};
  if (d.u64() != berth::exec::spec_format::join_magic) report('S', "malformed spec");
  spec s;
  read_process(d, s);
  return s;
}

spec read_spec() {
  auto data = read_framed();
  decoder d{data.data(), data.data() + data.size()};
  if (d.u64() != spec_magic) report('S', "malformed spec");
  spec s;
  s.rootfs = d.str();
  read_process(d, s);
  s.hostname = d.str();
  s.domainname = d.str();
  s.sysctls.resize(d.count());
  for (auto& [k, v] : s.sysctls) {
    k = d.str();
    v = d.str();
  }
  s.shm_size = d.i64();
  s.mounts.resize(d.count());
  for (auto& m : s.mounts) {
    m.source = d.str();
    m.destination = d.str();
    m.type = d.str();
    m.options = d.strs();
  }
  s.masked = d.strs();
  s.readonly = d.strs();
  s.devices.resize(d.count());
  for (auto& dev : s.devices) {
    dev.path = d.str();
    dev.type = static_cast<char>(d.u64());
    dev.major = d.u64();
    dev.minor = d.u64();
    dev.mode = d.u64();
    dev.uid = d.u64();
    dev.gid = d.u64();
  }
  s.net_ns = d.str();
  return s;
}

// ---- files and mounts ----

using berth::exec::users::split;

// mkdir -p; the directories created are chowned to uid:gid when uid >= 0.
void mkdir_all(const std::string& path, mode_t mode = 0755, int uid = -1, int gid = -1) {
  std::string cur;
  for (auto& part : split(path, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    if (::mkdir(cur.c_str(), mode) == 0) {
      if (uid >= 0 && ::chown(cur.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0)
        fail("chown " + cur);
      continue;
    }
    if (errno != EEXIST) fail("mkdir " + cur);
  }
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// A mount point: a directory, or an empty file when the source is not a directory.
void make_mountpoint(const std::string& path, bool dir) {
  if (dir) return mkdir_all(path);
  mkdir_all(parent_of(path));
  // an existing file is left alone: opening it for writing would copy it up into the read-write
  // layer (docker diff would list it)
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return;
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  if (errno != EISDIR) fail("create mount point " + path);
}

void do_mount(const char* source, const std::string& target, const char* type, unsigned long flags,
              const std::string& data = {}) {
  if (::mount(source, target.c_str(), type, flags, data.empty() ? nullptr : data.c_str()) != 0)
    fail(std::string{"mount "} + (type ? type : source ? source : "") + " on " + target);
}

void make_symlink(const char* target, const std::string& link) {
  if (::symlink(target, link.c_str()) != 0 && errno != EEXIST) fail("symlink " + link);
}

// The per-mount flags of `path` (to keep them across a bind remount).
unsigned long mount_flags(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return 0;
  unsigned long out = 0;
  if (st.f_flag & ST_NOSUID) out |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) out |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) out |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) out |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) out |= MS_RELATIME;
  return out;
}

// A spec mount's options, as runc parses them: mount flags, propagation flags, the rest is data.
struct parsed_options {
  unsigned long flags = 0;
  unsigned long cleared = 0;
  std::vector<unsigned long> propagation;
  std::string data;
};

parsed_options parse_options(const std::vector<std::string>& options) {
  struct flag {
    const char* name;
    bool clear;
    unsigned long value;
  };
  static const flag flags[] = {
      {"async", true, MS_SYNCHRONOUS},   {"atime", true, MS_NOATIME},
      {"bind", false, MS_BIND},          {"defaults", false, 0},
      {"dev", true, MS_NODEV},           {"diratime", true, MS_NODIRATIME},
      {"dirsync", false, MS_DIRSYNC},    {"exec", true, MS_NOEXEC},
      {"mand", false, MS_MANDLOCK},      {"noatime", false, MS_NOATIME},
      {"nodev", false, MS_NODEV},        {"nodiratime", false, MS_NODIRATIME},
      {"noexec", false, MS_NOEXEC},      {"nomand", true, MS_MANDLOCK},
      {"norelatime", true, MS_RELATIME}, {"nostrictatime", true, MS_STRICTATIME},
      {"nosuid", false, MS_NOSUID},      {"rbind", false, MS_BIND | MS_REC},
      {"relatime", false, MS_RELATIME},  {"ro", false, MS_RDONLY},
      {"rw", true, MS_RDONLY},           {"strictatime", false, MS_STRICTATIME},
      {"suid", true, MS_NOSUID},         {"sync", false, MS_SYNCHRONOUS},
  };
  static const std::pair<const char*, unsigned long> propagations[] = {
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  parsed_options out;
  for (auto& o : options) {
    bool known = false;
    for (auto& f : flags)
      if (o == f.name) {
        known = true;
        if (f.clear) {
          out.flags &= ~f.value;
          out.cleared |= f.value;
        } else {
          out.flags |= f.value;
        }
      }
    for (auto& [name, value] : propagations)
      if (o == name) {
        known = true;
        out.propagation.push_back(value);
      }
    // SELinux relabeling and Docker's tmpfs copy-up are not mount options.
    if (known || o == "z" || o == "Z" || o == "tmpcopyup") continue;
    if (!out.data.empty()) out.data += ",";
    out.data += o;
  }
  return out;
}

bool is_bind(const mount_spec& m) {
  if (m.type == "bind") return true;
  for (auto& o : m.options)
    if (o == "bind" || o == "rbind") return true;
  return false;
}

// ---- users ----

using exec_user = berth::exec::users::exec_user;

std::string read_file(const char* path) {
  std::string out;
  FILE* f = std::fopen(path, "re");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
    out.append(buf, n);
  std::fclose(f);
  return out;
}

// The user from the container's /etc/passwd and /etc/group (after pivot_root).
exec_user resolve_user(const std::string& spec_user, const std::vector<std::string>& additional) {
  exec_user u;
  auto err = berth::exec::users::resolve(spec_user, additional, read_file, u);
  if (!err.empty()) report('S', err);
  return u;
}

// ---- the container ----

void mount_dev(const spec& s) {
  do_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  struct node {
    const char* path;
    unsigned major, minor;
  };
  static const node nodes[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                               {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
  for (auto& n : nodes)
    if (::mknod(n.path, S_IFCHR | 0666, makedev(n.major, n.minor)) != 0)
      fail(std::string{"mknod "} + n.path);
  ::mkdir("/dev/pts", 0755);
  do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620,gid=5");
  make_symlink("pts/ptmx", "/dev/ptmx");
  ::mkdir("/dev/shm", 01777);
  do_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "mode=1777,size=" + std::to_string(s.shm_size));
  ::mkdir("/dev/mqueue", 0755);
  do_mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  make_symlink("/proc/self/fd", "/dev/fd");
  make_symlink("/proc/self/fd/0", "/dev/stdin");
  make_symlink("/proc/self/fd/1", "/dev/stdout");
  make_symlink("/proc/self/fd/2", "/dev/stderr");
  make_symlink("/proc/kcore", "/dev/core");
  // A privileged container's host devices, as runc makes them; the standard ones stay.
  for (auto& dev : s.devices) {
    struct stat st;
    if (dev.path.rfind("/dev/", 0) != 0 || dev.path.find("/../") != std::string::npos ||
        ::lstat(dev.path.c_str(), &st) == 0)
      continue;
    mkdir_all(dev.path.substr(0, dev.path.rfind('/')), 0755);
    auto kind = dev.type == 'b' ? S_IFBLK : S_IFCHR;
    auto mode = static_cast<mode_t>(dev.mode & 07777);
    if (::mknod(dev.path.c_str(), kind | mode,
                makedev(static_cast<unsigned>(dev.major), static_cast<unsigned>(dev.minor))) != 0)
      fail("mknod " + dev.path);
    if (::chown(dev.path.c_str(), static_cast<uid_t>(dev.uid), static_cast<gid_t>(dev.gid)) != 0)
      fail("chown " + dev.path);
  }
}

// The container's terminal, as runc makes it: a pty of the container's own devpts, its slave on
// stdio and bind-mounted on /dev/console (so `tty` says /dev/pts/0), owned by the user; the
// master goes to berthd over the spec socket (SCM_RIGHTS).
// A pty of the container's devpts, its slave owned by the user; returns its number.
int open_pty(const exec_user& u, int& master, int& slave) {
  master = ::open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail("open /dev/pts/ptmx");
  int unlock = 0;
  if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) fail("unlock the pty");
  int number = -1;
  if (::ioctl(master, TIOCGPTN, &number) != 0) fail("pty number");
  slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail("open the pty slave");
  if (::fchown(slave, u.uid, static_cast<gid_t>(-1)) != 0) fail("chown the pty slave");
  return number;
}

// Send `fds` to berthd on the spec socket (SCM_RIGHTS) with `data`.
void send_fds(const void* data, size_t size, const std::vector<int>& fds, const char* what) {
  iovec iov{const_cast<void*>(data), size};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))]{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
  auto* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  if (::sendmsg(spec_fd, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) fail(what);
}

void open_console(const exec_user& u) {
  int master = -1, slave = -1;
  int number = open_pty(u, master, slave);
  make_mountpoint("/dev/console", false);
  do_mount(("/dev/pts/" + std::to_string(number)).c_str(), "/dev/console", nullptr, MS_BIND);
  for (int i = 0; i < 3; ++i)
    if (::dup2(slave, i) < 0) fail("dup2 the pty slave");
  ::close(slave);
  char byte = 'P';
  send_fds(&byte, 1, {master}, "send the pty to berthd");
  ::close(master);
}

void mount_spec_mounts(const spec& s, const std::vector<int>& sources) {
  for (size_t i = 0; i < s.mounts.size(); ++i) {
    auto& m = s.mounts[i];
    auto opts = parse_options(m.options);
    auto& dest = m.destination;
    if (sources[i] >= 0) {
      struct stat st {};
      if (::fstat(sources[i], &st) != 0) fail("stat " + m.source);
      make_mountpoint(dest, S_ISDIR(st.st_mode));
      if (::move_mount(sources[i], "", AT_FDCWD, dest.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
        fail("mount " + m.source + " on " + dest);
      ::close(sources[i]);
      auto extra = opts.flags & ~(MS_BIND | MS_REC);
      if (extra != 0)
        do_mount(nullptr, dest, nullptr, MS_BIND | MS_REMOUNT | extra | mount_flags(dest));
    } else {
      make_mountpoint(dest, true);
      auto type = m.type.empty() ? std::string{"none"} : m.type;
      do_mount(m.source.empty() ? type.c_str() : m.source.c_str(), dest, type.c_str(), opts.flags,
               opts.data);
    }
    for (auto p : opts.propagation)
      do_mount(nullptr, dest, nullptr, p);
  }
}

void mask_paths(const spec& s) {
  for (auto& p : s.masked) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      fail("stat " + p);
    }
    if (S_ISDIR(st.st_mode))
      do_mount("tmpfs", p, "tmpfs", MS_RDONLY);
    else
      do_mount("/dev/null", p, nullptr, MS_BIND);
  }
  for (auto& p : s.readonly) {
    if (::mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      if (errno == ENOENT) continue;
      fail("mount " + p + " read-only");
    }
    do_mount(nullptr, p, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | mount_flags(p));
  }
}

void write_sysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/";
  for (char c : key)
    path += c == '.' ? '/' : c;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("open sysctl " + key);
  auto n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) fail("write sysctl " + key, n < 0 ? err : EIO);
}

void set_rlimits(const spec& s) {
  for (auto& r : s.rlimits) {
    struct rlimit lim {};
    lim.rlim_cur = r.soft;
    lim.rlim_max = r.hard;
    auto res = static_cast<__rlimit_resource>(r.resource);
    if (::setrlimit(res, &lim) == 0) continue;
    // Without CAP_SYS_RESOURCE a hard limit cannot rise: clamp to the one we have.
    struct rlimit cur {};
    if (errno != EPERM || ::getrlimit(res, &cur) != 0) fail("setrlimit");
    if (lim.rlim_max > cur.rlim_max) lim.rlim_max = cur.rlim_max;
    if (lim.rlim_cur > lim.rlim_max) lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(res, &lim) != 0) fail("setrlimit");
  }
}

void loopback_up() {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) fail("socket");
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) fail("get lo flags");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) fail("set lo up");
  ::close(sock);
}

// Capabilities as runc applies Docker's spec: the bounding set is the container's set; root keeps
// it as permitted and effective, any other user gets none (moby leaves a non-root user's
// permitted and effective sets empty; file capabilities still work up to the bounding set).
// Inheritable and ambient are empty. Identity changes happen with PR_SET_KEEPCAPS in between.
void apply_identity(const spec& s, const exec_user& u) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) fail("capget");
  uint64_t permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
  for (int c = 0; c < 64; ++c) {
    if (s.caps & (uint64_t{1} << c)) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
      fail("drop capability " + std::to_string(c));
  }
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("prctl keepcaps");
  if (::setgroups(u.groups.size(), u.groups.data()) != 0) fail("setgroups");
  if (::setresgid(u.gid, u.gid, u.gid) != 0) fail("setgid");
  if (::setresuid(u.uid, u.uid, u.uid) != 0) fail("setuid");
  uint64_t keep = u.uid == 0 ? s.caps & permitted : 0;
  data[0] = {static_cast<uint32_t>(keep), static_cast<uint32_t>(keep), 0};
  data[1] = {static_cast<uint32_t>(keep >> 32), static_cast<uint32_t>(keep >> 32), 0};
  if (::syscall(SYS_capset, &hdr, data) != 0) fail("capset");
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("prctl keepcaps");
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (s.has(flag_no_new_privileges) && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    fail("prctl no_new_privs");
}

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=')
      return e.substr(key.size() + 1);
  return {};
}

bool has_env(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (e.compare(0, key.size(), key) == 0 && e.size() > key.size() && e[key.size()] == '=')
      return true;
  return false;
}

// Go's exec.LookPath, with runc's messages: a name without '/' is searched in PATH.
std::string look_path(const std::string& cmd, const std::vector<std::string>& env) {
  auto quoted = "exec: \"" + cmd + "\": ";
  auto executable = [](const std::string& p, int& err) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      err = errno;
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      err = EISDIR;
      return false;
    }
    if ((st.st_mode & 0111) == 0) {
      err = EACCES;
      return false;
    }
    return true;
  };
  int err = 0;
  if (cmd.find('/') != std::string::npos) {
    if (executable(cmd, err)) return cmd;
    if (err == ENOENT || err == ENOTDIR) report('I', quoted + "stat " + cmd + ": " + errstr(err));
    report('I', quoted + errstr(err));
  }
  auto path = has_env(env, "PATH") ? env_value(env, "PATH") : default_path;
  for (auto& dir : split(path, ':')) {
    auto candidate = (dir.empty() ? std::string{"."} : dir) + "/" + cmd;
    if (executable(candidate, err)) return candidate;
  }
  report('I', quoted + "executable file not found in $PATH");
}

void reset_signals() {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void exec_command(const std::string& path, std::vector<std::string>& args,
                               std::vector<std::string>& env) {
  auto argv = c_strings(args);
  auto envp = c_strings(env);
  ::execve(path.c_str(), argv.data(), envp.data());
  report('I', "exec " + path + ": " + errstr(errno), 127);
}

// The minimal init (as tini): the command runs as our child; we forward every signal to it,
// reap every zombie, and exit with its status (128 + signal when it was killed).
[[noreturn]] void run_init(bool tty, const std::string& path, std::vector<std::string>& args,
                           std::vector<std::string>& env) {
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  pid_t child = ::fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    if (tty) {
      // The command's own process group in the foreground of the terminal.
      ::setpgid(0, 0);
      ::signal(SIGTTOU, SIG_IGN);
      ::tcsetpgrp(0, ::getpid());
    }
    reset_signals();
    exec_command(path, args, env);
  }
  if (!standalone_init)
    ::close(report_fd); // the child's copy reports its exec; ours must not hold the pipe open
  for (;;) {
    siginfo_t info{};
    int sig = ::sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      ::kill(child, sig);
      continue;
    }
    int status = 0;
    pid_t p;
    while ((p = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (p != child) continue;
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
}

// `docker-init -- cmd [args...]`: berth-exec bind-mounted at /sbin/docker-init by the oci driver
// for `--init`; the runtime has set the container up, so only the init's part is left.
[[noreturn]] void init_main(char** cmd) {
  standalone_init = true;
  std::vector<std::string> args, env;
  for (auto** a = cmd; *a; ++a)
    args.emplace_back(*a);
  for (auto** e = environ; *e; ++e)
    env.emplace_back(*e);
  auto path = look_path(args[0], env);
  run_init(::isatty(0) == 1, path, args, env);
}

// The pid layout of clone3's argument block (linux/sched.h's struct clone_args clashes with
// <sched.h>).
struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};

// `berth-exec --join` (docker exec; see spec_format.hpp for the fds): join the container's
// namespaces through the pidfd on fd 5 (berthd has put us in its cgroup), make the pty in its
// devpts, fork the command as berthd's child (CLONE_PARENT) in the container's PID namespace,
// hand its pid, pidfd and pty master to berthd, and exit. The command's failures to start go to
// the error pipe, which it holds CLOEXEC (EOF = exec'd).
[[noreturn]] void join_main() {
  constexpr int target_fd = 5;
  for (int fd : {spec_fd, report_fd, target_fd})
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      std::fputs("berth-exec: the native exec driver's helper; berthd runs it\n", stderr);
      ::_exit(2);
    }
  ::syscall(SYS_close_range, 6U, ~0U, 0U);
  ::umask(0);
  auto s = read_join_spec();
  if (::setns(target_fd, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID |
                             CLONE_NEWCGROUP) != 0)
    fail("join the container's namespaces");
  ::close(target_fd);
  auto user = resolve_user(s.user, s.additional_groups);
  int master = -1, slave = -1;
  if (s.has(flag_tty)) open_pty(user, master, slave);
  set_rlimits(s);

  int pidfd = -1;
  clone3_args args{};
  args.flags = CLONE_PIDFD | CLONE_PARENT;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  auto pid = ::syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0) fail("clone3");
  if (pid == 0) {
    if (s.has(flag_tty)) {
      for (int i = 0; i < 3; ++i)
        if (::dup2(slave, i) < 0) fail("dup2 the pty slave");
      ::close(slave);
      ::close(master);
    }
    if (::setsid() < 0) fail("setsid");
    if (s.has(flag_tty) && ::ioctl(0, TIOCSCTTY, 0) != 0) fail("set controlling tty");
    if (::chdir(s.cwd.c_str()) != 0)
      report('S', "chdir to cwd (\"" + s.cwd + "\") set in config.json failed: " + errstr(errno));
    apply_identity(s, user);
    ::umask(022);
    if (!has_env(s.env, "HOME")) s.env.push_back("HOME=" + user.home);
    auto path = look_path(s.args[0], s.env);
    reset_signals();
    exec_command(path, s.args, s.env);
  }
  auto command = static_cast<int32_t>(pid);
  std::vector<int> fds{pidfd};
  if (s.has(flag_tty)) fds.push_back(master);
  send_fds(&command, sizeof(command), fds, "hand the command to berthd");
  ::_exit(0);
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--") == 0) init_main(argv + 2);
  if (argc == 2 && std::strcmp(argv[1], "--join") == 0) join_main();
  if (::fcntl(spec_fd, F_GETFD) < 0 || ::fcntl(report_fd, F_SETFD, FD_CLOEXEC) != 0) {
    std::fputs("berth-exec: the native exec driver's helper; berthd runs it\n", stderr);
    return 2;
  }
  ::syscall(SYS_close_range, 5U, ~0U, 0U);
  ::umask(0);
  auto s = read_spec();

  if (!s.net_ns.empty()) { // while the host's /proc is still mounted
    int ns = ::open(s.net_ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) fail("join the network namespace " + s.net_ns);
    ::close(ns);
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("make / private");
  do_mount(s.rootfs.c_str(), s.rootfs, nullptr, MS_BIND | MS_REC);

  // Clone the bind sources while the host's tree is still visible.
  std::vector<int> sources(s.mounts.size(), -1);
  for (size_t i = 0; i < s.mounts.size(); ++i) {
    auto& m = s.mounts[i];
    if (!is_bind(m)) continue;
    bool recursive = false;
    for (auto& o : m.options)
      recursive = recursive || o == "rbind";
    sources[i] = ::open_tree(AT_FDCWD, m.source.c_str(),
                             OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (sources[i] < 0) fail("mount source " + m.source);
  }

  if (::chdir(s.rootfs.c_str()) != 0) fail("chdir " + s.rootfs);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) fail("pivot_root " + s.rootfs);
  if (::umount2(".", MNT_DETACH) != 0) fail("unmount the old root");
  if (::chdir("/") != 0) fail("chdir /");

  ::mkdir("/proc", 0555);
  do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  ::mkdir("/sys", 0555);
  do_mount("sysfs", "/sys", "sysfs",
           MS_NOSUID | MS_NODEV | MS_NOEXEC | (s.has(flag_privileged) ? 0 : MS_RDONLY));
  ::mkdir("/dev", 0755);
  mount_dev(s);
  mount_spec_mounts(s, sources);

  if (!s.has(flag_host_uts)) {
    if (!s.hostname.empty() && ::sethostname(s.hostname.data(), s.hostname.size()) != 0)
      fail("sethostname");
    if (!s.domainname.empty() && ::setdomainname(s.domainname.data(), s.domainname.size()) != 0)
      fail("setdomainname");
  }
  for (auto& [key, value] : s.sysctls)
    write_sysctl(key, value);
  set_rlimits(s);
  if (s.has(flag_new_net)) loopback_up();

  auto user = resolve_user(s.user, s.additional_groups);
  mkdir_all(s.cwd, 0755); // owned by root, as moby's SetupWorkingDirectory makes it
  if (s.has(flag_tty)) open_console(user);
  mask_paths(s);
  if (s.has(flag_readonly_rootfs))
    do_mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | mount_flags("/"));
  if (::chdir(s.cwd.c_str()) != 0) fail("chdir " + s.cwd);

  // berthd's go: it has moved us into the container's cgroup (while we did the above). Our own
  // cgroup namespace is rooted there.
  char go = 0;
  read_exact(&go, 1, "wait for the container's cgroup");
  ::close(spec_fd);
  if (::unshare(CLONE_NEWCGROUP) != 0) fail("unshare cgroup namespace");

  if (::setsid() < 0) fail("setsid");
  if (s.has(flag_tty) && ::ioctl(0, TIOCSCTTY, 0) != 0) fail("set controlling tty");
  apply_identity(s, user);
  ::umask(022);

  if (!has_env(s.env, "HOME")) s.env.push_back("HOME=" + user.home);
  auto path = look_path(s.args[0], s.env);
  if (s.has(flag_init)) run_init(s.has(flag_tty), path, s.args, s.env);
  reset_signals();
  exec_command(path, s.args, s.env);
}
