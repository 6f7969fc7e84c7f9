// The HTTP listeners (Boost.Beast over Asio): unix sockets, TCP and TLS, keep-alive, request
// limits, chunked streams. A small pool of I/O threads serves every connection; no thread per
// connection. Requests go to the router; handlers answer through api::connection.
#pragma once

#include "api/router.hpp"
#include "messages/actors.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <string>
#include <vector>

namespace berth::api {

struct server_options {
  std::vector<std::string> hosts; // validated: unix:///path or tcp://host:port
  std::string group;              // group of the unix sockets
  bool group_required = false;    // --group given: a missing group is an error
  bool tls = false;
  bool tlsverify = false;
  std::string tlscacert;
  std::string tlscert;
  std::string tlskey;
  std::string cors_header;   // --api-cors-header
  std::string server_header; // "Docker/<version> (linux)"
  unsigned threads = 2;
  /// Where large upload bodies are spooled (`<data-root>/tmp`; created when missing). Bodies of
  /// POST /images/load and POST /images/create?fromSrc=... go to a file there
  /// (http_request::body_file) without a size limit. Empty: they are read into memory like any
  /// other body (16 MiB limit). Stale spool files ("body-*") are removed at start.
  std::string spool_dir;
};

class server {
public:
  /// Bind every listener and start serving; fails (with the address named) when one cannot bind.
  static caf::expected<std::shared_ptr<server>> start(server_options opts,
                                                      std::shared_ptr<const router> r);
  virtual ~server() = default;
  /// Close the listeners and every connection; remove the unix socket files. Idempotent.
  virtual void stop() = 0;
  /// The addresses served, e.g. "unix:///run/berth/berth.sock", "tcp://127.0.0.1:2375".
  virtual std::vector<std::string> addresses() const = 0;
};

/// The API actor (detached: stopping joins I/O threads): stops the server at engine shutdown.
api_actor spawn_api(caf::actor_system& sys, std::shared_ptr<server> srv);

} // namespace berth::api
