// Speculative decoding's rounds over the rows of a target session: draft,
// verify every row's draft in one target step, accept, append, rewind.
#ifndef KILN_RUNTIME_GENERATE_SPECULATIVE_H_
#define KILN_RUNTIME_GENERATE_SPECULATIVE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "runtime/generate/acceptance.h"
#include "runtime/generate/drafters.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/row_output.h"
#include "runtime/session/row_sessions.h"

namespace kiln {

// One sequence of a speculative loop.
struct SpeculativeRow {
  // Every token of the sequence so far; the target's cache holds all but
  // the last (the row's position is context.size() - 1).
  std::vector<int32_t> context;
  RowOutput* output = nullptr;
  TextCallback stream;     // may be empty
  uint64_t generated = 0;  // tokens generated so far by this request
  bool running = true;
};

struct SpeculativeLimits {
  int64_t verify_tokens = 0;  // the most drafted tokens one target step takes
  int64_t max_seq = 0;        // the target's cache capacity
  // A row whose sampling fails (NaN logits) ends with finish_reason
  // "error" while the others go on (a batch), instead of failing the call.
  bool rows_fail_alone = false;
  AcceptRule rule = AcceptRule::kExact;
};

// The draft length a request starts with and the longest it may reach:
// prompt_lookup_num_tokens for both with prompt lookup, else
// num_assistant_tokens (at most verify_tokens) and verify_tokens.
struct DraftLengths {
  int start = 0;
  int cap = 0;
};
DraftLengths DraftLengthsFor(const GenerationConfig& config, int64_t verify_tokens);

// Runs rounds until no row runs. In a round each running row gets a draft
// of up to its schedule's length (draft_schedule.h; no longer than
// verify_tokens, the tokens
// max_new_tokens leaves after the target's own, and the cache's room); the
// target runs every row's last token and draft in one step; AcceptDraft
// decides; the kept tokens and the target's next token are appended one by
// one with the plain loop's stopping rules (EOS, stop strings,
// max_new_tokens, a full cache), and each row's cache is rewound to hold
// all but its last token. The rows' GenerationResults count drafted and
// accepted tokens and target steps.
absl::Status RunSpeculativeRounds(RowSessions& target, Drafter& drafter,
                                  const GenerationConfig& config, const SpeculativeLimits& limits,
                                  std::span<SpeculativeRow> rows);

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_SPECULATIVE_H_
