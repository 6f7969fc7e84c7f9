// The message structs berth's actors exchange. Nothing here does work.
#pragma once

#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth {

// -- jobs (Docker 1.2's engine.Job, made actor-native) --------------------------------------------

/// A unit of work for the engine: a job name, positional arguments, named parameters and an
/// optional typed payload (e.g. a container config).
struct job {
  std::string name;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  caf::message input;
  /// env[key], or `fallback` when unset (as Docker 1.x's Job.Getenv).
  std::string getenv(const std::string& key, std::string fallback = {}) const {
    auto it = env.find(key);
    return it == env.end() ? std::move(fallback) : it->second;
  }
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, job& x) {
  return f(caf::meta::type_name("berth.job"), x.name, x.args, x.env, x.input);
}

/// Job status codes, as Docker 1.2's engine.Status.
enum job_status : int { status_ok = 0, status_err = 1, status_not_found = 127 };

/// What a job answers: a status, the error when status != 0, and a typed output.
struct job_result {
  int status = status_ok;
  caf::error error;
  caf::message output;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, job_result& x) {
  return f(caf::meta::type_name("berth.job_result"), x.status, x.error, x.output);
}

/// One registered job kind and the service that handles it (the `commands` job lists these).
struct command_info {
  std::string name;
  std::string service;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, command_info& x) {
  return f(caf::meta::type_name("berth.command_info"), x.name, x.service);
}

// -- events --------------------------------------------------------------------------------------

/// One Docker event (events.Message). The legacy `status`/`id`/`from` fields are derived when the
/// event is encoded.
struct event {
  std::string type;   // container, image, network, volume, daemon, plugin
  std::string action; // create, start, die, pull, reload, ...
  std::string actor_id;
  std::map<std::string, std::string> attributes;
  std::string scope = "local";
  int64_t time_nano = 0; // unix nanoseconds; 0 = stamped by the bus on publish
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("berth.event"), x.type, x.action, x.actor_id, x.attributes, x.scope,
           x.time_nano);
}

/// Docker's filters.Args: key -> set of accepted values.
using filter_args = std::map<std::string, std::set<std::string>>;

/// A `label` filter value ("key" or "key=value") against an object's labels.
bool label_matches(const std::map<std::string, std::string>& labels, const std::string& filter);

/// Port specs as moby's go-connections/nat reads them (the codec checks requests with these, the
/// network controller publishes with them).
/// Go's strconv.ParseUint(s, 10, 16): a port number 0-65535.
std::optional<uint64_t> parse_port_number(std::string_view s);
/// nat.SplitProtoPort: "80/udp" -> {"udp", "80"}, "80" -> {"tcp", "80"}, "" or "/x" -> {"", ""}.
std::pair<std::string, std::string> split_proto_port(const std::string& raw);
/// nat.ParsePortRange: "80" or "8000-8080" into [start, end].
bool parse_port_range(const std::string& ports, uint64_t& start, uint64_t& end);

/// What a subscriber wants: events in [since, until] matching the filters. -1 = not given.
struct event_query {
  int64_t since_nano = -1;
  int64_t until_nano = -1;
  filter_args filters;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, event_query& x) {
  return f(caf::meta::type_name("berth.event_query"), x.since_nano, x.until_nano, x.filters);
}

// -- daemon configuration ------------------------------------------------------------------------

/// The daemon's configuration: flags merged with daemon.json (see actors/daemon/config.hpp).
struct daemon_config {
  std::vector<std::string> hosts;
  std::string data_root = "/var/lib/berth";
  std::string exec_root = "/run/berth/exec";
  std::string pidfile = "/run/berth/berthd.pid";
  std::string config_file = "/etc/berth/daemon.json";
  bool debug = false;
  std::string log_level = "info";
  std::string group = "docker";
  bool tls = false;
  bool tlsverify = false;
  std::string tlscacert;
  std::string tlscert;
  std::string tlskey;
  std::string storage_driver;
  std::vector<std::string> storage_opts;
  std::string exec_driver = "native";
  std::vector<std::string> exec_opts;
  // OCI runtimes besides runc: "name=path" (--add-runtime, daemon.json "runtimes"), their
  // runtimeArgs as "name=arg"; the default runtime ("native", "runc" or an added one) decides
  // the exec driver when set.
  std::vector<std::string> runtimes;
  std::vector<std::string> runtime_args;
  std::string default_runtime;
  std::string bridge;
  std::string bip;
  std::string fixed_cidr;
  int64_t mtu = 1500;
  std::string ip = "0.0.0.0";
  std::vector<std::string> dns;
  std::vector<std::string> dns_search;
  bool iptables = true;
  bool ip_forward = true;
  bool ip_masq = true;
  bool icc = true;
  std::vector<std::string> registry_mirrors;
  std::vector<std::string> insecure_registries;
  int64_t max_concurrent_downloads = 3;
  int64_t shutdown_timeout = 15;
  bool live_restore = false;
  bool init = false; // --init: containers get an init as PID 1 unless they say otherwise
  std::vector<std::string> labels;
  std::string api_cors_header;
  std::string log_driver = "json-file";
  std::vector<std::string> log_opts;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, daemon_config& x) {
  return f(caf::meta::type_name("berth.daemon_config"), x.hosts, x.data_root, x.exec_root,
           x.pidfile, x.config_file, x.debug, x.log_level, x.group, x.tls, x.tlsverify, x.tlscacert,
           x.tlscert, x.tlskey, x.storage_driver, x.storage_opts, x.exec_driver, x.exec_opts,
           x.runtimes, x.runtime_args, x.default_runtime, x.bridge, x.bip, x.fixed_cidr, x.mtu,
           x.ip, x.dns, x.dns_search, x.iptables, x.ip_forward, x.ip_masq, x.icc,
           x.registry_mirrors, x.insecure_registries, x.max_concurrent_downloads,
           x.shutdown_timeout, x.live_restore, x.init, x.labels, x.api_cors_header, x.log_driver,
           x.log_opts);
}

// -- host facts, version, info -------------------------------------------------------------------

/// Facts about the host read once at start (actors/host.cpp).
struct host_facts {
  std::string kernel_version;   // uname -r
  std::string operating_system; // PRETTY_NAME of /etc/os-release
  std::string os_version;       // VERSION_ID
  std::string architecture;     // uname -m (x86_64)
  std::string go_arch;          // Go's name for it (amd64)
  std::string hostname;
  int64_t ncpu = 0;
  int64_t mem_total = 0;      // bytes
  std::string cgroup_version; // "1" (v1 or hybrid) or "2"
  bool memory_limit = false;
  bool swap_limit = false;
  bool kernel_memory = false;
  bool cpu_cfs_period = false;
  bool cpu_cfs_quota = false;
  bool cpu_shares = false;
  bool cpuset = false;
  bool pids_limit = false;
  bool oom_kill_disable = false;
  bool ipv4_forwarding = false;
  bool bridge_nf_iptables = false;
  bool bridge_nf_ip6tables = false;
  bool overlay_supported = false;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, host_facts& x) {
  return f(caf::meta::type_name("berth.host_facts"), x.kernel_version, x.operating_system,
           x.os_version, x.architecture, x.go_arch, x.hostname, x.ncpu, x.mem_total,
           x.cgroup_version, x.memory_limit, x.swap_limit, x.kernel_memory, x.cpu_cfs_period,
           x.cpu_cfs_quota, x.cpu_shares, x.cpuset, x.pids_limit, x.oom_kill_disable,
           x.ipv4_forwarding, x.bridge_nf_iptables, x.bridge_nf_ip6tables, x.overlay_supported);
}

/// The `version` job's output.
struct version_info {
  std::string version;
  std::string api_version;
  std::string min_api_version;
  std::string git_commit;
  std::string build_time;
  std::string compiler;
  std::string caf_version;
  std::string os;
  std::string arch; // Go's naming (amd64)
  std::string kernel_version;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, version_info& x) {
  return f(caf::meta::type_name("berth.version_info"), x.version, x.api_version, x.min_api_version,
           x.git_commit, x.build_time, x.compiler, x.caf_version, x.os, x.arch, x.kernel_version);
}

/// The `info` job's output: host facts, the daemon's config and live counts.
struct system_info {
  std::string id; // persisted engine ID
  host_facts host;
  daemon_config config;
  std::string storage_driver; // resolved (flag, or the best the kernel supports)
  std::vector<std::vector<std::string>> driver_status; // DriverStatus: [name, value] pairs
  int64_t containers = 0;
  int64_t containers_running = 0;
  int64_t containers_paused = 0;
  int64_t containers_stopped = 0;
  int64_t images = 0;
  int64_t event_listeners = 0;
  int64_t fds = 0;
  int64_t threads = 0;
  int64_t system_time_nano = 0;
  std::vector<std::string> warnings;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, system_info& x) {
  return f(caf::meta::type_name("berth.system_info"), x.id, x.host, x.config, x.storage_driver,
           x.driver_status, x.containers, x.containers_running, x.containers_paused,
           x.containers_stopped, x.images, x.event_listeners, x.fds, x.threads, x.system_time_nano,
           x.warnings);
}

// -- images ---------------------------------------------------------------------------------------

/// A layer (or config) blob as a manifest names it.
struct layer_descriptor {
  std::string media_type;
  std::string digest; // sha256:...
  int64_t size = -1;
  std::vector<std::string> urls;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, layer_descriptor& x) {
  return f(caf::meta::type_name("berth.layer_descriptor"), x.media_type, x.digest, x.size, x.urls);
}

/// What the registry client answers for a reference: the image to pull for this platform.
struct resolved_image {
  std::string reference;       // normalized: docker.io/library/busybox:latest
  std::string manifest_digest; // of the document fetched by tag (the index for multi-platform)
  std::string config;          // the image config, exact bytes (verified)
  std::string config_digest;   // = the image ID
  std::vector<layer_descriptor> layers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resolved_image& x) {
  return f(caf::meta::type_name("berth.resolved_image"), x.reference, x.manifest_digest, x.config,
           x.config_digest, x.layers);
}

/// One message of a pull/load/import progress stream (Docker's jsonmessage).
struct progress_message {
  std::string id;       // layer short ID or tag; may be empty
  std::string status;   // "Downloading", "Pull complete", "Digest: sha256:..."
  int64_t current = -1; // progressDetail.current; -1 = no detail
  int64_t total = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, progress_message& x) {
  return f(caf::meta::type_name("berth.progress_message"), x.id, x.status, x.current, x.total);
}

/// An image as the store knows it (images/json, inspect, history).
struct image_info {
  std::string id;                        // sha256:<hex> (the config digest)
  std::string parent;                    // sha256:<hex> or ""
  std::vector<std::string> repo_tags;    // familiar: busybox:latest
  std::vector<std::string> repo_digests; // familiar: busybox@sha256:...
  std::string config;                    // the image config JSON, exact bytes
  int64_t size = 0;                      // bytes of all its layers
  std::vector<int64_t> layer_sizes;      // per diff ID, bottom first
  std::vector<std::string> diff_ids;
  int64_t last_tag_time_nano = 0;                // 0 = never tagged
  std::map<std::string, std::string> graph_data; // GraphDriver.Data
  int64_t containers = -1;                       // -1 = not counted
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, image_info& x) {
  return f(caf::meta::type_name("berth.image_info"), x.id, x.parent, x.repo_tags, x.repo_digests,
           x.config, x.size, x.layer_sizes, x.diff_ids, x.last_tag_time_nano, x.graph_data,
           x.containers);
}

/// One line of a DELETE /images answer: {"Untagged": ...} or {"Deleted": ...}.
struct image_delete_item {
  std::string kind; // "Untagged" or "Deleted"
  std::string value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_delete_item& x) {
  return f(caf::meta::type_name("berth.image_delete_item"), x.kind, x.value);
}

/// Where a layer download stands (from a layer worker to the image store).
struct layer_progress {
  std::string chain_id;
  std::string status; // "Downloading", "Extracting", ...
  int64_t current = 0;
  int64_t total = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, layer_progress& x) {
  return f(caf::meta::type_name("berth.layer_progress"), x.chain_id, x.status, x.current, x.total);
}

/// A finished layer extraction (from a layer worker to the image store).
struct layer_done {
  std::string chain_id;
  int64_t size = 0;
  caf::error error;
  // time split, nanoseconds
  int64_t download_ns = 0;
  int64_t sha256_ns = 0;
  int64_t decompress_ns = 0;
  int64_t extract_ns = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, layer_done& x) {
  return f(caf::meta::type_name("berth.layer_done"), x.chain_id, x.size, x.error, x.download_ns,
           x.sha256_ns, x.decompress_ns, x.extract_ns);
}

/// A layer the store records (from a worker that applied it).
struct stored_layer {
  std::string chain_id;
  std::string diff_id;
  std::string parent; // chain ID
  std::string cache_id;
  int64_t size = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, stored_layer& x) {
  return f(caf::meta::type_name("berth.stored_layer"), x.chain_id, x.diff_id, x.parent, x.cache_id,
           x.size);
}

/// An image whose layers a worker applied (docker load, docker import), for the store to record.
struct loaded_image {
  std::string config; // exact bytes
  std::vector<std::string> repo_tags;
  std::vector<stored_layer> layers; // the ones the worker created (others existed)
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, loaded_image& x) {
  return f(caf::meta::type_name("berth.loaded_image"), x.config, x.repo_tags, x.layers);
}

// -- containers -----------------------------------------------------------------------------------

/// One `--ulimit` (HostConfig.Ulimits).
struct ulimit {
  std::string name; // nofile, nproc, core, ... (without RLIMIT_)
  int64_t soft = 0;
  int64_t hard = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, ulimit& x) {
  return f(caf::meta::type_name("berth.ulimit"), x.name, x.soft, x.hard);
}

/// One mount of a container. In host_config::mounts: HostConfig.Mounts (--mount) as sent. In
/// container_info::mounts: every mount the container gets (Binds, Mounts, the image's VOLUMEs,
/// `-v /path`), resolved at create; inspect's Mounts.
struct mount_point {
  std::string type = "volume"; // bind, volume, tmpfs
  std::string source;          // bind: host path; volume: name ("" = anonymous, named at create)
  std::string destination;     // absolute container path
  bool read_only = false;
  std::string mode;        // -v's options as given ("ro", "rw,z"); "" from --mount
  std::string propagation; // bind: "" = rprivate
  bool no_copy = false;    // volume: no copy-up of the image's content at the first start
  std::map<std::string, std::string> labels;      // volume: labels of a volume this mount makes
  std::map<std::string, std::string> driver_opts; // volume: DriverConfig.Options
  std::string driver;                             // volume: "" = local
  bool create_host_path = false; // bind from -v: a missing source is made (dockerd's legacy)
  int64_t tmpfs_size = 0;        // bytes; 0 = the kernel's default
  uint32_t tmpfs_mode = 0;       // 0 = 1777
  std::string host_path;         // resolved: what is mounted (a bind's source, a volume's _data)
  bool anonymous = false;        // resolved: a volume made for this container (rm -v removes it)
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, mount_point& x) {
  return f(caf::meta::type_name("berth.mount_point"), x.type, x.source, x.destination, x.read_only,
           x.mode, x.propagation, x.no_copy, x.labels, x.driver_opts, x.driver, x.create_host_path,
           x.tmpfs_size, x.tmpfs_mode, x.host_path, x.anonymous);
}

/// A volume of the volume store (GET /volumes/{name}).
struct volume_info {
  std::string name;
  std::string driver = "local";
  std::string mountpoint; // <data-root>/volumes/<name>/_data
  int64_t created_nano = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> options; // the local driver's type, device, o
  int64_t size = -1;                          // UsageData.Size; -1 = not computed
  int64_t ref_count = -1; // UsageData.RefCount: containers using it; -1 = not computed
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, volume_info& x) {
  return f(caf::meta::type_name("berth.volume_info"), x.name, x.driver, x.mountpoint,
           x.created_nano, x.labels, x.options, x.size, x.ref_count);
}

/// A published port: an entry of HostConfig.PortBindings (host_port "" = one the kernel picks, or
/// a range "8000-8010"), and once bound, of NetworkSettings.Ports (host_port the one bound).
struct port_binding {
  std::string port;      // the container's port and protocol: "80/tcp"
  std::string host_ip;   // "" = every address
  std::string host_port; // "", "8080" or "8000-8010"
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, port_binding& x) {
  return f(caf::meta::type_name("berth.port_binding"), x.port, x.host_ip, x.host_port);
}

/// A running container's attachment to a network (NetworkSettings.Networks.<name>): made by the
/// network controller when the container starts, gone when its process exits.
struct network_endpoint {
  std::string network;     // the network's name: "bridge"
  std::string network_id;  // 64 hex
  std::string endpoint_id; // 64 hex
  std::string bridge;      // the Linux bridge its veth is a port of
  std::string host_ifname; // the veth's host end
  std::string ip_address;
  int64_t prefix_len = 0;
  std::string gateway;
  std::string mac_address;
  int64_t mtu = 1500;
  std::vector<port_binding> ports; // bound: host_ip and host_port as listened on
  std::string ifname;              // in the container: eth0, eth1, ... (set by the container)
  std::vector<std::string> aliases;
  std::string ipv4_config; // IPAMConfig.IPv4Address asked ("" = any)
  bool dns = false;        // a user-defined network: the embedded DNS server answers its names
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, network_endpoint& x) {
  return f(caf::meta::type_name("berth.network_endpoint"), x.network, x.network_id, x.endpoint_id,
           x.bridge, x.host_ifname, x.ip_address, x.prefix_len, x.gateway, x.mac_address, x.mtu,
           x.ports, x.ifname, x.aliases, x.ipv4_config, x.dns);
}

/// A container's settings for one network (NetworkingConfig.EndpointsConfig.<network>, `docker
/// network connect`): kept in its config and applied at each start.
struct endpoint_config {
  std::string network;              // the network's name (or ID) as the client gave it
  std::vector<std::string> aliases; // more DNS names on that network
  std::string ipv4_address;         // IPAMConfig.IPv4Address: "" = one IPAM picks
  std::vector<std::string> links;   // "name:alias": legacy links, this container's DNS view
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, endpoint_config& x) {
  return f(caf::meta::type_name("berth.endpoint_config"), x.network, x.aliases, x.ipv4_address,
           x.links);
}

/// A running container on a network, as GET /networks/{id} lists it under Containers.
struct network_member {
  std::string container_id;
  std::string name; // without the leading "/"
  network_endpoint endpoint;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, network_member& x) {
  return f(caf::meta::type_name("berth.network_member"), x.container_id, x.name, x.endpoint);
}

/// A network (GET /networks/{id}): the predefined bridge, host and none, and user-defined ones
/// of the bridge driver (POST /networks/create).
struct network_info {
  std::string name;
  std::string id;                // 64 hex
  std::string driver = "bridge"; // bridge, host, null
  std::string scope = "local";
  int64_t created_nano = 0;
  bool internal = false;
  bool attachable = false;
  bool ingress = false;
  bool enable_ipv6 = false;
  std::string subnet; // IPAM.Config[0]: "" for host and none
  std::string gateway;
  std::string ip_range;
  std::map<std::string, std::string> options;
  std::map<std::string, std::string> labels;
  std::string bridge;                  // the Linux bridge ("" for host and none)
  std::vector<network_member> members; // its running containers
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, network_info& x) {
  return f(caf::meta::type_name("berth.network_info"), x.name, x.id, x.driver, x.scope,
           x.created_nano, x.internal, x.attachable, x.ingress, x.enable_ipv6, x.subnet, x.gateway,
           x.ip_range, x.options, x.labels, x.bridge, x.members);
}

/// The HostConfig fields berth acts on (POST /containers/create), with Docker's defaults.
struct host_config {
  std::vector<std::string> binds;
  std::string network_mode = "default"; // default (= bridge), bridge, host, none, container:<id>
  std::string restart_policy = "no";    // no, always, on-failure, unless-stopped
  int64_t restart_max_retries = 0;
  bool auto_remove = false;
  bool privileged = false;
  int init = -1; // -1: the daemon's default (--init), 0: no, 1: yes
  bool readonly_rootfs = false;
  std::vector<std::string> cap_add; // normalised: CAP_NET_ADMIN
  std::vector<std::string> cap_drop;
  std::vector<std::string> security_opt; // no-new-privileges[:true], seccomp=unconfined, ...
  std::vector<std::string> group_add;
  std::string log_type; // "" = the daemon's default
  std::map<std::string, std::string> log_config;
  // Resources.
  int64_t memory = 0;             // bytes; 0 = unlimited
  int64_t memory_swap = 0;        // memory + swap; -1 = unlimited swap; 0 = twice memory
  int64_t memory_reservation = 0; // soft limit
  int64_t memory_swappiness = -1;
  bool oom_kill_disable = false;
  int64_t nano_cpus = 0;
  int64_t cpu_shares = 0;
  int64_t cpu_period = 0;
  int64_t cpu_quota = 0;
  std::string cpuset_cpus;
  std::string cpuset_mems;
  int64_t pids_limit = 0; // 0 or -1 = unlimited
  std::vector<ulimit> ulimits;
  int64_t shm_size = 0; // bytes; 0 = 64 MiB
  std::map<std::string, std::string> sysctls;
  std::map<std::string, std::string> tmpfs; // path -> options
  std::vector<mount_point> mounts;          // HostConfig.Mounts (--mount)
  std::vector<std::string> dns;
  std::vector<std::string> dns_search;
  std::vector<std::string> dns_options;
  std::vector<std::string> extra_hosts;
  std::vector<port_binding> port_bindings; // -p
  bool publish_all_ports = false;          // -P: every exposed port, on a port the kernel picks
  std::string ipc_mode;                    // "", private, shareable, host, container:<id>
  std::string pid_mode;                    // "", host, container:<id>
  std::string uts_mode;                    // "", host
  std::string cgroup_parent;
  std::vector<int64_t> console_size; // [rows, cols] (API 1.42; kept when sent)
  std::string runtime;               // --runtime (oci driver)
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, host_config& x) {
  return f(caf::meta::type_name("berth.host_config"), x.binds, x.network_mode, x.restart_policy,
           x.restart_max_retries, x.auto_remove, x.privileged, x.init, x.readonly_rootfs, x.cap_add,
           x.cap_drop, x.security_opt, x.group_add, x.log_type, x.log_config, x.memory,
           x.memory_swap, x.memory_reservation, x.memory_swappiness, x.oom_kill_disable,
           x.nano_cpus, x.cpu_shares, x.cpu_period, x.cpu_quota, x.cpuset_cpus, x.cpuset_mems,
           x.pids_limit, x.ulimits, x.shm_size, x.sysctls, x.tmpfs, x.dns, x.dns_search,
           x.dns_options, x.extra_hosts, x.port_bindings, x.publish_all_ports, x.ipc_mode,
           x.pid_mode, x.uts_mode, x.cgroup_parent, x.console_size, x.runtime, x.mounts);
}

/// A container's configuration: Docker's Config (what `docker run` sends) plus its HostConfig.
/// `cmd_set`/`entrypoint_set` tell an absent (null) list from an empty one.
struct container_config {
  std::string hostname;
  std::string domainname;
  std::string user;
  bool attach_stdin = false;
  bool attach_stdout = false;
  bool attach_stderr = false;
  bool tty = false;
  bool open_stdin = false;
  bool stdin_once = false;
  std::vector<std::string> env;
  std::vector<std::string> cmd;
  bool cmd_set = false;
  std::vector<std::string> entrypoint;
  bool entrypoint_set = false;
  std::string image; // as the client named it
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;                // "" = SIGTERM (or the image's)
  int64_t stop_timeout = -1;              // seconds; -1 = not set (10)
  std::vector<std::string> exposed_ports; // "80/tcp"
  std::vector<std::string> volumes;       // anonymous volume paths
  bool network_disabled = false;
  host_config host;
  // The networks it joins at each start, the network mode's first (none for host, none and
  // container:<id>): from NetworkingConfig.EndpointsConfig and `docker network connect`.
  std::vector<endpoint_config> endpoints;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_config& x) {
  return f(caf::meta::type_name("berth.container_config"), x.hostname, x.domainname, x.user,
           x.attach_stdin, x.attach_stdout, x.attach_stderr, x.tty, x.open_stdin, x.stdin_once,
           x.env, x.cmd, x.cmd_set, x.entrypoint, x.entrypoint_set, x.image, x.working_dir,
           x.labels, x.stop_signal, x.stop_timeout, x.exposed_ports, x.volumes, x.network_disabled,
           x.host, x.endpoints);
}

/// Docker's container states (State.Status).
enum class container_status : uint8_t {
  created,
  running,
  paused,
  restarting,
  removing,
  exited,
  dead
};

std::string to_string(container_status s);

/// A container's runtime state (State in GET /containers/{id}/json).
struct container_state {
  container_status status = container_status::created;
  int64_t pid = 0;
  int64_t exit_code = 0;
  std::string error;
  bool oom_killed = false;
  int64_t started_at_nano = 0;  // 0 = never ("0001-01-01T00:00:00Z")
  int64_t finished_at_nano = 0; // 0 = never
  int64_t restart_count = 0;
  bool has_been_manually_stopped = false;
};

/// Running, paused or restarting: a process may be up (dockerd's IsRunning).
inline bool is_running(const container_state& s) {
  return s.status == container_status::running || s.status == container_status::paused ||
         s.status == container_status::restarting;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_state& x) {
  return f(caf::meta::type_name("berth.container_state"), x.status, x.pid, x.exit_code, x.error,
           x.oom_killed, x.started_at_nano, x.finished_at_nano, x.restart_count,
           x.has_been_manually_stopped);
}

/// Everything known about a container (inspect, ps): what the container actor persists.
struct container_info {
  std::string id;   // 64 hex
  std::string name; // with the leading "/"
  int64_t created_nano = 0;
  std::string image_id;     // sha256:...
  std::string image_config; // the image's config JSON (defaults for env, cmd, user, ...)
  std::string path;         // the command run: Path + Args
  std::vector<std::string> args;
  container_config config; // merged with the image's defaults
  container_state state;
  std::string driver;   // graph driver
  std::string rw_layer; // the graph driver's ID of the read-write layer
  std::string log_path; // <data-root>/containers/<id>/<id>-json.log ("" with log driver none)
  std::string log_type; // json-file or none
  std::map<std::string, std::string> log_config;
  std::string exec_driver; // native or oci
  std::string hostname_path;
  std::string hosts_path;
  std::string resolv_conf_path;
  int64_t size_rw = -1; // -1 = not computed
  int64_t size_root_fs = -1;
  std::vector<mount_point> mounts;        // every mount, resolved at create (inspect's Mounts)
  std::vector<network_endpoint> networks; // while it runs
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_info& x) {
  return f(caf::meta::type_name("berth.container_info"), x.id, x.name, x.created_nano, x.image_id,
           x.image_config, x.path, x.args, x.config, x.state, x.driver, x.rw_layer, x.log_path,
           x.log_type, x.log_config, x.exec_driver, x.hostname_path, x.hosts_path,
           x.resolv_conf_path, x.size_rw, x.size_root_fs, x.mounts, x.networks);
}

/// The answer of POST /containers/create.
struct create_result {
  std::string id;
  std::vector<std::string> warnings;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, create_result& x) {
  return f(caf::meta::type_name("berth.create_result"), x.id, x.warnings);
}

/// One chunk of container output: stream 0 = stdin, 1 = stdout, 2 = stderr (the framing's
/// stream byte); `time_nano` when it was read.
struct output_chunk {
  uint8_t stream = 1;
  std::string data;
  int64_t time_nano = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, output_chunk& x) {
  return f(caf::meta::type_name("berth.output_chunk"), x.stream, x.data, x.time_nano);
}

/// What a waiter gets (POST /containers/{id}/wait): StatusCode and Error ("" = null).
struct wait_result {
  int64_t status_code = 0;
  std::string error;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, wait_result& x) {
  return f(caf::meta::type_name("berth.wait_result"), x.status_code, x.error);
}

/// `docker top`: ps's column titles and the container's processes, one row of columns each.
struct top_result {
  std::vector<std::string> titles;
  std::vector<std::vector<std::string>> processes;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, top_result& x) {
  return f(caf::meta::type_name("berth.top_result"), x.titles, x.processes);
}

/// One change of a container's filesystem (GET /containers/{id}/changes): Kind 0 modified,
/// 1 added, 2 deleted.
struct fs_change {
  std::string path;
  int32_t kind = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, fs_change& x) {
  return f(caf::meta::type_name("berth.fs_change"), x.path, x.kind);
}

/// An exec instance's configuration (POST /containers/{id}/exec, ExecConfig): empty fields take
/// the container's (user, workdir); env entries replace the container's by key.
struct exec_config {
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string user;
  std::string working_dir;
  std::string detach_keys;
  bool tty = false;
  bool privileged = false;
  bool attach_stdin = false;
  bool attach_stdout = false;
  bool attach_stderr = false;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, exec_config& x) {
  return f(caf::meta::type_name("berth.exec_config"), x.cmd, x.env, x.user, x.working_dir,
           x.detach_keys, x.tty, x.privileged, x.attach_stdin, x.attach_stdout, x.attach_stderr);
}

/// GET /exec/{id}/json (moby's ExecInspect).
struct exec_info {
  std::string id;
  std::string container_id;
  exec_config config;
  bool running = false;
  bool exited = false; // ExitCode is null until the process has run
  int64_t exit_code = 0;
  int64_t pid = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, exec_info& x) {
  return f(caf::meta::type_name("berth.exec_info"), x.id, x.container_id, x.config, x.running,
           x.exited, x.exit_code, x.pid);
}

/// The stat of a path in a container (HEAD/GET /containers/{id}/archive), as moby's
/// types.ContainerPathStat: mode in Go os.FileMode bits, linkTarget fully resolved in the
/// container.
struct container_path_stat {
  std::string name;
  int64_t size = 0;
  uint32_t mode = 0;
  int64_t mtime_nano = 0;
  std::string link_target;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_path_stat& x) {
  return f(caf::meta::type_name("berth.container_path_stat"), x.name, x.size, x.mode, x.mtime_nano,
           x.link_target);
}

} // namespace berth

namespace berth::registry {
struct blob_stream;
class client;
} // namespace berth::registry

namespace berth::exec {
struct process;
}

namespace berth {

/// An open blob body from the registry client (local only: it holds a connection).
struct blob_handle {
  std::shared_ptr<registry::blob_stream> stream;
};

/// A registry client bound to one repository with push access (local only: it holds the
/// credentials and tokens). Its calls block: use it on a worker.
struct registry_session {
  std::shared_ptr<registry::client> client;
};

/// A started container process (local only: it holds file descriptors).
struct exec_process {
  std::shared_ptr<exec::process> proc;
};

/// Where a job writes a byte stream (docker save): local only, bound to an HTTP connection.
/// `write` blocks while too much is in flight; it fails once the client is gone. `close` ends
/// the stream (with an error: an HTTP error when nothing was written yet, else a cut stream).
struct byte_sink {
  std::function<caf::error(const char*, std::size_t)> write;
  std::function<void(const caf::error&)> close;
};

} // namespace berth
