#include "runtime/generate/generation_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", why));
}

}  // namespace

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
  return absl::OkStatus();
}

}  // namespace kiln
