// The speculative-decoding flags of generate, kiln-bench and speculative-bench.
#include "tools/speculation_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/engine/engine.h"

ABSL_FLAG(int, prompt_lookup, 0,
          "speculative decoding by prompt lookup: draft up to N tokens that followed an earlier "
          "occurrence of the last tokens (0: off; at most the engine's --verify-tokens)");
ABSL_FLAG(int, max_matching_ngram, 2, "with --prompt-lookup: the longest n-gram matched");
ABSL_FLAG(std::string, draft_engine, "",
          "speculative decoding with another engine drafting (the same tokenizer; e.g. a q4_0 "
          "engine of the same model): its directory");
ABSL_FLAG(int, draft_tokens, 5,
          "with --draft-engine: the first draft length under --draft-schedule heuristic or "
          "constant (at most the engine's --verify-tokens; adaptive picks its own)");
ABSL_FLAG(std::string, draft_schedule, "adaptive",
          "draft length schedule: adaptive (the most expected tokens per second, from the "
          "acceptance rate and measured step times; for a sampled request a fixed cost model, "
          "so its seed reproduces it), heuristic (Transformers': +2 after a fully "
          "accepted draft, -1 otherwise) or constant");
ABSL_FLAG(double, draft_confidence, 0.4,
          "with --draft-engine: stop drafting after a token the draft engine gives a lower "
          "probability (0: never)");

ABSL_FLAG(bool, loop_plan, false,
          "run a request's whole generate loop as one plan: on a GPU one CUDA graph with a WHILE "
          "node (one host wait per sequence), on the CPU the same plan on the host; plain or "
          "with --prompt-lookup (schedule heuristic or constant), greedy or sampled, without a "
          "repetition penalty");

namespace kiln {

bool DraftEngineFlagGiven() { return !absl::GetFlag(FLAGS_draft_engine).empty(); }

bool SpeculationFlagsGiven() {
  return absl::GetFlag(FLAGS_prompt_lookup) > 0 || !absl::GetFlag(FLAGS_draft_engine).empty() ||
         absl::GetFlag(FLAGS_loop_plan);
}

bool LoopPlanFlagGiven() { return absl::GetFlag(FLAGS_loop_plan); }

absl::Status SpeculationFromFlags(const std::string& engine_target, const std::string& executor,
                                  const std::string& device, GenerationConfig& config,
                                  std::unique_ptr<LoadedGenerator>& draft) {
  config.prompt_lookup_num_tokens = absl::GetFlag(FLAGS_prompt_lookup);
  config.max_matching_ngram_size = absl::GetFlag(FLAGS_max_matching_ngram);
  config.num_assistant_tokens = absl::GetFlag(FLAGS_draft_tokens);
  config.num_assistant_tokens_schedule = absl::GetFlag(FLAGS_draft_schedule);
  config.assistant_confidence_threshold = absl::GetFlag(FLAGS_draft_confidence);
  config.loop_plan = absl::GetFlag(FLAGS_loop_plan);
  const std::string draft_dir = absl::GetFlag(FLAGS_draft_engine);
  if (draft_dir.empty()) return absl::OkStatus();
  if (config.prompt_lookup_num_tokens > 0) {
    return absl::InvalidArgumentError("give --prompt-lookup or --draft-engine, not both");
  }
  KILN_ASSIGN_OR_RETURN(std::string draft_target, EngineTarget(draft_dir));
  if (draft_target != engine_target) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the draft engine ", draft_dir, " was compiled for ", draft_target, " but the engine for ",
        engine_target, ": compile the draft for ", engine_target));
  }
  KILN_ASSIGN_OR_RETURN(draft, LoadGenerator(draft_dir, executor, device));
  config.assistant_engine = draft->generator;
  return absl::OkStatus();
}

}  // namespace kiln
