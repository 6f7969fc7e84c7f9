// System routes (/_ping, /version, /info, /events, /_berth/commands), the JSON encoders they
// use, and the bridge that lets Beast threads run engine jobs without blocking.
#pragma once

#include "api/router.hpp"
#include "messages/actors.hpp"

#include <caf/actor.hpp>
#include <caf/duration.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace berth::api {

/// What handlers need to reach the engine.
struct api_context {
  caf::actor_system* sys = nullptr;
  engine_actor engine;
  events_actor events;
  caf::actor bridge; // forwards jobs from non-actor threads to the engine
};

/// Spawn the bridge actor and bundle the handles.
std::shared_ptr<api_context> make_context(caf::actor_system& sys, engine_actor engine,
                                          events_actor events);

/// Run a job from any thread; `done` runs on a scheduler thread with the result (errors and
/// timeouts arrive as a job_result with status != 0). The engine answers every job (a service
/// that dies fails its jobs), so the default is no timeout: a request timeout would keep a
/// clock entry alive for its whole duration, about 200 bytes per request at full load.
void run_job(const api_context& ctx, job j, std::function<void(job_result&)> done,
             caf::duration timeout = caf::infinite);

/// A byte sink writing a chunked 200 stream of `content_type` to `conn`, at most a few chunks in
/// flight (the job's worker blocks meanwhile). Closed with an error before anything was
/// written: an HTTP error instead.
byte_sink connection_sink(const connection_ptr& conn, std::string content_type,
                          std::vector<std::pair<std::string, std::string>> headers = {});

/// Answer a job's result: an error response, or `encode(output)` as JSON with `status`.
template <class T, class Encode>
void answer(const connection_ptr& conn, job_result& r, Encode encode, unsigned status = 200) {
  if (r.status != status_ok) {
    conn->respond(error_response(r.error ? r.error : make_error(ec::unspecified, "job failed")));
    return;
  }
  if (!r.output.match_elements<T>()) {
    conn->respond(error_response(500, "unexpected job output"));
    return;
  }
  conn->respond(json_response(status, encode(r.output.get_as<T>(0))));
}

/// Register the system routes.
void add_system_routes(router& r, std::shared_ptr<api_context> ctx);

// -- encoders and parsers (exposed for tests) -----------------------------------------------------

std::string encode_version(const version_info& v);
/// GET /system/df (moby 20.10): LayersSize (each layer once), Images as GET /images/json with
/// their Containers and SharedSize, Containers as GET /containers/json?size=1 (SizeRootFs = the
/// read-write layer and the image), Volumes as GET /volumes with their UsageData, and an empty
/// BuildCache.
std::string encode_df(const std::vector<image_info>& images,
                      const std::vector<container_info>& containers,
                      const std::vector<volume_info>& volumes, int64_t now_nano);
std::string encode_info(const system_info& info);
std::string encode_event(const event& ev);
std::string encode_commands(const std::vector<command_info>& cmds);
/// Go's time.RFC3339Nano of unix nanoseconds, in UTC.
std::string rfc3339_nano(int64_t unix_nano);
/// Docker's filters JSON: {"k":{"v":true}} or the legacy {"k":["v"]}.
caf::expected<filter_args> parse_filters(std::string_view json);
/// The `filters` query parameter of a request (none: no filter).
caf::expected<filter_args> query_filters(const http_request& req);
/// Docker's since/until: "SECONDS" or "SECONDS.NANOS" -> unix nanoseconds.
caf::expected<int64_t> parse_timestamp(std::string_view value);
/// A prune's `until` as moby's GetTimestamp reads it: SECONDS[.NANOS], RFC 3339, or a Go
/// duration before `now_nano` ("24h", "1h30m", "90s") -> unix nanoseconds.
caf::expected<int64_t> parse_until(std::string_view value, int64_t now_nano);

} // namespace berth::api
