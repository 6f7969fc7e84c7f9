// Graph driver selection: the valid names, the overlayfs capability probe and make_driver.
// Each driver's home is `<data-root>/<name>`. Also the few helpers both drivers share
// (graph::detail, declared in drivers/graph/detail.hpp).
#include "drivers/graph/driver.hpp"

#include "drivers/graph/archive.hpp"
#include "drivers/graph/detail.hpp"
#include "messages/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace berth::graph {

namespace detail {

caf::expected<std::vector<std::string>> list_fd(int fd) {
  int own = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = own >= 0 ? ::fdopendir(own) : nullptr;
  if (!d) {
    auto err = make_error(ec::system, std::string{"opendir: "} + std::strerror(errno));
    if (own >= 0) ::close(own);
    return err;
  }
  std::vector<std::string> out;
  while (auto* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      out.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

caf::error check_id(const std::string& id) {
  if (id.empty() || id == "." || id == ".." || id == "l" || id.size() > 255 ||
      id.find('/') != std::string::npos || id.find('\0') != std::string::npos)
    return make_error(ec::invalid_argument, "invalid layer ID \"" + id + "\"");
  return {};
}

std::vector<std::string> list_names(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string backing_fs(const std::string& dir) {
  struct statfs fs;
  if (::statfs(dir.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<unsigned long>(fs.f_type)) {
  case 0xEF53:
    return "extfs";
  case 0x58465342:
    return "xfs";
  case 0x9123683E:
    return "btrfs";
  case 0x01021994:
    return "tmpfs";
  case 0x794c7630:
    return "overlayfs";
  case 0x2FC12FC1:
    return "zfs";
  case 0x6969:
    return "nfs";
  default:
    return "unknown";
  }
}

// Docker's init layer: mount points and bind-mount targets a container needs, created (owned by
// root) only where the image has nothing. Paths never leave `root` (openat2 RESOLVE_BENEATH).
caf::error create_init_files(const std::string& root) {
  struct item {
    const char* path;
    char kind; // 'd' dir, 'f' file, 'l' symlink
    const char* target;
  };
  static const item items[] = {
      {"dev/pts", 'd', nullptr},     {"dev/shm", 'd', nullptr},
      {"proc", 'd', nullptr},        {"sys", 'd', nullptr},
      {".dockerenv", 'f', nullptr},  {"etc/resolv.conf", 'f', nullptr},
      {"etc/hosts", 'f', nullptr},   {"etc/hostname", 'f', nullptr},
      {"dev/console", 'f', nullptr}, {"etc/mtab", 'l', "/proc/mounts"},
  };
  int rootfd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return make_error(ec::system, "open " + root + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    auto err = make_error(ec::system, "init layer: " + what + ": " + std::strerror(errno));
    ::close(rootfd);
    return err;
  };
  auto open_dir = [&](const std::string& rel) -> int {
    if (rel.empty()) return ::openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(::syscall(SYS_openat2, rootfd, rel.c_str(), &how, sizeof how));
  };
  for (auto& it : items) {
    std::string path = it.path;
    // Parents first (mkdir -p, 0755 root).
    std::string prefix;
    int dfd = open_dir("");
    std::size_t start = 0;
    std::string base;
    while (true) {
      auto slash = path.find('/', start);
      if (slash == std::string::npos) {
        base = path.substr(start);
        break;
      }
      auto comp = path.substr(start, slash - start);
      prefix += (prefix.empty() ? "" : "/") + comp;
      int next = open_dir(prefix);
      if (next < 0 && errno == ENOENT) {
        if (::mkdirat(dfd, comp.c_str(), 0755) == 0) {
          ::fchmodat(dfd, comp.c_str(), 0755, 0);
          ::fchownat(dfd, comp.c_str(), 0, 0, AT_SYMLINK_NOFOLLOW);
        }
        next = open_dir(prefix);
      }
      ::close(dfd);
      if (next < 0) return fail("open /" + prefix);
      dfd = next;
      start = slash + 1;
    }
    struct stat st;
    bool exists = ::fstatat(dfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    int rc = 0;
    if (!exists) {
      if (it.kind == 'd') {
        rc = ::mkdirat(dfd, base.c_str(), 0755);
        if (rc == 0) rc = ::fchmodat(dfd, base.c_str(), 0755, 0);
      } else if (it.kind == 'f') {
        int fd =
            ::openat(dfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        rc = fd < 0 ? -1 : ::fchmod(fd, 0644);
        if (fd >= 0) ::close(fd);
      } else {
        rc = ::symlinkat(it.target, dfd, base.c_str());
      }
      if (rc == 0) rc = ::fchownat(dfd, base.c_str(), 0, 0, AT_SYMLINK_NOFOLLOW);
      if (rc != 0 && errno == EPERM && ::geteuid() != 0) rc = 0;
    }
    ::close(dfd);
    if (rc != 0) return fail("create /" + path);
  }
  ::close(rootfd);
  return {};
}

} // namespace detail

namespace {

constexpr long overlayfs_magic = 0x794c7630; // OVERLAYFS_SUPER_MAGIC

bool kernel_has_overlay() {
  std::ifstream in{"/proc/filesystems"};
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.rfind('\t');
    if ((tab == std::string::npos ? line : line.substr(tab + 1)) == "overlay") return true;
  }
  return false;
}

// Mounts a throwaway overlay in a temp dir under `dir` (some filesystems cannot be an upper).
bool test_mount(const std::string& dir) {
  std::string tmpl = dir + "/.overlay-check-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return false;
  const std::string base = tmpl;
  bool ok = true;
  for (const char* sub : {"/lower", "/upper", "/work", "/merged"})
    ok = ok && ::mkdir((base + sub).c_str(), 0700) == 0;
  if (ok) {
    auto opts = "lowerdir=" + base + "/lower,upperdir=" + base + "/upper,workdir=" + base + "/work";
    ok = ::mount("overlay", (base + "/merged").c_str(), "overlay", 0, opts.c_str()) == 0;
    if (ok) ::umount2((base + "/merged").c_str(), MNT_DETACH);
  }
  io::remove_all(base);
  return ok;
}

} // namespace

const std::vector<std::string>& driver_names() {
  static const std::vector<std::string> names{"overlay2", "vfs"};
  return names;
}

bool overlay_supported(const std::string& dir) {
  if (!kernel_has_overlay()) return false;
  struct statfs fs;
  if (::statfs(dir.c_str(), &fs) != 0) return false;
  if (static_cast<long>(fs.f_type) == overlayfs_magic) return false; // no overlay on overlay
  return test_mount(dir);
}

caf::expected<std::unique_ptr<driver>> make_driver(const std::string& name,
                                                   const std::string& data_root) {
  if (name.empty()) {
    if (auto err = io::mkdir_all(data_root, 0711)) return err;
    if (overlay_supported(data_root)) return make_overlay2(data_root + "/overlay2");
    return make_vfs(data_root + "/vfs");
  }
  if (name == "overlay2") return make_overlay2(data_root + "/overlay2");
  if (name == "vfs") return make_vfs(data_root + "/vfs");
  std::string valid;
  for (auto& n : driver_names())
    valid += (valid.empty() ? "" : ", ") + n;
  return make_error(ec::invalid_argument,
                    "unknown storage driver \"" + name + "\" (valid: " + valid + ")");
}

caf::error driver::diff_tar(const std::string& id, const std::vector<change>& changes,
                            io::writer out) {
  auto root = mount(id);
  if (!root) return root.error();
  auto err = write_changes_tar(*root, changes, std::move(out));
  auto uerr = unmount(id);
  return err ? err : uerr;
}

} // namespace berth::graph
