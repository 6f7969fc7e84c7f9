// The embedded DNS server: the name table, and (as root) queries over UDP and TCP to
// 127.0.0.11:53 in a network namespace this test makes, answered from the table or forwarded to
// a fake upstream resolver on the host's loopback.
#include <boost/test/unit_test.hpp>

#include "drivers/network/dns.hpp"
#include "messages/error.hpp"

#include <ldns/ldns.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace berth;

namespace {

using bytes = std::vector<uint8_t>;

constexpr uint32_t dns_ip = 0x7f00000b; // 127.0.0.11

uint32_t ip(const char* text) {
  in_addr a{};
  ::inet_pton(AF_INET, text, &a);
  return ntohl(a.s_addr);
}

// A thread in a network namespace of its own that runs the test's tasks there, one at a time.
// Tasks must not use Boost.Test (it is not thread-safe): they leave results for the test.
struct namespace_thread {
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  pid_t tid = 0;
  bool failed = false, quit = false;
  std::function<void()> task;

  namespace_thread() {
    thread = std::thread{[this] { loop(); }};
    std::unique_lock<std::mutex> lock{mu};
    cv.wait(lock, [this] { return tid != 0 || failed; });
  }
  ~namespace_thread() {
    {
      std::lock_guard<std::mutex> lock{mu};
      quit = true;
    }
    cv.notify_all();
    thread.join();
  }
  std::string path() const {
    return "/proc/" + std::to_string(::getpid()) + "/task/" + std::to_string(tid) + "/ns/net";
  }
  // Run `fn` in the namespace and wait for it.
  void run(std::function<void()> fn) {
    std::unique_lock<std::mutex> lock{mu};
    if (failed) return;
    task = std::move(fn);
    cv.notify_all();
    cv.wait(lock, [this] { return !task; });
  }
  void loop() {
    bool ok = ::unshare(CLONE_NEWNET) == 0;
    std::unique_lock<std::mutex> lock{mu};
    failed = !ok;
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    cv.notify_all();
    if (!ok) return;
    for (;;) {
      cv.wait(lock, [this] { return task || quit; });
      if (quit) return;
      task();
      task = nullptr;
      cv.notify_all();
    }
  }
};

bytes to_wire(const ldns_pkt* p) {
  uint8_t* buf = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&buf, p, &size) != LDNS_STATUS_OK) size = 0;
  bytes out(buf, buf + size);
  std::free(buf);
  return out;
}

bytes query(const std::string& name, ldns_rr_type type, uint16_t id,
            ldns_pkt_opcode opcode = LDNS_PACKET_QUERY) {
  auto* p =
      ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(p, id);
  ldns_pkt_set_opcode(p, opcode);
  auto wire = to_wire(p);
  ldns_pkt_free(p);
  return wire;
}

// What the test checks of a reply.
struct reply_info {
  bool parsed = false;
  uint16_t id = 0;
  int rcode = -1;
  bool qr = false, aa = false, ra = false, rd = false, tc = false;
  std::string question;
  std::vector<std::string> answers; // rdata as text
  std::vector<uint32_t> ttls;
};

reply_info inspect(const bytes& wire) {
  reply_info r;
  ldns_pkt* p = nullptr;
  if (wire.empty() || ldns_wire2pkt(&p, wire.data(), wire.size()) != LDNS_STATUS_OK) {
    ldns_pkt_free(p);
    return r;
  }
  r.parsed = true;
  r.id = ldns_pkt_id(p);
  r.rcode = ldns_pkt_get_rcode(p);
  r.qr = ldns_pkt_qr(p);
  r.aa = ldns_pkt_aa(p);
  r.ra = ldns_pkt_ra(p);
  r.rd = ldns_pkt_rd(p);
  r.tc = ldns_pkt_tc(p);
  if (ldns_rr_list_rr_count(ldns_pkt_question(p)) == 1) {
    char* s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
    r.question = s ? s : "";
    std::free(s);
  }
  auto* answers = ldns_pkt_answer(p);
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(answers); ++i) {
    auto* rr = ldns_rr_list_rr(answers, i);
    char* s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    r.answers.push_back(s ? s : "");
    std::free(s);
    r.ttls.push_back(ldns_rr_ttl(rr));
  }
  ldns_pkt_free(p);
  return r;
}

sockaddr_in address(uint32_t host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(host);
  return a;
}

// One UDP exchange with 127.0.0.11:53; the reply, or empty with `error` set.
bytes udp_exchange(const bytes& q, std::string& error, int timeout_ms = 2000) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto to = address(dns_ip, 53);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bytes reply(65535);
  ssize_t n = -1;
  if (::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&
      ::send(s, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size()))
    n = ::recv(s, reply.data(), reply.size(), 0);
  if (n < 0) error = std::strerror(errno);
  ::close(s);
  reply.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return reply;
}

bool read_all(int s, uint8_t* buf, std::size_t len) {
  while (len > 0) {
    auto n = ::read(s, buf, len);
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

// Several queries over one TCP connection to 127.0.0.11:53; their replies, or `error` set.
std::vector<bytes> tcp_exchange(const std::vector<bytes>& queries, std::string& error) {
  std::vector<bytes> replies;
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto to = address(dns_ip, 53);
  timeval tv{2, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    error = std::strerror(errno);
    ::close(s);
    return replies;
  }
  bytes out;
  for (auto& q : queries) {
    out.push_back(static_cast<uint8_t>(q.size() >> 8));
    out.push_back(static_cast<uint8_t>(q.size() & 0xff));
    out.insert(out.end(), q.begin(), q.end());
  }
  if (::write(s, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
    error = "write failed";
    ::close(s);
    return replies;
  }
  for (std::size_t i = 0; i < queries.size(); ++i) {
    uint8_t len[2];
    bytes reply;
    if (read_all(s, len, 2)) {
      reply.resize((std::size_t{len[0]} << 8) | len[1]);
      if (!read_all(s, reply.data(), reply.size())) reply.clear();
    }
    if (reply.empty()) {
      error = "no reply";
      break;
    }
    replies.push_back(std::move(reply));
  }
  ::close(s);
  return replies;
}

// A resolver on 127.0.0.1:<port> in the host's namespace: answers every A query with 192.0.2.7.
struct fake_upstream {
  int fd = -1;
  uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> queries{0};
  std::thread thread;

  fake_upstream() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto at = address(0x7f000001, 0);
    socklen_t len = sizeof at;
    timeval tv{0, 100 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len) == 0)
      port = ntohs(at.sin_port);
    thread = std::thread{[this] { run(); }};
  }
  ~fake_upstream() {
    stop = true;
    thread.join();
    ::close(fd);
  }
  void run() {
    bytes buf(65535);
    while (!stop) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      auto n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      ++queries;
      ldns_pkt* q = nullptr;
      if (ldns_wire2pkt(&q, buf.data(), static_cast<std::size_t>(n)) != LDNS_STATUS_OK) {
        ldns_pkt_free(q);
        continue;
      }
      auto* question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
      auto* r = ldns_pkt_new();
      ldns_pkt_set_id(r, ldns_pkt_id(q));
      ldns_pkt_set_qr(r, true);
      ldns_pkt_set_rd(r, ldns_pkt_rd(q));
      ldns_pkt_set_ra(r, true);
      if (question) {
        ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
        char* name = ldns_rdf2str(ldns_rr_owner(question));
        ldns_rr* a = nullptr;
        if (ldns_rr_new_frm_str(&a, (std::string{name} + " 60 IN A 192.0.2.7").c_str(), 0, nullptr,
                                nullptr) == LDNS_STATUS_OK)
          ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, a);
        std::free(name);
      }
      auto wire = to_wire(r);
      ::sendto(fd, wire.data(), wire.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      ldns_pkt_free(r);
      ldns_pkt_free(q);
    }
  }
};

// A UDP port on 127.0.0.1 nobody listens on (a resolver that refuses).
uint16_t dead_port() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto at = address(0x7f000001, 0);
  socklen_t len = sizeof at;
  ::bind(s, reinterpret_cast<sockaddr*>(&at), sizeof at);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&at), &len);
  ::close(s);
  return ntohs(at.sin_port);
}

const std::string owner = std::string(64, 'a');
const std::string other = std::string(64, 'b');

} // namespace

BOOST_AUTO_TEST_SUITE(dns)

BOOST_AUTO_TEST_CASE(name_table_lookups) {
  net::name_table t;
  t.add("front", "Web", ip("10.7.0.2"));
  t.add("front", "web-alias.", ip("10.7.0.2"));
  t.add("front", "pool", ip("10.7.0.4"));
  t.add("front", "pool", ip("10.7.0.3"));
  t.add("front", "pool", ip("10.7.0.4"));
  t.add("back", "db", ip("10.8.0.5"));
  t.add("back", "web", ip("10.8.0.2"));
  t.join(owner, "front");
  t.join(other, "front");
  t.join(other, "back");

  using ips = std::vector<uint32_t>;
  BOOST_TEST(t.lookup(owner, "web") == ips{ip("10.7.0.2")});
  BOOST_TEST(t.lookup(owner, "WEB.") == ips{ip("10.7.0.2")});
  BOOST_TEST(t.lookup(owner, "Web-Alias") == ips{ip("10.7.0.2")});
  BOOST_TEST(t.lookup(owner, "pool") == (ips{ip("10.7.0.3"), ip("10.7.0.4")}));
  BOOST_TEST(t.lookup(owner, "db").empty()); // on "back" only
  BOOST_TEST(t.lookup(other, "db") == ips{ip("10.8.0.5")});
  BOOST_TEST(t.lookup(other, "web") == (ips{ip("10.7.0.2"), ip("10.8.0.2")}));
  BOOST_TEST(t.lookup(std::string(64, 'c'), "web").empty()); // on no network
  BOOST_TEST(t.lookup(owner, "nothing").empty());

  using names = std::vector<std::string>;
  BOOST_TEST(t.reverse(owner, ip("10.7.0.2")) == (names{"web", "web-alias"}));
  BOOST_TEST(t.reverse(owner, ip("10.8.0.5")).empty());
  BOOST_TEST(t.reverse(other, ip("10.8.0.5")) == names{"db"});

  t.remove("front", ip("10.7.0.2"));
  BOOST_TEST(t.lookup(owner, "web").empty());
  BOOST_TEST(t.lookup(owner, "web-alias").empty());
  BOOST_TEST(t.reverse(owner, ip("10.7.0.2")).empty());
  BOOST_TEST(t.lookup(other, "web") == ips{ip("10.8.0.2")});
  BOOST_TEST(t.lookup(owner, "pool").size() == 2u);

  t.leave(other, "back");
  BOOST_TEST(t.lookup(other, "db").empty());
  BOOST_TEST(t.lookup(other, "pool").size() == 2u);
  t.forget(other);
  BOOST_TEST(t.lookup(other, "pool").empty());
  BOOST_TEST(t.lookup(owner, "pool").size() == 2u);

  // a link (--link pool:Store) is an alias its owner alone resolves; forget drops it
  t.link(owner, "Store", "pool");
  BOOST_TEST(t.lookup(owner, "store.") == (ips{ip("10.7.0.3"), ip("10.7.0.4")}));
  t.join(other, "front");
  BOOST_TEST(t.lookup(other, "store").empty());
  t.forget(owner);
  t.join(owner, "front");
  BOOST_TEST(t.lookup(owner, "store").empty());
}

BOOST_AUTO_TEST_CASE(serve_bad_namespace) {
  net::dns_server server{std::make_shared<net::name_table>(), {}};
  auto err = server.serve(owner, "/nonexistent/ns/net");
  BOOST_TEST_REQUIRE(static_cast<bool>(err));
  BOOST_TEST(error_message(err).find("dns: open /nonexistent/ns/net") != std::string::npos,
             error_message(err));
  BOOST_TEST(server.served() == 0u);
  server.close(owner); // nothing served: a no-op
}

BOOST_AUTO_TEST_CASE(queries_in_a_namespace) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root for network namespaces");
    return;
  }
  auto names = std::make_shared<net::name_table>();
  names->add("front", "web", ip("10.7.0.2"));
  names->add("front", "web-alias", ip("10.7.0.2"));
  names->add("front", "db", ip("10.7.0.3"));
  names->add("back", "secret", ip("10.8.0.5"));
  names->join(owner, "front");

  fake_upstream upstream;
  BOOST_TEST_REQUIRE(upstream.port != 0);
  namespace_thread ns;
  BOOST_TEST_REQUIRE(!ns.failed);
  // A refusing resolver first, then one that is no address, then the fake one.
  net::dns_server server{names,
                         {"127.0.0.1:" + std::to_string(dead_port()), "not-an-address",
                          "127.0.0.1:" + std::to_string(upstream.port)}};
  auto err = server.serve(owner, ns.path());
  BOOST_TEST_REQUIRE(!err, error_message(err));
  BOOST_TEST(server.served() == 1u);

  // UDP.
  std::vector<bytes> replies(6);
  std::vector<std::string> errors(6);
  ns.run([&] {
    replies[0] = udp_exchange(query("web.", LDNS_RR_TYPE_A, 0x1234), errors[0]);
    replies[1] = udp_exchange(query("WeB-AliAS.", LDNS_RR_TYPE_A, 0x1235), errors[1]);
    replies[2] = udp_exchange(query("web.", LDNS_RR_TYPE_AAAA, 0x1236), errors[2]);
    replies[3] = udp_exchange(query("2.0.7.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, 0x1237), errors[3]);
    replies[4] = udp_exchange(query("secret.", LDNS_RR_TYPE_A, 0x1238), errors[4]); // not ours
    replies[5] = udp_exchange(query("example.test.", LDNS_RR_TYPE_A, 0x1239), errors[5]);
  });
  auto a = inspect(replies[0]);
  BOOST_TEST_REQUIRE(a.parsed, errors[0]);
  BOOST_TEST(a.id == 0x1234);
  BOOST_TEST(a.qr);
  BOOST_TEST(a.ra);
  BOOST_TEST(a.rd);
  BOOST_TEST(!a.aa);
  BOOST_TEST(a.rcode == LDNS_RCODE_NOERROR);
  BOOST_TEST(a.question == "web.");
  BOOST_TEST(a.answers == std::vector<std::string>{"10.7.0.2"});
  BOOST_TEST(a.ttls == std::vector<uint32_t>{600});

  auto mixed = inspect(replies[1]);
  BOOST_TEST_REQUIRE(mixed.parsed, errors[1]);
  BOOST_TEST(mixed.id == 0x1235);
  BOOST_TEST(mixed.question == "WeB-AliAS."); // the question as asked
  BOOST_TEST(mixed.answers == std::vector<std::string>{"10.7.0.2"});

  auto aaaa = inspect(replies[2]);
  BOOST_TEST_REQUIRE(aaaa.parsed, errors[2]);
  BOOST_TEST(aaaa.rcode == LDNS_RCODE_NOERROR);
  BOOST_TEST(aaaa.answers.empty());

  auto ptr = inspect(replies[3]);
  BOOST_TEST_REQUIRE(ptr.parsed, errors[3]);
  BOOST_TEST(ptr.id == 0x1237);
  BOOST_TEST(ptr.rcode == LDNS_RCODE_NOERROR);
  BOOST_TEST(ptr.answers == (std::vector<std::string>{"web.", "web-alias."}));
  BOOST_TEST(ptr.ttls == (std::vector<uint32_t>{600, 600}));

  for (int i : {4, 5}) { // forwarded past the refusing resolver to the fake one
    auto fwd = inspect(replies[i]);
    BOOST_TEST_REQUIRE(fwd.parsed, errors[i]);
    BOOST_TEST(fwd.id == 0x1234 + i);
    BOOST_TEST(fwd.rcode == LDNS_RCODE_NOERROR);
    BOOST_TEST(fwd.answers == std::vector<std::string>{"192.0.2.7"});
    BOOST_TEST(fwd.ttls == std::vector<uint32_t>{60});
  }
  BOOST_TEST(upstream.queries.load() == 2);

  // Malformed or unsupported messages.
  std::vector<bytes> bad(3);
  std::vector<std::string> bad_errors(3);
  ns.run([&] {
    bad[0] =
        udp_exchange(query("web.", LDNS_RR_TYPE_SOA, 0x3001, LDNS_PACKET_NOTIFY), bad_errors[0]);
    auto* empty = ldns_pkt_new(); // no question
    ldns_pkt_set_id(empty, 0x3002);
    bad[1] = udp_exchange(to_wire(empty), bad_errors[1]);
    ldns_pkt_free(empty);
    bad[2] = udp_exchange({0x30, 0x03, 0x01}, bad_errors[2], 300); // not DNS: dropped
  });
  auto notimp = inspect(bad[0]);
  BOOST_TEST_REQUIRE(notimp.parsed, bad_errors[0]);
  BOOST_TEST(notimp.id == 0x3001);
  BOOST_TEST(notimp.rcode == LDNS_RCODE_NOTIMPL);
  auto formerr = inspect(bad[1]);
  BOOST_TEST_REQUIRE(formerr.parsed, bad_errors[1]);
  BOOST_TEST(formerr.id == 0x3002);
  BOOST_TEST(formerr.rcode == LDNS_RCODE_FORMERR);
  BOOST_TEST(bad[2].empty());

  // TCP: several queries on one connection, one of them forwarded.
  std::vector<bytes> over_tcp;
  std::string tcp_error;
  ns.run([&] {
    over_tcp = tcp_exchange({query("db.", LDNS_RR_TYPE_A, 0x2001),
                             query("elsewhere.test.", LDNS_RR_TYPE_A, 0x2002),
                             query("3.0.7.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, 0x2003)},
                            tcp_error);
  });
  BOOST_TEST_REQUIRE(over_tcp.size() == 3u, tcp_error);
  std::map<uint16_t, reply_info> by_id; // a forwarded answer may come after the later ones
  for (auto& r : over_tcp) {
    auto info = inspect(r);
    by_id[info.id] = info;
  }
  BOOST_TEST(by_id[0x2001].answers == std::vector<std::string>{"10.7.0.3"});
  BOOST_TEST(by_id[0x2002].answers == std::vector<std::string>{"192.0.2.7"});
  BOOST_TEST(by_id[0x2003].answers == std::vector<std::string>{"db."});

  // Serving again replaces the sockets.
  err = server.serve(owner, ns.path());
  BOOST_TEST_REQUIRE(!err, error_message(err));
  BOOST_TEST(server.served() == 1u);
  bytes again;
  std::string again_error;
  ns.run([&] { again = udp_exchange(query("web.", LDNS_RR_TYPE_A, 7), again_error); });
  BOOST_TEST(inspect(again).answers == std::vector<std::string>{"10.7.0.2"}, again_error);

  // A second server without upstreams: the address is taken while the first serves.
  net::dns_server bare{names, {}};
  err = bare.serve(owner, ns.path());
  BOOST_TEST_REQUIRE(static_cast<bool>(err));
  BOOST_TEST(error_message(err) ==
                 "dns: bind 127.0.0.11:53 in " + ns.path() + ": Address already in use",
             error_message(err));
  BOOST_TEST(bare.served() == 0u);

  // Closed: nothing answers any more.
  server.close(owner);
  BOOST_TEST(server.served() == 0u);
  std::string closed_udp, closed_tcp;
  bytes closed_reply;
  ns.run([&] {
    closed_reply = udp_exchange(query("web.", LDNS_RR_TYPE_A, 8), closed_udp, 500);
    tcp_exchange({query("web.", LDNS_RR_TYPE_A, 9)}, closed_tcp);
  });
  BOOST_TEST(closed_reply.empty());
  BOOST_TEST(!closed_udp.empty());
  BOOST_TEST(closed_tcp == std::strerror(ECONNREFUSED));

  // The server without upstreams: SERVFAIL for what the table does not know.
  err = bare.serve(owner, ns.path());
  BOOST_TEST_REQUIRE(!err, error_message(err));
  bytes fail, known;
  std::string fail_error, known_error;
  ns.run([&] {
    fail = udp_exchange(query("example.test.", LDNS_RR_TYPE_A, 10), fail_error);
    known = udp_exchange(query("web.", LDNS_RR_TYPE_A, 11), known_error);
  });
  auto servfail = inspect(fail);
  BOOST_TEST_REQUIRE(servfail.parsed, fail_error);
  BOOST_TEST(servfail.id == 10);
  BOOST_TEST(servfail.rcode == LDNS_RCODE_SERVFAIL);
  BOOST_TEST(servfail.answers.empty());
  BOOST_TEST(inspect(known).answers == std::vector<std::string>{"10.7.0.2"}, known_error);

  // The owner's own upstreams (docker run --dns) stand in for the server's none.
  err = bare.serve(owner, ns.path(), {"127.0.0.1:" + std::to_string(upstream.port)});
  BOOST_TEST_REQUIRE(!err, error_message(err));
  bytes own;
  std::string own_error;
  ns.run([&] { own = udp_exchange(query("example.test.", LDNS_RR_TYPE_A, 12), own_error); });
  auto forwarded = inspect(own);
  BOOST_TEST_REQUIRE(forwarded.parsed, own_error);
  BOOST_TEST(forwarded.id == 12);
  BOOST_TEST(forwarded.rcode == LDNS_RCODE_NOERROR);
  BOOST_TEST(upstream.queries.load() == 4);
  bare.close(owner);
  BOOST_TEST(bare.served() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
