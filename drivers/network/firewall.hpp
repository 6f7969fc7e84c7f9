// berth's iptables rules, dockerd's (moby's libnetwork bridge driver, userland proxy on) in
// berth's own chains. The `iptables` binary is run directly (fork/exec through posix_spawn, never
// a shell, always with -w); every rule is checked with -C before it is added, so a daemon
// restarted after a crash converges instead of duplicating rules.
//
// The chains and hooks (setup):
//   nat    BERTH                      DNAT of published ports; PREROUTING and OUTPUT jump to it
//                                     for local destinations (OUTPUT: not 127.0.0.0/8, which the
//                                     userland proxy serves)
//   filter BERTH                      ACCEPT of published ports, jumped to per bridge from FORWARD
//   filter BERTH-USER                 the admin's, jumped to first from FORWARD; ends in RETURN
//   filter BERTH-ISOLATION-STAGE-1    jumped to second from FORWARD; ends in RETURN
//   filter BERTH-ISOLATION-STAGE-2    ends in RETURN
// Per bridge network (add_network), as moby's:
//   nat POSTROUTING  -s <subnet> ! -o <br> -j MASQUERADE           (masquerade)
//   nat BERTH        -i <br> -j RETURN                             (not internal)
//   filter FORWARD   -o <br> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//                    -o <br> -j BERTH                              (those two: not internal)
//                    -i <br> ! -o <br> -j ACCEPT                   (not internal)
//                    -i <br> -o <br> -j ACCEPT|DROP                (icc or not)
//   STAGE-1          -i <br> ! -o <br> -j BERTH-ISOLATION-STAGE-2
//                    ! -s <subnet> -o <br> -j DROP, -i <br> ! -d <subnet> -j DROP  (internal)
//   STAGE-2          -o <br> -j DROP
// Per published port (publish):
//   nat BERTH        ! -i <br> -p <proto> [-d <host ip>] --dport <host port>
//                    -j DNAT --to-destination <ip>:<port>
//   filter BERTH     -d <ip> ! -i <br> -o <br> -p <proto> --dport <port> -j ACCEPT
//   nat POSTROUTING  -s <ip> -d <ip> -p <proto> --dport <port> -j MASQUERADE   (hairpin)
// The network rules in FORWARD go right below the two hooks (which setup and add_network keep
// first), newest network first. Loopback-published ports are the userland proxy's, so
// route_localnet is never set. IPv4 only. One object per daemon; its calls are serialized.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace berth::net {

/// The daemon flags that shape the rules.
struct firewall_options {
  bool enabled = true;               // --iptables: false makes every call a no-op
  bool ip_forward = true;            // --ip-forward: net.ipv4.ip_forward = 1 at setup
  bool ip_masq = true;               // --ip-masq: masquerade what leaves a network
  std::string iptables = "iptables"; // the binary (PATH, then /usr/sbin and /sbin)
};

class firewall {
public:
  explicit firewall(firewall_options o);

  /// Make berth's chains (flushing BERTH and the isolation chains, whose rules the networks and
  /// ports re-add; never BERTH-USER's), end the filter ones with RETURN and hook them. With
  /// ip_forward, enable forwarding; when that turned it on (0 to 1), set the FORWARD policy to
  /// DROP as dockerd does. Call it once at daemon start, before the networks.
  caf::error setup();

  /// The rules of a bridge network: `bridge` the interface name, `subnet` its CIDR
  /// ("172.18.0.0/16"), `icc` inter-container communication, `masquerade` NAT of what leaves it
  /// (only with ip_masq and not `internal`), `internal` no traffic in or out. Rules present are
  /// kept (not duplicated). ec::invalid_argument for a bad name or subnet; ec::system with
  /// iptables' stderr when a rule does not go in.
  caf::error add_network(const std::string& bridge, const std::string& subnet, bool icc,
                         bool masquerade, bool internal);

  /// Remove every rule add_network can make for `bridge`/`subnet`, whichever flags made them.
  /// Missing rules are not an error.
  caf::error remove_network(const std::string& bridge, const std::string& subnet, bool icc,
                            bool masquerade, bool internal);

  /// Publish container_ip:container_port (on `bridge`) as host_ip:host_port: the DNAT, the
  /// ACCEPT and the hairpin MASQUERADE. `proto` is tcp, udp or sctp; host_ip "" or "0.0.0.0" is
  /// every address of the host.
  caf::error publish(const std::string& proto, const std::string& host_ip, uint16_t host_port,
                     const std::string& bridge, const std::string& container_ip,
                     uint16_t container_port);

  /// Remove what publish made with the same arguments; a rule another published port shares
  /// (the ACCEPT and the MASQUERADE of a container port published twice) stays until its last
  /// user goes. Missing rules are not an error.
  caf::error unpublish(const std::string& proto, const std::string& host_ip, uint16_t host_port,
                       const std::string& bridge, const std::string& container_ip,
                       uint16_t container_port);

  /// Remove the hairpin MASQUERADE rules (nat POSTROUTING, publish's) of container addresses in
  /// `subnets` ("172.17.0.0/16"): a crashed daemon's, before any port is published again.
  caf::error sweep_ports(const std::vector<std::string>& subnets);

  /// Remove the hooks (and any other rule of PREROUTING, OUTPUT and FORWARD that jumps to a BERTH
  /// chain) and delete the BERTH chains: at daemon shutdown, once the networks are removed.
  /// BERTH-USER is deleted only when it holds nothing but its RETURN (the admin's rules stay).
  caf::error teardown();

  const firewall_options& options() const { return opts_; }

private:
  using args = std::vector<std::string>;
  /// Run iptables -w with `a`: its stdout; ec::system "iptables <a>: <stderr>" on failure.
  caf::expected<std::string> run(const args& a);
  /// Does the rule exist (iptables -C)?
  caf::expected<bool> exists(const std::string& table, const std::string& chain, const args& rule);
  /// Add `rule` unless present: appended (position 0) or inserted at `position`.
  caf::error ensure(const std::string& table, const std::string& chain, const args& rule,
                    int position = 0);
  /// Delete `rule` (every copy of it) when present.
  caf::error remove(const std::string& table, const std::string& chain, const args& rule);
  /// Make `chain` when missing; flush it when present and `flush`.
  caf::error make_chain(const std::string& table, const std::string& chain, bool flush);
  /// Keep the jumps to BERTH-USER and BERTH-ISOLATION-STAGE-1 the first two rules of FORWARD.
  caf::error hook_forward();
  /// Delete every rule of `table` `chain` whose target is a BERTH chain.
  caf::error unhook(const std::string& table, const std::string& chain);
  caf::error port_rules(bool add, const std::string& proto, const std::string& host_ip,
                        uint16_t host_port, const std::string& bridge,
                        const std::string& container_ip, uint16_t container_port);

  firewall_options opts_;
  std::mutex mu_;
  std::map<std::string, int> port_refs_; // published-port rules by "table chain spec": users
};

} // namespace berth::net
