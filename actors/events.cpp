#include "actors/events.hpp"

#include "actors/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <deque>
#include <map>

namespace berth {

namespace {

struct subscriber {
  event_query query;
  event_sink_actor sink;
  uint64_t pending = 0;
};

struct events_state {
  events_options opts;
  std::deque<event> ring;
  std::map<uint64_t, subscriber> subs;
  uint64_t next_id = 1;
  static inline const char* name = "events";
};

using events_pointer = events_actor::stateful_pointer<events_state>;

bool in_window(const event_query& q, const event& ev) {
  return (q.since_nano < 0 || ev.time_nano >= q.since_nano) &&
         (q.until_nano < 0 || ev.time_nano <= q.until_nano);
}

bool exact(const filter_args& f, const std::string& key, const std::string& value) {
  auto i = f.find(key);
  return i == f.end() || i->second.count(value) > 0;
}

// FuzzyMatch: an exact value, or any filter value that is a prefix of the source.
bool fuzzy_in(const std::set<std::string>& values, const std::string& source) {
  if (values.count(source) > 0) return true;
  for (auto& v : values)
    if (!v.empty() && source.compare(0, v.size(), v) == 0) return true;
  return false;
}

std::string attribute(const event& ev, const std::string& key) {
  auto i = ev.attributes.find(key);
  return i == ev.attributes.end() ? std::string{} : i->second;
}

// filter key matches the event's actor ID or "name" attribute by prefix, for events of that type
bool fuzzy_name(const filter_args& f, const event& ev, const std::string& type) {
  auto i = f.find(type);
  if (i == f.end()) return true;
  return fuzzy_in(i->second, ev.actor_id) || fuzzy_in(i->second, attribute(ev, "name"));
}

std::string strip_tag(const std::string& ref) {
  auto slash = ref.rfind('/');
  auto colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
    return ref.substr(0, colon);
  return ref;
}

bool match_image(const filter_args& f, const event& ev) {
  auto i = f.find("image");
  if (i == f.end()) return true;
  auto name = attribute(ev, ev.type == "image" ? "name" : "image");
  for (auto& candidate : {ev.actor_id, name, strip_tag(ev.actor_id), strip_tag(name)})
    if (!candidate.empty() && i->second.count(candidate) > 0) return true;
  return false;
}

bool match_labels(const filter_args& f, const event& ev) {
  auto i = f.find("label");
  if (i == f.end()) return true;
  for (auto& want : i->second) {
    auto eq = want.find('=');
    auto key = want.substr(0, eq);
    auto a = ev.attributes.find(key);
    if (a == ev.attributes.end()) return false;
    if (eq != std::string::npos && a->second != want.substr(eq + 1)) return false;
  }
  return true;
}

bool match_event(const filter_args& f, const event& ev) {
  auto i = f.find("event");
  if (i == f.end()) return true;
  // moby #25798: health_status, exec_create and exec_start match with or without ": detail".
  for (auto* fuzzy : {"health_status", "exec_create", "exec_start"})
    if (i->second.count(fuzzy) > 0) return fuzzy_in(i->second, ev.action);
  return i->second.count(ev.action) > 0;
}

void send_done(events_pointer self, uint64_t id, const std::string& reason) {
  auto i = self->state.subs.find(id);
  if (i == self->state.subs.end()) return;
  self->send(i->second.sink, atom::done_v, id, reason);
  self->state.subs.erase(i);
}

// Deliver one event to one subscriber; false when the subscriber had to be dropped.
bool deliver(events_pointer self, uint64_t id, subscriber& sub, const event& ev) {
  if (!in_window(sub.query, ev) || !matches(sub.query.filters, ev)) return true;
  if (sub.pending >= self->state.opts.max_pending) return false;
  ++sub.pending;
  self->send(sub.sink, id, ev);
  return true;
}

void drop_slow(events_pointer self, uint64_t id) {
  auto pending = self->state.subs[id].pending;
  BLOG(warn, "events") << "dropping subscriber " << id << ": too slow (" << pending
                       << " events not written)";
  send_done(self, id,
            "subscriber too slow: " + std::to_string(pending) + " events not yet written");
}

void publish(events_pointer self, event ev) {
  auto& st = self->state;
  if (ev.time_nano == 0) ev.time_nano = now_nano();
  if (ev.scope.empty()) ev.scope = "local";
  st.ring.push_back(ev);
  while (st.ring.size() > st.opts.ring)
    st.ring.pop_front();
  std::vector<uint64_t> slow;
  for (auto& [id, sub] : st.subs)
    if (!deliver(self, id, sub, ev)) slow.push_back(id);
  for (auto id : slow)
    drop_slow(self, id);
}

job_result run_job(events_pointer self, job& j) {
  if (j.name == "subscribers_count")
    return {status_ok, {}, caf::make_message(static_cast<uint64_t>(self->state.subs.size()))};
  if (j.name == "log") {
    // Docker 1.2: log ACTION ID [FROM]; env "type" (default container), env "attr.K" = V.
    if (j.args.size() < 2 || j.args.size() > 3)
      return {status_err, make_error(ec::invalid_argument, "usage: log ACTION ID [FROM]"), {}};
    event ev;
    ev.action = j.args[0];
    ev.actor_id = j.args[1];
    ev.type = "container";
    if (j.args.size() == 3) ev.attributes["image"] = j.args[2];
    for (auto& [k, v] : j.env) {
      if (k == "type")
        ev.type = v;
      else if (k.rfind("attr.", 0) == 0)
        ev.attributes[k.substr(5)] = v;
    }
    publish(self, std::move(ev));
    return {status_ok, {}, {}};
  }
  return {status_not_found, make_error(ec::command_not_found, "command not found: " + j.name), {}};
}

events_actor::behavior_type events_impl(events_pointer self, events_options opts) {
  self->state.opts = std::move(opts);
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& subs = self->state.subs;
    for (auto i = subs.begin(); i != subs.end();)
      i = i->second.sink.address() == msg.source ? subs.erase(i) : std::next(i);
  });
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    std::vector<uint64_t> ids;
    for (auto& [id, sub] : self->state.subs)
      ids.push_back(id);
    for (auto id : ids)
      send_done(self, id, "events bus stopped");
    self->quit(msg.reason);
  });
  if (auto& engine = self->state.opts.engine) {
    self->request(engine, defaults::register_timeout, atom::provide_v, std::string{"events"},
                  std::vector<std::string>{"log", "subscribers_count"},
                  caf::actor_cast<job_handler_actor>(self))
        .then([](caf::ok_atom) {},
              [](const caf::error& err) {
                BLOG(error, "events") << "cannot register jobs: " << error_message(err);
              });
  }
  return {
      [self](caf::publish_atom, event& ev) { publish(self, std::move(ev)); },
      [self](caf::subscribe_atom, event_query& q, event_sink_actor& sink) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (q.since_nano >= 0 && q.until_nano >= 0 && q.since_nano > q.until_nano)
          return make_error(ec::invalid_argument, "`since` time cannot be after `until` time");
        auto id = st.next_id++;
        auto& sub = st.subs[id];
        sub.query = std::move(q);
        sub.sink = sink;
        self->monitor(sink);
        if (sub.query.since_nano >= 0) {
          for (auto& ev : st.ring)
            if (!deliver(self, id, sub, ev)) {
              drop_slow(self, id);
              return id;
            }
        }
        if (sub.query.until_nano >= 0) {
          auto left = sub.query.until_nano - now_nano();
          if (left <= 0)
            send_done(self, id, "until reached");
          else
            self->delayed_send(caf::actor_cast<events_actor>(self), std::chrono::nanoseconds{left},
                               atom::deadline_v, id);
        }
        return id;
      },
      [self](caf::unsubscribe_atom, uint64_t id) { self->state.subs.erase(id); },
      [self](atom::ack, uint64_t id, uint64_t n) {
        auto i = self->state.subs.find(id);
        if (i != self->state.subs.end()) i->second.pending -= std::min(n, i->second.pending);
      },
      [self](caf::get_atom, atom::listeners) {
        return static_cast<uint64_t>(self->state.subs.size());
      },
      [self](caf::get_atom) {
        return std::vector<event>(self->state.ring.begin(), self->state.ring.end());
      },
      [self](atom::deadline, uint64_t id) { send_done(self, id, "until reached"); },
      [self](job& j) { return run_job(self, j); },
  };
}

} // namespace

int64_t now_nano() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool matches(const filter_args& f, const event& ev) {
  if (f.empty()) return true;
  return match_event(f, ev) && exact(f, "type", ev.type) && exact(f, "scope", ev.scope) &&
         fuzzy_name(f, ev, "daemon") && fuzzy_name(f, ev, "container") &&
         fuzzy_name(f, ev, "plugin") && fuzzy_name(f, ev, "volume") &&
         fuzzy_name(f, ev, "network") && match_image(f, ev) && match_labels(f, ev);
}

caf::error validate_event_filters(const filter_args& filters) {
  static const std::set<std::string> accepted{"config", "container", "daemon", "event",  "image",
                                              "label",  "network",   "node",   "plugin", "scope",
                                              "secret", "service",   "type",   "volume"};
  for (auto& [key, values] : filters) {
    if (accepted.count(key) == 0)
      return make_error(ec::invalid_argument, "invalid filter '" + key + "'");
    if (key == "scope")
      for (auto& v : values)
        if (v != "local" && v != "swarm")
          return make_error(ec::invalid_argument, "invalid filter 'scope=" + v + "'");
  }
  return caf::none;
}

caf::expected<events_actor> spawn_events(caf::actor_system& sys, events_options opts) {
  if (opts.ring == 0 || opts.max_pending == 0)
    return make_error(ec::invalid_argument, "the events bus needs a ring and a pending limit");
  return sys.spawn(events_impl, std::move(opts));
}

event container_event(const container_info& info, std::string action,
                      const std::map<std::string, std::string>& extra) {
  event ev;
  ev.type = "container";
  ev.action = std::move(action);
  ev.actor_id = info.id;
  ev.attributes = info.config.labels;
  ev.attributes["image"] = info.config.image;
  ev.attributes["name"] = info.name.substr(info.name.rfind('/', 0) == 0 ? 1 : 0);
  for (auto& [k, v] : extra)
    ev.attributes[k] = v;
  return ev;
}

} // namespace berth
