// docker stats (api/stats.cpp): moby's StatsJSON byte for byte for a stopped container, the field
// order, types and omitempty rules of v1 and v2 samples; and the stream actor on the
// deterministic scheduler against a fake engine and connection: one sample per tick, ticks
// skipped while the client is slow, the end with the client (no more jobs) or with the
// container, stream=0's two samples, one-shot, and the errors.
#include <boost/test/unit_test.hpp>

#include "api/stats.hpp"
#include "tests/unit/fixture.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <boost/json.hpp>

#include <functional>
#include <memory>

#include <string>
#include <vector>

using namespace berth;

namespace {

namespace json = boost::json;

bool contains_text(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<std::string> keys(const json::object& o) {
  std::vector<std::string> out;
  for (auto& kv : o)
    out.emplace_back(kv.key());
  return out;
}

container_stats v1_sample() {
  container_stats s;
  s.id = "4729c00f677d";
  s.name = "/web";
  s.running = true;
  s.read_nano = 1700000000123456789;
  s.system_cpu_usage = 9000000000;
  s.online_cpus = 2;
  auto& c = s.cgroup;
  c.version = 1;
  c.cpu_total = 5000;
  c.cpu_percpu = {3000, 2000};
  c.cpu_kernel = 1000;
  c.cpu_user = 4000;
  c.has_memory = true;
  c.memory_usage = 8388608;
  c.memory_max_usage = 9437184;
  c.memory_limit = 1073741824;
  c.memory_stat = {{"total_inactive_file", 4096}, {"cache", 0}};
  c.pids_current = 1;
  c.has_blkio = true;
  c.io_service_bytes = {{8, 0, "Read", 4096}};
  s.networks = {{"eth1", 1, 2, 3, 4, 5, 6, 7, 8}, {"eth0", 0, 0, 0, 0, 0, 0, 0, 0}};
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(stats_json)

BOOST_AUTO_TEST_CASE(a_stopped_container_is_name_and_id_only) {
  container_stats s;
  s.id = "abc";
  s.name = "/web";
  const char* zero_cpu = R"({"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,)"
                         R"("usage_in_usermode":0},"throttling_data":{"periods":0,)"
                         R"("throttled_periods":0,"throttled_time":0}})";
  auto want = std::string{R"({"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z",)"
                          R"("pids_stats":{},"blkio_stats":{"io_service_bytes_recursive":null,)"
                          R"("io_serviced_recursive":null,"io_queue_recursive":null,)"
                          R"("io_service_time_recursive":null,"io_wait_time_recursive":null,)"
                          R"("io_merged_recursive":null,"io_time_recursive":null,)"
                          R"("sectors_recursive":null},"num_procs":0,"storage_stats":{},)"
                          R"("cpu_stats":)"} +
              zero_cpu + R"(,"precpu_stats":)" + zero_cpu +
              R"(,"memory_stats":{},"name":"/web","id":"abc"})" + "\n";
  BOOST_CHECK_EQUAL(api::encode_stats(s, nullptr), want);
}

BOOST_AUTO_TEST_CASE(a_v1_sample_with_its_previous_one) {
  auto cur = v1_sample();
  auto pre = v1_sample();
  pre.read_nano = 1700000000000000000;
  pre.cgroup.cpu_total = 1000;
  auto text = api::encode_stats(cur, &pre);
  BOOST_CHECK_EQUAL(text.back(), '\n');
  auto o = json::parse(text).as_object();
  BOOST_CHECK((keys(o) == std::vector<std::string>{"read", "preread", "pids_stats", "blkio_stats",
                                                   "num_procs", "storage_stats", "cpu_stats",
                                                   "precpu_stats", "memory_stats", "name", "id",
                                                   "networks"}));
  BOOST_CHECK_EQUAL(o["read"].as_string(), "2023-11-14T22:13:20.123456789Z");
  BOOST_CHECK_EQUAL(o["preread"].as_string(), "2023-11-14T22:13:20Z");
  BOOST_CHECK((keys(o["pids_stats"].as_object()) == std::vector<std::string>{"current"}));
  auto& cpu = o["cpu_stats"].as_object();
  BOOST_CHECK((keys(cpu) == std::vector<std::string>{"cpu_usage", "system_cpu_usage", "online_cpus",
                                                     "throttling_data"}));
  auto& usage = cpu.at("cpu_usage").as_object();
  BOOST_CHECK(
      (keys(usage) == std::vector<std::string>{"total_usage", "percpu_usage", "usage_in_kernelmode",
                                               "usage_in_usermode"}));
  BOOST_CHECK(usage.at("total_usage").is_uint64() || usage.at("total_usage").is_int64());
  BOOST_CHECK_EQUAL(usage.at("percpu_usage").as_array().size(), 2u);
  BOOST_CHECK_EQUAL(o["precpu_stats"].at("cpu_usage").at("total_usage").to_number<int64_t>(), 1000);
  auto& mem = o["memory_stats"].as_object();
  BOOST_CHECK((keys(mem) == std::vector<std::string>{"usage", "max_usage", "stats", "limit"}));
  BOOST_CHECK((keys(mem.at("stats").as_object()) ==
               std::vector<std::string>{"cache", "total_inactive_file"})); // sorted, as Go
  auto& blkio = o["blkio_stats"].as_object();
  BOOST_CHECK_EQUAL(blkio.at("io_service_bytes_recursive").as_array().size(), 1u);
  auto& entry = blkio.at("io_service_bytes_recursive").as_array()[0].as_object();
  BOOST_CHECK((keys(entry) == std::vector<std::string>{"major", "minor", "op", "value"}));
  BOOST_CHECK_EQUAL(entry.at("op").as_string(), "Read");
  BOOST_CHECK(blkio.at("sectors_recursive").is_array()); // v1: [] (copyBlkioEntry)
  BOOST_CHECK(blkio.at("sectors_recursive").as_array().empty());
  auto& nets = o["networks"].as_object();
  BOOST_CHECK((keys(nets) == std::vector<std::string>{"eth0", "eth1"}));
  BOOST_CHECK((keys(nets.at("eth1").as_object()) ==
               std::vector<std::string>{"rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                        "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}));
  BOOST_CHECK_EQUAL(nets.at("eth1").at("tx_dropped").to_number<int64_t>(), 8);
}

BOOST_AUTO_TEST_CASE(a_v2_sample_has_no_percpu_and_null_lists) {
  auto s = v1_sample();
  s.cgroup.version = 2;
  s.cgroup.cpu_percpu.clear();
  s.cgroup.memory_max_usage = 0;
  s.cgroup.has_blkio = false;
  s.cgroup.io_service_bytes.clear();
  s.cgroup.pids_limit = UINT64_MAX;
  s.networks.clear(); // --network none/host, or only lo: no "networks" at all
  auto o = json::parse(api::encode_stats(s, nullptr)).as_object();
  BOOST_CHECK(!o.contains("networks"));
  BOOST_CHECK(!o["cpu_stats"].at("cpu_usage").as_object().contains("percpu_usage"));
  BOOST_CHECK(!o["memory_stats"].as_object().contains("max_usage"));
  BOOST_CHECK(o["blkio_stats"].at("io_service_bytes_recursive").is_null());
  BOOST_CHECK(o["blkio_stats"].at("io_serviced_recursive").is_null());
  BOOST_CHECK_EQUAL(o["pids_stats"].at("limit").as_uint64(), UINT64_MAX);
  BOOST_CHECK_EQUAL(o["preread"].as_string(), "0001-01-01T00:00:00Z");
  // no previous sample: precpu is zero and has no system figures (omitempty)
  BOOST_CHECK((keys(o["precpu_stats"].as_object()) ==
               std::vector<std::string>{"cpu_usage", "throttling_data"}));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

using namespace berth::test;

/// What the fake engine answers to `container_stats`: a running sample (read_nano = the call
/// number), a stopped container's, or 404.
struct fake_container {
  int calls = 0;
  bool running = true;
  bool removed = false;
};

job_handler_actor::behavior_type fake_engine(job_handler_actor::pointer,
                                             std::shared_ptr<fake_container> c) {
  return {
      [c](job& j) -> job_result {
        BOOST_CHECK_EQUAL(j.name, "container_stats");
        ++c->calls;
        if (c->removed)
          return job_result{
              status_err, make_error(ec::not_found, "No such container: " + j.args[0]), {}};
        container_stats s;
        s.id = "0123456789ab";
        s.name = "/web";
        s.running = c->running;
        if (c->running) {
          s.read_nano = c->calls * 1000000000LL;
          s.cgroup.cpu_total = static_cast<uint64_t>(c->calls) * 100;
        }
        return job_result{status_ok, {}, caf::make_message(std::move(s))};
      },
  };
}

/// Records what the stream does to its client; `hold` keeps the write callbacks (a slow client).
struct fake_connection : api::connection {
  std::vector<api::http_response> responses;
  int begun = 0;
  int ended = 0;
  std::vector<std::string> writes;
  bool hold = false;
  std::vector<std::function<void(bool)>> held;
  void respond(api::http_response res) override { responses.push_back(std::move(res)); }
  void stream_begin(unsigned status, std::string type) override {
    BOOST_CHECK_EQUAL(status, 200u);
    BOOST_CHECK_EQUAL(type, "application/json");
    ++begun;
  }
  void stream_write(std::string chunk, std::function<void(bool)> done) override {
    writes.push_back(std::move(chunk));
    if (hold)
      held.push_back(std::move(done));
    else
      done(true);
  }
  void stream_end() override { ++ended; }
  void hijack(std::function<void(std::string)>) override {}
  void raw_write(std::string, std::function<void(bool)> done) override { done(true); }
  void on_close(std::function<void()>) override {}
};

struct stream_fixture : deterministic_fixture {
  std::shared_ptr<fake_container> container = std::make_shared<fake_container>();
  std::shared_ptr<fake_connection> conn = std::make_shared<fake_connection>();
  job_handler_actor engine = sys.spawn(fake_engine, container);
  stats_stream_actor start(bool stream, bool one_shot = false) {
    auto s = api::spawn_stats_stream(sys, engine, conn, "web", stream, one_shot);
    self->monitor(s);
    sched.run();
    return s;
  }
  /// The next timer (the stream's tick) fires; everything it causes runs.
  void tick() {
    sched.trigger_timeout();
    sched.run();
  }
  bool ended_actor() {
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return down;
  }
  ~stream_fixture() {
    caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

json::object parse(const std::string& text) {
  return json::parse(text).as_object();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(stats_stream, stream_fixture)

BOOST_AUTO_TEST_CASE(a_sample_a_tick_until_the_client_goes) {
  auto s = start(true);
  BOOST_CHECK_EQUAL(conn->begun, 1);
  BOOST_REQUIRE_EQUAL(conn->writes.size(), 1u); // the first at once
  BOOST_CHECK_EQUAL(parse(conn->writes[0])["preread"].as_string(), "0001-01-01T00:00:00Z");
  tick();
  tick();
  BOOST_REQUIRE_EQUAL(conn->writes.size(), 3u);
  auto o = parse(conn->writes[2]);
  BOOST_CHECK_EQUAL(o["preread"].as_string(), "1970-01-01T00:00:02Z");
  BOOST_CHECK_EQUAL(o["precpu_stats"].at("cpu_usage").at("total_usage").to_number<int64_t>(), 200);
  // It stops: name-and-ID objects (moby), the stream goes on.
  container->running = false;
  tick();
  BOOST_REQUIRE_EQUAL(conn->writes.size(), 4u);
  o = parse(conn->writes[3]);
  BOOST_CHECK_EQUAL(o["read"].as_string(), "0001-01-01T00:00:00Z");
  BOOST_CHECK_EQUAL(o["preread"].as_string(), "1970-01-01T00:00:03Z");
  BOOST_CHECK_EQUAL(conn->ended, 0);
  // The client goes (the route's on_close): the actor ends, and its last timer asks nothing.
  caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_CHECK(ended_actor());
  auto calls = container->calls;
  while (sched.trigger_timeout())
    sched.run();
  BOOST_CHECK_EQUAL(container->calls, calls);
  BOOST_CHECK_EQUAL(conn->writes.size(), 4u);
  BOOST_CHECK(conn->responses.empty());
}

BOOST_AUTO_TEST_CASE(a_slow_client_skips_ticks) {
  conn->hold = true;
  start(true);
  BOOST_REQUIRE_EQUAL(conn->writes.size(), 1u);
  tick();
  tick(); // the first object is not written yet: no sample
  BOOST_CHECK_EQUAL(container->calls, 1);
  conn->held.front()(true);
  sched.run();
  tick();
  BOOST_CHECK_EQUAL(container->calls, 2);
  BOOST_CHECK_EQUAL(conn->writes.size(), 2u);
  conn->held.back()(false); // the connection failed: the actor ends
  sched.run();
  BOOST_CHECK(ended_actor());
}

BOOST_AUTO_TEST_CASE(the_stream_ends_when_the_container_is_removed) {
  start(true);
  container->removed = true;
  tick();
  BOOST_CHECK_EQUAL(conn->ended, 1);
  BOOST_CHECK(conn->responses.empty());
  BOOST_CHECK(ended_actor());
}

BOOST_AUTO_TEST_CASE(stream0_takes_two_samples_a_tick_apart) {
  start(false);
  BOOST_CHECK(conn->responses.empty()); // the first one only primes precpu
  tick();
  BOOST_REQUIRE_EQUAL(conn->responses.size(), 1u);
  BOOST_CHECK_EQUAL(conn->begun, 0);
  auto& res = conn->responses[0];
  BOOST_CHECK_EQUAL(res.status, 200u);
  BOOST_CHECK_EQUAL(res.content_type, "application/json");
  auto o = parse(res.body);
  BOOST_CHECK_EQUAL(o["read"].as_string(), "1970-01-01T00:00:02Z");
  BOOST_CHECK_EQUAL(o["preread"].as_string(), "1970-01-01T00:00:01Z");
  BOOST_CHECK(ended_actor());
  BOOST_CHECK_EQUAL(container->calls, 2);
}

BOOST_AUTO_TEST_CASE(one_shot_and_a_stopped_container_answer_at_once) {
  start(false, true);
  BOOST_REQUIRE_EQUAL(conn->responses.size(), 1u);
  BOOST_CHECK_EQUAL(parse(conn->responses[0].body)["preread"].as_string(), "0001-01-01T00:00:00Z");
  BOOST_CHECK(ended_actor());
  container->running = false;
  start(false);
  BOOST_REQUIRE_EQUAL(conn->responses.size(), 2u);
  BOOST_CHECK_EQUAL(parse(conn->responses[1].body)["name"].as_string(), "/web");
  BOOST_CHECK(ended_actor());
  BOOST_CHECK_EQUAL(container->calls, 2);
}

BOOST_AUTO_TEST_CASE(errors_come_before_any_output) {
  start(true, true); // stream and one-shot: 400, after the lookup (as moby)
  BOOST_REQUIRE_EQUAL(conn->responses.size(), 1u);
  BOOST_CHECK_EQUAL(conn->responses[0].status, 400u);
  BOOST_CHECK(contains_text(conn->responses[0].body, "cannot have stream=true and one-shot=true"));
  BOOST_CHECK(ended_actor());
  container->removed = true;
  start(true);
  BOOST_REQUIRE_EQUAL(conn->responses.size(), 2u);
  BOOST_CHECK_EQUAL(conn->responses[1].status, 404u);
  BOOST_CHECK_EQUAL(conn->begun, 0);
  BOOST_CHECK(ended_actor());
}

BOOST_AUTO_TEST_SUITE_END()
