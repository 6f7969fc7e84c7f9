// The vfs graph driver: every layer is a full copy of its parent's tree plus its own changes.
// Slow and space-hungry, but it works on any filesystem and needs no mounts.
//
// On-disk layout (home = <data-root>/vfs):
//   home/dir/<id>/     the layer's complete root filesystem
//   home/meta/<id>     the parent layer's ID and a newline (empty for a base layer); kept outside
//                      the tree so export and changes never see it
//   home/split/<id>    the tar-split record of an image layer (see drivers/graph/archive.cpp)
// A container's layers are `<id>-init` (a copy of the image's top layer plus Docker's init files)
// and `<id>` (a copy of the init layer), both ordinary layers here.
#include "drivers/graph/detail.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

namespace berth::graph {

using detail::list_fd;

namespace {

using io::sys_error;
using io::unique_fd;

std::string proc_path(int dirfd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

caf::error copy_xattrs(const std::string& src, const std::string& dst) {
  auto len = ::llistxattr(src.c_str(), nullptr, 0);
  if (len <= 0) return {};
  std::string names(static_cast<std::size_t>(len), '\0');
  len = ::llistxattr(src.c_str(), names.data(), names.size());
  if (len < 0) return {};
  names.resize(static_cast<std::size_t>(len));
  for (std::size_t i = 0; i < names.size();) {
    std::string key = names.c_str() + i;
    i += key.size() + 1;
    auto vlen = ::lgetxattr(src.c_str(), key.c_str(), nullptr, 0);
    if (vlen < 0) continue;
    std::string val(static_cast<std::size_t>(vlen), '\0');
    vlen = ::lgetxattr(src.c_str(), key.c_str(), val.data(), val.size());
    if (vlen < 0) continue;
    if (::lsetxattr(dst.c_str(), key.c_str(), val.data(), static_cast<size_t>(vlen), 0) != 0 &&
        errno != ENOTSUP && errno != EPERM)
      return sys_error("copy xattr " + key);
  }
  return {};
}

// A recursive copy that keeps owners, modes, times, xattrs, symlinks, device nodes and the
// hardlinks within the tree. Never follows a symlink.
class tree_copier {
public:
  explicit tree_copier(int dst_root) : dst_root_(dst_root) {}

  caf::error copy_dir(int sfd, int dfd, const std::string& rel) {
    auto names = list_fd(sfd);
    if (!names) return names.error();
    for (auto& n : *names) {
      auto path = rel.empty() ? n : rel + "/" + n;
      struct stat st;
      if (::fstatat(sfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return sys_error("stat " + path);
      if (auto err = copy_one(sfd, dfd, n, path, st)) return err;
    }
    return {};
  }

  // Owner, mode, xattrs and times of `name` (the root when empty: then both fds are the dirs).
  static caf::error copy_meta(int sfd, int dfd, const std::string& name, const struct stat& st) {
    const char* n = name.empty() ? "" : name.c_str();
    int flags = AT_SYMLINK_NOFOLLOW | (name.empty() ? AT_EMPTY_PATH : 0);
    if (::fchownat(dfd, n, st.st_uid, st.st_gid, flags) != 0 &&
        (::geteuid() == 0 || errno != EPERM))
      return sys_error("chown " + name);
    if (!S_ISLNK(st.st_mode)) {
      int rc = name.empty() ? ::fchmod(dfd, st.st_mode & 07777)
                            : ::fchmodat(dfd, n, st.st_mode & 07777, 0);
      if (rc != 0) return sys_error("chmod " + name);
    }
    if (name.empty()) {
      // The roots are opened O_RDONLY: use the fds directly.
      auto len = ::flistxattr(sfd, nullptr, 0);
      if (len > 0) {
        std::string names(static_cast<std::size_t>(len), '\0');
        len = ::flistxattr(sfd, names.data(), names.size());
        for (std::size_t i = 0; len > 0 && i < static_cast<std::size_t>(len);) {
          std::string key = names.c_str() + i;
          i += key.size() + 1;
          char val[65536];
          auto vlen = ::fgetxattr(sfd, key.c_str(), val, sizeof val);
          if (vlen >= 0) ::fsetxattr(dfd, key.c_str(), val, static_cast<size_t>(vlen), 0);
        }
      }
    } else if (auto err = copy_xattrs(proc_path(sfd, name), proc_path(dfd, name))) {
      return err;
    }
    timespec ts[2] = {st.st_atim, st.st_mtim};
    int rc = name.empty() ? ::futimens(dfd, ts) : ::utimensat(dfd, n, ts, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return sys_error("set times of " + name);
    return {};
  }

private:
  caf::error copy_one(int sfd, int dfd, const std::string& n, const std::string& path,
                      const struct stat& st) {
    const char* c = n.c_str();
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(dfd, c, 0700) != 0) return sys_error("mkdir " + path);
      unique_fd s{::openat(sfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
      unique_fd d{::openat(dfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
      if (!s || !d) return sys_error("open " + path);
      if (auto err = copy_dir(s.fd, d.fd, path)) return err;
      return copy_meta(sfd, dfd, n, st);
    }
    if (S_ISREG(st.st_mode)) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      if (st.st_nlink > 1) {
        auto it = links_.find(key);
        if (it != links_.end()) {
          if (::linkat(dst_root_, it->second.c_str(), dfd, c, 0) != 0)
            return sys_error("link " + path);
          return {};
        }
      }
      unique_fd s{::openat(sfd, c, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
      if (!s) return sys_error("open " + path);
      unique_fd d{::openat(dfd, c, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
      if (!d) return sys_error("create " + path);
      if (auto err = copy_data(s.fd, d.fd, st.st_size, path)) return err;
      if (st.st_nlink > 1) links_[key] = path;
      return copy_meta(sfd, dfd, n, st);
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 256, '\0');
      auto k = ::readlinkat(sfd, c, target.data(), target.size());
      if (k < 0) return sys_error("readlink " + path);
      target.resize(static_cast<std::size_t>(k));
      if (::symlinkat(target.c_str(), dfd, c) != 0) return sys_error("symlink " + path);
      return copy_meta(sfd, dfd, n, st);
    }
    if (::mknodat(dfd, c, st.st_mode, st.st_rdev) != 0) return sys_error("mknod " + path);
    return copy_meta(sfd, dfd, n, st);
  }

  static caf::error copy_data(int s, int d, off_t size, const std::string& path) {
    off_t left = size;
    bool fallback = false;
    while (left > 0 && !fallback) {
      auto k = ::copy_file_range(s, nullptr, d, nullptr, static_cast<size_t>(left), 0);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        fallback = true;
        break;
      }
      if (k < 0) return sys_error("copy " + path);
      if (k == 0) break; // the source shrank
      left -= k;
    }
    while (left > 0) {
      auto k = ::sendfile(d, s, nullptr, static_cast<size_t>(left));
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return sys_error("copy " + path);
      if (k == 0) break;
      left -= k;
    }
    return {};
  }

  int dst_root_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

// docker diff between two trees (`ofd` < 0: no parent, everything is added), and the bytes of
// the regular files the layer adds or changes.
class differ {
public:
  std::vector<change> out;
  int64_t bytes = 0;

  caf::error walk(int nfd, int ofd, const std::string& rel) {
    auto names = list_fd(nfd);
    if (!names) return names.error();
    std::vector<std::string> old;
    if (ofd >= 0) {
      auto o = list_fd(ofd);
      if (!o) return o.error();
      old = std::move(*o);
    }
    for (auto& n : *names) {
      auto path = rel + "/" + n;
      struct stat ns, os;
      if (::fstatat(nfd, n.c_str(), &ns, AT_SYMLINK_NOFOLLOW) != 0) continue;
      bool in_old = ofd >= 0 && std::binary_search(old.begin(), old.end(), n) &&
                    ::fstatat(ofd, n.c_str(), &os, AT_SYMLINK_NOFOLLOW) == 0;
      bool changed = false;
      if (!in_old) {
        out.push_back({path, 1});
        count(ns);
      } else {
        bool dir = S_ISDIR(ns.st_mode) && S_ISDIR(os.st_mode);
        changed = ns.st_mode != os.st_mode || ns.st_uid != os.st_uid || ns.st_gid != os.st_gid ||
                  ns.st_rdev != os.st_rdev ||
                  (!dir && (ns.st_size != os.st_size || ns.st_mtim.tv_sec != os.st_mtim.tv_sec ||
                            ns.st_mtim.tv_nsec != os.st_mtim.tv_nsec)) ||
                  (S_ISLNK(ns.st_mode) && S_ISLNK(os.st_mode) &&
                   link_target(nfd, n) != link_target(ofd, n));
        if (changed) {
          out.push_back({path, 0});
          count(ns);
        }
      }
      if (!S_ISDIR(ns.st_mode)) continue;
      unique_fd nsub{::openat(nfd, n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
      if (!nsub) return sys_error("open " + path);
      unique_fd osub{in_old && S_ISDIR(os.st_mode)
                         ? ::openat(ofd, n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                         : -1};
      auto before = out.size();
      if (auto err = walk(nsub.fd, in_old ? osub.fd : -1, path)) return err;
      // A directory whose contents changed is itself changed (as Docker reports it).
      if (in_old && !changed && out.size() > before) out.push_back({path, 0});
    }
    for (auto& n : old)
      if (!std::binary_search(names->begin(), names->end(), n)) out.push_back({rel + "/" + n, 2});
    return {};
  }

private:
  void count(const struct stat& st) {
    if (!S_ISREG(st.st_mode)) return;
    if (st.st_nlink > 1 && !seen_.insert({st.st_dev, st.st_ino}).second) return;
    bytes += st.st_size;
  }

  static std::string link_target(int dfd, const std::string& n) {
    char buf[4096];
    auto k = ::readlinkat(dfd, n.c_str(), buf, sizeof buf);
    return k < 0 ? std::string{} : std::string(buf, static_cast<std::size_t>(k));
  }

  std::set<std::pair<dev_t, ino_t>> seen_;
};

class vfs_driver final : public driver {
public:
  explicit vfs_driver(std::string home) : home_(std::move(home)) {
    io::mkdir_all(home_ + "/dir", 0700);
    io::mkdir_all(home_ + "/meta", 0700);
    io::mkdir_all(home_ + "/split", 0700);
  }

  std::string name() const override { return "vfs"; }

  std::vector<std::pair<std::string, std::string>> status() const override {
    return {{"Backing Filesystem", detail::backing_fs(home_)}};
  }

  bool independent_layers() const override { return false; }

  caf::expected<extract_stats> apply_layer(const std::string& id, const std::string& parent,
                                           io::reader tar, const extract_limits& limits) override {
    if (auto err = make_layer(id, parent)) return err;
    auto stats = apply_tar(std::move(tar), dir(id), whiteout_mode::remove, limits, split(id));
    if (!stats) {
      remove_files(id);
      return stats.error();
    }
    return stats;
  }

  caf::error layer_tar(const std::string& id, io::writer out) override {
    if (!exists(id)) return not_found(id);
    if (::access(split(id).c_str(), F_OK) != 0)
      return make_error(ec::not_found, "layer " + id + " has no tar-split record");
    return rebuild_tar(split(id), dir(id), std::move(out));
  }

  caf::error create_rw(const std::string& id, const std::string& parent) override {
    auto init = id + "-init";
    if (auto err = detail::check_id(id)) return err;
    if (exists(id)) return make_error(ec::conflict, "layer " + id + " already exists");
    if (auto err = make_layer(init, parent)) return err;
    caf::error err = detail::create_init_files(dir(init));
    if (!err) err = make_layer(id, init);
    if (err) {
      remove_files(init);
      return err;
    }
    return {};
  }

  caf::expected<std::string> mount(const std::string& id) override {
    if (!exists(id)) return not_found(id);
    std::lock_guard<std::mutex> guard{mu_};
    ++mounts_[id];
    return dir(id);
  }

  caf::error unmount(const std::string& id) override {
    std::lock_guard<std::mutex> guard{mu_};
    auto it = mounts_.find(id);
    if (it != mounts_.end() && --it->second <= 0) mounts_.erase(it);
    return {};
  }

  caf::error remove(const std::string& id) override {
    if (auto err = detail::check_id(id)) return err;
    {
      std::lock_guard<std::mutex> guard{mu_};
      mounts_.erase(id);
    }
    return remove_files(id);
  }

  bool exists(const std::string& id) const override {
    struct stat st;
    return !detail::check_id(id) && ::lstat(dir(id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  std::vector<std::string> list() const override { return detail::list_names(home_ + "/dir"); }

  caf::expected<std::vector<change>> changes(const std::string& id) override {
    differ d;
    if (auto err = diff(id, d)) return err;
    std::sort(d.out.begin(), d.out.end(),
              [](const change& a, const change& b) { return a.path < b.path; });
    return std::move(d.out);
  }

  caf::error export_tar(const std::string& id, io::writer out) override {
    if (!exists(id)) return not_found(id);
    return write_tar(dir(id), std::move(out));
  }

  caf::expected<int64_t> size(const std::string& id) override {
    differ d;
    if (auto err = diff(id, d)) return err;
    return d.bytes;
  }

  void cleanup() override {
    std::lock_guard<std::mutex> guard{mu_};
    mounts_.clear();
  }

private:
  std::string dir(const std::string& id) const { return home_ + "/dir/" + id; }
  std::string meta(const std::string& id) const { return home_ + "/meta/" + id; }
  std::string split(const std::string& id) const { return home_ + "/split/" + id; }

  static caf::error not_found(const std::string& id) {
    return make_error(ec::not_found, "layer " + id + " not found");
  }

  std::string parent_of(const std::string& id) const {
    auto p = io::read_file(meta(id));
    if (!p) return {};
    auto s = std::move(*p);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
      s.pop_back();
    return s;
  }

  // dir/<id> as a copy of the parent's tree (or empty), and its meta file.
  caf::error make_layer(const std::string& id, const std::string& parent) {
    if (auto err = detail::check_id(id)) return err;
    if (exists(id)) return make_error(ec::conflict, "layer " + id + " already exists");
    if (!parent.empty() && !exists(parent))
      return make_error(ec::not_found, "parent layer " + parent + " not found");
    if (::mkdir(dir(id).c_str(), 0755) != 0) {
      if (errno == EEXIST) return make_error(ec::conflict, "layer " + id + " already exists");
      return sys_error("create layer " + id);
    }
    auto err = io::write_file_atomic(meta(id), parent + "\n", 0600);
    if (!err && !parent.empty()) {
      unique_fd s{::open(dir(parent).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
      unique_fd d{::open(dir(id).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
      if (!s || !d) {
        err = sys_error("open layer " + parent);
      } else {
        tree_copier c{d.fd};
        struct stat st;
        err = c.copy_dir(s.fd, d.fd, "");
        if (!err && ::fstat(s.fd, &st) == 0) err = tree_copier::copy_meta(s.fd, d.fd, "", st);
      }
    }
    if (err) remove_files(id);
    return err;
  }

  caf::error remove_files(const std::string& id) {
    auto err = io::remove_all(dir(id));
    ::unlink(meta(id).c_str());
    ::unlink(split(id).c_str());
    return err;
  }

  caf::error diff(const std::string& id, differ& d) {
    if (!exists(id)) return not_found(id);
    auto parent = parent_of(id);
    unique_fd nfd{::open(dir(id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!nfd) return sys_error("open layer " + id);
    unique_fd ofd{parent.empty() ? -1
                                 : ::open(dir(parent).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!parent.empty() && !ofd) return sys_error("open parent layer " + parent);
    return d.walk(nfd.fd, ofd.fd, "");
  }

  std::string home_;
  std::mutex mu_;
  std::map<std::string, int> mounts_;
};

} // namespace

caf::error copy_tree(int from, int to) {
  tree_copier c{to};
  if (auto err = c.copy_dir(from, to, "")) return err;
  struct stat st;
  if (::fstat(from, &st) != 0) return sys_error("stat the source of a copy");
  return tree_copier::copy_meta(from, to, "", st);
}

std::unique_ptr<driver> make_vfs(const std::string& home) {
  return std::make_unique<vfs_driver>(home);
}

} // namespace berth::graph
