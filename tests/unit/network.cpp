// The bridge driver's OS side: subnets, IPAM, and (as root) a bridge with a veth into a network
// namespace this test makes, reached over TCP from the host.
#include <boost/test/unit_test.hpp>

#include "actors/containers/container.hpp"
#include "api/networks.hpp"
#include "drivers/network/bridge.hpp"
#include "tests/unit/util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace berth;

namespace {

// A thread in a network namespace of its own: it serves one TCP connection on `address`:`port`
// once told to, and answers what it read.
struct namespace_server {
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  pid_t tid = 0;
  bool go = false, listening = false, failed = false;
  std::string got;
  uint32_t address = 0;
  uint16_t port = 0;

  namespace_server() {
    thread = std::thread{[this] { run(); }};
    std::unique_lock<std::mutex> lock{mu};
    cv.wait(lock, [this] { return tid != 0 || failed; });
  }
  ~namespace_server() {
    {
      std::lock_guard<std::mutex> lock{mu};
      go = true;
      address = 0;
    }
    cv.notify_all();
    thread.join();
  }
  std::string path() const {
    return "/proc/" + std::to_string(::getpid()) + "/task/" + std::to_string(tid) + "/ns/net";
  }
  bool serve(uint32_t ip, uint16_t p) {
    std::unique_lock<std::mutex> lock{mu};
    address = ip;
    port = p;
    go = true;
    cv.notify_all();
    cv.wait(lock, [this] { return listening || failed; });
    return listening;
  }
  void run() {
    bool ok = ::unshare(CLONE_NEWNET) == 0;
    std::unique_lock<std::mutex> lock{mu};
    failed = !ok;
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    cv.notify_all();
    if (!ok) return;
    cv.wait(lock, [this] { return go; });
    if (address == 0) return;
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(address);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    timeval tv{5, 0}; // accept gives up after 5 s
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 1) != 0) {
      failed = true;
      ::close(s);
      cv.notify_all();
      return;
    }
    listening = true;
    cv.notify_all();
    lock.unlock();
    int c = ::accept(s, nullptr, nullptr);
    char buf[64];
    auto n = c >= 0 ? ::read(c, buf, sizeof buf) : -1;
    lock.lock();
    if (n > 0) got.assign(buf, static_cast<std::size_t>(n));
    if (c >= 0) ::close(c);
    ::close(s);
  }
};

std::string connect_and_send(uint32_t ip, uint16_t port, const std::string& data) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(ip);
  timeval tv{5, 0};
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return "connect failed";
  }
  auto n = ::write(s, data.data(), data.size());
  ::close(s);
  return n == static_cast<ssize_t>(data.size()) ? "sent" : "write failed";
}

} // namespace

BOOST_AUTO_TEST_SUITE(network)

BOOST_AUTO_TEST_CASE(subnets_and_ipam) {
  auto s = net::subnet::parse("172.17.3.9/16");
  BOOST_TEST_REQUIRE(static_cast<bool>(s), test::why(s));
  BOOST_TEST(s->to_string() == "172.17.0.0/16");
  BOOST_TEST(s->contains(*net::parse_ip("172.17.255.1")));
  BOOST_TEST(!s->contains(*net::parse_ip("172.18.0.1")));
  BOOST_TEST(s->overlaps(*net::subnet::parse("172.17.5.0/24")));
  BOOST_TEST(!s->overlaps(*net::subnet::parse("172.18.0.0/16")));
  BOOST_TEST(!net::subnet::parse("172.17.0.0"));
  BOOST_TEST(!net::subnet::parse("172.17.0.0/33"));
  BOOST_TEST(!net::subnet::parse("300.1.1.1/8"));
  auto small = *net::subnet::parse("10.9.0.0/29"); // .1 gateway, .2-.6 for containers
  net::ipam pool{small, *net::parse_ip("10.9.0.1"), {}};
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) {
    auto ip = pool.allocate();
    BOOST_TEST_REQUIRE(static_cast<bool>(ip));
    got.push_back(net::ip_string(*ip));
  }
  BOOST_TEST(got.front() == "10.9.0.2");
  BOOST_TEST(got.back() == "10.9.0.6");
  BOOST_TEST(!pool.allocate()); // .7 is the broadcast
  pool.release(*net::parse_ip("10.9.0.4"));
  BOOST_TEST(net::ip_string(*pool.allocate()) == "10.9.0.4");
  auto code = [](const caf::error& err) { return static_cast<ec>(err.code()); };
  BOOST_CHECK(code(pool.take(*net::parse_ip("10.9.0.3"))) == ec::conflict);
  BOOST_CHECK(code(pool.take(*net::parse_ip("10.8.0.3"))) == ec::invalid_argument);
  // a range (--fixed-cidr, IPRange) narrows what is handed out
  net::ipam ranged{*net::subnet::parse("10.9.0.0/24"), *net::parse_ip("10.9.0.1"),
                   *net::subnet::parse("10.9.0.128/25")};
  BOOST_TEST(net::ip_string(*ranged.allocate()) == "10.9.0.128");
  BOOST_TEST(net::mac_of(*net::parse_ip("172.17.0.2")) == "02:42:ac:11:00:02");
}

BOOST_AUTO_TEST_CASE(bridge_and_veth_into_a_namespace) {
  if (::geteuid() != 0) return;
  namespace_server ns;
  BOOST_REQUIRE(!ns.failed);
  auto gw = *net::parse_ip("10.213.77.1");
  auto ip = *net::parse_ip("10.213.77.2");
  auto br = net::bridge::open("berthut0", gw, 24, 1500, true);
  BOOST_TEST_REQUIRE(static_cast<bool>(br), test::why(br));
  struct cleanup {
    net::bridge& b;
    ~cleanup() {
      net::detach("vethut0");
      b.remove();
    }
  } guard{**br};
  BOOST_TEST((*br)->made());
  BOOST_TEST(net::ip_string((*br)->address().first) == "10.213.77.1");
  BOOST_TEST((*br)->address().second == 24);
  net::endpoint ep;
  ep.netns_path = ns.path();
  ep.host_ifname = "vethut0";
  ep.address = ip;
  ep.prefix = 24;
  ep.gateway = gw;
  ep.mac = net::mac_of(ip);
  auto err = net::attach("berthut0", ep);
  BOOST_TEST_REQUIRE(!err, error_message(err));
  BOOST_REQUIRE(ns.serve(ip, 8077));
  BOOST_TEST(connect_and_send(ip, 8077, "hello") == "sent");
  // the same name again is a clear error, and nothing is left half made
  BOOST_TEST(static_cast<bool>(net::attach("berthut0", ep)));
  BOOST_TEST(net::links_named("vethut") == std::vector<std::string>{"vethut0"});
  BOOST_TEST(!net::detach("vethut0"));
  BOOST_TEST(!net::detach("vethut0")); // missing is fine
  BOOST_TEST(net::links_named("vethut").empty());
  BOOST_TEST(!(*br)->remove());
  BOOST_TEST(!net::bridge::open("berthut0", gw, 24, 1500, false));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(network_api)

BOOST_AUTO_TEST_CASE(create_and_connect_bodies) {
  // the CLI's body of `network create --subnet ... --label a=b mynet`
  auto n = api::parse_network_create(
      R"({"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":)"
      R"([{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.254","IPRange":"10.9.0.128/25"}]},)"
      R"("Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,)"
      R"("ConfigFrom":null,"Options":{"com.docker.network.driver.mtu":"1400"},)"
      R"("Labels":{"a":"b"},"Name":"mynet","CheckDuplicate":true})");
  BOOST_TEST_REQUIRE(static_cast<bool>(n), test::why(n));
  BOOST_TEST(n->name == "mynet");
  BOOST_TEST(n->driver == "bridge");
  BOOST_TEST(n->subnet == "10.9.0.0/24");
  BOOST_TEST(n->gateway == "10.9.0.254");
  BOOST_TEST(n->ip_range == "10.9.0.128/25");
  BOOST_TEST(n->internal);
  BOOST_TEST(n->labels.at("a") == "b");
  BOOST_TEST(n->options.at("com.docker.network.driver.mtu") == "1400");
  BOOST_TEST(n->scope == "local");
  // errors: bad JSON and types are 400, what is not built 501
  auto code = [](const caf::expected<network_info>& x) {
    return static_cast<int>(x ? ec::none : static_cast<ec>(x.error().code()));
  };
  BOOST_TEST((code(api::parse_network_create("{")) == static_cast<int>(ec::invalid_argument)));
  auto typed = api::parse_network_create(R"({"Name":5})");
  BOOST_TEST((code(typed) == static_cast<int>(ec::invalid_argument)));
  BOOST_TEST(test::why(typed) == "json: cannot unmarshal number into Go struct field "
                                 "NetworkCreateRequest.Name of type string");
  BOOST_TEST((code(api::parse_network_create(R"({"Driver":"bridge"})")) ==
              static_cast<int>(ec::invalid_argument)));
  BOOST_TEST(code(api::parse_network_create(R"({"Name":"x","Ingress":true})")) ==
             static_cast<int>(ec::not_implemented));
  BOOST_TEST(code(api::parse_network_create(
                 R"({"Name":"x","IPAM":{"Config":[{"Subnet":"fd00::/64"}]}})")) ==
             static_cast<int>(ec::not_implemented));
  // connect: the container and its endpoint settings
  auto c =
      api::parse_network_connect(R"({"Container":"web","EndpointConfig":{"Aliases":["a1","a2"],)"
                                 R"("IPAMConfig":{"IPv4Address":"10.9.0.7"}}})");
  BOOST_TEST_REQUIRE(static_cast<bool>(c));
  BOOST_TEST(c->first == "web");
  BOOST_TEST(c->second.aliases == (std::vector<std::string>{"a1", "a2"}));
  BOOST_TEST(c->second.ipv4_address == "10.9.0.7");
  BOOST_TEST(!api::parse_network_connect(R"({"Container":["x"]})"));
}

BOOST_AUTO_TEST_CASE(inspect_layout) {
  network_info n;
  n.name = "mynet";
  n.id = std::string(64, 'a');
  n.created_nano = 1700000000123456789;
  n.subnet = "10.9.0.0/24";
  n.gateway = "10.9.0.1";
  network_member m;
  m.container_id = std::string(64, 'c');
  m.name = "web";
  m.endpoint.endpoint_id = std::string(64, 'e');
  m.endpoint.ip_address = "10.9.0.2";
  m.endpoint.prefix_len = 24;
  m.endpoint.mac_address = "02:42:0a:09:00:02";
  n.members.push_back(m);
  auto one = api::encode_network(n);
  for (
      auto want :
      {R"("Created":"2023-11-14T22:13:20.123456789Z")",
       R"("IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}]})",
       R"("IPv4Address":"10.9.0.2/24")", R"("Name":"web")", R"("Labels":{})"})
    BOOST_TEST(one.find(want) != std::string::npos, one);
  auto list = api::encode_network_list({n});
  BOOST_TEST(list.find(R"("Containers":{})") != std::string::npos, list);
  network_info none;
  none.name = "none";
  none.driver = "null";
  BOOST_TEST(api::encode_network(none).find(R"("Config":[])") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(endpoints_of_a_config) {
  container_config c;
  c.host.network_mode = "default";
  c.endpoints = {{"default", {}, {}, {}}};
  normalize_endpoints(c);
  BOOST_TEST_REQUIRE(c.endpoints.size() == 1u);
  BOOST_TEST(c.endpoints[0].network == "bridge");
  c.host.network_mode = "net1";
  c.endpoints = {{"other", {}, {}, {}}, {"net1", {"a"}, "10.0.0.5", {}}};
  normalize_endpoints(c);
  BOOST_TEST_REQUIRE(c.endpoints.size() == 2u);
  BOOST_TEST(c.endpoints[0].network == "net1");
  BOOST_TEST(c.endpoints[0].aliases == std::vector<std::string>{"a"});
  BOOST_TEST(c.endpoints[1].network == "other");
  c.endpoints.clear();
  normalize_endpoints(c);
  BOOST_TEST(c.endpoints.size() == 1u);
  c.host.network_mode = "host";
  normalize_endpoints(c);
  BOOST_TEST(c.endpoints.empty());
  // resolv.conf on a user-defined network: the embedded server, ndots:0
  BOOST_TEST(
      container_resolv_conf("nameserver 192.0.2.1\nsearch example.org\n", c.host, false, true) ==
      "nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n");
}

BOOST_AUTO_TEST_SUITE_END()
