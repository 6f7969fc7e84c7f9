#include "tests/integration/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef BERTHD_PATH
#error "BERTHD_PATH must name the berthd binary"
#endif

namespace berth::it {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// What a killed berthd (a failed test) leaves behind, removed whatever the test did: the
// processes and cgroups of the containers under `data_root` (in every hierarchy, so the runtime's
// extra ones too) and every mount under `dirs`.
void clean_leftovers(const std::string& data_root, const std::vector<std::string>& dirs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> groups;
  for (auto& c : fs::directory_iterator{data_root + "/containers", ec}) {
    auto id = c.path().filename().string();
    if (fs::is_directory("/sys/fs/cgroup/berth/" + id, ec))
      groups.push_back("/sys/fs/cgroup/berth/" + id);
    for (auto& h : fs::directory_iterator{"/sys/fs/cgroup", ec})
      if (fs::is_directory(h.path() / "berth" / id, ec)) groups.push_back(h.path() / "berth" / id);
  }
  for (auto& g : groups) {
    std::ofstream{g / "freezer.state"} << "THAWED"; // v1 (a missing file: nothing happens)
    std::ofstream{g / "cgroup.freeze"} << "0";      // v2
    std::ifstream procs{g / "cgroup.procs"};
    for (pid_t pid; procs >> pid;)
      ::kill(pid, SIGKILL);
  }
  for (int i = 0; i < 100 && !groups.empty(); ++i) {
    groups.erase(std::remove_if(groups.begin(), groups.end(),
                                [](const fs::path& g) { return ::rmdir(g.c_str()) == 0; }),
                 groups.end());
    if (!groups.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Mounts, deepest first (mountinfo's 5th field, with octal escapes for spaces and such).
  std::vector<std::string> mounts;
  std::ifstream info{"/proc/self/mountinfo"};
  for (std::string line; std::getline(info, line);) {
    std::istringstream in{line};
    std::string field, point;
    for (int i = 0; i < 5 && in >> field; ++i)
      point = field;
    std::string path;
    for (size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        path += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        path += point[i];
      }
    }
    for (auto& d : dirs)
      if (!d.empty() && path.rfind(d + "/", 0) == 0) mounts.push_back(path);
  }
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (auto& m : mounts)
    ::umount2(m.c_str(), MNT_DETACH);
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string dechunk(const std::string& body) {
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    auto eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    auto n = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (n == 0) break;
    out += body.substr(eol + 2, n);
    pos = eol + 2 + n + 2;
  }
  return out;
}

} // namespace

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/berth-it-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

temp_dir::~temp_dir() {
  std::system(("rm -rf '" + path + "'").c_str());
}

void temp_dir::write(const std::string& name, const std::string& text) const {
  std::ofstream{file(name)} << text;
}

command_result sh(const std::string& cmd, std::chrono::seconds limit) {
  temp_dir tmp;
  auto full = "timeout -k 5 " + std::to_string(limit.count()) + " sh -c '" +
              [&] {
                std::string q;
                for (char c : cmd)
                  q += c == '\'' ? std::string{"'\\''"} : std::string{c};
                return q;
              }() +
              "' >" + tmp.file("out") + " 2>" + tmp.file("err") + " </dev/null";
  int status = std::system(full.c_str());
  command_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(tmp.file("out"));
  r.err = slurp(tmp.file("err"));
  return r;
}

std::string raw_unix(const std::string& socket, const std::string& bytes) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < bytes.size()) {
      auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    char buf[65536];
    for (;;) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

http_reply http_unix(const std::string& socket, const std::string& method,
                     const std::string& target, const std::string& extra_headers,
                     const std::string& body) {
  http_reply reply;
  std::string req =
      method + " " + target + " HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n" + extra_headers;
  if (!body.empty() || method == "POST" || method == "PUT")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  req += body;
  auto raw = raw_unix(socket, req);
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return reply;
  std::istringstream head{raw.substr(0, head_end)};
  std::string line;
  std::getline(head, line);
  if (line.size() > 12) reply.status = std::atoi(line.substr(9, 3).c_str());
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.erase(0, 1);
    reply.headers[lower(line.substr(0, colon))] = value;
  }
  reply.body = raw.substr(head_end + 4);
  if (lower(reply.headers["transfer-encoding"]) == "chunked") reply.body = dechunk(reply.body);
  return reply;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

berthd::berthd(std::vector<std::string> extra_args, bool wait, std::vector<std::string> env,
               const std::string& config, bool own_netns) {
  socket = dir.file("berth.sock");
  data_root = dir.file("data");
  exec_root = dir.file("exec");
  pidfile = dir.file("berthd.pid");
  config_file = dir.file("daemon.json");
  log_file = dir.file("berthd.log");
  std::vector<std::string> args{
      BERTHD_PATH, "-H",    "unix://" + socket, "--data-root", data_root, "--exec-root", exec_root,
      "--pidfile", pidfile, "--config-file",    config_file,   "--group", "root"};
  dir.write("daemon.json", config);
  // The conformance runs: BERTH_TEST_EXEC_DRIVER=oci runs the same tests on the oci driver.
  if (auto* driver = std::getenv("BERTH_TEST_EXEC_DRIVER"); driver && *driver)
    args.insert(args.end(), {"--exec-driver", driver});
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  for (size_t i = 0; i + 1 < extra_args.size(); ++i) // the data root in effect (for the clean-up)
    if (extra_args[i] == "--data-root") data_root = extra_args[i + 1];
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (own_netns) {
      // (only syscalls between fork and exec) a new net namespace, then lo up
      if (::unshare(CLONE_NEWNET) != 0) ::_exit(126);
      int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      ifreq ifr{};
      std::memcpy(ifr.ifr_name, "lo", 3);
      if (s < 0 || ::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) ::_exit(126);
      ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
      if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) ::_exit(126);
      ::close(s);
    }
    for (auto& e : env)
      ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (wait && !wait_ready())
    throw std::runtime_error("berthd did not become ready; log:\n" + log());
}

berthd::~berthd() {
  bool killed = running();
  if (killed) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  // the bridges a killed daemon made (its containers' veths went with their namespaces): berth0
  // and those of its user-defined networks (br- and 12 hex of the IDs kept in its data root)
  if (killed) {
    int rc = std::system(("pat='BERTH|berth0'; ip link del berth0 >/dev/null 2>&1; for f in " +
                          data_root +
                          "/network/networks/*.json; do [ -e \"$f\" ] || continue; "
                          "b=br-$(basename \"$f\" .json | cut -c1-12); pat=\"$pat|$b\"; "
                          "ip link del $b >/dev/null 2>&1; done; "
                          // its iptables rules: those naming its chains or bridges, then the chains
                          "for t in nat filter; do iptables -w -t $t -S 2>/dev/null | "
                          "grep -E \"^-A .*($pat)\" | sed 's/^-A/-D/' | "
                          "while read -r rule; do eval iptables -w -t $t $rule; done; "
                          "for c in BERTH BERTH-ISOLATION-STAGE-1 BERTH-ISOLATION-STAGE-2 "
                          "BERTH-USER; do iptables -w -t $t -F $c && iptables -w -t $t -X $c; "
                          "done; done >/dev/null 2>&1")
                             .c_str());
    (void)rc;
  }
  clean_leftovers(data_root, {dir.path, data_root});
}

bool berthd::running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  auto r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

bool berthd::wait_ready() {
  for (int i = 0; i < 500; ++i) {
    if (!running()) return false;
    if (http_unix(socket, "GET", "/_ping").status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void berthd::signal(int sig) {
  ::kill(pid_, sig);
}

int berthd::wait_exit(std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string berthd::log() const {
  return slurp(log_file);
}

std::string berthd::docker(const std::string& args) const {
  return "docker -H unix://" + socket + " " + args;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

std::string fetch_until(const std::string& curl_args, const std::string& want) {
  std::string got;
  eventually([&] {
    got = sh("curl -s -m 2 " + curl_args).out;
    return got == want;
  });
  return got;
}

} // namespace berth::it
