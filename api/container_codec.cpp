// Containers in Docker's JSON (see container_codec.hpp). The create body is decoded with Go's
// encoding/json semantics (case-insensitive keys, unknown keys ignored, null = absent, the first
// type error wins, only the first JSON value of the body is read) and then validated in dockerd's
// order: runconfig (network mode, isolation, QoS), daemon/container.go verifyContainerSettings
// (working dir, stop signal, env, AutoRemove, extra hosts, port bindings, restart policy), then
// daemon_unix.go's platform checks (resources, shm, oom score, namespace modes, tmpfs), then the
// networking config.
#include "api/container_codec.hpp"

#include "api/system.hpp"
#include "messages/error.hpp"

#include <boost/json.hpp>
#include <boost/regex.hpp>
#include <simdjson.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <vector>

namespace berth::api {

namespace json = boost::json;

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

caf::error bad(std::string msg) {
  return make_error(ec::invalid_argument, std::move(msg));
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// Go's %q for the ASCII strings these messages quote.
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

/// Go's strconv.Atoi on a decimal int64 (optional sign, digits only).
std::optional<int64_t> go_atoi(std::string_view s) {
  if (s.empty()) return std::nullopt;
  size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(s[j]))) return std::nullopt;
  errno = 0;
  std::string str{s};
  char* end = nullptr;
  auto v = std::strtoll(str.c_str(), &end, 10);
  if (errno == ERANGE) return std::nullopt;
  return static_cast<int64_t>(v);
}

// -- Go's JSON syntax errors ----------------------------------------------------------------------

/// Go's quoteChar: how the scanner names the offending byte.
std::string quote_char(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  switch (c) {
  case '\a':
    return "'\\a'";
  case '\b':
    return "'\\b'";
  case '\f':
    return "'\\f'";
  case '\n':
    return "'\\n'";
  case '\r':
    return "'\\r'";
  case '\t':
    return "'\\t'";
  case '\v':
    return "'\\v'";
  case '\\':
    return "'\\\\'";
  default:
    break;
  }
  char buf[16];
  if (c < 0x20 || c == 0x7f) {
    std::snprintf(buf, sizeof buf, "'\\x%02x'", c);
    return buf;
  }
  if (c < 0x80) return std::string{"'"} + static_cast<char>(c) + "'";
  // Go converts the byte to the rune U+00XX and prints it as UTF-8.
  std::string out = "'";
  out += static_cast<char>(0xC0 | (c >> 6));
  out += static_cast<char>(0x80 | (c & 0x3F));
  return out + "'";
}

/// What Go's json.Decoder makes of the start of a body: the end of the first JSON value, or the
/// message of the first syntax error ("EOF" when there is no value at all, "unexpected EOF" when
/// it is cut). Iterative, so that deep nesting costs no stack.
struct scan_result {
  size_t end = 0;
  std::string error;
};

scan_result go_scan(std::string_view s) {
  size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
      ++i;
  };
  auto invalid = [&](const char* context) {
    return scan_result{i, "invalid character " + quote_char(static_cast<unsigned char>(s[i])) +
                              " " + context};
  };
  const scan_result eof{i, "unexpected EOF"};
  ws();
  if (i == s.size()) return {0, "EOF"};
  std::vector<char> stack;
  // Scan a string starting at s[i] == '"'; empty on success.
  auto scan_string = [&]() -> std::string {
    ++i;
    while (i < s.size()) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        ++i;
        return {};
      }
      if (c == '\\') {
        ++i;
        if (i == s.size()) return "unexpected EOF";
        char e = s[i];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            ++i;
            if (i == s.size()) return "unexpected EOF";
            if (!std::isxdigit(static_cast<unsigned char>(s[i])))
              return invalid("in \\u hexadecimal character escape").error;
          }
        } else if (std::string_view{"\"\\/bfnrt"}.find(e) == std::string_view::npos) {
          return invalid("in string escape code").error;
        }
        ++i;
        continue;
      }
      if (c < 0x20) return invalid("in string literal").error;
      ++i;
    }
    return "unexpected EOF";
  };
  auto digits = [&] {
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
      ++i;
  };
  auto scan_number = [&]() -> std::string {
    if (s[i] == '-') {
      ++i;
      if (i == s.size()) return "unexpected EOF";
      if (!std::isdigit(static_cast<unsigned char>(s[i])))
        return invalid("in numeric literal").error;
    }
    if (s[i] == '0')
      ++i;
    else
      digits();
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (i == s.size()) return "unexpected EOF";
      if (!std::isdigit(static_cast<unsigned char>(s[i])))
        return invalid("after decimal point in numeric literal").error;
      digits();
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (i == s.size()) return "unexpected EOF";
      if (!std::isdigit(static_cast<unsigned char>(s[i])))
        return invalid("in exponent of numeric literal").error;
      digits();
    }
    return {};
  };
  auto scan_literal = [&](std::string_view word) -> std::string {
    ++i;
    for (size_t k = 1; k < word.size(); ++k, ++i) {
      if (i == s.size()) return "unexpected EOF";
      if (s[i] != word[k]) {
        std::string ctx = "in literal " + std::string{word} + " (expecting '" + word[k] + "')";
        return invalid(ctx.c_str()).error;
      }
    }
    return {};
  };
  // Expect an object key (a string) then ':'; leaves i at the start of the value.
  auto scan_key = [&]() -> std::string {
    if (i == s.size()) return "unexpected EOF";
    if (s[i] != '"') return invalid("looking for beginning of object key string").error;
    if (auto e = scan_string(); !e.empty()) return e;
    ws();
    if (i == s.size()) return "unexpected EOF";
    if (s[i] != ':') return invalid("after object key").error;
    ++i;
    ws();
    return {};
  };
  for (;;) {
    // A value starts at s[i].
    if (i == s.size()) return eof;
    char c = s[i];
    std::string err;
    if (c == '{') {
      ++i;
      ws();
      if (i < s.size() && s[i] == '}') {
        ++i;
      } else {
        stack.push_back('{');
        if (auto e = scan_key(); !e.empty()) return {i, e};
        continue;
      }
    } else if (c == '[') {
      ++i;
      ws();
      if (i < s.size() && s[i] == ']') {
        ++i;
      } else {
        stack.push_back('[');
        continue;
      }
    } else if (c == '"') {
      err = scan_string();
    } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      err = scan_number();
    } else if (c == 't') {
      err = scan_literal("true");
    } else if (c == 'f') {
      err = scan_literal("false");
    } else if (c == 'n') {
      err = scan_literal("null");
    } else {
      return invalid("looking for beginning of value");
    }
    if (!err.empty()) return {i, err};
    // After a value: close containers or move to the next element.
    for (;;) {
      if (stack.empty()) return {i, {}};
      ws();
      if (i == s.size()) return eof;
      if (stack.back() == '{') {
        if (s[i] == ',') {
          ++i;
          ws();
          if (auto e = scan_key(); !e.empty()) return {i, e};
          break;
        }
        if (s[i] == '}') {
          ++i;
          stack.pop_back();
          continue;
        }
        return invalid("after object key:value pair");
      }
      if (s[i] == ',') {
        ++i;
        ws();
        break;
      }
      if (s[i] == ']') {
        ++i;
        stack.pop_back();
        continue;
      }
      return invalid("after array element");
    }
  }
}

// -- Go's decoder: type errors --------------------------------------------------------------------

/// The literal of a number (Go quotes it when it does not fit the target: "number 1.5").
std::string number_text(const element& v) {
  int64_t i;
  uint64_t u;
  double d;
  if (!v.get(i)) return std::to_string(i);
  if (!v.get(u)) return std::to_string(u);
  if (!v.get(d)) {
    char buf[40];
    for (int prec = 1; prec <= 17; ++prec) {
      std::snprintf(buf, sizeof buf, "%.*g", prec, d);
      if (std::strtod(buf, nullptr) == d) break;
    }
    return buf;
  }
  return "";
}

/// Where a field sits, for Go's message: "Go struct field <st>.<path> of type <T>".
struct field_ref {
  std::string st;
  std::string path;
};

/// The struct being decoded: its Go type name and the path of its fields from the root.
struct scope {
  std::string st;
  std::string prefix;
  field_ref at(std::string_view name) const { return {st, prefix + std::string{name}}; }
  scope sub(std::string_view type, std::string_view name) const {
    return {std::string{type}, prefix + std::string{name} + "."};
  }
};

class decoder {
public:
  caf::error first; // the earliest type error, as Go reports it

  void fail(std::string msg) {
    if (!first) first = bad(std::move(msg));
  }

  void type_error(const std::string& value, const field_ref& f, std::string_view go_type) {
    fail("json: cannot unmarshal " + value + " into Go struct field " + f.st + "." + f.path +
         " of type " + std::string{go_type});
  }

  void string(const element& v, const field_ref& f, std::string& out) {
    if (v.is_null()) return;
    std::string_view s;
    if (v.get(s)) return type_error(json_kind_of(v), f, "string");
    out.assign(s);
  }

  void boolean(const element& v, const field_ref& f, bool& out) {
    if (v.is_null()) return;
    bool b;
    if (v.get(b)) return type_error(json_kind_of(v), f, "bool");
    out = b;
  }

  /// A signed integer; false when null or wrong.
  bool integer(const element& v, const field_ref& f, int64_t& out,
               std::string_view go_type = "int64") {
    if (v.is_null()) return false;
    auto t = v.type();
    int64_t i = 0;
    if (t == element_type::INT64 && !v.get(i)) {
      out = i;
      return true;
    }
    if (t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE)
      type_error("number " + number_text(v), f, go_type);
    else
      type_error(json_kind_of(v), f, go_type);
    return false;
  }

  /// An unsigned integer of at most `max`.
  bool unsigned_integer(const element& v, const field_ref& f, uint64_t& out,
                        std::string_view go_type, uint64_t max = UINT64_MAX) {
    if (v.is_null()) return false;
    auto t = v.type();
    int64_t i = 0;
    uint64_t u = 0;
    if (t == element_type::INT64 && !v.get(i) && i >= 0 && static_cast<uint64_t>(i) <= max) {
      out = static_cast<uint64_t>(i);
      return true;
    }
    if (t == element_type::UINT64 && !v.get(u) && u <= max) {
      out = u;
      return true;
    }
    if (t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE)
      type_error("number " + number_text(v), f, go_type);
    else
      type_error(json_kind_of(v), f, go_type);
    return false;
  }

  /// []string: null clears, a null element is "".
  void strings(const element& v, const field_ref& f, std::vector<std::string>& out) {
    if (v.is_null()) {
      out.clear();
      return;
    }
    simdjson::dom::array arr;
    if (v.get(arr)) return type_error(json_kind_of(v), f, "[]string");
    out.clear();
    for (element x : arr) {
      std::string s;
      string(x, f, s);
      out.push_back(std::move(s));
    }
  }

  /// strslice.StrSlice: null = unset, a string is a one-element list, else a list of strings.
  /// Its UnmarshalJSON reports a bad value without the field ("Go value of type string").
  void strslice(const element& v, std::vector<std::string>& out, bool& set) {
    if (v.is_null()) {
      out.clear();
      set = false;
      return;
    }
    std::string_view s;
    if (!v.get(s)) {
      out = {std::string{s}};
      set = true;
      return;
    }
    simdjson::dom::array arr;
    if (!v.get(arr)) {
      std::vector<std::string> xs;
      for (element x : arr) {
        if (x.is_null()) {
          xs.emplace_back();
          continue;
        }
        std::string_view e;
        if (x.get(e)) return fail("json: cannot unmarshal array into Go value of type string");
        xs.emplace_back(e);
      }
      out = std::move(xs);
      set = true;
      return;
    }
    fail("json: cannot unmarshal " + json_kind_of(v) + " into Go value of type string");
  }

  /// map[string]string: null clears, a null value is "".
  void string_map(const element& v, const field_ref& f, std::map<std::string, std::string>& out) {
    if (v.is_null()) {
      out.clear();
      return;
    }
    simdjson::dom::object obj;
    if (v.get(obj)) return type_error(json_kind_of(v), f, "map[string]string");
    for (auto kv : obj) {
      std::string s;
      string(kv.value, f, s);
      out[std::string{kv.key}] = std::move(s);
    }
  }

  /// A set as a map to empty structs (nat.PortSet, map[string]struct {}): its keys, sorted.
  void key_set(const element& v, const field_ref& f, std::vector<std::string>& out,
               std::string_view go_type) {
    if (v.is_null()) {
      out.clear();
      return;
    }
    simdjson::dom::object obj;
    if (v.get(obj)) return type_error(json_kind_of(v), f, go_type);
    std::set<std::string> keys{out.begin(), out.end()};
    for (auto kv : obj) {
      if (!kv.value.is_null() && kv.value.type() != element_type::OBJECT)
        type_error(json_kind_of(kv.value), f, "struct {}");
      keys.emplace(kv.key);
    }
    out.assign(keys.begin(), keys.end());
  }

  /// A nested struct: its object, or nothing when null or wrong.
  std::optional<simdjson::dom::object> object(const element& v, const field_ref& f,
                                              std::string_view go_type) {
    if (v.is_null()) return std::nullopt;
    simdjson::dom::object obj;
    if (v.get(obj)) {
      type_error(json_kind_of(v), f, go_type);
      return std::nullopt;
    }
    return obj;
  }

  /// A field whose value berth does not keep: only its JSON type is checked.
  void check_string(const element& v, const field_ref& f) {
    std::string ignored;
    string(v, f, ignored);
  }
  void check_strings(const element& v, const field_ref& f) {
    std::vector<std::string> ignored;
    strings(v, f, ignored);
  }
  void check_integer(const element& v, const field_ref& f, std::string_view go_type = "int64") {
    int64_t ignored;
    integer(v, f, ignored, go_type);
  }
};

// -- the create body ------------------------------------------------------------------------------

/// What the create body says beyond container_config: fields dockerd validates that berth does
/// not keep (yet).
struct host_extras {
  // port -> (HostIp, HostPort) of each binding
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> port_bindings;
  std::vector<std::string> links;
  bool publish_all_ports = false;
  std::string isolation;
  std::string cgroupns_mode;
  int64_t oom_score_adj = 0;
  uint64_t io_maximum_iops = 0;
  uint64_t io_maximum_bandwidth = 0;
};

struct host_parse {
  host_config host;
  host_extras extras;
  bool present = false;
};

struct create_parse {
  container_config config;
  std::string mac_address;
  bool config_present = false;
  host_parse inner;  // "HostConfig"
  host_parse legacy; // HostConfig fields at the top level (API < 1.18)
  std::vector<std::pair<std::string, bool>> endpoints; // name, has settings
  std::vector<endpoint_config> endpoint_configs;       // the settings berth keeps
};

void decode_restart_policy(decoder& d, const element& v, const scope& s, host_config& h) {
  auto sc = s.sub("RestartPolicy", "RestartPolicy");
  auto obj = d.object(v, s.at("RestartPolicy"), "container.RestartPolicy");
  if (!obj) return;
  for (auto kv : *obj) {
    if (ieq(kv.key, "Name"))
      d.string(kv.value, sc.at("Name"), h.restart_policy);
    else if (ieq(kv.key, "MaximumRetryCount"))
      d.integer(kv.value, sc.at("MaximumRetryCount"), h.restart_max_retries, "int");
  }
}

void decode_log_config(decoder& d, const element& v, const scope& s, host_config& h) {
  auto sc = s.sub("LogConfig", "LogConfig");
  auto obj = d.object(v, s.at("LogConfig"), "container.LogConfig");
  if (!obj) return;
  for (auto kv : *obj) {
    if (ieq(kv.key, "Type"))
      d.string(kv.value, sc.at("Type"), h.log_type);
    else if (ieq(kv.key, "Config"))
      d.string_map(kv.value, sc.at("Config"), h.log_config);
  }
}

void decode_port_bindings(decoder& d, const element& v, const scope& s, host_extras& x) {
  auto f = s.at("PortBindings");
  auto obj = d.object(v, f, "nat.PortMap");
  if (!obj) {
    if (v.is_null()) x.port_bindings.clear();
    return;
  }
  auto sc = s.sub("PortBinding", "PortBindings");
  for (auto kv : *obj) {
    auto& hosts = x.port_bindings[std::string{kv.key}];
    hosts.clear();
    if (kv.value.is_null()) continue;
    simdjson::dom::array arr;
    if (kv.value.get(arr)) {
      d.type_error(json_kind_of(kv.value), f, "[]nat.PortBinding");
      continue;
    }
    for (element b : arr) {
      std::string host_ip, host_port;
      if (auto pb = d.object(b, f, "nat.PortBinding")) {
        for (auto bkv : *pb) {
          if (ieq(bkv.key, "HostPort"))
            d.string(bkv.value, sc.at("HostPort"), host_port);
          else if (ieq(bkv.key, "HostIp"))
            d.string(bkv.value, sc.at("HostIp"), host_ip);
        }
      }
      hosts.emplace_back(std::move(host_ip), std::move(host_port));
    }
  }
}

void decode_ulimits(decoder& d, const element& v, const scope& s, host_config& h) {
  auto f = s.at("Ulimits");
  if (v.is_null()) {
    h.ulimits.clear();
    return;
  }
  simdjson::dom::array arr;
  if (v.get(arr)) return d.type_error(json_kind_of(v), f, "[]*units.Ulimit");
  h.ulimits.clear();
  auto sc = s.sub("Ulimit", "Ulimits");
  for (element e : arr) {
    auto obj = d.object(e, f, "units.Ulimit");
    if (!obj) continue;
    ulimit u;
    for (auto kv : *obj) {
      if (ieq(kv.key, "Name"))
        d.string(kv.value, sc.at("Name"), u.name);
      else if (ieq(kv.key, "Soft"))
        d.integer(kv.value, sc.at("Soft"), u.soft);
      else if (ieq(kv.key, "Hard"))
        d.integer(kv.value, sc.at("Hard"), u.hard);
    }
    h.ulimits.push_back(std::move(u));
  }
}

void decode_mounts(decoder& d, const element& v, const scope& s, host_config& h) {
  auto f = s.at("Mounts");
  h.mounts.clear();
  if (v.is_null()) return;
  simdjson::dom::array arr;
  if (v.get(arr)) return d.type_error(json_kind_of(v), f, "[]mount.Mount");
  auto sc = s.sub("Mount", "Mounts");
  for (element e : arr) {
    auto obj = d.object(e, f, "mount.Mount");
    if (!obj) continue;
    mount_point m;
    m.type.clear();
    for (auto kv : *obj) {
      auto k = kv.key;
      if (ieq(k, "Type")) {
        d.string(kv.value, sc.at("Type"), m.type);
      } else if (ieq(k, "Source")) {
        d.string(kv.value, sc.at("Source"), m.source);
      } else if (ieq(k, "Target")) {
        d.string(kv.value, sc.at("Target"), m.destination);
      } else if (ieq(k, "ReadOnly")) {
        d.boolean(kv.value, sc.at("ReadOnly"), m.read_only);
      } else if (ieq(k, "BindOptions")) {
        auto b = d.object(kv.value, sc.at("BindOptions"), "mount.BindOptions");
        if (!b) continue;
        for (auto x : *b)
          if (ieq(x.key, "Propagation"))
            d.string(x.value, sc.at("BindOptions.Propagation"), m.propagation);
      } else if (ieq(k, "VolumeOptions")) {
        auto vo = d.object(kv.value, sc.at("VolumeOptions"), "mount.VolumeOptions");
        if (!vo) continue;
        for (auto x : *vo) {
          if (ieq(x.key, "NoCopy")) {
            d.boolean(x.value, sc.at("VolumeOptions.NoCopy"), m.no_copy);
          } else if (ieq(x.key, "Labels")) {
            d.string_map(x.value, sc.at("VolumeOptions.Labels"), m.labels);
          } else if (ieq(x.key, "DriverConfig")) {
            auto dc = d.object(x.value, sc.at("VolumeOptions.DriverConfig"), "mount.Driver");
            if (!dc) continue;
            for (auto y : *dc) {
              if (ieq(y.key, "Name"))
                d.string(y.value, sc.at("VolumeOptions.DriverConfig.Name"), m.driver);
              else if (ieq(y.key, "Options"))
                d.string_map(y.value, sc.at("VolumeOptions.DriverConfig.Options"), m.driver_opts);
            }
          }
        }
      } else if (ieq(k, "TmpfsOptions")) {
        auto t = d.object(kv.value, sc.at("TmpfsOptions"), "mount.TmpfsOptions");
        if (!t) continue;
        for (auto x : *t) {
          if (ieq(x.key, "SizeBytes")) {
            d.integer(x.value, sc.at("TmpfsOptions.SizeBytes"), m.tmpfs_size);
          } else if (ieq(x.key, "Mode")) {
            uint64_t mode = 0;
            if (d.unsigned_integer(x.value, sc.at("TmpfsOptions.Mode"), mode, "fs.FileMode"))
              m.tmpfs_mode = static_cast<uint32_t>(mode & 07777);
          }
        }
      }
    }
    h.mounts.push_back(std::move(m));
  }
}

// The HostConfig fields that map straight onto one member of host_config.
template <class T> using host_member = std::pair<const char*, T host_config::*>;
constexpr host_member<std::string> host_strings[] = {
    {"NetworkMode", &host_config::network_mode},   {"CpusetCpus", &host_config::cpuset_cpus},
    {"CpusetMems", &host_config::cpuset_mems},     {"IpcMode", &host_config::ipc_mode},
    {"PidMode", &host_config::pid_mode},           {"UTSMode", &host_config::uts_mode},
    {"CgroupParent", &host_config::cgroup_parent}, {"Runtime", &host_config::runtime},
};
constexpr host_member<bool> host_bools[] = {
    {"AutoRemove", &host_config::auto_remove},
    {"Privileged", &host_config::privileged},
    {"ReadonlyRootfs", &host_config::readonly_rootfs},
};
constexpr host_member<int64_t> host_integers[] = {
    {"Memory", &host_config::memory},
    {"MemorySwap", &host_config::memory_swap},
    {"MemoryReservation", &host_config::memory_reservation},
    {"NanoCpus", &host_config::nano_cpus},
    {"CpuShares", &host_config::cpu_shares},
    {"CpuPeriod", &host_config::cpu_period},
    {"CpuQuota", &host_config::cpu_quota},
    {"ShmSize", &host_config::shm_size},
};
constexpr host_member<std::vector<std::string>> host_lists[] = {
    {"Binds", &host_config::binds},
    {"SecurityOpt", &host_config::security_opt},
    {"GroupAdd", &host_config::group_add},
    {"Dns", &host_config::dns},
    {"DnsSearch", &host_config::dns_search},
    {"DnsOptions", &host_config::dns_options},
    {"ExtraHosts", &host_config::extra_hosts},
};
constexpr host_member<std::map<std::string, std::string>> host_maps[] = {
    {"Sysctls", &host_config::sysctls},
    {"Tmpfs", &host_config::tmpfs},
};

/// One field of a HostConfig (with its embedded Resources); false when the key is not one.
bool decode_host_field(decoder& d, std::string_view k, const element& v, const scope& s,
                       host_parse& p) {
  auto& h = p.host;
  auto& x = p.extras;
  auto is = [&](const char* name) { return ieq(k, name); };
  auto at = [&](const char* name) { return s.at(name); };
  for (auto& [name, m] : host_strings)
    if (is(name)) {
      d.string(v, at(name), h.*m);
      return true;
    }
  for (auto& [name, m] : host_bools)
    if (is(name)) {
      d.boolean(v, at(name), h.*m);
      return true;
    }
  for (auto& [name, m] : host_integers)
    if (is(name)) {
      d.integer(v, at(name), h.*m);
      return true;
    }
  for (auto& [name, m] : host_lists)
    if (is(name)) {
      d.strings(v, at(name), h.*m);
      return true;
    }
  for (auto& [name, m] : host_maps)
    if (is(name)) {
      d.string_map(v, at(name), h.*m);
      return true;
    }
  if (is("RestartPolicy")) {
    decode_restart_policy(d, v, s, h);
  } else if (is("Init")) {
    if (v.is_null()) {
      h.init = -1;
    } else {
      bool b = false;
      d.boolean(v, at("Init"), b);
      h.init = b ? 1 : 0;
    }
  } else if (is("CapAdd")) {
    bool set = false;
    d.strslice(v, h.cap_add, set);
  } else if (is("CapDrop")) {
    bool set = false;
    d.strslice(v, h.cap_drop, set);
  } else if (is("LogConfig")) {
    decode_log_config(d, v, s, h);
  } else if (is("MemorySwappiness")) {
    if (v.is_null())
      h.memory_swappiness = -1;
    else
      d.integer(v, at("MemorySwappiness"), h.memory_swappiness);
  } else if (is("OomKillDisable")) {
    if (v.is_null()) h.oom_kill_disable = false;
    d.boolean(v, at("OomKillDisable"), h.oom_kill_disable);
  } else if (is("PidsLimit")) {
    if (v.is_null())
      h.pids_limit = 0;
    else
      d.integer(v, at("PidsLimit"), h.pids_limit);
  } else if (is("Ulimits")) {
    decode_ulimits(d, v, s, h);
  } else if (is("Mounts")) {
    decode_mounts(d, v, s, h);
  } else if (is("ConsoleSize")) {
    if (v.is_null()) return true;
    simdjson::dom::array arr;
    if (v.get(arr)) {
      d.type_error(json_kind_of(v), at("ConsoleSize"), "[2]uint");
      return true;
    }
    std::vector<int64_t> size{0, 0};
    size_t i = 0;
    for (element e : arr) {
      uint64_t u = 0;
      if (d.unsigned_integer(e, at("ConsoleSize"), u, "uint") && i < 2)
        size[i] = static_cast<int64_t>(u);
      ++i;
    }
    h.console_size = std::move(size);
  } else if (is("PortBindings")) {
    decode_port_bindings(d, v, s, x);
  } else if (is("Links")) {
    d.strings(v, at("Links"), x.links);
  } else if (is("PublishAllPorts")) {
    d.boolean(v, at("PublishAllPorts"), x.publish_all_ports);
  } else if (is("Isolation")) {
    d.string(v, at("Isolation"), x.isolation);
  } else if (is("CgroupnsMode")) {
    d.string(v, at("CgroupnsMode"), x.cgroupns_mode);
  } else if (is("OomScoreAdj")) {
    d.integer(v, at("OomScoreAdj"), x.oom_score_adj, "int");
  } else if (is("IOMaximumIOps")) {
    d.unsigned_integer(v, at("IOMaximumIOps"), x.io_maximum_iops, "uint64");
  } else if (is("IOMaximumBandwidth")) {
    d.unsigned_integer(v, at("IOMaximumBandwidth"), x.io_maximum_bandwidth, "uint64");
  } else if (is("ContainerIDFile") || is("VolumeDriver") || is("Cgroup") || is("UsernsMode")) {
    d.check_string(v, s.at(k));
  } else if (is("VolumesFrom") || is("DeviceCgroupRules") || is("MaskedPaths") ||
             is("ReadonlyPaths")) {
    d.check_strings(v, s.at(k));
  } else if (is("CpuRealtimePeriod") || is("CpuRealtimeRuntime") || is("KernelMemory") ||
             is("KernelMemoryTCP") || is("CpuCount") || is("CpuPercent")) {
    d.check_integer(v, s.at(k));
  } else if (is("BlkioWeight")) {
    uint64_t ignored;
    d.unsigned_integer(v, at("BlkioWeight"), ignored, "uint16", 65535);
  } else {
    return false;
  }
  return true;
}

/// One field of Config (embedded at the top level of the create body); false when not one.
bool decode_config_field(decoder& d, std::string_view k, const element& v, const scope& s,
                         create_parse& p) {
  auto& c = p.config;
  auto is = [&](const char* name) { return ieq(k, name); };
  auto at = [&](const char* name) { return s.at(name); };
  if (is("Hostname")) {
    d.string(v, at("Hostname"), c.hostname);
  } else if (is("Domainname")) {
    d.string(v, at("Domainname"), c.domainname);
  } else if (is("User")) {
    d.string(v, at("User"), c.user);
  } else if (is("AttachStdin")) {
    d.boolean(v, at("AttachStdin"), c.attach_stdin);
  } else if (is("AttachStdout")) {
    d.boolean(v, at("AttachStdout"), c.attach_stdout);
  } else if (is("AttachStderr")) {
    d.boolean(v, at("AttachStderr"), c.attach_stderr);
  } else if (is("ExposedPorts")) {
    d.key_set(v, at("ExposedPorts"), c.exposed_ports, "nat.PortSet");
  } else if (is("Tty")) {
    d.boolean(v, at("Tty"), c.tty);
  } else if (is("OpenStdin")) {
    d.boolean(v, at("OpenStdin"), c.open_stdin);
  } else if (is("StdinOnce")) {
    d.boolean(v, at("StdinOnce"), c.stdin_once);
  } else if (is("Env")) {
    d.strings(v, at("Env"), c.env);
  } else if (is("Cmd")) {
    d.strslice(v, c.cmd, c.cmd_set);
  } else if (is("Image")) {
    d.string(v, at("Image"), c.image);
  } else if (is("Volumes")) {
    d.key_set(v, at("Volumes"), c.volumes, "map[string]struct {}");
  } else if (is("WorkingDir")) {
    d.string(v, at("WorkingDir"), c.working_dir);
  } else if (is("Entrypoint")) {
    d.strslice(v, c.entrypoint, c.entrypoint_set);
  } else if (is("NetworkDisabled")) {
    d.boolean(v, at("NetworkDisabled"), c.network_disabled);
  } else if (is("MacAddress")) {
    d.string(v, at("MacAddress"), p.mac_address);
  } else if (is("Labels")) {
    d.string_map(v, at("Labels"), c.labels);
  } else if (is("StopSignal")) {
    d.string(v, at("StopSignal"), c.stop_signal);
  } else if (is("StopTimeout")) {
    if (v.is_null())
      c.stop_timeout = -1;
    else
      d.integer(v, at("StopTimeout"), c.stop_timeout, "int");
  } else if (is("OnBuild")) {
    d.check_strings(v, at("OnBuild"));
  } else if (is("ArgsEscaped")) {
    bool ignored = false;
    d.boolean(v, at("ArgsEscaped"), ignored);
  } else if (is("Healthcheck")) {
    d.object(v, at("Healthcheck"), "container.HealthConfig");
  } else if (is("Shell")) {
    std::vector<std::string> ignored;
    bool set = false;
    d.strslice(v, ignored, set);
  } else {
    return false;
  }
  return true;
}

void decode_networking(decoder& d, const element& v, const scope& s, create_parse& p) {
  auto obj = d.object(v, s.at("NetworkingConfig"), "network.NetworkingConfig");
  if (!obj) return;
  auto sc = s.sub("NetworkingConfig", "NetworkingConfig");
  for (auto kv : *obj) {
    if (!ieq(kv.key, "EndpointsConfig")) continue;
    auto f = sc.at("EndpointsConfig");
    if (kv.value.is_null()) {
      p.endpoints.clear();
      continue;
    }
    auto eps = d.object(kv.value, f, "map[string]*network.EndpointSettings");
    if (!eps) continue;
    p.endpoints.clear();
    p.endpoint_configs.clear();
    auto esc = sc.sub("EndpointSettings", "EndpointsConfig.");
    for (auto ep : *eps) {
      if (!ep.value.is_null() && ep.value.type() != element_type::OBJECT)
        d.type_error(json_kind_of(ep.value), f, "network.EndpointSettings");
      auto name = std::string{ep.key};
      auto it = std::find_if(p.endpoints.begin(), p.endpoints.end(),
                             [&](auto& e) { return e.first == name; });
      if (it != p.endpoints.end())
        it->second = !ep.value.is_null();
      else
        p.endpoints.emplace_back(name, !ep.value.is_null());
      endpoint_config cfg{name, {}, {}, {}};
      simdjson::dom::object settings;
      if (!ep.value.get(settings))
        for (auto kv2 : settings) {
          if (ieq(kv2.key, "Aliases")) {
            d.strings(kv2.value, esc.at("Aliases"), cfg.aliases);
          } else if (ieq(kv2.key, "IPAMConfig")) {
            auto ipam = d.object(kv2.value, esc.at("IPAMConfig"), "network.EndpointIPAMConfig");
            if (!ipam) continue;
            for (auto kv3 : *ipam)
              if (ieq(kv3.key, "IPv4Address"))
                d.string(kv3.value, esc.at("IPAMConfig.IPv4Address"), cfg.ipv4_address);
          }
        }
      p.endpoint_configs.erase(std::remove_if(p.endpoint_configs.begin(), p.endpoint_configs.end(),
                                              [&](auto& e) { return e.network == name; }),
                               p.endpoint_configs.end());
      p.endpoint_configs.push_back(std::move(cfg));
    }
  }
}

// -- validation -----------------------------------------------------------------------------------

/// Linux's signal names as moby's signal.SignalMap has them (without "SIG").
const std::map<std::string, int>& signal_map() {
  static const std::map<std::string, int> m = [] {
    std::map<std::string, int> out{
        {"ABRT", 6},   {"ALRM", 14},   {"BUS", 7},    {"CHLD", 17},   {"CLD", 17},  {"CONT", 18},
        {"FPE", 8},    {"HUP", 1},     {"ILL", 4},    {"INT", 2},     {"IO", 29},   {"IOT", 6},
        {"KILL", 9},   {"PIPE", 13},   {"POLL", 29},  {"PROF", 27},   {"PWR", 30},  {"QUIT", 3},
        {"SEGV", 11},  {"STKFLT", 16}, {"STOP", 19},  {"SYS", 31},    {"TERM", 15}, {"TRAP", 5},
        {"TSTP", 20},  {"TTIN", 21},   {"TTOU", 22},  {"UNUSED", 31}, {"URG", 23},  {"USR1", 10},
        {"USR2", 12},  {"VTALRM", 26}, {"WINCH", 28}, {"XCPU", 24},   {"XFSZ", 25}, {"RTMIN", 34},
        {"RTMAX", 64},
    };
    for (int i = 1; i <= 15; ++i) {
      out["RTMIN+" + std::to_string(i)] = 34 + i;
      out["RTMAX-" + std::to_string(i)] = 64 - i;
    }
    return out;
  }();
  return m;
}

/// moby's signal.ParseSignal: a non-zero number, or a name with or without "SIG".
caf::error check_signal(const std::string& raw) {
  if (auto n = go_atoi(raw)) {
    if (*n == 0) return bad("invalid signal: " + raw);
    return caf::none;
  }
  auto name = upper(raw);
  if (starts_with(name, "SIG")) name = name.substr(3);
  if (!signal_map().count(name)) return bad("invalid signal: " + raw);
  return caf::none;
}

bool valid_ip(const std::string& s) {
  auto t = s;
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back())))
    t.pop_back();
  size_t b = 0;
  while (b < t.size() && std::isspace(static_cast<unsigned char>(t[b])))
    ++b;
  t = t.substr(b);
  unsigned char buf[16];
  return inet_pton(AF_INET, t.c_str(), buf) == 1 || inet_pton(AF_INET6, t.c_str(), buf) == 1;
}

bool is_container_mode(const std::string& mode) {
  return starts_with(mode, "container:");
}

/// Legacy links (HostConfig.Links, docker run --link name[:alias]), moby's opts.ParseLink. On a
/// user-defined network they are aliases of the linked containers that only this container
/// resolves (moby's endpoint links); the default bridge's (/etc/hosts entries and <ALIAS>_PORT_...
/// variables) are not built: 501.
caf::error take_links(container_config& c, const host_config& h,
                      const std::vector<std::string>& links) {
  if (links.empty()) return caf::none;
  auto& mode = h.network_mode;
  if (mode == "default" || mode == "bridge")
    return make_error(ec::not_implemented,
                      "legacy links (--link) on the default bridge network are not built yet "
                      "(its /etc/hosts entries and link variables); on a user-defined network "
                      "containers reach each other by name, and --link adds an alias");
  std::vector<std::string> parsed;
  for (auto& l : links) {
    if (l.empty()) return bad("empty string specified for links");
    auto colon = l.find(':');
    if (colon != std::string::npos && l.find(':', colon + 1) != std::string::npos)
      return bad("bad format for links: " + l);
    auto name = l.substr(0, colon);
    auto alias = colon == std::string::npos ? name : l.substr(colon + 1);
    if (starts_with(name, "/")) { // "/name:/container/alias", from an inspect
      name = name.substr(1);
      alias = alias.substr(alias.rfind('/') + 1);
    }
    parsed.push_back(name + ":" + alias);
  }
  auto it = std::find_if(c.endpoints.begin(), c.endpoints.end(),
                         [&](auto& e) { return e.network == mode; });
  if (it == c.endpoints.end()) it = c.endpoints.insert(c.endpoints.end(), {mode, {}, {}, {}});
  it->links = std::move(parsed);
  return caf::none;
}

/// runconfig's validateNetMode and validateNetContainerMode.
caf::error check_net_mode(const create_parse& p, const host_config& h, const host_extras& x) {
  auto& c = p.config;
  auto& mode = h.network_mode;
  // strings.Split(mode, ":"): "container" needs a non-empty second part.
  if (mode == "container" ||
      (starts_with(mode, "container:") && (mode.size() == 10 || mode[10] == ':')))
    return bad("Invalid network mode: invalid container format container:<name|id>");
  bool container = is_container_mode(mode);
  if (container && !c.hostname.empty())
    return bad("conflicting options: hostname and the network mode");
  if (container && !x.links.empty())
    return bad("conflicting options: container type network can't be used with links. This would "
               "result in undefined behavior");
  if (container && !h.dns.empty()) return bad("conflicting options: dns and the network mode");
  if (container && !h.extra_hosts.empty())
    return bad("conflicting options: custom host-to-IP mapping and the network mode");
  if ((container || mode == "host") && !p.mac_address.empty())
    return bad("conflicting options: mac-address and the network mode");
  if (container && (!x.port_bindings.empty() || x.publish_all_ports))
    return bad("conflicting options: port publishing and the container type network mode");
  if (container && !c.exposed_ports.empty())
    return bad("conflicting options: port exposing and the container type network mode");
  if (h.uts_mode == "host" && !c.hostname.empty())
    return bad("conflicting options: hostname and the UTS mode");
  if (mode == "host" && !x.links.empty())
    return bad("conflicting options: host type networking can't be used with links. This would "
               "result in undefined behavior");
  return caf::none;
}

/// daemon/container.go validateContainerConfig.
caf::error check_container_config(const container_config& c) {
  if (!c.working_dir.empty() && c.working_dir[0] != '/')
    return bad("the working directory '" + c.working_dir +
               "' is invalid, it needs to be an absolute path");
  if (!c.stop_signal.empty())
    if (auto err = check_signal(c.stop_signal)) return err;
  for (auto& e : c.env)
    if (e.empty() || e[0] == '=') return bad("invalid environment variable: " + e);
  return caf::none;
}

/// daemon/container.go validateHostConfig.
caf::error check_host_config(const host_config& h, const host_extras& x) {
  if (h.auto_remove && h.restart_policy != "no" && !h.restart_policy.empty())
    return bad("can't create 'AutoRemove' container with restart policy");
  for (auto& eh : h.extra_hosts) {
    auto colon = eh.find(':');
    if (colon == std::string::npos || colon == 0)
      return bad("bad format for add-host: " + go_quote(eh));
    auto ip = eh.substr(colon + 1);
    if (ip != "host-gateway" && !valid_ip(ip))
      return bad("invalid IP address in add-host: " + go_quote(ip));
  }
  for (auto& [port, hosts] : x.port_bindings) {
    auto container_port = split_proto_port(port).second;
    if (!container_port.empty() && !parse_port_number(container_port))
      return bad("invalid port specification: " + go_quote(container_port));
    for (auto& hp : hosts) {
      auto host_port = split_proto_port(hp.second).second;
      uint64_t a, b;
      if (!host_port.empty() && !parse_port_range(host_port, a, b))
        return bad("invalid port specification: " + go_quote(hp.second));
      if (!hp.first.empty() && !valid_ip(hp.first))
        return bad("invalid IP address: " + go_quote(hp.first));
    }
  }
  auto& rp = h.restart_policy;
  if (rp == "always" || rp == "unless-stopped" || rp == "no") {
    if (h.restart_max_retries != 0)
      return bad("maximum retry count cannot be used with restart policy '" + rp + "'");
  } else if (rp == "on-failure") {
    if (h.restart_max_retries < 0) return bad("maximum retry count cannot be negative");
  } else if (!rp.empty()) {
    return bad("invalid restart policy '" + rp + "'");
  }
  return caf::none;
}

bool valid_shared_mode(const std::string& mode, std::initializer_list<const char*> plain) {
  for (auto p : plain)
    if (mode == p) return true;
  return starts_with(mode, "container:") && mode.size() > 10;
}

/// The names go-units knows for --ulimit.
bool known_ulimit(const std::string& name) {
  static const std::set<std::string> names{"core",    "cpu",      "data",   "fsize",      "locks",
                                           "memlock", "msgqueue", "nice",   "nofile",     "nproc",
                                           "rss",     "rtprio",   "rttime", "sigpending", "stack"};
  return names.count(name) > 0;
}

/// daemon_unix.go verifyPlatformContainerResources and verifyPlatformContainerSettings (the checks
/// that do not depend on what the host supports, plus the CPU count).
caf::error check_platform(const host_config& h, const host_extras& x) {
  constexpr int64_t min_memory = 6 * 1024 * 1024;
  if (h.memory != 0 && h.memory < min_memory) return bad("Minimum memory limit allowed is 6MB");
  if (h.memory > 0 && h.memory_swap > 0 && h.memory_swap < h.memory)
    return bad("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (h.memory == 0 && h.memory_swap > 0)
    return bad("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (h.memory_swappiness < -1 || h.memory_swappiness > 100)
    return bad("Invalid value: " + std::to_string(h.memory_swappiness) +
               ", valid memory swappiness range is 0-100");
  if (h.memory_reservation > 0 && h.memory_reservation < min_memory)
    return bad("Minimum memory reservation allowed is 6MB");
  if (h.memory > 0 && h.memory_reservation > 0 && h.memory < h.memory_reservation)
    return bad("Minimum memory limit can not be less than memory reservation limit, see usage");
  if (h.nano_cpus > 0 && h.cpu_period > 0)
    return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (h.nano_cpus > 0 && h.cpu_quota > 0)
    return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  auto ncpu = std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN));
  if (h.nano_cpus < 0 || h.nano_cpus > static_cast<int64_t>(ncpu) * 1000000000)
    return bad("Range of CPUs is from 0.01 to " + std::to_string(ncpu) + ".00, as there are only " +
               std::to_string(ncpu) + " CPUs available");
  if (h.cpu_period != 0 && (h.cpu_period < 1000 || h.cpu_period > 1000000))
    return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. "
               "1000000)");
  if (h.cpu_quota > 0 && h.cpu_quota < 1000)
    return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  if (h.shm_size < 0) return bad("SHM size can not be less than 0");
  if (x.oom_score_adj < -1000 || x.oom_score_adj > 1000)
    return bad("Invalid value " + std::to_string(x.oom_score_adj) +
               ", range for oom score adj is [-1000, 1000]");
  if (!valid_shared_mode(h.ipc_mode, {"", "host", "private", "shareable", "none"}))
    return bad("invalid IPC mode: " + h.ipc_mode);
  if (!valid_shared_mode(h.pid_mode, {"", "host"})) return bad("invalid PID mode: " + h.pid_mode);
  if (h.uts_mode != "" && h.uts_mode != "host") return bad("invalid UTS mode: " + h.uts_mode);
  if (x.cgroupns_mode != "" && x.cgroupns_mode != "host" && x.cgroupns_mode != "private")
    return bad("invalid cgroup namespace mode: " + x.cgroupns_mode);
  for (auto& [dest, opts] : h.tmpfs) {
    if (dest.empty() || dest[0] != '/')
      return bad("invalid mount config for type \"tmpfs\": invalid mount path: '" + dest +
                 "' mount path must be absolute");
  }
  for (auto& u : h.ulimits) {
    if (!known_ulimit(u.name)) return bad("invalid ulimit type: " + u.name);
    if (u.soft > u.hard)
      return bad("ulimit soft limit must be less than or equal to hard limit: " +
                 std::to_string(u.soft) + " > " + std::to_string(u.hard));
  }
  return caf::none;
}

/// moby's NormalizeLegacyCapabilities (without the kernel check: the exec driver rejects
/// capabilities it does not know when the container starts).
void normalize_caps(std::vector<std::string>& caps) {
  for (auto& c : caps) {
    c = upper(c);
    if (c != "ALL" && !starts_with(c, "CAP_")) c = "CAP_" + c;
  }
}

} // namespace

/// How Go's UnmarshalTypeError names a JSON value.
std::string json_kind_of(const simdjson::dom::element& v) {
  switch (v.type()) {
  case element_type::STRING:
    return "string";
  case element_type::INT64:
  case element_type::UINT64:
  case element_type::DOUBLE:
    return "number";
  case element_type::BOOL:
    return "bool";
  case element_type::ARRAY:
    return "array";
  case element_type::OBJECT:
    return "object";
  default:
    return "null";
  }
}

caf::expected<container_config> parse_create(std::string_view body) {
  auto scanned = go_scan(body);
  if (scanned.error == "EOF") return bad("config cannot be empty in order to create a container");
  if (!scanned.error.empty()) return bad(scanned.error);
  simdjson::dom::parser parser;
  simdjson::padded_string padded{body.data(), scanned.end};
  element doc;
  if (auto err = parser.parse(padded).get(doc))
    return bad(std::string{"invalid JSON: "} + simdjson::error_message(err));
  if (doc.is_null()) return bad("config cannot be empty in order to create a container");
  simdjson::dom::object top;
  if (doc.get(top))
    return bad("json: cannot unmarshal " + json_kind_of(doc) +
               " into Go value of type runconfig.ContainerConfigWrapper");
  decoder d;
  create_parse p;
  const scope wrapper{"ContainerConfigWrapper", ""};
  const scope inner{"HostConfig", "HostConfig."};
  for (auto kv : top) {
    auto k = kv.key;
    auto& v = kv.value;
    if (ieq(k, "HostConfig")) {
      if (v.is_null()) {
        p.inner = host_parse{};
        continue;
      }
      auto obj = d.object(v, wrapper.at("HostConfig"), "container.HostConfig");
      if (!obj) continue;
      p.inner.present = true;
      for (auto hkv : *obj)
        decode_host_field(d, hkv.key, hkv.value, inner, p.inner);
    } else if (ieq(k, "NetworkingConfig")) {
      decode_networking(d, v, wrapper, p);
    } else if (ieq(k, "Cpuset")) {
      d.check_string(v, wrapper.at("Cpuset"));
    } else if (decode_config_field(d, k, v, wrapper, p)) {
      p.config_present = true;
    } else if (decode_host_field(d, k, v, wrapper, p.legacy)) {
      p.legacy.present = true;
    }
  }
  if (d.first) return d.first;
  if (!p.config_present) return bad("config cannot be empty in order to create a container");
  // runconfig's getHostConfig: the inner HostConfig wins; a few legacy top-level fields fill it.
  host_parse chosen;
  if (p.inner.present) {
    chosen = p.inner;
    if (p.legacy.present) {
      auto& lh = p.legacy.host;
      auto& ch = chosen.host;
      if (ch.memory == 0) ch.memory = lh.memory;
      if (ch.memory_swap == 0) ch.memory_swap = lh.memory_swap;
      if (ch.cpu_shares == 0) ch.cpu_shares = lh.cpu_shares;
      if (ch.cpuset_cpus.empty()) ch.cpuset_cpus = lh.cpuset_cpus;
    }
  } else if (p.legacy.present) {
    chosen = p.legacy;
  }
  auto& h = chosen.host;
  auto& x = chosen.extras;
  if (h.network_mode.empty()) h.network_mode = "default";
  // runconfig validations.
  if (auto err = check_net_mode(p, h, x)) return err;
  if (!x.isolation.empty() && !ieq(x.isolation, "default"))
    return bad("Invalid isolation: " + go_quote(x.isolation) + " - linux only supports 'default'");
  if (x.io_maximum_bandwidth != 0)
    return bad("Invalid QoS settings: linux does not support configuration of maximum bandwidth");
  if (x.io_maximum_iops != 0)
    return bad("Invalid QoS settings: linux does not support configuration of maximum IOPs");
  // The daemon's.
  if (auto err = check_container_config(p.config)) return err;
  if (auto err = check_host_config(h, x)) return err;
  if (auto err = check_platform(h, x)) return err;
  if (p.endpoints.size() > 1) {
    std::vector<std::string> names;
    for (auto& e : p.endpoints)
      names.push_back(e.first);
    std::sort(names.begin(), names.end());
    std::string list;
    for (auto& n : names)
      list += (list.empty() ? "" : ", ") + n;
    return bad("Container cannot be connected to network endpoints: " + list);
  }
  for (auto& [name, has] : p.endpoints)
    if (!has) return bad("no EndpointSettings for " + name);
  for (auto& e : p.endpoint_configs)
    if (unsigned char buf[4];
        !e.ipv4_address.empty() && inet_pton(AF_INET, e.ipv4_address.c_str(), buf) != 1)
      return bad("invalid IPv4 address: " + e.ipv4_address);
  p.config.endpoints = std::move(p.endpoint_configs);
  if (auto err = take_links(p.config, h, x.links)) return err;
  if (h.restart_policy.empty()) h.restart_policy = "no";
  h.port_bindings.clear();
  for (auto& [port, hosts] : x.port_bindings)
    for (auto& [ip, host_port] : hosts)
      h.port_bindings.push_back(port_binding{port, ip, host_port});
  h.publish_all_ports = x.publish_all_ports;
  normalize_caps(h.cap_add);
  normalize_caps(h.cap_drop);
  p.config.host = std::move(h);
  return std::move(p.config);
}

caf::expected<host_config> parse_update(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded{body};
  element doc;
  if (auto err = parser.parse(padded).get(doc))
    return bad(std::string{"invalid JSON: "} + simdjson::error_message(err));
  simdjson::dom::object top;
  if (doc.get(top))
    return bad("json: cannot unmarshal " + json_kind_of(doc) +
               " into Go value of type container.UpdateConfig");
  decoder d;
  host_parse p;
  p.host = host_config{};
  p.host.restart_policy.clear(); // "" = unchanged
  const scope s{"UpdateConfig", ""};
  for (auto kv : top)
    decode_host_field(d, kv.key, kv.value, s, p);
  if (d.first) return d.first;
  if (p.host.memory != 0 && p.host.memory < 6 * 1024 * 1024)
    return bad("Minimum memory limit allowed is 6MB");
  return std::move(p.host);
}

caf::expected<exec_config> parse_exec(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded{body};
  element doc;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return bad("got EOF while reading request body");
  if (auto err = parser.parse(padded).get(doc))
    return bad(std::string{"invalid JSON: "} + simdjson::error_message(err));
  simdjson::dom::object top;
  if (doc.get(top))
    return bad("json: cannot unmarshal " + json_kind_of(doc) +
               " into Go value of type types.ExecConfig");
  decoder d;
  exec_config c;
  const scope s{"ExecConfig", ""};
  for (auto kv : top) {
    auto k = kv.key;
    auto& v = kv.value;
    if (ieq(k, "User"))
      d.string(v, s.at("User"), c.user);
    else if (ieq(k, "Privileged"))
      d.boolean(v, s.at("Privileged"), c.privileged);
    else if (ieq(k, "Tty"))
      d.boolean(v, s.at("Tty"), c.tty);
    else if (ieq(k, "AttachStdin"))
      d.boolean(v, s.at("AttachStdin"), c.attach_stdin);
    else if (ieq(k, "AttachStdout"))
      d.boolean(v, s.at("AttachStdout"), c.attach_stdout);
    else if (ieq(k, "AttachStderr"))
      d.boolean(v, s.at("AttachStderr"), c.attach_stderr);
    else if (ieq(k, "DetachKeys"))
      d.string(v, s.at("DetachKeys"), c.detach_keys);
    else if (ieq(k, "Env"))
      d.strings(v, s.at("Env"), c.env);
    else if (ieq(k, "WorkingDir"))
      d.string(v, s.at("WorkingDir"), c.working_dir);
    else if (ieq(k, "Cmd")) {
      bool set = false;
      d.strslice(v, c.cmd, set);
    }
  }
  if (d.first) return d.first;
  if (c.cmd.empty()) return bad("No exec command specified");
  if (!c.working_dir.empty() && c.working_dir[0] != '/')
    return bad("the working directory '" + c.working_dir +
               "' is invalid, it needs to be an "
               "absolute path");
  return c;
}

std::string encode_exec_inspect(const exec_info& x) {
  boost::json::object pc;
  pc["tty"] = x.config.tty;
  pc["entrypoint"] = x.config.cmd.empty() ? std::string{} : x.config.cmd[0];
  boost::json::array args;
  for (size_t i = 1; i < x.config.cmd.size(); ++i)
    args.emplace_back(x.config.cmd[i]);
  pc["arguments"] = std::move(args);
  pc["privileged"] = x.config.privileged;
  if (!x.config.user.empty()) pc["user"] = x.config.user;
  boost::json::object o;
  o["ID"] = x.id;
  o["Running"] = x.running;
  o["ExitCode"] = x.exited ? boost::json::value(x.exit_code) : boost::json::value(nullptr);
  o["ProcessConfig"] = std::move(pc);
  o["OpenStdin"] = x.config.attach_stdin;
  o["OpenStderr"] = x.config.attach_stderr;
  o["OpenStdout"] = x.config.attach_stdout;
  o["CanRemove"] = false;
  o["ContainerID"] = x.container_id;
  o["DetachKeys"] = x.config.detach_keys;
  o["Pid"] = x.pid;
  return boost::json::serialize(o);
}

caf::expected<std::string> validate_name(const std::string& name) {
  if (name.empty()) return std::string{};
  auto invalid = [&] {
    return bad("Invalid container name (" + name + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  };
  std::string_view s = name;
  if (s[0] == '/') s.remove_prefix(1);               // strings.TrimPrefix(name, "/")
  if (!s.empty() && s[0] == '/') s.remove_prefix(1); // the pattern's own optional "/"
  if (s.size() < 2) return invalid();
  if (!std::isalnum(static_cast<unsigned char>(s[0]))) return invalid();
  for (size_t i = 1; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') return invalid();
  }
  return name[0] == '/' ? name : "/" + name;
}

// -- encoding -------------------------------------------------------------------------------------

namespace {

/// Go's zero time.Time for 0, else RFC 3339 with nanoseconds.
std::string go_time(int64_t nanos) {
  return nanos == 0 ? std::string{"0001-01-01T00:00:00Z"} : rfc3339_nano(nanos);
}

json::array string_array(const std::vector<std::string>& xs) {
  json::array out;
  for (auto& x : xs)
    out.emplace_back(x);
  return out;
}

/// A []string as Go writes it: null when empty.
json::value strings_or_null(const std::vector<std::string>& xs) {
  if (xs.empty()) return nullptr;
  return string_array(xs);
}

json::object string_object(const std::map<std::string, std::string>& m) {
  json::object out;
  for (auto& [k, v] : m)
    out[k] = v;
  return out;
}

/// A set written as a map to empty structs ({"80/tcp": {}}).
json::object key_object(const std::vector<std::string>& keys) {
  json::object out;
  for (auto& k : keys)
    out[k] = json::object{};
  return out;
}

/// The networks a container is attached to, by name: from its network mode until the network
/// controller exists (container:<id> shares another's stack and has none of its own).
std::vector<std::string> network_names(const container_config& c) {
  auto& mode = c.host.network_mode;
  if (is_container_mode(mode)) return {};
  if (mode == "host" || mode == "none") return {mode};
  // a config made before normalize_endpoints (tests) may still say "default"
  std::vector<std::string> out;
  for (auto& e : c.endpoints)
    out.push_back(e.network == "default" ? "bridge" : e.network);
  if (out.empty()) out.push_back(mode.empty() || mode == "default" ? "bridge" : mode);
  return out;
}

/// An EndpointSettings with nothing assigned yet.
json::object empty_endpoint() {
  json::object ep;
  ep["IPAMConfig"] = nullptr;
  ep["Links"] = nullptr;
  ep["Aliases"] = nullptr;
  ep["NetworkID"] = "";
  ep["EndpointID"] = "";
  ep["Gateway"] = "";
  ep["IPAddress"] = "";
  ep["IPPrefixLen"] = 0;
  ep["IPv6Gateway"] = "";
  ep["GlobalIPv6Address"] = "";
  ep["GlobalIPv6PrefixLen"] = 0;
  ep["MacAddress"] = "";
  ep["DriverOpts"] = nullptr;
  return ep;
}

json::object networks_of(const container_info& c) {
  json::object out;
  for (auto& n : network_names(c.config))
    out[n] = empty_endpoint();
  for (auto& e : c.config.endpoints) {
    auto it = out.find(e.network == "default" ? "bridge" : e.network);
    if (it == out.end()) continue;
    auto& o = it->value().as_object();
    if (!e.ipv4_address.empty()) o["IPAMConfig"] = json::object{{"IPv4Address", e.ipv4_address}};
    o["Aliases"] = strings_or_null(e.aliases);
    o["Links"] = strings_or_null(e.links);
  }
  for (auto& ep : c.networks) {
    auto o = empty_endpoint();
    if (!ep.ipv4_config.empty()) o["IPAMConfig"] = json::object{{"IPv4Address", ep.ipv4_config}};
    auto aliases = ep.aliases;
    if (ep.dns) aliases.insert(aliases.begin(), c.id.substr(0, 12)); // moby adds the short ID
    o["Aliases"] = strings_or_null(aliases);
    o["NetworkID"] = ep.network_id;
    o["EndpointID"] = ep.endpoint_id;
    o["Gateway"] = ep.gateway;
    o["IPAddress"] = ep.ip_address;
    o["IPPrefixLen"] = ep.prefix_len;
    o["MacAddress"] = ep.mac_address;
    for (auto& e : c.config.endpoints)
      if (e.network == ep.network || e.network == ep.network_id)
        o["Links"] = strings_or_null(e.links);
    out[ep.network] = std::move(o);
  }
  return out;
}

/// HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}.
json::object encode_port_bindings(const std::vector<port_binding>& bindings) {
  json::object out;
  for (auto& b : bindings) {
    json::object one;
    one["HostIp"] = b.host_ip;
    one["HostPort"] = b.host_port;
    auto it = out.find(b.port);
    if (it == out.end()) it = out.emplace(b.port, json::array{}).first;
    it->value().as_array().push_back(std::move(one));
  }
  return out;
}

/// NetworkSettings.Ports of a running container: the bound ports, and the exposed ones that are
/// not published (null), as moby's.
json::object encode_ports(const container_info& c) {
  json::object out;
  if (c.networks.empty()) return out;
  for (auto p : c.config.exposed_ports) {
    if (p.find('/') == std::string::npos) p += "/tcp";
    out[p] = nullptr;
  }
  for (auto& ep : c.networks) {
    auto bound = encode_port_bindings(ep.ports);
    for (auto& kv : bound)
      out[kv.key()] = kv.value();
  }
  return out;
}

json::object encode_state(const container_state& s) {
  auto st = s.status;
  json::object o;
  o["Status"] = to_string(st);
  o["Running"] = st == container_status::running || st == container_status::paused ||
                 st == container_status::restarting;
  o["Paused"] = st == container_status::paused;
  o["Restarting"] = st == container_status::restarting;
  o["OOMKilled"] = s.oom_killed;
  o["Dead"] = st == container_status::dead;
  o["Pid"] = s.pid;
  o["ExitCode"] = s.exit_code;
  o["Error"] = s.error;
  o["StartedAt"] = go_time(s.started_at_nano);
  o["FinishedAt"] = go_time(s.finished_at_nano);
  return o;
}

// HostConfig.Mounts as sent (mount.Mount, empty fields left out).
json::value encode_mount_requests(const std::vector<mount_point>& mounts) {
  if (mounts.empty()) return nullptr;
  json::array a;
  for (auto& m : mounts) {
    json::object o;
    o["Type"] = m.type;
    if (!m.source.empty()) o["Source"] = m.source;
    o["Target"] = m.destination;
    if (m.read_only) o["ReadOnly"] = true;
    if (m.type == "bind" && !m.propagation.empty()) {
      json::object b;
      b["Propagation"] = m.propagation;
      o["BindOptions"] = std::move(b);
    }
    if (m.type == "volume" &&
        (m.no_copy || !m.labels.empty() || !m.driver.empty() || !m.driver_opts.empty())) {
      json::object vo;
      if (m.no_copy) vo["NoCopy"] = true;
      if (!m.labels.empty()) vo["Labels"] = string_object(m.labels);
      if (!m.driver.empty() || !m.driver_opts.empty()) {
        json::object dc;
        dc["Name"] = m.driver;
        if (!m.driver_opts.empty()) dc["Options"] = string_object(m.driver_opts);
        vo["DriverConfig"] = std::move(dc);
      }
      o["VolumeOptions"] = std::move(vo);
    }
    if (m.type == "tmpfs" && (m.tmpfs_size > 0 || m.tmpfs_mode != 0)) {
      json::object t;
      if (m.tmpfs_size > 0) t["SizeBytes"] = m.tmpfs_size;
      if (m.tmpfs_mode != 0) t["Mode"] = m.tmpfs_mode;
      o["TmpfsOptions"] = std::move(t);
    }
    a.push_back(std::move(o));
  }
  return a;
}

// A container's mounts (types.MountPoint) for inspect and ps.
json::array encode_mount_points(const container_info& c) {
  json::array a;
  for (auto& m : c.mounts) {
    json::object o;
    o["Type"] = m.type;
    if (m.type == "volume") o["Name"] = m.source;
    o["Source"] = m.host_path;
    o["Destination"] = m.destination;
    if (m.type == "volume") o["Driver"] = m.driver.empty() ? "local" : m.driver;
    o["Mode"] = m.mode;
    o["RW"] = !m.read_only;
    o["Propagation"] = m.type == "bind" ? (m.propagation.empty() ? "rprivate" : m.propagation) : "";
    a.push_back(std::move(o));
  }
  return a;
}

json::object encode_host_config(const container_info& c) {
  auto& h = c.config.host;
  json::object o;
  o["Binds"] = strings_or_null(h.binds);
  o["Mounts"] = encode_mount_requests(h.mounts);
  o["ContainerIDFile"] = "";
  json::object log;
  log["Type"] = !c.log_type.empty() ? c.log_type : h.log_type;
  log["Config"] = string_object(!c.log_type.empty() ? c.log_config : h.log_config);
  o["LogConfig"] = std::move(log);
  o["NetworkMode"] = h.network_mode;
  o["PortBindings"] = encode_port_bindings(h.port_bindings);
  json::object restart;
  restart["Name"] = h.restart_policy;
  restart["MaximumRetryCount"] = h.restart_max_retries;
  o["RestartPolicy"] = std::move(restart);
  o["AutoRemove"] = h.auto_remove;
  o["VolumeDriver"] = "";
  o["VolumesFrom"] = nullptr;
  o["CapAdd"] = strings_or_null(h.cap_add);
  o["CapDrop"] = strings_or_null(h.cap_drop);
  o["CgroupnsMode"] = "host";
  o["Dns"] = string_array(h.dns);
  o["DnsOptions"] = string_array(h.dns_options);
  o["DnsSearch"] = string_array(h.dns_search);
  o["ExtraHosts"] = strings_or_null(h.extra_hosts);
  o["GroupAdd"] = strings_or_null(h.group_add);
  o["IpcMode"] = h.ipc_mode.empty() ? std::string{"private"} : h.ipc_mode;
  o["Cgroup"] = "";
  o["Links"] = nullptr;
  o["OomScoreAdj"] = 0;
  o["PidMode"] = h.pid_mode;
  o["Privileged"] = h.privileged;
  o["PublishAllPorts"] = h.publish_all_ports;
  o["ReadonlyRootfs"] = h.readonly_rootfs;
  o["SecurityOpt"] = strings_or_null(h.security_opt);
  if (!h.tmpfs.empty()) o["Tmpfs"] = string_object(h.tmpfs);
  o["UTSMode"] = h.uts_mode;
  o["UsernsMode"] = "";
  o["ShmSize"] = h.shm_size != 0 ? h.shm_size : int64_t{64} * 1024 * 1024;
  if (!h.sysctls.empty()) o["Sysctls"] = string_object(h.sysctls);
  o["Runtime"] = h.runtime.empty() ? std::string{"runc"} : h.runtime;
  json::array console;
  console.emplace_back(h.console_size.size() == 2 ? h.console_size[0] : 0);
  console.emplace_back(h.console_size.size() == 2 ? h.console_size[1] : 0);
  o["ConsoleSize"] = std::move(console);
  o["Isolation"] = "";
  // Resources.
  o["CpuShares"] = h.cpu_shares;
  o["Memory"] = h.memory;
  o["NanoCpus"] = h.nano_cpus;
  o["CgroupParent"] = h.cgroup_parent;
  o["BlkioWeight"] = 0;
  o["BlkioWeightDevice"] = json::array{};
  o["BlkioDeviceReadBps"] = nullptr;
  o["BlkioDeviceWriteBps"] = nullptr;
  o["BlkioDeviceReadIOps"] = nullptr;
  o["BlkioDeviceWriteIOps"] = nullptr;
  o["CpuPeriod"] = h.cpu_period;
  o["CpuQuota"] = h.cpu_quota;
  o["CpuRealtimePeriod"] = 0;
  o["CpuRealtimeRuntime"] = 0;
  o["CpusetCpus"] = h.cpuset_cpus;
  o["CpusetMems"] = h.cpuset_mems;
  o["Devices"] = json::array{};
  o["DeviceCgroupRules"] = nullptr;
  o["DeviceRequests"] = nullptr;
  o["KernelMemory"] = 0;
  o["KernelMemoryTCP"] = 0;
  o["MemoryReservation"] = h.memory_reservation;
  o["MemorySwap"] = h.memory_swap;
  o["MemorySwappiness"] =
      h.memory_swappiness < 0 ? json::value(nullptr) : json::value(h.memory_swappiness);
  o["OomKillDisable"] = h.oom_kill_disable;
  o["PidsLimit"] = h.pids_limit > 0 ? json::value(h.pids_limit) : json::value(nullptr);
  if (h.ulimits.empty()) {
    o["Ulimits"] = nullptr;
  } else {
    json::array ulimits;
    for (auto& u : h.ulimits) {
      json::object ul;
      ul["Name"] = u.name;
      ul["Hard"] = u.hard;
      ul["Soft"] = u.soft;
      ulimits.emplace_back(std::move(ul));
    }
    o["Ulimits"] = std::move(ulimits);
  }
  o["CpuCount"] = 0;
  o["CpuPercent"] = 0;
  o["IOMaximumIOps"] = 0;
  o["IOMaximumBandwidth"] = 0;
  // oci/defaults.go: masked and read-only /proc and /sys paths unless privileged.
  if (h.privileged) {
    o["MaskedPaths"] = nullptr;
    o["ReadonlyPaths"] = nullptr;
  } else {
    o["MaskedPaths"] = json::array{"/proc/asound",      "/proc/acpi",          "/proc/kcore",
                                   "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
                                   "/proc/timer_stats", "/proc/sched_debug",   "/proc/scsi",
                                   "/sys/firmware"};
    o["ReadonlyPaths"] =
        json::array{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  }
  if (h.init >= 0) o["Init"] = h.init == 1;
  return o;
}

json::object encode_config(const container_info& info) {
  auto& c = info.config;
  json::object o;
  o["Hostname"] = !c.hostname.empty() || c.host.network_mode == "host"
                      ? c.hostname
                      : info.id.substr(0, std::min<size_t>(12, info.id.size()));
  o["Domainname"] = c.domainname;
  o["User"] = c.user;
  o["AttachStdin"] = c.attach_stdin;
  o["AttachStdout"] = c.attach_stdout;
  o["AttachStderr"] = c.attach_stderr;
  if (!c.exposed_ports.empty()) o["ExposedPorts"] = key_object(c.exposed_ports);
  o["Tty"] = c.tty;
  o["OpenStdin"] = c.open_stdin;
  o["StdinOnce"] = c.stdin_once;
  o["Env"] = strings_or_null(c.env);
  o["Cmd"] = c.cmd_set ? json::value(string_array(c.cmd)) : json::value(nullptr);
  o["Image"] = c.image;
  o["Volumes"] = c.volumes.empty() ? json::value(nullptr) : json::value(key_object(c.volumes));
  o["WorkingDir"] = c.working_dir;
  o["Entrypoint"] =
      c.entrypoint_set ? json::value(string_array(c.entrypoint)) : json::value(nullptr);
  if (c.network_disabled) o["NetworkDisabled"] = true;
  o["OnBuild"] = nullptr;
  o["Labels"] = string_object(c.labels);
  if (!c.stop_signal.empty()) o["StopSignal"] = c.stop_signal;
  if (c.stop_timeout >= 0) o["StopTimeout"] = c.stop_timeout;
  return o;
}

json::object encode_network_settings(const container_info& c) {
  json::object o;
  o["Bridge"] = "";
  o["SandboxID"] = "";
  o["HairpinMode"] = false;
  o["LinkLocalIPv6Address"] = "";
  o["LinkLocalIPv6PrefixLen"] = 0;
  o["Ports"] = encode_ports(c);
  o["SandboxKey"] =
      c.state.pid > 0 ? "/proc/" + std::to_string(c.state.pid) + "/ns/net" : std::string{};
  o["SecondaryIPAddresses"] = nullptr;
  o["SecondaryIPv6Addresses"] = nullptr;
  // the default bridge's endpoint is repeated at the top level (moby's legacy fields)
  const network_endpoint* bridge = nullptr;
  for (auto& ep : c.networks)
    if (ep.network == "bridge") bridge = &ep;
  o["EndpointID"] = bridge ? bridge->endpoint_id : "";
  o["Gateway"] = bridge ? bridge->gateway : "";
  o["GlobalIPv6Address"] = "";
  o["GlobalIPv6PrefixLen"] = 0;
  o["IPAddress"] = bridge ? bridge->ip_address : "";
  o["IPPrefixLen"] = bridge ? bridge->prefix_len : 0;
  o["IPv6Gateway"] = "";
  o["MacAddress"] = bridge ? bridge->mac_address : "";
  o["Networks"] = networks_of(c);
  return o;
}

} // namespace

std::string encode_config_json(const container_info& c) {
  return json::serialize(encode_config(c));
}

std::string encode_inspect(const container_info& c, bool size) {
  json::object o;
  o["Id"] = c.id;
  o["Created"] = go_time(c.created_nano);
  o["Path"] = c.path;
  o["Args"] = string_array(c.args);
  o["State"] = encode_state(c.state);
  o["Image"] = c.image_id;
  o["ResolvConfPath"] = c.resolv_conf_path;
  o["HostnamePath"] = c.hostname_path;
  o["HostsPath"] = c.hosts_path;
  o["LogPath"] = c.log_path;
  o["Name"] = c.name;
  o["RestartCount"] = c.state.restart_count;
  o["Driver"] = c.driver;
  o["Platform"] = "linux";
  o["MountLabel"] = "";
  o["ProcessLabel"] = "";
  o["AppArmorProfile"] = "";
  o["ExecIDs"] = nullptr;
  o["HostConfig"] = encode_host_config(c);
  json::object graph;
  graph["Data"] = json::object{};
  graph["Name"] = c.driver;
  o["GraphDriver"] = std::move(graph);
  if (size) {
    o["SizeRw"] = std::max<int64_t>(0, c.size_rw);
    o["SizeRootFs"] = std::max<int64_t>(0, c.size_root_fs);
  }
  o["Mounts"] = encode_mount_points(c);
  o["Config"] = encode_config(c);
  o["NetworkSettings"] = encode_network_settings(c);
  return json::serialize(o);
}

namespace {
/// ps's Ports: each bound port ({IP, PrivatePort, PublicPort, Type}), and each exposed port not
/// published ({PrivatePort, Type}), as moby's.
json::array encode_summary_ports(const container_info& c) {
  json::array out;
  std::set<std::string> published;
  auto split = [](const std::string& p) {
    auto slash = p.find('/');
    auto proto = slash == std::string::npos ? std::string{"tcp"} : p.substr(slash + 1);
    return std::make_pair(std::strtoll(p.c_str(), nullptr, 10), proto);
  };
  for (auto& ep : c.networks)
    for (auto& b : ep.ports) {
      auto [port, proto] = split(b.port);
      json::object o;
      o["IP"] = b.host_ip;
      o["PrivatePort"] = port;
      o["PublicPort"] = std::strtoll(b.host_port.c_str(), nullptr, 10);
      o["Type"] = proto;
      out.push_back(std::move(o));
      published.insert(std::to_string(port) + "/" + proto);
    }
  for (auto& p : c.config.exposed_ports) {
    auto [port, proto] = split(p);
    if (published.count(std::to_string(port) + "/" + proto)) continue;
    json::object o;
    o["PrivatePort"] = port;
    o["Type"] = proto;
    out.push_back(std::move(o));
  }
  return out;
}
} // namespace

std::string encode_summary(const container_info& c, bool size, int64_t now_nano) {
  json::object o;
  o["Id"] = c.id;
  o["Names"] = json::array{json::value(c.name)};
  o["Image"] = c.config.image.empty() ? c.image_id : c.config.image;
  o["ImageID"] = c.image_id;
  // daemon/list.go: Path and Args, an argument with a space in single quotes.
  std::string command = c.path;
  for (auto& a : c.args)
    command += " " + (a.find(' ') != std::string::npos ? "'" + a + "'" : a);
  o["Command"] = command;
  o["Created"] = c.created_nano / 1000000000;
  o["Ports"] = encode_summary_ports(c);
  // omitempty: zero sizes are left out even when asked for.
  if (size && c.size_rw > 0) o["SizeRw"] = c.size_rw;
  if (size && c.size_root_fs > 0) o["SizeRootFs"] = c.size_root_fs;
  o["Labels"] = string_object(c.config.labels);
  o["State"] = to_string(c.state.status);
  o["Status"] = human_status(c.state, now_nano);
  json::object host;
  if (!c.config.host.network_mode.empty()) host["NetworkMode"] = c.config.host.network_mode;
  o["HostConfig"] = std::move(host);
  json::object net;
  net["Networks"] = networks_of(c);
  o["NetworkSettings"] = std::move(net);
  o["Mounts"] = encode_mount_points(c);
  return json::serialize(o);
}

std::string human_duration(int64_t d) {
  constexpr int64_t second = 1000000000;
  constexpr int64_t minute = 60 * second;
  constexpr int64_t hour = 60 * minute;
  auto seconds = d / second; // int(d.Seconds()) truncates toward zero
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return std::to_string(seconds) + " seconds";
  auto minutes = d / minute;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return std::to_string(minutes) + " minutes";
  // Go's Duration.Hours(): whole hours plus the fraction, as float64.
  double hours_f = static_cast<double>(d / hour) + static_cast<double>(d % hour) / 3.6e12;
  auto hours = static_cast<int64_t>(hours_f + 0.5);
  if (hours == 1) return "About an hour";
  if (hours < 48) return std::to_string(hours) + " hours";
  if (hours < 24 * 7 * 2) return std::to_string(hours / 24) + " days";
  if (hours < 24 * 30 * 2) return std::to_string(hours / 24 / 7) + " weeks";
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24 / 30) + " months";
  return std::to_string(static_cast<int64_t>(hours_f) / 24 / 365) + " years";
}

std::string human_status(const container_state& s, int64_t now_nano) {
  auto code = std::to_string(s.exit_code);
  switch (s.status) {
  case container_status::running:
    return "Up " + human_duration(now_nano - s.started_at_nano);
  case container_status::paused:
    return "Up " + human_duration(now_nano - s.started_at_nano) + " (Paused)";
  case container_status::restarting:
    return "Restarting (" + code + ") " + human_duration(now_nano - s.finished_at_nano) + " ago";
  case container_status::removing:
    return "Removal In Progress";
  case container_status::dead:
    return "Dead";
  case container_status::created:
  case container_status::exited:
    break;
  }
  if (s.started_at_nano == 0) return "Created";
  if (s.finished_at_nano == 0) return "";
  return "Exited (" + code + ") " + human_duration(now_nano - s.finished_at_nano) + " ago";
}

// -- filters --------------------------------------------------------------------------------------

namespace {

/// moby's portOp: "80", "80/udp", "8000-8080/tcp" -> the ports it names ("80/tcp").
caf::expected<std::set<std::string>> port_filter(const std::string& key,
                                                 const std::set<std::string>& values) {
  std::set<std::string> out;
  for (auto& value : values) {
    if (value.find(':') != std::string::npos)
      return bad("filter for '" + key + "' should not contain ':': " + value);
    auto [proto, port] = split_proto_port(value);
    uint64_t start = 0, end = 0;
    if (!parse_port_range(port, start, end))
      return bad("error while looking up for " + key + " " + value + ": invalid port range");
    for (auto i = start; i <= end; ++i)
      out.insert(std::to_string(i) + "/" + proto);
  }
  return out;
}

/// filters.Args.Match: an exact value, or an (unanchored) regular expression that matches.
bool match_regex(const std::set<std::string>& values, const std::string& source) {
  if (values.count(source)) return true;
  for (auto& v : values) {
    try {
      if (boost::regex_search(source, boost::regex{v})) return true;
    } catch (const std::exception&) {
      // Go skips a value that does not compile (Boost.Regex's Perl syntax stands in for RE2).
    }
  }
  return false;
}

/// A reference in the short form the CLI shows: no docker.io/library/, a tag.
std::string familiar(std::string ref) {
  for (auto prefix : {"docker.io/", "index.docker.io/", "registry-1.docker.io/"})
    if (starts_with(ref, prefix)) {
      ref = ref.substr(std::string_view{prefix}.size());
      break;
    }
  if (starts_with(ref, "library/")) ref = ref.substr(8);
  auto slash = ref.rfind('/');
  auto last = ref.substr(slash == std::string::npos ? 0 : slash + 1);
  if (last.find(':') == std::string::npos && ref.find('@') == std::string::npos) ref += ":latest";
  return ref;
}

bool ancestor_matches(const container_info& c, const std::string& value) {
  if (value.empty()) return false;
  if (!c.config.image.empty() && familiar(c.config.image) == familiar(value)) return true;
  auto id = c.image_id;
  if (starts_with(id, "sha256:")) id = id.substr(7);
  auto v = value;
  if (starts_with(v, "sha256:")) v = v.substr(7);
  if (v.empty() || v.size() > id.size()) return false;
  for (char ch : v)
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
  return starts_with(id, v);
}

// moby's volume filter: a mount's volume name (a bind's source) or its destination.
bool volume_matches(const container_info& c, const std::string& value) {
  for (auto& m : c.mounts)
    if ((m.type == "volume" ? m.source : m.host_path) == value || m.destination == value)
      return true;
  return false;
}

bool is_state_string(const std::string& s) {
  static const std::set<std::string> states{"created", "restarting", "running", "removing",
                                            "paused",  "exited",     "dead"};
  return states.count(s) > 0;
}

} // namespace

caf::error validate_list_filters(const filter_args& f) {
  static const std::set<std::string> accepted{
      "ancestor", "before", "expose",  "exited",  "health", "id",     "isolation", "is-task",
      "label",    "name",   "network", "publish", "since",  "status", "volume"};
  for (auto& [key, values] : f)
    if (!accepted.count(key)) return bad("invalid filter '" + key + "'");
  if (auto it = f.find("exited"); it != f.end())
    for (auto& v : it->second)
      if (!go_atoi(v)) return bad("strconv.Atoi: parsing " + go_quote(v) + ": invalid syntax");
  if (auto it = f.find("status"); it != f.end())
    for (auto& v : it->second)
      if (!is_state_string(v)) return bad("invalid filter 'status=" + v + "'");
  if (auto it = f.find("is-task"); it != f.end()) {
    auto& vs = it->second;
    if (!vs.count("true") && !vs.count("false")) {
      std::string list;
      for (auto& v : vs)
        list += (list.empty() ? "" : " ") + v;
      return bad("invalid filter 'is-task=[" + list + "]'");
    }
  }
  if (auto it = f.find("health"); it != f.end())
    for (auto& v : it->second)
      if (v != "starting" && v != "healthy" && v != "unhealthy" && v != "none")
        return bad("Unrecognised filter value for health: " + v);
  for (auto key : {"publish", "expose"})
    if (auto it = f.find(key); it != f.end())
      if (auto ports = port_filter(key, it->second); !ports) return ports.error();
  return caf::none;
}

bool matches(const container_info& c, const filter_args& f) {
  auto get = [&](const char* key) -> const std::set<std::string>* {
    auto it = f.find(key);
    return it == f.end() || it->second.empty() ? nullptr : &it->second;
  };
  auto& cfg = c.config;
  if (auto* v = get("name"); v && !match_regex(*v, c.name)) return false;
  if (auto* v = get("id"); v && !match_regex(*v, c.id)) return false;
  if (auto* v = get("is-task")) {
    // Only swarm tasks are managed, and berth runs none.
    if (v->count("true") && !v->count("false")) return false;
  }
  if (auto* v = get("label")) {
    if (cfg.labels.empty()) return false;
    for (auto& kv : *v) {
      auto eq = kv.find('=');
      auto it = cfg.labels.find(kv.substr(0, eq));
      if (it == cfg.labels.end()) return false;
      if (eq != std::string::npos && it->second != kv.substr(eq + 1)) return false;
    }
  }
  if (auto* v = get("isolation"); v && !match_regex(*v, "default")) return false;
  if (auto* v = get("exited")) {
    bool stopped = c.state.status != container_status::running &&
                   c.state.status != container_status::paused &&
                   c.state.status != container_status::restarting;
    bool ok = false;
    for (auto& code : *v)
      if (auto n = go_atoi(code);
          n && *n == c.state.exit_code && stopped && c.state.started_at_nano != 0)
        ok = true;
    if (!ok) return false;
  }
  if (auto* v = get("status"); v && !v->count(to_string(c.state.status))) return false;
  // No health checks yet: every container's health is "none".
  if (auto* v = get("health"); v && !v->count("none")) return false;
  if (auto* v = get("volume")) {
    bool ok = false;
    for (auto& vol : *v)
      ok = ok || volume_matches(c, vol);
    if (!ok) return false;
  }
  if (auto* v = get("ancestor")) {
    bool ok = false;
    for (auto& a : *v)
      ok = ok || ancestor_matches(c, a);
    if (!ok) return false;
  }
  if (auto* v = get("network")) {
    bool ok = false;
    for (auto& n : network_names(cfg))
      ok = ok || v->count(n);
    if (!ok) return false;
  }
  // Published ports need the port bindings, which berth does not keep yet: nothing matches.
  if (get("publish")) return false;
  if (auto* v = get("expose")) {
    auto ports = port_filter("expose", *v);
    if (!ports) return false;
    bool ok = false;
    for (auto& p : cfg.exposed_ports) {
      auto [proto, port] = split_proto_port(p);
      ok = ok || ports->count(port + "/" + proto);
    }
    if (!ok) return false;
  }
  return true;
}

} // namespace berth::api
