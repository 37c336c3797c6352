// What a generate request asks for, and its validation.
#ifndef KILN_RUNTIME_GENERATE_GENERATION_CONFIG_H_
#define KILN_RUNTIME_GENERATE_GENERATION_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kiln {

class Generator;

// Mirrors the Transformers GenerationConfig fields Kiln serves. Greedy
// unless do_sample; when sampling, the logits pass through (in
// Transformers' order) repetition_penalty, temperature, top_k, top_p and
// min_p before a draw from the seeded, counter-based RNG.
struct GenerationConfig {
  int max_new_tokens = 32;
  bool do_sample = false;
  double temperature = 1.0;         // > 0 when sampling
  int top_k = 0;                    // 0: off
  double top_p = 1.0;               // in (0, 1]
  double min_p = 0.0;               // in [0, 1)
  double repetition_penalty = 1.0;  // > 0; 1: off
  uint64_t seed = 0;
  std::vector<int32_t> eos_token_ids;     // generation stops after any of these
  std::vector<std::string> stop_strings;  // ... or once the text contains one

  // Speculative decoding (Transformers' names), lossless: greedy output is
  // the plain greedy output token for token, sampled output keeps the
  // target's distribution. At most one drafter: prompt lookup when
  // prompt_lookup_num_tokens > 0, else the assistant engine when set.
  int prompt_lookup_num_tokens = 0;  // drafts up to this many tokens (0: off)
  int max_matching_ngram_size = 2;   // the longest n-gram prompt lookup matches
  // Another engine's generator that drafts (it must share the tokenizer and
  // the logits width); it is used by one request at a time.
  std::shared_ptr<Generator> assistant_engine;
  // The assistant's first draft length (heuristic, constant); adaptive
  // chooses its own, up to the engine's verify step.
  int num_assistant_tokens = 5;
  // "adaptive" (Kiln's): the length with the most expected tokens per
  // second, from the row's acceptance rate and the measured step times,
  // pausing prompt lookup on text it does not predict; "heuristic"
  // (Transformers'): +2 after a round whose draft was kept whole, else -1;
  // "constant". See draft_schedule.h. Sampled requests take heuristic for
  // adaptive (their seeds must reproduce them whatever the timings). Applies
  // to prompt lookup too (Transformers has no schedule there), capped at
  // prompt_lookup_num_tokens.
  std::string num_assistant_tokens_schedule = "adaptive";
  // The assistant stops drafting after a token it gave a lower probability
  // (0: never).
  double assistant_confidence_threshold = 0.4;

  // Kiln's: run a single-sequence request's whole generate loop as one
  // plan (codegen/loop/loop_plan.h): on a GPU one CUDA graph with a WHILE
  // node and one host wait per sequence, on the CPU the same plan on the
  // host. Plain decoding or prompt lookup (its schedule heuristic or
  // constant), greedy or sampled; a repetition penalty or an assistant
  // engine are refused with it.
  bool loop_plan = false;

  bool speculative() const { return prompt_lookup_num_tokens > 0 || assistant_engine != nullptr; }
};

// The sampling defaults a model ships in generation_config.json, resolved
// as Transformers' generate() resolves them: a field the file sets wins,
// any other takes Transformers' global default (greedy; when sampling
// temperature 1, top_k 50, top_p 1, no min_p, repetition_penalty 1).
// `json` is the file's object (an empty object: no file). A field of the
// wrong type or out of range is an error naming it. max_new_tokens is kept
// when the file sets it; eos and stop settings stay the caller's.
absl::StatusOr<GenerationConfig> GenerationDefaults(const nlohmann::json& json);

// Checks every field against its range and every token id against
// `vocab_size`; the error names the field and the value.
absl::Status ValidateGenerationConfig(const GenerationConfig& config, int64_t vocab_size);

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_GENERATION_CONFIG_H_
