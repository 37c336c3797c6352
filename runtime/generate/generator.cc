#include "runtime/generate/generator.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "models/model.h"
#include "runtime/generate/sampler.h"
#include "runtime/tokenizer/stream_decoder.h"

namespace kiln {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The vocabulary size: the last dim of any step function's logits.
int64_t LogitsWidth(const Module& module) {
  const Function& f = module.functions.front();
  return f.node(f.results[0]).type.shape.back().size;
}

}  // namespace

absl::StatusOr<Generator> Generator::Create(const ReferenceExecutor& executor,
                                            const tokenizer::Tokenizer& tokenizer, int64_t max_seq,
                                            std::vector<SessionBucket> buckets) {
  int64_t vocab = LogitsWidth(executor.module());
  if (tokenizer.vocab_size() > vocab) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer has ", tokenizer.vocab_size(),
                                                   " tokens but the model only ", vocab,
                                                   " logits: they do not belong together"));
  }
  KILN_ASSIGN_OR_RETURN(ReferenceSession session,
                        ReferenceSession::Create(executor, max_seq, buckets));
  return Generator(executor, tokenizer, max_seq, std::move(buckets), std::move(session), vocab);
}

absl::Status Generator::Reset() {
  KILN_ASSIGN_OR_RETURN(ReferenceSession session,
                        ReferenceSession::Create(*executor_, max_seq_, buckets_));
  *session_ = std::move(session);
  context_.clear();
  return absl::OkStatus();
}

absl::StatusOr<GenerationResult> Generator::Generate(std::string_view prompt,
                                                     const GenerationConfig& config,
                                                     bool add_special_tokens,
                                                     const TextCallback& on_text) {
  KILN_RETURN_IF_ERROR(ValidateGenerationConfig(config, vocab_size_));
  GenerationResult result;
  KILN_ASSIGN_OR_RETURN(result.prompt_ids, tokenizer_->Encode(prompt, add_special_tokens));
  if (result.prompt_ids.empty()) {
    return absl::InvalidArgumentError("the prompt is empty (it encodes to no tokens)");
  }
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

  Clock::time_point start = Clock::now();
  KILN_ASSIGN_OR_RETURN(HostTensor logits, session_->Forward(run));
  context_.insert(context_.end(), result.prompt_ids.begin(), result.prompt_ids.end());
  result.prefill_seconds = SecondsSince(start);
  start = Clock::now();

  tokenizer::StreamDecoder stream(*tokenizer_, /*skip_special_tokens=*/true);
  int64_t vocab = logits.shape.back();
  int64_t row = logits.shape[0] - 1;
  result.finish_reason = "length";
  for (int i = 0; i < config.max_new_tokens; ++i) {
    std::span<const float> last(logits.floats.data() + row * vocab, static_cast<size_t>(vocab));
    KILN_ASSIGN_OR_RETURN(int32_t token,
                          SampleToken(last, config, context_, static_cast<uint64_t>(i)));
    context_.push_back(token);
    result.token_ids.push_back(token);
    KILN_ASSIGN_OR_RETURN(std::string piece, stream.Step(token));
    result.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) !=
        config.eos_token_ids.end()) {
      result.finish_reason = "eos";
      break;
    }
    bool stopped = false;
    for (const std::string& stop : config.stop_strings)
      stopped |= result.text.find(stop) != std::string::npos;
    if (stopped) {
      result.finish_reason = "stop_string";
      break;
    }
    if (i + 1 == config.max_new_tokens || session_->position() + 1 >= max_seq_) break;
    KILN_ASSIGN_OR_RETURN(logits, session_->Forward(std::span<const int32_t>(&token, 1)));
    row = 0;
  }
  KILN_ASSIGN_OR_RETURN(std::string rest, stream.Flush());
  result.text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  result.decode_seconds = SecondsSince(start);
  return result;
}

}  // namespace kiln
