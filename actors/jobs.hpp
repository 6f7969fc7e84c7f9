// Small helpers every job handler uses: the answers of a job and the wall clock.
#pragma once

#include "messages/types.hpp"

#include <chrono>
#include <cstdint>

namespace berth {

/// A successful job with its output.
inline job_result job_ok(caf::message output = {}) {
  return job_result{status_ok, {}, std::move(output)};
}

/// A failed job (status 1) with its error.
inline job_result job_fail(caf::error err) {
  return job_result{status_err, std::move(err), {}};
}

/// Unix time in nanoseconds (event times, container timestamps).
inline int64_t wall_clock_nano() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace berth
