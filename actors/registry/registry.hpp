// The registry client actor: resolves image references to their config and layers, opens blob
// streams for the image store, hands out push sessions (docker push), and checks credentials
// (POST /auth, job `auth`). Every blocking HTTP exchange runs on a detached worker, so a slow
// registry never blocks an actor thread.
// The protocol itself is in actors/registry/client.hpp.
#pragma once

#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <string>

namespace berth {

struct registry_options_in {
  daemon_config config;
  std::string os = "linux";
  std::string architecture = "amd64"; // Go's name of the host's architecture
  std::string variant;
  engine_actor engine; // the `auth` job is registered with it
};

caf::expected<registry_actor> spawn_registry(caf::actor_system& sys, registry_options_in opts);

} // namespace berth
