// Volume routes (/volumes: create, list, inspect, delete, prune) and their JSON encoders.
#pragma once

#include "api/system.hpp"

#include <memory>
#include <string>
#include <vector>

namespace berth::api {

/// Register the volume routes.
void add_volume_routes(router& r, std::shared_ptr<api_context> ctx);

// -- encoders and parsers (exposed for tests) -----------------------------------------------------

/// One volume as GET /volumes/{name} answers it; with `usage`, its UsageData (system df).
std::string encode_volume(const volume_info& v, bool usage = false);
/// GET /volumes: {"Volumes":[...],"Warnings":null}.
std::string encode_volume_list(const std::vector<volume_info>& volumes);
/// The body of POST /volumes/create (Name, Driver, DriverOpts, Labels); 400 on bad JSON.
caf::expected<volume_info> parse_volume_create(std::string_view body);

} // namespace berth::api
