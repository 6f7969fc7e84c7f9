// GET /containers/{id}/stats (see stats.hpp and ../shared/reference/docker-cli-call-map.md §9).
//
// moby 20.10 (daemon/stats.go), which this follows:
//   - stream=1 (the default): one object a second, flushed, until the client goes away or the
//     container is removed. A container that does not run gives objects with only name and id
//     (moby's collector publishes those), and the real figures again once it runs.
//   - stream=0: two samples a second apart, so that precpu_stats is filled; one-shot=1 (API
//     1.41): one sample at once. A container that does not run: name and id at once.
//   - stream=1 with one-shot=1: 400 "cannot have stream=true and one-shot=true".
// Each stream is an actor: it asks the container (a `container_stats` job through the engine)
// for a sample, writes it, and arms a timer for the next; a tick while the last object is still
// being written is skipped.
#include "api/stats.hpp"

#include "messages/defaults.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <optional>

namespace berth::api {

namespace json = boost::json;

namespace {

constexpr const char* zero_time = "0001-01-01T00:00:00Z"; // Go's zero time.Time

json::object cpu_json(const container_stats& s) {
  auto& c = s.cgroup;
  json::object usage;
  usage["total_usage"] = c.cpu_total;
  if (!c.cpu_percpu.empty()) { // omitempty
    json::array per;
    for (auto v : c.cpu_percpu)
      per.emplace_back(v);
    usage["percpu_usage"] = std::move(per);
  }
  usage["usage_in_kernelmode"] = c.cpu_kernel;
  usage["usage_in_usermode"] = c.cpu_user;
  json::object cpu;
  cpu["cpu_usage"] = std::move(usage);
  if (s.system_cpu_usage != 0) cpu["system_cpu_usage"] = s.system_cpu_usage;
  if (s.online_cpus != 0) cpu["online_cpus"] = s.online_cpus;
  cpu["throttling_data"] = json::object{{"periods", c.throttling_periods},
                                        {"throttled_periods", c.throttled_periods},
                                        {"throttled_time", c.throttled_time}};
  return cpu;
}

json::value blkio_list(const cgroup_stats& c, const std::vector<blkio_entry>& list) {
  if (list.empty()) // moby: [] on v1 (copyBlkioEntry), null where it has no list
    return c.version == 1 && c.has_blkio ? json::value(json::array{}) : json::value(nullptr);
  json::array out;
  for (auto& e : list)
    out.push_back(
        json::object{{"major", e.major}, {"minor", e.minor}, {"op", e.op}, {"value", e.value}});
  return out;
}

} // namespace

std::string encode_stats(const container_stats& s, const container_stats* pre) {
  auto& c = s.cgroup;
  json::object o;
  o["read"] = s.running ? rfc3339_nano(s.read_nano) : zero_time;
  o["preread"] = pre != nullptr && pre->running ? rfc3339_nano(pre->read_nano) : zero_time;
  json::object pids;
  if (c.pids_current != 0) pids["current"] = c.pids_current;
  if (c.pids_limit != 0) pids["limit"] = c.pids_limit;
  o["pids_stats"] = std::move(pids);
  o["blkio_stats"] = json::object{{"io_service_bytes_recursive", blkio_list(c, c.io_service_bytes)},
                                  {"io_serviced_recursive", blkio_list(c, c.io_serviced)},
                                  {"io_queue_recursive", blkio_list(c, c.io_queued)},
                                  {"io_service_time_recursive", blkio_list(c, c.io_service_time)},
                                  {"io_wait_time_recursive", blkio_list(c, c.io_wait_time)},
                                  {"io_merged_recursive", blkio_list(c, c.io_merged)},
                                  {"io_time_recursive", blkio_list(c, c.io_time)},
                                  {"sectors_recursive", blkio_list(c, c.sectors)}};
  o["num_procs"] = 0; // Windows only
  o["storage_stats"] = json::object{};
  o["cpu_stats"] = cpu_json(s);
  o["precpu_stats"] = cpu_json(pre != nullptr ? *pre : container_stats{});
  json::object mem; // every field omitempty
  if (c.has_memory) {
    if (c.memory_usage != 0) mem["usage"] = c.memory_usage;
    if (c.memory_max_usage != 0) mem["max_usage"] = c.memory_max_usage;
    if (!c.memory_stat.empty()) {
      json::object stat; // Go sorts map keys; so does std::map
      for (auto& [k, v] : c.memory_stat)
        stat[k] = v;
      mem["stats"] = std::move(stat);
    }
    if (c.memory_failcnt != 0) mem["failcnt"] = c.memory_failcnt;
    if (c.memory_limit != 0) mem["limit"] = c.memory_limit;
  }
  o["memory_stats"] = std::move(mem);
  if (!s.name.empty()) o["name"] = s.name;
  if (!s.id.empty()) o["id"] = s.id;
  if (!s.networks.empty()) {
    auto nets = s.networks;
    std::sort(nets.begin(), nets.end(), [](auto& a, auto& b) { return a.name < b.name; });
    json::object out;
    for (auto& n : nets)
      out[n.name] = json::object{{"rx_bytes", n.rx_bytes},   {"rx_packets", n.rx_packets},
                                 {"rx_errors", n.rx_errors}, {"rx_dropped", n.rx_dropped},
                                 {"tx_bytes", n.tx_bytes},   {"tx_packets", n.tx_packets},
                                 {"tx_errors", n.tx_errors}, {"tx_dropped", n.tx_dropped}};
    o["networks"] = std::move(out);
  }
  return json::serialize(o) + "\n";
}

namespace {

struct stats_state {
  static inline const char* name = "stats-stream";
  job_handler_actor jobs;
  connection_ptr conn;
  std::string id; // as given, then the full ID
  bool stream = true;
  bool one_shot = false;
  bool first = true;
  bool begun = false;   // stream headers sent
  bool writing = false; // an object is being written
  std::optional<container_stats> prev;
};

using stats_self = stats_stream_actor::stateful_pointer<stats_state>;

void on_sample(stats_self self, job_result& r);

void request_sample(stats_self self) {
  auto& st = self->state;
  self->request(st.jobs, defaults::ask_timeout, job{"container_stats", {st.id}, {}, {}})
      .then([self](job_result& r) { on_sample(self, r); },
            [self](caf::error& err) {
              job_result r{status_err, std::move(err), {}};
              on_sample(self, r);
            });
}

void on_sample(stats_self self, job_result& r) {
  auto& st = self->state;
  bool first = std::exchange(st.first, false);
  if (r.status != status_ok || !r.output.match_elements<container_stats>()) {
    auto err = r.error ? r.error : make_error(ec::unspecified, "stats failed");
    if (!st.begun)
      st.conn->respond(error_response(err));
    else // removed: moby's collection stops, the stream ends
      st.conn->stream_end();
    self->quit();
    return;
  }
  auto& cur = r.output.get_as<container_stats>(0);
  if (first && st.stream && st.one_shot) {
    st.conn->respond(error_response(400, "cannot have stream=true and one-shot=true"));
    self->quit();
    return;
  }
  st.id = cur.id;
  if (!st.stream) {
    if (!st.one_shot && cur.running && !st.prev) { // moby's first frame only primes precpu
      st.prev = cur;
      self->delayed_send(self, defaults::stats_interval, atom::deadline_v);
      return;
    }
    st.conn->respond(json_response(200, encode_stats(cur, st.prev ? &*st.prev : nullptr)));
    self->quit();
    return;
  }
  if (!st.begun) {
    st.begun = true;
    st.conn->stream_begin(200, "application/json");
  }
  auto body = encode_stats(cur, st.prev ? &*st.prev : nullptr);
  st.prev = cur;
  st.writing = true;
  st.conn->stream_write(std::move(body), [hdl = caf::actor_cast<stats_stream_actor>(self)](
                                             bool ok) { caf::anon_send(hdl, atom::ack_v, ok); });
  self->delayed_send(self, defaults::stats_interval, atom::deadline_v);
}

stats_stream_actor::behavior_type stats_stream(stats_self self, job_handler_actor jobs,
                                               connection_ptr conn, std::string id, bool stream,
                                               bool one_shot) {
  auto& st = self->state;
  st.jobs = std::move(jobs);
  st.conn = std::move(conn);
  st.id = std::move(id);
  st.stream = stream;
  st.one_shot = one_shot;
  request_sample(self);
  return {
      [self](atom::deadline) {
        if (self->state.writing) { // the client is slow: skip this sample
          self->delayed_send(self, defaults::stats_interval, atom::deadline_v);
          return;
        }
        request_sample(self);
      },
      [self](atom::ack, bool ok) {
        self->state.writing = false;
        if (!ok) self->quit(); // the connection failed
      },
  };
}

} // namespace

stats_stream_actor spawn_stats_stream(caf::actor_system& sys, job_handler_actor jobs,
                                      connection_ptr conn, std::string id, bool stream,
                                      bool one_shot) {
  return sys.spawn(stats_stream, std::move(jobs), std::move(conn), std::move(id), stream, one_shot);
}

void add_stats_route(router& r, std::shared_ptr<api_context> ctx) {
  r.add("GET", "/containers/{id}/stats", [ctx](http_request& req, const connection_ptr& conn) {
    auto it = req.params.find("id");
    auto id = it == req.params.end() ? std::string{} : it->second;
    bool stream = query_bool(req, "stream", true);
    bool one_shot = compare_versions(req.api_version, "1.41") >= 0 && query_bool(req, "one-shot");
    auto s = spawn_stats_stream(*ctx->sys, ctx->engine, conn, std::move(id), stream, one_shot);
    // A stream lives until its client goes; a single answer ends by itself within ~1 s.
    if (stream)
      conn->on_close(
          [addr = s.address()] { caf::anon_send_exit(addr, caf::exit_reason::user_shutdown); });
  });
}

} // namespace berth::api
