// Generator's speculative decoding: the single-sequence and batch requests
// whose config drafts (prompt lookup or an assistant engine), run by
// RunSpeculativeRounds.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/drafters.h"
#include "runtime/generate/elapsed.h"
#include "runtime/generate/generator.h"
#include "runtime/generate/row_output.h"
#include "runtime/generate/speculative.h"
#include "runtime/session/row_sessions.h"

namespace kiln {
namespace {

// Each row's prompt but its last token, which the first round runs with
// the first draft.
std::vector<std::vector<int32_t>> AllButLast(const std::vector<std::vector<int32_t>>& rows) {
  std::vector<std::vector<int32_t>> out;
  for (const std::vector<int32_t>& r : rows) out.emplace_back(r.begin(), r.end() - 1);
  return out;
}

}  // namespace

absl::Status Generator::CheckSpeculation(const GenerationConfig& config, size_t rows,
                                         bool batch) const {
  if (!config.speculative()) return absl::OkStatus();
  if (verify_tokens_ <= 0) {
    return absl::FailedPreconditionError(
        "this engine has no verify steps for speculative decoding (compiled with --verify-tokens "
        "0, or before Kiln had them): recompile it with compile-model --verify-tokens K");
  }
  const bool lookup = config.prompt_lookup_num_tokens > 0;
  const int asked = lookup ? config.prompt_lookup_num_tokens : config.num_assistant_tokens;
  if (asked > verify_tokens_) {
    return absl::InvalidArgumentError(
        absl::StrCat(lookup ? "prompt_lookup_num_tokens" : "num_assistant_tokens", " is ", asked,
                     " but this engine verifies at most ", verify_tokens_,
                     " drafted tokens per step (compile-model --verify-tokens ", verify_tokens_,
                     "): ask for at most that many, or recompile with a larger --verify-tokens"));
  }
  if (lookup) return absl::OkStatus();
  const Generator& assistant = *config.assistant_engine;
  if (&assistant == this) {
    return absl::InvalidArgumentError(
        "the assistant engine is the target's own generator; load the engine a second time to "
        "draft with it (each needs its own caches)");
  }
  KILN_RETURN_IF_ERROR(CheckAssistantTokenizer(*tokenizer_, assistant.tokenizer()));
  if (assistant.vocab_size() != vocab_size_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the assistant engine cannot draft for this engine: its model has ", assistant.vocab_size(),
        " logits per token but the target's has ", vocab_size_));
  }
  if (batch && (assistant.new_batch_ == nullptr ||
                (assistant.shared_caches_ && assistant.batch_buckets_.empty()))) {
    return absl::InvalidArgumentError(
        "the assistant engine has no batch steps, so it cannot draft for a batch: compile it "
        "with --max-batch N, or run the prompts one at a time");
  }
  if (batch && static_cast<int64_t>(rows) > assistant.max_batch()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "speculation for a batch of ", rows, " prompts, but the assistant engine's max batch is ",
        assistant.max_batch(), " (compile it with --max-batch ", rows, ")"));
  }
  return absl::OkStatus();
}

absl::Status Generator::RunSpeculativeRequest(const std::vector<int32_t>& run,
                                              GenerationResult& result,
                                              const GenerationConfig& config,
                                              const TextCallback& on_text) {
  Clock::time_point start = Clock::now();
  if (run.size() > 1) {
    KILN_RETURN_IF_ERROR(
        session_->ForwardLast(std::span<const int32_t>(run).first(run.size() - 1)).status());
  }
  std::unique_ptr<RowSessions> assistant_rows;
  std::unique_ptr<Drafter> drafter;
  if (config.prompt_lookup_num_tokens > 0) {
    drafter = std::make_unique<PromptLookupDrafter>();
  } else {
    Generator& assistant = *config.assistant_engine;
    if (assistant.session_ == nullptr) KILN_RETURN_IF_ERROR(assistant.Reset());
    assistant.context_.clear();  // its session is the drafter's from here on
    assistant_rows = std::make_unique<SingleRow>(*assistant.session_);
    drafter = std::make_unique<AssistantDrafter>(*assistant_rows, assistant.max_seq_);
  }
  RowOutput output(*tokenizer_, result);
  SpeculativeRow row;
  row.context = context_;
  row.context.insert(row.context.end(), result.prompt_ids.begin(), result.prompt_ids.end());
  // The assistant's prefill belongs to the request's prefill.
  KILN_RETURN_IF_ERROR(drafter->Prime(std::span<const std::vector<int32_t>>(&row.context, 1)));
  result.prefill_seconds = SecondsSince(start);
  start = Clock::now();
  row.output = &output;
  row.stream = on_text;
  SingleRow target(*session_);
  absl::Status rounds =
      RunSpeculativeRounds(target, *drafter, config, {verify_tokens_, max_seq_, false},
                           std::span<SpeculativeRow>(&row, 1));
  if (config.assistant_engine != nullptr) {
    // The assistant's own context is empty again: so is its cache.
    KILN_RETURN_IF_ERROR(config.assistant_engine->session_->Rewind(0));
  }
  KILN_RETURN_IF_ERROR(rounds);
  context_ = std::move(row.context);
  KILN_RETURN_IF_ERROR(output.Finish(on_text));
  result.decode_seconds = SecondsSince(start);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GenerationResult>> Generator::RunSpeculativeBatch(
    BatchSession& session, std::vector<std::vector<int32_t>> prompt_ids,
    const GenerationConfig& config, const BatchTextCallback& on_text) {
  const size_t rows = prompt_ids.size();
  Clock::time_point start = Clock::now();
  const std::vector<std::vector<int32_t>> prefill = AllButLast(prompt_ids);
  if (std::any_of(prefill.begin(), prefill.end(), [](const auto& r) { return !r.empty(); })) {
    KILN_RETURN_IF_ERROR(session.Forward(prefill, /*last_only=*/true).status());
  }

  std::optional<BatchSession> assistant_batch;
  std::unique_ptr<RowSessions> assistant_rows;
  std::unique_ptr<Drafter> drafter;
  if (config.prompt_lookup_num_tokens > 0) {
    drafter = std::make_unique<PromptLookupDrafter>();
  } else {
    // CheckSpeculation made sure the assistant has batch steps for `rows`.
    Generator& assistant = *config.assistant_engine;
    auto [batch, buckets] = assistant.BatchFor(rows);
    // Its own context starts over: the batch overwrites a backend's single
    // set of caches, and otherwise its sequence is emptied.
    assistant.context_.clear();
    if (assistant.shared_caches_) {
      assistant.session_.reset();
    } else if (assistant.session_ != nullptr) {
      KILN_RETURN_IF_ERROR(assistant.session_->Rewind(0));
    }
    KILN_ASSIGN_OR_RETURN(assistant_batch, assistant.new_batch_(batch, std::move(buckets)));
    assistant_rows = std::make_unique<BatchRows>(*assistant_batch);
    drafter = std::make_unique<AssistantDrafter>(*assistant_rows, assistant.max_seq_);
  }
  // The assistant's prefill belongs to the request's prefill.
  KILN_RETURN_IF_ERROR(drafter->Prime(prompt_ids));
  const double prefill_seconds = SecondsSince(start);
  start = Clock::now();
  std::vector<GenerationResult> results(rows);
  std::vector<RowOutput> outputs;
  outputs.reserve(rows);
  std::vector<SpeculativeRow> spec(rows);
  for (size_t b = 0; b < rows; ++b) {
    results[b].prefill_seconds = prefill_seconds;
    outputs.emplace_back(*tokenizer_, results[b]);
    spec[b].context = prompt_ids[b];
    spec[b].output = &outputs[b];
    if (on_text) spec[b].stream = [&on_text, b](std::string_view piece) { on_text(b, piece); };
    results[b].prompt_ids = std::move(prompt_ids[b]);
  }
  BatchRows target(session);
  KILN_RETURN_IF_ERROR(
      RunSpeculativeRounds(target, *drafter, config, {verify_tokens_, max_seq_, true}, spec));
  for (size_t b = 0; b < rows; ++b) {
    KILN_RETURN_IF_ERROR(outputs[b].Finish(spec[b].stream));
    results[b].decode_seconds = SecondsSince(start);
  }
  return results;
}

}  // namespace kiln
