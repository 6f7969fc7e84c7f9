// The userland proxy: published TCP and UDP ports forwarded to echo servers this test runs on the
// loopback (127.0.0.1, and ::1 where it is configured). No root; loopback addresses only.
#include <boost/test/unit_test.hpp>

#include "drivers/network/proxy.hpp"
#include "messages/error.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace berth;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds wait_limit = 2s;    // any one wait of this suite
constexpr milliseconds flow_idle = 800ms;  // the UDP flow timeout of the proxies under test
constexpr milliseconds server_tick = 50ms; // how soon an echo server notices it must stop

/// A file descriptor, closed when it goes.
struct fd {
  int v = -1;
  fd() = default;
  explicit fd(int x) : v(x) {}
  fd(fd&& o) noexcept : v(std::exchange(o.v, -1)) {}
  fd& operator=(fd&& o) noexcept {
    reset();
    v = std::exchange(o.v, -1);
    return *this;
  }
  ~fd() { reset(); }
  void reset() {
    if (v >= 0) ::close(v);
    v = -1;
  }
  explicit operator bool() const { return v >= 0; }
};

/// ip:port as a socket address ("::1" is IPv6).
sockaddr_storage socket_address(const std::string& ip, uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (ip.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  return ss;
}

/// A socket of `type` bound to ip:port (port 0: the kernel picks); empty when that fails.
fd bound(const std::string& ip, int type, uint16_t port, bool reuse_address = false) {
  socklen_t len = 0;
  auto ss = socket_address(ip, port, len);
  fd s{::socket(ss.ss_family, type | SOCK_CLOEXEC, 0)};
  if (!s) return s;
  int on = 1;
  if (reuse_address) ::setsockopt(s.v, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (ss.ss_family == AF_INET6) ::setsockopt(s.v, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (::bind(s.v, reinterpret_cast<sockaddr*>(&ss), len) != 0) s.reset();
  return s;
}

uint16_t port_of(const fd& s) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(s.v, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

/// A socket of `type` connected to ip:port (for UDP: it takes datagrams from there only).
fd dial(const std::string& ip, int type, uint16_t port) {
  socklen_t len = 0;
  auto ss = socket_address(ip, port, len);
  fd s{::socket(ss.ss_family, type | SOCK_CLOEXEC, 0)};
  BOOST_REQUIRE_MESSAGE(s, "socket: " << std::strerror(errno));
  BOOST_REQUIRE_MESSAGE(::connect(s.v, reinterpret_cast<sockaddr*>(&ss), len) == 0,
                        "connect to " << ip << ":" << port << ": " << std::strerror(errno));
  return s;
}

bool send_all(int s, const std::string& data) {
  for (std::size_t done = 0; done < data.size();) {
    auto n = ::send(s, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Whether `s` has something to read within `limit`.
bool readable(int s, milliseconds limit) {
  pollfd p{s, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(limit.count())) > 0;
}

/// What a stream socket reads until its end (EOF or reset), `want` bytes, or wait_limit.
std::string read_stream(int s, std::size_t want = std::string::npos) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  while (out.size() < want) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !readable(s, left)) break;
    char buf[4096];
    auto n = ::recv(s, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

/// One datagram, if one comes within wait_limit.
std::optional<std::string> read_datagram(int s) {
  if (!readable(s, wait_limit)) return std::nullopt;
  std::string buf(64 * 1024, '\0');
  auto n = ::recv(s, buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

/// Whether `cond` holds within wait_limit.
bool eventually(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string why(const caf::expected<uint16_t>& x) {
  return x ? "ok" : error_message(x.error());
}

/// A TCP echo server on 127.0.0.1: a thread answering every connection with what it reads, and
/// closing it when the client's side ends.
struct tcp_echo {
  fd listener = bound("127.0.0.1", SOCK_STREAM, 0);
  uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::thread thread;

  tcp_echo() {
    BOOST_REQUIRE_MESSAGE(listener && ::listen(listener.v, 16) == 0,
                          "echo server: " << std::strerror(errno));
    port = port_of(listener);
    thread = std::thread{[this] { run(); }};
  }
  ~tcp_echo() {
    stop = true;
    thread.join();
  }

  void run() {
    std::vector<fd> clients;
    while (!stop) {
      std::vector<pollfd> polled{{listener.v, POLLIN, 0}};
      for (auto& c : clients)
        polled.push_back({c.v, POLLIN, 0});
      if (::poll(polled.data(), polled.size(), static_cast<int>(server_tick.count())) <= 0)
        continue;
      for (std::size_t i = 1; i < polled.size(); ++i) {
        if (!polled[i].revents) continue;
        char buf[4096];
        auto n = ::recv(clients[i - 1].v, buf, sizeof buf, 0);
        if (n <= 0 || !send_all(clients[i - 1].v, std::string(buf, static_cast<std::size_t>(n))))
          clients[i - 1].reset();
      }
      std::vector<fd> open;
      for (auto& c : clients)
        if (c) open.push_back(std::move(c));
      clients = std::move(open);
      if (polled[0].revents & POLLIN)
        if (int c = ::accept4(listener.v, nullptr, nullptr, SOCK_CLOEXEC); c >= 0)
          clients.emplace_back(c);
    }
  }
};

/// A UDP echo server on 127.0.0.1: a thread sending every datagram back where it came from.
struct udp_echo {
  fd socket = bound("127.0.0.1", SOCK_DGRAM, 0);
  uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::thread thread;

  udp_echo() {
    BOOST_REQUIRE_MESSAGE(socket, "echo server: " << std::strerror(errno));
    port = port_of(socket);
    thread = std::thread{[this] { run(); }};
  }
  ~udp_echo() {
    stop = true;
    thread.join();
  }

  void run() {
    std::vector<char> buf(64 * 1024);
    while (!stop) {
      if (!readable(socket.v, server_tick)) continue;
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      auto n =
          ::recvfrom(socket.v, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n >= 0)
        ::sendto(socket.v, buf.data(), static_cast<std::size_t>(n), 0,
                 reinterpret_cast<sockaddr*>(&from), len);
    }
  }
};

/// A datagram through a connected UDP client: what comes back.
std::optional<std::string> round_trip(const fd& client, const std::string& data) {
  if (::send(client.v, data.data(), data.size(), 0) != static_cast<ssize_t>(data.size()))
    return std::nullopt;
  return read_datagram(client.v);
}

/// Whether ::1 is configured (a socket binds to it).
struct loopback6 {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result ok = static_cast<bool>(bound("::1", SOCK_STREAM, 0));
    ok.message() << "::1 is not configured on this host";
    return ok;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(proxy)

BOOST_AUTO_TEST_CASE(tcp_forwards_and_close_frees_the_port) {
  tcp_echo echo;
  net::proxy px;
  auto port = px.listen("c1", "127.0.0.1", 0, "127.0.0.1", echo.port); // the TCP-only overload
  BOOST_REQUIRE_MESSAGE(port, why(port));
  BOOST_REQUIRE_NE(*port, 0);
  {
    // The client's half-close reaches the echo server, whose end comes back.
    auto c = dial("127.0.0.1", SOCK_STREAM, *port);
    BOOST_REQUIRE(send_all(c.v, "hello through the proxy"));
    ::shutdown(c.v, SHUT_WR);
    BOOST_CHECK_EQUAL(read_stream(c.v), "hello through the proxy");
  }
  BOOST_CHECK(eventually([&] { return px.connections() == 0; }));
  // A connection open when its owner closes goes with it.
  auto c = dial("127.0.0.1", SOCK_STREAM, *port);
  BOOST_REQUIRE(send_all(c.v, "ping"));
  BOOST_CHECK_EQUAL(read_stream(c.v, 4), "ping");
  BOOST_CHECK_EQUAL(px.connections(), 1u);
  px.close("c1");
  BOOST_CHECK_EQUAL(px.connections(), 0u);
  BOOST_CHECK_EQUAL(read_stream(c.v), ""); // its end
  // SO_REUSEADDR as any server's: the proxy's side of that connection may be in TIME_WAIT.
  auto again = bound("127.0.0.1", SOCK_STREAM, *port, true);
  BOOST_CHECK_MESSAGE(again && ::listen(again.v, 1) == 0,
                      "port " << *port << " still taken: " << std::strerror(errno));
}

BOOST_AUTO_TEST_CASE(tcp_errors) {
  net::proxy px;
  auto taken = bound("127.0.0.1", SOCK_STREAM, 0);
  BOOST_REQUIRE(taken && ::listen(taken.v, 1) == 0);
  auto p = port_of(taken);
  auto r = px.listen("c1", "tcp", "127.0.0.1", p, "127.0.0.1", 80);
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error() == ec::system);
  BOOST_CHECK_EQUAL(error_message(r.error()), "listen tcp4 127.0.0.1:" + std::to_string(p) +
                                                  ": bind: address already in use");
  r = px.listen("c1", "tcp", "127.0.0.300", 0, "127.0.0.1", 80);
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(error_message(r.error()), "invalid host IP address: 127.0.0.300");
  r = px.listen("c1", "tcp", "127.0.0.1", 0, "::1", 80);
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(error_message(r.error()), "invalid container IP address: ::1");
  r = px.listen("c1", "sctp", "127.0.0.1", 0, "127.0.0.1", 80);
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error() == ec::not_implemented);
  px.close("c1"); // nothing open: a no-op
}

BOOST_AUTO_TEST_CASE(udp_flows) {
  udp_echo echo;
  net::proxy px{flow_idle};
  auto port = px.listen("c1", "udp", "127.0.0.1", 0, "127.0.0.1", echo.port);
  BOOST_REQUIRE_MESSAGE(port, why(port));
  BOOST_REQUIRE_NE(*port, 0);
  // Two clients, one flow each; both send before either reads, and each gets its own replies
  // (their sockets are connected to the proxy's port: a reply from anywhere else is not read).
  auto a = dial("127.0.0.1", SOCK_DGRAM, *port);
  auto b = dial("127.0.0.1", SOCK_DGRAM, *port);
  BOOST_REQUIRE_EQUAL(::send(a.v, "from a", 6, 0), 6);
  BOOST_REQUIRE_EQUAL(::send(b.v, "from b", 6, 0), 6);
  BOOST_CHECK_EQUAL(read_datagram(a.v).value_or("(none)"), "from a");
  BOOST_CHECK_EQUAL(read_datagram(b.v).value_or("(none)"), "from b");
  BOOST_CHECK_EQUAL(round_trip(b, "b again").value_or("(none)"), "b again");
  BOOST_CHECK_EQUAL(px.flows(), 2u);
  // The largest IPv4 datagram, whole.
  std::string big(65507, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + i % 26);
  auto back = round_trip(a, big);
  BOOST_REQUIRE(back);
  BOOST_CHECK(*back == big);
  BOOST_CHECK_EQUAL(px.flows(), 2u);
  // Idle flows close; the next datagram makes a new one.
  BOOST_CHECK(eventually([&] { return px.flows() == 0; }));
  BOOST_CHECK_EQUAL(round_trip(a, "after idling").value_or("(none)"), "after idling");
  BOOST_CHECK_EQUAL(px.flows(), 1u);
  // close(owner) closes the flows and frees the port.
  px.close("c1");
  BOOST_CHECK_EQUAL(px.flows(), 0u);
  auto again = bound("127.0.0.1", SOCK_DGRAM, *port);
  BOOST_CHECK_MESSAGE(again, "port " << *port << " still taken: " << std::strerror(errno));
  // A port in use, with Go's wording.
  auto r = px.listen("c2", "udp", "127.0.0.1", *port, "127.0.0.1", echo.port);
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(error_message(r.error()), "listen udp4 127.0.0.1:" + std::to_string(*port) +
                                                  ": bind: address already in use");
}

BOOST_AUTO_TEST_CASE(udp_target_not_listening) {
  // Nothing on the target port: the datagram is refused there (ICMP), the flow stays until it
  // idles out, as moby's; once something listens, the same flow carries the replies.
  auto reserved = bound("127.0.0.1", SOCK_DGRAM, 0);
  BOOST_REQUIRE(reserved);
  auto target = port_of(reserved);
  reserved.reset();
  net::proxy px{flow_idle};
  auto port = px.listen("c1", "udp", "127.0.0.1", 0, "127.0.0.1", target);
  BOOST_REQUIRE_MESSAGE(port, why(port));
  auto a = dial("127.0.0.1", SOCK_DGRAM, *port);
  BOOST_REQUIRE_EQUAL(::send(a.v, "lost", 4, 0), 4);
  BOOST_CHECK(!readable(a.v, 200ms));
  BOOST_CHECK_EQUAL(px.flows(), 1u);
  auto server = bound("127.0.0.1", SOCK_DGRAM, target);
  BOOST_REQUIRE_MESSAGE(server, "target port " << target << " taken meanwhile");
  BOOST_REQUIRE_EQUAL(::send(a.v, "found", 5, 0), 5);
  BOOST_REQUIRE(readable(server.v, wait_limit));
  sockaddr_storage from{};
  socklen_t len = sizeof from;
  char buf[16];
  auto n = ::recvfrom(server.v, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
  BOOST_REQUIRE_EQUAL(n, 5);
  ::sendto(server.v, "reply", 5, 0, reinterpret_cast<sockaddr*>(&from), len);
  BOOST_CHECK_EQUAL(read_datagram(a.v).value_or("(none)"), "reply");
  BOOST_CHECK_EQUAL(px.flows(), 1u);
}

BOOST_AUTO_TEST_CASE(ipv6_host_address, *boost::unit_test::precondition(loopback6{})) {
  tcp_echo echo;
  udp_echo uecho;
  net::proxy px{flow_idle};
  auto port = px.listen("c6", "tcp", "::1", 0, "127.0.0.1", echo.port);
  BOOST_REQUIRE_MESSAGE(port, why(port));
  {
    auto c = dial("::1", SOCK_STREAM, *port);
    BOOST_REQUIRE(send_all(c.v, "over IPv6"));
    ::shutdown(c.v, SHUT_WR);
    BOOST_CHECK_EQUAL(read_stream(c.v), "over IPv6");
  }
  auto uport = px.listen("c6", "udp", "::1", 0, "127.0.0.1", uecho.port);
  BOOST_REQUIRE_MESSAGE(uport, why(uport));
  auto u = dial("::1", SOCK_DGRAM, *uport);
  BOOST_CHECK_EQUAL(round_trip(u, "datagram over IPv6").value_or("(none)"), "datagram over IPv6");
  BOOST_CHECK_EQUAL(px.flows(), 1u);
  // A port in use, with Go's wording for IPv6.
  auto r = px.listen("other", "tcp", "::1", *port, "127.0.0.1", echo.port);
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(error_message(r.error()), "listen tcp6 [::1]:" + std::to_string(*port) +
                                                  ": bind: address already in use");
  px.close("c6");
  BOOST_CHECK_EQUAL(px.flows(), 0u);
  BOOST_CHECK(eventually([&] { return px.connections() == 0; }));
  BOOST_CHECK(bound("::1", SOCK_DGRAM, *uport));
}

BOOST_AUTO_TEST_SUITE_END()
