// moat's stand-in for the start-up half of gVisor's test library, without Google Benchmark
// (Debian ships no static libbenchmark): parse gtest's and abseil's flags, ignore SIGPIPE as the
// tests expect, run every selected test.
#include <signal.h>

#include "absl/flags/parse.h"
#include "gtest/gtest.h"
#include "test/util/logging.h"

namespace gvisor {
namespace testing {

void SetupGvisorDeathTest() {}

void TestInit(int* argc, char*** argv) {
  ::testing::InitGoogleTest(argc, *argv);
  ::absl::ParseCommandLine(*argc, *argv);
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  TEST_CHECK(sigaction(SIGPIPE, &ignore, nullptr) == 0);
}

int RunAllTests() { return RUN_ALL_TESTS(); }

}  // namespace testing
}  // namespace gvisor

// benchmark/benchmark.h (timers.cc includes it for DoNotOptimize, which is inline) makes every
// file that includes it call this at start-up; without the library, a no-op stands in.
namespace benchmark {
namespace internal {
int InitializeStreams() { return 0; }
}  // namespace internal
}  // namespace benchmark
