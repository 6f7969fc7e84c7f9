// Docker image references: docker/distribution's `reference` grammar (ParseNormalizedNamed,
// FamiliarString), written out as small hand matchers instead of regular expressions.
//   reference  := name [ ":" tag ] [ "@" digest ]
//   name       := [domain "/"] path-component ["/" path-component]*
//   domain     := domain-component ["." domain-component]* [":" port] | "[" ipv6 "]" [":" port]
//   path-component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
//   tag        := [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
//   digest     := "sha256:" 64 lowercase hex (the only algorithm berth pulls)
#include "actors/registry/reference.hpp"

#include "messages/error.hpp"

#include <cctype>

namespace berth::registry {

namespace {

constexpr std::size_t name_total_length_max = 255; // distribution's NameTotalLengthMax
constexpr std::size_t tag_length_max = 128;
constexpr std::size_t digest_hex_length = 64;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_path_component(std::string_view s) {
  // [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
  std::size_t i = 0;
  auto alnum_run = [&] {
    auto start = i;
    while (i < s.size() && is_lower_alnum(s[i]))
      ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-')
        ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

bool valid_path(std::string_view s) {
  if (s.empty()) return false;
  std::size_t start = 0;
  while (true) {
    auto slash = s.find('/', start);
    auto comp = s.substr(start, slash == std::string_view::npos ? s.npos : slash - start);
    if (!valid_path_component(comp)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool valid_domain_component(std::string_view s) {
  // [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '-') return false;
  return true;
}

bool valid_port(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool valid_domain(std::string_view s) {
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    // "[" ipv6 "]" [":" port]
    auto close = s.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : s.substr(1, close - 1))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':') return false;
    auto rest = s.substr(close + 1);
    return rest.empty() || (rest.front() == ':' && valid_port(rest.substr(1)));
  }
  if (auto colon = s.find(':'); colon != std::string_view::npos) {
    if (!valid_port(s.substr(colon + 1))) return false;
    host = s.substr(0, colon);
  }
  std::size_t start = 0;
  while (true) {
    auto dot = host.find('.', start);
    auto comp = host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
    if (!valid_domain_component(comp)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool valid_digest_ref(std::string_view d) {
  constexpr std::string_view prefix = "sha256:";
  if (d.size() != prefix.size() + digest_hex_length || d.substr(0, prefix.size()) != prefix)
    return false;
  for (char c : d.substr(prefix.size()))
    if (!is_lower_hex(c)) return false;
  return true;
}

bool is_64_hex(std::string_view s) {
  if (s.size() != digest_hex_length) return false;
  for (char c : s)
    if (!is_lower_hex(c)) return false;
  return true;
}

caf::error bad_format() {
  return make_error(ec::invalid_argument, "invalid reference format");
}

} // namespace

std::string reference::name() const {
  return domain + "/" + path;
}

std::string reference::str() const {
  auto out = name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string reference::familiar_name() const {
  if (domain != default_domain) return name();
  constexpr std::string_view official = official_prefix;
  if (path.compare(0, official.size(), official) == 0 &&
      path.find('/', official.size()) == std::string::npos)
    return path.substr(official.size());
  return path;
}

std::string reference::familiar() const {
  auto out = familiar_name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > tag_length_max) return false;
  if (!is_alnum(tag.front()) && tag.front() != '_') return false;
  for (char c : tag.substr(1))
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

reference with_default_tag(reference ref) {
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

caf::expected<reference> parse_reference(std::string_view s) {
  if (is_64_hex(s))
    return make_error(ec::invalid_argument, "invalid repository name (" + std::string(s) +
                                                "), cannot specify 64-byte hexadecimal strings");
  // splitDockerDomain: the first component is a domain when it contains '.' or ':' or is
  // "localhost"; otherwise the whole string is a Docker Hub repository.
  reference ref;
  std::string_view remainder;
  auto slash = s.find('/');
  if (slash == std::string_view::npos ||
      (s.substr(0, slash).find_first_of(".:") == std::string_view::npos &&
       s.substr(0, slash) != "localhost")) {
    ref.domain = default_domain;
    remainder = s;
  } else {
    ref.domain = std::string(s.substr(0, slash));
    remainder = s.substr(slash + 1);
  }
  if (ref.domain == legacy_domain) ref.domain = default_domain;
  std::string rest(remainder);
  if (ref.domain == default_domain && rest.find('/') == std::string::npos)
    rest = official_prefix + rest;
  // The repository name (up to a tag separator) must be lowercase.
  auto remote_name = rest.substr(0, rest.find(':'));
  if (lower(remote_name) != remote_name)
    return make_error(ec::invalid_argument,
                      "invalid reference format: repository name must be lowercase");
  // name [":" tag] ["@" digest]: neither the path nor the tag contain '@' or ':'.
  std::string_view r = rest;
  if (auto at = r.find('@'); at != std::string_view::npos) {
    auto digest = r.substr(at + 1);
    if (!valid_digest_ref(digest)) return bad_format();
    ref.digest = std::string(digest);
    r = r.substr(0, at);
  }
  if (auto colon = r.find(':'); colon != std::string_view::npos) {
    auto tag = r.substr(colon + 1);
    if (!valid_tag(tag)) return bad_format();
    ref.tag = std::string(tag);
    r = r.substr(0, colon);
  }
  if (!valid_domain(ref.domain) || !valid_path(r)) return bad_format();
  ref.path = std::string(r);
  if (ref.name().size() > name_total_length_max)
    return make_error(ec::invalid_argument,
                      "invalid reference format: repository name must not be more than 255 "
                      "characters");
  return ref;
}

} // namespace berth::registry
