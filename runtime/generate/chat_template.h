// Hugging Face chat templates rendered in C++: the Jinja2 subset that model
// chat templates use, with Transformers' environment options, so that
// `ChatTemplate::Parse(t)->Render(msgs, true, {{"bos_token", ...}})` equals
// `tokenizer.apply_chat_template(msgs, tokenize=False,
// add_generation_prompt=True)` byte for byte.
#ifndef KILN_RUNTIME_GENERATE_CHAT_TEMPLATE_H_
#define KILN_RUNTIME_GENERATE_CHAT_TEMPLATE_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln {

// One turn of a conversation, as a {"role": ..., "content": ...} dict.
struct ChatMessage {
  std::string role;
  std::string content;
};

namespace chat_template_internal {
struct Program;
}  // namespace chat_template_internal

// A parsed chat template (tokenizer_config.json "chat_template", GGUF
// tokenizer.chat_template, or chat_template.jinja).
//
// Contract. Semantics are Jinja2 3.1's as Transformers configures them:
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with
// loop controls, `raise_exception`, `namespace`, `strftime_now` and a
// `tojson` filter that writes non-ASCII text unescaped. Undefined names render
// as "" and are falsy; attributes of an undefined value are an error, as in
// Jinja. `\r\n` and `\r` read as `\n` and one trailing newline of the
// template is dropped (keep_trailing_newline=False).
//
// Supported language:
//   text, {{ expr }}, {# comments #}, whitespace control {%- -%} {{- -}}
//   {#- -#} and `+`; {% if %}/{% elif %}/{% else %}/{% endif %};
//   {% for a[, b] in xs [if cond] %} ... [{% else %}] {% endfor %} with
//   loop.index/index0/revindex/revindex0/first/last/length/previtem/nextitem;
//   {% break %}, {% continue %}; {% set x = e %}, {% set ns.attr = e %};
//   {% generation %}...{% endgeneration %} (renders its body).
//   Expressions: string (both quotes, Python escapes), integer, list, tuple
//   and dict literals; true/false/none in both cases; names, a.b, a['b'],
//   a[0], a[-1], slices a[1:], a[::-1]; + - * // % on integers, + on strings
//   and lists, ~; == != < > <= >= (chained), in, not in; and, or, not;
//   `x if c else y`; calls of methods and globals.
//   Filters: trim, length, count, upper, lower, capitalize, first,
//   last, join, list, string, int, default/d, tojson, items, reverse,
//   replace, safe, abs, select, reject, selectattr, rejectattr, map.
//   Tests: defined, undefined, none, string, number, integer, boolean, true,
//   false, mapping, iterable, sequence, odd, even, divisibleby, equalto/eq,
//   ne, lt, gt, le, ge, in.
//   Methods: str strip/lstrip/rstrip/startswith/endswith/split/upper/lower/
//   capitalize/replace/join; dict items/keys/values/get. Case mapping is
//   ASCII-only (Python's is Unicode).
//   Globals: raise_exception(msg), namespace(...), range(...),
//   strftime_now(fmt), dict(...).
// Not supported (Parse names them in its error): macros, call blocks,
// include/import/extends/block, raw, with, filter blocks, block `set`,
// recursive loops, loop.cycle, floats and `/`, list/dict mutation (the
// sandbox forbids it too), filters and tests not listed above.
//
// Templates come from model files, i.e. they are untrusted: every failure is
// an absl::Status with line:col, never an abort. Parsing bounds expression
// nesting (128), block nesting (64) and names (256 bytes); rendering bounds
// output (16 MiB), strings and lists built (16 MiB / 1M items each, 256 MiB
// in total), the depth of the values that repr, == and < walk (512), and
// work, in steps that count what builtins do inside one expression as well
// (values compared, copied or printed, bytes scanned). The step limit is
// 20k plus 2,500 a message plus one per byte of input: a real template
// takes under 100 steps a message, and a hostile one stops within about
// 5 ms on a short conversation. So no template can hang, exhaust memory or
// overflow the stack.
// Running out fails Render with ResourceExhausted. `raise_exception(msg)`
// fails Render with InvalidArgument whose message ends with msg.
class ChatTemplate {
 public:
  // Parses `source`; errors read "chat template 3:14: expected ..." and name
  // unsupported constructs.
  static absl::StatusOr<ChatTemplate> Parse(std::string_view source);

  // Renders `messages` with `add_generation_prompt`. `strings` adds string
  // variables (bos_token, eos_token, date_string, ...); `tools` and
  // `documents` are none, as in Transformers without tools.
  absl::StatusOr<std::string> Render(const std::vector<ChatMessage>& messages,
                                     bool add_generation_prompt,
                                     const std::map<std::string, std::string>& strings) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const chat_template_internal::Program> program)
      : program_(std::move(program)) {}
  std::shared_ptr<const chat_template_internal::Program> program_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_CHAT_TEMPLATE_H_
