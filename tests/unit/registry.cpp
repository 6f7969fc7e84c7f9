// The registry client library: reference parsing, X-Registry-Auth, WWW-Authenticate, manifests,
// platform selection, endpoints, and the HTTP client end to end against loopback servers (a
// registry with a Bearer token server, a Basic-auth registry and a redirect target).
#include <boost/test/unit_test.hpp>

#include "actors/registry/client.hpp"
#include "actors/registry/reference.hpp"
#include "drivers/io.hpp"
#include "messages/error.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

using namespace berth;
using namespace berth::registry;

namespace {

// -- a loopback HTTP server ----------------------------------------------------------------------

struct seen_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;
  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
};

std::string reply(int status, const std::string& reason,
                  std::vector<std::pair<std::string, std::string>> headers = {},
                  const std::string& body = "", bool chunked = false) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  for (auto& [k, v] : headers)
    out += k + ": " + v + "\r\n";
  out += "Connection: close\r\n";
  if (chunked) {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    for (std::size_t i = 0; i < body.size(); i += 1000) {
      auto piece = body.substr(i, 1000);
      char size[16];
      std::snprintf(size, sizeof(size), "%zx", piece.size());
      out += std::string(size) + "\r\n" + piece + "\r\n";
    }
    out += "0\r\n\r\n";
  } else {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  return out;
}

std::string json_error(const std::string& code, const std::string& message) {
  return R"({"errors":[{"code":")" + code + R"(","message":")" + message + R"(","detail":null}]})";
}

/// One request per connection, answered by `handler`, on 127.0.0.1 with an ephemeral port.
class loopback_server {
public:
  using handler = std::function<std::string(const seen_request&)>;

  loopback_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    BOOST_REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }

  ~loopback_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR); // wakes accept()
    thread_.join();
    ::close(fd_);
  }

  void on(handler h) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(h);
  }

  uint16_t port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }

  std::vector<seen_request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  /// TLS handshakes tried against this plain HTTP server.
  int tls_hellos() {
    std::lock_guard<std::mutex> lock(mu_);
    return tls_hellos_;
  }
  std::size_t count(const std::string& target_prefix) {
    std::size_t n = 0;
    for (auto& r : requests())
      n += r.target.compare(0, target_prefix.size(), target_prefix) == 0;
    return n;
  }

private:
  void loop() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      serve(c);
      ::close(c);
    }
  }

  void serve(int c) {
    std::string in;
    char buf[4096];
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      auto n = ::read(c, buf, sizeof(buf));
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
      if (in[0] == '\x16') { // a TLS ClientHello: answer as Go's plain HTTP server does
        std::lock_guard<std::mutex> lock(mu_);
        ++tls_hellos_;
        static const std::string bad = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
        [[maybe_unused]] auto w = ::write(c, bad.data(), bad.size());
        return;
      }
    }
    seen_request req;
    auto head = in.substr(0, end);
    auto line_end = head.find("\r\n");
    auto first = head.substr(0, line_end);
    auto sp1 = first.find(' ');
    auto sp2 = first.find(' ', sp1 + 1);
    req.method = first.substr(0, sp1);
    req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    for (std::size_t pos = line_end + 2; pos < head.size() && line_end != std::string::npos;) {
      auto next = head.find("\r\n", pos);
      auto line = head.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string k = line.substr(0, colon);
        for (auto& ch : k)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ')
          v.erase(0, 1);
        req.headers[k] = v;
      }
      if (next == std::string::npos) break;
      pos = next + 2;
    }
    req.body = in.substr(end + 4);
    auto cl = req.header("content-length");
    auto want = cl.empty() ? 0u : std::stoul(cl);
    while (req.body.size() < want) {
      auto n = ::read(c, buf, sizeof(buf));
      if (n <= 0) break;
      req.body.append(buf, static_cast<std::size_t>(n));
    }
    handler h;
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back(req);
      h = handler_;
    }
    auto out = h ? h(req) : reply(500, "Internal Server Error");
    for (std::size_t off = 0; off < out.size();) {
      auto n = ::write(c, out.data() + off, out.size() - off);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  int fd_ = -1;
  int tls_hellos_ = 0;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  handler handler_;
  std::vector<seen_request> log_;
};

// -- fixtures ------------------------------------------------------------------------------------

reference parse_ok(const std::string& s) {
  auto r = parse_reference(s);
  BOOST_REQUIRE_MESSAGE(r, s + ": " + (r ? "" : error_message(r.error())));
  return *r;
}

std::string parse_error(const std::string& s) {
  auto r = parse_reference(s);
  BOOST_REQUIRE_MESSAGE(!r, s + " parsed as " + (r ? r->str() : ""));
  BOOST_TEST((r.error() == ec::invalid_argument));
  return error_message(r.error());
}

const std::string hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string dgst = "sha256:" + hex64;

std::string image_manifest(const std::string& mt, const std::string& config_digest,
                           const std::string& layer_digest,
                           const std::string& config_type = mt_docker_config,
                           bool with_media_type = true) {
  std::string out = R"({"schemaVersion":2,)";
  if (with_media_type) out += R"("mediaType":")" + mt + R"(",)";
  out += R"("config":{"mediaType":")" + config_type + R"(","digest":")" + config_digest +
         R"(","size":2},"layers":[{"mediaType":")" + mt_docker_layer + R"(","digest":")" +
         layer_digest + R"(","size":10}]})";
  return out;
}

std::string index_body(const std::string& mt) {
  auto entry = [](const std::string& digest, const std::string& platform) {
    return R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + digest +
           R"(","size":500,"platform":)" + platform + "}";
  };
  auto d = [](char c) { return "sha256:" + std::string(64, c); };
  return R"({"schemaVersion":2,"mediaType":")" + mt + R"(","manifests":[)" +
         entry(d('1'), R"({"architecture":"unknown","os":"unknown"})") + "," +
         entry(d('2'), R"({"architecture":"arm","os":"linux","variant":"v7"})") + "," +
         entry(d('3'), R"({"architecture":"arm64","os":"linux"})") + "," +
         entry(d('4'), R"({"architecture":"amd64","os":"linux"})") + "," +
         entry(d('5'), R"({"architecture":"amd64","os":"linux"})") + "]}";
}

} // namespace

BOOST_AUTO_TEST_SUITE(registry)

// -- references ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(reference_normalization) {
  struct row {
    std::string in, domain, path, tag, digest, familiar;
  };
  const std::vector<row> rows = {
      {"busybox", "docker.io", "library/busybox", "", "", "busybox"},
      {"library/busybox", "docker.io", "library/busybox", "", "", "busybox"},
      {"docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", "",
       "busybox:latest"},
      {"index.docker.io/x", "docker.io", "library/x", "", "", "x"},
      {"user/app:1", "docker.io", "user/app", "1", "", "user/app:1"},
      {"docker.io/library/a/b", "docker.io", "library/a/b", "", "", "library/a/b"},
      {"localhost/x", "localhost", "x", "", "", "localhost/x"},
      {"localhost:5000/a/b:c", "localhost:5000", "a/b", "c", "", "localhost:5000/a/b:c"},
      {"127.0.0.1:5000/busybox@" + dgst, "127.0.0.1:5000", "busybox", "", dgst,
       "127.0.0.1:5000/busybox@" + dgst},
      {"name:tag@" + dgst, "docker.io", "library/name", "tag", dgst, "name:tag@" + dgst},
      {"docker.io/a-b__c.d_e/f--g:Tag_1.x-y", "docker.io", "a-b__c.d_e/f--g", "Tag_1.x-y", "",
       "a-b__c.d_e/f--g:Tag_1.x-y"},
      {"my-registry.example.com:443/team/app", "my-registry.example.com:443", "team/app", "", "",
       "my-registry.example.com:443/team/app"},
      {"[::1]:5000/x", "[::1]:5000", "x", "", "", "[::1]:5000/x"},
  };
  for (auto& r : rows) {
    BOOST_TEST_CONTEXT(r.in) {
      auto ref = parse_ok(r.in);
      BOOST_TEST(ref.domain == r.domain);
      BOOST_TEST(ref.path == r.path);
      BOOST_TEST(ref.tag == r.tag);
      BOOST_TEST(ref.digest == r.digest);
      BOOST_TEST(ref.familiar() == r.familiar);
    }
  }
  auto b = parse_ok("busybox");
  BOOST_TEST(b.name() == "docker.io/library/busybox");
  BOOST_TEST(with_default_tag(b).str() == "docker.io/library/busybox:latest");
  BOOST_TEST(with_default_tag(b).familiar() == "busybox:latest");
  BOOST_TEST(b.familiar_name() == "busybox");
  auto d = parse_ok("127.0.0.1:5000/busybox@" + dgst);
  BOOST_TEST(with_default_tag(d).tag.empty());
  BOOST_TEST(d.familiar_name() == "127.0.0.1:5000/busybox");
}

BOOST_AUTO_TEST_CASE(reference_errors) {
  BOOST_TEST(parse_error("UPPER") == "invalid reference format: repository name must be lowercase");
  BOOST_TEST(parse_error("a:b:c") == "invalid reference format");
  BOOST_TEST(parse_error(":tag") == "invalid reference format");
  BOOST_TEST(parse_error("x@sha256:short") == "invalid reference format");
  BOOST_TEST(parse_error("x@md5:" + hex64) == "invalid reference format");
  BOOST_TEST(parse_error(hex64) ==
             "invalid repository name (" + hex64 + "), cannot specify 64-byte hexadecimal strings");
  BOOST_TEST(parse_error("busybox/") == "invalid reference format");
  BOOST_TEST(parse_error("") == "invalid reference format");
  BOOST_TEST(parse_error("a//b") == "invalid reference format");
  BOOST_TEST(parse_error("-a") == "invalid reference format");
  BOOST_TEST(parse_error("a_-b") == "invalid reference format");
  BOOST_TEST(parse_error("a-b__c.d_e/x") == "invalid reference format"); // '.': a bad domain
  BOOST_TEST(parse_error("x:" + std::string(129, 't')) == "invalid reference format");
  BOOST_TEST(parse_error("localhost:port/x") == "invalid reference format");
  auto long_name = parse_error("example.com/" + std::string(250, 'a'));
  BOOST_TEST(long_name.find("255") != std::string::npos);
  BOOST_TEST(valid_tag("latest"));
  BOOST_TEST(valid_tag("_x.Y-1"));
  BOOST_TEST(!valid_tag(".x"));
  BOOST_TEST(!valid_tag(""));
  BOOST_TEST(valid_tag(std::string(128, 'a')));
  BOOST_TEST(!valid_tag(std::string(129, 'a')));
}

// -- auth ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(registry_auth_header) {
  auto anon = decode_registry_auth("e30=");
  BOOST_REQUIRE(anon);
  BOOST_TEST(anon->anonymous());
  auto empty = decode_registry_auth("");
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->anonymous());
  // {"username":"u?>","password":"p~~"} in base64url without padding: exercises '-' / '_'.
  std::string json = R"({"username":"u?>","password":"p~~","serveraddress":"127.0.0.1:5000"})";
  // Encode with the URL alphabet and strip the padding.
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string enc;
  int bits = 0;
  uint32_t acc = 0;
  for (unsigned char c : json) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      enc += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) enc += alphabet[(acc << (6 - bits)) & 63];
  BOOST_TEST((enc.find('-') != std::string::npos || enc.find('_') != std::string::npos));
  auto a = decode_registry_auth(enc);
  BOOST_REQUIRE_MESSAGE(a, (a ? "" : error_message(a.error())));
  BOOST_TEST(a->username == "u?>");
  BOOST_TEST(a->password == "p~~");
  BOOST_TEST(a->serveraddress == "127.0.0.1:5000");
  // Only `auth` (base64 "user:pa:ss"), field names in Go's case-insensitive matching.
  auto b = parse_auth_config(R"({"Auth":"dXNlcjpwYTpzcw==","ServerAddress":"r.example"})");
  BOOST_REQUIRE(b);
  BOOST_TEST(b->username == "user");
  BOOST_TEST(b->password == "pa:ss");
  BOOST_TEST(b->serveraddress == "r.example");
  BOOST_TEST(!b->anonymous());
  auto c = parse_auth_config(R"({"IdentityToken":"rt","username":"<token>"})");
  BOOST_REQUIRE(c);
  BOOST_TEST(c->identitytoken == "rt");
  // Standard base64 with padding also works.
  auto d = decode_registry_auth("eyJ1c2VybmFtZSI6ImEiLCJwYXNzd29yZCI6ImIifQ==");
  BOOST_REQUIRE(d);
  BOOST_TEST(d->username == "a");
  auto bad = decode_registry_auth("!!!");
  BOOST_REQUIRE(!bad);
  BOOST_TEST((bad.error() == ec::invalid_argument));
  BOOST_TEST(!decode_registry_auth("bm90IGpzb24")); // "not json"
  BOOST_TEST(!parse_auth_config(R"({"username":1})"));
  BOOST_TEST(!parse_auth_config(""));
}

BOOST_AUTO_TEST_CASE(www_authenticate) {
  auto hub = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  BOOST_REQUIRE_EQUAL(hub.size(), 1u);
  BOOST_TEST(hub[0].scheme == "bearer");
  BOOST_TEST(hub[0].params["realm"] == "https://auth.docker.io/token");
  BOOST_TEST(hub[0].params["service"] == "registry.docker.io");
  BOOST_TEST(hub[0].params["scope"] == "repository:library/busybox:pull");
  auto basic = parse_www_authenticate(R"(Basic realm="Registry Realm")");
  BOOST_REQUIRE_EQUAL(basic.size(), 1u);
  BOOST_TEST(basic[0].scheme == "basic");
  BOOST_TEST(basic[0].params["realm"] == "Registry Realm");
  auto multi = parse_www_authenticate(R"(Negotiate abc==, Basic Realm=simple, charset="UTF-8", )"
                                      R"(BEARER realm="r",error="insufficient_scope")");
  BOOST_REQUIRE_EQUAL(multi.size(), 3u);
  BOOST_TEST(multi[0].scheme == "negotiate");
  BOOST_TEST(multi[1].scheme == "basic");
  BOOST_TEST(multi[1].params["realm"] == "simple");
  BOOST_TEST(multi[1].params["charset"] == "UTF-8");
  BOOST_TEST(multi[2].scheme == "bearer");
  BOOST_TEST(multi[2].params["error"] == "insufficient_scope");
  auto esc =
      parse_www_authenticate(R"(Bearer realm="a \"quoted\" \\ realm" , scope="a:b:pull,push")");
  BOOST_REQUIRE_EQUAL(esc.size(), 1u);
  BOOST_TEST(esc[0].params["realm"] == R"(a "quoted" \ realm)");
  BOOST_TEST(esc[0].params["scope"] == "a:b:pull,push");
  BOOST_TEST(parse_www_authenticate("").empty());
}

// -- manifests -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(manifests) {
  auto cfg = "sha256:" + std::string(64, 'c');
  auto layer = "sha256:" + std::string(64, 'd');
  for (auto mt : {mt_docker_manifest, mt_oci_manifest}) {
    auto m = parse_manifest(image_manifest(mt, cfg, layer), std::string(mt) + "; charset=utf-8");
    BOOST_REQUIRE_MESSAGE(m, (m ? "" : error_message(m.error())));
    BOOST_TEST(!m->is_index);
    BOOST_TEST(m->media_type == mt);
    BOOST_TEST(m->config.digest == cfg);
    BOOST_TEST(m->config.size == 2);
    BOOST_REQUIRE_EQUAL(m->layers.size(), 1u);
    BOOST_TEST(m->layers[0].digest == layer);
    BOOST_TEST(m->layers[0].size == 10);
  }
  for (auto mt : {mt_oci_index, mt_docker_list}) {
    auto m = parse_manifest(index_body(mt), mt);
    BOOST_REQUIRE(m);
    BOOST_TEST(m->is_index);
    BOOST_TEST(m->media_type == mt);
    BOOST_REQUIRE_EQUAL(m->manifests.size(), 5u);
    BOOST_TEST(m->manifests[1].plat.variant == "v7");
  }
  // OCI without mediaType: the header decides; none at all: the fields decide.
  auto oci = parse_manifest(image_manifest("", cfg, layer, mt_oci_config, false), mt_oci_manifest);
  BOOST_REQUIRE(oci);
  BOOST_TEST(oci->media_type == mt_oci_manifest);
  auto guessed =
      parse_manifest(image_manifest("", cfg, layer, mt_oci_config, false), "application/json");
  BOOST_REQUIRE(guessed);
  BOOST_TEST(guessed->media_type == mt_oci_manifest);
  // mediaType against Content-Type.
  auto mismatch = parse_manifest(image_manifest(mt_oci_manifest, cfg, layer), mt_docker_manifest);
  BOOST_REQUIRE(!mismatch);
  BOOST_TEST((mismatch.error() == ec::invalid_argument));
  BOOST_TEST(error_message(mismatch.error()).find("does not match") != std::string::npos);
  // Schema 1, by header and by body.
  auto s1 = parse_manifest(R"({"schemaVersion":1,"name":"x","fsLayers":[]})", mt_docker_schema1);
  BOOST_REQUIRE(!s1);
  BOOST_TEST((s1.error() == ec::invalid_argument));
  BOOST_TEST(error_message(s1.error()).find("schema 1") != std::string::npos);
  auto s1b = parse_manifest(R"({"schemaVersion":1,"name":"x"})", "application/json");
  BOOST_REQUIRE(!s1b);
  BOOST_TEST(error_message(s1b.error()).find("schema 1") != std::string::npos);
  // Not an image: a Helm chart.
  auto helm = parse_manifest(
      image_manifest(mt_oci_manifest, cfg, layer, "application/vnd.cncf.helm.config.v1+json"),
      mt_oci_manifest);
  BOOST_REQUIRE(!helm);
  BOOST_TEST(
      error_message(helm.error()) ==
      R"(Encountered remote "application/vnd.cncf.helm.config.v1+json"(unknown) when fetching)");
  // Unknown and malformed documents.
  BOOST_TEST(!parse_manifest("{}", "application/vnd.example+json"));
  BOOST_TEST(!parse_manifest("not json", mt_oci_manifest));
  BOOST_TEST(
      !parse_manifest(image_manifest(mt_oci_manifest, "sha256:bad", layer), mt_oci_manifest));
  // zstd layers are accepted.
  auto z = image_manifest(mt_oci_manifest, cfg, layer, mt_oci_config);
  auto pos = z.find("application/vnd.docker.image.rootfs.diff.tar.gzip");
  z.replace(pos, std::string("application/vnd.docker.image.rootfs.diff.tar.gzip").size(),
            "application/vnd.oci.image.layer.v1.tar+zstd");
  BOOST_TEST(static_cast<bool>(parse_manifest(z, mt_oci_manifest)));
  pos = z.find("application/vnd.oci.image.layer.v1.tar+zstd");
  z.replace(pos, std::string("application/vnd.oci.image.layer.v1.tar+zstd").size(),
            "application/x-tar");
  BOOST_TEST(!parse_manifest(z, mt_oci_manifest));
}

BOOST_AUTO_TEST_CASE(platform_selection) {
  auto idx = parse_manifest(index_body(mt_oci_index), mt_oci_index);
  BOOST_REQUIRE(idx);
  auto amd = select_platform(*idx, {"linux", "amd64", ""});
  BOOST_REQUIRE(amd);
  BOOST_TEST(amd->digest == "sha256:" + std::string(64, '4')); // first match in order
  auto arm64 = select_platform(*idx, {"linux", "arm64", "v8"});
  BOOST_REQUIRE(arm64);
  BOOST_TEST(arm64->digest == "sha256:" + std::string(64, '3'));
  auto arm64b = select_platform(*idx, {"linux", "aarch64", ""});
  BOOST_REQUIRE(arm64b);
  BOOST_TEST(arm64b->digest == "sha256:" + std::string(64, '3'));
  auto arm = select_platform(*idx, {"linux", "arm", ""}); // arm defaults to v7
  BOOST_REQUIRE(arm);
  BOOST_TEST(arm->digest == "sha256:" + std::string(64, '2'));
  BOOST_TEST(!select_platform(*idx, {"linux", "arm", "v6"}));
  BOOST_TEST(!select_platform(*idx, {"unknown", "unknown", ""})); // attestations never match
  auto none = select_platform(*idx, {"linux", "s390x", ""});
  BOOST_REQUIRE(!none);
  BOOST_TEST((none.error() == ec::not_found));
  BOOST_TEST(error_message(none.error()) ==
             "no matching manifest for linux/s390x in the manifest list entries");
}

// -- endpoints -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(endpoints) {
  registry_options none;
  // Insecure: HTTPS without certificate checks first, then plain HTTP, as dockerd.
  auto insecure = [](const std::vector<endpoint>& eps) {
    return eps.size() == 2 && eps[0].secure && !eps[0].verify && !eps[1].secure &&
           eps[0].host == eps[1].host;
  };
  auto secure = [](const std::vector<endpoint>& eps) {
    return eps.size() == 1 && eps[0].secure && eps[0].verify;
  };
  auto local = endpoints_for("127.0.0.1:5000", none);
  BOOST_TEST(insecure(local));
  BOOST_TEST(local[0].host == "127.0.0.1:5000");
  BOOST_TEST(insecure(endpoints_for("localhost:5000", none)));
  BOOST_TEST(insecure(endpoints_for("127.1.2.3", none)));
  BOOST_TEST(insecure(endpoints_for("[::1]:5000", none)));
  BOOST_TEST(secure(endpoints_for("registry.example.com", none)));
  BOOST_TEST(secure(endpoints_for("10.1.2.3:5000", none)));
  registry_options opts;
  opts.insecure = {"10.0.0.0/8", "registry.example.com:5000", "fd00::/8"};
  BOOST_TEST(insecure(endpoints_for("10.1.2.3:5000", opts)));
  BOOST_TEST(secure(endpoints_for("11.1.2.3:5000", opts)));
  BOOST_TEST(insecure(endpoints_for("registry.example.com:5000", opts)));
  BOOST_TEST(secure(endpoints_for("registry.example.com", opts)));
  BOOST_TEST(secure(endpoints_for("registry.example.com:5001", opts)));
  BOOST_TEST(insecure(endpoints_for("[fd00::1]:5000", opts)));
  opts.mirrors = {"https://mirror.example:5000", "http://127.0.0.1:5001/", "https://10.9.9.9"};
  auto hub = endpoints_for("docker.io", opts);
  BOOST_REQUIRE_EQUAL(hub.size(), 4u);
  BOOST_TEST(hub[0].host == "mirror.example:5000");
  BOOST_TEST(hub[0].secure);
  BOOST_TEST(hub[0].verify);
  BOOST_TEST(hub[0].mirror);
  BOOST_TEST(hub[1].host == "127.0.0.1:5001");
  BOOST_TEST(!hub[1].secure);
  BOOST_TEST(hub[1].mirror);
  BOOST_TEST(hub[2].host == "10.9.9.9"); // an insecure mirror over https: no certificate checks
  BOOST_TEST(hub[2].secure);
  BOOST_TEST(!hub[2].verify);
  BOOST_TEST(hub[3].host == "registry-1.docker.io");
  BOOST_TEST(hub[3].secure);
  BOOST_TEST(hub[3].verify);
  BOOST_TEST(!hub[3].mirror);
  // Mirrors are for Docker Hub only.
  BOOST_TEST(endpoints_for("127.0.0.1:5000", opts).size() == 2u);
}

BOOST_AUTO_TEST_CASE(token_cache_expiry) {
  token_cache c;
  c.put("k", "t", std::chrono::seconds(300));
  BOOST_TEST(c.get("k") == "t");
  BOOST_TEST(c.get("other") == "");
  c.put("gone", "t", std::chrono::seconds(0));
  BOOST_TEST(c.get("gone") == "");
}

// -- the client end to end -----------------------------------------------------------------------

namespace {

/// A registry at 127.0.0.1 that wants Bearer tokens from a token server, and redirects blobs to
/// a third listener. Layer and config blobs and the manifests are real, with real digests.
struct bearer_registry {
  loopback_server registry, tokens, cdn;
  std::string layer = std::string(300000, 'L') + "end";
  std::string config = R"({"architecture":"amd64","os":"linux"})";
  std::string layer_digest = io::digest_of(layer);
  std::string config_digest = io::digest_of(config);
  std::string manifest = image_manifest(mt_docker_manifest, config_digest, layer_digest);
  std::string manifest_digest = io::digest_of(manifest);

  bearer_registry() {
    auto realm = "http://" + tokens.authority() + "/token";
    registry.on([this, realm](const seen_request& r) {
      auto challenge = [&](const std::string& scope) {
        return reply(401, "Unauthorized",
                     {{"WWW-Authenticate", R"(Bearer realm=")" + realm + R"(",service="loopback")" +
                                               (scope.empty() ? "" : R"(,scope=")" + scope + "\"")},
                      {"Content-Type", "application/json"}},
                     json_error("UNAUTHORIZED", "authentication required"));
      };
      const std::string repo = "/v2/library/busybox/";
      if (r.target == "/v2/")
        return r.header("authorization") == "Bearer T1" ? reply(200, "OK", {}, "{}")
                                                        : challenge("");
      if (r.header("authorization") != "Bearer T1")
        return challenge("repository:library/busybox:pull");
      if (r.target == repo + "manifests/latest" ||
          r.target == repo + "manifests/" + manifest_digest)
        return reply(
            200, "OK",
            {{"Content-Type", mt_docker_manifest}, {"Docker-Content-Digest", manifest_digest}},
            manifest);
      if (r.target == repo + "manifests/sha256:" + std::string(64, 'f'))
        return reply(200, "OK", {{"Content-Type", mt_docker_manifest}}, manifest);
      if (r.target == repo + "manifests/tampered")
        return reply(200, "OK",
                     {{"Content-Type", mt_docker_manifest},
                      {"Docker-Content-Digest", "sha256:" + std::string(64, 'e')}},
                     manifest);
      if (r.target == repo + "manifests/denied")
        return reply(403, "Forbidden", {{"Content-Type", "application/json"}},
                     json_error("DENIED", "requested access to the resource is denied"));
      if (r.target == repo + "blobs/" + layer_digest)
        return reply(307, "Temporary Redirect",
                     {{"Location", "http://" + cdn.authority() + "/signed/layer?sig=abc"}});
      if (r.target == repo + "blobs/" + config_digest)
        return reply(200, "OK", {{"Content-Type", "application/octet-stream"}}, config);
      return reply(404, "Not Found", {{"Content-Type", "application/json"}},
                   json_error("MANIFEST_UNKNOWN", "manifest unknown"));
    });
    tokens.on([](const seen_request& r) {
      bool ok = r.method == "GET" ? r.target.find("service=loopback") != std::string::npos
                                  : r.body.find("grant_type=refresh_token&refresh_token=rt1") !=
                                        std::string::npos;
      return ok ? reply(200, "OK", {{"Content-Type", "application/json"}},
                        R"({"token":"T1","expires_in":300})")
                : reply(401, "Unauthorized", {}, R"({"details":"incorrect username or password"})");
    });
    cdn.on([this](const seen_request& r) {
      if (r.target != "/signed/layer?sig=abc") return reply(404, "Not Found");
      return reply(200, "OK", {{"Content-Type", "application/octet-stream"}}, layer, true);
    });
  }

  reference repo() { return parse_ok(registry.authority() + "/library/busybox"); }
};

} // namespace

BOOST_AUTO_TEST_CASE(client_bearer_flow) {
  bearer_registry reg;
  auto cache = std::make_shared<token_cache>();
  client c(reg.repo(), {}, {}, cache);
  auto m = c.get_manifest("latest");
  BOOST_REQUIRE_MESSAGE(m, (m ? "" : error_message(m.error())));
  // 127.0.0.1 is insecure: HTTPS was tried first, then plain HTTP, which is kept.
  BOOST_TEST(reg.registry.tls_hellos() >= 1);
  BOOST_TEST(!c.current().secure);
  BOOST_TEST(c.current().host == reg.registry.authority());
  BOOST_TEST(m->body == reg.manifest);
  BOOST_TEST(m->digest == reg.manifest_digest);
  BOOST_TEST(m->content_type == mt_docker_manifest);
  BOOST_TEST(m->parsed.config.digest == reg.config_digest);
  BOOST_REQUIRE_EQUAL(reg.tokens.requests().size(), 1u);
  auto tok = reg.tokens.requests()[0];
  BOOST_TEST(tok.target.find("scope=repository%3Alibrary%2Fbusybox%3Apull") != std::string::npos);
  BOOST_TEST(tok.header("authorization").empty()); // anonymous
  auto accept = reg.registry.requests().back().header("accept");
  for (auto mt : {mt_oci_index, mt_docker_list, mt_oci_manifest, mt_docker_manifest})
    BOOST_TEST(accept.find(mt) != std::string::npos);
  // Again, and by digest: the cached token goes out at once (no 401, no token request).
  auto before = reg.registry.requests().size();
  auto again = c.get_manifest(reg.manifest_digest);
  BOOST_REQUIRE(again);
  BOOST_TEST(reg.tokens.requests().size() == 1u);
  BOOST_TEST(reg.registry.requests().size() == before + 1);
  // Another client sharing the cache reuses the challenge and the token.
  client c2(reg.repo(), {}, {}, cache);
  BOOST_REQUIRE(c2.get_manifest("latest"));
  BOOST_TEST(reg.tokens.requests().size() == 1u);
  // A blob behind a redirect to another listener: Authorization stays with the registry.
  descriptor layer{
      mt_docker_layer, reg.layer_digest, static_cast<int64_t>(reg.layer.size()), {}, {}};
  auto s = c.open_blob(layer);
  BOOST_REQUIRE_MESSAGE(s, (s ? "" : error_message(s.error())));
  std::string got;
  std::vector<char> buf(7000);
  while (true) {
    auto n = s->body(buf.data(), buf.size());
    BOOST_REQUIRE_MESSAGE(n, (n ? "" : error_message(n.error())));
    if (*n == 0) break;
    BOOST_REQUIRE(*n <= buf.size());
    got.append(buf.data(), *n);
  }
  BOOST_TEST(got.size() == reg.layer.size());
  BOOST_TEST((got == reg.layer));
  BOOST_REQUIRE_EQUAL(reg.cdn.requests().size(), 1u);
  BOOST_TEST(reg.cdn.requests()[0].header("authorization").empty());
  BOOST_TEST(reg.registry.requests().back().header("authorization") == "Bearer T1");
  // A small blob read whole and verified; a wrong digest fails verification.
  descriptor config{
      mt_docker_config, reg.config_digest, static_cast<int64_t>(reg.config.size()), {}, {}};
  auto cfg = c.get_blob(config);
  BOOST_REQUIRE_MESSAGE(cfg, (cfg ? "" : error_message(cfg.error())));
  BOOST_TEST(*cfg == reg.config);
  config.size = 3;
  BOOST_TEST(!c.get_blob(config));
  // Docker-Content-Digest that disagrees with the bytes.
  auto tampered = c.get_manifest("tampered");
  BOOST_REQUIRE(!tampered);
  BOOST_TEST(error_message(tampered.error()).find("manifest verification failed for digest") !=
             std::string::npos);
  // By digest, the bytes must match the requested digest.
  auto wrong = c.get_manifest("sha256:" + std::string(64, 'f'));
  BOOST_REQUIRE(!wrong);
  BOOST_TEST(
      error_message(wrong.error()).find("manifest verification failed for digest sha256:f") !=
      std::string::npos);
  // Registry errors keep the registry's code and message.
  auto missing = c.get_manifest("missing");
  BOOST_REQUIRE(!missing);
  BOOST_TEST((missing.error() == ec::not_found));
  BOOST_TEST(error_message(missing.error()) == "manifest unknown: manifest unknown");
  auto denied = c.get_manifest("denied");
  BOOST_REQUIRE(!denied);
  BOOST_TEST((denied.error() == ec::forbidden));
  BOOST_TEST(error_message(denied.error()) == "denied: requested access to the resource is denied");
  BOOST_TEST(!c.get_manifest("bad tag"));
  // ping: /v2/ with the challenge's (scope-less) token.
  auto err = c.ping();
  BOOST_TEST(!err, (err ? error_message(err) : ""));
}

BOOST_AUTO_TEST_CASE(client_bearer_credentials) {
  bearer_registry reg;
  // Basic credentials go to the token server, with account=.
  auth_config creds;
  creds.username = "alice";
  creds.password = "secret";
  client c(reg.repo(), creds, {}, std::make_shared<token_cache>());
  BOOST_REQUIRE(c.get_manifest("latest"));
  BOOST_REQUIRE_EQUAL(reg.tokens.requests().size(), 1u);
  auto tok = reg.tokens.requests()[0];
  BOOST_TEST(tok.target.find("account=alice") != std::string::npos);
  BOOST_TEST(tok.header("authorization") == "Basic YWxpY2U6c2VjcmV0");
  // An identity token is exchanged with a POST form.
  auth_config id;
  id.identitytoken = "rt1";
  client c2(reg.repo(), id, {}, std::make_shared<token_cache>());
  BOOST_REQUIRE(c2.get_manifest("latest"));
  BOOST_REQUIRE_EQUAL(reg.tokens.requests().size(), 2u);
  auto post = reg.tokens.requests()[1];
  BOOST_TEST(post.method == "POST");
  BOOST_TEST(post.body.find("client_id=docker") != std::string::npos);
  BOOST_TEST(post.body.find("scope=repository%3Alibrary%2Fbusybox%3Apull") != std::string::npos);
  // A refused identity token: the token server's details, as unauthorized.
  id.identitytoken = "wrong";
  client c3(reg.repo(), id, {}, std::make_shared<token_cache>());
  auto bad = c3.get_manifest("latest");
  BOOST_REQUIRE(!bad);
  BOOST_TEST((bad.error() == ec::unauthorized));
  BOOST_TEST(error_message(bad.error()).find("unauthorized: incorrect username or password") !=
             std::string::npos);
  auto bad_ping = c3.ping();
  BOOST_TEST((bad_ping == ec::unauthorized));
}

BOOST_AUTO_TEST_CASE(client_basic_auth) {
  loopback_server reg;
  reg.on([](const seen_request& r) {
    if (r.header("authorization") != "Basic dXNlcjpwYXNz") // user:pass
      return reply(401, "Unauthorized",
                   {{"WWW-Authenticate", R"(Basic realm="Registry Realm")"},
                    {"Content-Type", "application/json"}},
                   json_error("UNAUTHORIZED", "authentication required"));
    if (r.target == "/v2/") return reply(200, "OK", {}, "{}");
    return reply(404, "Not Found", {{"Content-Type", "application/json"}},
                 json_error("NAME_UNKNOWN", "repository name not known to registry"));
  });
  auto repo = parse_ok(reg.authority() + "/private/app");
  auto tokens = std::make_shared<token_cache>();
  auth_config good;
  good.username = "user";
  good.password = "pass";
  client ok(repo, good, {}, tokens);
  auto err = ok.ping();
  BOOST_TEST(!err, (err ? error_message(err) : ""));
  auto unknown = ok.get_manifest("latest");
  BOOST_REQUIRE(!unknown);
  BOOST_TEST((unknown.error() == ec::not_found));
  BOOST_TEST(error_message(unknown.error()) ==
             "name unknown: repository name not known to registry");
  auth_config wrong = good;
  wrong.password = "nope";
  client bad(repo, wrong, {}, tokens);
  auto perr = bad.ping();
  BOOST_REQUIRE(perr);
  BOOST_TEST((perr == ec::unauthorized));
  BOOST_TEST(error_message(perr) ==
             "Get \"http://" + reg.authority() + "/v2/\": unauthorized: authentication required");
  auto merr = bad.get_manifest("latest");
  BOOST_REQUIRE(!merr);
  BOOST_TEST((merr.error() == ec::unauthorized));
  BOOST_TEST(error_message(merr.error()) == "unauthorized: authentication required");
  client anon(repo, {}, {}, tokens);
  auto aerr = anon.get_manifest("latest");
  BOOST_REQUIRE(!aerr);
  BOOST_TEST((aerr.error() == ec::unauthorized));
}

BOOST_AUTO_TEST_CASE(client_unreachable) {
  // A port that was just free: connection refused, ec::unavailable naming the host.
  std::string authority;
  {
    loopback_server gone;
    authority = gone.authority();
  }
  client c(parse_ok(authority + "/x"), {}, {}, std::make_shared<token_cache>());
  auto err = c.ping();
  BOOST_REQUIRE(err);
  BOOST_TEST((err == ec::unavailable));
  BOOST_TEST(error_message(err).find(authority) != std::string::npos);
  auto m = c.get_manifest("latest");
  BOOST_REQUIRE(!m);
  BOOST_TEST((m.error() == ec::unavailable));
}

BOOST_AUTO_TEST_CASE(client_mirrors) {
  // docker.io through two loopback mirrors: the first refuses connections, the second answers
  // 404 for one manifest (so the next endpoint would be Hub: that case is not run here).
  std::string dead;
  {
    loopback_server gone;
    dead = gone.authority();
  }
  loopback_server mirror;
  auto manifest = image_manifest(mt_oci_manifest, "sha256:" + std::string(64, 'c'),
                                 "sha256:" + std::string(64, 'd'));
  mirror.on([&manifest](const seen_request& r) {
    if (r.target == "/v2/library/busybox/manifests/latest")
      return reply(200, "OK", {{"Content-Type", mt_oci_manifest}}, manifest);
    return reply(404, "Not Found");
  });
  registry_options opts;
  opts.mirrors = {"http://" + dead, "http://" + mirror.authority()};
  client c(parse_ok("busybox"), {}, opts, std::make_shared<token_cache>());
  auto m = c.get_manifest("latest");
  BOOST_REQUIRE_MESSAGE(m, (m ? "" : error_message(m.error())));
  BOOST_TEST(m->digest == io::digest_of(manifest));
  BOOST_TEST(c.current().host == mirror.authority());
  BOOST_TEST(c.current().mirror);
}

BOOST_AUTO_TEST_SUITE_END()
