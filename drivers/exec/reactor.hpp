// The process reactor: one thread with an epoll set that watches every container's stdio and
// pidfd for both exec drivers. Output is read as it comes and handed to callbacks (which send it
// to the container actor); an exit is reaped with waitid(P_PIDFD) at once, never polled; input
// is written without blocking, queued while the pipe is full. Callbacks run on the reactor
// thread and must not block (sending a CAF message is fine).
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace berth::exec {

class reactor {
public:
  static caf::expected<std::shared_ptr<reactor>> start();
  virtual ~reactor() = default;

  /// Read `fd` (taken over, made non-blocking) until EOF or an error (EIO from a pty master whose
  /// slave closed is EOF): each read's bytes go to `on_data`, then `on_eof` runs once and the fd
  /// is closed.
  virtual void watch_output(int fd, std::function<void(std::string)> on_data,
                            std::function<void()> on_eof) = 0;
  /// Wait until the process behind `pidfd` (taken over) exits, reap it, and call `on_exit` with
  /// its wait status (as waitpid's). The pidfd is closed after.
  virtual void watch_exit(int pidfd, std::function<void(int)> on_exit) = 0;
  /// Open an input channel on `fd` (taken over, made non-blocking); returns its handle.
  virtual uint64_t open_input(int fd) = 0;
  /// Queue bytes for input `h`; they are written in order as the pipe drains.
  virtual void write(uint64_t h, std::string data) = 0;
  /// Close input `h` once its queue is written (stdin EOF for the process).
  virtual void close_input(uint64_t h) = 0;
  /// Stop the thread; close every fd still watched (no callbacks run after).
  virtual void stop() = 0;
};

} // namespace berth::exec
