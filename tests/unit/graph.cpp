// The graph driver conformance suite (drivers/graph/*): every case runs against every driver
// available here (vfs always; overlay2 when root and the kernel supports it).
#include "drivers/graph/driver.hpp"

#include "messages/error.hpp"
#include "tests/unit/util.hpp"

#include <boost/test/unit_test.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace berth;
using namespace berth::graph;
using namespace berth::test;

namespace {

std::vector<std::string> available_drivers() {
  std::vector<std::string> out{"vfs"};
  temp_dir t;
  if (::geteuid() == 0 && overlay_supported(t.path))
    out.insert(out.begin(), "overlay2");
  else
    BOOST_TEST_MESSAGE("overlay2 skipped: needs root and overlayfs");
  return out;
}

// A driver in a temp data root; unmounts everything before the tree goes, even on failure.
struct fixture {
  temp_dir root;
  std::unique_ptr<driver> d;
  explicit fixture(const std::string& name) {
    auto made = make_driver(name, root.path);
    BOOST_REQUIRE_MESSAGE(made, name + ": " + why(made));
    d = std::move(*made);
    BOOST_TEST_CHECKPOINT("driver " << name);
  }
  ~fixture() {
    if (d) d->cleanup();
  }
};

std::string make_tar(const std::vector<std::tuple<std::string, char, std::string>>& entries) {
  std::string out;
  auto* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* p, const void* buf, size_t len) -> la_ssize_t {
        static_cast<std::string*>(p)->append(static_cast<const char*>(buf), len);
        return static_cast<la_ssize_t>(len);
      },
      nullptr);
  for (auto& [path, kind, data] : entries) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_mtime(e, 1600000000, 0);
    if (kind == 'd') {
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
    } else if (kind == 'l') {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_hardlink(e, data.c_str());
    } else if (kind == 's') {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_perm(e, 0777);
      archive_entry_set_symlink(e, data.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    }
    archive_write_header(a, e);
    if (kind == 'f' && !data.empty()) archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// The three image layers of the suite.
const std::string& layer1() {
  static const auto t = make_tar({{"bin", 'd', ""},
                                  {"bin/sh", 'f', "#!shell"},
                                  {"etc", 'd', ""},
                                  {"etc/passwd", 'f', "root:x:0:0\n"},
                                  {"d", 'd', ""},
                                  {"d/keep", 'f', "lower"},
                                  {"d/old", 'f', "lower"},
                                  {"x", 'f', "to be whited out"}});
  return t;
}
const std::string& layer2() {
  static const auto t = make_tar({{".wh.x", 'f', ""},
                                  {"d", 'd', ""},
                                  {"d/.wh..wh..opq", 'f', ""},
                                  {"d/new", 'f', "upper"},
                                  {"etc", 'd', ""},
                                  {"etc/hosts", 'f', "127.0.0.1 localhost\n"}});
  return t;
}
const std::string& layer3() {
  static const auto t = make_tar({{"etc", 'd', ""},
                                  {"etc/passwd", 'f', "root:x:0:0\nbin:x:1:1\n"},
                                  {"etc/passwd-link", 'l', "etc/passwd"},
                                  {"etc/sh", 's', "/bin/sh"}});
  return t;
}

void apply3(driver& d) {
  for (auto& [id, parent, tar] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"L1", "", layer1()}, {"L2", "L1", layer2()}, {"L3", "L2", layer3()}}) {
    auto st = d.apply_layer(id, parent, io::string_reader(tar));
    BOOST_REQUIRE_MESSAGE(st, d.name() + " apply " + id + ": " + why(st));
  }
}

// A container's changes on L3: a file added, one changed, one deleted, and a dir removed and
// made again (overlay2: an opaque dir over the lowers' /d).
void change_container_tree(const std::string& root) {
  { std::ofstream{root + "/newfile"} << "new"; }
  { std::ofstream{root + "/etc/passwd", std::ios::app} << "me:x:1000:1000\n"; }
  BOOST_REQUIRE_EQUAL(::unlink((root + "/bin/sh").c_str()), 0);
  BOOST_REQUIRE_EQUAL(::unlink((root + "/d/new").c_str()), 0);
  BOOST_REQUIRE_EQUAL(::rmdir((root + "/d").c_str()), 0);
  BOOST_REQUIRE_EQUAL(::mkdir((root + "/d").c_str(), 0755), 0);
  { std::ofstream{root + "/d/fresh"} << "fresh"; }
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

io::writer to_string(std::string& out) {
  return [&out](const char* d, std::size_t n) {
    out.append(d, n);
    return caf::error{};
  };
}

std::map<std::string, std::string> tar_files(const std::string& tar) {
  std::map<std::string, std::string> out;
  auto* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, tar.data(), tar.size());
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string data(static_cast<std::size_t>(archive_entry_size(e)), '\0');
    if (!data.empty()) archive_read_data(a, data.data(), data.size());
    out[archive_entry_pathname(e)] = data;
  }
  archive_read_free(a);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(graph)

BOOST_AUTO_TEST_CASE(merged_view_of_three_layers) {
  for (auto& name : available_drivers()) {
    fixture f{name};
    apply3(*f.d);
    BOOST_CHECK_EQUAL(f.d->name(), name);
    auto root = f.d->mount("L3");
    BOOST_REQUIRE_MESSAGE(root, name + ": " + why(root));
    BOOST_CHECK_EQUAL(slurp(*root + "/etc/passwd"), "root:x:0:0\nbin:x:1:1\n");
    BOOST_CHECK_EQUAL(slurp(*root + "/etc/hosts"), "127.0.0.1 localhost\n");
    BOOST_CHECK_EQUAL(slurp(*root + "/bin/sh"), "#!shell");
    BOOST_CHECK_EQUAL(slurp(*root + "/d/new"), "upper");
    BOOST_CHECK_MESSAGE(!exists(*root + "/x"), name + ": whiteout");
    BOOST_CHECK_MESSAGE(!exists(*root + "/d/old"), name + ": opaque dir");
    BOOST_CHECK_MESSAGE(!exists(*root + "/d/keep"), name + ": opaque dir");
    BOOST_CHECK(!exists(*root + "/.wh.x"));
    struct stat a, b;
    BOOST_REQUIRE(::lstat((*root + "/etc/passwd").c_str(), &a) == 0);
    BOOST_REQUIRE(::lstat((*root + "/etc/passwd-link").c_str(), &b) == 0);
    BOOST_CHECK_EQUAL(a.st_ino, b.st_ino);
    // Mounts are counted.
    auto again = f.d->mount("L3");
    BOOST_REQUIRE(again);
    BOOST_CHECK_EQUAL(*again, *root);
    BOOST_CHECK(!f.d->unmount("L3"));
    BOOST_CHECK(exists(*root + "/etc/passwd"));
    BOOST_CHECK(!f.d->unmount("L3"));
    // A parent is unaffected by its children.
    auto r1 = f.d->mount("L1");
    BOOST_REQUIRE(r1);
    BOOST_CHECK(exists(*r1 + "/x"));
    BOOST_CHECK(exists(*r1 + "/d/old"));
    BOOST_CHECK(!f.d->unmount("L1"));
  }
}

BOOST_AUTO_TEST_CASE(read_write_layer_and_changes) {
  for (auto& name : available_drivers()) {
    fixture f{name};
    apply3(*f.d);
    BOOST_REQUIRE(!f.d->create_rw("ctr", "L3"));
    BOOST_CHECK(f.d->exists("ctr"));
    BOOST_CHECK(f.d->exists("ctr-init"));
    auto root = f.d->mount("ctr");
    BOOST_REQUIRE_MESSAGE(root, name + ": " + why(root));
    for (auto p : {"/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc",
                   "/sys", "/dev/pts", "/dev/shm", "/dev/console"})
      BOOST_CHECK_MESSAGE(exists(*root + p), name + ": init file " + p);
    BOOST_CHECK_EQUAL(slurp(*root + "/etc/hosts"), "127.0.0.1 localhost\n"); // kept, not emptied
    change_container_tree(*root);
    BOOST_REQUIRE(!f.d->unmount("ctr"));
    auto ch = f.d->changes("ctr");
    BOOST_REQUIRE_MESSAGE(ch, name + ": " + why(ch));
    std::map<std::string, int> got;
    for (auto& c : *ch)
      got[c.path] = c.kind;
    std::map<std::string, int> want{{"/bin", 0},        {"/bin/sh", 2},  {"/etc", 0},
                                    {"/etc/passwd", 0}, {"/newfile", 1}, {"/d", 0},
                                    {"/d/new", 2},      {"/d/fresh", 1}};
    std::string dump;
    for (auto& [p, k] : got)
      dump += " " + p + ":" + std::to_string(k);
    // etc/passwd-link shares the changed inode under vfs (a copy keeps the link); under
    // overlay2 copy-up breaks it. Either way, nothing else may show.
    got.erase("/etc/passwd-link");
    BOOST_CHECK_MESSAGE(got == want, name + ": changes:" + dump);
    auto sz = f.d->size("ctr");
    BOOST_REQUIRE(sz);
    BOOST_CHECK_GE(*sz, 3);
    BOOST_CHECK(!f.d->remove("ctr"));
    BOOST_CHECK(!f.d->remove("ctr-init"));
    BOOST_CHECK(!f.d->exists("ctr"));
  }
}

BOOST_AUTO_TEST_CASE(export_and_layer_tar) {
  for (auto& name : available_drivers()) {
    fixture f{name};
    apply3(*f.d);
    std::string out;
    auto err = f.d->export_tar("L3", to_string(out));
    BOOST_REQUIRE_MESSAGE(!err, name + ": " + error_message(err));
    auto files = tar_files(out);
    BOOST_CHECK_EQUAL(files["etc/passwd"], "root:x:0:0\nbin:x:1:1\n");
    BOOST_CHECK_EQUAL(files["d/new"], "upper");
    BOOST_CHECK(files.count("bin/sh"));
    BOOST_CHECK(!files.count("x"));
    BOOST_CHECK(!files.count("d/old"));
    for (auto& [p, _] : files)
      BOOST_CHECK_MESSAGE(p.find(".wh.") == std::string::npos, name + ": exported " + p);
    const std::string* tars[] = {&layer1(), &layer2(), &layer3()};
    for (int i = 0; i < 3; ++i) {
      std::string rebuilt;
      auto id = "L" + std::to_string(i + 1);
      err = f.d->layer_tar(id, to_string(rebuilt));
      BOOST_REQUIRE_MESSAGE(!err, name + ": " + error_message(err));
      BOOST_CHECK_MESSAGE(io::digest_of(rebuilt) == io::digest_of(*tars[i]),
                          name + ": layer_tar " + id + " differs");
    }
    BOOST_CHECK(f.d->layer_tar("nope", to_string(out)) == ec::not_found);
  }
}

// docker commit: a read-write layer's changes as a layer tar (AUFS whiteouts), applied as a new
// layer on the image's top, give the container's tree back.
BOOST_AUTO_TEST_CASE(diff_tar_of_a_read_write_layer) {
  for (auto& name : available_drivers()) {
    fixture f{name};
    apply3(*f.d);
    BOOST_REQUIRE(!f.d->create_rw("ctr", "L3"));
    auto root = f.d->mount("ctr");
    BOOST_REQUIRE_MESSAGE(root, name + ": " + why(root));
    change_container_tree(*root);
    BOOST_REQUIRE(!f.d->unmount("ctr"));
    auto ch = f.d->changes("ctr");
    BOOST_REQUIRE(ch);
    std::string tar;
    auto err = f.d->diff_tar("ctr", *ch, to_string(tar));
    BOOST_REQUIRE_MESSAGE(!err, name + ": " + error_message(err));
    auto files = tar_files(tar);
    std::string names;
    for (auto& [p, _] : files)
      if (p != "etc/passwd-link") names += p + " "; // vfs: the link shares the changed inode
    BOOST_CHECK_MESSAGE(names == "bin/ bin/.wh.sh d/ d/.wh.new d/fresh etc/ etc/passwd newfile ",
                        name + ": " + names);
    BOOST_CHECK_EQUAL(files["etc/passwd"], "root:x:0:0\nbin:x:1:1\nme:x:1000:1000\n");
    auto st = f.d->apply_layer("C", "L3", io::string_reader(tar));
    BOOST_REQUIRE_MESSAGE(st, name + ": " + why(st));
    std::string committed, container;
    BOOST_REQUIRE(!f.d->export_tar("C", to_string(committed)));
    BOOST_REQUIRE(!f.d->export_tar("ctr", to_string(container)));
    auto a = tar_files(committed);
    auto b = tar_files(container);
    for (auto p : {".dockerenv", "etc/hostname", "etc/resolv.conf", "dev/console", "dev/pts/",
                   "dev/shm/", "dev/", "proc/", "sys/", "etc/mtab"})
      b.erase(p); // the init layer is no part of a commit
    std::string differ;
    for (auto& [p, v] : a)
      if (!b.count(p) || b[p] != v) differ += " " + p;
    for (auto& [p, v] : b)
      if (!a.count(p)) differ += " -" + p;
    BOOST_CHECK_MESSAGE(differ.empty(), name + ": the committed tree differs:" + differ);
    BOOST_CHECK(!a.count("bin/sh") && !a.count("d/new") && a.count("d/fresh"));
    std::string none;
    BOOST_CHECK(!f.d->diff_tar("ctr", {}, to_string(none)));
    BOOST_CHECK(tar_files(none).empty());
  }
}

BOOST_AUTO_TEST_CASE(size_list_remove) {
  for (auto& name : available_drivers()) {
    fixture f{name};
    apply3(*f.d);
    auto s1 = f.d->size("L1");
    BOOST_REQUIRE(s1);
    BOOST_CHECK_EQUAL(*s1, 7 + 11 + 5 + 5 + 16); // the regular files of layer 1
    auto ids = f.d->list();
    std::set<std::string> set(ids.begin(), ids.end());
    BOOST_CHECK((set == std::set<std::string>{"L1", "L2", "L3"}));
    auto dup = f.d->apply_layer("L2", "L1", io::string_reader(layer2()));
    BOOST_REQUIRE(!dup);
    BOOST_CHECK(dup.error() == ec::conflict);
    BOOST_CHECK(!f.d->remove("L3"));
    BOOST_CHECK(!f.d->exists("L3"));
    BOOST_CHECK(!f.d->remove("L3")); // missing is fine
    ids = f.d->list();
    BOOST_CHECK_EQUAL(ids.size(), 2u);
    auto gone = f.d->mount("L3");
    BOOST_CHECK(!gone && gone.error() == ec::not_found);
    BOOST_CHECK(!f.d->status().empty());
    // A layer that fails to extract leaves nothing behind.
    auto bad = make_tar({{"ok", 'f', "x"}, {"../escape", 'f', "x"}});
    auto st = f.d->apply_layer("BAD", "L2", io::string_reader(bad));
    BOOST_REQUIRE(!st);
    BOOST_CHECK(st.error() == ec::invalid_argument);
    BOOST_CHECK(!f.d->exists("BAD"));
    ids = f.d->list();
    BOOST_CHECK_EQUAL(ids.size(), 2u);
    auto badid = f.d->apply_layer("../x", "", io::string_reader(layer1()));
    BOOST_CHECK(!badid && badid.error() == ec::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(cleanup_unmounts) {
  for (auto& name : available_drivers()) {
    fixture f{name};
    apply3(*f.d);
    BOOST_REQUIRE(!f.d->create_rw("c1", "L3"));
    auto a = f.d->mount("c1");
    auto b = f.d->mount("L2");
    BOOST_REQUIRE(a && b);
    f.d->cleanup();
    struct stat st;
    BOOST_CHECK(::stat((f.root.path + "/" + name).c_str(), &st) == 0);
    if (name == "overlay2") { // the merged dirs are plain empty dirs again
      BOOST_CHECK(!exists(*a + "/etc"));
      BOOST_CHECK(!exists(*b + "/etc"));
    }
    // Usable again after cleanup.
    auto again = f.d->mount("c1");
    BOOST_REQUIRE(again);
    BOOST_CHECK(exists(*again + "/etc/passwd"));
    BOOST_CHECK(!f.d->unmount("c1"));
  }
}

// Each entry under `dir`: path, type and mode, owner, size (or link target), mtime.
std::map<std::string, std::string> tree_of(const std::string& dir, const std::string& rel = "") {
  std::map<std::string, std::string> out;
  auto* d = ::opendir((dir + rel).c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    auto path = rel + "/" + n;
    struct stat st;
    if (::lstat((dir + path).c_str(), &st) != 0) continue;
    std::ostringstream line;
    line << std::oct << st.st_mode << std::dec << " " << st.st_uid << ":" << st.st_gid << " "
         << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " ";
    if (S_ISLNK(st.st_mode)) {
      char target[256] = {};
      line << "-> " << std::string(target, ::readlink((dir + path).c_str(), target, 255));
    } else if (!S_ISDIR(st.st_mode)) {
      line << st.st_size;
    }
    out[path] = line.str();
    if (S_ISDIR(st.st_mode)) out.merge(tree_of(dir, path));
  }
  ::closedir(d);
  return out;
}

// overlay2: the first container of an image makes its init layer through a mount; the next get
// a copy of it (home/.init/<image layer>), which goes with the image layer.
BOOST_AUTO_TEST_CASE(init_layers_of_one_image_are_alike) {
  auto names = available_drivers();
  if (std::find(names.begin(), names.end(), "overlay2") == names.end()) return;
  fixture f{"overlay2"};
  apply3(*f.d);
  auto home = f.root.path + "/overlay2";
  BOOST_REQUIRE(!f.d->create_rw("c1", "L3"));
  BOOST_REQUIRE(exists(home + "/.init/L3/etc/resolv.conf"));
  BOOST_REQUIRE(!f.d->create_rw("c2", "L3"));
  auto first = tree_of(home + "/c1-init/diff");
  auto second = tree_of(home + "/c2-init/diff");
  BOOST_CHECK(first.count("/etc/resolv.conf") && first.count("/.dockerenv"));
  BOOST_CHECK(!first.count("/etc/hosts")); // the image's own, kept
  std::string dump;
  for (auto& [p, l] : first)
    dump += "\n" + p + " " + l + " | " + (second.count(p) ? second[p] : "-");
  BOOST_CHECK_MESSAGE(first == second, dump);
  auto root = f.d->mount("c2");
  BOOST_REQUIRE(root);
  BOOST_CHECK(exists(*root + "/dev/console") && exists(*root + "/etc/passwd"));
  BOOST_CHECK(!f.d->unmount("c2"));
  for (auto id : {"c1", "c1-init", "c2", "c2-init", "L3"})
    BOOST_CHECK(!f.d->remove(id));
  BOOST_CHECK(!exists(home + "/.init/L3"));
}

BOOST_AUTO_TEST_CASE(driver_selection) {
  temp_dir t;
  auto bad = make_driver("zfs", t.path);
  BOOST_REQUIRE(!bad);
  BOOST_CHECK(bad.error() == ec::invalid_argument);
  BOOST_CHECK_EQUAL(why(bad), "unknown storage driver \"zfs\" (valid: overlay2, vfs)");
  BOOST_CHECK((driver_names() == std::vector<std::string>{"overlay2", "vfs"}));
  auto best = make_driver("", t.path);
  BOOST_REQUIRE(best);
  auto want = available_drivers().front();
  BOOST_CHECK_EQUAL((*best)->name(), want);
  BOOST_CHECK(exists(t.path + "/" + want));
  BOOST_CHECK_EQUAL((*best)->independent_layers(), want == "overlay2");
}

BOOST_AUTO_TEST_SUITE_END()
