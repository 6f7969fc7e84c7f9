// The userland proxy's OS side (see proxy.hpp).
#include "drivers/network/proxy.hpp"

#include "messages/error.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <cctype>
#include <future>
#include <map>
#include <set>
#include <thread>

namespace berth::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t buffer_size = 64 * 1024; // per direction of a connection

struct connection;

/// What one owner (a container) has open; touched on the I/O thread only.
struct owner_state {
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::set<std::shared_ptr<connection>> connections;
};

/// One client connection and its upstream: bytes pumped both ways, half-closes passed on.
struct connection : std::enable_shared_from_this<connection> {
  connection(tcp::socket c, asio::io_context& io, std::atomic<std::size_t>& count)
      : client(std::move(c)), upstream(io), open_count(count) {
    ++open_count;
  }
  ~connection() { --open_count; }
  tcp::socket client;
  tcp::socket upstream;
  std::array<char, buffer_size> down{}; // upstream -> client
  std::array<char, buffer_size> up{};   // client -> upstream
  int ended = 0;                        // directions at their end
  owner_state* owner = nullptr;
  std::atomic<std::size_t>& open_count;

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
    error_code ignored;
    client.close(ignored);
    upstream.close(ignored);
    if (owner) owner->connections.erase(shared_from_this());
    owner = nullptr;
  }
};

} // namespace

struct proxy::impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::map<std::string, owner_state> owners; // I/O thread only
  std::atomic<std::size_t> open_connections{0};
  std::thread thread;

  void accept(std::string owner, std::shared_ptr<tcp::acceptor> a, tcp::endpoint target) {
    a->async_accept([this, owner, a, target](const error_code& ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !a->is_open()) return;
      if (!ec) {
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
      }
      accept(owner, a, target);
    });
  }
};

proxy::proxy() : impl_(std::make_unique<impl>()) {
  impl_->thread = std::thread{[i = impl_.get()] { i->io.run(); }};
}

proxy::~proxy() {
  asio::post(impl_->io, [i = impl_.get()] {
    for (auto& [name, o] : i->owners) {
      for (auto& a : o.acceptors) {
        error_code ignored;
        a->close(ignored);
      }
      auto conns = o.connections;
      for (auto& c : conns)
        c->close();
    }
    i->owners.clear();
    i->work.reset();
  });
  impl_->thread.join();
}

caf::expected<uint16_t> proxy::listen(const std::string& owner, const std::string& host_ip,
                                      uint16_t host_port, const std::string& target_ip,
                                      uint16_t target_port) {
  error_code ec;
  auto host_addr = asio::ip::make_address_v4(host_ip.empty() ? "0.0.0.0" : host_ip, ec);
  if (ec) return make_error(ec::invalid_argument, "invalid host IP address: " + host_ip);
  auto target_addr = asio::ip::make_address_v4(target_ip, ec);
  if (ec) return make_error(ec::invalid_argument, "invalid container IP address: " + target_ip);
  auto a = std::make_shared<tcp::acceptor>(impl_->io);
  tcp::endpoint at{host_addr, host_port};
  auto fail = [&](const char* what) -> caf::error {
    auto reason = ec.message(); // Go's wording: "address already in use"
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
    return make_error(ec::system, std::string{"listen tcp4 "} + host_addr.to_string() + ":" +
                                      std::to_string(host_port) + ": " + what + ": " + reason);
  };
  if (a->open(tcp::v4(), ec); ec) return fail("socket");
  a->set_option(tcp::acceptor::reuse_address{true}, ec);
  if (a->bind(at, ec); ec) return fail("bind");
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

void proxy::close(const std::string& owner) {
  std::promise<void> done;
  auto closed = done.get_future();
  asio::post(impl_->io, [i = impl_.get(), owner, &done] {
    auto it = i->owners.find(owner);
    if (it != i->owners.end()) {
      for (auto& a : it->second.acceptors) {
        error_code ignored;
        a->close(ignored);
      }
      auto conns = it->second.connections;
      for (auto& c : conns)
        c->close();
      i->owners.erase(it);
    }
    done.set_value();
  });
  closed.wait();
}

std::size_t proxy::connections() const {
  return impl_->open_connections.load();
}

} // namespace berth::net
