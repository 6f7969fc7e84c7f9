// The registry client library: X-Registry-Auth decoding, WWW-Authenticate parsing, manifest
// parsing and platform selection, endpoint selection, and a blocking HTTP/1.1 client (Boost.Beast,
// OpenSSL with the system CAs) that does the registry auth dance (anonymous, Basic, Bearer with a
// shared token cache), follows blob redirects, maps registry error bodies to berth errors and
// streams blob bodies. Every socket operation runs on the client's own io_context with a timeout
// (connect, then read/write inactivity), so a blocking call never hangs forever.
#include "actors/registry/client.hpp"

#include "messages/error.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

namespace berth::registry {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// -- named limits and timeouts -------------------------------------------------------------------

constexpr auto connect_timeout = std::chrono::seconds(30);   // TCP connect + TLS handshake
constexpr auto io_timeout = std::chrono::seconds(60);        // read/write inactivity
constexpr std::size_t manifest_limit = 4u << 20;             // a manifest body
constexpr std::size_t body_read_buffer = 256u << 10;         // socket reads of a body
constexpr std::size_t error_body_limit = 64u << 10;          // an error body we parse
constexpr std::size_t token_body_limit = 1u << 20;           // a token server reply
constexpr std::uint32_t header_limit = 64u << 10;            // response headers (long Locations)
constexpr std::size_t read_chunk = 64u << 10;                // reads of small bodies
constexpr int max_redirects = 10;                            // as Go's http.Client
constexpr auto default_token_ttl = std::chrono::seconds(60); // token reply without expires_in
constexpr auto token_margin = std::chrono::seconds(10);      // tokens expire this much early
constexpr auto challenge_ttl = std::chrono::hours(1);        // a registry's remembered challenge
constexpr const char* user_agent = "berth/" BERTH_VERSION;
constexpr const char* hub_endpoint = "registry-1.docker.io";

// -- small string helpers ------------------------------------------------------------------------

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// -- base64 --------------------------------------------------------------------------------------

std::string base64_encode(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

/// Standard or URL-safe alphabet, padding optional.
std::optional<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=')
    in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// -- JSON helpers (simdjson DOM) -----------------------------------------------------------------

/// The string member `key` of `obj`, or "" when missing or not a string.
std::string json_string(const simdjson::dom::object& obj, std::string_view key) {
  std::string_view v;
  if (obj[key].get_string().get(v) == simdjson::SUCCESS) return std::string(v);
  return {};
}

// -- URLs ----------------------------------------------------------------------------------------

struct url {
  bool secure = true;
  std::string authority; // host[:port] as written ("[::1]:5000" keeps its brackets)
  std::string target;    // path and query, starting with '/'

  std::string hostname() const {
    if (!authority.empty() && authority.front() == '[') {
      auto close = authority.find(']');
      return authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    }
    return authority.substr(0, authority.rfind(':'));
  }
  std::string port() const {
    std::string_view a = authority;
    if (!a.empty() && a.front() == '[') {
      auto close = a.find(']');
      a = close == std::string_view::npos ? std::string_view{} : a.substr(close + 1);
    } else if (auto colon = a.rfind(':'); colon != std::string_view::npos) {
      a = a.substr(colon);
    } else {
      a = {};
    }
    if (a.size() > 1 && a.front() == ':') return std::string(a.substr(1));
    return secure ? "443" : "80";
  }
  /// host:port with the default port filled in, lower-cased: the identity of a server.
  std::string server() const { return lower(hostname()) + ":" + port(); }
  std::string str() const { return (secure ? "https://" : "http://") + authority + target; }
};

std::optional<url> parse_url(std::string_view s) {
  url u;
  if (starts_with(s, "https://")) {
    s.remove_prefix(8);
  } else if (starts_with(s, "http://")) {
    u.secure = false;
    s.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  auto end = s.find_first_of("/?#");
  u.authority = std::string(s.substr(0, end));
  if (u.authority.empty() || u.authority.find('@') != std::string::npos) return std::nullopt;
  u.target = end == std::string_view::npos ? "/" : std::string(s.substr(end));
  if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.erase(hash);
  if (u.target.empty() || u.target.front() != '/') u.target.insert(0, "/");
  return u;
}

/// A redirect's Location, absolute or relative to `base`.
std::optional<url> resolve_location(const url& base, std::string_view loc) {
  loc = trim(loc);
  if (starts_with(loc, "http://") || starts_with(loc, "https://")) return parse_url(loc);
  if (starts_with(loc, "//"))
    return parse_url(std::string(base.secure ? "https:" : "http:") + std::string(loc));
  url u = base;
  if (starts_with(loc, "/")) {
    u.target = std::string(loc);
  } else {
    auto path = base.target.substr(0, base.target.find('?'));
    u.target = path.substr(0, path.rfind('/') + 1) + std::string(loc);
  }
  return u;
}

// -- IP addresses and CIDRs ----------------------------------------------------------------------

std::optional<asio::ip::address> parse_ip(std::string_view s) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    return asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()));
  return addr;
}

/// Whether `ip` lies within "a.b.c.d/n" or "x::/n"; false for anything that is not a CIDR.
bool in_cidr(const asio::ip::address& ip, std::string_view cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string_view::npos) return false;
  auto net = parse_ip(cidr.substr(0, slash));
  auto bits_str = cidr.substr(slash + 1);
  if (!net || bits_str.empty() || bits_str.size() > 3 ||
      !std::all_of(bits_str.begin(), bits_str.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  int bits = std::stoi(std::string(bits_str));
  if (net->is_v4() != ip.is_v4()) return false;
  auto match = [bits](const auto& a, const auto& b) {
    if (bits > int(a.size() * 8)) return false;
    for (int i = 0; i < bits; ++i) {
      auto byte = i / 8;
      auto mask = static_cast<uint8_t>(0x80u >> (i % 8));
      if ((a[byte] & mask) != (b[byte] & mask)) return false;
    }
    return true;
  };
  if (ip.is_v4()) return match(ip.to_v4().to_bytes(), net->to_v4().to_bytes());
  return match(ip.to_v6().to_bytes(), net->to_v6().to_bytes());
}

// -- registry error bodies -----------------------------------------------------------------------

struct registry_error {
  std::string code; // "MANIFEST_UNKNOWN"
  std::string message;
};

/// {"errors":[{"code","message"}]} or Docker Hub's token server {"details":".."}.
std::vector<registry_error> parse_error_body(std::string_view body, unsigned status) {
  std::vector<registry_error> out;
  if (body.empty()) return out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) return out;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return out;
  simdjson::dom::array errors;
  if (obj["errors"].get_array().get(errors) == simdjson::SUCCESS) {
    for (auto e : errors) {
      simdjson::dom::object eo;
      if (e.get_object().get(eo) != simdjson::SUCCESS) continue;
      registry_error re{json_string(eo, "code"), json_string(eo, "message")};
      if (!re.code.empty() || !re.message.empty()) out.push_back(std::move(re));
    }
  } else if (auto details = json_string(obj, "details"); !details.empty()) {
    out.push_back({status == 401 ? "UNAUTHORIZED" : (status == 429 ? "TOOMANYREQUESTS" : "UNKNOWN"),
                   details});
  }
  return out;
}

/// distribution's errcode rendering: "MANIFEST_UNKNOWN" -> "manifest unknown".
std::string code_text(std::string_view code) {
  auto out = lower(code);
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

ec code_for(std::string_view code, unsigned status) {
  if (code == "UNAUTHORIZED") return ec::unauthorized;
  if (code == "DENIED") return ec::forbidden;
  if (code == "NAME_UNKNOWN" || code == "MANIFEST_UNKNOWN" || code == "BLOB_UNKNOWN" ||
      code == "MANIFEST_BLOB_UNKNOWN")
    return ec::not_found;
  if (code == "NAME_INVALID" || code == "TAG_INVALID" || code == "MANIFEST_INVALID" ||
      code == "DIGEST_INVALID" || code == "SIZE_INVALID" || code == "UNSUPPORTED")
    return ec::invalid_argument;
  switch (status) {
  case 400:
    return ec::invalid_argument;
  case 401:
    return ec::unauthorized;
  case 403:
    return ec::forbidden;
  case 404:
    return ec::not_found;
  case 502:
  case 503:
  case 504:
    return ec::unavailable;
  default:
    return ec::unspecified;
  }
}

/// The berth error for a failed registry response: status, body and WWW-Authenticate.
caf::error error_from_response(unsigned status, std::string_view reason, std::string_view body,
                               std::string_view www_authenticate, const std::string& prefix) {
  auto errors = parse_error_body(body, status);
  if (errors.empty() && (status == 401 || status == 403)) {
    // RFC 6750 §3.1: a Bearer challenge may carry the reason.
    for (auto& ch : parse_www_authenticate(www_authenticate)) {
      if (ch.scheme != "bearer") continue;
      auto err = ch.params.find("error");
      if (err == ch.params.end()) continue;
      auto desc = ch.params.count("error_description") ? ch.params["error_description"] : "";
      if (err->second == "invalid_token")
        errors.push_back({"UNAUTHORIZED", desc.empty() ? "authentication required" : desc});
      else if (err->second == "insufficient_scope")
        errors.push_back(
            {"DENIED", desc.empty() ? "requested access to the resource is denied" : desc});
    }
  }
  std::string text;
  ec code;
  if (!errors.empty()) {
    code = code_for(errors.front().code, status);
    if (errors.size() == 1) {
      text = code_text(errors.front().code) + ": " + errors.front().message;
    } else {
      text = "errors:\n";
      for (auto& e : errors)
        text += code_text(e.code) + ": " + e.message + "\n";
    }
  } else {
    code = code_for("", status);
    auto b = trim(body);
    if (status == 401)
      text =
          "unauthorized: " +
          (b.empty() || b.size() > 512 ? std::string("authentication required") : std::string(b));
    else if (status == 403)
      text = "denied: " + (b.empty() || b.size() > 512
                               ? std::string("requested access to the resource is denied")
                               : std::string(b));
    else
      text =
          "received unexpected HTTP status: " + std::to_string(status) + " " + std::string(reason);
  }
  return make_error(code, prefix + text);
}

// -- one HTTP connection -------------------------------------------------------------------------

/// A TCP or TLS connection on its own io_context; every operation is asynchronous underneath and
/// bounded by the stream's timer, and run to completion here, so callers see blocking calls.
class connection {
public:
  explicit connection(std::shared_ptr<ssl::context> ctx) : ctx_(std::move(ctx)) {}

  /// Resolve, connect and (for https) handshake. Errors read like Go's net errors.
  boost::system::error_code open(const url& u, std::string& what) {
    boost::system::error_code ec;
    tcp::resolver resolver(ioc_);
    auto host = u.hostname();
    auto results = resolver.resolve(host, u.port(), ec);
    if (ec) {
      what = "dial tcp: lookup " + host + ": " + ec.message();
      return ec;
    }
    if (u.secure) {
      tls_.emplace(ioc_, *ctx_);
      // SNI carries names, never addresses (RFC 6066).
      if (!parse_ip(host) && !SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str())) {
        what = "tls: cannot set the server name";
        return asio::error::invalid_argument;
      }
      // A context without peer checks serves insecure registries (dockerd's
      // InsecureSkipVerify); every other connection checks the chain and the name.
      if (SSL_CTX_get_verify_mode(ctx_->native_handle()) & SSL_VERIFY_PEER) {
        tls_->set_verify_mode(ssl::verify_peer);
        tls_->set_verify_callback(ssl::host_name_verification(host));
      } else {
        tls_->set_verify_mode(ssl::verify_none);
      }
    } else {
      tcp_.emplace(ioc_);
    }
    ec = run(connect_timeout, [&](auto handler) { lowest().async_connect(results, handler); });
    if (ec) {
      what = "dial tcp " + u.authority + ": " +
             (ec == beast::error::timeout ? std::string("i/o timeout") : ec.message());
      return ec;
    }
    lowest().socket().set_option(tcp::no_delay(true), ec);
    if (tls_) {
      ec = run(connect_timeout,
               [&](auto handler) { tls_->async_handshake(ssl::stream_base::client, handler); });
      if (ec) {
        what = "tls: " + ec.message();
        return ec;
      }
    }
    return {};
  }

  /// Run one asynchronous operation to completion within `timeout` of inactivity.
  template <class Start>
  boost::system::error_code run(std::chrono::steady_clock::duration timeout, Start start) {
    lowest().expires_after(timeout);
    boost::system::error_code result;
    bool done = false;
    start([&result, &done](boost::system::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    if (ioc_.stopped()) ioc_.restart();
    while (!done && ioc_.run_one() > 0) {
    }
    if (!done) result = asio::error::operation_aborted;
    return result;
  }

  /// Call `f` with the stream (TLS or plain TCP).
  template <class F> void visit(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(*tcp_);
  }

private:
  beast::tcp_stream& lowest() { return tls_ ? tls_->next_layer() : *tcp_; }

  std::shared_ptr<ssl::context> ctx_;
  asio::io_context ioc_;
  std::optional<beast::tcp_stream> tcp_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
};

/// One response whose header has been read; the body is read on demand.
struct response {
  std::unique_ptr<connection> conn;
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  std::string method_url; // `Get "https://..."`, for messages

  unsigned status() { return parser.get().result_int(); }
  std::string reason() { return std::string(parser.get().reason()); }
  std::string header(http::field f) { return std::string(parser.get()[f]); }
  // Content-Length read from the header itself: the parser's boost::optional trips GCC 12's
  // maybe-uninitialized warning under the sanitizers once inlined.
  int64_t length() {
    auto v = header(http::field::content_length);
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return -1;
    return static_cast<int64_t>(std::stoll(v));
  }

  /// Up to `len` body bytes; 0 at the end of the body.
  caf::expected<std::size_t> read(char* out, std::size_t len) {
    if (len == 0) return std::size_t{0};
    // Beast reads at most the buffer's free capacity (512 bytes after a header): give it room,
    // or a 20 MB layer takes 40000 system calls
    if (buf.capacity() < body_read_buffer) buf.reserve(body_read_buffer);
    while (!parser.is_done()) {
      auto& body = parser.get().body();
      body.data = out;
      body.size = len;
      body.more = true;
      auto ec = conn->run(io_timeout, [&](auto handler) {
        conn->visit([&](auto& stream) { http::async_read_some(stream, buf, parser, handler); });
      });
      if (ec == http::error::need_buffer) ec = {};
      if (ec == ssl::error::stream_truncated && parser.need_eof()) {
        // A TLS peer that closes without close_notify ends an EOF-delimited body.
        ec = {};
        parser.put_eof(ec);
      }
      if (ec)
        return make_error(
            ec::unavailable,
            method_url + ": reading the response body: " +
                (ec == beast::error::timeout ? std::string("i/o timeout") : ec.message()));
      auto n = len - parser.get().body().size;
      if (n > 0) return n;
    }
    return std::size_t{0};
  }

  /// The whole body, failing past `limit` bytes.
  caf::expected<std::string> read_all(std::size_t limit) {
    std::string out;
    std::array<char, read_chunk> chunk;
    while (true) {
      auto n = read(chunk.data(), chunk.size());
      if (!n) return n.error();
      if (*n == 0) return out;
      if (out.size() + *n > limit)
        return make_error(ec::unspecified, method_url + ": response body larger than " +
                                               std::to_string(limit) + " bytes");
      out.append(chunk.data(), *n);
    }
  }

  std::string www_authenticate() { return header(http::field::www_authenticate); }

  /// The berth error for this (failed) response, reading its body.
  caf::error error(const std::string& prefix = "") {
    std::string body;
    if (auto b = read_all(error_body_limit)) body = std::move(*b);
    return error_from_response(status(), reason(), body, www_authenticate(), prefix);
  }
};

using header_list = std::vector<std::pair<std::string, std::string>>;

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string method_name(http::verb v) {
  auto s = std::string(http::to_string(v));
  for (std::size_t i = 1; i < s.size(); ++i)
    s[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  return s; // "Get", as Go's url.Error
}

/// A request body: bytes in memory, or a file streamed from disk (a blob upload).
struct request_body {
  std::string data;
  std::string file; // when not empty, the body is this file
  bool empty() const { return data.empty() && file.empty(); }
};

/// Send one request and read the response header. Errors are transport failures
/// (ec::unavailable, worded as Go's `Get "url": dial tcp host: ...`).
caf::expected<std::unique_ptr<response>> send(const std::shared_ptr<ssl::context>& ctx,
                                              http::verb verb, const url& u,
                                              const header_list& headers,
                                              const request_body& body = {}) {
  auto r = std::make_unique<response>();
  r->method_url = method_name(verb) + " \"" + u.str() + "\"";
  r->conn = std::make_unique<connection>(ctx);
  std::string what;
  if (r->conn->open(u, what)) return make_error(ec::unavailable, r->method_url + ": " + what);
  auto prepare = [&](auto& req) {
    req.set(http::field::host, u.authority);
    req.set(http::field::user_agent, user_agent);
    for (auto& [k, v] : headers)
      req.set(k, v);
    req.prepare_payload();
  };
  boost::system::error_code ec;
  if (!body.file.empty()) {
    http::request<http::file_body> req{verb, u.target, 11};
    req.body().open(body.file.c_str(), beast::file_mode::scan, ec);
    if (ec) return make_error(ec::system, "open " + body.file + ": " + ec.message());
    prepare(req);
    ec = r->conn->run(io_timeout, [&](auto handler) {
      r->conn->visit([&](auto& stream) { http::async_write(stream, req, handler); });
    });
  } else {
    http::request<http::string_body> req{verb, u.target, 11};
    if (!body.data.empty() || verb == http::verb::post || verb == http::verb::put)
      req.body() = body.data;
    prepare(req);
    ec = r->conn->run(io_timeout, [&](auto handler) {
      r->conn->visit([&](auto& stream) { http::async_write(stream, req, handler); });
    });
  }
  if (!ec) {
    r->parser.header_limit(header_limit);
    r->parser.body_limit(boost::none);
    if (verb == http::verb::head) r->parser.skip(true);
    ec = r->conn->run(io_timeout, [&](auto handler) {
      r->conn->visit(
          [&](auto& stream) { http::async_read_header(stream, r->buf, r->parser, handler); });
    });
  }
  if (ec)
    return make_error(ec::unavailable, r->method_url + ": " +
                                           (ec == beast::error::timeout ? std::string("i/o timeout")
                                                                        : ec.message()));
  return r;
}

/// The key of a remembered challenge for a registry host, in the shared token cache.
std::string challenge_key(const std::string& server) {
  return "challenge " + server;
}

bool valid_config_type(std::string_view mt) {
  return mt == mt_docker_config || mt == mt_oci_config;
}

bool valid_layer_type(std::string_view mt) {
  auto l = lower(mt);
  return starts_with(l, "application/vnd.oci.image") || starts_with(l, "application/vnd.docker");
}

/// Normalize a platform as containerd does (GOARCH names, arm variants).
platform normalize(platform p) {
  p.os = lower(p.os);
  p.architecture = lower(p.architecture);
  p.variant = lower(p.variant);
  if (p.architecture == "x86_64" || p.architecture == "x86-64")
    p.architecture = "amd64";
  else if (p.architecture == "aarch64")
    p.architecture = "arm64";
  else if (p.architecture == "i386")
    p.architecture = "386";
  else if (p.architecture == "armhf")
    p.architecture = "arm", p.variant = p.variant.empty() ? "v7" : p.variant;
  else if (p.architecture == "armel")
    p.architecture = "arm", p.variant = p.variant.empty() ? "v6" : p.variant;
  if (p.variant.size() == 1 && std::isdigit(static_cast<unsigned char>(p.variant[0])))
    p.variant = "v" + p.variant;
  if (p.architecture == "arm64" && p.variant.empty())
    p.variant = "v8";
  else if (p.architecture == "arm" && p.variant.empty())
    p.variant = "v7";
  else if (p.architecture == "amd64" && p.variant == "v1")
    p.variant.clear();
  return p;
}

caf::expected<descriptor> parse_descriptor(simdjson::dom::element e, bool with_platform) {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS)
    return make_error(ec::invalid_argument, "invalid manifest: a descriptor is not an object");
  descriptor d;
  d.media_type = json_string(o, "mediaType");
  d.digest = json_string(o, "digest");
  if (!io::valid_digest(d.digest))
    return make_error(ec::invalid_argument,
                      "invalid manifest: bad descriptor digest \"" + d.digest + "\"");
  int64_t size;
  if (o["size"].get_int64().get(size) == simdjson::SUCCESS) d.size = size;
  simdjson::dom::array urls;
  if (o["urls"].get_array().get(urls) == simdjson::SUCCESS)
    for (auto u : urls) {
      std::string_view s;
      if (u.get_string().get(s) == simdjson::SUCCESS) d.urls.emplace_back(s);
    }
  simdjson::dom::object p;
  if (with_platform && o["platform"].get_object().get(p) == simdjson::SUCCESS) {
    d.plat.os = json_string(p, "os");
    d.plat.architecture = json_string(p, "architecture");
    d.plat.variant = json_string(p, "variant");
  }
  return d;
}

/// Content types that name no manifest type, so the body decides.
bool generic_type(std::string_view ct) {
  return ct.empty() || ct == "application/json" || ct == "application/octet-stream" ||
         ct == "text/plain";
}

/// Accept for manifests: every type parse_manifest understands.
std::string manifest_accept() {
  return std::string(mt_oci_index) + ", " + mt_docker_list + ", " + mt_oci_manifest + ", " +
         mt_docker_manifest;
}

} // namespace

// -- auth ----------------------------------------------------------------------------------------

caf::expected<auth_config> parse_auth_config(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(json.data(), json.size()).get(doc); err != simdjson::SUCCESS)
    return make_error(ec::invalid_argument,
                      std::string("invalid auth config: ") + simdjson::error_message(err));
  auth_config cfg;
  if (doc.is_null()) return cfg;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS)
    return make_error(ec::invalid_argument, "invalid auth config: not a JSON object");
  // Go's encoding/json matches field names case-insensitively.
  const std::pair<const char*, std::string auth_config::*> fields[] = {
      {"username", &auth_config::username},
      {"password", &auth_config::password},
      {"auth", &auth_config::auth},
      {"email", &auth_config::email},
      {"serveraddress", &auth_config::serveraddress},
      {"identitytoken", &auth_config::identitytoken},
      {"registrytoken", &auth_config::registrytoken},
  };
  for (auto [key, value] : obj) {
    auto k = lower(key);
    for (auto& [name, member] : fields) {
      if (k != name) continue;
      std::string_view s;
      if (value.is_null()) break;
      if (value.get_string().get(s) != simdjson::SUCCESS)
        return make_error(ec::invalid_argument,
                          "invalid auth config: " + std::string(key) + " is not a string");
      cfg.*member = std::string(s);
      break;
    }
  }
  if (!cfg.auth.empty() && cfg.username.empty() && cfg.password.empty()) {
    auto decoded = base64_decode(trim(cfg.auth));
    if (!decoded)
      return make_error(ec::invalid_argument, "invalid auth config: auth is not base64");
    auto colon = decoded->find(':');
    if (colon == std::string::npos)
      return make_error(ec::invalid_argument,
                        "invalid auth config: auth is not base64 of user:password");
    cfg.username = decoded->substr(0, colon);
    cfg.password = decoded->substr(colon + 1);
  }
  return cfg;
}

caf::expected<auth_config> decode_registry_auth(std::string_view header) {
  header = trim(header);
  if (header.empty()) return auth_config{};
  auto json = base64_decode(header);
  if (!json) return make_error(ec::invalid_argument, "invalid X-Registry-Auth header: not base64");
  auto cfg = parse_auth_config(*json);
  if (!cfg)
    return make_error(ec::invalid_argument,
                      "invalid X-Registry-Auth header: " + error_message(cfg.error()));
  return cfg;
}

std::vector<challenge> parse_www_authenticate(std::string_view v) {
  // challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ], challenges comma-separated.
  auto is_tchar = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  };
  auto is_t68 = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-._~+/").find(c) != std::string_view::npos;
  };
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t'))
      ++i;
  };
  auto token = [&] {
    auto start = i;
    while (i < v.size() && is_tchar(v[i]))
      ++i;
    return v.substr(start, i - start);
  };
  // At a token followed by BWS "=" and then a value (not another "=")?
  auto at_param = [&] {
    auto save = i;
    auto t = token();
    skip_ws();
    bool yes = !t.empty() && i < v.size() && v[i] == '=' && (i + 1 >= v.size() || v[i + 1] != '=');
    if (yes) { // "a=" followed by end/comma is token68 padding, not a parameter
      auto j = i + 1;
      while (j < v.size() && (v[j] == ' ' || v[j] == '\t'))
        ++j;
      yes = j < v.size() && v[j] != ',';
    }
    i = save;
    return yes;
  };
  std::vector<challenge> out;
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
      ++i;
    auto scheme = token();
    if (scheme.empty()) {
      if (i < v.size()) ++i; // garbage: skip a character
      continue;
    }
    challenge ch;
    ch.scheme = lower(scheme);
    skip_ws();
    if (i < v.size() && v[i] != ',' && !at_param()) {
      // token68 (e.g. "Negotiate abc=="): consume it.
      while (i < v.size() && is_t68(v[i]))
        ++i;
      while (i < v.size() && v[i] == '=')
        ++i;
    }
    while (true) {
      auto save = i;
      while (i < v.size() && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
        ++i;
      if (!at_param()) {
        i = save;
        break;
      }
      auto name = lower(token());
      skip_ws();
      ++i; // '='
      skip_ws();
      std::string value;
      if (i < v.size() && v[i] == '"') {
        ++i;
        while (i < v.size() && v[i] != '"') {
          if (v[i] == '\\' && i + 1 < v.size()) ++i;
          value += v[i++];
        }
        if (i < v.size()) ++i; // closing quote
      } else {
        value = std::string(token());
      }
      ch.params[name] = std::move(value);
      skip_ws();
    }
    out.push_back(std::move(ch));
  }
  return out;
}

// -- manifests -----------------------------------------------------------------------------------

caf::expected<manifest> parse_manifest(std::string_view body, std::string_view content_type) {
  auto ct = lower(trim(content_type.substr(0, content_type.find(';'))));
  auto schema1 = [](const std::string& t) {
    return make_error(ec::invalid_argument,
                      "schema 1 manifests are not supported (media type " + t +
                          "): the image must be pushed again with a current client");
  };
  if (ct == mt_docker_schema1 || ct == "application/vnd.docker.distribution.manifest.v1+json")
    return schema1(ct);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (auto err = parser.parse(body.data(), body.size()).get(doc); err != simdjson::SUCCESS)
    return make_error(ec::invalid_argument,
                      std::string("invalid manifest: ") + simdjson::error_message(err));
  if (doc.get_object().get(obj) != simdjson::SUCCESS)
    return make_error(ec::invalid_argument, "invalid manifest: not a JSON object");
  int64_t schema_version = 0;
  if (obj["schemaVersion"].get_int64().get(schema_version) == simdjson::SUCCESS &&
      schema_version == 1)
    return schema1(ct.empty() ? std::string(mt_docker_schema1) : ct);
  auto body_type = json_string(obj, "mediaType");
  manifest m;
  if (!body_type.empty() && !generic_type(ct) && body_type != ct)
    return make_error(ec::invalid_argument, "invalid manifest: mediaType \"" + body_type +
                                                "\" does not match Content-Type \"" + ct + "\"");
  m.media_type = !body_type.empty() ? body_type : ct;
  simdjson::dom::array manifests, layers;
  simdjson::dom::element config;
  bool has_manifests = obj["manifests"].get_array().get(manifests) == simdjson::SUCCESS;
  bool has_config = obj["config"].get(config) == simdjson::SUCCESS;
  if (generic_type(m.media_type)) {
    // No type anywhere: an OCI document is told by its fields.
    if (has_manifests)
      m.media_type = mt_oci_index;
    else if (has_config)
      m.media_type = mt_oci_manifest;
  }
  if (m.media_type == mt_docker_schema1) return schema1(m.media_type);
  if (m.media_type == mt_oci_index || m.media_type == mt_docker_list) {
    if (!has_manifests)
      return make_error(ec::invalid_argument,
                        "invalid manifest: " + m.media_type + " without a manifests list");
    m.is_index = true;
    for (auto e : manifests) {
      auto d = parse_descriptor(e, true);
      if (!d) return d.error();
      m.manifests.push_back(std::move(*d));
    }
    return m;
  }
  if (m.media_type != mt_oci_manifest && m.media_type != mt_docker_manifest)
    return make_error(ec::invalid_argument,
                      "unsupported manifest media type \"" + m.media_type + "\"");
  if (!has_config)
    return make_error(ec::invalid_argument, "invalid manifest: no config descriptor");
  auto cfg = parse_descriptor(config, false);
  if (!cfg) return cfg.error();
  m.config = std::move(*cfg);
  if (!valid_config_type(m.config.media_type)) {
    // moby's invalidManifestClassError.
    auto cls =
        m.config.media_type == "application/vnd.docker.plugin.v1+json" ? "plugin" : "unknown";
    return make_error(ec::invalid_argument, "Encountered remote \"" + m.config.media_type + "\"(" +
                                                cls + ") when fetching");
  }
  if (obj["layers"].get_array().get(layers) != simdjson::SUCCESS)
    return make_error(ec::invalid_argument, "invalid manifest: no layers list");
  for (auto e : layers) {
    auto d = parse_descriptor(e, false);
    if (!d) return d.error();
    if (!valid_layer_type(d->media_type))
      return make_error(ec::invalid_argument,
                        "unsupported media type " + d->media_type + " for layer " + d->digest);
    m.layers.push_back(std::move(*d));
  }
  return m;
}

caf::expected<descriptor> select_platform(const manifest& index, const platform& want) {
  auto w = normalize(want);
  for (auto& d : index.manifests) {
    auto p = normalize(d.plat);
    if (p.os == "unknown" || p.architecture == "unknown") continue;
    if (p.os == w.os && p.architecture == w.architecture && p.variant == w.variant) return d;
  }
  auto name = w.os + "/" + w.architecture + (w.variant.empty() ? "" : "/" + w.variant);
  return make_error(ec::not_found,
                    "no matching manifest for " + name + " in the manifest list entries");
}

// -- endpoints -----------------------------------------------------------------------------------

namespace {

/// Whether `authority` (host[:port]) is an insecure registry: localhost, 127.0.0.0/8, ::1, or
/// named by an --insecure-registry entry (host:port, or a CIDR holding the host's address).
bool insecure_host(const std::string& authority, const registry_options& opts) {
  url u{true, authority, "/"};
  auto host = lower(u.hostname());
  if (host == "localhost") return true;
  auto ip = parse_ip(host);
  if (ip && (in_cidr(*ip, "127.0.0.0/8") || in_cidr(*ip, "::1/128"))) return true;
  for (auto& entry : opts.insecure) {
    std::string_view e = trim(entry);
    if (auto scheme = e.find("://"); scheme != std::string_view::npos) e.remove_prefix(scheme + 3);
    while (!e.empty() && e.back() == '/')
      e.remove_suffix(1);
    if (lower(e) == lower(authority) || (ip && in_cidr(*ip, e))) return true;
  }
  return false;
}

} // namespace

std::vector<endpoint> endpoints_for(const std::string& domain, const registry_options& opts) {
  std::vector<endpoint> out;
  if (domain == default_domain || domain == legacy_domain) {
    for (auto& m : opts.mirrors) {
      auto u = parse_url(trim(m));
      if (u) out.push_back({u->authority, u->secure, true, !insecure_host(u->authority, opts)});
    }
    out.push_back({hub_endpoint, true, false, true});
    return out;
  }
  if (!insecure_host(domain, opts)) {
    out.push_back({domain, true, false, true});
    return out;
  }
  out.push_back({domain, true, false, false});
  out.push_back({domain, false, false, false});
  return out;
}

// -- token cache ---------------------------------------------------------------------------------

std::string token_cache::get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(key);
  if (it == tokens_.end()) return {};
  if (std::chrono::steady_clock::now() >= it->second.second) {
    tokens_.erase(it);
    return {};
  }
  return it->second.first;
}

void token_cache::put(const std::string& key, std::string token, std::chrono::seconds ttl) {
  // Expire early so a token is not used at the edge of its life; short tokens keep half.
  auto life = ttl > 2 * token_margin ? ttl - token_margin : ttl / 2;
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  for (auto it = tokens_.begin(); it != tokens_.end();) // drop the expired ones
    it = now >= it->second.second ? tokens_.erase(it) : std::next(it);
  tokens_[key] = {std::move(token), now + life};
}

// -- the client ----------------------------------------------------------------------------------

struct client::impl {
  reference repo;
  auth_config creds;
  registry_options opts;
  std::shared_ptr<token_cache> tokens;
  std::vector<endpoint> endpoints;
  std::size_t cur = 0;
  std::shared_ptr<ssl::context> ctx;          // checks certificates
  std::shared_ptr<ssl::context> ctx_noverify; // for insecure registries over https
  std::map<std::string, std::string> scopes;  // server -> the scope its last challenge named
  bool push = false;                          // ask for pull,push access

  std::string default_scope() const {
    return "repository:" + repo.path + (push ? ":pull,push" : ":pull");
  }

  impl(reference r, auth_config c, registry_options o, std::shared_ptr<token_cache> t)
      : repo(std::move(r)), creds(std::move(c)), opts(std::move(o)), tokens(std::move(t)),
        ctx(make_context(true)), ctx_noverify(make_context(false)) {
    if (!tokens) tokens = std::make_shared<token_cache>();
    endpoints = endpoints_for(repo.domain, opts);
  }

  static std::shared_ptr<ssl::context> make_context(bool verify) {
    auto c = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    if (verify) c->set_default_verify_paths(ec);
    c->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none, ec);
    c->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
    return c;
  }

  const std::shared_ptr<ssl::context>& context_for(const endpoint& ep) const {
    return ep.verify ? ctx : ctx_noverify;
  }

  bool has_password() const { return !creds.username.empty() || !creds.password.empty(); }

  std::string basic() const {
    return "Basic " + base64_encode(creds.username + ":" + creds.password);
  }

  /// The cache key of a token: who asked, for what, from where. The secret is hashed in so a
  /// wrong password never gets a token cached for the right one.
  std::string token_key(const std::string& realm, const std::string& service,
                        const std::string& scope) const {
    std::string secret = creds.identitytoken.empty() ? creds.password : creds.identitytoken;
    return "token " + realm + "|" + service + "|" + scope + "|" + creds.username + "|" +
           (anonymous() ? "" : io::digest_of(secret));
  }
  bool anonymous() const { return creds.anonymous(); }

  /// Ask the token server for a Bearer token. `req` names the registry request for messages.
  caf::expected<std::string> fetch_token(const std::string& realm, const std::string& service,
                                         const std::string& scope, const std::string& req) {
    auto u = parse_url(realm);
    if (!u) return make_error(ec::unauthorized, req + ": invalid token realm \"" + realm + "\"");
    std::string query;
    auto add = [&query](const std::string& k, const std::string& v) {
      query += (query.empty() ? "" : "&") + k + "=" + url_encode(v);
    };
    if (!service.empty()) add("service", service);
    std::size_t start = 0;
    while (start < scope.size()) { // several scopes are space-separated
      auto sp = scope.find(' ', start);
      auto s = scope.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
      if (!s.empty()) add("scope", s);
      if (sp == std::string::npos) break;
      start = sp + 1;
    }
    header_list headers{{"Accept", "application/json"}};
    caf::expected<std::unique_ptr<response>> r{nullptr};
    if (!creds.identitytoken.empty()) {
      std::string form =
          "grant_type=refresh_token&refresh_token=" + url_encode(creds.identitytoken) +
          "&client_id=docker";
      if (!query.empty()) form += "&" + query;
      headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      r = send(ctx, http::verb::post, *u, headers, request_body{form, {}});
    } else {
      if (!creds.username.empty()) add("account", creds.username);
      if (!query.empty())
        u->target += (u->target.find('?') == std::string::npos ? "?" : "&") + query;
      if (has_password()) headers.emplace_back("Authorization", basic());
      r = send(ctx, http::verb::get, *u, headers);
    }
    if (!r) return make_error(ec::unavailable, req + ": " + error_message(r.error()));
    auto& resp = **r;
    if (resp.status() != 200) {
      auto err = resp.error(req + ": ");
      return err;
    }
    auto body = resp.read_all(token_body_limit);
    if (!body) return body.error();
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::object obj;
    if (parser.parse(body->data(), body->size()).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(obj) != simdjson::SUCCESS)
      return make_error(ec::unauthorized, req + ": the token server answered no JSON object");
    auto token = json_string(obj, "token");
    if (token.empty()) token = json_string(obj, "access_token");
    if (token.empty())
      return make_error(ec::unauthorized, req + ": the token server answered no token");
    int64_t expires = 0;
    std::chrono::seconds ttl = default_token_ttl;
    if (obj["expires_in"].get_int64().get(expires) == simdjson::SUCCESS && expires > 0)
      ttl = std::chrono::seconds(expires);
    tokens->put(token_key(realm, service, scope), token, ttl);
    return token;
  }

  /// The Authorization header for a request to `server` ("" = anonymous). With `ch` (from a 401)
  /// the challenge is remembered and a token other than `sent` is obtained; without it, a
  /// remembered challenge is answered from the cache (fetching a token when there is none).
  caf::expected<std::string> authorization(const std::string& server, const challenge* ch,
                                           const std::string& sent, bool ping,
                                           const std::string& req) {
    std::string scheme, realm, service, scope;
    if (ch) {
      scheme = ch->scheme;
      auto param = [ch](const char* k) {
        auto it = ch->params.find(k);
        return it == ch->params.end() ? std::string() : it->second;
      };
      realm = param("realm");
      service = param("service");
      scope = param("scope");
      if (scheme == "bearer")
        tokens->put(challenge_key(server), "bearer\n" + realm + "\n" + service, challenge_ttl);
      else
        tokens->put(challenge_key(server), scheme, challenge_ttl);
      if (scope.empty() && !ping) scope = default_scope();
      if (push && scope == "repository:" + repo.path + ":pull") scope = default_scope();
      if (!scope.empty() && !ping) scopes[server] = scope;
    } else {
      auto known = tokens->get(challenge_key(server));
      if (known.empty()) return std::string();
      auto nl = known.find('\n');
      scheme = known.substr(0, nl);
      if (scheme == "bearer" && nl != std::string::npos) {
        auto nl2 = known.find('\n', nl + 1);
        realm = known.substr(nl + 1, nl2 - nl - 1);
        service = nl2 == std::string::npos ? "" : known.substr(nl2 + 1);
      }
      if (!ping) {
        auto it = scopes.find(server);
        scope = it != scopes.end() ? it->second : default_scope();
      }
    }
    if (scheme == "basic") {
      if (!has_password())
        return ch ? make_error(ec::unauthorized, req + ": unauthorized: authentication required")
                  : caf::expected<std::string>(std::string());
      return basic();
    }
    if (scheme != "bearer" || realm.empty())
      return ch ? make_error(ec::unauthorized,
                             req + ": unsupported authentication scheme \"" + scheme + "\"")
                : caf::expected<std::string>(std::string());
    if (!creds.registrytoken.empty()) return "Bearer " + creds.registrytoken;
    auto cached = tokens->get(token_key(realm, service, scope));
    if (!cached.empty() && "Bearer " + cached != sent) return "Bearer " + cached;
    auto token = fetch_token(realm, service, scope, req);
    if (!token) return token.error();
    return "Bearer " + *token;
  }

  /// One request to one endpoint with the auth dance and (for GETs) redirects. `transport` tells
  /// the caller that the endpoint could not be reached (try the next one).
  caf::expected<std::unique_ptr<response>>
  exchange(const endpoint& ep, http::verb verb, const std::string& target,
           const header_list& headers, bool ping, bool& transport, const request_body& body = {}) {
    transport = false;
    url origin{ep.secure, ep.host, target};
    auto server = origin.server();
    auto req = method_name(verb) + " \"" + origin.str() + "\"";
    auto auth = authorization(server, nullptr, "", ping, req);
    if (!auth) return auth.error();
    for (int attempt = 0;; ++attempt) {
      auto hs = headers;
      if (!auth->empty()) hs.emplace_back("Authorization", *auth);
      auto r = send(context_for(ep), verb, origin, hs, body);
      if (!r) {
        transport = true;
        return r.error();
      }
      auto status = (*r)->status();
      if (status == 401 && attempt == 0) {
        auto challenges = parse_www_authenticate((*r)->www_authenticate());
        const challenge* pick = nullptr;
        for (auto& c : challenges) // prefer Bearer, as distribution's client
          if (c.scheme == "bearer" && (!pick || pick->scheme != "bearer"))
            pick = &c;
          else if (c.scheme == "basic" && !pick)
            pick = &c;
        if (!pick) return (*r)->error(ping ? req + ": " : "");
        if (pick->scheme == "basic" && !has_password()) return (*r)->error(ping ? req + ": " : "");
        auto next = authorization(server, pick, *auth, ping, req);
        if (!next) return next.error();
        auth = std::move(next);
        continue;
      }
      if (is_redirect(status) && (verb == http::verb::get || verb == http::verb::head))
        return follow(std::move(*r), origin, headers, *auth, verb, transport, context_for(ep));
      if (status >= 200 && status < 300) return r;
      return (*r)->error(ping ? req + ": " : "");
    }
  }

  /// Follow redirects from `r` (up to max_redirects), sending Authorization only to the origin
  /// server.
  caf::expected<std::unique_ptr<response>> follow(std::unique_ptr<response> r, const url& origin,
                                                  const header_list& headers,
                                                  const std::string& auth, http::verb verb,
                                                  bool& transport,
                                                  const std::shared_ptr<ssl::context>& tls) {
    url at = origin;
    for (int hop = 0; hop < max_redirects; ++hop) {
      auto next = resolve_location(at, r->header(http::field::location));
      if (!next)
        return make_error(ec::unspecified, r->method_url + ": redirect to a bad Location \"" +
                                               r->header(http::field::location) + "\"");
      at = *next;
      auto hs = headers;
      if (!auth.empty() && at.server() == origin.server()) hs.emplace_back("Authorization", auth);
      auto nr = send(tls, verb, at, hs);
      if (!nr) {
        transport = true;
        return nr.error();
      }
      r = std::move(*nr);
      auto status = r->status();
      if (is_redirect(status)) continue;
      if (status >= 200 && status < 300) return r;
      return r->error();
    }
    return make_error(ec::unspecified, method_name(verb) + " \"" + origin.str() +
                                           "\": stopped after " + std::to_string(max_redirects) +
                                           " redirects");
  }

  /// The request on each endpoint in turn, from the one that answered last: on to the next one
  /// after a connection failure, or after any failure of a mirror.
  caf::expected<std::unique_ptr<response>> request(http::verb verb, const std::string& target,
                                                   const header_list& headers, bool ping = false,
                                                   const request_body& body = {}) {
    caf::error last;
    for (auto i = ping ? 0 : cur; i < endpoints.size(); ++i) {
      auto& ep = endpoints[i];
      if (ping && ep.mirror) continue;
      if (push && ep.mirror) continue; // mirrors are read-only
      bool transport = false;
      auto r = exchange(ep, verb, target, headers, ping, transport, body);
      if (r) {
        if (!ping) cur = i;
        return r;
      }
      last = r.error();
      if (!transport && !ep.mirror) return last;
    }
    if (!last) last = make_error(ec::unavailable, "no endpoint for registry " + repo.domain);
    return last;
  }

  std::string repo_target(const std::string& kind, const std::string& ref) const {
    return "/v2/" + repo.path + "/" + kind + "/" + ref;
  }
};

client::client(reference repo, auth_config creds, registry_options opts,
               std::shared_ptr<token_cache> tokens)
    : p_(std::make_unique<impl>(std::move(repo), std::move(creds), std::move(opts),
                                std::move(tokens))) {}

client::~client() = default;

const endpoint& client::current() const {
  return p_->endpoints[p_->cur];
}

caf::error client::ping() {
  auto r = p_->request(http::verb::get, "/v2/", {}, true);
  if (!r) return r.error();
  return caf::none;
}

caf::expected<fetched_manifest> client::get_manifest(const std::string& tag_or_digest) {
  bool by_digest = io::valid_digest(tag_or_digest);
  if (!by_digest && !valid_tag(tag_or_digest))
    return make_error(ec::invalid_argument, "invalid tag or digest \"" + tag_or_digest + "\"");
  auto r = p_->request(http::verb::get, p_->repo_target("manifests", tag_or_digest),
                       {{"Accept", manifest_accept()}});
  if (!r) return r.error();
  auto& resp = **r;
  fetched_manifest out;
  auto body = resp.read_all(manifest_limit);
  if (!body) return body.error();
  out.body = std::move(*body);
  out.content_type = resp.header(http::field::content_type);
  out.digest = io::digest_of(out.body);
  if (by_digest && out.digest != tag_or_digest)
    return make_error(ec::unspecified, "manifest verification failed for digest " + tag_or_digest +
                                           " (got " + out.digest + ")");
  // By tag, Docker-Content-Digest (when present) must name these bytes; by digest, the
  // requested digest is what counts.
  auto header_digest = std::string(trim(resp.parser.get()["Docker-Content-Digest"]));
  if (!by_digest && starts_with(header_digest, "sha256:") && header_digest != out.digest)
    return make_error(ec::unspecified, "manifest verification failed for digest " + header_digest +
                                           " (got " + out.digest + ")");
  auto parsed = parse_manifest(out.body, out.content_type);
  if (!parsed) return parsed.error();
  out.parsed = std::move(*parsed);
  return out;
}

caf::expected<std::vector<std::string>> client::list_tags() {
  std::vector<std::string> out;
  auto target = p_->repo_target("tags", "list");
  // pages follow RFC 5988 Link headers: </v2/<repo>/tags/list?n=..&last=..>; rel="next"
  for (int page = 0; page < 1000 && !target.empty(); ++page) {
    auto r = p_->request(http::verb::get, target, {{"Accept", "application/json"}});
    if (!r) return r.error();
    auto& resp = **r;
    auto body = resp.read_all(manifest_limit);
    if (!body) return body.error();
    simdjson::dom::parser parser;
    simdjson::dom::object obj;
    if (parser.parse(body->data(), body->size()).get_object().get(obj) != simdjson::SUCCESS)
      return make_error(ec::unspecified, "the registry's tag list is not a JSON object");
    simdjson::dom::array tags;
    if (obj["tags"].get_array().get(tags) == simdjson::SUCCESS)
      for (auto t : tags) {
        std::string_view v;
        if (t.get_string().get(v) == simdjson::SUCCESS && valid_tag(std::string{v}))
          out.emplace_back(v);
      }
    auto link = std::string(trim(resp.parser.get()["Link"]));
    target.clear();
    auto lt = link.find('<'), gt = link.find('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt &&
        link.find("rel=\"next\"", gt) != std::string::npos)
      target = link.substr(lt + 1, gt - lt - 1);
    if (!target.empty() && target[0] != '/') target.clear(); // only paths on this registry
  }
  return out;
}

caf::expected<blob_stream> client::open_blob(const descriptor& d) {
  if (!io::valid_digest(d.digest))
    return make_error(ec::invalid_argument, "invalid blob digest \"" + d.digest + "\"");
  caf::expected<std::unique_ptr<response>> r{nullptr};
  // Foreign (non-distributable) layers come from their URLs first, then the registry.
  bool foreign = d.media_type.find("foreign") != std::string::npos ||
                 d.media_type.find("nondistributable") != std::string::npos;
  bool got = false;
  if (foreign) {
    for (auto& s : d.urls) {
      auto u = parse_url(s);
      if (!u) continue;
      bool transport = false;
      auto fr = send(p_->ctx, http::verb::get, *u, {});
      if (fr && is_redirect((*fr)->status()))
        fr = p_->follow(std::move(*fr), *u, {}, "", http::verb::get, transport, p_->ctx);
      if (fr && (*fr)->status() >= 200 && (*fr)->status() < 300) {
        r = std::move(fr);
        got = true;
        break;
      }
    }
  }
  if (!got) r = p_->request(http::verb::get, p_->repo_target("blobs", d.digest), {});
  if (!r) return r.error();
  std::shared_ptr<response> resp = std::move(*r);
  blob_stream out;
  out.length = resp->length();
  out.body = [resp](char* buf, std::size_t len) { return resp->read(buf, len); };
  return out;
}

caf::expected<std::string> client::get_blob(const descriptor& d, std::size_t limit) {
  auto s = open_blob(d);
  if (!s) return s.error();
  auto verified = io::verifying(std::move(s->body), d.digest, d.size,
                                "blob verification failed for digest " + d.digest);
  return io::read_all(std::move(verified), limit);
}

void client::for_push() {
  p_->push = true;
}

caf::expected<int64_t> client::blob_size(const std::string& digest) {
  auto r = p_->request(http::verb::head, p_->repo_target("blobs", digest), {});
  if (r) return (*r)->length();
  if (r.error() == ec::not_found) return int64_t{-1};
  return r.error();
}

caf::error client::put_blob(const std::string& digest, const std::string& path) {
  auto r = p_->request(http::verb::post, p_->repo_target("blobs", "uploads/"), {});
  if (!r) return r.error();
  auto location = (*r)->header(http::field::location);
  auto& ep = p_->endpoints[p_->cur];
  url origin{ep.secure, ep.host, p_->repo_target("blobs", "uploads/")};
  auto at = resolve_location(origin, location);
  if (location.empty() || !at)
    return make_error(ec::unspecified,
                      "the registry answered an upload without a usable Location \"" + location +
                          "\"");
  at->target += (at->target.find('?') == std::string::npos ? "?" : "&") + std::string{"digest="} +
                url_encode(digest);
  header_list headers{{"Content-Type", "application/octet-stream"}};
  caf::expected<std::unique_ptr<response>> put{nullptr};
  bool transport = false;
  if (at->server() == origin.server()) {
    put = p_->exchange(ep, http::verb::put, at->target, headers, false, transport,
                       request_body{{}, path});
  } else { // an upload service elsewhere: no credentials go there
    put = send(p_->context_for(ep), http::verb::put, *at, headers, request_body{{}, path});
    if (put && ((*put)->status() < 200 || (*put)->status() >= 300)) return (*put)->error();
  }
  if (!put) return put.error();
  return caf::none;
}

caf::expected<std::string> client::put_manifest(const std::string& tag,
                                                const std::string& media_type,
                                                const std::string& body) {
  auto r = p_->request(http::verb::put, p_->repo_target("manifests", tag),
                       {{"Content-Type", media_type}}, false, request_body{body, {}});
  if (!r) return r.error();
  return io::digest_of(body);
}

} // namespace berth::registry
