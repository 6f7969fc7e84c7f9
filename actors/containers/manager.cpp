// The container manager (see manager.hpp).
#include "actors/containers/manager.hpp"

#include "actors/events.hpp"
#include "actors/jobs.hpp"
#include "actors/log.hpp"
#include "actors/worker.hpp"
#include "drivers/exec/driver.hpp"
#include "drivers/graph/driver.hpp"
#include "drivers/io.hpp"
#include "drivers/log/jsonfile.hpp"
#include "messages/defaults.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <chrono>
#include <dirent.h>
#include <random>
#include <set>

namespace berth {

namespace {

const char* const adjectives[] = {
    "admiring",   "adoring",       "affectionate", "agitated",   "amazing",    "angry",
    "awesome",    "blissful",      "bold",         "brave",      "charming",   "clever",
    "cool",       "compassionate", "competent",    "confident",  "crazy",      "dazzling",
    "determined", "dreamy",        "eager",        "ecstatic",   "elastic",    "elated",
    "elegant",    "epic",          "festive",      "focused",    "friendly",   "frosty",
    "gallant",    "gifted",        "goofy",        "gracious",   "happy",      "hardcore",
    "heuristic",  "hopeful",       "hungry",       "infallible", "inspiring",  "jolly",
    "jovial",     "keen",          "kind",         "laughing",   "loving",     "lucid",
    "magical",    "modest",        "musing",       "mystifying", "naughty",    "nervous",
    "nice",       "nifty",         "nostalgic",    "objective",  "optimistic", "peaceful",
    "pedantic",   "pensive",       "practical",    "priceless",  "quirky",     "quizzical",
    "relaxed",    "reverent",      "romantic",     "sad",        "serene",     "sharp",
    "silly",      "sleepy",        "stoic",        "strange",    "stupefied",  "suspicious",
    "sweet",      "tender",        "thirsty",      "trusting",   "unruffled",  "upbeat",
    "vibrant",    "vigilant",      "vigorous",     "wizardly",   "wonderful",  "xenodochial",
    "youthful",   "zealous",       "zen"};
const char* const surnames[] = {
    "agnesi",       "albattani",   "allen",       "almeida",       "archimedes",  "ardinghelli",
    "aryabhata",    "austin",      "babbage",     "banach",        "bardeen",     "bartik",
    "bassi",        "bell",        "bhabha",      "bhaskara",      "blackwell",   "bohr",
    "booth",        "borg",        "bose",        "boyd",          "brahmagupta", "brattain",
    "brown",        "carson",      "cerf",        "chandrasekhar", "chatelet",    "clarke",
    "colden",       "cori",        "cray",        "curie",         "darwin",      "davinci",
    "dijkstra",     "dubinsky",    "easley",      "edison",        "einstein",    "elion",
    "engelbart",    "euclid",      "euler",       "fermat",        "fermi",       "feynman",
    "franklin",     "galileo",     "gates",       "goldberg",      "goldstine",   "golick",
    "goodall",      "hamilton",    "hawking",     "heisenberg",    "hellman",     "hermann",
    "hodgkin",      "hoover",      "hopper",      "hugle",         "hypatia",     "jackson",
    "jang",         "jennings",    "jepsen",      "johnson",       "joliot",      "jones",
    "kalam",        "keller",      "kepler",      "khorana",       "kilby",       "kirch",
    "knuth",        "kowalevski",  "lalande",     "lamarr",        "lamport",     "leakey",
    "leavitt",      "lewin",       "liskov",      "lovelace",      "lumiere",     "mahavira",
    "mayer",        "mccarthy",    "mcclintock",  "mclean",        "meitner",     "mendel",
    "mestorf",      "minsky",      "mirzakhani",  "morse",         "murdock",     "napier",
    "newton",       "nightingale", "nobel",       "noether",       "northcutt",   "noyce",
    "panini",       "pare",        "pascal",      "pasteur",       "payne",       "perlman",
    "pike",         "poincare",    "poitras",     "ptolemy",       "raman",       "ramanujan",
    "ride",         "ritchie",     "roentgen",    "rosalind",      "saha",        "sammet",
    "shamir",       "shannon",     "shaw",        "shirley",       "shockley",    "sinoussi",
    "snyder",       "spence",      "stonebraker", "sutherland",    "swanson",     "swartz",
    "swirles",      "tesla",       "thompson",    "torvalds",      "turing",      "varahamihira",
    "visvesvaraya", "volhard",     "wescoff",     "wiles",         "williams",    "wilson",
    "wing",         "wozniak",     "wright",      "yalow",         "yonath"};

int64_t now_nano() {
  return wall_clock_nano();
}
job_result ok(caf::message m = {}) {
  return job_ok(std::move(m));
}
job_result fail(caf::error err) {
  return job_fail(std::move(err));
}

struct record {
  container_actor actor;
  container_info info;
};

struct manager_state {
  static inline const char* name = "containers";
  container_manager_options opts;
  std::map<std::string, record> containers; // by ID
  std::map<std::string, std::string> names; // "/name" -> ID (reserved while creating, too)
  std::map<std::string, exec_actor> execs;  // exec ID -> its actor (until its container goes)
  std::map<std::string, std::vector<std::string>> execs_of; // container ID -> its exec IDs
  std::set<std::string> restoring;                          // loaded at start, restore not over yet
  std::vector<caf::typed_response_promise<bool>> restore_waiters;
};

using manager_self = container_manager_actor::stateful_pointer<manager_state>;

const std::vector<std::string>& container_jobs() {
  static const std::vector<std::string> jobs{"container_inspect",
                                             "container_start",
                                             "container_stop",
                                             "container_restart",
                                             "container_kill",
                                             "container_wait",
                                             "container_delete",
                                             "container_attach",
                                             "container_resize",
                                             "container_logs",
                                             "container_pause",
                                             "container_unpause",
                                             "container_changes",
                                             "container_rename",
                                             "container_export",
                                             "container_top",
                                             "container_update",
                                             "container_exec_create",
                                             "container_stats",
                                             "container_archive",
                                             "container_commit",
                                             "container_network_connect",
                                             "container_network_disconnect"};
  return jobs;
}

caf::expected<std::string> resolve(const manager_state& st, const std::string& ref) {
  if (ref.empty()) return make_error(ec::not_found, "No such container: " + ref);
  if (st.containers.count(ref)) return ref;
  auto name = ref[0] == '/' ? ref : "/" + ref;
  if (auto it = st.names.find(name); it != st.names.end() && st.containers.count(it->second))
    return it->second;
  std::string found;
  for (auto it = st.containers.lower_bound(ref);
       it != st.containers.end() && it->first.compare(0, ref.size(), ref) == 0; ++it) {
    if (!found.empty())
      return make_error(ec::invalid_argument, "multiple IDs found with provided prefix: " + ref);
    found = it->first;
  }
  if (found.empty()) return make_error(ec::not_found, "No such container: " + ref);
  return found;
}

std::string unique_name(const manager_state& st) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<std::size_t> a(0, std::size(adjectives) - 1);
  std::uniform_int_distribution<std::size_t> b(0, std::size(surnames) - 1);
  for (int i = 0;; ++i) {
    auto n = std::string{adjectives[a(rng)]} + "_" + surnames[b(rng)];
    if (i >= 10) n += std::to_string(i); // Docker appends a digit after collisions
    if (!st.names.count("/" + n)) return n;
  }
}

// One container's restore is over (or it went): answer the waiters once none is left.
void restore_done(manager_self self, const std::string& id) {
  auto& st = self->state;
  if (st.restoring.erase(id) == 0 || !st.restoring.empty()) return;
  for (auto& p : std::exchange(st.restore_waiters, {}))
    p.deliver(true);
}

void spawn_record(manager_self self, container_info info, bool recovered, bool at_boot = false) {
  auto& st = self->state;
  auto id = info.id;
  auto name = info.name;
  if (at_boot) st.restoring.insert(id);
  auto actor = spawn_container(self->system(), st.opts.deps, self, info, recovered, at_boot);
  st.names[name] = id;
  st.containers[id] = record{actor, std::move(info)};
}

void load_existing(manager_self self) {
  auto& st = self->state;
  auto root = st.opts.deps->data_root + "/containers";
  DIR* d = ::opendir(root.c_str());
  if (!d) return;
  std::vector<std::string> ids;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() == 64) ids.push_back(n);
  }
  ::closedir(d);
  for (auto& id : ids) {
    auto info = load_container(root + "/" + id);
    if (!info) {
      BLOG(warn, "containers") << "skipping " << id << ": " << error_message(info.error());
      continue;
    }
    bool recovered = is_running(info->state) || info->state.status == container_status::removing;
    // Its volumes are taken again (the store keeps their users in memory only). Requests to the
    // store are handled in order, so this hold is in place before any API request arrives.
    auto vid = info->id;
    self->request(st.opts.volumes, caf::infinite, atom::retain_v, vid, info->mounts)
        .then([](std::vector<mount_point>&) {},
              [vid](caf::error& err) {
                BLOG(warn, "containers")
                    << vid.substr(0, 12) << ": its volumes: " << error_message(err);
              });
    spawn_record(self, std::move(*info), recovered, true);
  }
  if (!ids.empty()) BLOG(info, "containers") << "loaded " << st.containers.size() << " containers";
}

// The last step of a create: the container's layers, dir and config, then its actor.
template <class Release>
void make_layers(manager_self self, container_info info, std::string parent,
                 caf::typed_response_promise<job_result> rp, Release release) {
  auto graph = self->state.opts.deps->graph;
  auto dir = self->state.opts.deps->data_root + "/containers/" + info.id;
  auto id = info.id;
  run_detached<bool>(
      self,
      [graph, id, parent, dir, info]() -> caf::expected<bool> {
        auto undo = [&](caf::error err) -> caf::expected<bool> {
          graph->remove(id);
          graph->remove(id + "-init");
          io::remove_all(dir);
          return err;
        };
        if (auto err = io::mkdir_all(dir, 0710)) return undo(err);
        if (auto err = graph->create_rw(id, parent)) return undo(err);
        if (auto err = save_container(dir, info)) return undo(err);
        return true;
      },
      [self, rp, release, info](caf::expected<bool>& r) mutable {
        if (!r) {
          self->send(self->state.opts.images, atom::release_v, info.id);
          self->send(self->state.opts.volumes, atom::release_v, info.id, true);
          release(r.error(), rp);
          return;
        }
        spawn_record(self, info, false);
        self->send(self->state.opts.deps->events, caf::publish_atom_v,
                   container_event(info, "create"));
        rp.deliver(ok(caf::make_message(create_result{info.id, {}})));
      });
}

// POST /containers/create: validate, find the image, make the layers and the actor.
caf::result<job_result> create(manager_self self, job& j) {
  auto& st = self->state;
  if (!j.input.match_elements<container_config>())
    return fail(make_error(ec::invalid_argument, "create: no container config"));
  auto cfg = j.input.get_as<container_config>(0);
  std::string name = j.args.empty() ? std::string{} : j.args[0];
  if (name.empty()) name = "/" + unique_name(st);
  if (name[0] != '/') name = "/" + name;
  if (auto it = st.names.find(name); it != st.names.end())
    return fail(make_error(ec::conflict, "Conflict. The container name \"" + name +
                                             "\" is already in use by container \"" + it->second +
                                             "\". You have to remove (or rename) that container "
                                             "to be able to reuse that name."));
  if (auto err = cgroups::validate(resources_of(cfg.host))) return fail(std::move(err));
  auto log_type = cfg.host.log_type.empty() ? st.opts.deps->log_driver : cfg.host.log_type;
  auto log_config = cfg.host.log_type.empty() ? st.opts.deps->log_opts : cfg.host.log_config;
  if (log_type != "json-file" && log_type != "none")
    return fail(
        make_error(ec::invalid_argument, "failed to create logger: logger: no log driver named '" +
                                             log_type + "' is registered"));
  if (log_type == "json-file") {
    if (auto o = logs::parse_options(log_config); !o) return fail(o.error());
  }
  auto net = cfg.host.network_mode;
  // A user-defined network must exist, as moby checks at create (404 "network x not found");
  // container:<name|id> is looked up when the container starts.
  if (net.rfind("container:", 0) != 0 &&
      !(net.empty() || net == "default" || net == "bridge" || net == "host" || net == "none") &&
      j.getenv("network_checked") != "1") {
    if (!st.opts.deps->network)
      return fail(make_error(ec::not_found, "network " + net + " not found"));
    auto rp = self->make_response_promise<job_result>();
    self->request(st.opts.deps->network, caf::infinite, caf::get_atom_v, net)
        .then(
            [self, rp, j](network_info&) mutable {
              j.env["network_checked"] = "1";
              rp.delegate(caf::actor_cast<caf::actor>(self), std::move(j));
            },
            [rp](caf::error& err) mutable { rp.deliver(fail(err)); });
    return rp;
  }
  // dockerd's check of HostConfig.Runtime; the container records the runtime it runs with.
  auto& deps = *st.opts.deps;
  auto runtime = cfg.host.runtime.empty() ? deps.default_runtime : cfg.host.runtime;
  if (deps.runtimes.count(runtime) == 0)
    return fail(make_error(ec::invalid_argument, "Unknown runtime specified " + runtime));
  if (runtime != deps.default_runtime)
    return fail(
        make_error(ec::not_implemented, "berthd runs every container with its default runtime (" +
                                            deps.default_runtime + "); running one with " +
                                            runtime + " is not built yet"));
  cfg.host.runtime = runtime;
  auto id = io::random_hex(32);
  st.names[name] = id; // reserved while the image is looked up and the layers are made
  auto rp = self->make_response_promise<job_result>();
  auto release = [self, name](const caf::error& err,
                              caf::typed_response_promise<job_result> rp) mutable {
    self->state.names.erase(name);
    rp.deliver(fail(err));
  };
  // The hold on the image's layers is taken with the lookup, so that no rmi slips in between.
  self->request(st.opts.images, caf::infinite, atom::retain_v, id, cfg.image)
      .then(
          [self, rp, release, cfg, id, name, log_type, log_config](image_info& img) mutable {
            auto& st = self->state;
            if (auto err = merge_image_config(cfg, img.config)) {
              self->send(st.opts.images, atom::release_v, id);
              release(err, rp);
              return;
            }
            if (cfg.hostname.empty()) cfg.hostname = id.substr(0, 12);
            if (cfg.host.network_mode.empty()) cfg.host.network_mode = "default";
            normalize_endpoints(cfg);
            container_info info;
            info.id = id;
            info.name = name;
            info.created_nano = now_nano();
            info.image_id = img.id;
            auto cmd = cfg.entrypoint;
            cmd.insert(cmd.end(), cfg.cmd.begin(), cfg.cmd.end());
            info.path = cmd.front();
            info.args.assign(cmd.begin() + 1, cmd.end());
            info.driver = st.opts.deps->graph->name();
            info.rw_layer = id;
            auto dir = st.opts.deps->data_root + "/containers/" + id;
            info.log_type = log_type;
            info.log_config = log_config;
            if (log_type == "json-file") info.log_path = dir + "/" + id + "-json.log";
            info.exec_driver = st.opts.deps->exec->name();
            info.config = std::move(cfg);
            auto parent = img.graph_data.count("CacheID") ? img.graph_data["CacheID"] : "";
            auto mounts = resolve_mounts(info.config);
            if (!mounts) {
              self->send(st.opts.images, atom::release_v, id);
              release(mounts.error(), rp);
              return;
            }
            // The volumes are taken (named ones made when missing) before the layers are made.
            self->request(st.opts.volumes, caf::infinite, atom::retain_v, id, std::move(*mounts))
                .then(
                    [self, rp, release, info, parent](std::vector<mount_point>& taken) mutable {
                      info.mounts = std::move(taken);
                      make_layers(self, std::move(info), parent, rp, release);
                    },
                    [self, rp, release, id](caf::error& err) mutable {
                      self->send(self->state.opts.images, atom::release_v, id);
                      release(err, rp);
                    });
          },
          [release, rp, cfg](caf::error& err) mutable {
            if (err.category() == caf::atom("berth") &&
                static_cast<ec>(err.code()) == ec::not_found)
              err = make_error(ec::not_found, "No such image: " + cfg.image);
            release(err, rp);
          });
  return rp;
}

// docker rename (moby's daemon/rename.go): the new name is taken at once, the old one freed
// once the container actor took it (it records it and publishes the event).
caf::result<job_result> rename(manager_self self, const std::string& id, job& j) {
  auto& st = self->state;
  if (j.args.size() < 2) return fail(make_error(ec::invalid_argument, "rename: no new name"));
  auto name = j.args[1];
  auto old = st.containers.at(id).info.name;
  if (name == old)
    return fail(make_error(ec::invalid_argument,
                           "Renaming a container with the same name as its current name"));
  if (auto it = st.names.find(name); it != st.names.end())
    return fail(make_error(ec::conflict, "Conflict. The container name \"" + name +
                                             "\" is already in use by container \"" + it->second +
                                             "\". You have to remove (or rename) that "
                                             "container to be able to reuse that name."));
  st.names[name] = id;
  auto rp = self->make_response_promise<job_result>();
  j.args[0] = id;
  self->request(st.containers.at(id).actor, caf::infinite, std::move(j))
      .then(
          [self, rp, id, name, old](job_result& r) mutable {
            auto& names = self->state.names;
            auto drop = r.status == status_ok ? old : name;
            if (auto it = names.find(drop); it != names.end() && it->second == id) names.erase(it);
            rp.deliver(std::move(r));
          },
          [self, rp, id, name](caf::error& err) mutable {
            auto& names = self->state.names;
            if (auto it = names.find(name); it != names.end() && it->second == id) names.erase(it);
            rp.deliver(fail(std::move(err)));
          });
  return rp;
}

// docker container prune (moby's ContainersPrune): the stopped containers created before
// `until` whose labels match (label: has, label!: has not; "k" or "k=v") are removed as by
// `docker rm`; the answer lists them, with the size of their read-write layers.
caf::result<job_result> prune(manager_self self, job& j) {
  auto& st = self->state;
  int64_t until = -1;
  if (auto u = j.getenv("until"); !u.empty()) until = std::stoll(u);
  filter_args f;
  if (j.input.match_elements<filter_args>()) f = j.input.get_as<filter_args>(0);
  auto has = [](const container_info& c, const std::string& want) {
    auto eq = want.find('=');
    auto it = c.config.labels.find(want.substr(0, eq));
    return it != c.config.labels.end() &&
           (eq == std::string::npos || it->second == want.substr(eq + 1));
  };
  std::vector<std::pair<std::string, std::string>> victims; // ID, read-write layer
  for (auto& [id, r] : st.containers) {
    auto& c = r.info;
    auto s = c.state.status;
    if (s != container_status::created && s != container_status::exited &&
        s != container_status::dead)
      continue;
    if (until >= 0 && c.created_nano >= until) continue;
    bool ok = true;
    for (auto& l : f["label"])
      ok = ok && has(c, l);
    for (auto& l : f["label!"])
      ok = ok && !has(c, l);
    if (ok) victims.emplace_back(id, c.rw_layer);
  }
  auto rp = self->make_response_promise<job_result>();
  auto graph = st.opts.deps->graph;
  run_detached<std::vector<int64_t>>(
      self,
      [graph, victims]() -> caf::expected<std::vector<int64_t>> {
        std::vector<int64_t> sizes;
        for (auto& v : victims) {
          auto n = graph->size(v.second);
          sizes.push_back(n ? *n : 0);
        }
        return sizes;
      },
      [self, rp, victims](caf::expected<std::vector<int64_t>>& sizes) mutable {
        struct tally {
          std::vector<std::string> ids;
          int64_t reclaimed = 0;
          std::size_t pending = 0;
        };
        auto t = std::make_shared<tally>();
        t->pending = victims.size();
        auto finish = [self, rp, t]() mutable {
          event ev;
          ev.type = "container";
          ev.action = "prune";
          ev.attributes["reclaimed"] = std::to_string(t->reclaimed);
          self->send(self->state.opts.deps->events, caf::publish_atom_v, std::move(ev));
          std::sort(t->ids.begin(), t->ids.end());
          rp.deliver(ok(caf::make_message(t->ids, t->reclaimed)));
        };
        if (victims.empty()) return finish();
        for (std::size_t i = 0; i < victims.size(); ++i) {
          auto it = self->state.containers.find(victims[i].first);
          if (it == self->state.containers.end()) {
            if (--t->pending == 0) finish();
            continue;
          }
          auto size = sizes && i < sizes->size() ? (*sizes)[i] : 0;
          auto id = victims[i].first;
          self->request(it->second.actor, caf::infinite, job{"container_delete", {id}, {}, {}})
              .then(
                  [t, id, size, finish](job_result& r) mutable {
                    if (r.status == status_ok) {
                      t->ids.push_back(id);
                      t->reclaimed += size;
                    }
                    if (--t->pending == 0) finish();
                  },
                  [t, finish](caf::error&) mutable {
                    if (--t->pending == 0) finish();
                  });
        }
      });
  return rp;
}

// Every container, newest first (the API applies all, limit, filters, before and since).
std::vector<container_info> list(const manager_state& st) {
  std::vector<container_info> out;
  out.reserve(st.containers.size());
  for (auto& [id, rec] : st.containers)
    out.push_back(rec.info);
  std::sort(out.begin(), out.end(),
            [](auto& a, auto& b) { return a.created_nano > b.created_nano; });
  return out;
}

// docker exec create: the container makes the exec actor; its ID routes the exec jobs here.
caf::result<job_result> exec_create(manager_self self, const std::string& id, job& j) {
  auto rp = self->make_response_promise<job_result>();
  self->request(self->state.containers.at(id).actor, caf::infinite, std::move(j))
      .then(
          [self, rp, id](job_result& r) mutable {
            if (r.status == status_ok && r.output.match_elements<std::string, exec_actor>()) {
              auto& exec_id = r.output.get_as<std::string>(0);
              auto& st = self->state;
              if (st.containers.count(id)) { // (not removed meanwhile)
                st.execs.emplace(exec_id, r.output.get_as<exec_actor>(1));
                st.execs_of[id].push_back(exec_id);
              }
              r.output = caf::make_message(exec_id);
            }
            rp.deliver(std::move(r));
          },
          [rp](caf::error& err) mutable { rp.deliver(fail(std::move(err))); });
  return rp;
}

container_manager_actor::behavior_type manager_behavior(manager_self self,
                                                        container_manager_options opts) {
  self->state.opts = std::move(opts);
  self->attach_functor([](const caf::error& reason) {
    if (reason && reason != caf::exit_reason::user_shutdown)
      BLOG(error, "containers") << "the container manager stopped: " << caf::to_string(reason);
  });
  // The container actors go with the manager (a pending timer would keep one alive, and the
  // daemon's exit waits for every actor).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [id, r] : self->state.containers)
      caf::anon_send_exit(r.actor, caf::exit_reason::user_shutdown);
    self->quit(msg.reason);
  });
  load_existing(self);
  return {
      [self](caf::update_atom, container_info& info) {
        auto it = self->state.containers.find(info.id);
        if (it != self->state.containers.end()) it->second.info = std::move(info);
      },
      [self](atom::restored, std::string& id) { restore_done(self, id); },
      [self](atom::restored) -> caf::result<bool> {
        auto& st = self->state;
        if (st.restoring.empty()) return true;
        st.restore_waiters.push_back(self->make_response_promise<bool>());
        return st.restore_waiters.back();
      },
      [self](atom::done, std::string& id) {
        auto& st = self->state;
        auto it = st.containers.find(id);
        if (it == st.containers.end()) return;
        st.names.erase(it->second.info.name);
        st.containers.erase(it);
        if (auto e = st.execs_of.find(id); e != st.execs_of.end()) {
          for (auto& x : e->second)
            st.execs.erase(x);
          st.execs_of.erase(e);
        }
        restore_done(self, id);
        self->send(st.opts.images, atom::release_v, id); // its read-write layer is gone
      },
      [self](job& j) -> caf::result<job_result> {
        auto& st = self->state;
        if (j.name == "container_create") return create(self, j);
        if (j.name == "containers") {
          if (j.env.count("size") == 0) return ok(caf::make_message(list(st)));
          // ps -s, system df: each read-write layer's size, read off the actor thread
          auto rp = self->make_response_promise<job_result>();
          auto graph = st.opts.deps->graph;
          run_detached<std::vector<container_info>>(
              self,
              [graph, v = list(st)]() mutable -> caf::expected<std::vector<container_info>> {
                for (auto& c : v)
                  if (auto n = graph->size(c.rw_layer)) c.size_rw = *n;
                return std::move(v);
              },
              [rp](caf::expected<std::vector<container_info>>& r) mutable {
                rp.deliver(r ? ok(caf::make_message(std::move(*r))) : fail(r.error()));
              });
          return rp;
        }
        if (j.name == "container_count") {
          int64_t running = 0, paused = 0;
          for (auto& [id, r] : st.containers) {
            if (r.info.state.status == container_status::paused)
              ++paused;
            else if (is_running(r.info.state))
              ++running;
          }
          auto total = static_cast<int64_t>(st.containers.size());
          return ok(caf::make_message(
              std::vector<int64_t>{total, running, paused, total - running - paused}));
        }
        if (j.name == "container_prune") return prune(self, j);
        if (j.name == "exec_start" || j.name == "exec_inspect" || j.name == "exec_resize") {
          auto x = j.args.empty() ? st.execs.end() : st.execs.find(j.args[0]);
          if (x == st.execs.end())
            return fail(make_error(ec::not_found,
                                   "No such exec instance: " + (j.args.empty() ? "" : j.args[0])));
          return self->delegate(x->second, std::move(j));
        }
        if (j.args.empty())
          return fail(make_error(ec::invalid_argument, j.name + ": no container given"));
        auto id = resolve(st, j.args[0]);
        if (!id) return fail(id.error());
        if (j.name == "container_rename") return rename(self, *id, j);
        if (j.name == "container_exec_create") return exec_create(self, *id, j);
        return self->delegate(st.containers.at(*id).actor, std::move(j));
      },
      [self](atom::shutdown) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (st.containers.empty()) return caf::ok_atom_v; // before any promise is made
        auto rp = self->make_response_promise<caf::ok_atom>();
        auto pending = std::make_shared<std::size_t>(st.containers.size());
        auto timeout = std::chrono::seconds{st.opts.deps->shutdown_timeout + 5};
        for (auto& [id, r] : st.containers)
          self->request(r.actor, timeout, atom::shutdown_v)
              .then(
                  [rp, pending](caf::ok_atom) mutable {
                    if (--*pending == 0) rp.deliver(caf::ok_atom_v);
                  },
                  [rp, pending](caf::error&) mutable {
                    if (--*pending == 0) rp.deliver(caf::ok_atom_v);
                  });
        return rp;
      },
  };
}

} // namespace

std::string generate_name() {
  manager_state empty;
  return unique_name(empty);
}

caf::expected<container_manager_actor> spawn_container_manager(caf::actor_system& sys,
                                                               container_manager_options opts) {
  auto engine = opts.engine;
  if (opts.deps) {
    opts.deps->images = opts.images;
    opts.deps->volumes = opts.volumes;
  }
  auto mgr = sys.spawn(manager_behavior, std::move(opts));
  std::vector<std::string> jobs{"container_create", "containers", "container_count",
                                "container_prune",  "exec_start", "exec_inspect",
                                "exec_resize"};
  for (auto& n : container_jobs())
    jobs.push_back(n);
  caf::scoped_actor self{sys};
  caf::error failed;
  self->request(engine, defaults::register_timeout, atom::provide_v, std::string{"containers"},
                jobs, caf::actor_cast<job_handler_actor>(mgr))
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { failed = std::move(err); });
  if (!failed)
    self->request(engine, defaults::register_timeout, atom::provide_v, atom::shutdown_v,
                  std::string{"containers"}, caf::actor_cast<shutdown_handler_actor>(mgr))
        .receive([](caf::ok_atom) {}, [&](caf::error& err) { failed = std::move(err); });
  if (failed) {
    caf::anon_send_exit(mgr, caf::exit_reason::user_shutdown);
    return failed;
  }
  return mgr;
}

} // namespace berth
