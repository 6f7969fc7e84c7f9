// The embedded DNS server (see dns.hpp).
#include "drivers/network/dns.hpp"

#include "drivers/io.hpp"
#include "messages/error.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <ldns/ldns.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <system_error>
#include <thread>

namespace berth::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using error_code = boost::system::error_code;
using bytes = std::vector<uint8_t>;

namespace {

constexpr uint32_t ttl = 600;                             // of every answer, as Docker's
constexpr auto forward_timeout = std::chrono::seconds{5}; // per upstream
constexpr std::size_t max_message = 65535;
constexpr std::size_t plain_udp_size = 512; // a UDP answer's limit without EDNS

/// A name as the table keeps it: lowercased, without the trailing dot.
std::string normalize(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  for (auto& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

} // namespace

// ---- name_table ----------------------------------------------------------------------------

void name_table::add(const std::string& network, const std::string& name, uint32_t ip) {
  auto n = normalize(name);
  if (n.empty()) return;
  std::lock_guard<std::mutex> lock{mu_};
  names_[network][n].insert(ip);
}

void name_table::remove(const std::string& network, uint32_t ip) {
  std::lock_guard<std::mutex> lock{mu_};
  auto net = names_.find(network);
  if (net == names_.end()) return;
  for (auto it = net->second.begin(); it != net->second.end();) {
    it->second.erase(ip);
    it = it->second.empty() ? net->second.erase(it) : std::next(it);
  }
  if (net->second.empty()) names_.erase(net);
}

void name_table::join(const std::string& owner, const std::string& network) {
  std::lock_guard<std::mutex> lock{mu_};
  joined_[owner].insert(network);
}

void name_table::leave(const std::string& owner, const std::string& network) {
  std::lock_guard<std::mutex> lock{mu_};
  auto it = joined_.find(owner);
  if (it == joined_.end()) return;
  it->second.erase(network);
  if (it->second.empty()) joined_.erase(it);
}

void name_table::forget(const std::string& owner) {
  std::lock_guard<std::mutex> lock{mu_};
  joined_.erase(owner);
  links_.erase(owner);
}

void name_table::link(const std::string& owner, const std::string& alias,
                      const std::string& target) {
  auto a = normalize(alias);
  auto t = normalize(target);
  if (a.empty() || t.empty()) return;
  std::lock_guard<std::mutex> lock{mu_};
  links_[owner][a] = t;
}

std::vector<uint32_t> name_table::lookup(const std::string& owner, const std::string& name) const {
  auto n = normalize(name);
  std::set<uint32_t> found;
  std::lock_guard<std::mutex> lock{mu_};
  if (auto l = links_.find(owner); l != links_.end())
    if (auto t = l->second.find(n); t != l->second.end()) n = t->second;
  auto nets = joined_.find(owner);
  if (nets == joined_.end()) return {};
  for (auto& network : nets->second) {
    auto net = names_.find(network);
    if (net == names_.end()) continue;
    auto ips = net->second.find(n);
    if (ips != net->second.end()) found.insert(ips->second.begin(), ips->second.end());
  }
  return {found.begin(), found.end()};
}

std::vector<std::string> name_table::reverse(const std::string& owner, uint32_t ip) const {
  std::set<std::string> found;
  std::lock_guard<std::mutex> lock{mu_};
  auto nets = joined_.find(owner);
  if (nets == joined_.end()) return {};
  for (auto& network : nets->second) {
    auto net = names_.find(network);
    if (net == names_.end()) continue;
    for (auto& [name, ips] : net->second)
      if (ips.count(ip)) found.insert(name);
  }
  return {found.begin(), found.end()};
}

// ---- messages (libldns) --------------------------------------------------------------------

namespace {

struct pkt_free {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using pkt_ptr = std::unique_ptr<ldns_pkt, pkt_free>;

/// A wire message parsed; null when it is not one.
pkt_ptr parse(const bytes& wire) {
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, wire.data(), wire.size()) != LDNS_STATUS_OK) {
    ldns_pkt_free(p);
    return nullptr;
  }
  return pkt_ptr{p};
}

/// A packet in wire format; empty when ldns cannot render it.
bytes to_wire(const ldns_pkt* p) {
  uint8_t* buf = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&buf, p, &size) != LDNS_STATUS_OK || !buf) {
    std::free(buf);
    return {};
  }
  bytes out(buf, buf + size);
  std::free(buf);
  return out;
}

/// The answer to `q` without records: ID, opcode, RD and CD copied, QR and RA set (not AA, as
/// Docker), `rcode`, and the question when there is exactly one.
pkt_ptr reply_to(const ldns_pkt* q, ldns_pkt_rcode rcode) {
  pkt_ptr r{ldns_pkt_new()};
  if (!r) return r;
  ldns_pkt_set_id(r.get(), ldns_pkt_id(q));
  ldns_pkt_set_qr(r.get(), true);
  ldns_pkt_set_opcode(r.get(), ldns_pkt_get_opcode(q));
  ldns_pkt_set_rd(r.get(), ldns_pkt_rd(q));
  ldns_pkt_set_cd(r.get(), ldns_pkt_cd(q));
  ldns_pkt_set_ra(r.get(), true);
  ldns_pkt_set_rcode(r.get(), static_cast<uint8_t>(rcode));
  auto* questions = ldns_pkt_question(q);
  if (questions && ldns_rr_list_rr_count(questions) == 1)
    ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(questions, 0)));
  return r;
}

/// An answer record for `question`'s name: `type`, class IN, TTL 600, one rdata field.
void push_answer(ldns_pkt* r, const ldns_rr* question, ldns_rr_type type, ldns_rdf* data) {
  if (!data) return;
  auto* rr = ldns_rr_new();
  if (!rr) {
    ldns_rdf_deep_free(data);
    return;
  }
  ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(question)));
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr, ttl);
  ldns_rr_push_rdf(rr, data);
  ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr);
}

/// The address of a "<d>.<c>.<b>.<a>.in-addr.arpa" name (normalized), host byte order.
std::optional<uint32_t> arpa_address(const std::string& name) {
  static const std::string suffix = ".in-addr.arpa";
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  auto labels = name.substr(0, name.size() - suffix.size());
  uint32_t ip = 0;
  std::size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    auto end = labels.find('.', pos);
    if ((end == std::string::npos) != (i == 3)) return std::nullopt;
    auto label = labels.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (label.empty() || label.size() > 3 ||
        !std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    auto octet = std::stoul(label);
    if (octet > 255) return std::nullopt;
    ip |= static_cast<uint32_t>(octet) << (8 * i); // the first label is the last octet
    pos = end + 1;
  }
  return ip;
}

/// What to do with a query.
struct verdict {
  enum kind { drop, reply, forward } action = drop;
  bytes message; // the reply
};

/// `r`, the answer to `q`, rendered; when it is larger than `limit` (the client's UDP size),
/// the same answer without records and with TC set, so the client asks again over TCP.
verdict answer_with(const ldns_pkt* q, pkt_ptr r, std::size_t limit) {
  if (!r) return {};
  auto wire = to_wire(r.get());
  if (wire.size() > limit) {
    r = reply_to(q, static_cast<ldns_pkt_rcode>(ldns_pkt_get_rcode(r.get())));
    if (!r) return {};
    ldns_pkt_set_tc(r.get(), true);
    wire = to_wire(r.get());
  }
  if (wire.empty()) return {};
  return {verdict::reply, std::move(wire)};
}

/// Answer `query` from `owner`'s names, or say to forward or drop it. `udp`: the answer must
/// fit the client's UDP size.
verdict answer(const name_table& names, const std::string& owner, const bytes& query, bool udp) {
  auto q = parse(query);
  if (!q || ldns_pkt_qr(q.get())) return {}; // not a query
  std::size_t limit = max_message;
  if (udp)
    limit = ldns_pkt_edns(q.get())
                ? std::max<std::size_t>(plain_udp_size, ldns_pkt_edns_udp_size(q.get()))
                : plain_udp_size;
  if (ldns_pkt_get_opcode(q.get()) != LDNS_PACKET_QUERY)
    return answer_with(q.get(), reply_to(q.get(), LDNS_RCODE_NOTIMPL), limit);
  auto* questions = ldns_pkt_question(q.get());
  if (!questions || ldns_rr_list_rr_count(questions) != 1)
    return answer_with(q.get(), reply_to(q.get(), LDNS_RCODE_FORMERR), limit);
  const auto* question = ldns_rr_list_rr(questions, 0);
  if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN) return {verdict::forward, {}};
  std::string name;
  if (char* s = ldns_rdf2str(ldns_rr_owner(question))) {
    name = normalize(s);
    std::free(s);
  }
  auto type = ldns_rr_get_type(question);
  if (type == LDNS_RR_TYPE_PTR) {
    if (auto ip = arpa_address(name)) {
      auto found = names.reverse(owner, *ip);
      if (found.empty()) return {verdict::forward, {}};
      auto r = reply_to(q.get(), LDNS_RCODE_NOERROR);
      if (!r) return {};
      for (auto& n : found)
        push_answer(r.get(), question, LDNS_RR_TYPE_PTR, ldns_dname_new_frm_str((n + ".").c_str()));
      return answer_with(q.get(), std::move(r), limit);
    }
  }
  auto ips = names.lookup(owner, name);
  if (ips.empty()) return {verdict::forward, {}};
  auto r = reply_to(q.get(), LDNS_RCODE_NOERROR);
  if (!r) return {};
  if (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_ANY)
    for (auto ip : ips) {
      uint32_t wire = htonl(ip);
      push_answer(r.get(), question, LDNS_RR_TYPE_A,
                  ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, sizeof wire, &wire));
    }
  // Other types (AAAA on IPv4-only networks): NOERROR without answers, as Docker.
  return answer_with(q.get(), std::move(r), limit);
}

/// SERVFAIL for `query` (every upstream failed); empty when it does not parse.
bytes servfail(const bytes& query) {
  auto q = parse(query);
  if (!q) return {};
  auto r = reply_to(q.get(), LDNS_RCODE_SERVFAIL);
  return r ? to_wire(r.get()) : bytes{};
}

/// An upstream resolver's endpoint: "a.b.c.d", "a.b.c.d:port", "::1" or "[::1]:port".
std::optional<udp::endpoint> parse_upstream(const std::string& s) {
  std::string host = s, port_text;
  if (!s.empty() && s.front() == '[') {
    auto end = s.find(']');
    if (end == std::string::npos) return std::nullopt;
    host = s.substr(1, end - 1);
    auto rest = s.substr(end + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
      if (port_text.empty()) return std::nullopt;
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    host = s.substr(0, s.find(':'));
    port_text = s.substr(s.find(':') + 1);
    if (port_text.empty()) return std::nullopt;
  }
  unsigned long port = 53;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(),
                                             [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    port = std::stoul(port_text);
    if (port == 0 || port > 65535) return std::nullopt;
  }
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return udp::endpoint{addr, static_cast<uint16_t>(port)};
}

/// On a thread of its own (setns changes only the calling thread): enter the namespace at
/// `path`, bring its loopback up, and bind a UDP and a listening TCP socket to 127.0.0.11:53.
caf::error open_sockets(const std::string& path, io::unique_fd& udp_fd, io::unique_fd& tcp_fd) {
  io::unique_fd ns{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!ns) return io::sys_error("dns: open " + path);
  if (::setns(ns.fd, CLONE_NEWNET) != 0) return io::sys_error("dns: setns " + path);
  io::unique_fd ctl{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (!ctl) return io::sys_error("dns: socket in " + path);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(ctl.fd, SIOCGIFFLAGS, &ifr) != 0) return io::sys_error("dns: lo flags in " + path);
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(ctl.fd, SIOCSIFFLAGS, &ifr) != 0) return io::sys_error("dns: lo up in " + path);
  }
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(53);
  at.sin_addr.s_addr = htonl(0x7f00000b); // 127.0.0.11
  const auto* addr = reinterpret_cast<const sockaddr*>(&at);
  udp_fd = io::unique_fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (!udp_fd) return io::sys_error("dns: socket in " + path);
  if (::bind(udp_fd.fd, addr, sizeof at) != 0)
    return io::sys_error("dns: bind 127.0.0.11:53 in " + path);
  tcp_fd = io::unique_fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!tcp_fd) return io::sys_error("dns: socket in " + path);
  int one = 1;
  ::setsockopt(tcp_fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(tcp_fd.fd, addr, sizeof at) != 0)
    return io::sys_error("dns: bind 127.0.0.11:53/tcp in " + path);
  if (::listen(tcp_fd.fd, SOMAXCONN) != 0)
    return io::sys_error("dns: listen 127.0.0.11:53/tcp in " + path);
  return {};
}

using reply_fn = std::function<void(bytes)>;

/// One query on its way to the upstreams, over UDP from the host's namespace.
struct owner_state;
struct forward {
  forward(asio::io_context& io, bytes q, reply_fn fn, std::weak_ptr<owner_state> o)
      : sock(io), timer(io), query(std::move(q)), done(std::move(fn)), owner(std::move(o)) {}
  udp::socket sock;
  asio::steady_timer timer;
  bytes query;
  reply_fn done;
  std::weak_ptr<owner_state> owner; // whose pending forwards list this one is on
  std::array<uint8_t, max_message> buf{};
  std::vector<udp::endpoint> upstreams; // the owner's, else the server's
  std::size_t next = 0;                 // the upstream to try next
  unsigned attempt = 0;                 // handlers of earlier attempts see a newer one and stop
  bool finished = false;                // answered, failed or cancelled
};

/// One TCP client: length-prefixed queries in, answers out in the order they are ready.
struct tcp_conn {
  explicit tcp_conn(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::array<uint8_t, 2> length{};
  bytes message;
  std::deque<bytes> out;
  bool writing = false;
  bool closed = false;
};

/// What one owner (a container) is served with; touched on the I/O thread only.
struct owner_state {
  explicit owner_state(std::string o, asio::io_context& io)
      : owner(std::move(o)), udp_sock(io), acceptor(io) {}
  std::string owner;
  udp::socket udp_sock;
  tcp::acceptor acceptor;
  std::array<uint8_t, max_message> buf{};
  udp::endpoint from;
  std::set<std::shared_ptr<tcp_conn>> conns;
  std::set<std::shared_ptr<forward>> forwards;
  std::vector<udp::endpoint> upstreams; // its own (docker run --dns); empty: the server's
  bool closed = false;
};

} // namespace

struct dns_server::impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::shared_ptr<name_table> names;
  std::vector<udp::endpoint> upstreams;
  std::map<std::string, std::shared_ptr<owner_state>> owners; // I/O thread only
  std::atomic<std::size_t> count{0};
  std::thread thread;

  // -- owners --

  void start(const std::shared_ptr<owner_state>& o) {
    auto [it, fresh] = owners.emplace(o->owner, o);
    if (!fresh) {
      shut(*it->second);
      it->second = o;
    }
    count = owners.size();
    receive(o);
    accept(o);
  }

  void shut(owner_state& o) {
    o.closed = true;
    error_code ignored;
    o.udp_sock.close(ignored);
    o.acceptor.close(ignored);
    for (auto& c : o.conns) {
      c->closed = true;
      c->sock.close(ignored);
    }
    o.conns.clear();
    for (auto& f : o.forwards)
      cancel(*f);
    o.forwards.clear();
  }

  void stop(const std::string& owner) {
    auto it = owners.find(owner);
    if (it == owners.end()) return;
    shut(*it->second);
    owners.erase(it);
    count = owners.size();
  }

  /// Answer, forward or drop one query; false when it is dropped.
  bool dispatch(const std::shared_ptr<owner_state>& o, bytes query, bool udp, reply_fn reply) {
    auto v = answer(*names, o->owner, query, udp);
    switch (v.action) {
    case verdict::drop:
      return false;
    case verdict::reply:
      reply(std::move(v.message));
      return true;
    case verdict::forward:
      break;
    }
    auto f = std::make_shared<forward>(io, std::move(query), std::move(reply), o);
    f->upstreams = o->upstreams.empty() ? upstreams : o->upstreams;
    o->forwards.insert(f);
    try_next(f);
    return true;
  }

  // -- UDP --

  void receive(const std::shared_ptr<owner_state>& o) {
    o->udp_sock.async_receive_from(
        asio::buffer(o->buf), o->from, [this, o](const error_code& ec, std::size_t n) {
          if (o->closed || ec == asio::error::operation_aborted || !o->udp_sock.is_open()) return;
          if (!ec) {
            auto from = o->from;
            std::weak_ptr<owner_state> weak = o;
            dispatch(o, bytes(o->buf.begin(), o->buf.begin() + static_cast<long>(n)), true,
                     [weak, from](bytes r) {
                       auto o = weak.lock();
                       if (!o || o->closed || r.empty()) return;
                       auto msg = std::make_shared<bytes>(std::move(r));
                       o->udp_sock.async_send_to(asio::buffer(*msg), from,
                                                 [o, msg](const error_code&, std::size_t) {});
                     });
          }
          receive(o); // errors such as an ICMP refusal from a client that left are transient
        });
  }

  // -- TCP --

  void accept(const std::shared_ptr<owner_state>& o) {
    o->acceptor.async_accept([this, o](const error_code& ec, tcp::socket s) {
      if (o->closed || ec == asio::error::operation_aborted || !o->acceptor.is_open()) return;
      if (!ec) {
        auto c = std::make_shared<tcp_conn>(std::move(s));
        o->conns.insert(c);
        read(o, c);
      }
      accept(o);
    });
  }

  void drop(const std::shared_ptr<owner_state>& o, const std::shared_ptr<tcp_conn>& c) {
    if (c->closed) return;
    c->closed = true;
    error_code ignored;
    c->sock.close(ignored);
    o->conns.erase(c);
  }

  void read(const std::shared_ptr<owner_state>& o, const std::shared_ptr<tcp_conn>& c) {
    asio::async_read(
        c->sock, asio::buffer(c->length), [this, o, c](const error_code& ec, std::size_t) {
          if (c->closed) return;
          std::size_t len = (std::size_t{c->length[0]} << 8) | c->length[1];
          if (ec || len == 0) return drop(o, c);
          c->message.resize(len);
          asio::async_read(
              c->sock, asio::buffer(c->message), [this, o, c](const error_code& ec, std::size_t) {
                if (c->closed) return;
                if (ec) return drop(o, c);
                std::weak_ptr<tcp_conn> weak = c;
                bool ok = dispatch(o, std::move(c->message), false, [this, o, weak](bytes r) {
                  auto c = weak.lock();
                  if (c && !r.empty()) send(o, c, std::move(r));
                });
                if (!ok) return drop(o, c);
                read(o, c);
              });
        });
  }

  void send(const std::shared_ptr<owner_state>& o, const std::shared_ptr<tcp_conn>& c, bytes r) {
    if (c->closed) return;
    bytes framed;
    framed.reserve(r.size() + 2);
    framed.push_back(static_cast<uint8_t>(r.size() >> 8));
    framed.push_back(static_cast<uint8_t>(r.size() & 0xff));
    framed.insert(framed.end(), r.begin(), r.end());
    c->out.push_back(std::move(framed));
    if (!c->writing) write(o, c);
  }

  void write(const std::shared_ptr<owner_state>& o, const std::shared_ptr<tcp_conn>& c) {
    c->writing = true;
    asio::async_write(c->sock, asio::buffer(c->out.front()),
                      [this, o, c](const error_code& ec, std::size_t) {
                        if (c->closed) return;
                        if (ec) return drop(o, c);
                        c->out.pop_front();
                        c->writing = false;
                        if (!c->out.empty()) write(o, c);
                      });
  }

  // -- forwarding --

  void try_next(const std::shared_ptr<forward>& f) {
    error_code ec;
    while (!f->finished) {
      if (f->next >= f->upstreams.size()) return finish(f, servfail(f->query));
      auto to = f->upstreams[f->next++];
      f->sock.close(ec);
      ++f->attempt;
      if (f->sock.open(to.protocol(), ec); ec) continue;
      if (f->sock.connect(to, ec); ec) continue; // only replies from `to` are received
      f->sock.send(asio::buffer(f->query), 0, ec);
      if (ec) continue;
      auto attempt = f->attempt;
      f->timer.expires_after(forward_timeout);
      f->timer.async_wait([this, f, attempt](const error_code& ec) {
        if (ec || f->finished || attempt != f->attempt) return;
        try_next(f);
      });
      return relay(f, attempt);
    }
  }

  void relay(const std::shared_ptr<forward>& f, unsigned attempt) {
    f->sock.async_receive(
        asio::buffer(f->buf), [this, f, attempt](const error_code& ec, std::size_t n) {
          if (f->finished || attempt != f->attempt || ec == asio::error::operation_aborted) return;
          if (ec) return try_next(f); // refused (ICMP): the next upstream
          // A reply to this query (same ID, QR set); anything else is ignored.
          if (n < 12 || f->buf[0] != f->query[0] || f->buf[1] != f->query[1] || !(f->buf[2] & 0x80))
            return relay(f, attempt);
          finish(f, bytes(f->buf.begin(), f->buf.begin() + static_cast<long>(n)));
        });
  }

  void cancel(forward& f) {
    f.finished = true;
    error_code ignored;
    f.timer.cancel();
    f.sock.close(ignored);
  }

  void finish(const std::shared_ptr<forward>& f, bytes reply) {
    cancel(*f);
    if (auto o = f->owner.lock()) o->forwards.erase(f);
    auto done = std::move(f->done);
    f->done = nullptr;
    if (done) done(std::move(reply));
  }
};

dns_server::dns_server(std::shared_ptr<name_table> names, std::vector<std::string> upstreams)
    : impl_(std::make_unique<impl>()) {
  impl_->names = names ? std::move(names) : std::make_shared<name_table>();
  for (auto& u : upstreams)
    if (auto ep = parse_upstream(u)) impl_->upstreams.push_back(*ep);
  impl_->thread = std::thread{[i = impl_.get()] { i->io.run(); }};
}

dns_server::~dns_server() {
  asio::post(impl_->io, [i = impl_.get()] {
    for (auto& [owner, o] : i->owners)
      i->shut(*o);
    i->owners.clear();
    i->count = 0;
    i->work.reset();
  });
  impl_->thread.join();
}

caf::error dns_server::serve(const std::string& owner, const std::string& netns_path) {
  return serve(owner, netns_path, {});
}

caf::error dns_server::serve(const std::string& owner, const std::string& netns_path,
                             const std::vector<std::string>& upstreams) {
  std::vector<udp::endpoint> own;
  for (auto& u : upstreams)
    if (auto ep = parse_upstream(u)) own.push_back(*ep);
  // The old sockets may hold 127.0.0.11:53 in this very namespace: free it first.
  close(owner);
  io::unique_fd udp_fd, tcp_fd;
  caf::error err;
  try {
    std::thread{[&] { err = open_sockets(netns_path, udp_fd, tcp_fd); }}.join();
  } catch (const std::system_error& e) {
    return make_error(ec::system, std::string{"dns: thread: "} + e.what());
  }
  if (err) return err;
  std::promise<caf::error> done;
  auto served = done.get_future();
  asio::post(impl_->io, [i = impl_.get(), &owner, &netns_path, &udp_fd, &tcp_fd, &own, &done] {
    auto o = std::make_shared<owner_state>(owner, i->io);
    o->upstreams = std::move(own);
    error_code ec;
    o->udp_sock.assign(udp::v4(), udp_fd.fd, ec);
    if (!ec) udp_fd.release();
    if (!ec) o->acceptor.assign(tcp::v4(), tcp_fd.fd, ec);
    if (!ec) tcp_fd.release();
    if (ec) {
      error_code ignored;
      o->udp_sock.close(ignored);
      return done.set_value(
          make_error(ec::system, "dns: serve in " + netns_path + ": " + ec.message()));
    }
    i->start(o);
    done.set_value(caf::error{});
  });
  return served.get();
}

void dns_server::close(const std::string& owner) {
  std::promise<void> done;
  auto closed = done.get_future();
  asio::post(impl_->io, [i = impl_.get(), &owner, &done] {
    i->stop(owner);
    done.set_value();
  });
  closed.wait();
}

std::size_t dns_server::served() const {
  return impl_->count.load();
}

} // namespace berth::net
