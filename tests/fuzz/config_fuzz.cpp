// libFuzzer target for the two text inputs a user hands prfaas: deployment configs
// (config::parse_config) and scenarios (sim::load_scenario, with the profiles they name).  Any
// byte string either parses into values inside their ranges or is refused with failure
// (bad_config / invalid_argument) naming the file and line; nothing else may happen.
// The first byte picks the parser; the rest is the file.
//
// Scenarios are read from a file whose directory holds a link to the source tree's profiles/,
// so that `profile = "../profiles/h200-1t-hybrid.toml"` resolves as it does for real scenarios.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/common/errc.h"
#include "runtime/config/deployment_config.h"
#include "runtime/sim/scenario.h"

using namespace prfaas;
namespace fs = std::filesystem;

namespace {

// The fuzzer's own directory, gone when the run ends (libFuzzer ends it with exit(); a crash
// leaves it, beside the crashing input).
struct scratch_dir {
  fs::path root = fs::temp_directory_path() / ("prfaas-config-fuzz-" + std::to_string(::getpid()));
  scratch_dir() {
    fs::create_directories(root / "scenarios");
    std::error_code ec;
    fs::create_directory_symlink(fs::path(PRFAAS_SOURCE_DIR) / "profiles", root / "profiles", ec);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

std::string scenario_path() {
  static const scratch_dir dir;
  static const std::string path = (dir.root / "scenarios" / "input.toml").string();
  return path;
}

void check_config(const config::deployment_config& c) {
  // What parse_config accepts stays in the ranges it documents.
  if (c.node.threads < 1 || c.node.threads > 256 || c.deployment.decode < 0 || c.deployment.decode > 64 ||
      c.router.deadline_ms < 1 || c.router.deadline_ms > 3600000)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] & 1) {
      {
        std::ofstream out(scenario_path(), std::ios::binary | std::ios::trunc);
        out << text;
      }
      const auto s = sim::load_scenario(scenario_path());
      if (s.n_prfaas < 0 || s.n_pd < 0 || s.n_prfaas > 100000 || s.n_pd > 100000) std::abort();
    } else {
      check_config(config::parse_config(text, "fuzz.toml"));
    }
  } catch (const failure& f) {
    if (f.code() != errc::bad_config && f.code() != errc::invalid_argument) std::abort();
  }
  return 0;
}
