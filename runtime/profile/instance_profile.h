#pragma once
// Hardware-and-model profiles: how long one instance takes to prefill a prompt of l tokens, how
// many KV bytes that prompt leaves, and how fast the instance decodes.  Data files in profiles/.
//
// Interpolation (documented, and the same everywhere): T_prefill and S_kv are piecewise linear
// in l between the table's lengths, and extended beyond the first and last lengths along the
// nearest segment (S_kv is close to affine in l, PAPER.md §2; prefill time is dominated by
// linear terms at these lengths).  A profile may give T_prefill as a polynomial in l instead
// (`t_prefill_poly`), as the H20 curve is given.

#include <string>
#include <vector>

namespace prfaas::profile {

// Piecewise-linear y(x) through (xs, ys), xs strictly increasing, linear extrapolation outside.
double interpolate(const std::vector<double>& xs, const std::vector<double>& ys, double x);

struct instance_profile {
  std::string name;
  int gpus_per_instance = 8;
  std::vector<double> lengths;        // tokens, increasing
  std::vector<double> t_prefill_s;    // seconds at each length (empty when t_poly is given)
  std::vector<double> t_poly;         // c0 + c1 l + c2 l^2 + ... seconds
  std::vector<double> s_kv_mib;       // KV MiB at each length
  double t_decode_s = 0.025;          // one decode step (the decode SLO)
  int bs_max = 20;                    // sequences per decode batch

  double t_prefill(double tokens) const;
  double s_kv_bytes(double tokens) const;
  double phi_kv_gbps(double tokens) const { return s_kv_bytes(tokens) * 8 / 1e9 / t_prefill(tokens); }
};

// The profile as an emulated engine plays it (runtime/engine/emulated_engine.h): times divided
// by time_scale, KV sizes by kv_scale.  What the live router plans with on such a deployment.
instance_profile scaled(instance_profile p, double time_scale, double kv_scale);

// Throws failure(bad_config) with "FILE:LINE: what".
instance_profile load_profile(const std::string& path);

// Phi_kv tables of PAPER.md §2 (profiles/models-phi-kv-h200.toml).
struct phi_kv_table {
  int gpus_per_instance = 8;
  std::vector<double> lengths;
  std::vector<std::pair<std::string, std::vector<double>>> models;  // file order
  // Cluster egress B_out ~ (gpus / gpus_per_instance) * Phi_kv(length), in Gbps.
  double egress_gbps(const std::string& model, int gpus, double tokens) const;
};
phi_kv_table load_phi_kv_table(const std::string& path);

}  // namespace prfaas::profile
