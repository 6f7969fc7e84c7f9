// Engine: routing, 127, commands, registration conflicts, version/info, shutdown ordering and caps.
#include <boost/test/unit_test.hpp>

#include "actors/engine.hpp"
#include "actors/events.hpp"
#include "messages/defaults.hpp"
#include "tests/unit/fixture.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <memory>

using namespace berth;
using namespace berth::test;

namespace {

// Echoes its arguments back as the output; "hang" never answers. (It takes a name because CAF
// 0.17.6 binds a reference through a null pointer when a function actor gets no arguments,
// which UBSan reports: every spawned function in berth takes at least one.)
job_handler_actor::behavior_type echo_service(job_handler_actor::pointer self, std::string) {
  return {
      [self](job& j) -> caf::result<job_result> {
        if (j.name == "hang") return self->make_response_promise<job_result>();
        return job_result{status_ok, {}, caf::make_message(j.args)};
      },
  };
}

struct shutdown_probe {
  int calls = 0;
};

// Counts shutdown calls; answers unless `hang`.
shutdown_handler_actor::behavior_type shutdown_service(shutdown_handler_actor::pointer self,
                                                       std::shared_ptr<shutdown_probe> probe,
                                                       bool hang) {
  return {
      [self, probe, hang](atom::shutdown) -> caf::result<caf::ok_atom> {
        ++probe->calls;
        if (hang) return self->make_response_promise<caf::ok_atom>();
        return caf::ok_atom_v;
      },
  };
}

struct engine_fixture : deterministic_fixture {
  engine_fixture() {
    engine_options opts;
    opts.engine_id = "test-engine";
    opts.host.kernel_version = "6.1.0-test";
    opts.host.go_arch = "amd64";
    opts.storage_driver = "vfs";
    engine = *spawn_engine(sys, opts);
    sched.run();
  }
  ~engine_fixture() {
    self->send_exit(engine, caf::exit_reason::user_shutdown);
    sched.run();
  }

  job_result run(job j) {
    auto rh = self->request(engine, long_timeout, std::move(j));
    sched.run();
    job_result out;
    rh.receive([&](job_result& r) { out = std::move(r); },
               [&](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
    return out;
  }

  caf::error provide(const std::string& service, std::vector<std::string> names,
                     job_handler_actor h) {
    auto rh = self->request(engine, long_timeout, atom::provide_v, service, std::move(names), h);
    sched.run();
    caf::error out;
    rh.receive([](caf::ok_atom) {}, [&](const caf::error& err) { out = err; });
    return out;
  }

  void provide_shutdown(const std::string& name, shutdown_handler_actor h) {
    auto rh = self->request(engine, long_timeout, atom::provide_v, atom::shutdown_v, name, h);
    sched.run();
    rh.receive([](caf::ok_atom) {}, [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  }

  engine_actor engine;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(engine_suite, engine_fixture)

BOOST_AUTO_TEST_CASE(routes_a_job_to_its_registered_service) {
  auto svc = sys.spawn(echo_service, std::string{"echo"});
  BOOST_TEST(!provide("echo-service", {"echo"}, svc));
  auto r = run(job{"echo", {"a", "b"}, {}, {}});
  BOOST_TEST(r.status == status_ok);
  BOOST_REQUIRE(r.output.match_elements<std::vector<std::string>>());
  BOOST_TEST(r.output.get_as<std::vector<std::string>>(0) == (std::vector<std::string>{"a", "b"}));
  self->send_exit(svc, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(unknown_job_is_status_127) {
  auto r = run(job{"nosuch", {}, {}, {}});
  BOOST_TEST(r.status == 127);
  BOOST_TEST((r.error == ec::command_not_found));
  BOOST_TEST(error_message(r.error) == "command not found: nosuch");
}

BOOST_AUTO_TEST_CASE(commands_lists_builtins_and_registered_jobs) {
  auto svc = sys.spawn(echo_service, std::string{"echo"});
  BOOST_TEST(!provide("echo-service", {"echo", "echo2"}, svc));
  auto r = run(job{"commands", {}, {}, {}});
  BOOST_REQUIRE(r.output.match_elements<std::vector<command_info>>());
  auto cmds = r.output.get_as<std::vector<command_info>>(0);
  std::vector<std::string> names;
  for (auto& c : cmds)
    names.push_back(c.name + "@" + c.service);
  BOOST_TEST(names == (std::vector<std::string>{"commands@engine", "version@engine", "info@engine",
                                                "echo@echo-service", "echo2@echo-service"}));
  self->send_exit(svc, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(registering_a_taken_name_is_a_conflict) {
  auto svc = sys.spawn(echo_service, std::string{"echo"});
  BOOST_TEST(!provide("a", {"echo"}, svc));
  BOOST_TEST((provide("b", {"echo"}, svc) == ec::conflict));
  BOOST_TEST((provide("b", {"version"}, svc) == ec::conflict));
  self->send_exit(svc, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(a_dead_service_is_unregistered) {
  auto svc = sys.spawn(echo_service, std::string{"echo"});
  BOOST_TEST(!provide("a", {"echo"}, svc));
  self->send_exit(svc, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_TEST(run(job{"echo", {}, {}, {}}).status == 127);
}

BOOST_AUTO_TEST_CASE(version_job_answers_api_1_41) {
  auto r = run(job{"version", {}, {}, {}});
  BOOST_REQUIRE(r.output.match_elements<version_info>());
  auto v = r.output.get_as<version_info>(0);
  BOOST_TEST(v.api_version == "1.41");
  BOOST_TEST(v.min_api_version == "1.24");
  BOOST_TEST(v.kernel_version == "6.1.0-test");
  BOOST_TEST(v.arch == "amd64");
  BOOST_TEST(v.caf_version == "0.17.6");
}

BOOST_AUTO_TEST_CASE(info_job_counts_event_listeners_through_the_bus) {
  auto bus = *spawn_events(sys, events_options{engine});
  sched.run();
  auto r = run(job{"info", {}, {}, {}});
  BOOST_REQUIRE(r.output.match_elements<system_info>());
  auto info = r.output.get_as<system_info>(0);
  BOOST_TEST(info.id == "test-engine");
  BOOST_TEST(info.storage_driver == "vfs");
  BOOST_TEST(info.event_listeners == 0);
  BOOST_TEST(info.fds > 0);
  self->send_exit(bus, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(shutdown_runs_every_handler_then_refuses_jobs) {
  auto p1 = std::make_shared<shutdown_probe>();
  auto p2 = std::make_shared<shutdown_probe>();
  auto h1 = sys.spawn(shutdown_service, p1, false);
  auto h2 = sys.spawn(shutdown_service, p2, false);
  provide_shutdown("one", h1);
  provide_shutdown("two", h2);
  auto rh = self->request(engine, long_timeout, atom::shutdown_v);
  sched.run();
  bool done = false;
  rh.receive([&](caf::ok_atom) { done = true; },
             [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  BOOST_TEST(done);
  BOOST_TEST(p1->calls == 1);
  BOOST_TEST(p2->calls == 1);
  auto r = run(job{"version", {}, {}, {}});
  BOOST_TEST(r.status == status_err);
  BOOST_TEST(error_message(r.error) == "engine is shutdown");
  BOOST_TEST(http_status(r.error) == 503u);
  for (auto h : {h1, h2})
    self->send_exit(h, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(shutdown_waits_for_active_jobs_at_most_5s) {
  auto svc = sys.spawn(echo_service, std::string{"echo"});
  BOOST_TEST(!provide("svc", {"hang"}, svc));
  auto probe = std::make_shared<shutdown_probe>();
  auto h = sys.spawn(shutdown_service, probe, false);
  provide_shutdown("h", h);
  auto job_rh = self->request(engine, long_timeout, job{"hang", {}, {}, {}});
  sched.run();
  auto rh = self->request(engine, long_timeout, atom::shutdown_v);
  sched.run();
  // the job is still active: handlers must not have run yet
  BOOST_TEST(probe->calls == 0);
  sched.clock().advance_time(std::chrono::milliseconds(4900));
  sched.run();
  BOOST_TEST(probe->calls == 0);
  sched.clock().advance_time(std::chrono::milliseconds(100)); // the 5 s wait ends
  sched.run();
  BOOST_TEST(probe->calls == 1);
  BOOST_REQUIRE(!self->mailbox().empty());
  bool done = false;
  rh.receive([&](caf::ok_atom) { done = true; },
             [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  BOOST_TEST(done);
  self->send_exit(svc, caf::exit_reason::user_shutdown);
  self->send_exit(h, caf::exit_reason::user_shutdown);
  sched.run();
  job_rh.receive([](job_result&) {}, [](const caf::error&) {});
}

// The cap is --shutdown-timeout (15 s by default) + 5 s for containers, and at least 10 s.
BOOST_AUTO_TEST_CASE(shutdown_handlers_are_capped_at_shutdown_timeout_plus_5s) {
  auto fast = std::make_shared<shutdown_probe>();
  auto stuck = std::make_shared<shutdown_probe>();
  auto h1 = sys.spawn(shutdown_service, fast, false);
  auto h2 = sys.spawn(shutdown_service, stuck, true);
  provide_shutdown("fast", h1);
  provide_shutdown("stuck", h2);
  auto rh = self->request(engine, long_timeout, atom::shutdown_v);
  sched.run();
  BOOST_TEST(fast->calls == 1);
  BOOST_TEST(stuck->calls == 1); // both ran concurrently
  sched.clock().advance_time(std::chrono::milliseconds(19900));
  sched.run();
  BOOST_TEST(self->mailbox().empty());                        // still waiting for the stuck one
  sched.clock().advance_time(std::chrono::milliseconds(100)); // the 20 s cap
  sched.run();
  BOOST_REQUIRE(!self->mailbox().empty());
  bool done = false;
  rh.receive([&](caf::ok_atom) { done = true; },
             [](const caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  BOOST_TEST(done);
  for (auto h : {h1, h2})
    self->send_exit(h, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(describe_formats_like_the_seed) {
  BOOST_TEST(describe(job{"log", {"create", "abc"}, {}, {}}) == "log(create, abc)");
  BOOST_TEST(describe(job{"version", {}, {}, {}}) == "version()");
}

BOOST_AUTO_TEST_SUITE_END()
