// Speculative decoding's acceptance step: which drafted tokens the target
// keeps, and the token it adds after them. Lossless: greedy output equals
// the target's own greedy output, and sampled output has the target's
// distribution (Leviathan, Kalman and Matias 2023, "Fast Inference from
// Transformers via Speculative Decoding", algorithm 1).
#ifndef KILN_RUNTIME_GENERATE_ACCEPTANCE_H_
#define KILN_RUNTIME_GENERATE_ACCEPTANCE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/generate/generation_config.h"

namespace kiln {

// The counter-based draws of a speculative request (sampler.h's
// CounterUniform(seed, counter)), so a seed reproduces the output whatever
// the rounds were. Generated token `index` (0-based within the request)
// owns counter `index` itself, the plain loop's draw (SampleToken's
// `step`), and, against a sampling drafter, the counters
// 2^63 + 4 * index + stream, which no plain draw uses.
enum class SpeculativeStream : uint64_t {
  kDraft = 1,     // the drafter's draw of the token
  kAccept = 2,    // the acceptance test of a drafted token
  kResidual = 3,  // the target's draw after a rejection, or the bonus token
};
inline uint64_t SpeculativeCounter(uint64_t index, SpeculativeStream stream) {
  return (uint64_t{1} << 63) | (4 * index + static_cast<uint64_t>(stream));
}

// Tokens proposed to continue a sequence.
struct Draft {
  std::vector<int32_t> tokens;
  // The distribution each token was drawn from (the drafter's logits
  // through the request's whole warper chain: sampler.h TokenDistribution),
  // when the drafter sampled. Empty: the drafter is deterministic (prompt
  // lookup, a greedy assistant), i.e. q is one-hot at each token, as
  // Transformers treats prompt lookup under sampling.
  std::vector<std::vector<double>> q;
};

struct Verdict {
  int accepted = 0;  // leading draft tokens kept
  int32_t next = 0;  // the target's token after them, when `error` is OK
  // Not OK when the logits after the kept tokens hold a NaN (DataLoss, as
  // SampleToken's): those tokens stand, and the sequence can go no further.
  absl::Status error;
};

// The rule AcceptDraft applies; the exact one unless a test checks that a
// wrong rule is caught (the distribution test's mutation check).
enum class AcceptRule { kExact, kAlwaysAcceptForTesting };

// `logits` ([k + 1, vocab] floats, row-major) are the target's logits at
// the draft's positions: row i < k predicts draft token i, row k the token
// after the whole draft. `history` holds the tokens before the draft (for
// the repetition penalty; drafted tokens join it as they are accepted);
// `first_index` is the generated index of draft token 0.
//   greedy: the longest prefix equal to the target's argmax, then the
//     target's argmax (a token SampleToken would pick at each step);
//   sampling, deterministic drafter (q one-hot, `draft.q` empty: prompt
//     lookup, as Transformers samples with it): at each position the
//     target draws its own token x_i from p_i with the plain loop's
//     counter (first_index + i), and the draft is kept while d_i == x_i;
//     the first differing x_i, or x_k after a full acceptance, is the next
//     token. d_i is kept with probability p_i(d_i), Leviathan's min(1, p/q)
//     for a one-hot q, and at a rejection x_i is a draw of p_i without d_i,
//     norm(max(0, p - q)). Every token is then the draw plain sampling
//     makes at its index with the same seed: the output is plain
//     sampling's (wherever the verify step's logits are the decode step's);
//   sampling, sampling drafter: token i is kept with probability
//     min(1, p_i(d)/q_i(d)); at the first rejection the next token is drawn
//     from norm(max(0, p - q)); after a full acceptance, from p_k.
// p and q both pass the whole warper chain of `config`. NaN logits end the
// verdict at their position (Verdict::error); malformed arguments are an
// error of the call.
absl::StatusOr<Verdict> AcceptDraft(std::span<const float> logits, int64_t vocab,
                                    const Draft& draft, const GenerationConfig& config,
                                    std::vector<int32_t> history, uint64_t first_index,
                                    AcceptRule rule = AcceptRule::kExact);

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_ACCEPTANCE_H_
