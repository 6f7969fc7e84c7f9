// Containers in Docker's JSON: the create body (POST /containers/create) parsed into a
// container_config with dockerd's validation and wording, and the JSON of inspect
// (GET /containers/{id}/json) and of the list (GET /containers/json), with exact field types.
#pragma once

#include "messages/types.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace simdjson::dom {
class element;
}

namespace berth::api {

/// How Go's UnmarshalTypeError names a JSON value: string, number, bool, array, object, null.
std::string json_kind_of(const simdjson::dom::element& v);

/// Parse a create body: Config fields at the top level, plus HostConfig and NetworkingConfig.
/// Unknown fields are ignored (as Go's decoder). Bad values are ec::invalid_argument naming the
/// field as dockerd does, e.g. `invalid restart policy: on-failure: maximum retry count cannot be
/// negative`, `Conflicting options: --restart and --rm`, `invalid signal: SIGFOO`,
/// `Minimum memory limit allowed is 6MB`, `invalid character 'x' looking for beginning of value`
/// for malformed JSON (400). An empty body is 400 "config cannot be empty in order to create a
/// container". A missing or empty Image is 400 "No command specified" only when the image gives
/// none either: that check happens later (the image is not known here).
caf::expected<container_config> parse_create(std::string_view body);

/// POST /containers/{id}/update's body (moby's UpdateConfig: the Resources fields and
/// RestartPolicy, decoded as HostConfig's are): the fields given non-zero change, the rest stay.
caf::expected<host_config> parse_update(std::string_view body);

/// POST /containers/{id}/exec's body (moby's ExecConfig), with moby's 400s: "No exec command
/// specified", a relative WorkingDir, Go's type errors.
caf::expected<exec_config> parse_exec(std::string_view body);

/// GET /exec/{id}/json (moby's ExecInspect): ExitCode null until the process has run.
std::string encode_exec_inspect(const exec_info& x);

/// The name query parameter of create: "" (generate one) or /?[a-zA-Z0-9][a-zA-Z0-9_.-]+
/// (400 `Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`). Returns the
/// name with its leading "/".
caf::expected<std::string> validate_name(const std::string& name);

/// GET /containers/{id}/json, as dockerd 20.10 writes it (field order kept): Id, Created (RFC
/// 3339 nanos), Path, Args, State{Status, Running, Paused, Restarting, OOMKilled, Dead, Pid,
/// ExitCode, Error, StartedAt, FinishedAt}, Image, ResolvConfPath, HostnamePath, HostsPath,
/// LogPath, Name, RestartCount, Driver, Platform, MountLabel, ProcessLabel, AppArmorProfile,
/// ExecIDs, HostConfig{...}, GraphDriver{Data, Name}, [SizeRw, SizeRootFs when size],
/// Mounts, Config{...}, NetworkSettings{...}.
std::string encode_inspect(const container_info& c, bool size);
/// The container's Config as GET /containers/{id}/json shows it (docker commit's
/// container_config).
std::string encode_config_json(const container_info& c);

/// One element of GET /containers/json: Id, Names ["/n"], Image, ImageID, Command, Created
/// (int64 seconds), Ports, [SizeRw, SizeRootFs when size], Labels, State, Status, HostConfig
/// {NetworkMode}, NetworkSettings{Networks}, Mounts.
std::string encode_summary(const container_info& c, bool size, int64_t now_nano);

/// ps's Status: "Created", "Up 2 minutes", "Up 3 seconds (Paused)", "Restarting (1) 2 seconds
/// ago", "Exited (0) 5 minutes ago", "Removal In Progress", "Dead" (Go's units.HumanDuration).
std::string human_status(const container_state& s, int64_t now_nano);
/// Go's units.HumanDuration: "Less than a second", "1 second", "2 minutes", "About an hour", ...
std::string human_duration(int64_t nanos);

// RFC 3339 times: use rfc3339_nano from api/system.hpp (already defined there; do not define
// another). It does not map 0 to Go's zero time: write "0001-01-01T00:00:00Z" for 0 yourself.

/// The filters of GET /containers/json: validates keys (400 `invalid filter 'x'`) and values
/// (status must be one of created, restarting, running, removing, paused, exited, dead: 400
/// `invalid filter 'status=x'`).
caf::error validate_list_filters(const filter_args& f);
/// Whether a container matches: status, name (substring/regex as dockerd: a regexp match on the
/// name without "/"), id (prefix), label (key or key=value), ancestor (Config.Image as given,
/// with or without ":latest", or a prefix of ImageID with or without "sha256:"), exited (exit
/// code of an exited container). before/since are applied by the caller (they need ordering).
bool matches(const container_info& c, const filter_args& f);

} // namespace berth::api
