#include "actors/daemon/daemon.hpp"

#include "actors/containers/manager.hpp"
#include "actors/daemon/config.hpp"
#include "actors/engine.hpp"
#include "actors/events.hpp"
#include "actors/host.hpp"
#include "actors/images/store.hpp"
#include "actors/log.hpp"
#include "actors/network/controller.hpp"
#include "actors/network/dns.hpp"
#include "actors/registry/registry.hpp"
#include "actors/volumes/store.hpp"
#include "api/containers.hpp"
#include "api/images.hpp"
#include "api/networks.hpp"
#include "api/server.hpp"
#include "api/system.hpp"
#include "api/volumes.hpp"
#include "drivers/exec/driver.hpp"
#include "drivers/exec/reactor.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"
#include "messages/defaults.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <openssl/rand.h>
#include <systemd/sd-daemon.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

namespace berth::daemon {

namespace {

// The nameservers of the host's /etc/resolv.conf.
std::vector<std::string> host_nameservers() {
  std::vector<std::string> out;
  auto data = io::read_file("/etc/resolv.conf");
  if (!data) return out;
  std::istringstream in{*data};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words{line};
    std::string key, value;
    if (words >> key >> value && key == "nameserver") out.push_back(value);
  }
  return out;
}

caf::error sys_error(const std::string& what) {
  return make_error(ec::system, what + ": " + std::strerror(errno));
}

caf::error mkdir_p(const std::string& path, mode_t mode) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      auto part = path.substr(0, i);
      if (::mkdir(part.c_str(), i == path.size() ? mode : 0755) != 0 && errno != EEXIST)
        return sys_error("cannot create " + part);
    }
  }
  return caf::none;
}

std::string uuid4() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1)
    for (auto& x : b)
      x = static_cast<unsigned char>(std::rand());
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

log::level effective_level(const daemon_config& cfg) {
  if (cfg.debug) return log::level::debug;
  return log::parse_level(cfg.log_level).value_or(log::level::info);
}

struct berth_system_config : caf::actor_system_config {
  explicit berth_system_config(int64_t threads) {
    register_messages(*this);
    set("scheduler.max-threads", std::max<int64_t>(threads, 2));
    set("logger.verbosity", caf::atom("quiet"));
  }
};

void publish_reload(const events_actor& events, const std::string& id, const daemon_config& cfg,
                    const std::string& hostname) {
  event ev;
  ev.type = "daemon";
  ev.action = "reload";
  ev.actor_id = id;
  ev.attributes = config::reload_attributes(cfg);
  ev.attributes["name"] = hostname;
  caf::anon_send(events, caf::publish_atom_v, std::move(ev));
}

} // namespace

caf::error write_atomic(const std::string& path, const std::string& content, unsigned mode) {
  auto tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return sys_error("cannot create " + tmp);
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    auto n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = sys_error("cannot write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return sys_error("cannot sync " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return sys_error("cannot rename " + tmp);
  }
  return caf::none;
}

caf::error create_pidfile(const std::string& path) {
  auto text = host::read_file(path);
  if (!text.empty()) {
    auto pid = std::atol(text.c_str());
    if (pid > 0 && pid != ::getpid() &&
        ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0)
      return make_error(ec::conflict, "pid file found, ensure berthd is not running or delete " +
                                          path + " (it names running process " +
                                          std::to_string(pid) + ")");
  }
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0)
    if (auto err = mkdir_p(path.substr(0, slash), 0755)) return err;
  return write_atomic(path, std::to_string(::getpid()) + "\n", 0644);
}

caf::expected<std::string> engine_id(const std::string& data_root) {
  auto path = data_root + "/engine-id";
  auto text = host::read_file(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  if (text.size() == 36) return text;
  auto id = uuid4();
  if (auto err = write_atomic(path, id + "\n", 0600)) return err;
  return id;
}

int run(int argc, char** argv) {
  // Signals are taken synchronously by the main thread: block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
    sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = config::parse_flags(args);
  if (!flags) {
    auto msg = error_message(flags.error());
    std::cerr << "berthd: " << msg << "\n";
    if (msg.find("accepts no arguments") != std::string::npos)
      std::cerr << "\n" << config::usage();
    else
      std::cerr << "See 'berthd --help'.\n";
    return 1;
  }
  if (flags->help) {
    std::cout << config::usage();
    return 0;
  }
  if (flags->version) {
    std::cout << "berthd version " << version_string() << ", API " << defaults::api_version << "\n";
    return 0;
  }
  auto loaded = config::load(*flags);
  if (!loaded) {
    std::cerr << "berthd: " << error_message(loaded.error()) << "\n";
    return 1;
  }
  daemon_config cfg = std::move(*loaded);
  log::init(effective_level(cfg));
  BLOG(info, "daemon") << "starting berthd " << version_string() << " (API "
                       << defaults::api_version << ")";
  for (auto* dir : {&cfg.data_root, &cfg.exec_root})
    if (auto err = mkdir_p(*dir, dir == &cfg.data_root ? 0711 : 0700)) {
      BLOG(error, "daemon") << error_message(err);
      return 1;
    }
  if (auto err = create_pidfile(cfg.pidfile)) {
    BLOG(error, "daemon") << error_message(err);
    return 1;
  }
  auto pidfile = cfg.pidfile;
  struct pid_guard {
    std::string path;
    ~pid_guard() { ::unlink(path.c_str()); }
  } pid_cleanup{pidfile};
  auto id = engine_id(cfg.data_root);
  if (!id) {
    BLOG(error, "daemon") << error_message(id.error());
    return 1;
  }
  auto facts = host::read_facts();
  auto made = graph::make_driver(cfg.storage_driver, cfg.data_root);
  if (!made) {
    BLOG(error, "daemon") << "storage driver: " << error_message(made.error());
    return 1;
  }
  std::shared_ptr<graph::driver> driver = std::move(*made);
  auto storage = driver->name();

  std::shared_ptr<api::server> server; // outlives the actor system: sessions hold its sockets
  berth_system_config sys_cfg{facts.ncpu};
  caf::actor_system sys{sys_cfg};
  std::vector<std::vector<std::string>> driver_status;
  for (auto& [k, v] : driver->status())
    driver_status.push_back({k, v});
  auto engine = spawn_engine(sys, engine_options{cfg, facts, *id, storage, driver_status});
  if (!engine) {
    BLOG(error, "daemon") << error_message(engine.error());
    return 1;
  }
  auto events = spawn_events(sys, events_options{*engine});
  if (!events) {
    BLOG(error, "daemon") << error_message(events.error());
    caf::anon_send_exit(*engine, caf::exit_reason::user_shutdown);
    return 1;
  }
  auto registry =
      spawn_registry(sys, registry_options_in{cfg, "linux", facts.go_arch,
                                              facts.go_arch == "arm64" ? "v8" : "", *engine});
  auto images = registry ? spawn_image_store(sys, image_store_options{cfg.data_root, driver,
                                                                      cfg.max_concurrent_downloads,
                                                                      *engine, *events, *registry})
                         : caf::expected<image_store_actor>{registry.error()};
  auto volumes = spawn_volume_store(sys, volume_store_options{cfg.data_root, *engine, *events});
  // The embedded DNS server of user-defined networks forwards other names to the daemon's --dns
  // servers, else the host's (from the host's namespace, so loopback resolvers work).
  auto dns = spawn_dns(sys, cfg.dns.empty() ? host_nameservers() : cfg.dns);
  auto network = spawn_network_controller(
      sys, network_controller_options{cfg.data_root, cfg, *engine, *events, dns});
  // Containers: the exec driver, the process reactor and the container manager.
  std::shared_ptr<exec::reactor> reactor;
  caf::expected<container_manager_actor> containers{caf::error{}};
  if (!volumes) containers = volumes.error();
  if (!network) containers = network.error();
  if (images && volumes && network) {
    auto deps = std::make_shared<container_deps>();
    deps->data_root = cfg.data_root;
    deps->graph = driver;
    deps->events = *events;
    deps->network = *network;
    deps->dns = dns;
    deps->default_dns = cfg.dns;
    deps->default_dns_search = cfg.dns_search;
    {
      caf::scoped_actor self{sys};
      self->request(*network, std::chrono::seconds{5}, caf::get_atom_v, std::string{"bridge"})
          .receive([&](network_info& n) { deps->host_gateway_ip = n.gateway; },
                   [](caf::error&) {}); // -b none: no host-gateway
    }
    deps->bridge = cfg.bridge != "none";
    deps->log_driver = cfg.log_driver;
    for (auto& o : cfg.log_opts)
      if (auto eq = o.find('='); eq != std::string::npos)
        deps->log_opts[o.substr(0, eq)] = o.substr(eq + 1);
    deps->shutdown_timeout = cfg.shutdown_timeout;
    deps->init = cfg.init;
    // The default runtime picks the driver: native, or oci with that runtime's binary.
    caf::expected<std::unique_ptr<exec::driver>> exec_driver{caf::error{}};
    auto table = config::runtimes(cfg);
    deps->default_runtime = config::default_runtime(cfg);
    for (auto& [name, rt] : table)
      deps->runtimes.insert(name);
    auto& rt = table[deps->default_runtime];
    if (rt.path.empty())
      exec_driver = exec::make_native(exec::default_helper_path());
    else
      exec_driver = exec::make_oci(rt.path, cfg.exec_root + "/oci", exec::default_helper_path(),
                                   "/sys/fs/cgroup", rt.args);
    auto r = exec::reactor::start();
    if (!exec_driver)
      containers = exec_driver.error();
    else if (!r)
      containers = r.error();
    else {
      reactor = *r;
      deps->exec = std::move(*exec_driver);
      deps->reactor = reactor;
      containers =
          spawn_container_manager(sys, container_manager_options{deps, *engine, *images, *volumes});
    }
  }
  struct reactor_guard {
    std::shared_ptr<exec::reactor>& r;
    ~reactor_guard() {
      if (r) r->stop();
    }
  } stop_reactor{reactor};
  auto ctx = api::make_context(sys, *engine, *events);
  auto stop_actors = [&] {
    std::vector<caf::actor_addr> all{caf::actor_cast<caf::actor_addr>(*engine),
                                     caf::actor_cast<caf::actor_addr>(*events),
                                     ctx->bridge.address(), caf::actor_cast<caf::actor_addr>(dns)};
    if (registry) all.push_back(caf::actor_cast<caf::actor_addr>(*registry));
    if (images) all.push_back(caf::actor_cast<caf::actor_addr>(*images));
    if (volumes) all.push_back(caf::actor_cast<caf::actor_addr>(*volumes));
    if (network) all.push_back(caf::actor_cast<caf::actor_addr>(*network));
    if (containers) all.push_back(caf::actor_cast<caf::actor_addr>(*containers));
    for (auto& h : all)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  };
  if (!images) {
    BLOG(error, "daemon") << "image store: " << error_message(images.error());
    stop_actors();
    return 1;
  }
  if (!containers) {
    BLOG(error, "daemon") << "containers: " << error_message(containers.error());
    stop_actors();
    return 1;
  }
  // As dockerd's restore: containers loaded from disk are cleaned up and the ones whose restart
  // policy says so started again before the API serves.
  {
    caf::scoped_actor self{sys};
    self->request(*containers, std::chrono::minutes{2}, atom::restored_v)
        .receive([](bool) {},
                 [](const caf::error& err) {
                   BLOG(warn, "daemon") << "containers still restoring: " << error_message(err);
                 });
  }
  auto routes = std::make_shared<api::router>();
  api::add_system_routes(*routes, ctx);
  api::add_image_routes(*routes, ctx);
  api::add_volume_routes(*routes, ctx);
  api::add_network_routes(*routes, ctx);
  api::add_container_routes(*routes, ctx);
  api::add_exec_routes(*routes, ctx);
  api::server_options opts;
  opts.hosts = cfg.hosts;
  opts.group = cfg.group;
  opts.group_required = flags->given.count("group") > 0;
  opts.tls = cfg.tls;
  opts.tlsverify = cfg.tlsverify;
  opts.tlscacert = cfg.tlscacert;
  opts.tlscert = cfg.tlscert;
  opts.tlskey = cfg.tlskey;
  opts.cors_header = cfg.api_cors_header;
  opts.spool_dir = cfg.data_root + "/tmp"; // docker load / import bodies
  opts.server_header = std::string{"Docker/"} + version_string() + " (linux)";
  opts.threads = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(facts.ncpu, 4)));
  auto started = api::server::start(std::move(opts), routes);
  if (!started) {
    BLOG(error, "daemon") << error_message(started.error());
    stop_actors();
    return 1;
  }
  server = *started;
  auto api_handle = api::spawn_api(sys, server);
  {
    caf::scoped_actor self{sys};
    self->request(*engine, defaults::register_timeout, atom::provide_v, atom::shutdown_v,
                  std::string{"api"}, api_handle)
        .receive([](caf::ok_atom) {},
                 [](const caf::error& err) {
                   BLOG(error, "daemon")
                       << "cannot register the API shutdown: " << error_message(err);
                 });
  }
  sd_notify(0, "READY=1");
  BLOG(info, "daemon") << "daemon has completed initialization (engine ID " << *id
                       << ", storage driver " << storage << ", exec driver " << cfg.exec_driver
                       << ")";

  std::atomic<bool> shutdown_done{false};
  std::thread shutdown_thread;
  int interrupts = 0;
  while (!shutdown_done) {
    siginfo_t info{};
    timespec tick{0, 100 * 1000 * 1000};
    int sig = ::sigtimedwait(&sigs, &info, &tick);
    if (sig < 0) continue;
    if (sig == SIGHUP) {
      auto r = config::reload(cfg, *flags);
      if (!r) {
        BLOG(error, "daemon") << error_message(r.error());
        continue;
      }
      for (auto& key : r->ignored)
        BLOG(warn, "daemon") << "reload: " << key << " changed but is not reloadable; ignored";
      cfg = std::move(r->cfg);
      log::set_level(effective_level(cfg));
      caf::anon_send(*engine, atom::config_v, cfg);
      caf::anon_send(*registry, atom::config_v, cfg);
      if (r->changes.empty()) BLOG(info, "daemon") << "reloaded configuration: nothing changed";
      for (auto& c : r->changes)
        BLOG(info, "daemon") << "reloaded configuration: " << c;
      publish_reload(*events, *id, cfg, facts.hostname);
      continue;
    }
    if (sig == SIGQUIT) {
      caf::scoped_actor self{sys};
      self->request(*engine, defaults::status_timeout, caf::get_atom_v, atom::status_v)
          .receive([](const std::string& dump) { BLOG(warn, "daemon") << "SIGQUIT: " << dump; },
                   [](const caf::error& err) {
                     BLOG(warn, "daemon")
                         << "SIGQUIT: engine did not answer: " << error_message(err);
                   });
      if (std::getenv("DEBUG") == nullptr) {
        BLOG(warn, "daemon") << "SIGQUIT: exiting without cleanup (set DEBUG to only dump)";
        std::_Exit(128 + SIGQUIT);
      }
      continue;
    }
    // SIGINT / SIGTERM
    if (++interrupts >= defaults::force_exit_signals) {
      BLOG(warn, "daemon") << "forcing berthd shutdown without cleanup; " << interrupts
                           << " interrupts received";
      std::_Exit(128 + sig);
    }
    if (interrupts == 1) {
      BLOG(info, "daemon") << "processing signal '" << ::strsignal(sig) << "'";
      sd_notify(0, "STOPPING=1");
      auto grace = defaults::shutdown_grace + std::chrono::seconds{cfg.shutdown_timeout};
      shutdown_thread = std::thread{[&sys, &shutdown_done, engine = *engine, grace] {
        caf::scoped_actor self{sys};
        self->request(engine, grace, atom::shutdown_v)
            .receive([](caf::ok_atom) {},
                     [](const caf::error& err) {
                       BLOG(error, "daemon") << "engine shutdown: " << error_message(err);
                     });
        shutdown_done = true;
      }};
    } else {
      BLOG(info, "daemon") << "shutdown in progress; one more signal forces exit";
    }
  }
  if (shutdown_thread.joinable()) shutdown_thread.join();
  server->stop();
  stop_actors();
  caf::anon_send_exit(api_handle, caf::exit_reason::user_shutdown);
  io::sync_pending(); // the states written last reach the disk before the exit
  BLOG(info, "daemon") << "daemon shutdown complete";
  return 0;
}

} // namespace berth::daemon
