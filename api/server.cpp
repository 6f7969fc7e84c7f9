#include "api/server.hpp"

#include "actors/log.hpp"
#include "drivers/io.hpp"
#include "messages/defaults.hpp"
#include "messages/error.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <dirent.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace berth::api {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using unix_proto = net::local::stream_protocol;
using tcp_stream = beast::tcp_stream;
using unix_stream = beast::basic_stream<unix_proto>;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using error_code = beast::error_code;

class server_impl;

constexpr std::size_t spool_read_size = 256 * 1024; // the read buffer of a spooled body

/// What the server needs of every session to stop it.
struct session_base {
  virtual ~session_base() = default;
  virtual void close() = 0;
};

template <class Stream>
class session : public connection,
                public session_base,
                public std::enable_shared_from_this<session<Stream>> {
public:
  session(Stream&& s, server_impl& srv, std::shared_ptr<const router> r)
      : stream_(std::move(s)), srv_(srv), router_(std::move(r)) {}

  Stream& stream() { return stream_; }

  void run() { do_read(); }

  // -- connection --------------------------------------------------------------------------------

  void respond(http_response res) override {
    net::dispatch(stream_.get_executor(),
                  [self = this->shared_from_this(), res = std::move(res)]() mutable {
                    self->write_response(std::move(res));
                  });
  }

  void stream_begin(unsigned status, std::string content_type) override {
    enqueue(out_item{out_item::header, std::move(content_type), nullptr, status});
  }

  void stream_begin_with(unsigned status, std::string content_type,
                         std::vector<std::pair<std::string, std::string>> headers) override {
    out_item item{out_item::header, std::move(content_type), nullptr, status};
    item.headers = std::move(headers);
    enqueue(std::move(item));
  }

  void stream_write(std::string chunk, std::function<void(bool)> done) override {
    enqueue(out_item{out_item::chunk, std::move(chunk), std::move(done), 0});
  }

  void stream_end() override { enqueue(out_item{out_item::last, {}, nullptr, 0}); }

  void hijack(std::function<void(std::string)> on_input) override {
    net::dispatch(stream_.get_executor(),
                  [self = this->shared_from_this(), f = std::move(on_input)]() mutable {
                    self->on_input_ = std::move(f);
                  });
    enqueue(out_item{out_item::upgrade, {}, nullptr, 101});
  }

  void raw_write(std::string bytes, std::function<void(bool)> done) override {
    enqueue(out_item{out_item::raw, std::move(bytes), std::move(done), 0});
  }

  void on_close(std::function<void()> f) override {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this(), f = std::move(f)] {
      if (self->closed_)
        f();
      else
        self->close_handlers_.push_back(std::move(f));
    });
  }

  void close() override {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->do_close(); });
  }

private:
  struct out_item {
    enum kind_t { header, chunk, last, upgrade, raw } kind;
    std::string data; // content type for header, payload for chunk
    std::function<void(bool)> done;
    unsigned status;
    std::vector<std::pair<std::string, std::string>> headers = {}; // extra, for a header item
  };

  void do_read() {
    if (closed_) return;
    discard_spool();
    header_parser_.emplace();
    header_parser_->header_limit(defaults::header_limit);
    // The limit is checked per body kind once the header is known (spooled bodies have none).
    header_parser_->body_limit(boost::none);
    beast::get_lowest_layer(stream_).expires_after(defaults::idle_timeout);
    http::async_read_header(
        stream_, buffer_, *header_parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  // The header is in: choose where the body goes (memory or a spool file) and read it.
  void on_header(error_code ec) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    auto& h = header_parser_->get();
    if (auto path = spool_path_for(h)) {
      if (auto err = start_spool(*path)) {
        BLOG(warn, "api") << "cannot spool the request body: " << error_message(err);
        keep_alive_ = false;
        version_ = h.version();
        head_ = false;
        write_response(error_response(500, "cannot spool the request body: " + error_message(err)));
        return;
      }
      // Large reads: Beast reads at most what the buffer can take (512 bytes after a header).
      if (buffer_.capacity() < spool_read_size) buffer_.reserve(spool_read_size);
      read_spool();
      return;
    }
    auto len = header_parser_->content_length();
    if (len && *len > defaults::body_limit) {
      on_read_error(http::error::body_limit);
      return;
    }
    parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    parser_->body_limit(defaults::body_limit);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](error_code ec, std::size_t) {
                       if (ec) {
                         self->on_read_error(ec);
                         return;
                       }
                       auto& m = self->parser_->get();
                       auto req = self->make_request(m);
                       req.body = std::move(m.body());
                       self->parser_.reset();
                       self->dispatch(req);
                     });
  }

  // Large uploads: a spool file when the server has a spool dir, the method is POST and the
  // (unversioned) path is /images/load, or /images/create with a fromSrc query parameter; or
  // the method is PUT and the path /containers/{id}/archive (docker cp).
  std::optional<std::string> spool_path_for(const http::request<http::empty_body>& h) const {
    const auto& dir = spool_dir();
    bool put = h.method() == http::verb::put;
    if (dir.empty() || (h.method() != http::verb::post && !put)) return std::nullopt;
    std::string_view target{h.target().data(), h.target().size()};
    auto qpos = target.find('?');
    auto vp = split_version(url_decode(target.substr(0, qpos), false));
    if (!vp) return std::nullopt;
    if (put) {
      const std::string_view pre = "/containers/", post = "/archive";
      std::string_view p = vp->path;
      bool archive = p.size() > pre.size() + post.size() && p.substr(0, pre.size()) == pre &&
                     p.substr(p.size() - post.size()) == post &&
                     p.substr(pre.size(), p.size() - pre.size() - post.size()).find('/') ==
                         std::string_view::npos;
      return archive ? std::optional<std::string>{dir} : std::nullopt;
    }
    if (vp->path == "/images/load") return dir;
    if (vp->path == "/images/create" && qpos != std::string_view::npos)
      for (auto& [k, v] : parse_query(target.substr(qpos + 1)))
        if (k == "fromSrc") return dir;
    return std::nullopt;
  }

  caf::error start_spool(const std::string& dir) {
    if (auto err = io::mkdir_all(dir, 0700)) return err;
    std::string path = dir + "/body-XXXXXX";
    int fd = ::mkstemp(path.data());
    if (fd < 0) return make_error(ec::system, "mkstemp in " + dir + ": " + std::strerror(errno));
    ::close(fd);
    spool_file_ = path;
    file_parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    file_parser_->body_limit(boost::none);
    error_code ec;
    file_parser_->get().body().open(path.c_str(), beast::file_mode::write, ec);
    if (ec) return make_error(ec::system, "open " + path + ": " + ec.message());
    return caf::none;
  }

  // Read the spooled body piece by piece, so that the idle timeout applies to each piece and
  // not to the whole upload.
  void read_spool() {
    if (closed_) return;
    if (file_parser_->is_done()) {
      on_spooled();
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(defaults::idle_timeout);
    http::async_read_some(stream_, buffer_, *file_parser_,
                          [self = this->shared_from_this()](error_code ec, std::size_t) {
                            if (ec) {
                              self->on_read_error(ec);
                              return;
                            }
                            self->read_spool();
                          });
  }

  void on_spooled() {
    auto& m = file_parser_->get();
    m.body().close();
    auto req = make_request(m);
    file_parser_.reset();
    req.body_file = std::exchange(spool_file_, {});
    dispatch(req);
    // Whatever the handler did not take (a 404, a version error, an early failure) goes away.
    if (!req.body_file.empty()) ::unlink(req.body_file.c_str());
  }

  // Drop a half-written spool file (a failed read, a closed connection).
  void discard_spool() {
    if (file_parser_) {
      file_parser_->get().body().close();
      file_parser_.reset();
    }
    if (!spool_file_.empty()) ::unlink(std::exchange(spool_file_, {}).c_str());
  }

  void on_read_error(error_code ec) {
    discard_spool();
    header_parser_.reset();
    parser_.reset();
    keep_alive_ = false;
    if (ec == http::error::header_limit)
      write_response(error_response(431, "request header fields too large"));
    else if (ec == http::error::body_limit)
      write_response(error_response(413, "request body too large"));
    else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message)
      write_response(error_response(400, "malformed HTTP request: " + ec.message()));
    else
      do_close();
  }

  template <class Message> http_request make_request(const Message& m) {
    http_request req;
    req.method = std::string{m.method_string()};
    req.target = std::string{m.target()};
    for (auto& f : m) {
      std::string name{f.name_string()};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string{f.value()});
    }
    keep_alive_ = m.keep_alive();
    version_ = m.version();
    head_ = m.method() == http::verb::head;
    return req;
  }

  void dispatch(http_request& req) {
    beast::get_lowest_layer(stream_).expires_never();
    router_->dispatch(req, this->shared_from_this());
  }

  template <class Message> void common_headers(Message& m);
  const std::string& spool_dir() const;

  void write_response(http_response r) {
    if (closed_) return;
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    common_headers(*res);
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers)
      res->set(k, v);
    if (!head_) res->body() = std::move(r.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(defaults::idle_timeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](error_code ec, std::size_t) {
                        if (ec || !self->keep_alive_)
                          self->do_close();
                        else
                          self->do_read();
                      });
  }

  void enqueue(out_item item) {
    net::dispatch(stream_.get_executor(),
                  [self = this->shared_from_this(), item = std::move(item)]() mutable {
                    if (self->closed_) {
                      if (item.done) item.done(false);
                      return;
                    }
                    self->out_.push_back(std::move(item));
                    self->pump();
                  });
  }

  void pump() {
    if (writing_ || out_.empty() || closed_) return;
    writing_ = true;
    auto& item = out_.front();
    auto self = this->shared_from_this();
    switch (item.kind) {
    case out_item::header: {
      struct head_state {
        http::response<http::empty_body> res;
        http::response_serializer<http::empty_body> sr{res};
      };
      auto hs = std::make_shared<head_state>();
      hs->res.result(item.status);
      hs->res.version(version_);
      common_headers(hs->res);
      hs->res.set(http::field::content_type, item.data);
      for (auto& [k, v] : item.headers)
        hs->res.set(k, v);
      hs->res.chunked(true);
      hs->res.keep_alive(false);
      beast::get_lowest_layer(stream_).expires_never();
      http::async_write_header(stream_, hs->sr,
                               [self, hs](error_code ec, std::size_t) { self->on_written(ec); });
      break;
    }
    case out_item::chunk: {
      auto data = std::make_shared<std::string>(std::move(item.data));
      net::async_write(stream_, http::make_chunk(net::buffer(*data)),
                       [self, data](error_code ec, std::size_t) { self->on_written(ec); });
      break;
    }
    case out_item::last:
      if (hijacked_) { // a raw stream ends by closing
        net::post(stream_.get_executor(), [self] { self->on_written({}); });
        break;
      }
      net::async_write(stream_, http::make_chunk_last(),
                       [self](error_code ec, std::size_t) { self->on_written(ec); });
      break;
    case out_item::upgrade: {
      // Exactly dockerd's answer (the CLI accepts only 101).
      hijacked_ = true;
      beast::get_lowest_layer(stream_).expires_never();
      auto head = std::make_shared<std::string>(
          "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
          "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
      net::async_write(stream_, net::buffer(*head),
                       [self, head](error_code ec, std::size_t) { self->on_written(ec); });
      break;
    }
    case out_item::raw: {
      auto data = std::make_shared<std::string>(std::move(item.data));
      net::async_write(stream_, net::buffer(*data),
                       [self, data](error_code ec, std::size_t) { self->on_written(ec); });
      break;
    }
    }
  }

  // A hijacked connection: what the client sends is stdin. Bytes that came with the request
  // (already in buffer_) go first. EOF is a half-close: report it, keep the session for output.
  void read_input() {
    if (closed_) return;
    if (buffer_.size() > 0) {
      auto data = beast::buffers_to_string(buffer_.data());
      buffer_.consume(buffer_.size());
      if (on_input_) on_input_(std::move(data));
    }
    buffer_.reserve(16 * 1024);
    stream_.async_read_some(buffer_.prepare(16 * 1024), [self = this->shared_from_this()](
                                                            error_code ec, std::size_t n) {
      if (ec == net::error::eof || ec == beast::http::error::end_of_stream ||
          ec == net::ssl::error::stream_truncated) {
        if (self->on_input_) self->on_input_(std::string{});
        self->on_input_ = nullptr;
        return;
      }
      if (ec) {
        self->do_close();
        return;
      }
      self->buffer_.commit(n);
      self->read_input();
    });
  }

  void on_written(error_code ec) {
    writing_ = false;
    if (out_.empty()) return;
    auto item = std::move(out_.front());
    out_.pop_front();
    if (item.done) item.done(!ec);
    if (ec || item.kind == out_item::last) {
      do_close();
      return;
    }
    if (item.kind == out_item::header) probe();
    if (item.kind == out_item::upgrade) read_input();
    pump();
  }

  // While streaming, read from the client only to notice that it went away.
  void probe() {
    stream_.async_read_some(net::buffer(probe_buf_),
                            [self = this->shared_from_this()](error_code ec, std::size_t) {
                              if (ec)
                                self->do_close();
                              else
                                self->probe();
                            });
  }

  void do_close() {
    if (closed_) return;
    closed_ = true;
    discard_spool();
    error_code ignored;
    auto& sock = beast::get_lowest_layer(stream_).socket();
    sock.shutdown(net::socket_base::shutdown_both, ignored);
    sock.close(ignored);
    for (auto& item : out_)
      if (item.done) item.done(false);
    out_.clear();
    on_input_ = nullptr;
    auto handlers = std::move(close_handlers_);
    close_handlers_.clear();
    for (auto& f : handlers)
      f();
  }

  Stream stream_;
  server_impl& srv_;
  std::shared_ptr<const router> router_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::file_body>> file_parser_;
  std::string spool_file_; // the body file being written; unlinked unless handed to a handler
  bool keep_alive_ = false;
  bool head_ = false;
  unsigned version_ = 11;
  bool closed_ = false;
  bool writing_ = false;
  bool hijacked_ = false;
  std::function<void(std::string)> on_input_; // hijacked: the client's bytes
  std::deque<out_item> out_;
  std::vector<std::function<void()>> close_handlers_;
  char probe_buf_[512];
};

class server_impl : public server {
public:
  server_impl(server_options opts, std::shared_ptr<const router> r)
      : opts_(std::move(opts)), router_(std::move(r)), tls_ctx_(ssl::context::tls_server) {
    // One io_context per I/O thread, each run by exactly that thread: a connection lives on
    // one of them, so its handlers never need a strand or a lock.
    for (unsigned i = 0; i < opts_.threads; ++i) {
      iocs_.push_back(std::make_unique<net::io_context>(1));
      work_.push_back(net::make_work_guard(*iocs_.back()));
    }
  }

  ~server_impl() override { stop(); }

  caf::error init() {
    if (!opts_.spool_dir.empty()) remove_stale_spool();
    if (opts_.tls)
      if (auto err = init_tls()) return err;
    for (auto& h : opts_.hosts) {
      caf::error err =
          h.rfind("unix://", 0) == 0 ? listen_unix(h.substr(7)) : listen_tcp(h.substr(6));
      if (err) {
        stop();
        return err;
      }
    }
    for (unsigned i = 0; i < opts_.threads; ++i)
      threads_.emplace_back([this, i] { iocs_[i]->run(); });
    return caf::none;
  }

  void stop() override {
    if (stopped_.exchange(true)) return;
    for (auto& acc : unix_acceptors_)
      net::post(acc->get_executor(), [acc] {
        error_code ignored;
        acc->close(ignored);
      });
    for (auto& acc : tcp_acceptors_)
      net::post(acc->get_executor(), [acc] {
        error_code ignored;
        acc->close(ignored);
      });
    {
      std::lock_guard<std::mutex> guard{mu_};
      for (auto& w : sessions_)
        if (auto s = w.lock()) s->close();
    }
    for (auto& w : work_)
      w.reset();
    auto all_stopped = [this] {
      for (auto& ioc : iocs_)
        if (!ioc->stopped()) return false;
      return true;
    };
    for (int i = 0; i < 100 && !all_stopped() && !threads_.empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto& ioc : iocs_)
      ioc->stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
    for (auto& path : unix_paths_)
      ::unlink(path.c_str());
    unix_paths_.clear();
  }

  std::vector<std::string> addresses() const override { return addresses_; }

  const server_options& options() const { return opts_; }

  template <class Message> void common_headers(Message& m) const {
    m.set(http::field::server, opts_.server_header);
    m.set("Api-Version", defaults::api_version);
    m.set("Ostype", "linux");
    if (!opts_.cors_header.empty()) {
      m.set(http::field::access_control_allow_origin, opts_.cors_header);
      m.set(http::field::access_control_allow_headers,
            "Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth");
      m.set(http::field::access_control_allow_methods, "HEAD, GET, POST, DELETE, PUT, OPTIONS");
    }
  }

private:
  // Spool files left by a crash: only one daemon serves a data root, so every "body-*" file in
  // the spool dir is stale at start.
  void remove_stale_spool() {
    auto* d = ::opendir(opts_.spool_dir.c_str());
    if (d == nullptr) return;
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("body-", 0) == 0) ::unlinkat(::dirfd(d), name.c_str(), 0);
    }
    ::closedir(d);
  }

  caf::error init_tls() {
    error_code ec;
    tls_ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    tls_ctx_.use_certificate_chain_file(opts_.tlscert, ec);
    if (ec)
      return make_error(ec::invalid_argument,
                        "could not load tlscert " + opts_.tlscert + ": " + ec.message());
    tls_ctx_.use_private_key_file(opts_.tlskey, ssl::context::pem, ec);
    if (ec)
      return make_error(ec::invalid_argument,
                        "could not load tlskey " + opts_.tlskey + ": " + ec.message());
    if (opts_.tlsverify) {
      tls_ctx_.load_verify_file(opts_.tlscacert, ec);
      if (ec)
        return make_error(ec::invalid_argument,
                          "could not load tlscacert " + opts_.tlscacert + ": " + ec.message());
      tls_ctx_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    } else {
      tls_ctx_.set_verify_mode(ssl::verify_none);
    }
    return caf::none;
  }

  caf::error listen_unix(const std::string& path) {
    auto fail = [&](const std::string& what) {
      return make_error(ec::system, "cannot listen on unix://" + path + ": " + what);
    };
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      // mkdir -p of the socket's directory
      for (size_t i = 1; i <= slash; ++i)
        if (i == slash || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) return fail("the path exists and is not a socket");
      unix_proto::socket probe{*iocs_[0]};
      error_code ec;
      probe.connect(unix_proto::endpoint{path}, ec);
      if (!ec) return fail("another daemon is listening there");
      ::unlink(path.c_str());
    }
    auto acc = std::make_shared<unix_proto::acceptor>(*iocs_[0]);
    error_code ec;
    acc->open(unix_proto{}, ec);
    if (!ec) acc->bind(unix_proto::endpoint{path}, ec);
    if (!ec) acc->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail(ec.message());
    unix_paths_.push_back(path);
    if (::chmod(path.c_str(), 0660) != 0)
      return fail(std::string{"chmod: "} + std::strerror(errno));
    if (auto* gr = ::getgrnam(opts_.group.c_str())) {
      if (::chown(path.c_str(), 0, gr->gr_gid) != 0)
        BLOG(warn, "api") << "could not give unix://" << path << " to group " << opts_.group << ": "
                          << std::strerror(errno);
    } else if (opts_.group_required) {
      return fail("group " + opts_.group + " not found");
    } else {
      BLOG(warn, "api") << "could not change group of unix://" << path << " to " << opts_.group
                        << ": group " << opts_.group << " not found";
    }
    unix_acceptors_.push_back(acc);
    addresses_.push_back("unix://" + path);
    BLOG(info, "api") << "API listen on " << path;
    accept_unix(acc);
    return caf::none;
  }

  caf::error listen_tcp(const std::string& hostport) {
    auto colon = hostport.rfind(':');
    auto host = hostport.substr(0, colon);
    auto port = static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1)));
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    auto fail = [&](const std::string& what) {
      return make_error(ec::system, "cannot listen on tcp://" + hostport + ": " + what);
    };
    error_code ec;
    auto addr = net::ip::make_address(host, ec);
    if (ec) {
      tcp::resolver resolver{*iocs_[0]};
      auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec || results.empty()) return fail("cannot resolve " + host);
      addr = results.begin()->endpoint().address();
    }
    tcp::endpoint ep{addr, port};
    auto acc = std::make_shared<tcp::acceptor>(*iocs_[0]);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail(ec.message());
    auto bound = acc->local_endpoint(ec);
    std::string shown = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                 : bound.address().to_string()) +
                        ":" + std::to_string(bound.port());
    tcp_acceptors_.push_back(acc);
    addresses_.push_back("tcp://" + shown);
    BLOG(info, "api") << "API listen on " << shown;
    if (!opts_.tlsverify)
      BLOG(warn, "api") << "binding to tcp://" << shown << " without --tlsverify is insecure: "
                        << "anyone who can reach this address has root access to this machine";
    accept_tcp(acc);
    return caf::none;
  }

  net::io_context& next_ioc() {
    auto& ioc = *iocs_[next_ioc_];
    next_ioc_ = (next_ioc_ + 1) % iocs_.size();
    return ioc;
  }

  template <class S> void track(const std::shared_ptr<S>& s) {
    std::lock_guard<std::mutex> guard{mu_};
    if (sessions_.size() > 64 && sessions_.size() >= 2 * live_hint_) {
      sessions_.erase(
          std::remove_if(sessions_.begin(), sessions_.end(), [](auto& w) { return w.expired(); }),
          sessions_.end());
      live_hint_ = sessions_.size();
    }
    sessions_.push_back(s);
  }

  void accept_unix(std::shared_ptr<unix_proto::acceptor> acc) {
    acc->async_accept(next_ioc(), [this, acc](error_code ec, unix_proto::socket s) {
      if (!acc->is_open() || stopped_) return;
      if (!ec) {
        auto sess =
            std::make_shared<session<unix_stream>>(unix_stream{std::move(s)}, *this, router_);
        track(sess);
        net::dispatch(sess->stream().get_executor(), [sess] { sess->run(); });
      }
      accept_unix(acc);
    });
  }

  void accept_tcp(std::shared_ptr<tcp::acceptor> acc) {
    acc->async_accept(next_ioc(), [this, acc](error_code ec, tcp::socket s) {
      if (!acc->is_open() || stopped_) return;
      if (!ec) {
        s.set_option(tcp::no_delay(true), ec);
        if (opts_.tls) {
          auto sess = std::make_shared<session<tls_stream>>(
              tls_stream{tcp_stream{std::move(s)}, tls_ctx_}, *this, router_);
          track(sess);
          net::dispatch(sess->stream().get_executor(), [sess] {
            beast::get_lowest_layer(sess->stream()).expires_after(defaults::tls_handshake_timeout);
            sess->stream().async_handshake(ssl::stream_base::server, [sess](error_code ec) {
              if (ec) {
                BLOG(debug, "api") << "TLS handshake failed: " << ec.message();
                sess->close();
                return;
              }
              sess->run();
            });
          });
        } else {
          auto sess =
              std::make_shared<session<tcp_stream>>(tcp_stream{std::move(s)}, *this, router_);
          track(sess);
          net::dispatch(sess->stream().get_executor(), [sess] { sess->run(); });
        }
      }
      accept_tcp(acc);
    });
  }

  server_options opts_;
  std::shared_ptr<const router> router_;
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  size_t next_ioc_ = 0; // touched only by the acceptors' thread
  ssl::context tls_ctx_;
  std::vector<std::shared_ptr<unix_proto::acceptor>> unix_acceptors_;
  std::vector<std::shared_ptr<tcp::acceptor>> tcp_acceptors_;
  std::vector<std::string> unix_paths_;
  std::vector<std::string> addresses_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::vector<std::weak_ptr<session_base>> sessions_;
  size_t live_hint_ = 64;
};

template <class Stream> template <class Message> void session<Stream>::common_headers(Message& m) {
  srv_.common_headers(m);
}

template <class Stream> const std::string& session<Stream>::spool_dir() const {
  return srv_.options().spool_dir;
}

struct api_state {
  std::shared_ptr<server> srv;
  static inline const char* name = "api";
};

api_actor::behavior_type api_impl(api_actor::stateful_pointer<api_state> self,
                                  std::shared_ptr<server> srv) {
  self->state.srv = std::move(srv);
  return {
      [self](atom::shutdown) {
        BLOG(info, "api") << "closing API listeners";
        self->state.srv->stop();
        return caf::ok_atom_v;
      },
  };
}

} // namespace

caf::expected<std::shared_ptr<server>> server::start(server_options opts,
                                                     std::shared_ptr<const router> r) {
  if (opts.hosts.empty()) return make_error(ec::invalid_argument, "no API listener configured");
  if (opts.threads == 0) opts.threads = 1;
  auto impl = std::make_shared<server_impl>(std::move(opts), std::move(r));
  if (auto err = impl->init()) return err;
  return std::shared_ptr<server>{impl};
}

api_actor spawn_api(caf::actor_system& sys, std::shared_ptr<server> srv) {
  return sys.spawn<caf::detached>(api_impl, std::move(srv));
}

} // namespace berth::api
