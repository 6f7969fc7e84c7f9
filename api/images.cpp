// Image routes (see images.hpp).
#include "api/images.hpp"

#include "actors/images/store.hpp"
#include "actors/log.hpp"
#include "api/container_codec.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <unistd.h>

namespace berth::api {

namespace json = boost::json;

namespace {

std::string human_size(double bytes) {
  static const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int i = 0;
  while (bytes >= 1000 && i < 4) {
    bytes /= 1000;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f%s" : "%.3g%s", bytes, units[i]);
  return buf;
}

/// moby's JSONProgress.String(): "[=====>      ]  1.2MB/3.4MB".
std::string progress_bar(int64_t current, int64_t total) {
  if (total <= 0) return human_size(static_cast<double>(current));
  constexpr int width = 50;
  auto done = static_cast<int>(width * std::min<double>(1.0, double(current) / double(total)));
  std::string bar = "[";
  for (int i = 0; i < width; ++i)
    bar += i < done ? '=' : (i == done ? '>' : ' ');
  bar += "] ";
  auto cur = human_size(static_cast<double>(current));
  auto tot = human_size(static_cast<double>(total));
  while (cur.size() < 8)
    cur = " " + cur;
  return bar + cur + "/" + tot;
}

json::value parse_or_null(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return nullptr;
  return v;
}

const json::value* field(const json::value& v, const char* key) {
  if (!v.is_object()) return nullptr;
  return v.as_object().if_contains(key);
}

std::string string_field(const json::value& v, const char* key) {
  auto* f = field(v, key);
  return f && f->is_string() ? std::string{f->as_string()} : std::string{};
}

int64_t created_seconds(const json::value& config) {
  auto t = parse_rfc3339(string_field(config, "created"));
  return t ? *t / 1000000000 : 0;
}

json::value labels_of(const json::value& config) {
  auto* c = field(config, "config");
  if (!c) return nullptr;
  auto* l = field(*c, "Labels");
  if (!l || !l->is_object()) return nullptr;
  return *l;
}

json::array string_array(const std::vector<std::string>& xs) {
  json::array out;
  for (auto& x : xs)
    out.emplace_back(x);
  return out;
}

} // namespace

// -- encoders -------------------------------------------------------------------------------------

std::string encode_progress(const progress_message& m) {
  json::object o;
  o["status"] = m.status;
  if (m.current >= 0) {
    json::object detail;
    detail["current"] = m.current;
    if (m.total > 0) detail["total"] = m.total;
    o["progressDetail"] = std::move(detail);
    o["progress"] = progress_bar(m.current, m.total);
  } else if (!m.id.empty()) {
    o["progressDetail"] = json::object{};
  }
  if (!m.id.empty()) o["id"] = m.id;
  return json::serialize(o);
}

std::string encode_stream_error(const std::string& message) {
  json::object detail;
  detail["message"] = message;
  json::object o;
  o["errorDetail"] = std::move(detail);
  o["error"] = message;
  return json::serialize(o);
}

std::string encode_image_summaries(const std::vector<image_info>& images) {
  json::array out;
  for (auto& img : images) {
    auto config = parse_or_null(img.config);
    json::object o;
    o["Containers"] = img.containers;
    o["Created"] = created_seconds(config);
    o["Id"] = img.id;
    o["Labels"] = labels_of(config);
    o["ParentId"] = img.parent;
    // moby 20.10 lists an image without references as <none>
    o["RepoDigests"] = img.repo_digests.empty() && img.repo_tags.empty()
                           ? json::array{"<none>@<none>"}
                           : string_array(img.repo_digests);
    o["RepoTags"] =
        img.repo_tags.empty() ? json::array{"<none>:<none>"} : string_array(img.repo_tags);
    o["SharedSize"] = -1;
    o["Size"] = img.size;
    o["VirtualSize"] = img.size;
    out.emplace_back(std::move(o));
  }
  return json::serialize(out);
}

std::string encode_image_inspect(const image_info& img) {
  auto config = parse_or_null(img.config);
  json::object o;
  o["Id"] = img.id;
  o["RepoTags"] = string_array(img.repo_tags);
  o["RepoDigests"] = string_array(img.repo_digests);
  o["Parent"] = img.parent;
  o["Comment"] = string_field(config, "comment");
  auto created = string_field(config, "created");
  o["Created"] = created.empty() ? "0001-01-01T00:00:00Z" : created;
  o["Container"] = string_field(config, "container");
  auto* cc = field(config, "container_config");
  o["ContainerConfig"] = cc ? *cc : json::value(json::object{});
  o["DockerVersion"] = string_field(config, "docker_version");
  o["Author"] = string_field(config, "author");
  auto* c = field(config, "config");
  o["Config"] = c ? *c : json::value(nullptr);
  o["Architecture"] = string_field(config, "architecture");
  if (auto v = string_field(config, "variant"); !v.empty()) o["Variant"] = v;
  o["Os"] = string_field(config, "os");
  if (auto v = string_field(config, "os.version"); !v.empty()) o["OsVersion"] = v;
  o["Size"] = img.size;
  o["VirtualSize"] = img.size;
  json::object graph;
  json::object data;
  for (auto& [k, v] : img.graph_data)
    if (k != "Name") data[k] = v;
  graph["Data"] = std::move(data);
  auto name = img.graph_data.find("Name");
  graph["Name"] = name == img.graph_data.end() ? std::string{} : name->second;
  o["GraphDriver"] = std::move(graph);
  json::object rootfs;
  rootfs["Type"] = "layers";
  rootfs["Layers"] = string_array(img.diff_ids);
  o["RootFS"] = std::move(rootfs);
  json::object meta;
  meta["LastTagTime"] = img.last_tag_time_nano == 0 ? std::string{"0001-01-01T00:00:00Z"}
                                                    : rfc3339_nano(img.last_tag_time_nano);
  o["Metadata"] = std::move(meta);
  return json::serialize(o);
}

std::string encode_image_history(const image_info& img) {
  auto config = parse_or_null(img.config);
  json::array entries;
  auto* h = field(config, "history");
  std::size_t layer = 0;
  if (h && h->is_array()) {
    for (auto& e : h->as_array()) {
      json::object o;
      auto* empty = field(e, "empty_layer");
      bool is_empty = empty && empty->is_bool() && empty->as_bool();
      int64_t size = 0;
      if (!is_empty && layer < img.layer_sizes.size()) size = img.layer_sizes[layer++];
      json::object fake;
      fake["created"] = string_field(e, "created");
      o["Id"] = "<missing>";
      o["Created"] = created_seconds(fake);
      o["CreatedBy"] = string_field(e, "created_by");
      o["Tags"] = nullptr;
      o["Size"] = size;
      o["Comment"] = string_field(e, "comment");
      entries.emplace_back(std::move(o));
    }
  }
  if (entries.empty()) {
    // no history in the config: one entry per layer (moby does the same for imported images)
    for (auto size : img.layer_sizes) {
      json::object o;
      o["Id"] = "<missing>";
      o["Created"] = created_seconds(config);
      o["CreatedBy"] = "";
      o["Tags"] = nullptr;
      o["Size"] = size;
      o["Comment"] = "";
      entries.emplace_back(std::move(o));
    }
  }
  json::array out;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    out.emplace_back(std::move(*it));
  if (!out.empty()) {
    out[0].as_object()["Id"] = img.id;
    out[0].as_object()["Tags"] =
        img.repo_tags.empty() ? json::value(nullptr) : json::value(string_array(img.repo_tags));
  }
  return json::serialize(out);
}

std::string encode_delete_items(const std::vector<image_delete_item>& items) {
  json::array out;
  for (auto& i : items) {
    json::object o;
    o[i.kind] = i.value;
    out.emplace_back(std::move(o));
  }
  return json::serialize(out);
}

// -- the progress stream --------------------------------------------------------------------------

namespace {

struct progress_state {
  static inline const char* name = "progress-stream";
  bool started = false;
  bool finished = false;
};

/// Writes a pull's progress to its client. The first message starts the 200 stream, so an error
/// before any progress is a normal HTTP error (as moby's lazily flushed writer).
progress_sink_actor::behavior_type
progress_sink(progress_sink_actor::stateful_pointer<progress_state> self, connection_ptr conn) {
  return {
      [self, conn](progress_message& m) {
        if (self->state.finished) return;
        if (!self->state.started) {
          self->state.started = true;
          conn->stream_begin(200, "application/json");
        }
        conn->stream_write(encode_progress(m) + "\r\n", nullptr);
      },
      [self, conn](atom::done, caf::error& err) {
        if (self->state.finished) return;
        self->state.finished = true;
        if (!self->state.started) {
          if (err)
            conn->respond(error_response(err));
          else
            conn->respond(json_response(200, ""));
        } else {
          if (err) conn->stream_write(encode_stream_error(error_message(err)) + "\r\n", nullptr);
          conn->stream_end();
        }
        self->quit();
      },
  };
}

caf::expected<filter_args> filters_of(const http_request& req) {
  auto* f = req.get("filters");
  if (f == nullptr || f->empty()) return filter_args{};
  return parse_filters(*f);
}

void pull(const std::shared_ptr<api_context>& ctx, http_request& req, const connection_ptr& conn) {
  auto* from = req.get("fromImage");
  auto tag = req.get("tag") ? *req.get("tag") : std::string{};
  std::string ref = *from;
  // as dockerd: no tag, in the parameter or the name, pulls every tag (docker pull -a)
  bool all = false;
  if (!tag.empty())
    ref += (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
  else
    all = ref.find('@') == std::string::npos &&
          ref.find(':', ref.rfind('/') == std::string::npos ? 0 : ref.rfind('/')) ==
              std::string::npos;
  auto platform = req.get("platform") ? *req.get("platform") : std::string{};
  auto sink = ctx->sys->spawn(progress_sink, conn);
  std::vector<std::string> args{ref, platform};
  if (all) args.emplace_back("all");
  job j{
      "pull", std::move(args), {{"auth", req.header("x-registry-auth")}}, caf::make_message(sink)};
  run_job(*ctx, std::move(j), [sink](job_result& res) {
    // the store ends the stream itself; this covers a store that failed before it could
    caf::anon_send(sink, atom::done_v, res.status == status_ok ? caf::error{} : res.error);
  });
}

void save(const std::shared_ptr<api_context>& ctx, std::vector<std::string> names,
          const connection_ptr& conn) {
  if (names.empty()) return conn->respond(error_response(400, "no image names given"));
  auto sink = connection_sink(conn, "application/x-tar");
  run_job(*ctx, job{"image_save", std::move(names), {}, caf::make_message(sink)},
          [sink](job_result& res) {
            if (res.status != status_ok) sink.close(res.error);
          });
}

/// Take the spooled request body (docker load/import); "" after answering an error.
std::string take_body(http_request& req, const connection_ptr& conn) {
  auto file = req.take_body_file();
  if (file.empty())
    conn->respond(error_response(400, "the request has no body (expected a tar archive)"));
  return file;
}

void import(const std::shared_ptr<api_context>& ctx, http_request& req,
            const connection_ptr& conn) {
  auto src = *req.get("fromSrc");
  if (src != "-")
    return conn->respond(error_response(
        501, "not supported: berthd imports from the request body only (fromSrc=-), not URLs"));
  auto file = take_body(req, conn);
  if (file.empty()) return;
  auto value = [&](const char* k) { return req.get(k) ? *req.get(k) : std::string{}; };
  job j{"image_import",
        {file, value("repo"), value("tag"), value("message")},
        {},
        caf::make_message(req.get_all("changes"))};
  run_job(*ctx, std::move(j), [conn, file](job_result& res) {
    ::unlink(file.c_str());
    if (res.status != status_ok) return conn->respond(error_response(res.error));
    json::object o;
    o["status"] = res.output.match_elements<std::string>() ? res.output.get_as<std::string>(0)
                                                           : std::string{};
    conn->respond(json_response(200, json::serialize(o) + "\r\n"));
  });
}

/// docker commit: POST /commit?container=&repo=&tag=&comment=&author=&changes=...&pause=; the
/// optional body is a container Config the changes start from. The container's Config, as
/// inspect shows it, goes along: the image's container_config and the base of its config.
void commit(const std::shared_ptr<api_context>& ctx, http_request& req,
            const connection_ptr& conn) {
  auto value = [&](const char* k) { return req.get(k) ? *req.get(k) : std::string{}; };
  std::map<std::string, std::string> env{{"pause", query_bool(req, "pause", true) ? "1" : "0"}};
  auto body = req.body;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) body.clear();
  job j{"container_commit",
        {value("container"), value("repo"), value("tag"), value("comment"), value("author")},
        std::move(env),
        caf::make_message(req.get_all("changes"), std::move(body))};
  run_job(*ctx, job{"container_inspect", {value("container")}, {}, {}},
          [ctx, conn, j = std::move(j)](job_result& res) mutable {
            if (res.status != status_ok || !res.output.match_elements<container_info>())
              return conn->respond(error_response(res.error));
            auto& info = res.output.get_as<container_info>(0);
            j.args[0] = info.id;
            j.input = caf::make_message(j.input.get_as<std::vector<std::string>>(0),
                                        j.input.get_as<std::string>(1), encode_config_json(info));
            run_job(*ctx, std::move(j), [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              json::object o;
              o["Id"] = res.output.match_elements<std::string, std::string>()
                            ? res.output.get_as<std::string>(0)
                            : std::string{};
              conn->respond(json_response(201, json::serialize(o)));
            });
          });
}

/// docker push: POST /images/{name}/push?tag= (no tag: every tag of the repository), progress
/// streamed as pull's.
void push(const std::shared_ptr<api_context>& ctx, http_request& req, const connection_ptr& conn) {
  auto ref = req.params["name"];
  if (auto* tag = req.get("tag"); tag && !tag->empty()) ref += ":" + *tag;
  auto sink = ctx->sys->spawn(progress_sink, conn);
  job j{"push", {ref}, {{"auth", req.header("x-registry-auth")}}, caf::make_message(sink)};
  run_job(*ctx, std::move(j), [sink](job_result& res) {
    // the store ends the stream itself; this covers a store that failed before it could
    caf::anon_send(sink, atom::done_v, res.status == status_ok ? caf::error{} : res.error);
  });
}

} // namespace

// -- routes ---------------------------------------------------------------------------------------

void add_image_routes(router& r, std::shared_ptr<api_context> ctx) {
  r.add("POST", "/images/create", [ctx](http_request& req, const connection_ptr& conn) {
    if (req.get("fromImage") && !req.get("fromImage")->empty()) return pull(ctx, req, conn);
    if (req.get("fromSrc")) return import(ctx, req, conn);
    conn->respond(error_response(400, "fromImage or fromSrc is required"));
  });
  r.add("POST", "/commit",
        [ctx](http_request& req, const connection_ptr& conn) { commit(ctx, req, conn); });
  r.add("POST", "/images/{name}/push",
        [ctx](http_request& req, const connection_ptr& conn) { push(ctx, req, conn); });
  r.add("GET", "/images/json", [ctx](http_request& req, const connection_ptr& conn) {
    auto filters = filters_of(req);
    if (!filters) return conn->respond(error_response(filters.error()));
    // the legacy `filter` parameter is a reference filter
    if (auto* legacy = req.get("filter"); legacy && !legacy->empty())
      (*filters)["reference"].insert(*legacy);
    std::map<std::string, std::string> env;
    if (query_bool(req, "all")) env["all"] = "1";
    run_job(*ctx, job{"images", {}, std::move(env), caf::make_message(std::move(*filters))},
            [conn](job_result& res) {
              answer<std::vector<image_info>>(conn, res, encode_image_summaries);
            });
  });
  r.add("GET", "/images/{name}/json", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"image_inspect", {req.params["name"]}, {}, {}},
            [conn](job_result& res) { answer<image_info>(conn, res, encode_image_inspect); });
  });
  r.add("GET", "/images/{name}/history", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"image_history", {req.params["name"]}, {}, {}},
            [conn](job_result& res) { answer<image_info>(conn, res, encode_image_history); });
  });
  r.add("POST", "/images/{name}/tag", [ctx](http_request& req, const connection_ptr& conn) {
    auto* repo = req.get("repo");
    if (repo == nullptr || repo->empty())
      return conn->respond(error_response(400, "repository name (repo) is required"));
    auto tag = req.get("tag") ? *req.get("tag") : std::string{};
    run_job(*ctx, job{"image_tag", {req.params["name"], *repo, tag}, {}, {}},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              http_response out;
              out.status = 201;
              conn->respond(std::move(out));
            });
  });
  r.add("DELETE", "/images/{name}", [ctx](http_request& req, const connection_ptr& conn) {
    std::map<std::string, std::string> env;
    if (query_bool(req, "force")) env["force"] = "1";
    if (query_bool(req, "noprune")) env["noprune"] = "1";
    run_job(*ctx, job{"image_delete", {req.params["name"]}, std::move(env), {}},
            [conn](job_result& res) {
              answer<std::vector<image_delete_item>>(conn, res, encode_delete_items);
            });
  });
  r.add("POST", "/images/prune", [ctx](http_request& req, const connection_ptr& conn) {
    auto filters = filters_of(req);
    if (!filters) return conn->respond(error_response(filters.error()));
    run_job(*ctx, job{"image_prune", {}, {}, caf::make_message(std::move(*filters))},
            [conn](job_result& res) {
              if (res.status != status_ok) return conn->respond(error_response(res.error));
              if (!res.output.match_elements<std::vector<image_delete_item>, int64_t>())
                return conn->respond(error_response(500, "unexpected job output"));
              json::object o;
              auto& items = res.output.get_as<std::vector<image_delete_item>>(0);
              o["ImagesDeleted"] =
                  items.empty() ? json::value(nullptr) : json::parse(encode_delete_items(items));
              o["SpaceReclaimed"] = res.output.get_as<int64_t>(1);
              conn->respond(json_response(200, json::serialize(o)));
            });
  });
  r.add("GET", "/images/{name}/get", [ctx](http_request& req, const connection_ptr& conn) {
    save(ctx, {req.params["name"]}, conn);
  });
  r.add("GET", "/images/get", [ctx](http_request& req, const connection_ptr& conn) {
    save(ctx, req.get_all("names"), conn);
  });
  r.add("POST", "/images/load", [ctx](http_request& req, const connection_ptr& conn) {
    auto file = take_body(req, conn);
    if (file.empty()) return;
    std::map<std::string, std::string> env;
    if (query_bool(req, "quiet")) env["quiet"] = "1";
    run_job(*ctx, job{"image_load", {file}, std::move(env), {}}, [conn, file](job_result& res) {
      ::unlink(file.c_str());
      if (res.status != status_ok) return conn->respond(error_response(res.error));
      std::string body;
      if (res.output.match_elements<std::vector<std::string>>())
        for (auto& line : res.output.get_as<std::vector<std::string>>(0)) {
          json::object o;
          o["stream"] = line + "\n";
          body += json::serialize(o) + "\r\n";
        }
      conn->respond(json_response(200, std::move(body)));
    });
  });
  r.add("GET", "/images/search", [](http_request&, const connection_ptr& conn) {
    conn->respond(error_response(
        501, "not supported: image search needs a Docker Hub v1 search index; registries that "
             "speak the distribution (v2) API, which berthd pulls from, have no search"));
  });
  r.add("POST", "/auth", [ctx](http_request& req, const connection_ptr& conn) {
    run_job(*ctx, job{"auth", {}, {}, caf::make_message(req.body)}, [conn](job_result& res) {
      if (res.status != status_ok) return conn->respond(error_response(res.error));
      json::object o;
      o["Status"] = res.output.match_elements<std::string>() ? res.output.get_as<std::string>(0)
                                                             : std::string{"Login Succeeded"};
      o["IdentityToken"] = "";
      conn->respond(json_response(200, json::serialize(o)));
    });
  });
}

} // namespace berth::api
