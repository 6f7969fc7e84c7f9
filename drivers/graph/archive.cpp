// Layer tars: streaming extraction with libarchive (confined to the layer root with openat2
// RESOLVE_BENEATH, OCI whiteouts, bomb limits), the tar-split record that lets rebuild_tar
// reproduce a layer's exact tar bytes, and write_tar (a directory tree as a pax tar).
//
// Tar-split record (file at `split_path`, written atomically):
//   "BERTHSPLIT1\n"
//   u64le  length of the deflated table
//   table  (zlib deflate): u64 count, then per payload reference:
//            u8 kind (1 = read back from the file at `path`, 2 = stored inline), u64 size,
//            u64 length, then the path (kind 1) or the payload bytes (kind 2)
//   stream (zlib deflate, to the end of the file): segments
//            'R' u64 length, raw tar bytes   (headers, pax/GNU metadata, padding, trailer)
//            'F' u64 index into the table    (one regular file's payload)
//            'E'                             (end)
// Payload references are keyed by the offset of their entry's first header, which is also what
// libarchive reports as the entry's header position; that is how a reference learns its path.
#include "drivers/graph/archive.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace berth::graph {

namespace {

using io::sys_error;
using io::unique_fd;

constexpr std::size_t block = 512;
constexpr std::size_t io_chunk = 128 * 1024;
constexpr std::size_t raw_flush = 64 * 1024;
constexpr std::size_t max_meta_header = 16u << 20; // pax / GNU long-name payloads we parse
constexpr char split_magic[] = "BERTHSPLIT1\n";
constexpr std::size_t split_magic_len = sizeof(split_magic) - 1;

// -- small helpers -------------------------------------------------------------------------------

caf::error bad_entry(const std::string& entry, const std::string& why) {
  return make_error(ec::invalid_argument, "layer entry \"" + entry + "\": " + why);
}

std::string proc_path(int dirfd, const std::string& name) {
  std::string p = "/proc/self/fd/" + std::to_string(dirfd);
  if (!name.empty()) p += "/" + name;
  return p;
}

// Opens `rel` (relative, no "..") beneath `rootfd`: symlinks may be followed only while they stay
// inside root (`in_root`: as if rootfd were the root, as chroot does). Without openat2 (kernel <
// 5.6), no symlink is followed at all.
int open_beneath(int rootfd, const std::string& rel, int flags, bool follow_last = true,
                 bool in_root = false) {
  if (rel.empty()) return ::openat(rootfd, ".", flags | O_CLOEXEC);
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
  how.resolve = (in_root ? RESOLVE_IN_ROOT : RESOLVE_BENEATH) | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0; attempt < 8; ++attempt) {
    long fd = ::syscall(SYS_openat2, rootfd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EAGAIN) continue;
    if (errno != ENOSYS) return -1;
    break;
  }
  // Fallback: walk component by component, refusing every symlink.
  int cur = ::openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0) return -1;
  std::size_t start = 0;
  while (true) {
    auto slash = rel.find('/', start);
    bool last = slash == std::string::npos;
    auto comp = rel.substr(start, last ? std::string::npos : slash - start);
    int fl =
        last ? (flags | O_CLOEXEC | O_NOFOLLOW) : (O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int next = ::openat(cur, comp.c_str(), fl);
    int err = errno;
    ::close(cur);
    if (next < 0) {
      errno = (err == ELOOP || (err == ENOTDIR && !last)) ? EXDEV : err;
      return -1;
    }
    if (last) return next;
    cur = next;
    start = slash + 1;
  }
}

// Removes `name` in `dirfd` recursively without following symlinks; missing is fine.
caf::error remove_at(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? caf::error{} : sys_error("stat " + name);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT)
      return sys_error("unlink " + name);
    return {};
  }
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + name);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return sys_error("opendir " + name);
  }
  std::vector<std::string> names;
  while (auto* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      names.emplace_back(e->d_name);
  caf::error err;
  for (auto& n : names)
    if ((err = remove_at(::dirfd(d), n))) break;
  ::closedir(d);
  if (err) return err;
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return sys_error("rmdir " + name);
  return {};
}

// Splits a tar member name into clean components; "" or "." is the root (no components).
// `in_root`: as in a chroot, a leading "/" is the root and ".." stops there.
caf::expected<std::vector<std::string>> clean_path(const std::string& name,
                                                   const std::string& entry, bool in_root = false) {
  if (!in_root && !name.empty() && name[0] == '/') return bad_entry(entry, "absolute path refused");
  std::vector<std::string> comps;
  std::size_t start = 0;
  while (start <= name.size()) {
    auto slash = name.find('/', start);
    auto end = slash == std::string::npos ? name.size() : slash;
    auto comp = name.substr(start, end - start);
    if (comp == ".." && in_root) {
      if (!comps.empty()) comps.pop_back();
    } else if (comp == "..") {
      return bad_entry(entry, "\"..\" path component refused");
    } else if (!comp.empty() && comp != ".") {
      comps.push_back(std::move(comp));
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return comps;
}

std::string join(const std::vector<std::string>& comps, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += comps[i];
  }
  return out;
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

// -- zlib streams ---------------------------------------------------------------------------------

class deflater {
public:
  deflater() { ok_ = ::deflateInit(&zs_, Z_DEFAULT_COMPRESSION) == Z_OK; }
  ~deflater() {
    if (ok_) ::deflateEnd(&zs_);
  }
  deflater(const deflater&) = delete;
  deflater& operator=(const deflater&) = delete;
  void write(const void* data, std::size_t len) { run(data, len, Z_NO_FLUSH); }
  std::string finish() {
    run(nullptr, 0, Z_FINISH);
    return std::move(out_);
  }
  bool ok() const { return ok_; }

private:
  void run(const void* data, std::size_t len, int flush) {
    if (!ok_) return;
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<void*>(data));
    zs_.avail_in = static_cast<uInt>(len);
    char buf[16384];
    do {
      zs_.next_out = reinterpret_cast<Bytef*>(buf);
      zs_.avail_out = sizeof buf;
      int r = ::deflate(&zs_, flush);
      if (r == Z_STREAM_ERROR) {
        ok_ = false;
        return;
      }
      out_.append(buf, sizeof buf - zs_.avail_out);
    } while (zs_.avail_out == 0 || (flush == Z_FINISH && zs_.avail_in > 0));
  }
  z_stream zs_{};
  bool ok_ = false;
  std::string out_;
};

class inflater {
public:
  inflater(const char* data, std::size_t len) : buf_(io_chunk, '\0') {
    ok_ = ::inflateInit(&zs_) == Z_OK;
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    zs_.avail_in = static_cast<uInt>(len);
  }
  ~inflater() {
    if (ok_) ::inflateEnd(&zs_);
  }
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;
  // Exactly `n` bytes into `dst`, or false (truncated or corrupt).
  bool read(char* dst, std::size_t n) {
    while (n > 0) {
      if (pos_ == avail_ && !fill()) return false;
      auto k = std::min(n, avail_ - pos_);
      std::memcpy(dst, buf_.data() + pos_, k);
      pos_ += k;
      dst += k;
      n -= k;
    }
    return true;
  }
  std::size_t consumed_input() const { return zs_.total_in; }

private:
  bool fill() {
    if (!ok_ || end_) return false;
    zs_.next_out = reinterpret_cast<Bytef*>(buf_.data());
    zs_.avail_out = static_cast<uInt>(buf_.size());
    int r = ::inflate(&zs_, Z_NO_FLUSH);
    if (r == Z_STREAM_END)
      end_ = true;
    else if (r != Z_OK)
      return false;
    pos_ = 0;
    avail_ = buf_.size() - zs_.avail_out;
    return avail_ > 0 || (!end_ && fill());
  }
  z_stream zs_{};
  bool ok_ = false;
  bool end_ = false;
  std::string buf_;
  std::size_t pos_ = 0;
  std::size_t avail_ = 0;
};

// -- tar-split recorder ---------------------------------------------------------------------------

// Sees every raw byte libarchive reads, parses the tar block structure and records it.
class split_recorder {
public:
  struct ref {
    uint64_t size = 0;
    int kind = 0; // 0 = unresolved, 1 = path, 2 = inline
    std::string path;
    std::string data;
  };

  std::vector<ref> refs;
  std::unordered_map<int64_t, std::size_t> ref_at; // entry start offset -> ref index
  std::map<std::string, std::size_t> live;         // path -> ref index (kind 1)

  void feed(const char* p, std::size_t n) {
    while (n > 0) {
      std::size_t k = 0;
      switch (state_) {
      case st::header:
        if (fill_ == 0) hdr_start_ = pos_;
        k = std::min(n, block - fill_);
        std::memcpy(hdr_ + fill_, p, k);
        fill_ += k;
        if (fill_ == block) {
          fill_ = 0;
          on_header();
        }
        break;
      case st::ext_sparse:
        k = std::min(n, block - fill_);
        std::memcpy(hdr_ + fill_, p, k);
        fill_ += k;
        if (fill_ == block) {
          fill_ = 0;
          raw(hdr_, block);
          if (hdr_[504] == 0) begin_payload(payload_raw_);
        }
        break;
      case st::payload:
        k = static_cast<std::size_t>(std::min<uint64_t>(n, left_));
        if (ref_idx_) {
          // nothing to store: the bytes are in the extracted file
        } else if (meta_) {
          if (meta_buf_.size() < max_meta_header) meta_buf_.append(p, k);
          raw(p, k);
        } else {
          raw(p, k);
        }
        left_ -= k;
        if (left_ == 0) end_payload();
        break;
      case st::padding:
        k = static_cast<std::size_t>(std::min<uint64_t>(n, left_));
        raw(p, k);
        left_ -= k;
        if (left_ == 0) state_ = st::header;
        break;
      case st::trailer:
        k = n;
        raw(p, k);
        break;
      }
      pos_ += static_cast<int64_t>(k);
      p += k;
      n -= k;
    }
  }

  // Ends the stream; a partial header block is kept as raw bytes.
  void close() {
    if ((state_ == st::header || state_ == st::ext_sparse) && fill_ > 0) raw(hdr_, fill_);
    fill_ = 0;
    flush_raw();
    char e = 'E';
    main_.write(&e, 1);
  }

  // Before `path` (and everything under it) is replaced or deleted: keep the payloads this tar
  // wrote there, since they can no longer be read back from the tree.
  caf::error capture_under(int rootfd, const std::string& path) {
    auto it = live.lower_bound(path);
    while (it != live.end() &&
           (it->first == path ||
            (it->first.size() > path.size() && it->first.compare(0, path.size(), path) == 0 &&
             it->first[path.size()] == '/'))) {
      auto& r = refs[it->second];
      unique_fd fd{open_beneath(rootfd, it->first, O_RDONLY, false)};
      if (!fd) return sys_error("tar-split: open " + it->first);
      r.data.assign(r.size, '\0');
      std::size_t got = 0;
      while (got < r.size) {
        auto k = ::read(fd.fd, r.data.data() + got, r.size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return sys_error("tar-split: read " + it->first);
        got += static_cast<std::size_t>(k);
      }
      r.kind = 2;
      r.path.clear();
      it = live.erase(it);
    }
    return {};
  }

  caf::error finish(const std::string& split_path) {
    std::string table;
    put_u64(table, refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) {
      auto& r = refs[i];
      if (r.kind == 0)
        return make_error(ec::unspecified, "tar-split: the payload at entry #" + std::to_string(i) +
                                               " was not mapped to a file");
      table.push_back(static_cast<char>(r.kind));
      put_u64(table, r.size);
      const auto& body = r.kind == 1 ? r.path : r.data;
      put_u64(table, body.size());
      table += body;
    }
    deflater tz;
    tz.write(table.data(), table.size());
    auto tdef = tz.finish();
    auto mdef = main_.finish();
    if (!tz.ok() || !main_.ok()) return make_error(ec::unspecified, "tar-split: deflate failed");
    std::string file(split_magic, split_magic_len);
    put_u64(file, tdef.size());
    file += tdef;
    file += mdef;
    return io::write_file_atomic(split_path, file, 0600);
  }

private:
  enum class st { header, ext_sparse, payload, padding, trailer };

  void raw(const void* p, std::size_t n) {
    raw_.append(static_cast<const char*>(p), n);
    if (raw_.size() >= raw_flush) flush_raw();
  }
  void flush_raw() {
    if (raw_.empty()) return;
    std::string seg(1, 'R');
    put_u64(seg, raw_.size());
    main_.write(seg.data(), seg.size());
    main_.write(raw_.data(), raw_.size());
    raw_.clear();
  }

  static bool all_zero(const char* p, std::size_t n) {
    return std::all_of(p, p + n, [](char c) { return c == 0; });
  }

  static std::optional<uint64_t> parse_size(const unsigned char* f, std::size_t n) {
    if (f[0] & 0x80) { // base-256
      if (f[0] == 0xff) return std::nullopt;
      uint64_t v = f[0] & 0x7f;
      for (std::size_t i = 1; i < n; ++i) {
        if (v >> 55) return std::nullopt;
        v = (v << 8) | f[i];
      }
      return v;
    }
    std::size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == 0))
      ++i;
    uint64_t v = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; ++i)
      v = (v << 3) | static_cast<uint64_t>(f[i] - '0');
    return v;
  }

  void on_header() {
    if (all_zero(hdr_, block)) { // end of archive: everything after is kept raw
      raw(hdr_, block);
      state_ = st::trailer;
      return;
    }
    if (entry_start_ < 0) entry_start_ = hdr_start_;
    char type = hdr_[156];
    auto size = parse_size(reinterpret_cast<unsigned char*>(hdr_) + 124, 12).value_or(0);
    // Headers libarchive folds into the entry that follows them.
    bool ext = type == 'x' || type == 'g' || type == 'X' || type == 'L' || type == 'K' ||
               type == 'V' || type == 'A';
    raw(hdr_, block);
    meta_ = ext;
    meta_type_ = type;
    meta_buf_.clear();
    ref_idx_.reset();
    if (!ext) {
      if (pax_size_) size = *pax_size_;
      bool regular = type == '0' || type == '\0' || type == '7';
      if (regular && !pax_sparse_ && size > 0) {
        flush_raw();
        auto idx = refs.size();
        refs.push_back(ref{size, 0, {}, {}});
        ref_at[entry_start_] = idx;
        std::string seg(1, 'F');
        put_u64(seg, idx);
        main_.write(seg.data(), seg.size());
        ref_idx_ = idx;
      }
      pax_size_.reset();
      pax_sparse_ = false;
      entry_start_ = -1;
      if (type == 'S' && hdr_[482] != 0) { // old GNU sparse: extension headers follow
        payload_raw_ = size;
        state_ = st::ext_sparse;
        return;
      }
    }
    begin_payload(size);
  }

  void begin_payload(uint64_t size) {
    left_ = size;
    pad_ = (block - size % block) % block;
    if (size == 0)
      end_payload();
    else
      state_ = st::payload;
  }

  void end_payload() {
    if (meta_ && meta_type_ == 'x') parse_pax(meta_buf_);
    meta_ = false;
    ref_idx_.reset();
    left_ = pad_;
    state_ = left_ ? st::padding : st::header;
  }

  void parse_pax(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t len = 0, j = i;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9')
        len = len * 10 + static_cast<std::size_t>(s[j++] - '0');
      if (j >= s.size() || s[j] != ' ' || len == 0 || i + len > s.size()) return;
      auto rec = s.substr(j + 1, i + len - j - 1);
      if (!rec.empty() && rec.back() == '\n') rec.pop_back();
      auto eq = rec.find('=');
      if (eq != std::string::npos) {
        auto key = rec.substr(0, eq);
        if (key == "size") {
          uint64_t v = 0;
          for (auto c : rec.substr(eq + 1))
            if (c >= '0' && c <= '9') v = v * 10 + static_cast<uint64_t>(c - '0');
          pax_size_ = v;
        } else if (key.rfind("GNU.sparse.", 0) == 0) {
          pax_sparse_ = true;
        }
      }
      i += len;
    }
  }

  st state_ = st::header;
  char hdr_[block];
  std::size_t fill_ = 0;
  uint64_t left_ = 0;
  uint64_t pad_ = 0;
  uint64_t payload_raw_ = 0;
  bool meta_ = false;
  char meta_type_ = 0;
  std::string meta_buf_;
  std::optional<std::size_t> ref_idx_;
  std::optional<uint64_t> pax_size_;
  bool pax_sparse_ = false;
  int64_t pos_ = 0;
  int64_t hdr_start_ = 0;
  int64_t entry_start_ = -1;
  std::string raw_;
  deflater main_;
};

// -- extraction -----------------------------------------------------------------------------------

struct read_ctx {
  io::reader src;
  split_recorder* split = nullptr;
  std::string buf = std::string(io_chunk, '\0');
  caf::error err;
  bool eof = false;
};

la_ssize_t read_cb(struct archive* a, void* p, const void** out) {
  auto* ctx = static_cast<read_ctx*>(p);
  *out = ctx->buf.data();
  if (ctx->eof) return 0;
  auto n = ctx->src(ctx->buf.data(), ctx->buf.size());
  if (!n) {
    ctx->err = n.error();
    archive_set_error(a, EIO, "layer stream read failed");
    return -1;
  }
  if (*n == 0) ctx->eof = true;
  if (ctx->split && *n > 0) ctx->split->feed(ctx->buf.data(), *n);
  return static_cast<la_ssize_t>(*n);
}

struct archive_reader {
  struct archive* a = archive_read_new();
  ~archive_reader() { archive_read_free(a); }
};

// Small regular files are created, written and given their metadata by worker threads while the
// main thread parses on: file creation dominates extraction time on some filesystems. A task owns
// copies of everything it needs (never a libarchive object). The extractor waits for all tasks
// (barrier) before any entry that could touch a path a task is still writing.
constexpr std::size_t async_file_max = 1u << 20;     // payload bytes of a file handed off
constexpr std::size_t async_queue_max = 64;          // queued tasks
constexpr std::size_t async_queue_bytes = 16u << 20; // queued payload bytes
constexpr unsigned async_workers = 2;

struct file_task {
  uint64_t seq = 0;
  unique_fd dfd; // the parent directory (O_PATH)
  std::string base;
  std::string name; // the tar member name, for errors
  int64_t declared = 0;
  std::vector<std::pair<int64_t, std::string>> chunks; // offset, bytes
  std::size_t bytes = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  timespec ts[2]{};
};

class file_pool {
public:
  explicit file_pool(bool root) : root_(root) {}
  file_pool(const file_pool&) = delete;
  file_pool& operator=(const file_pool&) = delete;
  ~file_pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

  // Whether `path` or one of its parents is still being written by a task.
  bool conflicts(const std::string& path) const {
    if (pending_.empty()) return false;
    std::string p = path;
    while (true) {
      if (pending_.count(p)) return true;
      auto slash = p.rfind('/');
      if (slash == std::string::npos) return false;
      p.resize(slash);
    }
  }

  bool failed() const { return failed_.load(std::memory_order_acquire); }

  void submit(file_task t, const std::string& path) {
    pending_.insert(path);
    std::unique_lock<std::mutex> lk(mu_);
    t.seq = next_seq_++;
    if (threads_.empty()) start();
    if (threads_.empty()) { // no thread could be started: run it here
      lk.unlock();
      auto e = run(t);
      lk.lock();
      record(std::move(e), t.seq);
      return;
    }
    space_cv_.wait(lk, [&] {
      return queue_.empty() ||
             (queue_.size() < async_queue_max && queued_bytes_ + t.bytes <= async_queue_bytes);
    });
    queued_bytes_ += t.bytes;
    queue_.push_back(std::move(t));
    lk.unlock();
    work_cv_.notify_one();
  }

  // Waits for every task; returns the error of the earliest failed one (in tar order).
  caf::error barrier() {
    std::unique_lock<std::mutex> lk(mu_);
    idle_cv_.wait(lk, [&] { return queue_.empty() && busy_ == 0; });
    pending_.clear();
    return err_;
  }

private:
  void start() {
    try {
      for (unsigned i = 0; i < async_workers; ++i)
        threads_.emplace_back([this] { work(); });
    } catch (const std::system_error&) {
      // Fewer workers (possibly none) is fine.
    }
  }

  void record(caf::error e, uint64_t seq) {
    if (e && (!err_ || seq < err_seq_)) {
      err_ = std::move(e);
      err_seq_ = seq;
      failed_.store(true, std::memory_order_release);
    }
  }

  void work() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto t = std::make_unique<file_task>(std::move(queue_.front()));
      queue_.pop_front();
      queued_bytes_ -= t->bytes;
      ++busy_;
      bool skip = err_ && t->seq > err_seq_; // extraction stops at the first error
      lk.unlock();
      space_cv_.notify_one();
      caf::error e = skip ? caf::error{} : run(*t);
      auto seq = t->seq;
      t.reset();
      lk.lock();
      record(std::move(e), seq);
      --busy_;
      if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
    }
  }

  // Create, write, then owner, mode (chown clears setuid), xattrs, times: as the main thread does.
  caf::error run(const file_task& t) const {
    unique_fd fd{::openat(t.dfd.fd, t.base.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (!fd) return sys_error("create " + t.name);
    for (auto& [off0, data] : t.chunks) {
      const char* p = data.data();
      size_t len = data.size();
      auto off = static_cast<off_t>(off0);
      while (len > 0) {
        auto w = ::pwrite(fd.fd, p, len, off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return sys_error("write " + t.name);
        p += w;
        len -= static_cast<size_t>(w);
        off += w;
      }
    }
    if (::ftruncate(fd.fd, t.declared) != 0) return sys_error("truncate " + t.name);
    if (::fchown(fd.fd, t.uid, t.gid) != 0 && (root_ || errno != EPERM))
      return sys_error("chown " + t.name);
    if (::fchmod(fd.fd, t.mode) != 0) return sys_error("chmod " + t.name);
    for (auto& [xn, xv] : t.xattrs) {
      if (::fsetxattr(fd.fd, xn.c_str(), xv.data(), xv.size(), 0) != 0) {
        if (errno == ENOTSUP || errno == EPERM || errno == EOPNOTSUPP) continue;
        return sys_error("set xattr " + xn + " on " + t.name);
      }
    }
    if (::futimens(fd.fd, t.ts) != 0) return sys_error("set mtime of " + t.name);
    return {};
  }

  bool root_;
  std::unordered_set<std::string> pending_; // main thread only
  std::mutex mu_;
  std::condition_variable work_cv_, space_cv_, idle_cv_;
  std::deque<file_task> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t busy_ = 0;
  bool stop_ = false;
  uint64_t next_seq_ = 0;
  caf::error err_;
  uint64_t err_seq_ = 0;
  std::atomic<bool> failed_{false};
  std::vector<std::thread> threads_;
};

class extractor {
public:
  extractor(int rootfd, whiteout_mode mode, const extract_limits& limits, split_recorder* split,
            const untar_options* cp = nullptr)
      : rootfd_(rootfd), mode_(mode), limits_(limits), split_(split), cp_(cp),
        root_(geteuid() == 0), pool_(root_) {}

  extract_stats stats;

  caf::error entry(struct archive* a, struct archive_entry* e) {
    if (pool_.failed()) return pool_.barrier(); // a file before this entry failed
    if (++stats.entries > limits_.max_entries)
      return make_error(ec::invalid_argument, "layer exceeds the entry count limit (" +
                                                  std::to_string(limits_.max_entries) + ")");
    auto pos = archive_read_header_position(a);
    const char* cname = archive_entry_pathname(e);
    if (!cname) return make_error(ec::invalid_argument, "layer entry without a path name");
    std::string name = cname;
    if (name.size() > limits_.max_path)
      return make_error(ec::invalid_argument, "layer exceeds the path length limit (" +
                                                  std::to_string(limits_.max_path) + ") at \"" +
                                                  name.substr(0, 64) + "...\"");
    auto comps = clean_path(name, name, in_root());
    if (!comps) return comps.error();
    std::size_t xattr_bytes = 0;
    archive_entry_xattr_reset(e);
    const char* xn;
    const void* xv;
    size_t xs;
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
      xattr_bytes += std::strlen(xn) + xs;
    if (xattr_bytes > limits_.max_xattr_bytes)
      return make_error(ec::invalid_argument, "layer exceeds the xattr size limit (" +
                                                  std::to_string(limits_.max_xattr_bytes) +
                                                  " bytes) at \"" + name + "\"");
    std::optional<std::size_t> ref;
    if (split_) {
      auto it = split_->ref_at.find(pos);
      if (it != split_->ref_at.end()) ref = it->second;
    }
    auto err = dispatch(a, e, name, *comps, ref);
    if (err) return err;
    // A payload this entry did not write to a file is kept in the record itself.
    if (ref && split_->refs[*ref].kind == 0) return capture_data(a, *ref, name);
    return {};
  }

  // Waits for the files still being written; their first error, if any.
  caf::error drain() { return pool_.barrier(); }

  caf::error finish() {
    if (auto err = pool_.barrier()) return err;
    // Directory mtimes last, deepest first, so writing their contents does not change them.
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      unique_fd fd{open_beneath(rootfd_, it->first, O_RDONLY | O_DIRECTORY, false, in_root())};
      if (!fd) continue; // replaced or removed later in the tar
      if (::futimens(fd.fd, it->second.ts) != 0) return sys_error("set mtime of " + it->first);
    }
    return {};
  }

private:
  struct times {
    timespec ts[2];
  };

  caf::error dispatch(struct archive* a, struct archive_entry* e, const std::string& name,
                      const std::vector<std::string>& comps, std::optional<std::size_t> ref) {
    auto type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);
    // Only a small plain file whose path (and parents) no task is writing may be handed off;
    // anything else first waits for every pending file.
    bool async = type == AE_IFREG && !hardlink && !comps.empty() &&
                 comps.back().rfind(".wh.", 0) != 0 && archive_entry_size_is_set(e) &&
                 archive_entry_size(e) >= 0 &&
                 static_cast<uint64_t>(archive_entry_size(e)) <= async_file_max &&
                 archive_entry_sparse_count(e) == 0 && !pool_.conflicts(join(comps, comps.size()));
    if (!async)
      if (auto err = pool_.barrier()) return err;
    if (comps.empty()) {                                   // the root itself
      if (cp_ && type == AE_IFDIR && !hardlink) return {}; // moby skips "." into a directory
      if (type != AE_IFDIR || hardlink)
        return bad_entry(name, "the layer root must be a directory");
      return apply_meta(rootfd_, "", e, true, "", name, rootfd_);
    }
    const std::string& base = comps.back();
    auto parent_rel = join(comps, comps.size() - 1);
    auto path = join(comps, comps.size());
    if (!cp_ && base.rfind(".wh.", 0) == 0) return whiteout(name, comps, base, parent_rel);

    auto pfd = open_parent(comps, comps.size() - 1, true, name);
    if (!pfd) return pfd.error();
    int dfd = pfd->fd;
    mark_written(path);

    struct stat st;
    bool exists = ::fstatat(dfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    bool merge = exists && S_ISDIR(st.st_mode) && type == AE_IFDIR && !hardlink;
    if (exists && cp_ && cp_->no_overwrite_dir_nondir) {
      bool entry_dir = type == AE_IFDIR && !hardlink;
      if (S_ISDIR(st.st_mode) && !entry_dir)
        return make_error(ec::unspecified,
                          "cannot overwrite directory \"/" + path + "\" with non-directory \"/\"");
      if (!S_ISDIR(st.st_mode) && entry_dir)
        return make_error(ec::unspecified,
                          "cannot overwrite non-directory \"/" + path + "\" with directory \"/\"");
    }
    if (exists && async) // it may be a directory tasks are writing into
      if (auto err = pool_.barrier()) return err;
    if (exists && !merge) {
      if (split_)
        if (auto err = split_->capture_under(rootfd_, path)) return err;
      if (auto err = remove_at(dfd, base)) return err;
    }

    if (hardlink) return make_hardlink(name, hardlink, dfd, base);
    auto perm = archive_entry_perm(e);
    switch (type) {
    case AE_IFREG:
      if (async) return write_file_async(a, e, name, std::move(*pfd), base, path, ref);
      return write_file(a, e, name, dfd, base, path, ref);
    case AE_IFDIR:
      if (!merge && ::mkdirat(dfd, base.c_str(), 0700) != 0) return sys_error("mkdir " + name);
      return apply_meta(dfd, base, e, true, path, name);
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (!target) return bad_entry(name, "symlink without a target");
      if (std::strlen(target) > limits_.max_path)
        return make_error(ec::invalid_argument, "layer exceeds the path length limit (" +
                                                    std::to_string(limits_.max_path) +
                                                    ") in the symlink \"" + name + "\"");
      if (::symlinkat(target, dfd, base.c_str()) != 0) return sys_error("symlink " + name);
      return apply_meta(dfd, base, e, false, path, name);
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      dev_t dev =
          type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
      if (::mknodat(dfd, base.c_str(), static_cast<mode_t>(type) | (perm & 07777), dev) != 0)
        return sys_error("mknod " + name);
      return apply_meta(dfd, base, e, false, path, name);
    }
    default:
      return {}; // sockets and unknown types are not extracted (as Docker)
    }
  }

  caf::expected<unique_fd> open_parent(const std::vector<std::string>& comps, std::size_t n,
                                       bool create, const std::string& entry) {
    if (n == 0) {
      unique_fd fd{::openat(rootfd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)};
      if (!fd) return sys_error("open layer root");
      return fd;
    }
    unique_fd cur{::openat(rootfd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)};
    std::string prefix;
    for (std::size_t i = 0; i < n; ++i) {
      if (i) prefix += '/';
      prefix += comps[i];
      unique_fd next{open_beneath(rootfd_, prefix, O_PATH | O_DIRECTORY, true, in_root())};
      if (!next && errno == ENOENT && create) {
        if (::mkdirat(cur.fd, comps[i].c_str(), 0755) != 0 && errno != EEXIST)
          return sys_error("mkdir " + prefix);
        mark_written(prefix);
        next = unique_fd{open_beneath(rootfd_, prefix, O_PATH | O_DIRECTORY, true, in_root())};
      }
      if (!next) {
        if (errno == EXDEV || errno == ELOOP)
          return bad_entry(entry, "\"" + prefix +
                                      "\" resolves through a symlink to outside the layer root");
        if (errno == ENOTDIR) return bad_entry(entry, "\"" + prefix + "\" is not a directory");
        if (errno == ENOENT && !create) return make_error(ec::not_found, prefix);
        return sys_error("open " + prefix);
      }
      cur = std::move(next);
    }
    return cur;
  }

  void mark_written(const std::string& path) {
    if (mode_ != whiteout_mode::remove) return;
    std::string p = path;
    while (!p.empty() && written_.insert(p).second) {
      auto slash = p.rfind('/');
      if (slash == std::string::npos) break;
      p.resize(slash);
    }
  }

  caf::error whiteout(const std::string& name, const std::vector<std::string>& comps,
                      const std::string& base, const std::string& parent_rel) {
    if (base == ".wh..wh..opq") {
      auto pfd = open_parent(comps, comps.size() - 1, true, name);
      if (!pfd) return pfd.error();
      mark_written(parent_rel);
      unique_fd dfd{open_beneath(rootfd_, parent_rel, O_RDONLY | O_DIRECTORY, false)};
      if (!dfd) return sys_error("open " + parent_rel);
      if (mode_ == whiteout_mode::overlay) {
        if (::fsetxattr(dfd.fd, "trusted.overlay.opaque", "y", 1, 0) != 0)
          return sys_error("set the opaque xattr on " + (parent_rel.empty() ? "/" : parent_rel));
        return {};
      }
      return remove_lower(dfd.fd, parent_rel);
    }
    if (base.rfind(".wh..wh.", 0) == 0) return {}; // other AUFS metadata: ignored
    auto victim = base.substr(4);
    if (victim.empty() || victim == "." || victim == "..")
      return bad_entry(name, "invalid whiteout name");
    auto path = parent_rel.empty() ? victim : parent_rel + "/" + victim;
    bool create = mode_ == whiteout_mode::overlay;
    auto pfd = open_parent(comps, comps.size() - 1, create, name);
    if (!pfd) {
      if (!create && pfd.error() == ec::not_found) return {}; // nothing to delete
      return pfd.error();
    }
    if (split_)
      if (auto err = split_->capture_under(rootfd_, path)) return err;
    if (auto err = remove_at(pfd->fd, victim)) return err;
    if (mode_ == whiteout_mode::remove) return {};
    if (::mknodat(pfd->fd, victim.c_str(), S_IFCHR, makedev(0, 0)) != 0)
      return sys_error("create the whiteout " + path);
    return {};
  }

  // Opaque directory in remove mode: delete what lower layers put there, keep this tar's.
  caf::error remove_lower(int dfd, const std::string& rel) {
    unique_fd own{::openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    DIR* d = own ? ::fdopendir(own.fd) : nullptr;
    if (!d) return sys_error("opendir " + rel);
    own.fd = -1; // owned by d now
    std::vector<std::string> names;
    while (auto* ent = ::readdir(d))
      if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0)
        names.emplace_back(ent->d_name);
    caf::error err;
    for (auto& n : names) {
      auto child = rel.empty() ? n : rel + "/" + n;
      if (!written_.count(child)) {
        if ((err = remove_at(::dirfd(d), n))) break;
        continue;
      }
      struct stat st;
      if (::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        unique_fd cfd{
            ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
        if (!cfd) {
          err = sys_error("open " + child);
          break;
        }
        if ((err = remove_lower(cfd.fd, child))) break;
      }
    }
    ::closedir(d);
    return err;
  }

  caf::error make_hardlink(const std::string& name, const std::string& target, int dfd,
                           const std::string& base) {
    auto outside = [&] {
      return bad_entry(name, "hardlink target \"" + target + "\" is outside the layer root");
    };
    if (target.size() > limits_.max_path)
      return make_error(ec::invalid_argument, "layer exceeds the path length limit (" +
                                                  std::to_string(limits_.max_path) +
                                                  ") in the hardlink \"" + name + "\"");
    if (!in_root() && !target.empty() && target[0] == '/') return outside();
    auto tc = clean_path(target, name, in_root());
    if (!tc) return outside();
    if (tc->empty()) return bad_entry(name, "hardlink to the layer root");
    auto tpfd = open_parent(*tc, tc->size() - 1, false, name);
    if (!tpfd) {
      if (tpfd.error() == ec::not_found)
        return bad_entry(name, "hardlink target \"" + target + "\" not found");
      return outside();
    }
    if (::linkat(tpfd->fd, tc->back().c_str(), dfd, base.c_str(), 0) != 0) {
      if (errno == ENOENT) return bad_entry(name, "hardlink target \"" + target + "\" not found");
      return sys_error("link " + name + " to " + target);
    }
    return {};
  }

  caf::error write_file(struct archive* a, struct archive_entry* e, const std::string& name,
                        int dfd, const std::string& base, const std::string& path,
                        std::optional<std::size_t> ref) {
    auto declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (declared < 0) return bad_entry(name, "negative size");
    if (static_cast<uint64_t>(declared) > limits_.max_bytes - stats.bytes) return size_limit();
    unique_fd fd{
        ::openat(dfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (!fd) return sys_error("create " + name);
    // By index only: the recorder's vector grows while libarchive reads on.
    auto rref = [&]() -> split_recorder::ref& { return split_->refs[*ref]; };
    bool by_path =
        ref && static_cast<uint64_t>(declared) == rref().size && archive_entry_sparse_count(e) == 0;
    const void* buf;
    size_t len;
    la_int64_t off;
    while (true) {
      int rc = archive_read_data_block(a, &buf, &len, &off);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return read_error(a, name);
      if (len > limits_.max_bytes - stats.bytes) return size_limit();
      stats.bytes += len;
      if (ref && !by_path) rref().data.append(static_cast<const char*>(buf), len);
      const char* p = static_cast<const char*>(buf);
      while (len > 0) {
        auto w = ::pwrite(fd.fd, p, len, off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return sys_error("write " + name);
        p += w;
        len -= static_cast<size_t>(w);
        off += w;
      }
    }
    if (::ftruncate(fd.fd, declared) != 0) return sys_error("truncate " + name);
    if (ref) {
      if (by_path) {
        rref().kind = 1;
        rref().path = path;
        split_->live[path] = *ref;
      } else {
        rref().kind = 2;
      }
    }
    return apply_meta(dfd, base, e, false, path, name, fd.fd);
  }

  // write_file for a small file: the payload and metadata are copied here, a worker writes them.
  caf::error write_file_async(struct archive* a, struct archive_entry* e, const std::string& name,
                              unique_fd dfd, const std::string& base, const std::string& path,
                              std::optional<std::size_t> ref) {
    auto declared = archive_entry_size(e);
    if (static_cast<uint64_t>(declared) > limits_.max_bytes - stats.bytes) return size_limit();
    file_task t;
    t.dfd = std::move(dfd);
    t.base = base;
    t.name = name;
    t.declared = declared;
    // By index only: the recorder's vector grows while libarchive reads on.
    auto rref = [&]() -> split_recorder::ref& { return split_->refs[*ref]; };
    bool by_path = ref && static_cast<uint64_t>(declared) == rref().size;
    const void* buf;
    size_t len;
    la_int64_t off;
    while (true) {
      int rc = archive_read_data_block(a, &buf, &len, &off);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return read_error(a, name);
      if (len > limits_.max_bytes - stats.bytes) return size_limit();
      stats.bytes += len;
      if (ref && !by_path) rref().data.append(static_cast<const char*>(buf), len);
      if (len == 0) continue;
      if (!t.chunks.empty() &&
          t.chunks.back().first + static_cast<int64_t>(t.chunks.back().second.size()) == off)
        t.chunks.back().second.append(static_cast<const char*>(buf), len);
      else
        t.chunks.emplace_back(off, std::string(static_cast<const char*>(buf), len));
      t.bytes += len;
    }
    if (ref) {
      if (by_path) {
        rref().kind = 1;
        rref().path = path;
        split_->live[path] = *ref;
      } else {
        rref().kind = 2;
      }
    }
    t.uid = owner(e).first;
    t.gid = owner(e).second;
    t.mode = static_cast<mode_t>(archive_entry_perm(e) & 07777);
    archive_entry_xattr_reset(e);
    const char* xn;
    const void* xv;
    size_t xs;
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
      t.xattrs.emplace_back(xn, std::string(static_cast<const char*>(xv), xs));
    t.ts[0].tv_sec =
        archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
    t.ts[0].tv_nsec =
        archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e);
    t.ts[1].tv_sec = archive_entry_mtime(e);
    t.ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    pool_.submit(std::move(t), path);
    return {};
  }

  caf::error capture_data(struct archive* a, std::size_t idx, const std::string& name) {
    const void* buf;
    size_t len;
    la_int64_t off;
    while (true) {
      int rc = archive_read_data_block(a, &buf, &len, &off);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return read_error(a, name);
      if (len > limits_.max_bytes - stats.bytes) return size_limit();
      split_->refs[idx].data.append(static_cast<const char*>(buf), len);
    }
    split_->refs[idx].kind = 2;
    return {};
  }

  caf::error size_limit() const {
    return make_error(ec::invalid_argument, "layer exceeds the size limit (" +
                                                std::to_string(limits_.max_bytes) + " bytes)");
  }

  static caf::error read_error(struct archive* a, const std::string& name) {
    const char* msg = archive_error_string(a);
    return make_error(ec::invalid_argument,
                      "invalid layer tar at \"" + name + "\": " + (msg ? msg : "read error"));
  }

  // Owner, then mode (chown clears setuid), xattrs, times. `fd` is an open fd of the entry when
  // there is one; `base` is empty for the root itself (dfd then is the root).
  caf::error apply_meta(int dfd, const std::string& base, struct archive_entry* e, bool is_dir,
                        const std::string& path, const std::string& name, int fd = -1) {
    auto type = archive_entry_filetype(e);
    bool is_link = type == AE_IFLNK;
    const char* b = base.empty() ? "" : base.c_str();
    int at_flags = AT_SYMLINK_NOFOLLOW | (base.empty() ? AT_EMPTY_PATH : 0);
    auto [uid, gid] = owner(e);
    int rc = fd >= 0 ? ::fchown(fd, uid, gid) : ::fchownat(dfd, b, uid, gid, at_flags);
    if (rc != 0 && (root_ || errno != EPERM)) return sys_error("chown " + name);
    if (!is_link) {
      auto mode = static_cast<mode_t>(archive_entry_perm(e) & 07777);
      if (fd >= 0)
        rc = ::fchmod(fd, mode);
      else if (base.empty())
        rc = ::fchmod(dfd, mode);
      else
        rc = ::fchmodat(dfd, b, mode, 0);
      if (rc != 0) return sys_error("chmod " + name);
    }
    archive_entry_xattr_reset(e);
    const char* xn;
    const void* xv;
    size_t xs;
    auto ppath = proc_path(dfd, base);
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
      rc = fd >= 0 ? ::fsetxattr(fd, xn, xv, xs, 0) : ::lsetxattr(ppath.c_str(), xn, xv, xs, 0);
      if (rc != 0) {
        // Not every filesystem takes every namespace (Docker ignores these too).
        if (errno == ENOTSUP || errno == EPERM || errno == EOPNOTSUPP) continue;
        return sys_error("set xattr " + std::string(xn) + " on " + name);
      }
    }
    times t{};
    t.ts[0].tv_sec =
        archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
    t.ts[0].tv_nsec =
        archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e);
    t.ts[1].tv_sec = archive_entry_mtime(e);
    t.ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (is_dir) {
      dir_times_.emplace_back(path, t);
      return {};
    }
    rc = fd >= 0 ? ::futimens(fd, t.ts) : ::utimensat(dfd, b, t.ts, at_flags);
    if (rc != 0) return sys_error("set mtime of " + name);
    return {};
  }

  bool in_root() const { return cp_ != nullptr; }

  // The entry's owner, or the one every entry gets (docker cp with copyUIDGID).
  std::pair<uid_t, gid_t> owner(struct archive_entry* e) const {
    if (cp_ && cp_->chown) return {cp_->chown->first, cp_->chown->second};
    return {static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))};
  }

  int rootfd_;
  whiteout_mode mode_;
  const extract_limits& limits_;
  split_recorder* split_;
  const untar_options* cp_;
  bool root_;
  std::unordered_set<std::string> written_;
  std::vector<std::pair<std::string, times>> dir_times_;
  file_pool pool_; // last: its workers are joined first
};

// -- tar writing ----------------------------------------------------------------------------------

} // namespace

bool pseudo_filesystem(int fd) {
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) != 0) return false;
  switch (static_cast<unsigned long>(sfs.f_type)) {
  case PROC_SUPER_MAGIC:
  case SYSFS_MAGIC:
  case CGROUP_SUPER_MAGIC:
  case CGROUP2_SUPER_MAGIC:
  case DEVPTS_SUPER_MAGIC:
  case 0x19800202: // mqueue
  case SECURITYFS_MAGIC:
  case DEBUGFS_MAGIC:
  case TRACEFS_MAGIC:
  case BPF_FS_MAGIC:
  case PSTOREFS_MAGIC:
  case EFIVARFS_MAGIC:
  case SELINUX_MAGIC:
  case BINFMTFS_MAGIC:
    return true;
  default:
    return false;
  }
}

namespace {

struct write_ctx {
  io::writer out;
  caf::error err;
};

la_ssize_t write_cb(struct archive* a, void* p, const void* buf, size_t len) {
  auto* ctx = static_cast<write_ctx*>(p);
  if (auto err = ctx->out(static_cast<const char*>(buf), len)) {
    ctx->err = std::move(err);
    archive_set_error(a, EIO, "tar output failed");
    return -1;
  }
  return static_cast<la_ssize_t>(len);
}

class tree_writer {
public:
  tree_writer(struct archive* a, const std::vector<std::string>& skip)
      : a_(a), skip_(skip.begin(), skip.end()), resolver_(archive_entry_linkresolver_new()) {
    archive_entry_linkresolver_set_strategy(resolver_, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
  }
  ~tree_writer() { archive_entry_linkresolver_free(resolver_); }
  tree_writer(const tree_writer&) = delete;
  tree_writer& operator=(const tree_writer&) = delete;

  caf::error walk(int dfd, const std::string& rel) {
    unique_fd own{::openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    DIR* d = own ? ::fdopendir(own.fd) : nullptr;
    if (!d) return sys_error("opendir " + (rel.empty() ? "/" : rel));
    own.fd = -1;
    std::vector<std::string> names;
    while (auto* ent = ::readdir(d))
      if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0)
        names.emplace_back(ent->d_name);
    std::sort(names.begin(), names.end());
    caf::error err;
    for (auto& n : names)
      if ((err = one(::dirfd(d), n, rel.empty() || rel.back() == '/' ? rel + n : rel + "/" + n)))
        break;
    ::closedir(d);
    return err;
  }

  // `recurse`: a directory's tree follows its entry.
  caf::error one(int dfd, const std::string& n, const std::string& rel, bool recurse = true) {
    if (skip_.count(rel)) return {};
    struct stat st;
    if (::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return {}; // vanished meanwhile
      return sys_error("stat " + rel);
    }
    if (S_ISSOCK(st.st_mode)) return {}; // tar cannot hold sockets
    entry_ptr ep;
    archive_entry_copy_stat(ep.e, &st);
    archive_entry_set_pathname(ep.e, rel.c_str());
    unique_fd fd;
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 256, '\0');
      auto k = ::readlinkat(dfd, n.c_str(), target.data(), target.size());
      if (k < 0) return sys_error("readlink " + rel);
      target.resize(static_cast<std::size_t>(k));
      archive_entry_set_symlink(ep.e, target.c_str());
      archive_entry_set_size(ep.e, 0);
    } else if (S_ISREG(st.st_mode)) {
      fd = unique_fd{::openat(dfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
      if (!fd) return sys_error("open " + rel);
    } else {
      archive_entry_set_size(ep.e, 0);
    }
    if (auto err = xattrs(dfd, n, rel, ep.e)) return err;
    struct archive_entry* spare = nullptr;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      archive_entry_linkify(resolver_, &ep.e, &spare);
      if (spare) archive_entry_free(spare);
    }
    if (!ep.e) return {};
    if (archive_write_header(a_, ep.e) < ARCHIVE_WARN) return write_error(rel);
    if (S_ISREG(st.st_mode) && !archive_entry_hardlink(ep.e) && archive_entry_size(ep.e) > 0) {
      // Exactly the size in the header, even if the file changes meanwhile.
      auto left = static_cast<uint64_t>(archive_entry_size(ep.e));
      std::string buf(io_chunk, '\0');
      while (left > 0) {
        auto want = static_cast<std::size_t>(std::min<uint64_t>(left, buf.size()));
        auto k = ::read(fd.fd, buf.data(), want);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return sys_error("read " + rel);
        if (k == 0) {
          std::fill(buf.begin(), buf.end(), '\0');
          k = static_cast<ssize_t>(want);
        }
        if (archive_write_data(a_, buf.data(), static_cast<size_t>(k)) < 0) return write_error(rel);
        left -= static_cast<uint64_t>(k);
      }
    }
    if (S_ISDIR(st.st_mode) && recurse) {
      unique_fd sub{::openat(dfd, n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
      if (!sub) return sys_error("open " + rel);
      if (pseudo_filesystem(sub.fd)) return {}; // a running container's /proc, /sys, ...
      return walk(sub.fd, rel);
    }
    return {};
  }

  /// An AUFS-style whiteout: an empty regular file `rel` (".../.wh.<name>"), mode 0, owned by
  /// root, as moby's archive.ExportChanges writes it.
  caf::error whiteout(const std::string& rel, int64_t mtime) {
    entry_ptr ep;
    archive_entry_set_pathname(ep.e, rel.c_str());
    archive_entry_set_filetype(ep.e, AE_IFREG);
    archive_entry_set_perm(ep.e, 0);
    archive_entry_set_size(ep.e, 0);
    archive_entry_set_mtime(ep.e, mtime, 0);
    if (archive_write_header(a_, ep.e) < ARCHIVE_WARN) return write_error(rel);
    return {};
  }

private:
  struct entry_ptr {
    struct archive_entry* e = archive_entry_new();
    ~entry_ptr() {
      if (e) archive_entry_free(e);
    }
  };

  caf::error xattrs(int dfd, const std::string& n, const std::string& rel,
                    struct archive_entry* e) {
    auto p = proc_path(dfd, n);
    auto len = ::llistxattr(p.c_str(), nullptr, 0);
    if (len < 0) {
      if (errno == ENOTSUP || errno == EOPNOTSUPP) return {};
      return sys_error("list xattrs of " + rel);
    }
    if (len == 0) return {};
    std::string names(static_cast<std::size_t>(len), '\0');
    len = ::llistxattr(p.c_str(), names.data(), names.size());
    if (len < 0) return sys_error("list xattrs of " + rel);
    names.resize(static_cast<std::size_t>(len));
    for (std::size_t i = 0; i < names.size();) {
      std::string key = names.c_str() + i;
      i += key.size() + 1;
      if (key.empty() || key.rfind("system.", 0) == 0) continue; // ACLs: not carried
      // overlayfs's own (opaque, origin, impure...): read from an upper dir, never content
      if (key.rfind("trusted.overlay.", 0) == 0) continue;
      auto vlen = ::lgetxattr(p.c_str(), key.c_str(), nullptr, 0);
      if (vlen < 0) continue;
      std::string val(static_cast<std::size_t>(vlen), '\0');
      vlen = ::lgetxattr(p.c_str(), key.c_str(), val.data(), val.size());
      if (vlen < 0) continue;
      archive_entry_xattr_add_entry(e, key.c_str(), val.data(), static_cast<size_t>(vlen));
    }
    return {};
  }

  caf::error write_error(const std::string& rel) {
    const char* msg = archive_error_string(a_);
    return make_error(ec::unspecified,
                      "writing \"" + rel + "\" to the tar failed: " + (msg ? msg : "unknown"));
  }

  struct archive* a_;
  std::set<std::string> skip_;
  struct archive_entry_linkresolver* resolver_;
};

// Open a tar stream (`compressed`: any of libarchive's filters) read through `ctx`.
caf::error open_tar(archive_reader& r, read_ctx& ctx, bool compressed) {
  if (!r.a) return make_error(ec::unspecified, "libarchive: out of memory");
  if (compressed) archive_read_support_filter_all(r.a);
  archive_read_support_format_tar(r.a);
  archive_read_support_format_gnutar(r.a);
  if (archive_read_open(r.a, &ctx, nullptr, read_cb, nullptr) != ARCHIVE_OK) {
    if (ctx.err) return ctx.err;
    const char* msg = archive_error_string(r.a);
    return make_error(ec::invalid_argument,
                      std::string("invalid layer tar: ") + (msg ? msg : "cannot open"));
  }
  return {};
}

// Every entry of an opened archive through `x`, then its finish.
caf::error extract_all(struct archive* a, read_ctx& ctx, extractor& x) {
  while (true) {
    struct archive_entry* e = nullptr;
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      if (auto err = x.drain()) return err;
      if (ctx.err) return ctx.err;
      const char* msg = archive_error_string(a);
      return make_error(ec::invalid_argument,
                        std::string("invalid layer tar: ") + (msg ? msg : "read error"));
    }
    if (auto err = x.entry(a, e)) {
      if (auto perr = x.drain()) return perr;
      return ctx.err ? ctx.err : err;
    }
  }
  return x.finish();
}

} // namespace

caf::expected<extract_stats> untar_at(io::reader src, int dirfd, const untar_options& opts) {
  read_ctx ctx;
  ctx.src = std::move(src);
  archive_reader r;
  // moby's DecompressStream: gzip, bzip2, xz, zstd
  if (auto err = open_tar(r, ctx, true)) return err;
  // no whiteouts: the mode only spares the bookkeeping of written paths
  extractor x{dirfd, whiteout_mode::overlay, opts.limits, nullptr, &opts};
  if (auto err = extract_all(r.a, ctx, x)) return err;
  return x.stats;
}

caf::expected<extract_stats> apply_tar(io::reader src, const std::string& root, whiteout_mode mode,
                                       const extract_limits& limits,
                                       const std::string& split_path) {
  unique_fd rootfd{::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!rootfd) return sys_error("open layer root " + root);
  std::optional<split_recorder> split;
  if (!split_path.empty()) split.emplace();
  read_ctx ctx;
  ctx.src = std::move(src);
  ctx.split = split ? &*split : nullptr;
  archive_reader r;
  if (auto err = open_tar(r, ctx, false)) return err;
  extractor x{rootfd.fd, mode, limits, ctx.split};
  if (auto err = extract_all(r.a, ctx, x)) return err;
  // Drain what follows the end of the archive: trailing bytes are part of the layer's digest and
  // of its exact tar.
  while (!ctx.eof) {
    auto n = ctx.src(ctx.buf.data(), ctx.buf.size());
    if (!n) return n.error();
    if (*n == 0) break;
    if (split) split->feed(ctx.buf.data(), *n);
  }
  if (split) {
    split->close();
    if (auto err = split->finish(split_path)) return err;
  }
  return x.stats;
}

caf::error rebuild_tar(const std::string& split_path, const std::string& root, io::writer out) {
  auto file = io::read_file(split_path);
  if (!file) return file.error();
  auto corrupt = [&](const std::string& why) {
    return make_error(ec::unspecified, "corrupt tar-split record " + split_path + ": " + why);
  };
  const auto& f = *file;
  if (f.size() < split_magic_len + 8 || f.compare(0, split_magic_len, split_magic) != 0)
    return corrupt("bad header");
  auto tlen = get_u64(reinterpret_cast<const unsigned char*>(f.data()) + split_magic_len);
  auto tstart = split_magic_len + 8;
  if (tlen > f.size() - tstart) return corrupt("truncated table");
  struct ref {
    int kind;
    uint64_t size;
    std::string body;
  };
  std::vector<ref> refs;
  {
    inflater tz{f.data() + tstart, static_cast<std::size_t>(tlen)};
    unsigned char b8[8];
    if (!tz.read(reinterpret_cast<char*>(b8), 8)) return corrupt("table");
    auto count = get_u64(b8);
    for (uint64_t i = 0; i < count; ++i) {
      char kind;
      unsigned char sz[8], bl[8];
      if (!tz.read(&kind, 1) || !tz.read(reinterpret_cast<char*>(sz), 8) ||
          !tz.read(reinterpret_cast<char*>(bl), 8))
        return corrupt("table entry");
      auto blen = get_u64(bl);
      if (blen > (uint64_t{1} << 40)) return corrupt("table entry size");
      std::string body(static_cast<std::size_t>(blen), '\0');
      if (!tz.read(body.data(), body.size())) return corrupt("table entry body");
      refs.push_back(ref{kind, get_u64(sz), std::move(body)});
    }
  }
  unique_fd rootfd{::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!rootfd) return sys_error("open layer root " + root);
  auto mstart = tstart + static_cast<std::size_t>(tlen);
  inflater mz{f.data() + mstart, f.size() - mstart};
  std::string buf(io_chunk, '\0');
  while (true) {
    char tag;
    if (!mz.read(&tag, 1)) return corrupt("stream");
    if (tag == 'E') break;
    unsigned char b8[8];
    if (!mz.read(reinterpret_cast<char*>(b8), 8)) return corrupt("stream");
    auto v = get_u64(b8);
    if (tag == 'R') {
      while (v > 0) {
        auto k = static_cast<std::size_t>(std::min<uint64_t>(v, buf.size()));
        if (!mz.read(buf.data(), k)) return corrupt("raw segment");
        if (auto err = out(buf.data(), k)) return err;
        v -= k;
      }
    } else if (tag == 'F') {
      if (v >= refs.size()) return corrupt("payload reference");
      auto& r = refs[v];
      if (r.kind == 2) {
        if (r.body.size() != r.size) return corrupt("inline payload size");
        if (auto err = out(r.body.data(), r.body.size())) return err;
        continue;
      }
      unique_fd fd{open_beneath(rootfd.fd, r.body, O_RDONLY, false)};
      if (!fd) return sys_error("tar-split: open " + root + "/" + r.body);
      struct stat st;
      if (::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode) ||
          static_cast<uint64_t>(st.st_size) != r.size)
        return make_error(ec::unspecified,
                          "tar-split: layer file " + r.body + " changed since it was extracted");
      auto left = r.size;
      while (left > 0) {
        auto want = static_cast<std::size_t>(std::min<uint64_t>(left, buf.size()));
        auto k = ::read(fd.fd, buf.data(), want);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return sys_error("tar-split: read " + r.body);
        if (auto err = out(buf.data(), static_cast<std::size_t>(k))) return err;
        left -= static_cast<uint64_t>(k);
      }
    } else {
      return corrupt("unknown segment");
    }
  }
  return {};
}

// A pax tar stream to `out` with what `fill` writes into it.
static caf::error tar_stream(io::writer out, const std::vector<std::string>& skip,
                             const std::function<caf::error(tree_writer&)>& fill) {
  write_ctx ctx{std::move(out), {}};
  struct archive* a = archive_write_new();
  if (!a) return make_error(ec::unspecified, "libarchive: out of memory");
  struct guard {
    struct archive* a;
    ~guard() { archive_write_free(a); }
  } g{a};
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 10240);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open(a, &ctx, nullptr, write_cb, nullptr) != ARCHIVE_OK)
    return ctx.err ? ctx.err : make_error(ec::unspecified, "cannot start the tar stream");
  {
    tree_writer w{a, skip};
    if (auto err = fill(w)) return ctx.err ? ctx.err : err;
  }
  if (archive_write_close(a) != ARCHIVE_OK) {
    if (ctx.err) return ctx.err;
    const char* msg = archive_error_string(a);
    return make_error(ec::unspecified,
                      std::string("finishing the tar failed: ") + (msg ? msg : "unknown"));
  }
  return {};
}

caf::error write_tar(const std::string& root, io::writer out,
                     const std::vector<std::string>& skip) {
  unique_fd rootfd{::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  if (!rootfd) return sys_error("open " + root);
  return tar_stream(std::move(out), skip, [&](tree_writer& w) { return w.walk(rootfd.fd, ""); });
}

caf::error write_tar_entry(int dirfd, const std::string& name, const std::string& as,
                           io::writer out) {
  return tar_stream(std::move(out), {}, [&](tree_writer& w) { return w.one(dirfd, name, as); });
}

caf::error write_changes_tar(const std::string& root, const std::vector<change>& changes,
                             io::writer out) {
  unique_fd rootfd{::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  if (!rootfd) return sys_error("open " + root);
  auto now = static_cast<int64_t>(::time(nullptr));
  return tar_stream(std::move(out), {}, [&](tree_writer& w) -> caf::error {
    for (auto& c : changes) {
      auto start = c.path.find_first_not_of('/');
      if (start == std::string::npos) continue;
      auto rel = c.path.substr(start);
      auto slash = rel.rfind('/');
      auto dir = slash == std::string::npos ? std::string{} : rel.substr(0, slash);
      auto base = slash == std::string::npos ? rel : rel.substr(slash + 1);
      if (c.kind == 2) {
        if (auto err = w.whiteout((dir.empty() ? "" : dir + "/") + ".wh." + base, now)) return err;
        continue;
      }
      unique_fd sub{open_beneath(rootfd.fd, dir, O_PATH | O_DIRECTORY)};
      if (!sub) {
        if (errno == ENOENT) continue; // gone meanwhile
        return sys_error("open " + (dir.empty() ? std::string{"/"} : dir));
      }
      if (auto err = w.one(sub.fd, base, rel, false)) return err;
    }
    return {};
  });
}

} // namespace berth::graph
