// The json-file log driver (see jsonfile.hpp).
//
// On-disk layout, as dockerd's jsonfilelog: <path> is the live file, <path>.1 the newest rotated
// one, ... <path>.<max-file - 1> the oldest. One JSON object per line, encoded as moby's
// jsonlog.JSONLogs (its ffjson-derived string encoder: <, >, & as \u003c..., control characters
// as \n, \r or \u00XX, invalid UTF-8 as \ufffd, U+2028/U+2029 escaped).
#include "drivers/log/jsonfile.hpp"
#include "drivers/io.hpp"

#include "messages/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace berth::logs {

namespace {

using io::sys_error;
using io::unique_fd;

/// A partial line is written out once it reaches this size (dockerd's copier buffer).
constexpr std::size_t partial_limit = 16 * 1024;
/// Reads of the forward pass, and blocks of the backward scan for tail.
constexpr std::size_t read_chunk = 1 << 20;
constexpr std::size_t tail_block = 64 * 1024;
/// json-file's mode (dockerd's).
constexpr mode_t log_mode = 0640;

constexpr int64_t nanos_per_second = 1000000000;

caf::error bad_option(std::string msg) {
  return make_error(ec::invalid_argument, std::move(msg));
}

// -- time -----------------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

/// `n` digits at `p` (all must be digits).
bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  out = v;
  return true;
}

/// RFC 3339: 2006-01-02T15:04:05[.fraction](Z|±hh:mm), fraction of 1 to 9 digits.
bool parse_rfc3339(std::string_view s, int64_t& out) {
  unsigned year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, month) ||
      s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' ||
      !digits(s, 17, 2, second))
    return false;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59)
    return false;
  std::size_t pos = 19;
  int64_t nanos = 0;
  if (s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n == 9) return false;
      nanos = nanos * 10 + (s[pos] - '0');
      ++pos;
      ++n;
    }
    if (n == 0) return false;
    for (; n < 9; ++n)
      nanos *= 10;
  }
  int64_t offset = 0;
  if (pos + 1 == s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    offset = 0;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    unsigned oh, om;
    if (!digits(s, pos + 1, 2, oh) || !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return false;
    offset = (s[pos] == '-' ? -1 : 1) * static_cast<int64_t>(oh * 3600 + om * 60);
  } else {
    return false;
  }
  int64_t secs =
      days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  out = secs * nanos_per_second + nanos;
  return true;
}

/// The exact shape format_time writes (30 bytes), else the general parser.
bool parse_log_time(std::string_view s, int64_t& out) {
  if (s.size() == 30 && s[29] == 'Z' && s[19] == '.') {
    unsigned year, month, day, hour, minute, second, hi, lo;
    if (digits(s, 0, 4, year) && s[4] == '-' && digits(s, 5, 2, month) && s[7] == '-' &&
        digits(s, 8, 2, day) && s[10] == 'T' && digits(s, 11, 2, hour) && s[13] == ':' &&
        digits(s, 14, 2, minute) && s[16] == ':' && digits(s, 17, 2, second) &&
        digits(s, 20, 4, hi) && digits(s, 24, 5, lo) && month >= 1 && month <= 12 && day >= 1 &&
        day <= 31) {
      int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
      out = secs * nanos_per_second + static_cast<int64_t>(hi) * 100000 + lo;
      return true;
    }
  }
  return parse_rfc3339(s, out);
}

// -- JSON encoding (moby's jsonlog) ---------------------------------------------------------

/// The length of the valid UTF-8 sequence at `p` (Go's utf8.DecodeRune rules), 0 if invalid.
std::size_t utf8_length(const unsigned char* p, const unsigned char* end) {
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return p + i < end && p[i] >= lo && p[i] <= hi;
  };
  unsigned char c = p[0];
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

void append_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  auto* end = p + s.size();
  auto* start = p;
  auto flush = [&](const unsigned char* upto) {
    if (upto > start) out.append(reinterpret_cast<const char*>(start), upto - start);
  };
  while (p < end) {
    unsigned char b = *p;
    if (b < 0x80) {
      if (b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&') {
        ++p;
        continue;
      }
      flush(p);
      switch (b) {
      case '\\':
      case '"':
        out += '\\';
        out += static_cast<char>(b);
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += "\\u00";
        out += hex[b >> 4];
        out += hex[b & 0xF];
      }
      start = ++p;
      continue;
    }
    auto n = utf8_length(p, end);
    if (n == 0) {
      flush(p);
      out += "\\ufffd";
      start = ++p;
      continue;
    }
    if (n == 3 && b == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
      flush(p);
      out += "\\u202";
      out += hex[p[2] == 0xA8 ? 8 : 9];
      start = p += 3;
      continue;
    }
    p += n;
  }
  flush(p);
  out += '"';
}

void append_line(std::string& out, uint8_t stream, std::string_view log, int64_t time_nano) {
  out += "{\"log\":";
  append_json_string(out, log);
  out += stream == 2 ? ",\"stream\":\"stderr\",\"time\":\"" : ",\"stream\":\"stdout\",\"time\":\"";
  out += format_time(time_nano);
  out += "\"}\n";
}

// -- JSON decoding (one log line) -----------------------------------------------------------

const char* skip_ws(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    ++p;
  return p;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(const char* p, const char* end, unsigned& out) {
  if (end - p < 4) return false;
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hex_value(p[i]);
    if (h < 0) return false;
    v = v * 16 + static_cast<unsigned>(h);
  }
  out = v;
  return true;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// A JSON string whose opening quote is at p[-1]; unescaped into `out` unless it is null.
/// Returns the position after the closing quote, nullptr when malformed.
const char* read_string(const char* p, const char* end, std::string* out) {
  for (;;) {
    auto* quote = static_cast<const char*>(std::memchr(p, '"', end - p));
    if (quote == nullptr) return nullptr;
    auto* esc = static_cast<const char*>(std::memchr(p, '\\', quote - p));
    if (esc == nullptr) {
      if (out) out->append(p, quote - p);
      return quote + 1;
    }
    if (out) out->append(p, esc - p);
    p = esc + 1;
    if (p >= end) return nullptr;
    char c = *p++;
    switch (c) {
    case '"':
    case '\\':
    case '/':
      if (out) *out += c;
      break;
    case 'b':
      if (out) *out += '\b';
      break;
    case 'f':
      if (out) *out += '\f';
      break;
    case 'n':
      if (out) *out += '\n';
      break;
    case 'r':
      if (out) *out += '\r';
      break;
    case 't':
      if (out) *out += '\t';
      break;
    case 'u': {
      unsigned cp;
      if (!read_hex4(p, end, cp)) return nullptr;
      p += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && read_hex4(p + 2, end, lo) &&
            lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        } else {
          cp = 0xFFFD; // a lone surrogate, as Go decodes it
        }
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
      }
      if (out) append_utf8(*out, cp);
      break;
    }
    default:
      return nullptr;
    }
  }
}

/// Skips any JSON value (for fields other than log, stream and time, e.g. dockerd's "attrs").
const char* skip_value(const char* p, const char* end) {
  p = skip_ws(p, end);
  if (p >= end) return nullptr;
  if (*p == '"') return read_string(p + 1, end, nullptr);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < end) {
      char c = *p;
      if (c == '"') {
        p = read_string(p + 1, end, nullptr);
        if (p == nullptr) return nullptr;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return nullptr;
  }
  while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\r')
    ++p;
  return p;
}

/// One decoded line: stream (0 = unknown) and time; the log text goes to `log` when not null.
struct line_meta {
  uint8_t stream = 0;
  int64_t time_nano = 0;
};

bool parse_line(std::string_view line, line_meta& meta, std::string* log) {
  const char* p = line.data();
  const char* end = p + line.size();
  p = skip_ws(p, end);
  if (p >= end || *p != '{') return false;
  ++p;
  meta = line_meta{};
  if (log) log->clear();
  bool have_time = false;
  for (;;) {
    p = skip_ws(p, end);
    if (p >= end) return false;
    if (*p == '}') break;
    if (*p != '"') return false;
    auto* key = p + 1;
    auto* key_end = static_cast<const char*>(std::memchr(key, '"', end - key));
    if (key_end == nullptr) return false;
    std::string_view name{key, static_cast<std::size_t>(key_end - key)};
    p = skip_ws(key_end + 1, end);
    if (p >= end || *p != ':') return false;
    p = skip_ws(p + 1, end);
    if (p >= end) return false;
    if (*p == '"' && name == "log") {
      p = read_string(p + 1, end, log);
    } else if (*p == '"' && (name == "stream" || name == "time")) {
      auto* v = p + 1;
      auto* q = static_cast<const char*>(std::memchr(v, '"', end - v));
      if (q == nullptr) return false;
      std::string_view value{v, static_cast<std::size_t>(q - v)};
      if (name == "stream")
        meta.stream = value == "stdout" ? 1 : value == "stderr" ? 2 : 0;
      else if (!(have_time = parse_log_time(value, meta.time_nano)))
        return false;
      p = q + 1;
    } else {
      p = skip_value(p, end);
    }
    if (p == nullptr) return false;
    p = skip_ws(p, end);
    if (p < end && *p == ',') {
      ++p;
      continue;
    }
    if (p < end && *p == '}') break;
    return false;
  }
  return have_time;
}

// -- files ----------------------------------------------------------------------------------

/// The numbers N of the rotated files <path>.N, ascending (newest first).
std::vector<unsigned> rotated_numbers(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string base = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".";
  std::vector<unsigned> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (auto* e = ::readdir(d)) {
    std::string_view name{e->d_name};
    if (name.size() <= base.size() || name.substr(0, base.size()) != base) continue;
    auto num = name.substr(base.size());
    if (num.size() > 6 || num[0] == '0') continue;
    unsigned n = 0;
    if (!digits(num, 0, num.size(), n) || n == 0) continue;
    out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

/// An open log file of a read: its descriptor and size when the read began.
struct open_file {
  int fd = -1;
  int64_t size = 0;
  open_file() = default;
  open_file(const open_file&) = delete;
  open_file& operator=(const open_file&) = delete;
  open_file(open_file&& other) noexcept : fd{other.fd}, size{other.size} { other.fd = -1; }
  ~open_file() {
    if (fd >= 0) ::close(fd);
  }
};

caf::error pread_all(int fd, char* buf, std::size_t len, int64_t off, std::size_t& got) {
  got = 0;
  while (got < len) {
    auto n = ::pread(fd, buf + got, len - got, static_cast<off_t>(off + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("cannot read log file", errno);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return caf::none;
}

/// Calls f(line) for every line of `file` from byte `from` (the last one may lack its '\n')
/// until f returns false; `stopped` tells whether it did.
template <class F>
caf::error lines_forward(const open_file& file, int64_t from, std::string& buf, bool& stopped,
                         F&& f) {
  stopped = false;
  int64_t off = from;
  std::size_t have = 0; // bytes of an unfinished line at the front of buf
  if (buf.size() < read_chunk) buf.resize(read_chunk);
  while (off < file.size) {
    if (have == buf.size()) buf.resize(buf.size() * 2); // a line longer than the buffer
    auto want = std::min<int64_t>(static_cast<int64_t>(buf.size() - have), file.size - off);
    std::size_t got = 0;
    if (auto err = pread_all(file.fd, buf.data() + have, static_cast<std::size_t>(want), off, got))
      return err;
    if (got == 0) break; // truncated meanwhile
    off += static_cast<int64_t>(got);
    const char* p = buf.data();
    const char* end = p + have + got;
    for (;;) {
      auto* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (nl == nullptr) break;
      if (nl > p && !f(std::string_view{p, static_cast<std::size_t>(nl - p)})) {
        stopped = true;
        return caf::none;
      }
      p = nl + 1;
    }
    have = static_cast<std::size_t>(end - p);
    if (have > 0 && p != buf.data()) std::memmove(buf.data(), p, have);
  }
  if (have > 0 && !f(std::string_view{buf.data(), have})) stopped = true;
  return caf::none;
}

/// Calls f(offset, line) for every line of `file` from its end to its start until f returns
/// false; `stopped` tells whether it did.
template <class F>
caf::error lines_backward(const open_file& file, std::string& buf, bool& stopped, F&& f) {
  stopped = false;
  int64_t lo = file.size; // buf holds the bytes [lo, line_end) of the file
  int64_t line_end = file.size;
  buf.clear();
  for (;;) {
    // Lines entirely inside buf.
    for (;;) {
      auto len = static_cast<std::size_t>(line_end - lo);
      auto* nl = len == 0 ? nullptr : static_cast<const char*>(::memrchr(buf.data(), '\n', len));
      if (nl == nullptr) break;
      auto begin = static_cast<std::size_t>(nl - buf.data()) + 1;
      if (begin < len &&
          !f(lo + static_cast<int64_t>(begin), std::string_view{buf.data() + begin, len - begin})) {
        stopped = true;
        return caf::none;
      }
      line_end = lo + static_cast<int64_t>(begin) - 1;
      buf.resize(static_cast<std::size_t>(line_end - lo));
    }
    if (lo == 0) {
      if (line_end > 0 && !f(0, std::string_view{buf.data(), static_cast<std::size_t>(line_end)}))
        stopped = true;
      return caf::none;
    }
    // Read the block before buf and put it in front.
    auto new_lo = std::max<int64_t>(0, lo - static_cast<int64_t>(tail_block));
    auto n = static_cast<std::size_t>(lo - new_lo);
    auto keep = buf.size();
    buf.resize(n + keep);
    std::memmove(buf.data() + n, buf.data(), keep);
    std::size_t got = 0;
    if (auto err = pread_all(file.fd, buf.data(), n, new_lo, got)) return err;
    if (got != n) return make_error(ec::system, "log file shrank while reading it");
    lo = new_lo;
  }
}

// -- writer ---------------------------------------------------------------------------------

class file_writer final : public writer {
public:
  file_writer(std::string path, options opts, int fd, int64_t size)
      : path_{std::move(path)}, opts_{opts}, fd_{fd}, size_{size} {}

  ~file_writer() override {
    (void)flush();
    if (fd_ >= 0) ::close(fd_);
  }

  caf::error write(const output_chunk& chunk) override {
    if (chunk.stream != 1 && chunk.stream != 2)
      return make_error(ec::invalid_argument, "log stream must be 1 (stdout) or 2 (stderr), not " +
                                                  std::to_string(chunk.stream));
    auto time = chunk.time_nano != 0 ? chunk.time_nano : now();
    auto& held = held_[chunk.stream - 1];
    std::string_view data{chunk.data};
    while (!data.empty()) {
      auto nl = data.find('\n');
      if (nl == std::string_view::npos) {
        if (held.text.empty()) held.time_nano = time;
        held.text.append(data);
        data = {};
        break;
      }
      auto line = data.substr(0, nl + 1);
      data.remove_prefix(nl + 1);
      if (held.text.empty()) {
        if (auto err = add(chunk.stream, line, time)) return err;
      } else {
        held.text.append(line);
        if (auto err = add(chunk.stream, held.text, held.time_nano)) return err;
        held.text.clear();
      }
    }
    // A line that outgrows the buffer goes out in pieces, as dockerd's partial messages.
    while (held.text.size() >= partial_limit) {
      if (auto err = add(chunk.stream, std::string_view{held.text}.substr(0, partial_limit),
                         held.time_nano))
        return err;
      held.text.erase(0, partial_limit);
    }
    return write_out();
  }

  caf::error flush() override {
    for (uint8_t s = 1; s <= 2; ++s) {
      auto& held = held_[s - 1];
      if (held.text.empty()) continue;
      if (auto err = add(s, held.text, held.time_nano)) return err;
      held.text.clear();
    }
    return write_out();
  }

private:
  struct held_line {
    std::string text;
    int64_t time_nano = 0;
  };

  static int64_t now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  /// Encodes one line into out_, rotating first when it would not fit in the live file.
  caf::error add(uint8_t stream, std::string_view log, int64_t time) {
    line_.clear();
    append_line(line_, stream, log, time);
    auto pending = size_ + static_cast<int64_t>(out_.size());
    if (opts_.max_size > 0 && pending > 0 &&
        pending + static_cast<int64_t>(line_.size()) > opts_.max_size) {
      if (auto err = write_out()) return err;
      if (auto err = rotate()) return err;
    }
    out_ += line_;
    return caf::none;
  }

  caf::error write_out() {
    std::size_t done = 0;
    while (done < out_.size()) {
      auto n = ::write(fd_, out_.data() + done, out_.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        out_.erase(0, done);
        size_ += static_cast<int64_t>(done);
        return sys_error("cannot write " + path_, err);
      }
      done += static_cast<std::size_t>(n);
    }
    size_ += static_cast<int64_t>(out_.size());
    out_.clear();
    return caf::none;
  }

  /// <path>.N-2 -> <path>.N-1, ..., <path> -> <path>.1, then a new, empty <path>.
  caf::error rotate() {
    ::close(fd_);
    fd_ = -1;
    for (int i = opts_.max_file - 1; i >= 1; --i) {
      auto to = path_ + "." + std::to_string(i);
      auto from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
        return sys_error("cannot rotate " + from + " to " + to, errno);
    }
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, log_mode);
    if (fd_ < 0) return sys_error("cannot open " + path_, errno);
    size_ = 0;
    return caf::none;
  }

  std::string path_;
  options opts_;
  int fd_;
  int64_t size_;
  held_line held_[2];
  std::string line_; // one encoded line (reused)
  std::string out_;  // encoded lines not written yet
};

// -- options --------------------------------------------------------------------------------

/// go-units RAMInBytes: a number (with an optional fraction), an optional space, and an optional
/// k/m/g/t/p suffix (1024-based), optionally followed by "b" or "ib"; or a "b" suffix alone.
caf::expected<int64_t> ram_in_bytes(const std::string& s) {
  auto invalid = [&] { return bad_option("invalid size: '" + s + "'"); };
  auto sep = s.find_last_of("01234567890. ");
  if (sep == std::string::npos) return invalid();
  std::string num = s[sep] == ' ' ? s.substr(0, sep) : s.substr(0, sep + 1);
  std::string sfx = s.substr(sep + 1);
  if (num.empty() || num.find_first_not_of("0123456789.") != std::string::npos ||
      std::count(num.begin(), num.end(), '.') > 1 || num == ".")
    return invalid();
  double size = std::strtod(num.c_str(), nullptr);
  if (!std::isfinite(size)) return invalid();
  if (sfx.empty()) return static_cast<int64_t>(size);
  auto bad_suffix = [&] { return bad_option("invalid suffix: '" + sfx + "'"); };
  if (sfx.size() > 3) return bad_suffix();
  std::transform(sfx.begin(), sfx.end(), sfx.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (sfx[0] == 'b') {
    if (sfx.size() > 1) return bad_suffix();
    return static_cast<int64_t>(size);
  }
  static const std::string units = "kmgtp";
  auto u = units.find(sfx[0]);
  if (u == std::string::npos) return bad_suffix();
  if ((sfx.size() == 2 && sfx[1] != 'b') || (sfx.size() == 3 && sfx.substr(1) != "ib"))
    return bad_suffix();
  size *= std::pow(1024.0, static_cast<double>(u + 1));
  if (size >= 9.2e18) return invalid();
  return static_cast<int64_t>(size);
}

} // namespace

caf::expected<options> parse_options(const std::map<std::string, std::string>& opts) {
  options out;
  for (auto& [key, value] : opts) {
    if (key == "max-size") {
      auto v = ram_in_bytes(value);
      if (!v) return v.error();
      if (*v <= 0) return bad_option("max-size must be a positive number");
      out.max_size = *v;
    } else if (key == "max-file") {
      char* end = nullptr;
      errno = 0;
      long v = value.empty() ? 0 : std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno != 0 || v > std::numeric_limits<int>::max() ||
          v < std::numeric_limits<int>::min())
        return bad_option("strconv.Atoi: parsing \"" + value + "\": invalid syntax");
      if (v < 1) return bad_option("max-file cannot be less than 1");
      out.max_file = static_cast<int>(v);
    } else if (key == "compress") {
      if (value == "false" || value == "0" || value == "f" || value == "F" || value == "FALSE" ||
          value == "False")
        continue; // the default: nothing to refuse
      return bad_option("log opt 'compress' is not supported by berth's json-file log driver "
                        "(rotated logs are kept uncompressed)");
    } else if (key == "labels" || key == "labels-regex" || key == "env" || key == "env-regex" ||
               key == "tag") {
      return bad_option("log opt '" + key +
                        "' is not supported by berth's json-file log driver (no attrs)");
    } else {
      return bad_option("unknown log opt '" + key + "' for json-file log driver");
    }
  }
  if (out.max_file > 1 && out.max_size <= 0)
    return bad_option("max-file cannot be set when max-size is not set");
  return out;
}

caf::expected<std::unique_ptr<writer>> writer::open(std::string path, options opts) {
  if (opts.max_file < 1) return bad_option("max-file cannot be less than 1");
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, log_mode);
  if (fd < 0) return sys_error("cannot open " + path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return sys_error("cannot stat " + path, err);
  }
  return std::unique_ptr<writer>{new file_writer(std::move(path), opts, fd, st.st_size)};
}

std::vector<std::string> files(const std::string& path) {
  std::vector<std::string> out;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) out.push_back(path);
  for (auto n : rotated_numbers(path))
    out.push_back(path + "." + std::to_string(n));
  return out;
}

caf::error read(const std::string& path, const query& q,
                const std::function<bool(const entry&)>& sink) {
  if ((!q.stdout && !q.stderr) || q.tail == 0) return caf::none;
  // Oldest first: the highest-numbered rotated file, ..., <path>.1, <path>. Opened up front so
  // that a rotation meanwhile does not shift the files under the reader.
  std::vector<std::string> names;
  auto numbers = rotated_numbers(path);
  for (auto it = numbers.rbegin(); it != numbers.rend(); ++it)
    names.push_back(path + "." + std::to_string(*it));
  names.push_back(path);
  std::vector<open_file> handles;
  for (auto& name : names) {
    open_file f;
    f.fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) {
      if (errno == ENOENT) continue;
      return sys_error("cannot open " + name, errno);
    }
    struct stat st;
    if (::fstat(f.fd, &st) != 0) return sys_error("cannot stat " + name, errno);
    f.size = st.st_size;
    handles.push_back(std::move(f));
  }
  auto wanted = [&](uint8_t stream) {
    return (stream == 1 && q.stdout) || (stream == 2 && q.stderr);
  };
  std::string buf;
  line_meta meta;
  bool stopped = false;

  // tail: find where the last `tail` matching lines begin, scanning from the end.
  std::size_t first_file = 0;
  int64_t first_offset = 0;
  if (q.tail > 0) {
    int64_t found = 0;
    bool any = false;
    for (std::size_t i = handles.size(); i-- > 0;) {
      auto err = lines_backward(handles[i], buf, stopped, [&](int64_t off, std::string_view line) {
        if (!parse_line(line, meta, nullptr)) return true;
        if (q.until_nano != 0 && meta.time_nano > q.until_nano) return true;
        if (q.since_nano != 0 && meta.time_nano < q.since_nano) return false; // older only
        if (!wanted(meta.stream)) return true;
        any = true;
        first_file = i;
        first_offset = off;
        return ++found < q.tail;
      });
      if (err) return err;
      if (stopped) break;
    }
    if (!any) return caf::none;
  }

  // Forward from there, oldest first.
  entry e;
  int64_t emitted = 0;
  for (std::size_t i = first_file; i < handles.size(); ++i) {
    auto err = lines_forward(handles[i], i == first_file ? first_offset : 0, buf, stopped,
                             [&](std::string_view line) {
                               if (!parse_line(line, meta, &e.log)) return true; // torn line
                               if (q.until_nano != 0 && meta.time_nano > q.until_nano) return false;
                               if (q.since_nano != 0 && meta.time_nano < q.since_nano) return true;
                               if (!wanted(meta.stream)) return true;
                               e.stream = meta.stream;
                               e.time_nano = meta.time_nano;
                               if (!sink(e)) return false;
                               return q.tail < 0 || ++emitted < q.tail;
                             });
    if (err) return err;
    if (stopped) break;
  }
  return caf::none;
}

std::string format_time(int64_t time_nano) {
  int64_t secs = time_nano / nanos_per_second;
  int64_t nanos = time_nano % nanos_per_second;
  if (nanos < 0) {
    nanos += nanos_per_second;
    --secs;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t year;
  unsigned month, day;
  civil_from_days(days, year, month, day);
  char buf[32];
  auto put = [&](int pos, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[pos + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(0, std::clamp<int64_t>(year, 0, 9999), 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = 'T';
  put(11, rem / 3600, 2);
  buf[13] = ':';
  put(14, rem / 60 % 60, 2);
  buf[16] = ':';
  put(17, rem % 60, 2);
  buf[19] = '.';
  put(20, nanos, 9);
  buf[29] = 'Z';
  return std::string{buf, 30};
}

caf::expected<int64_t> parse_time(const std::string& s) {
  auto invalid = [&] {
    return make_error(ec::invalid_argument,
                      "invalid time '" + s +
                          "': use unix seconds (optionally with up to 9 fractional digits) or "
                          "RFC 3339");
  };
  auto dot = s.find('.');
  std::string_view whole = std::string_view{s}.substr(0, dot);
  if (!whole.empty() && whole.find_first_not_of("0123456789") == std::string_view::npos) {
    if (whole.size() > 11) return invalid(); // beyond year 5000: not a log time
    int64_t secs = 0;
    for (char c : whole)
      secs = secs * 10 + (c - '0');
    int64_t nanos = 0;
    if (dot != std::string::npos) {
      auto frac = std::string_view{s}.substr(dot + 1);
      if (frac.empty() || frac.size() > 9 ||
          frac.find_first_not_of("0123456789") != std::string_view::npos)
        return invalid();
      for (char c : frac)
        nanos = nanos * 10 + (c - '0');
      for (auto n = frac.size(); n < 9; ++n)
        nanos *= 10;
    }
    return secs * nanos_per_second + nanos;
  }
  int64_t out = 0;
  if (!parse_rfc3339(s, out)) return invalid();
  return out;
}

std::string frame(uint8_t stream, std::string_view payload) {
  std::string out;
  out.reserve(8 + payload.size());
  auto len = static_cast<uint32_t>(payload.size());
  out += static_cast<char>(stream);
  out.append(3, '\0');
  out += static_cast<char>((len >> 24) & 0xFF);
  out += static_cast<char>((len >> 16) & 0xFF);
  out += static_cast<char>((len >> 8) & 0xFF);
  out += static_cast<char>(len & 0xFF);
  out.append(payload);
  return out;
}

} // namespace berth::logs
