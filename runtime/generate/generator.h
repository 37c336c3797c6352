// Text in, text out: one sequence's generate loop on the reference executor.
#ifndef KILN_RUNTIME_GENERATE_GENERATOR_H_
#define KILN_RUNTIME_GENERATE_GENERATOR_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/generate/generation_config.h"
#include "runtime/reference/session.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln {

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> token_ids;  // generated, the stopping EOS included
  std::string text;                // the generated text, special tokens skipped
  std::string finish_reason;       // "eos", "stop_string" or "length"
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Receives generated text as soon as it is complete UTF-8.
using TextCallback = std::function<void(std::string_view piece)>;

// Runs generate requests on one sequence: encodes the prompt, prefills,
// decodes token by token with the configured sampler and streams the text.
// Consecutive Generate calls continue one context, reusing the KV cache (as
// passing past_key_values back to Transformers does), until Reset(). A
// failed request leaves the session at its last good position.
class Generator {
 public:
  // `executor` and `tokenizer` must outlive the generator. `max_seq` is the
  // cache capacity; `buckets` are an engine's compiled steps (empty: the
  // generic @forward).
  static absl::StatusOr<Generator> Create(const ReferenceExecutor& executor,
                                          const tokenizer::Tokenizer& tokenizer, int64_t max_seq,
                                          std::vector<SessionBucket> buckets);

  absl::StatusOr<GenerationResult> Generate(std::string_view prompt, const GenerationConfig& config,
                                            bool add_special_tokens,
                                            const TextCallback& on_text = nullptr);

  // Forgets the context: the next request starts at position 0.
  absl::Status Reset();

  // Tokens in the context, including a generated one not yet run.
  int64_t context_length() const { return static_cast<int64_t>(context_.size()); }

 private:
  Generator(const ReferenceExecutor& executor, const tokenizer::Tokenizer& tokenizer,
            int64_t max_seq, std::vector<SessionBucket> buckets, ReferenceSession session,
            int64_t vocab_size)
      : executor_(&executor),
        tokenizer_(&tokenizer),
        max_seq_(max_seq),
        buckets_(std::move(buckets)),
        session_(std::make_unique<ReferenceSession>(std::move(session))),
        vocab_size_(vocab_size) {}

  const ReferenceExecutor* executor_;
  const tokenizer::Tokenizer* tokenizer_;
  int64_t max_seq_;
  std::vector<SessionBucket> buckets_;
  std::unique_ptr<ReferenceSession> session_;
  int64_t vocab_size_;
  std::vector<int32_t> context_;  // every token of the sequence so far
};

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_GENERATOR_H_
