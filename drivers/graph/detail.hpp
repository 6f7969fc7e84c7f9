// Helpers the graph drivers share (defined in drivers/graph/driver.cpp). Internal to drivers/graph.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace berth::graph::detail {

/// A valid layer ID: not empty, ".", "..", "l", no '/', at most 255 characters.
caf::error check_id(const std::string& id);
/// Entry names of directory `dir`, sorted (empty when it cannot be read).
std::vector<std::string> list_names(const std::string& dir);
/// `docker info`'s "Backing Filesystem" of `dir` (extfs, xfs, tmpfs, ...).
std::string backing_fs(const std::string& dir);
/// Docker's init-layer files and dirs under `root` (only those missing).
caf::error create_init_files(const std::string& root);
/// Entry names of the open directory `fd`, sorted.
caf::expected<std::vector<std::string>> list_fd(int fd);

} // namespace berth::graph::detail
