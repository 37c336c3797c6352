#include "tools/bench/kld.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln::bench {

absl::StatusOr<std::vector<double>> LogSoftmax(std::span<const float> logits) {
  if (logits.empty()) return absl::InvalidArgumentError("an empty row of logits");
  double max = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit ", i, " is ", static_cast<double>(logits[i])));
    }
    max = std::max(max, static_cast<double>(logits[i]));
  }
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  const double log_norm = max + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_norm;
  return out;
}

int64_t ArgMax(std::span<const float> logits) {
  if (logits.empty()) return -1;
  return std::max_element(logits.begin(), logits.end()) - logits.begin();
}

absl::StatusOr<PositionScore> ScorePosition(std::span<const float> base,
                                            std::span<const float> engine, int32_t next) {
  if (base.size() != engine.size()) {
    return absl::InvalidArgumentError(absl::StrCat("rows of ", base.size(), " and ", engine.size(),
                                                   " logits (different vocabularies?)"));
  }
  if (next < 0 || static_cast<size_t>(next) >= base.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("next token ", next, " is outside a vocabulary of ", base.size()));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<double> log_p, LogSoftmax(base));
  KILN_ASSIGN_OR_RETURN(std::vector<double> log_q, LogSoftmax(engine));
  PositionScore s;
  for (size_t i = 0; i < log_p.size(); ++i) {
    s.kld += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
  }
  // Rounding can leave a tiny negative sum for identical distributions.
  s.kld = std::max(s.kld, 0.0);
  s.same_top1 = ArgMax(base) == ArgMax(engine);
  s.base_nll = -log_p[static_cast<size_t>(next)];
  s.nll = -log_q[static_cast<size_t>(next)];
  return s;
}

void QualityAccumulator::Add(const PositionScore& score) {
  klds_.push_back(score.kld);
  same_top1_ += score.same_top1 ? 1 : 0;
  base_nll_sum_ += score.base_nll;
  nll_sum_ += score.nll;
}

QualitySummary QualityAccumulator::Summary() const {
  QualitySummary s;
  const int64_t n = static_cast<int64_t>(klds_.size());
  if (n == 0) return s;
  s.positions = n;
  double sum = 0, sum_sq = 0;
  for (double k : klds_) {
    sum += k;
    sum_sq += k * k;
    s.max_kld = std::max(s.max_kld, k);
  }
  s.mean_kld = sum / n;
  if (n > 1) {
    const double var = std::max(0.0, (sum_sq - sum * s.mean_kld) / (n - 1));
    s.mean_kld_stderr = std::sqrt(var / n);
  }
  s.p99_kld = Quantile(klds_, 0.99);
  const double p = static_cast<double>(same_top1_) / n;
  s.same_top1_pct = 100 * p;
  if (n > 1) s.same_top1_pct_stderr = 100 * std::sqrt(p * (1 - p) / (n - 1));
  s.base_ppl = std::exp(base_nll_sum_ / n);
  s.ppl = std::exp(nll_sum_ / n);
  return s;
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double at = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (at - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

}  // namespace kiln::bench
