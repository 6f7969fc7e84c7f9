// The bridge network driver's OS side (see bridge.hpp).
#include "drivers/network/bridge.hpp"

#include "messages/error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>
#include <thread>

namespace berth::net {

namespace {

caf::error nl_error(const std::string& what, int err) {
  return make_error(ec::system, what + ": " + nl_geterror(err));
}

struct sock {
  nl_sock* sk = nullptr;
  ~sock() {
    if (sk) nl_socket_free(sk);
  }
  caf::error connect() {
    sk = nl_socket_alloc();
    if (!sk) return make_error(ec::system, "netlink: no socket");
    if (int e = nl_connect(sk, NETLINK_ROUTE); e < 0) return nl_error("netlink connect", e);
    return {};
  }
};

struct link_ref {
  rtnl_link* l = nullptr;
  ~link_ref() {
    if (l) rtnl_link_put(l);
  }
};

struct addr_ref {
  nl_addr* a = nullptr;
  ~addr_ref() {
    if (a) nl_addr_put(a);
  }
};

nl_addr* ipv4(uint32_t ip, int prefix) {
  uint32_t be = htonl(ip);
  auto* a = nl_addr_build(AF_INET, &be, sizeof be);
  if (a) nl_addr_set_prefixlen(a, prefix);
  return a;
}

caf::error set_up(nl_sock* sk, rtnl_link* link, int mtu = 0) {
  link_ref change{rtnl_link_alloc()};
  rtnl_link_set_flags(change.l, IFF_UP);
  if (mtu > 0) rtnl_link_set_mtu(change.l, static_cast<unsigned>(mtu));
  if (int e = rtnl_link_change(sk, link, change.l, 0); e < 0)
    return nl_error(std::string{"set "} + rtnl_link_get_name(link) + " up", e);
  return {};
}

caf::error add_address(nl_sock* sk, int ifindex, uint32_t ip, int prefix) {
  struct rtnl_addr* a = rtnl_addr_alloc();
  addr_ref local{ipv4(ip, prefix)};
  rtnl_addr_set_local(a, local.a);
  rtnl_addr_set_ifindex(a, ifindex);
  int e = rtnl_addr_add(sk, a, 0);
  rtnl_addr_put(a);
  if (e < 0 && e != -NLE_EXIST) return nl_error("add address " + ip_string(ip), e);
  return {};
}

// The container's side, run on a thread of its own inside the namespace.
caf::error configure_inside(int nsfd, const endpoint& ep) {
  if (::setns(nsfd, CLONE_NEWNET) != 0)
    return make_error(ec::system, "join the network namespace " + ep.netns_path);
  sock s;
  if (auto err = s.connect()) return err;
  link_ref link;
  if (int e = rtnl_link_get_kernel(s.sk, 0, ep.ifname.c_str(), &link.l); e < 0)
    return nl_error("find " + ep.ifname, e);
  int ifindex = rtnl_link_get_ifindex(link.l);
  if (auto err = add_address(s.sk, ifindex, ep.address, ep.prefix)) return err;
  if (auto err = set_up(s.sk, link.l)) return err;
  if (ep.gateway == 0) return {};
  struct rtnl_route* route = rtnl_route_alloc();
  addr_ref dst{ipv4(0, 0)};
  addr_ref gw{ipv4(ep.gateway, 32)};
  rtnl_route_set_family(route, AF_INET);
  rtnl_route_set_dst(route, dst.a);
  struct rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_gateway(nh, gw.a);
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route, nh); // the route owns it now
  int e = rtnl_route_add(s.sk, route, 0);
  rtnl_route_put(route);
  if (e < 0) return nl_error("add the default route via " + ip_string(ep.gateway), e);
  return {};
}

} // namespace

// -- addresses
// -------------------------------------------------------------------------------------

std::string ip_string(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

caf::expected<uint32_t> parse_ip(const std::string& ip) {
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1)
    return make_error(ec::invalid_argument, "invalid IP address: " + ip);
  return ntohl(a.s_addr);
}

caf::expected<subnet> subnet::parse(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos)
    return make_error(ec::invalid_argument, "invalid CIDR address: " + cidr);
  auto ip = parse_ip(cidr.substr(0, slash));
  if (!ip) return make_error(ec::invalid_argument, "invalid CIDR address: " + cidr);
  int prefix = -1;
  try {
    std::size_t used = 0;
    prefix = std::stoi(cidr.substr(slash + 1), &used);
    if (used != cidr.size() - slash - 1) prefix = -1;
  } catch (...) {
  }
  if (prefix < 0 || prefix > 32)
    return make_error(ec::invalid_argument, "invalid CIDR address: " + cidr);
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return subnet{*ip & mask, prefix};
}

bool subnet::contains(uint32_t ip) const {
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (ip & mask) == base;
}

bool subnet::overlaps(const subnet& other) const {
  return contains(other.base) || other.contains(base);
}

std::string subnet::to_string() const {
  return ip_string(base) + "/" + std::to_string(prefix);
}

ipam::ipam(subnet net, uint32_t gateway, subnet range)
    : net_(net), range_(range.prefix == 0 && range.base == 0 ? net : range), gateway_(gateway) {}

caf::expected<uint32_t> ipam::allocate() {
  uint32_t size = net_.prefix >= 31 ? 0 : (uint32_t{1} << (32 - net_.prefix));
  uint32_t first = net_.base + 1, last = net_.base + size - 2; // no network, no broadcast
  for (uint32_t ip = first; size != 0 && ip <= last; ++ip) {
    if (ip == gateway_ || !range_.contains(ip) || used_.count(ip)) continue;
    used_.insert(ip);
    return ip;
  }
  return make_error(ec::unavailable, "no available IPv4 addresses on this network's address "
                                     "pools: " +
                                         net_.to_string());
}

caf::error ipam::take(uint32_t ip) {
  if (!net_.contains(ip) || ip == net_.base || ip == gateway_)
    return make_error(ec::invalid_argument, "no configured subnet or ip-range contain the IP "
                                            "address " +
                                                ip_string(ip));
  if (!used_.insert(ip).second)
    return make_error(ec::conflict, "Address already in use: " + ip_string(ip));
  return {};
}

void ipam::release(uint32_t ip) {
  used_.erase(ip);
}

// -- the bridge
// ------------------------------------------------------------------------------------

caf::expected<std::unique_ptr<bridge>> bridge::open(const std::string& name, uint32_t gateway,
                                                    int prefix, int mtu, bool create) {
  sock s;
  if (auto err = s.connect()) return err;
  std::unique_ptr<bridge> b{new bridge};
  b->name_ = name;
  link_ref found;
  if (rtnl_link_get_kernel(s.sk, 0, name.c_str(), &found.l) == 0) {
    auto* type = rtnl_link_get_type(found.l);
    if (!type || std::string{type} != "bridge")
      return make_error(ec::invalid_argument, name + " is not a bridge");
    b->ifindex_ = rtnl_link_get_ifindex(found.l);
    b->made_ = create; // one of ours from an earlier run: ours to delete
    return b;
  }
  if (!create) return make_error(ec::not_found, "bridge " + name + " not found");
  {
    link_ref br{rtnl_link_bridge_alloc()};
    rtnl_link_set_name(br.l, name.c_str());
    rtnl_link_set_mtu(br.l, static_cast<unsigned>(mtu));
    if (int e = rtnl_link_add(s.sk, br.l, NLM_F_CREATE | NLM_F_EXCL); e < 0)
      return nl_error("create bridge " + name, e);
  }
  b->made_ = true;
  link_ref made;
  if (int e = rtnl_link_get_kernel(s.sk, 0, name.c_str(), &made.l); e < 0)
    return nl_error("find bridge " + name, e);
  b->ifindex_ = rtnl_link_get_ifindex(made.l);
  if (auto err = add_address(s.sk, b->ifindex_, gateway, prefix)) return err;
  if (auto err = set_up(s.sk, made.l)) return err;
  return b;
}

bridge::~bridge() = default;

std::string mac_of(uint32_t ip) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:42:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 255,
                (ip >> 8) & 255, ip & 255);
  return buf;
}

caf::error attach(const std::string& bridge, const endpoint& ep) {
  if (ep.host_ifname.empty() || ep.host_ifname.size() >= IFNAMSIZ)
    return make_error(ec::invalid_argument, "invalid interface name " + ep.host_ifname);
  int nsfd = ::open(ep.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return make_error(ec::system, "open the network namespace " + ep.netns_path);
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_ns{nsfd};
  sock s;
  if (auto err = s.connect()) return err;
  link_ref br;
  if (int e = rtnl_link_get_kernel(s.sk, 0, bridge.c_str(), &br.l); e < 0)
    return nl_error("find bridge " + bridge, e);
  {
    link_ref veth{rtnl_link_veth_alloc()};
    if (!veth.l) return make_error(ec::system, "netlink: no veth object");
    rtnl_link_set_name(veth.l, ep.host_ifname.c_str());
    rtnl_link_set_mtu(veth.l, static_cast<unsigned>(ep.mtu));
    rtnl_link_set_master(veth.l, rtnl_link_get_ifindex(br.l));
    auto* peer = rtnl_link_veth_get_peer(veth.l); // borrowed: the veth object owns it
    rtnl_link_set_name(peer, ep.ifname.c_str());
    rtnl_link_set_mtu(peer, static_cast<unsigned>(ep.mtu));
    rtnl_link_set_ns_fd(peer, nsfd);
    if (!ep.mac.empty()) {
      nl_addr* mac = nullptr;
      if (nl_addr_parse(ep.mac.c_str(), AF_LLC, &mac) == 0) {
        rtnl_link_set_addr(peer, mac);
        nl_addr_put(mac);
      }
    }
    int e = rtnl_link_add(s.sk, veth.l, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(peer);
    if (e < 0) return nl_error("create veth " + ep.host_ifname, e);
  }
  link_ref host;
  if (int e = rtnl_link_get_kernel(s.sk, 0, ep.host_ifname.c_str(), &host.l); e < 0)
    return nl_error("find " + ep.host_ifname, e);
  if (auto err = set_up(s.sk, host.l)) {
    detach(ep.host_ifname);
    return err;
  }
  // The inside is configured from a thread that joins the namespace (setns affects the calling
  // thread only), so the caller's thread stays in the host's.
  caf::error inside;
  std::thread t{[&] { inside = configure_inside(nsfd, ep); }};
  t.join();
  if (inside) detach(ep.host_ifname);
  return inside;
}

caf::error detach(const std::string& host_ifname) {
  sock s;
  if (auto err = s.connect()) return err;
  link_ref link;
  if (rtnl_link_get_kernel(s.sk, 0, host_ifname.c_str(), &link.l) < 0) return {};
  if (int e = rtnl_link_delete(s.sk, link.l); e < 0 && e != -NLE_NODEV && e != -NLE_OBJ_NOTFOUND)
    return nl_error("delete " + host_ifname, e);
  return {};
}

namespace {

// The names of the host's links that `keep` accepts.
template <class Pred> std::vector<std::string> links_where(Pred keep) {
  std::vector<std::string> out;
  sock s;
  if (s.connect()) return out;
  nl_cache* cache = nullptr;
  if (rtnl_link_alloc_cache(s.sk, AF_UNSPEC, &cache) < 0) return out;
  for (auto* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    const char* name = rtnl_link_get_name(l);
    if (name && keep(l, std::string_view{name})) out.emplace_back(name);
  }
  nl_cache_free(cache);
  return out;
}

} // namespace

std::vector<std::string> links_named(const std::string& prefix) {
  return links_where(
      [&](rtnl_link*, std::string_view name) { return name.substr(0, prefix.size()) == prefix; });
}

std::vector<std::string> bridge::ports() const {
  return links_where(
      [this](rtnl_link* l, std::string_view) { return rtnl_link_get_master(l) == ifindex_; });
}

std::vector<subnet> host_subnets() {
  std::vector<subnet> out;
  sock s;
  if (s.connect()) return out;
  nl_cache* cache = nullptr;
  if (rtnl_addr_alloc_cache(s.sk, &cache) < 0) return out;
  for (auto* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    auto* local = rtnl_addr_get_local(a);
    if (rtnl_addr_get_family(a) != AF_INET || !local || nl_addr_get_len(local) != 4) continue;
    uint32_t be = 0;
    std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
    int prefix = rtnl_addr_get_prefixlen(a);
    uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    out.push_back(subnet{ntohl(be) & mask, prefix});
  }
  nl_cache_free(cache);
  return out;
}

std::pair<uint32_t, int> bridge::address() const {
  sock s;
  if (s.connect()) return {0, 0};
  nl_cache* cache = nullptr;
  if (rtnl_addr_alloc_cache(s.sk, &cache) < 0) return {0, 0};
  std::pair<uint32_t, int> out{0, 0};
  for (auto* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex_ || rtnl_addr_get_family(a) != AF_INET) continue;
    auto* local = rtnl_addr_get_local(a);
    if (!local || nl_addr_get_len(local) != 4) continue;
    uint32_t be = 0;
    std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
    out = {ntohl(be), rtnl_addr_get_prefixlen(a)};
    break;
  }
  nl_cache_free(cache);
  return out;
}

caf::error bridge::remove() {
  if (!made_) return {};
  auto err = detach(name_);
  made_ = false;
  return err;
}

} // namespace berth::net
