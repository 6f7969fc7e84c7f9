// The json-file log driver: Docker's on-disk format, one JSON object per line,
//   {"log":"hi\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}
// in <data-root>/containers/<id>/<id>-json.log, rotated by max-size into <id>-json.log.1 .. .N-1
// (max-file N, as dockerd's jsonfilelog), plus the reader behind GET /containers/{id}/logs and the
// stream framing shared with attach.
#pragma once

#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace berth::logs {

/// `--log-opt` of json-file: max-size ("10m", "1g", "512k", bytes; -1 = unlimited), max-file
/// (>= 1), compress is refused (not built). Validates with dockerd's wording.
struct options {
  int64_t max_size = -1;
  int max_file = 1;
};
caf::expected<options> parse_options(const std::map<std::string, std::string>& opts);

/// Writes lines of one container's output. Splits chunks into lines ("log" keeps the '\n'); a
/// partial line is held until its newline, flush() or 16 KiB (Docker's buffer size), as dockerd.
/// Not thread-safe: the container actor owns it.
class writer {
public:
  static caf::expected<std::unique_ptr<writer>> open(std::string path, options opts);
  virtual ~writer() = default;
  /// Append output of stream 1 (stdout) or 2 (stderr), read at `time_nano`.
  virtual caf::error write(const output_chunk& chunk) = 0;
  /// Write out held partial lines (at exit).
  virtual caf::error flush() = 0;
};

/// One decoded log line.
struct entry {
  uint8_t stream = 1; // 1 stdout, 2 stderr
  std::string log;
  int64_t time_nano = 0;
};

/// What GET /containers/{id}/logs asks for.
struct query {
  bool stdout = true;
  bool stderr = true;
  int64_t tail = -1;      // -1 = all
  int64_t since_nano = 0; // 0 = from the start
  int64_t until_nano = 0; // 0 = no end
};

/// Read the lines that match, oldest first, from the rotated files and then the live one. Stops
/// early when `sink` returns false. Missing files are an empty log.
caf::error read(const std::string& path, const query& q,
                const std::function<bool(const entry&)>& sink);

/// The files of a log (live one first) for removal.
std::vector<std::string> files(const std::string& path);

/// Docker's timestamp for logs and json-file: 2006-01-02T15:04:05.000000000Z (9 digits).
std::string format_time(int64_t time_nano);
/// Parse since/until as the CLI sends them: unix seconds with an optional fraction
/// ("1700000000.123456789"), or RFC 3339. Fails with invalid_argument.
caf::expected<int64_t> parse_time(const std::string& s);

/// The 8-byte stream header ([stream,0,0,0,len BE32]) + payload (attach and logs, Tty=false).
std::string frame(uint8_t stream, std::string_view payload);

} // namespace berth::logs
