#include "runtime/policy/threshold_controller.h"

namespace prfaas::policy {

threshold_controller::threshold_controller(const profile::instance_profile& prfaas, const profile::instance_profile& pd,
                                           double output_tokens, double initial_threshold, controller_options options)
    : prfaas_(prfaas), pd_(pd), output_tokens_(output_tokens), threshold_(initial_threshold), options_(options) {
  window_.reserve(options_.window);
}

void threshold_controller::observe(double uncached_tokens) {
  if (window_.size() < options_.window) window_.push_back(uncached_tokens);
  else window_[next_++ % options_.window] = uncached_tokens;
}

std::optional<double> threshold_controller::on_period(const controller_inputs& in) {
  abundant_ = in.egress_utilisation < options_.utilisation_abundant;
  const bool ceiling = in.egress_utilisation > options_.utilisation_high;
  const bool surge = in.prfaas_queue_per_instance > options_.queue_per_instance_high;
  if (!(ceiling || surge || abundant_) || window_.size() < 64 || in.n_prfaas == 0) return std::nullopt;

  const auto lengths = length_distribution::empirical(window_);
  plan_input p{&prfaas_, &pd_, in.n_prfaas, in.n_p + in.n_d, in.link_gbps, output_tokens_, &lengths, 256};
  const auto best = best_threshold(p, in.n_p);
  const auto now = evaluate(prfaas_, pd_, {in.n_prfaas, in.n_p, in.n_d, in.link_gbps, output_tokens_}, lengths, threshold_);
  if (best.lambda_max <= now.lambda_max * (1 + options_.min_gain)) return std::nullopt;
  threshold_ = best.threshold;
  return threshold_;
}

}  // namespace prfaas::policy
