// berth unit tests (Boost.Test). No root, no network.
#define BOOST_TEST_MODULE berth_unit
#include <boost/test/unit_test.hpp>

#include "actors/log.hpp"

struct quiet_logs {
  quiet_logs() { berth::log::init(berth::log::level::error); }
};
BOOST_TEST_GLOBAL_FIXTURE(quiet_logs);
