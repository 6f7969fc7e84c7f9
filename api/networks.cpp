// Network routes (see networks.hpp).
#include "api/networks.hpp"

#include "api/container_codec.hpp"

#include "messages/actors.hpp"

#include <boost/json.hpp>
#include <simdjson.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <strings.h>

namespace berth::api {

namespace json = boost::json;

namespace {

using element = simdjson::dom::element;

json::object string_object(const std::map<std::string, std::string>& m) {
  json::object o;
  for (auto& [k, v] : m)
    o[k] = v;
  return o;
}

json::object network_object(const network_info& n, bool members) {
  json::object o;
  o["Name"] = n.name;
  o["Id"] = n.id;
  o["Created"] = rfc3339_nano(n.created_nano);
  o["Scope"] = n.scope;
  o["Driver"] = n.driver;
  o["EnableIPv6"] = n.enable_ipv6;
  json::object ipam;
  ipam["Driver"] = "default";
  ipam["Options"] = nullptr;
  json::array configs;
  if (!n.subnet.empty()) {
    json::object c;
    c["Subnet"] = n.subnet;
    if (!n.ip_range.empty()) c["IPRange"] = n.ip_range;
    c["Gateway"] = n.gateway;
    configs.push_back(std::move(c));
  }
  ipam["Config"] = std::move(configs);
  o["IPAM"] = std::move(ipam);
  o["Internal"] = n.internal;
  o["Attachable"] = n.attachable;
  o["Ingress"] = n.ingress;
  o["ConfigFrom"] = json::object{{"Network", ""}};
  o["ConfigOnly"] = false;
  json::object containers;
  if (members)
    for (auto& m : n.members) {
      json::object c;
      c["Name"] = m.name;
      c["EndpointID"] = m.endpoint.endpoint_id;
      c["MacAddress"] = m.endpoint.mac_address;
      c["IPv4Address"] = m.endpoint.ip_address + "/" + std::to_string(m.endpoint.prefix_len);
      c["IPv6Address"] = "";
      containers[m.container_id] = std::move(c);
    }
  o["Containers"] = std::move(containers);
  o["Options"] = string_object(n.options);
  o["Labels"] = string_object(n.labels);
  return o;
}

caf::error bad(std::string message) {
  return make_error(ec::invalid_argument, std::move(message));
}

bool is(std::string_view k, const char* name) {
  return k.size() == std::strlen(name) && ::strncasecmp(k.data(), name, k.size()) == 0;
}

/// Go's encoding/json into a struct: fields by case-insensitive name, type errors as Go words
/// them ("json: cannot unmarshal number into Go struct field T.Name of type string").
struct reader {
  std::string st; // the Go struct: NetworkCreateRequest, ...
  caf::error first;

  void type_error(const element& v, const std::string& field, const char* go_type) {
    if (!first)
      first = bad("json: cannot unmarshal " + json_kind_of(v) + " into Go struct field " + st +
                  "." + field + " of type " + go_type);
  }
  void string(const element& v, const std::string& field, std::string& out) {
    if (v.is_null()) return;
    std::string_view s;
    if (v.get(s)) return type_error(v, field, "string");
    out = std::string{s};
  }
  void boolean(const element& v, const std::string& field, bool& out) {
    if (v.is_null()) return;
    if (v.get(out)) type_error(v, field, "bool");
  }
  void strings(const element& v, const std::string& field, std::vector<std::string>& out) {
    if (v.is_null()) return;
    simdjson::dom::array a;
    if (v.get(a)) return type_error(v, field, "[]string");
    for (auto x : a) {
      std::string s;
      string(x, field, s);
      out.push_back(s);
    }
  }
  void map(const element& v, const std::string& field, std::map<std::string, std::string>& out) {
    if (v.is_null()) return;
    simdjson::dom::object m;
    if (v.get(m)) return type_error(v, field, "map[string]string");
    for (auto [k, x] : m) {
      std::string s;
      string(x, field, s);
      out[std::string{k}] = s;
    }
  }
  /// Each key of object `v` (null: none) to `f(key, value)`.
  template <class F>
  void fields(const element& v, const std::string& field, const char* go_type, F f) {
    if (v.is_null()) return;
    simdjson::dom::object o;
    if (v.get(o)) return type_error(v, field, go_type);
    for (auto [k, x] : o)
      f(k, x);
  }
};

caf::expected<element> parse_object(simdjson::dom::parser& parser, std::string_view body,
                                    const char* go_type) {
  element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc))
    return bad(std::string{"invalid JSON: "} + simdjson::error_message(err));
  if (doc.type() != simdjson::dom::element_type::OBJECT)
    return bad("json: cannot unmarshal " + json_kind_of(doc) + " into Go value of type " + go_type);
  return doc;
}

void respond_status(const connection_ptr& conn, job_result& res, unsigned status) {
  if (res.status != status_ok) return conn->respond(error_response(res.error));
  http_response out;
  out.status = status;
  conn->respond(std::move(out));
}

} // namespace

std::string encode_network(const network_info& n) {
  return json::serialize(network_object(n, true));
}

std::string encode_network_list(const std::vector<network_info>& networks) {
  json::array list;
  for (auto& n : networks)
    list.push_back(network_object(n, false));
  return json::serialize(list);
}

caf::expected<network_info> parse_network_create(std::string_view body) {
  simdjson::dom::parser parser;
  auto doc = parse_object(parser, body, "types.NetworkCreateRequest");
  if (!doc) return doc.error();
  network_info n;
  n.driver.clear();
  reader r{"NetworkCreateRequest", {}};
  bool ingress = false, config_only = false;
  std::string config_from, ipam_driver;
  std::size_t ipam_configs = 0;
  r.fields(*doc, "", "types.NetworkCreateRequest", [&](std::string_view k, const element& v) {
    if (is(k, "Name")) {
      r.string(v, "Name", n.name);
    } else if (is(k, "Driver")) {
      r.string(v, "Driver", n.driver);
    } else if (is(k, "Scope")) {
      r.string(v, "Scope", n.scope);
    } else if (is(k, "Internal")) {
      r.boolean(v, "Internal", n.internal);
    } else if (is(k, "Attachable")) {
      r.boolean(v, "Attachable", n.attachable);
    } else if (is(k, "Ingress")) {
      r.boolean(v, "Ingress", ingress);
    } else if (is(k, "ConfigOnly")) {
      r.boolean(v, "ConfigOnly", config_only);
    } else if (is(k, "EnableIPv6")) {
      r.boolean(v, "EnableIPv6", n.enable_ipv6);
    } else if (is(k, "CheckDuplicate")) {
      bool ignored = false; // moby 20.10 always refuses a duplicate name
      r.boolean(v, "CheckDuplicate", ignored);
    } else if (is(k, "Options")) {
      r.map(v, "Options", n.options);
    } else if (is(k, "Labels")) {
      r.map(v, "Labels", n.labels);
    } else if (is(k, "ConfigFrom")) {
      r.fields(v, "ConfigFrom", "network.ConfigReference", [&](std::string_view ck, auto& cv) {
        if (is(ck, "Network")) r.string(cv, "ConfigFrom.Network", config_from);
      });
    } else if (is(k, "IPAM")) {
      r.fields(v, "IPAM", "network.IPAM", [&](std::string_view ik, const element& iv) {
        if (is(ik, "Driver")) {
          r.string(iv, "IPAM.Driver", ipam_driver);
        } else if (is(ik, "Options")) {
          std::map<std::string, std::string> ignored;
          r.map(iv, "IPAM.Options", ignored);
        } else if (is(ik, "Config")) {
          if (iv.is_null()) return;
          simdjson::dom::array a;
          if (iv.get(a)) return r.type_error(iv, "IPAM.Config", "[]network.IPAMConfig");
          for (auto c : a) {
            ++ipam_configs;
            r.fields(c, "IPAM.Config", "network.IPAMConfig", [&](std::string_view ck, auto& cv) {
              if (is(ck, "Subnet"))
                r.string(cv, "IPAM.Config.Subnet", n.subnet);
              else if (is(ck, "Gateway"))
                r.string(cv, "IPAM.Config.Gateway", n.gateway);
              else if (is(ck, "IPRange"))
                r.string(cv, "IPAM.Config.IPRange", n.ip_range);
              else if (is(ck, "AuxiliaryAddresses") || is(ck, "AuxAddress")) {
                std::map<std::string, std::string> aux;
                r.map(cv, "IPAM.Config.AuxiliaryAddresses", aux);
                if (!aux.empty() && !r.first)
                  r.first =
                      make_error(ec::not_implemented, "auxiliary addresses are not built yet");
              }
            });
          }
        }
      });
    }
  });
  if (r.first) return r.first;
  if (n.name.empty()) return bad("network name must not be empty");
  if (ingress) return make_error(ec::not_implemented, "ingress networks need swarm mode");
  if (config_only || !config_from.empty())
    return make_error(ec::not_implemented, "config-only networks are not built yet");
  if (!ipam_driver.empty() && ipam_driver != "default")
    return make_error(ec::not_implemented, "IPAM driver " + ipam_driver + " is not built");
  if (ipam_configs > 1)
    return make_error(ec::not_implemented,
                      "more than one IPAM config (IPv6 or several subnets) is not built yet");
  if (n.subnet.find(':') != std::string::npos)
    return make_error(ec::not_implemented, "IPv6 subnets are not built yet");
  if (n.scope.empty()) n.scope = "local";
  return n;
}

caf::expected<std::pair<std::string, endpoint_config>>
parse_network_connect(std::string_view body) {
  simdjson::dom::parser parser;
  auto doc = parse_object(parser, body, "types.NetworkConnect");
  if (!doc) return doc.error();
  std::string container;
  endpoint_config cfg;
  reader r{"NetworkConnect", {}};
  r.fields(*doc, "", "types.NetworkConnect", [&](std::string_view k, const element& v) {
    if (is(k, "Container")) {
      r.string(v, "Container", container);
    } else if (is(k, "EndpointConfig")) {
      r.fields(v, "EndpointConfig", "network.EndpointSettings", [&](std::string_view ek, auto& ev) {
        if (is(ek, "Aliases")) {
          r.strings(ev, "EndpointConfig.Aliases", cfg.aliases);
        } else if (is(ek, "IPAMConfig")) {
          r.fields(ev, "EndpointConfig.IPAMConfig", "network.EndpointIPAMConfig",
                   [&](std::string_view ik, auto& iv) {
                     if (is(ik, "IPv4Address"))
                       r.string(iv, "EndpointConfig.IPAMConfig.IPv4Address", cfg.ipv4_address);
                   });
        }
      });
    }
  });
  if (r.first) return r.first;
  return std::make_pair(container, cfg);
}

void add_network_routes(router& r, std::shared_ptr<api_context> ctx) {
  r.add("GET", "/networks", [ctx](http_request& req, const connection_ptr& conn) {
    auto filters = query_filters(req);
    if (!filters) return conn->respond(error_response(filters.error()));
    run_job(*ctx, job{"networks", {}, {}, caf::make_message(std::move(*filters))},
            [conn](job_result& res) {
              answer<std::vector<network_info>>(conn, res, encode_network_list);
            });
  });
  r.add("POST", "/networks/create", [ctx](http_request& req, const connection_ptr& conn) {
    auto n = parse_network_create(req.body);
    if (!n) return conn->respond(error_response(n.error()));
    run_job(*ctx, job{"network_create", {}, {}, caf::make_message(std::move(*n))},
            [conn](job_result& res) {
              answer<network_info>(
                  conn, res,
                  [](const network_info& x) {
                    return json::serialize(json::object{{"Id", x.id}, {"Warning", ""}});
                  },
                  201);
            });
  });
  r.add("GET", "/networks/{id}", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"network_inspect", {req.params["id"]}, {}, {}},
            [conn](job_result& res) { answer<network_info>(conn, res, encode_network); });
  });
  r.add("DELETE", "/networks/{id}", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"network_delete", {req.params["id"]}, {}, {}},
            [conn](job_result& res) { respond_status(conn, res, 204); });
  });
  r.add("POST", "/networks/{id}/connect", [ctx](http_request& req, const connection_ptr& conn) {
    auto c = parse_network_connect(req.body);
    if (!c) return conn->respond(error_response(c.error()));
    run_job(*ctx,
            job{"container_network_connect",
                {c->first, req.params["id"]},
                {},
                caf::make_message(std::move(c->second))},
            [conn](job_result& res) { respond_status(conn, res, 200); });
  });
  r.add("POST", "/networks/{id}/disconnect", [ctx](http_request& req, const connection_ptr& conn) {
    simdjson::dom::parser parser;
    auto doc = parse_object(parser, req.body, "types.NetworkDisconnect");
    if (!doc) return conn->respond(error_response(doc.error()));
    std::string container;
    bool force = false;
    reader rd{"NetworkDisconnect", {}};
    rd.fields(*doc, "", "types.NetworkDisconnect", [&](std::string_view k, const element& v) {
      if (is(k, "Container")) rd.string(v, "Container", container);
      if (is(k, "Force")) rd.boolean(v, "Force", force);
    });
    if (rd.first) return conn->respond(error_response(rd.first));
    std::map<std::string, std::string> env;
    if (force) env["force"] = "1";
    run_job(*ctx,
            job{"container_network_disconnect", {container, req.params["id"]}, std::move(env), {}},
            [conn](job_result& res) { respond_status(conn, res, 200); });
  });
  r.add("POST", "/networks/prune", [ctx](http_request& req, const connection_ptr& conn) {
    auto filters = query_filters(req);
    if (!filters) return conn->respond(error_response(filters.error()));
    if (auto it = filters->find("until"); it != filters->end()) {
      std::set<std::string> nanos;
      for (auto& v : it->second) {
        auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        auto t = parse_until(v, now);
        if (!t) return conn->respond(error_response(t.error()));
        nanos.insert(std::to_string(*t));
      }
      it->second = std::move(nanos);
    }
    run_job(*ctx, job{"network_prune", {}, {}, caf::make_message(std::move(*filters))},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              if (!res.output.match_elements<std::vector<std::string>>())
                return conn->respond(error_response(500, "unexpected job output"));
              json::object o;
              auto& names = res.output.get_as<std::vector<std::string>>(0);
              if (names.empty()) {
                o["NetworksDeleted"] = nullptr;
              } else {
                json::array a;
                for (auto& n : names)
                  a.push_back(json::value(n));
                o["NetworksDeleted"] = std::move(a);
              }
              conn->respond(json_response(200, json::serialize(o)));
            });
  });
}

} // namespace berth::api
