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

std::vector<request> generate(const scenario& s, int n, double rate, uint64_t seed) {
  PRFAAS_REQUIRE(rate > 0 && n > 0, "workload needs a positive rate and count");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  const auto lengths = policy::length_distribution::truncated_lognormal(s.mu, s.sigma, s.min_tokens, s.max_tokens);
  // On/off: the same mean rate, compressed into the "on" windows.
  const bool bursty = s.arrival == "onoff";
  const double duty = bursty ? s.on_s / (s.on_s + s.off_s) : 1.0;
  std::exponential_distribution<double> gap(rate / duty);
  std::vector<request> out(static_cast<size_t>(n));
  double busy_time = 0;  // time inside "on" windows
  for (auto& r : out) {
    busy_time += gap(rng);
    r.arrival_s = bursty ? std::floor(busy_time / s.on_s) * (s.on_s + s.off_s) + std::fmod(busy_time, s.on_s) : busy_time;
    // Inverse CDF with interpolation inside the discretised support: lengths are whole tokens.
    r.input_tokens = std::max(1, static_cast<int>(std::lround(lengths.quantile(u(rng)))));
    r.output_tokens = static_cast<int>(s.output_tokens);
  }
  return out;
}

}  // namespace prfaas::sim
