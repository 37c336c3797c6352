#include "runtime/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/counter_rng.h"
#include "base/status_macros.h"

namespace kiln {
namespace {

// Transformers' RepetitionPenaltyLogitsProcessor: a logit of a token seen
// before is divided by the penalty when positive, multiplied when negative.
void ApplyRepetitionPenalty(std::vector<double>& logits, std::span<const int32_t> history,
                            double penalty) {
  if (penalty == 1.0) return;
  std::vector<bool> seen(logits.size(), false);
  for (int32_t id : history) {
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) seen[id] = true;
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    if (seen[i]) logits[i] = logits[i] > 0 ? logits[i] / penalty : logits[i] * penalty;
  }
}

// Keeps tokens by the warpers' rules, returning probabilities (zeros for
// removed tokens) that sum to 1:
//   top_k: the k largest logits;
//   top_p: the smallest set, by descending probability, whose mass reaches
//          top_p (the most likely token always stays);
//   min_p: tokens whose probability is at least min_p times the largest.
std::vector<double> WarpedProbabilities(const std::vector<double>& logits,
                                        const GenerationConfig& c) {
  size_t n = logits.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  size_t keep = n;
  if (c.top_k > 0) keep = std::min(keep, static_cast<size_t>(c.top_k));
  std::vector<double> p(n, 0.0);
  double max = logits[order[0]], sum = 0.0;
  for (size_t i = 0; i < keep; ++i) sum += (p[order[i]] = std::exp(logits[order[i]] - max));
  for (size_t i = 0; i < keep; ++i) p[order[i]] /= sum;
  if (c.top_p < 1.0) {
    double mass = 0.0;
    size_t i = 0;
    for (; i < keep; ++i) {
      mass += p[order[i]];
      if (mass >= c.top_p) break;
    }
    keep = std::min(keep, i + 1);
  }
  if (c.min_p > 0.0) {
    double floor = c.min_p * p[order[0]];
    size_t i = 1;
    while (i < keep && p[order[i]] >= floor) ++i;
    keep = i;
  }
  sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (i >= keep) p[order[i]] = 0.0;
    sum += p[order[i]];
  }
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace

double CounterUniform(uint64_t seed, uint64_t counter) {
  return CounterUniformDraw(seed, counter);
}

absl::StatusOr<std::vector<double>> TokenDistribution(std::span<const float> logits,
                                                      const GenerationConfig& c,
                                                      std::span<const int32_t> history) {
  if (logits.empty()) return absl::InvalidArgumentError("no logits to sample from");
  std::vector<double> x(logits.begin(), logits.end());
  for (double v : x) {
    if (std::isnan(v)) {
      return absl::DataLossError("the model produced NaN logits; the request was stopped");
    }
  }
  ApplyRepetitionPenalty(x, history, c.repetition_penalty);
  if (!c.do_sample) {
    std::vector<double> one_hot(x.size(), 0.0);
    one_hot[static_cast<size_t>(std::max_element(x.begin(), x.end()) - x.begin())] = 1.0;
    return one_hot;
  }
  for (double& v : x) v /= c.temperature;
  return WarpedProbabilities(x, c);
}

int32_t DrawFromDistribution(std::span<const double> p, double u) {
  double cumulative = 0.0;
  int32_t last_kept = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0.0) continue;
    last_kept = static_cast<int32_t>(i);
    cumulative += p[i];
    if (u < cumulative) return last_kept;
  }
  return last_kept;  // rounding left u above the total
}

absl::StatusOr<int32_t> GreedyToken(std::span<const float> logits, const GenerationConfig& c,
                                    std::span<const int32_t> history) {
  if (logits.empty()) return absl::InvalidArgumentError("no logits to sample from");
  if (c.repetition_penalty != 1.0) {
    GenerationConfig greedy = c;
    greedy.do_sample = false;
    KILN_ASSIGN_OR_RETURN(std::vector<double> one_hot, TokenDistribution(logits, greedy, history));
    return DrawFromDistribution(one_hot, 0.0);
  }
  // The first maximum, as std::max_element over the doubles would pick.
  size_t best = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) {
      return absl::DataLossError("the model produced NaN logits; the request was stopped");
    }
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

absl::StatusOr<int32_t> SampleToken(std::span<const float> logits, const GenerationConfig& c,
                                    std::span<const int32_t> history, uint64_t step) {
  if (!c.do_sample) return GreedyToken(logits, c, history);
  KILN_ASSIGN_OR_RETURN(std::vector<double> p, TokenDistribution(logits, c, history));
  return DrawFromDistribution(p, CounterUniform(c.seed, step));
}

}  // namespace kiln
