// HTTP vocabulary shared by the router and the handlers, free of Beast so that only
// api/server.cpp pays for its headers.
#pragma once

#include <caf/error.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::api {

struct http_request {
  std::string method;      // GET, HEAD, POST, PUT, DELETE, OPTIONS
  std::string target;      // as received
  std::string path;        // decoded, without the /vX.Y prefix
  std::string api_version; // from the prefix; the maximum when unversioned
  std::vector<std::pair<std::string, std::string>> query;   // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers; // names lower-cased
  std::string body; // in memory, at most defaults::body_limit bytes; empty when spooled
  /// The path of the spooled body of a large upload (POST /images/load, POST /images/create with
  /// fromSrc), written to server_options::spool_dir; empty otherwise. Ownership: the handler that
  /// uses the file takes it with take_body_file() (or std::exchange(body_file, {})) and must
  /// unlink it when done. Whatever path is still in body_file when the router's dispatch returns
  /// (a 404, a version error, a handler that did not take it) is unlinked by the server, as is a
  /// partial file when the client goes away mid-body.
  std::string body_file;
  std::map<std::string, std::string> params; // route parameters ({id}, {name})

  /// Take ownership of the spooled body file (see body_file); leaves body_file empty.
  std::string take_body_file() { return std::exchange(body_file, {}); }

  /// First value of a query parameter, or nullptr.
  const std::string* get(std::string_view key) const;
  /// All values of a query parameter.
  std::vector<std::string> get_all(std::string_view key) const;
  /// A header by lower-case name; empty when absent.
  std::string header(std::string_view name) const;
};

struct http_response {
  unsigned status = 200;
  std::string content_type; // empty = no Content-Type
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// A JSON body with `Content-Type: application/json` (exactly: the CLI checks for it).
http_response json_response(unsigned status, std::string body);
/// `{"message": ...}` with the given status.
http_response error_response(unsigned status, std::string_view message);
/// The status and message of a berth or CAF error.
http_response error_response(const caf::error& err);

/// One client connection, as the handlers see it. Implemented by the server for unix, TCP and
/// TLS streams. Every method is thread-safe (actors call them from scheduler threads).
class connection {
public:
  virtual ~connection() = default;
  /// Send one complete response.
  virtual void respond(http_response res) = 0;
  /// Start a chunked stream; the headers are flushed at once.
  virtual void stream_begin(unsigned status, std::string content_type) = 0;
  /// stream_begin with extra response headers (docker cp's X-Docker-Container-Path-Stat).
  virtual void stream_begin_with(unsigned status, std::string content_type,
                                 std::vector<std::pair<std::string, std::string>> headers) {
    (void)headers; // connections that cannot send headers (test doubles) drop them
    stream_begin(status, std::move(content_type));
  }
  /// Write one chunk; `done(ok)` runs once it is written (or the connection failed).
  virtual void stream_write(std::string chunk, std::function<void(bool)> done) = 0;
  /// End the stream; the connection closes after the final chunk.
  virtual void stream_end() = 0;
  /// Hijack the connection (attach, exec start): write `101 UPGRADED` with the raw-stream
  /// headers; from then on every byte the client sends goes to `on_input`, and `on_input("")`
  /// runs once at the client's half-close (the session stays open for output). Output goes
  /// through raw_write; stream_end closes the connection.
  virtual void hijack(std::function<void(std::string)> on_input) = 0;
  /// Write raw bytes on a hijacked connection; `done(ok)` as stream_write.
  virtual void raw_write(std::string bytes, std::function<void(bool)> done) = 0;
  /// Run `f` once when the connection closes (at once if it is closed already).
  virtual void on_close(std::function<void()> f) = 0;
};

using connection_ptr = std::shared_ptr<connection>;

/// Percent-decoding of a URL component (`+` is a space in queries).
std::string url_decode(std::string_view s, bool plus_is_space);
/// Split `a=1&b=2` into decoded pairs.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q);
/// moby's boolean query values: "", "0", "no", "false", "none" are false; the rest true.
bool query_bool(const http_request& req, std::string_view key, bool dflt = false);

} // namespace berth::api
