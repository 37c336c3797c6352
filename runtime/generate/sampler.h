// Choosing the next token from logits: greedy, or seeded sampling.
#ifndef KILN_RUNTIME_GENERATE_SAMPLER_H_
#define KILN_RUNTIME_GENERATE_SAMPLER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/generate/generation_config.h"

namespace kiln {

// A uniform draw in [0, 1) that depends only on (seed, counter): the same
// request replays the same tokens on any backend, and a GPU sampler can
// compute it without state (a SplitMix64 hash of the pair).
double CounterUniform(uint64_t seed, uint64_t counter);

// Picks the next token from `logits` (one row, [vocab]) for `config`.
// `history` holds the prompt and generated tokens (for the repetition
// penalty); `step` numbers the draw within the request. NaN logits are an
// error (the request fails cleanly rather than emitting garbage).
absl::StatusOr<int32_t> SampleToken(std::span<const float> logits, const GenerationConfig& config,
                                    std::span<const int32_t> history, uint64_t step);

// SampleToken's greedy choice (the argmax after the repetition penalty),
// without building a distribution.
absl::StatusOr<int32_t> GreedyToken(std::span<const float> logits, const GenerationConfig& config,
                                    std::span<const int32_t> history);

// The distribution SampleToken draws from: the logits after the repetition
// penalty, temperature and the warpers, as probabilities summing to 1
// (zeros for the tokens the warpers removed). Greedy configs give the
// one-hot of the argmax (SampleToken's choice). NaN logits: DataLoss.
absl::StatusOr<std::vector<double>> TokenDistribution(std::span<const float> logits,
                                                      const GenerationConfig& config,
                                                      std::span<const int32_t> history);

// The token of `p` a uniform draw `u` in [0, 1) selects: the first id whose
// cumulative probability, in id order, exceeds u (SampleToken's rule).
int32_t DrawFromDistribution(std::span<const double> p, double u);

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_SAMPLER_H_
