// The container actor (see container.hpp for the states and the on-disk layout).
#include "actors/containers/container.hpp"

#include "actors/network/controller.hpp"
#include "actors/network/dns.hpp"
#include "drivers/network/bridge.hpp"

#include "actors/events.hpp"
#include "actors/jobs.hpp"
#include "actors/log.hpp"
#include "actors/worker.hpp"
#include "drivers/exec/driver.hpp"
#include "drivers/exec/reactor.hpp"
#include "drivers/exec/stats.hpp"
#include "drivers/graph/container_fs.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"
#include "drivers/log/jsonfile.hpp"
#include "messages/defaults.hpp"

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <pwd.h>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace berth {

using namespace std::chrono_literals;

// -- guards and helpers ---------------------------------------------------------------------------

cgroups::resources resources_of(const host_config& h) {
  cgroups::resources r;
  r.memory = h.memory;
  r.memory_swap = h.memory_swap;
  r.memory_reservation = h.memory_reservation;
  r.memory_swappiness = h.memory_swappiness;
  r.oom_kill_disable = h.oom_kill_disable;
  r.cpu_shares = h.cpu_shares;
  r.cpu_period = h.cpu_period;
  r.cpu_quota = h.cpu_quota;
  r.nano_cpus = h.nano_cpus;
  r.cpuset_cpus = h.cpuset_cpus;
  r.cpuset_mems = h.cpuset_mems;
  r.pids_limit = h.pids_limit;
  return r;
}

bool can_start(const container_state& s) {
  return s.status == container_status::created || s.status == container_status::exited;
}

namespace {

constexpr uint32_t config_magic = 0x62657274; // "bert"
constexpr uint32_t config_version = 4;
constexpr std::size_t attach_buffer_limit = 1 << 20; // stdin held before the start
constexpr auto restart_delay_min = 100ms;            // Docker's restart back-off
constexpr auto restart_delay_max = 60s;
constexpr auto restart_reset_after = 10s; // a run this long resets the back-off

int64_t now_nano() {
  return wall_clock_nano();
}
job_result ok(caf::message m = {}) {
  return job_ok(std::move(m));
}
job_result fail(caf::error err) {
  return job_fail(std::move(err));
}

std::string key_of(const std::string& env) {
  return env.substr(0, env.find('='));
}

bool has_key(const std::vector<std::string>& env, const std::string& key) {
  return std::any_of(env.begin(), env.end(), [&](auto& e) { return key_of(e) == key; });
}

std::string short_id(const std::string& id) {
  return id.substr(0, 12);
}

// -- the image config -------------------------------------------------------------------------

std::vector<std::string> string_list(simdjson::simdjson_result<simdjson::dom::element> e) {
  std::vector<std::string> out;
  simdjson::dom::array arr;
  if (e.get(arr) == simdjson::SUCCESS) {
    for (auto v : arr) {
      std::string_view s;
      if (v.get(s) == simdjson::SUCCESS) out.emplace_back(s);
    }
  }
  return out;
}

std::string string_of(simdjson::dom::element obj, const char* key) {
  std::string_view s;
  if (obj[key].get(s) == simdjson::SUCCESS) return std::string{s};
  return {};
}

// A field that is there and not null.
bool present(simdjson::dom::element obj, const char* key) {
  simdjson::dom::element e;
  return obj[key].get(e) == simdjson::SUCCESS && !e.is_null();
}

std::vector<std::string> keys_of(simdjson::dom::element obj, const char* key) {
  std::vector<std::string> out;
  simdjson::dom::object o;
  if (obj[key].get(o) == simdjson::SUCCESS)
    for (auto [k, v] : o)
      out.emplace_back(k);
  return out;
}

// -- signals ----------------------------------------------------------------------------------

int send_signal(int pidfd, pid_t pid, int sig) {
  if (pidfd >= 0 && ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return 0;
  if (pid > 0 && ::kill(pid, sig) == 0) return 0;
  return errno;
}

} // namespace

caf::error merge_image_config(container_config& c, const std::string& image_config_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (!image_config_json.empty() &&
      parser.parse(image_config_json).get(root) == simdjson::SUCCESS) {
    simdjson::dom::element cfg;
    if (root["config"].get(cfg) == simdjson::SUCCESS && cfg.is_object()) {
      if (!c.cmd_set && !c.entrypoint_set) {
        c.cmd = string_list(cfg["Cmd"]);
        c.cmd_set = present(cfg, "Cmd");
      }
      if (!c.entrypoint_set) {
        c.entrypoint = string_list(cfg["Entrypoint"]);
        c.entrypoint_set = present(cfg, "Entrypoint");
      }
      auto env = string_list(cfg["Env"]);
      for (auto& e : c.env) {
        auto k = key_of(e);
        env.erase(std::remove_if(env.begin(), env.end(), [&](auto& x) { return key_of(x) == k; }),
                  env.end());
      }
      env.insert(env.end(), c.env.begin(), c.env.end());
      c.env = std::move(env);
      if (c.working_dir.empty()) c.working_dir = string_of(cfg, "WorkingDir");
      if (c.user.empty()) c.user = string_of(cfg, "User");
      if (c.stop_signal.empty()) c.stop_signal = string_of(cfg, "StopSignal");
      simdjson::dom::object labels;
      if (cfg["Labels"].get(labels) == simdjson::SUCCESS)
        for (auto [k, v] : labels) {
          std::string_view s;
          if (v.get(s) == simdjson::SUCCESS) c.labels.emplace(std::string{k}, std::string{s});
        }
      for (auto& p : keys_of(cfg, "ExposedPorts"))
        if (std::find(c.exposed_ports.begin(), c.exposed_ports.end(), p) == c.exposed_ports.end())
          c.exposed_ports.push_back(p);
      for (auto& v : keys_of(cfg, "Volumes"))
        if (std::find(c.volumes.begin(), c.volumes.end(), v) == c.volumes.end())
          c.volumes.push_back(v);
    }
  }
  if (c.entrypoint.empty() && c.cmd.empty())
    return make_error(ec::invalid_argument, "No command specified");
  return {};
}

namespace {

caf::error bad_mount(const std::string& type, const std::string& what) {
  return make_error(ec::invalid_argument,
                    "invalid mount config for type \"" + type + "\": " + what);
}

bool is_propagation(const std::string& p) {
  static const std::set<std::string> modes{"private", "rprivate", "shared",
                                           "rshared", "slave",    "rslave"};
  return modes.count(p) > 0;
}

// One HostConfig.Binds entry (moby's linux parser): /path (an anonymous volume), or
// source:destination[:mode] with an absolute source (a bind) or a volume name.
caf::expected<mount_point> parse_bind(const std::string& spec) {
  auto invalid = [&](const std::string& why) {
    return make_error(ec::invalid_argument, "invalid volume specification: '" + spec + "'" +
                                                (why.empty() ? "" : ": " + why));
  };
  std::vector<std::string> parts;
  std::string::size_type pos = 0;
  while (true) {
    auto colon = spec.find(':', pos);
    parts.push_back(spec.substr(pos, colon == std::string::npos ? colon : colon - pos));
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  mount_point m;
  if (parts.size() == 1) {
    if (spec.empty() || spec[0] != '/') return invalid("");
    m.destination = spec;
  } else {
    if (parts.size() > 3 || parts[0].empty() || parts[1].empty()) return invalid("");
    m.source = parts[0];
    m.destination = parts[1];
    if (parts.size() == 3) m.mode = parts[2];
  }
  m.type = !m.source.empty() && m.source[0] == '/' ? "bind" : "volume";
  if (m.destination[0] != '/')
    return invalid("invalid mount config for type \"" + m.type + "\": invalid mount path: '" +
                   m.destination + "' mount path must be absolute");
  if (graph::clean_abs(m.destination) == "/")
    return invalid("invalid mount config for type \"" + m.type +
                   "\": invalid specification: destination can't be '/'");
  int rw = 0;
  std::string::size_type p = 0;
  while (!m.mode.empty()) {
    auto comma = m.mode.find(',', p);
    auto o = m.mode.substr(p, comma == std::string::npos ? comma : comma - p);
    if (o == "ro" || o == "rw") {
      m.read_only = o == "ro";
      ++rw;
    } else if (o == "nocopy" && m.type == "volume") {
      m.no_copy = true;
    } else if (is_propagation(o) && m.type == "bind") {
      m.propagation = o;
    } else if (o != "z" && o != "Z" && o != "cached" && o != "delegated" && o != "consistent") {
      return make_error(ec::invalid_argument, "invalid mode: " + m.mode);
    }
    if (comma == std::string::npos) break;
    p = comma + 1;
  }
  if (rw > 1) return make_error(ec::invalid_argument, "invalid mode: " + m.mode);
  if (m.type == "bind") {
    m.source = graph::clean_abs(m.source);
    m.host_path = m.source;
    m.create_host_path = true;
  }
  return m;
}

// One HostConfig.Mounts entry (moby's validateMountConfig).
caf::error check_mount(mount_point& m) {
  if (m.type != "bind" && m.type != "volume" && m.type != "tmpfs")
    return bad_mount(m.type, "mount type unknown");
  if (m.destination.empty()) return bad_mount(m.type, "field Target must not be empty");
  if (m.destination[0] != '/')
    return bad_mount(m.type,
                     "invalid mount path: '" + m.destination + "' mount path must be absolute");
  if (m.type == "bind") {
    if (m.source.empty()) return bad_mount(m.type, "field Source must not be empty");
    if (m.source[0] != '/')
      return bad_mount(m.type,
                       "invalid mount path: '" + m.source + "' mount path must be absolute");
    struct stat st;
    if (::stat(m.source.c_str(), &st) != 0)
      return bad_mount(m.type, "bind source path does not exist: " + m.source);
    if (!m.propagation.empty() && !is_propagation(m.propagation))
      return bad_mount(m.type, "invalid propagation mode: " + m.propagation);
    m.host_path = graph::clean_abs(m.source);
  } else if (m.type == "tmpfs") {
    if (!m.source.empty()) return bad_mount(m.type, "field Source must not be specified");
    if (m.tmpfs_size < 0) return bad_mount(m.type, "invalid tmpfs size");
  }
  return {};
}

} // namespace

caf::expected<std::vector<mount_point>> resolve_mounts(const container_config& c) {
  auto& h = c.host;
  std::vector<mount_point> out;
  auto add = [&](mount_point m) -> caf::error {
    m.destination = graph::clean_abs(m.destination);
    for (auto& x : out)
      if (x.destination == m.destination)
        return make_error(ec::invalid_argument, "Duplicate mount point: " + m.destination);
    out.push_back(std::move(m));
    return {};
  };
  for (auto& b : h.binds) {
    auto m = parse_bind(b);
    if (!m) return m.error();
    if (auto err = add(std::move(*m))) return err;
  }
  for (auto m : h.mounts) {
    if (auto err = check_mount(m)) return err;
    if (auto err = add(std::move(m))) return err;
  }
  for (auto& v : c.volumes) {
    if (v.empty() || v[0] != '/') continue;
    auto dest = graph::clean_abs(v);
    bool mounted = h.tmpfs.count(v) || h.tmpfs.count(dest);
    for (auto& x : out)
      mounted = mounted || x.destination == dest;
    if (mounted) continue;
    mount_point m;
    m.destination = dest;
    out.push_back(std::move(m));
  }
  for (auto& m : out) {
    struct stat st;
    if (m.type == "bind" && m.create_host_path && ::stat(m.host_path.c_str(), &st) != 0)
      if (auto err = io::mkdir_all(m.host_path, 0755)) return err;
  }
  return out;
}

std::string container_resolv_conf(const std::string& host_resolv, const host_config& h,
                                  bool host_network, bool embedded_dns) {
  std::vector<std::string> nameservers, search, options, other;
  std::istringstream in{host_resolv};
  std::string line;
  auto words = [](const std::string& l) {
    std::istringstream w{l};
    std::vector<std::string> out;
    std::string x;
    while (w >> x)
      out.push_back(x);
    return out;
  };
  while (std::getline(in, line)) {
    auto w = words(line);
    if (w.empty() || w[0][0] == '#' || w[0][0] == ';') continue;
    if (w[0] == "nameserver" && w.size() > 1) {
      bool loopback = w[1].rfind("127.", 0) == 0 || w[1] == "::1";
      if (host_network || !loopback) nameservers.push_back(w[1]);
    } else if ((w[0] == "search" || w[0] == "domain") && w.size() > 1) {
      search.assign(w.begin() + 1, w.end());
    } else if (w[0] == "options") {
      options.assign(w.begin() + 1, w.end());
    }
  }
  if (nameservers.empty() && !host_network) nameservers = {"8.8.8.8", "8.8.4.4"};
  if (!h.dns.empty()) nameservers = h.dns;
  if (!h.dns_search.empty()) {
    search.clear();
    for (auto& d : h.dns_search)
      if (d != ".") search.push_back(d); // "." clears the search list
  }
  if (!h.dns_options.empty()) options = h.dns_options;
  if (embedded_dns) {
    // moby's on user-defined networks: the embedded server, which forwards what it does not know
    nameservers = {"127.0.0.11"};
    if (std::none_of(options.begin(), options.end(),
                     [](auto& o) { return o.rfind("ndots:", 0) == 0; }))
      options.push_back("ndots:0");
  }
  std::string out;
  for (auto& n : nameservers)
    out += "nameserver " + n + "\n";
  auto list = [&](const char* key, const std::vector<std::string>& xs) {
    if (xs.empty()) return;
    out += key;
    for (auto& x : xs)
      out += " " + x;
    out += "\n";
  };
  list("search", search);
  list("options", options);
  return out;
}

std::string container_hosts(const std::string& host_hosts, const container_config& c,
                            const std::string& ip, const std::string& host_gateway) {
  std::string out = !host_hosts.empty() ? host_hosts
                                        : "127.0.0.1\tlocalhost\n"
                                          "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                          "fe00::0\tip6-localnet\n"
                                          "ff00::0\tip6-mcastprefix\n"
                                          "ff02::1\tip6-allnodes\n"
                                          "ff02::2\tip6-allrouters\n";
  if (!out.empty() && out.back() != '\n') out += "\n";
  for (auto& e : c.host.extra_hosts) {
    auto colon = e.find(':'); // host:ip (the ip may hold colons)
    if (colon == std::string::npos) continue;
    auto addr = e.substr(colon + 1);
    if (addr == "host-gateway") addr = host_gateway; // the default bridge's gateway
    if (addr.empty()) continue;
    out += addr + "\t" + e.substr(0, colon) + "\n";
  }
  if (!ip.empty()) {
    auto name = c.hostname;
    if (!c.domainname.empty()) name = c.hostname + "." + c.domainname + " " + c.hostname;
    out += ip + "\t" + name + "\n";
  }
  return out;
}

void normalize_endpoints(container_config& c) {
  auto& mode = c.host.network_mode;
  if (mode == "host" || mode == "none" || mode.rfind("container:", 0) == 0) {
    c.endpoints.clear();
    return;
  }
  auto primary = network_of_mode(mode);
  std::vector<endpoint_config> out;
  for (auto& e : c.endpoints) {
    auto x = e;
    if (x.network == "default" || x.network == mode) x.network = primary;
    if (x.network == primary)
      out.insert(out.begin(), x);
    else
      out.push_back(x);
  }
  if (out.empty() || out.front().network != primary)
    out.insert(out.begin(), endpoint_config{primary, {}, {}, {}});
  c.endpoints = std::move(out);
}

std::vector<port_binding> ports_to_publish(const container_config& c) {
  auto out = c.host.port_bindings;
  for (auto& b : out)
    if (b.port.find('/') == std::string::npos) b.port += "/tcp";
  if (c.host.publish_all_ports)
    for (auto p : c.exposed_ports) {
      if (p.find('/') == std::string::npos) p += "/tcp";
      bool bound = std::any_of(out.begin(), out.end(), [&](auto& b) { return b.port == p; });
      if (!bound) out.push_back(port_binding{p, "", ""});
    }
  return out;
}

caf::error save_container(const std::string& dir, const container_info& info) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto copy = info;
  if (auto err = sink(config_magic, config_version, copy))
    return make_error(ec::system, "serialize the container config: " + caf::to_string(err));
  // Visible at once (a daemon crash loses nothing), synced in the background: a verb's answer
  // does not wait for the disk.
  auto path = dir + "/config.bin";
  if (auto err = io::write_file_atomic(path, std::string{buf.begin(), buf.end()}, 0644, false))
    return err;
  io::sync_later(path);
  return {};
}

caf::expected<container_info> load_container(const std::string& dir) {
  auto data = io::read_file(dir + "/config.bin");
  if (!data) return data.error();
  caf::binary_deserializer source{nullptr, data->data(), data->size()};
  uint32_t magic = 0, version = 0;
  container_info info;
  if (auto err = source(magic, version); err || magic != config_magic || version != config_version)
    return make_error(ec::system, dir + "/config.bin: not a berth container config");
  if (auto err = source(info))
    return make_error(ec::system, dir + "/config.bin: " + caf::to_string(err));
  return info;
}

process_wiring wire_process(exec::reactor& r, exec::process& proc, caf::actor target, uint64_t gen,
                            bool open_stdin) {
  process_wiring w;
  auto watch = [&](int& fd, uint8_t stream) {
    if (fd < 0) return;
    ++w.open_streams;
    r.watch_output(
        std::exchange(fd, -1),
        [target, stream, gen](std::string data) {
          caf::anon_send(target, atom::output_v, stream, std::move(data), gen);
        },
        [target, stream, gen] {
          caf::anon_send(target, atom::output_v, stream, std::string{}, gen);
        });
  };
  if (proc.pty_fd >= 0) {
    w.resize_fd = ::fcntl(proc.pty_fd, F_DUPFD_CLOEXEC, 0);
    if (open_stdin) {
      int in = ::fcntl(proc.pty_fd, F_DUPFD_CLOEXEC, 0);
      if (in >= 0) w.stdin_h = r.open_input(in);
    }
    watch(proc.pty_fd, 1);
  }
  watch(proc.stdout_fd, 1);
  watch(proc.stderr_fd, 2);
  if (proc.stdin_fd >= 0) w.stdin_h = r.open_input(std::exchange(proc.stdin_fd, -1));
  r.watch_exit(std::exchange(proc.pidfd, -1),
               [target, gen](int status) { caf::anon_send(target, atom::exited_v, status, gen); });
  return w;
}

namespace {

// -- the actor ----------------------------------------------------------------------------------

/// An attached client.
struct attachment {
  stream_sink_actor sink;
  bool out = true;
  bool err = true;
  bool in = false;
  bool logs_follow = false; // a `logs -f` follower (gets log lines, not attach frames)
  bool timestamps = false;
};

struct waiter {
  std::string condition; // not-running, next-exit, removed; "kill": a docker kill (SIGKILL)
  caf::typed_response_promise<job_result> rp;
  caf::actor_addr watcher; // the client's connection (gone: the wait ends)
  uint64_t timer = 0;      // "kill": its deadline (moby waits 2 s for the exit)
};

struct container_actor_state {
  static inline const char* name = "container";
  std::shared_ptr<const container_deps> deps;
  container_manager_actor manager;
  container_info info;
  std::string dir;
  // The current process.
  std::shared_ptr<exec::process> proc;
  uint64_t gen = 0;       // process generation: stale reactor messages are dropped
  int open_streams = 0;   // output streams of this generation not at EOF yet
  bool exit_seen = false; // the reactor reaped the process
  int wait_status = 0;
  uint64_t stdin_h = 0; // reactor input handle; 0 = none
  int resize_fd = -1;   // a dup of the pty master for resize
  int pidfd = -1;       // a dup of the process's pidfd (docker exec joins its namespaces)
  bool starting = false;
  bool finishing = false;
  int64_t started_mono = 0;
  // stdin that arrived before the start, and whether the client half-closed already
  std::string stdin_buffer;
  bool stdin_eof = false;
  std::unique_ptr<logs::writer> log;
  std::vector<attachment> attached;
  std::vector<waiter> waiters;
  std::vector<caf::typed_response_promise<job_result>> exit_promises; // stop, restart, rm -f
  // Timers.
  uint64_t timer_seq = 0;
  uint64_t kill_timer = 0;    // SIGKILL after the stop timeout
  uint64_t restart_timer = 0; // the restart back-off
  bool at_boot = false;       // loaded at start: tell the manager once restored
  std::chrono::milliseconds restart_delay{0};
  bool restart_after_exit = false; // docker restart: start again once stopped
  std::vector<caf::typed_response_promise<job_result>> restart_promises;
  bool shutting_down = false; // the daemon stops: no restart policy applies
  std::vector<caf::typed_response_promise<caf::ok_atom>> shutdown_promises;
  bool removing = false;
  bool remove_volumes = false; // docker rm -v: the anonymous volumes go with the container
  std::vector<caf::typed_response_promise<job_result>> remove_promises;

  ~container_actor_state() {
    if (resize_fd >= 0) ::close(resize_fd);
    if (pidfd >= 0) ::close(pidfd);
  }
};

using container_self = container_actor::stateful_pointer<container_actor_state>;

// moby's idtools.LookupUser (docker cp -a): the container's user in the host's user database.
caf::expected<std::pair<uint32_t, uint32_t>> host_user(const std::string& name) {
  struct passwd pw;
  struct passwd* found = nullptr;
  std::string buf(16384, '\0');
  ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (!found && !name.empty() && name.find_first_not_of("0123456789") == std::string::npos &&
      name.size() < 10)
    ::getpwuid_r(static_cast<uid_t>(std::stoul(name)), &pw, buf.data(), buf.size(), &found);
  if (!found)
    return make_error(ec::unspecified,
                      "getent unable to find entry \"" + name + "\" in passwd database");
  return std::make_pair(static_cast<uint32_t>(found->pw_uid), static_cast<uint32_t>(found->pw_gid));
}

// A resolved mount as the exec driver takes it.
exec::mount_spec exec_mount(const mount_point& m) {
  exec::mount_spec s;
  s.destination = m.destination;
  if (m.type == "tmpfs") {
    s.source = "tmpfs";
    s.type = "tmpfs";
    s.options = {"nosuid", "nodev", "noexec"};
    if (m.tmpfs_size > 0) s.options.push_back("size=" + std::to_string(m.tmpfs_size));
    if (m.tmpfs_mode != 0) {
      char mode[24];
      std::snprintf(mode, sizeof mode, "mode=%o", m.tmpfs_mode);
      s.options.push_back(mode);
    }
  } else {
    s.source = m.host_path;
    s.type = "bind";
    s.options = {"rbind", m.propagation.empty() ? "rprivate" : m.propagation};
  }
  if (m.read_only) s.options.push_back("ro");
  return s;
}

// moby's checks before an extraction into container path `abs`: a read-only mount, or a
// read-only rootfs outside the mounts (403).
caf::error check_writable(const container_info& info, const std::string& abs) {
  const mount_point* best = nullptr; // the deepest mount holding `abs`
  for (auto& m : info.mounts) {
    auto dest = graph::clean_abs(m.destination);
    if (abs != dest && dest != "/" && abs.rfind(dest + "/", 0) != 0) continue;
    if (!best || dest.size() > best->destination.size()) best = &m;
  }
  if (best && best->read_only)
    return make_error(ec::forbidden, "mounted volume is marked read-only");
  if (!best && info.config.host.readonly_rootfs)
    return make_error(ec::forbidden, "container rootfs is marked read-only");
  return {};
}

// moby's CopyImagePathContent: an empty volume gets what the image has at its destination.
caf::error copy_up(const std::string& rootfs, const std::string& dest, const std::string& volume) {
  io::unique_fd root{::open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!root) return io::sys_error("open " + rootfs);
  auto src = graph::open_in_root(root.fd, dest, O_RDONLY | O_DIRECTORY);
  if (!src) return {}; // nothing (or no directory) there: nothing to copy
  io::unique_fd dst{::open(volume.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!dst) return io::sys_error("open " + volume);
  DIR* d = ::fdopendir(::dup(dst.fd));
  if (!d) return io::sys_error("read " + volume);
  bool empty = true;
  while (auto* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) empty = false;
  ::closedir(d);
  if (!empty) return {};
  if (auto err = graph::copy_tree(src->fd, dst.fd))
    return make_error(ec::system,
                      "copy the image's " + dest + " into its volume: " + error_message(err));
  return {};
}

// Volume events of the container's volumes: mount (at start) and unmount (at exit).
void publish_volumes(container_self self, const char* action) {
  auto& st = self->state;
  for (auto& m : st.info.mounts) {
    if (m.type != "volume") continue;
    event ev;
    ev.type = "volume";
    ev.action = action;
    ev.actor_id = m.source;
    ev.attributes["container"] = st.info.id;
    ev.attributes["driver"] = m.driver;
    if (std::string{action} == "mount") {
      ev.attributes["destination"] = m.destination;
      ev.attributes["propagation"] = m.propagation;
      ev.attributes["read/write"] = m.read_only ? "false" : "true";
    }
    self->send(st.deps->events, caf::publish_atom_v, std::move(ev));
  }
}

void publish(container_self self, std::string action,
             std::map<std::string, std::string> extra = {}) {
  auto& st = self->state;
  self->send(st.deps->events, caf::publish_atom_v,
             container_event(st.info, std::move(action), extra));
}

void persist(container_self self) {
  auto& st = self->state;
  if (auto err = save_container(st.dir, st.info))
    BLOG(error, "container") << short_id(st.info.id) << ": " << error_message(err);
  self->send(st.manager, caf::update_atom_v, st.info);
}

caf::error open_log(container_self self) {
  auto& st = self->state;
  if (st.log || st.info.log_type != "json-file") return {};
  auto opts = logs::parse_options(st.info.log_config);
  if (!opts) return opts.error();
  auto w = logs::writer::open(st.info.log_path, *opts);
  if (!w) return w.error();
  st.log = std::move(*w);
  return {};
}

// Everything the exec driver needs, from the merged config.
exec::process_spec make_spec(const container_actor_state& st) {
  auto& c = st.info.config;
  auto& h = c.host;
  exec::process_spec s;
  s.id = st.info.id;
  s.args.push_back(st.info.path);
  s.args.insert(s.args.end(), st.info.args.begin(), st.info.args.end());
  s.env = c.env;
  if (!has_key(s.env, "PATH"))
    s.env.insert(s.env.begin(),
                 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has_key(s.env, "HOSTNAME")) s.env.push_back("HOSTNAME=" + c.hostname);
  if (c.tty && !has_key(s.env, "TERM")) s.env.push_back("TERM=xterm");
  s.cwd = c.working_dir.empty() ? "/" : c.working_dir;
  s.user = c.user;
  s.additional_groups = h.group_add;
  s.hostname = c.hostname;
  s.domainname = c.domainname;
  s.tty = c.tty;
  s.open_stdin = c.open_stdin;
  s.init = h.init < 0 ? st.deps->init : h.init == 1;
  s.privileged = h.privileged;
  s.readonly_rootfs = h.readonly_rootfs;
  for (auto& o : h.security_opt)
    if (o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true")
      s.no_new_privileges = true;
  s.cap_add = h.cap_add;
  s.cap_drop = h.cap_drop;
  s.rlimits = h.ulimits;
  s.sysctls = h.sysctls;
  if (h.shm_size > 0) s.shm_size = h.shm_size;
  for (auto& m : st.info.mounts)
    s.mounts.push_back(exec_mount(m));
  for (auto& [path, opts] : h.tmpfs) {
    exec::mount_spec m;
    m.source = "tmpfs";
    m.destination = path;
    m.type = "tmpfs";
    m.options = {"nosuid", "nodev", "noexec"};
    std::string::size_type pos = 0;
    while (pos < opts.size()) {
      auto comma = opts.find(',', pos);
      auto o = opts.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (!o.empty()) m.options.push_back(o);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    s.mounts.push_back(std::move(m));
  }
  // parents before what is mounted inside them (moby's sortMounts)
  std::stable_sort(s.mounts.begin(), s.mounts.end(), [](auto& a, auto& b) {
    return std::count(a.destination.begin(), a.destination.end(), '/') <
           std::count(b.destination.begin(), b.destination.end(), '/');
  });
  s.new_net_namespace = h.network_mode != "host" && h.network_mode.rfind("container:", 0) != 0;
  s.host_pid = h.pid_mode == "host";
  s.host_ipc = h.ipc_mode == "host";
  s.host_uts = h.uts_mode == "host";
  s.resources = resources_of(h);
  s.cgroup_parent = h.cgroup_parent;
  if (h.console_size.size() == 2) {
    s.rows = static_cast<uint16_t>(h.console_size[0]);
    s.cols = static_cast<uint16_t>(h.console_size[1]);
  }
  return s;
}

// -- output to clients and the log ----------------------------------------------------------------

void deliver_output(container_self self, uint8_t stream, const std::string& data, int64_t t) {
  auto& st = self->state;
  if (st.log) {
    if (auto err = st.log->write(output_chunk{stream, data, t}))
      BLOG(warn, "container") << short_id(st.info.id) << ": log: " << error_message(err);
  }
  std::string framed; // made once, for every non-TTY attachment
  for (auto& a : st.attached) {
    if ((stream == 1 && !a.out) || (stream == 2 && !a.err)) continue;
    if (st.info.config.tty) {
      self->send(a.sink, data);
      continue;
    }
    if (a.logs_follow && a.timestamps) {
      std::string out;
      std::string::size_type pos = 0;
      while (pos < data.size()) {
        auto nl = data.find('\n', pos);
        auto end = nl == std::string::npos ? data.size() : nl + 1;
        out += logs::frame(stream, logs::format_time(t) + " " + data.substr(pos, end - pos));
        pos = end;
      }
      self->send(a.sink, std::move(out));
      continue;
    }
    if (framed.empty()) framed = logs::frame(stream, data);
    self->send(a.sink, framed);
  }
}

void end_attachments(container_self self) {
  auto& st = self->state;
  for (auto& a : st.attached)
    self->send(a.sink, atom::done_v, caf::error{});
  st.attached.clear();
}

void answer_waiters(container_self self, bool removed) {
  auto& st = self->state;
  wait_result r{st.info.state.exit_code, st.info.state.error};
  auto keep = std::vector<waiter>{};
  for (auto& w : st.waiters) {
    if (w.condition == "removed" && !removed) {
      keep.push_back(std::move(w));
      continue;
    }
    w.rp.deliver(w.condition == "kill" ? ok() : ok(caf::make_message(r)));
  }
  st.waiters = std::move(keep);
}

using start_done = std::function<void(const caf::error&)>;
void do_start(container_self self, start_done done, bool restart);
void do_remove(container_self self);

start_done answer_to(caf::typed_response_promise<job_result> rp) {
  return [rp](const caf::error& err) mutable { rp.deliver(err ? fail(err) : ok()); };
}

uint64_t arm_timer(container_self self, std::chrono::milliseconds after) {
  auto n = ++self->state.timer_seq;
  self->delayed_send(self, after, atom::deadline_v, n);
  return n;
}

/// At a daemon start (moby's restore): `always` even after a manual stop, `unless-stopped`
/// unless stopped by hand, `on-failure` after a failure with retries left.
bool restarts_at_boot(const container_actor_state& st) {
  auto& h = st.info.config.host;
  auto& s = st.info.state;
  if (h.auto_remove) return false;
  if (h.restart_policy == "always") return true;
  if (h.restart_policy == "unless-stopped") return !s.has_been_manually_stopped;
  if (h.restart_policy == "on-failure")
    return s.exit_code != 0 &&
           (h.restart_max_retries <= 0 || s.restart_count < h.restart_max_retries);
  return false;
}

bool policy_restarts(const container_actor_state& st) {
  auto& h = st.info.config.host;
  auto& s = st.info.state;
  if (s.has_been_manually_stopped || st.removing || h.auto_remove || st.shutting_down) return false;
  if (h.restart_policy == "always" || h.restart_policy == "unless-stopped") return true;
  if (h.restart_policy == "on-failure")
    return s.exit_code != 0 &&
           (h.restart_max_retries <= 0 || s.restart_count < h.restart_max_retries);
  return false;
}

// The process of this generation is gone and its output drained: record, clean up, then decide
// (restart, remove, or stay exited).
void finish_exit(container_self self) {
  auto& st = self->state;
  if (st.finishing) return;
  st.finishing = true;
  if (st.log) {
    if (auto err = st.log->flush())
      BLOG(warn, "container") << short_id(st.info.id) << ": log: " << error_message(err);
  }
  if (st.stdin_h != 0) st.deps->reactor->close_input(std::exchange(st.stdin_h, 0));
  if (st.resize_fd >= 0) ::close(std::exchange(st.resize_fd, -1));
  if (st.pidfd >= 0) ::close(std::exchange(st.pidfd, -1));
  if (st.kill_timer != 0) st.kill_timer = 0;
  int status = st.wait_status;
  int64_t code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (!st.info.networks.empty()) {
    // its address and ports are free, its veth goes
    self->send(st.deps->network, atom::release_v, st.info.id);
    st.info.networks.clear();
  }
  auto proc = std::move(st.proc);
  auto graph = st.deps->graph;
  auto layer = st.info.rw_layer;
  // Clean up off the actor thread: read OOM kills, kill stragglers, remove the cgroup, unmount.
  run_detached<bool>(
      self,
      [proc, graph, layer]() -> caf::expected<bool> {
        bool oom = false;
        if (proc && proc->cgroup) {
          if (auto u = proc->cgroup->read_usage()) oom = u->oom_kills > 0;
          proc->cgroup->kill_all();
          if (auto err = proc->cgroup->remove())
            BLOG(warn, "container") << "cgroup: " << error_message(err);
        }
        if (auto err = graph->unmount(layer))
          BLOG(warn, "container") << "unmount: " << error_message(err);
        return oom;
      },
      [self, code](caf::expected<bool>& oom) {
        auto& st = self->state;
        st.finishing = false;
        auto& s = st.info.state;
        s.exit_code = code;
        s.pid = 0;
        s.oom_killed = oom && *oom;
        s.finished_at_nano = now_nano();
        s.status = container_status::exited;
        if (s.oom_killed) publish(self, "oom");
        publish_volumes(self, "unmount");
        publish(self, "die", {{"exitCode", std::to_string(code)}});
        end_attachments(self);
        auto ran = std::chrono::steady_clock::now().time_since_epoch().count() - st.started_mono;
        bool restart = policy_restarts(st);
        answer_waiters(self, false);
        for (auto& rp : st.exit_promises)
          rp.deliver(ok());
        st.exit_promises.clear();
        for (auto& rp : st.shutdown_promises)
          rp.deliver(caf::ok_atom_v);
        st.shutdown_promises.clear();
        if (st.removing) {
          do_remove(self);
          return;
        }
        if (st.restart_after_exit && !st.shutting_down) { // docker restart: at once
          st.restart_after_exit = false;
          s.has_been_manually_stopped = false;
          persist(self);
          auto promises = std::move(st.restart_promises);
          st.restart_promises.clear();
          publish(self, "restart");
          do_start(
              self,
              [promises](const caf::error& err) mutable {
                for (auto& rp : promises)
                  rp.deliver(err ? fail(err) : ok());
              },
              false);
          return;
        }
        if (st.info.config.host.auto_remove && !restart) {
          persist(self);
          st.removing = true;
          s.status = container_status::removing;
          do_remove(self);
          return;
        }
        if (restart) {
          // Docker's back-off: 100 ms doubling up to a minute, reset after a 10 s run.
          if (std::chrono::nanoseconds{ran} >= restart_reset_after)
            st.restart_delay = restart_delay_min;
          else
            st.restart_delay =
                std::clamp(st.restart_delay * 2, std::chrono::milliseconds{restart_delay_min},
                           std::chrono::milliseconds{restart_delay_max});
          s.status = container_status::restarting;
          persist(self);
          st.restart_timer = arm_timer(self, st.restart_delay);
          return;
        }
        persist(self);
      });
}

void on_started(container_self self, std::shared_ptr<exec::process> proc, bool restart) {
  auto& st = self->state;
  auto gen = ++st.gen;
  st.proc = proc;
  st.exit_seen = false;
  st.open_streams = 0;
  st.started_mono = std::chrono::steady_clock::now().time_since_epoch().count();
  auto& s = st.info.state;
  s.status = container_status::running;
  s.pid = proc->pid;
  s.exit_code = 0;
  s.error.clear();
  s.oom_killed = false;
  s.started_at_nano = now_nano();
  s.finished_at_nano = 0;
  if (restart) ++s.restart_count;
  auto& r = *st.deps->reactor;
  if (st.pidfd >= 0) ::close(st.pidfd);
  st.pidfd = ::fcntl(proc->pidfd, F_DUPFD_CLOEXEC, 0);
  auto w =
      wire_process(r, *proc, caf::actor_cast<caf::actor>(self), gen, st.info.config.open_stdin);
  st.open_streams = w.open_streams;
  st.stdin_h = w.stdin_h;
  st.resize_fd = w.resize_fd;
  if (st.stdin_h != 0) {
    if (!st.stdin_buffer.empty()) r.write(st.stdin_h, std::exchange(st.stdin_buffer, {}));
    if (st.stdin_eof && st.info.config.stdin_once) r.close_input(std::exchange(st.stdin_h, 0));
  }
  st.stdin_buffer.clear();
  st.stdin_eof = false;
  persist(self);
  publish_volumes(self, "mount");
  publish(self, "start");
}

void start_process(container_self self, start_done done, bool restart, std::string net_ns,
                   std::vector<network_endpoint> eps = {});

// A start failure: recorded as dockerd does (exit code 127/126/128 by the message).
void start_failed(container_self self, start_done& done, const caf::error& err) {
  auto& st = self->state;
  auto msg = error_message(err);
  auto& s = st.info.state;
  bool was_restarting = s.status == container_status::restarting;
  s.error = msg;
  s.exit_code = msg.find("not found") != std::string::npos ||
                        msg.find("no such file or directory") != std::string::npos
                    ? 127
                : msg.find("permission denied") != std::string::npos ||
                        msg.find("is a directory") != std::string::npos
                    ? 126
                    : 128;
  if (s.status == container_status::restarting) s.status = container_status::exited;
  done(err);
  end_attachments(self);
  // As moby: a start that fails is no exit, so next-exit waiters (the CLI's, sent before the
  // start) keep waiting; a restart that fails does end a run that waiters saw.
  if (was_restarting) answer_waiters(self, false);
  if (st.info.config.host.auto_remove) {
    st.removing = true;
    s.status = container_status::removing;
    persist(self);
    do_remove(self);
    return;
  }
  persist(self);
}

void do_start(container_self self, start_done done, bool restart) {
  auto& st = self->state;
  if (auto err = open_log(self)) {
    done(err);
    return;
  }
  auto& mode = st.info.config.host.network_mode;
  // its networks (-b none: the default mode has none): endpoints (addresses, veth names,
  // published ports) first
  auto endpoints = st.info.config.endpoints;
  if (!st.deps->bridge && (mode == "default" || mode.empty()))
    endpoints.erase(std::remove_if(endpoints.begin(), endpoints.end(),
                                   [](auto& e) { return e.network == "bridge"; }),
                    endpoints.end());
  if (!endpoints.empty() && st.deps->network) {
    st.starting = true;
    self->request(st.deps->network, caf::infinite, caf::connect_atom_v, st.info.id,
                  st.info.name.substr(1), ports_to_publish(st.info.config), std::move(endpoints))
        .then(
            [self, done, restart](std::vector<network_endpoint>& eps) mutable {
              self->state.starting = false;
              for (std::size_t i = 0; i < eps.size(); ++i)
                eps[i].ifname = "eth" + std::to_string(i);
              start_process(self, done, restart, {}, std::move(eps));
            },
            [self, done](caf::error& err) mutable {
              self->state.starting = false;
              start_failed(self, done, err);
            });
    return;
  }
  if (mode.rfind("container:", 0) != 0) return start_process(self, done, restart, {});
  // --network container:<name|id>: that container's network namespace, while it runs
  auto target = mode.substr(10);
  st.starting = true;
  self->request(st.manager, caf::infinite, job{"container_inspect", {target}, {}, {}})
      .then([self, done, restart](job_result& r) mutable {
        auto& st = self->state;
        st.starting = false;
        if (r.status != status_ok || !r.output.match_elements<container_info>())
          return start_failed(self, done,
                              r.error ? r.error : make_error(ec::not_found, "no such container"));
        auto& other = r.output.get_as<container_info>(0);
        if (other.id == st.info.id)
          return start_failed(self, done,
                              make_error(ec::invalid_argument, "cannot join own network"));
        if (other.state.status != container_status::running || other.state.pid <= 0)
          return start_failed(
              self, done,
              make_error(ec::conflict,
                         "cannot join network of a non running container: " + other.id));
        start_process(self, done, restart, "/proc/" + std::to_string(other.state.pid) + "/ns/net");
      });
}

// The container's resolv.conf from the host's, with moby's defaults: the daemon's --dns and
// --dns-search stand in for the container's own when it has none.
std::string resolv_conf_of(const container_actor_state& st, bool host_network, bool embedded_dns) {
  auto h = st.info.config.host;
  if (h.dns.empty()) h.dns = st.deps->default_dns;
  if (h.dns_search.empty()) h.dns_search = st.deps->default_dns_search;
  auto host = io::read_file("/etc/resolv.conf");
  return container_resolv_conf(host ? *host : std::string{}, h, host_network, embedded_dns);
}

// moby's per-container /etc/hostname, /etc/hosts and /etc/resolv.conf (in the container's dir),
// bind-mounted unless a mount of the container's own covers the path. A container on another's
// network (container:) sees its own image's files.
caf::error write_network_files(container_actor_state& st, exec::process_spec& spec,
                               const std::vector<network_endpoint>& eps) {
  auto& c = st.info.config;
  auto& mode = c.host.network_mode;
  if (mode.rfind("container:", 0) == 0) return {};
  bool host_network = mode == "host";
  auto read = [](const char* path) {
    auto data = io::read_file(path);
    return data ? *data : std::string{};
  };
  st.info.hostname_path = st.dir + "/hostname";
  st.info.hosts_path = st.dir + "/hosts";
  st.info.resolv_conf_path = st.dir + "/resolv.conf";
  std::pair<const std::string*, std::string> files[] = {
      {&st.info.hostname_path, c.hostname + "\n"},
      {&st.info.hosts_path, container_hosts(host_network ? read("/etc/hosts") : "", c,
                                            eps.empty() ? std::string{} : eps.front().ip_address,
                                            st.deps->host_gateway_ip)},
      {&st.info.resolv_conf_path,
       resolv_conf_of(st, host_network,
                      std::any_of(eps.begin(), eps.end(), [](auto& e) { return e.dns; }))},
  };
  const char* targets[] = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"};
  for (std::size_t i = 0; i < 3; ++i) {
    auto& [path, content] = files[i];
    if (auto err = io::write_file_atomic(*path, content, 0644, false)) return err;
    bool covered = false;
    for (auto& m : spec.mounts)
      covered = covered || m.destination == targets[i] || m.destination == "/etc";
    if (!covered) spec.mounts.push_back({*path, targets[i], "bind", {"rbind", "rprivate"}});
  }
  return {};
}

// The start proper; `net_ns`: the network namespace to join ("" = its own or the host's).
net::endpoint wiring_of(const network_endpoint& ep) {
  auto ip_of = [](const std::string& s) {
    auto ip = net::parse_ip(s);
    return ip ? *ip : 0u;
  };
  net::endpoint wire;
  wire.host_ifname = ep.host_ifname;
  wire.ifname = ep.ifname;
  wire.address = ip_of(ep.ip_address);
  wire.prefix = static_cast<int>(ep.prefix_len);
  wire.gateway = ip_of(ep.gateway);
  wire.mtu = static_cast<int>(ep.mtu);
  wire.mac = ep.mac_address;
  return wire;
}

void start_process(container_self self, start_done done, bool restart, std::string net_ns,
                   std::vector<network_endpoint> eps) {
  auto& st = self->state;
  auto spec = make_spec(st);
  spec.join_net_namespace = std::move(net_ns);
  bool networked = !eps.empty();
  auto failed = [self, &done, networked](const caf::error& err) {
    if (networked) self->send(self->state.deps->network, atom::release_v, self->state.info.id);
    start_failed(self, done, err);
  };
  if (auto err = write_network_files(st, spec, eps)) return failed(err);
  if (networked) {
    // the veths go into the container's namespace before its command runs, then the embedded
    // DNS server's sockets (user-defined networks)
    std::vector<std::pair<std::string, net::endpoint>> wires;
    bool dns = false;
    for (auto& ep : eps) {
      wires.emplace_back(ep.bridge, wiring_of(ep));
      if (wires.size() > 1) wires.back().second.gateway = 0; // one default route: the first's
      dns = dns || ep.dns;
    }
    spec.prestart = [wires, dns_server = dns ? st.deps->dns : dns_actor{}, id = st.info.id,
                     upstreams = st.info.config.host.dns,
                     sys = &self->system()](pid_t pid) mutable -> caf::error {
      auto ns = "/proc/" + std::to_string(pid) + "/ns/net";
      for (auto& [bridge, wire] : wires) {
        wire.netns_path = ns;
        if (auto err = net::attach(bridge, wire)) return err;
      }
      if (dns_server) return serve_dns(*sys, dns_server, id, ns, upstreams);
      return {};
    };
  }
  st.starting = true;
  auto deps = st.deps;
  auto layer = st.info.rw_layer;
  std::vector<std::pair<std::string, std::string>> copies; // volume, destination
  for (auto& m : st.info.mounts)
    if (m.type == "volume" && !m.no_copy) copies.emplace_back(m.host_path, m.destination);
  run_detached<exec_process>(
      self,
      [deps, layer, spec, copies]() mutable -> caf::expected<exec_process> {
        auto root = deps->graph->mount(layer);
        if (!root) return root.error();
        spec.rootfs = *root;
        for (auto& [volume, dest] : copies)
          if (auto err = copy_up(*root, dest, volume)) {
            deps->graph->unmount(layer);
            return err;
          }
        auto p = deps->exec->start(spec);
        if (!p) {
          deps->graph->unmount(layer);
          return p.error();
        }
        return exec_process{std::shared_ptr<exec::process>{std::move(*p)}};
      },
      [self, done, restart, eps](caf::expected<exec_process>& r) mutable {
        auto& st = self->state;
        st.starting = false;
        if (r) {
          st.info.networks = std::move(eps);
          on_started(self, r->proc, restart);
          done(caf::error{});
          return;
        }
        if (!eps.empty()) self->send(st.deps->network, atom::release_v, st.info.id);
        start_failed(self, done, r.error());
      });
}

// Remove the container's layers and files, then tell everyone and quit.
void do_remove(container_self self) {
  auto& st = self->state;
  st.removing = true;
  st.info.state.status = container_status::removing;
  auto graph = st.deps->graph;
  auto layer = st.info.rw_layer;
  auto dir = st.dir;
  run_detached<bool>(
      self,
      [graph, layer, dir]() -> caf::expected<bool> {
        if (auto err = graph->remove(layer)) return err;
        if (auto err = graph->remove(layer + "-init")) return err;
        if (auto err = io::remove_all(dir)) return err;
        return true;
      },
      [self](caf::expected<bool>& r) {
        auto& st = self->state;
        if (!r) {
          BLOG(error, "container")
              << short_id(st.info.id) << ": remove: " << error_message(r.error());
          st.info.state.status = container_status::dead;
          st.info.state.error = error_message(r.error());
          persist(self);
          for (auto& rp : st.remove_promises)
            rp.deliver(fail(r.error()));
          st.remove_promises.clear();
          st.removing = false;
          return;
        }
        publish(self, "destroy");
        // docker rm -v and --rm remove the anonymous volumes too
        self->send(st.deps->volumes, atom::release_v, st.info.id,
                   st.remove_volumes || st.info.config.host.auto_remove);
        self->send(st.manager, atom::done_v, st.info.id);
        st.info.state.error.clear(); // moby's SetRemoved clears it: waiters see only the code
        answer_waiters(self, true);
        for (auto& rp : st.remove_promises)
          rp.deliver(ok());
        st.remove_promises.clear();
        end_attachments(self);
        self->quit();
      });
}

/// A paused container's processes act on a signal only once thawed (a SIGKILL too, on cgroup
/// v1): moby resumes after the kill; a daemon shutdown thaws after the stop signal.
void thaw_after_signal(container_self self) {
  auto& st = self->state;
  if (st.info.state.status != container_status::paused || !st.proc || !st.proc->cgroup) return;
  if (auto err = st.proc->cgroup->thaw())
    BLOG(warn, "container") << short_id(st.info.id) << ": thaw: " << error_message(err);
  st.info.state.status = container_status::running;
}

/// SIGKILL to the container's process (thawed if paused), and the event.
void kill_now(container_self self) {
  auto& st = self->state;
  send_signal(st.proc->pidfd, st.proc->pid, SIGKILL);
  publish(self, "kill", {{"signal", "9"}});
  thaw_after_signal(self);
}

caf::error not_running(const container_actor_state& st) {
  return make_error(ec::conflict, "Container " + st.info.id + " is not running");
}

// Send the stop signal; SIGKILL after `timeout` seconds (< 0: wait forever).
void begin_stop(container_self self, int64_t timeout) {
  auto& st = self->state;
  auto sig = exec::parse_signal(st.info.config.stop_signal.empty() ? "SIGTERM"
                                                                   : st.info.config.stop_signal);
  if (sig <= 0) sig = SIGTERM;
  st.info.state.has_been_manually_stopped = true;
  if (st.info.state.status == container_status::restarting) {
    // nothing runs: cancel the back-off and settle as exited
    st.restart_timer = 0;
    st.info.state.status = container_status::exited;
    persist(self);
    for (auto& rp : st.exit_promises)
      rp.deliver(ok());
    st.exit_promises.clear();
    answer_waiters(self, false);
    if (st.removing) do_remove(self);
    return;
  }
  if (st.proc) {
    if (timeout != 0) {
      send_signal(st.proc->pidfd >= 0 ? st.proc->pidfd : -1, st.proc->pid, sig);
      publish(self, "kill", {{"signal", std::to_string(sig)}});
    }
    if (timeout >= 0) st.kill_timer = arm_timer(self, std::chrono::milliseconds{timeout * 1000});
  }
}

int64_t stop_timeout_of(const container_actor_state& st, const job& j) {
  auto it = j.env.find("t");
  if (it != j.env.end() && !it->second.empty()) {
    try {
      return std::stoll(it->second);
    } catch (...) {
    }
  }
  return st.info.config.stop_timeout >= 0 ? st.info.config.stop_timeout : 10;
}

/// Send what the json-file log holds now to `sink` (framed unless Tty), in batches of about
/// 64 KiB. The actor handles no output meanwhile, so nothing is lost between this read and a
/// follow or attach that starts right after.
caf::error replay_log(container_self self, const stream_sink_actor& sink, const logs::query& q,
                      bool timestamps) {
  auto& st = self->state;
  bool tty = st.info.config.tty;
  if (st.log) st.log->flush();
  std::string batch;
  auto err = logs::read(st.info.log_path, q, [&](const logs::entry& e) {
    auto line = timestamps ? logs::format_time(e.time_nano) + " " + e.log : e.log;
    if (tty)
      batch += line;
    else
      batch += logs::frame(e.stream, line);
    if (batch.size() >= 64 * 1024) self->send(sink, std::exchange(batch, {}));
    return true;
  });
  if (!batch.empty()) self->send(sink, std::move(batch));
  return err;
}

// docker update (moby's daemon/update.go): the given resources and restart policy are merged
// into the config; a running container's cgroup gets the new limits first, and nothing
// changes when that fails.
caf::result<job_result> update(container_self self, job& j) {
  auto& st = self->state;
  if (!j.input.match_elements<host_config>())
    return fail(make_error(ec::invalid_argument, "update: no update config"));
  auto& u = j.input.get_as<host_config>(0);
  auto h = st.info.config.host;
  auto cannot = [&](const std::string& why) {
    return make_error(ec::invalid_argument, "Cannot update container " + st.info.id + ": " + why);
  };
  for (auto m : {&host_config::memory, &host_config::memory_swap, &host_config::memory_reservation,
                 &host_config::nano_cpus, &host_config::cpu_shares, &host_config::cpu_period,
                 &host_config::cpu_quota, &host_config::pids_limit})
    if (u.*m != 0) h.*m = u.*m;
  if (!u.cpuset_cpus.empty()) h.cpuset_cpus = u.cpuset_cpus;
  if (!u.cpuset_mems.empty()) h.cpuset_mems = u.cpuset_mems;
  if (u.nano_cpus != 0 && (h.cpu_period != 0 || h.cpu_quota != 0) && u.cpu_quota == 0)
    return fail(cannot("Conflicting options: CPU Quota cannot be updated as NanoCPUs has "
                       "already been set"));
  if (u.memory != 0 && u.memory_swap == 0 && h.memory_swap > 0 && u.memory > h.memory_swap)
    return fail(cannot("Memory limit should be smaller than already set memoryswap limit, "
                       "update the memoryswap at the same time"));
  if (!u.restart_policy.empty()) {
    if (h.auto_remove && u.restart_policy != "no")
      return fail(cannot("Restart policy cannot be updated because AutoRemove is enabled for "
                         "the container"));
    h.restart_policy = u.restart_policy;
    h.restart_max_retries = u.restart_max_retries;
  }
  auto r = resources_of(h);
  if (auto err = cgroups::validate(r)) return fail(cannot(error_message(err)));
  auto commit = [self, h] {
    auto& st = self->state;
    st.info.config.host = h;
    persist(self);
    publish(self, "update");
  };
  if (!is_running(st.info.state) || !st.proc || !st.proc->cgroup) {
    commit();
    return ok();
  }
  auto rp = self->make_response_promise<job_result>();
  auto proc = st.proc;
  auto id = st.info.id;
  run_detached<bool>(
      self,
      [proc, r]() -> caf::expected<bool> {
        if (auto err = proc->cgroup->apply(r)) return err;
        return true;
      },
      [rp, commit, id](caf::expected<bool>& done) mutable {
        if (!done) {
          rp.deliver(fail(make_error(ec::invalid_argument, "Cannot update container " + id + ": " +
                                                               error_message(done.error()))));
          return;
        }
        commit();
        rp.deliver(ok());
      });
  return rp;
}

/// The event attributes of the container (image, name, labels).
std::map<std::string, std::string> event_attributes(const container_actor_state& st) {
  return container_event(st.info, "").attributes;
}

/// moby's refusals of an exec (create and start): 409 unless running and not paused.
caf::error exec_refusal(const container_actor_state& st) {
  auto& s = st.info.state;
  if (s.status == container_status::paused)
    return make_error(ec::conflict,
                      "Container " + st.info.id + " is paused, unpause the container before exec");
  if (s.status == container_status::restarting)
    return make_error(ec::conflict, "Container " + st.info.id +
                                        " is restarting, wait until the container is running");
  if (!is_running(s) || !st.proc || st.pidfd < 0) return not_running(st);
  return {};
}

// docker exec create: an exec actor with the request's config.
caf::result<job_result> exec_create(container_self self, job& j) {
  auto& st = self->state;
  if (!j.input.match_elements<exec_config>())
    return fail(make_error(ec::invalid_argument, "exec: no exec config"));
  if (auto err = exec_refusal(st)) return fail(std::move(err));
  auto& c = j.input.get_as<exec_config>(0);
  if (c.cmd.empty() || c.cmd[0].empty())
    return fail(make_error(ec::invalid_argument, "No exec command specified"));
  exec_info info;
  info.id = io::random_hex(32);
  info.container_id = st.info.id;
  info.config = c;
  auto x = spawn_exec(self->system(), st.deps, caf::actor_cast<container_actor>(self), info,
                      event_attributes(st));
  return ok(caf::make_message(info.id, x));
}

// An exec's process, as moby's exec config: the container's environment (PATH, HOSTNAME, TERM for
// a tty) with the exec's entries replacing by key; its user, workdir, capabilities (all when
// privileged), no_new_privs and rlimits unless the exec gives its own.
exec::process_spec exec_spec(const container_actor_state& st, const exec_config& c) {
  auto s = make_spec(st);
  s.args = c.cmd;
  s.env.erase(
      std::remove_if(s.env.begin(), s.env.end(), [](auto& e) { return key_of(e) == "TERM"; }),
      s.env.end());
  auto replace_or_append = [&](const std::string& e) {
    auto k = key_of(e);
    auto it = std::find_if(s.env.begin(), s.env.end(), [&](auto& x) { return key_of(x) == k; });
    if (it != s.env.end())
      *it = e;
    else
      s.env.push_back(e);
  };
  if (c.tty) s.env.push_back("TERM=xterm");
  for (auto& e : st.info.config.env) // the container's own TERM wins
    if (key_of(e) == "TERM") replace_or_append(e);
  for (auto& e : c.env)
    replace_or_append(e);
  if (!c.user.empty()) s.user = c.user;
  if (!c.working_dir.empty()) s.cwd = c.working_dir;
  s.tty = c.tty;
  s.open_stdin = c.attach_stdin;
  s.privileged = s.privileged || c.privileged;
  s.rows = s.cols = 0;
  return s;
}

caf::result<exec_process> run_exec(container_self self, const std::string& exec_id,
                                   const exec_config& c) {
  auto& st = self->state;
  if (auto err = exec_refusal(st)) return err;
  exec::join_spec js;
  js.process = exec_spec(st, c);
  js.process.id = st.info.id;
  js.target_pid = st.proc->pid;
  auto rp = self->make_response_promise<exec_process>();
  auto target = std::make_shared<io::unique_fd>(::fcntl(st.pidfd, F_DUPFD_CLOEXEC, 0));
  auto proc = st.proc; // holds the cgroup while the exec joins it
  auto deps = st.deps;
  run_detached<exec_process>(
      self,
      [deps, proc, target, js]() mutable -> caf::expected<exec_process> {
        js.target_pidfd = target->fd;
        js.cgroup = proc->cgroup.get();
        auto p = deps->exec->exec(js);
        if (!p) return p.error();
        return exec_process{std::shared_ptr<exec::process>{std::move(*p)}};
      },
      [rp, exec_id](caf::expected<exec_process>& r) mutable {
        if (r)
          rp.deliver(std::move(*r));
        else
          rp.deliver(std::move(r.error()));
      });
  return rp;
}

// docker cp (moby's daemon/archive.go), job container_archive with env op: stat (HEAD), get
// (GET: the tar goes to the byte sink in the input) or put (PUT: args[1] the spooled body file,
// or the body in the input). Env: path, noOverwriteDirNonDir, copyUIDGID. The file work runs
// on a worker, in the running container's root or its mounted read-write layer.
caf::result<job_result> archive_job(container_self self, job& j) {
  auto& st = self->state;
  auto path = j.getenv("path");
  auto ref = j.args.at(0);
  auto graph = st.deps->graph;
  auto layer = st.info.rw_layer;
  int pid = st.proc && is_running(st.info.state) ? st.proc->pid : 0;
  std::vector<graph::bind_spec> binds; // seen in a stopped container too, as moby mounts them
  for (auto& m : st.info.mounts)
    if (m.type != "tmpfs") binds.push_back({m.host_path, m.destination, m.read_only});
  // and, as moby's setupMounts, the network files (those written at a start)
  std::pair<const std::string*, const char*> net_files[] = {
      {&st.info.hostname_path, "/etc/hostname"},
      {&st.info.hosts_path, "/etc/hosts"},
      {&st.info.resolv_conf_path, "/etc/resolv.conf"}};
  for (auto& [path, dest] : net_files)
    if (!path->empty() && pid == 0) binds.push_back({*path, dest, false});
  auto open_root = [graph, layer, pid, id = st.info.id, binds] {
    return graph::container_root::open(graph, layer, pid, id, binds);
  };
  auto not_found = [path, ref](caf::error err) {
    if (err == ec::not_found)
      return make_error(ec::not_found, "Could not find the file " + path + " in container " + ref);
    return err;
  };
  auto op = j.getenv("op");
  if (op == "stat") {
    auto rp = self->make_response_promise<job_result>();
    run_detached<container_path_stat>(
        self,
        [open_root, path, not_found]() -> caf::expected<container_path_stat> {
          auto root = open_root();
          if (!root) return root.error();
          auto s = graph::stat_path((*root)->fd(), path);
          if (!s) return not_found(s.error());
          return container_path_stat{s->name, s->size, s->mode, s->mtime_nano, s->link_target};
        },
        [rp](caf::expected<container_path_stat>& r) mutable {
          rp.deliver(r ? ok(caf::make_message(std::move(*r))) : fail(r.error()));
        });
    return rp;
  }
  if (op == "get") { // answered at once; the stream ends with the worker
    if (!j.input.match_elements<byte_sink>())
      return fail(make_error(ec::invalid_argument, "archive: no output stream"));
    auto sink = j.input.get_as<byte_sink>(0);
    run_detached<bool>(
        self,
        [open_root, path, not_found, sink]() -> caf::expected<bool> {
          auto root = open_root();
          if (!root) {
            sink.close(root.error());
            return false;
          }
          auto err = graph::archive_path((*root)->fd(), path, sink.write);
          sink.close(not_found(err)); // nothing written yet when not found: a 404
          return err != ec::not_found;
        },
        [self](caf::expected<bool>& started) {
          if (started && *started) publish(self, "archive-path");
        });
    return ok();
  }
  if (op != "put") return fail(make_error(ec::invalid_argument, "archive: unknown op " + op));
  auto file = j.args.size() > 1 ? j.args[1] : std::string{};
  auto body = j.input.match_elements<std::string>() ? j.input.get_as<std::string>(0) : "";
  graph::untar_options opts;
  opts.no_overwrite_dir_nondir = !j.getenv("noOverwriteDirNonDir").empty();
  bool copy_uid_gid = !j.getenv("copyUIDGID").empty();
  auto user = st.info.config.user;
  auto info = st.info;
  auto rp = self->make_response_promise<job_result>();
  run_detached<bool>(
      self,
      [=]() mutable -> caf::expected<bool> {
        if (copy_uid_gid &&
            !user.empty()) { // moby's tarCopyOptions: the user, looked up on the host
          auto owner = host_user(user);
          if (!owner) return owner.error();
          opts.chown = *owner;
        }
        auto root = open_root();
        if (!root) return root.error();
        io::unique_fd fd;
        io::reader src;
        if (!file.empty()) {
          fd = io::unique_fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
          if (!fd) return io::sys_error("open the request body");
          src = io::fd_reader(fd.fd);
        } else {
          src = io::string_reader(std::move(body));
        }
        auto err = graph::extract_to_dir(
            (*root)->fd(), path, std::move(src), opts,
            [&info](const std::string& resolved) { return check_writable(info, resolved); });
        if (err) return not_found(err);
        return true;
      },
      [self, rp](caf::expected<bool>& r) mutable {
        if (r) publish(self, "extract-to-dir");
        rp.deliver(r ? ok() : fail(r.error()));
      });
  return rp;
}

/// docker commit: the image store makes the image of the read-write layer; a running container
/// is frozen meanwhile unless env pause is "0" (moby's commit, without the pause events).
/// args: container, repo, tag, comment, author; input: the changes, the request's config JSON and
/// the container's Config JSON (as the image store's image_commit takes them).
caf::result<job_result> commit_job(container_self self, job& j) {
  auto& st = self->state;
  auto& s = st.info.state;
  if (s.status == container_status::dead)
    return fail(
        make_error(ec::conflict, "You cannot commit container " + st.info.id + " which is Dead"));
  auto arg = [&](std::size_t i) { return i < j.args.size() ? j.args[i] : std::string{}; };
  job store_job{"image_commit",
                {st.info.id, st.info.rw_layer, st.info.image_id, arg(1), arg(2), arg(3), arg(4)},
                {},
                j.input};
  bool freeze = j.getenv("pause", "1") == "1" && s.status == container_status::running && st.proc &&
                st.proc->cgroup;
  auto proc = freeze ? st.proc : nullptr;
  auto rp = self->make_response_promise<job_result>();
  auto thaw = [proc] {
    if (proc)
      if (auto err = proc->cgroup->thaw())
        BLOG(warn, "container") << "commit: thaw: " << error_message(err);
  };
  auto comment = arg(3);
  auto commit = [self, rp, store_job, thaw, comment]() mutable {
    self->request(self->state.deps->images, caf::infinite, store_job)
        .then(
            [self, rp, thaw, comment](job_result& r) mutable {
              thaw();
              if (r.status == status_ok && r.output.match_elements<std::string, std::string>())
                publish(self, "commit",
                        {{"comment", comment},
                         {"imageID", r.output.get_as<std::string>(0)},
                         {"imageRef", r.output.get_as<std::string>(1)}});
              rp.deliver(std::move(r));
            },
            [rp, thaw](caf::error& err) mutable {
              thaw();
              rp.deliver(fail(std::move(err)));
            });
  };
  if (!proc) {
    commit();
    return rp;
  }
  run_detached<bool>(
      self,
      [proc]() -> caf::expected<bool> {
        if (auto err = proc->cgroup->freeze()) return err;
        return true;
      },
      [rp, commit](caf::expected<bool>& r) mutable {
        if (!r) {
          rp.deliver(fail(r.error()));
          return;
        }
        commit();
      });
  return rp;
}

// docker network connect (args: container, network; input: endpoint_config): the network
// joins the container's config, and a running container gets its endpoint at once, as eth<N>.
caf::result<job_result> network_connect(container_self self, job& j) {
  auto& st = self->state;
  endpoint_config cfg;
  if (j.input.match_elements<endpoint_config>()) cfg = j.input.get_as<endpoint_config>(0);
  cfg.network = j.args.size() > 1 ? j.args[1] : std::string{};
  auto& mode = st.info.config.host.network_mode;
  if (mode == "host")
    return fail(make_error(ec::invalid_argument, "container cannot be disconnected from host "
                                                 "network or connected to host network"));
  if (mode == "none")
    return fail(make_error(ec::invalid_argument, "container cannot be connected to multiple "
                                                 "networks with one of the networks in private "
                                                 "(none) mode"));
  if (mode.rfind("container:", 0) == 0)
    return fail(make_error(ec::invalid_argument, "container sharing network namespace with "
                                                 "another container or host cannot be connected "
                                                 "to any other network"));
  if (!st.deps->network)
    return fail(make_error(ec::not_implemented, "this daemon runs without networks"));
  auto rp = self->make_response_promise<job_result>();
  self->request(st.deps->network, caf::infinite, caf::get_atom_v, cfg.network)
      .then(
          [self, rp, cfg](network_info& n) mutable {
            auto& st = self->state;
            if (n.driver == "host") {
              rp.deliver(
                  fail(make_error(ec::invalid_argument, "container cannot be disconnected from "
                                                        "host network or connected to host "
                                                        "network")));
              return;
            }
            if (n.driver == "null") {
              rp.deliver(fail(make_error(ec::invalid_argument,
                                         "container cannot be connected to multiple networks "
                                         "with one of the networks in private (none) mode")));
              return;
            }
            auto& eps = st.info.config.endpoints;
            if (std::any_of(eps.begin(), eps.end(),
                            [&](auto& e) { return e.network == n.name || e.network == n.id; })) {
              rp.deliver(
                  fail(make_error(ec::forbidden, "endpoint with name " + st.info.name.substr(1) +
                                                     " already exists in network " + n.name)));
              return;
            }
            cfg.network = n.name;
            if (n.name == "bridge" && !cfg.aliases.empty()) {
              rp.deliver(fail(make_error(ec::invalid_argument,
                                         "network-scoped alias is supported only for "
                                         "containers in user defined networks")));
              return;
            }
            if (!is_running(st.info.state) || !st.proc || st.starting) {
              eps.push_back(cfg);
              persist(self);
              {
                rp.deliver(ok());
                return;
              }
            }
            self->request(st.deps->network, caf::infinite, caf::connect_atom_v, st.info.id,
                          st.info.name.substr(1), cfg)
                .then(
                    [self, rp, cfg](network_endpoint& ep) mutable {
                      auto& st = self->state;
                      for (int i = 0;; ++i) { // the lowest free eth<N>
                        auto name = "eth" + std::to_string(i);
                        if (std::none_of(st.info.networks.begin(), st.info.networks.end(),
                                         [&](auto& e) { return e.ifname == name; })) {
                          ep.ifname = name;
                          break;
                        }
                      }
                      auto wire = wiring_of(ep);
                      if (!st.info.networks.empty()) wire.gateway = 0;
                      wire.netns_path = "/proc/" + std::to_string(st.proc->pid) + "/ns/net";
                      auto dns = ep.dns ? st.deps->dns : dns_actor{};
                      // its first user-defined network: resolv.conf turns to the embedded server
                      std::string resolv;
                      if (dns && std::none_of(st.info.networks.begin(), st.info.networks.end(),
                                              [](auto& e) { return e.dns; }))
                        resolv = resolv_conf_of(st, false, true);
                      run_detached<bool>(
                          self,
                          [wire, bridge = ep.bridge, dns, id = st.info.id, sys = &self->system(),
                           upstreams = st.info.config.host.dns, resolv,
                           resolv_path = st.info.resolv_conf_path]() -> caf::expected<bool> {
                            if (auto err = net::attach(bridge, wire)) return err;
                            if (dns)
                              if (auto err = serve_dns(*sys, dns, id, wire.netns_path, upstreams))
                                return err;
                            if (!resolv.empty() && !resolv_path.empty())
                              if (auto err = io::write_file_in_place(resolv_path, resolv))
                                BLOG(warn, "container")
                                    << short_id(id) << ": " << error_message(err);
                            return true;
                          },
                          [self, rp, cfg, ep](caf::expected<bool>& r) mutable {
                            auto& st = self->state;
                            if (!r) {
                              self->request(st.deps->network, caf::infinite, atom::disconnect_v,
                                            st.info.id, ep.network_id)
                                  .then([](caf::ok_atom) {}, [](caf::error&) {});
                              {
                                rp.deliver(fail(r.error()));
                                return;
                              }
                            }
                            st.info.networks.push_back(ep);
                            st.info.config.endpoints.push_back(cfg);
                            persist(self);
                            rp.deliver(ok());
                          });
                    },
                    [rp](caf::error& err) mutable { rp.deliver(fail(err)); });
          },
          [rp](caf::error& err) mutable { rp.deliver(fail(err)); });
  return rp;
}

// docker network disconnect (args: container, network; env force): the network leaves the
// container's config, and a running container's endpoint goes.
caf::result<job_result> network_disconnect(container_self self, job& j) {
  auto& st = self->state;
  auto ref = j.args.size() > 1 ? j.args[1] : std::string{};
  bool force = j.getenv("force") == "1";
  auto& mode = st.info.config.host.network_mode;
  if (mode == "host")
    return fail(make_error(ec::invalid_argument, "container cannot be disconnected from host "
                                                 "network or connected to host network"));
  if (!st.deps->network)
    return fail(make_error(ec::not_implemented, "this daemon runs without networks"));
  auto rp = self->make_response_promise<job_result>();
  auto drop = [self](const std::string& name, const std::string& id) {
    auto& eps = self->state.info.config.endpoints;
    auto before = eps.size();
    eps.erase(std::remove_if(eps.begin(), eps.end(),
                             [&](auto& e) { return e.network == name || e.network == id; }),
              eps.end());
    return before != eps.size();
  };
  self->request(st.deps->network, caf::infinite, caf::get_atom_v, ref)
      .then(
          [self, rp, drop](network_info& n) mutable {
            auto& st = self->state;
            auto& nets = st.info.networks;
            auto it = std::find_if(nets.begin(), nets.end(),
                                   [&](auto& e) { return e.network_id == n.id; });
            bool configured = drop(n.name, n.id);
            if (it == nets.end()) {
              if (!configured) {
                rp.deliver(fail(make_error(ec::forbidden, "container " + st.info.id +
                                                              " is not connected to "
                                                              "network " +
                                                              n.name)));
                return;
              }
              persist(self);
              {
                rp.deliver(ok());
                return;
              }
            }
            nets.erase(it);
            persist(self);
            self->request(st.deps->network, caf::infinite, atom::disconnect_v, st.info.id, n.id)
                .then([rp](caf::ok_atom) mutable { rp.deliver(ok()); },
                      [rp](caf::error& err) mutable { rp.deliver(fail(err)); });
          },
          [self, rp, drop, ref, force](caf::error& err) mutable {
            // a network gone: --force still takes it out of the container's config
            if (force && drop(ref, ref)) {
              persist(self);
              {
                rp.deliver(ok());
                return;
              }
            }
            rp.deliver(fail(err));
          });
  return rp;
}

caf::result<job_result> handle_job(container_self self, job& j) {
  auto& st = self->state;
  auto& s = st.info.state;
  if (st.removing && j.name != "container_inspect" && j.name != "container_wait" &&
      j.name != "container_logs")
    return fail(make_error(ec::conflict, "removal of container " + st.info.id.substr(0, 12) +
                                             " is already in progress"));
  if (j.name == "container_inspect") return ok(caf::make_message(st.info));
  if (j.name == "container_update") return update(self, j);
  if (j.name == "container_exec_create") return exec_create(self, j);
  if (j.name == "container_rename") { // the manager checked the name and holds it
    auto old = st.info.name;
    st.info.name = j.args.at(1);
    persist(self);
    publish(self, "rename", {{"oldName", old}});
    return ok();
  }
  if (j.name == "container_export") { // the stream ends (or is cut) when the worker is done
    if (!j.input.match_elements<byte_sink>())
      return fail(make_error(ec::invalid_argument, "export: no output stream"));
    auto sink = j.input.get_as<byte_sink>(0);
    auto graph = st.deps->graph;
    auto layer = st.info.rw_layer;
    run_detached<bool>(
        self,
        [graph, layer, sink]() -> caf::expected<bool> {
          sink.close(graph->export_tar(layer, sink.write));
          return true;
        },
        [](caf::expected<bool>&) {});
    return ok();
  }
  if (j.name == "container_archive") return archive_job(self, j);
  if (j.name == "container_commit") return commit_job(self, j);
  if (j.name == "container_network_connect") return network_connect(self, j);
  if (j.name == "container_network_disconnect") return network_disconnect(self, j);
  if (j.name == "container_top") { // ps on the host, the rows of the container's cgroup
    if (s.status == container_status::restarting)
      return fail(make_error(ec::conflict, "Container " + st.info.id +
                                               " is restarting, wait until the container is "
                                               "running"));
    if (!is_running(s) || !st.proc || !st.proc->cgroup) return fail(not_running(st));
    auto pids = st.proc->cgroup->pids();
    if (!pids) return fail(pids.error());
    auto rp = self->make_response_promise<job_result>();
    auto ps_args = j.getenv("ps_args");
    run_detached<top_result>(
        self,
        [pids = *pids, ps_args]() -> caf::expected<top_result> {
          auto t = exec::top(pids, ps_args);
          if (!t) return t.error();
          return top_result{std::move(t->first), std::move(t->second)};
        },
        [rp](caf::expected<top_result>& r) mutable {
          rp.deliver(r ? ok(caf::make_message(std::move(*r))) : fail(r.error()));
        });
    return rp;
  }
  if (j.name == "container_stats") { // docker stats: one sample, read off the actor thread
    container_stats empty; // moby's stats of a container that does not run: name and ID only
    empty.id = st.info.id;
    empty.name = st.info.name;
    if (s.status == container_status::restarting || !is_running(s) || !st.proc || !st.proc->cgroup)
      return ok(caf::make_message(std::move(empty)));
    auto rp = self->make_response_promise<job_result>();
    auto& mode = st.info.config.host.network_mode;
    bool networks = mode != "host" && mode != "none"; // moby reports neither's interfaces
    run_detached<container_stats>(
        self,
        [proc = st.proc, networks]() -> caf::expected<container_stats> {
          return exec::sample_stats(*proc->cgroup, proc->pid, networks);
        },
        [rp, empty](caf::expected<container_stats>& r) mutable {
          if (!r) { // it stopped meanwhile (the cgroup is gone), or a read failed
            if (r.error() != ec::not_found)
              BLOG(warn, "container")
                  << short_id(empty.id) << ": stats: " << error_message(r.error());
            rp.deliver(ok(caf::make_message(std::move(empty))));
            return;
          }
          r->id = empty.id;
          r->name = empty.name;
          rp.deliver(ok(caf::make_message(std::move(*r))));
        });
    return rp;
  }
  if (j.name == "container_changes") { // docker diff: the read-write layer against the image
    auto rp = self->make_response_promise<job_result>();
    auto graph = st.deps->graph;
    auto layer = st.info.rw_layer;
    run_detached<std::vector<fs_change>>(
        self,
        [graph, layer]() -> caf::expected<std::vector<fs_change>> {
          auto changes = graph->changes(layer);
          if (!changes) return changes.error();
          std::vector<fs_change> out;
          out.reserve(changes->size());
          for (auto& c : *changes)
            out.push_back({c.path, static_cast<int32_t>(c.kind)});
          return out;
        },
        [rp](caf::expected<std::vector<fs_change>>& r) mutable {
          rp.deliver(r ? ok(caf::make_message(std::move(*r))) : fail(r.error()));
        });
    return rp;
  }
  if (j.name == "container_start") {
    if (s.status == container_status::running || st.starting)
      return fail(make_error(ec::not_modified, "Container already started"));
    if (s.status == container_status::paused)
      return fail(make_error(ec::conflict, "cannot start a paused container, try unpause instead"));
    auto rp = self->make_response_promise<job_result>();
    s.has_been_manually_stopped = false;
    if (s.status == container_status::restarting) st.restart_timer = 0;
    do_start(self, answer_to(rp), false);
    return rp;
  }
  if (j.name == "container_stop") {
    if (!is_running(s) && !st.starting)
      return fail(make_error(ec::not_modified, "Container already stopped"));
    auto rp = self->make_response_promise<job_result>();
    st.exit_promises.push_back(rp);
    begin_stop(self, stop_timeout_of(st, j));
    publish(self, "stop");
    return rp;
  }
  if (j.name == "container_restart") {
    if (st.starting) return fail(make_error(ec::conflict, "Container is starting"));
    auto rp = self->make_response_promise<job_result>();
    if (is_running(s) && s.status != container_status::restarting) {
      // answered once the new process runs (finish_exit starts it)
      st.restart_after_exit = true;
      st.restart_promises.push_back(rp);
      begin_stop(self, stop_timeout_of(st, j));
      return rp;
    }
    st.restart_timer = 0;
    s.has_been_manually_stopped = false;
    do_start(self, answer_to(rp), false);
    publish(self, "restart");
    return rp;
  }
  if (j.name == "container_kill") {
    auto it = j.env.find("signal");
    auto name = it == j.env.end() || it->second.empty() ? std::string{"KILL"} : it->second;
    auto sig = exec::parse_signal(name);
    if (sig <= 0) return fail(make_error(ec::invalid_argument, "Invalid signal: " + name));
    if ((s.status != container_status::running && s.status != container_status::paused) || !st.proc)
      return fail(make_error(ec::conflict, "Cannot kill container: " + j.args[0] + ": " +
                                               error_message(not_running(st))));
    if (auto e = send_signal(st.proc->pidfd, st.proc->pid, sig); e != 0)
      return fail(make_error(ec::system, std::string{"Cannot kill container: "} + j.args[0] + ": " +
                                             std::strerror(e)));
    publish(self, "kill", {{"signal", std::to_string(sig)}});
    if (sig != SIGKILL) return ok();
    thaw_after_signal(self);
    // moby's Kill: the answer waits for the exit (up to 2 s), so the container is not running
    // when docker kill returns
    auto rp = self->make_response_promise<job_result>();
    st.waiters.push_back(waiter{"kill", rp, {}, arm_timer(self, std::chrono::seconds{2})});
    return rp;
  }
  if (j.name == "container_pause" || j.name == "container_unpause") {
    bool pause = j.name == "container_pause";
    auto conflict = [&](const std::string& why) {
      return fail(make_error(ec::conflict, "Container " + st.info.id + " " + why));
    };
    if (pause && s.status == container_status::paused) return conflict("is already paused");
    if (pause && s.status == container_status::restarting)
      return conflict("is restarting, wait until the container is running");
    if (!pause && s.status != container_status::paused) return conflict("is not paused");
    if (!is_running(s) || !st.proc) return fail(not_running(st));
    if (!st.proc->cgroup)
      return fail(make_error(ec::not_implemented, "the container has no freezer cgroup"));
    auto rp = self->make_response_promise<job_result>();
    auto proc = st.proc;
    run_detached<bool>(
        self,
        [proc, pause]() -> caf::expected<bool> {
          if (auto err = pause ? proc->cgroup->freeze() : proc->cgroup->thaw()) return err;
          return true;
        },
        [self, rp, pause, proc](caf::expected<bool>& r) mutable {
          auto& st = self->state;
          if (!r) {
            rp.deliver(fail(r.error()));
            return;
          }
          // the process may have gone meanwhile: only its own run changes state
          if (st.proc == proc && is_running(st.info.state)) {
            st.info.state.status = pause ? container_status::paused : container_status::running;
            persist(self);
            publish(self, pause ? "pause" : "unpause");
          }
          rp.deliver(ok());
        });
    return rp;
  }
  if (j.name == "container_wait") {
    auto it = j.env.find("condition");
    auto cond = it == j.env.end() || it->second.empty() ? std::string{"not-running"} : it->second;
    if (cond != "not-running" && cond != "next-exit" && cond != "removed")
      return fail(make_error(ec::invalid_argument, "invalid condition: \"" + cond + "\""));
    if (cond == "not-running" && !is_running(s) && !st.starting)
      return ok(caf::make_message(wait_result{s.exit_code, s.error}));
    auto rp = self->make_response_promise<job_result>();
    caf::actor_addr watcher;
    if (j.input.match_elements<stream_sink_actor>()) {
      auto w = j.input.get_as<stream_sink_actor>(0);
      self->monitor(w);
      watcher = w.address();
    }
    st.waiters.push_back(waiter{cond, rp, watcher});
    return rp;
  }
  if (j.name == "container_delete") {
    auto force = j.env.count("force") > 0;
    if (j.env.count("v")) st.remove_volumes = true;
    // (a promise is made only once the answer is deferred: a dropped one is a broken promise)
    if ((is_running(s) || st.starting) && !force)
      return fail(make_error(ec::conflict, "You cannot remove a running container " + st.info.id +
                                               ". Stop the container before attempting removal "
                                               "or force remove"));
    auto rp = self->make_response_promise<job_result>();
    if (is_running(s) || st.starting) {
      st.removing = true;
      st.remove_promises.push_back(rp);
      s.has_been_manually_stopped = true;
      if (st.proc) {
        kill_now(self);
      } else if (s.status == container_status::restarting) {
        begin_stop(self, 0);
      }
      return rp; // removed once the exit is finished
    }
    st.remove_promises.push_back(rp);
    do_remove(self);
    return rp;
  }
  if (j.name == "container_attach") {
    if (!j.input.match_elements<stream_sink_actor>())
      return fail(make_error(ec::invalid_argument, "attach: no stream"));
    attachment a;
    a.sink = j.input.get_as<stream_sink_actor>(0);
    a.out = j.env.count("stdout") > 0;
    a.err = j.env.count("stderr") > 0;
    a.in = j.env.count("stdin") > 0;
    if (j.env.count("logs") > 0 && st.info.log_type == "json-file") {
      // logs=1: what was written so far comes first (docker-py and compose ask for it)
      logs::query q;
      q.stdout = a.out;
      q.stderr = a.err;
      if (auto err = replay_log(self, a.sink, q, false)) {
        self->send(a.sink, atom::done_v, err);
        return ok(caf::make_message(caf::actor_cast<container_actor>(self)));
      }
    }
    publish(self, "attach");
    if (j.env.count("stream") == 0 && j.env.count("logs") > 0) {
      // logs only: nothing live follows
      self->send(a.sink, atom::done_v, caf::error{});
      return ok(caf::make_message(caf::actor_cast<container_actor>(self)));
    }
    self->monitor(a.sink);
    st.attached.push_back(a);
    return ok(caf::make_message(caf::actor_cast<container_actor>(self)));
  }
  if (j.name == "container_resize") {
    if (s.status != container_status::running) return fail(not_running(st));
    uint16_t h = 0, w = 0;
    try {
      h = static_cast<uint16_t>(std::stoul(j.env["h"]));
      w = static_cast<uint16_t>(std::stoul(j.env["w"]));
    } catch (...) {
      return fail(make_error(ec::invalid_argument, "invalid resize parameters"));
    }
    if (st.resize_fd >= 0) {
      if (auto err = exec::resize_pty(st.resize_fd, h, w)) return fail(std::move(err));
    }
    publish(self, "resize", {{"height", std::to_string(h)}, {"width", std::to_string(w)}});
    return ok();
  }
  if (j.name == "container_logs") {
    if (st.info.log_type != "json-file")
      return fail(
          make_error(ec::not_implemented, "configured logging driver does not support reading"));
    if (!j.input.match_elements<stream_sink_actor>())
      return fail(make_error(ec::invalid_argument, "logs: no stream"));
    auto sink = j.input.get_as<stream_sink_actor>(0);
    logs::query q;
    q.stdout = j.env.count("stdout") > 0;
    q.stderr = j.env.count("stderr") > 0;
    auto num = [&](const char* k, int64_t d) {
      auto it = j.env.find(k);
      return it == j.env.end() ? d : std::stoll(it->second);
    };
    q.tail = num("tail", -1);
    q.since_nano = num("since", 0);
    q.until_nano = num("until", 0);
    bool timestamps = j.env.count("timestamps") > 0;
    bool follow = j.env.count("follow") > 0;
    auto err = replay_log(self, sink, q, timestamps);
    if (err) {
      self->send(sink, atom::done_v, err);
      return ok();
    }
    if (follow && (is_running(s) || st.starting) && q.until_nano == 0) {
      attachment a;
      a.sink = sink;
      a.out = q.stdout;
      a.err = q.stderr;
      a.logs_follow = true;
      a.timestamps = timestamps;
      self->monitor(sink);
      st.attached.push_back(a);
    } else {
      self->send(sink, atom::done_v, caf::error{});
    }
    return ok();
  }
  return fail(make_error(ec::command_not_found, "container: unknown job " + j.name));
}

// A container loaded at start is restored (cleaned up after a crash, started again by its policy
// or left as it was): the manager answers the daemon's wait once every one is.
void restored(container_self self) {
  auto& st = self->state;
  if (!std::exchange(st.at_boot, false)) return;
  self->send(st.manager, atom::restored_v, st.info.id);
}

container_actor::behavior_type container_behavior(container_self self,
                                                  std::shared_ptr<const container_deps> deps,
                                                  container_manager_actor manager,
                                                  container_info info, bool recovered,
                                                  bool at_boot) {
  auto& st = self->state;
  st.at_boot = at_boot;
  st.deps = std::move(deps);
  st.manager = std::move(manager);
  st.info = std::move(info);
  st.dir = st.deps->data_root + "/containers/" + st.info.id;
  st.restart_delay = restart_delay_min;
  st.info.networks.clear(); // endpoints of a run before a daemon restart are gone
  self->set_down_handler([self](const caf::down_msg& m) {
    auto& v = self->state.attached;
    v.erase(
        std::remove_if(v.begin(), v.end(), [&](auto& a) { return a.sink.address() == m.source; }),
        v.end());
    // a waiter whose client went away (docker run -d drops its wait) ends now, not at the exit
    auto& w = self->state.waiters;
    for (auto it = w.begin(); it != w.end();) {
      if (it->watcher && it->watcher == m.source) {
        it->rp.deliver(fail(make_error(ec::unavailable, "the client went away")));
        it = w.erase(it);
      } else {
        ++it;
      }
    }
  });
  if (recovered) {
    // The daemon died while this container ran: its processes, cgroup and mount are leftovers.
    auto& s = st.info.state;
    auto deps2 = st.deps;
    auto id = st.info.id;
    auto parent = st.info.config.host.cgroup_parent;
    auto layer = st.info.rw_layer;
    run_detached<bool>(
        self,
        [deps2, id, parent, layer]() -> caf::expected<bool> {
          if (auto g = deps2->exec->open_group(parent, id)) {
            (*g)->kill_all();
            (*g)->remove();
          }
          deps2->graph->unmount(layer);
          return true;
        },
        [self](caf::expected<bool>&) {
          auto& st = self->state;
          auto& s = st.info.state;
          s.status = container_status::exited;
          s.pid = 0;
          s.exit_code = 255;
          s.finished_at_nano = now_nano();
          persist(self);
          if (restarts_at_boot(st)) {
            do_start(
                self, [self](const caf::error&) { restored(self); }, true);
            return;
          }
          restored(self);
          if (st.info.config.host.auto_remove) do_remove(self);
        });
    (void)s;
  } else if (st.info.state.status == container_status::exited && restarts_at_boot(st)) {
    // stopped by a daemon shutdown (or before): the policy starts it again, as moby's restore
    // (restored once that first start is over)
    st.info.state.status = container_status::restarting;
    st.restart_timer = arm_timer(self, std::chrono::milliseconds{0});
  } else {
    restored(self);
  }
  return {
      [self](job& j) -> caf::result<job_result> { return handle_job(self, j); },
      [self](atom::run, const std::string& exec_id, const exec_config& c)
          -> caf::result<exec_process> { return run_exec(self, exec_id, c); },
      [self](atom::stdin, std::string& data) {
        auto& st = self->state;
        if (data.empty()) { // the client half-closed
          if (st.stdin_h != 0 && st.info.config.stdin_once)
            st.deps->reactor->close_input(std::exchange(st.stdin_h, 0));
          else if (st.stdin_h == 0)
            st.stdin_eof = true;
          return;
        }
        if (st.stdin_h != 0) {
          st.deps->reactor->write(st.stdin_h, std::move(data));
        } else if (!is_running(st.info.state) || st.starting) {
          if (st.stdin_buffer.size() + data.size() <= attach_buffer_limit) st.stdin_buffer += data;
        }
      },
      [self](atom::output, uint8_t stream, std::string& data, uint64_t gen) {
        auto& st = self->state;
        if (gen != st.gen) return;
        if (!data.empty()) {
          deliver_output(self, stream, data, now_nano());
          return;
        }
        if (--st.open_streams == 0 && st.exit_seen) finish_exit(self);
      },
      [self](atom::exited, int status, uint64_t gen) {
        auto& st = self->state;
        if (gen != st.gen) return;
        st.exit_seen = true;
        st.wait_status = status;
        if (st.open_streams <= 0) finish_exit(self);
      },
      [self](atom::deadline, uint64_t n) {
        auto& st = self->state;
        if (n == st.kill_timer && st.kill_timer != 0) {
          st.kill_timer = 0;
          if (st.proc) kill_now(self);
        } else if (n == st.restart_timer && st.restart_timer != 0) {
          st.restart_timer = 0;
          if (st.info.state.status != container_status::restarting) {
            restored(self);
            return;
          }
          do_start(
              self,
              [self](const caf::error& err) {
                if (err)
                  BLOG(warn, "container")
                      << short_id(self->state.info.id) << ": restart: " << error_message(err);
                restored(self);
              },
              true);
        } else {
          auto& w = st.waiters;
          auto it = std::find_if(w.begin(), w.end(),
                                 [n](auto& x) { return x.condition == "kill" && x.timer == n; });
          if (it == w.end()) return;
          it->rp.deliver(ok());
          w.erase(it);
        }
      },
      [self](atom::shutdown) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (!is_running(st.info.state)) return caf::ok_atom_v;
        auto rp = self->make_response_promise<caf::ok_atom>();
        st.shutting_down = true;
        auto manual = st.info.state.has_been_manually_stopped;
        begin_stop(self, st.deps->shutdown_timeout);
        thaw_after_signal(self);
        // A daemon stop is not a manual stop: the next start may restart it by its policy.
        st.info.state.has_been_manually_stopped = manual;
        if (st.info.state.status == container_status::exited)
          rp.deliver(caf::ok_atom_v); // it was only waiting to restart
        else
          st.shutdown_promises.push_back(rp);
        return rp;
      },
  };
}

} // namespace

container_actor spawn_container(caf::actor_system& sys, std::shared_ptr<const container_deps> deps,
                                container_manager_actor manager, container_info info,
                                bool recovered, bool at_boot) {
  return sys.spawn(container_behavior, std::move(deps), std::move(manager), std::move(info),
                   recovered, at_boot);
}

} // namespace berth
