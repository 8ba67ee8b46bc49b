#include "runtime/profile/instance_profile.h"

#include <toml++/toml.h>

#include "runtime/common/errc.h"

namespace prfaas::profile {

double interpolate(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  PRFAAS_REQUIRE(xs.size() == ys.size() && !xs.empty(), "interpolation table sizes differ");
  if (xs.size() == 1) return ys[0];
  size_t i = 1;
  while (i + 1 < xs.size() && x > xs[i]) ++i;  // segment [i-1, i], clamped to the ends
  const double f = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + f * (ys[i] - ys[i - 1]);
}

double instance_profile::t_prefill(double tokens) const {
  if (!t_poly.empty()) {
    double t = 0, p = 1;
    for (double c : t_poly) { t += c * p; p *= tokens; }
    return t;
  }
  return interpolate(lengths, t_prefill_s, tokens);
}

double instance_profile::s_kv_bytes(double tokens) const {
  return interpolate(lengths, s_kv_mib, tokens) * 1024.0 * 1024.0;
}

instance_profile scaled(instance_profile p, double time_scale, double kv_scale) {
  PRFAAS_REQUIRE(time_scale > 0 && kv_scale > 0, "scales must be positive");
  for (double& t : p.t_prefill_s) t /= time_scale;
  for (double& c : p.t_poly) c /= time_scale;
  for (double& s : p.s_kv_mib) s /= kv_scale;
  p.t_decode_s /= time_scale;
  return p;
}

namespace {

[[noreturn]] void fail(const std::string& path, const toml::node* n, const std::string& what) {
  const std::string line = n ? ":" + std::to_string(n->source().begin.line) : "";
  throw failure(errc::bad_config, path + line + ": " + what);
}

toml::table parse_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw failure(errc::bad_config, path + ":" + std::to_string(e.source().begin.line) + ": " +
                                        std::string(e.description()));
  }
}

std::vector<double> numbers(const std::string& path, const toml::node* n, const std::string& key) {
  const toml::array* a = n ? n->as_array() : nullptr;
  if (!a) fail(path, n, key + " must be an array of numbers");
  std::vector<double> out;
  for (const auto& v : *a) {
    auto x = v.value<double>();
    if (!x) fail(path, &v, key + " must hold numbers only");
    out.push_back(*x);
  }
  return out;
}

void check_increasing(const std::string& path, const toml::node* n, const std::vector<double>& xs) {
  for (size_t i = 1; i < xs.size(); ++i)
    if (!(xs[i] > xs[i - 1])) fail(path, n, "lengths must increase");
}

}  // namespace

instance_profile load_profile(const std::string& path) {
  const toml::table t = parse_file(path);
  instance_profile p;
  p.name = t["name"].value_or(path);
  p.gpus_per_instance = t["gpus_per_instance"].value_or(8);
  const toml::node* lengths = t["prefill"]["lengths"].node();
  p.lengths = numbers(path, lengths, "prefill.lengths");
  check_increasing(path, lengths, p.lengths);
  p.s_kv_mib = numbers(path, t["prefill"]["s_kv_mib"].node(), "prefill.s_kv_mib");
  if (t["prefill"]["t_prefill_poly"]) p.t_poly = numbers(path, t["prefill"]["t_prefill_poly"].node(), "prefill.t_prefill_poly");
  else p.t_prefill_s = numbers(path, t["prefill"]["t_prefill_s"].node(), "prefill.t_prefill_s");
  if (p.s_kv_mib.size() != p.lengths.size() || (p.t_poly.empty() && p.t_prefill_s.size() != p.lengths.size()))
    fail(path, lengths, "prefill tables must have one value per length");
  p.t_decode_s = t["decode"]["t_decode_s"].value_or(0.025);
  p.bs_max = t["decode"]["bs_max"].value_or(20);
  if (p.t_decode_s <= 0 || p.bs_max <= 0 || p.gpus_per_instance <= 0) fail(path, nullptr, "decode figures must be positive");
  return p;
}

double phi_kv_table::egress_gbps(const std::string& model, int gpus, double tokens) const {
  for (const auto& [name, phi] : models)
    if (name == model) return static_cast<double>(gpus) / gpus_per_instance * interpolate(lengths, phi, tokens);
  throw failure(errc::invalid_argument, "no Phi_kv table for model '" + model + "'");
}

phi_kv_table load_phi_kv_table(const std::string& path) {
  const toml::table t = parse_file(path);
  phi_kv_table out;
  out.gpus_per_instance = t["gpus_per_instance"].value_or(8);
  out.lengths = numbers(path, t["lengths"].node(), "lengths");
  const toml::table* models = t["phi_kv_gbps"].as_table();
  if (!models) fail(path, nullptr, "phi_kv_gbps table missing");
  for (auto&& [name, v] : *models) {
    auto phi = numbers(path, &v, std::string(name.str()));
    if (phi.size() != out.lengths.size()) fail(path, &v, "one Phi_kv per length");
    out.models.emplace_back(std::string(name.str()), std::move(phi));
  }
  return out;
}

}  // namespace prfaas::profile
