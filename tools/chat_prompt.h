// A conversation as the engine's chat template formats it: the prompt text
// of generate --chat and --interactive, and of the HTTP server's chat
// completions.
#ifndef KILN_TOOLS_CHAT_PROMPT_H_
#define KILN_TOOLS_CHAT_PROMPT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/engine/engine.h"
#include "runtime/generate/chat_template.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln {

// Renders `messages` with the engine's chat template, as Transformers'
// apply_chat_template(messages, tokenize=False, add_generation_prompt=...)
// does. The template's bos_token and eos_token are the spellings of the
// manifest's BOS id and first EOS id in `tokenizer` (empty when the engine
// names none). The text holds the special tokens the template writes, so
// encode it with add_special_tokens=false. FailedPrecondition when the
// engine has no chat template; a template error as ChatTemplate reports it.
absl::StatusOr<std::string> RenderChat(const Engine& engine, const tokenizer::Tokenizer& tokenizer,
                                       const std::vector<ChatMessage>& messages,
                                       bool add_generation_prompt);

}  // namespace kiln

#endif  // KILN_TOOLS_CHAT_PROMPT_H_
