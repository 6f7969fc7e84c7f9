// One actor per container: its state machine, process, stdio, attach streams and json-file log.
//
// On-disk layout (owned here; every write is atomic: temp file, fsync, rename):
//   <data-root>/containers/<id>/
//     config.bin          container_info (CAF binary serialization, with a magic and a version)
//     <id>-json.log[.N]   the json-file log and its rotations (drivers/log/jsonfile.hpp)
// The read-write layer is the graph driver's layer <id> (with <id>-init below it).
//
// States and the verbs each allows (Docker's wording on a wrong state, 409 unless noted):
//   created    -> start; delete; attach (waits for the start)
//   running    -> stop, kill, restart, wait, resize; start is 304; delete needs force
//   restarting -> stop, kill (stops the restarting); delete needs force
//   exited     -> start, restart, delete; stop is 304; kill is 409
//   removing   -> nothing (409 "removal of container X is already in progress")
// paused/dead arrive with the pause and the crash-recovery work.
#pragma once

#include "drivers/exec/cgroups.hpp"
#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace berth::graph {
class driver;
}
namespace berth::exec {
class driver;
class reactor;
struct process;
} // namespace berth::exec

namespace berth {

/// What every container actor shares: the drivers and the daemon's defaults.
struct container_deps {
  std::string data_root;
  std::shared_ptr<graph::driver> graph;
  std::shared_ptr<exec::driver> exec;
  std::shared_ptr<exec::reactor> reactor;
  events_actor events;
  image_store_actor images;             // docker commit
  volume_store_actor volumes;           // released when the container is removed
  network_controller_actor network;     // the networks' endpoints (null: none at all)
  dns_actor dns;                        // the embedded DNS server (null: none)
  std::vector<std::string> default_dns; // the daemon's --dns, for containers without their own
  std::vector<std::string> default_dns_search; // the daemon's --dns-search, likewise
  std::string host_gateway_ip;                 // --add-host x:host-gateway (the bridge's gateway)
  bool bridge = true;                   // the default network mode is the bridge (not -b none)
  std::string log_driver = "json-file"; // daemon default
  std::map<std::string, std::string> log_opts;
  bool init = false;                        // daemon default for --init
  int64_t shutdown_timeout = 15;            // seconds, --shutdown-timeout
  std::string default_runtime = "native";   // the runtime every container runs with
  std::set<std::string> runtimes{"native"}; // the names the daemon knows
};

/// The cgroup limits of a container's HostConfig (at start, update and create's validation).
cgroups::resources resources_of(const host_config& h);

/// The guards of the state machine, in one place.
bool can_start(const container_state& s);

/// Docker's merge of the image's config into a create request (daemon/create.go): Cmd and
/// Entrypoint, Env by key, WorkingDir, User, Labels, StopSignal, ExposedPorts, Volumes.
/// Fails with 400 "No command specified" when neither gives a command.
caf::error merge_image_config(container_config& c, const std::string& image_config_json);

/// moby's registerMountPoints: the mounts of HostConfig.Binds (host:container[:mode]; a source
/// that is not an absolute path names a volume; a missing host path is made), HostConfig.Mounts
/// (a missing bind source is 400), and Config.Volumes (the image's VOLUMEs and `-v /path`: an
/// anonymous volume where nothing else mounts). Bad specs and a duplicate destination are 400.
caf::expected<std::vector<mount_point>> resolve_mounts(const container_config& c);

/// moby's resolv.conf of a container: the host's (`host_resolv`) without its loopback
/// nameservers (none left: Google's, as moby), with --dns, --dns-search and --dns-option in place
/// of the host's. With the host's network, the loopback nameservers stay. With `embedded_dns` (a
/// user-defined network), the one nameserver is 127.0.0.11 and ndots:0 is added, as moby's.
std::string container_resolv_conf(const std::string& host_resolv, const host_config& h,
                                  bool host_network, bool embedded_dns = false);

/// moby's /etc/hosts of a container: localhost and the IPv6 names (the host's file with the
/// host's network), the --add-host entries, then the container's own address with its hostname
/// (when it has one). `host_gateway` is the address of --add-host's "host-gateway" (the default
/// bridge's gateway; "" leaves such entries out).
std::string container_hosts(const std::string& host_hosts, const container_config& c,
                            const std::string& ip, const std::string& host_gateway = {});

/// The ports a container publishes when it starts: HostConfig.PortBindings, plus with -P every
/// exposed port that has no binding (on a port the kernel picks).
std::vector<port_binding> ports_to_publish(const container_config& c);

/// The networks a container joins at each start, the network mode's first: "default" and the
/// mode's name in NetworkingConfig are its network; host, none and container:<id> join none.
void normalize_endpoints(container_config& c);

/// Persist / load container_info (config.bin).
caf::error save_container(const std::string& dir, const container_info& info);
caf::expected<container_info> load_container(const std::string& dir);

/// Spawn the actor of a container that exists on disk (its layers and dir are made).
/// `recovered`: the daemon restarted while it was running; its leftovers are cleaned first.
container_actor spawn_container(caf::actor_system& sys, std::shared_ptr<const container_deps> deps,
                                container_manager_actor manager, container_info info,
                                bool recovered, bool at_boot = false);

/// What wire_process set up: the stdin input handle (0 = none), a dup of the pty master for
/// resizes (-1 = none) and how many output streams will report their end.
struct process_wiring {
  uint64_t stdin_h = 0;
  int resize_fd = -1;
  int open_streams = 0;
};

/// Hand a started process's fds to the reactor (a container's or an exec's): its output and its
/// exit go to `target` as atom::output / atom::exited tagged with `gen`; stdin (the pipe, or the
/// pty when `open_stdin`) becomes a reactor input.
process_wiring wire_process(exec::reactor& r, exec::process& proc, caf::actor target, uint64_t gen,
                            bool open_stdin);

/// Spawn an exec instance of `container` (actors/containers/exec.cpp); `attributes` are the
/// container's event attributes (image, name, labels).
exec_actor spawn_exec(caf::actor_system& sys, std::shared_ptr<const container_deps> deps,
                      container_actor container, exec_info info,
                      std::map<std::string, std::string> attributes);

} // namespace berth
