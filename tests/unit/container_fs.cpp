// docker cp's view of a container filesystem: Go FileMode bits, moby's path rules, resolution
// confined to the root with hostile symlinks, the tar of a path, extraction that never leaves
// the root (drivers/graph/container_fs.cpp).
#include "drivers/graph/container_fs.hpp"

#include "tests/unit/util.hpp"

#include <boost/test/unit_test.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

using namespace berth;
using namespace berth::graph;
using namespace berth::test;

namespace {

void write_file(const std::string& p, const std::string& data) {
  std::ofstream out{p, std::ios::binary};
  out << data;
}

std::string slurp(const std::string& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

// A container root with hostile symlinks, next to a "host" directory it must never reach.
struct hostile_root {
  temp_dir tmp;
  std::string root = tmp.sub("root");
  std::string host = tmp.sub("host");
  io::unique_fd fd;
  hostile_root() {
    tmp.sub("root/etc");
    tmp.sub("root/a");
    write_file(root + "/etc/hostname", "container\n");
    write_file(host + "/hostname", "host\n");
    BOOST_REQUIRE(::symlink("/", (root + "/evil").c_str()) == 0);
    BOOST_REQUIRE(::symlink("../../../../..", (root + "/up").c_str()) == 0);
    BOOST_REQUIRE(::symlink("../../host", (root + "/a/rel").c_str()) == 0);
    BOOST_REQUIRE(::symlink("/proc/self/root", (root + "/self").c_str()) == 0);
    BOOST_REQUIRE(::symlink("/etc", (root + "/a/etc").c_str()) == 0);
    BOOST_REQUIRE(::symlink("loop2", (root + "/loop1").c_str()) == 0);
    BOOST_REQUIRE(::symlink("loop1", (root + "/loop2").c_str()) == 0);
    fd = io::unique_fd{::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    BOOST_REQUIRE(fd);
  }
  std::string read(const std::string& path) {
    auto f = open_in_root(fd.fd, path, O_RDONLY);
    if (!f) return "error: " + error_message(f.error());
    std::string buf(256, '\0');
    auto n = ::read(f->fd, buf.data(), buf.size());
    buf.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return buf;
  }
};

// name -> "d" (dir), "l:<target>" (symlink) or the file's content.
std::map<std::string, std::string> list_tar(const std::string& tar) {
  std::map<std::string, std::string> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_all(a);
  BOOST_REQUIRE(archive_read_open_memory(a, tar.data(), tar.size()) == ARCHIVE_OK);
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    if (archive_entry_filetype(e) == AE_IFDIR) {
      out[name] = "d";
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      out[name] = std::string{"l:"} + archive_entry_symlink(e);
    } else {
      std::string data(static_cast<std::size_t>(archive_entry_size(e)), '\0');
      archive_read_data(a, data.data(), data.size());
      out[name] = data;
    }
  }
  archive_read_free(a);
  return out;
}

std::map<std::string, std::string> tar_of(int rootfd, const std::string& path) {
  std::string tar;
  auto err = archive_path(rootfd, path, [&](const char* p, std::size_t n) -> caf::error {
    tar.append(p, n);
    return {};
  });
  BOOST_REQUIRE_MESSAGE(!err, error_message(err));
  return list_tar(tar);
}

} // namespace

BOOST_AUTO_TEST_SUITE(container_fs)

BOOST_AUTO_TEST_CASE(go_file_mode_bits) {
  BOOST_TEST(go_file_mode(S_IFDIR | 0755) == 2147484141u); // the call map's example
  BOOST_TEST(go_file_mode(S_IFREG | 0644) == 420u);
  BOOST_TEST(go_file_mode(S_IFLNK | 0777) == ((1u << 27) | 0777u));
  BOOST_TEST(go_file_mode(S_IFCHR | 0666) == ((1u << 26) | (1u << 21) | 0666u));
  BOOST_TEST(go_file_mode(S_IFBLK | 0660) == ((1u << 26) | 0660u));
  BOOST_TEST(go_file_mode(S_IFIFO | 0600) == ((1u << 25) | 0600u));
  BOOST_TEST(go_file_mode(S_IFSOCK | 0755) == ((1u << 24) | 0755u));
  BOOST_TEST(go_file_mode(S_IFREG | S_ISUID | 0755) == ((1u << 23) | 0755u));
  BOOST_TEST(go_file_mode(S_IFREG | S_ISGID | 0755) == ((1u << 22) | 0755u));
  BOOST_TEST(go_file_mode(S_IFDIR | S_ISVTX | 0777) == ((1u << 31) | (1u << 20) | 0777u));
}

BOOST_AUTO_TEST_CASE(moby_path_rules) {
  BOOST_TEST(clean_abs("") == "/");
  BOOST_TEST(clean_abs("a/./b/../c/") == "/a/c");
  BOOST_TEST(clean_abs("/../../x") == "/x");
  BOOST_TEST(container_abs_path("/tmp/") == "/tmp/");
  BOOST_TEST(container_abs_path("tmp/.") == "/tmp/.");
  BOOST_TEST(container_abs_path("/tmp/./") == "/tmp/./");
  BOOST_TEST(container_abs_path("/a/../b") == "/b");
  BOOST_TEST(container_abs_path("/") == "/");
  BOOST_TEST(container_abs_path(".") == "/.");
  BOOST_TEST(base_name("/") == "/");
  BOOST_TEST(base_name("/tmp/") == "tmp");
  BOOST_TEST(base_name("/tmp/.") == ".");
  BOOST_TEST(base_name("/etc/hostname") == "hostname");
}

BOOST_AUTO_TEST_CASE(hostile_symlinks_resolve_inside_the_root) {
  hostile_root r;
  BOOST_TEST(r.read("/etc/hostname") == "container\n");
  BOOST_TEST(r.read("/evil/etc/hostname") == "container\n");
  BOOST_TEST(r.read("/up/etc/hostname") == "container\n");
  BOOST_TEST(r.read("/../../../etc/hostname") == "container\n");
  BOOST_TEST(r.read("/a/etc/hostname") == "container\n");          // a symlink in the middle
  BOOST_TEST(r.read("/a/rel/hostname").rfind("error", 0) == 0);    // ../../host stops at the root
  BOOST_TEST(r.read("/self/etc/hostname").rfind("error", 0) == 0); // no /proc inside
  BOOST_TEST(r.read("/loop1").rfind("error", 0) == 0);

  auto scope = [&](const std::string& p) {
    auto x = resolve_in_scope(r.fd.fd, p);
    return x ? *x : "error: " + error_message(x.error());
  };
  BOOST_TEST(scope("/evil") == "/");
  BOOST_TEST(scope("/up") == "/");
  BOOST_TEST(scope("/a/etc/hostname") == "/etc/hostname");
  BOOST_TEST(scope("/a/rel") == "/host");
  BOOST_TEST(scope("/missing/x/../y") == "/missing/y");
  BOOST_TEST(scope("/self") == "/proc/self/root");
  BOOST_TEST(scope("/loop1").find("too many links") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stat_of_paths) {
  hostile_root r;
  auto s = stat_path(r.fd.fd, "/evil");
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->name == "evil");
  BOOST_TEST((s->mode & (1u << 27)) != 0u);
  BOOST_TEST(s->link_target == "/");
  s = stat_path(r.fd.fd, "/a/etc");
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->link_target == "/etc");
  s = stat_path(r.fd.fd, "/evil/etc/hostname");
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->name == "hostname");
  BOOST_TEST(s->size == 10);
  BOOST_TEST(s->mode == 0644u);
  BOOST_TEST(s->link_target.empty());
  s = stat_path(r.fd.fd, "/evil/");
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->name == "evil");
  BOOST_TEST((s->mode & (1u << 31)) != 0u);
  s = stat_path(r.fd.fd, "/");
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->name == "/");
  s = stat_path(r.fd.fd, "/nope");
  BOOST_TEST(!s);
  BOOST_TEST((s.error() == ec::not_found));
}

BOOST_AUTO_TEST_CASE(tar_of_a_path_is_rebased_as_moby) {
  hostile_root r;
  auto t = tar_of(r.fd.fd, "/etc");
  BOOST_TEST(t.size() == 2u);
  BOOST_TEST(t["etc/"] == "d");
  BOOST_TEST(t["etc/hostname"] == "container\n");
  t = tar_of(r.fd.fd, "/etc/.");
  BOOST_TEST(t.count("./hostname") == 1u);
  t = tar_of(r.fd.fd, "/evil/etc/hostname"); // through the symlink, inside the root
  BOOST_TEST(t.size() == 1u);
  BOOST_TEST(t["hostname"] == "container\n");
  t = tar_of(r.fd.fd, "/evil"); // the symlink itself
  BOOST_TEST(t["evil"] == "l:/");
  t = tar_of(r.fd.fd, "/evil/"); // its directory: the container's root, named "evil"
  BOOST_TEST(t["evil/etc/hostname"] == "container\n");
  BOOST_TEST(t.count("evil/host/hostname") == 0u);
  t = tar_of(r.fd.fd, "/");
  BOOST_TEST(t["/etc/hostname"] == "container\n");
}

BOOST_AUTO_TEST_CASE(pseudo_filesystems_are_empty_directories) {
  // As moby, which sees a running container's rootfs without its /proc and /sys mounts.
  io::unique_fd host{::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)};
  BOOST_REQUIRE(host);
  auto s = stat_path(host.fd, "/proc");
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST((s->mode & (1u << 31)) != 0u);
  BOOST_TEST(static_cast<bool>(stat_path(host.fd, "/proc/")));
  BOOST_TEST((stat_path(host.fd, "/proc/1/status").error() == ec::not_found));
  BOOST_TEST((stat_path(host.fd, "/proc/1/").error() == ec::not_found));
  auto t = tar_of(host.fd, "/proc");
  BOOST_TEST(t.size() == 1u);
  BOOST_TEST(t["proc/"] == "d");
}

BOOST_AUTO_TEST_CASE(extraction_never_leaves_the_root) {
  if (::geteuid() != 0) return; // chown to the tar's owners needs root
  hostile_root r;
  auto tar = make_tar({{"../../escape1", "x"},
                       {"/escape2", "x"},
                       {"link", "->/"},
                       {"link/escape3", "x"},
                       {"up", "->../../../.."},
                       {"up/escape4", "x"},
                       {"sub/", ""},
                       {"sub/ok", "fine"}});
  untar_options o;
  auto err = extract_to_dir(r.fd.fd, "/a/etc", io::string_reader(tar), o, nullptr);
  BOOST_REQUIRE_MESSAGE(!err, error_message(err));
  // /a/etc -> /etc: everything lands in the container's /etc, as in moby's chroot
  for (auto n : {"escape1", "escape2", "escape3", "escape4"}) {
    BOOST_TEST(exists(r.root + "/etc/" + n), n);
    BOOST_TEST(!exists(r.tmp.path + "/" + n), n);
    BOOST_TEST(!exists(r.host + "/" + n), n);
  }
  BOOST_TEST(slurp(r.root + "/etc/sub/ok") == "fine");
  BOOST_TEST(!exists("/escape1"));
  BOOST_TEST(!exists("/escape2"));

  err = extract_to_dir(r.fd.fd, "/etc/hostname", io::string_reader(tar), o, nullptr);
  BOOST_TEST(error_message(err) == "extraction point is not a directory");
  err = extract_to_dir(r.fd.fd, "/nope", io::string_reader(tar), o, nullptr);
  BOOST_TEST((err == ec::not_found));

  // noOverwriteDirNonDir: a file over a directory is refused
  untar_options strict;
  strict.no_overwrite_dir_nondir = true;
  err =
      extract_to_dir(r.fd.fd, "/", io::string_reader(make_tar({{"etc", "file"}})), strict, nullptr);
  BOOST_TEST(error_message(err) == "cannot overwrite directory \"/etc\" with non-directory \"/\"");

  // compressed tars, and the owner every entry gets with copyUIDGID
  untar_options owned;
  owned.chown = std::make_pair(1234u, 5678u);
  err = extract_to_dir(r.fd.fd, "/", io::string_reader(gzip(make_tar({{"gz", "z"}}))), owned,
                       nullptr);
  BOOST_REQUIRE_MESSAGE(!err, error_message(err));
  struct stat st;
  BOOST_REQUIRE(::lstat((r.root + "/gz").c_str(), &st) == 0);
  BOOST_TEST(st.st_uid == 1234u);
  BOOST_TEST(st.st_gid == 5678u);
  err = extract_to_dir(r.fd.fd, "/", io::string_reader(zstd(make_tar({{"zs", "z"}}))), o, nullptr);
  BOOST_TEST(!err);
  BOOST_TEST(exists(r.root + "/zs"));

  // the check sees the resolved path and can refuse
  err = extract_to_dir(r.fd.fd, "/a/etc", io::string_reader(tar), o, [](const std::string& p) {
    return p == "/etc" ? make_error(ec::forbidden, "read-only") : caf::error{};
  });
  BOOST_TEST((err == ec::forbidden));
}

BOOST_AUTO_TEST_SUITE_END()
