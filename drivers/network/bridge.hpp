// The bridge network driver's OS side (libnl-route-3): a Linux bridge with its gateway address,
// and per container a veth pair whose host end is a port of the bridge and whose other end is
// eth0 in the container's network namespace, with its address and a default route. Plus IPAM:
// the addresses of a subnet handed out one by one. No actor here: the network controller uses
// these from its workers.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace berth::net {

/// An IPv4 subnet with its prefix length ("172.17.0.0/16").
struct subnet {
  uint32_t base = 0; // host byte order, host bits zero
  int prefix = 0;
  static caf::expected<subnet> parse(const std::string& cidr);
  bool contains(uint32_t ip) const;
  bool overlaps(const subnet& other) const;
  std::string to_string() const;
};

std::string ip_string(uint32_t ip);
caf::expected<uint32_t> parse_ip(const std::string& ip);

/// The addresses of a subnet, given out lowest first: never the network, broadcast or gateway
/// address; within `range` (--fixed-cidr, IPRange) when set.
class ipam {
public:
  ipam(subnet net, uint32_t gateway, subnet range);
  /// The next free address; ec::unavailable when none is left.
  caf::expected<uint32_t> allocate();
  /// A given address (a static IP): ec::conflict when taken, ec::invalid_argument outside.
  caf::error take(uint32_t ip);
  void release(uint32_t ip);
  std::size_t used() const { return used_.size(); }

private:
  subnet net_;
  subnet range_;
  uint32_t gateway_;
  std::set<uint32_t> used_;
};

/// What a container's end of the network gets.
struct endpoint {
  std::string netns_path;  // /proc/<pid>/ns/net of the container's first process
  std::string host_ifname; // the host end (veth + 7 hex)
  std::string ifname = "eth0";
  uint32_t address = 0;
  int prefix = 16;
  uint32_t gateway = 0; // 0: no default route (an internal network)
  int mtu = 1500;
  std::string mac; // "02:42:ac:11:00:02"; "" = the kernel's
};

/// Docker's MAC address of a container's interface: 02:42 and the four bytes of its address.
std::string mac_of(uint32_t ip);

/// Wire a container to `bridge`: the veth pair, its host end a port of the bridge and up, its
/// other end moved into the namespace as `ifname` with the address, the MAC, the MTU and the
/// default route. Blocking (a few netlink calls); on failure the veth is gone.
caf::error attach(const std::string& bridge, const endpoint& ep);

/// Remove a container's veth (both ends go). Missing is not an error.
caf::error detach(const std::string& host_ifname);

/// The IPv4 subnets of the host's addresses (a new bridge's subnet must not overlap them).
std::vector<subnet> host_subnets();

/// The names of the links whose name starts with `prefix` (leftover veths of a crash).
std::vector<std::string> links_named(const std::string& prefix);

/// A bridge: made (or found, for -b) at open; its ports are the containers' veths.
class bridge {
public:
  /// Find bridge `name`, or make it (with `gateway`/`prefix` and `mtu`, up) when `create`; with
  /// `create`, a bridge found is taken over (made() is true: remove() deletes it).
  static caf::expected<std::unique_ptr<bridge>> open(const std::string& name, uint32_t gateway,
                                                     int prefix, int mtu, bool create);
  ~bridge();
  bridge(const bridge&) = delete;
  bridge& operator=(const bridge&) = delete;

  const std::string& name() const { return name_; }
  /// Did berth make it (and so delete it at shutdown)?
  bool made() const { return made_; }
  /// The address and prefix the bridge has (the gateway of its network): 0 when none.
  std::pair<uint32_t, int> address() const;
  /// Delete the bridge (when berth made it).
  caf::error remove();
  /// The names of its ports (the host ends of veths).
  std::vector<std::string> ports() const;

private:
  bridge() = default;
  std::string name_;
  int ifindex_ = 0;
  bool made_ = false;
};

} // namespace berth::net
