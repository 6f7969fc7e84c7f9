// The userland proxy's OS side (see proxy.hpp).
#include "drivers/network/proxy.hpp"

#include "actors/log.hpp"
#include "messages/error.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <vector>

namespace berth::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {

constexpr const char* component = "port-proxy";               // as the actor that owns the proxy
constexpr std::size_t buffer_size = 64 * 1024;                // per direction of a TCP connection
constexpr std::size_t datagram_size = 64 * 1024;              // the largest UDP datagram forwarded
constexpr int datagram_batch = 64;                            // read at one go before others' turn
constexpr auto accept_retry = std::chrono::milliseconds{100}; // after a failed accept (EMFILE)

struct connection;
struct udp_listener;

/// What one owner (a container) has open; touched on the I/O thread only.
struct owner_state {
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::set<std::shared_ptr<connection>> connections;
  std::vector<std::shared_ptr<udp_listener>> udp;
};

// -- TCP ---------------------------------------------------------------------

/// One client connection and its upstream: bytes pumped both ways, half-closes passed on.
struct connection : std::enable_shared_from_this<connection> {
  connection(tcp::socket c, asio::io_context& io, std::atomic<std::size_t>& count)
      : client(std::move(c)), upstream(io), open_count(count) {
    ++open_count;
  }
  tcp::socket client;
  tcp::socket upstream;
  std::array<char, buffer_size> down{}; // upstream -> client
  std::array<char, buffer_size> up{};   // client -> upstream
  int ended = 0;                        // directions at their end
  bool closed = false;
  owner_state* owner = nullptr;
  std::atomic<std::size_t>& open_count; // counts it until close(), so that it is exact then

  void start(const tcp::endpoint& target) {
    upstream.async_connect(target, [self = shared_from_this()](const error_code& ec) {
      if (ec) return self->close();
      self->pump(self->client, self->upstream, self->up);
      self->pump(self->upstream, self->client, self->down);
    });
  }

  void pump(tcp::socket& from, tcp::socket& to, std::array<char, buffer_size>& buf) {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this(), &from, &to,
                                             &buf](const error_code& ec, std::size_t n) {
      if (ec) {
        if (ec != asio::error::eof) return self->close();
        error_code ignored;
        to.shutdown(tcp::socket::shutdown_send, ignored);
        if (++self->ended == 2) self->close();
        return;
      }
      asio::async_write(to, asio::buffer(buf.data(), n),
                        [self, &from, &to, &buf](const error_code& wec, std::size_t) {
                          if (wec) return self->close();
                          self->pump(from, to, buf);
                        });
    });
  }

  void close() {
    if (closed) return;
    closed = true;
    --open_count;
    error_code ignored;
    client.close(ignored);
    upstream.close(ignored);
    if (owner) owner->connections.erase(shared_from_this());
    owner = nullptr;
  }
};

// -- UDP ---------------------------------------------------------------------

/// What the UDP listeners of one proxy share; I/O thread only but the count.
struct udp_shared {
  std::vector<char> buffer = std::vector<char>(datagram_size); // the datagram being forwarded
  std::atomic<std::size_t> open_flows{0};
  std::chrono::milliseconds timeout = udp_flow_timeout;
};

/// Where a client's datagram arrived (a wildcard listener only), to answer from that address.
struct arrival {
  bool v4 = false, v6 = false;
  in_pktinfo info4{};
  in6_pktinfo info6{};
};

/// One client address of a UDP listener: a socket connected to the target, which the client's
/// datagrams go out on and the target's replies come in on.
struct udp_flow : std::enable_shared_from_this<udp_flow> {
  udp_flow(udp_listener& l, udp::socket s, udp::endpoint c)
      : listener(&l), socket(std::move(s)), client(std::move(c)), idle(socket.get_executor()),
        last(steady::now()) {}
  udp_listener* listener; // null once closed
  udp::socket socket;
  udp::endpoint client;
  arrival to; // where the client's last datagram arrived
  asio::steady_timer idle;
  steady::time_point last; // the last datagram either way

  void start();
  void arm();
  void wait();
  void drain();
  void close();
};

/// A UDP socket bound on the host, and its flows by client address.
struct udp_listener : std::enable_shared_from_this<udp_listener> {
  udp_listener(udp_shared& sh, udp::socket s, udp::endpoint t)
      : shared(sh), socket(std::move(s)), target(std::move(t)) {}
  udp_shared& shared;
  udp::socket socket;
  udp::endpoint target;
  bool closed = false;
  std::map<udp::endpoint, std::shared_ptr<udp_flow>> flows;

  void start() { drain(); }

  void wait() {
    socket.async_wait(udp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
      if (ec == asio::error::operation_aborted || self->closed) return;
      self->drain();
    });
  }

  // Edge-triggered underneath: read until the socket is empty, then wait; a long queue gets a
  // batch at a time so that flows and connections get their turn.
  void drain() {
    for (int i = 0; i < datagram_batch; ++i) {
      if (closed) return;
      sockaddr_storage from{};
      iovec iov{shared.buffer.data(), shared.buffer.size()};
      alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in6_pktinfo))> control{};
      msghdr m{};
      m.msg_name = &from;
      m.msg_namelen = sizeof from;
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = control.data();
      m.msg_controllen = control.size();
      auto n = ::recvmsg(socket.native_handle(), &m, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        return wait(); // empty (EAGAIN), or a pending error now consumed
      }
      if ((m.msg_flags & MSG_TRUNC) || m.msg_namelen > sizeof(sockaddr_in6)) continue;
      udp::endpoint ep;
      std::memcpy(ep.data(), &from, m.msg_namelen);
      ep.resize(m.msg_namelen);
      arrival at;
      for (auto* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          std::memcpy(&at.info4, CMSG_DATA(c), sizeof at.info4);
          at.v4 = true;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
          std::memcpy(&at.info6, CMSG_DATA(c), sizeof at.info6);
          at.v6 = !IN6_IS_ADDR_MULTICAST(&at.info6.ipi6_addr);
        }
      }
      forward(ep, at, static_cast<std::size_t>(n));
    }
    asio::post(socket.get_executor(), [self = shared_from_this()] { self->drain(); });
  }

  // A client's datagram (in shared.buffer) out on its flow, which is made on its first one.
  void forward(const udp::endpoint& from, const arrival& at, std::size_t n) {
    auto it = flows.find(from);
    bool fresh = it == flows.end();
    if (fresh) {
      error_code ec;
      udp::socket s{socket.get_executor()};
      if (s.open(udp::v4(), ec); !ec) s.connect(target, ec);
      if (ec) {
        BLOG(warn, component) << "can't proxy a datagram to udp/" << target << ": " << ec.message();
        return;
      }
      it = flows.emplace(from, std::make_shared<udp_flow>(*this, std::move(s), from)).first;
      ++shared.open_flows;
    }
    auto f = it->second;
    f->to = at;
    f->last = steady::now();
    // Not sent when it can't go at once (a full buffer, an ICMP error pending): as UDP may.
    (void)::send(f->socket.native_handle(), shared.buffer.data(), n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (fresh) f->start(); // after the send: it reads replies into the same buffer
  }

  // A reply to a client, from the address its datagram arrived at.
  void reply(const udp_flow& f, const char* data, std::size_t n) {
    iovec iov{const_cast<char*>(data), n};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in6_pktinfo))> control{};
    msghdr m{};
    m.msg_name = const_cast<sockaddr*>(f.client.data());
    m.msg_namelen = static_cast<socklen_t>(f.client.size());
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (f.to.v4 || f.to.v6) {
      m.msg_control = control.data();
      m.msg_controllen = f.to.v4 ? CMSG_SPACE(sizeof(in_pktinfo)) : CMSG_SPACE(sizeof(in6_pktinfo));
      auto* c = CMSG_FIRSTHDR(&m);
      if (f.to.v4) {
        in_pktinfo info{};
        info.ipi_spec_dst = f.to.info4.ipi_spec_dst; // the local address of the client's datagram
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof info);
        std::memcpy(CMSG_DATA(c), &info, sizeof info);
      } else {
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof f.to.info6);
        std::memcpy(CMSG_DATA(c), &f.to.info6, sizeof f.to.info6);
      }
    }
    auto sent = ::sendmsg(socket.native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0 && errno == EINVAL && m.msg_control) { // that address is gone: let routing pick
      m.msg_control = nullptr;
      m.msg_controllen = 0;
      (void)::sendmsg(socket.native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  }

  void close() {
    closed = true;
    error_code ignored;
    socket.close(ignored);
    auto all = std::move(flows);
    flows.clear();
    for (auto& [client, f] : all)
      f->close();
  }
};

void udp_flow::start() {
  arm();
  drain();
}

// One timer per flow, re-armed from `last` when it fires, rather than reset on every datagram.
void udp_flow::arm() {
  idle.expires_at(last + listener->shared.timeout);
  idle.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec == asio::error::operation_aborted || !self->listener) return;
    if (steady::now() >= self->last + self->listener->shared.timeout) return self->close();
    self->arm();
  });
}

void udp_flow::wait() {
  socket.async_wait(udp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
    if (ec == asio::error::operation_aborted || !self->listener) return;
    self->drain();
  });
}

// The target's replies, back to the client.
void udp_flow::drain() {
  for (int i = 0; i < datagram_batch; ++i) {
    if (!listener) return;
    auto& buf = listener->shared.buffer;
    auto n = ::recv(socket.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      // Refused: an earlier datagram found nothing listening (ICMP); the flow stays until it idles
      // out, as moby's.
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return wait();
      return close();
    }
    last = steady::now();
    listener->reply(*this, buf.data(), static_cast<std::size_t>(n));
  }
  asio::post(socket.get_executor(), [self = shared_from_this()] { self->drain(); });
}

void udp_flow::close() {
  if (!listener) return;
  auto keep = shared_from_this(); // the listener's map may hold the last reference
  auto* l = listener;
  listener = nullptr;
  error_code ignored;
  idle.cancel();
  socket.close(ignored);
  --l->shared.open_flows;
  l->flows.erase(client);
}

// -- addresses and errors ------------------------------------------------------

/// "127.0.0.1:80", "[::1]:80" (Go's net.JoinHostPort).
std::string join_host_port(const asio::ip::address& a, uint16_t port) {
  auto host = a.to_string();
  return (a.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

} // namespace

struct proxy::impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::map<std::string, owner_state> owners; // I/O thread only
  std::atomic<std::size_t> open_connections{0};
  udp_shared udp;
  std::thread thread;

  void accept(std::string owner, std::shared_ptr<tcp::acceptor> a, tcp::endpoint target) {
    a->async_accept([this, owner, a, target](const error_code& ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !a->is_open()) return;
      if (ec) { // out of descriptors, say: try again in a while rather than spin
        error_code ignored;
        BLOG(warn, component) << "accept on tcp/" << a->local_endpoint(ignored) << ": "
                              << ec.message();
        auto t = std::make_shared<asio::steady_timer>(io, accept_retry);
        t->async_wait([this, owner, a, target, t](const error_code&) {
          if (a->is_open()) accept(owner, a, target);
        });
        return;
      }
      auto it = owners.find(owner);
      if (it == owners.end()) return;
      error_code ignored;
      s.set_option(tcp::no_delay{true}, ignored);
      auto c = std::make_shared<connection>(std::move(s), io, open_connections);
      c->owner = &it->second;
      it->second.connections.insert(c);
      c->upstream.open(tcp::v4(), ignored);
      c->upstream.set_option(tcp::no_delay{true}, ignored);
      c->start(target);
      accept(owner, a, target);
    });
  }

  void close_owner(owner_state& o) {
    error_code ignored;
    for (auto& a : o.acceptors)
      a->close(ignored);
    auto conns = o.connections;
    for (auto& c : conns)
      c->close();
    for (auto& l : o.udp)
      l->close();
  }
};

proxy::proxy() : proxy(udp_flow_timeout) {}

proxy::proxy(std::chrono::milliseconds flow_timeout) : impl_(std::make_unique<impl>()) {
  impl_->udp.timeout = flow_timeout;
  impl_->thread = std::thread{[i = impl_.get()] { i->io.run(); }};
}

proxy::~proxy() {
  asio::post(impl_->io, [i = impl_.get()] {
    for (auto& [name, o] : i->owners)
      i->close_owner(o);
    i->owners.clear();
    i->work.reset();
  });
  impl_->thread.join();
}

caf::expected<uint16_t> proxy::listen(const std::string& owner, const std::string& host_ip,
                                      uint16_t host_port, const std::string& target_ip,
                                      uint16_t target_port) {
  return listen(owner, "tcp", host_ip, host_port, target_ip, target_port);
}

caf::expected<uint16_t> proxy::listen(const std::string& owner, const std::string& proto,
                                      const std::string& host_ip, uint16_t host_port,
                                      const std::string& target_ip, uint16_t target_port) {
  if (proto != "tcp" && proto != "udp")
    return make_error(ec::not_implemented,
                      "the userland proxy serves tcp and udp ports, not " + proto);
  error_code ec;
  auto host_addr = asio::ip::make_address(host_ip.empty() ? "0.0.0.0" : host_ip, ec);
  if (ec) return make_error(ec::invalid_argument, "invalid host IP address: " + host_ip);
  if (host_addr.is_v6() && host_addr.to_v6().is_v4_mapped()) // "::ffff:127.0.0.1"
    host_addr = asio::ip::make_address_v4(asio::ip::v4_mapped, host_addr.to_v6());
  auto target_addr = asio::ip::make_address_v4(target_ip, ec);
  if (ec) return make_error(ec::invalid_argument, "invalid container IP address: " + target_ip);
  bool v6 = host_addr.is_v6();
  auto fail = [&](const char* what) -> caf::error {
    auto reason = ec.message(); // Go's wording: "address already in use"
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
    return make_error(ec::system, "listen " + proto + (v6 ? "6 " : "4 ") +
                                      join_host_port(host_addr, host_port) + ": " + what + ": " +
                                      reason);
  };
  if (proto == "tcp") {
    auto a = std::make_shared<tcp::acceptor>(impl_->io);
    if (a->open(v6 ? tcp::v6() : tcp::v4(), ec); ec) return fail("socket");
    if (v6) a->set_option(asio::ip::v6_only{true}, ec);
    a->set_option(tcp::acceptor::reuse_address{true}, ec); // past TIME_WAIT of old connections
    if (a->bind(tcp::endpoint{host_addr, host_port}, ec); ec) return fail("bind");
    if (a->listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
    auto bound = a->local_endpoint(ec).port();
    tcp::endpoint target{target_addr, target_port};
    // The acceptor is the I/O thread's from here on.
    asio::post(impl_->io, [i = impl_.get(), owner, a, target] {
      i->owners[owner].acceptors.push_back(a);
      i->accept(owner, a, target);
    });
    return bound;
  }
  // UDP: no SO_REUSEADDR, which would let a second socket bind the same port.
  udp::socket s{impl_->io};
  if (s.open(v6 ? udp::v6() : udp::v4(), ec); ec) return fail("socket");
  if (v6) s.set_option(asio::ip::v6_only{true}, ec);
  if (host_addr.is_unspecified()) { // answer from the address each client sent to
    int on = 1;
    if (v6)
      ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    else
      ::setsockopt(s.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  }
  if (s.bind(udp::endpoint{host_addr, host_port}, ec); ec) return fail("bind");
  auto bound = s.local_endpoint(ec).port();
  auto l = std::make_shared<udp_listener>(impl_->udp, std::move(s),
                                          udp::endpoint{target_addr, target_port});
  asio::post(impl_->io, [i = impl_.get(), owner, l] {
    i->owners[owner].udp.push_back(l);
    l->start();
  });
  return bound;
}

void proxy::close(const std::string& owner) {
  std::promise<void> done;
  auto closed = done.get_future();
  asio::post(impl_->io, [i = impl_.get(), owner, &done] {
    auto it = i->owners.find(owner);
    if (it != i->owners.end()) {
      i->close_owner(it->second);
      i->owners.erase(it);
    }
    done.set_value();
  });
  closed.wait();
}

std::size_t proxy::connections() const {
  return impl_->open_connections.load();
}

std::size_t proxy::flows() const {
  return impl_->udp.open_flows.load();
}

} // namespace berth::net
