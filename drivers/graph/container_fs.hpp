// A container's filesystem as `docker cp` sees it (moby's daemon/archive.go and
// container/archive.go): path stat, the tar of a path, extraction into a directory.
//
// Every path resolves inside the container root: the root is an fd (the running container's
// /proc/<pid>/root, so its mounts are seen, or its read-write layer mounted through the graph
// driver), each open goes through openat2 RESOLVE_IN_ROOT (".." stops at the root, absolute
// symlinks are relative to it, magic links are refused), and every later step uses *at() calls
// on fds. No host path is ever joined from container data.
#pragma once

#include "drivers/graph/archive.hpp"
#include "drivers/io.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace berth::graph {

class driver;

/// Go's os.FileMode of a POSIX st_mode: permission bits plus ModeDir (1<<31), ModeSymlink
/// (1<<27), ModeDevice (1<<26), ModeNamedPipe (1<<25), ModeSocket (1<<24), ModeSetuid (1<<23),
/// ModeSetgid (1<<22), ModeCharDevice (1<<21), ModeSticky (1<<20).
uint32_t go_file_mode(uint32_t st_mode);

/// Go's filepath.Clean of an absolute path ("/a/./b/../c/" -> "/a/c"; "" -> "/").
std::string clean_abs(const std::string& path);
/// moby's absPath: `path` made absolute and cleaned, keeping a trailing "/" or "/.".
std::string container_abs_path(const std::string& path);
/// Go's filepath.Base ("/" for "/", "." for "").
std::string base_name(const std::string& path);

/// Open `path` (taken as absolute in the container) as if `rootfd` were the root.
caf::expected<io::unique_fd> open_in_root(int rootfd, const std::string& path, int flags,
                                          bool follow_last = true);

/// moby's FollowSymlinkInScope: `path` with every symlink resolved in the scope of the root
/// (missing components are kept as they are), as a clean absolute container path.
caf::expected<std::string> resolve_in_scope(int rootfd, const std::string& path);

/// moby's types.ContainerPathStat.
struct path_info {
  std::string name;
  int64_t size = 0;
  uint32_t mode = 0; // Go os.FileMode
  int64_t mtime_nano = 0;
  std::string link_target; // the symlink fully resolved in the container, else ""
};

/// A bind mount of a container (HostConfig.Binds).
struct bind_spec {
  std::string source;      // host path
  std::string destination; // container path
  bool readonly = false;
};

/// An open container root, released (unmounted when it was mounted) on destruction.
class container_root {
public:
  /// While process `pid` (0: none) runs in container `id`'s cgroup: /proc/<pid>/root.
  /// Otherwise the read-write `layer`, mounted through `graph` (counted: a start meanwhile
  /// shares the mount), with `binds` mounted over it as moby mounts a stopped container's
  /// volumes for a copy: in a mount namespace of its own, held by a thread until the root is
  /// released, so nothing shows on the host. A bind whose source or mount point is missing is
  /// left out.
  static caf::expected<std::unique_ptr<container_root>>
  open(std::shared_ptr<driver> graph, const std::string& layer, int pid, const std::string& id,
       const std::vector<bind_spec>& binds = {});
  ~container_root();
  container_root(const container_root&) = delete;
  container_root& operator=(const container_root&) = delete;
  int fd() const { return fd_.fd; }

private:
  struct mount_ns;
  container_root() = default;
  io::unique_fd fd_;
  std::unique_ptr<mount_ns> ns_; // the binds' namespace, when there are binds
  std::shared_ptr<driver> graph_;
  std::string layer_; // set when mounted
};

/// HEAD /containers/{id}/archive: the stat of `path` (its last symlink not followed).
/// ec::not_found when it does not exist.
caf::expected<path_info> stat_path(int rootfd, const std::string& path);

/// GET /containers/{id}/archive: the tar of `path`, whose top entry is the base name of `path`
/// ("dir/..." for a directory, "./..." for "dir/.", "/..." for "/"), written to `out`.
caf::error archive_path(int rootfd, const std::string& path, io::writer out);

/// PUT /containers/{id}/archive: extract the tar `src` into the directory `path` (its symlinks
/// all followed). ec::not_found when missing, ec::invalid_argument "extraction point is not a
/// directory". `check(resolved)` runs first with the resolved container path (read-only
/// checks); an error it returns stops the extraction.
caf::error extract_to_dir(int rootfd, const std::string& path, io::reader src,
                          const untar_options& opts,
                          const std::function<caf::error(const std::string&)>& check);

} // namespace berth::graph
