#include "tools/chat_prompt.h"

#include <cstdint>
#include <map>
#include <optional>

#include "base/status_macros.h"

namespace kiln {

absl::StatusOr<std::string> RenderChat(const Engine& engine, const tokenizer::Tokenizer& tokenizer,
                                       const std::vector<ChatMessage>& messages,
                                       bool add_generation_prompt) {
  if (engine.chat_template.empty()) {
    return absl::FailedPreconditionError(
        "this engine has no chat template (the model ships none); format the prompt yourself");
  }
  KILN_ASSIGN_OR_RETURN(ChatTemplate chat, ChatTemplate::Parse(engine.chat_template));
  auto token_text = [&](std::optional<int64_t> id) -> std::string {
    if (!id) return "";
    return tokenizer.IdToToken(static_cast<int32_t>(*id)).value_or("");
  };
  const EngineManifest& manifest = engine.manifest;
  std::map<std::string, std::string> strings;
  strings["bos_token"] = token_text(manifest.bos_token_id);
  strings["eos_token"] = token_text(manifest.eos_token_ids.empty()
                                        ? std::nullopt
                                        : std::optional<int64_t>(manifest.eos_token_ids[0]));
  return chat.Render(messages, add_generation_prompt, strings);
}

}  // namespace kiln
