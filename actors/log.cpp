#include "actors/log.hpp"

#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/logger.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/utility/setup/console.hpp>
#include <boost/shared_ptr.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <iostream>
#include <mutex>

namespace berth::log {

namespace detail {
int current_level = static_cast<int>(level::info);
}

namespace {

std::once_flag init_once;
thread_local boost::log::sources::logger tl_logger;

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
            1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(us));
  return buf;
}

void setup_sink() {
  std::call_once(init_once, [] {
    namespace expr = boost::log::expressions;
    boost::log::add_console_log(std::clog,
                                boost::log::keywords::format = expr::stream << expr::smessage,
                                boost::log::keywords::auto_flush = true);
  });
}

} // namespace

void init(level lvl) {
  setup_sink();
  set_level(lvl);
}

void set_level(level lvl) {
  __atomic_store_n(&detail::current_level, static_cast<int>(lvl), __ATOMIC_RELAXED);
}

level get_level() {
  return static_cast<level>(__atomic_load_n(&detail::current_level, __ATOMIC_RELAXED));
}

std::optional<level> parse_level(std::string_view name) {
  if (name == "debug") return level::debug;
  if (name == "info") return level::info;
  if (name == "warn" || name == "warning") return level::warn;
  if (name == "error") return level::error;
  if (name == "fatal") return level::fatal;
  return std::nullopt;
}

std::string_view to_string(level lvl) {
  switch (lvl) {
  case level::debug:
    return "debug";
  case level::info:
    return "info";
  case level::warn:
    return "warn";
  case level::error:
    return "error";
  case level::fatal:
    return "fatal";
  }
  return "info";
}

void write(level lvl, std::string_view component, std::string_view message) {
  setup_sink();
  std::string text;
  text.reserve(message.size() + component.size() + 48);
  text += timestamp();
  text += ' ';
  auto name = to_string(lvl);
  text += name;
  text.append(6 - name.size(), ' ');
  text += '[';
  text += component;
  text += "] ";
  text += message;
  BOOST_LOG(tl_logger) << text;
}

} // namespace berth::log
