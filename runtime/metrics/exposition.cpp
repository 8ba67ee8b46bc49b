#include "runtime/metrics/exposition.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "runtime/common/errc.h"

namespace prfaas::metrics {
namespace {

bool valid_name(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Shortest text that reads back as the same double; integers without a fraction.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else {
    for (int digits = 6; digits <= 17; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*g", digits, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
  }
  return buf;
}

std::string render(const labels& l, const std::pair<std::string, std::string>* extra = nullptr) {
  if (l.empty() && !extra) return "";
  std::string out = "{";
  auto add = [&](const std::pair<std::string, std::string>& kv) {
    if (!valid_name(kv.first) || kv.first.rfind("__", 0) == 0)
      throw failure(errc::internal, "metrics: bad label name '" + kv.first + "'");
    if (out.size() > 1) out += ',';
    out += kv.first + "=\"" + escape_label(kv.second) + "\"";
  };
  for (const auto& kv : l) add(kv);
  if (extra) add(*extra);
  return out + "}";
}

}  // namespace

histogram::histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  PRFAAS_ASSERT(std::is_sorted(bounds_.begin(), bounds_.end()));
}

void histogram::observe(double value) {
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[static_cast<size_t>(at)];
  sum_ += value;
  ++count_;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 600};
}

std::string escape_label(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void exposition::family(const std::string& name, kind k, const std::string& help) {
  if (!valid_name(name)) throw failure(errc::internal, "metrics: bad metric name '" + name + "'");
  if (k == kind::counter && !ends_with(name, "_total"))
    throw failure(errc::internal, "metrics: counter '" + name + "' must end in _total");
  if (!names_.insert(name).second) throw failure(errc::internal, "metrics: family '" + name + "' written twice");
  current_ = name;
  kind_ = k;
  std::string h;
  for (const char c : help) h += c == '\n' ? std::string("\\n") : c == '\\' ? std::string("\\\\") : std::string(1, c);
  text_ += "# HELP " + name + " " + h + "\n";
  text_ += "# TYPE " + name + " " + (k == kind::counter ? "counter" : k == kind::gauge ? "gauge" : "histogram") + "\n";
}

void exposition::sample(const labels& l, double value) {
  PRFAAS_ASSERT(!current_.empty() && kind_ != kind::histogram);
  text_ += current_ + render(l) + " " + number(value) + "\n";
}

void exposition::observed(const labels& l, const histogram& h) {
  PRFAAS_ASSERT(!current_.empty() && kind_ == kind::histogram);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= h.bounds().size(); ++i) {
    cumulative += h.counts()[i];
    const std::pair<std::string, std::string> le{"le", i < h.bounds().size() ? number(h.bounds()[i]) : "+Inf"};
    text_ += current_ + "_bucket" + render(l, &le) + " " + number(static_cast<double>(cumulative)) + "\n";
  }
  text_ += current_ + "_sum" + render(l) + " " + number(h.sum()) + "\n";
  text_ += current_ + "_count" + render(l) + " " + number(static_cast<double>(h.count())) + "\n";
}

std::map<std::string, double> read_samples(const std::string& text) {
  std::map<std::string, double> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

}  // namespace prfaas::metrics
