// Router and API helpers: version handling, route matching, 404/405/501, query and JSON helpers.
#include <boost/test/unit_test.hpp>

#include "api/router.hpp"
#include "api/system.hpp"

#include <boost/json/parse.hpp>

using namespace berth;
using namespace berth::api;

namespace {

// Records the response a handler gives.
struct recording_connection : connection {
  std::vector<http_response> responses;
  void respond(http_response res) override { responses.push_back(std::move(res)); }
  void stream_begin(unsigned, std::string) override {}
  void stream_write(std::string, std::function<void(bool)> done) override { done(true); }
  void stream_end() override {}
  void hijack(std::function<void(std::string)>) override {}
  void raw_write(std::string, std::function<void(bool)> done) override { done(true); }
  void on_close(std::function<void()>) override {}
};

http_response dispatch(const router& r, std::string method, std::string target) {
  auto conn = std::make_shared<recording_connection>();
  http_request req;
  req.method = std::move(method);
  req.target = std::move(target);
  r.dispatch(req, conn);
  BOOST_REQUIRE(conn->responses.size() == 1u);
  return conn->responses[0];
}

std::string message_of(const http_response& res) {
  auto v = boost::json::parse(res.body);
  return std::string{v.as_object().at("message").as_string()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(router_suite)

BOOST_AUTO_TEST_CASE(versions_compare_numerically) {
  BOOST_TEST(compare_versions("1.41", "1.41") == 0);
  BOOST_TEST(compare_versions("1.9", "1.41") < 0);
  BOOST_TEST(compare_versions("1.50", "1.41") > 0);
  BOOST_TEST(compare_versions("2", "1.41") > 0);
}

BOOST_AUTO_TEST_CASE(version_prefix_is_split_off) {
  auto a = split_version("/v1.41/containers/json");
  BOOST_TEST(a->version == "1.41");
  BOOST_TEST(a->path == "/containers/json");
  auto b = split_version("/_ping");
  BOOST_TEST(b->version.empty());
  BOOST_TEST(b->path == "/_ping");
  auto c = split_version("/volumes");
  BOOST_TEST(c->version.empty());
  BOOST_TEST(c->path == "/volumes");
}

BOOST_AUTO_TEST_CASE(too_new_and_too_old_versions_are_400) {
  router r;
  auto res = dispatch(r, "GET", "/v1.50/info");
  BOOST_TEST(res.status == 400u);
  BOOST_TEST(message_of(res) ==
             "client version 1.50 is too new. Maximum supported API version is 1.41");
  auto old = dispatch(r, "GET", "/v1.12/info");
  BOOST_TEST(old.status == 400u);
  BOOST_TEST(message_of(old).find("is too old. Minimum supported API version is 1.24") !=
             std::string::npos);
  BOOST_TEST(!check_version("1.24"));
  BOOST_TEST(!check_version("1.41"));
}

BOOST_AUTO_TEST_CASE(unknown_route_is_404_json) {
  router r;
  auto res = dispatch(r, "GET", "/v1.41/nothing/here");
  BOOST_TEST(res.status == 404u);
  BOOST_TEST(res.content_type == "application/json");
  BOOST_TEST(message_of(res) == "page not found");
}

BOOST_AUTO_TEST_CASE(docker_routes_not_built_are_501_naming_the_route) {
  router r;
  BOOST_TEST(docker_routes().size() == 106u);
  auto res = dispatch(r, "GET", "/v1.41/containers/abc/json");
  BOOST_TEST(res.status == 501u);
  BOOST_TEST(res.content_type == "application/json");
  BOOST_TEST(message_of(res).find("GET /containers/{id}/json") != std::string::npos);
  // the CLI's `inspect` skips probes whose error says "not supported"
  BOOST_TEST(message_of(res).find("not supported") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(wrong_method_is_405_and_options_is_200) {
  router r;
  BOOST_TEST(dispatch(r, "PUT", "/v1.41/containers/json").status == 405u);
  BOOST_TEST(dispatch(r, "OPTIONS", "/v1.41/containers/json").status == 200u);
}

BOOST_AUTO_TEST_CASE(params_take_slashes_for_image_names) {
  router r;
  BOOST_TEST(r.route_of("GET", "/images/127.0.0.1:5000/busybox/json") == "GET /images/{name}/json");
  BOOST_TEST(r.route_of("DELETE", "/images/library/busybox:latest") == "DELETE /images/{name}");
  BOOST_TEST(r.route_of("GET", "/images/json") == "GET /images/json");
  BOOST_TEST(r.route_of("GET", "/containers/abc/json") == "GET /containers/{id}/json");
  BOOST_TEST(r.route_of("GET", "/containers/json") == "GET /containers/json");
  BOOST_TEST(r.route_of("POST", "/exec/abc/start") == "POST /exec/{id}/start");
}

BOOST_AUTO_TEST_CASE(added_routes_win_and_get_params) {
  router r;
  std::string seen;
  r.add("GET", "/containers/{id}/json", [&](http_request& req, const connection_ptr& conn) {
    seen = req.params["id"] + "|" + req.api_version + "|" + *req.get("size");
    conn->respond(json_response(200, "{}"));
  });
  BOOST_TEST(dispatch(r, "GET", "/v1.40/containers/web/json?size=1").status == 200u);
  BOOST_TEST(seen == "web|1.40|1");
  BOOST_TEST(dispatch(r, "GET", "/containers/web/json?size=0").status == 200u);
  BOOST_TEST(seen == "web|1.41|0");
}

BOOST_AUTO_TEST_CASE(query_parsing_and_moby_booleans) {
  auto q = parse_query("a=1&b=x%20y&c=&d&filters=%7B%22type%22%3A%5B%22container%22%5D%7D&e=a+b");
  BOOST_REQUIRE(q.size() == 6u);
  BOOST_TEST(q[1].second == "x y");
  BOOST_TEST(q[4].second == "{\"type\":[\"container\"]}");
  BOOST_TEST(q[5].second == "a b");
  http_request req;
  req.query = parse_query("t=1&f=0&n=no&F=False&e=&y=yes");
  BOOST_TEST(query_bool(req, "t"));
  BOOST_TEST(!query_bool(req, "f"));
  BOOST_TEST(!query_bool(req, "n"));
  BOOST_TEST(!query_bool(req, "F"));
  BOOST_TEST(!query_bool(req, "e"));
  BOOST_TEST(query_bool(req, "y"));
  BOOST_TEST(query_bool(req, "absent", true));
}

BOOST_AUTO_TEST_CASE(filters_json_in_both_formats) {
  auto a = parse_filters(R"({"type":{"container":true,"image":false},"label":{"a=b":true}})");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->at("type").size() == 1u);
  BOOST_TEST(a->at("type").count("container") == 1u);
  BOOST_TEST(a->at("label").count("a=b") == 1u);
  auto b = parse_filters(R"({"event":["start","die"]})");
  BOOST_REQUIRE(b);
  BOOST_TEST(b->at("event").size() == 2u);
  BOOST_TEST(!parse_filters("{nope"));
  BOOST_TEST(!parse_filters(R"({"type":"container"})"));
  BOOST_TEST(!parse_filters("[1]"));
}

BOOST_AUTO_TEST_CASE(timestamps_and_rfc3339) {
  BOOST_TEST(*parse_timestamp("0") == 0);
  BOOST_TEST(*parse_timestamp("1795403597") == 1795403597000000000);
  BOOST_TEST(*parse_timestamp("1795403597.5") == 1795403597500000000);
  BOOST_TEST(*parse_timestamp("1795403597.000000001") == 1795403597000000001);
  BOOST_TEST(!parse_timestamp("abc"));
  BOOST_TEST(!parse_timestamp("-5"));
  BOOST_TEST(!parse_timestamp("1.1234567890"));
  BOOST_TEST(rfc3339_nano(0) == "1970-01-01T00:00:00Z");
  BOOST_TEST(rfc3339_nano(1500000000) == "1970-01-01T00:00:01.5Z");
  // prune's until: timestamps, RFC 3339, or Go durations before now
  int64_t now = 10000 * int64_t{1000000000};
  BOOST_TEST(*parse_until("5", now) == 5000000000);
  BOOST_TEST(*parse_until("1970-01-01T00:00:01Z", now) == 1000000000);
  BOOST_TEST(*parse_until("1h", now) == now - 3600 * int64_t{1000000000});
  BOOST_TEST(*parse_until("1h30m", now) == now - 5400 * int64_t{1000000000});
  BOOST_TEST(*parse_until("1.5s", now) == now - 1500000000);
  BOOST_TEST(!parse_until("", now));
  BOOST_TEST(!parse_until("10x", now));
  BOOST_TEST(!parse_until("h", now));
}

BOOST_AUTO_TEST_CASE(event_json_has_docker_fields_and_types) {
  event ev;
  ev.type = "container";
  ev.action = "start";
  ev.actor_id = "abc";
  ev.attributes = {{"image", "busybox"}, {"name", "web"}};
  ev.time_nano = 1795403597123456789;
  auto v = boost::json::parse(encode_event(ev)).as_object();
  BOOST_TEST(v.at("status").as_string() == "start");
  BOOST_TEST(v.at("id").as_string() == "abc");
  BOOST_TEST(v.at("from").as_string() == "busybox");
  BOOST_TEST(v.at("Type").as_string() == "container");
  BOOST_TEST(v.at("Actor").as_object().at("Attributes").as_object().at("name").as_string() ==
             "web");
  BOOST_TEST(v.at("time").as_int64() == 1795403597);
  BOOST_TEST(v.at("timeNano").as_int64() == 1795403597123456789);
  BOOST_TEST(v.at("scope").as_string() == "local");
  ev.type = "daemon";
  auto d = boost::json::parse(encode_event(ev)).as_object();
  BOOST_TEST(!d.contains("status")); // legacy fields only on container and image events
}

BOOST_AUTO_TEST_CASE(version_and_info_json_types_match_the_swagger) {
  version_info vi;
  vi.version = "0.1.0";
  vi.api_version = "1.41";
  auto v = boost::json::parse(encode_version(vi)).as_object();
  BOOST_TEST(v.at("ApiVersion").as_string() == "1.41");
  auto& details = v.at("Components").as_array()[0].as_object().at("Details").as_object();
  BOOST_TEST(details.at("Experimental").is_string()); // map[string]string
  system_info si;
  si.host.ncpu = 2;
  si.host.mem_total = 1024;
  si.host.cgroup_version = "1";
  auto i = boost::json::parse(encode_info(si)).as_object();
  BOOST_TEST(i.at("NCPU").is_int64());
  BOOST_TEST(i.at("MemTotal").is_int64());
  BOOST_TEST(i.at("Debug").is_bool());
  BOOST_TEST(i.at("ExperimentalBuild").is_bool());
  BOOST_TEST(i.at("SecurityOptions").is_array());
  BOOST_TEST(
      i.at("RegistryConfig").as_object().at("InsecureRegistryCIDRs").as_array()[0].as_string() ==
      "127.0.0.0/8");
  BOOST_TEST(i.at("Swarm").as_object().at("LocalNodeState").as_string() == "inactive");
}

BOOST_AUTO_TEST_CASE(error_responses_map_codes_to_statuses) {
  auto res = error_response(make_error(ec::conflict, "name in use"));
  BOOST_TEST(res.status == 409u);
  BOOST_TEST(message_of(res) == "name in use");
  BOOST_TEST(http_status(ec::not_found) == 404u);
  BOOST_TEST(http_status(ec::invalid_argument) == 400u);
  BOOST_TEST(http_status(ec::not_modified) == 304u);
  BOOST_TEST(http_status(ec::unavailable) == 503u);
  BOOST_TEST(http_status(ec::not_implemented) == 501u);
}

BOOST_AUTO_TEST_SUITE_END()

// Detach keys (attach, exec): moby's term.ToBytes, and the escape proxy on the client's stdin.
#include "api/containers.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

BOOST_AUTO_TEST_CASE(detach_keys) {
  using berth::api::parse_detach_keys;
  BOOST_TEST(*parse_detach_keys("") == std::string("\x10\x11"));
  BOOST_TEST(*parse_detach_keys("ctrl-a,X,ctrl-@,ctrl-_") == std::string("\x01X\0\x1f", 4));
  BOOST_TEST(*parse_detach_keys("CTRL-Z") == std::string("\x1a"));
  auto bad = parse_detach_keys("ctrl-1");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(berth::error_message(bad.error()) == "Invalid detach keys (ctrl-1) provided");
  BOOST_TEST(!parse_detach_keys("abc"));

  caf::actor_system_config cfg;
  berth::register_messages(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  int detached = 0;
  berth::api::attach_input in{"\x10\x11", [&] { ++detached; }};
  in.push("ab\x10"); // a partial match is held
  in.push("c\x10");  // ... and released when the next byte does not follow it
  in.push("\x11zz"); // the whole sequence: nothing of it, nor after it, goes through
  in.push("more");
  in.set(caf::actor_cast<caf::actor>(self));
  std::string got;
  for (int i = 0; i < 2; ++i)
    self->receive([&](berth::atom::stdin, std::string& s) { got += s; },
                  caf::after(std::chrono::seconds(5)) >> [] {});
  BOOST_TEST(got == "ab\x10"
                    "c");
  BOOST_TEST(detached == 1);
}
