// The exec actor (see container.hpp): one per exec instance (docker exec). Its container makes
// it at exec_create and starts its process on request (the container guards its own state); the
// exec actor owns the process's stdio, the client attached to it and the exit code, and goes
// when its container goes (as moby, an exec can be inspected until then).
//
// An exec is started once: created -> running -> exited. The exit code is recorded before the
// client's stream ends, so the CLI's inspect that follows the stream's end reads it.
#include "actors/containers/container.hpp"

#include "actors/jobs.hpp"
#include "actors/log.hpp"
#include "drivers/exec/driver.hpp"
#include "drivers/exec/reactor.hpp"
#include "drivers/log/jsonfile.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

namespace berth {

namespace {

struct exec_actor_state {
  static inline const char* name = "exec";
  std::shared_ptr<const container_deps> deps;
  container_actor container;
  exec_info info;
  std::map<std::string, std::string> attributes; // the container's event attributes
  std::shared_ptr<exec::process> proc;
  bool attached = false; // a client's stream gets the output (else it is drained)
  stream_sink_actor sink;
  int open_streams = 0;
  bool exit_seen = false;
  int wait_status = 0;
  uint64_t stdin_h = 0;     // reactor input handle; 0 = none
  int resize_fd = -1;       // a dup of the pty master
  std::string stdin_buffer; // input that came before the process
  bool stdin_eof = false;
  uint16_t rows = 0, cols = 0; // a resize that came before the process

  ~exec_actor_state() {
    if (resize_fd >= 0) ::close(resize_fd);
  }
};

using exec_self = exec_actor::stateful_pointer<exec_actor_state>;

std::string command_line(const exec_config& c) {
  std::string out;
  for (auto& a : c.cmd)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

void publish(exec_self self, std::string action, std::map<std::string, std::string> extra = {}) {
  auto& st = self->state;
  event ev;
  ev.type = "container";
  ev.action = std::move(action);
  ev.actor_id = st.info.container_id;
  ev.attributes = st.attributes;
  ev.attributes["execID"] = st.info.id;
  for (auto& [k, v] : extra)
    ev.attributes[k] = v;
  self->send(st.deps->events, caf::publish_atom_v, std::move(ev));
}

// moby's exit code for an exec that could not start: 127 when the command is missing, else 126.
int64_t start_failure_code(const std::string& msg) {
  return msg.find("executable file not found") != std::string::npos ||
                 msg.find("no such file or directory") != std::string::npos
             ? 127
             : 126;
}

// The process is gone and its output drained: record the exit, then end the client's stream.
void finish(exec_self self) {
  auto& st = self->state;
  if (st.stdin_h != 0) st.deps->reactor->close_input(std::exchange(st.stdin_h, 0));
  if (st.resize_fd >= 0) ::close(std::exchange(st.resize_fd, -1));
  int status = st.wait_status;
  st.info.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  st.info.exited = true;
  st.info.running = false;
  st.proc.reset();
  publish(self, "exec_die", {{"exitCode", std::to_string(st.info.exit_code)}});
  if (st.attached) self->send(st.sink, atom::done_v, caf::error{});
  st.attached = false;
}

void on_started(exec_self self, std::shared_ptr<exec::process> proc) {
  auto& st = self->state;
  st.proc = proc;
  st.info.pid = proc->pid;
  auto& r = *st.deps->reactor;
  auto w =
      wire_process(r, *proc, caf::actor_cast<caf::actor>(self), 0, st.info.config.attach_stdin);
  st.open_streams = w.open_streams;
  st.stdin_h = w.stdin_h;
  st.resize_fd = w.resize_fd;
  if (st.resize_fd >= 0 && st.rows != 0 && st.cols != 0)
    exec::resize_pty(st.resize_fd, st.rows, st.cols);
  if (st.stdin_h != 0) {
    if (!st.stdin_buffer.empty()) r.write(st.stdin_h, std::exchange(st.stdin_buffer, {}));
    if (st.stdin_eof) r.close_input(std::exchange(st.stdin_h, 0));
  }
}

caf::result<job_result> start(exec_self self, job& j) {
  auto& st = self->state;
  if (st.info.running)
    return job_fail(
        make_error(ec::conflict, "Error: Exec command " + st.info.id + " is already running"));
  if (st.info.exited)
    return job_fail(
        make_error(ec::conflict, "Error: Exec command " + st.info.id + " has already run"));
  bool detach = j.env.count("detach") > 0;
  if (!detach && j.input.match_elements<stream_sink_actor>()) {
    st.sink = j.input.get_as<stream_sink_actor>(0);
    st.attached = true;
    self->monitor(st.sink);
  }
  st.info.running = true;
  auto rp = self->make_response_promise<job_result>();
  self->request(st.container, caf::infinite, atom::run_v, st.info.id, st.info.config)
      .then(
          [self, rp](exec_process& p) mutable {
            publish(self, "exec_start: " + command_line(self->state.info.config));
            on_started(self, p.proc);
            rp.deliver(job_ok(caf::make_message(caf::actor_cast<exec_actor>(self))));
          },
          [self, rp](caf::error& err) mutable {
            auto& st = self->state;
            st.info.running = false;
            st.attached = false;
            bool ours = err.category() == caf::atom("berth");
            // the container's refusals (not running, paused) leave the exec as it was, as moby's
            if (ours && static_cast<ec>(err.code()) == ec::conflict) {
              rp.deliver(job_fail(std::move(err)));
              return;
            }
            auto msg = error_message(err);
            st.info.exited = true;
            st.info.exit_code = start_failure_code(msg);
            if (ours && static_cast<ec>(err.code()) == ec::invalid_argument)
              err = make_error(ec::invalid_argument, "OCI runtime exec failed: exec failed: unable "
                                                     "to start container process: " +
                                                         msg + ": unknown");
            rp.deliver(job_fail(std::move(err)));
          });
  return rp;
}

exec_actor::behavior_type exec_behavior(exec_self self, std::shared_ptr<const container_deps> deps,
                                        container_actor container, exec_info info,
                                        std::map<std::string, std::string> attributes) {
  auto& st = self->state;
  st.deps = std::move(deps);
  st.container = std::move(container);
  st.info = std::move(info);
  st.attributes = std::move(attributes);
  self->monitor(st.container);
  self->set_down_handler([self](const caf::down_msg& m) {
    auto& st = self->state;
    if (m.source == st.container.address()) { // the container is gone, and so is the exec
      if (st.attached) self->send(st.sink, atom::done_v, caf::error{});
      self->quit();
      return;
    }
    if (st.attached && m.source == st.sink.address()) st.attached = false; // output is drained
  });
  publish(self, "exec_create: " + command_line(st.info.config));
  return {
      [self](job& j) -> caf::result<job_result> {
        auto& st = self->state;
        if (j.name == "exec_inspect") return job_ok(caf::make_message(st.info));
        if (j.name == "exec_start") return start(self, j);
        if (j.name == "exec_resize") {
          uint16_t h = 0, w = 0;
          try {
            h = static_cast<uint16_t>(std::stoul(j.env.at("h")));
            w = static_cast<uint16_t>(std::stoul(j.env.at("w")));
          } catch (...) {
            return job_fail(make_error(ec::invalid_argument, "invalid resize parameters"));
          }
          if (st.resize_fd >= 0) {
            if (auto err = exec::resize_pty(st.resize_fd, h, w)) return job_fail(std::move(err));
          } else if (!st.info.exited) { // applied once the process runs (the CLI resizes early)
            st.rows = h;
            st.cols = w;
          }
          return job_ok();
        }
        return job_fail(make_error(ec::command_not_found, "exec: unknown job " + j.name));
      },
      [self](atom::stdin, std::string& data) {
        auto& st = self->state;
        if (!st.info.config.attach_stdin) return;
        if (data.empty()) { // the client half-closed: the process's stdin ends
          if (st.stdin_h != 0)
            st.deps->reactor->close_input(std::exchange(st.stdin_h, 0));
          else
            st.stdin_eof = true;
          return;
        }
        if (st.stdin_h != 0)
          st.deps->reactor->write(st.stdin_h, std::move(data));
        else if (!st.info.exited && st.stdin_buffer.size() + data.size() <= (1 << 20))
          st.stdin_buffer += data;
      },
      [self](atom::output, uint8_t stream, std::string& data, uint64_t) {
        auto& st = self->state;
        if (!data.empty()) {
          if (!st.attached) return;
          if ((stream == 1 && !st.info.config.attach_stdout) ||
              (stream == 2 && !st.info.config.attach_stderr))
            return;
          self->send(st.sink, st.info.config.tty ? std::move(data) : logs::frame(stream, data));
          return;
        }
        if (--st.open_streams == 0 && st.exit_seen) finish(self);
      },
      [self](atom::exited, int status, uint64_t) {
        auto& st = self->state;
        st.exit_seen = true;
        st.wait_status = status;
        if (st.open_streams <= 0) finish(self);
      },
  };
}

} // namespace

exec_actor spawn_exec(caf::actor_system& sys, std::shared_ptr<const container_deps> deps,
                      container_actor container, exec_info info,
                      std::map<std::string, std::string> attributes) {
  return sys.spawn(exec_behavior, std::move(deps), std::move(container), std::move(info),
                   std::move(attributes));
}

} // namespace berth
