// Container routes (see containers.hpp and ../shared/reference/docker-cli-call-map.md §2-4).
#include "api/containers.hpp"

#include "actors/events.hpp"
#include "api/container_codec.hpp"
#include "api/stats.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <boost/json.hpp>

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <optional>

namespace berth::api {

namespace {

using env_t = std::map<std::string, std::string>;

std::string id_of(const http_request& req) {
  auto it = req.params.find("id");
  return it == req.params.end() ? std::string{} : it->second;
}

// Query parameters that the container actor reads, as job env (booleans only when true).
std::map<std::string, std::string> env_of(const http_request& req,
                                          std::initializer_list<const char*> bools,
                                          std::initializer_list<const char*> values) {
  std::map<std::string, std::string> env;
  for (auto* k : bools)
    if (query_bool(req, k)) env[k] = "1";
  for (auto* k : values)
    if (auto* v = req.get(k)) env[k] = *v;
  return env;
}

void no_content(const connection_ptr& conn, job_result& r) {
  if (r.status != status_ok) {
    auto& err = r.error;
    if (err.category() == caf::atom("berth") && static_cast<ec>(err.code()) == ec::not_modified) {
      http_response res;
      res.status = 304;
      conn->respond(std::move(res));
      return;
    }
    conn->respond(error_response(err ? err : make_error(ec::unspecified, "job failed")));
    return;
  }
  http_response res;
  res.status = 204;
  conn->respond(std::move(res));
}

// Look the container up first (errors are plain HTTP errors), then `next(info)`.
void with_container(const std::shared_ptr<api_context>& ctx, const std::string& id,
                    const connection_ptr& conn, std::function<void(container_info&)> next) {
  run_job(
      *ctx, job{"container_inspect", {id}, {}, {}}, [conn, next = std::move(next)](job_result& r) {
        if (r.status != status_ok || !r.output.match_elements<container_info>()) {
          conn->respond(
              error_response(r.error ? r.error : make_error(ec::unspecified, "inspect failed")));
          return;
        }
        auto info = r.output.get_as<container_info>(0);
        next(info);
      });
}

std::string encode_wait(const job_result& r) {
  boost::json::object o;
  if (r.status == status_ok && r.output.match_elements<wait_result>()) {
    auto& w = r.output.get_as<wait_result>(0);
    o["Error"] = w.error.empty() ? boost::json::value(nullptr)
                                 : boost::json::value(boost::json::object{{"Message", w.error}});
    o["StatusCode"] = w.status_code;
  } else {
    o["Error"] = boost::json::object{{"Message", error_message(r.error)}};
    o["StatusCode"] = -1;
  }
  return boost::json::serialize(o) + "\n";
}

// The `path` query parameter of the archive routes; answers 400 when it is missing.
std::optional<std::string> archive_path_of(const http_request& req, const connection_ptr& conn) {
  auto* p = req.get("path");
  if (p == nullptr || p->empty()) {
    conn->respond(error_response(400, "bad parameter: path cannot be empty"));
    return std::nullopt;
  }
  return *p;
}

// X-Docker-Container-Path-Stat: standard base64 of moby's ContainerPathStat JSON.
std::string path_stat_header(const container_path_stat& s) {
  boost::json::object o;
  o["name"] = s.name;
  o["size"] = s.size;
  o["mode"] = s.mode;
  o["mtime"] = rfc3339_nano(s.mtime_nano);
  o["linkTarget"] = s.link_target;
  auto json = boost::json::serialize(o);
  std::string out(4 * ((json.size() + 2) / 3) + 1, '\0');
  auto n = ::EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(json.data()),
                             static_cast<int>(json.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Stat `path` in container `id`, then `next(header)`; errors are answered here.
void stat_archive(const std::shared_ptr<api_context>& ctx, const std::string& id,
                  const std::string& path, const connection_ptr& conn,
                  std::function<void(const std::string&)> next) {
  run_job(*ctx, job{"container_archive", {id}, {{"op", "stat"}, {"path", path}}, {}},
          [conn, next = std::move(next)](job_result& r) {
            if (r.status != status_ok || !r.output.match_elements<container_path_stat>())
              return conn->respond(
                  error_response(r.error ? r.error : make_error(ec::unspecified, "stat failed")));
            next(path_stat_header(r.output.get_as<container_path_stat>(0)));
          });
}

} // namespace

/// Writes a container's byte stream to the client: chunks of a 200 stream (logs) or raw bytes
/// of a hijacked connection (attach). Ends the response at `done`.
struct sink_state {
  static inline const char* name = "stream_sink";
  bool finished = false;
};

stream_sink_actor::behavior_type
stream_sink_behavior(stream_sink_actor::stateful_pointer<sink_state> self, connection_ptr conn,
                     bool raw) {
  conn->on_close([self = caf::actor_cast<caf::actor>(self)] {
    caf::anon_send_exit(self, caf::exit_reason::user_shutdown);
  });
  return {
      [self, conn, raw](std::string& bytes) {
        if (self->state.finished || bytes.empty()) return;
        if (raw)
          conn->raw_write(std::move(bytes), nullptr);
        else
          conn->stream_write(std::move(bytes), nullptr);
      },
      [self, conn](atom::done, caf::error&) {
        if (self->state.finished) return;
        self->state.finished = true;
        conn->stream_end();
        self->quit();
      },
  };
}

stream_sink_actor spawn_stream_sink(caf::actor_system& sys, connection_ptr conn, bool raw) {
  return sys.spawn(stream_sink_behavior, std::move(conn), raw);
}

caf::expected<std::string> parse_detach_keys(const std::string& keys) {
  if (keys.empty()) return std::string{"\x10\x11"}; // ctrl-p, ctrl-q
  std::string out;
  std::string::size_type pos = 0;
  for (;;) {
    auto comma = keys.find(',', pos);
    auto key = keys.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (key.size() == 1) {
      out += key[0];
    } else {
      std::string lower;
      for (char c : key)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.size() != 6 || lower.compare(0, 5, "ctrl-") != 0)
        return make_error(ec::invalid_argument, "Invalid detach keys (" + keys + ") provided");
      char c = lower[5];
      if (c >= 'a' && c <= 'z')
        out += static_cast<char>(c - 'a' + 1);
      else if (c == '@')
        out += '\0';
      else if (c >= '[' && c <= '_') // [ \ ] ^ _
        out += static_cast<char>(c - '[' + 27);
      else
        return make_error(ec::invalid_argument, "Invalid detach keys (" + keys + ") provided");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

void attach_input::push(std::string data) {
  std::unique_lock<std::mutex> lk(mu_);
  if (detached_) return;
  if (data.empty() && !matched_.empty()) forward(std::exchange(matched_, {}), lk); // half-close
  if (keys_.empty() || data.empty()) return forward(std::move(data), lk);
  std::string out;
  for (char c : data) {
    if (c == keys_[matched_.size()]) {
      matched_ += c;
      if (matched_.size() < keys_.size()) continue;
      detached_ = true; // the whole sequence: nothing of it reaches the process
      matched_.clear();
      if (!out.empty()) forward(std::move(out), lk);
      auto f = on_detach_;
      if (lk.owns_lock()) lk.unlock();
      if (f) f();
      return;
    }
    out += std::exchange(matched_, {}); // not the sequence after all: what was held goes on
    if (c == keys_[0])
      matched_ += c;
    else
      out += c;
  }
  if (!out.empty()) forward(std::move(out), lk);
}

void attach_input::forward(std::string data, std::unique_lock<std::mutex>& lk) {
  if (!target_) {
    held_.push_back(std::move(data));
    return;
  }
  auto t = target_;
  lk.unlock();
  caf::anon_send(t, atom::stdin_v, std::move(data));
  lk.lock();
}

void attach_input::set(caf::actor t) {
  std::lock_guard<std::mutex> lk(mu_);
  target_ = t;
  for (auto& d : held_)
    caf::anon_send(t, atom::stdin_v, std::move(d));
  held_.clear();
}

void stream_error(const connection_ptr& conn, uint8_t stream, const std::string& msg) {
  std::string frame{static_cast<char>(stream), '\0', '\0', '\0'};
  auto n = static_cast<uint32_t>(msg.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    frame += static_cast<char>((n >> shift) & 0xff);
  conn->raw_write(frame + msg, nullptr);
}

void add_container_routes(router& r, std::shared_ptr<api_context> ctx) {
  add_stats_route(r, ctx); // docker stats (api/stats.cpp)
  r.add("POST", "/containers/create", [ctx](http_request& req, const connection_ptr& conn) {
    auto name = validate_name(req.get("name") ? *req.get("name") : std::string{});
    if (!name) return conn->respond(error_response(name.error()));
    auto cfg = parse_create(req.body);
    if (!cfg) return conn->respond(error_response(cfg.error()));
    run_job(*ctx, job{"container_create", {*name}, {}, caf::make_message(std::move(*cfg))},
            [conn](job_result& res) {
              answer<create_result>(
                  conn, res,
                  [](const create_result& c) {
                    boost::json::array warnings;
                    for (auto& w : c.warnings)
                      warnings.emplace_back(w);
                    return boost::json::serialize(
                        boost::json::object{{"Id", c.id}, {"Warnings", std::move(warnings)}});
                  },
                  201);
            });
  });

  r.add("GET", "/containers/json", [ctx](http_request& req, const connection_ptr& conn) {
    filter_args filters;
    if (auto* f = req.get("filters"); f && !f->empty()) {
      auto parsed = parse_filters(*f);
      if (!parsed) return conn->respond(error_response(parsed.error()));
      filters = std::move(*parsed);
    }
    if (auto err = validate_list_filters(filters)) return conn->respond(error_response(err));
    bool all = query_bool(req, "all");
    bool size = query_bool(req, "size");
    int64_t limit = -1;
    if (auto* l = req.get("limit"); l && !l->empty()) {
      try {
        limit = std::stoll(*l);
      } catch (...) {
        return conn->respond(error_response(400, "invalid limit: " + *l));
      }
    }
    auto list = [ctx, conn, filters, all, size, limit](std::map<std::string, int64_t> image_sizes) {
      run_job(*ctx, job{"containers", {}, size ? env_t{{"size", "1"}} : env_t{}, {}},
              [conn, filters, all, size, limit, image_sizes](job_result& res) {
                answer<std::vector<container_info>>(conn, res, [&](std::vector<container_info> v) {
                  for (auto& c : v) // SizeRootFs: the read-write layer and the image's
                    if (auto it = image_sizes.find(c.image_id); it != image_sizes.end())
                      c.size_root_fs = std::max<int64_t>(0, c.size_rw) + it->second;
                  auto created_of = [&](const std::string& ref) -> int64_t {
                    for (auto& c : v)
                      if (c.id.rfind(ref, 0) == 0 || c.name == ref || c.name == "/" + ref)
                        return c.created_nano;
                    return -1;
                  };
                  int64_t before = -1, since = -1;
                  if (auto it = filters.find("before"); it != filters.end() && !it->second.empty())
                    before = created_of(*it->second.begin());
                  if (auto it = filters.find("since"); it != filters.end() && !it->second.empty())
                    since = created_of(*it->second.begin());
                  bool every =
                      all || limit > 0 || filters.count("status") || filters.count("exited");
                  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
                  std::string out = "[";
                  int64_t n = 0;
                  for (auto& c : v) {
                    bool up = c.state.status == container_status::running ||
                              c.state.status == container_status::paused ||
                              c.state.status == container_status::restarting;
                    if (!every && !up) continue;
                    if (before >= 0 && c.created_nano >= before) continue;
                    if (since >= 0 && c.created_nano <= since) continue;
                    if (!matches(c, filters)) continue;
                    if (n++ > 0) out += ",";
                    out += encode_summary(c, size, now);
                    if (limit > 0 && n >= limit) break;
                  }
                  return out + "]";
                });
              });
    };
    if (!size) return list({});
    run_job(*ctx, job{"images", {}, {{"all", "1"}}, {}}, [list](job_result& images) {
      std::map<std::string, int64_t> sizes;
      if (images.status == status_ok && images.output.match_elements<std::vector<image_info>>())
        for (auto& img : images.output.get_as<std::vector<image_info>>(0))
          sizes[img.id] = img.size;
      list(std::move(sizes));
    });
  });

  r.add("GET", "/containers/{id}/json", [ctx](http_request& req, const connection_ptr& conn) {
    bool size = query_bool(req, "size");
    run_job(*ctx, job{"container_inspect", {id_of(req)}, {}, {}}, [conn, size](job_result& res) {
      answer<container_info>(conn, res,
                             [size](const container_info& c) { return encode_inspect(c, size); });
    });
  });

  // docker container prune: until and label filters (the manager applies them).
  r.add("POST", "/containers/prune", [ctx](http_request& req, const connection_ptr& conn) {
    auto filters = req.get("filters") ? parse_filters(*req.get("filters"))
                                      : caf::expected<filter_args>{filter_args{}};
    if (!filters) return conn->respond(error_response(filters.error()));
    std::map<std::string, std::string> env;
    for (auto& [key, values] : *filters) {
      if (key != "until" && key != "label" && key != "label!")
        return conn->respond(error_response(400, "invalid filter '" + key + "'"));
      if (key != "until") continue;
      for (auto& v : values) {
        auto t = parse_until(v, now_nano());
        if (!t) return conn->respond(error_response(t.error()));
        env["until"] = std::to_string(*t);
      }
    }
    filters->erase("until");
    run_job(*ctx, job{"container_prune", {}, std::move(env), caf::make_message(*filters)},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              if (!res.output.match_elements<std::vector<std::string>, int64_t>())
                return conn->respond(error_response(500, "unexpected job output"));
              auto& ids = res.output.get_as<std::vector<std::string>>(0);
              boost::json::object o;
              if (ids.empty()) {
                o["ContainersDeleted"] = nullptr;
              } else {
                boost::json::array a;
                for (auto& id : ids)
                  a.emplace_back(id);
                o["ContainersDeleted"] = std::move(a);
              }
              o["SpaceReclaimed"] = res.output.get_as<int64_t>(1);
              conn->respond(json_response(200, boost::json::serialize(o)));
            });
  });

  // docker update: resources (applied to a running container's cgroup) and restart policy.
  r.add("POST", "/containers/{id}/update", [ctx](http_request& req, const connection_ptr& conn) {
    auto update = parse_update(req.body);
    if (!update) return conn->respond(error_response(update.error()));
    run_job(*ctx, job{"container_update", {id_of(req)}, {}, caf::make_message(std::move(*update))},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              conn->respond(json_response(200, R"({"Warnings":null})"));
            });
  });

  // docker rename: the name is checked here, its uniqueness by the manager.
  r.add("POST", "/containers/{id}/rename", [ctx](http_request& req, const connection_ptr& conn) {
    auto given = req.get("name") ? *req.get("name") : std::string{};
    if (given.empty() || given == "/")
      return conn->respond(error_response(400, "Neither old nor new names may be empty"));
    auto name = validate_name(given);
    if (!name) return conn->respond(error_response(name.error()));
    run_job(*ctx, job{"container_rename", {id_of(req), *name}, {}, {}},
            [conn](job_result& res) { no_content(conn, res); });
  });

  // docker export: the container's merged tree as a tar stream, written as it is read.
  r.add("GET", "/containers/{id}/export", [ctx](http_request& req, const connection_ptr& conn) {
    auto sink = connection_sink(conn, "application/x-tar");
    run_job(*ctx, job{"container_export", {id_of(req)}, {}, caf::make_message(sink)},
            [sink](job_result& res) {
              if (res.status != status_ok) sink.close(res.error);
            });
  });

  // docker cp (call map section 7): HEAD stats a path, GET streams its tar, PUT extracts a tar.
  r.add("HEAD", "/containers/{id}/archive", [ctx](http_request& req, const connection_ptr& conn) {
    auto path = archive_path_of(req, conn);
    if (!path) return;
    stat_archive(ctx, id_of(req), *path, conn, [conn](const std::string& header) {
      conn->respond(http_response{200, "", {{"X-Docker-Container-Path-Stat", header}}, ""});
    });
  });
  r.add("GET", "/containers/{id}/archive", [ctx](http_request& req, const connection_ptr& conn) {
    auto path = archive_path_of(req, conn);
    if (!path) return;
    auto id = id_of(req);
    stat_archive(ctx, id, *path, conn, [ctx, id, path, conn](const std::string& header) {
      auto sink =
          connection_sink(conn, "application/x-tar", {{"X-Docker-Container-Path-Stat", header}});
      run_job(
          *ctx,
          job{"container_archive", {id}, {{"op", "get"}, {"path", *path}}, caf::make_message(sink)},
          [sink](job_result& res) {
            if (res.status != status_ok) sink.close(res.error);
          });
    });
  });
  r.add("PUT", "/containers/{id}/archive", [ctx](http_request& req, const connection_ptr& conn) {
    auto path = archive_path_of(req, conn);
    if (!path) return;
    auto env = env_of(req, {"noOverwriteDirNonDir", "copyUIDGID"}, {});
    env["path"] = *path;
    env["op"] = "put";
    auto file = req.take_body_file(); // spooled (the server's rule); else the body in memory
    run_job(*ctx,
            job{"container_archive",
                {id_of(req), file},
                std::move(env),
                file.empty() ? caf::make_message(std::move(req.body)) : caf::message{}},
            [conn, file](job_result& res) {
              if (!file.empty()) ::unlink(file.c_str());
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              conn->respond(http_response{200, "", {}, ""});
            });
  });

  r.add("GET", "/containers/{id}/top", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"container_top", {id_of(req)}, env_of(req, {}, {"ps_args"}), {}},
            [conn](job_result& res) {
              answer<top_result>(conn, res, [](const top_result& t) {
                boost::json::array rows;
                for (auto& p : t.processes) {
                  boost::json::array row;
                  for (auto& c : p)
                    row.emplace_back(c);
                  rows.push_back(std::move(row));
                }
                boost::json::array titles;
                for (auto& c : t.titles)
                  titles.emplace_back(c);
                return boost::json::serialize(boost::json::object{{"Titles", std::move(titles)},
                                                                  {"Processes", std::move(rows)}});
              });
            });
  });

  // docker diff; dockerd answers null for no change.
  r.add("GET", "/containers/{id}/changes", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"container_changes", {id_of(req)}, {}, {}}, [conn](job_result& res) {
      answer<std::vector<fs_change>>(conn, res, [](const std::vector<fs_change>& changes) {
        if (changes.empty()) return std::string{"null"};
        boost::json::array out;
        for (auto& c : changes)
          out.push_back(boost::json::object{{"Path", c.path}, {"Kind", c.kind}});
        return boost::json::serialize(out);
      });
    });
  });

  auto verb = [&r, ctx](const char* path, const char* job_name,
                        std::initializer_list<const char*> values) {
    std::vector<std::string> keys(values.begin(), values.end());
    r.add("POST", path, [ctx, job_name, keys](http_request& req, const connection_ptr& conn) {
      std::map<std::string, std::string> env;
      for (auto& k : keys)
        if (auto* v = req.get(k)) env[k] = *v;
      run_job(*ctx, job{job_name, {id_of(req)}, std::move(env), {}},
              [conn](job_result& res) { no_content(conn, res); });
    });
  };
  verb("/containers/{id}/start", "container_start", {});
  verb("/containers/{id}/stop", "container_stop", {"t"});
  verb("/containers/{id}/restart", "container_restart", {"t"});
  verb("/containers/{id}/kill", "container_kill", {"signal"});
  verb("/containers/{id}/pause", "container_pause", {});
  verb("/containers/{id}/unpause", "container_unpause", {});

  r.add("POST", "/containers/{id}/wait", [ctx](http_request& req, const connection_ptr& conn) {
    auto id = id_of(req);
    auto env = env_of(req, {}, {"condition"});
    with_container(ctx, id, conn, [ctx, conn, env](container_info& c) {
      // Headers now: `docker run` sends start only after they arrive (call map §2d).
      conn->stream_begin(200, "application/json");
      // the watcher quits when the client goes, which ends the wait in the container actor
      auto watcher = spawn_stream_sink(*ctx->sys, conn, false);
      run_job(*ctx, job{"container_wait", {c.id}, env, caf::make_message(watcher)},
              [conn, watcher](job_result& res) {
                caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
                conn->stream_write(encode_wait(res), nullptr);
                conn->stream_end();
              });
    });
  });

  r.add("DELETE", "/containers/{id}", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx,
            job{"container_delete", {id_of(req)}, env_of(req, {"force", "v", "link"}, {}), {}},
            [conn](job_result& res) { no_content(conn, res); });
  });

  r.add("POST", "/containers/{id}/resize", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"container_resize", {id_of(req)}, env_of(req, {}, {"h", "w"}), {}},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              conn->respond(http_response{200, "text/plain; charset=utf-8", {}, ""});
            });
  });

  r.add("POST", "/containers/{id}/attach", [ctx](http_request& req, const connection_ptr& conn) {
    auto env = env_of(req, {"stream", "stdin", "stdout", "stderr", "logs"}, {"detachKeys"});
    auto keys = parse_detach_keys(env.count("detachKeys") ? env["detachKeys"] : "");
    if (!keys) return conn->respond(error_response(keys.error()));
    with_container(ctx, id_of(req), conn, [ctx, conn, env, keys = *keys](container_info& c) {
      auto sink_holder = std::make_shared<stream_sink_actor>();
      // the detach keys end this client's stream; the container runs on (moby's "detach" event)
      auto input = std::make_shared<attach_input>(keys, [ctx, sink_holder, c] {
        caf::anon_send(*sink_holder, atom::done_v, caf::error{});
        caf::anon_send(ctx->events, caf::publish_atom_v, container_event(c, "detach"));
      });
      bool want_stdin = env.count("stdin") > 0;
      auto sink = spawn_stream_sink(*ctx->sys, conn, true);
      *sink_holder = sink;
      conn->hijack([input, want_stdin](std::string data) {
        if (want_stdin) input->push(std::move(data));
      });
      run_job(*ctx, job{"container_attach", {c.id}, env, caf::make_message(sink)},
              [input, sink, conn](job_result& res) {
                if (res.status != status_ok || !res.output.match_elements<container_actor>()) {
                  // stream 3: an error the CLI shows as "error from daemon in stream"
                  stream_error(conn, 3, error_message(res.error));
                  caf::anon_send(sink, atom::done_v, res.error);
                  return;
                }
                input->set(caf::actor_cast<caf::actor>(res.output.get_as<container_actor>(0)));
              });
    });
  });

  r.add("GET", "/containers/{id}/logs", [ctx](http_request& req, const connection_ptr& conn) {
    auto env = env_of(req, {"follow", "stdout", "stderr", "timestamps", "details"}, {});
    if (!env.count("stdout") && !env.count("stderr"))
      return conn->respond(
          error_response(400, "Bad parameters: you must choose at least one stream"));
    for (auto key : {"since", "until"}) {
      auto* v = req.get(key);
      if (v == nullptr || v->empty() || *v == "0") continue;
      auto t = parse_timestamp(*v);
      if (!t) return conn->respond(error_response(t.error()));
      env[key] = std::to_string(*t);
    }
    if (auto* t = req.get("tail"); t && !t->empty() && *t != "all") {
      try {
        auto n = std::stoll(*t);
        env["tail"] = std::to_string(n < 0 ? -1 : n);
      } catch (...) {
        // dockerd treats a bad tail as "all"
      }
    }
    with_container(ctx, id_of(req), conn, [ctx, conn, env](container_info& c) {
      conn->stream_begin(200, c.config.tty ? "application/vnd.docker.raw-stream"
                                           : "application/vnd.docker.multiplexed-stream");
      auto sink = spawn_stream_sink(*ctx->sys, conn, false);
      run_job(*ctx, job{"container_logs", {c.id}, env, caf::make_message(sink)},
              [sink](job_result& res) {
                if (res.status != status_ok) caf::anon_send(sink, atom::done_v, res.error);
              });
    });
  });
}

} // namespace berth::api
