// The embedded DNS server's actor (see dns.hpp).
#include "actors/network/dns.hpp"

#include "drivers/network/dns.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <memory>

namespace berth {

namespace {

struct dns_state {
  static inline const char* name = "dns";
  std::shared_ptr<net::name_table> names;
  std::unique_ptr<net::dns_server> server;
};

using dns_pointer = dns_actor::stateful_pointer<dns_state>;

dns_actor::behavior_type dns_impl(dns_pointer self, std::vector<std::string> upstreams) {
  auto& st = self->state;
  st.names = std::make_shared<net::name_table>();
  st.server = std::make_unique<net::dns_server>(st.names, std::move(upstreams));
  return {
      [self](caf::put_atom, const std::string& network, const std::string& owner,
             const std::vector<std::string>& names, uint32_t ip,
             const std::vector<std::string>& links) {
        auto& table = *self->state.names;
        for (auto& n : names)
          table.add(network, n, ip);
        table.join(owner, network);
        for (auto& l : links)
          if (auto colon = l.find(':'); colon != std::string::npos)
            table.link(owner, l.substr(colon + 1), l.substr(0, colon));
      },
      [self](atom::disconnect, const std::string& network, const std::string& owner, uint32_t ip) {
        self->state.names->remove(network, ip);
        self->state.names->leave(owner, network);
      },
      [self](atom::serve, const std::string& owner, const std::string& netns,
             const std::vector<std::string>& upstreams) -> caf::result<caf::ok_atom> {
        if (auto err = self->state.server->serve(owner, netns, upstreams)) return err;
        return caf::ok_atom_v;
      },
      [self](atom::release, const std::string& owner) {
        self->state.names->forget(owner);
        self->state.server->close(owner);
      },
  };
}

} // namespace

dns_actor spawn_dns(caf::actor_system& sys, std::vector<std::string> upstreams) {
  return sys.spawn<caf::detached>(dns_impl, std::move(upstreams));
}

caf::error serve_dns(caf::actor_system& sys, const dns_actor& dns, const std::string& owner,
                     const std::string& netns, const std::vector<std::string>& upstreams) {
  caf::scoped_actor self{sys};
  caf::error out;
  self->request(dns, std::chrono::seconds{30}, atom::serve_v, owner, netns, upstreams)
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

} // namespace berth
