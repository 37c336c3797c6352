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
// "Largest" orders by logit, then by token id among equal logits (a stable
// sort's order), so every rule keeps a prefix of one total order. Only that
// prefix is ever sorted: a 49,152-token vocabulary's full sort cost about
// 7 ms a token, more than a small model's forward step. Without top-k the
// softmax's sum runs in id order, not sorted order, so a probability may
// differ from a full sort's in its last bits, and a top_p equal to a
// cumulative mass within that rounding may keep one token more or fewer.
std::vector<double> WarpedProbabilities(const std::vector<double>& logits,
                                        const GenerationConfig& c) {
  const size_t n = logits.size();
  const auto before = [&](size_t a, size_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  size_t keep = n;
  if (c.top_k > 0 && static_cast<size_t>(c.top_k) < n) {
    keep = static_cast<size_t>(c.top_k);
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep - 1),
                     order.end(), before);
  }
  const bool cut = c.top_p < 1.0 || c.min_p > 0.0;
  size_t sorted = 0;  // order[0, sorted) is in descending order
  const auto sort_prefix = [&](size_t want) {
    want = std::min(want, keep);
    if (want <= sorted) return;
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(want),
                      order.begin() + static_cast<std::ptrdiff_t>(keep), before);
    sorted = want;
  };
  if (keep < n) sort_prefix(keep);
  sort_prefix(1);  // the maximum
  // The candidates' probabilities; their sum in id order (top-k: in
  // descending order, the k being sorted whole).
  std::vector<double> p(n, 0.0);
  const double max = logits[order[0]];
  double sum = 0.0;
  if (keep < n) {
    for (size_t i = 0; i < keep; ++i) sum += (p[order[i]] = std::exp(logits[order[i]] - max));
  } else {
    for (size_t i = 0; i < n; ++i) sum += (p[i] = std::exp(logits[i] - max));
  }
  for (size_t i = 0; i < keep; ++i) p[order[i]] /= sum;
  if (cut) {
    // Sorts a longer prefix until the rules' cut-off falls inside it.
    size_t window = 64;
    sort_prefix(window);
    if (c.top_p < 1.0) {
      double mass = 0.0;
      size_t i = 0;
      for (; i < keep; ++i) {
        if (i == sorted) sort_prefix(window *= 4);
        mass += p[order[i]];
        if (mass >= c.top_p) break;
      }
      keep = std::min(keep, i + 1);
    }
    if (c.min_p > 0.0) {
      const double floor = c.min_p * p[order[0]];
      size_t i = 1;
      for (; i < keep; ++i) {
        if (i == sorted) sort_prefix(window *= 4);
        if (p[order[i]] < floor) break;
      }
      keep = i;
    }
  }
  // Kept tokens renormalised in place; order[keep, n) are exactly the
  // removed ones (order's first keep entries are the kept set), now zero.
  sum = 0.0;
  if (keep == n) {
    for (double v : p) sum += v;
  } else {
    for (size_t i = keep; i < n; ++i) p[order[i]] = 0.0;
    for (size_t i = 0; i < keep; ++i) sum += p[order[i]];
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
