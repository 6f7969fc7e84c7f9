// Network routes (/networks: create, list, inspect, delete, connect, disconnect, prune) and their
// JSON encoders. The network controller runs the network jobs; connect and disconnect are jobs
// of the container, which asks the controller for its endpoint.
#pragma once

#include "api/system.hpp"

#include <memory>
#include <string>
#include <vector>

namespace berth::api {

/// Register the network routes.
void add_network_routes(router& r, std::shared_ptr<api_context> ctx);

// -- encoders and parsers (exposed for tests) -----------------------------------------------------

/// One network as GET /networks/{id} answers it (moby's NetworkResource), with its Containers.
std::string encode_network(const network_info& n);
/// GET /networks: the networks, their Containers empty as moby's list.
std::string encode_network_list(const std::vector<network_info>& networks);
/// The body of POST /networks/create: Name, Driver, Internal, Attachable, EnableIPv6, IPAM (one
/// IPv4 Config: Subnet, Gateway, IPRange), Options, Labels; 400 on bad JSON or a bad field type,
/// 501 for what berth does not build (IPv6, ingress, config-only networks).
caf::expected<network_info> parse_network_create(std::string_view body);
/// The body of POST /networks/{id}/connect: the container and its EndpointConfig (Aliases,
/// IPAMConfig.IPv4Address).
caf::expected<std::pair<std::string, endpoint_config>> parse_network_connect(std::string_view body);

} // namespace berth::api
