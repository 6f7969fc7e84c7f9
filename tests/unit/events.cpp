// Events bus: ring, Docker's filters, since/until, slow subscribers, seed jobs.
#include <boost/test/unit_test.hpp>

#include "actors/events.hpp"
#include "tests/unit/fixture.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>

using namespace berth;
using namespace berth::test;

namespace {

struct sink_log {
  std::vector<event> events;
  std::vector<std::string> done;
};

// Records what it gets; acks each event when `ack` is set.
event_sink_actor::behavior_type recording_sink(event_sink_actor::pointer self,
                                               std::shared_ptr<sink_log> log, events_actor bus,
                                               bool ack) {
  return {
      [self, log, bus, ack](uint64_t id, event& ev) {
        log->events.push_back(ev);
        if (ack) self->send(bus, atom::ack_v, id, uint64_t{1});
      },
      [log](atom::done, uint64_t, std::string& reason) { log->done.push_back(reason); },
  };
}

event make_event(std::string type, std::string action, std::string id, int64_t t,
                 std::map<std::string, std::string> attrs = {}) {
  event ev;
  ev.type = std::move(type);
  ev.action = std::move(action);
  ev.actor_id = std::move(id);
  ev.time_nano = t;
  ev.attributes = std::move(attrs);
  return ev;
}

struct bus_fixture : deterministic_fixture {
  explicit bus_fixture(size_t max_pending = 1024) {
    events_options opts;
    opts.max_pending = max_pending;
    bus = *spawn_events(sys, opts);
    sched.run();
  }
  ~bus_fixture() {
    self->send_exit(bus, caf::exit_reason::user_shutdown);
    sched.run();
  }
  void publish(event ev) {
    self->send(bus, caf::publish_atom_v, std::move(ev));
    sched.run();
  }
  std::pair<event_sink_actor, std::shared_ptr<sink_log>> subscribe(event_query q, bool ack = true) {
    auto log = std::make_shared<sink_log>();
    auto sink = sys.spawn(recording_sink, log, bus, ack);
    auto rh = self->request(bus, long_timeout, caf::subscribe_atom_v, std::move(q), sink);
    sched.run();
    rh.receive([](uint64_t) {}, [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
    return {sink, log};
  }
  events_actor bus;
};

filter_args filters(std::initializer_list<std::pair<const char*, const char*>> kvs) {
  filter_args f;
  for (auto& [k, v] : kvs)
    f[k].insert(v);
  return f;
}

} // namespace

BOOST_AUTO_TEST_SUITE(event_filters)

BOOST_AUTO_TEST_CASE(no_filter_matches_everything) {
  BOOST_TEST(matches({}, make_event("container", "start", "abc", 1)));
}

BOOST_AUTO_TEST_CASE(type_and_event_are_exact) {
  auto ev = make_event("container", "start", "abc", 1);
  BOOST_TEST(matches(filters({{"type", "container"}}), ev));
  BOOST_TEST(!matches(filters({{"type", "image"}}), ev));
  BOOST_TEST(matches(filters({{"event", "start"}}), ev));
  BOOST_TEST(!matches(filters({{"event", "sta"}}), ev));
  auto f = filters({{"event", "start"}});
  f["event"].insert("die");
  BOOST_TEST(matches(f, make_event("container", "die", "abc", 1)));
}

BOOST_AUTO_TEST_CASE(exec_events_match_with_or_without_their_command) {
  auto ev = make_event("container", "exec_create: sh -c true", "abc", 1);
  BOOST_TEST(matches(filters({{"event", "exec_create"}}), ev));
  BOOST_TEST(!matches(filters({{"event", "exec_start"}}), ev));
}

BOOST_AUTO_TEST_CASE(container_matches_id_prefix_or_name) {
  auto ev =
      make_event("container", "start", "abcdef123", 1, {{"name", "web"}, {"image", "busybox"}});
  BOOST_TEST(matches(filters({{"container", "abc"}}), ev));
  BOOST_TEST(matches(filters({{"container", "web"}}), ev));
  BOOST_TEST(!matches(filters({{"container", "db"}}), ev));
}

BOOST_AUTO_TEST_CASE(image_matches_with_and_without_tag) {
  auto ev = make_event("container", "start", "abc", 1, {{"image", "busybox:latest"}});
  BOOST_TEST(matches(filters({{"image", "busybox"}}), ev));
  BOOST_TEST(matches(filters({{"image", "busybox:latest"}}), ev));
  BOOST_TEST(!matches(filters({{"image", "alpine"}}), ev));
  auto img = make_event("image", "pull", "127.0.0.1:5000/busybox:latest", 1,
                        {{"name", "127.0.0.1:5000/busybox"}});
  BOOST_TEST(matches(filters({{"image", "127.0.0.1:5000/busybox"}}), img));
}

BOOST_AUTO_TEST_CASE(labels_match_key_or_key_value) {
  auto ev = make_event("container", "start", "abc", 1, {{"com.x", "1"}, {"tier", "web"}});
  BOOST_TEST(matches(filters({{"label", "com.x"}}), ev));
  BOOST_TEST(matches(filters({{"label", "tier=web"}}), ev));
  BOOST_TEST(!matches(filters({{"label", "tier=db"}}), ev));
  auto both = filters({{"label", "tier=web"}});
  both["label"].insert("missing");
  BOOST_TEST(!matches(both, ev));
}

BOOST_AUTO_TEST_CASE(daemon_network_volume_match_by_id_or_name) {
  auto d = make_event("daemon", "reload", "engine-1", 1, {{"name", "host1"}});
  BOOST_TEST(matches(filters({{"daemon", "host1"}}), d));
  BOOST_TEST(matches(filters({{"daemon", "engine"}}), d));
  BOOST_TEST(!matches(filters({{"daemon", "other"}}), d));
  auto n = make_event("network", "create", "net123", 1, {{"name", "front"}});
  BOOST_TEST(matches(filters({{"network", "front"}}), n));
  BOOST_TEST(!matches(filters({{"volume", "back"}}), n)); // moby: the key matches ID or name
  auto v = make_event("volume", "create", "data", 1);
  BOOST_TEST(matches(filters({{"volume", "data"}}), v));
}

BOOST_AUTO_TEST_CASE(unknown_filter_keys_are_rejected) {
  BOOST_TEST(!validate_event_filters(filters({{"type", "container"}, {"label", "a"}})));
  auto err = validate_event_filters(filters({{"bogus", "x"}}));
  BOOST_TEST((err == ec::invalid_argument));
  BOOST_TEST(error_message(err) == "invalid filter 'bogus'");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(events_bus, bus_fixture)

BOOST_AUTO_TEST_CASE(ring_keeps_the_last_256_events) {
  for (int i = 1; i <= 300; ++i)
    publish(make_event("container", "start", std::to_string(i), i));
  auto rh = self->request(bus, long_timeout, caf::get_atom_v);
  sched.run();
  rh.receive(
      [](std::vector<event>& ring) {
        BOOST_TEST(ring.size() == 256u);
        BOOST_TEST(ring.front().actor_id == "45");
        BOOST_TEST(ring.back().actor_id == "300");
      },
      [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
}

BOOST_AUTO_TEST_CASE(publish_stamps_time_and_scope) {
  auto [sink, log] = subscribe(event_query{});
  publish(make_event("container", "start", "a", 0));
  BOOST_REQUIRE(log->events.size() == 1u);
  BOOST_TEST(log->events[0].time_nano > 0);
  BOOST_TEST(log->events[0].scope == "local");
}

BOOST_AUTO_TEST_CASE(since_replays_and_until_in_the_past_ends_at_once) {
  for (int64_t t : {100, 200, 300})
    publish(make_event("container", "start", std::to_string(t), t));
  auto [sink, log] = subscribe(event_query{150, 250, {}});
  BOOST_REQUIRE(log->events.size() == 1u);
  BOOST_TEST(log->events[0].actor_id == "200");
  BOOST_REQUIRE(log->done.size() == 1u);
  BOOST_TEST(log->done[0] == "until reached");
}

BOOST_AUTO_TEST_CASE(without_since_only_new_events_arrive) {
  publish(make_event("container", "start", "old", 100));
  auto [sink, log] = subscribe(event_query{});
  BOOST_TEST(log->events.empty());
  publish(make_event("container", "start", "new", 0));
  BOOST_REQUIRE(log->events.size() == 1u);
  BOOST_TEST(log->events[0].actor_id == "new");
}

BOOST_AUTO_TEST_CASE(until_in_the_future_ends_when_reached) {
  event_query q;
  q.until_nano = now_nano() + int64_t{3600} * 1000000000;
  auto [sink, log] = subscribe(q);
  publish(make_event("container", "start", "a", 0));
  BOOST_TEST(log->events.size() == 1u);
  BOOST_TEST(log->done.empty());
  sched.clock().advance_time(std::chrono::seconds(3601));
  sched.run();
  BOOST_REQUIRE(log->done.size() == 1u);
  BOOST_TEST(log->done[0] == "until reached");
}

BOOST_AUTO_TEST_CASE(filters_apply_to_live_and_replayed_events) {
  publish(make_event("image", "pull", "busybox", 10));
  publish(make_event("container", "start", "c1", 20));
  event_query q;
  q.since_nano = 0;
  q.filters["type"].insert("container");
  auto [sink, log] = subscribe(q);
  publish(make_event("image", "pull", "alpine", 0));
  publish(make_event("container", "die", "c1", 0));
  BOOST_REQUIRE(log->events.size() == 2u);
  BOOST_TEST(log->events[0].action == "start");
  BOOST_TEST(log->events[1].action == "die");
}

BOOST_AUTO_TEST_CASE(since_after_until_is_an_error) {
  auto log = std::make_shared<sink_log>();
  auto sink = sys.spawn(recording_sink, log, bus, true);
  auto rh =
      self->request(bus, long_timeout, caf::subscribe_atom_v, event_query{300, 100, {}}, sink);
  sched.run();
  caf::error got;
  rh.receive([](uint64_t) { BOOST_FAIL("accepted since > until"); },
             [&](const caf::error& err) { got = err; });
  BOOST_TEST((got == ec::invalid_argument));
}

BOOST_AUTO_TEST_CASE(unsubscribe_and_dead_sinks_stop_delivery) {
  auto [sink, log] = subscribe(event_query{});
  auto rh = self->request(bus, long_timeout, caf::get_atom_v, atom::listeners_v);
  sched.run();
  rh.receive([](uint64_t n) { BOOST_TEST(n == 1u); }, [](const caf::error&) { BOOST_FAIL("err"); });
  self->send_exit(sink, caf::exit_reason::user_shutdown);
  sched.run();
  auto rh2 = self->request(bus, long_timeout, caf::get_atom_v, atom::listeners_v);
  sched.run();
  rh2.receive([](uint64_t n) { BOOST_TEST(n == 0u); },
              [](const caf::error&) { BOOST_FAIL("err"); });
}

BOOST_AUTO_TEST_CASE(seed_jobs_log_and_subscribers_count) {
  auto [sink, log] = subscribe(event_query{});
  auto rh = self->request(bus, long_timeout,
                          job{"log", {"create", "abc", "busybox"}, {{"attr.name", "web"}}, {}});
  sched.run();
  rh.receive([](job_result& r) { BOOST_TEST(r.status == 0); },
             [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  BOOST_REQUIRE(log->events.size() == 1u);
  BOOST_TEST(log->events[0].type == "container");
  BOOST_TEST(log->events[0].attributes.at("image") == "busybox");
  BOOST_TEST(log->events[0].attributes.at("name") == "web");
  auto rh2 = self->request(bus, long_timeout, job{"subscribers_count", {}, {}, {}});
  sched.run();
  rh2.receive([](job_result& r) { BOOST_TEST(r.output.get_as<uint64_t>(0) == 1u); },
              [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
struct small_bus_fixture : bus_fixture {
  small_bus_fixture() : bus_fixture(3) {}
};
} // namespace

BOOST_FIXTURE_TEST_SUITE(events_slow_subscribers, small_bus_fixture)

BOOST_AUTO_TEST_CASE(slow_subscriber_is_dropped_and_fast_one_keeps_going) {
  auto [slow, slow_log] = subscribe(event_query{}, false);
  auto [fast, fast_log] = subscribe(event_query{}, true);
  for (int i = 0; i < 10; ++i)
    publish(make_event("container", "start", std::to_string(i), 0));
  BOOST_TEST(slow_log->events.size() == 3u);
  BOOST_REQUIRE(slow_log->done.size() == 1u);
  BOOST_TEST(slow_log->done[0].find("too slow") != std::string::npos);
  BOOST_TEST(fast_log->events.size() == 10u);
  BOOST_TEST(fast_log->done.empty());
}

BOOST_AUTO_TEST_SUITE_END()
