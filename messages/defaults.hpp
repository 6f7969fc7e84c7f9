// Named timeouts and limits, in one place. No magic numbers at call sites.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace berth::defaults {

using namespace std::chrono_literals;

// API versions.
inline constexpr const char* api_version = "1.41";
inline constexpr const char* min_api_version = "1.24";

// Engine.
inline constexpr auto shutdown_wait_for_jobs = 5s; // wait for active jobs at shutdown
inline constexpr auto shutdown_handlers_cap = 10s; // all shutdown handlers, run concurrently
inline constexpr auto shutdown_kill_margin = 5s;   // after --shutdown-timeout: kill, clean up
inline constexpr auto register_timeout = 5s;       // a service registering with the engine
inline constexpr auto status_timeout = 2s;         // the SIGQUIT dump
inline constexpr auto ask_timeout = 10s;           // one service asking another (a job)

// API.
inline constexpr std::size_t header_limit = 1u << 20;  // 1 MiB, as Go's http.Server
inline constexpr std::uint64_t body_limit = 16u << 20; // JSON bodies
inline constexpr auto idle_timeout = 300s;             // an idle keep-alive connection
inline constexpr auto tls_handshake_timeout = 10s;
inline constexpr auto stats_interval = 1s; // between two samples of a stats stream (as moby)

// Events bus.
inline constexpr std::size_t events_ring = 256;         // recent events kept for since=
inline constexpr std::size_t events_max_pending = 1024; // unacked events before a sink is dropped

// Daemon.
inline constexpr auto shutdown_grace = 20s;  // engine shutdown as a whole, from the daemon (plus
                                             // --shutdown-timeout when containers run)
inline constexpr int force_exit_signals = 3; // SIGINT/SIGTERM count that exits at once

} // namespace berth::defaults
