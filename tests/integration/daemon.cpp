// The foundation: docker version/info/events against berthd, raw _ping, routing errors,
// daemon.json validation, TLS with client certificates, signals, pidfile, readiness.
#include <boost/test/unit_test.hpp>

#include "tests/integration/harness.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <thread>

using namespace berth::it;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(docker_cli)

BOOST_AUTO_TEST_CASE(docker_version_shows_server_api_1_41) {
  berthd d;
  auto r = sh(d.docker(
      "version --format '{{.Server.APIVersion}}|{{.Server.MinAPIVersion}}|{{.Server.Os}}'"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "1.41|1.24|linux\n");
  auto full = sh(d.docker("version"));
  BOOST_TEST(full.exit_code == 0, full.err);
  BOOST_TEST(contains(full.out, "API version:       1.41"));
}

BOOST_AUTO_TEST_CASE(docker_info_exits_0_with_real_facts) {
  berthd d;
  auto r = sh(d.docker("info"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "Docker Root Dir: " + d.data_root));
  auto ncpu = sh(d.docker("info --format '{{.NCPU}} {{.OSType}} {{.Architecture}}'"));
  BOOST_TEST(ncpu.out == std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " linux x86_64\n");
}

BOOST_AUTO_TEST_CASE(docker_events_since_0_until_now_exits_0) {
  berthd d;
  auto until = std::to_string(std::time(nullptr) + 1);
  auto start = std::chrono::steady_clock::now();
  auto r = sh(d.docker("events --since 0 --until " + until), 20s);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
}

BOOST_AUTO_TEST_CASE(events_stream_daemon_reload_with_filters) {
  berthd d;
  d.dir.write("daemon.json", R"({"debug": true, "labels": ["tier=test"]})");
  d.signal(SIGHUP);
  std::this_thread::sleep_for(300ms);
  auto until = std::to_string(std::time(nullptr) + 1);
  auto r = sh(d.docker("events --since 0 --until " + until +
                       " --filter type=daemon --filter event=reload --format '{{.Type}} "
                       "{{.Action}} {{index .Actor.Attributes \"debug\"}}'"),
              20s);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "daemon reload true\n");
  auto none = sh(d.docker("events --since 0 --until " + until + " --filter type=container"), 20s);
  BOOST_TEST(none.exit_code == 0);
  BOOST_TEST(none.out.empty());
  auto info = sh(d.docker("info --format '{{.Debug}} {{.Labels}}'"));
  BOOST_TEST(info.out == "true [tier=test]\n");
  BOOST_TEST(contains(d.log(), "reloaded configuration: debug: false -> true"));
}

BOOST_AUTO_TEST_CASE(live_events_are_flushed_per_event) {
  berthd d;
  // a live subscriber (no since) sees the reload as it happens
  auto body = std::make_shared<std::string>();
  std::thread reader{[&d, body] {
    *body = sh(d.docker("events --format '{{.Action}}' --until " +
                        std::to_string(std::time(nullptr) + 3)),
               20s)
                .out;
  }};
  std::this_thread::sleep_for(1s);
  d.signal(SIGHUP);
  reader.join();
  BOOST_TEST(*body == "reload\n");
}

BOOST_AUTO_TEST_CASE(bad_events_queries_are_400) {
  berthd d;
  auto bad_filter = http_unix(d.socket, "GET", "/v1.41/events?filters=%7Bnope");
  BOOST_TEST(bad_filter.status == 400);
  auto bad_key =
      http_unix(d.socket, "GET", "/v1.41/events?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D");
  BOOST_TEST(bad_key.status == 400);
  BOOST_TEST(contains(bad_key.body, "invalid filter 'bogus'"));
  auto order = http_unix(d.socket, "GET", "/v1.41/events?since=200&until=100");
  BOOST_TEST(order.status == 400);
  auto ts = http_unix(d.socket, "GET", "/v1.41/events?since=yesterday");
  BOOST_TEST(ts.status == 400);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(raw_http)

BOOST_AUTO_TEST_CASE(ping_headers_as_dockerd) {
  berthd d;
  for (auto* method : {"HEAD", "GET"}) {
    auto r = http_unix(d.socket, method, "/_ping");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.headers["api-version"] == "1.41");
    BOOST_TEST(r.headers["ostype"] == "linux");
    BOOST_TEST(r.headers["docker-experimental"] == "false");
    BOOST_TEST(r.headers["cache-control"] == "no-cache, no-store, must-revalidate");
    BOOST_TEST(r.headers["pragma"] == "no-cache");
    BOOST_TEST(contains(r.headers["server"], "Docker/"));
    BOOST_TEST(contains(r.headers["server"], "(linux)"));
    BOOST_TEST(r.body == (std::string{method} == "GET" ? "OK" : ""));
  }
}

BOOST_AUTO_TEST_CASE(routing_errors_are_json) {
  berthd d;
  auto missing = http_unix(d.socket, "GET", "/v1.41/no/such/route");
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(missing.headers["content-type"] == "application/json");
  BOOST_TEST(contains(missing.body, R"({"message":"page not found"})"));
  BOOST_TEST(contains(missing.headers["server"], "Docker/"));
  auto too_new = http_unix(d.socket, "GET", "/v1.99/version");
  BOOST_TEST(too_new.status == 400);
  BOOST_TEST(contains(too_new.body,
                      "client version 1.99 is too new. Maximum supported API version is 1.41"));
  auto not_built = http_unix(d.socket, "GET", "/v1.41/swarm");
  BOOST_TEST(not_built.status == 501);
  BOOST_TEST(contains(not_built.body, "GET /swarm"));
  auto old = http_unix(d.socket, "GET", "/v1.24/version");
  BOOST_TEST(old.status == 200);
  auto plain = http_unix(d.socket, "GET", "/version");
  BOOST_TEST(plain.status == 200);
  BOOST_TEST(contains(plain.body, R"("ApiVersion":"1.41")"));
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests_on_one_connection) {
  berthd d;
  auto out = raw_unix(d.socket, "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /v1.41/version HTTP/1.1\r\nHost: x\r\n\r\n"
                                "HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t n = 0;
  for (auto pos = out.find("HTTP/1.1 200 OK"); pos != std::string::npos;
       pos = out.find("HTTP/1.1 200 OK", pos + 1))
    ++n;
  BOOST_TEST(n == 3u, out);
  BOOST_TEST(contains(out, R"("ApiVersion":"1.41")"));
}

BOOST_AUTO_TEST_CASE(commands_endpoint_lists_registered_jobs) {
  berthd d;
  auto r = http_unix(d.socket, "GET", "/_berth/commands");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(contains(r.body, R"({"Name":"info","Service":"engine"})"));
  BOOST_TEST(contains(r.body, R"({"Name":"log","Service":"events"})"));
}

BOOST_AUTO_TEST_CASE(request_limits_answer_4xx) {
  berthd d;
  std::string huge_header = "X-Big: " + std::string(2u << 20, 'a') + "\r\n";
  auto h = http_unix(d.socket, "GET", "/_ping", huge_header);
  BOOST_TEST(h.status == 431);
  auto b = http_unix(d.socket, "POST", "/v1.41/containers/create",
                     "Content-Type: application/json\r\n", std::string(17u << 20, ' '));
  BOOST_TEST(b.status == 413);
  auto garbage = http_unix(d.socket, "B@D", "/_ping");
  BOOST_TEST(garbage.status == 400);
  BOOST_TEST(http_unix(d.socket, "GET", "/_ping").status == 200); // still serving
}

BOOST_AUTO_TEST_CASE(many_concurrent_connections_share_few_threads) {
  berthd d;
  auto before = sh("ls /proc/" + std::to_string(d.pid()) + "/task | wc -l").out;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 200; ++i)
    clients.emplace_back([&] {
      if (http_unix(d.socket, "GET", "/v1.41/version").status == 200) ++ok;
    });
  for (auto& t : clients)
    t.join();
  auto after = sh("ls /proc/" + std::to_string(d.pid()) + "/task | wc -l").out;
  BOOST_TEST(ok == 200);
  BOOST_TEST(std::stoi(after) == std::stoi(before)); // no thread per connection
}

BOOST_AUTO_TEST_CASE(cors_headers_when_asked) {
  berthd d{{"--api-cors-header", "*"}};
  auto r = http_unix(d.socket, "OPTIONS", "/v1.41/containers/json");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.headers["access-control-allow-origin"] == "*");
  BOOST_TEST(contains(r.headers["access-control-allow-methods"], "OPTIONS"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lifecycle)

BOOST_AUTO_TEST_CASE(bad_daemon_json_key_fails_startup_naming_it) {
  berthd d{{}, false, {}, R"({"debug": true, "no-such-option": 1})"};
  BOOST_TEST(d.wait_exit() != 0);
  BOOST_TEST(contains(d.log(), "no-such-option"));
  berthd bad_value{{}, false, {}, R"({"mtu": "large"})"};
  BOOST_TEST(bad_value.wait_exit() != 0);
  BOOST_TEST(contains(bad_value.log(), "mtu"));
}

BOOST_AUTO_TEST_CASE(flag_and_file_conflict_fails_startup_naming_the_key) {
  berthd d{{"--debug"}, false, {}, R"({"debug": false})"};
  BOOST_TEST(d.wait_exit() != 0);
  BOOST_TEST(contains(d.log(), "specified both as a flag and in the configuration file: debug"));
}

BOOST_AUTO_TEST_CASE(extra_arguments_print_usage_and_fail) {
  auto r = sh(std::string{BERTHD_PATH} + " extra");
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(contains(r.err, "Usage:"));
  auto help = sh(std::string{BERTHD_PATH} + " --help");
  BOOST_TEST(help.exit_code == 0);
  BOOST_TEST(contains(help.out, "--tlsverify"));
  auto unknown = sh(std::string{BERTHD_PATH} + " --frobnicate");
  BOOST_TEST(unknown.exit_code != 0);
  BOOST_TEST(contains(unknown.err, "unknown flag: --frobnicate"));
}

BOOST_AUTO_TEST_CASE(sigterm_exits_0_and_removes_pidfile_and_socket) {
  berthd d;
  BOOST_TEST(::access(d.pidfile.c_str(), F_OK) == 0);
  BOOST_TEST(std::stoi(sh("cat " + d.pidfile).out) == d.pid());
  d.signal(SIGTERM);
  BOOST_TEST(d.wait_exit() == 0);
  BOOST_TEST(::access(d.pidfile.c_str(), F_OK) != 0);
  BOOST_TEST(::access(d.socket.c_str(), F_OK) != 0);
  BOOST_TEST(contains(d.log(), "engine shutdown complete"));
}

BOOST_AUTO_TEST_CASE(sigint_also_shuts_down_cleanly) {
  berthd d;
  d.signal(SIGINT);
  BOOST_TEST(d.wait_exit() == 0);
}

BOOST_AUTO_TEST_CASE(second_daemon_on_the_same_pidfile_refuses_to_start) {
  berthd first;
  berthd second{{"--pidfile", first.pidfile}, false};
  BOOST_TEST(second.wait_exit() != 0);
  BOOST_TEST(contains(second.log(), "pid file found"));
  BOOST_TEST(first.running());
  BOOST_TEST(http_unix(first.socket, "GET", "/_ping").status == 200);
}

BOOST_AUTO_TEST_CASE(a_socket_in_use_is_not_stolen) {
  berthd first;
  berthd second{{"-H", "unix://" + first.socket, "--pidfile", first.dir.file("second.pid")}, false};
  BOOST_TEST(second.wait_exit() != 0);
  BOOST_TEST(contains(second.log(), "another daemon is listening"));
  BOOST_TEST(http_unix(first.socket, "GET", "/_ping").status == 200);
}

BOOST_AUTO_TEST_CASE(sigquit_dumps_and_exits_unless_debug) {
  berthd debug{{}, true, {"DEBUG=1"}};
  debug.signal(SIGQUIT);
  std::this_thread::sleep_for(500ms);
  BOOST_TEST(debug.running());
  BOOST_TEST(contains(debug.log(), "SIGQUIT: engine: running"));
  berthd plain;
  plain.signal(SIGQUIT);
  BOOST_TEST(plain.wait_exit() == 128 + SIGQUIT);
  BOOST_TEST(contains(plain.log(), "registered jobs:"));
}

BOOST_AUTO_TEST_CASE(sd_notify_ready_once_the_api_answers) {
  temp_dir tmp;
  auto path = tmp.file("notify.sock");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  berthd d{{}, false, {"NOTIFY_SOCKET=" + path}};
  char buf[256] = {};
  auto n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  BOOST_REQUIRE(n > 0);
  BOOST_TEST(contains(buf, "READY=1"));
  BOOST_TEST(http_unix(d.socket, "GET", "/_ping").status == 200);
}

BOOST_AUTO_TEST_CASE(unix_socket_is_0660) {
  berthd d;
  auto mode = sh("stat -c %a " + d.socket).out;
  BOOST_TEST(mode == "660\n");
}

BOOST_AUTO_TEST_CASE(tcp_without_tlsverify_warns) {
  auto port = std::to_string(free_port());
  berthd d{{"-H", "tcp://127.0.0.1:" + port}};
  BOOST_TEST(contains(d.log(), "API listen on 127.0.0.1:" + port));
  BOOST_TEST(contains(d.log(), "without --tlsverify is insecure"));
  auto r = sh("docker -H tcp://127.0.0.1:" + port + " version --format '{{.Server.APIVersion}}'");
  BOOST_TEST(r.out == "1.41\n");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tls)

namespace {

// A CA, a server certificate for 127.0.0.1, a client certificate, and a rogue client
// certificate from another CA.
void make_certs(const temp_dir& t) {
  auto r = sh("cd " + t.path + R"( &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-test-ca -keyout ca-key.pem -out ca.pem &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr &&
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server-cert.pem &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout key.pem -out client.csr &&
    printf 'extendedKeyUsage=clientAuth\n' > client.ext &&
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out cert.pem &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=rogue-ca -keyout rogue-ca-key.pem -out rogue-ca.pem &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=rogue -keyout rogue-key.pem -out rogue.csr &&
    openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out rogue-cert.pem)");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

} // namespace

BOOST_AUTO_TEST_CASE(tlsverify_accepts_the_ca_signed_client_and_refuses_others) {
  temp_dir certs;
  make_certs(certs);
  auto port = std::to_string(free_port());
  auto addr = "tcp://127.0.0.1:" + port;
  berthd d{{"-H", addr, "--tlsverify", "--tlscacert", certs.file("ca.pem"), "--tlscert",
            certs.file("server-cert.pem"), "--tlskey", certs.file("server-key.pem")}};
  BOOST_TEST(!contains(d.log(), "insecure"));
  auto docker = "docker -H " + addr + " --tlsverify --tlscacert " + certs.file("ca.pem");
  auto good = sh(docker + " --tlscert " + certs.file("cert.pem") + " --tlskey " +
                 certs.file("key.pem") + " version --format '{{.Server.APIVersion}}'");
  BOOST_TEST(good.exit_code == 0, good.err);
  BOOST_TEST(good.out == "1.41\n");
  // no client certificate at all
  auto none =
      sh("curl -sS --cacert " + certs.file("ca.pem") + " https://127.0.0.1:" + port + "/_ping");
  BOOST_TEST(none.exit_code != 0);
  // a client certificate from another CA
  auto rogue = sh(docker + " --tlscert " + certs.file("rogue-cert.pem") + " --tlskey " +
                  certs.file("rogue-key.pem") + " version");
  BOOST_TEST(rogue.exit_code != 0);
  // plain HTTP on the TLS port
  auto plain = sh("curl -sS http://127.0.0.1:" + port + "/_ping");
  BOOST_TEST(plain.out != "OK");
  BOOST_TEST(d.running());
}

BOOST_AUTO_TEST_CASE(tls_without_verify_serves_https_and_warns) {
  temp_dir certs;
  make_certs(certs);
  auto port = std::to_string(free_port());
  berthd d{{"-H", "tcp://127.0.0.1:" + port, "--tls", "--tlscert", certs.file("server-cert.pem"),
            "--tlskey", certs.file("server-key.pem")}};
  BOOST_TEST(contains(d.log(), "without --tlsverify is insecure"));
  auto r = sh("docker -H tcp://127.0.0.1:" + port + " --tlsverify --tlscacert " +
              certs.file("ca.pem") + " version --format '{{.Server.APIVersion}}'");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "1.41\n");
  auto ping =
      sh("curl -sS --cacert " + certs.file("ca.pem") + " https://127.0.0.1:" + port + "/_ping");
  BOOST_TEST(ping.out == "OK");
}

BOOST_AUTO_TEST_CASE(tls_without_a_certificate_fails_startup) {
  berthd d{{"--tls"}, false};
  BOOST_TEST(d.wait_exit() != 0);
  BOOST_TEST(contains(d.log(), "tlscert"));
}

BOOST_AUTO_TEST_SUITE_END()
