// Layer tars: streaming extraction (libarchive) with whiteouts and escape checks, the tar-split
// record that lets a layer's exact tar bytes be rebuilt later (docker save), and tar writing of a
// directory tree (export).
#pragma once

#include "drivers/io.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace berth::graph {

struct change;

/// How OCI whiteouts in a layer tar are applied.
enum class whiteout_mode {
  overlay, // `.wh.x` -> char device 0/0 named x; `.wh..wh..opq` -> trusted.overlay.opaque=y
  remove,  // `.wh.x` deletes x under root; `.wh..wh..opq` empties its directory (vfs)
};

/// Bomb limits: extraction stops with a clear error (ec::invalid_argument) past any of them.
struct extract_limits {
  uint64_t max_bytes = uint64_t{64} << 30; // uncompressed file payload
  uint64_t max_entries = 10'000'000;
  std::size_t max_path = 4096;
  std::size_t max_xattr_bytes = 1u << 20; // per entry
};

struct extract_stats {
  uint64_t entries = 0;
  uint64_t bytes = 0; // regular-file payload bytes written
};

/// Extract the (uncompressed) tar read from `src` into the existing directory `root`.
/// Keeps ownership, modes, mtimes, xattrs, hardlinks (inside root), symlinks and device nodes.
/// Refuses with ec::invalid_argument, touching nothing outside root: an absolute path, a `..`
/// component, a write whose parent resolves through a symlink to outside root, a hardlink target
/// outside root.
/// When `split_path` is not empty, the tar-split record (every header and padding byte, plus
/// references to file payloads) is written there so that rebuild_tar can reproduce the exact
/// bytes of the tar from the extracted tree.
caf::expected<extract_stats> apply_tar(io::reader src, const std::string& root, whiteout_mode mode,
                                       const extract_limits& limits = {},
                                       const std::string& split_path = {});

/// Extraction into a directory of a container (docker cp), as moby's chrooted Untar: every
/// path resolves as if `dirfd` were the root (`..` stops there, absolute symlinks and hardlink
/// targets are relative to it, through openat2 RESOLVE_IN_ROOT), no whiteouts, a `.` directory
/// entry is skipped; the tar may be compressed (gzip, bzip2, xz, zstd).
struct untar_options {
  /// Refuse to replace a directory with a non-directory and vice versa (moby's wording).
  bool no_overwrite_dir_nondir = false;
  /// Owner of every extracted entry; unset: the tar's uid/gid.
  std::optional<std::pair<uint32_t, uint32_t>> chown;
  extract_limits limits;
};
caf::expected<extract_stats> untar_at(io::reader src, int dirfd, const untar_options& opts);

/// Rebuild the exact bytes of a layer tar from its tar-split record and the tree the files were
/// extracted to (for overlay2 the layer's diff dir; for vfs the layer's dir).
caf::error rebuild_tar(const std::string& split_path, const std::string& root, io::writer out);

/// Write the tree under `root` as a tar (GNU/pax as needed) to `out`, paths relative to root,
/// in a stable (sorted) order. Entries whose relative path is in `skip` are left out.
caf::error write_tar(const std::string& root, io::writer out,
                     const std::vector<std::string>& skip = {});

/// True when `fd` is on a kernel filesystem whose files are no data (proc, sysfs, cgroup,
/// devpts, mqueue, securityfs, debugfs, tracefs, bpf, pstore, efivarfs, selinuxfs, binfmt_misc).
bool pseudo_filesystem(int fd);

/// Write entry `name` of directory `dirfd` ("." = dirfd itself), and for a directory its tree,
/// as a tar whose top entry is called `as` and whose other entries are `as/<relative path>`
/// (as "/" gives "/", "/etc", ...). Symlinks are never followed; the contents of pseudo
/// filesystems (proc, sysfs, cgroup, devpts, ...) mounted below are left out.
caf::error write_tar_entry(int dirfd, const std::string& name, const std::string& as,
                           io::writer out);

/// A layer tar of `changes` (sorted by path, as driver::changes gives them) read from the merged
/// tree `root`: an added or changed entry is written alone (a directory without its tree, whose
/// changed entries are changes of their own), a deletion as an AUFS whiteout `.wh.<name>`, as
/// moby's archive.ExportChanges (docker commit of a read-write layer).
caf::error write_changes_tar(const std::string& root, const std::vector<change>& changes,
                             io::writer out);

} // namespace berth::graph
