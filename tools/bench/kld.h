// Quantization quality as llama.cpp's perplexity tool reports it
// (--kl-divergence): per scored position, the KL divergence of an engine's
// next-token distribution from the base (float) engine's, whether the two
// agree on the most likely token, and each side's negative log-likelihood
// of the token that actually follows; summed over positions into mean KLD
// (with its standard error), the 99th percentile of KLD, same-top-1 % and
// both perplexities.
//
// Maths, all in double:
//   log p_i = x_i - max(x) - log sum_j exp(x_j - max(x))    (log-softmax)
//   KLD(P || Q) = sum_i p_i (log p_i - log q_i)             (P = base)
//   perplexity = exp(mean over positions of -log p_next)
#ifndef KILN_TOOLS_BENCH_KLD_H_
#define KILN_TOOLS_BENCH_KLD_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::bench {

// Log-softmax of one row of logits. InvalidArgument for an empty row or a
// NaN/infinite logit (a broken engine, not a distribution).
absl::StatusOr<std::vector<double>> LogSoftmax(std::span<const float> logits);

// Index of the largest logit (the first on ties); -1 for an empty row.
int64_t ArgMax(std::span<const float> logits);

// One scored position.
struct PositionScore {
  double kld = 0;         // KLD(base || engine), >= 0
  bool same_top1 = false;  // argmax(base) == argmax(engine)
  double base_nll = 0;    // -log p_base(next)
  double nll = 0;         // -log p_engine(next)
};

// Scores one position from both engines' logits for it and the id of the
// token that follows. InvalidArgument when the rows differ in length, are
// not distributions (LogSoftmax), or `next` is outside them.
absl::StatusOr<PositionScore> ScorePosition(std::span<const float> base,
                                            std::span<const float> engine, int32_t next);

// Summary over positions. Standard errors as llama.cpp states them: the
// sample standard deviation over sqrt(n) for mean KLD, sqrt(p (1 - p) /
// (n - 1)) for the same-top-1 fraction.
struct QualitySummary {
  int64_t positions = 0;
  double mean_kld = 0;
  double mean_kld_stderr = 0;
  double p99_kld = 0;  // 99th percentile, linear between order statistics
  double max_kld = 0;
  double same_top1_pct = 0;
  double same_top1_pct_stderr = 0;
  double base_ppl = 0;
  double ppl = 0;
};

// Collects PositionScores of one engine against the base.
class QualityAccumulator {
 public:
  void Add(const PositionScore& score);
  // All zeros when nothing was added.
  QualitySummary Summary() const;

 private:
  std::vector<double> klds_;
  int64_t same_top1_ = 0;
  double base_nll_sum_ = 0;
  double nll_sum_ = 0;
};

// The q-quantile (0 <= q <= 1) of `values` (sorted here), interpolating
// linearly between the two nearest order statistics (numpy's default);
// 0 for an empty set.
double Quantile(std::vector<double> values, double q);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_KLD_H_
