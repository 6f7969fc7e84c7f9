// The overlay2 graph driver: each layer is its own directory of changes (whiteouts as 0/0 char
// devices, opaque dirs by xattr), stacked by the kernel's overlayfs at mount time. Layers are
// independent, so a layer can be extracted before its parent is complete.
//
// On-disk layout (home = <data-root>/overlay2, Docker's layout plus a parent file):
//   home/l/<short>          symlink -> ../<id>/diff (keeps mount options short)
//   home/<id>/diff/         the layer's own files
//   home/<id>/link          <short>, the layer's name under home/l
//   home/<id>/lower         l/<short>:l/<short>:... of every ancestor, nearest first (absent for
//                           a base layer; written once every ancestor has its link)
//   home/<id>/parent        the parent's ID (berth's: lets `lower` be computed late)
//   home/<id>/work/         overlayfs workdir
//   home/<id>/merged/       mount point of the stacked view
//   home/<id>/tar-split     the tar-split record of an image layer (drivers/graph/archive.cpp)
//   home/.init/<id>/        the init layer's files for containers of the image layer <id> (a
//                           copy of the first one's, made through a mount; the next are copies)
//   home/.trash/            removed layers, deleted by a background thread
// Mounts use absolute lowerdir paths under home/l; a stack whose options exceed a page fails.
#include "drivers/graph/detail.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace berth::graph {

using detail::list_fd;

namespace {

using io::sys_error;
using io::unique_fd;

constexpr long overlayfs_magic = 0x794c7630;
constexpr std::size_t max_depth = 500; // parent chain guard (cycles)

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

bool is_overlay_mounted(const std::string& path) {
  struct statfs fs;
  return ::statfs(path.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == overlayfs_magic;
}

// stat of `rel` beneath `rootfd` without following any symlink.
bool stat_beneath(int rootfd, const std::string& rel, struct stat& st) {
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  long fd = ::syscall(SYS_openat2, rootfd, rel.c_str(), &how, sizeof how);
  if (fd < 0) return false;
  bool ok = ::fstat(static_cast<int>(fd), &st) == 0;
  ::close(static_cast<int>(fd));
  return ok;
}

bool is_whiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0;
}

// docker diff of an upper (diff) dir against the layers below it; also sums the diff's bytes.
// A whiteout is a deletion. An opaque dir (a dir removed and made again) hides what the lowers
// hold beneath it: what they held and the upper does not is reported deleted, one by one, so
// the answer is the exact diff of the two trees, as the vfs driver's (moby reports the opaque
// dir itself as deleted and its new entries as added or changed).
class upper_walker {
public:
  explicit upper_walker(std::vector<int> lowers) : lowers_(std::move(lowers)) {}
  std::vector<change> out;
  int64_t bytes = 0;

  // `hidden`: rel is (beneath) an opaque dir whose path the lowers also hold.
  caf::error walk(int dfd, const std::string& rel, bool all_added, bool hidden = false) {
    auto names = list_fd(dfd);
    if (!names) return names.error();
    if (hidden) {
      std::set<std::string> upper(names->begin(), names->end());
      for (auto& n : lower_names(rel.substr(1)))
        if (!upper.count(n)) out.push_back({rel + "/" + n, 2});
    }
    for (auto& n : *names) {
      auto path = rel + "/" + n;
      struct stat st;
      if (::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (is_whiteout(st)) {
        // beneath an opaque dir a whiteout hides nothing the listing above did not report
        if (!hidden) out.push_back({path, 2});
        continue;
      }
      count(st);
      struct stat lst;
      bool in_lower = !all_added && lower_stat(path.substr(1), lst);
      if (!S_ISDIR(st.st_mode)) {
        out.push_back({path, in_lower ? 0 : 1});
        continue;
      }
      bool lower_dir = in_lower && S_ISDIR(lst.st_mode);
      bool hides = lower_dir && (hidden || opaque(dfd, n));
      bool recorded = true;
      if (!in_lower) {
        out.push_back({path, 1});
      } else if (!lower_dir || st.st_mode != lst.st_mode || st.st_uid != lst.st_uid ||
                 st.st_gid != lst.st_gid) {
        out.push_back({path, 0});
      } else {
        recorded = false;
      }
      unique_fd sub{::openat(dfd, n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
      if (!sub) return sys_error("open " + path);
      auto before = out.size();
      if (auto err = walk(sub.fd, path, !in_lower || all_added, hides)) return err;
      if (!recorded && out.size() > before) out.push_back({path, 0});
    }
    return {};
  }

private:
  bool lower_stat(const std::string& rel, struct stat& st) const {
    for (int fd : lowers_) {
      if (stat_beneath(fd, rel, st)) return !is_whiteout(st);
    }
    return false;
  }

  // The names dir `rel` holds in the merged lowers: nearest first, whiteouts hide names below,
  // and a non-dir or an opaque dir ends the search.
  std::set<std::string> lower_names(const std::string& rel) const {
    std::set<std::string> names, hidden;
    for (int fd : lowers_) {
      struct stat st;
      if (!stat_beneath(fd, rel, st)) continue;
      if (!S_ISDIR(st.st_mode)) break;
      open_how how{};
      how.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
      long dir = ::syscall(SYS_openat2, fd, rel.c_str(), &how, sizeof how);
      if (dir < 0) break;
      unique_fd d{static_cast<int>(dir)};
      auto list = list_fd(d.fd);
      if (!list) break;
      for (auto& n : *list) {
        if (names.count(n) || hidden.count(n)) continue;
        struct stat e;
        if (::fstatat(d.fd, n.c_str(), &e, AT_SYMLINK_NOFOLLOW) != 0) continue;
        (is_whiteout(e) ? hidden : names).insert(n);
      }
      if (opaque_fd(d.fd)) break;
    }
    return names;
  }

  // (through /proc/self/fd: O_PATH fds take no fgetxattr)
  static bool opaque(int dfd, const std::string& n) {
    char v[4] = {};
    auto p = "/proc/self/fd/" + std::to_string(dfd) + "/" + n;
    auto k = ::lgetxattr(p.c_str(), "trusted.overlay.opaque", v, sizeof v);
    return k == 1 && v[0] == 'y';
  }
  static bool opaque_fd(int fd) {
    char v[4] = {};
    auto p = "/proc/self/fd/" + std::to_string(fd); // getxattr follows the magic link
    auto k = ::getxattr(p.c_str(), "trusted.overlay.opaque", v, sizeof v);
    return k == 1 && v[0] == 'y';
  }

  void count(const struct stat& st) {
    if (S_ISDIR(st.st_mode)) return;
    if (st.st_nlink > 1 && !seen_.insert({st.st_dev, st.st_ino}).second) return;
    bytes += st.st_size;
  }

  std::vector<int> lowers_;
  std::set<std::pair<dev_t, ino_t>> seen_;
};

// Copies the tree under `from` into the existing dir `to`: dirs, files, symlinks, with modes,
// owners, times and xattrs (overlay's own trusted.overlay.* aside). For small trees only.
caf::error copy_tree(const std::string& from, const std::string& to) {
  auto copy_meta = [](const std::string& src, const std::string& dst,
                      const struct stat& st) -> caf::error {
    if (::lchown(dst.c_str(), st.st_uid, st.st_gid) != 0) return sys_error("chown " + dst);
    if (!S_ISLNK(st.st_mode) && ::chmod(dst.c_str(), st.st_mode & 07777) != 0)
      return sys_error("chmod " + dst);
    char names[4096];
    auto n = ::llistxattr(src.c_str(), names, sizeof names);
    for (ssize_t off = 0; n > 0 && off < n;
         off += static_cast<ssize_t>(std::strlen(names + off)) + 1) {
      const char* name = names + off;
      if (std::strncmp(name, "trusted.overlay.", 16) == 0) continue;
      char value[4096];
      auto len = ::lgetxattr(src.c_str(), name, value, sizeof value);
      if (len >= 0 && ::lsetxattr(dst.c_str(), name, value, static_cast<size_t>(len), 0) != 0)
        return sys_error("set xattr " + std::string{name} + " on " + dst);
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(AT_FDCWD, dst.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      return sys_error("set times of " + dst);
    return {};
  };
  unique_fd dir{::open(from.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!dir) return sys_error("open " + from);
  auto names = list_fd(dir.fd); // dot files too (.dockerenv)
  if (!names) return names.error();
  for (auto& name : *names) {
    auto src = from + "/" + name, dst = to + "/" + name;
    struct stat st;
    if (::lstat(src.c_str(), &st) != 0) return sys_error("stat " + src);
    if (S_ISDIR(st.st_mode)) {
      if (::mkdir(dst.c_str(), 0700) != 0) return sys_error("create " + dst);
      if (auto err = copy_tree(src, dst)) return err;
    } else if (S_ISREG(st.st_mode)) {
      auto data = io::read_file(src);
      if (!data) return data.error();
      unique_fd fd{::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
      if (!fd) return sys_error("create " + dst);
      if (!data->empty() &&
          ::write(fd.fd, data->data(), data->size()) != static_cast<ssize_t>(data->size()))
        return sys_error("write " + dst);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      auto len = ::readlink(src.c_str(), target.data(), target.size());
      if (len < 0) return sys_error("read link " + src);
      target.resize(static_cast<std::size_t>(len));
      if (::symlink(target.c_str(), dst.c_str()) != 0) return sys_error("create " + dst);
    } else {
      return make_error(ec::unspecified, "cannot copy the special file " + src);
    }
    if (auto err = copy_meta(src, dst, st)) return err;
  }
  return {};
}

class overlay2_driver final : public driver {
public:
  explicit overlay2_driver(std::string home) : home_(std::move(home)) {
    // Layers a crash left in the trash go first; then the purger empties it as layers arrive.
    for (auto& n : detail::list_names(trash_dir()))
      trash_.push_back(trash_dir() + "/" + n);
    purger_ = std::thread{[this] { purge(); }};
  }

  ~overlay2_driver() override {
    {
      std::lock_guard<std::mutex> guard{trash_mu_};
      stop_ = true;
    }
    trash_cv_.notify_all();
    purger_.join(); // what is left in the trash goes at the next start
  }

  std::string name() const override { return "overlay2"; }

  std::vector<std::pair<std::string, std::string>> status() const override {
    return {{"Backing Filesystem", detail::backing_fs(home_)},
            {"Supports d_type", "true"},
            {"Using metacopy", "false"},
            {"Native Overlay Diff", "true"},
            {"userxattr", "false"}};
  }

  bool independent_layers() const override { return true; }

  caf::expected<extract_stats> apply_layer(const std::string& id, const std::string& parent,
                                           io::reader tar, const extract_limits& limits) override {
    if (auto err = make_layer(id, parent)) return err;
    auto stats = apply_tar(std::move(tar), diff(id), whiteout_mode::overlay, limits,
                           layer(id) + "/tar-split");
    if (!stats) {
      remove_files(id);
      return stats.error();
    }
    write_lower(id); // best effort: the parent may still be extracting
    return stats;
  }

  caf::error layer_tar(const std::string& id, io::writer out) override {
    if (!exists(id)) return not_found(id);
    auto split = layer(id) + "/tar-split";
    if (::access(split.c_str(), F_OK) != 0)
      return make_error(ec::not_found, "layer " + id + " has no tar-split record");
    return rebuild_tar(split, diff(id), std::move(out));
  }

  caf::error create_rw(const std::string& id, const std::string& parent) override {
    if (auto err = detail::check_id(id)) return err;
    if (exists(id)) return make_error(ec::conflict, "layer " + id + " already exists");
    if (!parent.empty() && !exists(parent))
      return make_error(ec::not_found, "parent layer " + parent + " not found");
    auto init = id + "-init";
    if (auto err = make_layer(init, parent, /*durable=*/false)) return err;
    auto err = make_init_files(init, parent);
    if (!err) err = make_layer(id, init, /*durable=*/false);
    if (!err) write_lower(id);
    if (err) remove(init);
    return err;
  }

  caf::expected<std::string> mount(const std::string& id) override {
    return mount_layer(id, false);
  }

  // `scratch`: a mount whose writes need no sync at its unmount (overlay's "volatile": an
  // unmount otherwise syncs the whole upper filesystem). For the init layer, written once.
  caf::expected<std::string> mount_layer(const std::string& id, bool scratch) {
    if (!exists(id)) return not_found(id);
    {
      // One overlay per upperdir: the previous one of this layer must be gone.
      std::unique_lock<std::mutex> lock{trash_mu_};
      released_cv_.wait(lock, [&] { return releasing_.count(id) == 0; });
    }
    std::lock_guard<std::mutex> guard{mu_};
    auto& count = mounts_[id];
    auto lower = lower_of(id);
    if (!lower) {
      if (count == 0) mounts_.erase(id);
      return lower.error();
    }
    if (lower->empty()) { // a base layer: its diff is the whole tree
      ++count;
      return diff(id);
    }
    auto merged = layer(id) + "/merged";
    if (count > 0) {
      ++count;
      return merged;
    }
    std::string lowers;
    std::size_t start = 0;
    while (start <= lower->size()) {
      auto colon = lower->find(':', start);
      auto part =
          lower->substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      lowers += (lowers.empty() ? "" : ":") + home_ + "/" + part;
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    auto opts = "lowerdir=" + lowers + ",upperdir=" + diff(id) + ",workdir=" + layer(id) + "/work";
    if (scratch) opts += ",volatile";
    if (opts.size() >= static_cast<std::size_t>(::getpagesize()) - 1) {
      mounts_.erase(id);
      return make_error(ec::unspecified,
                        "cannot mount layer " + id + ": its " +
                            std::to_string(std::count(lower->begin(), lower->end(), ':') + 1) +
                            " lower layers exceed the overlay mount option "
                            "size (use a shorter data root)");
    }
    io::mkdir_all(layer(id) + "/work", 0700);
    io::mkdir_all(merged, 0700);
    if (is_overlay_mounted(merged)) ::umount2(merged.c_str(), MNT_DETACH); // left by a crash
    if (::mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) != 0) {
      auto err = sys_error("mount overlay for layer " + id);
      mounts_.erase(id);
      return err;
    }
    count = 1;
    return merged;
  }

  caf::error unmount(const std::string& id) override {
    std::lock_guard<std::mutex> guard{mu_};
    auto it = mounts_.find(id);
    if (it == mounts_.end()) return {};
    if (--it->second > 0) return {};
    mounts_.erase(it);
    return release_merged(id);
  }

  caf::error remove(const std::string& id) override {
    if (auto err = detail::check_id(id)) return err;
    {
      std::lock_guard<std::mutex> guard{mu_};
      mounts_.erase(id);
    }
    if (auto err = unmount_merged(id)) return err;
    to_trash(init_template(id)); // before the layer: an ID is never reused with a stale copy
    return remove_files(id);
  }

  bool exists(const std::string& id) const override {
    struct stat st;
    return !detail::check_id(id) && ::lstat(diff(id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  std::vector<std::string> list() const override {
    std::vector<std::string> out;
    for (auto& n : detail::list_names(home_))
      if (n != "l" && n[0] != '.' && exists(n)) out.push_back(n);
    return out;
  }

  caf::expected<std::vector<change>> changes(const std::string& id) override {
    std::vector<unique_fd> fds;
    auto w = walker(id, fds);
    if (!w) return w.error();
    unique_fd dfd{::open(diff(id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!dfd) return sys_error("open layer " + id);
    if (auto err = w->walk(dfd.fd, "", false)) return err;
    std::sort(w->out.begin(), w->out.end(),
              [](const change& a, const change& b) { return a.path < b.path; });
    return std::move(w->out);
  }

  // What changed is all in the layer's own diff dir (copied up whole): no mount is needed.
  caf::error diff_tar(const std::string& id, const std::vector<change>& changes,
                      io::writer out) override {
    if (!exists(id)) return not_found(id);
    return write_changes_tar(diff(id), changes, std::move(out));
  }

  caf::error export_tar(const std::string& id, io::writer out) override {
    auto root = mount(id);
    if (!root) return root.error();
    auto err = write_tar(*root, std::move(out));
    auto uerr = unmount(id);
    return err ? err : uerr;
  }

  caf::expected<int64_t> size(const std::string& id) override {
    if (!exists(id)) return not_found(id);
    upper_walker w{{}};
    unique_fd dfd{::open(diff(id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!dfd) return sys_error("open layer " + id);
    if (auto err = w.walk(dfd.fd, "", true)) return err;
    return w.bytes;
  }

  void cleanup() override {
    std::lock_guard<std::mutex> guard{mu_};
    mounts_.clear();
    for (auto& n : detail::list_names(home_))
      if (n != "l" && n[0] != '.') unmount_merged(n);
  }

private:
  std::string layer(const std::string& id) const { return home_ + "/" + id; }
  std::string diff(const std::string& id) const { return home_ + "/" + id + "/diff"; }

  static caf::error not_found(const std::string& id) {
    return make_error(ec::not_found, "layer " + id + " not found");
  }

  std::string parent_of(const std::string& id) const {
    auto p = io::read_file(layer(id) + "/parent");
    return p ? trim(*p) : std::string{};
  }

  // home/<id>/{diff,work,merged}, link, l/<short>, parent. A container's layers (`durable`
  // false) are written without fsync, as moby's overlay2 writes every layer: a crash loses them
  // with the container.
  caf::error make_layer(const std::string& id, const std::string& parent, bool durable = true) {
    if (auto err = detail::check_id(id)) return err;
    if (!parent.empty())
      if (auto err = detail::check_id(parent)) return err;
    if (::mkdir(layer(id).c_str(), 0710) != 0) {
      if (errno == EEXIST) return make_error(ec::conflict, "layer " + id + " already exists");
      return sys_error("create layer " + id);
    }
    auto err = [&]() -> caf::error {
      for (const char* sub : {"/diff", "/work", "/merged"})
        if (::mkdir((layer(id) + sub).c_str(), sub[1] == 'd' ? 0755 : 0700) != 0)
          return sys_error("create layer " + id);
      auto hex = io::random_hex(16);
      std::string shortname;
      for (std::size_t i = 0; i < 26 && i < hex.size(); ++i)
        shortname += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i])));
      if (::symlink(("../" + id + "/diff").c_str(), (home_ + "/l/" + shortname).c_str()) != 0)
        return sys_error("create link for layer " + id);
      if (auto e = io::write_file_atomic(layer(id) + "/link", shortname, 0644, durable)) return e;
      if (!parent.empty())
        if (auto e = io::write_file_atomic(layer(id) + "/parent", parent + "\n", 0644, durable))
          return e;
      return {};
    }();
    if (err) remove_files(id);
    return err;
  }

  // "l/A:l/B:..." for the ancestors of `id`, or "" for a base layer.
  caf::expected<std::string> lower_of(const std::string& id) const {
    // (a cache: written without fsync, so empty after a crash means "not cached")
    if (auto cached = io::read_file(layer(id) + "/lower"); cached && !trim(*cached).empty())
      return trim(*cached);
    std::string lower;
    auto p = parent_of(id);
    for (std::size_t depth = 0; !p.empty(); ++depth) {
      if (depth > max_depth) return make_error(ec::unspecified, "layer " + id + ": parent loop");
      auto link = io::read_file(layer(p) + "/link");
      if (!link)
        return make_error(ec::not_found, "layer " + id + ": parent layer " + p + " not found");
      lower += (lower.empty() ? "l/" : ":l/") + trim(*link);
      p = parent_of(p);
    }
    return lower;
  }

  void write_lower(const std::string& id) {
    if (::access((layer(id) + "/lower").c_str(), F_OK) == 0) return;
    auto lower = lower_of(id);
    if (lower && !lower->empty())
      io::write_file_atomic(layer(id) + "/lower", *lower, 0644, /*durable=*/false);
  }

  caf::error unmount_merged(const std::string& id) {
    auto merged = layer(id) + "/merged";
    if (!is_overlay_mounted(merged)) return {};
    if (::umount2(merged.c_str(), 0) != 0 && ::umount2(merged.c_str(), MNT_DETACH) != 0)
      return sys_error("unmount layer " + id);
    return {};
  }

  // The last unmount of a layer: detached at once, while the end of the overlay's superblock,
  // where overlayfs syncs the whole upper filesystem, happens on the purger thread (it closes the
  // last reference), so that a container's exit does not wait for the disk.
  caf::error release_merged(const std::string& id) {
    auto merged = layer(id) + "/merged";
    if (!is_overlay_mounted(merged)) return {};
    unique_fd pin{::open(merged.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!pin || ::umount2(merged.c_str(), MNT_DETACH) != 0) return unmount_merged(id);
    {
      std::lock_guard<std::mutex> guard{trash_mu_};
      releases_.emplace_back(id, pin.release());
      ++releasing_[id];
    }
    trash_cv_.notify_one();
    return {};
  }

  std::string trash_dir() const { return home_ + "/.trash"; }
  std::string init_template(const std::string& parent) const { return home_ + "/.init/" + parent; }

  // The init layer's files (detail::create_init_files) depend on the image alone. The first
  // container of an image makes them through an overlay mount of its init layer; a copy of that
  // diff is kept, and the next containers get a copy of it, with no mount (a mount and an
  // unmount cost milliseconds: the unmount syncs the upper filesystem).
  caf::error make_init_files(const std::string& init, const std::string& parent) {
    auto tpl = init_template(parent);
    if (!parent.empty() && ::access(tpl.c_str(), F_OK) == 0) {
      if (!copy_tree(tpl, diff(init))) return {};
      io::remove_all(diff(init)); // a failed copy: start over through the mount
      if (::mkdir(diff(init).c_str(), 0755) != 0) return sys_error("create layer " + init);
    }
    auto root = mount_layer(init, true);
    if (!root) return root.error();
    auto err = detail::create_init_files(*root);
    if (auto uerr = unmount(init); !err) err = uerr;
    if (err) return err;
    // The volatile mount's marker would refuse a later mount of this work dir.
    io::remove_all(layer(init) + "/work/work/incompat");
    if (parent.empty()) return {};
    // The copy is made aside (in the trash dir: a crash leaves nothing behind), then renamed.
    auto tmp = trash_dir() + "/init-" + io::random_hex(8);
    if (::mkdir(tmp.c_str(), 0755) == 0 && !copy_tree(diff(init), tmp) &&
        ::rename(tmp.c_str(), tpl.c_str()) == 0)
      return {};
    to_trash(tmp); // (another container of this image made it first)
    return {};
  }

  // Moves `path` into the trash for the purger; false (errno set) when it cannot.
  bool to_trash(const std::string& path) {
    auto trashed = trash_dir() + "/" + io::random_hex(8);
    if (::rename(path.c_str(), trashed.c_str()) != 0) return false;
    {
      std::lock_guard<std::mutex> guard{trash_mu_};
      trash_.push_back(std::move(trashed));
    }
    trash_cv_.notify_one();
    return true;
  }

  // The layer leaves home/ at once (one rename into home/.trash); the purger thread deletes its
  // files afterwards, so that `docker rm` does not wait for a tree of unlinks.
  caf::error remove_files(const std::string& id) {
    if (auto link = io::read_file(layer(id) + "/link"); link && !trim(*link).empty())
      ::unlink((home_ + "/l/" + trim(*link)).c_str());
    if (!to_trash(layer(id)) && errno != ENOENT)
      return io::remove_all(layer(id)); // (no trash dir: delete in place)
    return {};
  }

  void purge() {
    std::unique_lock<std::mutex> lock{trash_mu_};
    for (;;) {
      trash_cv_.wait(lock, [this] { return stop_ || !trash_.empty() || !releases_.empty(); });
      if (!releases_.empty()) { // first, and even when stopping
        auto [id, fd] = std::move(releases_.front());
        releases_.pop_front();
        lock.unlock();
        ::close(fd); // the overlay ends here
        lock.lock();
        if (--releasing_[id] == 0) releasing_.erase(id);
        released_cv_.notify_all();
        continue;
      }
      if (stop_) return;
      auto path = std::move(trash_.front());
      trash_.pop_front();
      lock.unlock();
      io::remove_all(path);
      lock.lock();
    }
  }

  // The walker for changes(), with the diff dirs of the ancestors opened (nearest first).
  caf::expected<upper_walker> walker(const std::string& id, std::vector<unique_fd>& fds) {
    if (!exists(id)) return not_found(id);
    std::vector<int> lowers;
    auto p = parent_of(id);
    for (std::size_t depth = 0; !p.empty() && depth <= max_depth; ++depth) {
      fds.emplace_back(::open(diff(p).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!fds.back()) return sys_error("open parent layer " + p);
      lowers.push_back(fds.back().fd);
      p = parent_of(p);
    }
    return upper_walker{std::move(lowers)};
  }

  std::string home_;
  std::mutex mu_;
  std::map<std::string, int> mounts_;
  std::mutex trash_mu_;
  std::condition_variable trash_cv_;
  std::deque<std::string> trash_;
  std::deque<std::pair<std::string, int>> releases_; // layer, its detached overlay's last fd
  std::map<std::string, int> releasing_;
  std::condition_variable released_cv_;
  bool stop_ = false;
  std::thread purger_; // last: started once the rest exists
};

} // namespace

caf::expected<std::unique_ptr<driver>> make_overlay2(const std::string& home) {
  if (auto err = io::mkdir_all(home, 0710)) return err;
  if (!overlay_supported(home))
    return make_error(ec::unavailable, "storage driver overlay2 is not supported on " + home +
                                           " (the kernel lacks overlayfs, the filesystem is "
                                           "itself overlayfs, or mounting is not permitted)");
  if (auto err = io::mkdir_all(home + "/l", 0700)) return err;
  if (auto err = io::mkdir_all(home + "/.trash", 0700)) return err;
  if (auto err = io::mkdir_all(home + "/.init", 0700)) return err;
  return std::unique_ptr<driver>{std::make_unique<overlay2_driver>(home)};
}

} // namespace berth::graph
