// The daemon's configuration: dockerd-style flags merged with daemon.json.
//
// One table lists every option: its flag names, its daemon.json key, its type and whether
// SIGHUP reloads it. Flags and file are parsed against that table; a key given in both is an
// error naming it (as dockerd does), as are unknown keys and bad values.
#pragma once

#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth::config {

/// What the command line said.
struct flags {
  daemon_config cfg;           // defaults with the flags applied
  std::set<std::string> given; // daemon.json keys of the flags that were given
  bool config_file_given = false;
  bool help = false;
  bool version = false;
};

/// Parse dockerd-style flags (argv without the program name).
caf::expected<flags> parse_flags(const std::vector<std::string>& args);

/// `berthd --help`.
std::string usage();

/// Merge a daemon.json text over `cfg`. `flag_keys` are keys already given as flags: a key in
/// both is an error. Fills `file_keys` with the keys the file sets.
caf::error merge_file(daemon_config& cfg, const std::set<std::string>& flag_keys,
                      std::string_view json, std::set<std::string>* file_keys = nullptr);

/// Check every value and fill derived defaults (default host, tls implied by tlsverify).
caf::error validate(daemon_config& cfg);

/// A runtime containers can run with: "native" (berth-exec), or an OCI runtime binary.
struct runtime {
  std::string path; // "" for native
  std::vector<std::string> args;
};
/// Every runtime of a validated config by name: native, runc, and the added ones. runc's path
/// is `--exec-opt oci.runtime=` when given.
std::map<std::string, runtime> runtimes(const daemon_config& cfg);
/// The name of the default runtime: --default-runtime, or by the exec driver (native or runc).
std::string default_runtime(const daemon_config& cfg);

/// Flags, then the config file (a missing default file is fine; a missing given one is not),
/// then validation. Errors name the flag or key at fault.
caf::expected<daemon_config> load(const flags& f);

/// The outcome of a SIGHUP reload.
struct reload_result {
  daemon_config cfg;                // the config to run with now
  std::vector<std::string> changes; // "debug: false -> true", ...
  std::vector<std::string> ignored; // keys that changed in the file but are not reloadable
};

/// Re-read the config file and apply its reloadable keys (debug, log-level, labels,
/// max-concurrent-downloads, registry-mirrors, insecure-registries) to `current`.
caf::expected<reload_result> reload(const daemon_config& current, const flags& f);

/// The attributes of the `daemon reload` event.
std::map<std::string, std::string> reload_attributes(const daemon_config& cfg);

/// Default listener.
inline constexpr const char* default_host = "unix:///run/berth/berth.sock";

} // namespace berth::config
