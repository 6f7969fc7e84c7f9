// Helpers shared by the unit tests: temp dirs, tars built in memory, compression.
#pragma once

#include "messages/error.hpp"

#include <caf/expected.hpp>

#include <string>
#include <utility>
#include <vector>

namespace caf {
class actor_system_config;
}

namespace berth::test {

/// One actor system config for every test actor system, with berth's messages registered.
caf::actor_system_config& actor_config();

/// The message of a failed expected, "ok" for a value.
template <class T> std::string why(const caf::expected<T>& x) {
  return x ? std::string{"ok"} : error_message(x.error());
}

/// A temporary directory under /tmp, removed with everything in it.
struct temp_dir {
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// Create `path/name` (and its parents) and return its path.
  std::string sub(const std::string& name) const;
  std::string path;
};

/// A pax tar of entries (path -> content): a path ending in '/' is a directory, content starting
/// with "->" makes a symlink to the rest, anything else a regular file. mtime 1600000000.
std::string make_tar(const std::vector<std::pair<std::string, std::string>>& entries);

std::string gzip(const std::string& data);
std::string zstd(const std::string& data);

} // namespace berth::test
