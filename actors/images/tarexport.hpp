// The `docker save` / `docker load` tarball format (moby 20.10 image/tarexport), the image config
// of `docker import`, and the Dockerfile `changes` of docker commit/import.
//
// A save tarball holds, for every layer, a directory named by a v1-style layer ID with
// VERSION ("1.0"), json (the legacy v1 image JSON) and layer.tar (the exact layer tar, so its
// sha256 is the layer's diff ID); then "<config hex>.json" per image, manifest.json
// ([{"Config","RepoTags","Layers"}]) and, when some image is tagged, repositories
// ({"repo":{"tag":"<top v1 id>"}}).
#pragma once

#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace berth::images {

struct export_image {
  std::string id;                     // "sha256:<hex>" = sha256 of config
  std::string config;                 // exact config bytes
  std::vector<std::string> repo_tags; // familiar, e.g. "busybox:latest", "127.0.0.1:5000/x:1"
  std::vector<std::string> diff_ids;  // bottom first
  std::vector<std::string> cache_ids; // the graph driver's layer IDs, same order
};

/// The `docker save` tarball of `images`, streamed to `out` (pax tar, no temp files). Each
/// layer's tar is produced twice by drv.layer_tar: once to learn its size, once to write it. A
/// layer shared by several images (same chain) is written once.
caf::error write_save_tar(const std::vector<export_image>& images, graph::driver& drv,
                          io::writer out);

struct load_image {
  std::string config;                   // exact bytes
  std::vector<std::string> repo_tags;   // as in manifest.json (may be empty)
  std::vector<std::string> layer_paths; // absolute paths of the layer tars (bottom first) under dir
};

/// Unpack a docker save tarball read from `src` (plain, gzip or zstd) into the empty directory
/// `dir` and read its manifest.json. Fails with ec::invalid_argument on a hostile member, a
/// missing or malformed manifest.json, a legacy tarball without one ("not supported"), a layer or
/// config path escaping `dir`, or a missing file.
caf::expected<std::vector<load_image>> unpack_load_tar(io::reader src, const std::string& dir);

/// Apply docker commit/import `changes` (Dockerfile instructions CMD, ENTRYPOINT, ENV, EXPOSE,
/// LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL, ONBUILD) to `config_json`, the "config" object of an
/// image config as JSON text ("" = empty), and return the new object's text. Anything else fails
/// with ec::invalid_argument "<instr> is not a valid change command".
caf::expected<std::string> apply_changes(const std::string& config_json,
                                         const std::vector<std::string>& changes);

/// The image config of `docker import` (moby daemon/images/image_import.go): architecture, os
/// "linux", created (RFC 3339 with nanoseconds), comment, config (`config_object_json`, "" =
/// {}), rootfs with the one `diff_id`, one history entry. `message` "" reads "Imported from -".
std::string import_config(const std::string& arch, const std::string& diff_id,
                          const std::string& config_object_json, const std::string& message,
                          int64_t now_unix_nano);

/// Go's time.RFC3339Nano rendering of a UTC instant ("2021-01-02T03:04:05.5Z").
std::string rfc3339_nano(int64_t unix_nano);

/// What docker commit records beside the configs.
struct commit_info {
  std::string container_id;
  std::string comment;
  std::string author;
  std::string diff_id; // the new layer's; "" when the read-write layer changed nothing
  std::string docker_version;
  int64_t now_unix_nano = 0;
};

/// The image config of docker commit (moby daemon/commit.go and image.NewChildImage):
/// `user_config` (the request's config with the `changes` applied, see apply_changes) merged
/// with `container_config` (the container's Config JSON, as inspect shows it) the way moby's
/// merge() does it, `container_config` kept as is, the parent's
/// history plus one entry (created_by: the container's Cmd; `empty_layer` without a diff) and
/// the parent's diff IDs plus the new one. Fails with ec::invalid_argument on bad JSON.
caf::expected<std::string> commit_config(const std::string& parent_config,
                                         const std::string& user_config,
                                         const std::string& container_config,
                                         const commit_info& info);

} // namespace berth::images
