// The message structs berth's actors exchange. Nothing here does work.
#pragma once

#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
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
  std::vector<std::string> labels;
  std::string api_cors_header;
  std::string log_driver = "json-file";
  std::vector<std::string> log_opts;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, daemon_config& x) {
  return f(caf::meta::type_name("berth.daemon_config"), x.hosts, x.data_root, x.exec_root,
           x.pidfile, x.config_file, x.debug, x.log_level, x.group, x.tls, x.tlsverify, x.tlscacert,
           x.tlscert, x.tlskey, x.storage_driver, x.storage_opts, x.exec_driver, x.exec_opts,
           x.bridge, x.bip, x.fixed_cidr, x.mtu, x.ip, x.dns, x.dns_search, x.iptables,
           x.ip_forward, x.ip_masq, x.icc, x.registry_mirrors, x.insecure_registries,
           x.max_concurrent_downloads, x.shutdown_timeout, x.live_restore, x.labels,
           x.api_cors_header, x.log_driver, x.log_opts);
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

} // namespace berth

namespace berth::registry {
struct blob_stream;
}

namespace berth {

/// An open blob body from the registry client (local only: it holds a connection).
struct blob_handle {
  std::shared_ptr<registry::blob_stream> stream;
};

/// Where a job writes a byte stream (docker save): local only, bound to an HTTP connection.
/// `write` blocks while too much is in flight; it fails once the client is gone. `close` ends
/// the stream (with an error: an HTTP error when nothing was written yet, else a cut stream).
struct byte_sink {
  std::function<caf::error(const char*, std::size_t)> write;
  std::function<void(const caf::error&)> close;
};

} // namespace berth
