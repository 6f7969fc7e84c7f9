// Docker image references: parsing and normalization as docker/distribution's `reference`
// package (ParseNormalizedNamed, TagNameOnly, FamiliarString).
//   busybox                    -> docker.io/library/busybox:latest
//   user/app:1                 -> docker.io/user/app:1
//   127.0.0.1:5000/busybox     -> 127.0.0.1:5000/busybox:latest
//   name@sha256:<64 hex>       -> digest reference (a tag may also be present)
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace berth::registry {

inline constexpr const char* default_domain = "docker.io";
inline constexpr const char* legacy_domain = "index.docker.io";
inline constexpr const char* official_prefix = "library/";

struct reference {
  std::string domain; // "docker.io", "127.0.0.1:5000", "localhost"
  std::string path;   // "library/busybox", "user/app"
  std::string tag;    // "" when none was given (see with_default_tag)
  std::string digest; // "" or "sha256:<64 hex>"

  /// domain/path: "docker.io/library/busybox".
  std::string name() const;
  /// The full string: name[:tag][@digest].
  std::string str() const;
  /// Docker's familiar form: "busybox:latest", "user/app:1", "127.0.0.1:5000/busybox:latest".
  std::string familiar() const;
  /// Familiar name without tag or digest: "busybox", "127.0.0.1:5000/busybox".
  std::string familiar_name() const;
};

/// Parse and normalize. Errors are ec::invalid_argument with Docker's wording:
///   "invalid reference format" (bad syntax),
///   "invalid reference format: repository name must be lowercase",
///   "invalid repository name (<64 hex>), cannot specify 64-byte hexadecimal strings".
/// A tag is not filled in: use with_default_tag when the caller wants ":latest".
caf::expected<reference> parse_reference(std::string_view s);

/// `ref` with tag "latest" when it has neither tag nor digest.
reference with_default_tag(reference ref);

/// True for a valid tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool valid_tag(std::string_view tag);

} // namespace berth::registry
