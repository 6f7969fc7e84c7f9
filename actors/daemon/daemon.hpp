// berthd's process lifecycle, as dockerd's: flags + daemon.json, pidfile, data directories,
// actor system, engine and services, API listeners, readiness notification, signals.
//
// Signals: SIGINT/SIGTERM run the engine's shutdown and exit 0 (a third one during cleanup exits
// at once, 128+signal); SIGHUP reloads the reloadable configuration keys; SIGQUIT logs what the
// daemon is doing and exits (128+3) unless DEBUG is set in the environment.
//
// On disk (owned here):
//   <data-root>/engine-id   the daemon's persistent ID (a UUID), written atomically
//   <pidfile>               the daemon's PID while it runs
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>

namespace berth::daemon {

/// berthd's main: returns the process exit code.
int run(int argc, char** argv);

/// Write `path` with this process's PID; refuses when it names a live process.
caf::error create_pidfile(const std::string& path);

/// Read `<data_root>/engine-id`, or create it.
caf::expected<std::string> engine_id(const std::string& data_root);

/// Write a file atomically: temp file, fsync, rename.
caf::error write_atomic(const std::string& path, const std::string& content, unsigned mode);

} // namespace berth::daemon
