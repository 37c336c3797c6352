// Where speculative decoding's candidate tokens come from: prompt lookup
// (n-gram matches in the sequence itself) or an assistant engine that
// shares the target's tokenizer (a smaller model, or the same model at
// lower precision: self-draft).
#ifndef KILN_RUNTIME_GENERATE_DRAFTERS_H_
#define KILN_RUNTIME_GENERATE_DRAFTERS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/generate/acceptance.h"
#include "runtime/generate/generation_config.h"
#include "runtime/session/row_sessions.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln {

// Transformers' prompt lookup (PromptLookupCandidateGenerator): for n from
// `max_ngram` down to 1, the first earlier occurrence in `ids` of its last
// n tokens that is followed by at least one token proposes up to
// `num_tokens` of the tokens after it. Empty when nothing matches.
std::vector<int32_t> PromptLookupCandidates(std::span<const int32_t> ids, int max_ngram,
                                            int num_tokens);

// Proposes drafts for the rows of a speculative loop.
class Drafter {
 public:
  virtual ~Drafter() = default;
  // For each row r: up to max_tokens[r] tokens (none when 0) continuing
  // contexts[r] (all the row's tokens: prompt and generated).
  // first_index[r] is the generated index of the row's next token (it
  // names the row's RNG counters).
  virtual absl::StatusOr<std::vector<Draft>> Propose(std::span<const std::vector<int32_t>> contexts,
                                                     std::span<const int> max_tokens,
                                                     std::span<const uint64_t> first_index,
                                                     const GenerationConfig& config) = 0;

  // Brings the drafter up to `contexts` but each one's last token, so the
  // first Propose runs no prompt (a generator calls it in its prefill).
  virtual absl::Status Prime(std::span<const std::vector<int32_t>> contexts) {
    (void)contexts;
    return absl::OkStatus();
  }
  // True when a proposal runs no model (it costs nothing), so the loop may
  // ask for one it does not verify: to see whether drafting would pay.
  virtual bool free() const { return false; }
};

// Prompt lookup with the config's max_matching_ngram_size; stateless.
class PromptLookupDrafter : public Drafter {
 public:
  absl::StatusOr<std::vector<Draft>> Propose(std::span<const std::vector<int32_t>> contexts,
                                             std::span<const int> max_tokens,
                                             std::span<const uint64_t> first_index,
                                             const GenerationConfig& config) override;
  bool free() const override { return true; }
};

// An assistant engine's sessions drafting token by token: greedily, or
// when the request samples, by sampling its own warped distribution q
// (kept for the acceptance test). A row stops drafting after a token whose
// assistant probability is below assistant_confidence_threshold. The
// sessions (one per row) must outlive the drafter; each keeps the tokens it
// has run and, on Propose, rewinds to the longest prefix it shares with
// the row's context and runs the rest, so rejected drafts cost nothing to
// undo. A row whose context leaves no room in the assistant's cache
// (`capacity`) gets no draft.
class AssistantDrafter : public Drafter {
 public:
  AssistantDrafter(RowSessions& sessions, int64_t capacity);

  absl::StatusOr<std::vector<Draft>> Propose(std::span<const std::vector<int32_t>> contexts,
                                             std::span<const int> max_tokens,
                                             std::span<const uint64_t> first_index,
                                             const GenerationConfig& config) override;
  absl::Status Prime(std::span<const std::vector<int32_t>> contexts) override;

 private:
  // Rewinds row r to the longest prefix its cache shares with `ctx`, at
  // most `limit` tokens, and returns the tokens of ctx after it.
  absl::StatusOr<std::vector<int32_t>> CatchUp(size_t r, const std::vector<int32_t>& ctx,
                                               size_t limit);

  RowSessions* sessions_;
  int64_t capacity_;
  std::vector<std::vector<int32_t>> cached_;  // per row: the tokens in its cache
};

// Fails unless `assistant` can draft for `target`: the same vocabulary,
// token for token, and the same special ids; the error names the first
// difference and which side has what.
absl::Status CheckAssistantTokenizer(const tokenizer::Tokenizer& target,
                                     const tokenizer::Tokenizer& assistant);

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_DRAFTERS_H_
