// docker stats' JSON (api/stats.cpp): moby's StatsJSON byte for byte for a stopped container,
// and the field order, types and omitempty rules of v1 and v2 samples.
#include <boost/test/unit_test.hpp>

#include "api/stats.hpp"

#include <boost/json.hpp>

#include <string>
#include <vector>

using namespace berth;

namespace {

namespace json = boost::json;

std::vector<std::string> keys(const json::object& o) {
  std::vector<std::string> out;
  for (auto& kv : o)
    out.emplace_back(kv.key());
  return out;
}

container_stats v1_sample() {
  container_stats s;
  s.id = "4729c00f677d";
  s.name = "/web";
  s.running = true;
  s.read_nano = 1700000000123456789;
  s.system_cpu_usage = 9000000000;
  s.online_cpus = 2;
  auto& c = s.cgroup;
  c.version = 1;
  c.cpu_total = 5000;
  c.cpu_percpu = {3000, 2000};
  c.cpu_kernel = 1000;
  c.cpu_user = 4000;
  c.has_memory = true;
  c.memory_usage = 8388608;
  c.memory_max_usage = 9437184;
  c.memory_limit = 1073741824;
  c.memory_stat = {{"total_inactive_file", 4096}, {"cache", 0}};
  c.pids_current = 1;
  c.has_blkio = true;
  c.io_service_bytes = {{8, 0, "Read", 4096}};
  s.networks = {{"eth1", 1, 2, 3, 4, 5, 6, 7, 8}, {"eth0", 0, 0, 0, 0, 0, 0, 0, 0}};
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(stats_json)

BOOST_AUTO_TEST_CASE(a_stopped_container_is_name_and_id_only) {
  container_stats s;
  s.id = "abc";
  s.name = "/web";
  const char* zero_cpu = R"({"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,)"
                         R"("usage_in_usermode":0},"throttling_data":{"periods":0,)"
                         R"("throttled_periods":0,"throttled_time":0}})";
  auto want = std::string{R"({"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z",)"
                          R"("pids_stats":{},"blkio_stats":{"io_service_bytes_recursive":null,)"
                          R"("io_serviced_recursive":null,"io_queue_recursive":null,)"
                          R"("io_service_time_recursive":null,"io_wait_time_recursive":null,)"
                          R"("io_merged_recursive":null,"io_time_recursive":null,)"
                          R"("sectors_recursive":null},"num_procs":0,"storage_stats":{},)"
                          R"("cpu_stats":)"} +
              zero_cpu + R"(,"precpu_stats":)" + zero_cpu +
              R"(,"memory_stats":{},"name":"/web","id":"abc"})" + "\n";
  BOOST_CHECK_EQUAL(api::encode_stats(s, nullptr), want);
}

BOOST_AUTO_TEST_CASE(a_v1_sample_with_its_previous_one) {
  auto cur = v1_sample();
  auto pre = v1_sample();
  pre.read_nano = 1700000000000000000;
  pre.cgroup.cpu_total = 1000;
  auto text = api::encode_stats(cur, &pre);
  BOOST_CHECK_EQUAL(text.back(), '\n');
  auto o = json::parse(text).as_object();
  BOOST_CHECK((keys(o) == std::vector<std::string>{"read", "preread", "pids_stats", "blkio_stats",
                                                   "num_procs", "storage_stats", "cpu_stats",
                                                   "precpu_stats", "memory_stats", "name", "id",
                                                   "networks"}));
  BOOST_CHECK_EQUAL(o["read"].as_string(), "2023-11-14T22:13:20.123456789Z");
  BOOST_CHECK_EQUAL(o["preread"].as_string(), "2023-11-14T22:13:20Z");
  BOOST_CHECK((keys(o["pids_stats"].as_object()) == std::vector<std::string>{"current"}));
  auto& cpu = o["cpu_stats"].as_object();
  BOOST_CHECK((keys(cpu) == std::vector<std::string>{"cpu_usage", "system_cpu_usage", "online_cpus",
                                                     "throttling_data"}));
  auto& usage = cpu.at("cpu_usage").as_object();
  BOOST_CHECK(
      (keys(usage) == std::vector<std::string>{"total_usage", "percpu_usage", "usage_in_kernelmode",
                                               "usage_in_usermode"}));
  BOOST_CHECK(usage.at("total_usage").is_uint64() || usage.at("total_usage").is_int64());
  BOOST_CHECK_EQUAL(usage.at("percpu_usage").as_array().size(), 2u);
  BOOST_CHECK_EQUAL(o["precpu_stats"].at("cpu_usage").at("total_usage").to_number<int64_t>(), 1000);
  auto& mem = o["memory_stats"].as_object();
  BOOST_CHECK((keys(mem) == std::vector<std::string>{"usage", "max_usage", "stats", "limit"}));
  BOOST_CHECK((keys(mem.at("stats").as_object()) ==
               std::vector<std::string>{"cache", "total_inactive_file"})); // sorted, as Go
  auto& blkio = o["blkio_stats"].as_object();
  BOOST_CHECK_EQUAL(blkio.at("io_service_bytes_recursive").as_array().size(), 1u);
  auto& entry = blkio.at("io_service_bytes_recursive").as_array()[0].as_object();
  BOOST_CHECK((keys(entry) == std::vector<std::string>{"major", "minor", "op", "value"}));
  BOOST_CHECK_EQUAL(entry.at("op").as_string(), "Read");
  BOOST_CHECK(blkio.at("sectors_recursive").is_array()); // v1: [] (copyBlkioEntry)
  BOOST_CHECK(blkio.at("sectors_recursive").as_array().empty());
  auto& nets = o["networks"].as_object();
  BOOST_CHECK((keys(nets) == std::vector<std::string>{"eth0", "eth1"}));
  BOOST_CHECK((keys(nets.at("eth1").as_object()) ==
               std::vector<std::string>{"rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                        "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}));
  BOOST_CHECK_EQUAL(nets.at("eth1").at("tx_dropped").to_number<int64_t>(), 8);
}

BOOST_AUTO_TEST_CASE(a_v2_sample_has_no_percpu_and_null_lists) {
  auto s = v1_sample();
  s.cgroup.version = 2;
  s.cgroup.cpu_percpu.clear();
  s.cgroup.memory_max_usage = 0;
  s.cgroup.has_blkio = false;
  s.cgroup.io_service_bytes.clear();
  s.cgroup.pids_limit = UINT64_MAX;
  s.networks.clear(); // --network none/host, or only lo: no "networks" at all
  auto o = json::parse(api::encode_stats(s, nullptr)).as_object();
  BOOST_CHECK(!o.contains("networks"));
  BOOST_CHECK(!o["cpu_stats"].at("cpu_usage").as_object().contains("percpu_usage"));
  BOOST_CHECK(!o["memory_stats"].as_object().contains("max_usage"));
  BOOST_CHECK(o["blkio_stats"].at("io_service_bytes_recursive").is_null());
  BOOST_CHECK(o["blkio_stats"].at("io_serviced_recursive").is_null());
  BOOST_CHECK_EQUAL(o["pids_stats"].at("limit").as_uint64(), UINT64_MAX);
  BOOST_CHECK_EQUAL(o["preread"].as_string(), "0001-01-01T00:00:00Z");
  // no previous sample: precpu is zero and has no system figures (omitempty)
  BOOST_CHECK((keys(o["precpu_stats"].as_object()) ==
               std::vector<std::string>{"cpu_usage", "throttling_data"}));
}

BOOST_AUTO_TEST_SUITE_END()
