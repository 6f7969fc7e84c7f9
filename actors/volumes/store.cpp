// The volume store actor (see store.hpp for the on-disk layout).
#include "actors/volumes/store.hpp"

#include "actors/events.hpp"
#include "actors/jobs.hpp"
#include "actors/log.hpp"
#include "actors/worker.hpp"
#include "drivers/io.hpp"
#include "messages/defaults.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <simdjson.h>

#include <dirent.h>
#include <ftw.h>
#include <regex.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>

namespace berth {

namespace {

struct volume {
  volume_info info;
  std::set<std::string> users; // container IDs
  bool mounted = false;        // its DriverOpts filesystem is mounted on _data
};

struct store_state {
  volume_store_options opts;
  std::string root; // <data-root>/volumes
  std::map<std::string, volume> volumes;
  static inline const char* name = "volume-store";
};

using store_pointer = volume_store_actor::stateful_pointer<store_state>;

std::string dir_of(const store_state& st, const std::string& name) {
  return st.root + "/" + name;
}

bool is_anonymous(const volume_info& v) {
  return v.labels.count(anonymous_label) > 0;
}

// -- disk
// ------------------------------------------------------------------------------------------

caf::error save(const store_state& st, const volume_info& v) {
  boost::json::object o;
  o["Name"] = v.name;
  o["Driver"] = v.driver;
  o["CreatedAt"] = v.created_nano;
  boost::json::object labels, options;
  for (auto& [k, val] : v.labels)
    labels[k] = val;
  for (auto& [k, val] : v.options)
    options[k] = val;
  o["Labels"] = std::move(labels);
  o["Options"] = std::move(options);
  return io::write_file_atomic(dir_of(st, v.name) + "/volume.json", boost::json::serialize(o),
                               0600);
}

caf::expected<volume_info> load_one(const store_state& st, const std::string& name) {
  auto data = io::read_file(dir_of(st, name) + "/volume.json");
  if (!data) return data.error();
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(*data).get(o))
    return make_error(ec::system, "volume " + name + ": volume.json is not JSON");
  volume_info v;
  v.name = name;
  v.mountpoint = dir_of(st, name) + "/_data";
  std::string_view s;
  if (!o["Driver"].get(s)) v.driver = std::string{s};
  int64_t created = 0;
  if (!o["CreatedAt"].get(created)) v.created_nano = created;
  auto read_map = [&](const char* key, std::map<std::string, std::string>& out) {
    simdjson::dom::object m;
    if (o[key].get(m)) return;
    for (auto [k, val] : m)
      if (!val.get(s)) out.emplace(std::string{k}, std::string{s});
  };
  read_map("Labels", v.labels);
  read_map("Options", v.options);
  return v;
}

// Unmount whatever is mounted under the store (a crash left it): deepest first.
void unmount_leftovers(const std::string& root) {
  std::ifstream in{"/proc/self/mountinfo"};
  std::vector<std::string> found;
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint ...
    std::istringstream fields{line};
    std::string id, parent, dev, mroot, point;
    fields >> id >> parent >> dev >> mroot >> point;
    if (point.rfind(root + "/", 0) == 0) found.push_back(point);
  }
  std::sort(found.rbegin(), found.rend());
  for (auto& p : found)
    if (::umount2(p.c_str(), MNT_DETACH) == 0) BLOG(info, "volume-store") << "unmounted " << p;
}

caf::error load(store_state& st) {
  if (auto err = io::mkdir_all(st.root, 0701)) return err;
  unmount_leftovers(st.root);
  DIR* d = ::opendir(st.root.c_str());
  if (!d) return io::sys_error("open " + st.root);
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && e->d_type == DT_DIR) names.push_back(n);
  }
  ::closedir(d);
  for (auto& n : names)
    if (n[0] == '.') io::remove_all(st.root + "/" + n); // a removal a crash cut short
  names.erase(std::remove_if(names.begin(), names.end(), [](auto& n) { return n[0] == '.'; }),
              names.end());
  for (auto& n : names) {
    auto v = load_one(st, n);
    if (!v) {
      BLOG(warn, "volume-store") << "skipping " << n << ": " << error_message(v.error());
      continue;
    }
    st.volumes[n].info = std::move(*v);
  }
  return {};
}

// -- the local driver's DriverOpts ---------------------------------------------------------------

// mount(8)'s flag options of `o`; the rest is the filesystem's data.
std::pair<unsigned long, std::string> mount_flags(const std::string& o) {
  static const std::map<std::string, unsigned long> flags{
      {"ro", MS_RDONLY},        {"nosuid", MS_NOSUID},   {"nodev", MS_NODEV},
      {"noexec", MS_NOEXEC},    {"bind", MS_BIND},       {"rbind", MS_BIND | MS_REC},
      {"sync", MS_SYNCHRONOUS}, {"noatime", MS_NOATIME}, {"rw", 0},
  };
  unsigned long f = 0;
  std::string data;
  std::istringstream in{o};
  std::string opt;
  while (std::getline(in, opt, ',')) {
    if (opt.empty()) continue;
    if (auto it = flags.find(opt); it != flags.end())
      f |= it->second;
    else
      data += (data.empty() ? "" : ",") + opt;
  }
  return {f, data};
}

caf::error mount_volume(volume& v) {
  auto& o = v.info.options;
  if (v.mounted || o.count("type") == 0) return {};
  auto type = o["type"];
  auto device = o.count("device") ? o["device"] : type;
  auto [flags, data] = mount_flags(o.count("o") ? o["o"] : "");
  if (type == "none") type.clear(); // a bind
  if (::mount(device.c_str(), v.info.mountpoint.c_str(), type.empty() ? nullptr : type.c_str(),
              flags, data.empty() ? nullptr : data.c_str()) != 0)
    return make_error(ec::system, "error while mounting volume '" + v.info.mountpoint +
                                      "': failed to mount local volume: mount " + device + ":" +
                                      v.info.mountpoint + ": " + std::strerror(errno));
  v.mounted = true;
  return {};
}

void unmount_volume(volume& v) {
  if (!v.mounted) return;
  if (::umount2(v.info.mountpoint.c_str(), MNT_DETACH) != 0)
    BLOG(warn, "volume-store") << "unmount " << v.info.mountpoint << ": " << std::strerror(errno);
  v.mounted = false;
}

// moby's directory.Size: the bytes of the regular files under `path`, each inode once.
int64_t tree_size(const std::string& path) {
  static thread_local int64_t total;
  static thread_local std::set<std::pair<dev_t, ino_t>>* seen;
  std::set<std::pair<dev_t, ino_t>> inodes;
  total = 0;
  seen = &inodes;
  ::nftw(
      path.c_str(),
      [](const char*, const struct stat* sb, int type, struct FTW*) {
        if (type == FTW_F && S_ISREG(sb->st_mode) &&
            (sb->st_nlink == 1 || seen->insert({sb->st_dev, sb->st_ino}).second))
          total += sb->st_size;
        return 0;
      },
      32, FTW_PHYS | FTW_MOUNT);
  return total;
}

// -- jobs
// ------------------------------------------------------------------------------------------

void publish(store_pointer self, const volume_info& v, const char* action) {
  event ev;
  ev.type = "volume";
  ev.action = action;
  ev.actor_id = v.name;
  ev.attributes["driver"] = v.driver;
  self->send(self->state.opts.events, caf::publish_atom_v, std::move(ev));
}

caf::error no_such_volume(const std::string& name) {
  return make_error(ec::not_found, "get " + name + ": no such volume");
}

// Make volume `v` (its name, driver, labels and options set): a name in use answers the volume
// that has it (moby's Create is idempotent for the same driver).
caf::expected<volume_info> create(store_pointer self, volume_info v) {
  auto& st = self->state;
  if (v.driver.empty()) v.driver = "local";
  if (v.driver != "local")
    return make_error(ec::not_found, "error looking up volume plugin " + v.driver + ": plugin \"" +
                                         v.driver + "\" not found");
  if (v.name.empty()) v.name = io::random_hex(32);
  if (auto it = st.volumes.find(v.name); it != st.volumes.end()) return it->second.info;
  if (auto err = check_volume_name(v.name)) return err;
  if (auto err = check_volume_options(v.options)) return err;
  auto dir = dir_of(st, v.name);
  v.mountpoint = dir + "/_data";
  v.created_nano = wall_clock_nano();
  auto undo = [&](caf::error err) -> caf::expected<volume_info> {
    io::remove_all(dir);
    return err;
  };
  if (::mkdir(dir.c_str(), 0701) != 0) return undo(io::sys_error("create " + dir));
  if (::mkdir(v.mountpoint.c_str(), 0755) != 0) return undo(io::sys_error("create " + dir));
  if (auto err = save(st, v)) return undo(err);
  io::sync_dir(st.root);
  st.volumes[v.name].info = v;
  publish(self, v, "create");
  return v;
}

// Remove volume `name` (no user left); its files go on a worker.
void destroy(store_pointer self, const std::string& name) {
  auto& st = self->state;
  auto it = st.volumes.find(name);
  if (it == st.volumes.end()) return;
  unmount_volume(it->second);
  auto info = it->second.info;
  st.volumes.erase(it);
  // Renamed away at once (the name is free), deleted off the actor thread.
  auto dir = dir_of(st, name);
  auto trash = st.root + "/.removing-" + io::random_hex(8);
  if (::rename(dir.c_str(), trash.c_str()) != 0) trash = dir;
  run_detached<bool>(
      self,
      [trash]() -> caf::expected<bool> {
        if (auto err = io::remove_all(trash)) return err;
        return true;
      },
      [name](caf::expected<bool>& r) {
        if (!r) BLOG(warn, "volume-store") << "remove " << name << ": " << error_message(r.error());
      });
  publish(self, info, "destroy");
}

caf::error in_use(const std::string& name, const std::set<std::string>& users) {
  std::string ids;
  for (auto& u : users)
    ids += (ids.empty() ? "" : " ") + u;
  return make_error(ec::conflict, "remove " + name + ": volume is in use - [" + ids + "]");
}

filter_args filters_of(const job& j) {
  return j.input.match_elements<filter_args>() ? j.input.get_as<filter_args>(0) : filter_args{};
}

caf::result<job_result> list(store_pointer self, const job& j) {
  auto& st = self->state;
  auto filters = filters_of(j);
  if (auto err = validate_volume_filters(filters, false)) return job_fail(err);
  std::vector<volume_info> out;
  for (auto& [name, v] : st.volumes)
    if (volume_matches(filters, v.info, v.users.size())) {
      out.push_back(v.info);
      out.back().ref_count = static_cast<int64_t>(v.users.size());
    }
  if (j.env.count("size") == 0) return job_ok(caf::make_message(std::move(out)));
  auto rp = self->make_response_promise<job_result>();
  run_detached<std::vector<volume_info>>(
      self,
      [out]() mutable -> caf::expected<std::vector<volume_info>> {
        for (auto& v : out)
          v.size = tree_size(v.mountpoint);
        return std::move(out);
      },
      [rp](caf::expected<std::vector<volume_info>>& r) mutable {
        rp.deliver(r ? job_ok(caf::make_message(std::move(*r))) : job_fail(r.error()));
      });
  return rp;
}

caf::result<job_result> prune(store_pointer self, const job& j) {
  auto& st = self->state;
  auto filters = filters_of(j);
  if (auto err = validate_volume_filters(filters, true)) return job_fail(err);
  std::vector<std::string> names;
  std::vector<std::string> paths;
  for (auto& [name, v] : st.volumes)
    if (v.users.empty() && volume_matches(filters, v.info, 0)) {
      names.push_back(name);
      paths.push_back(v.info.mountpoint);
    }
  auto rp = self->make_response_promise<job_result>();
  // The sizes are read before anything goes; the names are taken again on the actor thread
  // (a container may have taken one meanwhile: it stays).
  run_detached<int64_t>(
      self,
      [paths]() -> caf::expected<int64_t> {
        int64_t total = 0;
        for (auto& p : paths)
          total += tree_size(p);
        return total;
      },
      [self, rp, names](caf::expected<int64_t>& r) mutable {
        std::vector<std::string> removed;
        for (auto& n : names) {
          auto it = self->state.volumes.find(n);
          if (it == self->state.volumes.end() || !it->second.users.empty()) continue;
          removed.push_back(n);
          destroy(self, n);
        }
        rp.deliver(job_ok(caf::make_message(std::move(removed), r ? *r : int64_t{0})));
      });
  return rp;
}

caf::result<job_result> run(store_pointer self, job& j) {
  auto& st = self->state;
  if (j.name == "volume_create") {
    if (!j.input.match_elements<volume_info>())
      return job_fail(make_error(ec::invalid_argument, "volume_create: no volume"));
    auto v = create(self, j.input.get_as<volume_info>(0));
    if (!v) return job_fail(v.error());
    return job_ok(caf::make_message(std::move(*v)));
  }
  if (j.name == "volumes") return list(self, j);
  if (j.name == "volume_prune") return prune(self, j);
  auto name = j.args.empty() ? std::string{} : j.args[0];
  auto it = st.volumes.find(name);
  if (j.name == "volume_inspect") {
    if (it == st.volumes.end()) return job_fail(no_such_volume(name));
    auto v = it->second.info;
    v.ref_count = static_cast<int64_t>(it->second.users.size());
    return job_ok(caf::make_message(std::move(v)));
  }
  if (j.name == "volume_delete") {
    if (it == st.volumes.end()) {
      if (j.env.count("force")) return job_ok();
      return job_fail(no_such_volume(name));
    }
    if (!it->second.users.empty()) return job_fail(in_use(name, it->second.users));
    destroy(self, name);
    return job_ok();
  }
  return job_result{status_not_found, make_error(ec::command_not_found, j.name), {}};
}

// A container takes the volumes of its mounts: all or none.
caf::expected<std::vector<mount_point>> retain(store_pointer self, const std::string& id,
                                               std::vector<mount_point> mounts) {
  auto& st = self->state;
  std::vector<std::string> made, taken;
  auto undo = [&](caf::error err) -> caf::expected<std::vector<mount_point>> {
    for (auto& n : taken)
      if (auto it = st.volumes.find(n); it != st.volumes.end()) {
        it->second.users.erase(id);
        if (it->second.users.empty()) unmount_volume(it->second);
      }
    for (auto& n : made)
      destroy(self, n);
    return err;
  };
  for (auto& m : mounts) {
    if (m.type != "volume") continue;
    if (st.volumes.count(m.source) == 0) {
      volume_info v;
      v.name = m.source;
      v.driver = m.driver;
      v.labels = m.labels;
      v.options = m.driver_opts;
      if (m.source.empty()) {
        v.labels[anonymous_label] = "";
        m.anonymous = true;
      }
      auto r = create(self, std::move(v));
      if (!r) return undo(r.error());
      m.source = r->name;
      made.push_back(r->name);
    }
    auto& v = st.volumes[m.source];
    if (v.users.insert(id).second) taken.push_back(m.source);
    if (auto err = mount_volume(v)) return undo(err);
    m.driver = v.info.driver;
    m.host_path = v.info.mountpoint;
  }
  return mounts;
}

void release(store_pointer self, const std::string& id, bool remove_anonymous) {
  auto& st = self->state;
  std::vector<std::string> gone;
  for (auto& [name, v] : st.volumes) {
    if (v.users.erase(id) == 0 || !v.users.empty()) continue;
    unmount_volume(v);
    if (remove_anonymous && is_anonymous(v.info)) gone.push_back(name);
  }
  for (auto& n : gone)
    destroy(self, n);
}

volume_store_actor::behavior_type store_impl(store_pointer self) {
  auto& st = self->state;
  std::vector<std::string> names(std::begin(volume_jobs), std::end(volume_jobs));
  self->request(st.opts.engine, defaults::register_timeout, atom::provide_v,
                std::string{"volume-store"}, names, caf::actor_cast<job_handler_actor>(self))
      .then([](caf::ok_atom) {},
            [](caf::error& err) {
              BLOG(error, "volume-store")
                  << "cannot register with the engine: " << error_message(err);
            });
  self->request(st.opts.engine, defaults::register_timeout, atom::provide_v, atom::shutdown_v,
                std::string{"volume-store"}, caf::actor_cast<shutdown_handler_actor>(self))
      .then([](caf::ok_atom) {}, [](caf::error&) {});
  return {
      [self](atom::retain, std::string& id,
             std::vector<mount_point>& mounts) -> caf::result<std::vector<mount_point>> {
        auto r = retain(self, id, std::move(mounts));
        if (!r) return std::move(r.error());
        return std::move(*r);
      },
      [self](atom::release, std::string& id, bool remove_anonymous) {
        release(self, id, remove_anonymous);
      },
      [self](job& j) -> caf::result<job_result> { return run(self, j); },
      [self](atom::shutdown) -> caf::result<caf::ok_atom> {
        for (auto& [name, v] : self->state.volumes)
          unmount_volume(v);
        return caf::ok_atom_v;
      },
  };
}

volume_store_actor::behavior_type store_init(store_pointer self, std::shared_ptr<store_state> st) {
  self->state.opts = st->opts;
  self->state.root = st->root;
  self->state.volumes = std::move(st->volumes);
  return store_impl(self);
}

} // namespace

caf::error check_volume_name(const std::string& name) {
  if (name.size() < 2)
    return make_error(ec::invalid_argument,
                      "create " + name +
                          ": volume name is too short, names should be at least two "
                          "alphanumeric characters");
  auto ok = [](char c, bool first) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           (!first && (c == '_' || c == '.' || c == '-'));
  };
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!ok(name[i], i == 0))
      return make_error(ec::invalid_argument,
                        "create " + name + ": \"" + name +
                            "\" includes invalid characters for a local volume name, only "
                            "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
                            "host directory, use absolute path");
  return {};
}

caf::error check_volume_options(const std::map<std::string, std::string>& opts) {
  for (auto& [k, v] : opts)
    if (k != "type" && k != "device" && k != "o")
      return make_error(ec::invalid_argument, "invalid option key: \"" + k + "\"");
  auto type = opts.find("type");
  if (type == opts.end()) {
    if (!opts.empty()) return make_error(ec::invalid_argument, "missing required option: \"type\"");
    return {};
  }
  if (opts.count("device") == 0 && type->second != "tmpfs")
    return make_error(ec::invalid_argument, "missing required option: \"device\"");
  return {};
}

caf::error validate_volume_filters(const filter_args& filters, bool prune) {
  static const std::set<std::string> list_keys{"dangling", "driver", "label", "name"};
  static const std::set<std::string> prune_keys{"label", "label!"};
  auto& keys = prune ? prune_keys : list_keys;
  for (auto& [k, values] : filters) {
    if (keys.count(k) == 0) return make_error(ec::invalid_argument, "invalid filter '" + k + "'");
    if (k == "dangling")
      for (auto& v : values)
        if (v != "true" && v != "false" && v != "1" && v != "0")
          return make_error(ec::invalid_argument, "invalid filter 'dangling=" + v + "'");
  }
  return {};
}

bool volume_matches(const filter_args& filters, const volume_info& v, std::size_t users) {
  for (auto& [k, values] : filters) {
    if (values.empty()) continue;
    auto any = [&](auto pred) { return std::any_of(values.begin(), values.end(), pred); };
    if (k == "dangling") {
      bool want = values.count("true") || values.count("1");
      if ((users == 0) != want) return false;
    } else if (k == "driver") {
      if (!any([&](const std::string& x) { return x == v.driver; })) return false;
    } else if (k == "name") {
      // filters.Args.Match: the exact name, or a regular expression found in it
      auto match = [&](const std::string& x) {
        if (x == v.name) return true;
        regex_t re; // POSIX extended expressions (std::regex trips GCC 12 under sanitizers)
        if (::regcomp(&re, x.c_str(), REG_EXTENDED | REG_NOSUB) != 0) return false;
        bool found = ::regexec(&re, v.name.c_str(), 0, nullptr, 0) == 0;
        ::regfree(&re);
        return found;
      };
      if (!any(match)) return false;
    } else if (k == "label") {
      for (auto& x : values)
        if (!label_matches(v.labels, x)) return false;
    } else if (k == "label!") {
      for (auto& x : values)
        if (label_matches(v.labels, x)) return false;
    }
  }
  return true;
}

caf::expected<volume_store_actor> spawn_volume_store(caf::actor_system& sys,
                                                     volume_store_options opts) {
  auto st = std::make_shared<store_state>();
  st->opts = opts;
  st->root = opts.data_root + "/volumes";
  if (auto err = load(*st)) return err;
  BLOG(info, "volume-store") << "loaded " << st->volumes.size() << " volumes";
  return sys.spawn(store_init, std::move(st));
}

} // namespace berth
