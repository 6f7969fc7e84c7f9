// The network controller actor and the userland proxy actor: the networks (moby's predefined
// "bridge", on the Linux bridge berth0 unless -b names another, "host" and "none", and the
// user-defined networks of the bridge driver), their address management, the running
// containers' endpoints and embedded DNS names, and their published ports.
//
// User-defined networks (POST /networks/create): each on a bridge of its own ("br-" + 12 hex of
// its ID, or the com.docker.network.bridge.name option), with the subnet, gateway and IP range
// asked (else Docker's default pools: a free /16 of 172.17-31, then a /20 of 192.168.0.0/16).
// They are kept in <data-root>/network/networks/<id>.json and their bridges made again at start;
// every bridge berth made is deleted at shutdown. On them a container's name, short ID and
// aliases resolve through the embedded DNS server (actors/network/dns.hpp) at 127.0.0.11.
//
// The bridge: berth0 is made at start with --bip (else the first of 172.17.0.0/16 ...
// 172.31.0.0/16 that overlaps none of the host's addresses) and --mtu, and deleted at shutdown.
// A berth0 left by a crash is taken over as it is (its address decides the subnet, unless --bip
// says otherwise: then it is made again). `-b <name>` uses an existing bridge and its address,
// and never deletes it; `-b none` disables the bridge: containers of the default network mode
// get only their loopback, as dockerd's. Addresses come from the subnet (within --fixed-cidr
// when set); the gateway is the bridge's address.
//
// A container's endpoint: an address, the veth names (host end "veth" + 7 hex of the endpoint
// ID, "eth0" inside) and Docker's MAC (02:42 + the address). The container wires the veth itself
// (net::attach, in the exec driver's prestart hook) and releases the endpoint when its process is
// gone; the kernel removes a veth whose namespace died, and release deletes what is left.
//
// Published ports (TCP): the proxy actor listens on the host for each binding and forwards to
// the container's address. A port another container holds is dockerd's "Bind for IP:PORT failed:
// port is already allocated"; one the host holds, dockerd's userland proxy error.
#pragma once

#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <string>

namespace berth {

struct network_controller_options {
  std::string data_root;
  daemon_config config; // bridge, bip, fixed_cidr, mtu, ip
  engine_actor engine;
  events_actor events;
  dns_actor dns; // the embedded DNS server: names of user networks' endpoints (null: no DNS)
};

/// Spawn the controller: sets up the default bridge and the user-defined networks' bridges
/// (blocking, a few netlink calls each), then its proxy. Fails when the default bridge cannot be
/// made or found (a user network whose bridge fails is skipped with a warning).
caf::expected<network_controller_actor> spawn_network_controller(caf::actor_system& sys,
                                                                 network_controller_options opts);

/// Spawn a userland proxy (the controller spawns its own; tests use this).
port_proxy_actor spawn_port_proxy(caf::actor_system& sys, std::string default_host_ip);

/// The network a network mode attaches to: "bridge" for "default" (and "bridge"), "" for host,
/// none and container:<id>, else the mode (a user network's name).
std::string network_of_mode(const std::string& mode);

} // namespace berth
