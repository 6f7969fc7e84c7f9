// The registry client library: Docker Registry HTTP API v2 / OCI distribution over HTTPS (system
// CAs) or plain HTTP (insecure registries and 127.0.0.0/8), auth (anonymous, basic, Bearer with a
// token cache per scope), manifests and their platform selection, blob streams, and the uploads
// of docker push (blobs, manifests).
// Blocking calls: run them on a detached actor or a worker thread, never on a scheduler thread.
// The registry client actor (actors/registry/registry.hpp) is built on this.
#pragma once

#include "actors/registry/reference.hpp"
#include "drivers/io.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace berth::registry {

// -- media types ---------------------------------------------------------------------------------

inline constexpr const char* mt_oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* mt_docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* mt_oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* mt_docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* mt_docker_schema1 =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr const char* mt_docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* mt_oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* mt_docker_layer = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// -- auth ----------------------------------------------------------------------------------------

/// The Engine API's AuthConfig (the X-Registry-Auth header and POST /auth body).
struct auth_config {
  std::string username;
  std::string password;
  std::string auth; // base64 "user:password"; filled in username/password when they are empty
  std::string email;
  std::string serveraddress;
  std::string identitytoken;
  std::string registrytoken;
  bool anonymous() const {
    return username.empty() && password.empty() && identitytoken.empty() && registrytoken.empty();
  }
};

/// Decode X-Registry-Auth: base64url (padded or not; standard base64 also accepted) of JSON.
/// "" and "e30=" ({}) are anonymous. Bad input: ec::invalid_argument.
caf::expected<auth_config> decode_registry_auth(std::string_view header);
/// Parse a POST /auth JSON body.
caf::expected<auth_config> parse_auth_config(std::string_view json);

/// One challenge of a WWW-Authenticate header: scheme ("bearer", "basic"; lower-cased) and its
/// parameters (keys lower-cased, values unquoted and unescaped).
struct challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};

/// Parse a WWW-Authenticate header value (RFC 7235), e.g.
/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="a,b"`.
std::vector<challenge> parse_www_authenticate(std::string_view value);

// -- manifests -----------------------------------------------------------------------------------

struct platform {
  std::string os;
  std::string architecture;
  std::string variant;
};

struct descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = -1;
  std::vector<std::string> urls;
  platform plat; // index entries only
};

/// A parsed manifest document: either an index/list (`manifests`) or an image manifest
/// (`config` + `layers`). `media_type` is the resolved one (body field, else Content-Type).
struct manifest {
  std::string media_type;
  bool is_index = false;
  std::vector<descriptor> manifests; // index / list
  descriptor config;                 // image manifest
  std::vector<descriptor> layers;    // image manifest
};

/// Parse a manifest body with the Content-Type it came with (parameters ignored). Schema 1 and
/// unknown types fail with a clear error (ec::invalid_argument); a body mediaType that disagrees
/// with the header fails; an OCI body without mediaType takes the header's type. An image
/// manifest whose config is not an image config fails (moby's "Encountered remote ..." wording).
caf::expected<manifest> parse_manifest(std::string_view body, std::string_view content_type);

/// Pick the entry for os/arch/variant from an index: first match in order; arm64's variant
/// normalises to v8, a missing variant matches; `unknown/unknown` entries never match. No match:
/// ec::not_found "no matching manifest for linux/amd64 in the manifest list entries".
caf::expected<descriptor> select_platform(const manifest& index, const platform& want);

// -- endpoints -----------------------------------------------------------------------------------

/// Where a registry is reached.
struct endpoint {
  std::string host;   // host[:port] as in the reference; "registry-1.docker.io" for docker.io
  bool secure = true; // https
  bool mirror = false;
  bool verify = true; // check the server's certificate (off for insecure registries over https)
};

/// The registry settings of the daemon (--insecure-registry, --registry-mirror).
struct registry_options {
  std::vector<std::string> insecure; // CIDRs or host[:port]
  std::vector<std::string> mirrors;  // URLs, for docker.io only
};

/// The endpoints to try for `domain`, in order: mirrors first (docker.io only), then the origin.
/// An insecure registry (a host:port entry, the host's IP within a CIDR entry, or 127.0.0.0/8,
/// ::1 and localhost) gets, as dockerd, HTTPS without certificate checks first and then plain
/// HTTP; the client moves to the next endpoint when one cannot be reached.
std::vector<endpoint> endpoints_for(const std::string& domain, const registry_options& opts);

// -- the HTTP client -----------------------------------------------------------------------------

/// Bearer tokens by (realm, service, scope, user); shared by every client of the daemon.
class token_cache {
public:
  /// A valid token for the key, or "".
  std::string get(const std::string& key);
  void put(const std::string& key, std::string token, std::chrono::seconds ttl);

private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> tokens_;
};

/// A fetched manifest: the exact bytes, their digest and parsed form.
struct fetched_manifest {
  std::string body;
  std::string content_type;
  std::string digest; // sha256 over body (verified against the requested digest, if any, and
                      // against Docker-Content-Digest when present)
  manifest parsed;
};

/// A blob body being read: `body` is a reader of the raw (compressed) bytes as received. The
/// caller verifies the digest (io::verifying). The connection closes when the reader is dropped.
struct blob_stream {
  int64_t length = -1; // Content-Length, -1 when unknown
  io::reader body;
};

/// One client talks to one repository of one registry (trying its endpoints in order). Errors:
///   401/403 from the registry -> ec::unauthorized / ec::forbidden with the registry's message;
///   NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN -> ec::not_found;
///   connection failures -> ec::unavailable naming the host.
/// The registry's error body message is kept in the error text.
class client {
public:
  client(reference repo, auth_config creds, registry_options opts,
         std::shared_ptr<token_cache> tokens);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// GET /v2/ with the credentials: ok when the registry accepts them (POST /auth).
  caf::error ping();
  /// GET /v2/<repo>/manifests/<tag or digest> with every supported type in Accept.
  caf::expected<fetched_manifest> get_manifest(const std::string& tag_or_digest);
  /// GET /v2/<repo>/tags/list, every page (Link rel="next"), in the registry's order.
  caf::expected<std::vector<std::string>> list_tags();
  /// GET /v2/<repo>/blobs/<digest>, following redirects (dropping Authorization when the host
  /// changes) and retrying once with a fresh token on 401.
  caf::expected<blob_stream> open_blob(const descriptor& d);
  /// A small blob (an image config) read whole and verified against its digest.
  caf::expected<std::string> get_blob(const descriptor& d, std::size_t limit = 32u << 20);

  /// Ask for push access as well (token scope `repository:<path>:pull,push`); mirrors are left
  /// out.
  void for_push();
  /// HEAD /v2/<repo>/blobs/<digest>: the blob's size, -1 when the registry lacks it.
  caf::expected<int64_t> blob_size(const std::string& digest);
  /// Upload the file `path` as blob `digest`: POST /v2/<repo>/blobs/uploads/, then one PUT to
  /// the Location with ?digest= (a monolithic upload, streamed from the file).
  caf::error put_blob(const std::string& digest, const std::string& path);
  /// PUT /v2/<repo>/manifests/<tag> with `body` of type `media_type`; returns its digest.
  caf::expected<std::string> put_manifest(const std::string& tag, const std::string& media_type,
                                          const std::string& body);

  /// The endpoint that answered last ("127.0.0.1:5000", https or not).
  const endpoint& current() const;

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace berth::registry
