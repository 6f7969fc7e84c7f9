// Every typed actor interface of berth, in one place. Read this file to learn the system.
//
//  docker CLI --HTTP--> api (listeners, router) --job--> engine --job--> registered services
//                                                          |            (events bus, later: image
//                                          shutdown hooks -+             store, containers, ...)
#pragma once

#include "messages/error.hpp"
#include "messages/stats.hpp"
#include "messages/types.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

// Local-only: holds an open connection.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(berth::blob_handle)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(berth::registry_session)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(berth::byte_sink)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(berth::exec_process)

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
CAF_ADD_ATOM(berth, berth::atom, resolve, "resolve")
CAF_ADD_ATOM(berth, berth::atom, open_blob, "open_blob")
CAF_ADD_ATOM(berth, berth::atom, image, "image")
CAF_ADD_ATOM(berth, berth::atom, run, "run")
CAF_ADD_ATOM(berth, berth::atom, stdin, "stdin")
CAF_ADD_ATOM(berth, berth::atom, output, "output")
CAF_ADD_ATOM(berth, berth::atom, exited, "exited")
CAF_ADD_ATOM(berth, berth::atom, started, "started")
CAF_ADD_ATOM(berth, berth::atom, cleaned, "cleaned")
CAF_ADD_ATOM(berth, berth::atom, retain, "retain")
CAF_ADD_ATOM(berth, berth::atom, release, "release")
CAF_ADD_ATOM(berth, berth::atom, tags, "tags")
CAF_ADD_ATOM(berth, berth::atom, restored, "restored")
CAF_ADD_ATOM(berth, berth::atom, push, "push")
CAF_ADD_ATOM(berth, berth::atom, disconnect, "disconnect")
CAF_ADD_ATOM(berth, berth::atom, serve, "serve")

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
CAF_ADD_TYPE_ID(berth, (berth::layer_descriptor))
CAF_ADD_TYPE_ID(berth, (berth::resolved_image))
CAF_ADD_TYPE_ID(berth, (berth::progress_message))
CAF_ADD_TYPE_ID(berth, (berth::image_info))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::image_info>))
CAF_ADD_TYPE_ID(berth, (berth::image_delete_item))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::image_delete_item>))
CAF_ADD_TYPE_ID(berth, (berth::layer_progress))
CAF_ADD_TYPE_ID(berth, (berth::layer_done))
CAF_ADD_TYPE_ID(berth, (berth::blob_handle))
CAF_ADD_TYPE_ID(berth, (berth::registry_session))
CAF_ADD_TYPE_ID(berth, (berth::byte_sink))
CAF_ADD_TYPE_ID(berth, (berth::stored_layer))
CAF_ADD_TYPE_ID(berth, (berth::loaded_image))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::loaded_image>))
CAF_ADD_TYPE_ID(berth, (berth::ulimit))
CAF_ADD_TYPE_ID(berth, (berth::host_config))
CAF_ADD_TYPE_ID(berth, (berth::container_config))
CAF_ADD_TYPE_ID(berth, (berth::container_state))
CAF_ADD_TYPE_ID(berth, (berth::container_info))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::container_info>))
CAF_ADD_TYPE_ID(berth, (berth::create_result))
CAF_ADD_TYPE_ID(berth, (berth::output_chunk))
CAF_ADD_TYPE_ID(berth, (berth::wait_result))
CAF_ADD_TYPE_ID(berth, (berth::exec_process))
CAF_ADD_TYPE_ID(berth, (berth::fs_change))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::fs_change>))
CAF_ADD_TYPE_ID(berth, (berth::container_path_stat))
CAF_ADD_TYPE_ID(berth, (berth::top_result))
CAF_ADD_TYPE_ID(berth, (berth::exec_config))
CAF_ADD_TYPE_ID(berth, (berth::exec_info))
CAF_ADD_TYPE_ID(berth, (berth::container_stats))
CAF_ADD_TYPE_ID(berth, (berth::mount_point))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::mount_point>))
CAF_ADD_TYPE_ID(berth, (berth::volume_info))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::volume_info>))
CAF_ADD_TYPE_ID(berth, (berth::port_binding))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::port_binding>))
CAF_ADD_TYPE_ID(berth, (berth::network_endpoint))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::network_endpoint>))
CAF_ADD_TYPE_ID(berth, (berth::endpoint_config))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::endpoint_config>))
CAF_ADD_TYPE_ID(berth, (berth::network_member))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::network_member>))
CAF_ADD_TYPE_ID(berth, (berth::network_info))
CAF_ADD_TYPE_ID(berth, (std::vector<berth::network_info>))

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

/// Receives a progress stream (pull, load, import) and writes it to its client.
using progress_sink_actor = caf::typed_actor<
    // One progress message.
    caf::reacts_to<progress_message>,
    // The stream is over: an empty error on success, else the failure.
    caf::reacts_to<atom::done, caf::error>>;

/// The registry client: Docker Registry HTTP API v2 / OCI distribution. Blocking HTTP runs on a
/// detached worker per request. Job: `auth` (POST /auth; input: the AuthConfig JSON).
using registry_actor = caf::typed_actor<
    // Resolve reference (normalized) with X-Registry-Auth and platform ("" = the host's) to the
    // image manifest's config and layers. Errors use dockerd's wording ("pull access denied ...").
    caf::replies_to<atom::resolve, std::string, std::string, std::string>::with<resolved_image>,
    // The tags of repository `reference` (its tag or digest ignored), with X-Registry-Auth.
    caf::replies_to<atom::tags, std::string, std::string>::with<std::vector<std::string>>,
    // Open a blob of repository `reference` with X-Registry-Auth, for streaming.
    caf::replies_to<atom::open_blob, std::string, std::string, layer_descriptor>::with<blob_handle>,
    // A push session to repository `reference` with X-Registry-Auth (docker push).
    caf::replies_to<atom::push, std::string, std::string>::with<registry_session>,
    // The daemon's configuration changed (mirrors, insecure registries).
    caf::reacts_to<atom::config, daemon_config>>::extend_with<job_handler_actor>;

/// The image store: images, tags and layers (through the graph driver), pulls with shared layer
/// downloads. Jobs: pull, images, image_inspect, image_history, image_tag, image_delete,
/// image_prune, image_count, image_save, image_load, image_import.
using image_store_actor = caf::typed_actor<
    // (from layer workers) a download's progress.
    caf::reacts_to<layer_progress>,
    // (from layer workers) a layer is extracted, or failed.
    caf::reacts_to<layer_done>,
    // Look an image up by name, ID prefix or digest reference.
    caf::replies_to<caf::get_atom, atom::image, std::string>::with<image_info>,
    // Container (64 hex) takes a hold on image `name`'s layers (persisted): look it up as above.
    // The image cannot be deleted without force while the hold lasts, nor its layers ever.
    caf::replies_to<atom::retain, std::string, std::string>::with<image_info>,
    // The container is gone: its hold ends (layers no image uses are removed).
    caf::reacts_to<atom::release, std::string>>::extend_with<job_handler_actor>::
    extend_with<shutdown_handler_actor>;

/// The volume store (actors/volumes/store.cpp): named and anonymous volumes of the `local`
/// driver, with the containers that use them. Jobs: volume_create (input: volume_info), volumes
/// (input: filter_args; env size), volume_inspect, volume_delete (env force), volume_prune
/// (input: filter_args; answers the names and the bytes reclaimed).
using volume_store_actor = caf::typed_actor<
    // Container (64 hex) takes the volumes of its mounts, all or none: a named volume is made
    // when missing, an anonymous one gets a new name. Answers the mounts with the volume's name
    // and host path set (binds and tmpfs pass through).
    caf::replies_to<atom::retain, std::string,
                    std::vector<mount_point>>::with<std::vector<mount_point>>,
    // The container is gone: its holds end; `true` also removes its anonymous volumes (rm -v).
    caf::reacts_to<atom::release, std::string,
                   bool>>::extend_with<job_handler_actor>::extend_with<shutdown_handler_actor>;

/// The userland proxy (actors/network/controller.cpp): published ports as listeners of the
/// daemon's own, one I/O thread for all, forwarding each connection to a container's address.
using port_proxy_actor = caf::typed_actor<
    // Owner (a container ID) listens on these bindings, forwarding to `ip`; all or none. Answers
    // them bound (a host port picked where none was given). A port in use is an error.
    caf::replies_to<caf::publish_atom, std::string, std::vector<port_binding>,
                    std::string>::with<std::vector<port_binding>>,
    // The owner's listeners and their connections close; the ports are free when it answers.
    caf::replies_to<caf::unpublish_atom, std::string>::with<caf::ok_atom>>;

/// The embedded DNS server (actors/network/dns.cpp): on user-defined networks, containers'
/// names, short IDs and aliases at 127.0.0.11 inside each container, other names forwarded.
using dns_actor = caf::typed_actor<
    // Container `owner` (64 hex) is on network `network` (its ID) at `ip` (IPv4, host byte
    // order) under `names`: it sees that network's names, and theirs see it. `links`
    // ("name:alias") are aliases only it sees.
    caf::reacts_to<caf::put_atom, std::string, std::string, std::vector<std::string>, uint32_t,
                   std::vector<std::string>>,
    // `owner` leaves `network`, where it was at `ip`.
    caf::reacts_to<atom::disconnect, std::string, std::string, uint32_t>,
    // Serve `owner`'s queries in the network namespace at `netns` (/proc/<pid>/ns/net),
    // forwarding other names to `upstreams` (its --dns; none: the daemon's). Answers once the
    // sockets are bound (blocking the caller's start until it can resolve).
    caf::replies_to<atom::serve, std::string, std::string,
                    std::vector<std::string>>::with<caf::ok_atom>,
    // `owner` is gone: its names, networks and sockets.
    caf::reacts_to<atom::release, std::string>>;

/// The network controller (actors/network/controller.cpp): the networks (the default bridge,
/// host, none and user-defined bridge networks), their address management and embedded DNS names,
/// the running containers' endpoints and their published ports. Jobs: network_create (input:
/// network_info), networks (input: filter_args), network_inspect, network_delete (args[0]: name,
/// ID or ID prefix), network_prune (input: filter_args; answers the names removed).
using network_controller_actor = caf::typed_actor<
    // Container (64 hex) named `name` starts: it joins each network of `endpoints` (the network
    // mode's first; the ports are published at that one's address). Answers the endpoints
    // (address, veth names, ports bound), all or none. The caller wires each veth into the
    // container (net::attach) before the command runs.
    caf::replies_to<caf::connect_atom, std::string, std::string, std::vector<port_binding>,
                    std::vector<endpoint_config>>::with<std::vector<network_endpoint>>,
    // A running container (id, name) joins one more network (docker network connect).
    caf::replies_to<caf::connect_atom, std::string, std::string,
                    endpoint_config>::with<network_endpoint>,
    // The network (name or ID) as the controller knows it: answers its info without members
    // (a stopped container's connect and disconnect check the name with this).
    caf::replies_to<caf::get_atom, std::string>::with<network_info>,
    // A running container (id) leaves one network (name or ID): its endpoint goes.
    caf::replies_to<atom::disconnect, std::string, std::string>::with<caf::ok_atom>,
    // The container's process is gone: its addresses and ports are free, its veths go.
    caf::reacts_to<atom::release, std::string>>::extend_with<job_handler_actor>::
    extend_with<shutdown_handler_actor>;

/// Receives a container's byte stream (attach output, logs) and writes it to its client.
using stream_sink_actor = caf::typed_actor<
    // Bytes to write as they are (already framed when the container has no TTY).
    caf::reacts_to<std::string>,
    // The stream is over: an empty error at the end of the output, else the failure.
    caf::reacts_to<atom::done, caf::error>>;

/// One exec instance (docker exec; actors/containers/exec.cpp), made by its container at
/// container_exec_create and gone with it: owns the process's stdio, the attached client and the
/// exit code. Jobs (from the container manager, args[0] = the exec ID): exec_start (env detach;
/// input: the client's stream_sink_actor unless detached; answers the exec actor, for stdin),
/// exec_inspect (exec_info), exec_resize (env h, w).
using exec_actor = caf::typed_actor<
    // Input for the process's stdin; "" = the client's half-close (the process's stdin ends).
    caf::reacts_to<atom::stdin, std::string>,
    // (reactor) output of stream 1 or 2; "" = end of that stream.
    caf::reacts_to<atom::output, uint8_t, std::string, uint64_t>,
    // (reactor) the process exited with this wait status.
    caf::reacts_to<atom::exited, int, uint64_t>>::extend_with<job_handler_actor>;

/// One container (actors/containers/container.cpp): owns its state machine, process, stdio and
/// log. Jobs (delegated by the container manager, args[0] = the container's ID or name):
/// container_start, container_stop, container_restart, container_kill, container_wait,
/// container_delete, container_attach, container_resize, container_logs, container_inspect,
/// container_exec_create (input: exec_config; answers the exec ID and its exec_actor),
/// docker cp: container_archive (env op = stat|get|put, path, noOverwriteDirNonDir, copyUIDGID;
/// running or not).
using container_actor = caf::typed_actor<
    // Attach input for the process's stdin; "" = the client's half-close.
    caf::reacts_to<atom::stdin, std::string>,
    // (reactor) output of stream 1 or 2 of process generation `gen`; "" = end of that stream.
    caf::reacts_to<atom::output, uint8_t, std::string, uint64_t>,
    // (reactor) process generation `gen` exited with this wait status.
    caf::reacts_to<atom::exited, int, uint64_t>,
    // (internal) timer `n` fired: a stop timeout or a restart delay.
    caf::reacts_to<atom::deadline, uint64_t>,
    // (from its exec actor) start exec `id`'s process in this running container: 409 when it is
    // not running, paused or restarting.
    caf::replies_to<atom::run, std::string, exec_config>::with<exec_process>>::
    extend_with<job_handler_actor>::extend_with<shutdown_handler_actor>;

/// The container manager (actors/containers/manager.cpp): IDs, names, create, list, restart
/// recovery; verbs go to the container actors. Jobs: container_create, containers (list),
/// container_count, every container job above (forwarded), and the exec jobs (exec_start,
/// exec_inspect, exec_resize: forwarded to the exec actor by its ID).
using container_manager_actor = caf::typed_actor<
    // A container's state changed (it keeps the list current without asking every actor).
    caf::reacts_to<caf::update_atom, container_info>,
    // A container is removed: its name and ID are free.
    caf::reacts_to<atom::done, std::string>,
    // (from a container loaded at start) its restore is over: recovered, started again by its
    // restart policy, or left as it was.
    caf::reacts_to<atom::restored, std::string>,
    // Answers once every container loaded at start is restored (the daemon serves the API only
    // then, as dockerd's restore).
    caf::replies_to<atom::restored>::with<bool>>::extend_with<job_handler_actor>::
    extend_with<shutdown_handler_actor>;

/// One `GET /containers/{id}/stats` client (api/stats.cpp): asks for a `container_stats` job
/// once a second and writes each sample to the connection; it ends with the client, or when the
/// container is removed.
using stats_stream_actor = caf::typed_actor<
    // (internal) time for the next sample.
    caf::reacts_to<atom::deadline>,
    // The last sample is written (false: the connection failed).
    caf::reacts_to<atom::ack, bool>>;

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
