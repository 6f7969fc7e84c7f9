// The graph (storage) driver interface and its implementations: overlay2 (default where the
// kernel supports it) and vfs (a full copy per layer; works anywhere).
//
// A driver stores layers by an opaque ID (the image store uses a random "cache ID" per layer,
// never the chain ID, so a half-written layer can never be mistaken for a complete one). Every
// layer has at most one parent. Image layers are made by apply_layer; a container gets an init
// layer and a read-write layer on top of its image's top layer (create_rw).
//
// Methods are thread-safe for distinct IDs (the image store runs several layer extractions at
// once); operations on one ID are serialised by the caller.
#pragma once

#include "drivers/graph/archive.hpp"
#include "drivers/io.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace berth::graph {

/// One entry of `docker diff`: Kind 0 = changed, 1 = added, 2 = deleted.
struct change {
  std::string path; // absolute inside the container, e.g. "/etc/passwd"
  int kind = 0;
};

class driver {
public:
  virtual ~driver() = default;

  /// "overlay2" or "vfs".
  virtual std::string name() const = 0;
  /// `docker info` DriverStatus pairs, e.g. {"Backing Filesystem", "extfs"}.
  virtual std::vector<std::pair<std::string, std::string>> status() const = 0;
  /// True when layers can be extracted before their parent is complete (overlay2: each layer is
  /// its own diff dir); false when a layer starts as a copy of its parent (vfs).
  virtual bool independent_layers() const = 0;

  /// Create layer `id` on `parent` ("" = base layer) from an uncompressed layer tar; keeps the
  /// tar-split record so layer_tar can reproduce the exact bytes. On failure the half layer is
  /// removed. Fails with ec::conflict when `id` exists.
  virtual caf::expected<extract_stats> apply_layer(const std::string& id, const std::string& parent,
                                                   io::reader tar,
                                                   const extract_limits& limits = {}) = 0;
  /// The exact tar that made layer `id` (docker save).
  virtual caf::error layer_tar(const std::string& id, io::writer out) = 0;

  /// A container's layers: `id + "-init"` on `parent` (with Docker's init files: /etc/hosts,
  /// /etc/hostname, /etc/resolv.conf, /dev/console, /proc, /sys, /dev/pts, /dev/shm, /.dockerenv
  /// as empty files/dirs), then `id` (read-write) on the init layer.
  virtual caf::error create_rw(const std::string& id, const std::string& parent) = 0;

  /// Mount layer `id` (with its parents) and return the path of the merged root. Counted: each
  /// mount needs one unmount.
  virtual caf::expected<std::string> mount(const std::string& id) = 0;
  virtual caf::error unmount(const std::string& id) = 0;

  /// Remove layer `id` (unmounting it first). Missing is not an error.
  virtual caf::error remove(const std::string& id) = 0;
  virtual bool exists(const std::string& id) const = 0;
  /// Every layer ID the driver holds (for cleaning up after a crash).
  virtual std::vector<std::string> list() const = 0;

  /// What layer `id` changes relative to its parent chain (docker diff of a read-write layer).
  virtual caf::expected<std::vector<change>> changes(const std::string& id) = 0;
  /// The merged tree of layer `id` as a tar (docker export).
  virtual caf::error export_tar(const std::string& id, io::writer out) = 0;
  /// Bytes used by layer `id` alone (its diff).
  virtual caf::expected<int64_t> size(const std::string& id) = 0;

  /// Unmount everything (daemon shutdown).
  virtual void cleanup() = 0;

  /// Layer `id`'s `changes` (as changes(id) gave them) as a layer tar with AUFS whiteouts
  /// (docker commit). By default read from the mounted layer.
  virtual caf::error diff_tar(const std::string& id, const std::vector<change>& changes,
                              io::writer out);
};

/// The valid driver names, in order of preference.
const std::vector<std::string>& driver_names();

/// Make the driver `name` ("" = the best one the kernel supports) rooted at `home`
/// (`<data-root>/<name>`, created when missing). An unknown name fails with ec::invalid_argument:
/// `unknown storage driver "x" (valid: overlay2, vfs)`.
caf::expected<std::unique_ptr<driver>> make_driver(const std::string& name,
                                                   const std::string& data_root);

std::unique_ptr<driver> make_vfs(const std::string& home);
caf::expected<std::unique_ptr<driver>> make_overlay2(const std::string& home);

/// Copy the tree under the open directory `from` into the open directory `to`: owners, modes,
/// times, xattrs, symlinks, device nodes and the hardlinks within it; `to` itself takes `from`'s
/// owner, mode and times (a volume's copy-up; vfs layers).
caf::error copy_tree(int from, int to);

/// True when the kernel has overlayfs and `dir`'s filesystem can hold an upper dir.
bool overlay_supported(const std::string& dir);

} // namespace berth::graph
