// Integration harness: starts a real berthd on a temporary socket and data root, runs the stock
// docker CLI against it, speaks raw HTTP, and cleans up (processes, files) even when a test fails.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace berth::it {

/// A temporary directory, removed with everything in it.
struct temp_dir {
  temp_dir();
  ~temp_dir();
  std::string file(const std::string& name) const { return path + "/" + name; }
  void write(const std::string& name, const std::string& text) const;
  std::string path;
};

struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Run a shell command (sh -c) with a time limit; captures stdout and stderr.
command_result sh(const std::string& cmd, std::chrono::seconds limit = std::chrono::seconds{60});

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;                           // de-chunked
};

/// One raw HTTP/1.1 request over a unix socket (Connection: close).
http_reply http_unix(const std::string& socket, const std::string& method,
                     const std::string& target, const std::string& extra_headers = "",
                     const std::string& body = "");

/// Write raw bytes to a unix socket and read until the server closes the connection.
std::string raw_unix(const std::string& socket, const std::string& bytes);

/// A berthd process on a temporary socket, data root, exec root and pidfile.
class berthd {
public:
  /// Start berthd with the harness's paths (its own unix socket included) plus `extra_args`, `env`
  /// entries ("K=V") and `config` as its daemon.json. With `own_netns`, berthd runs in a new
  /// network namespace holding only `lo` (up): nothing it sends can leave the machine.
  explicit berthd(std::vector<std::string> extra_args = {}, bool wait = true,
                  std::vector<std::string> env = {}, const std::string& config = "{}",
                  bool own_netns = false);
  ~berthd();
  berthd(const berthd&) = delete;
  berthd& operator=(const berthd&) = delete;

  /// Wait until /_ping answers; false when the daemon exited or 10 s passed.
  bool wait_ready();
  /// Send a signal.
  void signal(int sig);
  /// Wait for the process to exit; its exit code (128+N for a signal), -1 on time-out.
  int wait_exit(std::chrono::seconds limit = std::chrono::seconds{20});
  bool running();
  std::string log() const;
  std::string docker(const std::string& args) const; // "docker -H unix://SOCK " + args
  int pid() const { return pid_; }

  temp_dir dir;
  std::string socket;
  std::string data_root;
  std::string exec_root;
  std::string pidfile;
  std::string config_file;
  std::string log_file;

private:
  int pid_ = -1;
  int status_ = -1;
};

/// A free TCP port on 127.0.0.1.
int free_port();

bool contains(const std::string& s, const std::string& part);

/// Poll `done` every 100 ms until it holds or `limit` has passed; its last answer.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds{5});

/// `curl -s -m 2 <curl_args>` (a URL, and options), again until its output is `want` or 5 s
/// have passed (a server in a container that is still starting): the last output.
std::string fetch_until(const std::string& curl_args, const std::string& want);

} // namespace berth::it
