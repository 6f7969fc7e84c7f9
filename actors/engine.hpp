// The engine: Docker 1.2's Engine, made actor-native.
//
// Services register the job names they handle when they start; the engine routes each job to
// its handler and replies with a job_result. The engine itself answers `commands` (what is
// registered), `version` and `info`. An unknown job answers status 127 "command not found".
// Every job is logged `+job name(args)` / `-job name(args) = STATUS (duration)` at debug level.
// Shutdown refuses new jobs ("engine is shutdown", HTTP 503), waits up to 5 s for active jobs,
// then runs the registered shutdown handlers concurrently, capped at 10 s.
#pragma once

#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <string>

namespace berth {

struct engine_options {
  daemon_config config;
  host_facts host;
  std::string engine_id;      // persisted under the data root by the daemon
  std::string storage_driver; // resolved name
  std::vector<std::vector<std::string>> driver_status; // the driver's [name, value] pairs
};

/// Spawn the engine; fails when the options are unusable.
caf::expected<engine_actor> spawn_engine(caf::actor_system& sys, engine_options opts);

/// `name(arg1, arg2)`, as the job log shows a job.
std::string describe(const job& j);

/// The engine's version facts (also used by the HTTP Server header).
version_info make_version_info(const host_facts& host);

/// berth's version string.
const char* version_string();

/// Job names the engine answers itself.
inline constexpr const char* builtin_jobs[] = {"commands", "version", "info"};

} // namespace berth
