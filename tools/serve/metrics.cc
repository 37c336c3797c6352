#include "tools/serve/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln {
namespace {

// Latency buckets in seconds: a millisecond decode step on a GPU to a long
// prefill behind a queue on a CPU.
std::vector<double> LatencyBounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::string Number(double v) { return absl::StrFormat("%.9g", v); }

}  // namespace

void Histogram::Observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                       bounds_.begin());
  ++counts_[i];
  sum_ += value;
  ++count_;
}

std::string Histogram::Render(const std::string& name) const {
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, name, "_bucket{le=\"", Number(bounds_[i]), "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", count_, "\n");
  absl::StrAppend(&out, name, "_sum ", Number(sum_), "\n", name, "_count ", count_, "\n");
  return out;
}

ServerMetrics::ServerMetrics()
    : first_token_(LatencyBounds()), inter_token_(LatencyBounds()), request_(LatencyBounds()) {}

void ServerMetrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
}

void ServerMetrics::CountTokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(prompt);
  generated_tokens_ += static_cast<uint64_t>(generated);
}

void ServerMetrics::CountSpeculation(int64_t drafted, int64_t accepted) {
  std::lock_guard<std::mutex> lock(mutex_);
  drafted_tokens_ += static_cast<uint64_t>(drafted);
  accepted_tokens_ += static_cast<uint64_t>(accepted);
}

void ServerMetrics::ObserveFirstToken(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  first_token_.Observe(seconds);
}

void ServerMetrics::ObserveInterToken(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  inter_token_.Observe(seconds);
}

void ServerMetrics::ObserveRequest(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  request_.Observe(seconds);
}

std::string ServerMetrics::Render(const std::vector<Gauge>& gauges) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out =
      "# HELP kiln_requests_total HTTP requests answered, by endpoint and status code.\n"
      "# TYPE kiln_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    absl::StrAppend(&out, "kiln_requests_total{endpoint=\"", key.first, "\",status=\"", key.second,
                    "\"} ", n, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP kiln_prompt_tokens_total Prompt tokens of the requests served.\n"
                  "# TYPE kiln_prompt_tokens_total counter\nkiln_prompt_tokens_total ",
                  prompt_tokens_, "\n",
                  "# HELP kiln_generation_tokens_total Tokens generated.\n"
                  "# TYPE kiln_generation_tokens_total counter\nkiln_generation_tokens_total ",
                  generated_tokens_, "\n",
                  "# HELP kiln_speculative_drafted_tokens_total Tokens prompt lookup drafted "
                  "and the model verified.\n"
                  "# TYPE kiln_speculative_drafted_tokens_total counter\n"
                  "kiln_speculative_drafted_tokens_total ",
                  drafted_tokens_, "\n",
                  "# HELP kiln_speculative_accepted_tokens_total Drafted tokens the model "
                  "kept.\n"
                  "# TYPE kiln_speculative_accepted_tokens_total counter\n"
                  "kiln_speculative_accepted_tokens_total ",
                  accepted_tokens_, "\n");
  for (const Gauge& g : gauges) {
    absl::StrAppend(&out, "# HELP ", g.name, " ", g.help, "\n# TYPE ", g.name, " gauge\n", g.name,
                    " ", Number(g.value), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP kiln_time_to_first_token_seconds From a request's arrival to its "
                  "first generated token.\n# TYPE kiln_time_to_first_token_seconds histogram\n",
                  first_token_.Render("kiln_time_to_first_token_seconds"),
                  "# HELP kiln_inter_token_latency_seconds Between a request's consecutive "
                  "generated tokens.\n# TYPE kiln_inter_token_latency_seconds histogram\n",
                  inter_token_.Render("kiln_inter_token_latency_seconds"),
                  "# HELP kiln_request_duration_seconds From a generate request's arrival to "
                  "its end.\n# TYPE kiln_request_duration_seconds histogram\n",
                  request_.Render("kiln_request_duration_seconds"));
  return out;
}

}  // namespace kiln
