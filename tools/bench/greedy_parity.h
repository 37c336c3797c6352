// Greedy decoding of a real-shape model against Transformers under
// TESTING.md's real-model rule (vLLM's check_logprobs_close): each prompt
// is decoded greedily for N tokens by both; the runs may differ, but at the
// first position where they do, each side's token must be among the other
// side's top-5 there, and the comparison of that prompt stops. A bf16
// engine and Transformers round differently, so near-ties may flip; a
// token outside the other's top-5 is a bug.
//
// Traces are JSON: {"source": "...", "runs": [{"prompt": [ids],
// "tokens": [N ids], "top": [[top-k ids at step 0, best first], ...],
// "top_logits": [[their logits], ...]}]}; "top_logits" is optional (kept
// for judging near-ties at a divergence, never used by the rule)..
// tools/bench/hf_greedy_trace.py writes Transformers' side;
// kiln-greedy-parity (greedy_parity_main.cc) writes Kiln's and compares.
#ifndef KILN_TOOLS_BENCH_GREEDY_PARITY_H_
#define KILN_TOOLS_BENCH_GREEDY_PARITY_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::bench {

inline constexpr int kParityTopK = 5;

// One prompt's greedy run: the token chosen at each step and the top-k ids
// (best first) of the logits it was chosen from, and optionally those ids'
// logits (empty when the trace has none).
struct GreedyRun {
  std::vector<int32_t> prompt;
  std::vector<int32_t> tokens;
  std::vector<std::vector<int32_t>> top;
  std::vector<std::vector<float>> top_logits;
};

struct GreedyTrace {
  std::string source;
  std::vector<GreedyRun> runs;
};

absl::StatusOr<GreedyTrace> ParseGreedyTrace(const std::string& text);
std::string GreedyTraceJson(const GreedyTrace& trace);

// The top-k ids of `logits`, best first; ties by the lower id (the device
// argmax's rule); a NaN ranks last.
std::vector<int32_t> TopK(std::span<const float> logits, int k);

// The rule's verdict for one prompt.
struct ParityVerdict {
  bool ok = false;
  int64_t matched = 0;    // equal tokens before the first difference
  int64_t diverged = -1;  // that step, or -1
  std::string detail;     // one line for the log
};

// `kiln` and `reference` must have run the same prompt for the same number
// of steps, each step with at least kParityTopK ids.
absl::StatusOr<ParityVerdict> CompareGreedy(const GreedyRun& kiln, const GreedyRun& reference);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_GREEDY_PARITY_H_
