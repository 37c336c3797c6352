// The kiln-serve request fuzz harness (harness.h's FuzzServeRequest).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "runtime/generate/generation_config.h"
#include "runtime/tokenizer/utf8.h"
#include "tests/fuzz/harness.h"
#include "tools/serve/openai_request.h"

namespace kiln::fuzz {
namespace {

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "fuzz harness: property violated: %s\n", what.c_str());
  std::abort();
}

// The server sends an error's message back to the client inside JSON.
void CheckError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    Violation("an unpromised status: " + status.ToString());
  }
  if (!tokenizer::IsValidUtf8(std::string(status.message())) || status.message().size() > 1024) {
    Violation("an error message that is not short UTF-8: " + status.ToString());
  }
}

// The contract of OpenAIRequest (tools/serve/openai_request.h).
void CheckRequest(const OpenAIRequest& r) {
  if (r.endpoint == OpenAIEndpoint::kCompletions) {
    if (r.prompt.empty() == r.prompt_ids.empty() || !r.messages.empty()) {
      Violation("a completions request without exactly one prompt");
    }
    for (int32_t id : r.prompt_ids) {
      if (id < 0) Violation("a negative prompt id");
    }
  } else {
    if (r.messages.empty() || !r.prompt.empty() || !r.prompt_ids.empty()) {
      Violation("a chat request without messages");
    }
    for (const ChatMessage& m : r.messages) {
      if (m.role != "system" && m.role != "user" && m.role != "assistant") {
        Violation("a message with role " + m.role);
      }
    }
  }
  if ((r.max_tokens && *r.max_tokens < 1) || (r.top_k && *r.top_k < 0) ||
      (r.temperature && !(*r.temperature >= 0 && *r.temperature <= 2)) ||
      (r.top_p && !(*r.top_p > 0 && *r.top_p <= 1)) ||
      (r.min_p && !(*r.min_p >= 0 && *r.min_p < 1)) ||
      (r.repetition_penalty && !(*r.repetition_penalty > 0)) || r.stop.size() > 4) {
    Violation("an accepted request with a field out of its range");
  }
  for (const std::string& stop : r.stop) {
    if (stop.empty()) Violation("an empty stop string");
  }
  if (r.include_usage && !r.stream) Violation("include_usage without stream");
}

}  // namespace

absl::Status FuzzServeRequest(std::string_view input) {
  if (input.empty()) return absl::InvalidArgumentError("no endpoint byte");
  const OpenAIEndpoint endpoint =
      (input[0] & 1) != 0 ? OpenAIEndpoint::kChatCompletions : OpenAIEndpoint::kCompletions;
  input.remove_prefix(1);
  absl::StatusOr<OpenAIRequest> request = ParseOpenAIRequest(endpoint, input);
  if (!request.ok()) {
    CheckError(request.status());
    return request.status();
  }
  if (request->endpoint != endpoint) Violation("the request names another endpoint");
  CheckRequest(*request);

  constexpr int64_t kVocab = 256;
  GenerationConfig defaults;
  defaults.max_new_tokens = 32;
  defaults.do_sample = true;
  defaults.temperature = 0.7;
  defaults.top_k = 50;
  defaults.top_p = 0.95;
  defaults.eos_token_ids = {2};
  defaults.stop_strings = {"</s>"};
  absl::StatusOr<GenerationConfig> config = ToGenerationConfig(*request, defaults, kVocab);
  if (!config.ok()) {
    CheckError(config.status());
    return config.status();
  }
  if (absl::Status valid = ValidateGenerationConfig(*config, kVocab); !valid.ok()) {
    Violation("ToGenerationConfig returned a config that fails validation: " + valid.ToString());
  }
  // Every field the request set wins over the defaults; the rest stand.
  const OpenAIRequest& r = *request;
  const bool do_sample = r.temperature ? *r.temperature > 0 : defaults.do_sample;
  if (config->max_new_tokens != r.max_tokens.value_or(defaults.max_new_tokens) ||
      config->do_sample != do_sample || config->top_k != r.top_k.value_or(defaults.top_k) ||
      config->top_p != r.top_p.value_or(defaults.top_p) ||
      config->min_p != r.min_p.value_or(defaults.min_p) ||
      config->repetition_penalty != r.repetition_penalty.value_or(defaults.repetition_penalty) ||
      config->seed != r.seed.value_or(defaults.seed) ||
      config->stop_strings != (r.stop.empty() ? defaults.stop_strings : r.stop) ||
      config->eos_token_ids != defaults.eos_token_ids) {
    Violation("the config does not hold the request's fields over the defaults");
  }
  return absl::OkStatus();
}

}  // namespace kiln::fuzz
