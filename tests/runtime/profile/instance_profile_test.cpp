// Profiles: the documented interpolation and the §2 figures they carry.

#include <catch2/catch.hpp>

#include "runtime/common/errc.h"
#include "runtime/profile/instance_profile.h"

using namespace prfaas;

TEST_CASE("tables interpolate linearly between lengths and extend along the end segments") {
  const std::vector<double> xs = {1000, 2000, 4000}, ys = {1, 2, 6};
  CHECK(profile::interpolate(xs, ys, 1500) == Approx(1.5));
  CHECK(profile::interpolate(xs, ys, 3000) == Approx(4));
  CHECK(profile::interpolate(xs, ys, 500) == Approx(0.5));
  CHECK(profile::interpolate(xs, ys, 5000) == Approx(8));
}

TEST_CASE("the H200 profile reproduces the case study's Φ_kv column") {
  const auto p = profile::load_profile(PRFAAS_SOURCE_DIR "/profiles/h200-1t-hybrid.toml");
  CHECK(p.phi_kv_gbps(1024) == Approx(3.61).epsilon(0.02));
  CHECK(p.phi_kv_gbps(8192) == Approx(3.59).epsilon(0.02));
  CHECK(p.phi_kv_gbps(32768) == Approx(3.19).epsilon(0.02));
  CHECK(p.phi_kv_gbps(131072) == Approx(2.62).epsilon(0.02));
  CHECK(p.gpus_per_instance == 8);
}

TEST_CASE("the H20 curve is the polynomial of the case study") {
  const auto p = profile::load_profile(PRFAAS_SOURCE_DIR "/profiles/h20-1t-hybrid.toml");
  CHECK(p.t_prefill(10000) == Approx(0.477 + 1.294 + 0.0302));
  CHECK(p.bs_max == 20);
  CHECK(p.t_decode_s == Approx(0.025));
}

TEST_CASE("cluster egress from Φ_kv matches the source's figures for 512 H200 at 32K") {
  const auto t = profile::load_phi_kv_table(PRFAAS_SOURCE_DIR "/profiles/models-phi-kv-h200.toml");
  CHECK(t.egress_gbps("MiniMax-M2.5", 512, 32768) / 1000 == Approx(3.8).epsilon(0.02));
  CHECK(t.egress_gbps("Qwen3-235B", 512, 32768) / 1000 == Approx(2.1).epsilon(0.03));
  CHECK(t.egress_gbps("Ring-2.5-1T", 512, 32768) == Approx(170).epsilon(0.03));
  CHECK(t.egress_gbps("Ring-2.5-1T", 512, 131072) < 100);
}

TEST_CASE("a broken profile names its file and line") {
  CHECK_THROWS_WITH(profile::load_profile(PRFAAS_SOURCE_DIR "/tests/runtime/profile/bad_profile.toml"),
                    Catch::Contains("bad_profile.toml:3:"));
}
