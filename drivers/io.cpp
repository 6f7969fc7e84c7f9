// Byte streams (readers, writers, hashing, decompression) and crash-safe file writes.
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>
#include <zstd.h>

#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace berth::io {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr const char hex_digits[] = "0123456789abcdef";

std::string to_hex(const unsigned char* p, std::size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += hex_digits[p[i] >> 4];
    out += hex_digits[p[i] & 15];
  }
  return out;
}

} // namespace

void unique_fd::reset(int f) {
  if (fd >= 0) ::close(fd);
  fd = f;
}

caf::error sys_error(const std::string& what, int err) {
  return make_error(ec::system, what + ": " + std::strerror(err));
}

caf::expected<std::size_t> receive_fds(int sock, void* data, std::size_t len,
                                       std::vector<unique_fd>& fds, std::size_t max_fds,
                                       int flags) {
  iovec iov{data, len};
  std::vector<char> control(CMSG_SPACE(max_fds * sizeof(int)));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags)) < 0 && errno == EINTR) {
  }
  if (n < 0) return sys_error("receive fds");
  fds.clear();
  for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
        fds.emplace_back(fd);
      }
  return static_cast<std::size_t>(n);
}

caf::error receive_fd(int sock, unique_fd& out) {
  char byte;
  std::vector<unique_fd> fds;
  auto n = receive_fds(sock, &byte, 1, fds, 1);
  if (!n) return sys_error("receive an fd");
  if (fds.empty()) return make_error(ec::system, "no fd received");
  out = std::move(fds.front());
  return {};
}

// -- sha256 ---------------------------------------------------------------------------------------

struct sha256::impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~impl() { EVP_MD_CTX_free(ctx); }
};

sha256::sha256() : p_(std::make_unique<impl>()) {
  EVP_DigestInit_ex(p_->ctx, EVP_sha256(), nullptr);
}

sha256::~sha256() = default;

void sha256::update(const void* data, std::size_t len) {
  EVP_DigestUpdate(p_->ctx, data, len);
}

std::string sha256::digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(p_->ctx, md, &n);
  return "sha256:" + to_hex(md, n);
}

std::string digest_of(std::string_view data) {
  sha256 h;
  h.update(data.data(), data.size());
  return h.digest();
}

bool valid_digest(std::string_view d) {
  if (d.size() != 71 || d.substr(0, 7) != "sha256:") return false;
  for (auto c : d.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string digest_hex(std::string_view d) {
  auto pos = d.find(':');
  return std::string{pos == std::string_view::npos ? d : d.substr(pos + 1)};
}

// -- readers --------------------------------------------------------------------------------------

reader string_reader(std::string data) {
  auto st = std::make_shared<std::pair<std::string, std::size_t>>(std::move(data), 0);
  return [st](char* buf, std::size_t len) -> caf::expected<std::size_t> {
    auto n = std::min(len, st->first.size() - st->second);
    std::memcpy(buf, st->first.data() + st->second, n);
    st->second += n;
    return n;
  };
}

reader fd_reader(int fd) {
  return [fd](char* buf, std::size_t len) -> caf::expected<std::size_t> {
    for (;;) {
      auto n = ::read(fd, buf, len);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return sys_error("read");
    }
  };
}

reader timed(reader src, stage_clock& clock) {
  return [src = std::move(src), &clock](char* buf, std::size_t len) {
    auto t0 = now_ns();
    auto r = src(buf, len);
    clock.ns += now_ns() - t0;
    return r;
  };
}

reader hashing(reader src, sha256& hash) {
  return [src = std::move(src), &hash](char* buf, std::size_t len) {
    auto r = src(buf, len);
    if (r && *r > 0) hash.update(buf, *r);
    return r;
  };
}

reader verifying(reader src, std::string digest, int64_t size, std::string what,
                 stage_clock* hash_clock) {
  struct state {
    reader src;
    std::string digest;
    int64_t size;
    std::string what;
    stage_clock* clock;
    sha256 hash;
    int64_t count = 0;
    bool done = false;
  };
  auto st = std::make_shared<state>();
  st->src = std::move(src);
  st->digest = std::move(digest);
  st->size = size;
  st->what = std::move(what);
  st->clock = hash_clock;
  return [st](char* buf, std::size_t len) -> caf::expected<std::size_t> {
    if (st->done) return std::size_t{0};
    auto r = st->src(buf, len);
    if (!r) return r;
    auto t0 = st->clock ? now_ns() : 0;
    if (*r > 0) {
      st->hash.update(buf, *r);
      st->count += static_cast<int64_t>(*r);
      if (st->size >= 0 && st->count > st->size) {
        st->done = true;
        return make_error(ec::unspecified, st->what + ": more than the " +
                                               std::to_string(st->size) + " bytes expected");
      }
    } else {
      st->done = true;
      auto got = st->hash.digest();
      if (st->size >= 0 && st->count != st->size)
        return make_error(ec::unspecified, st->what + ": expected " + std::to_string(st->size) +
                                               " bytes, got " + std::to_string(st->count));
      if (got != st->digest)
        return make_error(ec::unspecified, st->what + ": expected " + st->digest + ", got " + got);
    }
    if (st->clock) st->clock->ns += now_ns() - t0;
    return r;
  };
}

namespace {

constexpr std::size_t in_chunk = 128 * 1024;

struct decompressor {
  enum kind_t { unknown, plain, gzip, zstd } kind = unknown;
  reader src;
  stage_clock* clock = nullptr;
  std::vector<char> in;
  std::size_t in_pos = 0;
  std::size_t in_len = 0;
  bool src_eof = false;
  bool finished = false;
  bool member_done = false;
  z_stream z{};
  bool z_init = false;
  ZSTD_DStream* zs = nullptr;

  ~decompressor() {
    if (z_init) inflateEnd(&z);
    if (zs) ZSTD_freeDStream(zs);
  }

  caf::error fill() {
    if (in_pos < in_len || src_eof) return {};
    auto r = src(in.data(), in.size());
    if (!r) return r.error();
    in_pos = 0;
    in_len = *r;
    if (*r == 0) src_eof = true;
    return {};
  }

  caf::error detect() {
    in.resize(in_chunk);
    // read at least 4 bytes (or to EOF) to see the magic
    while (in_len < 4 && !src_eof) {
      auto r = src(in.data() + in_len, in.size() - in_len);
      if (!r) return r.error();
      if (*r == 0) src_eof = true;
      in_len += *r;
    }
    auto* p = reinterpret_cast<const unsigned char*>(in.data());
    if (in_len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
      kind = gzip;
      if (inflateInit2(&z, 15 + 32) != Z_OK)
        return make_error(ec::unspecified, "gzip: cannot initialise zlib");
      z_init = true;
    } else if (in_len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
      kind = zstd;
      zs = ZSTD_createDStream();
      ZSTD_initDStream(zs);
    } else {
      kind = plain;
    }
    return {};
  }

  caf::expected<std::size_t> read(char* buf, std::size_t len) {
    if (kind == unknown)
      if (auto err = detect()) return err;
    if (kind == plain) {
      if (in_pos < in_len) {
        auto n = std::min(len, in_len - in_pos);
        std::memcpy(buf, in.data() + in_pos, n);
        in_pos += n;
        return n;
      }
      if (src_eof) return std::size_t{0};
      return src(buf, len);
    }
    if (finished) return std::size_t{0};
    for (;;) {
      if (auto err = fill()) return err;
      bool no_more = src_eof && in_pos >= in_len;
      if (member_done) {
        // a gzip member or zstd frame ended: the end of input, or another member follows
        // (pigz and some registries concatenate members)
        if (no_more) {
          finished = true;
          return std::size_t{0};
        }
        if (kind == gzip) inflateReset(&z);
        member_done = false;
      }
      auto t0 = clock ? now_ns() : 0;
      std::size_t produced = 0;
      if (kind == gzip) {
        auto cap = std::min<std::size_t>(len, 1u << 30);
        z.next_in = reinterpret_cast<Bytef*>(in.data() + in_pos);
        z.avail_in = static_cast<uInt>(in_len - in_pos);
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = static_cast<uInt>(cap);
        auto rc = inflate(&z, Z_NO_FLUSH);
        in_pos = in_len - z.avail_in;
        produced = cap - z.avail_out;
        if (clock) clock->ns += now_ns() - t0;
        if (rc == Z_STREAM_END)
          member_done = true;
        else if (rc == Z_BUF_ERROR && no_more)
          return make_error(ec::unspecified, "gzip: unexpected end of compressed layer");
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
          return make_error(ec::unspecified, std::string{"gzip: "} + (z.msg ? z.msg : "bad data"));
      } else {
        ZSTD_inBuffer zin{in.data() + in_pos, in_len - in_pos, 0};
        ZSTD_outBuffer zout{buf, len, 0};
        auto rc = ZSTD_decompressStream(zs, &zout, &zin);
        in_pos += zin.pos;
        produced = zout.pos;
        if (clock) clock->ns += now_ns() - t0;
        if (ZSTD_isError(rc))
          return make_error(ec::unspecified, std::string{"zstd: "} + ZSTD_getErrorName(rc));
        if (rc == 0)
          member_done = true;
        else if (no_more && produced == 0)
          return make_error(ec::unspecified, "zstd: unexpected end of compressed layer");
      }
      if (produced > 0) return produced;
    }
  }
};

} // namespace

reader decompress(reader src, stage_clock* clock) {
  auto st = std::make_shared<decompressor>();
  st->src = std::move(src);
  st->clock = clock;
  return [st](char* buf, std::size_t len) { return st->read(buf, len); };
}

caf::expected<std::string> read_all(reader src, std::size_t limit) {
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    auto r = src(buf, sizeof buf);
    if (!r) return r.error();
    if (*r == 0) return out;
    if (out.size() + *r > limit)
      return make_error(ec::invalid_argument,
                        "content exceeds the limit of " + std::to_string(limit) + " bytes");
    out.append(buf, *r);
  }
}

// -- files ----------------------------------------------------------------------------------------

caf::error sync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + path);
  ::fsync(fd);
  ::close(fd);
  return {};
}

namespace {

// One thread for every deferred fsync of the process, started at the first one. It drains its
// queue before the process exits (the static's destructor).
class deferred_syncer {
public:
  ~deferred_syncer() {
    {
      std::lock_guard<std::mutex> guard{mu_};
      stop_ = true;
    }
    work_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void add(const std::string& path) {
    std::lock_guard<std::mutex> guard{mu_};
    if (!queued_.insert(path).second) return;
    queue_.push_back(path);
    ++added_;
    if (!thread_.joinable()) thread_ = std::thread{[this] { run(); }};
    work_.notify_one();
  }

  void wait() {
    std::unique_lock<std::mutex> lock{mu_};
    auto target = added_;
    done_cv_.wait(lock, [&] { return done_ >= target; });
  }

private:
  void run() {
    std::unique_lock<std::mutex> lock{mu_};
    while (true) {
      work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return; // stopping, and nothing left
      auto path = std::move(queue_.front());
      queue_.pop_front();
      queued_.erase(path); // a write from now on queues it again
      lock.unlock();
      sync_file(path);
      lock.lock();
      ++done_;
      done_cv_.notify_all();
    }
  }

  static void sync_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return; // removed meanwhile
    ::fsync(fd);
    ::close(fd);
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) sync_dir(path.substr(0, slash));
  }

  std::mutex mu_;
  std::condition_variable work_, done_cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> queued_;
  uint64_t added_ = 0, done_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

deferred_syncer& syncer() {
  static deferred_syncer instance;
  return instance;
}

} // namespace

void sync_later(const std::string& path) {
  syncer().add(path);
}

void sync_pending() {
  syncer().wait();
}

namespace {

// Every byte of `data` to `fd`; errno is kept for the caller's sys_error.
bool write_fully(int fd, std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

} // namespace

caf::error write_file_in_place(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + path);
  auto err = write_fully(fd, data) ? caf::error{} : sys_error("write " + path);
  ::close(fd);
  return err;
}

caf::error write_file_atomic(const std::string& path, std::string_view data, mode_t mode,
                             bool durable) {
  auto slash = path.rfind('/');
  auto dir = slash == std::string::npos ? std::string{"."} : path.substr(0, slash);
  auto tmp = path + ".tmp-" + random_hex(6);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return sys_error("create " + tmp);
  if (!write_fully(fd, data)) {
    auto err = sys_error("write " + tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return err;
  }
  if (::fchmod(fd, mode) != 0 || (durable && ::fsync(fd) != 0)) {
    auto err = sys_error("sync " + tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return err;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = sys_error("rename " + tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  return durable ? sync_dir(dir) : caf::error{};
}

caf::expected<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(ec::not_found, "no such file: " + path);
    return sys_error("open " + path);
  }
  std::string out;
  char buf[16 * 1024];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = sys_error("read " + path);
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

caf::error mkdir_all(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    auto next = path.find('/', pos + 1);
    cur = path.substr(0, next);
    pos = next;
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return sys_error("mkdir " + cur);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ec::system, "mkdir " + path + ": not a directory");
  return {};
}

namespace {

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP || type == FTW_D)
    ::rmdir(path);
  else
    ::unlink(path);
  return 0;
}

} // namespace

caf::error remove_all(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("remove " + path);
    return {};
  }
  ::nftw(path.c_str(), remove_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (::lstat(path.c_str(), &st) == 0) return make_error(ec::system, "remove " + path + ": busy");
  return {};
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    // fall back to the urandom device; RAND_bytes only fails when OpenSSL cannot seed
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      [[maybe_unused]] auto n = ::read(fd, buf.data(), buf.size());
      ::close(fd);
    }
  }
  return to_hex(buf.data(), buf.size());
}

} // namespace berth::io
