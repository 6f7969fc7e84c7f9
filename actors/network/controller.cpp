// The network controller and the userland proxy (see controller.hpp).
#include "actors/network/controller.hpp"

#include "actors/log.hpp"
#include "drivers/io.hpp"
#include "drivers/network/bridge.hpp"
#include "drivers/network/proxy.hpp"
#include "messages/defaults.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cctype>
#include <map>
#include <optional>
#include <tuple>

namespace berth {

namespace {

constexpr const char* default_bridge = "berth0";

// -- the userland proxy
// ----------------------------------------------------------------------------

struct bound_port {
  std::string proto;
  std::string ip; // "0.0.0.0" for every address
  uint16_t port;
  bool operator<(const bound_port& o) const {
    return std::tie(proto, ip, port) < std::tie(o.proto, o.ip, o.port);
  }
};

struct proxy_state {
  static inline const char* name = "port-proxy";
  std::unique_ptr<net::proxy> proxy;
  std::string default_host_ip;
  std::map<bound_port, std::string> held; // -> owner
};

using proxy_pointer = port_proxy_actor::stateful_pointer<proxy_state>;

std::optional<uint16_t> port_number(const std::string& s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// "80/tcp" -> (80, "tcp"); a port without a protocol is TCP.
caf::expected<std::pair<uint16_t, std::string>> container_port(const std::string& spec) {
  auto slash = spec.find('/');
  auto proto = slash == std::string::npos ? std::string{"tcp"} : spec.substr(slash + 1);
  auto p = port_number(spec.substr(0, slash));
  if (!p || *p == 0) return make_error(ec::invalid_argument, "invalid port specification: " + spec);
  return std::make_pair(*p, proto);
}

// "" -> [0, 0] (any); "8080"; "8000-8010".
caf::expected<std::pair<uint16_t, uint16_t>> host_ports(const std::string& spec) {
  if (spec.empty()) return std::make_pair(uint16_t{0}, uint16_t{0});
  auto dash = spec.find('-');
  auto a = port_number(spec.substr(0, dash));
  auto b = dash == std::string::npos ? a : port_number(spec.substr(dash + 1));
  if (!a || !b || *b < *a)
    return make_error(ec::invalid_argument, "invalid port specification: " + spec);
  return std::make_pair(*a, *b);
}

bool clashes(const proxy_state& st, const bound_port& want) {
  for (auto& [p, owner] : st.held)
    if (p.proto == want.proto && p.port == want.port &&
        (p.ip == want.ip || p.ip == "0.0.0.0" || want.ip == "0.0.0.0"))
      return true;
  return false;
}

void unpublish(proxy_pointer self, const std::string& owner) {
  auto& st = self->state;
  st.proxy->close(owner);
  for (auto it = st.held.begin(); it != st.held.end();)
    it = it->second == owner ? st.held.erase(it) : std::next(it);
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
    if (cp->second != "tcp")
      return fail(make_error(ec::not_implemented,
                             "publishing " + cp->second + " ports is not built yet: " + b.port));
    auto range = host_ports(b.host_port);
    if (!range) return fail(range.error());
    auto ip = b.host_ip.empty() ? st.default_host_ip : b.host_ip;
    std::optional<uint16_t> bound;
    caf::error last;
    for (uint32_t p = range->first; p <= range->second && !bound; ++p) {
      bound_port want{"tcp", ip, static_cast<uint16_t>(p)};
      if (p != 0 && clashes(st, want)) {
        last = make_error(ec::system, "Bind for " + ip + ":" + std::to_string(p) +
                                          " failed: port is already allocated");
        continue;
      }
      auto r = st.proxy->listen(owner, ip, static_cast<uint16_t>(p), target, cp->first);
      if (!r) {
        last = make_error(ec::system, "Error starting userland proxy: " + error_message(r.error()));
        continue;
      }
      bound = *r;
      st.held.emplace(bound_port{"tcp", ip, *r}, owner);
    }
    if (!bound) return fail(last);
    out.push_back(port_binding{std::to_string(cp->first) + "/tcp", ip, std::to_string(*bound)});
  }
  return out;
}

port_proxy_actor::behavior_type proxy_impl(proxy_pointer self, std::string default_host_ip) {
  self->state.proxy = std::make_unique<net::proxy>();
  self->state.default_host_ip = default_host_ip.empty() ? "0.0.0.0" : default_host_ip;
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

/// The default bridge network.
struct bridge_network {
  std::string id; // 64 hex, kept in <data-root>/network/bridge.id
  std::unique_ptr<net::bridge> bridge;
  net::subnet subnet;
  uint32_t gateway = 0;
  std::unique_ptr<net::ipam> ipam;
  int mtu = 1500;
};

struct controller_state {
  static inline const char* name = "network-controller";
  network_controller_options opts;
  std::shared_ptr<bridge_network> bridge; // null: -b none
  port_proxy_actor proxy;
  std::map<std::string, network_endpoint> endpoints; // by container ID
};

using controller_pointer = network_controller_actor::stateful_pointer<controller_state>;

void release(controller_pointer self, const std::string& id) {
  auto& st = self->state;
  auto it = st.endpoints.find(id);
  if (it == st.endpoints.end()) return;
  auto ep = std::move(it->second);
  st.endpoints.erase(it);
  if (!ep.ports.empty())
    self->request(st.proxy, caf::infinite, caf::unpublish_atom_v, id)
        .then([](caf::ok_atom) {}, [](caf::error&) {});
  if (st.bridge) {
    if (auto ip = net::parse_ip(ep.ip_address)) st.bridge->ipam->release(*ip);
  }
  if (auto err = net::detach(ep.host_ifname))
    BLOG(warn, "network") << id.substr(0, 12) << ": " << error_message(err);
}

caf::result<network_endpoint> connect(controller_pointer self, const std::string& id,
                                      const std::string& name, const std::string& mode,
                                      std::vector<port_binding>& bindings) {
  auto& st = self->state;
  auto network = network_of_mode(mode);
  if (network != "bridge")
    return make_error(ec::not_implemented,
                      "user-defined networks are not built yet: network " + network);
  if (!st.bridge) return make_error(ec::not_found, "network bridge not found");
  if (st.endpoints.count(id)) release(self, id); // a start after a crash of the last one
  auto& br = *st.bridge;
  auto ip = br.ipam->allocate();
  if (!ip) return ip.error();
  network_endpoint ep;
  ep.network = "bridge";
  ep.network_id = br.id;
  ep.endpoint_id = io::random_hex();
  ep.bridge = br.bridge->name();
  ep.host_ifname = "veth" + ep.endpoint_id.substr(0, 7);
  ep.ip_address = net::ip_string(*ip);
  ep.prefix_len = br.subnet.prefix;
  ep.gateway = net::ip_string(br.gateway);
  ep.mac_address = net::mac_of(*ip);
  ep.mtu = br.mtu;
  if (bindings.empty()) {
    st.endpoints[id] = ep;
    return ep;
  }
  auto rp = self->make_response_promise<network_endpoint>();
  self->request(st.proxy, caf::infinite, caf::publish_atom_v, id, std::move(bindings),
                ep.ip_address)
      .then(
          [self, rp, ep, id](std::vector<port_binding>& bound) mutable {
            ep.ports = std::move(bound);
            self->state.endpoints[id] = ep;
            rp.deliver(ep);
          },
          [self, rp, ep, name](caf::error& err) mutable {
            if (auto ip = net::parse_ip(ep.ip_address)) self->state.bridge->ipam->release(*ip);
            auto code =
                err.category() == caf::atom("berth") ? static_cast<ec>(err.code()) : ec::system;
            rp.deliver(make_error(code, "driver failed programming external connectivity on "
                                        "endpoint " +
                                            name + " (" + ep.endpoint_id +
                                            "): " + error_message(err)));
          });
  return rp;
}

network_controller_actor::behavior_type controller_impl(controller_pointer self,
                                                        network_controller_options opts,
                                                        std::shared_ptr<bridge_network> bridge) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.bridge = std::move(bridge);
  st.proxy = spawn_port_proxy(self->system(), st.opts.config.ip);
  self->link_to(st.proxy);
  self->request(st.opts.engine, defaults::register_timeout, atom::provide_v, atom::shutdown_v,
                std::string{"network-controller"}, caf::actor_cast<shutdown_handler_actor>(self))
      .then([](caf::ok_atom) {}, [](caf::error&) {});
  return {
      [self](caf::connect_atom, std::string& id, std::string& name, std::string& mode,
             std::vector<port_binding>& bindings) -> caf::result<network_endpoint> {
        return connect(self, id, name, mode, bindings);
      },
      [self](atom::release, std::string& id) { release(self, id); },
      [self](atom::shutdown) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        std::vector<std::string> ids;
        for (auto& [id, ep] : st.endpoints)
          ids.push_back(id);
        for (auto& id : ids)
          release(self, id);
        if (st.bridge && st.bridge->bridge->made()) {
          if (auto err = st.bridge->bridge->remove())
            BLOG(warn, "network") << "remove bridge: " << error_message(err);
          else
            BLOG(info, "network") << "removed bridge " << st.bridge->bridge->name();
        }
        return caf::ok_atom_v;
      },
  };
}

// The default bridge: found or made, with its subnet, gateway and address pool.
caf::expected<std::shared_ptr<bridge_network>> open_bridge(const network_controller_options& o) {
  auto& cfg = o.config;
  auto out = std::make_shared<bridge_network>();
  out->mtu = cfg.mtu > 0 ? static_cast<int>(cfg.mtu) : 1500;
  auto dir = o.data_root + "/network";
  if (auto err = io::mkdir_all(dir, 0700)) return err;
  if (auto id = io::read_file(dir + "/bridge.id"); id && id->size() >= 64) {
    out->id = id->substr(0, 64);
  } else {
    out->id = io::random_hex();
    if (auto err = io::write_file_atomic(dir + "/bridge.id", out->id + "\n")) return err;
  }
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
      auto used = net::host_subnets();
      for (uint32_t b = 17; b <= 31 && !want; ++b) {
        net::subnet s{(172u << 24) | (b << 16), 16};
        bool taken = false;
        for (auto& u : used)
          taken = taken || (u.prefix > 0 && s.overlaps(u));
        if (!taken) want = s;
      }
      if (!want) return make_error(ec::system, "no free subnet for the default bridge");
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
  return out;
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
  std::shared_ptr<bridge_network> bridge;
  if (opts.config.bridge != "none") {
    auto b = open_bridge(opts);
    if (!b) return b.error();
    bridge = std::move(*b);
    BLOG(info, "network") << "bridge " << bridge->bridge->name() << " ("
                          << bridge->subnet.to_string() << ", gateway "
                          << net::ip_string(bridge->gateway) << ")";
  }
  return sys.spawn(controller_impl, std::move(opts), std::move(bridge));
}

} // namespace berth
