// docker cp's view of a container filesystem (see container_fs.hpp).
#include "drivers/graph/container_fs.hpp"

#include "drivers/graph/driver.hpp"
#include "messages/error.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace berth::graph {

namespace {

using io::sys_error;
using io::unique_fd;

constexpr int max_links = 255; // moby's evalSymlinksInScope limit

caf::error not_found(const std::string& path) {
  return make_error(ec::not_found, "lstat " + path + ": no such file or directory");
}

// The error of a failed lookup of `path`: ENOENT is not found, the rest as they are.
caf::error lookup_error(const std::string& path, int err) {
  if (err == ENOENT) return not_found(path);
  return sys_error("lstat " + path, err);
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    auto end = slash == std::string::npos ? path.size() : slash;
    if (end > start) out.push_back(path.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// Go's filepath.Split: everything up to the last '/' (kept), and the rest.
std::pair<std::string, std::string> split_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

} // namespace

uint32_t go_file_mode(uint32_t m) {
  uint32_t mode = m & 0777;
  switch (m & S_IFMT) {
  case S_IFBLK:
    mode |= 1u << 26; // ModeDevice
    break;
  case S_IFCHR:
    mode |= (1u << 26) | (1u << 21); // ModeDevice | ModeCharDevice
    break;
  case S_IFDIR:
    mode |= 1u << 31; // ModeDir
    break;
  case S_IFIFO:
    mode |= 1u << 25; // ModeNamedPipe
    break;
  case S_IFLNK:
    mode |= 1u << 27; // ModeSymlink
    break;
  case S_IFSOCK:
    mode |= 1u << 24; // ModeSocket
    break;
  default:
    break;
  }
  if (m & S_ISGID) mode |= 1u << 22;
  if (m & S_ISUID) mode |= 1u << 23;
  if (m & S_ISVTX) mode |= 1u << 20;
  return mode;
}

std::string clean_abs(const std::string& path) {
  std::vector<std::string> out;
  for (auto& c : split(path)) {
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  std::string r;
  for (auto& c : out)
    r += "/" + c;
  return r.empty() ? "/" : r;
}

std::string base_name(const std::string& path) {
  if (path.empty()) return ".";
  auto end = path.find_last_not_of('/');
  if (end == std::string::npos) return "/";
  auto start = path.rfind('/', end);
  return path.substr(start == std::string::npos ? 0 : start + 1,
                     end - (start == std::string::npos ? 0 : start + 1) + 1);
}

std::string container_abs_path(const std::string& path) {
  auto cleaned = clean_abs(path);
  // moby's PreserveTrailingDotOrSeparator
  if (base_name(cleaned) != "." && base_name(path) == ".") {
    if (cleaned.back() != '/') cleaned += '/';
    cleaned += '.';
  }
  if (cleaned.back() != '/' && !path.empty() && path.back() == '/') cleaned += '/';
  return cleaned;
}

caf::expected<unique_fd> open_in_root(int rootfd, const std::string& path, int flags,
                                      bool follow_last) {
  auto start = path.find_first_not_of('/');
  auto rel = start == std::string::npos ? std::string{"."} : path.substr(start);
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0; attempt < 16; ++attempt) {
    long fd = ::syscall(SYS_openat2, rootfd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return unique_fd{static_cast<int>(fd)};
    if (errno != EAGAIN) break;
  }
  return lookup_error(path, errno);
}

caf::expected<std::string> resolve_in_scope(int rootfd, const std::string& path) {
  // moby's evalSymlinksInScope, with every lookup confined by open_in_root.
  std::vector<std::string> todo;
  for (auto& c : split(clean_abs(path)))
    todo.push_back(c);
  std::reverse(todo.begin(), todo.end()); // a stack: the next component is at the back
  std::vector<std::string> done;          // resolved components, none a symlink
  auto current = [&] {
    std::string r;
    for (auto& c : done)
      r += "/" + c;
    return r.empty() ? std::string{"/"} : r;
  };
  int links = 0;
  while (!todo.empty()) {
    auto p = std::move(todo.back());
    todo.pop_back();
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    auto dir = open_in_root(rootfd, current(), O_PATH | O_DIRECTORY);
    if (!dir) {
      if (dir.error() != ec::not_found) return dir.error();
      done.push_back(std::move(p)); // below a missing directory: kept as it is
      continue;
    }
    struct stat st;
    if (::fstatat(dir->fd, p.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) {
        done.push_back(std::move(p));
        continue;
      }
      return sys_error("lstat " + current() + "/" + p);
    }
    if (!S_ISLNK(st.st_mode)) {
      done.push_back(std::move(p));
      continue;
    }
    if (++links > max_links)
      return make_error(ec::invalid_argument,
                        "evalSymlinksInScope: too many links in " + clean_abs(path));
    std::string target(4096, '\0');
    auto n = ::readlinkat(dir->fd, p.c_str(), target.data(), target.size());
    if (n < 0) return sys_error("readlink " + current() + "/" + p);
    target.resize(static_cast<std::size_t>(n));
    if (!target.empty() && target[0] == '/') done.clear();
    auto comps = split(target);
    for (auto it = comps.rbegin(); it != comps.rend(); ++it)
      todo.push_back(*it);
  }
  return current();
}

/// A thread in a mount namespace of its own (private propagation) with a container's binds
/// mounted over its root; the namespace lives until the thread is told to end.
struct container_root::mount_ns {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  bool stop = false;
  caf::error err;
  unique_fd root; // opened inside the namespace: lookups through it see the binds
  std::thread thread;

  void run(const std::string& merged, const std::vector<bind_spec>& binds) {
    auto fail = [this](caf::error e) {
      std::lock_guard<std::mutex> lock{mu};
      err = std::move(e);
      ready = true;
      cv.notify_all();
    };
    if (::unshare(CLONE_FS | CLONE_NEWNS) != 0) return fail(sys_error("unshare a mount namespace"));
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return fail(sys_error("make the mount namespace private"));
    unique_fd rootfd{::open(merged.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!rootfd) return fail(sys_error("open the container root " + merged));
    auto magic = [](int fd) { return "/proc/self/fd/" + std::to_string(fd); };
    for (auto& b : binds) {
      unique_fd src{::open(b.source.c_str(), O_PATH | O_CLOEXEC)};
      auto dst = open_in_root(rootfd.fd, b.destination, O_PATH);
      if (!src || !dst) continue; // nothing to mount, or nowhere to mount it
      if (::mount(magic(src.fd).c_str(), magic(dst->fd).c_str(), nullptr, MS_BIND | MS_REC,
                  nullptr) != 0)
        return fail(sys_error("mount " + b.source + " on " + b.destination));
      if (!b.readonly) continue;
      auto top = open_in_root(rootfd.fd, b.destination, O_PATH); // the bind just made
      if (!top || ::mount(nullptr, magic(top->fd).c_str(), nullptr,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, nullptr) != 0)
        return fail(sys_error("make " + b.destination + " read-only"));
    }
    std::unique_lock<std::mutex> lock{mu};
    root = std::move(rootfd);
    ready = true;
    cv.notify_all();
    cv.wait(lock, [this] { return stop; }); // the namespace ends with this thread
  }

  ~mount_ns() {
    {
      std::lock_guard<std::mutex> lock{mu};
      stop = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }
};

caf::expected<std::unique_ptr<container_root>>
container_root::open(std::shared_ptr<driver> graph, const std::string& layer, int pid,
                     const std::string& id, const std::vector<bind_spec>& binds) {
  std::unique_ptr<container_root> root{new container_root};
  if (pid > 0 && !id.empty()) {
    // One /proc/<pid> fd for the root and the cgroup: both of the same process, which is still
    // the container's (its PID was not reused) when its cgroup names the container.
    unique_fd proc{
        ::open(("/proc/" + std::to_string(pid)).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    unique_fd fd{proc ? ::openat(proc.fd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1};
    unique_fd cg{proc ? ::openat(proc.fd, "cgroup", O_RDONLY | O_CLOEXEC) : -1};
    std::string cgroups(8192, '\0');
    auto n = cg ? ::read(cg.fd, cgroups.data(), cgroups.size()) : -1;
    cgroups.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (fd && cgroups.find(id) != std::string::npos) {
      root->fd_ = std::move(fd);
      return root;
    }
  }
  auto path = graph->mount(layer);
  if (!path) return path.error();
  root->graph_ = std::move(graph);
  root->layer_ = layer;
  if (!binds.empty()) {
    root->ns_ = std::make_unique<mount_ns>();
    auto* ns = root->ns_.get();
    ns->thread = std::thread{[ns, merged = *path, binds] { ns->run(merged, binds); }};
    std::unique_lock<std::mutex> lock{ns->mu};
    ns->cv.wait(lock, [ns] { return ns->ready; });
    if (ns->err) return ns->err;
    root->fd_ = unique_fd{::fcntl(ns->root.fd, F_DUPFD_CLOEXEC, 0)};
    if (!root->fd_) return sys_error("dup the container root");
    return root;
  }
  root->fd_ = unique_fd{::open(path->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  if (!root->fd_) return sys_error("open the container root " + *path);
  return root;
}

container_root::~container_root() {
  fd_.reset();
  ns_.reset(); // the binds' namespace ends before the layer is unmounted
  if (graph_ && !layer_.empty()) graph_->unmount(layer_);
}

namespace {

// The parent directory of what `abs` names and the name to look up in it ("." for the
// directory itself: a path ending in "/" or "/.", or the root).
struct located {
  unique_fd dir;
  std::string name;
};

caf::expected<located> locate(int rootfd, const std::string& abs) {
  auto [dir, base] = split_dir(abs);
  bool self = base.empty() || base == ".";
  auto fd = open_in_root(rootfd, self ? abs : dir, O_PATH | O_DIRECTORY);
  if (!fd) {
    if (fd.error() == ec::not_found) return not_found(abs);
    return fd.error();
  }
  // A running container's /proc, /sys, ...: moby sees the rootfs without them (empty dirs), so
  // nothing below them is found (they are themselves, and write_tar_entry leaves them empty).
  if (pseudo_filesystem(fd->fd)) {
    unique_fd up{self ? ::openat(fd->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1};
    if (!self || !up || pseudo_filesystem(up.fd)) return not_found(abs);
  }
  return located{std::move(*fd), self ? std::string{"."} : base};
}

} // namespace

caf::expected<path_info> stat_path(int rootfd, const std::string& path) {
  auto abs = container_abs_path(path);
  auto loc = locate(rootfd, abs);
  if (!loc) return loc.error();
  struct stat st;
  if (::fstatat(loc->dir.fd, loc->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return lookup_error(abs, errno);
  path_info out;
  out.name = base_name(abs);
  out.size = st.st_size;
  out.mode = go_file_mode(st.st_mode);
  out.mtime_nano = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (S_ISLNK(st.st_mode)) {
    auto target = resolve_in_scope(rootfd, abs);
    if (!target) return target.error();
    out.link_target = std::move(*target);
  }
  return out;
}

caf::error archive_path(int rootfd, const std::string& path, io::writer out) {
  auto abs = container_abs_path(path);
  auto loc = locate(rootfd, abs);
  if (!loc) return loc.error();
  struct stat st;
  if (::fstatat(loc->dir.fd, loc->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return lookup_error(abs, errno);
  return write_tar_entry(loc->dir.fd, loc->name, base_name(abs), std::move(out));
}

caf::error extract_to_dir(int rootfd, const std::string& path, io::reader src,
                          const untar_options& opts,
                          const std::function<caf::error(const std::string&)>& check) {
  auto abs = container_abs_path(path);
  // The last component is followed too (a symlink to a directory is a fine extraction point).
  auto fd = open_in_root(rootfd, abs, O_PATH);
  if (!fd) return fd.error();
  struct stat st;
  if (::fstat(fd->fd, &st) != 0) return sys_error("stat " + abs);
  if (pseudo_filesystem(fd->fd)) return not_found(abs); // as locate
  if (!S_ISDIR(st.st_mode))
    return make_error(ec::invalid_argument, "extraction point is not a directory");
  auto resolved = resolve_in_scope(rootfd, abs);
  if (!resolved) return resolved.error();
  if (check)
    if (auto err = check(*resolved)) return err;
  auto r = untar_at(std::move(src), fd->fd, opts);
  if (!r) return r.error();
  return {};
}

} // namespace berth::graph
