// Prometheus's text format as the metrics pages write it: families, samples, escaped labels,
// cumulative histogram buckets, and names the format or its conventions refuse.

#include <catch2/catch.hpp>

#include "runtime/common/errc.h"
#include "runtime/metrics/exposition.h"

using namespace prfaas;
using namespace prfaas::metrics;

TEST_CASE("a family is its help and type lines, then its samples with their labels") {
  exposition page;
  page.family("prfaas_requests_total", kind::counter, "Requests ended.");
  page.sample({{"path", "prfaas"}, {"outcome", "completed"}}, 12);
  page.sample({}, 0.25);
  page.family("prfaas_threshold_tokens", kind::gauge, "t now.");
  page.sample({}, 19613);
  CHECK(page.str() ==
        "# HELP prfaas_requests_total Requests ended.\n"
        "# TYPE prfaas_requests_total counter\n"
        "prfaas_requests_total{path=\"prfaas\",outcome=\"completed\"} 12\n"
        "prfaas_requests_total 0.25\n"
        "# HELP prfaas_threshold_tokens t now.\n"
        "# TYPE prfaas_threshold_tokens gauge\n"
        "prfaas_threshold_tokens 19613\n");
}

TEST_CASE("label values escape backslashes, quotes and newlines") {
  CHECK(escape_label("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  exposition page;
  page.family("x", kind::gauge, "help with a\nnewline");
  page.sample({{"node", "say \"hi\""}}, 1);
  CHECK(page.str() == "# HELP x help with a\\nnewline\n# TYPE x gauge\nx{node=\"say \\\"hi\\\"\"} 1\n");
}

TEST_CASE("a histogram's buckets are cumulative, end at +Inf, and come with _sum and _count") {
  histogram h({0.1, 1});
  h.observe(0.05);
  h.observe(0.1);   // on a bound: counted in that bucket (le is inclusive)
  h.observe(0.5);
  h.observe(7);
  CHECK(h.count() == 4);
  CHECK(h.sum() == Approx(7.65));
  exposition page;
  page.family("prfaas_ttft_seconds", kind::histogram, "TTFT.");
  page.observed({{"path", "local"}}, h);
  CHECK(page.str() ==
        "# HELP prfaas_ttft_seconds TTFT.\n"
        "# TYPE prfaas_ttft_seconds histogram\n"
        "prfaas_ttft_seconds_bucket{path=\"local\",le=\"0.1\"} 2\n"
        "prfaas_ttft_seconds_bucket{path=\"local\",le=\"1\"} 3\n"
        "prfaas_ttft_seconds_bucket{path=\"local\",le=\"+Inf\"} 4\n"
        "prfaas_ttft_seconds_sum{path=\"local\"} 7.65\n"
        "prfaas_ttft_seconds_count{path=\"local\"} 4\n");
}

TEST_CASE("bad names, counters without _total and repeated families are refused as our bugs") {
  exposition page;
  CHECK_THROWS_AS(page.family("9lives", kind::gauge, ""), failure);
  CHECK_THROWS_AS(page.family("has-dash", kind::gauge, ""), failure);
  CHECK_THROWS_AS(page.family("prfaas_requests", kind::counter, ""), failure);
  page.family("prfaas_up", kind::gauge, "");
  CHECK_THROWS_AS(page.family("prfaas_up", kind::gauge, ""), failure);
  CHECK_THROWS_AS(page.sample({{"bad label", "x"}}, 1), failure);
  CHECK_THROWS_AS(page.sample({{"__reserved", "x"}}, 1), failure);
}

TEST_CASE("a page read back gives each sample by its name and labels, comments skipped") {
  exposition page;
  page.family("prfaas_messages_total", kind::counter, "Messages.");
  page.sample({{"direction", "in"}}, 12);
  page.sample({{"direction", "out"}}, 7.5);
  page.family("prfaas_up", kind::gauge, "Up.");
  page.sample({}, 1);
  const auto s = read_samples(page.str() + "\nnovalue\n");
  CHECK(s.size() == 3);
  CHECK(s.at("prfaas_messages_total{direction=\"in\"}") == 12);
  CHECK(s.at("prfaas_messages_total{direction=\"out\"}") == 7.5);
  CHECK(s.at("prfaas_up") == 1);
}
