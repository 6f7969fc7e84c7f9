// Logging: a thin front over Boost.Log so that only log.cpp pays for its headers.
// Every line names the actor or job it comes from:  BLOG(info, "engine") << "+job " << name;
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace berth::log {

enum class level { debug = 0, info, warn, error, fatal };

/// Set up the console sink (stderr) once; later calls only change the level.
void init(level lvl);
void set_level(level lvl);
level get_level();
inline bool enabled(level lvl);
std::optional<level> parse_level(std::string_view name);
std::string_view to_string(level lvl);

/// Write one line: `<RFC 3339 time> <level> [<component>] <message>`.
void write(level lvl, std::string_view component, std::string_view message);

namespace detail {
extern int current_level;
}

inline bool enabled(level lvl) {
  return static_cast<int>(lvl) >= __atomic_load_n(&detail::current_level, __ATOMIC_RELAXED);
}

/// One log line being built; written when it goes out of scope.
class line {
public:
  line(level lvl, std::string_view component) : lvl_{lvl}, component_{component} {}
  line(const line&) = delete;
  line& operator=(const line&) = delete;
  ~line() { write(lvl_, component_, out_.str()); }
  std::ostream& stream() { return out_; }

private:
  level lvl_;
  std::string_view component_;
  std::ostringstream out_;
};

struct voidify {
  void operator&(std::ostream&) {}
};

} // namespace berth::log

#define BLOG(lvl, component)                                                                       \
  !::berth::log::enabled(::berth::log::level::lvl)                                                 \
      ? (void)0                                                                                    \
      : ::berth::log::voidify() & ::berth::log::line(::berth::log::level::lvl, component).stream()
