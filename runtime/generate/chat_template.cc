// ChatTemplate: normalises the source as Jinja does, then lexes, parses and
// renders with the variables Transformers passes (chat_template_internal.h).
#include "runtime/generate/chat_template.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/chat_template_internal.h"

namespace kiln {

namespace cti = chat_template_internal;

namespace {

constexpr size_t kMaxSourceBytes = 4 << 20;

// Jinja's lexer reads \r\n and \r as \n and drops one trailing newline
// (keep_trailing_newline=False).
std::string NormaliseNewlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

absl::StatusOr<ChatTemplate> ChatTemplate::Parse(std::string_view source) {
  if (source.size() > kMaxSourceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template is ", source.size(), " bytes, more than the 4 MiB limit"));
  }
  auto program = std::make_shared<cti::Program>();
  program->source = NormaliseNewlines(source);
  KILN_ASSIGN_OR_RETURN(std::vector<cti::Token> tokens, cti::Lex(program->source));
  KILN_ASSIGN_OR_RETURN(program->body, cti::ParseTokens(program->source, tokens));
  return ChatTemplate(std::move(program));
}

absl::StatusOr<std::string> ChatTemplate::Render(const std::vector<ChatMessage>& messages,
                                                 bool add_generation_prompt,
                                                 const std::map<std::string, std::string>& strings) const {
  // The step limit grows with the input, so that a real template renders any
  // conversation and a hostile one stops within about 5 ms on a short one.
  int64_t input_bytes = 0;
  for (const auto& [name, value] : strings)
    input_bytes += static_cast<int64_t>(name.size() + value.size());
  for (const ChatMessage& m : messages)
    input_bytes += static_cast<int64_t>(m.role.size() + m.content.size());
  const int64_t step_limit =
      cti::kBaseSteps + cti::kStepsPerMessage * static_cast<int64_t>(messages.size()) + input_bytes;
  cti::ValueMap globals;
  for (const char* name : {"raise_exception", "namespace", "range", "strftime_now", "dict"}) {
    globals.emplace_back(name, cti::Value::Function(name));
  }
  for (const auto& [name, value] : strings) globals.emplace_back(name, cti::Value::String(value));
  cti::ValueList list;
  list.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    list.push_back(cti::Value::Map({{"role", cti::Value::String(m.role)}, {"content", cti::Value::String(m.content)}}));
  }
  // Set last, so these win over same-named entries of `strings`.
  globals.emplace_back("messages", cti::Value::List(std::move(list)));
  globals.emplace_back("add_generation_prompt", cti::Value::Bool(add_generation_prompt));
  globals.emplace_back("tools", cti::Value::None());
  globals.emplace_back("documents", cti::Value::None());
  return cti::RenderProgram(*program_, std::move(globals), step_limit);
}

}  // namespace kiln
