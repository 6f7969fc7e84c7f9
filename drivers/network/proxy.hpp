// The userland proxy's OS side: listeners on the host for published ports, each forwarding to a
// container's address, as moby's docker-proxy does. One I/O thread (Boost.Asio) serves every
// listener, connection and flow of the daemon; the port proxy actor (actors/network/controller.cpp)
// owns it. This is what makes published ports reachable from the host's loopback and from other
// containers (hairpin), where NAT rules alone do not.
//
// TCP: each accepted connection gets its own connection to the target; bytes are pumped both ways
// and half-closes passed on.
// UDP: one socket bound on the host address; each client address (ip:port) gets a flow, a socket
// of its own connected to the target. A client's datagrams go out on its flow's socket, the
// target's replies come back to the client from the bound socket (from the very address the client
// sent to, for a wildcard listener). A flow closes after udp_flow_timeout without a datagram either
// way. Datagrams up to 64 KiB.
// IPv6: a host address that is IPv6 ("::1", "::") is listened on with IPV6_V6ONLY; the target is
// always IPv4.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace berth::net {

/// How long a UDP flow stays open without a datagram (moby's UDPConnTrackTimeout).
inline constexpr std::chrono::milliseconds udp_flow_timeout = std::chrono::seconds{90};

class proxy {
public:
  proxy(); // starts the I/O thread; UDP flows idle out after udp_flow_timeout
  /// As proxy(), with UDP flows idling out after `flow_timeout` (tests use a short one).
  explicit proxy(std::chrono::milliseconds flow_timeout);
  ~proxy(); // closes everything, joins the thread
  proxy(const proxy&) = delete;
  proxy& operator=(const proxy&) = delete;

  /// Listen on host_ip:host_port with `proto` ("tcp" or "udp") for `owner` (host_port 0: one the
  /// kernel picks; host_ip "": every IPv4 address; an IPv6 host_ip: that address, IPv6 only) and
  /// forward to target_ip:target_port (IPv4). Answers the port bound. A port in use is ec::system
  /// with Go's wording ("listen udp4 127.0.0.1:53: bind: address already in use").
  caf::expected<uint16_t> listen(const std::string& owner, const std::string& proto,
                                 const std::string& host_ip, uint16_t host_port,
                                 const std::string& target_ip, uint16_t target_port);
  /// listen(owner, "tcp", ...).
  caf::expected<uint16_t> listen(const std::string& owner, const std::string& host_ip,
                                 uint16_t host_port, const std::string& target_ip,
                                 uint16_t target_port);
  /// Close `owner`'s listeners, connections and flows; the ports are free when this returns.
  void close(const std::string& owner);
  /// How many TCP connections are open (all owners).
  std::size_t connections() const;
  /// How many UDP flows are open (all owners).
  std::size_t flows() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace berth::net
