// Layer tar extraction (escapes, whiteouts, limits, metadata), tar-split round trips and
// write_tar: drivers/graph/archive.cpp. Hostile tars are built here with libarchive's writer.
#include "drivers/graph/archive.hpp"

#include "messages/error.hpp"
#include "tests/unit/util.hpp"

#include <boost/test/unit_test.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

using namespace berth;
using namespace berth::graph;
using namespace berth::test;

namespace {

bool as_root() {
  if (::geteuid() == 0) return true;
  BOOST_TEST_MESSAGE("skipped: needs root");
  return false;
}

struct opts {
  unsigned mode = 0644;
  int64_t uid = 0;
  int64_t gid = 0;
  time_t mtime = 1600000000;
  std::map<std::string, std::string> xattrs = {};
};

// Builds a tar in memory with libarchive's writer.
class tar_builder {
public:
  explicit tar_builder(bool gnu = false) {
    a_ = archive_write_new();
    if (gnu)
      archive_write_set_format_gnutar(a_);
    else
      archive_write_set_format_pax_restricted(a_);
    archive_write_set_bytes_in_last_block(a_, 1);
    archive_write_open(a_, this, nullptr, &tar_builder::cb, nullptr);
  }
  ~tar_builder() { archive_write_free(a_); }
  tar_builder(const tar_builder&) = delete;
  tar_builder& operator=(const tar_builder&) = delete;

  tar_builder& file(const std::string& path, const std::string& data, opts o = {}) {
    auto* e = entry(path, AE_IFREG, o);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    write(e, data);
    return *this;
  }
  tar_builder& dir(const std::string& path, opts o = {}) {
    if (o.mode == 0644) o.mode = 0755;
    write(entry(path, AE_IFDIR, o));
    return *this;
  }
  tar_builder& symlink(const std::string& path, const std::string& target) {
    auto* e = entry(path, AE_IFLNK, {0777});
    archive_entry_set_symlink(e, target.c_str());
    write(e);
    return *this;
  }
  tar_builder& hardlink(const std::string& path, const std::string& target) {
    auto* e = entry(path, AE_IFREG, {});
    archive_entry_set_hardlink(e, target.c_str());
    archive_entry_set_size(e, 0);
    write(e);
    return *this;
  }
  tar_builder& node(const std::string& path, unsigned type, unsigned maj, unsigned min) {
    auto* e = entry(path, type, {0600});
    archive_entry_set_rdevmajor(e, maj);
    archive_entry_set_rdevminor(e, min);
    write(e);
    return *this;
  }
  std::string finish() {
    archive_write_close(a_);
    return out_;
  }

private:
  struct archive_entry* entry(const std::string& path, unsigned type, const opts& o) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, static_cast<mode_t>(o.mode));
    archive_entry_set_uid(e, o.uid);
    archive_entry_set_gid(e, o.gid);
    archive_entry_set_mtime(e, o.mtime, 123456789);
    for (auto& [k, v] : o.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    return e;
  }
  void write(struct archive_entry* e, const std::string& data = {}) {
    BOOST_REQUIRE_GE(archive_write_header(a_, e), ARCHIVE_WARN);
    if (!data.empty()) archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
  }
  static la_ssize_t cb(struct archive*, void* p, const void* buf, size_t len) {
    static_cast<tar_builder*>(p)->out_.append(static_cast<const char*>(buf), len);
    return static_cast<la_ssize_t>(len);
  }
  struct archive* a_;
  std::string out_;
};

caf::expected<extract_stats> extract(const std::string& tar, const std::string& root,
                                     whiteout_mode mode = whiteout_mode::remove,
                                     const extract_limits& limits = {},
                                     const std::string& split = {}) {
  return apply_tar(io::string_reader(tar), root, mode, limits, split);
}

bool exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

std::string slurp(const std::string& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const std::string& p, const std::string& data) {
  std::ofstream out{p, std::ios::binary};
  out << data;
}

std::string rebuilt(const std::string& split, const std::string& root) {
  std::string out;
  auto err = rebuild_tar(split, root, [&](const char* d, std::size_t n) {
    out.append(d, n);
    return caf::error{};
  });
  BOOST_REQUIRE_MESSAGE(!err, error_message(err));
  return out;
}

// Apply with a tar-split record, rebuild, and compare digests.
void round_trip(const std::string& tar, whiteout_mode mode, const std::string& lower = {}) {
  temp_dir t;
  auto root = t.sub("root");
  if (!lower.empty()) BOOST_REQUIRE(extract(lower, root, mode));
  auto split = t.path + "/split";
  auto st = extract(tar, root, mode, {}, split);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK_EQUAL(io::digest_of(rebuilt(split, root)), io::digest_of(tar));
}

void expect_refused(const std::string& tar, const std::string& root, const std::string& needle) {
  auto st = extract(tar, root);
  BOOST_REQUIRE(!st);
  BOOST_CHECK(st.error() == ec::invalid_argument);
  auto msg = why(st);
  BOOST_CHECK_MESSAGE(msg.find(needle) != std::string::npos, msg);
}

std::vector<std::string> tar_names(const std::string& tar) {
  std::vector<std::string> out;
  auto* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, tar.data(), tar.size());
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK)
    out.emplace_back(archive_entry_pathname(e));
  archive_read_free(a);
  return out;
}

} // namespace

namespace berth_tests { // the suite's namespace must not clash with libarchive's ::archive

BOOST_AUTO_TEST_SUITE(archive)

BOOST_AUTO_TEST_CASE(refuses_dotdot_and_absolute_paths) {
  temp_dir t;
  auto root = t.sub("root");
  expect_refused(tar_builder{}.file("../escape", "x").finish(), root, "../escape");
  BOOST_CHECK(!exists(t.path + "/escape"));
  expect_refused(tar_builder{}.file("a/../../escape2", "x").finish(), root, "..");
  BOOST_CHECK(!exists(t.path + "/escape2"));
  auto abs = t.path + "/abs";
  expect_refused(tar_builder{}.file(abs, "x").finish(), root, abs);
  BOOST_CHECK(!exists(abs));
}

BOOST_AUTO_TEST_CASE(refuses_writes_through_escaping_symlinks) {
  temp_dir t;
  auto root = t.sub("root");
  auto outside = t.sub("outside");
  expect_refused(tar_builder{}.symlink("link", outside).file("link/x", "pwned").finish(), root,
                 "link/x");
  BOOST_CHECK(!exists(outside + "/x"));
  BOOST_CHECK(exists(root + "/link")); // the symlink itself is stored
  auto root2 = t.sub("root2");
  expect_refused(tar_builder{}.dir("a").symlink("a/up", "../../..").file("a/up/x", "p").finish(),
                 root2, "outside the layer root");
  BOOST_CHECK(!exists(t.path + "/x"));
  BOOST_CHECK(!exists("/x"));
  // A symlink that stays inside root may be followed.
  auto root3 = t.sub("root3");
  auto st =
      extract(tar_builder{}.dir("real").symlink("lnk", "real").file("lnk/f", "ok").finish(), root3);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK_EQUAL(slurp(root3 + "/real/f"), "ok");
}

BOOST_AUTO_TEST_CASE(refuses_hardlinks_outside_root) {
  temp_dir t;
  auto root = t.sub("root");
  auto outside = t.sub("outside");
  write(outside + "/secret", "s");
  expect_refused(tar_builder{}.hardlink("passwd", "/etc/passwd").finish(), root, "/etc/passwd");
  BOOST_CHECK(!exists(root + "/passwd"));
  expect_refused(tar_builder{}.hardlink("s", "../outside/secret").finish(), root, "s");
  BOOST_CHECK(!exists(root + "/s"));
  expect_refused(tar_builder{}.symlink("o", outside).hardlink("s2", "o/secret").finish(), root,
                 "outside the layer root");
  BOOST_CHECK(!exists(root + "/s2"));
  expect_refused(tar_builder{}.hardlink("s3", "missing").finish(), root, "not found");
}

BOOST_AUTO_TEST_CASE(whiteouts_remove_mode) {
  temp_dir t;
  auto root = t.sub("root");
  auto lower = tar_builder{}
                   .file("x", "x")
                   .dir("gone")
                   .file("gone/f", "f")
                   .dir("d")
                   .file("d/old", "o")
                   .dir("d/sub")
                   .file("d/sub/old2", "o")
                   .dir("d/keep")
                   .file("d/keep/old3", "o")
                   .finish();
  BOOST_REQUIRE(extract(lower, root));
  auto upper = tar_builder{}
                   .file(".wh.x", "")
                   .file(".wh.gone", "")
                   .file(".wh.never-existed", "")
                   .dir("d")
                   .file("d/before", "b")
                   .dir("d/keep")
                   .file("d/keep/new3", "n")
                   .file("d/.wh..wh..opq", "")
                   .file("d/after", "a")
                   .finish();
  auto st = extract(upper, root);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK(!exists(root + "/x"));
  BOOST_CHECK(!exists(root + "/gone"));
  BOOST_CHECK(!exists(root + "/.wh.x"));
  BOOST_CHECK(!exists(root + "/d/old"));
  BOOST_CHECK(!exists(root + "/d/sub"));
  BOOST_CHECK(!exists(root + "/d/keep/old3"));
  BOOST_CHECK(exists(root + "/d/keep/new3"));
  BOOST_CHECK(exists(root + "/d/before"));
  BOOST_CHECK(exists(root + "/d/after"));
  BOOST_CHECK(!exists(root + "/d/.wh..wh..opq"));
}

BOOST_AUTO_TEST_CASE(whiteouts_overlay_mode) {
  if (!as_root()) return;
  temp_dir t;
  auto root = t.sub("root");
  auto tar = tar_builder{}
                 .file(".wh.x", "")
                 .dir("d")
                 .file("d/.wh..wh..opq", "")
                 .file("e/.wh..wh..opq", "")
                 .finish();
  auto st = extract(tar, root, whiteout_mode::overlay);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  struct stat s;
  BOOST_REQUIRE(::lstat((root + "/x").c_str(), &s) == 0);
  BOOST_CHECK(S_ISCHR(s.st_mode));
  BOOST_CHECK_EQUAL(s.st_rdev, makedev(0, 0));
  BOOST_CHECK(!exists(root + "/.wh.x"));
  for (auto d : {"/d", "/e"}) {
    char v[4] = {};
    BOOST_CHECK_EQUAL(::lgetxattr((root + d).c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
    BOOST_CHECK_EQUAL(v[0], 'y');
    BOOST_CHECK(!exists(root + d + "/.wh..wh..opq"));
  }
}

BOOST_AUTO_TEST_CASE(bomb_limits) {
  temp_dir t;
  extract_limits few;
  few.max_entries = 3;
  auto many = tar_builder{}.file("a", "").file("b", "").file("c", "").file("d", "").finish();
  auto st = extract(many, t.sub("r1"), whiteout_mode::remove, few);
  BOOST_REQUIRE(!st);
  BOOST_CHECK(st.error() == ec::invalid_argument);
  BOOST_CHECK_NE(why(st).find("entry count limit"), std::string::npos);
  extract_limits small;
  small.max_bytes = 100;
  st = extract(tar_builder{}.file("big", std::string(101, 'x')).finish(), t.sub("r2"),
               whiteout_mode::remove, small);
  BOOST_REQUIRE(!st);
  BOOST_CHECK_NE(why(st).find("size limit"), std::string::npos);
  extract_limits shortp;
  shortp.max_path = 10;
  st = extract(tar_builder{}.file("a-rather-long-name", "").finish(), t.sub("r3"),
               whiteout_mode::remove, shortp);
  BOOST_REQUIRE(!st);
  BOOST_CHECK_NE(why(st).find("path length limit"), std::string::npos);
  extract_limits fewx;
  fewx.max_xattr_bytes = 8;
  st = extract(tar_builder{}.file("f", "", {0644, 0, 0, 1, {{"user.k", "0123456789"}}}).finish(),
               t.sub("r4"), whiteout_mode::remove, fewx);
  BOOST_REQUIRE(!st);
  BOOST_CHECK_NE(why(st).find("xattr size limit"), std::string::npos);
  // Within the limits, the stats count entries and payload bytes.
  st = extract(tar_builder{}.file("a", "12345").dir("d").finish(), t.sub("r5"));
  BOOST_REQUIRE(st);
  BOOST_CHECK_EQUAL(st->entries, 2u);
  BOOST_CHECK_EQUAL(st->bytes, 5u);
}

BOOST_AUTO_TEST_CASE(keeps_metadata) {
  temp_dir t;
  auto root = t.sub("root");
  bool root_user = ::geteuid() == 0;
  tar_builder b;
  b.dir("d", {01777, 0, 0, 1500000000})
      .file("d/f", "hello",
            {04755, root_user ? 1234 : 0, root_user ? 5678 : 0, 1500000001, {{"user.k", "v"}}})
      .hardlink("d/hl", "d/f")
      .symlink("d/ln", "f");
  if (root_user)
    b.node("d/null", AE_IFCHR, 1, 3)
        .node("d/fifo", AE_IFIFO, 0, 0)
        .file("d/t", "x", {0600, 0, 0, 1, {{"trusted.berth", "yes"}}});
  auto st = extract(b.finish(), root);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  struct stat s, h;
  BOOST_REQUIRE(::lstat((root + "/d/f").c_str(), &s) == 0);
  BOOST_CHECK_EQUAL(s.st_mode & 07777, 04755u);
  BOOST_CHECK_EQUAL(s.st_mtim.tv_sec, 1500000001);
  BOOST_CHECK_EQUAL(s.st_mtim.tv_nsec, 123456789);
  BOOST_REQUIRE(::lstat((root + "/d/hl").c_str(), &h) == 0);
  BOOST_CHECK_EQUAL(s.st_ino, h.st_ino);
  char v[8] = {};
  if (::lgetxattr((root + "/d/f").c_str(), "user.k", v, sizeof v) >= 0)
    BOOST_CHECK_EQUAL(std::string(v), "v");
  char target[64] = {};
  BOOST_CHECK_EQUAL(::readlink((root + "/d/ln").c_str(), target, sizeof target), 1);
  BOOST_CHECK_EQUAL(std::string(target), "f");
  BOOST_REQUIRE(::lstat((root + "/d").c_str(), &s) == 0);
  BOOST_CHECK_EQUAL(s.st_mode & 07777, 01777u);
  BOOST_CHECK_EQUAL(s.st_mtim.tv_sec, 1500000000); // set after its contents
  if (!as_root()) return;
  BOOST_REQUIRE(::lstat((root + "/d/f").c_str(), &s) == 0);
  BOOST_CHECK_EQUAL(s.st_uid, 1234u);
  BOOST_CHECK_EQUAL(s.st_gid, 5678u);
  BOOST_REQUIRE(::lstat((root + "/d/null").c_str(), &s) == 0);
  BOOST_CHECK(S_ISCHR(s.st_mode));
  BOOST_CHECK_EQUAL(s.st_rdev, makedev(1, 3));
  BOOST_REQUIRE(::lstat((root + "/d/fifo").c_str(), &s) == 0);
  BOOST_CHECK(S_ISFIFO(s.st_mode));
  BOOST_CHECK_EQUAL(::lgetxattr((root + "/d/t").c_str(), "trusted.berth", v, sizeof v), 3);
}

BOOST_AUTO_TEST_CASE(replaces_existing_entries) {
  temp_dir t;
  auto root = t.sub("root");
  BOOST_REQUIRE(extract(
      tar_builder{}.dir("a").file("a/x", "x").file("b", "b").dir("c").file("c/keep", "k").finish(),
      root));
  auto st = extract(
      tar_builder{}.file("a", "now a file").dir("b").dir("c").file("c/new", "n").finish(), root);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK_EQUAL(slurp(root + "/a"), "now a file");
  struct stat s;
  BOOST_REQUIRE(::lstat((root + "/b").c_str(), &s) == 0);
  BOOST_CHECK(S_ISDIR(s.st_mode));
  BOOST_CHECK(exists(root + "/c/keep")); // directories merge
  BOOST_CHECK(exists(root + "/c/new"));
}

BOOST_AUTO_TEST_CASE(many_small_files_keep_tar_order) {
  temp_dir t;
  auto root = t.sub("root");
  tar_builder b;
  b.dir("d", {0755, 0, 0, 1500000000});
  for (int i = 0; i < 300; ++i)
    b.file("d/f" + std::to_string(i), "data " + std::to_string(i),
           {0640, 0, 0, 1600000000 + i, {{"user.k", std::to_string(i)}}});
  b.file("d/f7", "again");                    // same path as a file still being written
  b.hardlink("d/h", "d/f299");                // to a file still being written
  b.file("d/sub", "file first").dir("d/sub"); // replaced by a directory
  b.file("d/sub/z", "z");
  auto tar = b.finish();
  auto split = t.path + "/split";
  auto st = extract(tar, root, whiteout_mode::remove, {}, split);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK_EQUAL(st->entries, 306u);
  BOOST_CHECK_EQUAL(slurp(root + "/d/f0"), "data 0");
  BOOST_CHECK_EQUAL(slurp(root + "/d/f299"), "data 299");
  BOOST_CHECK_EQUAL(slurp(root + "/d/f7"), "again");
  BOOST_CHECK_EQUAL(slurp(root + "/d/sub/z"), "z");
  struct stat a, h, d, f;
  BOOST_REQUIRE(::lstat((root + "/d/f299").c_str(), &a) == 0);
  BOOST_REQUIRE(::lstat((root + "/d/h").c_str(), &h) == 0);
  BOOST_CHECK_EQUAL(a.st_ino, h.st_ino);
  BOOST_REQUIRE(::lstat((root + "/d/f42").c_str(), &f) == 0);
  BOOST_CHECK_EQUAL(f.st_mode & 07777, 0640u);
  BOOST_CHECK_EQUAL(f.st_mtim.tv_sec, 1600000042);
  BOOST_REQUIRE(::lstat((root + "/d").c_str(), &d) == 0);
  BOOST_CHECK_EQUAL(d.st_mtim.tv_sec, 1500000000); // set after every file in it was written
  char v[16] = {};
  if (::lgetxattr((root + "/d/f42").c_str(), "user.k", v, sizeof v - 1) >= 0)
    BOOST_CHECK_EQUAL(std::string(v), "42");
  BOOST_CHECK_EQUAL(io::digest_of(rebuilt(split, root)), io::digest_of(tar));
}

BOOST_AUTO_TEST_CASE(reports_the_first_failed_file) {
  temp_dir t;
  auto root = t.sub("root");
  tar_builder b;
  for (int i = 0; i < 50; ++i)
    b.file("f" + std::to_string(i), "x");
  std::string bad(300, 'n'); // longer than NAME_MAX: creating it fails
  b.file(bad, "bad");
  for (int i = 0; i < 50; ++i)
    b.file("g" + std::to_string(i), "y");
  b.file(bad + "2", "bad too");
  auto st = extract(b.finish(), root);
  BOOST_REQUIRE(!st);
  BOOST_CHECK(st.error() == ec::system);
  BOOST_CHECK_EQUAL(why(st), "create " + bad + ": " + std::strerror(ENAMETOOLONG));
  BOOST_CHECK(exists(root + "/f49"));
}

BOOST_AUTO_TEST_CASE(reports_stream_errors) {
  temp_dir t;
  auto root = t.sub("root");
  io::reader failing = [](char*, std::size_t) -> caf::expected<std::size_t> {
    return make_error(ec::unspecified, "network went away");
  };
  auto st = apply_tar(failing, root, whiteout_mode::remove);
  BOOST_REQUIRE(!st);
  BOOST_CHECK_EQUAL(why(st), "network went away");
  auto tar = tar_builder{}.file("f", std::string(5000, 'x')).finish();
  st = extract(tar.substr(0, 1500), root);
  BOOST_REQUIRE(!st);
  BOOST_CHECK(st.error() == ec::invalid_argument);
  st = extract(std::string(1024, '\0'), t.sub("empty")); // Docker's empty layer
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK_EQUAL(st->entries, 0u);
}

BOOST_AUTO_TEST_CASE(tar_split_round_trips) {
  std::string big;
  for (unsigned i = 0; i < 300000; ++i)
    big += static_cast<char>((i * 7919u) % 251u);
  std::string longname(150, 'n');
  auto pax = tar_builder{}
                 .dir("etc")
                 .file("etc/passwd", "root:x:0:0\n")
                 .file("empty", "")
                 .file("big", big)
                 .dir("deep/" + longname)
                 .file("deep/" + longname + "/" + longname, "long")
                 .hardlink("etc/hl", "etc/passwd")
                 .symlink("etc/ln", "/" + longname)
                 .file("x", "with xattr", {0644, 0, 0, 1, {{"user.a", "b"}}})
                 .finish();
  round_trip(pax, whiteout_mode::remove);
  auto gnu = tar_builder{true}
                 .dir("d")
                 .file("d/" + longname, "gnu long name")
                 .hardlink("d/h" + longname, "d/" + longname)
                 .symlink("d/s", longname)
                 .finish();
  round_trip(gnu, whiteout_mode::remove);
  // Trailing zero blocks and garbage after the end are kept.
  round_trip(gnu + std::string(4096, '\0') + "trailing garbage", whiteout_mode::remove);
  // Whiteouts in both modes (the .wh. entries have no payload).
  auto lower = tar_builder{}.file("x", "x").dir("d").file("d/old", "o").finish();
  auto wh =
      tar_builder{}.file(".wh.x", "").dir("d").file("d/.wh..wh..opq", "").file("d/n", "n").finish();
  round_trip(wh, whiteout_mode::remove, lower);
  if (::geteuid() == 0) round_trip(wh, whiteout_mode::overlay);
  // A file replaced or whited out later in the same tar: its payload is kept in the record.
  auto dup = tar_builder{}
                 .file("a", "first version")
                 .file("a", "second")
                 .dir("dd")
                 .file("dd/f", "in a dir later replaced")
                 .file("dd", "now a file")
                 .file("w", "whited out")
                 .file(".wh.w", "")
                 .finish();
  round_trip(dup, whiteout_mode::remove);
  // The empty layer.
  round_trip(std::string(1024, '\0'), whiteout_mode::remove);
}

BOOST_AUTO_TEST_CASE(tar_split_detects_changed_files) {
  temp_dir t;
  auto root = t.sub("root");
  auto split = t.path + "/split";
  BOOST_REQUIRE(
      extract(tar_builder{}.file("f", "content").finish(), root, whiteout_mode::remove, {}, split));
  write(root + "/f", "other length");
  auto err = rebuild_tar(split, root, [](const char*, std::size_t) { return caf::error{}; });
  BOOST_CHECK(err);
}

BOOST_AUTO_TEST_CASE(write_tar_round_trip) {
  temp_dir t;
  auto src = t.sub("src");
  auto tar = tar_builder{}
                 .dir("b")
                 .file("b/f", "hello", {0640, 0, 0, 1400000000})
                 .hardlink("b/h", "b/f")
                 .symlink("a-link", "b/f")
                 .file("skipme", "no")
                 .dir("c")
                 .finish();
  BOOST_REQUIRE(extract(tar, src));
  std::string out;
  auto err = write_tar(src,
                       [&](const char* d, std::size_t n) {
                         out.append(d, n);
                         return caf::error{};
                       },
                       {"skipme"});
  BOOST_REQUIRE_MESSAGE(!err, error_message(err));
  auto names = tar_names(out);
  std::vector<std::string> want{"a-link", "b/", "b/f", "b/h", "c/"};
  BOOST_CHECK_EQUAL_COLLECTIONS(names.begin(), names.end(), want.begin(), want.end());
  auto dst = t.sub("dst");
  auto st = extract(out, dst);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK_EQUAL(slurp(dst + "/b/f"), "hello");
  struct stat f, h;
  BOOST_REQUIRE(::lstat((dst + "/b/f").c_str(), &f) == 0);
  BOOST_REQUIRE(::lstat((dst + "/b/h").c_str(), &h) == 0);
  BOOST_CHECK_EQUAL(f.st_ino, h.st_ino);
  BOOST_CHECK_EQUAL(f.st_mode & 07777, 0640u);
  BOOST_CHECK_EQUAL(f.st_mtim.tv_sec, 1400000000);
  BOOST_CHECK(!exists(dst + "/skipme"));
  // A failing writer's error comes back as is.
  err = write_tar(
      src, [](const char*, std::size_t) { return make_error(ec::unspecified, "disk full"); });
  BOOST_REQUIRE(err);
  BOOST_CHECK_EQUAL(error_message(err), "disk full");
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace berth_tests
