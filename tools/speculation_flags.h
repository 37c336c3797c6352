// The speculative-decoding flags (--prompt-lookup, --max-matching-ngram,
// --draft-engine, --draft-tokens, --draft-schedule, --draft-confidence),
// shared by the tools that generate.
#ifndef KILN_TOOLS_SPECULATION_FLAGS_H_
#define KILN_TOOLS_SPECULATION_FLAGS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "runtime/generate/generation_config.h"
#include "tools/load_generator.h"

namespace kiln {

// Sets the speculative-decoding fields of `config` from the flags. With
// --draft-engine, loads that engine as the target engine was loaded
// (`executor`, `device`; LoadGenerator) into `draft`, which must outlive
// `config`, and refuses a draft compiled for another target than
// `engine_target` (the target engine's manifest target, e.g. "cpu"), or
// given with --prompt-lookup.
absl::Status SpeculationFromFlags(const std::string& engine_target, const std::string& executor,
                                  const std::string& device, GenerationConfig& config,
                                  std::unique_ptr<LoadedGenerator>& draft);

// Whether any of the flags asks for speculative decoding or the loop plan
// (both run through a Generator).
bool SpeculationFlagsGiven();
// Whether --loop-plan is given (a tool that batches requests refuses it).
bool LoopPlanFlagGiven();
// Whether --draft-engine is given (a tool that serves no assistant refuses
// it before SpeculationFromFlags loads the engine).
bool DraftEngineFlagGiven();

}  // namespace kiln

#endif  // KILN_TOOLS_SPECULATION_FLAGS_H_
