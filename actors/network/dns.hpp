// The embedded DNS server as an actor: it owns the name table and the server of
// drivers/network/dns.hpp. The network controller tells it who is on which network under which
// names; a container's start asks it to serve the container's namespace before the command runs.
// Detached: serving binds sockets inside a namespace, which blocks for a moment.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/error.hpp>

#include <string>
#include <vector>

namespace berth {

/// Spawn the DNS actor; `upstreams` are the resolvers for names it does not know (the daemon's
/// --dns, else the host's).
dns_actor spawn_dns(caf::actor_system& sys, std::vector<std::string> upstreams);

/// Ask `dns` to serve container `owner` in `netns`, forwarding to `upstreams` (none: the
/// daemon's), and wait for the answer: for blocking contexts (a start's prestart hook, a worker).
caf::error serve_dns(caf::actor_system& sys, const dns_actor& dns, const std::string& owner,
                     const std::string& netns, const std::vector<std::string>& upstreams);

} // namespace berth
