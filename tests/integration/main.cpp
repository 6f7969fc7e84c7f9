// berth integration tests: a real berthd driven by the stock docker CLI and raw HTTP.
#define BOOST_TEST_MODULE berth_integration
#include <boost/test/unit_test.hpp>

#include <csignal>

struct ignore_sigpipe {
  ignore_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }
};
BOOST_TEST_GLOBAL_FIXTURE(ignore_sigpipe);
