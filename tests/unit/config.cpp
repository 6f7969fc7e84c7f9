// Daemon configuration: flags, daemon.json merge conflicts, validation, SIGHUP reload.
#include <boost/test/unit_test.hpp>

#include "actors/daemon/config.hpp"
#include "actors/daemon/daemon.hpp"
#include "messages/error.hpp"

#include <cstdlib>
#include <fstream>
#include <unistd.h>

using namespace berth;
using namespace berth::config;

namespace {

flags parse_ok(std::vector<std::string> args) {
  auto f = parse_flags(args);
  BOOST_REQUIRE_MESSAGE(f, (f ? "" : error_message(f.error())));
  return *f;
}

std::string parse_error(std::vector<std::string> args) {
  auto f = parse_flags(args);
  BOOST_REQUIRE(!f);
  return error_message(f.error());
}

std::string validate_error(daemon_config cfg) {
  auto err = validate(cfg);
  BOOST_REQUIRE(err);
  return error_message(err);
}

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/berth-config-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { std::system(("rm -rf " + path).c_str()); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = path + "/" + name;
    std::ofstream{p} << text;
    return p;
  }
  std::string path;
};

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(config_suite)

BOOST_AUTO_TEST_CASE(flags_take_dockerd_names_and_short_forms) {
  auto f = parse_ok({"-H",
                     "unix:///tmp/a.sock",
                     "--host=tcp://127.0.0.1:2375",
                     "-D",
                     "-g",
                     "/srv/g",
                     "-p",
                     "/tmp/p.pid",
                     "--iptables=false",
                     "-l",
                     "warn",
                     "-s",
                     "vfs",
                     "-e",
                     "oci",
                     "--mtu",
                     "1400",
                     "--dns",
                     "1.1.1.1",
                     "--dns",
                     "8.8.8.8",
                     "--insecure-registry",
                     "10.0.0.0/8",
                     "--max-concurrent-downloads=5"});
  BOOST_TEST(f.cfg.hosts ==
             (std::vector<std::string>{"unix:///tmp/a.sock", "tcp://127.0.0.1:2375"}));
  BOOST_TEST(f.cfg.debug);
  BOOST_TEST(f.cfg.data_root == "/srv/g");
  BOOST_TEST(f.cfg.pidfile == "/tmp/p.pid");
  BOOST_TEST(!f.cfg.iptables);
  BOOST_TEST(f.cfg.log_level == "warn");
  BOOST_TEST(f.cfg.storage_driver == "vfs");
  BOOST_TEST(f.cfg.exec_driver == "oci");
  BOOST_TEST(f.cfg.mtu == 1400);
  BOOST_TEST(f.cfg.dns.size() == 2u);
  BOOST_TEST(f.cfg.max_concurrent_downloads == 5);
  BOOST_TEST(f.given.count("hosts") == 1u);
  BOOST_TEST(f.given.count("data-root") == 1u);
  BOOST_TEST(f.given.count("iptables") == 1u);
  BOOST_TEST(f.given.count("bip") == 0u);
}

BOOST_AUTO_TEST_CASE(bad_flags_are_errors) {
  BOOST_TEST(contains(parse_error({"--nope"}), "unknown flag: --nope"));
  BOOST_TEST(contains(parse_error({"-Z"}), "unknown shorthand flag"));
  BOOST_TEST(contains(parse_error({"extra"}), "accepts no arguments"));
  BOOST_TEST(contains(parse_error({"--data-root"}), "flag needs an argument"));
  BOOST_TEST(contains(parse_error({"--debug=maybe"}), "--debug"));
  BOOST_TEST(contains(parse_error({"--mtu", "big"}), "--mtu"));
  BOOST_TEST(parse_ok({"--help"}).help);
  BOOST_TEST(parse_ok({"-v"}).version);
}

BOOST_AUTO_TEST_CASE(usage_lists_every_flag) {
  auto u = usage();
  for (auto* flag : {"--host",
                     "--data-root",
                     "--exec-root",
                     "--pidfile",
                     "--config-file",
                     "--debug",
                     "--log-level",
                     "--group",
                     "--tls",
                     "--tlscacert",
                     "--tlscert",
                     "--tlskey",
                     "--tlsverify",
                     "--storage-driver",
                     "--storage-opt",
                     "--exec-driver",
                     "--exec-opt",
                     "--bridge",
                     "--bip",
                     "--fixed-cidr",
                     "--mtu",
                     "--ip",
                     "--dns",
                     "--dns-search",
                     "--iptables",
                     "--ip-forward",
                     "--ip-masq",
                     "--icc",
                     "--registry-mirror",
                     "--insecure-registry",
                     "--max-concurrent-downloads",
                     "--shutdown-timeout",
                     "--live-restore",
                     "--init",
                     "--api-cors-header",
                     "-g, --graph"})
    BOOST_TEST(contains(u, flag), flag);
}

BOOST_AUTO_TEST_CASE(a_key_in_flags_and_file_is_an_error_naming_it) {
  auto f = parse_ok({"--debug"});
  auto cfg = f.cfg;
  auto err = merge_file(cfg, f.given, R"({"debug": false, "mtu": 1400})");
  BOOST_REQUIRE(err);
  BOOST_TEST(
      contains(error_message(err), "specified both as a flag and in the configuration file"));
  BOOST_TEST(contains(error_message(err), "debug: (from flag: true, from file: false)"));
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_bad_types_name_the_key) {
  daemon_config cfg;
  auto unknown = merge_file(cfg, {}, R"({"debug": true, "fancy-thing": 1})");
  BOOST_TEST(contains(error_message(unknown), "don't match any configuration option: fancy-thing"));
  auto type = merge_file(cfg, {}, R"({"mtu": "big"})");
  BOOST_TEST(contains(error_message(type), "\"mtu\""));
  auto list = merge_file(cfg, {}, R"({"dns": "1.1.1.1"})");
  BOOST_TEST(contains(error_message(list), "\"dns\""));
  BOOST_TEST(contains(error_message(merge_file(cfg, {}, "{broken")), "invalid JSON"));
}

BOOST_AUTO_TEST_CASE(file_values_apply) {
  daemon_config cfg;
  BOOST_REQUIRE(!merge_file(cfg, {}, R"({"debug": true, "hosts": ["unix:///tmp/x.sock"],
    "labels": ["a=b"], "log-opts": {"max-size": "10m"}, "registry-mirrors": ["https://m.example"],
    "init": true})"));
  BOOST_TEST(cfg.debug);
  BOOST_TEST(cfg.init);
  BOOST_TEST(cfg.hosts.at(0) == "unix:///tmp/x.sock");
  BOOST_TEST(cfg.log_opts.at(0) == "max-size=10m");
  BOOST_TEST(!validate(cfg));
}

// dockerd's exec-opt keys, and the runtimes: --add-runtime, daemon.json "runtimes",
// --default-runtime (which picks the exec driver).
BOOST_AUTO_TEST_CASE(exec_opts_and_runtimes) {
  auto with = [](auto f) {
    daemon_config c;
    f(c);
    return c;
  };
  BOOST_TEST(validate_error(with([](auto& c) { c.exec_opts = {"foo=bar"}; })) ==
             "invalid exec-opt (foo=bar): unknown option: 'foo'");
  BOOST_TEST(
      contains(validate_error(with([](auto& c) { c.exec_opts = {"native.cgroupdriver=systemd"}; })),
               "native.cgroupdriver option systemd not supported"));
  auto cgroupfs = with([](auto& c) { c.exec_opts = {"native.cgroupdriver=cgroupfs"}; });
  BOOST_TEST(!validate(cgroupfs));
  BOOST_TEST(validate_error(with([](auto& c) { c.runtimes = {"runc=/x"}; })) ==
             "runtime name 'runc' is reserved");
  BOOST_TEST(validate_error(with([](auto& c) { c.default_runtime = "crun"; })) ==
             "specified default runtime 'crun' does not exist");
  BOOST_TEST(contains(validate_error(with([](auto& c) {
                        c.runtimes = {"a=/x", "a=/y"};
                      })),
                      "given twice"));

  auto flags = parse_ok({"--add-runtime", "crun=/usr/bin/crun", "--default-runtime", "crun"});
  BOOST_TEST((flags.cfg.runtimes == std::vector<std::string>{"crun=/usr/bin/crun"}));
  daemon_config both = flags.cfg;
  BOOST_TEST(contains(error_message(merge_file(both, flags.given, R"({"runtimes": {}})")),
                      "specified both as a flag and in the configuration file"));
  daemon_config cfg;
  cfg.default_runtime = "crun";
  BOOST_REQUIRE(!merge_file(cfg, {"default-runtime"}, R"({"runtimes": {"kata": {"path":
    "/opt/kata", "runtimeArgs": ["--debug", "--x"]}, "crun": {"path": "/usr/bin/crun"}}})"));
  BOOST_REQUIRE(!validate(cfg));
  BOOST_TEST(cfg.exec_driver == "oci");
  BOOST_TEST(default_runtime(cfg) == "crun");
  auto table = runtimes(cfg);
  BOOST_TEST(table.size() == 4u); // native, runc, kata, crun
  BOOST_TEST(table["runc"].path == "runc");
  BOOST_TEST(table["native"].path == "");
  BOOST_TEST(table["kata"].path == "/opt/kata");
  BOOST_TEST((table["kata"].args == std::vector<std::string>{"--debug", "--x"}));
  BOOST_TEST(table["crun"].path == "/usr/bin/crun");
  daemon_config bad;
  BOOST_TEST(contains(error_message(merge_file(bad, {}, R"({"runtimes": {"k": {"args": []}}})")),
                      "\"path\""));
  // -e oci means runc; --exec-opt oci.runtime= names its binary; --default-runtime native wins.
  auto oci = with([](auto& c) {
    c.exec_driver = "oci";
    c.exec_opts = {"oci.runtime=/usr/local/bin/runc"};
  });
  BOOST_REQUIRE(!validate(oci));
  BOOST_TEST(default_runtime(oci) == "runc");
  BOOST_TEST(runtimes(oci)["runc"].path == "/usr/local/bin/runc");
  auto native = with([](auto& c) {
    c.exec_driver = "oci";
    c.default_runtime = "native";
  });
  BOOST_REQUIRE(!validate(native));
  BOOST_TEST(native.exec_driver == "native");
}

BOOST_AUTO_TEST_CASE(validation_names_the_bad_value) {
  daemon_config ok;
  BOOST_TEST(!validate(ok));
  BOOST_TEST(ok.hosts.at(0) == default_host);
  auto with = [](auto f) {
    daemon_config c;
    f(c);
    return c;
  };
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.log_level = "loud"; })), "log-level"));
  BOOST_TEST(
      contains(validate_error(with([](auto& c) { c.hosts = {"http://x"}; })), "invalid host"));
  BOOST_TEST(
      contains(validate_error(with([](auto& c) { c.hosts = {"tcp://1.2.3.4:99999"}; })), "port"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.hosts = {"fd://"}; })), "not supported"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.mtu = 10; })), "mtu"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.bip = "10.0.0.1"; })), "bip"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.ip = "nope"; })), "ip"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.dns = {"x"}; })), "dns"));
  BOOST_TEST(
      contains(validate_error(with([](auto& c) { c.storage_driver = "zfs"; })), "storage-driver"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.exec_driver = "lxc"; })), "exec-driver"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.registry_mirrors = {"m.io"}; })),
                      "registry-mirrors"));
  BOOST_TEST(
      contains(validate_error(with([](auto& c) { c.insecure_registries = {"http://r:5000"}; })),
               "insecure-registries"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.max_concurrent_downloads = 0; })),
                      "max-concurrent-downloads"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.labels = {"novalue"}; })), "labels"));
  BOOST_TEST(
      contains(validate_error(with([](auto& c) { c.live_restore = true; })), "not supported"));
  BOOST_TEST(contains(validate_error(with([](auto& c) { c.tlsverify = true; })), "tlscert"));
  auto tcp = with([](auto& c) { c.hosts = {"tcp://127.0.0.1"}; });
  BOOST_TEST(!validate(tcp));
  BOOST_TEST(tcp.hosts.at(0) == "tcp://127.0.0.1:2375");
}

BOOST_AUTO_TEST_CASE(load_reads_the_file_and_a_missing_given_file_fails) {
  temp_dir dir;
  auto path = dir.write("daemon.json", R"({"debug": true, "data-root": "/tmp/r"})");
  auto f = parse_ok({"--config-file", path});
  auto cfg = load(f);
  BOOST_REQUIRE(cfg);
  BOOST_TEST(cfg->debug);
  BOOST_TEST(cfg->data_root == "/tmp/r");
  auto missing = parse_ok({"--config-file", dir.path + "/nope.json"});
  BOOST_TEST(!load(missing));
  auto bad = dir.write("bad.json", R"({"bogus": 1})");
  auto e = load(parse_ok({"--config-file", bad}));
  BOOST_REQUIRE(!e);
  BOOST_TEST(contains(error_message(e.error()), "bogus"));
}

BOOST_AUTO_TEST_CASE(reload_applies_reloadable_keys_only) {
  temp_dir dir;
  auto path = dir.write("daemon.json", R"({"data-root": "/tmp/one"})");
  auto f = parse_ok({"--config-file", path});
  auto cfg = *load(f);
  dir.write("daemon.json", R"({"data-root": "/tmp/two", "debug": true, "labels": ["x=y"],
    "max-concurrent-downloads": 7})");
  auto r = reload(cfg, f);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->cfg.debug);
  BOOST_TEST(r->cfg.labels == (std::vector<std::string>{"x=y"}));
  BOOST_TEST(r->cfg.max_concurrent_downloads == 7);
  BOOST_TEST(r->cfg.data_root == "/tmp/one");
  BOOST_TEST(r->ignored == (std::vector<std::string>{"data-root"}));
  BOOST_TEST(r->changes.size() == 3u);
  dir.write("daemon.json", R"({"debug": "yes"})");
  BOOST_TEST(!reload(cfg, f));
  auto attrs = reload_attributes(r->cfg);
  BOOST_TEST(attrs.at("debug") == "true");
  BOOST_TEST(attrs.at("labels") == "[x=y]");
}

BOOST_AUTO_TEST_CASE(pidfile_refuses_a_live_process) {
  temp_dir dir;
  auto path = dir.path + "/d.pid";
  BOOST_TEST(!daemon::create_pidfile(path));
  // a pidfile naming another live process (our parent) is refused
  dir.write("d.pid", std::to_string(::getppid()) + "\n");
  auto err = daemon::create_pidfile(path);
  BOOST_REQUIRE(err);
  BOOST_TEST(contains(error_message(err), "pid file found"));
  // a stale one (no such process) is taken over
  dir.write("d.pid", "999999999\n");
  BOOST_TEST(!daemon::create_pidfile(path));
}

BOOST_AUTO_TEST_CASE(engine_id_is_created_once) {
  temp_dir dir;
  auto a = daemon::engine_id(dir.path);
  auto b = daemon::engine_id(dir.path);
  BOOST_REQUIRE(a);
  BOOST_TEST(a->size() == 36u);
  BOOST_TEST(*a == *b);
}

BOOST_AUTO_TEST_SUITE_END()
