// Container routes: create, list, inspect, start, stop, restart, kill, wait, delete, attach
// (hijacked), resize and logs. The JSON shapes live in api/container_codec.hpp.
#pragma once

#include "api/system.hpp"

#include <memory>

namespace berth::api {

/// Register the container routes.
void add_container_routes(router& r, std::shared_ptr<api_context> ctx);

} // namespace berth::api
