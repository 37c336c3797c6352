// Text in, text out: the generate loop on the reference executor, for one
// sequence or a batch of independent prompts.
#ifndef KILN_RUNTIME_GENERATE_GENERATOR_H_
#define KILN_RUNTIME_GENERATE_GENERATOR_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/generator_types.h"
#include "runtime/reference/session.h"
#include "runtime/session/batch_session.h"
#include "runtime/session/sequence_session.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln {

// Runs generate requests on one sequence: encodes the prompt, prefills,
// decodes token by token with the configured sampler and streams the text.
// Consecutive Generate calls continue one context, reusing the KV cache (as
// passing past_key_values back to Transformers does), until Reset(). A
// failed request leaves the session as it was before the request.
//
// GenerateBatch runs several independent prompts at once in a batch bucket
// (batch_session.h: left padding, exact): each row produces exactly the
// tokens it would produce alone in a fresh Generate with the same config
// (its own seeded draws, stops and finish reason). Batches do not touch the
// single-sequence context.
class Generator {
 public:
  // `executor` and `tokenizer` must outlive the generator. `max_seq` is the
  // cache capacity; `buckets` are an engine's compiled steps (empty: the
  // generic @forward, which runs any batch). Each bucket serves the batch
  // its function was compiled for: batch-1 buckets run Generate, the others
  // GenerateBatch.
  static absl::StatusOr<Generator> Create(const ReferenceExecutor& executor,
                                          const tokenizer::Tokenizer& tokenizer, int64_t max_seq,
                                          std::vector<SessionBucket> buckets);

  // Makes a fresh, empty batch-1 session (the context starts over).
  using SessionFactory = std::function<absl::StatusOr<std::unique_ptr<SequenceSession>>()>;

  // Makes a fresh batch session for `batch` rows on `buckets` (compiled for
  // that batch).
  using BatchFactory = std::function<absl::StatusOr<BatchSession>(
      int64_t batch, std::vector<SessionBucket> buckets)>;

  // A generator on another backend's sessions: the launch plans on a GPU or
  // on the emulated device (runtime/session/plan_session.h). `module` is the engine's
  // (for its logits width and the buckets' batches) and must outlive the
  // generator; `buckets` are all its buckets. Without `new_batch`,
  // GenerateBatch is Unimplemented. Such a backend holds one set of caches,
  // so on it a batch ends the single-sequence context (the next Generate
  // starts a new one), unlike on the reference executor.
  static absl::StatusOr<Generator> CreateWithSessions(SessionFactory new_session,
                                                      BatchFactory new_batch, const Module& module,
                                                      const tokenizer::Tokenizer& tokenizer,
                                                      int64_t max_seq,
                                                      std::vector<SessionBucket> buckets);

  absl::StatusOr<GenerationResult> Generate(std::string_view prompt, const GenerationConfig& config,
                                            bool add_special_tokens,
                                            const TextCallback& on_text = nullptr);

  // The same from token ids (checked against the vocabulary).
  absl::StatusOr<GenerationResult> GenerateIds(std::vector<int32_t> prompt_ids,
                                               const GenerationConfig& config,
                                               const TextCallback& on_text = nullptr);

  // One result per prompt, in order. Runs the smallest compiled batch that
  // holds the prompts (spare rows get pads). Fails, naming the prompt and
  // the numbers, on an empty batch, more prompts than max_batch(), an empty
  // prompt, or a prompt with no room to generate in max_seq. A row whose
  // sampling fails (NaN logits) ends with finish_reason "error" and its
  // reason in `error`; the other rows go on.
  absl::StatusOr<std::vector<GenerationResult>> GenerateBatch(
      const std::vector<std::string>& prompts, const GenerationConfig& config,
      bool add_special_tokens, const BatchTextCallback& on_text = nullptr);
  // The same from token ids; an id outside the vocabulary is an error too.
  absl::StatusOr<std::vector<GenerationResult>> GenerateBatchIds(
      std::vector<std::vector<int32_t>> prompt_ids, const GenerationConfig& config,
      const BatchTextCallback& on_text = nullptr);

  // The most prompts GenerateBatch takes: the largest compiled batch (no
  // limit with the generic @forward; 1 without batch sessions).
  int64_t max_batch() const;

  // Forgets the context: the next request starts at position 0.
  absl::Status Reset();

  // A fresh batch session of `rows` rows or more (the smallest compiled
  // batch that holds them; the generic @forward: exactly `rows`) for a
  // caller that runs its own loop over the engine's buckets, as
  // runtime/serve's continuous batching does. Fails as GenerateBatch does
  // without batch buckets or beyond max_batch(). On a backend with one set
  // of caches it ends the single-sequence context, and Generate must not
  // run while the session lives; there the session also holds the smaller
  // batches' buckets, and a step of its first rows alone runs the smallest
  // batch that holds them (batch_session.h).
  absl::StatusOr<BatchSession> NewBatchSession(size_t rows);

  // Speculative decoding (GenerationConfig's prompt lookup and assistant
  // fields; generation_config.h). `verify_tokens` is the engine's
  // --verify-tokens (manifest.json): the most drafted tokens one verify
  // step takes. A generator on the generic @forward verifies any number;
  // one on an engine's buckets takes none until this is set.
  void set_verify_tokens(int64_t verify_tokens) { verify_tokens_ = verify_tokens; }
  int64_t verify_tokens() const { return verify_tokens_; }

  // What an assistant engine's drafter needs of its generator.
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  int64_t vocab_size() const { return vocab_size_; }
  int64_t max_seq() const { return max_seq_; }

  // Tokens in the context, including a generated one not yet run.
  int64_t context_length() const { return static_cast<int64_t>(context_.size()); }

 private:
  Generator(const tokenizer::Tokenizer& tokenizer, int64_t max_seq,
            std::map<int64_t, std::vector<SessionBucket>> batch_buckets, SessionFactory new_session,
            BatchFactory new_batch, std::unique_ptr<SequenceSession> session, int64_t vocab_size,
            bool shared_caches)
      : tokenizer_(&tokenizer),
        max_seq_(max_seq),
        batch_buckets_(std::move(batch_buckets)),
        new_session_(std::move(new_session)),
        new_batch_(std::move(new_batch)),
        session_(std::move(session)),
        vocab_size_(vocab_size),
        shared_caches_(shared_caches),
        verify_tokens_(batch_buckets_.empty() && !shared_caches ? max_seq - 1 : 0) {}

  // Generate's prefill and decode loop for `run` (the tokens not yet in the
  // cache); fills `result`, extends context_.
  absl::Status RunRequest(const std::vector<int32_t>& run, GenerationResult& result,
                          const GenerationConfig& config, const TextCallback& on_text);

  // Fails, naming both sides, when `config`'s speculation cannot run here
  // for `rows` rows: a draft longer than the verify step, no verify steps,
  // an assistant with another tokenizer or logits width, or (for a `batch`
  // request) without batch steps or with a smaller batch. OK when the config
  // does not speculate.
  absl::Status CheckSpeculation(const GenerationConfig& config, size_t rows, bool batch) const;
  // RunRequest's work with speculative decoding (generator_speculative.cc).
  absl::Status RunSpeculativeRequest(const std::vector<int32_t>& run, GenerationResult& result,
                                     const GenerationConfig& config, const TextCallback& on_text);
  // RunRequest's work as one loop plan (generator_loop.cc).
  absl::Status RunLoopRequest(GenerationResult& result, const GenerationConfig& config,
                              const TextCallback& on_text);
  // GenerateBatchIds' work after the batch session is made, speculating.
  absl::StatusOr<std::vector<GenerationResult>> RunSpeculativeBatch(
      BatchSession& session, std::vector<std::vector<int32_t>> prompt_ids,
      const GenerationConfig& config, const BatchTextCallback& on_text);
  // The batch bucket for `rows` rows and its buckets (the generic @forward:
  // exactly `rows`, none).
  std::pair<int64_t, std::vector<SessionBucket>> BatchFor(size_t rows) const;

  const tokenizer::Tokenizer* tokenizer_;
  int64_t max_seq_;
  // By compiled batch, batch 1 included; empty for the generic @forward.
  std::map<int64_t, std::vector<SessionBucket>> batch_buckets_;
  // A backend with one set of caches: its batch-1 buckets, which a batch
  // session may run on its first row (NewBatchSession).
  std::vector<SessionBucket> single_buckets_;
  SessionFactory new_session_;
  BatchFactory new_batch_;  // null: batches are not available
  std::unique_ptr<SequenceSession> session_;
  int64_t vocab_size_;
  bool shared_caches_;            // a batch overwrites the single sequence's caches
  // The most drafted tokens a verify step takes; the generic @forward takes
  // any number.
  int64_t verify_tokens_ = 0;
  std::vector<int32_t> context_;  // every token of the sequence so far
};

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_GENERATOR_H_
