// berth's iptables rules (see firewall.hpp).
#include "drivers/network/firewall.hpp"

#include "drivers/io.hpp"
#include "messages/error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

namespace berth::net {

namespace {

const std::string nat = "nat";
const std::string filter = "filter";
const std::string chain = "BERTH";
const std::string user_chain = "BERTH-USER";
const std::string stage1 = "BERTH-ISOLATION-STAGE-1";
const std::string stage2 = "BERTH-ISOLATION-STAGE-2";
const char* const ip_forward_path = "/proc/sys/net/ipv4/ip_forward";
constexpr int after_hooks = 3; // FORWARD position of a network's rules: below the two hooks
constexpr int max_copies = 64; // bound on deleting duplicates of one rule

/// What one iptables run gave.
struct outcome {
  int status = 0; // exit status; -1 when killed by a signal
  std::string out;
  std::string err;
};

/// `name` as a path: itself when it has a slash, else the first executable of that name in PATH,
/// /usr/sbin or /sbin (a daemon's PATH may lack the sbin directories); `name` when none is.
std::string resolve(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string dirs = "/usr/sbin:/sbin";
  if (const char* p = std::getenv("PATH")) dirs = std::string{p} + ":" + dirs;
  std::istringstream in{dirs};
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty()) continue;
    auto path = dir + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

/// Run `argv` (argv[0] the binary) without a shell: stdin /dev/null, stdout and stderr read
/// until both end, then the exit status.
caf::expected<outcome> spawn(const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return io::sys_error("pipe");
  io::unique_fd out_r{out[0]}, out_w{out[1]};
  if (::pipe2(err, O_CLOEXEC) != 0) return io::sys_error("pipe");
  io::unique_fd err_r{err[0]}, err_w{err[1]};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  std::vector<char*> cargv;
  for (auto& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  auto path = resolve(argv.front());
  pid_t pid = 0;
  int e = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (e != 0) return io::sys_error("exec " + argv.front(), e);
  out_w.reset();
  err_w.reset();
  outcome r;
  pollfd fds[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  char buf[16 * 1024];
  for (int open = 2; open > 0;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break; // cannot happen with valid fds; the child is still reaped below
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      auto n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1; // poll ignores negative fds
        --open;
      }
    }
  }
  out_r.reset(); // a child still writing (poll failed) gets EPIPE instead of blocking
  err_r.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return io::sys_error("waitpid " + argv.front());
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

std::string join(const std::vector<std::string>& a, std::size_t from = 0) {
  std::string s;
  for (auto i = from; i < a.size(); ++i) {
    if (!s.empty()) s += ' ';
    s += a[i];
  }
  return s;
}

/// The words of an `iptables -S` line ("-A FORWARD -m comment --comment \"a b\" -j X").
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> w;
  std::string cur;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '\\' && i + 1 < line.size()) {
      cur += line[++i];
    } else if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) w.push_back(std::move(cur));
      cur.clear();
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (any) w.push_back(std::move(cur));
  return w;
}

/// The "-A <chain> ..." lines of an `iptables -S <chain>` listing.
std::vector<std::string> rules_of(const std::string& listing) {
  std::vector<std::string> rules;
  std::istringstream in{listing};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("-A ", 0) == 0) rules.push_back(line);
  return rules;
}

/// An interface name iptables takes literally: 1-15 of [A-Za-z0-9_.@-], not starting with '-'
/// (no '+', iptables' wildcard, no '!').
caf::error check_ifname(const std::string& name) {
  bool ok = !name.empty() && name.size() < 16 && name.front() != '-';
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@' ||
                c == '-');
  if (!ok) return make_error(ec::invalid_argument, "invalid bridge name: " + name);
  return {};
}

/// A dotted IPv4 address, canonical.
caf::expected<std::string> check_ip(const std::string& ip) {
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1)
    return make_error(ec::invalid_argument, "invalid IPv4 address: " + ip);
  char buf[INET_ADDRSTRLEN];
  return std::string{::inet_ntop(AF_INET, &a, buf, sizeof buf)};
}

/// An IPv4 CIDR with the host bits cleared ("172.18.0.1/16" -> "172.18.0.0/16").
caf::expected<std::string> check_subnet(const std::string& cidr) {
  auto bad = [&] { return make_error(ec::invalid_argument, "invalid subnet: " + cidr); };
  auto slash = cidr.find('/');
  if (slash == std::string::npos || slash + 1 >= cidr.size() || cidr.size() - slash > 3)
    return bad();
  int prefix = 0;
  for (auto i = slash + 1; i < cidr.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(cidr[i]))) return bad();
    prefix = prefix * 10 + (cidr[i] - '0');
  }
  in_addr a{};
  if (prefix > 32 || ::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1) return bad();
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  a.s_addr = htonl(ntohl(a.s_addr) & mask);
  char buf[INET_ADDRSTRLEN];
  return std::string{::inet_ntop(AF_INET, &a, buf, sizeof buf)} + "/" + std::to_string(prefix);
}

/// One rule of a network: where it goes, and whether the network's flags want it.
struct network_rule {
  const std::string& table;
  std::string chain;
  std::vector<std::string> spec;
  int position; // 0: appended
  bool wanted;
};

/// Every rule add_network may make for a bridge, in the order to apply them (inserts at one
/// position go in reverse of the order they end up in).
std::vector<network_rule> network_rules(const std::string& br, const std::string& sub, bool icc,
                                        bool masq, bool internal) {
  return {
      {nat, "POSTROUTING", {"-s", sub, "!", "-o", br, "-j", "MASQUERADE"}, 1, masq},
      {nat, chain, {"-i", br, "-j", "RETURN"}, 1, !internal},
      {filter, "FORWARD", {"-i", br, "-o", br, "-j", "DROP"}, after_hooks, !icc},
      {filter, "FORWARD", {"-i", br, "-o", br, "-j", "ACCEPT"}, after_hooks, icc},
      {filter, "FORWARD", {"-i", br, "!", "-o", br, "-j", "ACCEPT"}, after_hooks, !internal},
      {filter, "FORWARD", {"-o", br, "-j", chain}, after_hooks, !internal},
      {filter,
       "FORWARD",
       {"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
       after_hooks,
       !internal},
      {filter, stage2, {"-o", br, "-j", "DROP"}, 1, true},
      {filter, stage1, {"-i", br, "!", "-o", br, "-j", stage2}, 1, true},
      {filter, stage1, {"!", "-s", sub, "-o", br, "-j", "DROP"}, 1, internal},
      {filter, stage1, {"-i", br, "!", "-d", sub, "-j", "DROP"}, 1, internal},
  };
}

} // namespace

firewall::firewall(firewall_options o) : opts_(std::move(o)) {}

caf::expected<std::string> firewall::run(const args& a) {
  std::vector<std::string> argv{opts_.iptables, "-w"};
  argv.insert(argv.end(), a.begin(), a.end());
  auto r = spawn(argv);
  if (!r) return r.error();
  if (r->status != 0)
    return make_error(ec::system, opts_.iptables + " " + join(a) + ": " +
                                      (r->err.empty() ? "exit status " + std::to_string(r->status)
                                                      : trim(r->err)));
  return std::move(r->out);
}

caf::expected<bool> firewall::exists(const std::string& table, const std::string& chain,
                                     const args& rule) {
  std::vector<std::string> argv{opts_.iptables, "-w", "-t", table, "-C", chain};
  argv.insert(argv.end(), rule.begin(), rule.end());
  auto r = spawn(argv);
  if (!r) return r.error();
  if (r->status == 0) return true;
  if (r->status == 1) return false; // no such rule (or chain)
  return make_error(ec::system, opts_.iptables + " " + join(argv, 2) + ": " + trim(r->err));
}

caf::error firewall::ensure(const std::string& table, const std::string& chain, const args& rule,
                            int position) {
  auto there = exists(table, chain, rule);
  if (!there) return there.error();
  if (*there) return {};
  args a{"-t", table};
  if (position > 0) {
    a.insert(a.end(), {"-I", chain, std::to_string(position)});
  } else {
    a.insert(a.end(), {"-A", chain});
  }
  a.insert(a.end(), rule.begin(), rule.end());
  if (auto r = run(a); !r) return r.error();
  return {};
}

caf::error firewall::remove(const std::string& table, const std::string& chain, const args& rule) {
  for (int i = 0; i < max_copies; ++i) {
    auto there = exists(table, chain, rule);
    if (!there) return there.error();
    if (!*there) return {};
    args a{"-t", table, "-D", chain};
    a.insert(a.end(), rule.begin(), rule.end());
    if (auto r = run(a); !r) return r.error();
  }
  return {};
}

caf::error firewall::make_chain(const std::string& table, const std::string& chain, bool flush) {
  if (auto listed = spawn({opts_.iptables, "-w", "-t", table, "-S", chain}); !listed) {
    return listed.error();
  } else if (listed->status == 0) {
    if (!flush) return {};
    if (auto r = run({"-t", table, "-F", chain}); !r) return r.error();
    return {};
  }
  if (auto r = run({"-t", table, "-N", chain}); !r) return r.error();
  return {};
}

caf::error firewall::hook_forward() {
  auto listing = run({"-t", filter, "-S", "FORWARD"});
  if (!listing) return listing.error();
  auto rules = rules_of(*listing);
  const std::string first = "-A FORWARD -j " + user_chain;
  const std::string second = "-A FORWARD -j " + stage1;
  auto count = [&](const std::string& r) { return std::count(rules.begin(), rules.end(), r); };
  if (rules.size() >= 2 && rules[0] == first && rules[1] == second && count(first) == 1 &&
      count(second) == 1)
    return {};
  // Out of place (a first start, or rules put above them): moved to the top, as dockerd does.
  if (auto e = remove(filter, "FORWARD", {"-j", stage1})) return e;
  if (auto e = remove(filter, "FORWARD", {"-j", user_chain})) return e;
  if (auto r = run({"-t", filter, "-I", "FORWARD", "1", "-j", stage1}); !r) return r.error();
  if (auto r = run({"-t", filter, "-I", "FORWARD", "1", "-j", user_chain}); !r) return r.error();
  return {};
}

caf::error firewall::unhook(const std::string& table, const std::string& chain) {
  auto listing = run({"-t", table, "-S", chain});
  if (!listing) return listing.error();
  for (auto& line : rules_of(*listing)) {
    auto w = words(line);
    auto j = std::find(w.begin(), w.end(), "-j");
    if (j == w.end() || j + 1 == w.end() || j[1].rfind("BERTH", 0) != 0) continue;
    args a{"-t", table, "-D"};
    a.insert(a.end(), w.begin() + 1, w.end());
    if (auto r = run(a); !r) return r.error();
  }
  return {};
}

caf::error firewall::setup() {
  if (!opts_.enabled) return {};
  std::lock_guard<std::mutex> guard{mu_};
  // The chains, emptied of a previous run's ports and networks (re-added by their owners).
  if (auto e = make_chain(nat, chain, true)) return e;
  if (auto e = make_chain(filter, chain, true)) return e;
  for (auto* c : {&stage1, &stage2}) {
    if (auto e = make_chain(filter, *c, true)) return e;
    if (auto e = ensure(filter, *c, {"-j", "RETURN"})) return e;
  }
  if (auto e = make_chain(filter, user_chain, false)) return e;
  if (auto e = ensure(filter, user_chain, {"-j", "RETURN"})) return e;
  // The hooks.
  if (auto e = ensure(nat, "PREROUTING", {"-m", "addrtype", "--dst-type", "LOCAL", "-j", chain}))
    return e;
  if (auto e =
          ensure(nat, "OUTPUT",
                 {"!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", chain}))
    return e;
  if (auto e = hook_forward()) return e;
  if (!opts_.ip_forward) return {};
  // Forwarding: when berth turns it on, the FORWARD policy becomes DROP first (dockerd's), so
  // the host does not start routing for everyone.
  auto current = io::read_file(ip_forward_path);
  if (!current) return current.error();
  if (!current->empty() && current->front() == '1') return {};
  if (auto r = run({"-t", filter, "-P", "FORWARD", "DROP"}); !r) return r.error();
  io::unique_fd fd{::open(ip_forward_path, O_WRONLY | O_CLOEXEC)};
  if (!fd || ::write(fd.fd, "1\n", 2) != 2)
    return io::sys_error(std::string{"write "} + ip_forward_path);
  return {};
}

caf::error firewall::add_network(const std::string& bridge, const std::string& subnet, bool icc,
                                 bool masquerade, bool internal) {
  if (!opts_.enabled) return {};
  if (auto e = check_ifname(bridge)) return e;
  auto sub = check_subnet(subnet);
  if (!sub) return sub.error();
  std::lock_guard<std::mutex> guard{mu_};
  if (auto e = hook_forward()) return e;
  bool masq = masquerade && opts_.ip_masq && !internal;
  // Rules of other flags (a network re-made differently after a crash) go, the wanted ones stay
  // or come.
  for (auto& r : network_rules(bridge, *sub, icc, masq, internal)) {
    auto e =
        r.wanted ? ensure(r.table, r.chain, r.spec, r.position) : remove(r.table, r.chain, r.spec);
    if (e) return e;
  }
  return {};
}

caf::error firewall::remove_network(const std::string& bridge, const std::string& subnet, bool,
                                    bool, bool) {
  if (!opts_.enabled) return {};
  if (auto e = check_ifname(bridge)) return e;
  auto sub = check_subnet(subnet);
  if (!sub) return sub.error();
  std::lock_guard<std::mutex> guard{mu_};
  caf::error first;
  for (auto& r : network_rules(bridge, *sub, true, true, true))
    if (auto e = remove(r.table, r.chain, r.spec); e && !first) first = std::move(e);
  return first;
}

caf::error firewall::sweep_ports(const std::vector<std::string>& subnets) {
  if (!opts_.enabled) return {};
  std::vector<std::string> subs;
  for (auto& cidr : subnets) {
    auto sub = check_subnet(cidr);
    if (!sub) return sub.error();
    subs.push_back(*sub);
  }
  std::lock_guard<std::mutex> guard{mu_};
  auto listing = run({"-t", nat, "-S", "POSTROUTING"});
  if (!listing) return listing.error();
  for (auto& line : rules_of(*listing)) {
    // -A POSTROUTING -s X/32 -d X/32 -p P -m P --dport N -j MASQUERADE
    auto w = words(line);
    if (w.size() != 14 || w[2] != "-s" || w[4] != "-d" || w[3] != w[5] || w[6] != "-p" ||
        w[10] != "--dport" || w[12] != "-j" || w[13] != "MASQUERADE" || w[3].size() < 4 ||
        w[3].substr(w[3].size() - 3) != "/32")
      continue;
    auto ip = w[3].substr(0, w[3].size() - 3);
    bool ours = std::any_of(subs.begin(), subs.end(), [&](const std::string& sub) {
      auto in = check_subnet(ip + sub.substr(sub.find('/')));
      return in && *in == sub;
    });
    if (!ours) continue;
    args a{"-t", nat, "-D"};
    a.insert(a.end(), w.begin() + 1, w.end());
    if (auto r = run(a); !r) return r.error();
  }
  return {};
}

caf::error firewall::port_rules(bool add, const std::string& proto, const std::string& host_ip,
                                uint16_t host_port, const std::string& bridge,
                                const std::string& container_ip, uint16_t container_port) {
  if (!opts_.enabled) return {};
  if (proto != "tcp" && proto != "udp" && proto != "sctp")
    return make_error(ec::invalid_argument, "invalid protocol: " + proto);
  if (host_port == 0 || container_port == 0)
    return make_error(ec::invalid_argument, "invalid port 0");
  if (auto e = check_ifname(bridge)) return e;
  auto cip = check_ip(container_ip);
  if (!cip) return cip.error();
  std::string hip;
  if (!host_ip.empty()) {
    auto h = check_ip(host_ip);
    if (!h) return h.error();
    if (*h != "0.0.0.0") hip = *h;
  }
  auto hport = std::to_string(host_port);
  auto cport = std::to_string(container_port);
  args dnat{"!", "-i", bridge, "-p", proto};
  if (!hip.empty()) dnat.insert(dnat.end(), {"-d", hip});
  dnat.insert(dnat.end(), {"--dport", hport, "-j", "DNAT", "--to-destination", *cip + ":" + cport});
  struct rule {
    const std::string& table;
    std::string chain;
    args spec;
  };
  // In the order they go in: the DNAT last, once what lets its packets through is there.
  std::vector<rule> rules{
      {filter,
       chain,
       {"-d", *cip, "!", "-i", bridge, "-o", bridge, "-p", proto, "--dport", cport, "-j",
        "ACCEPT"}},
      {nat,
       "POSTROUTING",
       {"-s", *cip, "-d", *cip, "-p", proto, "--dport", cport, "-j", "MASQUERADE"}},
      {nat, chain, std::move(dnat)},
  };
  auto key = [](const rule& r) { return r.table + " " + r.chain + " " + join(r.spec); };
  std::lock_guard<std::mutex> guard{mu_};
  if (add) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (auto e = ensure(rules[i].table, rules[i].chain, rules[i].spec)) {
        // Undo this publish: the rules it added, not ones other ports share.
        for (std::size_t j = 0; j < i; ++j)
          if (port_refs_.count(key(rules[j])) == 0)
            remove(rules[j].table, rules[j].chain, rules[j].spec);
        return e;
      }
    }
    for (auto& r : rules)
      ++port_refs_[key(r)];
    return {};
  }
  caf::error first;
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    if (auto ref = port_refs_.find(key(*it)); ref != port_refs_.end()) {
      if (--ref->second > 0) continue; // another published port still uses it
      port_refs_.erase(ref);
    }
    if (auto e = remove(it->table, it->chain, it->spec); e && !first) first = std::move(e);
  }
  return first;
}

caf::error firewall::publish(const std::string& proto, const std::string& host_ip,
                             uint16_t host_port, const std::string& bridge,
                             const std::string& container_ip, uint16_t container_port) {
  return port_rules(true, proto, host_ip, host_port, bridge, container_ip, container_port);
}

caf::error firewall::unpublish(const std::string& proto, const std::string& host_ip,
                               uint16_t host_port, const std::string& bridge,
                               const std::string& container_ip, uint16_t container_port) {
  return port_rules(false, proto, host_ip, host_port, bridge, container_ip, container_port);
}

caf::error firewall::teardown() {
  if (!opts_.enabled) return {};
  std::lock_guard<std::mutex> guard{mu_};
  if (auto e = unhook(nat, "PREROUTING")) return e;
  if (auto e = unhook(nat, "OUTPUT")) return e;
  if (auto e = unhook(filter, "FORWARD")) return e;
  port_refs_.clear();
  // Which chains are there; BERTH-USER goes only when the admin left nothing in it.
  std::vector<std::pair<const std::string*, const std::string*>> chains;
  for (auto c : {std::make_pair(&nat, &chain), std::make_pair(&filter, &chain),
                 std::make_pair(&filter, &stage1), std::make_pair(&filter, &stage2),
                 std::make_pair(&filter, &user_chain)}) {
    auto listed = spawn({opts_.iptables, "-w", "-t", *c.first, "-S", *c.second});
    if (!listed) return listed.error();
    if (listed->status != 0) continue; // not there
    if (c.second == &user_chain) {
      auto rules = rules_of(listed->out);
      if (!rules.empty() && rules != std::vector<std::string>{"-A " + user_chain + " -j RETURN"})
        continue;
    }
    chains.push_back(c);
  }
  // Flushed first: STAGE-1 refers to STAGE-2.
  for (auto& [table, name] : chains)
    if (auto r = run({"-t", *table, "-F", *name}); !r) return r.error();
  for (auto& [table, name] : chains)
    if (auto r = run({"-t", *table, "-X", *name}); !r) return r.error();
  return {};
}

} // namespace berth::net
