// Blocking work (registry HTTP, layer extraction, large removals) on a thread of its own: a
// detached actor runs one function and answers its result to the actor that asked.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/send.hpp>

#include <functional>
#include <utility>

namespace berth {

template <class T>
caf::behavior blocking_task(caf::event_based_actor*, std::function<caf::expected<T>()> work) {
  return {
      [work](atom::run) -> caf::result<T> {
        auto r = work();
        if (!r) return std::move(r.error());
        return std::move(*r);
      },
  };
}

/// Run `work` on a detached actor; `then(caf::expected<T>&)` runs later in `self`'s context.
template <class T, class Self, class F>
void run_detached(Self* self, std::function<caf::expected<T>()> work, F then) {
  auto worker = self->system().template spawn<caf::detached>(blocking_task<T>, std::move(work));
  self->request(worker, caf::infinite, atom::run_v)
      .then(
          [worker, then](T& x) mutable {
            caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
            caf::expected<T> r{std::move(x)};
            then(r);
          },
          [worker, then](caf::error& err) mutable {
            caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
            caf::expected<T> r{std::move(err)};
            then(r);
          });
}

} // namespace berth
