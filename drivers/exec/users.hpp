// The container's user, as runc and moby resolve `--user` and `--group-add` against the image's
// /etc/passwd and /etc/group. Shared by berth-exec (which reads the files after pivot_root) and
// the oci driver (which reads them inside the rootfs before it writes the bundle). Plain C++: no
// CAF, as berth-exec links none.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace berth::exec::users {

struct exec_user {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups; // supplementary
  std::string home = "/";
};

/// `s` cut at every `sep` ("a::b" -> "a", "", "b").
std::vector<std::string> split(const std::string& s, char sep);

/// Reads the container's "/etc/passwd" or "/etc/group": the content, "" when missing.
using file_reader = std::function<std::string(const char* path)>;

/// moby/sys/user's GetExecUser plus runc's additional groups. `spec_user` is "", uid, uid:gid,
/// name or name:group. Returns "" and fills `out`, or runc's message, e.g. "unable to find user
/// x: no matching entries in passwd file".
std::string resolve(const std::string& spec_user, const std::vector<std::string>& additional,
                    const file_reader& read, exec_user& out);

} // namespace berth::exec::users
