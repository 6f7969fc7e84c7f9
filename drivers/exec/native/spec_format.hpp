// The spec berthd sends berth-exec on fd 3 (native.cpp encodes it, berth_exec.cpp decodes it):
// a u64 byte count, then the spec: native-endian, a u64 magic, then strings as u64 length + bytes
// and lists as u64 count + items, in the order of native.cpp's `encode`. One byte follows later,
// once berthd has moved the helper into the container's cgroup. Plain C++ (berth-exec links no
// CAF).
#pragma once

#include <cstdint>

namespace berth::exec::spec_format {

/// "BEX5": bumped whenever the layout changes, so that a berth-exec of another build refuses it.
/// After it: the rootfs, the process part (below), then hostname, domainname, sysctls, shm size,
/// mounts, masked and read-only paths, devices, the network namespace to join ("" = none).
constexpr uint64_t magic = 0x35584542;

/// "BEJ2": the spec of `berth-exec --join` (docker exec): the process part alone. The process
/// part (native.cpp's `encode_process`): args, env, cwd, user, additional groups, flags,
/// capabilities, rlimits. Its
/// fds: 0-2 stdio, 3 the spec (then the command's pidfd and pty master come back on it), 4 the
/// error pipe, 5 a pidfd of the container's first process (whose namespaces it joins).
constexpr uint64_t join_magic = 0x324A4542;

/// The flags word.
enum flag : uint64_t {
  flag_tty = 1,
  flag_init = 2,
  flag_privileged = 4,
  flag_readonly_rootfs = 8,
  flag_no_new_privileges = 16,
  flag_new_net = 32,
  flag_host_pid = 64,
  flag_host_ipc = 128,
  flag_host_uts = 256,
};

} // namespace berth::exec::spec_format
