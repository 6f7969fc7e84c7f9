// Container routes: create, list, inspect, start, stop, restart, kill, wait, delete, attach
// (hijacked), resize and logs. The JSON shapes live in api/container_codec.hpp.
#pragma once

#include "api/system.hpp"

#include "messages/actors.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include <functional>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace berth::api {

/// Writes a byte stream (logs, attach, exec output) to the client: chunks of a 200 stream, or
/// raw bytes of a hijacked connection (`raw`). Ends the response at `done`; quits when the
/// connection closes (an actor that monitors it learns the client went).
stream_sink_actor spawn_stream_sink(caf::actor_system& sys, connection_ptr conn, bool raw);

/// Docker's detach keys ("ctrl-p,ctrl-q": moby's term.ToBytes): ctrl-a..ctrl-z, ctrl-@, ctrl-[,
/// ctrl-\, ctrl-], ctrl-^, ctrl-_ or one character each, comma-separated. 400 `Invalid detach
/// keys (x) provided` otherwise. "" gives Docker's default, ctrl-p,ctrl-q.
caf::expected<std::string> parse_detach_keys(const std::string& keys);

/// The stdin side of a hijacked stream (attach, exec start): the client's bytes go to the actor
/// that takes them (atom::stdin) once it is known; what arrives before is held. The detach keys
/// are taken out of the stream as moby's escape proxy does (a partial match is held until the
/// next byte tells); once they are all typed, nothing more goes through and `on_detach` runs.
class attach_input {
public:
  attach_input(std::string detach_keys = {}, std::function<void()> on_detach = {})
      : keys_(std::move(detach_keys)), on_detach_(std::move(on_detach)) {}
  void push(std::string data);
  void set(caf::actor target);

private:
  void forward(std::string data, std::unique_lock<std::mutex>& lk);
  std::mutex mu_;
  caf::actor target_;
  std::vector<std::string> held_;
  std::string keys_;
  std::string matched_; // a prefix of keys_ held back
  bool detached_ = false;
  std::function<void()> on_detach_;
};

/// Write `msg` on a hijacked connection as one frame of `stream` (1 stdout, 3 a daemon error).
void stream_error(const connection_ptr& conn, uint8_t stream, const std::string& msg);

/// Register the container routes.
void add_container_routes(router& r, std::shared_ptr<api_context> ctx);

/// Register the exec routes (api/exec.cpp): POST /containers/{id}/exec, POST /exec/{id}/start
/// (hijacked, or detached), POST /exec/{id}/resize, GET /exec/{id}/json.
void add_exec_routes(router& r, std::shared_ptr<api_context> ctx);

} // namespace berth::api
