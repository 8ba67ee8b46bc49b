#include "runtime/sim/workload.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include "runtime/common/errc.h"
#include "runtime/policy/length_distribution.h"
#include "runtime/sim/prefix_cache.h"

namespace prfaas::sim {

std::vector<request> load_trace(const std::string& path, size_t limit) {
  std::ifstream in(path);
  if (!in) throw failure(errc::bad_config, "cannot read trace '" + path + "'");
  std::vector<request> out;
  std::string line;
  for (size_t n = 1; out.size() < limit && std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      request r;
      r.arrival_s = j.at("timestamp").get<double>() / 1000.0;
      r.input_tokens = j.at("input_length").get<int>();
      r.output_tokens = std::max(1, j.at("output_length").get<int>());
      r.blocks = j.at("hash_ids").get<std::vector<uint32_t>>();
      if (r.input_tokens < 1) throw std::runtime_error("input_length must be positive");
      out.push_back(std::move(r));
    } catch (const std::exception& e) {
      throw failure(errc::bad_config, path + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  if (out.empty()) throw failure(errc::bad_config, "trace '" + path + "' holds no requests");
  return out;
}

int reusable_blocks(const request& r, int block_tokens) {
  return std::min<int>(static_cast<int>(r.blocks.size()), (r.input_tokens - 1) / block_tokens);
}

std::vector<double> uncached_lengths(const std::vector<request>& requests, long cache_blocks, int block_tokens,
                                     cache_shape shape) {
  prefix_cache cache(cache_blocks, shape);
  std::vector<double> out;
  out.reserve(requests.size());
  for (const auto& r : requests) {
    const int hit = std::min(r.input_tokens - 1, cache.match(r.blocks) * block_tokens);
    out.push_back(r.input_tokens - hit);
    cache.insert(r.blocks, reusable_blocks(r, block_tokens));
  }
  return out;
}

// One request after another from the scenario's distributions, in a fixed order of draws (the
// gap, then the length), so the same seed gives the same requests however they are consumed.
struct generated_source::draw {
  draw(const scenario& s, double rate, uint64_t seed)
      : rng(seed),
        lengths(policy::length_distribution::truncated_lognormal(s.mu, s.sigma, s.min_tokens, s.max_tokens)),
        bursty(s.arrival == "onoff"),
        on_s(s.on_s),
        cycle_s(s.on_s + s.off_s),
        output_tokens(static_cast<int>(s.output_tokens)),
        // On/off: the same mean rate, compressed into the "on" windows.
        gap(rate / (bursty ? s.on_s / (s.on_s + s.off_s) : 1.0)) {}
  double arrival(double busy_time) const {
    return bursty ? std::floor(busy_time / on_s) * cycle_s + std::fmod(busy_time, on_s) : busy_time;
  }
  // The draws of one request without its length: where the next arrival falls.
  double advance() {
    busy_time += gap(rng);
    u(rng);
    return arrival(busy_time);
  }
  void make(request& r) {
    busy_time += gap(rng);
    r.arrival_s = arrival(busy_time);
    // Inverse CDF with interpolation inside the discretised support: lengths are whole tokens.
    r.input_tokens = std::max(1, static_cast<int>(std::lround(lengths.quantile(u(rng)))));
    r.output_tokens = output_tokens;
    r.blocks.clear();
  }
  std::mt19937_64 rng;
  std::uniform_real_distribution<double> u{0, 1};
  policy::length_distribution lengths;
  bool bursty;
  double on_s, cycle_s;
  int output_tokens;
  std::exponential_distribution<double> gap;
  double busy_time = 0;  // time inside "on" windows
};

generated_source::generated_source(const scenario& s, long n, double rate, uint64_t seed) : n_(n) {
  PRFAAS_REQUIRE(rate > 0 && n > 0, "workload needs a positive rate and count");
  draw_ = std::make_unique<draw>(s, rate, seed);
  draw dry(s, rate, seed);  // the same draws, only to find where the last arrival falls
  for (long i = 0; i < n; ++i) last_arrival_ = dry.advance();
}

generated_source::~generated_source() = default;

bool generated_source::next(request& out) {
  if (made_ >= n_) return false;
  draw_->make(out);
  ++made_;
  return true;
}

bool vector_source::next(request& out) {
  if (next_ >= requests_.size()) return false;
  out = requests_[next_++];
  return true;
}

std::vector<request> generate(const scenario& s, int n, double rate, uint64_t seed) {
  generated_source source(s, n, rate, seed);
  std::vector<request> out(static_cast<size_t>(n));
  for (auto& r : out) source.next(r);
  return out;
}

}  // namespace prfaas::sim
