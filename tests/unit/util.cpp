// Helpers shared by the unit tests (see util.hpp).
#include "tests/unit/util.hpp"

#include "drivers/io.hpp"
#include "messages/actors.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/test/unit_test.hpp>
#include <caf/actor_system_config.hpp>
#include <zlib.h>
#include <zstd.h>

#include <cstdlib>

namespace berth::test {

caf::actor_system_config& actor_config() {
  static caf::actor_system_config cfg;
  static bool done = [] {
    register_messages(cfg);
    return true;
  }();
  (void)done;
  return cfg;
}

temp_dir::temp_dir() {
  char t[] = "/tmp/berth-test-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(t) != nullptr);
  path = t;
}

temp_dir::~temp_dir() {
  io::remove_all(path);
}

std::string temp_dir::sub(const std::string& name) const {
  io::mkdir_all(path + "/" + name);
  return path + "/" + name;
}

namespace {

la_ssize_t append_cb(struct archive*, void* p, const void* buf, size_t len) {
  static_cast<std::string*>(p)->append(static_cast<const char*>(buf), len);
  return static_cast<la_ssize_t>(len);
}

} // namespace

std::string make_tar(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  auto* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &out, nullptr, append_cb, nullptr);
  for (auto& [path, data] : entries) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_mtime(e, 1600000000, 0);
    if (data.rfind("->", 0) == 0) {
      archive_entry_set_mode(e, AE_IFLNK | 0777);
      archive_entry_set_symlink(e, data.substr(2).c_str());
      archive_write_header(a, e);
    } else if (!path.empty() && path.back() == '/') {
      archive_entry_set_mode(e, AE_IFDIR | 0755);
      archive_write_header(a, e);
    } else {
      archive_entry_set_mode(e, AE_IFREG | 0644);
      archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
      archive_write_header(a, e);
      archive_write_data(a, data.data(), data.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3));
  return out;
}

} // namespace berth::test
