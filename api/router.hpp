// The API router: strips and checks the /vX.Y prefix, matches routes, answers 404 for unknown
// routes and 501 (naming the route) for Docker routes berth does not build yet.
#pragma once

#include "api/http.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::api {

using handler = std::function<void(http_request&, const connection_ptr&)>;

/// Compare two "1.41"-style versions: <0, 0, >0.
int compare_versions(std::string_view a, std::string_view b);

/// Split "/v1.41/containers/json" into version and path. No prefix: version empty, path as is.
/// An error response when the version is out of range.
struct versioned_path {
  std::string version;
  std::string path;
};
std::optional<versioned_path> split_version(std::string_view path);
std::optional<http_response> check_version(std::string_view version);

/// Every route of the Engine API 1.41 swagger (method, pattern).
const std::vector<std::pair<const char*, const char*>>& docker_routes();

class router {
public:
  router();
  /// Add a route; patterns are like "/containers/{id}/json". A {param} matches one or more
  /// path segments (image names contain slashes).
  void add(std::string method, std::string pattern, handler h);
  /// Handle one request: version check, route, or 404/405/501.
  void dispatch(http_request& req, const connection_ptr& conn) const;
  /// The route a request would take ("GET /containers/{id}/json"), for tests and logs.
  std::string route_of(const std::string& method, const std::string& path) const;

private:
  struct route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    handler fn;
  };
  const route* find(const std::string& method, const std::string& path,
                    std::map<std::string, std::string>* params, bool* path_matched) const;
  std::vector<route> routes_;
  std::vector<route> not_built_; // 501 table, consulted after routes_
};

} // namespace berth::api
