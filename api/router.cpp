#include "api/router.hpp"

#include "messages/defaults.hpp"
#include "messages/error.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cctype>
#include <cstdlib>

namespace berth::api {

// -- http.hpp helpers -----------------------------------------------------------------------------

const std::string* http_request::get(std::string_view key) const {
  for (auto& [k, v] : query)
    if (k == key) return &v;
  return nullptr;
}

std::vector<std::string> http_request::get_all(std::string_view key) const {
  std::vector<std::string> out;
  for (auto& [k, v] : query)
    if (k == key) out.push_back(v);
  return out;
}

std::string http_request::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

http_response json_response(unsigned status, std::string body) {
  http_response res;
  res.status = status;
  res.content_type = "application/json";
  res.body = std::move(body);
  res.body += '\n';
  return res;
}

http_response error_response(unsigned status, std::string_view message) {
  boost::json::object obj;
  obj["message"] = message;
  return json_response(status, boost::json::serialize(obj));
}

http_response error_response(const caf::error& err) {
  return error_response(http_status(err), error_message(err));
}

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() + 0 && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::strtol(std::string{s.substr(i + 1, 2)}.c_str(), nullptr, 16));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    if (!part.empty()) {
      auto eq = part.find('=');
      if (eq == std::string_view::npos)
        out.emplace_back(url_decode(part, true), std::string{});
      else
        out.emplace_back(url_decode(part.substr(0, eq), true),
                         url_decode(part.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

bool query_bool(const http_request& req, std::string_view key, bool dflt) {
  auto* v = req.get(key);
  if (v == nullptr) return dflt;
  std::string s;
  for (char c : *v)
    s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return !(s.empty() || s == "0" || s == "no" || s == "false" || s == "none");
}

// -- versions ------------------------------------------------------------------------------------

int compare_versions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    auto next = [](std::string_view& s) {
      long n = 0;
      size_t i = 0;
      while (i < s.size() && s[i] != '.') {
        n = n * 10 + (s[i] - '0');
        ++i;
      }
      s.remove_prefix(i < s.size() ? i + 1 : i);
      return n;
    };
    auto x = next(a);
    auto y = next(b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

std::optional<versioned_path> split_version(std::string_view path) {
  // moby: "/v{version:[0-9.]+}" + route
  if (path.size() < 3 || path[0] != '/' || path[1] != 'v')
    return versioned_path{{}, std::string{path}};
  size_t i = 2;
  while (i < path.size() && (std::isdigit(static_cast<unsigned char>(path[i])) || path[i] == '.'))
    ++i;
  if (i == 2 || (i < path.size() && path[i] != '/')) return versioned_path{{}, std::string{path}};
  return versioned_path{std::string{path.substr(2, i - 2)},
                        i < path.size() ? std::string{path.substr(i)} : std::string{"/"}};
}

std::optional<http_response> check_version(std::string_view version) {
  if (version.empty()) return std::nullopt;
  bool digits = false;
  for (char c : version) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits = true;
  }
  if (!digits || version.front() == '.' || version.back() == '.')
    return error_response(400, "invalid API version \"" + std::string{version} + "\"");
  if (compare_versions(version, defaults::api_version) > 0)
    return error_response(400, "client version " + std::string{version} +
                                   " is too new. Maximum supported API version is " +
                                   defaults::api_version);
  if (compare_versions(version, defaults::min_api_version) < 0)
    return error_response(400, "client version " + std::string{version} +
                                   " is too old. Minimum supported API version is " +
                                   defaults::min_api_version +
                                   ", please upgrade your client to a newer version");
  return std::nullopt;
}

// -- routes --------------------------------------------------------------------------------------

const std::vector<std::pair<const char*, const char*>>& docker_routes() {
  // Every path+method of the Engine API 1.41 swagger (106).
  static const std::vector<std::pair<const char*, const char*>> routes{
      {"GET", "/containers/json"},
      {"POST", "/containers/create"},
      {"GET", "/containers/{id}/json"},
      {"GET", "/containers/{id}/top"},
      {"GET", "/containers/{id}/logs"},
      {"GET", "/containers/{id}/changes"},
      {"GET", "/containers/{id}/export"},
      {"GET", "/containers/{id}/stats"},
      {"POST", "/containers/{id}/resize"},
      {"POST", "/containers/{id}/start"},
      {"POST", "/containers/{id}/stop"},
      {"POST", "/containers/{id}/restart"},
      {"POST", "/containers/{id}/kill"},
      {"POST", "/containers/{id}/update"},
      {"POST", "/containers/{id}/rename"},
      {"POST", "/containers/{id}/pause"},
      {"POST", "/containers/{id}/unpause"},
      {"POST", "/containers/{id}/attach"},
      {"GET", "/containers/{id}/attach/ws"},
      {"POST", "/containers/{id}/wait"},
      {"DELETE", "/containers/{id}"},
      {"HEAD", "/containers/{id}/archive"},
      {"GET", "/containers/{id}/archive"},
      {"PUT", "/containers/{id}/archive"},
      {"POST", "/containers/prune"},
      {"GET", "/images/json"},
      {"POST", "/build"},
      {"POST", "/build/prune"},
      {"POST", "/images/create"},
      {"GET", "/images/{name}/json"},
      {"GET", "/images/{name}/history"},
      {"POST", "/images/{name}/push"},
      {"POST", "/images/{name}/tag"},
      {"DELETE", "/images/{name}"},
      {"GET", "/images/search"},
      {"POST", "/images/prune"},
      {"POST", "/auth"},
      {"GET", "/info"},
      {"GET", "/version"},
      {"GET", "/_ping"},
      {"HEAD", "/_ping"},
      {"POST", "/commit"},
      {"GET", "/events"},
      {"GET", "/system/df"},
      {"GET", "/images/{name}/get"},
      {"GET", "/images/get"},
      {"POST", "/images/load"},
      {"POST", "/containers/{id}/exec"},
      {"POST", "/exec/{id}/start"},
      {"POST", "/exec/{id}/resize"},
      {"GET", "/exec/{id}/json"},
      {"GET", "/volumes"},
      {"POST", "/volumes/create"},
      {"GET", "/volumes/{name}"},
      {"DELETE", "/volumes/{name}"},
      {"POST", "/volumes/prune"},
      {"GET", "/networks"},
      {"GET", "/networks/{id}"},
      {"DELETE", "/networks/{id}"},
      {"POST", "/networks/create"},
      {"POST", "/networks/{id}/connect"},
      {"POST", "/networks/{id}/disconnect"},
      {"POST", "/networks/prune"},
      {"GET", "/plugins"},
      {"GET", "/plugins/privileges"},
      {"POST", "/plugins/pull"},
      {"GET", "/plugins/{name}/json"},
      {"DELETE", "/plugins/{name}"},
      {"POST", "/plugins/{name}/enable"},
      {"POST", "/plugins/{name}/disable"},
      {"POST", "/plugins/{name}/upgrade"},
      {"POST", "/plugins/create"},
      {"POST", "/plugins/{name}/push"},
      {"POST", "/plugins/{name}/set"},
      {"GET", "/nodes"},
      {"GET", "/nodes/{id}"},
      {"DELETE", "/nodes/{id}"},
      {"POST", "/nodes/{id}/update"},
      {"GET", "/swarm"},
      {"POST", "/swarm/init"},
      {"POST", "/swarm/join"},
      {"POST", "/swarm/leave"},
      {"POST", "/swarm/update"},
      {"GET", "/swarm/unlockkey"},
      {"POST", "/swarm/unlock"},
      {"GET", "/services"},
      {"POST", "/services/create"},
      {"GET", "/services/{id}"},
      {"DELETE", "/services/{id}"},
      {"POST", "/services/{id}/update"},
      {"GET", "/services/{id}/logs"},
      {"GET", "/tasks"},
      {"GET", "/tasks/{id}"},
      {"GET", "/tasks/{id}/logs"},
      {"GET", "/secrets"},
      {"POST", "/secrets/create"},
      {"GET", "/secrets/{id}"},
      {"DELETE", "/secrets/{id}"},
      {"POST", "/secrets/{id}/update"},
      {"GET", "/configs"},
      {"POST", "/configs/create"},
      {"GET", "/configs/{id}"},
      {"DELETE", "/configs/{id}"},
      {"POST", "/configs/{id}/update"},
      {"GET", "/distribution/{name}/json"},
      {"POST", "/session"},
  };
  return routes;
}

namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_param(const std::string& seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

bool match(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& segs,
           size_t si, std::map<std::string, std::string>& params) {
  if (pi == pat.size()) return si == segs.size();
  if (si == segs.size()) return false;
  if (!is_param(pat[pi])) return pat[pi] == segs[si] && match(pat, pi + 1, segs, si + 1, params);
  // a parameter takes one or more segments; prefer the shortest that lets the rest match
  std::string value;
  for (size_t k = si; k < segs.size(); ++k) {
    if (k > si) value += '/';
    value += segs[k];
    if (match(pat, pi + 1, segs, k + 1, params)) {
      params[pat[pi].substr(1, pat[pi].size() - 2)] = value;
      return true;
    }
  }
  return false;
}

} // namespace

router::router() {
  for (auto& [method, pattern] : docker_routes()) {
    std::string route_name = std::string{method} + " " + pattern;
    not_built_.push_back(
        route{method, pattern, split_path(pattern),
              [route_name](http_request&, const connection_ptr& conn) {
                conn->respond(error_response(501, "not supported: berthd does not implement " +
                                                      route_name + " yet"));
              }});
  }
}

void router::add(std::string method, std::string pattern, handler h) {
  auto segs = split_path(pattern);
  routes_.push_back(route{std::move(method), std::move(pattern), std::move(segs), std::move(h)});
}

const router::route* router::find(const std::string& method, const std::string& path,
                                  std::map<std::string, std::string>* params,
                                  bool* path_matched) const {
  auto segs = split_path(path);
  for (auto* table : {&routes_, &not_built_}) {
    for (auto& r : *table) {
      std::map<std::string, std::string> p;
      if (!match(r.segments, 0, segs, 0, p)) continue;
      *path_matched = true;
      if (r.method != method) continue;
      if (params) *params = std::move(p);
      return &r;
    }
  }
  return nullptr;
}

std::string router::route_of(const std::string& method, const std::string& path) const {
  bool matched = false;
  auto* r = find(method, path, nullptr, &matched);
  return r ? r->method + " " + r->pattern : std::string{};
}

void router::dispatch(http_request& req, const connection_ptr& conn) const {
  auto qpos = req.target.find('?');
  std::string raw_path = req.target.substr(0, qpos);
  if (qpos != std::string::npos)
    req.query = parse_query(std::string_view{req.target}.substr(qpos + 1));
  auto vp = split_version(url_decode(raw_path, false));
  if (auto err = check_version(vp->version)) {
    conn->respond(std::move(*err));
    return;
  }
  req.api_version = vp->version.empty() ? defaults::api_version : vp->version;
  req.path = std::move(vp->path);
  if (req.method == "OPTIONS") {
    conn->respond(http_response{200, {}, {}, {}});
    return;
  }
  bool path_matched = false;
  auto* r = find(req.method, req.path, &req.params, &path_matched);
  if (r == nullptr) {
    if (path_matched)
      conn->respond(error_response(405, "method " + req.method + " not allowed for " + req.path));
    else
      conn->respond(error_response(404, "page not found"));
    return;
  }
  r->fn(req, conn);
}

} // namespace berth::api
