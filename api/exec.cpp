// Exec routes (docker exec; ../shared/reference/docker-cli-call-map.md §2a and §6): create,
// start (hijacked with 101, or detached), resize and inspect. The exec actors do the work.
#include "api/container_codec.hpp"
#include "api/containers.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <boost/json.hpp>

namespace berth::api {

namespace {

std::string param(const http_request& req, const char* key) {
  auto it = req.params.find(key);
  return it == req.params.end() ? std::string{} : it->second;
}

// The start body: {"Detach": bool, "Tty": bool} (an empty body is neither).
struct start_check {
  bool detach = false;
  bool tty = false;
};

caf::expected<start_check> parse_start(const std::string& body) {
  start_check out;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return out;
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) return make_error(berth::ec::invalid_argument, "invalid JSON: " + ec.message());
  auto* o = v.if_object();
  if (o == nullptr)
    return make_error(berth::ec::invalid_argument,
                      "json: cannot unmarshal non-object into Go value of type "
                      "types.ExecStartCheck");
  for (auto& [k, x] : *o) {
    bool* field = nullptr;
    if (k == "Detach" || k == "detach")
      field = &out.detach;
    else if (k == "Tty" || k == "tty")
      field = &out.tty;
    if (field == nullptr || x.is_null()) continue;
    if (!x.is_bool())
      return make_error(
          berth::ec::invalid_argument,
          "json: cannot unmarshal " + std::string{x.is_string() ? "string" : "number"} +
              " into Go struct field ExecStartCheck." + std::string{k} + " of type bool");
    *field = x.get_bool();
  }
  return out;
}

} // namespace

void add_exec_routes(router& r, std::shared_ptr<api_context> ctx) {
  r.add("POST", "/containers/{id}/exec", [ctx](http_request& req, const connection_ptr& conn) {
    auto cfg = parse_exec(req.body);
    if (!cfg) return conn->respond(error_response(cfg.error()));
    run_job(
        *ctx,
        job{"container_exec_create", {param(req, "id")}, {}, caf::make_message(std::move(*cfg))},
        [conn](job_result& res) {
          answer<std::string>(
              conn, res,
              [](const std::string& id) {
                return boost::json::serialize(boost::json::object{{"Id", id}});
              },
              201);
        });
  });

  r.add("POST", "/exec/{id}/start", [ctx](http_request& req, const connection_ptr& conn) {
    auto check = parse_start(req.body);
    if (!check) return conn->respond(error_response(check.error()));
    auto id = param(req, "id");
    if (check->detach) {
      run_job(*ctx, job{"exec_start", {id}, {{"detach", "1"}}, {}}, [conn](job_result& res) {
        if (res.status != status_ok) return conn->respond(error_response(res.error));
        conn->respond(http_response{200, "", {}, ""});
      });
      return;
    }
    // The exec must exist before the upgrade (a 404 is an HTTP error); what fails after it is
    // written on the stream, as moby writes it: the message and "\r\n" on stdout.
    bool tty = check->tty;
    run_job(*ctx, job{"exec_inspect", {id}, {}, {}}, [ctx, conn, id, tty](job_result& found) {
      if (found.status != status_ok || !found.output.match_elements<exec_info>())
        return conn->respond(error_response(found.error));
      auto& info = found.output.get_as<exec_info>(0);
      auto keys = parse_detach_keys(info.config.detach_keys);
      if (!keys) return conn->respond(error_response(keys.error()));
      auto sink_holder = std::make_shared<stream_sink_actor>();
      // the detach keys end the client's stream; the process runs on
      auto input = std::make_shared<attach_input>(
          *keys, [sink_holder] { caf::anon_send(*sink_holder, atom::done_v, caf::error{}); });
      auto sink = spawn_stream_sink(*ctx->sys, conn, true);
      *sink_holder = sink;
      conn->hijack([input](std::string data) { input->push(std::move(data)); });
      run_job(*ctx, job{"exec_start", {id}, {}, caf::make_message(sink)},
              [input, sink, conn, tty](job_result& res) {
                if (res.status != status_ok || !res.output.match_elements<exec_actor>()) {
                  auto msg = error_message(res.error) + "\r\n";
                  if (tty)
                    conn->raw_write(msg, nullptr);
                  else
                    stream_error(conn, 1, msg);
                  caf::anon_send(sink, atom::done_v, res.error);
                  return;
                }
                input->set(caf::actor_cast<caf::actor>(res.output.get_as<exec_actor>(0)));
              });
    });
  });

  r.add("POST", "/exec/{id}/resize", [ctx](http_request& req, const connection_ptr& conn) {
    std::map<std::string, std::string> env;
    for (auto* k : {"h", "w"}) {
      auto* v = req.get(k);
      if (v == nullptr || v->empty() || v->find_first_not_of("0123456789") != std::string::npos)
        return conn->respond(error_response(400, std::string{"strconv.Atoi: parsing \""} +
                                                     (v ? *v : "") + "\": invalid syntax"));
      env[k] = *v;
    }
    run_job(*ctx, job{"exec_resize", {param(req, "id")}, std::move(env), {}},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              conn->respond(http_response{200, "text/plain; charset=utf-8", {}, ""});
            });
  });

  r.add("GET", "/exec/{id}/json", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"exec_inspect", {param(req, "id")}, {}, {}}, [conn](job_result& res) {
      answer<exec_info>(conn, res, [](const exec_info& x) { return encode_exec_inspect(x); });
    });
  });
}

} // namespace berth::api
