// The bodies of kiln-serve's OpenAI endpoints, POST /v1/completions and
// POST /v1/chat/completions: parsed, checked, and turned into the
// GenerationConfig a request runs with.
#ifndef KILN_TOOLS_SERVE_OPENAI_REQUEST_H_
#define KILN_TOOLS_SERVE_OPENAI_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/generate/chat_template.h"
#include "runtime/generate/generation_config.h"

namespace kiln {

enum class OpenAIEndpoint { kCompletions, kChatCompletions };

// A POST /v1/completions or /v1/chat/completions body, parsed and checked.
//
// Contract of a request ParseOpenAIRequest returns: for completions, exactly
// one of `prompt` (non-empty text) and `prompt_ids` (non-empty, each in
// [0, 2^31)) is set; for chat, `messages` is non-empty and each role is
// "system", "user" or "assistant". Every optional field set is within the
// range its comment gives; a field the body left out or set to null stays
// unset, so the engine's default applies.
struct OpenAIRequest {
  OpenAIEndpoint endpoint = OpenAIEndpoint::kCompletions;
  std::string model;  // "" when the body names none
  // completions: the prompt, as text, or as token ids (an array of integers)
  std::string prompt;
  std::vector<int32_t> prompt_ids;  // non-empty when the prompt was given as ids
  // chat completions; "developer" is read as "system", and an array of text
  // parts as their texts joined by "\n" (as vLLM joins them)
  std::vector<ChatMessage> messages;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Sampling: absent fields keep the engine's defaults.
  std::optional<int> max_tokens;             // >= 1; chat also accepts max_completion_tokens
  std::optional<double> temperature;         // [0, 2]; 0: greedy
  std::optional<double> top_p;               // (0, 1]
  std::optional<int> top_k;                  // >= 0, 0: off (vLLM's -1 is read as 0); an extension
  std::optional<double> min_p;               // [0, 1); an extension, as vLLM's
  std::optional<double> repetition_penalty;  // > 0, finite; multiplicative (Transformers')
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // "stop": a string or at most 4; none empty
};

// Parses and checks `body` as a request to `endpoint`. Errors are
// InvalidArgument with a message a client can act on, naming the field
// ('messages[1].content[0].type'), what it must be and, shortly, what it
// was; messages are valid UTF-8, whatever the body's bytes. Never throws and
// never aborts, on any bytes; nesting deeper than 64 levels is refused
// before parsing.
//
// Standard fields Kiln does not implement (logprobs, top_logprobs, echo,
// best_of, suffix, logit_bias, presence_penalty, frequency_penalty, tools,
// tool_choice, response_format, functions, function_call) are accepted
// while they hold their neutral value (null, false, 0, 1, "", {}, [],
// "none" or {"type": "text"} as fits) and are an error naming them
// otherwise, so a client never silently gets other output than it asked
// for. Other unknown fields ("user", "metadata", ...) are ignored, as
// OpenAI-compatible servers do.
absl::StatusOr<OpenAIRequest> ParseOpenAIRequest(OpenAIEndpoint endpoint, std::string_view body);

// The generation config for `request`: `defaults` (the engine's
// generation_config.json resolved, with its eos ids and max_new_tokens)
// overridden by every field the request set. temperature 0 means greedy
// (do_sample false), > 0 sampling at that temperature; without temperature
// defaults.do_sample stands. Without max_tokens, defaults.max_new_tokens.
// A non-empty `stop` replaces defaults.stop_strings. The result passes
// ValidateGenerationConfig(config, vocab_size); its error is returned as
// InvalidArgument, naming the OpenAI field (max_tokens, stop) where there
// is one.
absl::StatusOr<GenerationConfig> ToGenerationConfig(const OpenAIRequest& request,
                                                    const GenerationConfig& defaults,
                                                    int64_t vocab_size);

}  // namespace kiln

#endif  // KILN_TOOLS_SERVE_OPENAI_REQUEST_H_
