// The process reactor (see reactor.hpp): epoll over pipes, ptys and pidfds on one thread.
#include "drivers/exec/reactor.hpp"

#include "messages/error.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace berth::exec {
namespace {

constexpr std::size_t read_chunk = 64 * 1024;

void set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

class reactor_impl final : public reactor, public std::enable_shared_from_this<reactor_impl> {
public:
  ~reactor_impl() override { stop(); }

  caf::error init() {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0)
      return make_error(ec::system, std::string{"epoll_create1: "} + std::strerror(errno));
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) return make_error(ec::system, std::string{"eventfd: "} + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0; // the wake-up fd
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev);
    thread_ = std::thread([this] { loop(); });
    return {};
  }

  void watch_output(int fd, std::function<void(std::string)> on_data,
                    std::function<void()> on_eof) override {
    set_nonblocking(fd);
    auto w = std::make_unique<watch>();
    w->kind = watch::output;
    w->fd = fd;
    w->on_data = std::move(on_data);
    w->on_eof = std::move(on_eof);
    add(std::move(w), EPOLLIN);
  }

  void watch_exit(int pidfd, std::function<void(int)> on_exit) override {
    auto w = std::make_unique<watch>();
    w->kind = watch::exit;
    w->fd = pidfd;
    w->on_exit = std::move(on_exit);
    add(std::move(w), EPOLLIN);
  }

  uint64_t open_input(int fd) override {
    set_nonblocking(fd);
    auto w = std::make_unique<watch>();
    w->kind = watch::input;
    w->fd = fd;
    return add(std::move(w), 0);
  }

  void write(uint64_t h, std::string data) override {
    if (data.empty()) return;
    std::lock_guard<std::mutex> lk(mu_);
    auto it = watches_.find(h);
    if (it == watches_.end() || it->second->closing) return;
    auto& w = *it->second;
    w.queue.push_back(std::move(data));
    flush_input(h, w);
  }

  void close_input(uint64_t h) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = watches_.find(h);
    if (it == watches_.end()) return;
    it->second->closing = true;
    flush_input(h, *it->second);
  }

  void stop() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    uint64_t one = 1;
    if (wake_ >= 0 && ::write(wake_, &one, sizeof one) < 0) {
      // the thread is stuck only if the eventfd is broken; join would hang: nothing better to do
    }
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [h, w] : watches_)
      ::close(w->fd);
    watches_.clear();
    if (wake_ >= 0) ::close(wake_);
    if (ep_ >= 0) ::close(ep_);
    wake_ = ep_ = -1;
  }

private:
  struct watch {
    enum kind_t { output, exit, input } kind = output;
    int fd = -1;
    std::function<void(std::string)> on_data;
    std::function<void()> on_eof;
    std::function<void(int)> on_exit;
    std::deque<std::string> queue; // input not yet written
    std::size_t offset = 0;        // into queue.front()
    bool closing = false;          // input: close once the queue is written
    bool armed = false;            // input: EPOLLOUT registered
  };

  uint64_t add(std::unique_ptr<watch> w, uint32_t events) {
    std::lock_guard<std::mutex> lk(mu_);
    auto h = ++next_;
    auto fd = w->fd;
    if (stopped_) {
      ::close(fd);
      return h;
    }
    watches_.emplace(h, std::move(w));
    if (events != 0) {
      epoll_event ev{};
      ev.events = events;
      ev.data.u64 = h;
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    }
    return h;
  }

  // With mu_ held: write what the pipe takes; arm EPOLLOUT for the rest; close when asked.
  void flush_input(uint64_t h, watch& w) {
    while (!w.queue.empty()) {
      auto& front = w.queue.front();
      auto n = ::write(w.fd, front.data() + w.offset, front.size() - w.offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        if (!w.armed) {
          epoll_event ev{};
          ev.events = EPOLLOUT;
          ev.data.u64 = h;
          ::epoll_ctl(ep_, EPOLL_CTL_ADD, w.fd, &ev);
          w.armed = true;
        }
        return;
      }
      if (n < 0) { // EPIPE: the process closed its stdin; drop the rest
        w.queue.clear();
        break;
      }
      w.offset += static_cast<std::size_t>(n);
      if (w.offset == front.size()) {
        w.queue.pop_front();
        w.offset = 0;
      }
    }
    if (w.armed) {
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, w.fd, nullptr);
      w.armed = false;
    }
    if (w.closing) {
      ::close(w.fd);
      watches_.erase(h);
    }
  }

  void loop() {
    std::vector<epoll_event> evs(64);
    std::string buf;
    while (true) {
      int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;
      for (int i = 0; i < n; ++i) {
        auto h = evs[i].data.u64;
        if (h == 0) {
          std::lock_guard<std::mutex> lk(mu_);
          if (stopped_) return;
          continue;
        }
        handle(h, buf);
      }
    }
  }

  void handle(uint64_t h, std::string& buf) {
    std::unique_lock<std::mutex> lk(mu_);
    if (stopped_) return;
    auto it = watches_.find(h);
    if (it == watches_.end()) return;
    auto& w = *it->second;
    switch (w.kind) {
    case watch::input:
      flush_input(h, w);
      return;
    case watch::exit: {
      siginfo_t si{};
      int rc;
      do {
        rc =
            static_cast<int>(::syscall(SYS_waitid, P_PIDFD, w.fd, &si, WEXITED | WNOHANG, nullptr));
      } while (rc < 0 && errno == EINTR);
      if (rc == 0 && si.si_pid == 0) return; // not yet (spurious wake-up)
      int status = 0;
      if (rc == 0) {
        if (si.si_code == CLD_EXITED)
          status = (si.si_status & 0xff) << 8;
        else
          status = si.si_status & 0x7f; // killed or dumped
      } else {
        status = 255 << 8; // ECHILD: reaped elsewhere; report a failure
      }
      auto cb = std::move(w.on_exit);
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, w.fd, nullptr);
      ::close(w.fd);
      watches_.erase(it);
      lk.unlock();
      if (cb) cb(status);
      return;
    }
    case watch::output: {
      buf.resize(read_chunk);
      ssize_t r;
      do {
        r = ::read(w.fd, buf.data(), buf.size());
      } while (r < 0 && errno == EINTR);
      if (r < 0 && errno == EAGAIN) return;
      if (r > 0) {
        auto cb = w.on_data; // copy: the watch may go while unlocked
        lk.unlock();
        buf.resize(static_cast<std::size_t>(r));
        cb(std::move(buf));
        buf = std::string{};
        return;
      }
      // EOF, EIO (pty), or another error: the stream is over.
      auto cb = std::move(w.on_eof);
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, w.fd, nullptr);
      ::close(w.fd);
      watches_.erase(it);
      lk.unlock();
      if (cb) cb();
      return;
    }
    }
  }

  int ep_ = -1;
  int wake_ = -1;
  std::thread thread_;
  std::mutex mu_;
  bool stopped_ = false;
  uint64_t next_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<watch>> watches_;
};

} // namespace

caf::expected<std::shared_ptr<reactor>> reactor::start() {
  auto r = std::make_shared<reactor_impl>();
  if (auto err = r->init()) return err;
  return std::shared_ptr<reactor>{std::move(r)};
}

} // namespace berth::exec
