// kiln-serve's counters and latency histograms, in Prometheus' text format.
#ifndef KILN_TOOLS_SERVE_METRICS_H_
#define KILN_TOOLS_SERVE_METRICS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

// A cumulative histogram with fixed upper bounds (seconds), as Prometheus
// clients keep one: counts[i] holds the observations <= bounds[i], plus
// +Inf, sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void Observe(double value);
  // `name`'s _bucket, _sum and _count lines.
  std::string Render(const std::string& name) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); last: +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// What /metrics reports. Thread-safe: HTTP handlers record, a scrape
// renders.
class ServerMetrics {
 public:
  ServerMetrics();

  // A finished HTTP request to `endpoint` (e.g. "/v1/completions") with
  // its status code.
  void CountRequest(const std::string& endpoint, int status);
  void CountTokens(int64_t prompt, int64_t generated);
  // A finished request's speculative decoding: tokens drafted, and kept.
  void CountSpeculation(int64_t drafted, int64_t accepted);
  void ObserveFirstToken(double seconds);
  void ObserveInterToken(double seconds);
  void ObserveRequest(double seconds);

  // The whole exposition; `gauges` are current values (queue depth, busy
  // slots) named and described by the caller: {name, help, value}.
  struct Gauge {
    std::string name;
    std::string help;
    double value;
  };
  std::string Render(const std::vector<Gauge>& gauges) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  uint64_t drafted_tokens_ = 0;
  uint64_t accepted_tokens_ = 0;
  Histogram first_token_;
  Histogram inter_token_;
  Histogram request_;
};

}  // namespace kiln

#endif  // KILN_TOOLS_SERVE_METRICS_H_
