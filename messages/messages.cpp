#include "messages/actors.hpp"
#include "messages/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>

#include <cctype>

namespace berth {

std::string to_string(container_status s) {
  switch (s) {
  case container_status::created:
    return "created";
  case container_status::running:
    return "running";
  case container_status::paused:
    return "paused";
  case container_status::restarting:
    return "restarting";
  case container_status::removing:
    return "removing";
  case container_status::exited:
    return "exited";
  case container_status::dead:
    return "dead";
  }
  return "dead";
}

std::string to_string(ec code) {
  switch (code) {
  case ec::none:
    return "none";
  case ec::unspecified:
    return "unspecified";
  case ec::invalid_argument:
    return "invalid_argument";
  case ec::unauthorized:
    return "unauthorized";
  case ec::forbidden:
    return "forbidden";
  case ec::not_found:
    return "not_found";
  case ec::conflict:
    return "conflict";
  case ec::not_modified:
    return "not_modified";
  case ec::not_implemented:
    return "not_implemented";
  case ec::unavailable:
    return "unavailable";
  case ec::command_not_found:
    return "command_not_found";
  case ec::timeout:
    return "timeout";
  case ec::system:
    return "system";
  }
  return "unknown";
}

unsigned http_status(ec code) {
  switch (code) {
  case ec::none:
    return 200;
  case ec::invalid_argument:
    return 400;
  case ec::unauthorized:
    return 401;
  case ec::forbidden:
    return 403;
  case ec::not_found:
    return 404;
  case ec::conflict:
    return 409;
  case ec::not_modified:
    return 304;
  case ec::not_implemented:
    return 501;
  case ec::command_not_found:
    return 501;
  case ec::unavailable:
    return 503;
  case ec::timeout:
    return 504;
  case ec::unspecified:
  case ec::system:
    return 500;
  }
  return 500;
}

unsigned http_status(const caf::error& err) {
  if (!err) return 200;
  if (err.category() == caf::atom("berth")) return http_status(static_cast<ec>(err.code()));
  return 500;
}

std::string error_message(const caf::error& err) {
  if (!err) return {};
  const auto& ctx = err.context();
  if (ctx.size() >= 1 && ctx.match_element<std::string>(0)) return ctx.get_as<std::string>(0);
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
    case caf::sec::request_timeout:
      return "timeout waiting for the engine";
    case caf::sec::request_receiver_down:
      return "the service handling this request is gone";
    default:
      break;
    }
  }
  return caf::to_string(err);
}

caf::error make_error(ec code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("berth"),
                    caf::make_message(std::move(message))};
}

void register_messages(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::berth>();
  cfg.add_error_category(caf::atom("berth"),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) -> std::string {
                           std::string out = "berth::" + to_string(static_cast<ec>(code));
                           if (ctx.size() >= 1 && ctx.match_element<std::string>(0))
                             out += ": " + ctx.get_as<std::string>(0);
                           return out;
                         });
}

bool label_matches(const std::map<std::string, std::string>& labels, const std::string& filter) {
  auto eq = filter.find('=');
  auto it = labels.find(filter.substr(0, eq));
  return it != labels.end() && (eq == std::string::npos || it->second == filter.substr(eq + 1));
}

/// Go's strconv.ParseUint(s, 10, 16).
std::optional<uint64_t> parse_port_number(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return v;
}

/// nat.SplitProtoPort.
std::pair<std::string, std::string> split_proto_port(const std::string& raw) {
  if (raw.empty() || raw[0] == '/') return {"", ""};
  auto slash = raw.find('/');
  if (slash == std::string::npos) return {"tcp", raw};
  auto port = raw.substr(0, slash);
  auto rest = raw.substr(slash + 1);
  auto proto = rest.substr(0, rest.find('/'));
  if (proto.empty()) return {"tcp", port};
  return {proto, port};
}

/// nat.ParsePortRange: "80" or "8000-8080".
bool parse_port_range(const std::string& ports, uint64_t& start, uint64_t& end) {
  if (ports.empty()) return false;
  auto dash = ports.find('-');
  if (dash == std::string::npos) {
    auto p = parse_port_number(ports);
    if (!p) return false;
    start = end = *p;
    return true;
  }
  auto rest = ports.substr(dash + 1);
  auto a = parse_port_number(ports.substr(0, dash));
  auto b = parse_port_number(rest.substr(0, rest.find('-')));
  if (!a || !b || *b < *a) return false;
  start = *a;
  end = *b;
  return true;
}

} // namespace berth
