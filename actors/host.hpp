// Facts about the host, read once at start: kernel, OS, CPUs, memory and the cgroup layout.
#pragma once

#include "messages/types.hpp"

#include <string>

namespace berth::host {

/// Read the facts (uname, /etc/os-release, /proc, /sys/fs/cgroup).
host_facts read_facts();

/// Number of open file descriptors and threads of this process (for `info`).
int64_t open_fds();
int64_t thread_count();

/// Go's GOARCH for a uname machine name (x86_64 -> amd64).
std::string go_arch(const std::string& machine);

/// Read a whole small file; empty when it cannot be read.
std::string read_file(const std::string& path);

} // namespace berth::host
