// docker save / load tarballs, docker import configs and commit/import changes: see
// tarexport.hpp.
#include "actors/images/tarexport.hpp"

#include "drivers/graph/container_fs.hpp"
#include "messages/error.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/json.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace berth::images {

namespace json = boost::json;

namespace {

// -- tar writing ----------------------------------------------------------------------------------

struct archive_deleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

struct write_ctx {
  io::writer* out;
  caf::error err;
  bool stopped = false; // after a failure or an abandoned archive: write nothing more
};

la_ssize_t write_cb(struct archive* a, void* p, const void* buf, size_t len) {
  auto* ctx = static_cast<write_ctx*>(p);
  if (ctx->stopped) {
    archive_set_error(a, EIO, "write failed");
    return -1;
  }
  if (auto err = (*ctx->out)(static_cast<const char*>(buf), len)) {
    ctx->err = std::move(err);
    ctx->stopped = true;
    archive_set_error(a, EIO, "write failed");
    return -1;
  }
  return static_cast<la_ssize_t>(len);
}

class tar_out {
public:
  explicit tar_out(io::writer& out) : a_(archive_write_new()) { ctx_.out = &out; }
  tar_out(const tar_out&) = delete;
  tar_out& operator=(const tar_out&) = delete;
  // An archive not closed (a failure) is abandoned: no trailer is written after the error, so
  // the output can never pass for a complete tarball.
  ~tar_out() {
    if (!closed_) ctx_.stopped = true;
  }

  caf::error open() {
    if (!a_) return make_error(ec::unspecified, "archive_write_new failed");
    if (archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a_.get(), 1) != ARCHIVE_OK ||
        archive_write_open(a_.get(), &ctx_, nullptr, write_cb, nullptr) != ARCHIVE_OK)
      return fail("open");
    return caf::none;
  }

  caf::error dir(const std::string& path) { return header(path, AE_IFDIR | 0755, 0); }

  caf::error file(const std::string& path, const std::string& data) {
    if (auto err = header(path, AE_IFREG | 0644, static_cast<int64_t>(data.size()))) return err;
    return data_block(data.data(), data.size());
  }

  caf::error header(const std::string& path, unsigned mode, int64_t size) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e{archive_entry_new(),
                                                               archive_entry_free};
    if (!e) return make_error(ec::unspecified, "archive_entry_new failed");
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_mode(e.get(), mode);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return fail(path);
    return caf::none;
  }

  caf::error data_block(const char* data, size_t len) {
    while (len > 0) {
      auto n = archive_write_data(a_.get(), data, len);
      if (n < 0) return fail("data");
      if (n == 0) return make_error(ec::unspecified, "tar entry is larger than its header says");
      data += n;
      len -= static_cast<size_t>(n);
    }
    return caf::none;
  }

  caf::error close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return fail("close");
    closed_ = true;
    return caf::none;
  }

private:
  caf::error fail(const std::string& what) {
    if (ctx_.err) return std::move(ctx_.err);
    const char* msg = archive_error_string(a_.get());
    return make_error(ec::unspecified,
                      "writing the image tarball (" + what + "): " + (msg ? msg : "unknown error"));
  }

  write_ctx ctx_; // outlives a_: freeing an archive may still call write_cb
  std::unique_ptr<struct archive, archive_deleter> a_;
  bool closed_ = false;
};

// The legacy v1 JSON of a layer that is no image's top: moby's empty container_config.
json::object empty_container_config() {
  json::object c;
  c["Hostname"] = "";
  c["Domainname"] = "";
  c["User"] = "";
  c["AttachStdin"] = false;
  c["AttachStdout"] = false;
  c["AttachStderr"] = false;
  c["Tty"] = false;
  c["OpenStdin"] = false;
  c["StdinOnce"] = false;
  c["Env"] = nullptr;
  c["Cmd"] = nullptr;
  c["Image"] = "";
  c["Volumes"] = nullptr;
  c["WorkingDir"] = "";
  c["Entrypoint"] = nullptr;
  c["OnBuild"] = nullptr;
  c["Labels"] = nullptr;
  return c;
}

struct saved_layer {
  std::string v1id;
  std::string parent_v1id;
  std::string cache_id;
  std::string json; // legacy v1 JSON
};

// "busybox:latest" -> {"busybox", "latest"}; a colon before the last slash is a port.
std::pair<std::string, std::string> split_tag(const std::string& ref) {
  auto slash = ref.rfind('/');
  auto colon = ref.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash))
    return {ref, "latest"};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

// -- loading --------------------------------------------------------------------------------------

caf::error bad(std::string msg) {
  return make_error(ec::invalid_argument, std::move(msg));
}

// `rel` (from manifest.json) resolved under `root` (a realpath): no absolute path, no `..`, no
// symlink out of root; must be a regular file.
caf::expected<std::string> resolve_member(const std::string& root, const std::string& rel) {
  if (rel.empty() || rel.front() == '/')
    return bad("invalid path in manifest.json: \"" + rel + "\"");
  size_t i = 0;
  while (i <= rel.size()) {
    auto j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    if (rel.compare(i, j - i, "..") == 0)
      return bad("invalid path in manifest.json (escapes the archive): \"" + rel + "\"");
    i = j + 1;
  }
  char buf[PATH_MAX];
  auto joined = root + "/" + rel;
  if (::realpath(joined.c_str(), buf) == nullptr)
    return bad("invalid tar: " + rel + " named in manifest.json is missing");
  std::string real = buf;
  if (real.compare(0, root.size() + 1, root + "/") != 0)
    return bad("invalid path in manifest.json (escapes the archive): \"" + rel + "\"");
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return bad("invalid tar: " + rel + " named in manifest.json is not a regular file");
  return real;
}

std::vector<std::string> string_array(const json::value* v, const char* field, caf::error& err) {
  std::vector<std::string> out;
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) {
    err = bad(std::string{"invalid manifest.json: "} + field + " is not an array");
    return out;
  }
  for (auto& x : v->get_array()) {
    if (!x.is_string()) {
      err = bad(std::string{"invalid manifest.json: "} + field + " holds a non-string");
      return out;
    }
    out.emplace_back(x.get_string());
  }
  return out;
}

// -- changes --------------------------------------------------------------------------------------

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
    --e;
  return std::string{s.substr(b, e - b)};
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Whitespace-separated words with Dockerfile quoting: "..." and '...' group, backslash escapes
// the next character (not inside single quotes).
std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < s.size()) {
        cur += s[++i];
      } else {
        cur += c;
      }
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) out.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '"' || c == '\'')
      quote = c;
    else if (c == '\\' && i + 1 < s.size())
      cur += s[++i];
    else
      cur += c;
  }
  if (in_word) out.push_back(std::move(cur));
  return out;
}

// A JSON array of strings, or nothing when `s` is not one (then the shell form applies).
std::optional<json::array> json_strings(const std::string& s) {
  if (s.empty() || s.front() != '[') return std::nullopt;
  json::error_code ec;
  auto v = json::parse(s, ec);
  if (ec || !v.is_array()) return std::nullopt;
  for (auto& x : v.get_array())
    if (!x.is_string()) return std::nullopt;
  return v.get_array();
}

json::array exec_or_shell(const std::string& rest) {
  if (auto a = json_strings(rest)) return *a;
  return json::array{"/bin/sh", "-c", rest};
}

// "k=v k2=v2" or the legacy "k v"; fails on a missing '='.
caf::expected<std::vector<std::pair<std::string, std::string>>>
key_values(const std::string& instr, const std::string& rest) {
  std::vector<std::pair<std::string, std::string>> out;
  auto ws = words(rest);
  if (ws.empty()) return bad(instr + " requires at least one argument");
  if (ws.front().find('=') == std::string::npos) {
    // legacy form: the first word is the key, the rest of the line (trimmed) the value
    auto r = trim(rest);
    size_t sp = 0;
    while (sp < r.size() && !std::isspace(static_cast<unsigned char>(r[sp])))
      ++sp;
    auto value = trim(std::string_view{r}.substr(sp));
    if (value.empty()) return bad(instr + " requires at least two arguments");
    auto vw = words(value);
    std::string joined;
    // keep inner spacing as written, but honour quotes when the value is one quoted word
    joined = vw.size() == 1 ? vw.front() : value;
    out.emplace_back(ws.front(), joined);
    return out;
  }
  for (auto& w : ws) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0)
      return bad("Syntax error - can't find = in \"" + w + "\". Must be of the form: name=value");
    out.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  return out;
}

json::object& object_field(json::object& cfg, const char* key) {
  auto& v = cfg[key];
  if (!v.is_object()) v = json::object{};
  return v.get_object();
}

json::array& array_field(json::object& cfg, const char* key) {
  auto& v = cfg[key];
  if (!v.is_array()) v = json::array{};
  return v.get_array();
}

caf::error expose(json::object& cfg, const std::string& rest) {
  auto ws = words(rest);
  if (ws.empty()) return bad("EXPOSE requires at least one argument");
  auto& ports = object_field(cfg, "ExposedPorts");
  for (auto& w : ws) {
    std::string proto = "tcp";
    std::string port = w;
    if (auto slash = w.find('/'); slash != std::string::npos) {
      port = w.substr(0, slash);
      proto = lower(w.substr(slash + 1));
    }
    if (proto != "tcp" && proto != "udp" && proto != "sctp") return bad("invalid proto: " + proto);
    auto dash = port.find('-');
    auto number = [](const std::string& s) -> long {
      if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), ::isdigit)) return -1;
      auto n = std::strtol(s.c_str(), nullptr, 10);
      return n <= 65535 ? n : -1;
    };
    long lo = number(dash == std::string::npos ? port : port.substr(0, dash));
    long hi = dash == std::string::npos ? lo : number(port.substr(dash + 1));
    if (lo < 0 || hi < lo) return bad("invalid containerPort: " + port);
    for (long p = lo; p <= hi; ++p)
      ports[std::to_string(p) + "/" + proto] = json::object{};
  }
  return caf::none;
}

} // namespace

// -- save -----------------------------------------------------------------------------------------

caf::error write_save_tar(const std::vector<export_image>& images, graph::driver& drv,
                          io::writer out) {
  std::vector<saved_layer> layers; // in writing order
  std::map<std::string, size_t> by_v1id;
  json::array manifest;
  json::object repositories;
  std::vector<std::pair<std::string, std::string>> configs; // file name, bytes
  std::set<std::string> config_names;
  for (auto& img : images) {
    if (img.diff_ids.size() != img.cache_ids.size())
      return make_error(ec::unspecified, "image " + img.id + ": layer count mismatch");
    json::error_code jec;
    auto cfg = json::parse(img.config, jec);
    if (jec || !cfg.is_object())
      return make_error(ec::unspecified, "image " + img.id + ": invalid config JSON");
    json::array layer_paths;
    std::string chain, parent;
    for (size_t i = 0; i < img.diff_ids.size(); ++i) {
      chain = i == 0 ? img.diff_ids[i] : io::digest_of(chain + " " + img.diff_ids[i]);
      // A stable v1 ID per chain position (moby derives it from the chain as well).
      auto v1id = io::digest_hex(io::digest_of("berth-v1-layer " + chain));
      bool top = i + 1 == img.diff_ids.size();
      auto it = by_v1id.find(v1id);
      if (it == by_v1id.end()) {
        json::object v1;
        if (top) {
          v1 = cfg.get_object();
          v1.erase("rootfs");
          v1.erase("history");
        } else {
          v1["created"] = "0001-01-01T00:00:00Z";
          v1["container_config"] = empty_container_config();
        }
        v1["id"] = v1id;
        if (!parent.empty())
          v1["parent"] = parent;
        else
          v1.erase("parent");
        by_v1id.emplace(v1id, layers.size());
        layers.push_back(saved_layer{v1id, parent, img.cache_ids[i], json::serialize(v1)});
      }
      layer_paths.emplace_back(v1id + "/layer.tar");
      parent = v1id;
    }
    auto config_name = io::digest_hex(img.id) + ".json";
    if (config_names.insert(config_name).second) configs.emplace_back(config_name, img.config);
    json::object entry;
    entry["Config"] = config_name;
    if (img.repo_tags.empty()) {
      entry["RepoTags"] = nullptr;
    } else {
      json::array tags;
      for (auto& t : img.repo_tags) {
        tags.emplace_back(t);
        auto [repo, tag] = split_tag(t);
        if (!parent.empty()) {
          auto& r = repositories[repo];
          if (!r.is_object()) r = json::object{};
          r.get_object()[tag] = parent;
        }
      }
      entry["RepoTags"] = std::move(tags);
    }
    entry["Layers"] = std::move(layer_paths);
    manifest.emplace_back(std::move(entry));
  }

  tar_out tar{out};
  if (auto err = tar.open()) return err;
  for (auto& l : layers) {
    // first pass: the size that goes in the tar header
    uint64_t size = 0;
    auto count = [&size](const char*, std::size_t len) -> caf::error {
      size += len;
      return caf::none;
    };
    if (auto err = drv.layer_tar(l.cache_id, count)) return err;
    if (auto err = tar.dir(l.v1id + "/")) return err;
    if (auto err = tar.file(l.v1id + "/VERSION", "1.0")) return err;
    if (auto err = tar.file(l.v1id + "/json", l.json)) return err;
    if (auto err = tar.header(l.v1id + "/layer.tar", AE_IFREG | 0644, static_cast<int64_t>(size)))
      return err;
    uint64_t written = 0;
    auto copy = [&](const char* data, std::size_t len) -> caf::error {
      written += len;
      if (written > size)
        return make_error(ec::unspecified, "layer " + l.cache_id + " changed while saving");
      return tar.data_block(data, len);
    };
    if (auto err = drv.layer_tar(l.cache_id, copy)) return err;
    if (written != size)
      return make_error(ec::unspecified, "layer " + l.cache_id + " changed while saving");
  }
  for (auto& [name, bytes] : configs)
    if (auto err = tar.file(name, bytes)) return err;
  if (auto err = tar.file("manifest.json", json::serialize(manifest))) return err;
  if (!repositories.empty())
    if (auto err = tar.file("repositories", json::serialize(repositories))) return err;
  return tar.close();
}

// -- load -----------------------------------------------------------------------------------------

caf::expected<std::vector<load_image>> unpack_load_tar(io::reader src, const std::string& dir) {
  auto stats = graph::apply_tar(io::decompress(std::move(src)), dir, graph::whiteout_mode::remove);
  if (!stats) return stats.error();
  char buf[PATH_MAX];
  if (::realpath(dir.c_str(), buf) == nullptr)
    return make_error(ec::system, "realpath " + dir + ": " + std::strerror(errno));
  std::string root = buf;
  struct stat st {};
  if (::lstat((root + "/manifest.json").c_str(), &st) != 0) {
    if (::lstat((root + "/repositories").c_str(), &st) == 0)
      return bad("loading a legacy image tarball (no manifest.json, only repositories) is not "
                 "supported");
    return bad("invalid tar: no manifest.json in the archive");
  }
  auto path = resolve_member(root, "manifest.json");
  if (!path) return path.error();
  auto text = io::read_file(*path);
  if (!text) return text.error();
  json::error_code jec;
  auto manifest = json::parse(*text, jec);
  if (jec || !manifest.is_array())
    return bad("invalid manifest.json: " + (jec ? jec.message() : std::string{"not an array"}));
  std::vector<load_image> out;
  for (auto& v : manifest.get_array()) {
    if (!v.is_object()) return bad("invalid manifest.json: an entry is not an object");
    auto& o = v.get_object();
    auto* cfg = o.if_contains("Config");
    if (cfg == nullptr || !cfg->is_string()) return bad("invalid manifest.json: no Config");
    load_image img;
    caf::error err;
    img.repo_tags = string_array(o.if_contains("RepoTags"), "RepoTags", err);
    if (err) return err;
    auto layers = string_array(o.if_contains("Layers"), "Layers", err);
    if (err) return err;
    auto cfg_path = resolve_member(root, std::string{cfg->get_string()});
    if (!cfg_path) return cfg_path.error();
    auto bytes = io::read_file(*cfg_path);
    if (!bytes) return bytes.error();
    img.config = std::move(*bytes);
    for (auto& l : layers) {
      auto lp = resolve_member(root, l);
      if (!lp) return lp.error();
      img.layer_paths.push_back(std::move(*lp));
    }
    out.push_back(std::move(img));
  }
  return out;
}

// -- changes --------------------------------------------------------------------------------------

caf::expected<std::string> apply_changes(const std::string& config_json,
                                         const std::vector<std::string>& changes) {
  json::object cfg;
  if (!trim(config_json).empty()) {
    json::error_code jec;
    auto v = json::parse(config_json, jec);
    if (jec || !(v.is_object() || v.is_null())) return bad("invalid image config JSON");
    if (v.is_object()) cfg = std::move(v.get_object());
  }
  for (auto& raw : changes) {
    auto line = trim(raw);
    if (line.empty()) continue;
    size_t sp = 0;
    while (sp < line.size() && !std::isspace(static_cast<unsigned char>(line[sp])))
      ++sp;
    auto instr = lower(line.substr(0, sp));
    auto rest = trim(std::string_view{line}.substr(sp));
    auto upper = line.substr(0, sp);
    for (auto& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (instr == "cmd") {
      cfg["Cmd"] = exec_or_shell(rest);
    } else if (instr == "entrypoint") {
      cfg["Entrypoint"] = exec_or_shell(rest);
    } else if (instr == "env" || instr == "label") {
      auto kvs = key_values(upper, rest);
      if (!kvs) return kvs.error();
      if (instr == "env") {
        auto& env = array_field(cfg, "Env");
        for (auto& [k, v] : *kvs) {
          auto entry = k + "=" + v;
          auto it = std::find_if(env.begin(), env.end(), [&k = k](const json::value& e) {
            if (!e.is_string()) return false;
            std::string_view s = e.get_string();
            return s.substr(0, s.find('=')) == k;
          });
          if (it != env.end())
            *it = entry;
          else
            env.emplace_back(entry);
        }
      } else {
        auto& labels = object_field(cfg, "Labels");
        for (auto& [k, v] : *kvs)
          labels[k] = v;
      }
    } else if (instr == "expose") {
      if (auto err = expose(cfg, rest)) return err;
    } else if (instr == "user") {
      cfg["User"] = rest;
    } else if (instr == "workdir") {
      std::string wd = rest;
      if (wd.empty() || wd.front() != '/') {
        std::string cur;
        if (auto* w = cfg.if_contains("WorkingDir"); w && w->is_string()) cur = w->get_string();
        wd = (cur.empty() ? std::string{"/"} : cur) + "/" + wd;
      }
      cfg["WorkingDir"] = graph::clean_abs(wd);
    } else if (instr == "volume") {
      auto vols = json_strings(rest);
      std::vector<std::string> list;
      if (vols) {
        for (auto& v : *vols)
          list.emplace_back(v.get_string());
      } else {
        list = words(rest);
      }
      if (list.empty()) return bad("VOLUME requires at least one argument");
      auto& obj = object_field(cfg, "Volumes");
      for (auto& v : list) {
        if (trim(v).empty()) return bad("VOLUME specified can not be an empty string");
        obj[trim(v)] = json::object{};
      }
    } else if (instr == "stopsignal") {
      if (rest.empty()) return bad("STOPSIGNAL requires exactly one argument");
      cfg["StopSignal"] = rest;
    } else if (instr == "onbuild") {
      if (rest.empty()) return bad("ONBUILD requires at least one argument");
      array_field(cfg, "OnBuild").emplace_back(rest);
    } else {
      return bad(instr + " is not a valid change command");
    }
  }
  return json::serialize(cfg);
}

// -- import ---------------------------------------------------------------------------------------

std::string rfc3339_nano(int64_t unix_nano) {
  auto secs = static_cast<time_t>(unix_nano / 1'000'000'000);
  auto nanos = unix_nano % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --secs;
  }
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (nanos != 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nanos));
    std::string f = frac;
    while (f.back() == '0')
      f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::string import_config(const std::string& arch, const std::string& diff_id,
                          const std::string& config_object_json, const std::string& message,
                          int64_t now_unix_nano) {
  auto created = rfc3339_nano(now_unix_nano);
  auto comment = message.empty() ? std::string{"Imported from -"} : message;
  json::value config = json::object{};
  if (!trim(config_object_json).empty()) {
    json::error_code jec;
    auto v = json::parse(config_object_json, jec);
    if (!jec && v.is_object()) config = std::move(v);
  }
  json::object img;
  img["architecture"] = arch;
  img["comment"] = comment;
  img["config"] = std::move(config);
  img["created"] = created;
  img["history"] = json::array{json::object{
      {"created", created},
      {"created_by", ""},
      {"comment", comment},
  }};
  img["os"] = "linux";
  img["rootfs"] = json::object{{"type", "layers"}, {"diff_ids", json::array{diff_id}}};
  return json::serialize(img);
}

// -- commit ---------------------------------------------------------------------------------------

namespace {

bool empty_value(const json::value* v) {
  return v == nullptr || v->is_null() || (v->is_array() && v->get_array().empty()) ||
         (v->is_object() && v->get_object().empty()) || (v->is_string() && v->get_string().empty());
}

std::string_view env_key(const json::value& e) {
  if (!e.is_string()) return {};
  std::string_view s = e.get_string();
  return s.substr(0, s.find('='));
}

} // namespace

caf::expected<std::string> commit_config(const std::string& parent_config,
                                         const std::string& user_config,
                                         const std::string& container_config,
                                         const commit_info& info) {
  json::error_code jec;
  auto parent = json::parse(parent_config, jec);
  if (jec || !parent.is_object()) return bad("the image's config is not JSON");
  auto& pobj = parent.get_object();
  json::object user;
  if (!trim(user_config).empty()) {
    auto v = json::parse(user_config, jec);
    if (jec || !(v.is_object() || v.is_null())) return bad("invalid config JSON");
    if (v.is_object()) user = std::move(v.get_object());
  }
  auto fv = json::parse(container_config, jec);
  if (jec || !fv.is_object()) return bad("the container's config is not JSON");
  auto from = std::move(fv.get_object());
  for (const char* k : {"Labels", "ExposedPorts", "Volumes"})
    if (auto* v = from.if_contains(k); v && !v->is_object()) from.erase(k);
  // moby's daemon/commit.go merge(): what the changes set wins, the container gives the rest
  json::object cfg = empty_container_config();
  for (auto& [k, v] : user)
    cfg[k] = v;
  for (const char* k : {"User", "WorkingDir", "StopSignal"})
    if (empty_value(cfg.if_contains(k)) && !empty_value(from.if_contains(k))) cfg[k] = from[k];
  for (const char* k : {"ExposedPorts", "Volumes"}) {
    if (empty_value(from.if_contains(k))) continue;
    if (empty_value(cfg.if_contains(k))) cfg[k] = json::object{};
    auto& mine = cfg[k].get_object();
    for (auto& [key, v] : from[k].get_object())
      if (!mine.contains(key)) mine[key] = v;
  }
  if (empty_value(cfg.if_contains("Env"))) {
    cfg["Env"] = from["Env"];
  } else if (cfg["Env"].is_array() && from["Env"].is_array()) {
    auto& env = cfg["Env"].get_array();
    json::array add;
    for (auto& e : from["Env"].get_array())
      if (std::none_of(env.begin(), env.end(),
                       [&](const json::value& u) { return env_key(u) == env_key(e); }))
        add.push_back(e);
    for (auto& e : add)
      env.push_back(e);
  }
  if (!cfg["Labels"].is_object()) cfg["Labels"] = json::object{};
  if (auto* labels = from.if_contains("Labels"))
    for (auto& [k, v] : labels->get_object())
      if (!cfg["Labels"].get_object().contains(k)) cfg["Labels"].get_object()[k] = v;
  if (empty_value(cfg.if_contains("Entrypoint"))) {
    if (empty_value(cfg.if_contains("Cmd"))) cfg["Cmd"] = from["Cmd"];
    if (cfg["Entrypoint"].is_null()) cfg["Entrypoint"] = from["Entrypoint"];
  }

  auto created = rfc3339_nano(info.now_unix_nano);
  json::object img;
  for (const char* k : {"architecture", "variant", "os", "os.version"})
    if (auto* v = pobj.if_contains(k)) img[k] = *v;
  if (!img.contains("architecture")) img["architecture"] = "amd64";
  if (!img.contains("os")) img["os"] = "linux";
  if (!info.author.empty()) img["author"] = info.author;
  if (!info.comment.empty()) img["comment"] = info.comment;
  img["config"] = std::move(cfg);
  img["container"] = info.container_id;
  img["container_config"] = std::move(from);
  img["created"] = created;
  img["docker_version"] = info.docker_version;
  json::array history;
  if (auto* h = pobj.if_contains("history"); h && h->is_array()) history = h->get_array();
  json::object entry{{"created", created}};
  if (!info.author.empty()) entry["author"] = info.author;
  std::string created_by;
  if (auto* cmd = img["container_config"].get_object().if_contains("Cmd"); cmd && cmd->is_array())
    for (auto& a : cmd->get_array())
      if (a.is_string())
        created_by += (created_by.empty() ? "" : " ") + std::string{a.get_string()};
  entry["created_by"] = created_by;
  if (!info.comment.empty()) entry["comment"] = info.comment;
  if (info.diff_id.empty()) entry["empty_layer"] = true;
  history.push_back(std::move(entry));
  img["history"] = std::move(history);
  json::array diff_ids;
  if (auto* r = pobj.if_contains("rootfs"); r && r->is_object())
    if (auto* d = r->get_object().if_contains("diff_ids"); d && d->is_array())
      diff_ids = d->get_array();
  if (!info.diff_id.empty()) diff_ids.emplace_back(info.diff_id);
  img["rootfs"] = json::object{{"type", "layers"}, {"diff_ids", std::move(diff_ids)}};
  return json::serialize(img);
}

} // namespace berth::images
