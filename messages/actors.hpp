// Every typed actor interface of berth, in one place. Read this file to learn the system.
//
//  docker CLI --HTTP--> api (listeners, router) --job--> engine --job--> registered services
//                                                          |            (events bus, later: image
//                                          shutdown hooks -+             store, containers, ...)
#pragma once

#include "messages/error.hpp"
#include "messages/types.hpp"

#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

CAF_BEGIN_TYPE_ID_BLOCK(berth, caf::first_custom_type_id)

// Atoms (message tags); 10 characters at most.
CAF_ADD_ATOM(berth, berth::atom, provide, "provide")
CAF_ADD_ATOM(berth, berth::atom, shutdown, "shutdown")
CAF_ADD_ATOM(berth, berth::atom, config, "config")
CAF_ADD_ATOM(berth, berth::atom, status, "status")
CAF_ADD_ATOM(berth, berth::atom, ack, "ack")
CAF_ADD_ATOM(berth, berth::atom, done, "done")
CAF_ADD_ATOM(berth, berth::atom, deadline, "deadline")
CAF_ADD_ATOM(berth, berth::atom, listeners, "listeners")

// Message types.
CAF_ADD_TYPE_ID(berth, (berth::job))
CAF_ADD_TYPE_ID(berth, (berth::job_result))
CAF_ADD_TYPE_ID(berth, (berth::command_info))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::command_info>))
CAF_ADD_TYPE_ID(berth, (berth::event))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::event>))
CAF_ADD_TYPE_ID(berth, (berth::event_query))
CAF_ADD_TYPE_ID(berth, (berth::daemon_config))
CAF_ADD_TYPE_ID(berth, (berth::host_facts))
CAF_ADD_TYPE_ID(berth, (berth::version_info))
CAF_ADD_TYPE_ID(berth, (berth::system_info))
CAF_ADD_TYPE_ID(berth, (std::vector<std::string>))

CAF_END_TYPE_ID_BLOCK(berth)

namespace berth {

/// Anything that runs jobs: the engine itself, and every service that registers job kinds.
using job_handler_actor = caf::typed_actor<
    // Run one job; the reply carries its status, error and typed output.
    caf::replies_to<job>::with<job_result>>;

/// Anything the engine asks to stop at shutdown (it has 10 s, concurrently with the others).
using shutdown_handler_actor = caf::typed_actor<
    // Stop: release what you hold, then reply.
    caf::replies_to<atom::shutdown>::with<caf::ok_atom>>;

/// The engine: routes each job to the service that registered its name.
using engine_actor = caf::typed_actor<
    // Run a job: an unknown name answers status 127 "command not found"; after shutdown, an error.
    caf::replies_to<job>::with<job_result>,
    // A service registers the job names it handles (a name registered twice is a conflict).
    caf::replies_to<atom::provide, std::string, std::vector<std::string>,
                    job_handler_actor>::with<caf::ok_atom>,
    // A service registers a handler run at shutdown.
    caf::replies_to<atom::provide, atom::shutdown, std::string,
                    shutdown_handler_actor>::with<caf::ok_atom>,
    // Shut down: refuse new jobs, wait up to 5 s for active ones, run the handlers (10 s cap).
    caf::replies_to<atom::shutdown>::with<caf::ok_atom>,
    // The daemon's configuration changed (SIGHUP reload).
    caf::reacts_to<atom::config, daemon_config>,
    // A human-readable dump of jobs in flight and registered services (SIGQUIT).
    caf::replies_to<caf::get_atom, atom::status>::with<std::string>,
    // (internal) the wait for active jobs at shutdown is over.
    caf::reacts_to<atom::deadline>>;

/// Receives events from the bus: a subscriber's end of a subscription.
using event_sink_actor = caf::typed_actor<
    // One event of subscription `id`; the sink acks it once written (flow control).
    caf::reacts_to<uint64_t, event>,
    // Subscription `id` is over (until reached, too slow, bus stopped): the reason says which.
    caf::reacts_to<atom::done, uint64_t, std::string>>;

/// The events bus: publish/subscribe with a ring of recent events. Also a job handler for the
/// seed's `log` (publish) and `subscribers_count` jobs.
using events_actor = caf::typed_actor<
    // Publish one event to every matching subscriber; never blocks the publisher.
    caf::reacts_to<caf::publish_atom, event>,
    // Subscribe `sink` to events matching the query; replays the ring from `since`; answers the
    // subscription ID. Fails with invalid_argument when since > until.
    caf::replies_to<caf::subscribe_atom, event_query, event_sink_actor>::with<uint64_t>,
    // End a subscription.
    caf::reacts_to<caf::unsubscribe_atom, uint64_t>,
    // The sink wrote `n` more events of subscription `id`.
    caf::reacts_to<atom::ack, uint64_t, uint64_t>,
    // How many subscribers there are now.
    caf::replies_to<caf::get_atom, atom::listeners>::with<uint64_t>,
    // The recent events (the ring), oldest first.
    caf::replies_to<caf::get_atom>::with<std::vector<event>>,
    // (internal) subscription `id` reached its `until`.
    caf::reacts_to<atom::deadline, uint64_t>>::extend_with<job_handler_actor>;

/// The HTTP API: its listeners stop at shutdown.
using api_actor = shutdown_handler_actor;

} // namespace berth

namespace caf {
class actor_system_config;
}

namespace berth {
/// Registers berth's message types and error renderer with a CAF config (daemon, tests, embedders).
void register_messages(caf::actor_system_config& cfg);
} // namespace berth
