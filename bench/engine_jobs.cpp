// Benchmark: engine job round trips in-process (jobs/s), from one blocking sender and from many
// event-based senders with a window of outstanding jobs. Prints the median of 5 runs.
// Usage: bench_engine [jobs-per-run]
#include "actors/engine.hpp"
#include "actors/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

using namespace berth;
using clock_type = std::chrono::steady_clock;

namespace {

// Takes an argument: CAF 0.17.6 trips UBSan on function actors spawned without any.
job_handler_actor::behavior_type echo_service(std::string) {
  return {[](job& j) { return job_result{status_ok, {}, caf::make_message(j.args.size())}; }};
}

struct sender_state {
  int left = 0;
  int in_flight = 0;
  std::shared_ptr<std::promise<void>> done;
};

// Keeps `window` jobs in flight until `total` have completed.
caf::behavior sender(caf::stateful_actor<sender_state>* self, engine_actor engine, int total,
                     int window, std::shared_ptr<std::promise<void>> done) {
  self->state.left = total;
  self->state.done = std::move(done);
  auto fire = std::make_shared<std::function<void()>>();
  *fire = [self, engine, fire, window] {
    auto& st = self->state;
    while (st.left > 0 && st.in_flight < window) {
      --st.left;
      ++st.in_flight;
      self->request(engine, std::chrono::seconds(60), job{"echo", {"x"}, {}, {}})
          .then([self, fire](job_result&) {
            --self->state.in_flight;
            if (self->state.left == 0 && self->state.in_flight == 0) {
              self->state.done->set_value();
              self->quit();
              return;
            }
            (*fire)();
          });
    }
  };
  (*fire)();
  return {[](caf::ok_atom) {}};
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  log::init(log::level::error);
  int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  caf::actor_system_config cfg;
  register_messages(cfg);
  caf::actor_system sys{cfg};
  engine_options opts;
  opts.engine_id = "bench";
  auto engine = *spawn_engine(sys, opts);
  auto svc = sys.spawn(echo_service, std::string{"echo"});
  {
    caf::scoped_actor self{sys};
    self->request(engine, std::chrono::seconds(5), atom::provide_v, std::string{"bench"},
                  std::vector<std::string>{"echo"}, svc)
        .receive([](caf::ok_atom) {}, [](const caf::error&) { std::exit(1); });
  }
  std::printf("engine job round trip, %d jobs per run, median of 5 runs, %u scheduler threads\n", n,
              static_cast<unsigned>(sys.scheduler().num_workers()));
  // one blocking sender: strict request/response, one job at a time
  std::vector<double> one, lat;
  for (int run = 0; run < 5; ++run) {
    caf::scoped_actor self{sys};
    int m = n / 10;
    auto start = clock_type::now();
    for (int i = 0; i < m; ++i)
      self->request(engine, std::chrono::seconds(5), job{"echo", {"x"}, {}, {}})
          .receive([](job_result&) {}, [](const caf::error&) { std::exit(1); });
    std::chrono::duration<double> d = clock_type::now() - start;
    one.push_back(m / d.count());
    lat.push_back(d.count() / m * 1e6);
  }
  std::printf("  1 blocking sender  : %10.0f jobs/s  (%.1f us per round trip)\n", median(one),
              median(lat));
  for (int senders : {1, 4, 16}) {
    std::vector<double> rates;
    for (int run = 0; run < 5; ++run) {
      std::vector<std::future<void>> futures;
      auto start = clock_type::now();
      for (int s = 0; s < senders; ++s) {
        auto p = std::make_shared<std::promise<void>>();
        futures.push_back(p->get_future());
        sys.spawn(sender, engine, n / senders, 64, p);
      }
      for (auto& f : futures)
        f.wait();
      std::chrono::duration<double> d = clock_type::now() - start;
      rates.push_back((n / senders) * senders / d.count());
    }
    std::printf("  %2d async senders  : %10.0f jobs/s  (64 in flight each)\n", senders,
                median(rates));
  }
  caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(svc, caf::exit_reason::user_shutdown);
  return 0;
}
