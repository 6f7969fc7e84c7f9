#include "api/system.hpp"

#include "api/container_codec.hpp"
#include "api/images.hpp"
#include "api/volumes.hpp"

#include "actors/daemon/config.hpp"
#include "actors/engine.hpp"
#include "actors/events.hpp"
#include "actors/images/store.hpp"
#include "actors/jobs.hpp"
#include "actors/log.hpp"
#include "messages/defaults.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <simdjson.h>

#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace berth::api {

namespace json = boost::json;

// -- bridge --------------------------------------------------------------------------------------

namespace {

/// A job call from a non-actor thread (local only: carries a callback).
struct bridge_call {
  job j;
  caf::duration timeout;
  std::function<void(job_result&)> done;
};

} // namespace
} // namespace berth::api

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(berth::api::bridge_call)

namespace berth::api {

namespace {

caf::behavior bridge_impl(caf::event_based_actor* self, engine_actor engine) {
  return {
      [self, engine](bridge_call& call) {
        auto done = std::move(call.done);
        self->request(engine, call.timeout, std::move(call.j))
            .then([done](job_result& r) { done(r); },
                  [done](caf::error& err) {
                    job_result r{status_err, std::move(err), {}};
                    done(r);
                  });
      },
  };
}

} // namespace

std::shared_ptr<api_context> make_context(caf::actor_system& sys, engine_actor engine,
                                          events_actor events) {
  auto ctx = std::make_shared<api_context>();
  ctx->sys = &sys;
  ctx->engine = engine;
  ctx->events = std::move(events);
  ctx->bridge = sys.spawn(bridge_impl, std::move(engine));
  return ctx;
}

/// A byte sink writing a chunked 200 stream to `conn`, at most a few chunks in flight (the job's
/// worker blocks meanwhile). Nothing written yet when it is closed with an error: an HTTP error.
byte_sink connection_sink(const connection_ptr& conn, std::string content_type,
                          std::vector<std::pair<std::string, std::string>> headers) {
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    int in_flight = 0;
    bool failed = false;
    bool started = false;
    bool closed = false;
    std::string buffer;
  };
  constexpr std::size_t chunk = 256 * 1024;
  constexpr int window = 8;
  auto st = std::make_shared<state>();
  conn->on_close([st] {
    std::lock_guard<std::mutex> lk{st->mu};
    st->failed = true;
    st->cv.notify_all();
  });
  // called with the lock held
  auto flush = [st, conn, content_type, headers](std::unique_lock<std::mutex>& lk) -> caf::error {
    if (!st->started) {
      st->started = true;
      if (headers.empty())
        conn->stream_begin(200, content_type);
      else
        conn->stream_begin_with(200, content_type, headers);
    }
    while (st->in_flight >= window && !st->failed)
      st->cv.wait_for(lk, std::chrono::seconds{1});
    if (st->failed) return make_error(ec::unavailable, "the client went away");
    ++st->in_flight;
    auto data = std::move(st->buffer);
    st->buffer.clear();
    conn->stream_write(std::move(data), [st](bool ok) {
      std::lock_guard<std::mutex> lk{st->mu};
      --st->in_flight;
      if (!ok) st->failed = true;
      st->cv.notify_all();
    });
    return {};
  };
  byte_sink out;
  out.write = [st, flush](const char* p, std::size_t n) -> caf::error {
    std::unique_lock<std::mutex> lk{st->mu};
    if (st->failed) return make_error(ec::unavailable, "the client went away");
    st->buffer.append(p, n);
    if (st->buffer.size() >= chunk) return flush(lk);
    return {};
  };
  out.close = [st, conn, flush](const caf::error& err) {
    std::unique_lock<std::mutex> lk{st->mu};
    if (st->closed) return;
    st->closed = true;
    if (!st->started && err) {
      conn->respond(error_response(err));
      return;
    }
    if (!st->buffer.empty() || !st->started) flush(lk);
    conn->stream_end();
  };
  return out;
}

void run_job(const api_context& ctx, job j, std::function<void(job_result&)> done,
             caf::duration timeout) {
  caf::anon_send(ctx.bridge, bridge_call{std::move(j), timeout, std::move(done)});
}

// -- encoders ------------------------------------------------------------------------------------

std::string rfc3339_nano(int64_t unix_nano) {
  auto secs = static_cast<std::time_t>(unix_nano / 1000000000);
  auto nanos = unix_nano % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out{buf, n};
  if (nanos != 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nanos));
    std::string f{frac};
    while (f.back() == '0')
      f.pop_back();
    out += f;
  }
  return out + "Z";
}

namespace {

json::array strings(const std::vector<std::string>& xs) {
  json::array out;
  for (auto& x : xs)
    out.emplace_back(x);
  return out;
}

std::string env_or_empty(const char* upper, const char* lower) {
  if (auto* v = std::getenv(upper)) return v;
  if (auto* v = std::getenv(lower)) return v;
  return {};
}

bool is_cidr(const std::string& s) {
  return s.find('/') != std::string::npos;
}

json::object registry_config(const daemon_config& cfg) {
  json::object out;
  out["AllowNondistributableArtifactsCIDRs"] = json::array{};
  out["AllowNondistributableArtifactsHostnames"] = json::array{};
  json::array cidrs{"127.0.0.0/8"};
  json::object index;
  json::object hub;
  hub["Name"] = "docker.io";
  hub["Mirrors"] = strings(cfg.registry_mirrors);
  hub["Secure"] = true;
  hub["Official"] = true;
  index["docker.io"] = std::move(hub);
  for (auto& r : cfg.insecure_registries) {
    if (is_cidr(r)) {
      cidrs.emplace_back(r);
      continue;
    }
    json::object entry;
    entry["Name"] = r;
    entry["Mirrors"] = json::array{};
    entry["Secure"] = false;
    entry["Official"] = false;
    index[r] = std::move(entry);
  }
  out["InsecureRegistryCIDRs"] = std::move(cidrs);
  out["IndexConfigs"] = std::move(index);
  out["Mirrors"] = strings(cfg.registry_mirrors);
  return out;
}

json::object commit(const char* id) {
  json::object c;
  c["ID"] = id;
  c["Expected"] = id;
  return c;
}

} // namespace

std::string encode_version(const version_info& v) {
  json::object details;
  details["ApiVersion"] = v.api_version;
  details["Arch"] = v.arch;
  details["BuildTime"] = v.build_time;
  details["Experimental"] = "false";
  details["GitCommit"] = v.git_commit;
  details["GoVersion"] = v.compiler;
  details["KernelVersion"] = v.kernel_version;
  details["MinAPIVersion"] = v.min_api_version;
  details["Os"] = v.os;
  json::object engine;
  engine["Name"] = "Engine";
  engine["Version"] = v.version;
  engine["Details"] = std::move(details);
  json::object caf_component;
  caf_component["Name"] = "caf";
  caf_component["Version"] = v.caf_version;
  caf_component["Details"] = json::object{};
  json::object out;
  out["Platform"] = json::object{{"Name", "berth " + v.version}};
  out["Components"] = json::array{std::move(engine), std::move(caf_component)};
  out["Version"] = v.version;
  out["ApiVersion"] = v.api_version;
  out["MinAPIVersion"] = v.min_api_version;
  out["GitCommit"] = v.git_commit;
  out["GoVersion"] = v.compiler;
  out["Os"] = v.os;
  out["Arch"] = v.arch;
  out["KernelVersion"] = v.kernel_version;
  out["BuildTime"] = v.build_time;
  return json::serialize(out);
}

std::string encode_info(const system_info& info) {
  const auto& h = info.host;
  const auto& cfg = info.config;
  json::object out;
  out["ID"] = info.id;
  out["Containers"] = info.containers;
  out["ContainersRunning"] = info.containers_running;
  out["ContainersPaused"] = info.containers_paused;
  out["ContainersStopped"] = info.containers_stopped;
  out["Images"] = info.images;
  out["Driver"] = info.storage_driver;
  json::array status;
  for (auto& pair : info.driver_status)
    status.emplace_back(strings(pair));
  out["DriverStatus"] = std::move(status);
  out["Plugins"] = json::object{{"Volume", json::array{}},
                                {"Network", json::array{}},
                                {"Authorization", nullptr},
                                {"Log", json::array{}}};
  out["MemoryLimit"] = h.memory_limit;
  out["SwapLimit"] = h.swap_limit;
  out["KernelMemory"] = h.kernel_memory;
  out["KernelMemoryTCP"] = h.kernel_memory;
  out["CpuCfsPeriod"] = h.cpu_cfs_period;
  out["CpuCfsQuota"] = h.cpu_cfs_quota;
  out["CPUShares"] = h.cpu_shares;
  out["CPUSet"] = h.cpuset;
  out["PidsLimit"] = h.pids_limit;
  out["IPv4Forwarding"] = h.ipv4_forwarding;
  out["BridgeNfIptables"] = h.bridge_nf_iptables;
  out["BridgeNfIp6tables"] = h.bridge_nf_ip6tables;
  out["Debug"] = cfg.debug;
  out["NFd"] = info.fds;
  out["OomKillDisable"] = h.oom_kill_disable;
  out["NGoroutines"] = info.threads;
  out["SystemTime"] = rfc3339_nano(info.system_time_nano);
  out["LoggingDriver"] = cfg.log_driver;
  out["CgroupDriver"] = "cgroupfs";
  out["CgroupVersion"] = h.cgroup_version;
  out["NEventsListener"] = info.event_listeners;
  out["KernelVersion"] = h.kernel_version;
  out["OperatingSystem"] = h.operating_system;
  out["OSVersion"] = h.os_version;
  out["OSType"] = "linux";
  out["Architecture"] = h.architecture;
  out["IndexServerAddress"] = "https://index.docker.io/v1/";
  out["RegistryConfig"] = registry_config(cfg);
  out["NCPU"] = h.ncpu;
  out["MemTotal"] = h.mem_total;
  out["GenericResources"] = nullptr;
  out["DockerRootDir"] = cfg.data_root;
  out["HttpProxy"] = env_or_empty("HTTP_PROXY", "http_proxy");
  out["HttpsProxy"] = env_or_empty("HTTPS_PROXY", "https_proxy");
  out["NoProxy"] = env_or_empty("NO_PROXY", "no_proxy");
  out["Name"] = h.hostname;
  out["Labels"] = strings(cfg.labels);
  out["ExperimentalBuild"] = false;
  out["ServerVersion"] = version_string();
  out["ClusterStore"] = "";
  out["ClusterAdvertise"] = "";
  json::object runtimes;
  for (auto& [name, rt] : config::runtimes(cfg)) {
    json::object o{{"path", rt.path.empty() ? "berth-exec" : rt.path}};
    if (!rt.args.empty()) o["runtimeArgs"] = strings(rt.args);
    runtimes[name] = std::move(o);
  }
  out["Runtimes"] = std::move(runtimes);
  out["DefaultRuntime"] = config::default_runtime(cfg);
  out["Swarm"] = json::object{{"NodeID", ""},
                              {"NodeAddr", ""},
                              {"LocalNodeState", "inactive"},
                              {"ControlAvailable", false},
                              {"Error", ""},
                              {"RemoteManagers", nullptr}};
  out["LiveRestoreEnabled"] = cfg.live_restore;
  out["Isolation"] = "";
  out["InitBinary"] = "";
  out["ContainerdCommit"] = commit("");
  out["RuncCommit"] = commit("");
  out["InitCommit"] = commit("");
  out["SecurityOptions"] = json::array{};
  out["Warnings"] = strings(info.warnings);
  return json::serialize(out);
}

std::string encode_event(const event& ev) {
  json::object out;
  if (ev.type == "container" || ev.type == "image") {
    out["status"] = ev.action;
    out["id"] = ev.actor_id;
    if (ev.type == "container") {
      auto i = ev.attributes.find("image");
      if (i != ev.attributes.end()) out["from"] = i->second;
    }
  }
  out["Type"] = ev.type;
  out["Action"] = ev.action;
  json::object attrs;
  for (auto& [k, v] : ev.attributes)
    attrs[k] = v;
  out["Actor"] = json::object{{"ID", ev.actor_id}, {"Attributes", std::move(attrs)}};
  out["scope"] = ev.scope;
  out["time"] = ev.time_nano / 1000000000;
  out["timeNano"] = ev.time_nano;
  return json::serialize(out);
}

std::string encode_commands(const std::vector<command_info>& cmds) {
  json::array out;
  for (auto& c : cmds)
    out.emplace_back(json::object{{"Name", c.name}, {"Service", c.service}});
  return json::serialize(out);
}

caf::expected<filter_args> query_filters(const http_request& req) {
  auto* f = req.get("filters");
  if (f == nullptr || f->empty()) return filter_args{};
  return parse_filters(*f);
}

caf::expected<filter_args> parse_filters(std::string_view text) {
  filter_args out;
  if (text.empty()) return out;
  simdjson::dom::parser parser;
  simdjson::padded_string padded{text};
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded).get(doc))
    return make_error(ec::invalid_argument,
                      std::string{"invalid filters: "} + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (doc.get(obj))
    return make_error(ec::invalid_argument, "invalid filters: expected a JSON object");
  for (auto kv : obj) {
    auto& values = out[std::string{kv.key}];
    simdjson::dom::object set;
    simdjson::dom::array list;
    if (!kv.value.get(set)) {
      for (auto v : set) {
        bool on = false;
        if (v.value.get(on))
          return make_error(ec::invalid_argument, "invalid filters: values of \"" +
                                                      std::string{kv.key} + "\" must be booleans");
        if (on) values.emplace(v.key);
      }
    } else if (!kv.value.get(list)) {
      for (auto v : list) {
        std::string_view s;
        if (v.get(s))
          return make_error(ec::invalid_argument, "invalid filters: values of \"" +
                                                      std::string{kv.key} + "\" must be strings");
        values.emplace(s);
      }
    } else {
      return make_error(ec::invalid_argument,
                        "invalid filters: \"" + std::string{kv.key} + "\" must map to a set");
    }
  }
  return out;
}

caf::expected<int64_t> parse_timestamp(std::string_view value) {
  auto bad = [&] {
    return make_error(ec::invalid_argument,
                      "invalid timestamp \"" + std::string{value} + "\": expected SECONDS[.NANOS]");
  };
  auto dot = value.find('.');
  auto sec = value.substr(0, dot);
  if (sec.empty() || sec.size() > 12) return bad();
  int64_t s = 0;
  for (char c : sec) {
    if (c < '0' || c > '9') return bad();
    s = s * 10 + (c - '0');
  }
  int64_t ns = 0;
  if (dot != std::string_view::npos) {
    auto frac = value.substr(dot + 1);
    if (frac.empty() || frac.size() > 9) return bad();
    for (char c : frac) {
      if (c < '0' || c > '9') return bad();
      ns = ns * 10 + (c - '0');
    }
    for (auto n = frac.size(); n < 9; ++n)
      ns *= 10;
  }
  return s * 1000000000 + ns;
}

caf::expected<int64_t> parse_until(std::string_view value, int64_t now_nano) {
  if (auto t = parse_timestamp(value)) return t;
  if (auto t = parse_rfc3339(value)) return t;
  // A Go duration: [0-9.]+ units, summed.
  double total = 0;
  std::size_t i = 0;
  while (i < value.size()) {
    auto start = i;
    while (i < value.size() &&
           (std::isdigit(static_cast<unsigned char>(value[i])) || value[i] == '.'))
      ++i;
    auto unit_start = i;
    while (i < value.size() && !std::isdigit(static_cast<unsigned char>(value[i])) &&
           value[i] != '.')
      ++i;
    auto number = std::string{value.substr(start, unit_start - start)};
    auto unit = value.substr(unit_start, i - unit_start);
    static const std::pair<const char*, double> units[] = {
        {"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double scale = 0;
    for (auto& [name, factor] : units)
      if (unit == name) scale = factor;
    char* end = nullptr;
    double n = std::strtod(number.c_str(), &end);
    if (number.empty() || scale == 0 || end == nullptr || *end != '\0')
      return make_error(ec::invalid_argument, "failed to parse value as time or duration: \"" +
                                                  std::string{value} + "\"");
    total += n * scale;
  }
  if (value.empty()) return make_error(ec::invalid_argument, "empty until filter");
  return now_nano - static_cast<int64_t>(total);
}

// -- routes --------------------------------------------------------------------------------------

namespace {

struct sink_state {
  static inline const char* name = "events-stream";
};

event_sink_actor::behavior_type event_sink(event_sink_actor::stateful_pointer<sink_state> self,
                                           events_actor bus, event_query q, connection_ptr conn) {
  self->request(bus, caf::infinite, caf::subscribe_atom_v, std::move(q),
                caf::actor_cast<event_sink_actor>(self))
      .then([](uint64_t) {},
            [self, conn](const caf::error& err) {
              BLOG(warn, "api") << "events subscription failed: " << error_message(err);
              conn->stream_end();
              self->quit();
            });
  return {
      [self, bus, conn](uint64_t id, event& ev) {
        conn->stream_write(encode_event(ev) + "\n", [bus, id](bool ok) {
          if (ok) caf::anon_send(bus, atom::ack_v, id, uint64_t{1});
        });
      },
      [self, conn](atom::done, uint64_t, std::string& reason) {
        BLOG(debug, "api") << "events stream ends: " << reason;
        conn->stream_end();
        self->quit();
      },
  };
}

} // namespace

std::string encode_df(const std::vector<image_info>& images,
                      const std::vector<container_info>& containers,
                      const std::vector<volume_info>& volumes, int64_t now_nano) {
  // A layer is known by its chain (the diff IDs from the bottom up to it): images that share a
  // chain share that layer. LayersSize counts each once; an image's SharedSize is the size of
  // its layers that another image has too.
  std::map<std::string, std::pair<int64_t, int>> layers; // chain -> size, images using it
  auto chains_of = [](const image_info& img) {
    std::vector<std::string> out;
    std::string chain;
    for (auto& d : img.diff_ids)
      out.push_back(chain += d + "/");
    return out;
  };
  for (auto& img : images) {
    auto chains = chains_of(img);
    for (size_t i = 0; i < chains.size(); ++i) {
      auto& l = layers[chains[i]];
      l.first = i < img.layer_sizes.size() ? img.layer_sizes[i] : 0;
      ++l.second;
    }
  }
  int64_t layers_size = 0;
  for (auto& [chain, l] : layers)
    layers_size += l.first;
  auto image_list = boost::json::parse(encode_image_summaries(images)).as_array();
  for (size_t k = 0; k < images.size(); ++k) {
    auto& img = images[k];
    int64_t shared = 0;
    for (auto& chain : chains_of(img))
      if (layers[chain].second > 1) shared += layers[chain].first;
    int64_t users = 0;
    for (auto& c : containers)
      users += c.image_id == img.id ? 1 : 0;
    auto& o = image_list[k].as_object();
    o["Containers"] = users;
    o["SharedSize"] = shared;
  }
  boost::json::array container_list;
  for (auto c : containers) {
    for (auto& img : images)
      if (img.id == c.image_id) c.size_root_fs = std::max<int64_t>(0, c.size_rw) + img.size;
    container_list.push_back(boost::json::parse(encode_summary(c, true, now_nano)));
  }
  boost::json::object o;
  o["LayersSize"] = layers_size;
  o["Images"] = std::move(image_list);
  o["Containers"] = std::move(container_list);
  boost::json::array volume_list;
  for (auto& v : volumes)
    volume_list.push_back(boost::json::parse(encode_volume(v, true)));
  o["Volumes"] = std::move(volume_list);
  o["BuildCache"] = boost::json::array{};
  return boost::json::serialize(o);
}

void add_system_routes(router& r, std::shared_ptr<api_context> ctx) {
  auto ping = [](http_request& req, const connection_ptr& conn) {
    http_response res;
    res.content_type = "text/plain; charset=utf-8";
    res.headers = {{"Docker-Experimental", "false"},
                   {"Cache-Control", "no-cache, no-store, must-revalidate"},
                   {"Pragma", "no-cache"}};
    if (req.method == "GET") res.body = "OK";
    conn->respond(std::move(res));
  };
  // docker system df: the images (with their containers and shared sizes) and the containers
  // with their sizes.
  r.add("GET", "/system/df", [ctx](http_request&, const connection_ptr& conn) {
    run_job(*ctx, job{"images", {}, {{"all", "1"}}, {}}, [ctx, conn](job_result& images) {
      if (images.status != status_ok || !images.output.match_elements<std::vector<image_info>>())
        return conn->respond(error_response(images.error));
      auto list = images.output.get_as<std::vector<image_info>>(0);
      run_job(*ctx, job{"volumes", {}, {{"size", "1"}}, {}}, [ctx, conn, list](job_result& vr) {
        if (vr.status != status_ok || !vr.output.match_elements<std::vector<volume_info>>())
          return conn->respond(error_response(vr.error));
        auto volumes = vr.output.get_as<std::vector<volume_info>>(0);
        run_job(*ctx, job{"containers", {}, {{"size", "1"}}, {}},
                [conn, list, volumes](job_result& res) {
                  answer<std::vector<container_info>>(
                      conn, res, [&](const std::vector<container_info>& v) {
                        return encode_df(list, v, volumes, wall_clock_nano());
                      });
                });
      });
    });
  });
  r.add("GET", "/_ping", ping);
  r.add("HEAD", "/_ping", ping);
  r.add("GET", "/version", [ctx](http_request&, const connection_ptr& conn) {
    run_job(*ctx, job{"version", {}, {}, {}},
            [conn](job_result& res) { answer<version_info>(conn, res, encode_version); });
  });
  r.add("GET", "/info", [ctx](http_request&, const connection_ptr& conn) {
    run_job(*ctx, job{"info", {}, {}, {}}, [ctx, conn](job_result& res) {
      if (res.status != status_ok || !res.output.match_elements<system_info>())
        return answer<system_info>(conn, res, encode_info);
      auto info = std::make_shared<system_info>(res.output.get_as<system_info>(0));
      // the image count comes from the image store (when it runs)
      run_job(*ctx, job{"image_count", {}, {}, {}}, [info, conn](job_result& count) {
        if (count.status == status_ok && count.output.match_elements<int64_t>())
          info->images = count.output.get_as<int64_t>(0);
        conn->respond(json_response(200, encode_info(*info)));
      });
    });
  });
  r.add("GET", "/_berth/commands", [ctx](http_request&, const connection_ptr& conn) {
    run_job(*ctx, job{"commands", {}, {}, {}}, [conn](job_result& res) {
      answer<std::vector<command_info>>(conn, res, encode_commands);
    });
  });
  r.add("GET", "/events", [ctx](http_request& req, const connection_ptr& conn) {
    event_query q;
    for (auto [key, slot] :
         {std::pair{"since", &q.since_nano}, std::pair{"until", &q.until_nano}}) {
      auto* v = req.get(key);
      if (v == nullptr || v->empty()) continue;
      auto t = parse_timestamp(*v);
      if (!t) {
        conn->respond(error_response(t.error()));
        return;
      }
      *slot = *t;
    }
    if (q.since_nano >= 0 && q.until_nano >= 0 && q.since_nano > q.until_nano) {
      conn->respond(error_response(400, "`since` time (" + *req.get("since") +
                                            ") cannot be after `until` time (" + *req.get("until") +
                                            ")"));
      return;
    }
    if (auto* f = req.get("filters")) {
      auto filters = parse_filters(*f);
      if (!filters) {
        conn->respond(error_response(filters.error()));
        return;
      }
      if (auto err = validate_event_filters(*filters)) {
        conn->respond(error_response(err));
        return;
      }
      q.filters = std::move(*filters);
    }
    conn->stream_begin(200, "application/json");
    auto sink = ctx->sys->spawn(event_sink, ctx->events, std::move(q), conn);
    conn->on_close(
        [addr = sink.address()] { caf::anon_send_exit(addr, caf::exit_reason::user_shutdown); });
  });
}

} // namespace berth::api
