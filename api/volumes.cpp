// Volume routes (see volumes.hpp).
#include "api/volumes.hpp"

#include "messages/actors.hpp"

#include <boost/json.hpp>
#include <simdjson.h>

#include <strings.h>

namespace berth::api {

namespace json = boost::json;

namespace {

json::object string_object(const std::map<std::string, std::string>& m) {
  json::object o;
  for (auto& [k, v] : m)
    o[k] = v;
  return o;
}

json::object volume_object(const volume_info& v, bool usage) {
  json::object o;
  // moby's local driver: CreatedAt in RFC 3339 with seconds
  o["CreatedAt"] = rfc3339_nano(v.created_nano / 1000000000 * 1000000000);
  o["Driver"] = v.driver;
  o["Labels"] = string_object(v.labels);
  o["Mountpoint"] = v.mountpoint;
  o["Name"] = v.name;
  o["Options"] = string_object(v.options);
  o["Scope"] = "local";
  if (usage) {
    json::object u;
    u["Size"] = v.size;
    u["RefCount"] = v.ref_count;
    o["UsageData"] = std::move(u);
  }
  return o;
}

caf::error bad(std::string message) {
  return make_error(ec::invalid_argument, std::move(message));
}

} // namespace

std::string encode_volume(const volume_info& v, bool usage) {
  return json::serialize(volume_object(v, usage));
}

std::string encode_volume_list(const std::vector<volume_info>& volumes) {
  json::array list;
  for (auto& v : volumes)
    list.push_back(volume_object(v, false));
  json::object o;
  o["Volumes"] = std::move(list);
  o["Warnings"] = nullptr;
  return json::serialize(o);
}

caf::expected<volume_info> parse_volume_create(std::string_view body) {
  volume_info v;
  v.driver.clear();
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return v; // no body: defaults
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc))
    return bad(std::string{"invalid JSON: "} + simdjson::error_message(err));
  simdjson::dom::object o;
  if (doc.get(o))
    return bad("json: cannot unmarshal non-object into Go value of type "
               "volume.CreateOptions");
  auto is = [](std::string_view k, const char* name) {
    return k.size() == std::strlen(name) && ::strncasecmp(k.data(), name, k.size()) == 0;
  };
  auto string = [&](simdjson::dom::element e, const char* field, std::string& out) -> caf::error {
    if (e.is_null()) return {};
    std::string_view s;
    if (e.get(s))
      return bad(std::string{"json: cannot unmarshal non-string into Go struct field "
                             "CreateOptions."} +
                 field + " of type string");
    out = std::string{s};
    return {};
  };
  auto map = [&](simdjson::dom::element e, const char* field,
                 std::map<std::string, std::string>& out) -> caf::error {
    if (e.is_null()) return {};
    simdjson::dom::object m;
    if (e.get(m))
      return bad(std::string{"json: cannot unmarshal non-object into Go struct field "
                             "CreateOptions."} +
                 field + " of type map[string]string");
    for (auto [k, val] : m) {
      std::string s;
      if (auto err = string(val, field, s)) return err;
      out[std::string{k}] = s;
    }
    return {};
  };
  for (auto [k, val] : o) {
    caf::error err;
    if (is(k, "Name"))
      err = string(val, "Name", v.name);
    else if (is(k, "Driver"))
      err = string(val, "Driver", v.driver);
    else if (is(k, "DriverOpts"))
      err = map(val, "DriverOpts", v.options);
    else if (is(k, "Labels"))
      err = map(val, "Labels", v.labels);
    if (err) return err;
  }
  return v;
}

void add_volume_routes(router& r, std::shared_ptr<api_context> ctx) {
  r.add("GET", "/volumes", [ctx](http_request& req, const connection_ptr& conn) {
    auto filters = query_filters(req);
    if (!filters) return conn->respond(error_response(filters.error()));
    run_job(*ctx, job{"volumes", {}, {}, caf::make_message(std::move(*filters))},
            [conn](job_result& res) {
              answer<std::vector<volume_info>>(conn, res, encode_volume_list);
            });
  });
  r.add("POST", "/volumes/create", [ctx](http_request& req, const connection_ptr& conn) {
    auto v = parse_volume_create(req.body);
    if (!v) return conn->respond(error_response(v.error()));
    run_job(*ctx, job{"volume_create", {}, {}, caf::make_message(std::move(*v))},
            [conn](job_result& res) {
              answer<volume_info>(
                  conn, res, [](const volume_info& x) { return encode_volume(x); }, 201);
            });
  });
  r.add("GET", "/volumes/{name}", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"volume_inspect", {req.params["name"]}, {}, {}}, [conn](job_result& res) {
      answer<volume_info>(conn, res, [](const volume_info& x) { return encode_volume(x); });
    });
  });
  r.add("DELETE", "/volumes/{name}", [ctx](http_request& req, const connection_ptr& conn) {
    std::map<std::string, std::string> env;
    if (query_bool(req, "force")) env["force"] = "1";
    run_job(*ctx, job{"volume_delete", {req.params["name"]}, std::move(env), {}},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              http_response out;
              out.status = 204;
              conn->respond(std::move(out));
            });
  });
  r.add("POST", "/volumes/prune", [ctx](http_request& req, const connection_ptr& conn) {
    auto filters = query_filters(req);
    if (!filters) return conn->respond(error_response(filters.error()));
    run_job(*ctx, job{"volume_prune", {}, {}, caf::make_message(std::move(*filters))},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              if (!res.output.match_elements<std::vector<std::string>, int64_t>())
                return conn->respond(error_response(500, "unexpected job output"));
              json::object o;
              auto& names = res.output.get_as<std::vector<std::string>>(0);
              if (names.empty()) {
                o["VolumesDeleted"] = nullptr;
              } else {
                json::array a;
                for (auto& n : names)
                  a.push_back(json::value(n));
                o["VolumesDeleted"] = std::move(a);
              }
              o["SpaceReclaimed"] = res.output.get_as<int64_t>(1);
              conn->respond(json_response(200, json::serialize(o)));
            });
  });
}

} // namespace berth::api
