// Control groups (drivers/exec/cgroups): fake v1 and v2 trees of plain files, the validation
// wording, and (root only, on a usable /sys/fs/cgroup) a real group around a `sleep` child.
#include "drivers/exec/cgroups.hpp"

#include "drivers/exec/stats.hpp"
#include "drivers/io.hpp"
#include "messages/error.hpp"
#include "tests/unit/util.hpp"

#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

extern char** environ;

using namespace berth;
using namespace berth::cgroups;
using namespace berth::test;

namespace {

constexpr int64_t mib = 1024 * 1024;

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void put(const std::string& path, const std::string& content) {
  std::ofstream out{path, std::ios::trunc};
  out << content;
  BOOST_REQUIRE_MESSAGE(out.good(), "cannot write " + path);
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

using berth::test::why;
std::string why(const caf::error& err) {
  return err ? error_message(err) : std::string{"ok"};
}

/// Removes the plain files of a fake group directory, so that rmdir(2) works as on cgroupfs.
void clear_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (auto* e = ::readdir(d))
    if (e->d_type == DT_REG) ::unlink((dir + "/" + e->d_name).c_str());
  ::closedir(d);
}

const char* const v1_group_files[] = {"cgroup.procs",
                                      "memory.limit_in_bytes",
                                      "memory.memsw.limit_in_bytes",
                                      "memory.soft_limit_in_bytes",
                                      "memory.swappiness",
                                      "memory.oom_control",
                                      "memory.usage_in_bytes",
                                      "cpu.shares",
                                      "cpu.cfs_period_us",
                                      "cpu.cfs_quota_us",
                                      "cpuacct.usage",
                                      "cpuset.cpus",
                                      "cpuset.mems",
                                      "pids.max",
                                      "pids.current",
                                      "freezer.state"};

/// A v1 tree as on a host with cpu and cpuacct co-mounted: <root>/cpu,cpuacct and the symlinks
/// cpu and cpuacct, plus memory, cpuset, pids, freezer, devices and blkio. The group
/// berth/<id> already exists in each, with every file apply() writes (empty).
struct fake_v1 {
  temp_dir t;
  std::string root = t.path;
  explicit fake_v1(const std::vector<std::string>& ids = {"c1"}) {
    for (auto c : {"memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "devices", "blkio"})
      t.sub(c);
    BOOST_REQUIRE(::symlink("cpu,cpuacct", (root + "/cpu").c_str()) == 0);
    BOOST_REQUIRE(::symlink("cpu,cpuacct", (root + "/cpuacct").c_str()) == 0);
    put(root + "/cpuset/cpuset.cpus", "0-1\n");
    put(root + "/cpuset/cpuset.mems", "0\n");
    t.sub("cpuset/berth");
    put(root + "/cpuset/berth/cpuset.cpus", "\n");
    put(root + "/cpuset/berth/cpuset.mems", "");
    for (auto& id : ids)
      for (auto c : {"memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "devices", "blkio"}) {
        auto dir = t.sub(std::string{c} + "/berth/" + id);
        for (auto f : v1_group_files)
          put(dir + "/" + f, "");
      }
  }
  std::string file(const std::string& controller, const std::string& id, const std::string& f) {
    return root + "/" + controller + "/berth/" + id + "/" + f;
  }
};

const char* const v2_group_files[] = {
    "cgroup.procs", "cgroup.freeze",  "cgroup.events", "memory.max", "memory.swap.max",
    "memory.low",   "memory.current", "memory.events", "cpu.weight", "cpu.max",
    "cpu.stat",     "cpuset.cpus",    "cpuset.mems",   "pids.max",   "pids.current"};

/// A v2 tree: <root>/cgroup.controllers, berth/ with memory already enabled, berth/<id> with
/// every file apply() writes.
struct fake_v2 {
  temp_dir t;
  std::string root = t.path;
  fake_v2() {
    put(root + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(root + "/cgroup.subtree_control", "");
    t.sub("berth");
    put(root + "/berth/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(root + "/berth/cgroup.subtree_control", "memory\n");
    auto dir = t.sub("berth/c1");
    for (auto f : v2_group_files)
      put(dir + "/" + f, "");
    put(dir + "/cpu.max", "max 100000\n");
  }
  std::string file(const std::string& f) { return root + "/berth/c1/" + f; }
};

std::unique_ptr<manager> must_manage(const std::string& root) {
  auto m = make_manager(root);
  BOOST_REQUIRE_MESSAGE(m, why(m));
  return std::move(*m);
}

std::unique_ptr<group> must_open(manager& m, const std::string& parent, const std::string& id) {
  auto g = m.open(parent, id);
  BOOST_REQUIRE_MESSAGE(g, why(g));
  return std::move(*g);
}

} // namespace

BOOST_AUTO_TEST_SUITE(cgroups)

BOOST_AUTO_TEST_CASE(detects_layouts) {
  fake_v1 v1;
  BOOST_CHECK(must_manage(v1.root)->version() == version::v1);
  BOOST_CHECK_EQUAL(must_manage(v1.root)->driver(), "cgroupfs");
  fake_v2 v2;
  BOOST_CHECK(must_manage(v2.root)->version() == version::v2);
  temp_dir empty;
  auto none = make_manager(empty.path);
  BOOST_REQUIRE(!none);
  BOOST_CHECK(none.error() == ec::unavailable);
  // A hybrid host: v1 controllers beside an (empty) cgroup2 at unified/.
  temp_dir hybrid;
  hybrid.sub("memory");
  hybrid.sub("unified");
  put(hybrid.path + "/unified/cgroup.controllers", "");
  BOOST_CHECK(must_manage(hybrid.path)->version() == version::v1);
}

BOOST_AUTO_TEST_CASE(v1_open_creates_and_copies_cpuset) {
  fake_v1 f;
  auto m = must_manage(f.root);
  auto g = must_open(*m, "", "c2"); // not there yet: created in every controller
  for (auto c : {"memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio"})
    BOOST_CHECK_MESSAGE(is_dir(f.root + "/" + c + "/berth/c2"), c);
  BOOST_CHECK_EQUAL(g->path(), f.root + "/memory/berth/c2");
  // The parent's empty cpuset files got the root's values (the new group has no files here).
  BOOST_CHECK_EQUAL(slurp(f.root + "/cpuset/berth/cpuset.cpus"), "0-1");
  BOOST_CHECK_EQUAL(slurp(f.root + "/cpuset/berth/cpuset.mems"), "0");
  // An existing group (daemon restart) opens; its empty cpuset files are filled too.
  auto g1 = must_open(*m, "", "c1");
  BOOST_CHECK_EQUAL(slurp(f.file("cpuset", "c1", "cpuset.cpus")), "0-1");
  BOOST_CHECK_EQUAL(slurp(f.file("cpuset", "c1", "cpuset.mems")), "0");
  // Nested parents, with a leading slash as --cgroup-parent allows.
  auto g3 = must_open(*m, "/a/b", "c3");
  BOOST_CHECK(is_dir(f.root + "/pids/a/b/c3"));
  BOOST_CHECK_EQUAL(g3->path(), f.root + "/memory/a/b/c3");
  // Names that would escape.
  BOOST_CHECK(!m->open("", "../x"));
  BOOST_CHECK(!m->open("", ""));
  BOOST_CHECK(!m->open("a/../..", "x"));
  BOOST_CHECK(m->open("", "../x").error() == ec::invalid_argument);
}

BOOST_AUTO_TEST_CASE(v1_apply_writes_every_resource) {
  fake_v1 f;
  auto m = must_manage(f.root);
  auto g = must_open(*m, "", "c1");
  put(f.file("memory", "c1", "memory.limit_in_bytes"), "9223372036854771712\n");
  resources r;
  r.memory = 64 * mib;
  r.memory_reservation = 32 * mib;
  r.memory_swappiness = 10;
  r.oom_kill_disable = true;
  r.cpu_shares = 512;
  r.nano_cpus = 1500000000;
  r.cpuset_cpus = "1";
  r.cpuset_mems = "0";
  r.pids_limit = 100;
  BOOST_REQUIRE_MESSAGE(!g->apply(r), why(g->apply(r)));
  auto mem = [&](const char* file) { return slurp(f.file("memory", "c1", file)); };
  BOOST_CHECK_EQUAL(mem("memory.limit_in_bytes"), std::to_string(64 * mib));
  BOOST_CHECK_EQUAL(mem("memory.memsw.limit_in_bytes"), std::to_string(128 * mib)); // 2x
  BOOST_CHECK_EQUAL(mem("memory.soft_limit_in_bytes"), std::to_string(32 * mib));
  BOOST_CHECK_EQUAL(mem("memory.swappiness"), "10");
  BOOST_CHECK_EQUAL(mem("memory.oom_control"), "1");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu", "c1", "cpu.shares")), "512");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu", "c1", "cpu.cfs_period_us")), "100000");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu", "c1", "cpu.cfs_quota_us")), "150000");
  BOOST_CHECK_EQUAL(slurp(f.file("cpuset", "c1", "cpuset.cpus")), "1");
  BOOST_CHECK_EQUAL(slurp(f.file("cpuset", "c1", "cpuset.mems")), "0");
  BOOST_CHECK_EQUAL(slurp(f.file("pids", "c1", "pids.max")), "100");

  // docker update: explicit period and quota, unlimited swap and pids; untouched files stay.
  resources u;
  u.memory = 128 * mib;
  u.memory_swap = -1;
  u.cpu_period = 50000;
  u.cpu_quota = 25000;
  u.pids_limit = -1;
  BOOST_REQUIRE_MESSAGE(!g->apply(u), why(g->apply(u)));
  BOOST_CHECK_EQUAL(mem("memory.limit_in_bytes"), std::to_string(128 * mib));
  BOOST_CHECK_EQUAL(mem("memory.memsw.limit_in_bytes"), "-1");
  BOOST_CHECK_EQUAL(mem("memory.swappiness"), "10");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu", "c1", "cpu.shares")), "512");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu", "c1", "cpu.cfs_period_us")), "50000");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu", "c1", "cpu.cfs_quota_us")), "25000");
  BOOST_CHECK_EQUAL(slurp(f.file("pids", "c1", "pids.max")), "max");

  // Explicit swap.
  resources s;
  s.memory = 64 * mib;
  s.memory_swap = 96 * mib;
  BOOST_REQUIRE(!g->apply(s));
  BOOST_CHECK_EQUAL(mem("memory.limit_in_bytes"), std::to_string(64 * mib));
  BOOST_CHECK_EQUAL(mem("memory.memsw.limit_in_bytes"), std::to_string(96 * mib));

  // Nothing set: nothing written.
  put(f.file("pids", "c1", "pids.max"), "7");
  BOOST_REQUIRE(!g->apply(resources{}));
  BOOST_CHECK_EQUAL(slurp(f.file("pids", "c1", "pids.max")), "7");
}

BOOST_AUTO_TEST_CASE(v1_swap_file_optional_and_write_errors) {
  fake_v1 f;
  auto m = must_manage(f.root);
  auto g = must_open(*m, "", "c1");
  // No swap accounting in this kernel: memory.memsw.* is missing, the swap limit is skipped.
  ::unlink(f.file("memory", "c1", "memory.memsw.limit_in_bytes").c_str());
  resources r;
  r.memory = 64 * mib;
  r.memory_swap = 128 * mib;
  BOOST_REQUIRE_MESSAGE(!g->apply(r), why(g->apply(r)));
  BOOST_CHECK_EQUAL(slurp(f.file("memory", "c1", "memory.limit_in_bytes")),
                    std::to_string(64 * mib));
  // A missing control file is an error that names it.
  auto file = f.file("pids", "c1", "pids.max");
  ::unlink(file.c_str());
  resources p;
  p.pids_limit = 10;
  auto err = g->apply(p);
  BOOST_REQUIRE(err);
  BOOST_CHECK(err == ec::system);
  BOOST_CHECK_EQUAL(why(err),
                    "cannot write 10 to " + file + ": " + std::string{std::strerror(ENOENT)});
}

BOOST_AUTO_TEST_CASE(v1_missing_controller_is_skipped_until_needed) {
  temp_dir t;
  t.sub("memory");
  auto m = must_manage(t.path);
  auto g = must_open(*m, "", "c1");
  BOOST_CHECK(is_dir(t.path + "/memory/berth/c1"));
  resources r;
  r.pids_limit = 10;
  auto err = g->apply(r);
  BOOST_REQUIRE(err);
  BOOST_CHECK_NE(why(err).find("pids"), std::string::npos);
  BOOST_CHECK(g->freeze()); // no freezer
}

BOOST_AUTO_TEST_CASE(v1_add_pids_freeze_usage_list_remove) {
  fake_v1 f({"c1", "c2"});
  auto m = must_manage(f.root);
  auto g = must_open(*m, "", "c1");
  BOOST_REQUIRE(!g->add(4242));
  for (auto c : {"memory", "cpu", "cpuset", "pids", "freezer", "devices", "blkio"})
    BOOST_CHECK_MESSAGE(slurp(f.file(c, "c1", "cgroup.procs")) == "4242", c);
  put(f.file("memory", "c1", "cgroup.procs"), "12\n34\n");
  auto pids = g->pids();
  BOOST_REQUIRE_MESSAGE(pids, why(pids));
  BOOST_CHECK((*pids == std::vector<pid_t>{12, 34}));

  BOOST_REQUIRE_MESSAGE(!g->freeze(), why(g->freeze()));
  BOOST_CHECK_EQUAL(slurp(f.file("freezer", "c1", "freezer.state")), "FROZEN");
  BOOST_REQUIRE(!g->thaw());
  BOOST_CHECK_EQUAL(slurp(f.file("freezer", "c1", "freezer.state")), "THAWED");

  put(f.file("memory", "c1", "memory.usage_in_bytes"), "1048576\n");
  put(f.file("memory", "c1", "memory.limit_in_bytes"), "67108864\n");
  put(f.file("memory", "c1", "memory.oom_control"),
      "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  put(f.file("cpuacct", "c1", "cpuacct.usage"), "123456789\n");
  put(f.file("pids", "c1", "pids.current"), "3\n");
  auto u = g->read_usage();
  BOOST_REQUIRE_MESSAGE(u, why(u));
  BOOST_CHECK_EQUAL(u->memory_usage, 1048576u);
  BOOST_CHECK_EQUAL(u->memory_limit, 67108864u);
  BOOST_CHECK_EQUAL(u->oom_kills, 2u);
  BOOST_CHECK_EQUAL(u->cpu_usage_ns, 123456789u);
  BOOST_CHECK_EQUAL(u->pids_current, 3u);

  // kill_all on an empty group returns at once (no pids in these fake files: never kill them).
  for (auto c : {"memory", "cpu", "cpuset", "pids", "freezer", "devices", "blkio"})
    put(f.file(c, "c1", "cgroup.procs"), "");
  BOOST_REQUIRE_MESSAGE(!g->kill_all(), why(g->kill_all()));
  BOOST_CHECK_EQUAL(slurp(f.file("freezer", "c1", "freezer.state")), "THAWED");

  BOOST_CHECK((m->list("") == std::vector<std::string>{"c1", "c2"}));
  BOOST_CHECK((m->list("berth") == std::vector<std::string>{"c1", "c2"}));
  BOOST_CHECK(m->list("nothing-here").empty());

  // rmdir(2) of a group with processes (or children) fails: an error naming the directory.
  BOOST_CHECK(g->remove());
  for (auto c : {"memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "devices", "blkio"})
    clear_files(f.root + "/" + c + "/berth/c1");
  BOOST_REQUIRE_MESSAGE(!g->remove(), why(g->remove()));
  for (auto c : {"memory", "cpu", "cpuset", "pids", "freezer", "devices", "blkio"})
    BOOST_CHECK_MESSAGE(!is_dir(f.root + "/" + c + "/berth/c1"), c);
  BOOST_CHECK(!g->remove()); // missing is fine
  BOOST_CHECK((m->list("") == std::vector<std::string>{"c2"}));
}

BOOST_AUTO_TEST_CASE(v2_open_enables_controllers) {
  fake_v2 f;
  auto m = must_manage(f.root);
  auto g = must_open(*m, "", "c1");
  BOOST_CHECK_EQUAL(g->path(), f.root + "/berth/c1");
  BOOST_CHECK_EQUAL(slurp(f.root + "/cgroup.subtree_control"), "+cpu +memory +pids +cpuset +io");
  // memory was on already; only what is missing is enabled.
  BOOST_CHECK_EQUAL(slurp(f.root + "/berth/cgroup.subtree_control"), "+cpu +pids +cpuset +io");
  // Only controllers the level has: a nested parent whose cgroup.controllers lacks io.
  f.t.sub("p");
  put(f.root + "/p/cgroup.controllers", "cpu memory pids\n");
  put(f.root + "/p/cgroup.subtree_control", "");
  auto g2 = must_open(*m, "p", "c2");
  BOOST_CHECK(is_dir(f.root + "/p/c2"));
  BOOST_CHECK_EQUAL(slurp(f.root + "/p/cgroup.subtree_control"), "+cpu +memory +pids");
  BOOST_CHECK_EQUAL(slurp(f.root + "/p/c2/cgroup.subtree_control"), ""); // leaves: nothing
  BOOST_CHECK(!m->open("", "a/b"));
}

BOOST_AUTO_TEST_CASE(v2_apply_writes_every_resource) {
  fake_v2 f;
  auto m = must_manage(f.root);
  auto g = must_open(*m, "", "c1");
  resources r;
  r.memory = 64 * mib;
  r.memory_reservation = 32 * mib;
  r.memory_swappiness = 10;  // v1 only: ignored
  r.oom_kill_disable = true; // v1 only: ignored
  r.cpu_shares = 1024;
  r.nano_cpus = 500000000;
  r.cpuset_cpus = "0-1";
  r.cpuset_mems = "0";
  r.pids_limit = 100;
  BOOST_REQUIRE_MESSAGE(!g->apply(r), why(g->apply(r)));
  BOOST_CHECK_EQUAL(slurp(f.file("memory.max")), std::to_string(64 * mib));
  BOOST_CHECK_EQUAL(slurp(f.file("memory.swap.max")), std::to_string(64 * mib)); // 2x - 1x
  BOOST_CHECK_EQUAL(slurp(f.file("memory.low")), std::to_string(32 * mib));
  BOOST_CHECK_EQUAL(slurp(f.file("cpu.weight")), "39");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu.max")), "50000 100000");
  BOOST_CHECK_EQUAL(slurp(f.file("cpuset.cpus")), "0-1");
  BOOST_CHECK_EQUAL(slurp(f.file("cpuset.mems")), "0");
  BOOST_CHECK_EQUAL(slurp(f.file("pids.max")), "100");

  resources u;
  u.memory = 64 * mib;
  u.memory_swap = 192 * mib;
  u.cpu_shares = 2;
  u.cpu_period = 20000;
  u.cpu_quota = -1;
  u.pids_limit = -1;
  BOOST_REQUIRE_MESSAGE(!g->apply(u), why(g->apply(u)));
  BOOST_CHECK_EQUAL(slurp(f.file("memory.swap.max")), std::to_string(128 * mib));
  BOOST_CHECK_EQUAL(slurp(f.file("cpu.weight")), "1");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu.max")), "max 20000");
  BOOST_CHECK_EQUAL(slurp(f.file("pids.max")), "max");

  resources v;
  v.memory = 64 * mib;
  v.memory_swap = -1;
  v.cpu_shares = 262144;
  BOOST_REQUIRE(!g->apply(v));
  BOOST_CHECK_EQUAL(slurp(f.file("memory.swap.max")), "max");
  BOOST_CHECK_EQUAL(slurp(f.file("cpu.weight")), "10000");

  // Only the period changes: the quota stays.
  put(f.file("cpu.max"), "30000 100000\n");
  resources p;
  p.cpu_period = 50000;
  BOOST_REQUIRE(!g->apply(p));
  BOOST_CHECK_EQUAL(slurp(f.file("cpu.max")), "30000 50000");
  resources q;
  q.cpu_quota = 40000;
  BOOST_REQUIRE(!g->apply(q));
  BOOST_CHECK_EQUAL(slurp(f.file("cpu.max")), "40000 50000");

  // No swap accounting: memory.swap.max is missing and skipped; other missing files fail.
  ::unlink(f.file("memory.swap.max").c_str());
  BOOST_CHECK(!g->apply(u));
  ::unlink(f.file("pids.max").c_str());
  auto err = g->apply(u);
  BOOST_REQUIRE(err);
  BOOST_CHECK_NE(why(err).find(f.file("pids.max")), std::string::npos);
}

BOOST_AUTO_TEST_CASE(v2_add_freeze_usage_list_remove) {
  fake_v2 f;
  auto m = must_manage(f.root);
  auto g = must_open(*m, "", "c1");
  BOOST_REQUIRE(!g->add(4242));
  BOOST_CHECK_EQUAL(slurp(f.file("cgroup.procs")), "4242");
  put(f.file("cgroup.procs"), "5\n6\n7\n");
  auto pids = g->pids();
  BOOST_REQUIRE(pids);
  BOOST_CHECK((*pids == std::vector<pid_t>{5, 6, 7}));
  put(f.file("cgroup.procs"), "");

  put(f.file("cgroup.events"), "populated 1\nfrozen 1\n");
  BOOST_REQUIRE_MESSAGE(!g->freeze(), why(g->freeze()));
  BOOST_CHECK_EQUAL(slurp(f.file("cgroup.freeze")), "1");
  // The kernel never reports thawed: thaw gives up after its bound.
  auto err = g->thaw();
  BOOST_REQUIRE(err);
  BOOST_CHECK(err == ec::timeout);
  put(f.file("cgroup.events"), "populated 1\nfrozen 0\n");
  BOOST_REQUIRE(!g->thaw());
  BOOST_CHECK_EQUAL(slurp(f.file("cgroup.freeze")), "0");

  put(f.file("memory.current"), "2048\n");
  put(f.file("memory.max"), "max\n");
  put(f.file("memory.events"), "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n");
  put(f.file("cpu.stat"), "usage_usec 250\nuser_usec 200\nsystem_usec 50\n");
  put(f.file("pids.current"), "4\n");
  auto u = g->read_usage();
  BOOST_REQUIRE_MESSAGE(u, why(u));
  BOOST_CHECK_EQUAL(u->memory_usage, 2048u);
  BOOST_CHECK_EQUAL(u->memory_limit, std::numeric_limits<uint64_t>::max());
  BOOST_CHECK_EQUAL(u->oom_kills, 1u);
  BOOST_CHECK_EQUAL(u->cpu_usage_ns, 250000u);
  BOOST_CHECK_EQUAL(u->pids_current, 4u);

  // kill_all on an empty group: cgroup.kill is written (Linux >= 5.14) and it returns.
  put(f.file("cgroup.kill"), "");
  BOOST_REQUIRE_MESSAGE(!g->kill_all(), why(g->kill_all()));
  BOOST_CHECK_EQUAL(slurp(f.file("cgroup.kill")), "1");

  BOOST_CHECK((m->list("") == std::vector<std::string>{"c1"}));
  clear_files(f.root + "/berth/c1");
  BOOST_REQUIRE_MESSAGE(!g->remove(), why(g->remove()));
  BOOST_CHECK(!is_dir(f.root + "/berth/c1"));
  BOOST_CHECK(!g->remove());
  BOOST_CHECK(m->list("").empty());
}

BOOST_AUTO_TEST_CASE(validate_uses_dockers_wording) {
  auto check = [](resources r, const std::string& msg) {
    auto err = validate(r);
    BOOST_CHECK_MESSAGE(err == ec::invalid_argument, msg);
    BOOST_CHECK_EQUAL(why(err), msg);
  };
  BOOST_CHECK(!validate(resources{}));
  resources ok;
  ok.memory = 6 * mib;
  ok.memory_swap = -1;
  ok.memory_swappiness = 0;
  ok.cpu_period = 1000;
  ok.cpu_quota = -1;
  ok.pids_limit = -1;
  BOOST_CHECK_MESSAGE(!validate(ok), why(validate(ok)));
  resources r;
  r.memory = 6 * mib - 1;
  check(r, "Minimum memory limit allowed is 6MB");
  r = {};
  r.memory = 64 * mib;
  r.memory_swap = 32 * mib;
  check(r, "Minimum memoryswap limit should be larger than memory limit, see usage");
  r = {};
  r.memory_swap = 64 * mib;
  check(r, "You should always set the Memory limit when using Memoryswap limit, see usage");
  r = {};
  r.nano_cpus = 500000000;
  r.cpu_period = 100000;
  check(r, "Conflicting options: Nano CPUs and CPU Period cannot both be set");
  r = {};
  r.nano_cpus = 500000000;
  r.cpu_quota = 50000;
  check(r, "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  r = {};
  r.cpu_period = 999;
  check(r, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  r.cpu_period = 1000001;
  check(r, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  r = {};
  r.cpu_quota = 999;
  check(r, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
  r = {};
  r.memory_swappiness = 101;
  check(r, "Invalid value: 101, valid memory swappiness range is 0-100");
  r.memory_swappiness = -2;
  check(r, "Invalid value: -2, valid memory swappiness range is 0-100");
  r = {};
  r.nano_cpus = 100000 * int64_t{1000000000};
  auto err = validate(r);
  BOOST_CHECK(err == ec::invalid_argument);
  BOOST_CHECK_EQUAL(why(err).rfind("Range of CPUs is from 0.01 to ", 0), 0u);
}

// -- the real thing --------------------------------------------------------------------------

namespace {

const std::string real_root = "/sys/fs/cgroup";

boost::test_tools::assertion_result real_cgroups_usable(boost::unit_test::test_unit_id) {
  if (::geteuid() != 0) return {false};
  auto m = make_manager(real_root);
  if (!m) return {false};
  auto dir = (*m)->version() == version::v2 ? real_root : real_root + "/memory";
  struct statvfs fs;
  if (::access(dir.c_str(), W_OK) != 0 || ::statvfs(dir.c_str(), &fs) != 0 ||
      (fs.f_flag & ST_RDONLY) != 0)
    return {false};
  return {true};
}

// A group under a unique test parent; the destructor kills and reaps the child, removes the
// group and the parent in every hierarchy, whatever failed before.
struct real_fixture {
  std::string parent = "berth-test-" + io::random_hex(6);
  std::string id = "c-" + io::random_hex(6);
  std::unique_ptr<manager> m;
  std::unique_ptr<group> g;
  pid_t child = -1;

  ~real_fixture() {
    if (child > 0) {
      if (g) (void)g->thaw();
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
    }
    if (g) (void)g->remove();
    if (m && m->version() == version::v2) {
      ::rmdir((real_root + "/" + parent + "/" + id).c_str());
      ::rmdir((real_root + "/" + parent).c_str());
      return;
    }
    DIR* d = ::opendir(real_root.c_str());
    if (d == nullptr) return;
    while (auto* e = ::readdir(d)) {
      std::string base = real_root + "/" + e->d_name + "/" + parent;
      ::rmdir((base + "/" + id).c_str());
      ::rmdir(base.c_str());
    }
    ::closedir(d);
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(real_group_around_a_child, real_fixture,
                        *boost::unit_test::precondition(real_cgroups_usable)) {
  auto made = make_manager(real_root);
  BOOST_REQUIRE_MESSAGE(made, why(made));
  m = std::move(*made);
  BOOST_TEST_MESSAGE("cgroup " << (m->version() == version::v2 ? "v2" : "v1") << ", parent "
                               << parent);
  auto opened = m->open(parent, id);
  BOOST_REQUIRE_MESSAGE(opened, why(opened));
  g = std::move(*opened);
  BOOST_CHECK((m->list(parent) == std::vector<std::string>{id}));

  resources r;
  r.memory = 64 * mib;
  r.pids_limit = 64;
  BOOST_REQUIRE_MESSAGE(!g->apply(r), why(g->apply(r)));
  auto u = g->read_usage();
  BOOST_REQUIRE_MESSAGE(u, why(u));
  BOOST_CHECK_EQUAL(u->memory_limit, static_cast<uint64_t>(64 * mib));

  const char* argv[] = {"sleep", "60", nullptr};
  BOOST_REQUIRE(
      ::posix_spawnp(&child, "sleep", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
  BOOST_REQUIRE_MESSAGE(!g->add(child), why(g->add(child)));
  auto pids = g->pids();
  BOOST_REQUIRE_MESSAGE(pids, why(pids));
  BOOST_CHECK((*pids == std::vector<pid_t>{child}));
  u = g->read_usage();
  BOOST_REQUIRE_MESSAGE(u, why(u));
  BOOST_CHECK_EQUAL(u->pids_current, 1u);

  BOOST_REQUIRE_MESSAGE(!g->freeze(), why(g->freeze()));
  if (m->version() == version::v1) {
    std::ifstream state{real_root + "/freezer/" + parent + "/" + id + "/freezer.state"};
    std::string s;
    state >> s;
    BOOST_CHECK_EQUAL(s, "FROZEN");
  }
  BOOST_REQUIRE_MESSAGE(!g->thaw(), why(g->thaw()));
  BOOST_REQUIRE_MESSAGE(!g->freeze(), why(g->freeze())); // kill_all thaws a frozen group

  BOOST_REQUIRE_MESSAGE(!g->kill_all(), why(g->kill_all()));
  int status = 0;
  BOOST_REQUIRE_EQUAL(::waitpid(child, &status, 0), child);
  child = -1;
  BOOST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  pids = g->pids();
  BOOST_REQUIRE(pids);
  BOOST_CHECK(pids->empty());

  BOOST_REQUIRE_MESSAGE(!g->remove(), why(g->remove()));
  BOOST_CHECK(!is_dir(g->path()));
  BOOST_CHECK(m->list(parent).empty());
}

BOOST_AUTO_TEST_SUITE_END()

// -- docker stats: read_stats on fake v1 and v2 trees, and the host's side (drivers/exec/stats) --

namespace {

uint64_t stat_of(const cgroup_stats& s, const std::string& key) {
  auto it = s.memory_stat.find(key);
  BOOST_REQUIRE_MESSAGE(it != s.memory_stat.end(), "no memory.stat key " + key);
  return it->second;
}

bool same(const blkio_entry& e, uint64_t major, uint64_t minor, const std::string& op,
          uint64_t value) {
  return e.major == major && e.minor == minor && e.op == op && e.value == value;
}

/// Fills the stats files of fake_v1's group c1 (cpu and cpuacct share cpu,cpuacct).
void fill_v1_stats(fake_v1& f) {
  put(f.file("cpuacct", "c1", "cpuacct.usage"), "5000000000\n");
  put(f.file("cpuacct", "c1", "cpuacct.usage_percpu"), "3000000000 2000000000 \n");
  put(f.file("cpuacct", "c1", "cpuacct.stat"), "user 300\nsystem 150\n");
  put(f.file("cpu", "c1", "cpu.stat"),
      "nr_periods 10\nnr_throttled 4\nthrottled_time 7000\nnr_bursts 0\nburst_time 0\n");
  put(f.file("memory", "c1", "memory.usage_in_bytes"), "8388608\n");
  put(f.file("memory", "c1", "memory.max_usage_in_bytes"), "9437184\n");
  put(f.file("memory", "c1", "memory.failcnt"), "2\n");
  put(f.file("memory", "c1", "memory.limit_in_bytes"), "9223372036854771712\n");
  put(f.file("memory", "c1", "memory.stat"),
      "cache 4096\nrss 1048576\nshmem 0\ninactive_file 8192\nswap 0\n"
      "total_cache 4096\ntotal_rss 1048576\ntotal_inactive_file 12288\n");
  put(f.file("pids", "c1", "pids.current"), "3\n");
  put(f.file("pids", "c1", "pids.max"), "max\n");
  // No CFQ on this kernel: the throttle files only.
  put(f.file("blkio", "c1", "blkio.throttle.io_service_bytes"),
      "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n"
      "8:0 Total 12288\nTotal 12288\n");
  put(f.file("blkio", "c1", "blkio.throttle.io_serviced"), "8:0 Read 1\n8:0 Write 2\nTotal 3\n");
}

} // namespace

BOOST_AUTO_TEST_SUITE(cgroup_stats_reading)

BOOST_AUTO_TEST_CASE(v1_stats_as_moby_reads_them) {
  fake_v1 f;
  fill_v1_stats(f);
  auto g = must_open(*must_manage(f.root), "", "c1");
  auto s = g->read_stats();
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK_EQUAL(s->version, 1);
  BOOST_CHECK_EQUAL(s->cpu_total, 5000000000u);
  BOOST_CHECK((s->cpu_percpu == std::vector<uint64_t>{3000000000u, 2000000000u}));
  auto tick = 1000000000u / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  BOOST_CHECK_EQUAL(s->cpu_user, 300 * tick);
  BOOST_CHECK_EQUAL(s->cpu_kernel, 150 * tick);
  BOOST_CHECK_EQUAL(s->throttling_periods, 10u);
  BOOST_CHECK_EQUAL(s->throttled_periods, 4u);
  BOOST_CHECK_EQUAL(s->throttled_time, 7000u);
  BOOST_CHECK(s->has_memory);
  BOOST_CHECK_EQUAL(s->memory_usage, 8388608u);
  BOOST_CHECK_EQUAL(s->memory_max_usage, 9437184u);
  BOOST_CHECK_EQUAL(s->memory_failcnt, 2u);
  BOOST_CHECK_EQUAL(s->memory_limit, 9223372036854771712u); // sample_stats caps it
  // moby's 32 v1 keys, the missing ones 0, the others (shmem, swap) left out
  BOOST_CHECK_EQUAL(s->memory_stat.size(), 32u);
  BOOST_CHECK_EQUAL(stat_of(*s, "total_inactive_file"), 12288u);
  BOOST_CHECK_EQUAL(stat_of(*s, "inactive_file"), 8192u);
  BOOST_CHECK_EQUAL(stat_of(*s, "rss"), 1048576u);
  BOOST_CHECK_EQUAL(stat_of(*s, "hierarchical_memsw_limit"), 0u);
  BOOST_CHECK_EQUAL(s->memory_stat.count("shmem"), 0u);
  BOOST_CHECK_EQUAL(s->memory_stat.count("swap"), 0u);
  BOOST_CHECK_EQUAL(s->pids_current, 3u);
  BOOST_CHECK_EQUAL(s->pids_limit, 0u); // "max", as containerd's v1 reader
  BOOST_CHECK(s->has_blkio);
  BOOST_REQUIRE_EQUAL(s->io_service_bytes.size(), 6u); // "Total N" skipped, "8:0 Total" kept
  BOOST_CHECK(same(s->io_service_bytes[0], 8, 0, "Read", 4096));
  BOOST_CHECK(same(s->io_service_bytes[1], 8, 0, "Write", 8192));
  BOOST_CHECK(same(s->io_service_bytes[5], 8, 0, "Total", 12288));
  BOOST_REQUIRE_EQUAL(s->io_serviced.size(), 2u);
  BOOST_CHECK(same(s->io_serviced[1], 8, 0, "Write", 2));
  BOOST_CHECK(s->io_queued.empty() && s->sectors.empty() && s->io_time.empty());

  // A limit and a pids limit.
  put(f.file("memory", "c1", "memory.limit_in_bytes"), "67108864\n");
  put(f.file("pids", "c1", "pids.max"), "64\n");
  s = g->read_stats();
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK_EQUAL(s->memory_limit, 67108864u);
  BOOST_CHECK_EQUAL(s->pids_limit, 64u);
}

BOOST_AUTO_TEST_CASE(v1_blkio_prefers_cfq_files_unless_empty) {
  fake_v1 f;
  fill_v1_stats(f);
  for (auto file : {"sectors_recursive", "io_service_bytes_recursive", "io_serviced_recursive",
                    "io_queued_recursive", "io_service_time_recursive", "io_wait_time_recursive",
                    "io_merged_recursive", "time_recursive"})
    put(f.file("blkio", "c1", std::string{"blkio."} + file), "Total 0\n");
  auto g = must_open(*must_manage(f.root), "", "c1");
  auto s = g->read_stats();
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK_EQUAL(s->io_service_bytes.size(), 6u); // all CFQ files empty: the throttle files
  put(f.file("blkio", "c1", "blkio.io_service_bytes_recursive"),
      "8:16 Read 100\n8:16 Write 200\nTotal 300\n");
  put(f.file("blkio", "c1", "blkio.sectors_recursive"), "8:16 42\n");
  s = g->read_stats();
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_REQUIRE_EQUAL(s->io_service_bytes.size(), 2u);
  BOOST_CHECK(same(s->io_service_bytes[0], 8, 16, "Read", 100));
  BOOST_REQUIRE_EQUAL(s->sectors.size(), 1u);
  BOOST_CHECK(same(s->sectors[0], 8, 16, "", 42));
  BOOST_CHECK(s->io_serviced.empty()); // not the throttle file's entries

  put(f.file("blkio", "c1", "blkio.sectors_recursive"), "garbage\n");
  BOOST_CHECK(!g->read_stats()); // an invalid line is an error, as containerd's
}

BOOST_AUTO_TEST_CASE(v1_missing_controllers_and_a_gone_group) {
  temp_dir t; // memory only: no cpu, pids or blkio figures, no blkio lists
  t.sub("memory/berth/c1");
  auto g = must_open(*must_manage(t.path), "", "c1");
  auto s = g->read_stats();
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK(s->has_memory);
  BOOST_CHECK(!s->has_blkio);
  BOOST_CHECK(s->cpu_percpu.empty());
  BOOST_CHECK_EQUAL(s->memory_usage, 0u); // missing files read as 0
  BOOST_REQUIRE(::rmdir((t.path + "/memory/berth/c1").c_str()) == 0);
  s = g->read_stats();
  BOOST_REQUIRE(!s);
  BOOST_CHECK(s.error() == ec::not_found);
}

BOOST_AUTO_TEST_CASE(v2_stats_as_moby_reads_them) {
  fake_v2 f;
  put(f.file("cpu.stat"), "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 7\n"
                          "nr_throttled 1\nthrottled_usec 40\n");
  put(f.file("memory.current"), "8388608\n");
  put(f.file("memory.max"), "max\n");
  put(f.file("memory.stat"), "anon 1048576\nfile 4096\ninactive_file 8192\nactive_file 0\n"
                             "workingset_refault_anon 0\nthp_collapse_alloc 3\n");
  put(f.file("pids.current"), "2\n");
  put(f.file("pids.max"), "max\n");
  put(f.file("io.stat"), "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                         "253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
  auto g = must_open(*must_manage(f.root), "", "c1");
  auto s = g->read_stats();
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK_EQUAL(s->version, 2);
  BOOST_CHECK_EQUAL(s->cpu_total, 5000000u);
  BOOST_CHECK_EQUAL(s->cpu_user, 3000000u);
  BOOST_CHECK_EQUAL(s->cpu_kernel, 2000000u);
  BOOST_CHECK(s->cpu_percpu.empty()); // v2 has no per-CPU figures
  BOOST_CHECK_EQUAL(s->throttling_periods, 7u);
  BOOST_CHECK_EQUAL(s->throttled_periods, 1u);
  BOOST_CHECK_EQUAL(s->throttled_time, 40000u);
  BOOST_CHECK(s->has_memory);
  BOOST_CHECK_EQUAL(s->memory_usage, 8388608u);
  BOOST_CHECK_EQUAL(s->memory_limit, std::numeric_limits<uint64_t>::max());
  BOOST_CHECK_EQUAL(s->memory_max_usage, 0u);
  BOOST_CHECK_EQUAL(s->memory_failcnt, 0u);
  BOOST_CHECK_EQUAL(s->memory_stat.size(), 31u); // moby's v2 keys
  BOOST_CHECK_EQUAL(stat_of(*s, "inactive_file"), 8192u);
  BOOST_CHECK_EQUAL(stat_of(*s, "anon"), 1048576u);
  BOOST_CHECK_EQUAL(stat_of(*s, "thp_collapse_alloc"), 3u);
  BOOST_CHECK_EQUAL(stat_of(*s, "workingset_refault"), 0u);
  BOOST_CHECK_EQUAL(s->memory_stat.count("total_inactive_file"), 0u);
  BOOST_CHECK_EQUAL(s->pids_current, 2u);
  BOOST_CHECK_EQUAL(s->pids_limit, std::numeric_limits<uint64_t>::max()); // containerd's v2
  BOOST_CHECK(!s->has_blkio);
  BOOST_REQUIRE_EQUAL(s->io_service_bytes.size(), 4u);
  BOOST_CHECK(same(s->io_service_bytes[0], 8, 0, "read", 4096));
  BOOST_CHECK(same(s->io_service_bytes[1], 8, 0, "write", 8192));
  BOOST_CHECK(same(s->io_service_bytes[2], 253, 1, "read", 1));
  BOOST_CHECK(s->io_serviced.empty());

  put(f.file("memory.max"), "67108864\n");
  put(f.file("pids.max"), "100\n");
  ::unlink(f.file("io.stat").c_str()); // no io controller: no list
  s = g->read_stats();
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK_EQUAL(s->memory_limit, 67108864u);
  BOOST_CHECK_EQUAL(s->pids_limit, 100u);
  BOOST_CHECK(s->io_service_bytes.empty());
}

BOOST_AUTO_TEST_CASE(host_cpu_memory_and_networks_from_a_fake_proc) {
  temp_dir proc;
  put(proc.path + "/stat", "cpu  100 2 30 400 5 6 7 8 0 0\ncpu0 50 1 15 200 2 3 3 4 0 0\n"
                           "intr 12345\n");
  put(proc.path + "/meminfo", "MemTotal:       1024 kB\nMemFree:         512 kB\n");
  proc.sub("42/net");
  put(proc.path + "/42/net/dev",
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n"
      "    lo:    3267      29    0    0    0     0          0         0     3267      29    0 "
      "   0    0     0       0          0\n"
      "  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n");
  exec::host_files host{proc.path};
  auto ticks = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  auto sys = exec::system_cpu_usage(host);
  BOOST_REQUIRE_MESSAGE(sys, why(sys));
  BOOST_CHECK_EQUAL(*sys, (100u + 2 + 30 + 400 + 5 + 6 + 7) * (1000000000u / ticks)); // not steal
  BOOST_CHECK_EQUAL(exec::host_memory(host), 1024u * 1024);
  BOOST_CHECK_GT(exec::online_cpus(), 0u);
  auto nets = exec::read_net_dev(proc.path + "/42/net/dev");
  BOOST_REQUIRE_MESSAGE(nets, why(nets));
  BOOST_REQUIRE_EQUAL(nets->size(), 1u); // lo is never reported (moby: the sandbox's interfaces)
  auto& eth = nets->front();
  BOOST_CHECK_EQUAL(eth.name, "eth0");
  BOOST_CHECK_EQUAL(eth.rx_bytes, 1000u);
  BOOST_CHECK_EQUAL(eth.rx_packets, 10u);
  BOOST_CHECK_EQUAL(eth.rx_errors, 1u);
  BOOST_CHECK_EQUAL(eth.rx_dropped, 2u);
  BOOST_CHECK_EQUAL(eth.tx_bytes, 2000u);
  BOOST_CHECK_EQUAL(eth.tx_packets, 20u);
  BOOST_CHECK_EQUAL(eth.tx_errors, 3u);
  BOOST_CHECK_EQUAL(eth.tx_dropped, 4u);

  // A whole sample: the unlimited memory limit becomes MemTotal; networks on request.
  fake_v2 f;
  put(f.file("memory.max"), "max\n");
  put(f.file("memory.current"), "4096\n");
  put(f.file("pids.current"), "1\n");
  put(f.file("pids.max"), "max\n");
  auto g = must_open(*must_manage(f.root), "", "c1");
  auto s = exec::sample_stats(*g, 42, true, host);
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK(s->running);
  BOOST_CHECK_GT(s->read_nano, 0);
  BOOST_CHECK_EQUAL(s->system_cpu_usage, *sys);
  BOOST_CHECK_EQUAL(s->cgroup.memory_limit, 1024u * 1024);
  BOOST_CHECK_EQUAL(s->networks.size(), 1u);
  s = exec::sample_stats(*g, 42, false, host); // --network host or none
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_CHECK(s->networks.empty());

  put(proc.path + "/stat", "cpu 1 2 3\n");
  BOOST_CHECK(!exec::system_cpu_usage(host)); // moby: "invalid number of cpu fields"
}

BOOST_AUTO_TEST_SUITE_END()
