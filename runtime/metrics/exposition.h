#pragma once
// Prometheus's text exposition format (version 0.0.4), written by hand because it is a handful
// of lines: a family is "# HELP", "# TYPE", then its samples; a histogram's samples are its
// cumulative buckets (le), _sum and _count.  Names are checked here (a bad name is our bug, not
// the scraper's problem): [a-zA-Z_:][a-zA-Z0-9_:]*, counters end in _total, each family once.
//
//   metrics::exposition page;
//   page.family("prfaas_requests_total", metrics::kind::counter, "Requests ended, by path and outcome.");
//   page.sample({{"path", "prfaas"}, {"outcome", "completed"}}, 12);
//   page.family("prfaas_ttft_seconds", metrics::kind::histogram, "Time to first token.");
//   page.observed({}, ttft);      // a metrics::histogram
//   std::string text = page.str();
//
// Units are base units (seconds, bytes, ratios), as Prometheus's conventions ask.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace prfaas::metrics {

using labels = std::vector<std::pair<std::string, std::string>>;

enum class kind { counter, gauge, histogram };

// Fixed buckets (upper bounds, ascending; +Inf is implied), counts per bucket, sum and count.
// Not thread-safe: its owner (an actor, one thread) observes and renders.
class histogram {
 public:
  explicit histogram(std::vector<double> bounds);
  void observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<uint64_t>& counts() const { return counts_; }  // per bucket; the last is +Inf
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Buckets for latencies from a millisecond to ten minutes, about three per decade.
std::vector<double> latency_buckets();

class exposition {
 public:
  // Starts a family; its samples follow.  Throws failure(internal) on a bad or repeated name.
  void family(const std::string& name, kind k, const std::string& help);
  void sample(const labels& l, double value);              // counter or gauge
  void observed(const labels& l, const histogram& h);      // histogram
  const std::string& str() const { return text_; }

 private:
  std::string current_;
  kind kind_ = kind::gauge;
  std::set<std::string> names_;
  std::string text_;
};

// A label value as the format wants it: backslash, double quote and newline escaped.
std::string escape_label(const std::string& value);

// A page read back (a scrape, for tests and benches): each sample by its name and labels as the
// page writes them ("prfaas_cache_bytes{node=\"decode-0\"}"), its value.  Comments and blank
// lines are skipped, and so is a line without a value.
std::map<std::string, double> read_samples(const std::string& text);

}  // namespace prfaas::metrics
