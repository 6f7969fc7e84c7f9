// The container manager: container IDs and names, create, list and counts, restart recovery,
// and the door to every container actor (verbs are forwarded by ID, name or ID prefix).
//
// On-disk layout: <data-root>/containers/<id>/ (owned by the container actor, see container.hpp).
// At start every config.bin found there is loaded; a container that was running when the daemon
// died is cleaned up (processes, cgroup, mount), marked exited (255) and restarted when its
// policy says so.
#pragma once

#include "actors/containers/container.hpp"
#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <memory>

namespace berth {

struct container_manager_options {
  std::shared_ptr<container_deps> deps;
  engine_actor engine;
  image_store_actor images;
  volume_store_actor volumes;
};

/// Spawn the manager, load the containers on disk and register its jobs with the engine.
caf::expected<container_manager_actor> spawn_container_manager(caf::actor_system& sys,
                                                               container_manager_options opts);

/// A Docker-style name ("focused_turing"), without the leading "/".
std::string generate_name();

} // namespace berth
