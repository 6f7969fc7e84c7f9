// The events bus: publish/subscribe for Docker events.
//
// Keeps the last 256 events in a ring for `since`. A subscriber gives since/until and filters
// (Docker's semantics: type, event, container, image, label, network, volume, daemon, ...).
// Publishing never blocks: each subscriber may have at most `max_pending` events it has not
// acknowledged; one more and it is dropped with a clear `done` message. A subscription with
// `until` ends when that time is reached (at once when it is in the past, after the replay).
// Also answers the seed's `log` (publish an event) and `subscribers_count` jobs.
#pragma once

#include "messages/actors.hpp"
#include "messages/defaults.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace berth {

struct events_options {
  engine_actor engine; // when set, the bus registers its jobs with it
  std::size_t ring = defaults::events_ring;
  std::size_t max_pending = defaults::events_max_pending;
};

caf::expected<events_actor> spawn_events(caf::actor_system& sys, events_options opts);

/// Whether `ev` passes Docker's event filters (moby daemon/events/filter.go).
bool matches(const filter_args& filters, const event& ev);

/// Filter keys /events accepts; any other is invalid_argument "invalid filter 'x'".
caf::error validate_event_filters(const filter_args& filters);

/// Now, in unix nanoseconds.
int64_t now_nano();

/// A container event of `info`: its labels, `image` and `name` as attributes, then `extra`.
event container_event(const container_info& info, std::string action,
                      const std::map<std::string, std::string>& extra = {});

} // namespace berth
