#include "runtime/generate/generator.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/step_function.h"
#include "runtime/generate/elapsed.h"
#include "runtime/generate/row_output.h"
#include "runtime/generate/sampler.h"
#include "runtime/session/batch_session.h"

namespace kiln {
namespace {

// The vocabulary size: the last dim of any step function's logits.
int64_t LogitsWidth(const Module& module) {
  const Function& f = module.functions.front();
  return f.node(f.results[0]).type.shape.back().size;
}

// The last row of `logits`, [n, vocab].
std::span<const float> LastRow(const HostTensor& logits) {
  int64_t vocab = logits.shape.back();
  return std::span<const float>(logits.floats.data() + (logits.shape[0] - 1) * vocab,
                                static_cast<size_t>(vocab));
}

}  // namespace

absl::StatusOr<Generator> Generator::Create(const ReferenceExecutor& executor,
                                            const tokenizer::Tokenizer& tokenizer, int64_t max_seq,
                                            std::vector<SessionBucket> buckets) {
  const int64_t vocab = LogitsWidth(executor.module());
  KILN_RETURN_IF_ERROR(tokenizer::CheckTokenizerFitsModel(tokenizer, vocab));
  // Each bucket serves the batch its function was compiled for (a
  // symbolic batch counts as 1).
  std::map<int64_t, std::vector<SessionBucket>> by_batch;
  for (SessionBucket& b : buckets) {
    KILN_ASSIGN_OR_RETURN(int64_t batch, StepFunctionBatch(executor.module(), b.function));
    by_batch[std::max<int64_t>(batch, 1)].push_back(std::move(b));
  }
  std::vector<SessionBucket> single = by_batch[1];
  if (single.empty()) by_batch.erase(1);
  SessionFactory new_session = [&executor, max_seq,
                                single]() -> absl::StatusOr<std::unique_ptr<SequenceSession>> {
    KILN_ASSIGN_OR_RETURN(ReferenceSession session,
                          ReferenceSession::Create(executor, max_seq, single));
    return std::make_unique<ReferenceSession>(std::move(session));
  };
  BatchFactory new_batch = [&executor, max_seq](int64_t batch, std::vector<SessionBucket> b) {
    return BatchSession::Create(executor, batch, max_seq, std::move(b));
  };
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<SequenceSession> session, new_session());
  return Generator(tokenizer, max_seq, std::move(by_batch), std::move(new_session),
                   std::move(new_batch), std::move(session), vocab, /*shared_caches=*/false);
}

absl::StatusOr<Generator> Generator::CreateWithSessions(
    SessionFactory new_session, BatchFactory new_batch, const Module& module,
    const tokenizer::Tokenizer& tokenizer, int64_t max_seq, std::vector<SessionBucket> buckets) {
  const int64_t vocab = LogitsWidth(module);
  KILN_RETURN_IF_ERROR(tokenizer::CheckTokenizerFitsModel(tokenizer, vocab));
  std::map<int64_t, std::vector<SessionBucket>> by_batch;
  std::vector<SessionBucket> single;
  for (SessionBucket& b : buckets) {
    KILN_ASSIGN_OR_RETURN(int64_t batch, StepFunctionBatch(module, b.function));
    (batch > 1 ? by_batch[batch] : single).push_back(std::move(b));
  }
  if (new_batch == nullptr) by_batch.clear();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<SequenceSession> session, new_session());
  Generator g(tokenizer, max_seq, std::move(by_batch), std::move(new_session), std::move(new_batch),
              std::move(session), vocab, /*shared_caches=*/true);
  g.single_buckets_ = std::move(single);
  return g;
}

int64_t Generator::max_batch() const {
  if (new_batch_ == nullptr) return 1;
  if (shared_caches_) return batch_buckets_.empty() ? 1 : batch_buckets_.rbegin()->first;
  return batch_buckets_.empty() ? std::numeric_limits<int64_t>::max()
                                : batch_buckets_.rbegin()->first;
}

absl::Status Generator::Reset() {
  session_.reset();  // a backend may hold one session at a time
  KILN_ASSIGN_OR_RETURN(session_, new_session_());
  context_.clear();
  return absl::OkStatus();
}

absl::StatusOr<GenerationResult> Generator::Generate(std::string_view prompt,
                                                     const GenerationConfig& config,
                                                     bool add_special_tokens,
                                                     const TextCallback& on_text) {
  KILN_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer_->Encode(prompt, add_special_tokens));
  return GenerateIds(std::move(ids), config, on_text);
}

absl::StatusOr<GenerationResult> Generator::GenerateIds(std::vector<int32_t> prompt_ids,
                                                        const GenerationConfig& config,
                                                        const TextCallback& on_text) {
  KILN_RETURN_IF_ERROR(ValidateGenerationConfig(config, vocab_size_));
  KILN_RETURN_IF_ERROR(CheckSpeculation(config, 1, /*batch=*/false));
  if (session_ == nullptr) KILN_RETURN_IF_ERROR(Reset());
  GenerationResult result;
  result.prompt_ids = std::move(prompt_ids);
  if (result.prompt_ids.empty()) {
    return absl::InvalidArgumentError("the prompt is empty (it encodes to no tokens)");
  }
  KILN_RETURN_IF_ERROR(tokenizer::CheckPromptIds(*tokenizer_, result.prompt_ids, vocab_size_));
  // Run the generated token of the previous turn (not yet in the cache)
  // together with the new prompt.
  std::vector<int32_t> run(context_.begin() + session_->position(), context_.end());
  run.insert(run.end(), result.prompt_ids.begin(), result.prompt_ids.end());
  int64_t needed = session_->position() + static_cast<int64_t>(run.size());
  if (needed >= max_seq_) {
    return absl::OutOfRangeError(absl::StrCat(
        "the prompt has ", result.prompt_ids.size(), " tokens and the session already holds ",
        context_length(), ": ", needed, " positions reach the engine's max length of ", max_seq_,
        " (no room to generate)"));
  }

  // A request that fails part-way (NaN logits, a failed step) is undone:
  // the context and the cache position go back to where they were, so the
  // next request continues the last good turn.
  const int64_t start_position = session_->position();
  const size_t start_context = context_.size();
  absl::Status status = config.loop_plan       ? RunLoopRequest(result, config, on_text)
                        : config.speculative() ? RunSpeculativeRequest(run, result, config, on_text)
                                               : RunRequest(run, result, config, on_text);
  if (!status.ok()) {
    context_.resize(start_context);
    if (session_->position() >= start_position) {
      KILN_RETURN_IF_ERROR(session_->Rewind(start_position));
    }
    return status;
  }
  return result;
}

absl::Status Generator::RunRequest(const std::vector<int32_t>& run, GenerationResult& result,
                                   const GenerationConfig& config, const TextCallback& on_text) {
  Clock::time_point start = Clock::now();
  KILN_ASSIGN_OR_RETURN(HostTensor logits, session_->ForwardLast(run));
  context_.insert(context_.end(), result.prompt_ids.begin(), result.prompt_ids.end());
  result.prefill_seconds = SecondsSince(start);
  result.target_forwards = 1;  // the prefill yields the first token
  start = Clock::now();

  RowOutput output(*tokenizer_, result);
  for (int i = 0; i < config.max_new_tokens; ++i) {
    KILN_ASSIGN_OR_RETURN(int32_t token,
                          SampleToken(LastRow(logits), config, context_, static_cast<uint64_t>(i)));
    context_.push_back(token);
    KILN_ASSIGN_OR_RETURN(bool stop, output.Add(token, config, on_text));
    if (stop || i + 1 == config.max_new_tokens || session_->position() + 1 >= max_seq_) break;
    KILN_ASSIGN_OR_RETURN(logits, session_->ForwardLast(std::span<const int32_t>(&token, 1)));
    ++result.target_forwards;
  }
  KILN_RETURN_IF_ERROR(output.Finish(on_text));
  result.decode_seconds = SecondsSince(start);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GenerationResult>> Generator::GenerateBatch(
    const std::vector<std::string>& prompts, const GenerationConfig& config,
    bool add_special_tokens, const BatchTextCallback& on_text) {
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& prompt : prompts) {
    KILN_ASSIGN_OR_RETURN(ids.emplace_back(), tokenizer_->Encode(prompt, add_special_tokens));
  }
  return GenerateBatchIds(std::move(ids), config, on_text);
}

absl::StatusOr<std::vector<GenerationResult>> Generator::GenerateBatchIds(
    std::vector<std::vector<int32_t>> prompt_ids, const GenerationConfig& config,
    const BatchTextCallback& on_text) {
  KILN_RETURN_IF_ERROR(ValidateGenerationConfig(config, vocab_size_));
  if (new_batch_ == nullptr || (shared_caches_ && batch_buckets_.empty())) {
    return absl::UnimplementedError(
        "this engine has no batch buckets here (compile-model --max-batch N); run the prompts one "
        "at a time");
  }
  if (config.loop_plan) {
    return absl::UnimplementedError(
        "the loop plan runs one sequence at a time: run the prompts one by one, or without it");
  }
  size_t rows = prompt_ids.size();
  if (rows == 0) return absl::InvalidArgumentError("the batch is empty: no prompts");
  if (static_cast<int64_t>(rows) > max_batch()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the batch has ", rows, " prompts but the engine's max batch is ", max_batch()));
  }
  for (size_t b = 0; b < rows; ++b) {
    int64_t n = static_cast<int64_t>(prompt_ids[b].size());
    if (n == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt ", b, " is empty (it encodes to no tokens)"));
    }
    if (n >= max_seq_) {
      return absl::OutOfRangeError(absl::StrCat("prompt ", b, " has ", n,
                                                " tokens, which reach the engine's max length of ",
                                                max_seq_, " (no room to generate)"));
    }
    for (int32_t id : prompt_ids[b]) {
      if (id < 0 || id >= vocab_size_) {
        return absl::InvalidArgumentError(absl::StrCat(
            "prompt ", b, ": token id ", id, " is outside the vocabulary [0, ", vocab_size_, ")"));
      }
    }
  }
  KILN_RETURN_IF_ERROR(CheckSpeculation(config, rows, /*batch=*/true));
  auto [batch, buckets] = BatchFor(rows);
  // On a backend with one set of caches the batch overwrites the single
  // sequence's: it starts over, empty, once the batch is done (or failed).
  struct StartOver {
    Generator* g;
    ~StartOver() {
      if (g == nullptr) return;
      g->context_.clear();
      g->session_.reset();
      absl::StatusOr<std::unique_ptr<SequenceSession>> s = g->new_session_();
      if (s.ok()) g->session_ = *std::move(s);
    }
  } start_over{shared_caches_ ? this : nullptr};
  KILN_ASSIGN_OR_RETURN(BatchSession session, new_batch_(batch, std::move(buckets)));
  if (config.speculative()) {
    return RunSpeculativeBatch(session, std::move(prompt_ids), config, on_text);
  }

  Clock::time_point start = Clock::now();
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> logits,
                        session.Forward(prompt_ids, /*last_only=*/true));
  double prefill_seconds = SecondsSince(start);
  start = Clock::now();

  std::vector<GenerationResult> results(rows);
  std::vector<RowOutput> outputs;
  outputs.reserve(rows);
  std::vector<TextCallback> streams(rows);
  for (size_t b = 0; b < rows; ++b) {
    results[b].prompt_ids = prompt_ids[b];
    results[b].prefill_seconds = prefill_seconds;
    results[b].target_forwards = 1;  // the prefill yields the first token
    outputs.emplace_back(*tokenizer_, results[b]);
    if (on_text) streams[b] = [&on_text, b](std::string_view piece) { on_text(b, piece); };
  }
  // Each row steps exactly as Generate's loop would alone: its history (for
  // the repetition penalty) is its prompt and its tokens, its draws are
  // numbered from 0, and it leaves the batch when it stops; a row that left
  // gets only pads, at slots no other row reads.
  std::vector<bool> running(rows, true);
  for (int i = 0; i < config.max_new_tokens; ++i) {
    std::vector<std::vector<int32_t>> next(rows);
    bool any = false;
    for (size_t b = 0; b < rows; ++b) {
      if (!running[b]) continue;
      absl::StatusOr<int32_t> sampled =
          SampleToken(LastRow(logits[b]), config, prompt_ids[b], static_cast<uint64_t>(i));
      if (!sampled.ok()) {  // this request fails; the other rows go on
        results[b].finish_reason = "error";
        results[b].error = std::string(sampled.status().message());
        running[b] = false;
        continue;
      }
      const int32_t token = *sampled;
      prompt_ids[b].push_back(token);  // the row's history from here on
      KILN_ASSIGN_OR_RETURN(bool stop, outputs[b].Add(token, config, streams[b]));
      running[b] = !stop && i + 1 < config.max_new_tokens &&
                   session.position(static_cast<int64_t>(b)) + 1 < max_seq_;
      if (running[b]) next[b] = {token};
      any |= running[b];
    }
    if (!any) break;
    KILN_ASSIGN_OR_RETURN(logits, session.Forward(next, /*last_only=*/true));
    for (size_t b = 0; b < rows; ++b) results[b].target_forwards += running[b] ? 1 : 0;
  }
  for (size_t b = 0; b < rows; ++b) {
    KILN_RETURN_IF_ERROR(outputs[b].Finish(streams[b]));
    results[b].decode_seconds = SecondsSince(start);
  }
  return results;
}

absl::StatusOr<BatchSession> Generator::NewBatchSession(size_t rows) {
  if (new_batch_ == nullptr || (shared_caches_ && batch_buckets_.empty())) {
    return absl::UnimplementedError(
        "this engine has no batch buckets here (compile-model --max-batch N)");
  }
  if (rows == 0 || static_cast<int64_t>(rows) > max_batch()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a batch session of ", rows, " rows; the engine's max batch is ", max_batch()));
  }
  auto [batch, buckets] = BatchFor(rows);
  if (shared_caches_) {
    context_.clear();
    session_.reset();
    // One set of caches: the smaller batches' buckets run on its leading
    // rows, so a step of the first rows alone runs the smallest batch that
    // holds them (batch_session.h).
    for (const auto& [b, list] : batch_buckets_) {
      if (b < batch) buckets.insert(buckets.end(), list.begin(), list.end());
    }
    buckets.insert(buckets.end(), single_buckets_.begin(), single_buckets_.end());
  }
  return new_batch_(batch, std::move(buckets));
}

std::pair<int64_t, std::vector<SessionBucket>> Generator::BatchFor(size_t rows) const {
  // The smallest compiled batch that holds the rows; the generic @forward
  // runs exactly `rows`.
  if (batch_buckets_.empty()) return {static_cast<int64_t>(rows), {}};
  auto it = batch_buckets_.lower_bound(static_cast<int64_t>(rows));
  return {it->first, it->second};
}

}  // namespace kiln
