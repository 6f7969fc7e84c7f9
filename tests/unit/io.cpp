// Byte streams: sha256, verification, gzip/zstd decompression, atomic writes.
#include <boost/test/unit_test.hpp>

#include "drivers/io.hpp"
#include "messages/error.hpp"
#include "tests/unit/util.hpp"

#include <cstdlib>
#include <unistd.h>

using namespace berth;
using berth::test::gzip;
using berth::test::zstd;

namespace {

std::string pattern(std::size_t n) {
  std::string s;
  s.reserve(n);
  unsigned x = 12345;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s += static_cast<char>((i % 7 == 0) ? (x >> 16) : 'a' + i % 26);
  }
  return s;
}

// Reads in small uneven pieces, to exercise buffer boundaries.
io::reader trickle(std::string data) {
  auto src = io::string_reader(std::move(data));
  return [src](char* buf, std::size_t len) { return src(buf, std::min<std::size_t>(len, 777)); };
}

} // namespace

BOOST_AUTO_TEST_SUITE(io_streams)

BOOST_AUTO_TEST_CASE(sha256_of_known_strings) {
  BOOST_TEST(io::digest_of("") ==
             "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(io::valid_digest(io::digest_of("abc")));
  BOOST_TEST(!io::valid_digest("sha256:ABC"));
  BOOST_TEST(io::digest_hex("sha256:abc") == "abc");
}

BOOST_AUTO_TEST_CASE(decompress_gzip_zstd_and_plain) {
  auto data = pattern(1 << 20);
  for (auto& packed : {gzip(data), zstd(data), data}) {
    io::stage_clock clock;
    auto r = io::read_all(io::decompress(trickle(packed), &clock), 8u << 20);
    BOOST_REQUIRE(r);
    BOOST_TEST((*r == data));
  }
  auto tiny = io::read_all(io::decompress(io::string_reader("ab")), 100);
  BOOST_REQUIRE(tiny);
  BOOST_TEST(*tiny == "ab");
  auto empty = io::read_all(io::decompress(io::string_reader("")), 100);
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->empty());
}

BOOST_AUTO_TEST_CASE(concatenated_gzip_members_are_one_stream) {
  auto r = io::read_all(io::decompress(trickle(gzip("hello ") + gzip("world"))), 100);
  BOOST_REQUIRE(r);
  BOOST_TEST(*r == "hello world");
}

BOOST_AUTO_TEST_CASE(truncated_or_corrupt_compression_fails) {
  auto packed = gzip(pattern(100000));
  auto r =
      io::read_all(io::decompress(io::string_reader(packed.substr(0, packed.size() / 2))), 1 << 20);
  BOOST_TEST(!r);
  auto z = zstd(pattern(100000));
  auto r2 = io::read_all(io::decompress(io::string_reader(z.substr(0, z.size() / 2))), 1 << 20);
  BOOST_TEST(!r2);
}

BOOST_AUTO_TEST_CASE(verifying_checks_digest_and_size) {
  std::string data = "layer bytes";
  auto good = io::read_all(io::verifying(io::string_reader(data), io::digest_of(data),
                                         static_cast<int64_t>(data.size()), "blob"),
                           100);
  BOOST_TEST(static_cast<bool>(good));
  auto bad = io::read_all(io::verifying(io::string_reader(data + "x"), io::digest_of(data), -1,
                                        "filesystem layer verification failed for digest d"),
                          100);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(error_message(bad.error()).find("verification failed") != std::string::npos);
  auto longer = io::read_all(
      io::verifying(io::string_reader(data + "x"), io::digest_of(data), 11, "blob"), 100);
  BOOST_TEST(!longer);
}

BOOST_AUTO_TEST_CASE(atomic_write_replaces_the_file) {
  char tmpl[] = "/tmp/berth-io-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  BOOST_REQUIRE(!io::mkdir_all(dir + "/a/b/c"));
  auto path = dir + "/a/b/c/f";
  BOOST_REQUIRE(!io::write_file_atomic(path, "one"));
  BOOST_REQUIRE(!io::write_file_atomic(path, "two"));
  auto got = io::read_file(path);
  BOOST_REQUIRE(got);
  BOOST_TEST(*got == "two");
  BOOST_TEST(io::read_file(dir + "/missing").error().code() == static_cast<uint8_t>(ec::not_found));
  BOOST_TEST(!io::remove_all(dir));
  BOOST_TEST(::access(dir.c_str(), F_OK) != 0);
  BOOST_TEST(io::random_hex().size() == 64u);
}

// Writes that are visible at once and synced by the background thread (container states).
BOOST_AUTO_TEST_CASE(deferred_sync) {
  char tmpl[] = "/tmp/berth-io-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto path = dir + "/state";
  for (auto v : {"one", "two", "three"}) {
    BOOST_REQUIRE(!io::write_file_atomic(path, v, 0644, /*durable=*/false));
    io::sync_later(path); // queued once while pending
  }
  io::sync_later(dir + "/missing"); // skipped
  io::sync_pending();
  io::sync_pending(); // nothing pending: returns at once
  BOOST_TEST(*io::read_file(path) == "three");
  BOOST_TEST(!io::remove_all(dir));
}

BOOST_AUTO_TEST_SUITE_END()
