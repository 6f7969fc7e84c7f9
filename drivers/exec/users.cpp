// The container's user (see users.hpp).
#include "drivers/exec/users.hpp"

namespace berth::exec::users {

namespace {

struct passwd_entry {
  std::string name;
  long uid = -1, gid = -1;
  std::string home;
};

struct group_entry {
  std::string name;
  long gid = -1;
  std::vector<std::string> members;
};

bool to_id(const std::string& s, long& out) {
  if (s.empty() || s.size() > 10) return false;
  long n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  if (n > 0x7fffffffL) return false;
  out = n;
  return true;
}

// The non-comment lines of a colon-separated file, split into fields.
std::vector<std::vector<std::string>> colon_lines(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  for (auto& line : split(text, '\n')) {
    auto l = line;
    while (!l.empty() && l.back() == '\r')
      l.pop_back();
    if (l.empty() || l[0] == '#') continue;
    out.push_back(split(l, ':'));
  }
  return out;
}

std::vector<passwd_entry> parse_passwd(const std::string& text) {
  std::vector<passwd_entry> out;
  for (auto& f : colon_lines(text)) {
    if (f.size() < 4) continue;
    passwd_entry e;
    e.name = f[0];
    if (!to_id(f[2], e.uid) || !to_id(f[3], e.gid)) continue;
    if (f.size() > 5) e.home = f[5];
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<group_entry> parse_group(const std::string& text) {
  std::vector<group_entry> out;
  for (auto& f : colon_lines(text)) {
    if (f.size() < 3) continue;
    group_entry e;
    e.name = f[0];
    if (!to_id(f[2], e.gid)) continue;
    if (f.size() > 3 && !f[3].empty())
      for (auto& m : split(f[3], ','))
        if (!m.empty()) e.members.push_back(m);
    out.push_back(std::move(e));
  }
  return out;
}

} // namespace

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

std::string resolve(const std::string& spec_user, const std::vector<std::string>& additional,
                    const file_reader& read, exec_user& u) {
  u = exec_user{};
  auto colon = spec_user.find(':');
  std::string user_arg = spec_user.substr(0, colon);
  std::string group_arg = colon == std::string::npos ? "" : spec_user.substr(colon + 1);
  auto passwd = parse_passwd(read("/etc/passwd"));
  long num = -1;
  bool numeric = to_id(user_arg, num);
  if (user_arg.empty()) {
    numeric = true;
    num = 0;
  }
  const passwd_entry* found = nullptr;
  for (auto& e : passwd)
    if ((!user_arg.empty() && e.name == user_arg) || (numeric && e.uid == num)) {
      found = &e;
      break;
    }
  std::string name;
  if (found) {
    u.uid = static_cast<uint32_t>(found->uid);
    u.gid = static_cast<uint32_t>(found->gid);
    if (!found->home.empty()) u.home = found->home;
    name = found->name;
  } else if (numeric) {
    u.uid = static_cast<uint32_t>(num);
  } else {
    return "unable to find user " + user_arg + ": no matching entries in passwd file";
  }
  std::vector<group_entry> groups;
  bool groups_read = false;
  auto all_groups = [&]() -> const std::vector<group_entry>& {
    if (!groups_read) groups = parse_group(read("/etc/group"));
    groups_read = true;
    return groups;
  };
  // A group by name or number: its GID, or -1 when neither matches.
  auto find_group = [&](const std::string& arg) -> long {
    long gnum = -1;
    bool gnumeric = to_id(arg, gnum);
    for (auto& e : all_groups())
      if (e.name == arg || (gnumeric && e.gid == gnum)) return e.gid;
    return gnumeric ? gnum : -1;
  };
  if (!group_arg.empty()) {
    auto gid = find_group(group_arg);
    if (gid < 0) return "unable to find group " + group_arg + ": no matching entries in group file";
    u.gid = static_cast<uint32_t>(gid);
  } else if (!name.empty()) {
    // Supplementary groups only in the implicit form: every group that lists the user.
    for (auto& e : all_groups())
      for (auto& m : e.members)
        if (m == name) {
          u.groups.push_back(static_cast<uint32_t>(e.gid));
          break;
        }
  }
  for (auto& a : additional) {
    auto gid = find_group(a);
    if (gid < 0) return "unable to find group " + a + ": no matching entries in group file";
    u.groups.push_back(static_cast<uint32_t>(gid));
  }
  return {};
}

} // namespace berth::exec::users
