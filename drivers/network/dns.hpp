// The embedded DNS server Docker runs at 127.0.0.11 inside every container on a user-defined
// network: containers find each other by name (and by alias) on the networks they share. The
// name table says which names each network's endpoints have and which networks each container
// has joined; the server answers a container's A and PTR queries from it, and forwards anything
// else, unchanged, to the daemon's upstream resolvers from the host's namespace (so a host
// resolver on 127.0.0.53 works too). One I/O thread (Boost.Asio) serves the UDP and TCP sockets
// of every container; each container's pair is bound to 127.0.0.11:53 inside its own network
// namespace. Messages are parsed and built with libldns. The network controller owns both.
#pragma once

#include <caf/error.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace berth::net {

/// The names of endpoints by network, and the networks each container ("owner", its ID) is
/// on. Names are case-insensitive (kept lowercased, without a trailing dot); a name can have
/// several addresses and an address several names. Addresses are IPv4 in host byte order.
/// Thread-safe.
class name_table {
public:
  /// Give `ip` the name `name` on `network` (a container's name, alias or short ID).
  void add(const std::string& network, const std::string& name, uint32_t ip);
  /// Forget every name of `ip` on `network` (its endpoint left).
  void remove(const std::string& network, uint32_t ip);
  /// `owner` is on `network`: it sees that network's names.
  void join(const std::string& owner, const std::string& network);
  /// `owner` left `network`.
  void leave(const std::string& owner, const std::string& network);
  /// `owner` is on no network any more (its links go too).
  void forget(const std::string& owner);
  /// For `owner` only, `alias` names what `target` names (a legacy link, --link target:alias, on
  /// a user-defined network).
  void link(const std::string& owner, const std::string& alias, const std::string& target);
  /// The addresses of `name` (case-insensitive, a trailing dot ignored) on the networks `owner`
  /// has joined, sorted and without duplicates; empty when no such network knows it.
  std::vector<uint32_t> lookup(const std::string& owner, const std::string& name) const;
  /// The names `ip` has on the networks `owner` has joined (for PTR), sorted, without
  /// duplicates and without a trailing dot.
  std::vector<std::string> reverse(const std::string& owner, uint32_t ip) const;

private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, std::set<uint32_t>>> names_; // network -> name
  std::map<std::string, std::set<std::string>> joined_;                    // owner -> networks
  std::map<std::string, std::map<std::string, std::string>> links_; // owner -> alias -> target
};

/// The DNS server of every container: UDP and TCP on 127.0.0.11:53 in each served namespace.
class dns_server {
public:
  /// Starts the I/O thread. `upstreams` are the resolvers for names the table does not know,
  /// tried in order: "1.2.3.4" (port 53), "1.2.3.4:5353", "::1" or "[::1]:5353"; entries that
  /// are no address are skipped.
  dns_server(std::shared_ptr<name_table> names, std::vector<std::string> upstreams);
  /// Closes every socket and pending query, joins the I/O thread.
  ~dns_server();
  dns_server(const dns_server&) = delete;
  dns_server& operator=(const dns_server&) = delete;

  /// Answer `owner`'s queries on 127.0.0.11:53 (UDP and TCP) in the network namespace at
  /// `netns_path` (e.g. /proc/<pid>/ns/net), bringing its loopback up first. Blocks until the
  /// sockets are served; replaces what `owner` was served before. The sockets keep that
  /// namespace alive until close(owner). Any thread but the I/O thread. Failures are ec::system
  /// with the reason ("dns: bind 127.0.0.11:53 in /proc/123/ns/net: Address already in use").
  caf::error serve(const std::string& owner, const std::string& netns_path);
  /// As serve(owner, netns_path), forwarding `owner`'s other names to `upstreams` (its own
  /// resolvers, docker run --dns; same forms as the constructor's) instead of the server's;
  /// none that is an address: the server's.
  caf::error serve(const std::string& owner, const std::string& netns_path,
                   const std::vector<std::string>& upstreams);
  /// Stop serving `owner`: its sockets, connections and forwarded queries are closed when this
  /// returns. Nothing when it is not served. Any thread but the I/O thread.
  void close(const std::string& owner);
  /// How many owners are served.
  std::size_t served() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace berth::net
