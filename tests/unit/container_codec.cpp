// The container codec: create bodies exactly as the docker CLI sends them (from the wire capture),
// Go's decoder semantics and dockerd's validation wording, container names, the inspect and ps
// JSON (types and field order), ps's Status column (go-units' own table) and the list filters.
#include <boost/test/unit_test.hpp>

#include "actors/containers/container.hpp"
#include "api/container_codec.hpp"
#include "api/system.hpp"
#include "tests/unit/util.hpp"

#include <boost/json.hpp>
#include <simdjson.h>

#include <string>
#include <vector>

using namespace berth;
using berth::test::why;

namespace {

namespace json = boost::json;

// The full create body of `docker run --name t1 alpine echo hi` (docker CLI 28.2.2, API 1.41),
// from the appendix of docker-cli-28.2.2-wire-capture.txt.
const char* cli_body = R"({"Hostname":"","Domainname":"","User":"","AttachStdin":false,
"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,
"Cmd":["echo","hi"],"Image":"alpine","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,
"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,
"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,
"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"",
"Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"",
"UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"",
"BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],
"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,
"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],
"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,
"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,
"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},
"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,
"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"",
"IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,
"DNSNames":null}}}})";

/// The CLI body with some top-level and HostConfig fields replaced (the CLI's shape is kept).
std::string cli(std::initializer_list<std::pair<const char*, json::value>> top,
                std::initializer_list<std::pair<const char*, json::value>> host = {}) {
  auto v = json::parse(cli_body);
  auto& o = v.as_object();
  for (auto& [k, x] : top)
    o[k] = x;
  for (auto& [k, x] : host)
    o["HostConfig"].as_object()[k] = x;
  return json::serialize(v);
}

/// The CLI body with only HostConfig fields replaced.
std::string cli_host(std::initializer_list<std::pair<const char*, json::value>> host) {
  return cli({}, host);
}

container_config parse_ok(const std::string& body) {
  auto r = api::parse_create(body);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  return *r;
}

/// The message of a create body that must fail with 400.
std::string parse_error(const std::string& body) {
  auto r = api::parse_create(body);
  if (r) return "ok";
  BOOST_TEST(http_status(r.error()) == 400u);
  return error_message(r.error());
}

json::value restart(const char* name, int64_t count) {
  return json::object{{"Name", name}, {"MaximumRetryCount", count}};
}

constexpr int64_t sec = 1000000000;
constexpr int64_t minute = 60 * sec;
constexpr int64_t hour = 60 * minute;
constexpr int64_t day = 24 * hour;

const std::string id64 = "46999490da3b671426416e6f18f5ca1e205ab2ace4b9054ad0d271330d800525";
const std::string image_id =
    "sha256:c1aabb73d2339c5ebaa3681de2e9d9c18d57485045a4e311d9f8004bec208d67";

container_info sample() {
  container_info c;
  c.id = id64;
  c.name = "/t1";
  c.created_nano = 1700000000 * sec + 123456000;
  c.image_id = image_id;
  c.path = "echo";
  c.args = {"hi", "two words"};
  c.config = parse_ok(cli_body);
  c.config.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  c.config.labels = {{"a", "b"}};
  c.driver = "overlay2";
  c.log_path = "/var/lib/berth/containers/" + id64 + "/" + id64 + "-json.log";
  c.log_type = "json-file";
  c.exec_driver = "native";
  c.state.status = container_status::exited;
  c.state.exit_code = 3;
  c.state.started_at_nano = 1700000001 * sec;
  c.state.finished_at_nano = 1700000002 * sec + 500000000;
  return c;
}

using json_ref = simdjson::simdjson_result<simdjson::dom::element>;

/// Parse JSON text with simdjson (the reader the tests trust for types and key order).
struct parsed {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  explicit parsed(const std::string& text) {
    auto err = parser.parse(simdjson::padded_string{text}).get(doc);
    BOOST_REQUIRE_MESSAGE(!err, text);
  }
  json_ref root() const { return json_ref{simdjson::dom::element(doc)}; }
};

std::vector<std::string> keys(json_ref e) {
  std::vector<std::string> out;
  simdjson::dom::object o;
  if (e.get(o)) return out;
  for (auto kv : o)
    out.emplace_back(kv.key);
  return out;
}

/// The JSON type of a value, "missing" when it is not there.
std::string type(json_ref e) {
  simdjson::dom::element x;
  if (e.get(x)) return "missing";
  switch (x.type()) {
  case simdjson::dom::element_type::ARRAY:
    return "array";
  case simdjson::dom::element_type::OBJECT:
    return "object";
  case simdjson::dom::element_type::STRING:
    return "string";
  case simdjson::dom::element_type::INT64:
  case simdjson::dom::element_type::UINT64:
    return "int";
  case simdjson::dom::element_type::DOUBLE:
    return "double";
  case simdjson::dom::element_type::BOOL:
    return "bool";
  default:
    return "null";
  }
}

std::string str(json_ref e) {
  std::string_view s;
  return e.get(s) ? std::string{"<not a string>"} : std::string{s};
}

int64_t num(json_ref e) {
  int64_t n = -424242;
  return e.get(n) ? -424242 : n;
}

/// A boolean; fails the test when the value is not one.
bool flag(json_ref e) {
  bool b = false;
  BOOST_TEST(!e.get(b));
  return b;
}

} // namespace

BOOST_AUTO_TEST_SUITE(container_codec)

// -- create bodies the CLI sends ------------------------------------------------------------------

// docker update's body: the CLI sends every Resources field (zeros for the ones not given).
BOOST_AUTO_TEST_CASE(update_config) {
  auto u = api::parse_update(R"({"BlkioWeight":0,"CpuShares":512,"Memory":67108864,"NanoCpus":0,
    "CpusetCpus":"","MemorySwap":134217728,"PidsLimit":null,
    "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}})");
  BOOST_REQUIRE_MESSAGE(u, (u ? "" : error_message(u.error())));
  BOOST_TEST(u->memory == 67108864);
  BOOST_TEST(u->memory_swap == 134217728);
  BOOST_TEST(u->cpu_shares == 512);
  BOOST_TEST(u->nano_cpus == 0);
  BOOST_TEST(u->restart_policy == "on-failure");
  BOOST_TEST(u->restart_max_retries == 3);
  auto none = api::parse_update(R"({"Memory":0})");
  BOOST_REQUIRE(none);
  BOOST_TEST(none->restart_policy == ""); // unchanged
  BOOST_TEST(error_message(api::parse_update(R"({"Memory":1024})").error()) ==
             "Minimum memory limit allowed is 6MB");
  BOOST_TEST(!api::parse_update("[]"));
  BOOST_TEST(!api::parse_update(R"({"Memory":"x"})"));
}

BOOST_AUTO_TEST_CASE(cli_run_foreground) {
  auto c = parse_ok(cli_body);
  BOOST_TEST(c.image == "alpine");
  BOOST_TEST(c.cmd == (std::vector<std::string>{"echo", "hi"}));
  BOOST_TEST(c.cmd_set);
  BOOST_TEST(!c.entrypoint_set);
  BOOST_TEST(c.entrypoint.empty());
  BOOST_TEST(c.env.empty());
  BOOST_TEST(!c.attach_stdin);
  BOOST_TEST(c.attach_stdout);
  BOOST_TEST(c.attach_stderr);
  BOOST_TEST(!c.tty);
  BOOST_TEST(!c.open_stdin);
  BOOST_TEST(!c.stdin_once);
  BOOST_TEST(c.volumes.empty());
  BOOST_TEST(c.exposed_ports.empty());
  BOOST_TEST(c.labels.empty());
  BOOST_TEST(c.stop_signal == "");
  BOOST_TEST(c.stop_timeout == -1);
  auto& h = c.host;
  BOOST_TEST(h.network_mode == "default");
  BOOST_TEST(h.restart_policy == "no");
  BOOST_TEST(h.restart_max_retries == 0);
  BOOST_TEST(!h.auto_remove);
  BOOST_TEST(h.init == -1);
  BOOST_TEST(h.memory_swappiness == -1);
  BOOST_TEST(h.pids_limit == 0);
  BOOST_TEST(!h.oom_kill_disable);
  BOOST_TEST(h.console_size == (std::vector<int64_t>{0, 0}));
  BOOST_TEST(h.log_type == "");
  BOOST_TEST(h.ulimits.empty());
  BOOST_TEST(h.cap_add.empty());
  BOOST_TEST(h.binds.empty());
  BOOST_TEST(h.shm_size == 0);
}

BOOST_AUTO_TEST_CASE(cli_run_rm_detached_interactive) {
  // docker run --rm alpine echo hi
  auto rm = parse_ok(cli_host({{"AutoRemove", true}}));
  BOOST_TEST(rm.host.auto_remove);
  // docker run -d alpine sleep 100
  auto d = parse_ok(cli(
      {{"AttachStdout", false}, {"AttachStderr", false}, {"Cmd", json::array{"sleep", "100"}}}));
  BOOST_TEST(!d.attach_stdin);
  BOOST_TEST(!d.attach_stdout);
  BOOST_TEST(!d.attach_stderr);
  BOOST_TEST(d.cmd == (std::vector<std::string>{"sleep", "100"}));
  // docker run -it --rm alpine sh (in a 40x120 pty)
  auto it = parse_ok(cli({{"AttachStdin", true},
                          {"Tty", true},
                          {"OpenStdin", true},
                          {"StdinOnce", true},
                          {"Cmd", json::array{"sh"}}},
                         {{"AutoRemove", true}, {"ConsoleSize", json::array{40, 120}}}));
  BOOST_TEST(it.attach_stdin);
  BOOST_TEST(it.tty);
  BOOST_TEST(it.open_stdin);
  BOOST_TEST(it.stdin_once);
  BOOST_TEST(it.host.console_size == (std::vector<int64_t>{40, 120}));
  BOOST_TEST(it.cmd == (std::vector<std::string>{"sh"}));
}

BOOST_AUTO_TEST_CASE(cli_run_with_options) {
  // docker run -e A=1 -e B= -w /work -u 1000:1000 --memory 64m --restart on-failure:3 --init
  //   --cap-add NET_ADMIN --ulimit nofile=1024:2048 --shm-size 128m --stop-signal SIGINT
  //   --stop-timeout 3 -l x=y --pids-limit 50 --dns 1.1.1.1 --add-host db:10.0.0.2 alpine env
  auto c = parse_ok(cli(
      {{"Env", json::array{"A=1", "B="}},
       {"WorkingDir", "/work"},
       {"User", "1000:1000"},
       {"Labels", json::object{{"x", "y"}}},
       {"StopSignal", "SIGINT"},
       {"StopTimeout", 3},
       {"Cmd", json::array{"env"}}},
      {{"Memory", 67108864},
       {"RestartPolicy", restart("on-failure", 3)},
       {"Init", true},
       {"CapAdd", json::array{"CAP_NET_ADMIN"}},
       {"Ulimits", json::array{json::object{{"Name", "nofile"}, {"Hard", 2048}, {"Soft", 1024}}}},
       {"ShmSize", 134217728},
       {"PidsLimit", 50},
       {"Dns", json::array{"1.1.1.1"}},
       {"ExtraHosts", json::array{"db:10.0.0.2"}}}));
  BOOST_TEST(c.env == (std::vector<std::string>{"A=1", "B="}));
  BOOST_TEST(c.working_dir == "/work");
  BOOST_TEST(c.user == "1000:1000");
  BOOST_TEST(c.labels.at("x") == "y");
  BOOST_TEST(c.stop_signal == "SIGINT");
  BOOST_TEST(c.stop_timeout == 3);
  auto& h = c.host;
  BOOST_TEST(h.memory == 67108864);
  BOOST_TEST(h.restart_policy == "on-failure");
  BOOST_TEST(h.restart_max_retries == 3);
  BOOST_TEST(h.init == 1);
  BOOST_TEST(h.cap_add == (std::vector<std::string>{"CAP_NET_ADMIN"}));
  BOOST_REQUIRE(h.ulimits.size() == 1u);
  BOOST_TEST(h.ulimits[0].name == "nofile");
  BOOST_TEST(h.ulimits[0].soft == 1024);
  BOOST_TEST(h.ulimits[0].hard == 2048);
  BOOST_TEST(h.shm_size == 134217728);
  BOOST_TEST(h.pids_limit == 50);
  BOOST_TEST(h.dns == (std::vector<std::string>{"1.1.1.1"}));
  BOOST_TEST(h.extra_hosts == (std::vector<std::string>{"db:10.0.0.2"}));
  // --init=false and --restart always
  auto no_init = parse_ok(cli_host({{"Init", false}, {"RestartPolicy", restart("always", 0)}}));
  BOOST_TEST(no_init.host.init == 0);
  BOOST_TEST(no_init.host.restart_policy == "always");
}

BOOST_AUTO_TEST_CASE(cli_create_with_ports_and_volume) {
  // docker create --name web -p 8080:80 -v /data -e A=1 alpine sleep 100
  auto json_ports =
      json::object{{"80/tcp", json::array{json::object{{"HostIp", ""}, {"HostPort", "8080"}}}}};
  auto c = parse_ok(cli({{"ExposedPorts", json::object{{"80/tcp", json::object{}}}},
                         {"Env", json::array{"A=1"}},
                         {"Cmd", json::array{"sleep", "100"}},
                         {"Volumes", json::object{{"/data", json::object{}}}}},
                        {{"PortBindings", json_ports}, {"Binds", json::array{"/h:/c:ro"}}}));
  BOOST_TEST(c.exposed_ports == (std::vector<std::string>{"80/tcp"}));
  BOOST_TEST(c.volumes == (std::vector<std::string>{"/data"}));
  BOOST_TEST(c.env == (std::vector<std::string>{"A=1"}));
  BOOST_TEST(c.host.binds == (std::vector<std::string>{"/h:/c:ro"}));
}

BOOST_AUTO_TEST_CASE(go_decoder_semantics) {
  // Unknown fields are ignored; keys match case-insensitively; the last duplicate wins.
  auto c = parse_ok(R"({"image":"busybox","BOGUS":{"x":[1,2]},"hostconfig":{"memory":7340032},
                        "Tty":false,"TTY":true})");
  BOOST_TEST(c.image == "busybox");
  BOOST_TEST(c.host.memory == 7340032);
  BOOST_TEST(c.tty);
  // null is absent: defaults stay.
  auto n = parse_ok(R"({"Image":"busybox","Cmd":null,"Entrypoint":null,"HostConfig":{
      "Init":null,"MemorySwappiness":null,"PidsLimit":null,"OomKillDisable":null,
      "NetworkMode":null,"RestartPolicy":null,"StopTimeout":null}})");
  BOOST_TEST(!n.cmd_set);
  BOOST_TEST(!n.entrypoint_set);
  BOOST_TEST(n.host.init == -1);
  BOOST_TEST(n.host.memory_swappiness == -1);
  BOOST_TEST(n.host.pids_limit == 0);
  BOOST_TEST(n.host.network_mode == "default");
  BOOST_TEST(n.host.restart_policy == "no");
  // Cmd: [] is set and empty; a string is a one-element list (StrSlice); Entrypoint likewise.
  auto e = parse_ok(R"({"Image":"busybox","Cmd":[],"Entrypoint":"/bin/sh"})");
  BOOST_TEST(e.cmd_set);
  BOOST_TEST(e.cmd.empty());
  BOOST_TEST(e.entrypoint_set);
  BOOST_TEST(e.entrypoint == (std::vector<std::string>{"/bin/sh"}));
  // Only the first JSON value is read (Go's json.Decoder); what follows is not looked at.
  auto t = parse_ok("{\"Image\":\"busybox\"}\n{garbage");
  BOOST_TEST(t.image == "busybox");
  // An empty NetworkMode is "default" (SetDefaultNetModeIfBlank).
  BOOST_TEST(parse_ok(R"({"Image":"x","HostConfig":{"NetworkMode":""}})").host.network_mode ==
             "default");
  // Capabilities are normalised; ALL stays.
  auto caps = parse_ok(R"({"Image":"x","HostConfig":{"CapAdd":["net_admin","CAP_SYS_TIME","all"],
                           "CapDrop":"mknod"}})");
  BOOST_TEST(caps.host.cap_add ==
             (std::vector<std::string>{"CAP_NET_ADMIN", "CAP_SYS_TIME", "ALL"}));
  BOOST_TEST(caps.host.cap_drop == (std::vector<std::string>{"CAP_MKNOD"}));
  // Legacy top-level HostConfig fields (API < 1.18), and how the inner HostConfig takes over.
  auto legacy = parse_ok(R"({"Image":"x","Memory":8388608,"Privileged":true})");
  BOOST_TEST(legacy.host.memory == 8388608);
  BOOST_TEST(legacy.host.privileged);
  auto mixed = parse_ok(R"({"Image":"x","Memory":8388608,"Privileged":true,
                            "HostConfig":{"CpuShares":512}})");
  BOOST_TEST(mixed.host.memory == 8388608);
  BOOST_TEST(mixed.host.cpu_shares == 512);
  BOOST_TEST(!mixed.host.privileged);
  // Every other HostConfig field the struct keeps.
  auto all = parse_ok(R"({"Image":"x","Domainname":"d","NetworkDisabled":true,
      "HostConfig":{"Privileged":true,"ReadonlyRootfs":true,"SecurityOpt":["no-new-privileges"],
      "GroupAdd":["audio"],"LogConfig":{"Type":"none","Config":{"max-size":"1m"}},
      "MemorySwap":-1,"MemoryReservation":7340032,"MemorySwappiness":10,"OomKillDisable":true,
      "NanoCpus":500000000,"CpusetCpus":"0","CpusetMems":"0","Sysctls":{"net.ipv4.ip_forward":"1"},
      "Tmpfs":{"/run":"rw,size=1m"},"DnsSearch":["example.com"],"DnsOptions":["ndots:2"],
      "IpcMode":"shareable","PidMode":"host","UTSMode":"host","CgroupParent":"/berth",
      "Runtime":"crun","CpuShares":100,"CpuPeriod":0,"CpuQuota":0}})");
  BOOST_TEST(all.domainname == "d");
  BOOST_TEST(all.network_disabled);
  auto& h = all.host;
  BOOST_TEST(h.privileged);
  BOOST_TEST(h.readonly_rootfs);
  BOOST_TEST(h.security_opt == (std::vector<std::string>{"no-new-privileges"}));
  BOOST_TEST(h.group_add == (std::vector<std::string>{"audio"}));
  BOOST_TEST(h.log_type == "none");
  BOOST_TEST(h.log_config.at("max-size") == "1m");
  BOOST_TEST(h.memory_swap == -1);
  BOOST_TEST(h.memory_reservation == 7340032);
  BOOST_TEST(h.memory_swappiness == 10);
  BOOST_TEST(h.oom_kill_disable);
  BOOST_TEST(h.nano_cpus == 500000000);
  BOOST_TEST(h.cpuset_cpus == "0");
  BOOST_TEST(h.cpuset_mems == "0");
  BOOST_TEST(h.sysctls.at("net.ipv4.ip_forward") == "1");
  BOOST_TEST(h.tmpfs.at("/run") == "rw,size=1m");
  BOOST_TEST(h.dns_search == (std::vector<std::string>{"example.com"}));
  BOOST_TEST(h.dns_options == (std::vector<std::string>{"ndots:2"}));
  BOOST_TEST(h.ipc_mode == "shareable");
  BOOST_TEST(h.pid_mode == "host");
  BOOST_TEST(h.uts_mode == "host");
  BOOST_TEST(h.cgroup_parent == "/berth");
  BOOST_TEST(h.runtime == "crun");
  BOOST_TEST(h.cpu_shares == 100);
}

BOOST_AUTO_TEST_CASE(empty_and_malformed_bodies) {
  const std::string empty = "config cannot be empty in order to create a container";
  BOOST_TEST(parse_error("") == empty);
  BOOST_TEST(parse_error(" \n") == empty);
  BOOST_TEST(parse_error("{}") == empty);
  BOOST_TEST(parse_error("null") == empty);
  BOOST_TEST(parse_error(R"({"HostConfig":{"Memory":0}})") == empty);
  BOOST_TEST(parse_error("x") == "invalid character 'x' looking for beginning of value");
  BOOST_TEST(parse_error("{\"Image\":\"a\",}") ==
             "invalid character '}' looking for beginning of object key string");
  BOOST_TEST(parse_error("{\"Image\" \"a\"}") == "invalid character '\"' after object key");
  BOOST_TEST(parse_error("{\"Image\":\"a\" \"Tty\":true}") ==
             "invalid character '\"' after object key:value pair");
  BOOST_TEST(parse_error("{\"Cmd\":[\"a\" 1]}") == "invalid character '1' after array element");
  BOOST_TEST(parse_error("{\"Tty\":tru}") ==
             "invalid character '}' in literal true (expecting 'e')");
  BOOST_TEST(parse_error("{\"Memory\":-}") == "invalid character '}' in numeric literal");
  BOOST_TEST(parse_error("{\"Image\":\"a\nb\"}") == "invalid character '\\n' in string literal");
  BOOST_TEST(parse_error("{\"Image\":\"a") == "unexpected EOF");
  BOOST_TEST(parse_error("{\"Image\":") == "unexpected EOF");
  BOOST_TEST(parse_error("[]") ==
             "json: cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper");
  BOOST_TEST(
      parse_error("\"x\"") ==
      "json: cannot unmarshal string into Go value of type runconfig.ContainerConfigWrapper");
}

BOOST_AUTO_TEST_CASE(type_errors) {
  BOOST_TEST(parse_error(R"({"Image":"x","HostConfig":{"Memory":"1g"}})") ==
             "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of "
             "type int64");
  BOOST_TEST(parse_error(R"({"Image":"x","HostConfig":{"Memory":1.5}})") ==
             "json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.Memory "
             "of type int64");
  BOOST_TEST(
      parse_error(R"({"Image":"x","Tty":"yes"})") ==
      "json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Tty of type "
      "bool");
  BOOST_TEST(parse_error(R"({"Image":5})") ==
             "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Image of "
             "type string");
  BOOST_TEST(parse_error(R"({"Image":"x","Env":"A=1"})") ==
             "json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of "
             "type []string");
  BOOST_TEST(parse_error(R"({"Image":"x","Env":[1]})") ==
             "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Env of "
             "type string");
  BOOST_TEST(parse_error(R"({"Image":"x","Labels":{"a":1}})") ==
             "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Labels of "
             "type string");
  BOOST_TEST(parse_error(R"({"Image":"x","Cmd":5})") ==
             "json: cannot unmarshal number into Go value of type string");
  BOOST_TEST(parse_error(R"({"Image":"x","Cmd":["a",1]})") ==
             "json: cannot unmarshal array into Go value of type string");
  BOOST_TEST(parse_error(R"({"Image":"x","HostConfig":{"RestartPolicy":{"Name":1}}})") ==
             "json: cannot unmarshal number into Go struct field "
             "RestartPolicy.HostConfig.RestartPolicy.Name of type string");
  BOOST_TEST(parse_error(R"({"Image":"x","HostConfig":{"RestartPolicy":"always"}})") ==
             "json: cannot unmarshal string into Go struct field HostConfig.HostConfig."
             "RestartPolicy of type container.RestartPolicy");
  BOOST_TEST(
      parse_error(R"({"Image":"x","HostConfig":{"Ulimits":[{"Name":"nofile","Soft":"1"}]}})") ==
      "json: cannot unmarshal string into Go struct field Ulimit.HostConfig.Ulimits.Soft of "
      "type int64");
  BOOST_TEST(parse_error(R"({"Image":"x","HostConfig":{"ConsoleSize":[-1,2]}})") ==
             "json: cannot unmarshal number -1 into Go struct field HostConfig.HostConfig."
             "ConsoleSize of type uint");
  BOOST_TEST(parse_error(R"({"Image":"x","HostConfig":"none"})") ==
             "json: cannot unmarshal string into Go struct field ContainerConfigWrapper.HostConfig "
             "of type container.HostConfig");
  BOOST_TEST(
      parse_error(R"({"Image":"x","ExposedPorts":["80/tcp"]})") ==
      "json: cannot unmarshal array into Go struct field ContainerConfigWrapper.ExposedPorts "
      "of type nat.PortSet");
  // The first type error wins, and it wins over validation errors.
  BOOST_TEST(parse_error(R"({"Image":"x","Tty":1,"HostConfig":{"Memory":"a","ShmSize":-1}})") ==
             "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Tty of "
             "type bool");
}

BOOST_AUTO_TEST_CASE(validation_wording) {
  // Restart policies (daemon/container.go validateRestartPolicy, dockerd 20.10).
  BOOST_TEST(parse_error(cli_host({{"RestartPolicy", restart("sometimes", 0)}})) ==
             "invalid restart policy 'sometimes'");
  BOOST_TEST(parse_error(cli_host({{"RestartPolicy", restart("always", 3)}})) ==
             "maximum retry count cannot be used with restart policy 'always'");
  BOOST_TEST(parse_error(cli_host({{"RestartPolicy", restart("no", 1)}})) ==
             "maximum retry count cannot be used with restart policy 'no'");
  BOOST_TEST(parse_error(cli_host({{"RestartPolicy", restart("on-failure", -1)}})) ==
             "maximum retry count cannot be negative");
  BOOST_TEST(
      parse_ok(cli_host({{"RestartPolicy", restart("unless-stopped", 0)}})).host.restart_policy ==
      "unless-stopped");
  BOOST_TEST(parse_ok(cli_host({{"RestartPolicy", restart("", 0)}})).host.restart_policy == "no");
  BOOST_TEST(
      parse_error(cli_host({{"AutoRemove", true}, {"RestartPolicy", restart("always", 0)}})) ==
      "can't create 'AutoRemove' container with restart policy");
  BOOST_TEST(parse_ok(cli_host({{"AutoRemove", true}, {"RestartPolicy", restart("no", 0)}}))
                 .host.auto_remove);
  // Stop signals: names with or without SIG, any case, numbers; 0 and unknown names are not.
  for (auto s : {"SIGTERM", "TERM", "term", "15", "SIGRTMIN+3", "RTMAX-2", "SIGWINCH", "37"})
    BOOST_TEST(parse_error(cli({{"StopSignal", s}})) == "ok", s);
  BOOST_TEST(parse_error(cli({{"StopSignal", "SIGFOO"}})) == "invalid signal: SIGFOO");
  BOOST_TEST(parse_error(cli({{"StopSignal", "0"}})) == "invalid signal: 0");
  BOOST_TEST(parse_error(cli({{"StopSignal", "SIGRTMIN+16"}})) == "invalid signal: SIGRTMIN+16");
  // Config.
  BOOST_TEST(parse_error(cli({{"WorkingDir", "work"}})) ==
             "the working directory 'work' is invalid, it needs to be an absolute path");
  BOOST_TEST(parse_error(cli({{"Env", json::array{"A=1", "=x"}}})) ==
             "invalid environment variable: =x");
  // Resources.
  BOOST_TEST(parse_error(cli_host({{"Memory", 4194304}})) == "Minimum memory limit allowed is 6MB");
  BOOST_TEST(parse_error(cli_host({{"Memory", 67108864}, {"MemorySwap", 33554432}})) ==
             "Minimum memoryswap limit should be larger than memory limit, see usage");
  BOOST_TEST(parse_error(cli_host({{"MemorySwap", 67108864}})) ==
             "You should always set the Memory limit when using Memoryswap limit, see usage");
  BOOST_TEST(parse_error(cli_host({{"MemorySwappiness", 101}})) ==
             "Invalid value: 101, valid memory swappiness range is 0-100");
  BOOST_TEST(parse_error(cli_host({{"MemoryReservation", 1024}})) ==
             "Minimum memory reservation allowed is 6MB");
  BOOST_TEST(parse_error(cli_host({{"Memory", 8388608}, {"MemoryReservation", 16777216}})) ==
             "Minimum memory limit can not be less than memory reservation limit, see usage");
  BOOST_TEST(parse_error(cli_host({{"NanoCpus", 500000000}, {"CpuPeriod", 100000}})) ==
             "Conflicting options: Nano CPUs and CPU Period cannot both be set");
  BOOST_TEST(parse_error(cli_host({{"NanoCpus", 500000000}, {"CpuQuota", 50000}})) ==
             "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  BOOST_TEST(parse_error(cli_host({{"NanoCpus", int64_t{1} << 50}}))
                 .find("Range of CPUs is from "
                       "0.01 to ") == 0u);
  BOOST_TEST(
      parse_error(cli_host({{"CpuPeriod", 500}})) ==
      "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  BOOST_TEST(parse_error(cli_host({{"CpuQuota", 999}})) ==
             "CPU cfs quota can not be less than 1ms (i.e. 1000)");
  BOOST_TEST(parse_error(cli_host({{"ShmSize", -1}})) == "SHM size can not be less than 0");
  BOOST_TEST(parse_error(cli_host({{"OomScoreAdj", 1001}})) ==
             "Invalid value 1001, range for oom score adj is [-1000, 1000]");
  BOOST_TEST(parse_error(cli_host(
                 {{"Ulimits",
                   json::array{json::object{{"Name", "nofile"}, {"Soft", 10}, {"Hard", 5}}}}})) ==
             "ulimit soft limit must be less than or equal to hard limit: 10 > 5");
  BOOST_TEST(
      parse_error(cli_host(
          {{"Ulimits", json::array{json::object{{"Name", "bogus"}, {"Soft", 1}, {"Hard", 1}}}}})) ==
      "invalid ulimit type: bogus");
  // Namespaces and modes.
  BOOST_TEST(parse_error(cli_host({{"IpcMode", "weird"}})) == "invalid IPC mode: weird");
  BOOST_TEST(parse_error(cli_host({{"PidMode", "container:"}})) == "invalid PID mode: container:");
  BOOST_TEST(parse_error(cli_host({{"UTSMode", "private"}})) == "invalid UTS mode: private");
  BOOST_TEST(parse_error(cli_host({{"CgroupnsMode", "shared"}})) ==
             "invalid cgroup namespace mode: shared");
  BOOST_TEST(parse_error(cli_host({{"Isolation", "hyperv"}})) ==
             "Invalid isolation: \"hyperv\" - linux only supports 'default'");
  BOOST_TEST(parse_error(cli_host({{"IOMaximumIOps", 5}})) ==
             "Invalid QoS settings: linux does not support configuration of maximum IOPs");
  BOOST_TEST(parse_error(cli_host({{"Tmpfs", json::object{{"run", ""}}}})) ==
             "invalid mount config for type \"tmpfs\": invalid mount path: 'run' mount path must "
             "be absolute");
  // Network mode conflicts (runconfig).
  BOOST_TEST(parse_error(cli_host({{"NetworkMode", "container:"}})) ==
             "Invalid network mode: invalid container format container:<name|id>");
  BOOST_TEST(parse_error(cli({{"Hostname", "h"}}, {{"NetworkMode", "container:web"}})) ==
             "conflicting options: hostname and the network mode");
  BOOST_TEST(
      parse_error(cli_host({{"NetworkMode", "container:web"}, {"Dns", json::array{"1.1.1.1"}}})) ==
      "conflicting options: dns and the network mode");
  BOOST_TEST(parse_error(cli({{"ExposedPorts", json::object{{"80/tcp", json::object{}}}}},
                             {{"NetworkMode", "container:web"}})) ==
             "conflicting options: port exposing and the container type network mode");
  BOOST_TEST(parse_error(cli({{"MacAddress", "02:42:ac:11:00:02"}}, {{"NetworkMode", "host"}})) ==
             "conflicting options: mac-address and the network mode");
  BOOST_TEST(parse_error(cli({{"Hostname", "h"}}, {{"UTSMode", "host"}})) ==
             "conflicting options: hostname and the UTS mode");
  BOOST_TEST(parse_ok(cli({{"Hostname", "h"}}, {{"NetworkMode", "host"}})).hostname == "h");
  // Extra hosts and ports.
  BOOST_TEST(parse_error(cli_host({{"ExtraHosts", json::array{"nocolon"}}})) ==
             "bad format for add-host: \"nocolon\"");
  BOOST_TEST(parse_error(cli_host({{"ExtraHosts", json::array{"db:not-an-ip"}}})) ==
             "invalid IP address in add-host: \"not-an-ip\"");
  BOOST_TEST(parse_error(cli_host({{"ExtraHosts", json::array{"gw:host-gateway", "v6:::1"}}})) ==
             "ok");
  BOOST_TEST(parse_error(cli_host({{"PortBindings", json::object{{"http/tcp", json::array{}}}}})) ==
             "invalid port specification: \"http\"");
  BOOST_TEST(parse_error(cli_host(
                 {{"PortBindings",
                   json::object{{"80/tcp", json::array{json::object{{"HostPort", "x"}}}}}}})) ==
             "invalid port specification: \"x\"");
  // Networking config.
  BOOST_TEST(parse_error(
                 cli({{"NetworkingConfig",
                       json::object{{"EndpointsConfig", json::object{{"b", json::object{}},
                                                                     {"a", json::object{}}}}}}})) ==
             "Container cannot be connected to network endpoints: a, b");
  BOOST_TEST(
      parse_error(cli({{"NetworkingConfig",
                        json::object{{"EndpointsConfig", json::object{{"a", nullptr}}}}}})) ==
      "no EndpointSettings for a");
}

// -- names ----------------------------------------------------------------------------------------

// --link: on a user-defined network, aliases of the mode's endpoint (moby's ParseLink forms);
// on the default bridge, 501.
BOOST_AUTO_TEST_CASE(legacy_links) {
  auto c = parse_ok(cli_host(
      {{"NetworkMode", "net1"}, {"Links", json::array{"web:db", "cache", "/api:/me/backend"}}}));
  auto ep = std::find_if(c.endpoints.begin(), c.endpoints.end(),
                         [](auto& e) { return e.network == "net1"; });
  BOOST_TEST_REQUIRE((ep != c.endpoints.end()));
  BOOST_TEST(ep->links == (std::vector<std::string>{"web:db", "cache:cache", "api:backend"}));
  BOOST_TEST(parse_error(cli_host({{"NetworkMode", "net1"}, {"Links", json::array{"a:b:c"}}})) ==
             "bad format for links: a:b:c");
  auto r = api::parse_create(cli_host({{"Links", json::array{"web:db"}}}));
  BOOST_TEST_REQUIRE(!r);
  BOOST_TEST(http_status(r.error()) == 501u);
  BOOST_TEST(error_message(r.error()).find("legacy links (--link) on the default bridge") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(container_names) {
  auto name = [](const std::string& n) { return api::validate_name(n); };
  BOOST_TEST(*name("") == "");
  BOOST_TEST(*name("web") == "/web");
  BOOST_TEST(*name("/web") == "/web");
  BOOST_TEST(*name("a1") == "/a1");
  BOOST_TEST(*name("my_app.v2-x") == "/my_app.v2-x");
  BOOST_TEST(*name("9lives") == "/9lives");
  for (auto bad : {"a", "/a", "_web", ".web", "-web", "we b", "web/1", "wéb", "/", "web!"}) {
    auto r = name(bad);
    BOOST_TEST(!r, bad);
    if (!r) {
      BOOST_TEST(error_message(r.error()) == "Invalid container name (" + std::string{bad} +
                                                 "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
      BOOST_TEST(http_status(r.error()) == 400u);
    }
  }
}

// -- inspect and ps -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(inspect_layout_and_types) {
  auto c = sample();
  auto text = api::encode_inspect(c, false);
  parsed p{text};
  auto top = keys(p.root());
  std::vector<std::string> want{
      "Id",           "Created",         "Path",           "Args",       "State",
      "Image",        "ResolvConfPath",  "HostnamePath",   "HostsPath",  "LogPath",
      "Name",         "RestartCount",    "Driver",         "Platform",   "MountLabel",
      "ProcessLabel", "AppArmorProfile", "ExecIDs",        "HostConfig", "GraphDriver",
      "Mounts",       "Config",          "NetworkSettings"};
  BOOST_TEST(top == want, boost::test_tools::per_element());
  auto d = p.root();
  BOOST_TEST(str(d["Id"]) == id64);
  BOOST_TEST(str(d["Created"]) == "2023-11-14T22:13:20.123456Z");
  BOOST_TEST(str(d["Path"]) == "echo");
  BOOST_TEST(type(d["Args"]) == "array");
  BOOST_TEST(str(d["Image"]) == image_id);
  BOOST_TEST(str(d["Name"]) == "/t1");
  BOOST_TEST(type(d["RestartCount"]) == "int");
  BOOST_TEST(str(d["Platform"]) == "linux");
  BOOST_TEST(type(d["ExecIDs"]) == "null");
  BOOST_TEST(type(d["Mounts"]) == "array");
  BOOST_TEST(str(d["GraphDriver"]["Name"]) == "overlay2");
  BOOST_TEST(keys(d["GraphDriver"]) == (std::vector<std::string>{"Data", "Name"}));
  BOOST_TEST(type(d["GraphDriver"]["Data"]) == "object");
  BOOST_TEST(type(d["SizeRw"]) == "missing");
  // State.
  auto st = d["State"];
  BOOST_TEST(keys(st) == (std::vector<std::string>{"Status", "Running", "Paused", "Restarting",
                                                   "OOMKilled", "Dead", "Pid", "ExitCode", "Error",
                                                   "StartedAt", "FinishedAt"}),
             boost::test_tools::per_element());
  BOOST_TEST(str(st["Status"]) == "exited");
  BOOST_TEST(!flag(st["Running"]));
  BOOST_TEST(num(st["ExitCode"]) == 3);
  BOOST_TEST(str(st["StartedAt"]) == "2023-11-14T22:13:21Z");
  BOOST_TEST(str(st["FinishedAt"]) == "2023-11-14T22:13:22.5Z");
  BOOST_TEST(str(st["Error"]) == "");
  // Config: Cmd as a list, Entrypoint null, Labels an object, no StopSignal when unset.
  auto cfg = d["Config"];
  BOOST_TEST(keys(cfg) == (std::vector<std::string>{
                              "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout",
                              "AttachStderr", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd",
                              "Image", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels"}),
             boost::test_tools::per_element());
  BOOST_TEST(str(cfg["Hostname"]) == id64.substr(0, 12));
  BOOST_TEST(type(cfg["Cmd"]) == "array");
  BOOST_TEST(str(cfg["Cmd"].at(1)) == "hi");
  BOOST_TEST(type(cfg["Entrypoint"]) == "null");
  BOOST_TEST(type(cfg["Volumes"]) == "null");
  BOOST_TEST(type(cfg["OnBuild"]) == "null");
  BOOST_TEST(str(cfg["Labels"]["a"]) == "b");
  BOOST_TEST(str(cfg["Image"]) == "alpine");
  BOOST_TEST(type(cfg["AttachStdout"]) == "bool");
  // HostConfig: dockerd's defaults and types.
  auto hc = d["HostConfig"];
  auto hkeys = keys(hc);
  BOOST_TEST(hkeys.front() == "Binds");
  BOOST_TEST(hkeys.back() == "ReadonlyPaths");
  BOOST_TEST(type(hc["Binds"]) == "null");
  BOOST_TEST(str(hc["LogConfig"]["Type"]) == "json-file");
  BOOST_TEST(str(hc["NetworkMode"]) == "default");
  BOOST_TEST(str(hc["RestartPolicy"]["Name"]) == "no");
  BOOST_TEST(type(hc["RestartPolicy"]["MaximumRetryCount"]) == "int");
  BOOST_TEST(type(hc["PortBindings"]) == "object");
  BOOST_TEST(str(hc["IpcMode"]) == "private");
  BOOST_TEST(str(hc["CgroupnsMode"]) == "host");
  BOOST_TEST(str(hc["Runtime"]) == "runc");
  BOOST_TEST(num(hc["ShmSize"]) == 67108864);
  BOOST_TEST(type(hc["Dns"]) == "array");
  BOOST_TEST(type(hc["CapAdd"]) == "null");
  BOOST_TEST(type(hc["MemorySwappiness"]) == "null");
  BOOST_TEST(type(hc["PidsLimit"]) == "null");
  BOOST_TEST(type(hc["Ulimits"]) == "null");
  BOOST_TEST(type(hc["OomKillDisable"]) == "bool");
  BOOST_TEST(type(hc["ConsoleSize"]) == "array");
  BOOST_TEST(type(hc["MaskedPaths"]) == "array");
  BOOST_TEST(type(hc["Init"]) == "missing");
  BOOST_TEST(type(hc["Tmpfs"]) == "missing");
  // NetworkSettings.
  auto ns = d["NetworkSettings"];
  BOOST_TEST(keys(ns).front() == "Bridge");
  BOOST_TEST(keys(ns).back() == "Networks");
  BOOST_TEST(type(ns["Ports"]) == "object");
  BOOST_TEST(type(ns["SecondaryIPAddresses"]) == "null");
  BOOST_TEST(keys(ns["Networks"]) == (std::vector<std::string>{"bridge"}));
}

BOOST_AUTO_TEST_CASE(inspect_variants) {
  auto c = sample();
  // Never started: zero times; running: Running true; size when asked.
  c.state = container_state{};
  c.config.cmd_set = false;
  c.config.cmd.clear();
  c.config.entrypoint = {"/entry"};
  c.config.entrypoint_set = true;
  c.config.stop_signal = "SIGINT";
  c.config.stop_timeout = 5;
  c.config.exposed_ports = {"80/tcp"};
  c.config.volumes = {"/data"};
  c.config.host.init = 1;
  c.config.host.memory_swappiness = 20;
  c.config.host.pids_limit = 100;
  c.config.host.ulimits = {ulimit{"nofile", 10, 20}};
  c.config.host.network_mode = "none";
  c.config.host.privileged = true;
  c.config.host.cap_add = {"CAP_NET_ADMIN"};
  c.size_rw = 12;
  c.size_root_fs = 3400;
  parsed p{api::encode_inspect(c, true)};
  auto d = p.root();
  BOOST_TEST(str(d["State"]["Status"]) == "created");
  BOOST_TEST(str(d["State"]["StartedAt"]) == "0001-01-01T00:00:00Z");
  BOOST_TEST(str(d["State"]["FinishedAt"]) == "0001-01-01T00:00:00Z");
  BOOST_TEST(num(d["SizeRw"]) == 12);
  BOOST_TEST(num(d["SizeRootFs"]) == 3400);
  auto top = keys(d);
  auto pos = [&](const char* k) { return std::find(top.begin(), top.end(), k) - top.begin(); };
  BOOST_TEST(pos("GraphDriver") + 1 == pos("SizeRw"));
  BOOST_TEST(pos("SizeRootFs") + 1 == pos("Mounts"));
  auto cfg = d["Config"];
  BOOST_TEST(type(cfg["Cmd"]) == "null");
  BOOST_TEST(str(cfg["Entrypoint"].at(0)) == "/entry");
  BOOST_TEST(str(cfg["StopSignal"]) == "SIGINT");
  BOOST_TEST(num(cfg["StopTimeout"]) == 5);
  BOOST_TEST(type(cfg["ExposedPorts"]["80/tcp"]) == "object");
  BOOST_TEST(type(cfg["Volumes"]["/data"]) == "object");
  auto ck = keys(cfg);
  BOOST_TEST(ck[6] == "ExposedPorts");
  BOOST_TEST(ck.back() == "StopTimeout");
  auto hc = d["HostConfig"];
  BOOST_TEST(flag(hc["Init"]));
  BOOST_TEST(num(hc["MemorySwappiness"]) == 20);
  BOOST_TEST(num(hc["PidsLimit"]) == 100);
  BOOST_TEST(str(hc["Ulimits"].at(0)["Name"]) == "nofile");
  BOOST_TEST(keys(hc["Ulimits"].at(0)) == (std::vector<std::string>{"Name", "Hard", "Soft"}));
  BOOST_TEST(type(hc["MaskedPaths"]) == "null");
  BOOST_TEST(str(hc["CapAdd"].at(0)) == "CAP_NET_ADMIN");
  auto none = d["NetworkSettings"]["Networks"]["none"];
  BOOST_TEST(type(none) == "object");
  BOOST_TEST(str(none["IPAddress"]) == "");
  BOOST_TEST(type(none["IPPrefixLen"]) == "int");
  // Running and paused containers are Running; restarting ones too (moby's SetRestarting).
  for (auto s :
       {container_status::running, container_status::paused, container_status::restarting}) {
    c.state.status = s;
    parsed q{api::encode_inspect(c, false)};
    BOOST_TEST(flag(q.root()["State"]["Running"]));
    BOOST_TEST(type(q.root()["SizeRw"]) == "missing");
  }
  c.state.status = container_status::dead;
  parsed q{api::encode_inspect(c, false)};
  BOOST_TEST(flag(q.root()["State"]["Dead"]));
}

BOOST_AUTO_TEST_CASE(summary) {
  auto c = sample();
  auto now = c.state.finished_at_nano + 5 * minute;
  parsed p{api::encode_summary(c, false, now)};
  auto d = p.root();
  BOOST_TEST(keys(d) == (std::vector<std::string>{"Id", "Names", "Image", "ImageID", "Command",
                                                  "Created", "Ports", "Labels", "State", "Status",
                                                  "HostConfig", "NetworkSettings", "Mounts"}),
             boost::test_tools::per_element());
  BOOST_TEST(str(d["Names"].at(0)) == "/t1");
  BOOST_TEST(str(d["Image"]) == "alpine");
  BOOST_TEST(str(d["ImageID"]) == image_id);
  BOOST_TEST(str(d["Command"]) == "echo hi 'two words'");
  BOOST_TEST(num(d["Created"]) == 1700000000);
  BOOST_TEST(type(d["Ports"]) == "array");
  BOOST_TEST(str(d["Labels"]["a"]) == "b");
  BOOST_TEST(str(d["State"]) == "exited");
  BOOST_TEST(str(d["Status"]) == "Exited (3) 5 minutes ago");
  BOOST_TEST(str(d["HostConfig"]["NetworkMode"]) == "default");
  BOOST_TEST(keys(d["NetworkSettings"]["Networks"]) == (std::vector<std::string>{"bridge"}));
  BOOST_TEST(type(d["Mounts"]) == "array");
  // Labels are never null; sizes when asked (and not zero, as Go's omitempty).
  c.config.labels.clear();
  c.size_rw = 7;
  c.size_root_fs = 0;
  parsed q{api::encode_summary(c, true, now)};
  BOOST_TEST(type(q.root()["Labels"]) == "object");
  BOOST_TEST(num(q.root()["SizeRw"]) == 7);
  BOOST_TEST(type(q.root()["SizeRootFs"]) == "missing");
  // Without Config.Image (never the case from the CLI), the image ID stands in.
  c.config.image.clear();
  parsed r{api::encode_summary(c, false, now)};
  BOOST_TEST(str(r.root()["Image"]) == image_id);
}

// -- ps's Status ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(human_duration_go_units_table) {
  // go-units duration_test.go TestHumanDuration, verbatim.
  auto week = 7 * day;
  auto month = 30 * day;
  auto year = 365 * day;
  std::vector<std::pair<const char*, int64_t>> table{
      {"Less than a second", 450 * 1000000},
      {"1 second", 1 * sec},
      {"45 seconds", 45 * sec},
      {"46 seconds", 46 * sec},
      {"59 seconds", 59 * sec},
      {"About a minute", 60 * sec},
      {"About a minute", 1 * minute},
      {"3 minutes", 3 * minute},
      {"35 minutes", 35 * minute},
      {"35 minutes", 35 * minute + 40 * sec},
      {"45 minutes", 45 * minute},
      {"45 minutes", 45 * minute + 40 * sec},
      {"46 minutes", 46 * minute},
      {"59 minutes", 59 * minute},
      {"About an hour", 1 * hour},
      {"About an hour", 1 * hour + 29 * minute},
      {"2 hours", 1 * hour + 31 * minute},
      {"2 hours", 1 * hour + 59 * minute},
      {"3 hours", 3 * hour},
      {"3 hours", 3 * hour + 29 * minute},
      {"4 hours", 3 * hour + 31 * minute},
      {"4 hours", 3 * hour + 59 * minute},
      {"4 hours", 3 * hour + 60 * minute},
      {"24 hours", 24 * hour},
      {"36 hours", 1 * day + 12 * hour},
      {"2 days", 2 * day},
      {"7 days", 7 * day},
      {"13 days", 13 * day + 5 * hour},
      {"2 weeks", 2 * week},
      {"2 weeks", 2 * week + 4 * day},
      {"3 weeks", 3 * week},
      {"4 weeks", 4 * week},
      {"4 weeks", 4 * week + 3 * day},
      {"4 weeks", 1 * month},
      {"6 weeks", 1 * month + 2 * week},
      {"2 months", 2 * month},
      {"2 months", 2 * month + 2 * week},
      {"3 months", 3 * month},
      {"3 months", 3 * month + 1 * week},
      {"5 months", 5 * month + 2 * week},
      {"13 months", 13 * month},
      {"23 months", 23 * month},
      {"24 months", 24 * month},
      {"2 years", 24 * month + 2 * week},
      {"3 years", 3 * year + 2 * month},
  };
  for (auto& [want, d] : table)
    BOOST_TEST(api::human_duration(d) == want, want << " for " << d << "ns");
  BOOST_TEST(api::human_duration(-5 * sec) == "Less than a second");
  BOOST_TEST(api::human_duration(47 * sec) == "47 seconds");
  BOOST_TEST(api::human_duration(47 * hour) == "47 hours");
  BOOST_TEST(api::human_duration(48 * hour) == "2 days");
}

BOOST_AUTO_TEST_CASE(human_status_forms) {
  auto now = 1700000000 * sec;
  container_state s;
  BOOST_TEST(api::human_status(s, now) == "Created");
  s.status = container_status::running;
  s.started_at_nano = now - 2 * minute;
  BOOST_TEST(api::human_status(s, now) == "Up 2 minutes");
  s.status = container_status::paused;
  s.started_at_nano = now - 3 * sec;
  BOOST_TEST(api::human_status(s, now) == "Up 3 seconds (Paused)");
  s.status = container_status::restarting;
  s.exit_code = 1;
  s.finished_at_nano = now - 2 * sec;
  BOOST_TEST(api::human_status(s, now) == "Restarting (1) 2 seconds ago");
  s.status = container_status::exited;
  s.exit_code = 0;
  s.finished_at_nano = now - 5 * minute;
  BOOST_TEST(api::human_status(s, now) == "Exited (0) 5 minutes ago");
  s.exit_code = 137;
  s.finished_at_nano = now - 90 * minute;
  BOOST_TEST(api::human_status(s, now) == "Exited (137) 2 hours ago");
  s.status = container_status::removing;
  BOOST_TEST(api::human_status(s, now) == "Removal In Progress");
  s.status = container_status::dead;
  BOOST_TEST(api::human_status(s, now) == "Dead");
  // An exited container that never started reads "Created", as moby's State.String().
  container_state never;
  never.status = container_status::exited;
  BOOST_TEST(api::human_status(never, now) == "Created");
}

BOOST_AUTO_TEST_CASE(rfc3339_nano_trims) {
  BOOST_TEST(api::rfc3339_nano(1700000000 * sec) == "2023-11-14T22:13:20Z");
  BOOST_TEST(api::rfc3339_nano(1700000000 * sec + 500000000) == "2023-11-14T22:13:20.5Z");
  BOOST_TEST(api::rfc3339_nano(1700000000 * sec + 123456789) == "2023-11-14T22:13:20.123456789Z");
  BOOST_TEST(api::rfc3339_nano(1700000000 * sec + 1000) == "2023-11-14T22:13:20.000001Z");
}

// -- filters --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(filter_validation) {
  auto check = [](filter_args f) {
    auto err = api::validate_list_filters(f);
    if (!err) return std::string{"ok"};
    BOOST_TEST(http_status(err) == 400u);
    return error_message(err);
  };
  BOOST_TEST(check({}) == "ok");
  BOOST_TEST(check({{"status", {"exited", "running"}},
                    {"name", {"web"}},
                    {"label", {"a=b"}},
                    {"ancestor", {"alpine"}},
                    {"before", {"web"}},
                    {"since", {"web"}},
                    {"exited", {"0", "137"}},
                    {"health", {"none"}},
                    {"id", {"abc"}},
                    {"isolation", {"default"}},
                    {"is-task", {"false"}},
                    {"network", {"bridge"}},
                    {"publish", {"80"}},
                    {"expose", {"8000-8080/tcp"}},
                    {"volume", {"/data"}}}) == "ok");
  BOOST_TEST(check({{"bogus", {"x"}}}) == "invalid filter 'bogus'");
  BOOST_TEST(check({{"status", {"sleeping"}}}) == "invalid filter 'status=sleeping'");
  BOOST_TEST(check({{"exited", {"x"}}}) == "strconv.Atoi: parsing \"x\": invalid syntax");
  BOOST_TEST(check({{"health", {"sick"}}}) == "Unrecognised filter value for health: sick");
  BOOST_TEST(check({{"is-task", {"maybe"}}}) == "invalid filter 'is-task=[maybe]'");
  BOOST_TEST(check({{"publish", {"80:80"}}}) ==
             "filter for 'publish' should not contain ':': 80:80");
  BOOST_TEST(check({{"expose", {"http"}}}).find("error while looking up for expose http") == 0u);
}

BOOST_AUTO_TEST_CASE(filter_matching) {
  auto c = sample(); // /t1, exited (3), labels a=b, image alpine, exposes nothing
  c.config.exposed_ports = {"80/tcp"};
  c.config.volumes = {"/data"};
  c.config.host.binds = {"/srv:/srv:ro"};
  c.mounts = *resolve_mounts(c.config); // as the container's create resolves them
  auto m = [&](filter_args f) { return api::matches(c, f); };
  BOOST_TEST(m({}));
  BOOST_TEST(m({{"status", {"exited"}}}));
  BOOST_TEST(m({{"status", {"running", "exited"}}}));
  BOOST_TEST(!m({{"status", {"running"}}}));
  // name and id: regular expressions on "/name" and the full ID, as filters.Args.Match.
  BOOST_TEST(m({{"name", {"t1"}}}));
  BOOST_TEST(m({{"name", {"^/t1$"}}}));
  BOOST_TEST(m({{"name", {"/t"}}}));
  BOOST_TEST(!m({{"name", {"^t2"}}}));
  BOOST_TEST(m({{"name", {"[invalid", "t1"}}}));
  BOOST_TEST(m({{"id", {"469994"}}}));
  BOOST_TEST(!m({{"id", {"ffff"}}}));
  // labels: every one must match.
  BOOST_TEST(m({{"label", {"a"}}}));
  BOOST_TEST(m({{"label", {"a=b"}}}));
  BOOST_TEST(!m({{"label", {"a=c"}}}));
  BOOST_TEST(!m({{"label", {"a", "z"}}}));
  // exited: the exit code of a container that ran.
  BOOST_TEST(m({{"exited", {"3"}}}));
  BOOST_TEST(m({{"exited", {"0", "3"}}}));
  BOOST_TEST(!m({{"exited", {"0"}}}));
  // ancestor: the image as named (with or without :latest, docker.io/library/) or its ID.
  BOOST_TEST(m({{"ancestor", {"alpine"}}}));
  BOOST_TEST(m({{"ancestor", {"alpine:latest"}}}));
  BOOST_TEST(m({{"ancestor", {"docker.io/library/alpine:latest"}}}));
  BOOST_TEST(m({{"ancestor", {"c1aabb73d233"}}}));
  BOOST_TEST(m({{"ancestor", {image_id}}}));
  BOOST_TEST(!m({{"ancestor", {"busybox"}}}));
  BOOST_TEST(!m({{"ancestor", {"alpine:3.19"}}}));
  // health, isolation, is-task, network, volume, expose, publish.
  BOOST_TEST(m({{"health", {"none"}}}));
  BOOST_TEST(!m({{"health", {"healthy"}}}));
  BOOST_TEST(m({{"isolation", {"default"}}}));
  BOOST_TEST(m({{"is-task", {"false"}}}));
  BOOST_TEST(!m({{"is-task", {"true"}}}));
  BOOST_TEST(m({{"network", {"bridge"}}}));
  BOOST_TEST(!m({{"network", {"host"}}}));
  BOOST_TEST(m({{"volume", {"/data"}}}));
  BOOST_TEST(m({{"volume", {"/srv"}}}));
  BOOST_TEST(!m({{"volume", {"/other"}}}));
  BOOST_TEST(m({{"expose", {"80"}}}));
  BOOST_TEST(m({{"expose", {"79-81/tcp"}}}));
  BOOST_TEST(!m({{"expose", {"80/udp"}}}));
  BOOST_TEST(!m({{"publish", {"80"}}}));
  // Several keys: all must hold.
  BOOST_TEST(m({{"status", {"exited"}}, {"label", {"a=b"}}, {"name", {"t1"}}}));
  BOOST_TEST(!m({{"status", {"exited"}}, {"label", {"a=b"}}, {"name", {"web"}}}));
  // A container that never ran has no exit code to match.
  c.state = container_state{};
  BOOST_TEST(!m({{"exited", {"0"}}}));
  BOOST_TEST(m({{"status", {"created"}}}));
}

// moby's /etc/resolv.conf and /etc/hosts of a container.
BOOST_AUTO_TEST_CASE(resolv_conf_and_hosts) {
  host_config h;
  std::string host =
      "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\n"
      "options ndots:2\n";
  BOOST_TEST(container_resolv_conf(host, h, false) ==
             "nameserver 10.0.0.2\nsearch corp.example\noptions ndots:2\n");
  BOOST_TEST(container_resolv_conf(host, h, true) ==
             "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions ndots:2\n");
  BOOST_TEST(container_resolv_conf("nameserver 127.0.0.1\n", h, false) ==
             "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  h.dns = {"192.0.2.53"};
  h.dns_search = {"a.example", "b.example"};
  h.dns_options = {"timeout:1"};
  BOOST_TEST(container_resolv_conf(host, h, false) ==
             "nameserver 192.0.2.53\nsearch a.example b.example\noptions timeout:1\n");
  h.dns_search = {"."};
  BOOST_TEST(container_resolv_conf(host, h, false) == "nameserver 192.0.2.53\noptions timeout:1\n");
  container_config c;
  c.hostname = "box";
  c.host.extra_hosts = {"db:192.0.2.7", "v6:2001:db8::1", "gw:host-gateway"};
  auto hosts = container_hosts("", c, "172.17.0.2");
  BOOST_TEST(hosts.rfind("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0) ==
             0u);
  BOOST_TEST(hosts.find("192.0.2.7\tdb\n2001:db8::1\tv6\n172.17.0.2\tbox\n") != std::string::npos,
             hosts);
  BOOST_TEST(hosts.find("host-gateway") == std::string::npos);
  BOOST_TEST(container_hosts("127.0.0.1 localhost", c, "") ==
             "127.0.0.1 localhost\n192.0.2.7\tdb\n2001:db8::1\tv6\n");
  BOOST_TEST(container_hosts("127.0.0.1 localhost", c, "", "172.17.0.1") ==
             "127.0.0.1 localhost\n192.0.2.7\tdb\n2001:db8::1\tv6\n172.17.0.1\tgw\n");
}

BOOST_AUTO_TEST_SUITE_END()
