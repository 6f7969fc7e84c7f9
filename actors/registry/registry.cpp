// The registry client actor (see registry.hpp).
#include "actors/registry/registry.hpp"

#include "actors/log.hpp"
#include "actors/registry/client.hpp"
#include "actors/worker.hpp"
#include "messages/defaults.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace berth {

namespace {

struct registry_state {
  static inline const char* name = "registry";
  registry::registry_options opts;
  registry::platform host;
  std::shared_ptr<registry::token_cache> tokens = std::make_shared<registry::token_cache>();
};

using registry_pointer = registry_actor::stateful_pointer<registry_state>;

registry::registry_options options_of(const daemon_config& cfg) {
  return registry::registry_options{cfg.insecure_registries, cfg.registry_mirrors};
}

/// dockerd's wording for the errors of a pull (moby distribution/errors.go).
caf::error translate(const caf::error& err, const registry::reference& ref, bool anonymous) {
  auto msg = error_message(err);
  auto code = err.category() == caf::atom("berth") ? static_cast<ec>(err.code()) : ec::unspecified;
  auto has = [&](const char* s) { return msg.find(s) != std::string::npos; };
  if (code == ec::forbidden || has("denied:") || (code == ec::unauthorized && anonymous))
    return make_error(ec::not_found, "pull access denied for " + ref.familiar_name() +
                                         ", repository does not exist or may require 'docker "
                                         "login': " +
                                         msg);
  if (code == ec::not_found && has("manifest unknown"))
    return make_error(ec::not_found, "manifest for " + ref.familiar() + " not found: " + msg);
  if (code == ec::not_found && has("name unknown"))
    return make_error(ec::not_found, "repository " + ref.familiar_name() + " not found: " + msg);
  return err;
}

caf::expected<registry::platform> parse_platform(const std::string& s,
                                                 const registry::platform& host) {
  if (s.empty()) return host;
  registry::platform p;
  auto a = s.find('/');
  p.os = s.substr(0, a);
  if (a != std::string::npos) {
    auto b = s.find('/', a + 1);
    p.architecture = s.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    if (b != std::string::npos) p.variant = s.substr(b + 1);
  }
  if (p.os.empty() || p.architecture.empty())
    return make_error(ec::invalid_argument,
                      "\"" + s + "\": unknown operating system or architecture: invalid argument");
  return p;
}

caf::expected<resolved_image> resolve_blocking(registry::registry_options opts,
                                               std::shared_ptr<registry::token_cache> tokens,
                                               const std::string& ref_text,
                                               const std::string& auth_header,
                                               const registry::platform& want) {
  auto parsed = registry::parse_reference(ref_text);
  if (!parsed) return parsed.error();
  auto ref = registry::with_default_tag(std::move(*parsed));
  auto creds = registry::decode_registry_auth(auth_header);
  if (!creds) return creds.error();
  registry::client c{ref, *creds, std::move(opts), std::move(tokens)};
  auto anonymous = creds->anonymous();
  auto top = c.get_manifest(ref.digest.empty() ? ref.tag : ref.digest);
  if (!top) return translate(top.error(), ref, anonymous);
  resolved_image out;
  out.reference = ref.str();
  out.manifest_digest = top->digest;
  auto m = std::move(top->parsed);
  if (m.is_index) {
    auto d = registry::select_platform(m, want);
    if (!d) return d.error();
    auto sub = c.get_manifest(d->digest);
    if (!sub) return translate(sub.error(), ref, anonymous);
    if (sub->parsed.is_index)
      return make_error(ec::invalid_argument,
                        "manifest list entry " + d->digest + " is itself a manifest list");
    m = std::move(sub->parsed);
  }
  auto config = c.get_blob(m.config);
  if (!config) return translate(config.error(), ref, anonymous);
  out.config = std::move(*config);
  out.config_digest = m.config.digest;
  for (auto& l : m.layers)
    out.layers.push_back(layer_descriptor{l.media_type, l.digest, l.size, l.urls});
  return out;
}

/// The registry host of a login's serveraddress ("https://index.docker.io/v1/" is Docker Hub).
std::string login_domain(std::string addr) {
  for (auto* scheme : {"https://", "http://"})
    if (addr.rfind(scheme, 0) == 0) addr = addr.substr(std::string{scheme}.size());
  if (auto slash = addr.find('/'); slash != std::string::npos) addr = addr.substr(0, slash);
  if (addr.empty() || addr == "index.docker.io" || addr == "registry-1.docker.io")
    return registry::default_domain;
  return addr;
}

caf::expected<std::string> login_blocking(registry::registry_options opts,
                                          std::shared_ptr<registry::token_cache> tokens,
                                          const std::string& body) {
  auto creds = registry::parse_auth_config(body);
  if (!creds) return creds.error();
  registry::reference ref;
  ref.domain = login_domain(creds->serveraddress);
  registry::client c{ref, *creds, std::move(opts), std::move(tokens)};
  if (auto err = c.ping()) return err;
  return std::string{"Login Succeeded"};
}

registry_actor::behavior_type registry_impl(registry_pointer self, registry_options_in in) {
  self->state.opts = options_of(in.config);
  self->state.host = registry::platform{in.os, in.architecture, in.variant};
  self->request(in.engine, defaults::register_timeout, atom::provide_v, std::string{"registry"},
                std::vector<std::string>{"auth"}, caf::actor_cast<job_handler_actor>(self))
      .then([](caf::ok_atom) {},
            [](caf::error& err) {
              BLOG(error, "registry") << "cannot register with the engine: " << error_message(err);
            });
  return {
      [self](atom::resolve, std::string& ref, std::string& auth,
             std::string& plat) -> caf::result<resolved_image> {
        auto want = parse_platform(plat, self->state.host);
        if (!want) return want.error();
        auto rp = self->make_response_promise<resolved_image>();
        auto opts = self->state.opts;
        auto tokens = self->state.tokens;
        run_detached<resolved_image>(
            self,
            [opts, tokens, ref, auth, want = *want]() {
              return resolve_blocking(opts, tokens, ref, auth, want);
            },
            [rp, ref](caf::expected<resolved_image>& r) mutable {
              if (!r) {
                BLOG(info, "registry") << "resolve " << ref << ": " << error_message(r.error());
                rp.deliver(r.error());
                return;
              }
              BLOG(debug, "registry") << "resolve " << ref << ": image " << r->config_digest << " ("
                                      << r->layers.size() << " layers)";
              rp.deliver(std::move(*r));
            });
        return rp;
      },
      [self](atom::tags, std::string& ref_text,
             std::string& auth) -> caf::result<std::vector<std::string>> {
        auto rp = self->make_response_promise<std::vector<std::string>>();
        auto opts = self->state.opts;
        auto tokens = self->state.tokens;
        run_detached<std::vector<std::string>>(
            self,
            [opts, tokens, ref_text, auth]() -> caf::expected<std::vector<std::string>> {
              auto ref = registry::parse_reference(ref_text);
              if (!ref) return ref.error();
              auto creds = registry::decode_registry_auth(auth);
              if (!creds) return creds.error();
              registry::client c{*ref, *creds, opts, tokens};
              auto tags = c.list_tags();
              if (!tags) return translate(tags.error(), *ref, creds->anonymous());
              return tags;
            },
            [rp](caf::expected<std::vector<std::string>>& r) mutable {
              if (r)
                rp.deliver(std::move(*r));
              else
                rp.deliver(r.error());
            });
        return rp;
      },
      [self](atom::open_blob, std::string& ref_text, std::string& auth,
             layer_descriptor& d) -> caf::result<blob_handle> {
        auto rp = self->make_response_promise<blob_handle>();
        auto opts = self->state.opts;
        auto tokens = self->state.tokens;
        run_detached<blob_handle>(
            self,
            [opts, tokens, ref_text, auth, d]() -> caf::expected<blob_handle> {
              auto ref = registry::parse_reference(ref_text);
              if (!ref) return ref.error();
              auto creds = registry::decode_registry_auth(auth);
              if (!creds) return creds.error();
              registry::client c{*ref, *creds, opts, tokens};
              registry::descriptor desc;
              desc.media_type = d.media_type;
              desc.digest = d.digest;
              desc.size = d.size;
              desc.urls = d.urls;
              auto s = c.open_blob(desc);
              if (!s) return translate(s.error(), *ref, creds->anonymous());
              return blob_handle{std::make_shared<registry::blob_stream>(std::move(*s))};
            },
            [rp](caf::expected<blob_handle>& r) mutable {
              if (r)
                rp.deliver(std::move(*r));
              else
                rp.deliver(r.error());
            });
        return rp;
      },
      [self](atom::push, std::string& ref_text,
             std::string& auth) -> caf::result<registry_session> {
        auto ref = registry::parse_reference(ref_text);
        if (!ref) return ref.error();
        auto creds = registry::decode_registry_auth(auth);
        if (!creds) return creds.error();
        auto c =
            std::make_shared<registry::client>(*ref, *creds, self->state.opts, self->state.tokens);
        c->for_push();
        return registry_session{std::move(c)};
      },
      [self](atom::config, daemon_config& cfg) { self->state.opts = options_of(cfg); },
      [self](job& j) -> caf::result<job_result> {
        if (j.name != "auth")
          return job_result{status_not_found, make_error(ec::command_not_found, j.name), {}};
        if (!j.input.match_elements<std::string>())
          return job_result{status_err, make_error(ec::invalid_argument, "auth: no body"), {}};
        auto body = j.input.get_as<std::string>(0);
        auto rp = self->make_response_promise<job_result>();
        run_detached<std::string>(
            self,
            [opts = self->state.opts, tokens = self->state.tokens, body]() {
              return login_blocking(opts, tokens, body);
            },
            [rp](caf::expected<std::string>& r) mutable {
              if (r)
                rp.deliver(job_result{status_ok, {}, caf::make_message(std::move(*r))});
              else
                rp.deliver(job_result{status_err, r.error(), {}});
            });
        return rp;
      },
  };
}

} // namespace

caf::expected<registry_actor> spawn_registry(caf::actor_system& sys, registry_options_in opts) {
  if (!opts.engine) return make_error(ec::invalid_argument, "registry: no engine");
  return sys.spawn(registry_impl, std::move(opts));
}

} // namespace berth
