// A CAF actor system on the deterministic test scheduler: nothing runs until the test says so.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>

namespace berth::test {

inline constexpr auto long_timeout = std::chrono::seconds(3600); // never the next timeout to fire

struct deterministic_fixture {
  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    register_messages(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.inline-output", true);
    return cfg;
  }
  deterministic_fixture()
      : sys{init(cfg)}, self{sys, true}, sched{dynamic_cast<caf::scheduler::test_coordinator&>(
                                             sys.scheduler())} {}
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::scheduler::test_coordinator& sched;
};

} // namespace berth::test
