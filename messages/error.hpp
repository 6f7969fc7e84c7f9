// berth's one error enum, registered with CAF, and its mapping to HTTP status codes.
#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

namespace berth {

/// Every failure berth reports carries one of these codes plus a context message.
enum class ec : uint8_t {
  none = 0,          // no error
  unspecified,       // 500: an internal failure
  invalid_argument,  // 400: bad parameter, malformed body, bad flag value
  unauthorized,      // 401
  forbidden,         // 403
  not_found,         // 404: no such container/image/network/volume/exec/route
  conflict,          // 409: name in use, wrong state, in use
  not_modified,      // 304: start on running, stop on stopped
  not_implemented,   // 501: a Docker route or feature berth does not build yet
  unavailable,       // 503: the engine is shut down, a service is not up
  command_not_found, // job status 127: no handler registered for that job name
  timeout,           // 504-like: a named timeout expired
  system,            // 500: an OS call failed (errno in the context)
};

std::string to_string(ec code);

/// The HTTP status the API answers for a code (Docker's errdefs mapping).
unsigned http_status(ec code);

/// The HTTP status for any error: berth codes map through http_status, CAF's own errors
/// (timeouts, dead receivers) are 500.
unsigned http_status(const caf::error& err);

/// The human message of an error: for berth errors, the context's first string (as created by
/// make_error below); otherwise CAF's rendering.
std::string error_message(const caf::error& err);

/// Make a berth error whose context is one human-readable string.
caf::error make_error(ec code, std::string message);

} // namespace berth

CAF_ERROR_CODE_ENUM(berth::ec, "berth")
