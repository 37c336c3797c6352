// Generator's loop-plan requests (GenerationConfig::loop_plan): the whole
// generate loop of one sequence run by the session's backend as one plan
// (codegen/loop/loop_plan.h), its tokens streamed back through RowOutput,
// which applies the stop strings on the host.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/elapsed.h"
#include "runtime/generate/generator.h"
#include "runtime/generate/loop_plan_for.h"
#include "runtime/generate/row_output.h"
#include "runtime/generate/sampler.h"

namespace kiln {

absl::Status Generator::RunLoopRequest(GenerationResult& result, const GenerationConfig& config,
                                       const TextCallback& on_text) {
  // The sequence session's buckets: single_buckets_ on a backend with one
  // set of caches, else the batch-1 ones.
  auto batch1 = batch_buckets_.find(1);
  const std::vector<SessionBucket>* buckets = !single_buckets_.empty()         ? &single_buckets_
                                              : batch1 != batch_buckets_.end() ? &batch1->second
                                                                               : nullptr;
  if (buckets == nullptr) {
    return absl::FailedPreconditionError(
        "the loop plan runs an engine's batch-1 buckets; this generator has none");
  }
  KILN_ASSIGN_OR_RETURN(codegen::loop::LoopPlan plan,
                        LoopPlanFor(config, *buckets, max_seq_, verify_tokens_));
  std::vector<int32_t> history = context_;
  history.insert(history.end(), result.prompt_ids.begin(), result.prompt_ids.end());

  // The loop's tokens through the plain loop's output: EOS, stop strings
  // (on the host: a match asks the loop to stop; the tokens it made after
  // the match are dropped below), streaming.
  const Clock::time_point start = Clock::now();
  RowOutput output(*tokenizer_, result);
  size_t fed = 0;
  bool stopped = false;
  absl::Status failed = absl::OkStatus();
  codegen::loop::LoopTokens on_tokens = [&](std::span<const int32_t> tokens) {
    if (fed == 0 && !tokens.empty()) result.prefill_seconds = SecondsSince(start);
    while (!stopped && fed < tokens.size()) {
      absl::StatusOr<bool> stop = output.Add(tokens[fed++], config, on_text);
      if (!stop.ok()) failed = stop.status();
      stopped = !stop.ok() || *stop;
    }
    return stopped;
  };
  // The host draws as RunRequest does; a device draws with its own sampler.
  KILN_ASSIGN_OR_RETURN(codegen::loop::LoopResult ran,
                        session_->RunLoop(plan, history, on_tokens, LoopSamplerFor(config)));
  on_tokens(ran.tokens);
  KILN_RETURN_IF_ERROR(failed);
  if (codegen::loop::LoopEndedOnNaN(ran) && !stopped) {
    return absl::DataLossError("the logits hold a NaN: the request cannot pick a token");
  }
  context_ = std::move(history);
  context_.insert(context_.end(), result.token_ids.begin(), result.token_ids.end());
  KILN_RETURN_IF_ERROR(session_->Rewind(static_cast<int64_t>(context_.size()) - 1));
  KILN_RETURN_IF_ERROR(output.Finish(on_text));
  result.decode_seconds = SecondsSince(start) - result.prefill_seconds;
  result.target_forwards = ran.steps;
  if (config.prompt_lookup_num_tokens > 0) {
    result.drafted_tokens = ran.drafted;
    result.accepted_tokens = ran.accepted;
  }
  result.host_synchronizations = ran.host_synchronizations;
  return absl::OkStatus();
}

}  // namespace kiln
