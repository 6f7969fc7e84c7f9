// GET /containers/{id}/stats (`docker stats`): moby's StatsJSON, one object (stream=0, with or
// without one-shot) or one a second (stream=1). See api/stats.cpp.
#pragma once

#include "api/system.hpp"
#include "messages/stats.hpp"

#include <memory>
#include <string>

namespace berth::api {

/// Register the stats route.
void add_stats_route(router& r, std::shared_ptr<api_context> ctx);

/// The actor that answers one stats request on `conn` (see api/stats.cpp): it runs
/// `container_stats` jobs for container `id` on `jobs` (the engine), once, twice or once a
/// second. For a stream, the caller ends it when the client goes (an exit message).
stats_stream_actor spawn_stats_stream(caf::actor_system& sys, job_handler_actor jobs,
                                      connection_ptr conn, std::string id, bool stream,
                                      bool one_shot);

/// moby's JSON of one sample (types.StatsJSON, its field order and omitempty rules), followed by
/// a newline as Go's json.Encoder writes it. `pre` is the sample before (precpu_stats and
/// preread); nullptr: none (zero CPU figures, preread 0001-01-01T00:00:00Z).
std::string encode_stats(const container_stats& s, const container_stats* pre);

} // namespace berth::api
