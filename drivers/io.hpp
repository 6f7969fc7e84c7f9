// Byte streams shared by the registry client, the layer extractor and the graph drivers: pull
// readers, push writers, sha256, decompression (gzip, zstd), and crash-safe file writes.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::io {

/// A pull-model byte source: fills up to `len` bytes and returns how many; 0 = end of stream.
using reader = std::function<caf::expected<std::size_t>(char* buf, std::size_t len)>;

/// A push-model byte sink: takes all `len` bytes or fails.
using writer = std::function<caf::error(const char* data, std::size_t len)>;

/// Incremental sha256 (OpenSSL EVP).
class sha256 {
public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;
  void update(const void* data, std::size_t len);
  /// "sha256:<64 hex>"; finalizes (call once).
  std::string digest();

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

/// "sha256:<64 lowercase hex>" of `data`.
std::string digest_of(std::string_view data);
/// True for "sha256:" followed by 64 lowercase hex digits.
bool valid_digest(std::string_view d);
/// The hex part of a digest ("sha256:abc" -> "abc").
std::string digest_hex(std::string_view d);

/// Nanoseconds spent inside a stage, for the pull time split. Single-threaded use.
struct stage_clock {
  int64_t ns = 0;
};

/// Reads `data`, then end of stream (tests).
reader string_reader(std::string data);
/// Reads a file descriptor until EOF (does not own it).
reader fd_reader(int fd);
/// Adds the time spent inside `src` to `clock`.
reader timed(reader src, stage_clock& clock);
/// Passes `src` through and feeds every byte to `hash` (which must outlive the reader).
reader hashing(reader src, sha256& hash);
/// Passes `src` through; at its end, fails unless sha256 == `digest` and, when `size` >= 0, the
/// byte count == `size`. The error (ec::unspecified) reads `what` plus the expected and actual
/// digests, e.g. "filesystem layer verification failed for digest sha256:...".
reader verifying(reader src, std::string digest, int64_t size, std::string what,
                 stage_clock* hash_clock = nullptr);
/// Decompresses gzip or zstd, detected by their magic bytes; anything else passes through as is
/// (an uncompressed tar). `clock` (optional) gets the time spent decompressing, without `src`.
reader decompress(reader src, stage_clock* clock = nullptr);
/// Reads the whole stream into a string; fails past `limit` bytes.
caf::expected<std::string> read_all(reader src, std::size_t limit);

/// Replace `path` atomically with `data`: write a temp file beside it, fsync, rename, fsync the
/// directory. With `durable` false, no fsync: readers still see the old or the new content, but
/// a crash may leave the file empty (for data that is rebuilt or dropped after a crash).
caf::error write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                             bool durable = true);
/// Rewrite an existing file's content in place (the same inode: a file bind-mounted into a
/// container, whose mount a rename would not reach). Not atomic.
caf::error write_file_in_place(const std::string& path, std::string_view data);
/// Queues `path` (a file just written with `durable` false) for an fsync, and one of its
/// directory, on a background thread: the caller does not wait for the disk. The rename already
/// made the content visible, so a daemon crash loses nothing; a power loss may lose the writes of
/// the last few milliseconds. A path queued twice is synced once. Missing files are skipped.
void sync_later(const std::string& path);
/// Waits until every path queued so far is synced (at shutdown, and in tests).
void sync_pending();
/// A whole file.
caf::expected<std::string> read_file(const std::string& path);
/// mkdir -p.
caf::error mkdir_all(const std::string& path, mode_t mode = 0755);
/// rm -rf (does not cross mount points; missing is fine).
caf::error remove_all(const std::string& path);
/// fsync a directory (after renames in it).
caf::error sync_dir(const std::string& path);
/// 64 random hex digits (IDs).
std::string random_hex(std::size_t bytes = 32);

/// An owned file descriptor, closed when the owner goes.
struct unique_fd {
  int fd = -1;
  unique_fd() = default;
  explicit unique_fd(int f) : fd(f) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  unique_fd(unique_fd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd, -1));
    return *this;
  }
  ~unique_fd() { reset(); }
  void reset(int f = -1);
  int release() { return std::exchange(fd, -1); }
  explicit operator bool() const { return fd >= 0; }
};

/// A failed system call as ec::system: "<what>: <strerror(err)>".
caf::error sys_error(const std::string& what, int err = errno);

/// Receive one fd sent over the unix socket `sock` (SCM_RIGHTS, with at least one byte) into
/// `out` (CLOEXEC); an error when the peer closed or sent none.
caf::error receive_fd(int sock, unique_fd& out);

/// One recvmsg on the unix socket `sock` (`flags` added, e.g. MSG_DONTWAIT): up to `len` data
/// bytes into `data`, and the fds that came with them (at most `max_fds` expected; CLOEXEC)
/// into `fds`. Returns the data byte count (0: the peer closed).
caf::expected<std::size_t> receive_fds(int sock, void* data, std::size_t len,
                                       std::vector<unique_fd>& fds, std::size_t max_fds,
                                       int flags = 0);

} // namespace berth::io
