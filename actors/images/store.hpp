// The image store actor: images, tags and layers, stored through a graph driver, and pulls with
// shared, concurrent layer downloads that decompress and extract while streaming.
//
// On-disk layout, under <data-root>/image/<driver>/ (every file is written atomically: temp
// file, fsync, rename, fsync of the directory):
//
//   layers/<chain-id hex>.json     one complete layer: {"ChainID","DiffID","Parent","CacheID",
//                                  "Size","Digest"}. The driver holds the layer's files under
//                                  CacheID (a random ID, never the chain ID). This file is
//                                  written only after the layer was extracted and its DiffID
//                                  verified, so its presence means "complete".
//   imagedb/<image-id hex>         an image config, the exact bytes (the image ID is their sha256)
//   imagedb/<image-id hex>.json    per-image metadata: {"LastTagTime": unix nanos, "Parent"}
//   mounts/<container-id>          a container's hold on its image's layers: {"Image","Chain"}
//                                  (image ID and the chain IDs, bottom first). Written before
//                                  the container is created, removed when it goes; a hold whose
//                                  <data-root>/containers/<id>/ is gone is dropped at start.
//   tmp/                           `docker load` tarballs being unpacked (emptied at start)
//   repositories.json              {"Repositories":{"<familiar name>":{"<full ref>":"sha256:..."}}}
//                                  tags (name:tag) and digests (name@sha256:...)
//
// At start, driver layers that no layers/*.json names (a pull killed mid-extraction) and layers
// no image uses (a pull killed before its image was written) are removed, so the next pull
// fetches them again. Reference counts (images and containers per layer) are kept in memory and
// rebuilt at start, so a layer goes only when no image and no container uses it: `rmi -f` of an
// image a stopped container uses deletes the image, and the layers stay until the container goes.
#pragma once

#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <string>

namespace berth::graph {
class driver;
}

namespace berth {

struct image_store_options {
  std::string data_root;
  std::shared_ptr<graph::driver> driver;
  int64_t max_concurrent_downloads = 3;
  engine_actor engine;
  events_actor events;
  registry_actor registry;
};

/// Spawn the store: loads (and cleans) what is on disk, then registers its jobs.
caf::expected<image_store_actor> spawn_image_store(caf::actor_system& sys,
                                                   image_store_options opts);

/// Job names the image store handles.
inline constexpr const char* image_jobs[] = {
    "pull",        "images",      "image_inspect", "image_history", "image_tag",    "image_delete",
    "image_prune", "image_count", "image_save",    "image_load",    "image_import", "push"};

/// An RFC 3339 time ("2024-05-01T10:00:00.5Z", offsets allowed) as unix nanoseconds.
caf::expected<int64_t> parse_rfc3339(std::string_view s);

} // namespace berth
