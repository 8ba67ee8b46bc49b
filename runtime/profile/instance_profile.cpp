#include "runtime/profile/instance_profile.h"


#include "runtime/common/errc.h"
#include "runtime/config/toml_reader.h"

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

void check_increasing(config::table_reader& r, const std::vector<double>& xs) {
  for (size_t i = 1; i < xs.size(); ++i)
    if (!(xs[i] > xs[i - 1])) r.fail(r.node("lengths"), r.key_name("lengths") + " must increase");
}

}  // namespace

instance_profile load_profile(const std::string& path) {
  const toml::table t = config::parse_toml_file(path);
  config::table_reader top(path, t, "");
  instance_profile p;
  p.name = path;
  top.get("name", p.name);
  top.get("gpus_per_instance", p.gpus_per_instance);
  auto prefill = top.table("prefill"), decode = top.table("decode");
  top.reject_unknown();
  if (!prefill.numbers("lengths", p.lengths)) prefill.fail("prefill.lengths (an array of numbers) is missing");
  check_increasing(prefill, p.lengths);
  if (!prefill.numbers("s_kv_mib", p.s_kv_mib)) prefill.fail("prefill.s_kv_mib (an array of numbers) is missing");
  if (!prefill.numbers("t_prefill_poly", p.t_poly) && !prefill.numbers("t_prefill_s", p.t_prefill_s))
    prefill.fail("prefill needs t_prefill_s (one per length) or t_prefill_poly");
  if (p.s_kv_mib.size() != p.lengths.size() || (p.t_poly.empty() && p.t_prefill_s.size() != p.lengths.size()))
    prefill.fail("prefill tables must have one value per length");
  prefill.reject_unknown();
  p.t_decode_s = 0.025;
  p.bs_max = 20;
  decode.get("t_decode_s", p.t_decode_s);
  decode.get("bs_max", p.bs_max);
  decode.reject_unknown();
  if (p.t_decode_s <= 0 || p.bs_max <= 0 || p.gpus_per_instance <= 0) top.fail("decode figures must be positive");
  return p;
}

double phi_kv_table::egress_gbps(const std::string& model, int gpus, double tokens) const {
  for (const auto& [name, phi] : models)
    if (name == model) return static_cast<double>(gpus) / gpus_per_instance * interpolate(lengths, phi, tokens);
  throw failure(errc::invalid_argument, "no Phi_kv table for model '" + model + "'");
}

phi_kv_table load_phi_kv_table(const std::string& path) {
  const toml::table t = config::parse_toml_file(path);
  config::table_reader top(path, t, "");
  phi_kv_table out;
  top.get("gpus_per_instance", out.gpus_per_instance);
  if (!top.numbers("lengths", out.lengths)) top.fail("lengths (an array of numbers) is missing");
  if (!top.has("phi_kv_gbps")) top.fail("phi_kv_gbps table missing");
  auto models = top.table("phi_kv_gbps");
  top.reject_unknown();
  for (auto&& [name, v] : models.raw()) {
    const std::string model(name.str());
    std::vector<double> phi;
    models.numbers(model.c_str(), phi);
    if (phi.size() != out.lengths.size()) models.fail(&v, "one Phi_kv per length");
    out.models.emplace_back(model, std::move(phi));
  }
  return out;
}

}  // namespace prfaas::profile
