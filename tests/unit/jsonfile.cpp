// The json-file log driver (drivers/log/jsonfile): the bytes it writes, rotation, the reader's
// filters across rotated files, option validation, times and stream framing.
#include "drivers/log/jsonfile.hpp"

#include "messages/error.hpp"
#include "tests/unit/util.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

using namespace berth;
using namespace berth::logs;
using namespace berth::test;

namespace {

constexpr int64_t t0 = 1700000000LL * 1000000000LL; // 2023-11-14T22:13:20Z

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::unique_ptr<writer> must_open(const std::string& path, options opts = {}) {
  auto w = writer::open(path, opts);
  BOOST_REQUIRE_MESSAGE(w, why(w));
  return std::move(*w);
}

void put(writer& w, uint8_t stream, std::string data, int64_t time) {
  auto err = w.write(output_chunk{stream, std::move(data), time});
  BOOST_REQUIRE_MESSAGE(!err, error_message(err));
}

std::vector<entry> read_all(const std::string& path, query q = {}) {
  std::vector<entry> out;
  auto err = read(path, q, [&](const entry& e) {
    out.push_back(e);
    return true;
  });
  BOOST_REQUIRE_MESSAGE(!err, error_message(err));
  return out;
}

std::vector<std::string> logs_of(const std::vector<entry>& es) {
  std::vector<std::string> out;
  for (auto& e : es)
    out.push_back(e.log);
  return out;
}

std::string line(const std::string& log_json, const char* stream, const std::string& time) {
  return "{\"log\":" + log_json + ",\"stream\":\"" + stream + "\",\"time\":\"" + time + "\"}\n";
}

std::string error_of(const caf::expected<options>& x) {
  return x ? std::string{"ok"} : error_message(x.error());
}

} // namespace

BOOST_AUTO_TEST_SUITE(jsonfile)

BOOST_AUTO_TEST_CASE(writes_dockers_bytes) {
  temp_dir t;
  auto path = t.path + "/c-json.log";
  {
    auto w = must_open(path);
    put(*w, 1, "hello\n", t0);
    put(*w, 2, "a\"b\\c<>&\t\x01\x1f\r\n", t0 + 1);
    put(*w, 1, "bad \xff\xfe utf8, \xe2\x80\xa8 sep, \xc3\xa9 ok, \xf0\x9f\x98\x80\n", t0 + 2);
    put(*w, 1, "\xed\xa0\x80 surrogate, \xc0\xaf overlong, \xe2\x82 short\n", t0 + 3);
  }
  auto raw = slurp(path);
  std::string want =
      line("\"hello\\n\"", "stdout", "2023-11-14T22:13:20.000000000Z") +
      line("\"a\\\"b\\\\c\\u003c\\u003e\\u0026\\u0009\\u0001\\u001f\\r\\n\"", "stderr",
           "2023-11-14T22:13:20.000000001Z") +
      line("\"bad \\ufffd\\ufffd utf8, \\u2028 sep, \xc3\xa9 ok, \xf0\x9f\x98\x80\\n\"", "stdout",
           "2023-11-14T22:13:20.000000002Z") +
      line("\"\\ufffd\\ufffd\\ufffd surrogate, \\ufffd\\ufffd overlong, \\ufffd\\ufffd short\\n\"",
           "stdout", "2023-11-14T22:13:20.000000003Z");
  BOOST_CHECK_EQUAL(raw, want);
  struct stat st;
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_CHECK_EQUAL(st.st_mode & 0777, 0640u);

  auto es = read_all(path);
  BOOST_REQUIRE_EQUAL(es.size(), 4u);
  BOOST_CHECK_EQUAL(es[0].log, "hello\n");
  BOOST_CHECK_EQUAL(es[0].stream, 1);
  BOOST_CHECK_EQUAL(es[0].time_nano, t0);
  BOOST_CHECK_EQUAL(es[1].log, "a\"b\\c<>&\t\x01\x1f\r\n");
  BOOST_CHECK_EQUAL(es[1].stream, 2);
  BOOST_CHECK_EQUAL(es[1].time_nano, t0 + 1);
  BOOST_CHECK_EQUAL(es[2].log, "bad \xef\xbf\xbd\xef\xbf\xbd utf8, \xe2\x80\xa8 sep, \xc3\xa9 ok, "
                               "\xf0\x9f\x98\x80\n");
  BOOST_CHECK_EQUAL(es[3].time_nano, t0 + 3);
}

BOOST_AUTO_TEST_CASE(partial_lines_per_stream) {
  temp_dir t;
  auto path = t.path + "/c-json.log";
  auto w = must_open(path);
  put(*w, 1, "par", t0);
  put(*w, 2, "err1\nerr", t0 + 1);
  put(*w, 1, "tial\nnext\nhalf", t0 + 2);
  // Held: stdout "half", stderr "err".
  auto es = read_all(path);
  BOOST_CHECK((logs_of(es) == std::vector<std::string>{"err1\n", "partial\n", "next\n"}));
  BOOST_REQUIRE_EQUAL(es.size(), 3u);
  BOOST_CHECK_EQUAL(es[1].time_nano, t0); // the time of the line's first bytes
  BOOST_CHECK_EQUAL(es[2].time_nano, t0 + 2);
  BOOST_REQUIRE(!w->flush());
  es = read_all(path);
  BOOST_CHECK(
      (logs_of(es) == std::vector<std::string>{"err1\n", "partial\n", "next\n", "half", "err"}));
  BOOST_REQUIRE(!w->flush()); // nothing held: nothing written
  BOOST_CHECK_EQUAL(read_all(path).size(), 5u);

  // A line longer than 16 KiB goes out in 16 KiB pieces, the rest with its newline.
  put(*w, 1, std::string(40000, 'x'), t0 + 3);
  put(*w, 1, "\n", t0 + 4);
  es = read_all(path);
  BOOST_REQUIRE_EQUAL(es.size(), 8u);
  BOOST_CHECK_EQUAL(es[5].log, std::string(16384, 'x'));
  BOOST_CHECK_EQUAL(es[6].log, std::string(16384, 'x'));
  BOOST_CHECK_EQUAL(es[7].log, std::string(40000 - 2 * 16384, 'x') + "\n");

  auto bad = w->write(output_chunk{3, "x\n", t0});
  BOOST_CHECK(bad == ec::invalid_argument);
}

BOOST_AUTO_TEST_CASE(rotates_by_size_and_count) {
  temp_dir t;
  auto path = t.path + "/c-json.log";
  options o;
  o.max_size = 300;
  o.max_file = 3;
  {
    auto w = must_open(path, o);
    for (int i = 0; i < 40; ++i)
      put(*w, 1, "line " + std::to_string(100 + i) + "\n", t0 + i);
  }
  // One line is 79 bytes: 3 per file; 40 lines = 13 full files + 1 line.
  BOOST_CHECK(exists(path));
  BOOST_CHECK(exists(path + ".1"));
  BOOST_CHECK(exists(path + ".2"));
  BOOST_CHECK(!exists(path + ".3"));
  for (auto& f : files(path))
    BOOST_CHECK_LE(slurp(f).size(), 300u);
  BOOST_CHECK((files(path) == std::vector<std::string>{path, path + ".1", path + ".2"}));
  auto es = read_all(path);
  BOOST_REQUIRE_EQUAL(es.size(), 7u);
  for (std::size_t i = 0; i < es.size(); ++i)
    BOOST_CHECK_EQUAL(es[i].log, "line " + std::to_string(133 + i) + "\n");
  BOOST_CHECK_EQUAL(slurp(path).size(), 79u);

  // Reopening continues the live file's size.
  {
    auto w = must_open(path, o);
    put(*w, 1, "line 140\n", t0 + 40);
    put(*w, 1, "line 141\n", t0 + 41);
    put(*w, 1, "line 142\n", t0 + 42);
  }
  es = read_all(path);
  BOOST_REQUIRE_EQUAL(es.size(), 7u);
  BOOST_CHECK_EQUAL(es.front().log, "line 136\n");
  BOOST_CHECK_EQUAL(es.back().log, "line 142\n");

  // max-file 1: the live file is truncated.
  auto single = t.path + "/one.log";
  o.max_file = 1;
  {
    auto w = must_open(single, o);
    for (int i = 0; i < 10; ++i)
      put(*w, 1, "line " + std::to_string(100 + i) + "\n", t0 + i);
  }
  BOOST_CHECK(!exists(single + ".1"));
  BOOST_CHECK((logs_of(read_all(single)) == std::vector<std::string>{"line 109\n"}));
}

BOOST_AUTO_TEST_CASE(reads_with_filters_across_rotated_files) {
  temp_dir t;
  auto path = t.path + "/c-json.log";
  options o;
  o.max_size = 250;
  o.max_file = 10;
  {
    auto w = must_open(path, o);
    // 20 lines, even ones on stdout, odd on stderr, one second apart.
    for (int i = 0; i < 20; ++i)
      put(*w, i % 2 == 0 ? 1 : 2, "l" + std::to_string(10 + i) + "\n", t0 + i * 1000000000LL);
  }
  BOOST_REQUIRE_GE(files(path).size(), 5u);
  auto logs = [&](query q) { return logs_of(read_all(path, q)); };
  auto range = [](int from, int to, int step = 1) {
    std::vector<std::string> out;
    for (int i = from; i <= to; i += step)
      out.push_back("l" + std::to_string(10 + i) + "\n");
    return out;
  };
  BOOST_CHECK(logs({}) == range(0, 19));
  query q;
  q.tail = 3;
  BOOST_CHECK(logs(q) == range(17, 19));
  q.tail = 7; // crosses files
  BOOST_CHECK(logs(q) == range(13, 19));
  q.tail = 100;
  BOOST_CHECK(logs(q) == range(0, 19));
  q.tail = 0;
  BOOST_CHECK(logs(q).empty());
  q = {};
  q.stdout = false;
  BOOST_CHECK(logs(q) == range(1, 19, 2));
  q.tail = 4;
  BOOST_CHECK(logs(q) == range(13, 19, 2)); // the last 4 matching lines
  q = {};
  q.stderr = false;
  q.tail = 2;
  BOOST_CHECK(logs(q) == range(16, 18, 2));
  q = {};
  q.stdout = q.stderr = false;
  BOOST_CHECK(logs(q).empty());

  q = {};
  q.since_nano = t0 + 5 * 1000000000LL; // inclusive
  BOOST_CHECK(logs(q) == range(5, 19));
  q.until_nano = t0 + 8 * 1000000000LL; // inclusive
  BOOST_CHECK(logs(q) == range(5, 8));
  q.tail = 2;
  BOOST_CHECK(logs(q) == range(7, 8));
  q.tail = 10;
  BOOST_CHECK(logs(q) == range(5, 8));
  q = {};
  q.until_nano = t0 + 2 * 1000000000LL + 1;
  BOOST_CHECK(logs(q) == range(0, 2));
  q.stdout = false;
  q.tail = 5;
  BOOST_CHECK(logs(q) == range(1, 1));
  q = {};
  q.since_nano = t0 + 100 * 1000000000LL;
  BOOST_CHECK(logs(q).empty());
  q.tail = 3;
  BOOST_CHECK(logs(q).empty());

  // The sink stops the read.
  int n = 0;
  BOOST_REQUIRE(!read(path, {}, [&](const entry&) { return ++n < 4; }));
  BOOST_CHECK_EQUAL(n, 4);

  // A missing log is empty.
  BOOST_CHECK(read_all(t.path + "/none.log").empty());
  BOOST_CHECK(files(t.path + "/none.log").empty());
}

BOOST_AUTO_TEST_CASE(reads_what_dockerd_writes) {
  temp_dir t;
  auto path = t.path + "/c-json.log";
  std::ofstream out{path, std::ios::binary};
  // dockerd trims trailing zeros of the fraction, may add attrs, and escapes as Go does.
  out << "{\"log\":\"tab\\there \\u00e9 \\ud83d\\ude00 \\ud800 "
         "\\/\\b\\f\\n\",\"stream\":\"stdout\","
         "\"time\":\"2024-01-02T03:04:05.1234Z\"}\n";
  out << "{\"log\":\"with attrs\\n\",\"stream\":\"stderr\",\"attrs\":{\"a\":\"b}\",\"n\":[1,{}]},"
         "\"time\":\"2024-01-02T03:04:06Z\"}\n";
  out << "{ \"time\" : \"2024-01-02T05:04:07+02:00\" , \"stream\" : \"stdout\" , \"log\" : "
         "\"reordered\\n\" }\n";
  out << "\n";
  out << "not json at all\n";
  out << "{\"log\":\"torn\\n\",\"stream\":\"std"; // a crash mid-line
  out.close();
  auto es = read_all(path);
  BOOST_REQUIRE_EQUAL(es.size(), 3u);
  BOOST_CHECK_EQUAL(es[0].log, "tab\there \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd /\b\f\n");
  auto base = parse_time("2024-01-02T03:04:05Z");
  BOOST_REQUIRE(base);
  BOOST_CHECK_EQUAL(es[0].time_nano, *base + 123400000);
  BOOST_CHECK_EQUAL(es[1].log, "with attrs\n");
  BOOST_CHECK_EQUAL(es[1].stream, 2);
  BOOST_CHECK_EQUAL(es[1].time_nano, *base + 1000000000);
  BOOST_CHECK_EQUAL(es[2].log, "reordered\n");
  BOOST_CHECK_EQUAL(es[2].time_nano, *base + 2000000000);
  query q;
  q.tail = 1;
  BOOST_CHECK((logs_of(read_all(path, q)) == std::vector<std::string>{"reordered\n"}));
}

BOOST_AUTO_TEST_CASE(validates_options) {
  auto parse = [](std::map<std::string, std::string> m) { return parse_options(m); };
  auto none = parse({});
  BOOST_REQUIRE(none);
  BOOST_CHECK_EQUAL(none->max_size, -1);
  BOOST_CHECK_EQUAL(none->max_file, 1);
  auto o = parse({{"max-size", "10m"}, {"max-file", "3"}});
  BOOST_REQUIRE_MESSAGE(o, error_of(o));
  BOOST_CHECK_EQUAL(o->max_size, 10 * 1024 * 1024);
  BOOST_CHECK_EQUAL(o->max_file, 3);
  auto size = [&](const std::string& s) {
    auto x = parse({{"max-size", s}});
    return x ? x->max_size : -2;
  };
  BOOST_CHECK_EQUAL(size("512k"), 512 * 1024);
  BOOST_CHECK_EQUAL(size("1g"), 1024LL * 1024 * 1024);
  BOOST_CHECK_EQUAL(size("1G"), 1024LL * 1024 * 1024);
  BOOST_CHECK_EQUAL(size("2MB"), 2 * 1024 * 1024);
  BOOST_CHECK_EQUAL(size("2MiB"), 2 * 1024 * 1024);
  BOOST_CHECK_EQUAL(size("1.5m"), 1572864);
  BOOST_CHECK_EQUAL(size("10 k"), 10240);
  BOOST_CHECK_EQUAL(size("100"), 100);
  BOOST_CHECK_EQUAL(size("100b"), 100);
  BOOST_CHECK_EQUAL(size("10x"), -2);
  BOOST_CHECK_EQUAL(size("m"), -2);
  BOOST_CHECK_EQUAL(size("-1"), -2);
  BOOST_CHECK_EQUAL(size("10mbb"), -2);
  BOOST_CHECK_EQUAL(size("1.2.3m"), -2);
  auto err = [&](std::map<std::string, std::string> m) {
    auto x = parse(std::move(m));
    BOOST_CHECK(!x);
    if (!x) BOOST_CHECK(x.error() == ec::invalid_argument);
    return error_of(x);
  };
  BOOST_CHECK_EQUAL(err({{"max-size", "10x"}}), "invalid suffix: 'x'");
  BOOST_CHECK_EQUAL(err({{"max-size", "big"}}), "invalid size: 'big'");
  BOOST_CHECK_EQUAL(err({{"max-size", "0"}}), "max-size must be a positive number");
  BOOST_CHECK_EQUAL(err({{"max-size", "1m"}, {"max-file", "0"}}), "max-file cannot be less than 1");
  BOOST_CHECK_EQUAL(err({{"max-size", "1m"}, {"max-file", "x"}}),
                    "strconv.Atoi: parsing \"x\": invalid syntax");
  BOOST_CHECK_EQUAL(err({{"max-file", "2"}}), "max-file cannot be set when max-size is not set");
  BOOST_CHECK(parse({{"max-file", "1"}})); // 1 is the default: fine without max-size
  BOOST_CHECK_EQUAL(err({{"x", "1"}}), "unknown log opt 'x' for json-file log driver");
  BOOST_CHECK_NE(err({{"compress", "true"}}).find("not supported by berth"), std::string::npos);
  BOOST_CHECK(parse({{"compress", "false"}}));
}

BOOST_AUTO_TEST_CASE(formats_and_parses_times) {
  BOOST_CHECK_EQUAL(format_time(0), "1970-01-01T00:00:00.000000000Z");
  BOOST_CHECK_EQUAL(format_time(t0 + 123456789), "2023-11-14T22:13:20.123456789Z");
  BOOST_CHECK_EQUAL(format_time(-1), "1969-12-31T23:59:59.999999999Z");
  BOOST_CHECK_EQUAL(format_time(951782400LL * 1000000000LL), "2000-02-29T00:00:00.000000000Z");
  auto ok = [](const std::string& s) {
    auto x = parse_time(s);
    BOOST_CHECK_MESSAGE(x, s + ": " + why(x));
    return x ? *x : -1;
  };
  BOOST_CHECK_EQUAL(ok("1700000000"), t0);
  BOOST_CHECK_EQUAL(ok("1700000000.5"), t0 + 500000000);
  BOOST_CHECK_EQUAL(ok("1700000000.123456789"), t0 + 123456789);
  BOOST_CHECK_EQUAL(ok("1700000000.000000001"), t0 + 1);
  BOOST_CHECK_EQUAL(ok("0"), 0);
  BOOST_CHECK_EQUAL(ok("2023-11-14T22:13:20Z"), t0);
  BOOST_CHECK_EQUAL(ok("2023-11-14T22:13:20.5Z"), t0 + 500000000);
  BOOST_CHECK_EQUAL(ok("2023-11-14T22:13:20.123456789Z"), t0 + 123456789);
  BOOST_CHECK_EQUAL(ok("2023-11-15T00:13:20+02:00"), t0);
  BOOST_CHECK_EQUAL(ok("2023-11-14T16:43:20.25-05:30"), t0 + 250000000);
  BOOST_CHECK_EQUAL(ok(format_time(t0 + 42)), t0 + 42);
  for (auto bad : {"", "abc", "1700000000.", "1700000000.1234567891", "17000000x", "-5",
                   "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2023-11-14 22:13:20Z",
                   "2023-11-14T22:13:20", "2023-11-14T22:13:20.Z", "2023-11-14T24:00:00Z",
                   "2023-11-14T22:13:20+0200", "2023-11-14T22:13:20.1234567891Z"}) {
    auto x = parse_time(bad);
    BOOST_CHECK_MESSAGE(!x, std::string{"accepted: "} + bad);
    if (!x) BOOST_CHECK(x.error() == ec::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(frames_streams) {
  BOOST_CHECK_EQUAL(frame(1, "hi\n"), std::string("\x01\0\0\0\0\0\0\x03hi\n", 11));
  BOOST_CHECK_EQUAL(frame(2, ""), std::string("\x02\0\0\0\0\0\0\0", 8));
  auto big = frame(1, std::string(0x01020304, 'a'));
  BOOST_CHECK_EQUAL(big.substr(0, 8), std::string("\x01\0\0\0\x01\x02\x03\x04", 8));
  BOOST_CHECK_EQUAL(big.size(), 8u + 0x01020304u);
}

BOOST_AUTO_TEST_CASE(reads_100000_lines) {
  temp_dir t;
  auto path = t.path + "/c-json.log";
  constexpr int lines = 100000;
  {
    auto w = must_open(path);
    std::string chunk;
    for (int i = 0; i < lines; ++i) {
      chunk += "line " + std::to_string(i) + " of the log, with a \"quote\" and a tab\t<b>\n";
      if (i % 100 == 99) {
        put(*w, i % 200 == 99 ? 1 : 2, chunk, t0 + i * 1000LL);
        chunk.clear();
      }
    }
  }
  auto bytes = slurp(path).size();
  std::size_t n = 0, total = 0;
  auto start = std::chrono::steady_clock::now();
  auto err = read(path, {}, [&](const entry& e) {
    ++n;
    total += e.log.size();
    return true;
  });
  auto full = std::chrono::steady_clock::now() - start;
  BOOST_REQUIRE(!err);
  BOOST_CHECK_EQUAL(n, static_cast<std::size_t>(lines));
  query q;
  q.tail = 100;
  std::size_t tailed = 0;
  start = std::chrono::steady_clock::now();
  err = read(path, q, [&](const entry&) { return ++tailed, true; });
  auto tail = std::chrono::steady_clock::now() - start;
  BOOST_REQUIRE(!err);
  BOOST_CHECK_EQUAL(tailed, 100u);
  using ms = std::chrono::duration<double, std::milli>;
  BOOST_TEST_MESSAGE("json-file: read " << n << " lines (" << bytes / 1024 << " KiB on disk, "
                                        << total / 1024 << " KiB of log) in " << ms(full).count()
                                        << " ms; tail 100 in " << ms(tail).count() << " ms");
}

BOOST_AUTO_TEST_SUITE_END()
