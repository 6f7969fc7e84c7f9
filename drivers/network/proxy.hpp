// The userland proxy's OS side: TCP listeners on the host for published ports, each connection
// forwarded to a container's address. One I/O thread (Boost.Asio) serves every listener and
// connection of the daemon; the port proxy actor (actors/network/controller.cpp) owns it. This
// is what makes published ports reachable from the host's loopback and from other containers
// (hairpin), where NAT rules alone do not.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace berth::net {

class proxy {
public:
  proxy();  // starts the I/O thread
  ~proxy(); // closes everything, joins the thread
  proxy(const proxy&) = delete;
  proxy& operator=(const proxy&) = delete;

  /// Listen on host_ip:host_port for `owner` (host_port 0: one the kernel picks; host_ip "":
  /// every address) and forward each connection to target_ip:target_port. Answers the port
  /// bound. A port in use is ec::system with the kernel's reason.
  caf::expected<uint16_t> listen(const std::string& owner, const std::string& host_ip,
                                 uint16_t host_port, const std::string& target_ip,
                                 uint16_t target_port);
  /// Close `owner`'s listeners and connections; the ports are free when this returns.
  void close(const std::string& owner);
  /// How many connections are open (all owners).
  std::size_t connections() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace berth::net
