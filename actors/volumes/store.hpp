// The volume store actor: the `local` volume driver's named and anonymous volumes, and the
// containers that use them (moby's volume/service and volume/local).
//
// On-disk layout (owned here; volume.json is written atomically: temp file, fsync, rename):
//   <data-root>/volumes/<name>/
//     _data          the volume's content, or the mount point of its DriverOpts filesystem
//     volume.json    {"Name","Driver","CreatedAt" (unix nanos),"Labels":{},"Options":{}}
//
// Who uses a volume is kept in memory: each container takes its volumes when it is created and
// again when the daemon loads it at start, and lets go of them when it is removed. A volume with
// DriverOpts (type, device, o) is mounted on _data while a container uses it, and unmounted when
// the last one goes, at shutdown, and (leftovers of a crash) at start.
#pragma once

#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <string>

namespace berth {

struct volume_store_options {
  std::string data_root;
  engine_actor engine;
  events_actor events;
};

/// Spawn the store: loads (and cleans) what is on disk, then registers its jobs.
caf::expected<volume_store_actor> spawn_volume_store(caf::actor_system& sys,
                                                     volume_store_options opts);

/// Job names the volume store handles.
inline constexpr const char* volume_jobs[] = {"volume_create", "volumes", "volume_inspect",
                                              "volume_delete", "volume_prune"};

/// The label Docker (23+) puts on anonymous volumes.
inline constexpr const char* anonymous_label = "com.docker.volume.anonymous";

/// moby's local driver name check: `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`, with its errors (400).
caf::error check_volume_name(const std::string& name);

/// The local driver's DriverOpts (type, device, o): unknown keys and a type without a device
/// (tmpfs aside) are 400.
caf::error check_volume_options(const std::map<std::string, std::string>& opts);

/// GET /volumes filters (dangling, driver, label, name): does `v`, used by `users` containers,
/// match? Validate first with validate_volume_filters.
bool volume_matches(const filter_args& filters, const volume_info& v, std::size_t users);
caf::error validate_volume_filters(const filter_args& filters, bool prune);

} // namespace berth
