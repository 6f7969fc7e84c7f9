// The image store actor (see store.hpp for the on-disk layout).
#include "actors/images/store.hpp"

#include "actors/engine.hpp"
#include "actors/images/tarexport.hpp"
#include "actors/jobs.hpp"
#include "actors/log.hpp"
#include "actors/registry/client.hpp"
#include "actors/registry/reference.hpp"
#include "actors/worker.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"
#include "messages/defaults.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <simdjson.h>
#include <zlib.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <fnmatch.h>
#include <set>
#include <thread>

namespace berth {

namespace json = boost::json;

// -- helpers --------------------------------------------------------------------------------------

caf::expected<int64_t> parse_rfc3339(std::string_view s) {
  auto bad = [&] { return make_error(ec::invalid_argument, "invalid time: " + std::string{s}); };
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  if (s.size() < 19 || std::sscanf(std::string{s.substr(0, 19)}.c_str(), "%d-%d-%dT%d:%d:%d", &y,
                                   &mo, &d, &h, &mi, &sec) != 6)
    return bad();
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t secs = timegm(&tm);
  std::size_t i = 19;
  int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t scale = 100000000;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      nanos += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(std::string{s.substr(i + 1)}.c_str(), "%d:%d", &oh, &om) != 2) return bad();
    int64_t off = oh * 3600 + om * 60;
    secs += s[i] == '+' ? -off : off;
  } else if (i >= s.size() || (s[i] != 'Z' && s[i] != 'z')) {
    return bad();
  }
  return secs * 1000000000 + nanos;
}

namespace {

int64_t now_nano() {
  return wall_clock_nano();
}

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string short_id(const std::string& digest) {
  return io::digest_hex(digest).substr(0, 12);
}

/// What the store needs of an image config.
struct config_facts {
  std::vector<std::string> diff_ids;
  int64_t created_nano = 0;
  std::map<std::string, std::string> labels;
};

caf::expected<config_facts> parse_config(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded{text};
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object())
    return make_error(ec::invalid_argument, "invalid image config: not a JSON object");
  config_facts out;
  simdjson::dom::array ids;
  if (doc["rootfs"]["diff_ids"].get(ids) == simdjson::SUCCESS) {
    for (auto v : ids) {
      std::string_view s;
      if (v.get(s) != simdjson::SUCCESS || !io::valid_digest(s))
        return make_error(ec::invalid_argument, "invalid image config: bad rootfs.diff_ids");
      out.diff_ids.emplace_back(s);
    }
  }
  std::string_view created;
  if (doc["created"].get(created) == simdjson::SUCCESS)
    if (auto t = parse_rfc3339(created)) out.created_nano = *t;
  simdjson::dom::object labels;
  if (doc["config"]["Labels"].get(labels) == simdjson::SUCCESS) {
    for (auto [k, v] : labels) {
      std::string_view s;
      if (v.get(s) == simdjson::SUCCESS) out.labels.emplace(std::string{k}, std::string{s});
    }
  }
  return out;
}

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (auto& d : diff_ids)
    out.push_back(out.empty() ? d : io::digest_of(out.back() + " " + d));
  return out;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (auto* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(std::move(name));
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// -- state ----------------------------------------------------------------------------------------

struct layer_rec {
  std::string chain_id;
  std::string diff_id;
  std::string parent; // chain ID
  std::string cache_id;
  std::string digest; // compressed blob digest, when pulled
  int64_t size = 0;
  int refs = 0; // images and containers using it
};

/// A container's hold on an image's layers (its read-write layer sits on top of them).
struct mount_rec {
  std::string image_id;
  std::vector<std::string> chain; // chain IDs, bottom first
};

struct image_rec {
  std::string id;
  std::string config;
  std::string parent;
  config_facts facts;
  std::vector<std::string> chain;
  int64_t last_tag_time_nano = 0;
};

struct pull_group;

/// One pull in flight.
struct pull_op {
  std::shared_ptr<pull_group> group; // set for the tags of `docker pull -a`
  registry::reference ref;
  progress_sink_actor sink;
  caf::typed_response_promise<job_result> rp;
  resolved_image image;
  config_facts facts;
  std::vector<std::string> chain;
  std::size_t pending = 0;
  bool finished = false;
  int64_t started_ns = 0;
  int64_t download_ns = 0, sha256_ns = 0, decompress_ns = 0, extract_ns = 0;
};

using pull_ptr = std::shared_ptr<pull_op>;

/// `docker pull -a`: every tag of one repository, pulled one after another into one stream
/// (moby: "<tag>: Pulling from ..." and "Digest: ..." per tag, then one "Status: ..." for the
/// repository).
struct pull_group {
  registry::reference repo; // no tag, no digest
  std::vector<std::string> tags;
  std::size_t next = 0;
  bool changed = false;
  progress_sink_actor sink;
  caf::typed_response_promise<job_result> rp;
  job j;
  std::string platform;
};

using group_ptr = std::shared_ptr<pull_group>;

/// One layer download+extraction, shared by every pull that needs it.
struct download {
  std::string chain_id;
  std::string parent; // chain ID
  std::string diff_id;
  layer_descriptor desc;
  std::string reference; // repository to fetch from (the first pull's)
  std::string auth;
  std::string cache_id;
  bool started = false;
  std::vector<pull_ptr> pulls;
};

struct store_state {
  static inline const char* name = "image-store";
  image_store_options opts;
  std::string root; // <data-root>/image/<driver>
  std::map<std::string, layer_rec> layers;
  std::map<std::string, image_rec> images;
  std::map<std::string, std::string> refs; // full reference -> image ID
  std::map<std::string, mount_rec> mounts; // container ID -> what it holds
  std::map<std::string, download> downloads;
  std::deque<std::string> queue; // chain IDs waiting for a slot
  int64_t running = 0;
};

using store_pointer = image_store_actor::stateful_pointer<store_state>;

std::string layer_file(const store_state& st, const std::string& chain) {
  return st.root + "/layers/" + io::digest_hex(chain) + ".json";
}

std::string mount_file(const store_state& st, const std::string& container) {
  return st.root + "/mounts/" + container;
}

std::string image_file(const store_state& st, const std::string& id) {
  return st.root + "/imagedb/" + io::digest_hex(id);
}

// -- persistence ----------------------------------------------------------------------------------

caf::error save_layer(const store_state& st, const layer_rec& l) {
  json::object o;
  o["ChainID"] = l.chain_id;
  o["DiffID"] = l.diff_id;
  o["Parent"] = l.parent;
  o["CacheID"] = l.cache_id;
  o["Size"] = l.size;
  o["Digest"] = l.digest;
  return io::write_file_atomic(layer_file(st, l.chain_id), json::serialize(o));
}

caf::error save_image_meta(const store_state& st, const image_rec& img) {
  json::object o;
  o["LastTagTime"] = img.last_tag_time_nano;
  o["Parent"] = img.parent;
  return io::write_file_atomic(image_file(st, img.id) + ".json", json::serialize(o));
}

caf::error save_repositories(const store_state& st) {
  json::object repos;
  for (auto& [ref, id] : st.refs) {
    auto parsed = registry::parse_reference(ref);
    if (!parsed) continue;
    auto name = parsed->familiar_name();
    if (!repos.contains(name)) repos[name] = json::object{};
    repos[name].as_object()[ref] = id;
  }
  json::object top;
  top["Repositories"] = std::move(repos);
  return io::write_file_atomic(st.root + "/repositories.json", json::serialize(top));
}

std::string get_string(simdjson::dom::element e, const char* key) {
  std::string_view s;
  if (e[key].get(s) == simdjson::SUCCESS) return std::string{s};
  return {};
}

int64_t get_int(simdjson::dom::element e, const char* key) {
  int64_t v = 0;
  if (e[key].get(v) == simdjson::SUCCESS) return v;
  return 0;
}

/// Load what is on disk and remove what a crash left half done.
caf::error load(store_state& st) {
  io::remove_all(st.root + "/tmp"); // unpacked `docker load` tarballs of an earlier run
  for (auto* sub : {"layers", "imagedb", "tmp", "mounts"})
    if (auto err = io::mkdir_all(st.root + "/" + sub, 0700)) return err;
  simdjson::dom::parser parser;
  auto& drv = *st.opts.driver;
  // layers
  for (auto& f : list_dir(st.root + "/layers")) {
    auto path = st.root + "/layers/" + f;
    if (f.find(".tmp-") != std::string::npos || f.size() != 64 + 5) {
      ::unlink(path.c_str());
      continue;
    }
    auto text = io::read_file(path);
    simdjson::dom::element doc;
    if (!text || parser.parse(simdjson::padded_string{*text}).get(doc) != simdjson::SUCCESS) {
      BLOG(warn, "image-store") << "dropping unreadable layer record " << path;
      ::unlink(path.c_str());
      continue;
    }
    layer_rec l;
    l.chain_id = get_string(doc, "ChainID");
    l.diff_id = get_string(doc, "DiffID");
    l.parent = get_string(doc, "Parent");
    l.cache_id = get_string(doc, "CacheID");
    l.digest = get_string(doc, "Digest");
    l.size = get_int(doc, "Size");
    if (!drv.exists(l.cache_id)) {
      BLOG(warn, "image-store") << "layer " << l.chain_id << " lost its files; dropping it";
      ::unlink(path.c_str());
      continue;
    }
    st.layers.emplace(l.chain_id, std::move(l));
  }
  // images
  for (auto& f : list_dir(st.root + "/imagedb")) {
    auto path = st.root + "/imagedb/" + f;
    if (f.size() != 64) {
      if (f.find(".tmp-") != std::string::npos) ::unlink(path.c_str());
      continue;
    }
    auto text = io::read_file(path);
    if (!text || io::digest_of(*text) != "sha256:" + f) {
      BLOG(warn, "image-store") << "dropping corrupt image config " << path;
      ::unlink(path.c_str());
      ::unlink((path + ".json").c_str());
      continue;
    }
    auto facts = parse_config(*text);
    if (!facts) continue;
    image_rec img;
    img.id = "sha256:" + f;
    img.config = std::move(*text);
    img.facts = std::move(*facts);
    img.chain = chain_ids(img.facts.diff_ids);
    if (auto meta = io::read_file(path + ".json")) {
      simdjson::dom::element doc;
      if (parser.parse(simdjson::padded_string{*meta}).get(doc) == simdjson::SUCCESS) {
        img.last_tag_time_nano = get_int(doc, "LastTagTime");
        img.parent = get_string(doc, "Parent");
      }
    }
    bool complete = std::all_of(img.chain.begin(), img.chain.end(),
                                [&](const std::string& c) { return st.layers.count(c) > 0; });
    if (!complete) {
      BLOG(warn, "image-store") << "image " << img.id << " misses layers; dropping it";
      ::unlink(path.c_str());
      ::unlink((path + ".json").c_str());
      continue;
    }
    for (auto& c : img.chain)
      ++st.layers[c].refs;
    st.images.emplace(img.id, std::move(img));
  }
  // repositories
  if (auto text = io::read_file(st.root + "/repositories.json")) {
    simdjson::dom::element doc;
    simdjson::dom::object repos;
    if (parser.parse(simdjson::padded_string{*text}).get(doc) == simdjson::SUCCESS &&
        doc["Repositories"].get(repos) == simdjson::SUCCESS) {
      for (auto [name, refs] : repos) {
        simdjson::dom::object obj;
        if (refs.get(obj) != simdjson::SUCCESS) continue;
        for (auto [ref, id] : obj) {
          std::string_view s;
          if (id.get(s) == simdjson::SUCCESS && st.images.count(std::string{s}))
            st.refs.emplace(std::string{ref}, std::string{s});
        }
      }
    }
  }
  // A container (64 hex digits) that still exists: <data-root>/containers/<id> is there.
  auto container_exists = [&](const std::string& id) {
    return id.size() == 64 && id.find('/') == std::string::npos &&
           ::access((st.opts.data_root + "/containers/" + id).c_str(), F_OK) == 0;
  };
  // containers' holds, for the containers that still exist
  for (auto& f : list_dir(st.root + "/mounts")) {
    auto path = mount_file(st, f);
    mount_rec m;
    simdjson::dom::element doc;
    simdjson::dom::array chain;
    bool ok = false;
    if (auto text = io::read_file(path);
        text && parser.parse(simdjson::padded_string{*text}).get(doc) == simdjson::SUCCESS &&
        doc["Chain"].get(chain) == simdjson::SUCCESS) {
      m.image_id = get_string(doc, "Image");
      ok = true;
      for (auto c : chain) {
        std::string_view v;
        if (c.get(v) != simdjson::SUCCESS || !st.layers.count(std::string{v}))
          ok = false;
        else
          m.chain.emplace_back(v);
      }
    }
    if (!ok || !container_exists(f)) { // (a temp file's name is longer than an ID)
      ::unlink(path.c_str());
      continue;
    }
    for (auto& c : m.chain)
      ++st.layers[c].refs;
    st.mounts.emplace(f, std::move(m));
  }
  // layers no image or container uses (a pull died before writing its image), top down
  bool removed = true;
  while (removed) {
    removed = false;
    std::set<std::string> parents;
    for (auto& [c, l] : st.layers)
      if (!l.parent.empty()) parents.insert(l.parent);
    for (auto it = st.layers.begin(); it != st.layers.end();) {
      if (it->second.refs == 0 && parents.count(it->first) == 0) {
        BLOG(info, "image-store") << "removing unused layer " << it->first;
        ::unlink(layer_file(st, it->first).c_str());
        it = st.layers.erase(it);
        removed = true;
      } else {
        ++it;
      }
    }
  }
  // driver layers without a record: extractions a crash interrupted. A container's read-write
  // layers (<id> and <id>-init) belong to the container while <data-root>/containers/<id> is
  // there.
  std::set<std::string> known;
  for (auto& [c, l] : st.layers)
    known.insert(l.cache_id);
  auto container_layer = [&](std::string id) {
    if (id.size() > 5 && id.compare(id.size() - 5, 5, "-init") == 0) id.resize(id.size() - 5);
    return container_exists(id);
  };
  for (auto& id : drv.list())
    if (!known.count(id) && !container_layer(id)) {
      BLOG(info, "image-store") << "removing incomplete layer " << id;
      if (auto err = drv.remove(id))
        BLOG(warn, "image-store") << "cannot remove " << id << ": " << error_message(err);
    }
  return {};
}

// -- lookups --------------------------------------------------------------------------------------

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

/// Resolve an image name: full ID, reference (short or qualified, tag or digest), ID prefix.
caf::expected<std::string> lookup(const store_state& st, const std::string& name,
                                  std::string* matched_ref = nullptr) {
  auto not_found = [&] { return make_error(ec::not_found, "No such image: " + name); };
  std::string_view hex = name;
  if (hex.rfind("sha256:", 0) == 0) hex.remove_prefix(7);
  if (hex.size() == 64 && is_hex(hex)) {
    auto id = "sha256:" + std::string{hex};
    if (st.images.count(id)) return id;
    return not_found();
  }
  if (name.rfind("sha256:", 0) != 0) {
    if (auto ref = registry::parse_reference(name)) {
      auto full = registry::with_default_tag(*ref);
      if (!full.digest.empty()) full.tag.clear();
      auto it = st.refs.find(full.str());
      if (it != st.refs.end()) {
        if (matched_ref) *matched_ref = it->first;
        return it->second;
      }
    }
  }
  if (is_hex(hex)) {
    std::string found;
    for (auto& [id, img] : st.images)
      if (id.compare(7, hex.size(), hex) == 0) {
        if (!found.empty()) return not_found(); // ambiguous
        found = id;
      }
    if (!found.empty()) return found;
  }
  return not_found();
}

std::vector<std::string> refs_of(const store_state& st, const std::string& id) {
  std::vector<std::string> out;
  for (auto& [ref, target] : st.refs)
    if (target == id) out.push_back(ref);
  return out;
}

image_info info_of(const store_state& st, const image_rec& img) {
  image_info out;
  out.id = img.id;
  out.parent = img.parent;
  out.config = img.config;
  out.diff_ids = img.facts.diff_ids;
  out.last_tag_time_nano = img.last_tag_time_nano;
  for (auto& ref : refs_of(st, img.id)) {
    auto parsed = registry::parse_reference(ref);
    if (!parsed) continue;
    if (!parsed->digest.empty())
      out.repo_digests.push_back(parsed->familiar_name() + "@" + parsed->digest);
    else
      out.repo_tags.push_back(parsed->familiar());
  }
  for (auto& c : img.chain) {
    auto it = st.layers.find(c);
    auto size = it == st.layers.end() ? 0 : it->second.size;
    out.layer_sizes.push_back(size);
    out.size += size;
  }
  out.graph_data["Name"] = st.opts.driver->name();
  if (!img.chain.empty()) {
    auto it = st.layers.find(img.chain.back());
    if (it != st.layers.end()) out.graph_data["CacheID"] = it->second.cache_id;
  }
  return out;
}

void publish(store_state& st, std::string action, std::string actor,
             std::map<std::string, std::string> attrs) {
  event ev;
  ev.type = "image";
  ev.action = std::move(action);
  ev.actor_id = std::move(actor);
  ev.attributes = std::move(attrs);
  caf::anon_send(st.opts.events, caf::publish_atom_v, std::move(ev));
}

/// Point `ref` at image `id`; true when it changed.
bool set_ref(store_state& st, const std::string& ref, const std::string& id) {
  auto& slot = st.refs[ref];
  if (slot == id) return false;
  slot = id;
  return true;
}

// -- layer workers --------------------------------------------------------------------------------

struct layer_task {
  std::string chain_id;
  std::string cache_id;
  std::string parent_cache_id;
  std::string diff_id;
  layer_descriptor desc;
  blob_handle blob;
  std::shared_ptr<graph::driver> driver;
  image_store_actor store;
};

/// Runs on a thread of its own: download, verify, decompress and extract one layer, streaming.
void layer_worker(caf::event_based_actor* self, layer_task t) {
  layer_done done;
  done.chain_id = t.chain_id;
  io::stage_clock net, sha_c, sha_u, unzip;
  io::sha256 diff_hash;
  int64_t received = 0;
  int64_t last_report = 0;
  constexpr int64_t report_every = 1 << 20;
  auto raw = io::timed(t.blob.stream->body, net);
  auto counted = [&, raw](char* buf, std::size_t len) -> caf::expected<std::size_t> {
    auto r = raw(buf, len);
    if (r && *r > 0) {
      received += static_cast<int64_t>(*r);
      if (received - last_report >= report_every) {
        last_report = received;
        self->send(t.store, layer_progress{t.chain_id, "Downloading", received, t.desc.size});
      }
    }
    return r;
  };
  auto verified =
      io::verifying(counted, t.desc.digest, t.desc.size,
                    "filesystem layer verification failed for digest " + t.desc.digest, &sha_c);
  auto tar = io::decompress(verified, &unzip);
  auto hashed = [&, tar](char* buf, std::size_t len) -> caf::expected<std::size_t> {
    auto r = tar(buf, len);
    if (r && *r > 0) {
      auto t0 = mono_ns();
      diff_hash.update(buf, *r);
      sha_u.ns += mono_ns() - t0;
    }
    return r;
  };
  auto t0 = mono_ns();
  auto stats = t.driver->apply_layer(t.cache_id, t.parent_cache_id, hashed);
  auto total = mono_ns() - t0;
  if (!stats) {
    done.error = stats.error();
    // a corrupt blob usually breaks decompression before its end: read the rest to report the
    // root cause (the digest mismatch), as a daemon that downloads before extracting would
    char sink[64 * 1024];
    for (;;) {
      auto r = verified(sink, sizeof sink);
      if (!r) {
        if (error_message(r.error()).find("verification failed") != std::string::npos)
          done.error = r.error();
        break;
      }
      if (*r == 0) break;
    }
  }
  t.blob.stream.reset(); // close the connection
  if (stats) {
    auto got = diff_hash.digest();
    if (got != t.diff_id) {
      done.error = make_error(ec::unspecified, "layers from manifest don't match image "
                                               "configuration: diff ID " +
                                                   got + ", expected " + t.diff_id);
      t.driver->remove(t.cache_id);
    } else {
      done.size = static_cast<int64_t>(stats->bytes);
    }
  }
  done.download_ns = net.ns;
  done.sha256_ns = sha_c.ns + sha_u.ns;
  done.decompress_ns = unzip.ns; // each clock counts its own stage only
  done.extract_ns = total - net.ns - sha_c.ns - sha_u.ns - unzip.ns;
  if (done.extract_ns < 0) done.extract_ns = 0;
  self->send(t.store, std::move(done));
}

// -- pulls ----------------------------------------------------------------------------------------

void say(const pull_ptr& op, std::string id, std::string status, int64_t current = -1,
         int64_t total = -1) {
  if (op->finished) return;
  caf::anon_send(op->sink, progress_message{std::move(id), std::move(status), current, total});
}

// A pull ("pull <ref>", or "pull -a <repo>") failed: log, end the progress stream, answer.
template <class Promise>
void report_pull_failure(const std::string& what, const progress_sink_actor& sink, Promise& rp,
                         const caf::error& err) {
  BLOG(info, "image-store") << what << " failed: " << error_message(err);
  caf::anon_send(sink, atom::done_v, err);
  rp.deliver(job_result{status_err, err, {}});
}

void fail_pull(const pull_ptr& op, const caf::error& err) {
  if (op->finished) return;
  op->finished = true;
  report_pull_failure("pull " + op->ref.str(), op->sink, op->rp, err);
}

void start_ready(store_pointer self);
void pull_next(store_pointer self, const group_ptr& g);

void finish_pull(store_pointer self, const pull_ptr& op) {
  if (op->finished) return;
  auto& st = self->state;
  auto& img = op->image;
  auto id = img.config_digest;
  auto ref = op->ref;
  bool is_new = st.images.count(id) == 0;
  if (is_new) {
    image_rec rec;
    rec.id = id;
    rec.config = img.config;
    rec.facts = op->facts;
    rec.chain = op->chain;
    if (auto err = io::write_file_atomic(image_file(st, id), rec.config)) {
      fail_pull(op, err);
      return;
    }
    for (auto& c : rec.chain)
      ++st.layers[c].refs;
    st.images.emplace(id, std::move(rec));
  }
  auto& rec = st.images[id];
  bool changed = false;
  if (!ref.tag.empty() && ref.digest.empty()) {
    if (set_ref(st, ref.str(), id)) {
      changed = true;
      rec.last_tag_time_nano = now_nano();
    }
  }
  auto canonical = ref;
  canonical.tag.clear();
  canonical.digest = img.manifest_digest;
  changed |= set_ref(st, canonical.str(), id);
  if (changed || is_new) {
    if (auto err = save_image_meta(st, rec)) BLOG(warn, "image-store") << error_message(err);
    if (auto err = save_repositories(st)) {
      fail_pull(op, err);
      return;
    }
  }
  auto wall = mono_ns() - op->started_ns;
  BLOG(info, "image-store") << "pulled " << ref.str() << " (" << id << ", "
                            << op->image.layers.size() << " layers) in " << wall / 1000000
                            << " ms; layer time split: download " << op->download_ns / 1000000
                            << " ms, sha256 " << op->sha256_ns / 1000000 << " ms, decompress "
                            << op->decompress_ns / 1000000 << " ms, extract "
                            << op->extract_ns / 1000000 << " ms";
  auto shown = ref.digest.empty() ? ref.familiar() : ref.familiar_name() + "@" + ref.digest;
  publish(st, "pull", shown, {{"name", ref.familiar_name()}});
  say(op, "", "Digest: " + img.manifest_digest);
  if (op->group) {
    op->finished = true;
    op->group->changed |= changed || is_new;
    pull_next(self, op->group);
    return;
  }
  say(op, "",
      std::string{changed || is_new ? "Status: Downloaded newer image for "
                                    : "Status: Image is up to date for "} +
          shown);
  op->finished = true;
  caf::anon_send(op->sink, atom::done_v, caf::error{});
  op->rp.deliver(job_result{status_ok, {}, caf::make_message(shown)});
}

void layer_ready(store_pointer self, const pull_ptr& op) {
  if (op->pending > 0) --op->pending;
  if (op->pending == 0) finish_pull(self, op);
}

void start_download(store_pointer self, download& d) {
  auto& st = self->state;
  d.started = true;
  ++st.running;
  d.cache_id = io::random_hex();
  for (auto& op : d.pulls)
    say(op, short_id(d.desc.digest), "Downloading", 0, d.desc.size);
  auto chain = d.chain_id;
  self->request(st.opts.registry, caf::infinite, atom::open_blob_v, d.reference, d.auth, d.desc)
      .then(
          [self, chain](blob_handle& blob) {
            auto& st = self->state;
            auto it = st.downloads.find(chain);
            if (it == st.downloads.end()) return;
            auto& d = it->second;
            std::string parent_cache;
            if (!d.parent.empty()) {
              auto p = st.layers.find(d.parent);
              if (p != st.layers.end())
                parent_cache = p->second.cache_id;
              else if (auto pd = st.downloads.find(d.parent); pd != st.downloads.end())
                parent_cache = pd->second.cache_id;
            }
            layer_task task{d.chain_id,     d.cache_id,
                            parent_cache,   d.diff_id,
                            d.desc,         std::move(blob),
                            st.opts.driver, caf::actor_cast<image_store_actor>(self)};
            self->system().spawn<caf::detached>(layer_worker, std::move(task));
          },
          [self, chain](caf::error& err) {
            layer_done done;
            done.chain_id = chain;
            done.error = err;
            self->send(caf::actor_cast<image_store_actor>(self), std::move(done));
          });
}

/// Start queued downloads while slots are free and their parents allow it.
void start_ready(store_pointer self) {
  auto& st = self->state;
  auto independent = st.opts.driver->independent_layers();
  for (auto it = st.queue.begin(); it != st.queue.end();) {
    if (st.running >= std::max<int64_t>(1, st.opts.max_concurrent_downloads)) return;
    auto d = st.downloads.find(*it);
    if (d == st.downloads.end()) {
      it = st.queue.erase(it);
      continue;
    }
    bool parent_ok = independent || d->second.parent.empty() || st.layers.count(d->second.parent);
    // overlay2 still needs the parent's cache ID, which exists once its download started
    if (independent && !d->second.parent.empty() && !st.layers.count(d->second.parent)) {
      auto pd = st.downloads.find(d->second.parent);
      parent_ok = pd != st.downloads.end() && pd->second.started;
    }
    if (!parent_ok) {
      ++it;
      continue;
    }
    it = st.queue.erase(it);
    start_download(self, d->second);
  }
}

void on_layer_done(store_pointer self, layer_done& done) {
  auto& st = self->state;
  auto it = st.downloads.find(done.chain_id);
  if (it == st.downloads.end()) return;
  auto d = std::move(it->second);
  st.downloads.erase(it);
  if (d.started) --st.running;
  auto sid = short_id(d.desc.digest);
  if (!done.error) {
    layer_rec l{d.chain_id, d.diff_id, d.parent, d.cache_id, d.desc.digest, done.size, 0};
    if (auto err = save_layer(st, l)) {
      done.error = err;
      st.opts.driver->remove(d.cache_id);
    } else {
      st.layers.emplace(l.chain_id, std::move(l));
    }
  }
  if (done.error) {
    BLOG(info, "image-store") << "layer " << d.desc.digest << ": " << error_message(done.error);
    for (auto& op : d.pulls)
      fail_pull(op, done.error);
    // layers stacked on this one cannot be built either
    for (auto& [chain, other] : st.downloads)
      if (other.parent == d.chain_id && !other.started) {
        layer_done cascade;
        cascade.chain_id = chain;
        cascade.error = done.error;
        self->send(caf::actor_cast<image_store_actor>(self), std::move(cascade));
      }
  } else {
    BLOG(debug, "image-store") << "layer " << d.desc.digest << " (" << d.desc.size
                               << " bytes): download " << done.download_ns / 1000000
                               << " ms, sha256 " << done.sha256_ns / 1000000 << " ms, decompress "
                               << done.decompress_ns / 1000000 << " ms, extract "
                               << done.extract_ns / 1000000 << " ms";
    for (auto& op : d.pulls) {
      op->download_ns += done.download_ns;
      op->sha256_ns += done.sha256_ns;
      op->decompress_ns += done.decompress_ns;
      op->extract_ns += done.extract_ns;
      say(op, sid, "Verifying Checksum");
      say(op, sid, "Download complete");
      say(op, sid, "Extracting", d.desc.size, d.desc.size);
      say(op, sid, "Pull complete");
      layer_ready(self, op);
    }
  }
  start_ready(self);
}

void on_resolved(store_pointer self, const pull_ptr& op, resolved_image& img, const job& j) {
  auto& st = self->state;
  op->image = std::move(img);
  auto facts = parse_config(op->image.config);
  if (!facts) return fail_pull(op, facts.error());
  if (facts->diff_ids.size() != op->image.layers.size())
    return fail_pull(
        op, make_error(ec::unspecified, "layers from manifest don't match image configuration"));
  op->facts = std::move(*facts);
  op->chain = chain_ids(op->facts.diff_ids);
  // moby prints the repository path: "latest: Pulling from library/busybox"
  say(op, op->ref.digest.empty() ? op->ref.tag : op->ref.digest, "Pulling from " + op->ref.path);
  auto auth = j.getenv("auth");
  std::vector<std::string> wait_msgs;
  for (std::size_t i = 0; i < op->chain.size(); ++i) {
    auto& chain = op->chain[i];
    auto& desc = op->image.layers[i];
    auto sid = short_id(desc.digest);
    if (st.layers.count(chain)) {
      say(op, sid, "Already exists");
      continue;
    }
    ++op->pending;
    auto it = st.downloads.find(chain);
    if (it != st.downloads.end()) {
      it->second.pulls.push_back(op);
      say(op, sid, it->second.started ? "Downloading" : "Waiting");
      continue;
    }
    download d;
    d.chain_id = chain;
    d.parent = i == 0 ? std::string{} : op->chain[i - 1];
    d.diff_id = op->facts.diff_ids[i];
    d.desc = desc;
    d.reference = op->ref.str();
    d.auth = auth;
    d.pulls.push_back(op);
    st.downloads.emplace(chain, std::move(d));
    st.queue.push_back(chain);
    say(op, sid, "Pulling fs layer");
  }
  if (op->pending == 0) return finish_pull(self, op);
  start_ready(self);
  // what did not get a download slot (or waits for its parent on vfs) says so
  for (auto& chain : op->chain)
    if (auto it = st.downloads.find(chain); it != st.downloads.end() && !it->second.started)
      say(op, short_id(it->second.desc.digest), "Waiting");
}

void start_pull(store_pointer self, const pull_ptr& op, const job& j, const std::string& platform) {
  op->started_ns = mono_ns();
  auto auth = j.getenv("auth");
  self->request(self->state.opts.registry, caf::infinite, atom::resolve_v, op->ref.str(), auth,
                platform)
      .then([self, op, j](resolved_image& img) { on_resolved(self, op, img, j); },
            [op](caf::error& err) { fail_pull(op, err); });
}

void pull_next(store_pointer self, const group_ptr& g) {
  if (g->next == g->tags.size()) {
    caf::anon_send(g->sink,
                   progress_message{"",
                                    std::string{g->changed ? "Status: Downloaded newer image for "
                                                           : "Status: Image is up to date for "} +
                                        g->repo.familiar_name(),
                                    -1, -1});
    caf::anon_send(g->sink, atom::done_v, caf::error{});
    g->rp.deliver(job_result{status_ok, {}, caf::make_message(g->repo.familiar_name())});
    return;
  }
  auto op = std::make_shared<pull_op>();
  op->group = g;
  op->ref = g->repo;
  op->ref.tag = g->tags[g->next++];
  op->sink = g->sink;
  op->rp = g->rp; // delivered once: by the failing tag, or above
  start_pull(self, op, g->j, g->platform);
}

/// args: reference, platform ("" = the host's), and "all" for every tag of the repository.
caf::result<job_result> pull_job(store_pointer self, job& j) {
  if (j.args.empty() || !j.input.match_elements<progress_sink_actor>())
    return job_result{status_err, make_error(ec::invalid_argument, "pull: bad arguments"), {}};
  auto parsed = registry::parse_reference(j.args[0]);
  if (!parsed) return job_result{status_err, parsed.error(), {}};
  auto platform = j.args.size() > 1 ? j.args[1] : std::string{};
  if (j.args.size() > 2 && j.args[2] == "all") {
    auto g = std::make_shared<pull_group>();
    g->repo = std::move(*parsed);
    g->repo.tag.clear();
    g->repo.digest.clear();
    g->sink = j.input.get_as<progress_sink_actor>(0);
    g->rp = self->make_response_promise<job_result>();
    g->j = j;
    g->platform = platform;
    auto auth = j.getenv("auth");
    self->request(self->state.opts.registry, caf::infinite, atom::tags_v, g->repo.str(), auth)
        .then(
            [self, g](std::vector<std::string>& tags) {
              g->tags = std::move(tags);
              pull_next(self, g);
            },
            [g](caf::error& err) {
              report_pull_failure("pull -a " + g->repo.str(), g->sink, g->rp, err);
            });
    return g->rp;
  }
  auto op = std::make_shared<pull_op>();
  op->ref = registry::with_default_tag(std::move(*parsed));
  op->sink = j.input.get_as<progress_sink_actor>(0);
  op->rp = self->make_response_promise<job_result>();
  start_pull(self, op, j, platform);
  return op->rp;
}

// -- list, inspect, tag, delete, prune -----------------------------------------------------------

caf::expected<int64_t> created_of(const store_state& st, const std::string& name) {
  auto id = lookup(st, name);
  if (!id) return id.error();
  return st.images.at(*id).facts.created_nano;
}

caf::expected<std::vector<image_info>> list_images(const store_state& st, const filter_args& f,
                                                   bool /*all*/) {
  static const std::set<std::string> known{"dangling", "label", "before", "since", "reference"};
  for (auto& [k, v] : f)
    if (!known.count(k)) return make_error(ec::invalid_argument, "invalid filter '" + k + "'");
  int64_t before = -1, since = -1;
  if (f.count("before"))
    for (auto& v : f.at("before")) {
      auto t = created_of(st, v);
      if (!t) return t.error();
      before = *t;
    }
  if (f.count("since"))
    for (auto& v : f.at("since")) {
      auto t = created_of(st, v);
      if (!t) return t.error();
      since = *t;
    }
  int dangling = -1;
  if (f.count("dangling"))
    for (auto& v : f.at("dangling")) {
      if (v == "true" || v == "1")
        dangling = 1;
      else if (v == "false" || v == "0")
        dangling = 0;
      else
        return make_error(ec::invalid_argument, "Invalid filter 'dangling=" + v + "'");
    }
  std::vector<image_info> out;
  for (auto& [id, img] : st.images) {
    auto info = info_of(st, img);
    if (dangling == 1 && !info.repo_tags.empty()) continue;
    if (dangling == 0 && info.repo_tags.empty()) continue;
    if (before >= 0 && img.facts.created_nano >= before) continue;
    if (since >= 0 && img.facts.created_nano <= since) continue;
    if (f.count("label")) {
      bool ok = true;
      for (auto& l : f.at("label"))
        ok = ok && label_matches(img.facts.labels, l);
      if (!ok) continue;
    }
    if (f.count("reference")) {
      // moby: each reference (tag or digest) is kept when a pattern matches its familiar name
      // or its whole familiar string; an image with none left is not listed
      auto matches = [&](const std::string& shown, std::size_t name_end) {
        auto name = shown.substr(0, name_end);
        for (auto& pattern : f.at("reference"))
          if (::fnmatch(pattern.c_str(), shown.c_str(), 0) == 0 ||
              ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0)
            return true;
        return false;
      };
      std::vector<std::string> tags, digests;
      for (auto& t : info.repo_tags)
        if (matches(t, t.rfind(':'))) tags.push_back(t);
      for (auto& d : info.repo_digests)
        if (matches(d, d.find('@'))) digests.push_back(d);
      if (tags.empty() && digests.empty()) continue;
      info.repo_tags = std::move(tags);
      info.repo_digests = std::move(digests);
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [&](const image_info& a, const image_info& b) {
    return st.images.at(a.id).facts.created_nano > st.images.at(b.id).facts.created_nano;
  });
  return out;
}

caf::expected<std::string> tag_image(store_state& st, const std::string& source,
                                     const std::string& repo, const std::string& tag) {
  auto id = lookup(st, source);
  if (!id) return id.error();
  auto text = repo + (tag.empty() ? std::string{} : ":" + tag);
  auto ref = registry::parse_reference(text);
  if (!ref) return ref.error();
  if (!ref->digest.empty())
    return make_error(ec::invalid_argument, "refusing to create a tag with a digest reference");
  auto full = registry::with_default_tag(*ref);
  if (set_ref(st, full.str(), *id)) {
    auto& img = st.images[*id];
    img.last_tag_time_nano = now_nano();
    if (auto err = save_image_meta(st, img)) return err;
    if (auto err = save_repositories(st)) return err;
  }
  publish(st, "tag", *id, {{"name", full.familiar()}});
  return full.familiar();
}

void drop_layers(store_state& st, const std::vector<std::string>& chain,
                 std::vector<image_delete_item>& out);

/// Remove an image that has no references left, and the layers only it used.
void delete_image(store_state& st, const std::string& id, std::vector<image_delete_item>& out) {
  auto it = st.images.find(id);
  if (it == st.images.end()) return;
  auto chain = it->second.chain;
  ::unlink(image_file(st, id).c_str());
  ::unlink((image_file(st, id) + ".json").c_str());
  io::sync_dir(st.root + "/imagedb");
  st.images.erase(it);
  publish(st, "delete", id, {{"name", id}});
  out.push_back({"Deleted", id});
  drop_layers(st, chain, out);
}

/// Drop one reference to each layer of `chain`, removing from the top the layers nothing uses.
void drop_layers(store_state& st, const std::vector<std::string>& chain,
                 std::vector<image_delete_item>& out) {
  // every layer of the chain was counted, so every one is uncounted (a shared base included)
  for (auto& c : chain)
    if (auto l = st.layers.find(c); l != st.layers.end()) --l->second.refs;
  for (auto c = chain.rbegin(); c != chain.rend(); ++c) {
    auto l = st.layers.find(*c);
    if (l == st.layers.end()) continue;
    if (l->second.refs > 0) break;
    bool has_children = std::any_of(st.layers.begin(), st.layers.end(),
                                    [&](auto& kv) { return kv.second.parent == *c; });
    if (has_children) break;
    // the record goes first: a crash after this leaves files that the next start removes
    ::unlink(layer_file(st, *c).c_str());
    st.opts.driver->remove(l->second.cache_id);
    out.push_back({"Deleted", *c});
    st.layers.erase(l);
  }
}

/// The containers whose read-write layers sit on image `id`.
std::vector<std::string> users_of(const store_state& st, const std::string& id) {
  std::vector<std::string> out;
  for (auto& [container, m] : st.mounts)
    if (m.image_id == id) out.push_back(container);
  return out;
}

/// moby's isSingleReference: one tag (plus digests of the same repository), or digests of one
/// repository only.
bool single_reference(const std::vector<std::string>& refs) {
  if (refs.size() <= 1) return refs.size() == 1;
  std::set<std::string> canonical;
  std::optional<registry::reference> single;
  for (auto& r : refs) {
    auto p = registry::parse_reference(r);
    if (!p) return false;
    if (!p->digest.empty())
      canonical.insert(p->name());
    else if (!single)
      single = *p;
    else
      return false;
  }
  if (!single) single = registry::parse_reference(refs.front()).value();
  return canonical.size() == 1 && canonical.count(single->name()) > 0;
}

/// `docker rmi`, as moby's ImageDelete: untag the name given, then delete the image when nothing
/// else holds it. Conflicts: a running container (hard, even with force), other references and
/// stopped containers (soft: force overrides). `running` names the containers that are running.
/// Force-deleting an image a stopped container uses removes the image; its layers stay held by
/// the container until it is removed.
caf::expected<std::vector<image_delete_item>> delete_job(store_state& st, const std::string& name,
                                                         bool force, bool /*noprune*/,
                                                         const std::set<std::string>& running) {
  std::string matched;
  auto id = lookup(st, name, &matched);
  if (!id) return id.error();
  auto short_image = io::digest_hex(*id).substr(0, 12);
  auto users = users_of(st, *id);
  std::vector<image_delete_item> out;
  auto untag = [&](const std::string& ref) {
    st.refs.erase(ref);
    auto parsed = registry::parse_reference(ref);
    auto shown = !parsed                  ? ref
                 : parsed->digest.empty() ? parsed->familiar()
                                          : parsed->familiar_name() + "@" + parsed->digest;
    out.push_back({"Untagged", shown});
    publish(st, "untag", *id, {{"name", *id}});
  };
  // moby's checkImageDeleteConflict; `used` tells a container conflict from a reference one.
  auto conflict = [&](bool references, bool stopped, bool& used) -> caf::error {
    used = false;
    auto refuse = [&](bool hard, const std::string& why) {
      return make_error(ec::conflict,
                        "conflict: unable to delete " + short_image +
                            (hard ? " (cannot be forced) - " : " (must be forced) - ") + why);
    };
    for (auto& c : users)
      if (running.count(c)) {
        used = true;
        return refuse(true, "image is being used by running container " + c.substr(0, 12));
      }
    if (references && !refs_of(st, *id).empty())
      return refuse(false, "image is referenced in multiple repositories");
    if (stopped)
      for (auto& c : users)
        if (!running.count(c)) {
          used = true;
          return refuse(false, "image is being used by stopped container " + c.substr(0, 12));
        }
    return {};
  };
  bool removed_reference = false;
  if (!matched.empty()) {
    if (!force && single_reference(refs_of(st, *id)) && !users.empty())
      return make_error(ec::conflict, "conflict: unable to remove repository reference \"" + name +
                                          "\" (must force) - container " +
                                          users.front().substr(0, 12) +
                                          " is using its referenced image " + short_image);
    auto parsed = registry::parse_reference(matched);
    untag(matched);
    if (parsed && parsed->digest.empty()) {
      // no tag of that repository left: its digest references go too (moby)
      bool tag_left = false;
      for (auto& ref : refs_of(st, *id)) {
        auto r = registry::parse_reference(ref);
        if (r && r->digest.empty() && r->name() == parsed->name()) tag_left = true;
      }
      if (!tag_left)
        for (auto& ref : refs_of(st, *id)) {
          auto r = registry::parse_reference(ref);
          if (r && !r->digest.empty() && r->name() == parsed->name()) untag(ref);
        }
    }
    if (auto err = save_repositories(st)) return err;
    if (!refs_of(st, *id).empty()) return out;
    removed_reference = true;
  } else if (auto refs = refs_of(st, *id); single_reference(refs)) {
    bool used = false;
    if (auto err = conflict(false, !force, used)) return err;
    for (auto& r : refs)
      untag(r);
  }
  bool used = false;
  if (auto err = conflict(!force, !force, used)) {
    if (removed_reference && used) return out; // untagged; the image stays for its container
    if (auto e = save_repositories(st)) return e;
    return err;
  }
  for (auto& r : refs_of(st, *id)) // forced: every reference goes
    untag(r);
  if (auto err = save_repositories(st)) return err;
  delete_image(st, *id, out);
  return out;
}

struct prune_result {
  std::vector<image_delete_item> items;
  int64_t reclaimed = 0;
};

caf::expected<prune_result> prune(store_state& st, const filter_args& f) {
  static const std::set<std::string> known{"dangling", "until", "label", "label!"};
  for (auto& [k, v] : f)
    if (!known.count(k)) return make_error(ec::invalid_argument, "invalid filter '" + k + "'");
  bool dangling_only = true;
  if (f.count("dangling"))
    for (auto& v : f.at("dangling"))
      dangling_only = !(v == "false" || v == "0");
  int64_t until = -1;
  if (f.count("until"))
    for (auto& v : f.at("until")) {
      char* end = nullptr;
      auto secs = std::strtod(v.c_str(), &end);
      if (end && *end == '\0') {
        until = static_cast<int64_t>(secs * 1e9);
      } else if (auto t = parse_rfc3339(v)) {
        until = *t;
      } else {
        return make_error(ec::invalid_argument, "invalid until filter: " + v);
      }
    }
  prune_result out;
  std::vector<std::string> victims;
  for (auto& [id, img] : st.images) {
    if (!users_of(st, id).empty()) continue; // a container's image is never pruned
    auto refs = refs_of(st, id);
    bool tagged = std::any_of(refs.begin(), refs.end(), [](const std::string& r) {
      auto p = registry::parse_reference(r);
      return p && p->digest.empty();
    });
    if (dangling_only && tagged) continue;
    if (until >= 0 && img.facts.created_nano >= until) continue;
    bool ok = true;
    if (f.count("label"))
      for (auto& l : f.at("label"))
        ok = ok && label_matches(img.facts.labels, l);
    if (f.count("label!"))
      for (auto& l : f.at("label!"))
        ok = ok && !label_matches(img.facts.labels, l);
    if (ok) victims.push_back(id);
  }
  for (auto& id : victims) {
    auto info = info_of(st, st.images.at(id));
    for (auto& r : refs_of(st, id)) {
      st.refs.erase(r);
      out.items.push_back({"Untagged", r});
    }
    delete_image(st, id, out.items);
    out.reclaimed += info.size;
  }
  if (!victims.empty())
    if (auto err = save_repositories(st)) return err;
  return out;
}

// -- save, load, import ---------------------------------------------------------------------------

/// Record what a worker created: layers first (a record means complete), then images and tags.
/// Returns the image IDs in order.
caf::expected<std::vector<std::string>>
record_loaded(store_state& st, std::vector<loaded_image>& imgs, const std::string& action) {
  std::vector<std::string> ids;
  for (auto& img : imgs) {
    for (auto& l : img.layers) {
      if (st.layers.count(l.chain_id)) { // a concurrent pull made it meanwhile
        st.opts.driver->remove(l.cache_id);
        continue;
      }
      layer_rec rec{l.chain_id, l.diff_id, l.parent, l.cache_id, {}, l.size, 0};
      if (auto err = save_layer(st, rec)) return err;
      st.layers.emplace(rec.chain_id, std::move(rec));
    }
    auto facts = parse_config(img.config);
    if (!facts) return facts.error();
    auto id = io::digest_of(img.config);
    if (!st.images.count(id)) {
      if (auto err = io::write_file_atomic(image_file(st, id), img.config)) return err;
      image_rec rec;
      rec.id = id;
      rec.config = img.config;
      rec.facts = std::move(*facts);
      rec.chain = chain_ids(rec.facts.diff_ids);
      for (auto& c : rec.chain)
        ++st.layers[c].refs;
      st.images.emplace(id, std::move(rec));
    }
    auto& rec = st.images[id];
    for (auto& tag : img.repo_tags) {
      auto ref = registry::parse_reference(tag);
      if (!ref) return ref.error();
      if (set_ref(st, registry::with_default_tag(*ref).str(), id))
        rec.last_tag_time_nano = now_nano();
    }
    if (auto err = save_image_meta(st, rec)) return err;
    if (!action.empty()) publish(st, action, id, {{"name", id}});
    ids.push_back(id);
  }
  if (auto err = save_repositories(st)) return err;
  return ids;
}

/// Apply local layer tars (each maybe compressed) as the layers of an image whose diff IDs are
/// `diff_ids`; existing chains are reused. Runs on a worker.
caf::expected<std::vector<stored_layer>>
apply_local_layers(graph::driver& drv, const std::vector<std::string>& paths,
                   const std::vector<std::string>& diff_ids,
                   std::map<std::string, std::string>& existing) {
  std::vector<stored_layer> out;
  auto chain = chain_ids(diff_ids);
  std::string parent_cache;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (auto it = existing.find(chain[i]); it != existing.end()) {
      parent_cache = it->second;
      continue;
    }
    int fd = ::open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(ec::invalid_argument, "cannot open layer " + std::to_string(i));
    io::sha256 hash;
    auto cache = io::random_hex();
    auto stats =
        drv.apply_layer(cache, parent_cache, io::hashing(io::decompress(io::fd_reader(fd)), hash));
    ::close(fd);
    if (!stats) {
      for (auto& l : out)
        drv.remove(l.cache_id);
      return stats.error();
    }
    auto got = hash.digest();
    if (got != diff_ids[i]) {
      drv.remove(cache);
      for (auto& l : out)
        drv.remove(l.cache_id);
      return make_error(ec::invalid_argument, "invalid diffID for layer " + std::to_string(i) +
                                                  ": expected \"" + diff_ids[i] + "\", got \"" +
                                                  got + "\"");
    }
    out.push_back(stored_layer{chain[i], diff_ids[i], i == 0 ? std::string{} : chain[i - 1], cache,
                               static_cast<int64_t>(stats->bytes)});
    existing[chain[i]] = cache;
    parent_cache = cache;
  }
  return out;
}

std::map<std::string, std::string> existing_chains(const store_state& st) {
  std::map<std::string, std::string> out;
  for (auto& [c, l] : st.layers)
    out.emplace(c, l.cache_id);
  return out;
}

caf::result<job_result> load_job(store_pointer self, job& j) {
  if (j.args.empty())
    return job_result{status_err, make_error(ec::invalid_argument, "load: no body"), {}};
  auto& st = self->state;
  auto body = j.args[0];
  auto tmp = st.root + "/tmp/load-" + io::random_hex(8);
  auto drv = st.opts.driver;
  auto existing = existing_chains(st);
  auto rp = self->make_response_promise<job_result>();
  run_detached<std::vector<loaded_image>>(
      self,
      [body, tmp, drv, existing]() mutable -> caf::expected<std::vector<loaded_image>> {
        struct cleanup {
          std::string dir;
          ~cleanup() { io::remove_all(dir); }
        } guard{tmp};
        if (auto err = io::mkdir_all(tmp, 0700)) return err;
        int fd = ::open(body.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return make_error(ec::invalid_argument, "load: cannot read the request body");
        auto imgs = images::unpack_load_tar(io::fd_reader(fd), tmp);
        ::close(fd);
        if (!imgs) return imgs.error();
        std::vector<loaded_image> out;
        for (auto& img : *imgs) {
          auto facts = parse_config(img.config);
          if (!facts) return facts.error();
          if (facts->diff_ids.size() != img.layer_paths.size())
            return make_error(ec::invalid_argument,
                              "invalid manifest, layers length mismatch: expected " +
                                  std::to_string(img.layer_paths.size()) + ", got " +
                                  std::to_string(facts->diff_ids.size()));
          auto layers = apply_local_layers(*drv, img.layer_paths, facts->diff_ids, existing);
          if (!layers) {
            for (auto& done : out)
              for (auto& l : done.layers)
                drv->remove(l.cache_id);
            return layers.error();
          }
          out.push_back(loaded_image{img.config, img.repo_tags, std::move(*layers)});
        }
        return out;
      },
      [self, rp](caf::expected<std::vector<loaded_image>>& r) mutable {
        if (!r) {
          rp.deliver(job_result{status_err, r.error(), {}});
          return;
        }
        auto ids = record_loaded(self->state, *r, "load");
        if (!ids) {
          rp.deliver(job_result{status_err, ids.error(), {}});
          return;
        }
        std::vector<std::string> lines;
        for (std::size_t i = 0; i < r->size(); ++i) {
          if ((*r)[i].repo_tags.empty()) lines.push_back("Loaded image ID: " + (*ids)[i]);
          for (auto& t : (*r)[i].repo_tags) {
            auto ref = registry::parse_reference(t);
            lines.push_back("Loaded image: " +
                            (ref ? registry::with_default_tag(*ref).familiar() : t));
          }
        }
        rp.deliver(job_result{status_ok, {}, caf::make_message(std::move(lines))});
      });
  return rp;
}

caf::result<job_result> import_job(store_pointer self, job& j) {
  // args: body file, repo, tag, message; input: the changes
  auto arg = [&](std::size_t i) { return i < j.args.size() ? j.args[i] : std::string{}; };
  auto& st = self->state;
  std::vector<std::string> changes;
  if (j.input.match_elements<std::vector<std::string>>())
    changes = j.input.get_as<std::vector<std::string>>(0);
  std::string tag_ref;
  if (!arg(1).empty()) {
    auto ref = registry::parse_reference(arg(1) + (arg(2).empty() ? "" : ":" + arg(2)));
    if (!ref) return job_result{status_err, ref.error(), {}};
    tag_ref = registry::with_default_tag(*ref).str();
  }
  auto object = images::apply_changes("", changes);
  if (!object) return job_result{status_err, object.error(), {}};
  auto body = arg(0);
  auto message = arg(3);
  auto arch = j.getenv("arch", "amd64");
  auto drv = st.opts.driver;
  auto rp = self->make_response_promise<job_result>();
  run_detached<std::vector<loaded_image>>(
      self,
      [body, drv, object = *object, message, arch,
       tag_ref]() -> caf::expected<std::vector<loaded_image>> {
        int fd = ::open(body.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return make_error(ec::invalid_argument, "import: cannot read the request body");
        io::sha256 hash;
        auto cache = io::random_hex();
        auto stats =
            drv->apply_layer(cache, "", io::hashing(io::decompress(io::fd_reader(fd)), hash));
        ::close(fd);
        if (!stats) return stats.error();
        auto diff = hash.digest();
        loaded_image img;
        img.config = images::import_config(arch, diff, object, message, now_nano());
        if (!tag_ref.empty()) img.repo_tags.push_back(tag_ref);
        img.layers.push_back(
            stored_layer{diff, diff, {}, cache, static_cast<int64_t>(stats->bytes)});
        return std::vector<loaded_image>{std::move(img)};
      },
      [self, rp](caf::expected<std::vector<loaded_image>>& r) mutable {
        if (!r) {
          rp.deliver(job_result{status_err, r.error(), {}});
          return;
        }
        auto ids = record_loaded(self->state, *r, "import");
        if (!ids) {
          rp.deliver(job_result{status_err, ids.error(), {}});
          return;
        }
        rp.deliver(job_result{status_ok, {}, caf::make_message(ids->front())});
      });
  return rp;
}

/// The diff of read-write layer `rw` applied as a new layer `cache` on `parent_cache`, the tar
/// streamed from a thread through a socket pair (no temp file). Returns the diff ID and size.
caf::expected<std::pair<std::string, int64_t>> apply_diff(graph::driver& drv, const std::string& rw,
                                                          const std::vector<graph::change>& changes,
                                                          const std::string& cache,
                                                          const std::string& parent_cache) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return io::sys_error("socketpair");
  io::unique_fd rd{sv[0]};
  io::unique_fd wr{sv[1]};
  caf::error produced;
  std::thread producer{[&] {
    produced = drv.diff_tar(rw, changes, [&wr](const char* d, std::size_t n) -> caf::error {
      while (n > 0) {
        auto k = ::send(wr.fd, d, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return io::sys_error("write the layer diff");
        d += k;
        n -= static_cast<std::size_t>(k);
      }
      return {};
    });
    ::shutdown(wr.fd, SHUT_WR); // the end of the tar
  }};
  io::sha256 hash;
  auto stats = drv.apply_layer(cache, parent_cache, io::hashing(io::fd_reader(rd.fd), hash));
  ::shutdown(rd.fd, SHUT_RDWR); // a producer still writing (after a failure) stops
  producer.join();
  if (produced || !stats) {
    if (stats) drv.remove(cache);
    return produced ? produced : stats.error();
  }
  return std::make_pair(hash.digest(), static_cast<int64_t>(stats->bytes));
}

caf::result<job_result> commit_job(store_pointer self, job& j) {
  // args: container ID, read-write layer, image ID, repo, tag, comment, author;
  // input: the changes, the request's config JSON, the container's Config JSON
  auto arg = [&](std::size_t i) { return i < j.args.size() ? j.args[i] : std::string{}; };
  auto& st = self->state;
  if (!j.input.match_elements<std::vector<std::string>, std::string, std::string>())
    return job_result{status_err, make_error(ec::invalid_argument, "commit: no config"), {}};
  auto cc = j.input.get_as<std::string>(2);
  auto user = images::apply_changes(j.input.get_as<std::string>(1),
                                    j.input.get_as<std::vector<std::string>>(0));
  if (!user) return job_result{status_err, user.error(), {}};
  std::string tag_ref;
  if (!arg(3).empty()) {
    auto ref = registry::parse_reference(arg(3) + (arg(4).empty() ? "" : ":" + arg(4)));
    if (!ref) return job_result{status_err, ref.error(), {}};
    if (!ref->digest.empty())
      return job_result{
          status_err, make_error(ec::invalid_argument, "cannot commit to digest reference"), {}};
    tag_ref = registry::with_default_tag(*ref).str();
  }
  auto parent = st.images.find(arg(2));
  if (parent == st.images.end())
    return job_result{status_err, make_error(ec::not_found, "No such image: " + arg(2)), {}};
  auto parent_id = parent->first;
  auto parent_config = parent->second.config;
  auto diff_ids = parent->second.facts.diff_ids;
  std::string parent_cache;
  if (!parent->second.chain.empty())
    if (auto l = st.layers.find(parent->second.chain.back()); l != st.layers.end())
      parent_cache = l->second.cache_id;
  images::commit_info info;
  info.container_id = arg(0);
  info.comment = arg(5);
  info.author = arg(6);
  info.docker_version = version_string();
  info.now_unix_nano = now_nano();
  auto drv = st.opts.driver;
  auto rw = arg(1);
  auto rp = self->make_response_promise<job_result>();
  run_detached<std::vector<loaded_image>>(
      self,
      [drv, rw, parent_cache, parent_config, user = *user, cc, info, diff_ids,
       tag_ref]() mutable -> caf::expected<std::vector<loaded_image>> {
        auto changes = drv->changes(rw);
        if (!changes) return changes.error();
        loaded_image img;
        if (!changes->empty()) { // moby's empty layer (no change) adds no diff ID
          auto cache = io::random_hex();
          auto diff = apply_diff(*drv, rw, *changes, cache, parent_cache);
          if (!diff) return diff.error();
          info.diff_id = diff->first;
          auto parent_chain = chain_ids(diff_ids);
          diff_ids.push_back(diff->first);
          img.layers.push_back(stored_layer{chain_ids(diff_ids).back(), diff->first,
                                            parent_chain.empty() ? "" : parent_chain.back(), cache,
                                            diff->second});
        }
        auto config = images::commit_config(parent_config, user, cc, info);
        if (!config) {
          for (auto& l : img.layers)
            drv->remove(l.cache_id);
          return config.error();
        }
        img.config = std::move(*config);
        if (!tag_ref.empty()) img.repo_tags.push_back(tag_ref);
        return std::vector<loaded_image>{std::move(img)};
      },
      [self, rp, parent_id, tag_ref](caf::expected<std::vector<loaded_image>>& r) mutable {
        if (!r) {
          rp.deliver(job_result{status_err, r.error(), {}});
          return;
        }
        auto& st = self->state;
        auto ids = record_loaded(st, *r, "");
        if (!ids) {
          rp.deliver(job_result{status_err, ids.error(), {}});
          return;
        }
        auto& id = ids->front();
        if (auto it = st.images.find(id); it != st.images.end() && it->second.parent.empty()) {
          it->second.parent = parent_id; // docker history and rmi know the child
          if (auto err = save_image_meta(st, it->second))
            BLOG(error, "image-store") << error_message(err);
        }
        std::string familiar;
        if (auto ref = registry::parse_reference(tag_ref); ref && !tag_ref.empty()) {
          familiar = ref->familiar();
          publish(st, "tag", id, {{"name", familiar}});
        }
        rp.deliver(job_result{status_ok, {}, caf::make_message(id, familiar)});
      });
  return rp;
}

// -- push -----------------------------------------------------------------------------------------

/// One image to push: its tag, config and layers (bottom first).
struct push_item {
  std::string tag;
  std::string config;
  struct layer {
    std::string chain_id, diff_id, cache_id, digest; // digest: the blob's, when known
  };
  std::vector<layer> layers;
};

/// Layer `cache`'s tar, gzip-compressed into `path`: the blob's digest and size.
caf::expected<std::pair<std::string, int64_t>>
gzip_layer(graph::driver& drv, const std::string& cache, const std::string& path) {
  io::unique_fd fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (!fd) return io::sys_error("create " + path);
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return make_error(ec::unspecified, "gzip: cannot start");
  struct end_z {
    z_stream& z;
    ~end_z() { deflateEnd(&z); }
  } guard{z};
  io::sha256 hash;
  int64_t size = 0;
  std::string out(256u << 10, '\0');
  auto pump = [&](const char* data, std::size_t len, int flush) -> caf::error {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(len);
    do {
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      if (deflate(&z, flush) == Z_STREAM_ERROR) return make_error(ec::unspecified, "gzip failed");
      auto n = out.size() - z.avail_out;
      hash.update(out.data(), n);
      size += static_cast<int64_t>(n);
      for (std::size_t done = 0; done < n;) {
        auto k = ::write(fd.fd, out.data() + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return io::sys_error("write the layer blob");
        done += static_cast<std::size_t>(k);
      }
    } while (z.avail_out == 0);
    return caf::none;
  };
  auto err = drv.layer_tar(cache, [&](const char* d, std::size_t n) -> caf::error {
    while (n > 0) { // zlib counts in uInt
      auto part = std::min<std::size_t>(n, 1u << 30);
      if (auto e = pump(d, part, Z_NO_FLUSH)) return e;
      d += part;
      n -= part;
    }
    return caf::none;
  });
  if (!err) err = pump(nullptr, 0, Z_FINISH);
  if (err) return err;
  return std::make_pair(hash.digest(), size);
}

/// Push one image through `session` (blocking; on a worker): its layers (a blob the registry has
/// is not sent again), its config, then the schema 2 manifest under its tag. Reports progress to
/// `sink`; returns the blob digests learnt (chain ID -> digest).
caf::expected<std::map<std::string, std::string>>
push_blocking(registry::client& c, graph::driver& drv, const push_item& item,
              const std::string& tmp, const progress_sink_actor& sink) {
  auto say = [&sink](std::string id, std::string status) {
    caf::anon_send(sink, progress_message{std::move(id), std::move(status), -1, -1});
  };
  auto short_id = [](const std::string& d) { return io::digest_hex(d).substr(0, 12); };
  for (auto& l : item.layers)
    say(short_id(l.diff_id), "Preparing");
  std::map<std::string, std::string> learnt;
  json::array layers;
  for (auto& l : item.layers) {
    auto id = short_id(l.diff_id);
    std::string digest = l.digest;
    int64_t size = -1;
    if (!digest.empty()) {
      auto have = c.blob_size(digest);
      if (!have) return have.error();
      size = *have;
    }
    if (size < 0) {
      auto file = tmp + "/push-" + io::random_hex(8) + ".tar.gz";
      struct unlink_file {
        std::string path;
        ~unlink_file() { ::unlink(path.c_str()); }
      } guard{file};
      auto blob = gzip_layer(drv, l.cache_id, file);
      if (!blob) return blob.error();
      if (digest.empty()) learnt[l.chain_id] = blob->first; // a pulled blob's digest stays
      digest = blob->first;
      auto have = c.blob_size(digest);
      if (!have) return have.error();
      if (*have < 0) {
        say(id, "Pushing");
        if (auto err = c.put_blob(digest, file)) return err;
        say(id, "Pushed");
      } else {
        say(id, "Layer already exists");
      }
      size = blob->second;
    } else {
      say(id, "Layer already exists");
    }
    layers.emplace_back(
        json::object{{"mediaType", registry::mt_docker_layer}, {"size", size}, {"digest", digest}});
  }
  auto config_digest = io::digest_of(item.config);
  auto have = c.blob_size(config_digest);
  if (!have) return have.error();
  if (*have < 0) {
    auto file = tmp + "/push-" + io::random_hex(8) + ".json";
    struct unlink_file {
      std::string path;
      ~unlink_file() { ::unlink(path.c_str()); }
    } guard{file};
    if (auto err = io::write_file_atomic(file, item.config, 0600, false)) return err;
    if (auto err = c.put_blob(config_digest, file)) return err;
  }
  json::object manifest{{"schemaVersion", 2},
                        {"mediaType", registry::mt_docker_manifest},
                        {"config", json::object{{"mediaType", registry::mt_docker_config},
                                                {"size", static_cast<int64_t>(item.config.size())},
                                                {"digest", config_digest}}},
                        {"layers", std::move(layers)}};
  auto body = json::serialize(manifest);
  auto digest = c.put_manifest(item.tag, registry::mt_docker_manifest, body);
  if (!digest) return digest.error();
  say("", item.tag + ": digest: " + *digest + " size: " + std::to_string(body.size()));
  return learnt;
}

caf::result<job_result> push_job(store_pointer self, job& j) {
  // args: the reference (no tag: every tag of the repository); env auth; input: the sink
  if (j.args.empty() || !j.input.match_elements<progress_sink_actor>())
    return job_result{status_err, make_error(ec::invalid_argument, "push: bad arguments"), {}};
  auto sink = j.input.get_as<progress_sink_actor>(0);
  auto rp = self->make_response_promise<job_result>();
  auto finish = [sink, rp](const caf::error& err) mutable {
    caf::anon_send(sink, atom::done_v, err);
    rp.deliver(err ? job_result{status_err, err, {}} : job_result{status_ok, {}, {}});
  };
  auto ref = registry::parse_reference(j.args[0]);
  if (!ref) {
    finish(ref.error());
    return rp;
  }
  if (!ref->digest.empty()) {
    finish(make_error(ec::invalid_argument, "cannot push a digest reference"));
    return rp;
  }
  auto& st = self->state;
  auto repo = *ref;
  repo.tag.clear();
  caf::anon_send(
      sink, progress_message{"", "The push refers to repository [" + repo.str() + "]", -1, -1});
  std::vector<push_item> items;
  for (auto& [name, id] : st.refs) {
    auto r = registry::parse_reference(name);
    if (!r || r->tag.empty() || !r->digest.empty() || r->domain != repo.domain ||
        r->path != repo.path || (!ref->tag.empty() && r->tag != ref->tag))
      continue;
    auto img = st.images.find(id);
    if (img == st.images.end()) continue;
    push_item item{r->tag, img->second.config, {}};
    for (std::size_t i = 0; i < img->second.chain.size(); ++i) {
      auto& chain = img->second.chain[i];
      auto l = st.layers.find(chain);
      if (l == st.layers.end()) continue;
      item.layers.push_back({chain, l->second.diff_id, l->second.cache_id, l->second.digest});
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) {
    finish(make_error(ec::not_found, ref->tag.empty() ? "An image does not exist locally with "
                                                        "the tag: " +
                                                            repo.familiar_name()
                                                      : "tag does not exist: " + ref->familiar()));
    return rp;
  }
  auto drv = st.opts.driver;
  auto tmp = st.root + "/tmp";
  self->request(st.opts.registry, caf::infinite, atom::push_v, repo.str(), j.getenv("auth"))
      .then(
          [self, items, drv, tmp, sink, finish](registry_session& session) mutable {
            run_detached<std::map<std::string, std::string>>(
                self,
                [items, drv, tmp, sink,
                 c = session.client]() -> caf::expected<std::map<std::string, std::string>> {
                  if (auto err = io::mkdir_all(tmp, 0700)) return err;
                  std::map<std::string, std::string> learnt;
                  for (auto& item : items) {
                    auto got = push_blocking(*c, *drv, item, tmp, sink);
                    if (!got) return got.error();
                    learnt.insert(got->begin(), got->end());
                  }
                  return learnt;
                },
                [self, finish](caf::expected<std::map<std::string, std::string>>& r) mutable {
                  if (!r) {
                    BLOG(info, "image-store") << "push failed: " << error_message(r.error());
                    finish(r.error());
                    return;
                  }
                  auto& st = self->state;
                  for (auto& [chain, digest] : *r) // the next push HEADs instead of compressing
                    if (auto l = st.layers.find(chain); l != st.layers.end()) {
                      l->second.digest = digest;
                      if (auto err = save_layer(st, l->second))
                        BLOG(warn, "image-store") << error_message(err);
                    }
                  finish(caf::none);
                });
          },
          [finish](caf::error& err) mutable { finish(err); });
  return rp;
}

caf::result<job_result> save_job(store_pointer self, job& j) {
  auto& st = self->state;
  if (!j.input.match_elements<byte_sink>())
    return job_result{status_err, make_error(ec::invalid_argument, "save: no output"), {}};
  auto sink = j.input.get_as<byte_sink>(0);
  std::vector<images::export_image> out;
  std::map<std::string, std::size_t> index; // image ID -> position in out
  for (auto& name : j.args) {
    std::string matched;
    auto id = lookup(st, name, &matched);
    if (!id) return job_result{status_err, id.error(), {}};
    auto& img = st.images.at(*id);
    auto pos = index.find(*id);
    if (pos == index.end()) {
      images::export_image e;
      e.id = *id;
      e.config = img.config;
      e.diff_ids = img.facts.diff_ids;
      for (auto& c : img.chain)
        e.cache_ids.push_back(st.layers.at(c).cache_id);
      pos = index.emplace(*id, out.size()).first;
      out.push_back(std::move(e));
    }
    // a name saves that tag; an ID saves every tag of the image (moby)
    auto& tags = out[pos->second].repo_tags;
    std::vector<std::string> refs =
        matched.empty() ? refs_of(st, *id) : std::vector<std::string>{matched};
    for (auto& r : refs) {
      auto p = registry::parse_reference(r);
      if (p && p->digest.empty() &&
          std::find(tags.begin(), tags.end(), p->familiar()) == tags.end())
        tags.push_back(p->familiar());
    }
  }
  for (auto& e : out)
    publish(st, "save", e.id, {{"name", e.id}});
  auto drv = st.opts.driver;
  auto rp = self->make_response_promise<job_result>();
  run_detached<std::string>(
      self,
      [out, drv, sink]() -> caf::expected<std::string> {
        auto err = images::write_save_tar(out, *drv, sink.write);
        sink.close(err);
        if (err) return err;
        return std::string{"saved"};
      },
      [rp](caf::expected<std::string>& r) mutable {
        if (!r) {
          rp.deliver(job_result{status_err, r.error(), {}});
          return;
        }
        rp.deliver(job_result{status_ok, {}, {}});
      });
  return rp;
}

job_result ok(caf::message m) {
  return job_ok(std::move(m));
}

job_result fail(caf::error err) {
  return job_fail(std::move(err));
}

bool flag(const job& j, const char* key) {
  auto it = j.env.find(key);
  return it != j.env.end() && it->second == "1";
}

filter_args filters_of(const job& j) {
  if (j.input.match_elements<filter_args>()) return j.input.get_as<filter_args>(0);
  return {};
}

image_store_actor::behavior_type store_impl(store_pointer self) {
  std::vector<std::string> names(std::begin(image_jobs), std::end(image_jobs));
  auto& st = self->state;
  self->request(st.opts.engine, defaults::register_timeout, atom::provide_v,
                std::string{"image-store"}, names, caf::actor_cast<job_handler_actor>(self))
      .then([](caf::ok_atom) {},
            [](caf::error& err) {
              BLOG(error, "image-store")
                  << "cannot register with the engine: " << error_message(err);
            });
  self->request(st.opts.engine, defaults::register_timeout, atom::provide_v, atom::shutdown_v,
                std::string{"image-store"}, caf::actor_cast<shutdown_handler_actor>(self))
      .then([](caf::ok_atom) {}, [](caf::error&) {});
  return {
      [self](layer_progress& p) {
        auto it = self->state.downloads.find(p.chain_id);
        if (it == self->state.downloads.end()) return;
        for (auto& op : it->second.pulls)
          say(op, short_id(it->second.desc.digest), p.status, p.current, p.total);
      },
      [self](layer_done& done) { on_layer_done(self, done); },
      [self](caf::get_atom, atom::image, std::string& name) -> caf::result<image_info> {
        auto id = lookup(self->state, name);
        if (!id) return id.error();
        return info_of(self->state, self->state.images.at(*id));
      },
      [self](atom::retain, std::string& container, std::string& name) -> caf::result<image_info> {
        auto& st = self->state;
        if (!is_hex(container) || container.size() != 64)
          return make_error(ec::invalid_argument, "invalid container ID " + container);
        auto id = lookup(st, name);
        if (!id) return id.error();
        auto& img = st.images.at(*id);
        if (!st.mounts.count(container)) {
          json::object doc;
          doc["Image"] = *id;
          json::array chain;
          for (auto& c : img.chain)
            chain.emplace_back(c);
          doc["Chain"] = std::move(chain);
          // The hold is synced in the background, as the container's own config is.
          auto path = mount_file(st, container);
          if (auto err = io::write_file_atomic(path, json::serialize(doc), 0644, false)) return err;
          io::sync_later(path);
          for (auto& c : img.chain)
            ++st.layers[c].refs;
          st.mounts.emplace(container, mount_rec{*id, img.chain});
        }
        return info_of(st, img);
      },
      [self](atom::release, std::string& container) {
        auto& st = self->state;
        auto it = st.mounts.find(container);
        if (it == st.mounts.end()) return;
        ::unlink(mount_file(st, container).c_str());
        auto chain = std::move(it->second.chain);
        st.mounts.erase(it);
        std::vector<image_delete_item> removed;
        drop_layers(st, chain, removed);
        for (auto& r : removed)
          BLOG(info, "image-store") << "removed layer " << r.value << " (its last container went)";
      },
      [self](atom::shutdown) -> caf::result<caf::ok_atom> {
        for (auto& [chain, d] : self->state.downloads)
          for (auto& op : d.pulls)
            fail_pull(op, make_error(ec::unavailable, "the daemon is shutting down"));
        self->state.opts.driver->cleanup();
        return caf::ok_atom_v;
      },
      [self](job& j) -> caf::result<job_result> {
        auto& st = self->state;
        auto arg = [&](std::size_t i) { return i < j.args.size() ? j.args[i] : std::string{}; };
        if (j.name == "pull") return pull_job(self, j);
        if (j.name == "images") {
          auto r = list_images(st, filters_of(j), flag(j, "all"));
          if (!r) return fail(r.error());
          return ok(caf::make_message(std::move(*r)));
        }
        if (j.name == "image_inspect" || j.name == "image_history") {
          auto id = lookup(st, arg(0));
          if (!id) return fail(id.error());
          return ok(caf::make_message(info_of(st, st.images.at(*id))));
        }
        if (j.name == "image_tag") {
          auto r = tag_image(st, arg(0), arg(1), arg(2));
          if (!r) return fail(r.error());
          return ok(caf::make_message(std::move(*r)));
        }
        if (j.name == "image_delete") {
          auto id = lookup(st, arg(0));
          if (!id) return fail(id.error());
          if (users_of(st, *id).empty()) {
            auto r = delete_job(st, arg(0), flag(j, "force"), flag(j, "noprune"), {});
            if (!r) return fail(r.error());
            return ok(caf::make_message(std::move(*r)));
          }
          // containers use it: which of them run decides between a hard and a soft conflict
          auto rp = self->make_response_promise<job_result>();
          auto finish = [self, j, rp](std::optional<std::set<std::string>> running) mutable {
            auto& st = self->state;
            if (!running) { // the containers did not answer: count every user as running
              running.emplace();
              for (auto& [c, m] : st.mounts)
                running->insert(c);
            }
            auto r = delete_job(st, j.args[0], flag(j, "force"), flag(j, "noprune"), *running);
            rp.deliver(r ? ok(caf::make_message(std::move(*r))) : fail(r.error()));
          };
          self->request(st.opts.engine, defaults::ask_timeout, job{"containers", {}, {}, {}})
              .then(
                  [finish](job_result& r) mutable {
                    if (r.status != status_ok ||
                        !r.output.match_elements<std::vector<container_info>>())
                      return finish(std::nullopt);
                    std::set<std::string> running;
                    for (auto& c : r.output.get_as<std::vector<container_info>>(0))
                      if (is_running(c.state)) running.insert(c.id);
                    finish(std::move(running));
                  },
                  [finish](caf::error&) mutable { finish(std::nullopt); });
          return rp;
        }
        if (j.name == "image_prune") {
          auto r = prune(st, filters_of(j));
          if (!r) return fail(r.error());
          return ok(caf::make_message(std::move(r->items), r->reclaimed));
        }
        if (j.name == "image_count") return ok(caf::make_message(int64_t(st.images.size())));
        if (j.name == "image_save") return save_job(self, j);
        if (j.name == "image_load") return load_job(self, j);
        if (j.name == "image_import") return import_job(self, j);
        if (j.name == "image_commit") return commit_job(self, j);
        if (j.name == "push") return push_job(self, j);
        return job_result{status_not_found, make_error(ec::command_not_found, j.name), {}};
      },
  };
}

image_store_actor::behavior_type store_init(store_pointer self, std::shared_ptr<store_state> st) {
  self->state.opts = st->opts;
  self->state.root = st->root;
  self->state.layers = std::move(st->layers);
  self->state.images = std::move(st->images);
  self->state.refs = std::move(st->refs);
  return store_impl(self);
}

} // namespace

caf::expected<image_store_actor> spawn_image_store(caf::actor_system& sys,
                                                   image_store_options opts) {
  if (!opts.driver) return make_error(ec::invalid_argument, "image store: no graph driver");
  // load synchronously, before the store takes requests: startup fails on a broken store
  auto st = std::make_shared<store_state>();
  st->opts = opts;
  st->root = opts.data_root + "/image/" + opts.driver->name();
  if (auto err = load(*st)) return err;
  BLOG(info, "image-store") << "loaded " << st->images.size() << " images, " << st->layers.size()
                            << " layers (" << opts.driver->name() << ")";
  return sys.spawn(store_init, std::move(st));
}

} // namespace berth
