// berth's iptables rules (drivers/network/firewall.hpp), as root, never on the host's rules: each
// case forks a child that unshares its network namespace (iptables rules and net.ipv4.ip_forward
// are per namespace, and the iptables it runs inherit it), runs the scenario there and writes what
// went wrong to a pipe, one line per failure. No traffic is sent.
#include <boost/test/unit_test.hpp>

#include "drivers/network/firewall.hpp"
#include "messages/error.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

using namespace berth;
using lines = std::vector<std::string>;

namespace {

const std::string user = "BERTH-USER";
const std::string stage1 = "BERTH-ISOLATION-STAGE-1";
const std::string stage2 = "BERTH-ISOLATION-STAGE-2";
const std::string hook_user = "-A FORWARD -j BERTH-USER";
const std::string hook_isolation = "-A FORWARD -j BERTH-ISOLATION-STAGE-1";

/// Root, and an iptables to run.
bool usable() {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("firewall: skipped (not root)");
    return false;
  }
  for (auto* p : {"/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables"})
    if (::access(p, X_OK) == 0) return true;
  BOOST_TEST_MESSAGE("firewall: skipped (no iptables)");
  return false;
}

std::string netns_of_self() {
  char buf[PATH_MAX] = {};
  auto n = ::readlink("/proc/self/ns/net", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

/// The output of a command (the test's own; firewall.cpp never uses a shell).
std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
      out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

/// `iptables -S` of a table (the whole table when `chain` is "").
std::string listing(const std::string& table, const std::string& chain = "") {
  return capture("iptables -w -t " + table + " -S " + chain + " 2>/dev/null");
}

/// The rules of a chain in order (without its -N/-P line); empty when it is not there.
lines rules(const std::string& table, const std::string& chain) {
  lines out;
  std::istringstream in{listing(table, chain)};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("-A ", 0) == 0) out.push_back(line);
  return out;
}

bool has_chain(const std::string& table, const std::string& chain) {
  return listing(table).find("-N " + chain + "\n") != std::string::npos;
}

std::string ip_forward() {
  std::ifstream in{"/proc/sys/net/ipv4/ip_forward"};
  std::string v;
  in >> v;
  return v;
}

/// Both tables, for before/after comparisons.
std::string snapshot() {
  return listing("filter") + listing("nat");
}

/// What a scenario found wrong.
struct scenario {
  lines failures;

  void check(bool ok, const std::string& what) {
    if (!ok) failures.push_back(what);
  }
  void ok(const caf::error& e, const std::string& what) {
    if (e) failures.push_back(what + ": " + error_message(e));
  }
  void expect(const std::string& table, const std::string& chain, const lines& want,
              const std::string& when) {
    auto got = rules(table, chain);
    if (got == want) return;
    std::string msg = when + ": " + table + " " + chain + " is\n";
    for (auto& l : got)
      msg += "    " + l + "\n";
    msg += "  and should be\n";
    for (auto& l : want)
      msg += "    " + l + "\n";
    failures.push_back(msg);
  }
  /// No rule of `table` names `word`.
  void absent(const std::string& table, const std::string& word, const std::string& when) {
    auto all = listing(table);
    check(all.find(word) == std::string::npos,
          when + ": " + table + " still has " + word + ":\n" + all);
  }
};

/// Run `body` in a child in a new network namespace; its failures become test failures.
void in_netns(const std::function<void(scenario&)>& body) {
  int p[2];
  BOOST_REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  auto host_ns = netns_of_self();
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(p[0]);
    scenario s;
    if (::unshare(CLONE_NEWNET) != 0) {
      s.failures.push_back(std::string{"unshare(CLONE_NEWNET): "} + std::strerror(errno));
    } else if (netns_of_self() == host_ns || host_ns.empty()) {
      s.failures.push_back("still in the host's network namespace");
    } else {
      try {
        body(s);
      } catch (const std::exception& e) {
        s.failures.push_back(std::string{"exception: "} + e.what());
      }
    }
    std::string report;
    for (auto& f : s.failures)
      report += f + '\x1e'; // record separator: failures span lines
    for (std::size_t off = 0; off < report.size();) {
      auto n = ::write(p[1], report.data() + off, report.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::_exit(s.failures.empty() ? 0 : 1);
  }
  ::close(p[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    report.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::istringstream in{report};
  for (std::string f; std::getline(in, f, '\x1e');)
    BOOST_ERROR(f);
  BOOST_CHECK_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == (report.empty() ? 0 : 1),
                      "scenario child ended with status " << status);
}

/// The rules a bridge network puts in FORWARD, below the hooks.
lines forward_of(const std::string& br, bool icc) {
  return {"-A FORWARD -o " + br + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
          "-A FORWARD -o " + br + " -j BERTH", "-A FORWARD -i " + br + " ! -o " + br + " -j ACCEPT",
          "-A FORWARD -i " + br + " -o " + br + (icc ? " -j ACCEPT" : " -j DROP")};
}

lines concat(std::initializer_list<lines> parts) {
  lines out;
  for (auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

/// The state right after setup.
void expect_setup(scenario& s, const std::string& when) {
  s.expect("filter", "FORWARD", {hook_user, hook_isolation}, when);
  s.expect("filter", user, {"-A BERTH-USER -j RETURN"}, when);
  s.expect("filter", stage1, {"-A " + stage1 + " -j RETURN"}, when);
  s.expect("filter", stage2, {"-A " + stage2 + " -j RETURN"}, when);
  s.check(has_chain("filter", "BERTH"), when + ": no filter BERTH");
  s.expect("filter", "BERTH", {}, when);
  s.check(has_chain("nat", "BERTH"), when + ": no nat BERTH");
  s.expect("nat", "BERTH", {}, when);
  s.expect("nat", "PREROUTING", {"-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH"}, when);
  s.expect("nat", "OUTPUT", {"-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH"},
           when);
  s.expect("nat", "POSTROUTING", {}, when);
}

} // namespace

BOOST_AUTO_TEST_SUITE(firewall)

BOOST_AUTO_TEST_CASE(setup_is_idempotent_and_keeps_the_hooks_first) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    bool was_off = ip_forward() == "0";
    net::firewall fw{{}};
    s.ok(fw.setup(), "setup");
    expect_setup(s, "after setup");
    s.ok(fw.setup(), "setup again");
    expect_setup(s, "after a second setup");
    s.check(ip_forward() == "1", "ip_forward is " + ip_forward());
    if (was_off)
      s.check(listing("filter").find("-P FORWARD DROP\n") != std::string::npos,
              "forwarding turned on without the FORWARD policy DROP");
    // The admin's rules in BERTH-USER stay; a rule put above the hooks goes below them.
    capture("iptables -w -I BERTH-USER -s 10.9.9.9/32 -j DROP");
    capture("iptables -w -I FORWARD -s 10.1.1.1/32 -j ACCEPT");
    s.ok(fw.setup(), "setup with the admin's rules");
    s.expect("filter", user, {"-A BERTH-USER -s 10.9.9.9/32 -j DROP", "-A BERTH-USER -j RETURN"},
             "admin's BERTH-USER");
    s.expect("filter", "FORWARD",
             {hook_user, hook_isolation, "-A FORWARD -s 10.1.1.1/32 -j ACCEPT"},
             "hooks back on top");
  });
}

BOOST_AUTO_TEST_CASE(ip_forward_off_leaves_forwarding_and_policy) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    auto before = ip_forward();
    net::firewall fw{{true, false, true, "iptables"}};
    s.ok(fw.setup(), "setup");
    s.check(ip_forward() == before, "ip_forward changed to " + ip_forward());
    s.check(listing("filter").find("-P FORWARD ACCEPT\n") != std::string::npos,
            "FORWARD policy changed");
  });
}

BOOST_AUTO_TEST_CASE(networks) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    net::firewall fw{{}};
    s.ok(fw.setup(), "setup");
    s.ok(fw.add_network("br-a", "172.18.0.0/16", true, true, false), "add br-a");
    s.ok(fw.add_network("br-a", "172.18.0.0/16", true, true, false), "add br-a again");
    s.expect("filter", "FORWARD", concat({{hook_user, hook_isolation}, forward_of("br-a", true)}),
             "br-a");
    s.expect("nat", "POSTROUTING", {"-A POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE"},
             "br-a");
    s.expect("nat", "BERTH", {"-A BERTH -i br-a -j RETURN"}, "br-a");
    s.expect("filter", stage1,
             {"-A " + stage1 + " -i br-a ! -o br-a -j " + stage2, "-A " + stage1 + " -j RETURN"},
             "br-a");
    s.expect("filter", stage2, {"-A " + stage2 + " -o br-a -j DROP", "-A " + stage2 + " -j RETURN"},
             "br-a");

    // icc off, the subnet given by an address in it; a newer network's rules come first.
    s.ok(fw.add_network("br-b", "172.19.0.1/16", false, true, false), "add br-b");
    // internal: masquerade asked for but not done, no way in or out.
    s.ok(fw.add_network("br-i", "172.20.0.0/16", true, true, true), "add br-i");
    s.ok(fw.add_network("br-i", "172.20.0.0/16", true, true, true), "add br-i again");
    auto three = concat({{hook_user, hook_isolation, "-A FORWARD -i br-i -o br-i -j ACCEPT"},
                         forward_of("br-b", false),
                         forward_of("br-a", true)});
    s.expect("filter", "FORWARD", three, "three networks");
    s.expect("nat", "POSTROUTING",
             {"-A POSTROUTING -s 172.19.0.0/16 ! -o br-b -j MASQUERADE",
              "-A POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE"},
             "three networks");
    s.expect("nat", "BERTH", {"-A BERTH -i br-b -j RETURN", "-A BERTH -i br-a -j RETURN"},
             "three networks");
    s.expect("filter", stage1,
             {"-A " + stage1 + " ! -d 172.20.0.0/16 -i br-i -j DROP",
              "-A " + stage1 + " ! -s 172.20.0.0/16 -o br-i -j DROP",
              "-A " + stage1 + " -i br-i ! -o br-i -j " + stage2,
              "-A " + stage1 + " -i br-b ! -o br-b -j " + stage2,
              "-A " + stage1 + " -i br-a ! -o br-a -j " + stage2, "-A " + stage1 + " -j RETURN"},
             "three networks");
    s.expect("filter", stage2,
             {"-A " + stage2 + " -o br-i -j DROP", "-A " + stage2 + " -o br-b -j DROP",
              "-A " + stage2 + " -o br-a -j DROP", "-A " + stage2 + " -j RETURN"},
             "three networks");

    // Re-added with icc on (a restart with other flags): the DROP becomes the ACCEPT.
    s.ok(fw.add_network("br-b", "172.19.0.0/16", true, true, false), "br-b icc on");
    auto got = rules("filter", "FORWARD");
    s.check(std::count(got.begin(), got.end(), "-A FORWARD -i br-b -o br-b -j ACCEPT") == 1 &&
                std::count(got.begin(), got.end(), "-A FORWARD -i br-b -o br-b -j DROP") == 0,
            "br-b icc flip");

    // --ip-masq=false: no masquerade even when asked.
    net::firewall no_masq{{true, true, false, "iptables"}};
    s.ok(no_masq.add_network("br-c", "172.21.0.0/16", true, true, false), "add br-c");
    s.absent("nat", "172.21.0.0/16", "ip_masq off");

    for (auto* n : {"br-a", "br-b", "br-c", "br-i"}) {
      std::string sub = std::string{"172."} +
                        (n[3] == 'a'   ? "18"
                         : n[3] == 'b' ? "19"
                         : n[3] == 'c' ? "21"
                                       : "20") +
                        ".0.0/16";
      s.ok(fw.remove_network(n, sub, true, true, false), std::string{"remove "} + n);
      s.absent("filter", std::string{n} + " ", std::string{"removed "} + n);
      s.absent("nat", std::string{n} + " ", std::string{"removed "} + n);
    }
    expect_setup(s, "all networks removed");
    s.ok(fw.remove_network("br-a", "172.18.0.0/16", true, true, false), "remove br-a twice");

    s.check(fw.add_network("br+", "172.18.0.0/16", true, true, false) == ec::invalid_argument,
            "bridge name with iptables' wildcard taken");
    s.check(fw.add_network("br-a", "172.18.0.0", true, true, false) == ec::invalid_argument,
            "subnet without prefix taken");
    s.check(fw.add_network("-j", "172.18.0.0/16", true, true, false) == ec::invalid_argument,
            "option as bridge name taken");
  });
}

BOOST_AUTO_TEST_CASE(published_ports) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    net::firewall fw{{}};
    s.ok(fw.setup(), "setup");
    s.ok(fw.add_network("br-a", "172.18.0.0/16", true, true, false), "add br-a");
    s.ok(fw.publish("tcp", "0.0.0.0", 8080, "br-a", "172.18.0.2", 80), "publish 8080");
    s.ok(fw.publish("tcp", "0.0.0.0", 8080, "br-a", "172.18.0.2", 80), "publish 8080 again");
    s.ok(fw.publish("udp", "127.0.0.1", 5353, "br-a", "172.18.0.2", 53), "publish 5353/udp");
    s.ok(fw.publish("tcp", "", 8081, "br-a", "172.18.0.2", 80), "publish 8081");
    const std::string dnat8080 =
        "-A BERTH ! -i br-a -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80";
    const std::string dnat8081 =
        "-A BERTH ! -i br-a -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.18.0.2:80";
    const std::string dnat5353 = "-A BERTH -d 127.0.0.1/32 ! -i br-a -p udp -m udp --dport 5353 "
                                 "-j DNAT --to-destination 172.18.0.2:53";
    const std::string accept80 =
        "-A BERTH -d 172.18.0.2/32 ! -i br-a -o br-a -p tcp -m tcp --dport 80 -j ACCEPT";
    const std::string accept53 =
        "-A BERTH -d 172.18.0.2/32 ! -i br-a -o br-a -p udp -m udp --dport 53 -j ACCEPT";
    const std::string masq = "-A POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE";
    const std::string hairpin80 =
        "-A POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE";
    const std::string hairpin53 =
        "-A POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -p udp -m udp --dport 53 -j MASQUERADE";
    const std::string skip = "-A BERTH -i br-a -j RETURN";
    s.expect("nat", "BERTH", {skip, dnat8080, dnat5353, dnat8081}, "published");
    s.expect("filter", "BERTH", {accept80, accept53}, "published");
    s.expect("nat", "POSTROUTING", {masq, hairpin80, hairpin53}, "published");

    // 8081 shares the container port with 8080: its ACCEPT and MASQUERADE stay.
    s.ok(fw.unpublish("tcp", "", 8081, "br-a", "172.18.0.2", 80), "unpublish 8081");
    s.expect("nat", "BERTH", {skip, dnat8080, dnat5353}, "8081 unpublished");
    s.expect("filter", "BERTH", {accept80, accept53}, "8081 unpublished");
    s.expect("nat", "POSTROUTING", {masq, hairpin80, hairpin53}, "8081 unpublished");
    // Published twice, unpublished twice.
    s.ok(fw.unpublish("tcp", "0.0.0.0", 8080, "br-a", "172.18.0.2", 80), "unpublish 8080");
    s.ok(fw.unpublish("tcp", "0.0.0.0", 8080, "br-a", "172.18.0.2", 80), "unpublish 8080 again");
    s.ok(fw.unpublish("udp", "127.0.0.1", 5353, "br-a", "172.18.0.2", 53), "unpublish 5353");
    s.expect("nat", "BERTH", {skip}, "all unpublished");
    s.expect("filter", "BERTH", {}, "all unpublished");
    s.expect("nat", "POSTROUTING", {masq}, "all unpublished");
    s.ok(fw.unpublish("sctp", "10.0.0.1", 9, "br-a", "172.18.0.9", 9), "unpublish unknown");

    s.check(fw.publish("icmp", "", 1, "br-a", "172.18.0.2", 1) == ec::invalid_argument,
            "protocol icmp taken");
    s.check(fw.publish("tcp", "", 1, "br-a", "bogus", 1) == ec::invalid_argument,
            "bogus container address taken");
    s.check(fw.publish("tcp", "::", 1, "br-a", "172.18.0.2", 1) == ec::invalid_argument,
            "IPv6 host address taken");
    s.check(fw.publish("tcp", "", 0, "br-a", "172.18.0.2", 1) == ec::invalid_argument,
            "port 0 taken");
  });
}

BOOST_AUTO_TEST_CASE(restart_converges) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    std::string before;
    {
      net::firewall fw{{}};
      s.ok(fw.setup(), "setup");
      s.ok(fw.add_network("br-a", "172.18.0.0/16", true, true, false), "add br-a");
      s.ok(fw.add_network("br-b", "172.19.0.0/16", false, true, false), "add br-b");
      s.ok(fw.publish("tcp", "", 8080, "br-a", "172.18.0.2", 80), "publish 8080");
      before = snapshot();
      // A port of a container that will be gone after the "crash".
      s.ok(fw.publish("tcp", "", 9090, "br-b", "172.19.0.2", 90), "publish 9090");
    }
    net::firewall fw{{}};
    s.ok(fw.setup(), "setup after the crash");
    s.ok(fw.add_network("br-a", "172.18.0.0/16", true, true, false), "add br-a again");
    s.ok(fw.add_network("br-b", "172.19.0.0/16", false, true, false), "add br-b again");
    s.ok(fw.publish("tcp", "", 8080, "br-a", "172.18.0.2", 80), "publish 8080 again");
    auto after = snapshot();
    // The stale port's hairpin MASQUERADE is in POSTROUTING (a built-in chain setup leaves
    // alone); its DNAT and ACCEPT went with the flush.
    const std::string stale =
        "-A POSTROUTING -s 172.19.0.2/32 -d 172.19.0.2/32 -p tcp -m tcp --dport 90 -j MASQUERADE\n";
    if (auto at = after.find(stale); at != std::string::npos) after.erase(at, stale.size());
    s.check(after == before, "after a restart:\n" + after + "before it:\n" + before);
    // sweep_ports removes it (and the live one's, which its owner re-adds), not the admin's
    s.ok(fw.publish("tcp", "", 9091, "br-b", "172.19.0.3", 91), "publish 9091");
    const std::string admin =
        "-A POSTROUTING -s 10.9.0.2/32 -d 10.9.0.2/32 -p tcp -m tcp --dport 22 -j MASQUERADE";
    s.check(capture("iptables -w -t nat -A POSTROUTING -s 10.9.0.2 -d 10.9.0.2 -p tcp --dport 22 "
                    "-j MASQUERADE 2>&1")
                .empty(),
            "the admin's rule");
    s.ok(fw.sweep_ports({"172.18.0.0/16", "172.19.0.0/16"}), "sweep");
    s.expect("nat", "POSTROUTING",
             {"-A POSTROUTING -s 172.19.0.0/16 ! -o br-b -j MASQUERADE",
              "-A POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE", admin},
             "swept");
    s.check(fw.sweep_ports({"bogus"}) == ec::invalid_argument, "a bogus subnet taken");
  });
}

BOOST_AUTO_TEST_CASE(teardown) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    auto pristine = snapshot();
    net::firewall fw{{true, false, true, "iptables"}};
    s.ok(fw.setup(), "setup");
    s.ok(fw.add_network("br-a", "172.18.0.0/16", true, true, false), "add br-a");
    s.ok(fw.publish("tcp", "", 8080, "br-a", "172.18.0.2", 80), "publish");
    s.ok(fw.unpublish("tcp", "", 8080, "br-a", "172.18.0.2", 80), "unpublish");
    s.ok(fw.remove_network("br-a", "172.18.0.0/16", true, true, false), "remove br-a");
    s.ok(fw.teardown(), "teardown");
    s.absent("filter", "BERTH", "teardown");
    s.absent("nat", "BERTH", "teardown");
    s.check(snapshot() == pristine, "teardown left:\n" + snapshot());
    s.ok(fw.teardown(), "teardown twice");

    // Again, with a network left and the admin's rule in BERTH-USER: the hooks and chains go,
    // BERTH-USER stays (unhooked) with the admin's rule.
    s.ok(fw.setup(), "setup again");
    s.ok(fw.add_network("br-a", "172.18.0.0/16", false, true, false), "add br-a");
    capture("iptables -w -I BERTH-USER -s 10.9.9.9/32 -j DROP");
    s.ok(fw.teardown(), "teardown with a network");
    s.check(!has_chain("filter", "BERTH") && !has_chain("nat", "BERTH") &&
                !has_chain("filter", stage1) && !has_chain("filter", stage2),
            "chains left:\n" + snapshot());
    s.expect("filter", user, {"-A BERTH-USER -s 10.9.9.9/32 -j DROP", "-A BERTH-USER -j RETURN"},
             "admin's BERTH-USER after teardown");
    for (auto& r : rules("filter", "FORWARD"))
      s.check(r.find("-j BERTH") == std::string::npos, "hook left: " + r);
    s.expect("nat", "PREROUTING", {}, "teardown");
    s.expect("nat", "OUTPUT", {}, "teardown");
  });
}

BOOST_AUTO_TEST_CASE(disabled_touches_nothing) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    auto before = snapshot();
    auto forward = ip_forward();
    // A binary that cannot run: any attempt would fail.
    net::firewall fw{{false, true, true, "/nonexistent/iptables"}};
    s.ok(fw.setup(), "setup");
    s.ok(fw.add_network("br-a", "172.18.0.0/16", false, true, true), "add");
    s.ok(fw.publish("tcp", "", 8080, "br-a", "172.18.0.2", 80), "publish");
    s.ok(fw.unpublish("tcp", "", 8080, "br-a", "172.18.0.2", 80), "unpublish");
    s.ok(fw.remove_network("br-a", "172.18.0.0/16", false, true, true), "remove");
    s.ok(fw.teardown(), "teardown");
    s.check(snapshot() == before, "rules changed:\n" + snapshot());
    s.check(ip_forward() == forward, "ip_forward changed");
  });
}

BOOST_AUTO_TEST_CASE(errors_name_the_command) {
  if (!usable()) return;
  in_netns([](scenario& s) {
    net::firewall missing{{true, true, true, "/nonexistent/iptables"}};
    auto e = missing.setup();
    s.check(e == ec::system && error_message(e).find("/nonexistent/iptables") != std::string::npos,
            "missing binary: " + error_message(e));
    // No setup, so no BERTH chain to add to.
    net::firewall fw{{}};
    e = fw.publish("tcp", "", 8080, "br-a", "172.18.0.2", 80);
    auto msg = error_message(e);
    s.check(e == ec::system &&
                msg.rfind("iptables -t filter -A BERTH -d 172.18.0.2 ! -i br-a", 0) == 0 &&
                msg.find(": iptables") != std::string::npos,
            "publish without setup: " + msg);
    s.expect("nat", "POSTROUTING", {}, "failed publish rolled back");
  });
}

BOOST_AUTO_TEST_SUITE_END()
