#pragma once
// A Catch2 main for test executables that need something this machine may lack (root, a GPU):
// without it the whole executable reports skipped (exit 77, ctest's SKIP_RETURN_CODE), never
// passed.  Listing tests always works, so ctest can discover them.
//
//   int main(int argc, char** argv) { return prfaas::testing::run_or_skip(argc, argv, [] { return why_not(); }); }

#include <catch2/catch.hpp>

#include <functional>
#include <iostream>
#include <string>

namespace prfaas::testing {

// `unavailable()` returns why the tests cannot run here, empty when they can.
inline int run_or_skip(int argc, char** argv, const std::function<std::string()>& unavailable) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  const auto& cfg = session.configData();
  const bool listing = cfg.listTests || cfg.listTestNamesOnly || cfg.listTags || cfg.listReporters;
  if (!listing) {
    if (const auto why = unavailable(); !why.empty()) {
      std::cout << "skipped: " << why << std::endl;
      return 77;
    }
  }
  return session.run();
}

}  // namespace prfaas::testing
