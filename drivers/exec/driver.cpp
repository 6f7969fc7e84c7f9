// The exec driver's shared parts: the process handle, pty sizes, Docker's signal names, the
// helper's default path and the native driver's factory (the driver lives in native/native.cpp).
#include "drivers/exec/driver.hpp"

#include "messages/error.hpp"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

namespace berth::exec {

namespace detail {
// Defined in native/native.cpp.
caf::expected<std::unique_ptr<driver>> make_native_driver(const std::string& helper,
                                                          const std::string& cgroup_root);
} // namespace detail

namespace {

// The kernel's real-time signal range, as Docker's signal map has it (Go's syscall values, not
// glibc's SIGRTMIN, which reserves two for itself).
constexpr int rtmin = 34;
constexpr int rtmax = 64;

// Docker's Linux signal map (moby/sys/signal), canonical names first where two share a number.
constexpr std::pair<const char*, int> signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},   {"IOT", SIGIOT},
    {"CLD", SIGCHLD},  {"POLL", SIGPOLL},
};

// A decimal number without sign or junk; -1 otherwise (or when absurdly long).
int parse_uint(const std::string& s) {
  if (s.empty() || s.size() > 4) return -1;
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

} // namespace

process::~process() {
  for (int fd : {stdin_fd, stdout_fd, stderr_fd, pty_fd, pidfd})
    if (fd >= 0) ::close(fd);
}

caf::error resize_pty(int pty_fd, uint16_t rows, uint16_t cols) {
  struct winsize ws {};
  ws.ws_row = rows;
  ws.ws_col = cols;
  if (::ioctl(pty_fd, TIOCSWINSZ, &ws) != 0)
    return make_error(ec::system, std::string{"resize tty: "} + std::strerror(errno));
  return {};
}

int parse_signal(const std::string& name) {
  if (auto n = parse_uint(name); n >= 0) return n >= 1 && n <= rtmax ? n : -1;
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (s.rfind("SIG", 0) == 0) s.erase(0, 3);
  for (auto& [n, sig] : signal_names)
    if (s == n) return sig;
  auto relative = [&](const char* base, int origin, int dir) {
    auto len = std::strlen(base);
    if (s.compare(0, len, base) != 0) return -1;
    if (s.size() == len) return origin;
    if (s[len] != (dir > 0 ? '+' : '-')) return -1;
    auto off = parse_uint(s.substr(len + 1));
    if (off < 0) return -1;
    auto sig = origin + dir * off;
    return sig >= rtmin && sig <= rtmax ? sig : -1;
  };
  if (auto sig = relative("RTMIN", rtmin, 1); sig > 0) return sig;
  return relative("RTMAX", rtmax, -1);
}

std::string signal_name(int sig) {
  for (auto& [n, s] : signal_names)
    if (s == sig) return std::string{"SIG"} + n;
  if (sig == rtmin) return "SIGRTMIN";
  if (sig == rtmax) return "SIGRTMAX";
  if (sig > rtmin && sig <= rtmin + 15) return "SIGRTMIN+" + std::to_string(sig - rtmin);
  if (sig > rtmin + 15 && sig < rtmax) return "SIGRTMAX-" + std::to_string(rtmax - sig);
  return std::to_string(sig);
}

std::string default_helper_path() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "berth-exec";
  std::string exe{buf, static_cast<size_t>(n)};
  auto slash = exe.rfind('/');
  return (slash == std::string::npos ? std::string{"."} : exe.substr(0, slash)) + "/berth-exec";
}

caf::expected<std::unique_ptr<driver>> make_native(const std::string& helper,
                                                   const std::string& cgroup_root) {
  return detail::make_native_driver(helper, cgroup_root);
}

} // namespace berth::exec
