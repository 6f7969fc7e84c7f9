#include "actors/daemon/config.hpp"

#include "actors/host.hpp"
#include "actors/log.hpp"
#include "messages/error.hpp"

#include <simdjson.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <set>
#include <sstream>
#include <variant>

namespace berth::config {

namespace {

using field = std::variant<bool daemon_config::*, std::string daemon_config::*,
                           int64_t daemon_config::*, std::vector<std::string> daemon_config::*>;

struct option {
  const char* flag; // long flag name
  char short_flag;  // 0 = none
  const char* key;  // daemon.json key ("" = flag only)
  field member;
  bool reloadable;
  const char* help;
};

// clang-format off
const option options[] = {
  {"host", 'H', "hosts", &daemon_config::hosts, false, "Daemon socket(s) to listen on (unix:///path, tcp://host:port)"},
  {"data-root", 0, "data-root", &daemon_config::data_root, false, "Root directory of persistent state"},
  {"graph", 'g', "data-root", &daemon_config::data_root, false, "Deprecated alias of --data-root"},
  {"exec-root", 0, "exec-root", &daemon_config::exec_root, false, "Root directory for execution state files"},
  {"pidfile", 'p', "pidfile", &daemon_config::pidfile, false, "Path to use for the daemon PID file"},
  {"config-file", 0, "", &daemon_config::config_file, false, "Daemon configuration file"},
  {"debug", 'D', "debug", &daemon_config::debug, true, "Enable debug mode"},
  {"log-level", 'l', "log-level", &daemon_config::log_level, true, "Logging level (debug, info, warn, error, fatal)"},
  {"group", 'G', "group", &daemon_config::group, false, "Group owning the unix socket(s)"},
  {"tls", 0, "tls", &daemon_config::tls, false, "Use TLS; implied by --tlsverify"},
  {"tlscacert", 0, "tlscacert", &daemon_config::tlscacert, false, "Trust certs signed only by this CA"},
  {"tlscert", 0, "tlscert", &daemon_config::tlscert, false, "Path to the TLS certificate file"},
  {"tlskey", 0, "tlskey", &daemon_config::tlskey, false, "Path to the TLS key file"},
  {"tlsverify", 0, "tlsverify", &daemon_config::tlsverify, false, "Use TLS and require verified client certificates"},
  {"storage-driver", 's', "storage-driver", &daemon_config::storage_driver, false, "Storage driver to use (overlay2, vfs)"},
  {"storage-opt", 0, "storage-opts", &daemon_config::storage_opts, false, "Storage driver options (key=value)"},
  {"exec-driver", 'e', "exec-driver", &daemon_config::exec_driver, false, "Exec driver to use (native, oci)"},
  {"exec-opt", 0, "exec-opts", &daemon_config::exec_opts, false, "Exec driver options (key=value)"},
  {"add-runtime", 0, "runtimes", &daemon_config::runtimes, false, "Register an OCI runtime (name=path)"},
  {"default-runtime", 0, "default-runtime", &daemon_config::default_runtime, false, "Default runtime of containers (native, runc or an added one)"},
  {"bridge", 'b', "bridge", &daemon_config::bridge, false, "Attach containers to a network bridge ('none' disables)"},
  {"bip", 0, "bip", &daemon_config::bip, false, "Network bridge IP (CIDR)"},
  {"fixed-cidr", 0, "fixed-cidr", &daemon_config::fixed_cidr, false, "IPv4 subnet for fixed IPs (CIDR)"},
  {"mtu", 0, "mtu", &daemon_config::mtu, false, "Network MTU of the bridge"},
  {"ip", 0, "ip", &daemon_config::ip, false, "Default IP when binding container ports"},
  {"dns", 0, "dns", &daemon_config::dns, false, "DNS server to use"},
  {"dns-search", 0, "dns-search", &daemon_config::dns_search, false, "DNS search domains to use"},
  {"iptables", 0, "iptables", &daemon_config::iptables, false, "Enable addition of iptables rules"},
  {"ip-forward", 0, "ip-forward", &daemon_config::ip_forward, false, "Enable net.ipv4.ip_forward"},
  {"ip-masq", 0, "ip-masq", &daemon_config::ip_masq, false, "Enable IP masquerading"},
  {"icc", 0, "icc", &daemon_config::icc, false, "Enable inter-container communication"},
  {"registry-mirror", 0, "registry-mirrors", &daemon_config::registry_mirrors, true, "Preferred registry mirror"},
  {"insecure-registry", 0, "insecure-registries", &daemon_config::insecure_registries, true, "Insecure registry (CIDR or host:port)"},
  {"max-concurrent-downloads", 0, "max-concurrent-downloads", &daemon_config::max_concurrent_downloads, true, "Max concurrent downloads for each pull"},
  {"shutdown-timeout", 0, "shutdown-timeout", &daemon_config::shutdown_timeout, false, "Default shutdown timeout of containers, in seconds"},
  {"live-restore", 0, "live-restore", &daemon_config::live_restore, false, "Keep containers alive while the daemon is down (not supported)"},
  {"init", 0, "init", &daemon_config::init, false, "Run an init in the containers to forward signals and reap processes"},
  {"label", 0, "labels", &daemon_config::labels, true, "Set key=value labels on the daemon"},
  {"api-cors-header", 0, "api-cors-header", &daemon_config::api_cors_header, false, "Set CORS headers in the Engine API"},
  {"log-driver", 0, "log-driver", &daemon_config::log_driver, false, "Default driver for container logs (json-file, none)"},
  {"log-opt", 0, "log-opts", &daemon_config::log_opts, false, "Default log driver options (key=value)"},
};
// clang-format on

const option* find_long(std::string_view name) {
  for (auto& o : options)
    if (name == o.flag) return &o;
  return nullptr;
}

const option* find_short(char c) {
  for (auto& o : options)
    if (o.short_flag == c) return &o;
  return nullptr;
}

const option* find_key(std::string_view key) {
  for (auto& o : options)
    if (*o.key != 0 && key == o.key) return &o;
  return nullptr;
}

caf::error bad(std::string msg) {
  return make_error(ec::invalid_argument, std::move(msg));
}

std::optional<bool> parse_bool(std::string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False")
    return false;
  return std::nullopt;
}

std::optional<int64_t> parse_int(const std::string& v) {
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || *end != 0) return std::nullopt;
  return n;
}

bool is_bool(const option& o) {
  return std::holds_alternative<bool daemon_config::*>(o.member);
}

// Apply a textual flag value to the config.
caf::error apply(daemon_config& cfg, const option& o, const std::string& value,
                 const std::string& shown) {
  return std::visit(
      [&](auto m) -> caf::error {
        using T = std::decay_t<decltype(cfg.*m)>;
        if constexpr (std::is_same_v<T, bool>) {
          auto b = parse_bool(value);
          if (!b)
            return bad("invalid argument \"" + value + "\" for \"" + shown +
                       "\" flag: expected a boolean");
          cfg.*m = *b;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          auto n = parse_int(value);
          if (!n)
            return bad("invalid argument \"" + value + "\" for \"" + shown +
                       "\" flag: expected an integer");
          cfg.*m = *n;
        } else if constexpr (std::is_same_v<T, std::string>) {
          cfg.*m = value;
        } else {
          (cfg.*m).push_back(value);
        }
        return caf::none;
      },
      o.member);
}

std::string show_value(const daemon_config& cfg, const option& o) {
  return std::visit(
      [&](auto m) -> std::string {
        using T = std::decay_t<decltype(cfg.*m)>;
        if constexpr (std::is_same_v<T, bool>) {
          return (cfg.*m) ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(cfg.*m);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return cfg.*m;
        } else {
          std::string out = "[";
          for (auto& v : cfg.*m)
            out += (out.size() > 1 ? " " : "") + v;
          return out + "]";
        }
      },
      o.member);
}

// Set a field from a daemon.json value of the right JSON type.
caf::error apply_json(daemon_config& cfg, const option& o, simdjson::dom::element v) {
  auto type_error = [&](const char* want) {
    return bad("invalid value for \"" + std::string{o.key} + "\": expected " + want);
  };
  return std::visit(
      [&](auto m) -> caf::error {
        using T = std::decay_t<decltype(cfg.*m)>;
        if constexpr (std::is_same_v<T, bool>) {
          bool b;
          if (v.get(b)) return type_error("a boolean");
          cfg.*m = b;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          int64_t n;
          if (v.get(n)) return type_error("an integer");
          cfg.*m = n;
        } else if constexpr (std::is_same_v<T, std::string>) {
          std::string_view s;
          if (v.get(s)) return type_error("a string");
          cfg.*m = std::string{s};
        } else {
          std::vector<std::string> out;
          simdjson::dom::object obj;
          simdjson::dom::array arr;
          if (std::string{o.key} == "runtimes") {
            // {"name": {"path": "...", "runtimeArgs": ["..."]}}
            if (v.get(obj)) return type_error("an object of runtimes");
            cfg.runtime_args.clear();
            for (auto kv : obj) {
              std::string name{kv.key};
              simdjson::dom::object rt;
              std::string_view path;
              if (kv.value.get(rt) || rt["path"].get(path))
                return bad("invalid runtime \"" + name +
                           "\" in \"runtimes\": expected an "
                           "object with a \"path\" string");
              out.push_back(name + "=" + std::string{path});
              simdjson::dom::array args;
              if (auto field = rt["runtimeArgs"]; !field.error()) {
                if (field.get(args)) return type_error("runtimeArgs as an array of strings");
                for (auto a : args) {
                  std::string_view arg;
                  if (a.get(arg)) return type_error("runtimeArgs as an array of strings");
                  cfg.runtime_args.push_back(name + "=" + std::string{arg});
                }
              }
            }
          } else if (std::string{o.key} == "log-opts" && !v.get(obj)) {
            for (auto kv : obj) {
              std::string_view s;
              if (kv.value.get(s)) return type_error("an object of strings");
              out.push_back(std::string{kv.key} + "=" + std::string{s});
            }
          } else if (!v.get(arr)) {
            for (auto item : arr) {
              std::string_view s;
              if (item.get(s)) return type_error("an array of strings");
              out.emplace_back(s);
            }
          } else {
            return type_error("an array of strings");
          }
          cfg.*m = std::move(out);
        }
        return caf::none;
      },
      o.member);
}

bool valid_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool valid_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  auto ip = s.substr(0, slash);
  auto bits = parse_int(s.substr(slash + 1));
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return bits && *bits >= 0 && *bits <= 32;
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return bits && *bits >= 0 && *bits <= 128;
  return false;
}

bool valid_port(const std::string& s) {
  auto n = parse_int(s);
  return n && *n > 0 && *n < 65536;
}

caf::error check_key_value_list(const std::vector<std::string>& xs, const char* key) {
  for (auto& x : xs)
    if (x.find('=') == std::string::npos || x.front() == '=')
      return bad("invalid " + std::string{key} + " value \"" + x + "\": expected key=value");
  return caf::none;
}

// dockerd's exec-opt check (daemon/config): known keys only. berth drives cgroupfs itself.
caf::error check_exec_opts(const std::vector<std::string>& opts) {
  for (auto& o : opts) {
    auto eq = o.find('=');
    auto key = o.substr(0, eq), value = o.substr(eq + 1);
    if (key == "native.cgroupdriver") {
      if (value != "cgroupfs")
        return bad("invalid exec-opt (" + o + "): native.cgroupdriver option " + value +
                   " not supported: berthd drives cgroupfs");
    } else if (key == "oci.runtime") {
      if (value.empty()) return bad("invalid exec-opt (" + o + "): empty runtime");
    } else {
      return bad("invalid exec-opt (" + o + "): unknown option: '" + key + "'");
    }
  }
  return caf::none;
}

// The runtimes: names unique, not reserved, with a path; the default one exists. The default
// runtime, when given, decides the exec driver ("native", or oci with that runtime).
caf::error check_runtimes(daemon_config& cfg) {
  std::set<std::string> names;
  for (auto& r : cfg.runtimes) {
    auto eq = r.find('=');
    auto name = r.substr(0, eq);
    if (eq == std::string::npos || eq == 0 || eq + 1 == r.size())
      return bad("invalid runtime \"" + r + "\": expected name=path");
    if (name == "native" || name == "runc" || name == "io.containerd.runc.v2" ||
        name == "io.containerd.runtime.v1.linux")
      return bad("runtime name '" + name + "' is reserved");
    if (!names.insert(name).second) return bad("runtime name '" + name + "' is given twice");
  }
  auto& d = cfg.default_runtime;
  if (d.empty()) return caf::none;
  if (d == "native") {
    cfg.exec_driver = "native";
    return caf::none;
  }
  if (d != "runc" && names.count(d) == 0)
    return bad("specified default runtime '" + d + "' does not exist");
  cfg.exec_driver = "oci";
  return caf::none;
}

caf::error check_host(std::string& h, bool tls) {
  if (h.rfind("unix://", 0) == 0) {
    auto path = h.substr(7);
    if (path.empty())
      h = default_host;
    else if (path.front() != '/')
      return bad("invalid host \"" + h + "\": the unix socket path must be absolute");
    return caf::none;
  }
  if (h.rfind("tcp://", 0) == 0) {
    auto rest = h.substr(6);
    std::string addr = rest;
    std::string port;
    if (!rest.empty() && rest.front() == '[') {
      auto close = rest.find(']');
      if (close == std::string::npos) return bad("invalid host \"" + h + "\": bad IPv6 address");
      addr = rest.substr(1, close - 1);
      if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
    } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
      addr = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (rest.find('/') != std::string::npos)
      return bad("invalid host \"" + h + "\": no path is allowed");
    if (port.empty()) port = tls ? "2376" : "2375";
    if (!valid_port(port)) return bad("invalid host \"" + h + "\": invalid port \"" + port + "\"");
    if (addr.empty()) addr = "0.0.0.0";
    bool v6 = addr.find(':') != std::string::npos;
    h = "tcp://" + (v6 ? "[" + addr + "]" : addr) + ":" + port;
    return caf::none;
  }
  if (h.rfind("fd://", 0) == 0)
    return bad("invalid host \"" + h + "\": fd:// (socket activation) is not supported by berthd");
  return bad("invalid host \"" + h + "\": expected unix:///path or tcp://host:port");
}

std::string absolute(const std::string& p) {
  if (p.empty() || p.front() == '/') return p;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return p;
  return std::string{cwd} + "/" + p;
}

caf::error check_readable(const std::string& path, const char* key) {
  if (path.empty()) return bad(std::string{"--"} + key + " is required with TLS");
  if (::access(path.c_str(), R_OK) != 0)
    return bad("cannot read " + std::string{key} + " \"" + path + "\": " + std::strerror(errno));
  return caf::none;
}

} // namespace

std::map<std::string, runtime> runtimes(const daemon_config& cfg) {
  std::map<std::string, runtime> out;
  out["native"] = {};
  out["runc"].path = "runc";
  for (auto& o : cfg.exec_opts)
    if (o.rfind("oci.runtime=", 0) == 0) out["runc"].path = o.substr(12);
  for (auto& r : cfg.runtimes) {
    auto eq = r.find('=');
    out[r.substr(0, eq)].path = r.substr(eq + 1);
  }
  for (auto& a : cfg.runtime_args) {
    auto eq = a.find('=');
    out[a.substr(0, eq)].args.push_back(a.substr(eq + 1));
  }
  return out;
}

std::string default_runtime(const daemon_config& cfg) {
  if (!cfg.default_runtime.empty()) return cfg.default_runtime;
  return cfg.exec_driver == "oci" ? "runc" : "native";
}

caf::expected<flags> parse_flags(const std::vector<std::string>& args) {
  flags out;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') {
      return bad("\"berthd\" accepts no arguments, got \"" + arg + "\"");
    }
    const option* o = nullptr;
    std::string shown;
    std::optional<std::string> value;
    if (arg[1] == '-') {
      auto body = arg.substr(2);
      auto eq = body.find('=');
      auto name = body.substr(0, eq);
      if (eq != std::string::npos) value = body.substr(eq + 1);
      if (name == "help") {
        out.help = true;
        continue;
      }
      if (name == "version") {
        out.version = true;
        continue;
      }
      o = find_long(name);
      shown = "--" + name;
      if (o == nullptr) return bad("unknown flag: " + shown);
    } else {
      char c = arg[1];
      if (c == 'h') {
        out.help = true;
        continue;
      }
      if (c == 'v') {
        out.version = true;
        continue;
      }
      o = find_short(c);
      shown = std::string{"-"} + c;
      if (o == nullptr) return bad("unknown shorthand flag: '" + std::string{c} + "' in " + arg);
      if (arg.size() > 2) value = arg[2] == '=' ? arg.substr(3) : arg.substr(2);
    }
    if (!value) {
      if (is_bool(*o)) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) return bad("flag needs an argument: " + shown);
        value = args[++i];
      }
    }
    if (auto err = apply(out.cfg, *o, *value, shown)) return err;
    if (std::string{o->flag} == "config-file")
      out.config_file_given = true;
    else
      out.given.insert(o->key);
  }
  return out;
}

std::string usage() {
  std::ostringstream out;
  out << "Usage:\tberthd [OPTIONS]\n\n"
         "A Docker-compatible container engine daemon (Engine API 1.41)\n\nOptions:\n";
  for (auto& o : options) {
    std::string names = o.short_flag ? std::string{"  -"} + o.short_flag + ", --" : "      --";
    names += o.flag;
    std::string kind = std::visit(
        [](auto m) -> std::string {
          using T = std::decay_t<decltype(daemon_config{}.*m)>;
          if constexpr (std::is_same_v<T, bool>)
            return "";
          else if constexpr (std::is_same_v<T, int64_t>)
            return " int";
          else if constexpr (std::is_same_v<T, std::string>)
            return " string";
          else
            return " list";
        },
        o.member);
    names += kind;
    if (names.size() < 38)
      names.append(38 - names.size(), ' ');
    else
      names += "  ";
    daemon_config defaults;
    auto dflt = show_value(defaults, o);
    out << names << o.help;
    if (!dflt.empty() && dflt != "[]" && !is_bool(o))
      out << " (default \"" << dflt << "\")";
    else if (is_bool(o) && defaults.*std::get<bool daemon_config::*>(o.member))
      out << " (default true)";
    if (o.reloadable) out << " [reloadable]";
    out << "\n";
  }
  out << "  -h, --help                            Print usage\n"
         "  -v, --version                         Print version information and quit\n";
  return out.str();
}

caf::error merge_file(daemon_config& cfg, const std::set<std::string>& flag_keys,
                      std::string_view json, std::set<std::string>* file_keys) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded{json};
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded).get(doc))
    return bad(std::string{"invalid JSON: "} + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (doc.get(obj)) return bad("invalid JSON: the configuration must be an object");
  std::vector<std::string> unknown;
  std::vector<std::string> conflicts;
  daemon_config from_file = cfg;
  std::set<std::string> keys;
  for (auto kv : obj) {
    std::string key{kv.key};
    auto* o = find_key(key);
    if (o == nullptr) {
      unknown.push_back(key);
      continue;
    }
    if (auto err = apply_json(from_file, *o, kv.value)) return err;
    keys.insert(key);
    if (flag_keys.count(key) > 0)
      conflicts.push_back(key + ": (from flag: " + show_value(cfg, *o) +
                          ", from file: " + show_value(from_file, *o) + ")");
  }
  if (!unknown.empty()) {
    std::string msg = "the following directives don't match any configuration option: ";
    for (size_t i = 0; i < unknown.size(); ++i)
      msg += (i ? ", " : "") + unknown[i];
    return bad(msg);
  }
  if (!conflicts.empty()) {
    std::string msg =
        "the following directives are specified both as a flag and in the configuration file: ";
    for (size_t i = 0; i < conflicts.size(); ++i)
      msg += (i ? ", " : "") + conflicts[i];
    return bad(msg);
  }
  cfg = std::move(from_file);
  if (file_keys) *file_keys = std::move(keys);
  return caf::none;
}

caf::error validate(daemon_config& cfg) {
  if (cfg.tlsverify) cfg.tls = true;
  if (cfg.hosts.empty()) cfg.hosts.push_back(default_host);
  for (auto& h : cfg.hosts)
    if (auto err = check_host(h, cfg.tls)) return err;
  if (!log::parse_level(cfg.log_level))
    return bad("invalid log-level \"" + cfg.log_level +
               "\": expected debug, info, warn, error or fatal");
  for (auto* p : {&cfg.data_root, &cfg.exec_root, &cfg.pidfile})
    *p = absolute(*p);
  if (cfg.data_root.empty()) return bad("invalid data-root: empty path");
  if (cfg.exec_root.empty()) return bad("invalid exec-root: empty path");
  if (!cfg.storage_driver.empty() && cfg.storage_driver != "overlay2" &&
      cfg.storage_driver != "vfs")
    return bad("invalid storage-driver \"" + cfg.storage_driver +
               "\": supported drivers are overlay2 and vfs");
  if (cfg.exec_driver != "native" && cfg.exec_driver != "oci")
    return bad("invalid exec-driver \"" + cfg.exec_driver +
               "\": supported drivers are native and oci");
  if (cfg.log_driver != "json-file" && cfg.log_driver != "none")
    return bad("invalid log-driver \"" + cfg.log_driver + "\": supported are json-file and none");
  if (auto err = check_key_value_list(cfg.storage_opts, "storage-opts")) return err;
  if (auto err = check_key_value_list(cfg.exec_opts, "exec-opts")) return err;
  if (auto err = check_exec_opts(cfg.exec_opts)) return err;
  if (auto err = check_runtimes(cfg)) return err;
  if (auto err = check_key_value_list(cfg.log_opts, "log-opts")) return err;
  if (auto err = check_key_value_list(cfg.labels, "labels")) return err;
  if (!cfg.bip.empty() && !valid_cidr(cfg.bip))
    return bad("invalid bip \"" + cfg.bip + "\": expected an IP address in CIDR notation");
  if (!cfg.fixed_cidr.empty() && !valid_cidr(cfg.fixed_cidr))
    return bad("invalid fixed-cidr \"" + cfg.fixed_cidr + "\": expected CIDR notation");
  if (!cfg.bridge.empty() && !cfg.bip.empty()) return bad("bridge and bip cannot both be set");
  if (!valid_ip(cfg.ip)) return bad("invalid ip \"" + cfg.ip + "\": expected an IP address");
  if (cfg.mtu < 68 || cfg.mtu > 65535)
    return bad("invalid mtu " + std::to_string(cfg.mtu) + ": expected 68 to 65535");
  for (auto& d : cfg.dns)
    if (!valid_ip(d)) return bad("invalid dns \"" + d + "\": expected an IP address");
  for (auto& d : cfg.dns_search)
    if (d.empty() || d.size() > 255 || d.find(' ') != std::string::npos)
      return bad("invalid dns-search \"" + d + "\"");
  for (auto& m : cfg.registry_mirrors) {
    if (m.rfind("http://", 0) != 0 && m.rfind("https://", 0) != 0)
      return bad("invalid registry-mirrors entry \"" + m + "\": expected http:// or https://");
    auto rest = m.substr(m.find("://") + 3);
    auto slash = rest.find('/');
    if (rest.empty() || (slash != std::string::npos && slash + 1 != rest.size()))
      return bad("invalid registry-mirrors entry \"" + m + "\": a mirror has no path");
  }
  for (auto& r : cfg.insecure_registries) {
    if (r.find("://") != std::string::npos)
      return bad("invalid insecure-registries entry \"" + r + "\": it should not contain '://'");
    if (r.find('/') != std::string::npos && !valid_cidr(r))
      return bad("invalid insecure-registries entry \"" + r + "\": expected a CIDR or host:port");
  }
  if (cfg.max_concurrent_downloads < 1)
    return bad("invalid max-concurrent-downloads " + std::to_string(cfg.max_concurrent_downloads) +
               ": expected 1 or more");
  if (cfg.shutdown_timeout < 0)
    return bad("invalid shutdown-timeout " + std::to_string(cfg.shutdown_timeout) +
               ": expected 0 or more seconds");
  if (cfg.live_restore)
    return bad("live-restore is not supported by berthd: containers stop with the daemon");
  if (cfg.tls) {
    if (auto err = check_readable(cfg.tlscert, "tlscert")) return err;
    if (auto err = check_readable(cfg.tlskey, "tlskey")) return err;
    if (cfg.tlsverify)
      if (auto err = check_readable(cfg.tlscacert, "tlscacert")) return err;
  }
  return caf::none;
}

caf::expected<daemon_config> load(const flags& f) {
  auto cfg = f.cfg;
  if (::access(cfg.config_file.c_str(), F_OK) == 0) {
    auto text = host::read_file(cfg.config_file);
    if (auto err = merge_file(cfg, f.given, text))
      return make_error(ec::invalid_argument, "unable to configure berthd with file " +
                                                  cfg.config_file + ": " + error_message(err));
  } else if (f.config_file_given) {
    return make_error(ec::invalid_argument, "unable to configure berthd with file " +
                                                cfg.config_file + ": " + std::strerror(errno));
  }
  if (auto err = validate(cfg)) return err;
  return cfg;
}

caf::expected<reload_result> reload(const daemon_config& current, const flags& f) {
  auto fresh = f.cfg;
  std::set<std::string> file_keys;
  if (::access(current.config_file.c_str(), F_OK) == 0) {
    auto text = host::read_file(current.config_file);
    if (auto err = merge_file(fresh, f.given, text, &file_keys))
      return make_error(ec::invalid_argument, "unable to reload the configuration from " +
                                                  current.config_file + ": " + error_message(err));
  }
  if (auto err = validate(fresh))
    return make_error(ec::invalid_argument,
                      "unable to reload the configuration: " + error_message(err));
  reload_result out;
  out.cfg = current;
  for (auto& key : file_keys) {
    auto* o = find_key(key);
    auto before = show_value(current, *o);
    auto after = show_value(fresh, *o);
    if (before == after) continue;
    if (!o->reloadable) {
      out.ignored.push_back(key);
      continue;
    }
    std::visit([&](auto m) { out.cfg.*m = fresh.*m; }, o->member);
    out.changes.push_back(key + ": " + before + " -> " + after);
  }
  return out;
}

std::map<std::string, std::string> reload_attributes(const daemon_config& cfg) {
  std::map<std::string, std::string> attrs;
  for (auto& o : options)
    if (o.reloadable && *o.key != 0) attrs[o.key] = show_value(cfg, o);
  return attrs;
}

} // namespace berth::config
