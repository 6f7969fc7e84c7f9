#include "actors/engine.hpp"

#include "actors/host.hpp"
#include "actors/log.hpp"
#include "messages/defaults.hpp"

#include <caf/actor_system.hpp>
#include <caf/config.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#ifndef BERTH_VERSION
#define BERTH_VERSION "0.0.0"
#endif
#ifndef BERTH_GIT_COMMIT
#define BERTH_GIT_COMMIT "unknown"
#endif

namespace berth {

namespace {

using clock_type = std::chrono::steady_clock;

struct engine_state {
  struct registration {
    std::string service;
    job_handler_actor handler;
  };
  struct active_job {
    job j;
    clock_type::time_point start;
    caf::actor_addr handler; // the service running it (none for built-in jobs)
    std::optional<caf::typed_response_promise<job_result>> rp; // answered when it finishes
  };
  engine_options opts;
  std::map<std::string, registration> handlers;
  std::vector<std::pair<std::string, shutdown_handler_actor>> shutdown_handlers;
  std::map<uint64_t, active_job> active;
  uint64_t next_job_id = 1;
  bool shutting_down = false;
  bool draining = false; // waiting for active jobs before running the handlers
  bool handlers_started = false;
  bool shutdown_complete = false;
  std::vector<caf::typed_response_promise<caf::ok_atom>> shutdown_promises;
  static inline const char* name = "engine";
};

using engine_pointer = engine_actor::stateful_pointer<engine_state>;

bool is_builtin(const std::string& name) {
  for (auto* b : builtin_jobs)
    if (name == b) return true;
  return false;
}

std::string format_duration(clock_type::duration d) {
  std::ostringstream out;
  out.precision(3);
  out << std::fixed << std::chrono::duration<double, std::milli>(d).count() << " ms";
  return out.str();
}

uint64_t start_job(engine_pointer self, const job& j) {
  auto id = self->state.next_job_id++;
  self->state.active.emplace(id, engine_state::active_job{j, clock_type::now(), {}, std::nullopt});
  BLOG(debug, "engine") << "+job " << describe(j);
  return id;
}

void run_shutdown_handlers(engine_pointer self);

/// Jobs that last as long as a container runs (wait, attach, logs --follow): they end when the
/// shutdown handlers stop the containers, so the drain before the handlers does not wait for
/// them (it would wait its whole time-out for nothing).
bool lasts_with_container(const job& j) {
  return j.name == "container_wait" || j.name == "container_attach" || j.name == "container_logs";
}

/// The active jobs the shutdown drain waits for.
std::size_t draining_jobs(const engine_state& st) {
  return static_cast<std::size_t>(std::count_if(st.active.begin(), st.active.end(), [](auto& a) {
    return !lasts_with_container(a.second.j);
  }));
}

void finish_job(engine_pointer self, uint64_t id, job_result r) {
  auto& st = self->state;
  auto i = st.active.find(id);
  if (i == st.active.end()) return;
  BLOG(debug, "engine") << "-job " << describe(i->second.j) << " = "
                        << (r.status == status_ok ? "OK" : "ERR") << " (" << r.status << ") ("
                        << format_duration(clock_type::now() - i->second.start) << ")";
  auto rp = std::move(i->second.rp);
  st.active.erase(i);
  if (rp) rp->deliver(std::move(r));
  if (st.draining && draining_jobs(st) == 0) run_shutdown_handlers(self);
}

job_result fail(int status, caf::error err) {
  return job_result{status, std::move(err), {}};
}

void deliver_shutdown(engine_pointer self) {
  if (!self->state.shutdown_complete) BLOG(info, "engine") << "engine shutdown complete";
  self->state.shutdown_complete = true;
  for (auto& rp : self->state.shutdown_promises)
    rp.deliver(caf::ok_atom_v);
  self->state.shutdown_promises.clear();
}

void run_shutdown_handlers(engine_pointer self) {
  auto& st = self->state;
  if (st.handlers_started) return;
  st.draining = false;
  st.handlers_started = true;
  if (draining_jobs(st) > 0)
    BLOG(warn, "engine") << draining_jobs(st) << " job(s) still active after "
                         << defaults::shutdown_wait_for_jobs.count() << " s; shutting down anyway";
  if (st.shutdown_handlers.empty()) {
    deliver_shutdown(self);
    return;
  }
  auto remaining = std::make_shared<size_t>(st.shutdown_handlers.size());
  for (auto& [name, handler] : st.shutdown_handlers) {
    auto done = [self, remaining, name = name](const char* outcome) {
      BLOG(info, "engine") << "shutdown handler " << name << ": " << outcome;
      if (--*remaining == 0) deliver_shutdown(self);
    };
    // Containers get --shutdown-timeout to stop, plus a margin for the kill and the clean-up.
    auto cap = std::max<std::chrono::seconds>(
        defaults::shutdown_handlers_cap,
        std::chrono::seconds{st.opts.config.shutdown_timeout} + defaults::shutdown_kill_margin);
    self->request(handler, cap, atom::shutdown_v)
        .then([done](caf::ok_atom) { done("done"); },
              [done](const caf::error& err) {
                done(err == caf::sec::request_timeout ? "timed out" : "failed");
              });
  }
}

system_info make_info(const engine_state& st) {
  system_info info;
  info.id = st.opts.engine_id;
  info.host = st.opts.host;
  info.config = st.opts.config;
  info.storage_driver = st.opts.storage_driver;
  info.driver_status = st.opts.driver_status;
  info.fds = host::open_fds();
  info.threads = host::thread_count();
  info.system_time_nano = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  for (auto& h : st.opts.config.hosts)
    if (h.rfind("tcp://", 0) == 0 && !st.opts.config.tlsverify)
      info.warnings.push_back(
          "WARNING: API is accessible on " +
          std::string{st.opts.config.tls ? "https://" : "http://"} + h.substr(6) +
          " without client certificate verification.\n         Access to the remote API is "
          "equivalent to root access on the host.");
  if (!st.opts.host.memory_limit) info.warnings.emplace_back("WARNING: No memory limit support");
  if (!st.opts.host.swap_limit) info.warnings.emplace_back("WARNING: No swap limit support");
  return info;
}

// Log the end of a job answered at once, and hand its result back.
job_result finish_now(engine_pointer self, uint64_t id, job_result r) {
  finish_job(self, id, r);
  return r;
}

// `info`: host facts and config, plus the event listener count from the bus when it is up.
caf::result<job_result> info_job(engine_pointer self, uint64_t id) {
  auto& st = self->state;
  auto info = make_info(st);
  auto count = st.handlers.find("subscribers_count");
  if (count == st.handlers.end())
    return finish_now(self, id, {status_ok, {}, caf::make_message(std::move(info))});
  auto rp = self->make_response_promise<job_result>();
  st.active[id].rp = rp;
  auto reply = [self, id, info](int64_t listeners) mutable {
    info.event_listeners = listeners;
    finish_job(self, id, {status_ok, {}, caf::make_message(std::move(info))});
  };
  // the bus answers at once; no timeout, so no clock entry per info call
  self->request(count->second.handler, caf::infinite, job{"subscribers_count", {}, {}, {}})
      .then(
          [reply](job_result& sub) mutable {
            reply(sub.output.match_elements<uint64_t>()
                      ? static_cast<int64_t>(sub.output.get_as<uint64_t>(0))
                      : 0);
          },
          [reply](const caf::error&) mutable { reply(0); });
  return rp;
}

engine_actor::behavior_type engine_impl(engine_pointer self, engine_options opts) {
  self->state.opts = std::move(opts);
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    std::vector<uint64_t> orphans;
    for (auto& [id, a] : st.active)
      if (a.handler == msg.source) orphans.push_back(id);
    for (auto id : orphans)
      finish_job(
          self, id,
          fail(status_err, make_error(ec::unavailable, "the service running this job stopped")));
    for (auto i = st.handlers.begin(); i != st.handlers.end();) {
      if (i->second.handler.address() == msg.source) {
        BLOG(warn, "engine") << "service " << i->second.service << " is gone; job " << i->first
                             << " unregistered";
        i = st.handlers.erase(i);
      } else {
        ++i;
      }
    }
  });
  return {
      [self](job& j) -> caf::result<job_result> {
        auto& st = self->state;
        if (st.shutting_down)
          return fail(status_err, make_error(ec::unavailable, "engine is shutdown"));
        auto id = start_job(self, j);
        if (j.name == "commands") {
          std::vector<command_info> out;
          for (auto* b : builtin_jobs)
            out.push_back(command_info{b, "engine"});
          for (auto& [name, reg] : st.handlers)
            out.push_back(command_info{name, reg.service});
          return finish_now(self, id, {status_ok, {}, caf::make_message(std::move(out))});
        }
        if (j.name == "version")
          return finish_now(self, id,
                            {status_ok, {}, caf::make_message(make_version_info(st.opts.host))});
        if (j.name == "info") return info_job(self, id);
        auto i = st.handlers.find(j.name);
        if (i == st.handlers.end())
          return finish_now(self, id,
                            fail(status_not_found, make_error(ec::command_not_found,
                                                              "command not found: " + j.name)));
        auto rp = self->make_response_promise<job_result>();
        auto& entry = st.active[id];
        entry.rp = rp;
        entry.handler = i->second.handler.address();
        // No timeout: jobs such as `wait` run for as long as they need, and a service that dies
        // fails its jobs through the down handler.
        self->request(i->second.handler, caf::infinite, std::move(j))
            .then([self, id](job_result& r) { finish_job(self, id, std::move(r)); },
                  [self, id](caf::error& err) {
                    finish_job(self, id, fail(status_err, std::move(err)));
                  });
        return rp;
      },
      [self](atom::provide, std::string& service, std::vector<std::string>& names,
             job_handler_actor& handler) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (st.shutting_down) return make_error(ec::unavailable, "engine is shutdown");
        for (auto& n : names)
          if (n.empty() || is_builtin(n) || st.handlers.count(n) > 0)
            return make_error(ec::conflict, "job " + n + " is already registered");
        for (auto& n : names) {
          st.handlers.emplace(n, engine_state::registration{service, handler});
          BLOG(debug, "engine") << "service " << service << " registered job " << n;
        }
        self->monitor(handler);
        return caf::ok_atom_v;
      },
      [self](atom::provide, atom::shutdown, std::string& name,
             shutdown_handler_actor& handler) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (st.shutting_down) return make_error(ec::unavailable, "engine is shutdown");
        st.shutdown_handlers.emplace_back(std::move(name), std::move(handler));
        return caf::ok_atom_v;
      },
      [self](atom::shutdown) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        auto rp = self->make_response_promise<caf::ok_atom>();
        st.shutdown_promises.push_back(rp);
        if (!st.shutting_down) {
          st.shutting_down = true;
          BLOG(info, "engine") << "engine shutdown: refusing new jobs, " << st.active.size()
                               << " active";
          if (draining_jobs(st) == 0) {
            run_shutdown_handlers(self);
          } else {
            st.draining = true;
            self->delayed_send(caf::actor_cast<engine_actor>(self),
                               defaults::shutdown_wait_for_jobs, atom::deadline_v);
          }
        } else if (st.shutdown_complete) {
          deliver_shutdown(self);
        }
        return rp;
      },
      [self](atom::config, daemon_config& cfg) { self->state.opts.config = std::move(cfg); },
      [self](caf::get_atom, atom::status) -> std::string {
        auto& st = self->state;
        std::ostringstream out;
        auto now = clock_type::now();
        out << "engine: " << (st.shutting_down ? "shutting down" : "running") << "; "
            << st.active.size() << " job(s) in flight";
        for (auto& [id, a] : st.active)
          out << "\n  job #" << id << " " << describe(a.j) << " for "
              << format_duration(now - a.start);
        out << "\nregistered jobs:";
        for (auto& [name, reg] : st.handlers)
          out << "\n  " << name << " (" << reg.service << ")";
        out << "\nshutdown handlers:";
        for (auto& [name, h] : st.shutdown_handlers)
          out << " " << name;
        out << "\nactors running: " << self->system().registry().running();
        return out.str();
      },
      [self](atom::deadline) {
        if (self->state.draining) run_shutdown_handlers(self);
      },
  };
}

} // namespace

std::string describe(const job& j) {
  std::string out = j.name + "(";
  for (size_t i = 0; i < j.args.size(); ++i) {
    if (i > 0) out += ", ";
    out += j.args[i];
  }
  out += ")";
  return out;
}

const char* version_string() {
  return BERTH_VERSION;
}

version_info make_version_info(const host_facts& host) {
  version_info v;
  v.version = BERTH_VERSION;
  v.api_version = defaults::api_version;
  v.min_api_version = defaults::min_api_version;
  v.git_commit = BERTH_GIT_COMMIT;
  v.build_time = __DATE__ " " __TIME__;
#if defined(__clang__)
  v.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  v.compiler = "g++ " __VERSION__;
#endif
  v.caf_version = std::to_string(CAF_VERSION / 10000) + "." +
                  std::to_string(CAF_VERSION / 100 % 100) + "." + std::to_string(CAF_VERSION % 100);
  v.os = "linux";
  v.arch = host.go_arch;
  v.kernel_version = host.kernel_version;
  return v;
}

caf::expected<engine_actor> spawn_engine(caf::actor_system& sys, engine_options opts) {
  if (opts.engine_id.empty()) return make_error(ec::invalid_argument, "the engine needs an ID");
  return sys.spawn(engine_impl, std::move(opts));
}

} // namespace berth
