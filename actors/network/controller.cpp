// The network controller and the userland proxy (see controller.hpp).
#include "actors/network/controller.hpp"

#include "actors/events.hpp"
#include "actors/jobs.hpp"
#include "actors/log.hpp"
#include "actors/worker.hpp"
#include "drivers/io.hpp"
#include "drivers/network/bridge.hpp"
#include "drivers/network/firewall.hpp"
#include "drivers/network/proxy.hpp"
#include "messages/defaults.hpp"

#include <boost/json.hpp>
#include <simdjson.h>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace berth {

namespace {

constexpr const char* default_bridge = "berth0";

// -- the userland proxy
// ----------------------------------------------------------------------------

struct bound_port {
  std::string proto;
  std::string ip; // "0.0.0.0" for every IPv4 address, "::" for every IPv6 one
  uint16_t port;
  bool operator<(const bound_port& o) const {
    return std::tie(proto, ip, port) < std::tie(o.proto, o.ip, o.port);
  }
};

/// Who holds a port: the container, and the proxy key its listener was opened under (one key per
/// published binding, so that a binding that fails half-way closes only what it opened).
struct holder {
  std::string owner;
  std::string key;
};

struct proxy_state {
  static inline const char* name = "port-proxy";
  std::unique_ptr<net::proxy> proxy;
  std::string default_host_ip;
  bool v6 = false;                   // the host can listen on IPv6 (moby's IsV6Listenable)
  std::map<bound_port, holder> held; // every listener open
  uint64_t keys = 0;
};

using proxy_pointer = port_proxy_actor::stateful_pointer<proxy_state>;

// moby's netutils.IsV6Listenable: can a socket be bound to [::1]? (Not with ipv6.disable=1.)
bool v6_listenable() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

bool is_v6(const std::string& ip) {
  return ip.find(':') != std::string::npos;
}

std::optional<uint16_t> port_number(const std::string& s) {
  auto p = parse_port_number(s);
  if (!p) return std::nullopt;
  return static_cast<uint16_t>(*p);
}

// "80/tcp" -> (80, "tcp"); a port without a protocol is TCP.
caf::expected<std::pair<uint16_t, std::string>> container_port(const std::string& spec) {
  auto [proto, port] = split_proto_port(spec);
  auto p = port_number(port);
  if (!p || *p == 0) return make_error(ec::invalid_argument, "invalid port specification: " + spec);
  return std::make_pair(*p, proto);
}

// "" -> [0, 0] (any); "8080"; "8000-8010".
caf::expected<std::pair<uint16_t, uint16_t>> host_ports(const std::string& spec) {
  if (spec.empty()) return std::make_pair(uint16_t{0}, uint16_t{0});
  uint64_t a = 0, b = 0;
  if (!parse_port_range(spec, a, b))
    return make_error(ec::invalid_argument, "invalid port specification: " + spec);
  return std::make_pair(static_cast<uint16_t>(a), static_cast<uint16_t>(b));
}

// Held already, by berth: the same protocol and port on the same address, or on the wildcard of
// its family ("0.0.0.0" and "::" are separate: the IPv6 listeners are IPv6 only).
bool clashes(const proxy_state& st, const bound_port& want) {
  auto wildcard = [](const std::string& ip) { return ip == "0.0.0.0" || ip == "::"; };
  for (auto& [p, h] : st.held)
    if (p.proto == want.proto && p.port == want.port && is_v6(p.ip) == is_v6(want.ip) &&
        (p.ip == want.ip || wildcard(p.ip) || wildcard(want.ip)))
      return true;
  return false;
}

void close_key(proxy_pointer self, const std::string& key) {
  auto& st = self->state;
  st.proxy->close(key);
  for (auto it = st.held.begin(); it != st.held.end();)
    it = it->second.key == key ? st.held.erase(it) : std::next(it);
}

void unpublish(proxy_pointer self, const std::string& owner) {
  auto& st = self->state;
  std::set<std::string> keys;
  for (auto& [p, h] : st.held)
    if (h.owner == owner) keys.insert(h.key);
  for (auto& k : keys)
    close_key(self, k);
}

std::string host_address(const std::string& ip, uint16_t port) {
  return (is_v6(ip) ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

// Listen on one port for every address in `ips` under a new key; all or nothing. Answers the
// port bound (the same on every address).
caf::expected<uint16_t> listen_all(proxy_pointer self, const std::string& owner,
                                   const std::vector<std::string>& ips, const std::string& proto,
                                   uint16_t port, const std::string& target, uint16_t target_port) {
  auto& st = self->state;
  for (auto& ip : ips)
    if (clashes(st, bound_port{proto, ip, port}))
      return make_error(ec::system, "Bind for " + host_address(ip, port) +
                                        " failed: port is already allocated");
  auto key = owner + "#" + std::to_string(++st.keys);
  for (auto& ip : ips) {
    auto r = st.proxy->listen(key, proto, ip, port, target, target_port);
    if (!r) {
      close_key(self, key);
      return make_error(ec::system, "Error starting userland proxy: " + error_message(r.error()));
    }
    st.held.emplace(bound_port{proto, ip, *r}, holder{owner, key});
    port = *r; // a port the kernel picked is the one the other families get too
  }
  return port;
}

caf::expected<std::vector<port_binding>> publish(proxy_pointer self, const std::string& owner,
                                                 const std::vector<port_binding>& bindings,
                                                 const std::string& target) {
  auto& st = self->state;
  std::vector<port_binding> out;
  auto fail = [&](caf::error err) {
    unpublish(self, owner);
    return err;
  };
  for (auto& b : bindings) {
    auto cp = container_port(b.port);
    if (!cp) return fail(cp.error());
    auto& proto = cp->second;
    if (proto != "tcp" && proto != "udp")
      return fail(make_error(ec::not_implemented,
                             "publishing " + proto + " ports is not built yet: " + b.port));
    auto range = host_ports(b.host_port);
    if (!range) return fail(range.error());
    // moby: no host IP and the default one (--ip) the IPv4 wildcard: IPv6's too, where it works
    std::vector<std::string> ips{b.host_ip.empty() ? st.default_host_ip : b.host_ip};
    if (b.host_ip.empty() && ips.front() == "0.0.0.0" && st.v6) ips.push_back("::");
    caf::error last;
    std::optional<uint16_t> bound;
    // a port the kernel picks (0) is tried a few times: it may be taken on IPv6 alone
    auto tries = range->second == 0 ? 5u : range->second - range->first + 1u;
    for (uint32_t i = 0; i < tries && !bound; ++i) {
      auto p = static_cast<uint16_t>(range->first + (range->second == 0 ? 0 : i));
      auto r = listen_all(self, owner, ips, proto, p, target, cp->first);
      if (r)
        bound = *r;
      else
        last = std::move(r.error());
    }
    if (!bound) return fail(last);
    for (auto& ip : ips) // in the order asked: IPv4 first
      out.push_back(
          port_binding{std::to_string(cp->first) + "/" + proto, ip, std::to_string(*bound)});
  }
  return out;
}

port_proxy_actor::behavior_type proxy_impl(proxy_pointer self, std::string default_host_ip) {
  self->state.proxy = std::make_unique<net::proxy>();
  self->state.default_host_ip = default_host_ip.empty() ? "0.0.0.0" : default_host_ip;
  self->state.v6 = v6_listenable();
  return {
      [self](caf::publish_atom, std::string& owner, std::vector<port_binding>& bindings,
             std::string& target) -> caf::result<std::vector<port_binding>> {
        auto r = publish(self, owner, bindings, target);
        if (!r) return std::move(r.error());
        return std::move(*r);
      },
      [self](caf::unpublish_atom, std::string& owner) -> caf::result<caf::ok_atom> {
        unpublish(self, owner);
        return caf::ok_atom_v;
      },
  };
}

// -- the controller
// --------------------------------------------------------------------------------

constexpr const char* bridge_name_option = "com.docker.network.bridge.name";
constexpr const char* mtu_option = "com.docker.network.driver.mtu";
constexpr const char* icc_option = "com.docker.network.bridge.enable_icc";
constexpr const char* masq_option = "com.docker.network.bridge.enable_ip_masquerade";

/// A network: the predefined bridge, host and none, or a user-defined bridge network.
struct network {
  network_info info;                   // members are kept below
  std::unique_ptr<net::bridge> bridge; // null for host and none
  net::subnet subnet;
  uint32_t gateway = 0;
  std::unique_ptr<net::ipam> ipam;
  int mtu = 1500;
  bool user = false;                             // user-defined: DNS names, aliases, static IPs
  std::map<std::string, network_member> members; // by container ID
};

using network_ptr = std::shared_ptr<network>;

struct controller_state {
  static inline const char* name = "network-controller";
  network_controller_options opts;
  std::vector<network_ptr> networks; // bridge, host, none, then the user's by creation
  std::shared_ptr<net::firewall> firewall;
  port_proxy_actor proxy;
};

// A network's flags for its rules: its options, else the daemon's (--icc; --ip-masq is the
// firewall's own).
bool option_on(const network& n, const char* key, bool dflt) {
  auto it = n.info.options.find(key);
  return it == n.info.options.end() ? dflt : it->second != "false" && it->second != "0";
}

caf::error add_rules(const controller_state& st, const network& n) {
  if (!st.firewall || !n.bridge) return {};
  return st.firewall->add_network(n.bridge->name(), n.subnet.to_string(),
                                  option_on(n, icc_option, true), option_on(n, masq_option, true),
                                  n.info.internal);
}

void remove_rules(const controller_state& st, const network& n) {
  if (!st.firewall || !n.bridge) return;
  if (auto err = st.firewall->remove_network(n.bridge->name(), n.subnet.to_string(),
                                             option_on(n, icc_option, true),
                                             option_on(n, masq_option, true), n.info.internal))
    BLOG(warn, "network") << n.info.name << ": " << error_message(err);
}

// The NAT rules of an endpoint's published ports (the proxy serves them too: loopback, hairpin).
// IPv4 only: the proxy alone serves the IPv6 listeners, as dockerd's does without --ipv6.
caf::error port_rules(net::firewall* fw, const network_endpoint& ep, bool add) {
  if (!fw) return {};
  for (auto& p : ep.ports) {
    auto cp = container_port(p.port);
    auto hport = port_number(p.host_port);
    if (!cp || !hport || is_v6(p.host_ip)) continue;
    auto& [cport, proto] = *cp;
    auto err = add ? fw->publish(proto, p.host_ip, *hport, ep.bridge, ep.ip_address, cport)
                   : fw->unpublish(proto, p.host_ip, *hport, ep.bridge, ep.ip_address, cport);
    if (err && add) return err;
    if (err) BLOG(warn, "network") << "unpublish " << p.port << ": " << error_message(err);
  }
  return {};
}

using controller_pointer = network_controller_actor::stateful_pointer<controller_state>;

caf::error network_not_found(const std::string& ref) {
  return make_error(ec::not_found, "network " + ref + " not found");
}

// moby's lookup: the full ID, then the name, then a unique ID prefix.
caf::expected<network_ptr> find_network(const controller_state& st, const std::string& ref) {
  if (ref.empty()) return network_not_found(ref);
  for (auto& n : st.networks)
    if (n->info.id == ref) return n;
  for (auto& n : st.networks)
    if (n->info.name == ref) return n;
  network_ptr found;
  std::size_t matches = 0;
  for (auto& n : st.networks)
    if (n->info.id.rfind(ref, 0) == 0) {
      found = n;
      ++matches;
    }
  if (matches > 1)
    return make_error(ec::invalid_argument, "network " + ref + " is ambiguous (" +
                                                std::to_string(matches) +
                                                " matches found based on ID prefix)");
  if (!found) return network_not_found(ref);
  return found;
}

void publish_event(controller_pointer self, const network& n, const char* action,
                   const std::string& container = {}) {
  event ev;
  ev.type = "network";
  ev.action = action;
  ev.actor_id = n.info.id;
  ev.attributes["name"] = n.info.name;
  ev.attributes["type"] = n.info.driver;
  if (!container.empty()) ev.attributes["container"] = container;
  self->send(self->state.opts.events, caf::publish_atom_v, std::move(ev));
}

std::string networks_dir(const controller_state& st) {
  return st.opts.data_root + "/network/networks";
}

caf::error save_network(const controller_state& st, const network_info& n) {
  boost::json::object o;
  o["Name"] = n.name;
  o["Id"] = n.id;
  o["Driver"] = n.driver;
  o["Created"] = n.created_nano;
  o["Internal"] = n.internal;
  o["Attachable"] = n.attachable;
  o["Subnet"] = n.subnet;
  o["Gateway"] = n.gateway;
  o["IPRange"] = n.ip_range;
  boost::json::object options, labels;
  for (auto& [k, v] : n.options)
    options[k] = v;
  for (auto& [k, v] : n.labels)
    labels[k] = v;
  o["Options"] = std::move(options);
  o["Labels"] = std::move(labels);
  return io::write_file_atomic(networks_dir(st) + "/" + n.id + ".json", boost::json::serialize(o),
                               0600);
}

caf::expected<network_info> load_network(const std::string& path) {
  auto data = io::read_file(path);
  if (!data) return data.error();
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(*data).get(o)) return make_error(ec::system, path + " is not JSON");
  network_info n;
  auto str = [&](const char* key, std::string& out) {
    std::string_view v;
    if (!o[key].get(v)) out = std::string{v};
  };
  auto flag = [&](const char* key, bool& out) {
    bool v = false;
    if (!o[key].get(v)) out = v;
  };
  auto map = [&](const char* key, std::map<std::string, std::string>& out) {
    simdjson::dom::object m;
    if (o[key].get(m)) return;
    std::string_view v;
    for (auto [k, val] : m)
      if (!val.get(v)) out.emplace(std::string{k}, std::string{v});
  };
  str("Name", n.name);
  str("Id", n.id);
  str("Driver", n.driver);
  int64_t created = 0;
  if (!o["Created"].get(created)) n.created_nano = created;
  flag("Internal", n.internal);
  flag("Attachable", n.attachable);
  str("Subnet", n.subnet);
  str("Gateway", n.gateway);
  str("IPRange", n.ip_range);
  map("Options", n.options);
  map("Labels", n.labels);
  if (n.name.empty() || n.id.size() != 64 || n.subnet.empty())
    return make_error(ec::system, path + ": not a network");
  return n;
}

// Every subnet in use: the host's and the networks'.
std::vector<net::subnet> used_subnets(const controller_state& st) {
  auto used = net::host_subnets();
  for (auto& n : st.networks)
    if (n->ipam) used.push_back(n->subnet);
  return used;
}

// Docker's default address pools: a /16 of 172.17-31, then a /20 of 192.168.0.0/16.
caf::expected<net::subnet> free_subnet(const std::vector<net::subnet>& used) {
  auto free = [&](const net::subnet& s) {
    for (auto& u : used)
      if (u.prefix > 0 && s.overlaps(u)) return false;
    return true;
  };
  for (uint32_t b = 17; b <= 31; ++b)
    if (net::subnet s{(172u << 24) | (b << 16), 16}; free(s)) return s;
  for (uint32_t b = 0; b < 256; b += 16)
    if (net::subnet s{(192u << 24) | (168u << 16) | (b << 8), 20}; free(s)) return s;
  return make_error(ec::forbidden, "could not find an available, non-overlapping IPv4 address "
                                   "pool among the defaults to assign to the network");
}

// A user-defined network's bridge, subnet and address pool, from its info (a create, or a
// network of an earlier run). Fills in the subnet and gateway when the info has none.
caf::expected<network_ptr> open_user_network(const controller_state& st, network_info info) {
  auto n = std::make_shared<network>();
  n->user = true;
  if (info.subnet.empty()) {
    auto s = free_subnet(used_subnets(st));
    if (!s) return s.error();
    info.subnet = s->to_string();
  }
  auto s = net::subnet::parse(info.subnet);
  if (!s) return make_error(ec::invalid_argument, "invalid subnet " + info.subnet);
  n->subnet = *s;
  if (info.gateway.empty()) info.gateway = net::ip_string(s->base + 1);
  auto gw = net::parse_ip(info.gateway);
  if (!gw || !s->contains(*gw))
    return make_error(ec::invalid_argument,
                      "no matching subnet for gateway " + info.gateway + " of " + info.subnet);
  n->gateway = *gw;
  net::subnet range{};
  if (!info.ip_range.empty()) {
    auto r = net::subnet::parse(info.ip_range);
    if (!r || !s->contains(r->base) || r->prefix < s->prefix)
      return make_error(ec::invalid_argument,
                        "no matching subnet for range " + info.ip_range + " of " + info.subnet);
    range = *r;
  }
  n->ipam = std::make_unique<net::ipam>(*s, *gw, range);
  n->mtu = st.opts.config.mtu > 0 ? static_cast<int>(st.opts.config.mtu) : 1500;
  if (auto it = info.options.find(mtu_option); it != info.options.end()) {
    char* end = nullptr;
    auto v = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || v < 68 || v > 65535)
      return make_error(ec::invalid_argument, "invalid MTU " + it->second);
    n->mtu = static_cast<int>(v);
  }
  auto name = "br-" + info.id.substr(0, 12);
  if (auto it = info.options.find(bridge_name_option); it != info.options.end()) name = it->second;
  if (name.empty() || name.size() > 15)
    return make_error(ec::invalid_argument, "invalid bridge name " + name);
  auto b = net::bridge::open(name, *gw, s->prefix, n->mtu, true);
  if (!b) return b.error();
  n->bridge = std::move(*b);
  info.bridge = name;
  n->info = std::move(info);
  return n;
}

caf::error no_alias_here() {
  return make_error(ec::invalid_argument,
                    "network-scoped alias is supported only for containers in user defined "
                    "networks");
}

// Container `id` (named `name`) joins `n` with `cfg`: an address, the veth names and its DNS
// names. The caller publishes ports and registers the member.
caf::expected<network_endpoint> make_endpoint(controller_pointer self, network& n,
                                              const std::string& id, const std::string& name,
                                              const endpoint_config& cfg) {
  if (!n.ipam)
    return make_error(ec::invalid_argument,
                      "container cannot be disconnected from host network or connected to host "
                      "network");
  if (n.members.count(id))
    return make_error(ec::forbidden,
                      "endpoint with name " + name + " already exists in network " + n.info.name);
  if (!n.user && !cfg.aliases.empty()) return no_alias_here();
  caf::expected<uint32_t> ip{0u};
  if (!cfg.ipv4_address.empty()) {
    if (!n.user)
      return make_error(ec::invalid_argument, "user specified IP address is supported only when "
                                              "connecting to networks with user configured "
                                              "subnets");
    ip = net::parse_ip(cfg.ipv4_address);
    if (!ip) return make_error(ec::invalid_argument, "invalid IPv4 address " + cfg.ipv4_address);
    if (auto err = n.ipam->take(*ip)) {
      if (err.code() == static_cast<uint8_t>(ec::conflict))
        return make_error(ec::forbidden, "Address already in use");
      return make_error(ec::invalid_argument, "no available IPv4 address " + cfg.ipv4_address +
                                                  " in network " + n.info.name);
    }
  } else {
    ip = n.ipam->allocate();
    if (!ip)
      return make_error(ec::forbidden, "no available IPv4 addresses on this network's address "
                                       "pools: " +
                                           n.info.name + " (" + n.info.id + ")");
  }
  network_endpoint ep;
  ep.network = n.info.name;
  ep.network_id = n.info.id;
  ep.endpoint_id = io::random_hex();
  ep.bridge = n.bridge->name();
  ep.host_ifname = "veth" + ep.endpoint_id.substr(0, 7);
  ep.ip_address = net::ip_string(*ip);
  ep.prefix_len = n.subnet.prefix;
  ep.gateway = n.info.internal ? std::string{} : net::ip_string(n.gateway);
  ep.mac_address = net::mac_of(*ip);
  ep.mtu = n.mtu;
  ep.aliases = cfg.aliases;
  ep.ipv4_config = cfg.ipv4_address;
  ep.dns = n.user;
  if (n.user && self->state.opts.dns) {
    std::vector<std::string> names{name, id.substr(0, 12)};
    names.insert(names.end(), cfg.aliases.begin(), cfg.aliases.end());
    self->send(self->state.opts.dns, caf::put_atom_v, n.info.id, id, std::move(names), *ip,
               cfg.links);
  }
  return ep;
}

// Forget the DNS names of endpoint `ep` of container `id` on `n`.
void forget_names(controller_pointer self, network& n, const std::string& id,
                  const network_endpoint& ep) {
  auto ip = net::parse_ip(ep.ip_address);
  if (n.user && self->state.opts.dns && ip)
    self->send(self->state.opts.dns, atom::disconnect_v, n.info.id, id, *ip);
}

// Forget endpoint `ep` (not wired yet) of container `id` on `n`: its address and DNS names.
void drop_endpoint(controller_pointer self, network& n, const std::string& id,
                   const network_endpoint& ep) {
  auto ip = net::parse_ip(ep.ip_address);
  if (ip && n.ipam) n.ipam->release(*ip);
  forget_names(self, n, id, ep);
}

// Container `id` leaves `n`: its names go at once; its port rules and veth go on a worker thread
// (iptables and a veth delete take milliseconds), and its address is free once they are gone.
// `done` runs then, in the controller's context. With `sync` (shutdown), all of it here.
void leave(controller_pointer self, const network_ptr& n, const std::string& id, bool sync = false,
           std::function<void()> done = {}) {
  auto it = n->members.find(id);
  if (it == n->members.end()) {
    if (done) done();
    return;
  }
  auto ep = std::move(it->second.endpoint);
  n->members.erase(it);
  forget_names(self, *n, id, ep);
  publish_event(self, *n, "disconnect", id);
  std::function<caf::expected<bool>()> unwire = [fw = self->state.firewall, ep, id] {
    (void)port_rules(fw.get(), ep, false);
    if (auto err = net::detach(ep.host_ifname))
      BLOG(warn, "network") << id.substr(0, 12) << ": " << error_message(err);
    return caf::expected<bool>{true};
  };
  auto free_ip = [n, ep, done](caf::expected<bool>&) {
    if (auto ip = net::parse_ip(ep.ip_address); ip && n->ipam) n->ipam->release(*ip);
    if (done) done();
  };
  if (!sync) return run_detached<bool>(self, std::move(unwire), std::move(free_ip));
  auto r = unwire();
  free_ip(r);
}

void release(controller_pointer self, const std::string& id, bool sync = false) {
  auto& st = self->state;
  bool ports = false;
  for (auto& n : st.networks) {
    if (auto it = n->members.find(id); it != n->members.end())
      ports = ports || !it->second.endpoint.ports.empty();
    leave(self, n, id, sync);
  }
  if (ports)
    self->request(st.proxy, caf::infinite, caf::unpublish_atom_v, id)
        .then([](caf::ok_atom) {}, [](caf::error&) {});
  if (st.opts.dns) self->send(st.opts.dns, atom::release_v, id);
}

// A start that failed after its endpoints were made (not wired, not committed): their addresses
// and the container's DNS names go.
void abandon(controller_pointer self, const std::vector<network_ptr>& nets, const std::string& id,
             const std::vector<network_endpoint>& eps) {
  for (std::size_t i = 0; i < eps.size(); ++i)
    drop_endpoint(self, *nets[i], id, eps[i]);
  if (self->state.opts.dns) self->send(self->state.opts.dns, atom::release_v, id);
}

caf::result<std::vector<network_endpoint>> connect(controller_pointer self, const std::string& id,
                                                   const std::string& name,
                                                   std::vector<port_binding>& bindings,
                                                   const std::vector<endpoint_config>& configs) {
  auto& st = self->state;
  release(self, id); // a start after a crash of the last one
  std::vector<network_endpoint> eps;
  std::vector<network_ptr> nets;
  for (auto& cfg : configs) {
    auto n = find_network(st, cfg.network);
    caf::expected<network_endpoint> ep{network_endpoint{}};
    if (n) ep = make_endpoint(self, **n, id, name, cfg);
    if (!n || !ep) {
      abandon(self, nets, id, eps);
      return n ? ep.error() : n.error();
    }
    nets.push_back(*n);
    eps.push_back(std::move(*ep));
  }
  auto commit = [self, id, name, nets](std::vector<network_endpoint>& eps) {
    for (std::size_t i = 0; i < eps.size(); ++i) {
      nets[i]->members[id] = network_member{id, name, eps[i]};
      publish_event(self, *nets[i], "connect", id);
    }
  };
  if (bindings.empty() || eps.empty()) {
    commit(eps);
    return eps;
  }
  auto rp = self->make_response_promise<std::vector<network_endpoint>>();
  auto target = eps.front().ip_address;
  self->request(st.proxy, caf::infinite, caf::publish_atom_v, id, std::move(bindings), target)
      .then(
          [self, rp, eps, nets, id, name, commit](std::vector<port_binding>& bound) mutable {
            eps.front().ports = std::move(bound);
            // the NAT rules on a worker thread: iptables runs take milliseconds each
            std::function<caf::expected<bool>()> rules = [fw = self->state.firewall,
                                                          ep = eps.front()] {
              if (auto err = port_rules(fw.get(), ep, true)) {
                (void)port_rules(fw.get(), ep, false);
                return caf::expected<bool>{std::move(err)};
              }
              return caf::expected<bool>{true};
            };
            run_detached<bool>(
                self, std::move(rules),
                [self, rp, eps, nets, id, name, commit](caf::expected<bool>& r) mutable {
                  if (r) {
                    commit(eps);
                    rp.deliver(eps);
                    return;
                  }
                  self->request(self->state.proxy, caf::infinite, caf::unpublish_atom_v, id)
                      .then([](caf::ok_atom) {}, [](caf::error&) {});
                  abandon(self, nets, id, eps);
                  rp.deliver(make_error(ec::system, "driver failed programming external "
                                                    "connectivity on endpoint " +
                                                        name + " (" + eps.front().endpoint_id +
                                                        "): " + error_message(r.error())));
                });
          },
          [self, rp, eps, nets, id, name](caf::error& err) mutable {
            abandon(self, nets, id, eps);
            auto code =
                err.category() == caf::atom("berth") ? static_cast<ec>(err.code()) : ec::system;
            rp.deliver(make_error(code, "driver failed programming external connectivity on "
                                        "endpoint " +
                                            name + " (" + eps.front().endpoint_id +
                                            "): " + error_message(err)));
          });
  return rp;
}

// -- jobs
// -------------------------------------------------------------------------------------------

network_info info_of(const network& n, bool members) {
  auto out = n.info;
  if (members)
    for (auto& [id, m] : n.members)
      out.members.push_back(m);
  return out;
}

bool is_predefined(const network& n) {
  return !n.user;
}

caf::expected<bool> matches(const network& n, const filter_args& f) {
  static const std::set<std::string> known{"name", "id",    "driver",  "label",
                                           "type", "scope", "dangling"};
  for (auto& [k, v] : f)
    if (!known.count(k)) return make_error(ec::invalid_argument, "invalid filter '" + k + "'");
  auto any = [&](const char* key, auto pred) {
    auto it = f.find(key);
    if (it == f.end() || it->second.empty()) return true;
    for (auto& v : it->second)
      if (pred(v)) return true;
    return false;
  };
  bool ok = any("name", [&](auto& v) { return n.info.name.find(v) != std::string::npos; }) &&
            any("id", [&](auto& v) { return n.info.id.rfind(v, 0) == 0; }) &&
            any("driver", [&](auto& v) { return n.info.driver == v; }) &&
            any("scope", [&](auto& v) { return n.info.scope == v; });
  if (auto it = f.find("type"); it != f.end())
    for (auto& v : it->second) {
      if (v != "custom" && v != "builtin")
        return make_error(ec::invalid_argument, "invalid filter: 'type'='" + v + "'");
      ok = ok && (v == "custom") == n.user;
    }
  if (auto it = f.find("label"); it != f.end())
    for (auto& v : it->second)
      ok = ok && label_matches(n.info.labels, v);
  if (auto it = f.find("dangling"); it != f.end())
    for (auto& v : it->second) {
      if (v != "true" && v != "false" && v != "1" && v != "0")
        return make_error(ec::invalid_argument, "invalid filter 'dangling=" + v + "'");
      bool want = v == "true" || v == "1";
      ok = ok && (n.user && n.members.empty()) == want;
    }
  return ok;
}

caf::expected<network_info> create(controller_pointer self, network_info req) {
  auto& st = self->state;
  if (req.name.empty()) return make_error(ec::invalid_argument, "network name must not be empty");
  for (auto& n : st.networks)
    if (n->info.name == req.name)
      return make_error(ec::conflict, "network with name " + req.name + " already exists");
  if (req.driver.empty()) req.driver = "bridge";
  if (req.driver == "host" || req.driver == "null")
    return make_error(ec::forbidden,
                      "only one instance of \"" + req.driver + "\" network is allowed");
  if (req.driver != "bridge")
    return make_error(ec::not_implemented, "network driver " + req.driver +
                                               " is not built (berth has the bridge driver)");
  if (req.enable_ipv6) return make_error(ec::not_implemented, "IPv6 networks are not built yet");
  if (!req.subnet.empty()) {
    auto s = net::subnet::parse(req.subnet);
    if (!s) return make_error(ec::invalid_argument, "invalid subnet " + req.subnet);
    req.subnet = s->to_string();
    for (auto& n : st.networks)
      if (n->ipam && n->subnet.overlaps(*s))
        return make_error(ec::forbidden, "Pool overlaps with other one on this address space");
  } else if (!req.gateway.empty() || !req.ip_range.empty()) {
    return make_error(ec::invalid_argument, "gateway and ip-range need a subnet");
  }
  if (auto it = req.options.find(bridge_name_option); it != req.options.end())
    for (auto& n : st.networks)
      if (n->bridge && n->bridge->name() == it->second)
        return make_error(ec::forbidden,
                          "bridge name " + it->second + " is in use by network " + n->info.name);
  req.id = io::random_hex();
  req.scope = "local";
  req.created_nano = now_nano();
  req.members.clear();
  auto n = open_user_network(st, std::move(req));
  if (!n) return n.error();
  auto err = add_rules(st, **n);
  if (!err) err = save_network(st, (*n)->info);
  if (err) {
    remove_rules(st, **n);
    (void)(*n)->bridge->remove();
    return err;
  }
  st.networks.push_back(*n);
  publish_event(self, **n, "create");
  BLOG(info, "network") << "created network " << (*n)->info.name << " (" << (*n)->info.subnet
                        << " on " << (*n)->bridge->name() << ")";
  return info_of(**n, false);
}

caf::error remove_network(controller_pointer self, const network_ptr& n) {
  auto& st = self->state;
  if (!n->members.empty())
    return make_error(ec::conflict, "error while removing network: network " + n->info.name +
                                        " id " + n->info.id + " has active endpoints");
  remove_rules(st, *n);
  if (auto err = n->bridge->remove()) return err;
  ::unlink((networks_dir(st) + "/" + n->info.id + ".json").c_str());
  st.networks.erase(std::remove(st.networks.begin(), st.networks.end(), n), st.networks.end());
  publish_event(self, *n, "destroy");
  return {};
}

caf::result<job_result> handle_job(controller_pointer self, job& j) {
  auto& st = self->state;
  auto filters = [&j]() -> filter_args {
    if (j.input.match_elements<filter_args>()) return j.input.get_as<filter_args>(0);
    return {};
  };
  if (j.name == "network_create") {
    if (!j.input.match_elements<network_info>())
      return job_fail(make_error(ec::invalid_argument, "network_create: no network"));
    auto r = create(self, j.input.get_as<network_info>(0));
    if (!r) return job_fail(r.error());
    return job_ok(caf::make_message(std::move(*r)));
  }
  if (j.name == "networks") {
    std::vector<network_info> out;
    auto f = filters();
    for (auto& n : st.networks) {
      auto m = matches(*n, f);
      if (!m) return job_fail(m.error());
      if (*m) out.push_back(info_of(*n, false));
    }
    return job_ok(caf::make_message(std::move(out)));
  }
  if (j.name == "network_prune") {
    auto f = filters();
    for (auto& [k, v] : f)
      if (k != "label" && k != "label!" && k != "until")
        return job_fail(make_error(ec::invalid_argument, "invalid filter '" + k + "'"));
    std::vector<std::string> removed;
    auto all = st.networks;
    for (auto& n : all) {
      if (!n->user || !n->members.empty()) continue;
      bool ok = true;
      if (auto it = f.find("label"); it != f.end())
        for (auto& l : it->second)
          ok = ok && label_matches(n->info.labels, l);
      if (auto it = f.find("label!"); it != f.end())
        for (auto& l : it->second)
          ok = ok && !label_matches(n->info.labels, l);
      if (auto it = f.find("until"); it != f.end()) // unix nanoseconds (the API converts)
        for (auto& u : it->second)
          ok = ok && n->info.created_nano < std::strtoll(u.c_str(), nullptr, 10);
      if (!ok) continue;
      if (auto err = remove_network(self, n))
        BLOG(warn, "network") << "prune " << n->info.name << ": " << error_message(err);
      else
        removed.push_back(n->info.name);
    }
    return job_ok(caf::make_message(std::move(removed)));
  }
  if (j.args.empty()) return job_fail(make_error(ec::invalid_argument, j.name + ": no network"));
  auto n = find_network(st, j.args[0]);
  if (!n) return job_fail(n.error());
  if (j.name == "network_inspect") return job_ok(caf::make_message(info_of(**n, true)));
  if (j.name == "network_delete") {
    if (is_predefined(**n))
      return job_fail(make_error(ec::forbidden, (*n)->info.name +
                                                    " is a pre-defined network and cannot be "
                                                    "removed"));
    if (auto err = remove_network(self, *n)) return job_fail(err);
    return job_ok({});
  }
  return job_fail(make_error(ec::command_not_found, "no such job: " + j.name));
}

network_controller_actor::behavior_type controller_impl(controller_pointer self,
                                                        network_controller_options opts,
                                                        std::vector<network_ptr> networks,
                                                        std::shared_ptr<net::firewall> firewall) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.networks = std::move(networks);
  st.firewall = std::move(firewall);
  st.proxy = spawn_port_proxy(self->system(), st.opts.config.ip);
  self->link_to(st.proxy);
  self->request(st.opts.engine, defaults::register_timeout, atom::provide_v,
                std::string{"network-controller"},
                std::vector<std::string>{"network_create", "networks", "network_inspect",
                                         "network_delete", "network_prune"},
                caf::actor_cast<job_handler_actor>(self))
      .then([](caf::ok_atom) {},
            [](caf::error& err) {
              BLOG(error, "network") << "registering jobs: " << error_message(err);
            });
  self->request(st.opts.engine, defaults::register_timeout, atom::provide_v, atom::shutdown_v,
                std::string{"network-controller"}, caf::actor_cast<shutdown_handler_actor>(self))
      .then([](caf::ok_atom) {}, [](caf::error&) {});
  return {
      [self](caf::connect_atom, std::string& id, std::string& name,
             std::vector<port_binding>& bindings,
             std::vector<endpoint_config>& configs) -> caf::result<std::vector<network_endpoint>> {
        return connect(self, id, name, bindings, configs);
      },
      [self](caf::connect_atom, std::string& id, std::string& name,
             endpoint_config& cfg) -> caf::result<network_endpoint> {
        auto n = find_network(self->state, cfg.network);
        if (!n) return n.error();
        auto ep = make_endpoint(self, **n, id, name, cfg);
        if (!ep) return ep.error();
        (*n)->members[id] = network_member{id, name, *ep};
        publish_event(self, **n, "connect", id);
        return std::move(*ep);
      },
      [self](caf::get_atom, std::string& ref) -> caf::result<network_info> {
        auto n = find_network(self->state, ref);
        if (!n) return n.error();
        return info_of(**n, false);
      },
      [self](atom::disconnect, std::string& id, std::string& ref) -> caf::result<caf::ok_atom> {
        auto n = find_network(self->state, ref);
        if (!n) return n.error();
        auto rp = self->make_response_promise<caf::ok_atom>();
        leave(self, *n, id, false, [rp]() mutable { rp.deliver(caf::ok_atom_v); });
        return rp;
      },
      [self](atom::release, std::string& id) { release(self, id); },
      [self](job& j) -> caf::result<job_result> { return handle_job(self, j); },
      [self](atom::shutdown) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        std::set<std::string> ids;
        for (auto& n : st.networks)
          for (auto& [id, m] : n->members)
            ids.insert(id);
        for (auto& id : ids)
          release(self, id, true);
        for (auto& n : st.networks)
          remove_rules(st, *n);
        if (st.firewall)
          if (auto err = st.firewall->teardown())
            BLOG(warn, "network") << "iptables: " << error_message(err);
        for (auto& n : st.networks) {
          if (!n->bridge || !n->bridge->made()) continue;
          if (auto err = n->bridge->remove())
            BLOG(warn, "network") << "remove bridge: " << error_message(err);
          else
            BLOG(info, "network") << "removed bridge " << n->bridge->name();
        }
        return caf::ok_atom_v;
      },
  };
}

// A predefined network's ID: kept in <data-root>/network/<name>.id.
caf::expected<std::string> predefined_id(const std::string& dir, const std::string& name) {
  if (auto id = io::read_file(dir + "/" + name + ".id"); id && id->size() >= 64)
    return id->substr(0, 64);
  if (auto err = io::mkdir_all(dir, 0700)) return err;
  auto id = io::random_hex();
  if (auto err = io::write_file_atomic(dir + "/" + name + ".id", id + "\n")) return err;
  return id;
}

// The default bridge: found or made, with its subnet, gateway and address pool.
caf::expected<network_ptr> open_bridge(const network_controller_options& o) {
  auto& cfg = o.config;
  auto out = std::make_shared<network>();
  out->mtu = cfg.mtu > 0 ? static_cast<int>(cfg.mtu) : 1500;
  auto dir = o.data_root + "/network";
  auto id = predefined_id(dir, "bridge");
  if (!id) return id.error();
  out->info.id = *id;
  out->info.name = "bridge";
  out->info.options = {
      {"com.docker.network.bridge.default_bridge", "true"},
      {"com.docker.network.bridge.enable_icc", cfg.icc ? "true" : "false"},
      {"com.docker.network.bridge.enable_ip_masquerade", cfg.ip_masq ? "true" : "false"},
      {"com.docker.network.bridge.host_binding_ipv4", cfg.ip.empty() ? "0.0.0.0" : cfg.ip},
      {bridge_name_option, cfg.bridge.empty() ? default_bridge : cfg.bridge},
      {mtu_option, std::to_string(out->mtu)}};
  bool own = cfg.bridge.empty();
  auto name = own ? std::string{default_bridge} : cfg.bridge;
  std::optional<net::subnet> want;
  uint32_t want_gw = 0;
  if (!cfg.bip.empty()) {
    auto s = net::subnet::parse(cfg.bip);
    if (!s) return s.error();
    want = *s;
    want_gw = *net::parse_ip(cfg.bip.substr(0, cfg.bip.find('/')));
    if (want_gw == s->base) want_gw = s->base + 1;
  }
  if (own) {
    // A berth0 of an earlier run: kept when its address is what --bip asks, else made again.
    if (auto found = net::bridge::open(name, 0, 0, 0, false)) {
      auto [addr, prefix] = (*found)->address();
      if (addr == 0 || (want && (addr != want_gw || prefix != want->prefix))) {
        if (auto err = net::detach(name)) return err;
      } else {
        want = net::subnet{addr & (prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix)), prefix};
        want_gw = addr;
      }
    }
    if (!want) {
      // Docker's default pools: the first /16 of 172.17-31 the host does not use.
      auto s = free_subnet(net::host_subnets());
      if (!s) return make_error(ec::system, "no free subnet for the default bridge");
      want = *s;
      want_gw = want->base + 1;
    }
    auto b = net::bridge::open(name, want_gw, want->prefix, out->mtu, true);
    if (!b) return b.error();
    out->bridge = std::move(*b);
    out->subnet = *want;
    out->gateway = want_gw;
  } else {
    auto b = net::bridge::open(name, 0, 0, 0, false);
    if (!b) return b.error();
    auto [addr, prefix] = (*b)->address();
    if (addr == 0)
      return make_error(ec::invalid_argument, "bridge " + name + " has no IPv4 address");
    out->bridge = std::move(*b);
    out->subnet = net::subnet{addr & (prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix)), prefix};
    out->gateway = addr;
  }
  net::subnet range{};
  if (!cfg.fixed_cidr.empty()) {
    auto r = net::subnet::parse(cfg.fixed_cidr);
    if (!r) return r.error();
    if (!out->subnet.contains(r->base))
      return make_error(ec::invalid_argument, "fixed-cidr " + cfg.fixed_cidr +
                                                  " is not within the bridge's subnet " +
                                                  out->subnet.to_string());
    range = *r;
  }
  out->ipam = std::make_unique<net::ipam>(out->subnet, out->gateway, range);
  out->info.subnet = out->subnet.to_string();
  out->info.gateway = net::ip_string(out->gateway);
  out->info.ip_range = cfg.fixed_cidr;
  out->info.bridge = out->bridge->name();
  return out;
}

// Every network of the controller at start: bridge (unless -b none), host, none, then the
// user-defined networks of earlier runs, their bridges made again.
struct opened {
  std::vector<network_ptr> networks;
  std::shared_ptr<net::firewall> firewall; // null: --iptables=false
};

// What a daemon that died (SIGKILL, a crash) left of its endpoints: veths still on berth's own
// bridges (no container is attached yet at start) and the hairpin rules of published ports.
void sweep(const controller_state& st) {
  std::vector<std::string> subnets;
  for (auto& n : st.networks) {
    if (!n->bridge) continue;
    subnets.push_back(n->subnet.to_string());
    if (!n->bridge->made()) continue; // -b: the admin's bridge, whose other ports are not ours
    for (auto& port : n->bridge->ports()) {
      if (port.rfind("veth", 0) != 0) continue;
      BLOG(info, "network") << "removing " << port << " of " << n->bridge->name()
                            << ", left by an earlier run";
      if (auto err = net::detach(port)) BLOG(warn, "network") << port << ": " << error_message(err);
    }
  }
  if (st.firewall)
    if (auto err = st.firewall->sweep_ports(subnets))
      BLOG(warn, "network") << "hairpin rules of an earlier run: " << error_message(err);
}

caf::expected<opened> open_networks(const network_controller_options& o) {
  std::vector<network_ptr> out;
  if (o.config.bridge != "none") {
    auto b = open_bridge(o);
    if (!b) return b.error();
    out.push_back(std::move(*b));
    BLOG(info, "network") << "bridge " << out.back()->bridge->name() << " ("
                          << out.back()->subnet.to_string() << ", gateway "
                          << net::ip_string(out.back()->gateway) << ")";
  }
  auto dir = o.data_root + "/network";
  for (auto [name, driver] : {std::pair{"host", "host"}, std::pair{"none", "null"}}) {
    auto id = predefined_id(dir, name);
    if (!id) return id.error();
    auto n = std::make_shared<network>();
    n->info.name = name;
    n->info.id = *id;
    n->info.driver = driver;
    out.push_back(std::move(n));
  }
  controller_state st;
  st.opts = o;
  if (auto err = io::mkdir_all(networks_dir(st), 0700)) return err;
  st.networks = out;
  if (o.config.iptables) {
    net::firewall_options fo;
    fo.ip_forward = o.config.ip_forward;
    fo.ip_masq = o.config.ip_masq;
    st.firewall = std::make_shared<net::firewall>(fo);
    if (auto err = st.firewall->setup()) return err;
    for (auto& n : st.networks)
      if (auto err = add_rules(st, *n)) return err;
  }
  std::vector<network_info> saved;
  std::vector<std::string> files;
  if (DIR* d = ::opendir(networks_dir(st).c_str())) {
    while (auto* e = ::readdir(d))
      files.emplace_back(e->d_name);
    ::closedir(d);
  }
  for (auto& file : files) {
    if (file.size() < 5 || file.substr(file.size() - 5) != ".json") continue;
    auto info = load_network(networks_dir(st) + "/" + file);
    if (!info) {
      BLOG(warn, "network") << "skipping " << file << ": " << error_message(info.error());
      continue;
    }
    saved.push_back(std::move(*info));
  }
  std::sort(saved.begin(), saved.end(),
            [](auto& a, auto& b) { return a.created_nano < b.created_nano; });
  for (auto& info : saved) {
    auto name = info.name;
    auto n = open_user_network(st, std::move(info));
    if (!n) {
      BLOG(warn, "network") << "network " << name << ": " << error_message(n.error());
      continue;
    }
    if (auto err = add_rules(st, **n))
      BLOG(warn, "network") << "network " << name << ": " << error_message(err);
    st.networks.push_back(*n);
  }
  sweep(st);
  return opened{st.networks, st.firewall};
}

} // namespace

std::string network_of_mode(const std::string& mode) {
  if (mode.empty() || mode == "default" || mode == "bridge") return "bridge";
  if (mode == "host" || mode == "none" || mode.rfind("container:", 0) == 0) return "";
  return mode;
}

port_proxy_actor spawn_port_proxy(caf::actor_system& sys, std::string default_host_ip) {
  return sys.spawn(proxy_impl, std::move(default_host_ip));
}

caf::expected<network_controller_actor> spawn_network_controller(caf::actor_system& sys,
                                                                 network_controller_options opts) {
  auto networks = open_networks(opts);
  if (!networks) return networks.error();
  return sys.spawn(controller_impl, std::move(opts), std::move(networks->networks),
                   std::move(networks->firewall));
}

} // namespace berth
