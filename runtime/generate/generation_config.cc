#include "runtime/generate/generation_config.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", why));
}

// Reads json[key] into `out` when present and not null; `is_type` checks the
// JSON type first, so a string where a number belongs is an error.
template <typename T>
absl::Status ReadField(const nlohmann::json& json, const char* key, bool (nlohmann::json::*is_type)() const,
                       const char* expected, T& out) {
  if (!json.contains(key) || json[key].is_null()) return absl::OkStatus();
  if (!(json[key].*is_type)()) {
    return absl::InvalidArgumentError(absl::StrCat("generation_config.json: '", key, "' must be ",
                                                   expected, ", got ", json[key].dump()));
  }
  if constexpr (std::is_same_v<T, int>) {
    // get<int> would wrap a value outside int's range.
    const int64_t value = json[key].get<int64_t>();
    if (value < 0 || value > std::numeric_limits<int>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("generation_config.json: '", key,
                                                     "' is out of range: ", json[key].dump()));
    }
    out = static_cast<int>(value);
  } else {
    out = json[key].get<T>();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GenerationConfig> GenerationDefaults(const nlohmann::json& json) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError("generation_config.json must hold a JSON object");
  }
  GenerationConfig c;
  c.top_k = 50;  // Transformers' global default, applied only when sampling
  using J = nlohmann::json;
  for (absl::Status s : {ReadField(json, "do_sample", &J::is_boolean, "true or false", c.do_sample),
                         ReadField(json, "temperature", &J::is_number, "a number", c.temperature),
                         ReadField(json, "top_k", &J::is_number_integer, "an integer", c.top_k),
                         ReadField(json, "top_p", &J::is_number, "a number", c.top_p),
                         ReadField(json, "min_p", &J::is_number, "a number", c.min_p),
                         ReadField(json, "repetition_penalty", &J::is_number, "a number",
                                   c.repetition_penalty),
                         ReadField(json, "max_new_tokens", &J::is_number_integer, "an integer",
                                   c.max_new_tokens)}) {
    if (!s.ok()) return s;
  }
  // Greedy decoding ignores the warpers; a file may still carry sampling
  // values for users who turn sampling on (SmolLM2's does).
  absl::Status valid = ValidateGenerationConfig(c, /*vocab_size=*/1);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation_config.json: ", std::string(valid.message())));
  }
  return c;
}

absl::Status ValidateGenerationConfig(const GenerationConfig& c, int64_t vocab_size) {
  if (c.max_new_tokens < 1) {
    return Bad("max_new_tokens", absl::StrCat("must be at least 1, got ", c.max_new_tokens));
  }
  if (!std::isfinite(c.temperature) || c.temperature < 0 || (c.do_sample && c.temperature == 0)) {
    return Bad("temperature",
               absl::StrCat("must be a finite number > 0 when sampling, got ", c.temperature));
  }
  if (c.top_k < 0) return Bad("top_k", absl::StrCat("must be >= 0 (0: off), got ", c.top_k));
  if (!(c.top_p > 0 && c.top_p <= 1)) {
    return Bad("top_p", absl::StrCat("must be in (0, 1], got ", c.top_p));
  }
  if (!(c.min_p >= 0 && c.min_p < 1)) {
    return Bad("min_p", absl::StrCat("must be in [0, 1), got ", c.min_p));
  }
  if (!(c.repetition_penalty > 0) || !std::isfinite(c.repetition_penalty)) {
    return Bad("repetition_penalty",
               absl::StrCat("must be a finite number > 0, got ", c.repetition_penalty));
  }
  for (int32_t id : c.eos_token_ids) {
    if (id < 0 || id >= vocab_size) {
      return Bad("eos_token_ids",
                 absl::StrCat("holds ", id, ", outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  for (const std::string& stop : c.stop_strings) {
    if (stop.empty()) return Bad("stop_strings", "must not contain an empty string");
  }
  if (c.prompt_lookup_num_tokens < 0) {
    return Bad("prompt_lookup_num_tokens",
               absl::StrCat("must be >= 0 (0: off), got ", c.prompt_lookup_num_tokens));
  }
  if (c.prompt_lookup_num_tokens > 0 && c.assistant_engine != nullptr) {
    return Bad("prompt_lookup_num_tokens",
               "and assistant_engine exclude each other: choose one drafter");
  }
  if (c.max_matching_ngram_size < 1) {
    return Bad("max_matching_ngram_size",
               absl::StrCat("must be at least 1, got ", c.max_matching_ngram_size));
  }
  if (c.num_assistant_tokens < 1) {
    return Bad("num_assistant_tokens",
               absl::StrCat("must be at least 1, got ", c.num_assistant_tokens));
  }
  if (c.num_assistant_tokens_schedule != "adaptive" &&
      c.num_assistant_tokens_schedule != "heuristic" &&
      c.num_assistant_tokens_schedule != "constant") {
    return Bad("num_assistant_tokens_schedule",
               absl::StrCat("must be adaptive, heuristic or constant, got '",
                            c.num_assistant_tokens_schedule, "'"));
  }
  if (!(c.assistant_confidence_threshold >= 0 && c.assistant_confidence_threshold < 1)) {
    return Bad("assistant_confidence_threshold",
               absl::StrCat("must be in [0, 1), got ", c.assistant_confidence_threshold));
  }
  return absl::OkStatus();
}

}  // namespace kiln
