// The chat-template fuzz harness (harness.h's FuzzChatTemplate).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "runtime/generate/chat_template.h"
#include "tests/fuzz/harness.h"

namespace kiln::fuzz {

absl::Status FuzzChatTemplate(std::string_view input) {
  absl::StatusOr<ChatTemplate> chat = ChatTemplate::Parse(input);
  if (!chat.ok()) return chat.status();
  const std::vector<ChatMessage> messages = {{"system", "Be brief."},
                                             {"user", "Hi {{ messages }} {% if %}"},
                                             {"assistant", "Hello!"},
                                             {"user", "caf\xc3\xa9 \xff"}};
  const std::map<std::string, std::string> strings = {{"bos_token", "<s>"},
                                                      {"eos_token", "</s>"}};
  absl::Status last;
  for (bool generation_prompt : {false, true}) {
    absl::StatusOr<std::string> out = chat->Render(messages, generation_prompt, strings);
    if (out.ok() && out->size() > (size_t{16} << 20)) {
      std::fprintf(stderr, "chat template rendered %zu bytes, over its 16 MiB bound\n", out->size());
      std::abort();
    }
    last = out.status();
  }
  return last;
}

}  // namespace kiln::fuzz
