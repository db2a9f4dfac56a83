// moat's stand-in for the Bazel runfiles lookup of gVisor's test library: the data files a test
// program runs (exec's workloads, …) sit under one directory of the bundle, /gvisor unless
// GVISOR_RUNFILES names another, at their path in gVisor's tree.
#include <cstdlib>
#include <string>

namespace gvisor {
namespace testing {

std::string RunfilePath(std::string path) {
  const char* root = std::getenv("GVISOR_RUNFILES");
  std::string dir = (root != nullptr && *root != '\0') ? root : "/gvisor";
  if (!dir.empty() && dir.back() == '/') dir.pop_back();
  return dir + "/" + path;
}

}  // namespace testing
}  // namespace gvisor
