// Chat templates: byte-exact against Transformers' rendering of real model
// templates (tests/fixtures/chat_templates, written by
// tools/reference/make_chat_fixtures.py), plus errors and resource bounds.
#include "runtime/generate/chat_template.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kiln {
namespace {

constexpr char kDir[] = "tests/fixtures/chat_templates/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const nlohmann::json& Fixtures() {
  static const nlohmann::json* fixtures =
      new nlohmann::json(nlohmann::json::parse(ReadFile(std::string(kDir) + "expected.json")));
  return *fixtures;
}

std::vector<ChatMessage> Conversation(const std::string& name) {
  std::vector<ChatMessage> messages;
  for (const auto& m : Fixtures()["conversations"][name]) {
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return messages;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ChatTemplate, RealTemplatesMatchTransformersByteForByte) {
  std::map<std::string, ChatTemplate> templates;
  int rendered = 0, raised = 0;
  for (const auto& c : Fixtures()["cases"]) {
    const std::string name = c["template"];
    if (!templates.count(name)) {
      absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(ReadFile(std::string(kDir) + name + ".jinja"));
      ASSERT_TRUE(t.ok()) << name << ": " << t.status();
      templates.emplace(name, *t);
    }
    std::map<std::string, std::string> strings = c["strings"].get<std::map<std::string, std::string>>();
    const std::string conversation = c["conversation"];
    absl::StatusOr<std::string> out =
        templates.at(name).Render(Conversation(conversation), c["add_generation_prompt"].get<bool>(), strings);
    std::string label = name + " / " + conversation + (c["add_generation_prompt"].get<bool>() ? " / agp" : "");
    if (c.contains("expected")) {
      ASSERT_TRUE(out.ok()) << label << ": " << out.status();
      EXPECT_EQ(*out, c["expected"].get<std::string>()) << label;
      ++rendered;
    } else {
      ASSERT_FALSE(out.ok()) << label << " rendered " << *out;
      EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << label;
      EXPECT_NE(Message(out.status()).find(c["error"].get<std::string>()), std::string::npos)
          << label << ": " << out.status() << "\nwanted: " << c["error"];
      ++raised;
    }
  }
  EXPECT_EQ(templates.size(), 11u);
  EXPECT_GE(rendered, 200);
  EXPECT_GE(raised, 40);
}

TEST(ChatTemplate, LanguageSnippetsMatchJinja) {
  std::vector<ChatMessage> messages = Conversation("multi_turn");
  int n = 0;
  for (const auto& c : Fixtures()["snippets"]) {
    const std::string source = c["source"];
    absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
    ASSERT_TRUE(t.ok()) << source << ": " << t.status();
    absl::StatusOr<std::string> out = t->Render(messages, true, {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
    ASSERT_TRUE(out.ok()) << source << ": " << out.status();
    EXPECT_EQ(*out, c["expected"].get<std::string>()) << source;
    ++n;
  }
  EXPECT_GE(n, 40);
}

// Integer powers are exact and quick at any exponent (bug 18: a loop of y
// multiplications made 1 ** 7999679996 take minutes), and overflow is an
// error, as before.
TEST(ChatTemplate, IntegerPowersAreExactAndQuick) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{{ 2 ** 10 }}", "1024"},
      {"{{ 3 ** 39 }}", "4052555153018976267"},
      {"{{ 2 ** 62 }}", "4611686018427387904"},
      {"{{ (-2) ** 63 }}", "-9223372036854775808"},
      {"{{ (-3) ** 3 }}", "-27"},
      {"{{ 0 ** 0 }}", "1"},
      {"{{ 0 ** 7999679996 }}", "0"},
      {"{{ 1 ** 7999679996 }}", "1"},
      {"{{ (-1) ** 7999679997 }}", "-1"},
  };
  for (const auto& [source, expected] : cases) {
    absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
    ASSERT_TRUE(t.ok()) << source << ": " << t.status();
    absl::StatusOr<std::string> out = t->Render({}, false, {});
    ASSERT_TRUE(out.ok()) << source << ": " << out.status();
    EXPECT_EQ(*out, expected) << source;
  }
  for (const std::string source : {"{{ 2 ** 63 }}", "{{ 3 ** 40 }}", "{{ 2 ** 7999679996 }}"}) {
    absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
    ASSERT_TRUE(t.ok()) << source;
    absl::StatusOr<std::string> out = t->Render({}, false, {});
    ASSERT_FALSE(out.ok()) << source;
    EXPECT_NE(out.status().message().find("integer overflow"), std::string::npos) << out.status();
  }
}

absl::StatusOr<ChatTemplate> ParseFile(const std::string& name) {
  return ChatTemplate::Parse(ReadFile(std::string(kDir) + name + ".jinja"));
}

TEST(ChatTemplate, Llama2RoleAlternationRaisesTheTemplatesMessage) {
  absl::StatusOr<ChatTemplate> t = ParseFile("llama2");
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::string> out =
      t->Render({{"user", "a"}, {"user", "b"}}, true, {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(out.status()).find("the chat template raised an exception: "
                                       "Conversation roles must alternate user/assistant/user/assistant/..."),
            std::string::npos)
      << out.status();
}

TEST(ChatTemplate, Llama32DateFallsBackToToday) {
  absl::StatusOr<ChatTemplate> t = ParseFile("llama3_2");
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::string> out = t->Render({{"user", "hi"}}, true, {{"bos_token", "<|begin_of_text|>"}});
  ASSERT_TRUE(out.ok()) << out.status();
  size_t at = out->find("Today Date: ");
  ASSERT_NE(at, std::string::npos) << *out;
  EXPECT_NE(out->substr(at + 12, 2), "\n\n") << "strftime_now gave an empty date";
}

// Parse error: the status message contains `text`.
void ExpectParseError(const std::string& source, const std::string& text) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  ASSERT_FALSE(t.ok()) << source;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(t.status()).find(text), std::string::npos) << t.status() << "\nwanted: " << text;
}

TEST(ChatTemplate, MalformedTemplatesGivePositionedErrors) {
  ExpectParseError("ab\n{% if x %}abc", "chat template 2:4: '{% if %}' is never closed: expected '{% endif %}'");
  ExpectParseError("{% for m in messages %}{% endif %}",
                   "1:27: unexpected '{% endif %}': the innermost open block is '{% for %}', expected '{% endfor %}'");
  ExpectParseError("{% endfor %}", "1:4: unexpected '{% endfor %}' with no open block");
  ExpectParseError("x {{ messages ", "1:3: unexpected end of template: '{{' is never closed with '}}'");
  ExpectParseError("{% if x ", "'{%' is never closed with '%}'");
  ExpectParseError("{{ x | frobnicate }}", "1:8: unknown filter 'frobnicate'");
  ExpectParseError("{{ x is frob }}", "1:9: unknown test 'frob'");
  ExpectParseError("{{ 'abc }}", "1:4: unterminated string literal");
  ExpectParseError("{# never closed", "1:1: missing end of comment tag '#}'");
  ExpectParseError("{{ x + }}", "1:8: expected an expression, got '}}'");
  ExpectParseError("{% if x y %}{% endif %}", "1:9: expected '%}', got name 'y'");
  ExpectParseError("{{ (x }}", "1:7: unexpected '}', expected ')'");
  ExpectParseError("{% frob %}", "1:4: unknown tag 'frob'");
  ExpectParseError("{% macro f() %}{% endmacro %}", "'{% macro %}' is not supported by Kiln's chat templates");
  ExpectParseError("{% raw %}x{% endraw %}", "'{% raw %}' blocks are not supported");
  ExpectParseError("{% set x %}y{% endset %}", "block '{% set %}...{% endset %}' is not supported");
  ExpectParseError("{{ 1.5 }}", "float literals are not supported");
  ExpectParseError("{% break %}", "'{% break %}' outside a for loop");
  ExpectParseError("{{ x @ y }}", "1:6: unexpected character '@'");
}

TEST(ChatTemplate, DeepNestingIsBounded) {
  ExpectParseError("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}",
                   "expression nested deeper than 128");
  ExpectParseError("{{ " + std::string(5000, '-') + "1 }}", "expression nested deeper than 128");
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "not ";
  ExpectParseError("{{ " + nots + "x }}", "expression nested deeper than 128");
  std::string chain = "1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  ExpectParseError("{{ " + chain + " }}", "expression nested deeper than 128");
  std::string filters = "x";
  for (int i = 0; i < 5000; ++i) filters += " | trim";
  ExpectParseError("{{ " + filters + " }}", "expression nested deeper than 128");
  std::string blocks;
  for (int i = 0; i < 1000; ++i) blocks += "{% if true %}";
  ExpectParseError(blocks, "blocks nested deeper than 64");
  // 60 nested blocks are fine.
  std::string ok;
  for (int i = 0; i < 60; ++i) ok += "{% if true %}";
  ok += "x";
  for (int i = 0; i < 60; ++i) ok += "{% endif %}";
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(ok);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Render({}, false, {}), "x");
}

// Render error: the status has `code` and its message contains `text`.
void ExpectRenderError(const std::string& source, absl::StatusCode code, const std::string& text,
                       const std::vector<ChatMessage>& messages = {{"user", "hi"}}) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  ASSERT_TRUE(t.ok()) << source << ": " << t.status();
  absl::StatusOr<std::string> out = t->Render(messages, true, {});
  ASSERT_FALSE(out.ok()) << source;
  EXPECT_EQ(out.status().code(), code) << out.status();
  EXPECT_NE(Message(out.status()).find(text), std::string::npos) << out.status() << "\nwanted: " << text;
}

TEST(ChatTemplate, RenderingIsBounded) {
  const auto kExhausted = absl::StatusCode::kResourceExhausted;
  ExpectRenderError(
      "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", kExhausted,
      "1:30: the template ran too long: more than 22506 steps, the limit for a conversation of "
      "this size");
  // The size limits meet templates first when the conversation is big, as
  // the step limit grows with it (by 67M steps for these 64 MiB; the 256 MiB
  // case takes about 32M).
  const std::vector<ChatMessage> big = {{"user", std::string(64 << 20, 'x')}};
  ExpectRenderError("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", kExhausted,
                    "rendered output exceeds 16 MiB", big);
  ExpectRenderError(
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% "
      "endfor %}",
      kExhausted, "a string built by the template exceeds 16 MiB", big);
  ExpectRenderError(
      "{% set ns = namespace(s='x' * 1000000) %}{% for i in range(100000) %}{% set y = ns.s ~ 'a' "
      "%}"
      "{% endfor %}",
      kExhausted, "more than 256 MiB", big);
  ExpectRenderError("{{ 'x' * 100000000 }}", kExhausted, "exceeds 16 MiB");
  ExpectRenderError("{{ range(1000000000) | length }}", absl::StatusCode::kInvalidArgument,
                    "1:4: range too big, maximum size for range is 100000", big);
}

// Work done inside one expression counts too: each of these ran for minutes
// or hours, or held gigabytes, when only expressions and loop iterations
// were counted. A 4 MB conversation (4.2M more steps) lets the setup before
// each loop fit, and the error's position shows that the loop's expression
// ran out.
TEST(ChatTemplate, WorkInsideBuiltinsIsBounded) {
  const auto kExhausted = absl::StatusCode::kResourceExhausted;
  const std::vector<ChatMessage> big = {{"user", std::string(4 << 20, 'x')}};
  auto too_long_at = [](const std::string& where) { return where + ": the template ran too long"; };
  const std::string kDoubled =  // lists shared 2**60 times over
      "{% set ns = namespace(l=[1], m=[1]) %}{% for i in range(60) %}"
      "{% set ns.l = [ns.l, ns.l] %}{% set ns.m = [ns.m, ns.m] %}{% endfor %}";
  ExpectRenderError(kDoubled + "{{ ns.l }}", kExhausted, too_long_at("1:133"));
  ExpectRenderError(kDoubled + "{{ ns.l == ns.m }}", kExhausted, too_long_at("1:136"));
  ExpectRenderError(kDoubled + "{{ ns.l | tojson }}", kExhausted, too_long_at("1:143"));
  ExpectRenderError(kDoubled + "{{ messages[ns.l] }}", kExhausted,
                    too_long_at("1:144"));  // the undefined's message
  struct Case {
    const char* source;
    const char* where;  // line:col of the expression that runs out
  };
  const Case kCases[] = {
      // A 100k-item list copied by each of 100k loops that stop at once.
      {"{% set b = range(100000) | list %}{% for i in range(100000) %}{% for x in b %}{% break "
       "%}{% endfor %}"
       "{% endfor %}",
       "1:75"},
      {"{% set s = 'x' * 4000000 %}{% for i in range(100000) %}{% if s | length %}{% endif %}{% "
       "endfor %}",
       "1:66"},
      {"{% set s = 'x' * 4000000 %}{% for i in range(100000) %}{% if s[5] %}{% endif %}{% endfor "
       "%}",
       "1:63"},
      // The cycle check walks a 300k-item list held by a namespace on each store.
      {"{% set b = range(100000) | list %}{% set inner = namespace(x=b+b+b) %}{% set ns = "
       "namespace() %}"
       "{% for i in range(100000) %}{% set ns.y = inner %}{% endfor %}",
       "1:128"},
      {"{% set s = 'ab' * 1000000 %}{% for i in range(100000) %}{% set t = s.strip('cdefghij') "
       "%}{% endfor %}",
       "1:69"},
      {"{% set c = 'c' * 1000000 %}{% for i in range(100000) %}{% set t = ''.strip(c) %}{% endfor "
       "%}",
       "1:69"},
      // A million-byte attribute path, a miss on each of 50k items: held as
      // 50k undefineds, it was 50 GB.
      {"{% set p = 'a' * 1000000 %}{% set r = range(50000) | map(attribute=p) | list %}", "1:54"},
      // A million-byte needle searched for in empty text, 100k times.
      {"{% set n = 'a' * 1000000 %}{% for i in range(100000) %}{% if n in '' %}{% endif %}{% "
       "endfor %}",
       "1:62"},
      // The budget runs out on an early item; the rest must not each scan 4 MB.
      {"{% set h = 'a' * 4000000 %}{{ ('ab ' * 40000).split() | select('in', h) | list }}", "1:57"},
  };
  for (const Case& c : kCases) ExpectRenderError(c.source, kExhausted, too_long_at(c.where), big);
  // A 300k-item tuple of prefixes whose first entry matches, 100k times:
  // walked in place, each call is one match (the tuple was copied).
  absl::StatusOr<ChatTemplate> prefixes = ChatTemplate::Parse(
      "{% set b = [''] + (range(100000) | list) %}{% set t = b + b + b %}"
      "{% for i in range(100000) %}{% if not ''.startswith(t) %}x{% endif %}{% endfor %}done");
  ASSERT_TRUE(prefixes.ok()) << prefixes.status();
  absl::StatusOr<std::string> done = prefixes->Render(big, false, {});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(*done, "done");
  // Identical lists compare without a walk, as in Python.
  absl::StatusOr<ChatTemplate> same = ChatTemplate::Parse(kDoubled + "{{ ns.l == ns.l }}");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same->Render({}, false, {}), "True");
}

// Dict keys are copied and compared at a cost: a long key repeated, looped
// over or looked up.
TEST(ChatTemplate, DictKeysAreCharged) {
  const auto kExhausted = absl::StatusCode::kResourceExhausted;
  std::string repeated = "{% set k = 'a' * 160000 %}{% set d = {";
  for (int i = 0; i < 5000; ++i) repeated += "k: 0, ";
  repeated += "} %}";
  ExpectRenderError(repeated, kExhausted, "the template ran too long");
  const std::vector<ChatMessage> big = {{"user", std::string(4 << 20, 'x')}};
  ExpectRenderError(
      "{% set d = {messages[0].content: 0} %}{% for i in range(100000) %}{% for x in d %}"
      "{% endfor %}{% endfor %}",
      kExhausted, "1:79: the template ran too long", big);
  ExpectRenderError(
      "{% set d = {messages[0].content: 0} %}{% for i in range(100000) %}"
      "{% if d[messages[0].content] %}{% endif %}{% endfor %}",
      kExhausted, "1:74: the template ran too long", big);
  // A repeated key keeps its first place and takes the last value, as in Python.
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse("{{ {'a': 1, 'b': 2, 'a': 3} }}");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Render({}, false, {}), "{'a': 3, 'b': 2}");
}

// 200k levels of lists (4,000 statements of 50): walking them fails with a
// message, and destroying them does not recurse (it would need about 50 MB
// of stack).
TEST(ChatTemplate, DeepValuesAreRefusedAndFreedIteratively) {
  std::string nest = "{% set a = [] %}";
  for (int i = 0; i < 4000; ++i)
    nest += "{% set a = " + std::string(50, '[') + "a" + std::string(50, ']') + " %}";
  const std::vector<ChatMessage> big = {{"user", std::string(4 << 20, 'x')}};
  for (const char* walk : {"{{ a }}", "{{ a < [a] }}", "{{ a == [a] }}"}) {
    ExpectRenderError(nest + walk, absl::StatusCode::kResourceExhausted,
                      "a value nested deeper than 512 levels", big);
  }
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(nest + "ok");
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::string> out = t->Render(big, false, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "ok");
  ExpectParseError("{{ " + std::string(257, 'a') + " }}", "1:4: name longer than 256 bytes");
}

// Integers at the ends of int64: no trap, no overflow (UBSan checks it).
TEST(ChatTemplate, Int64ExtremesAreExact) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(
      "{{ ((-2)**63) is divisibleby(-1) }} {{ 'abc'[1::2**62-1+2**62] }} "
      "{{ range(2**62-2+2**62, 2**62-1+2**62, 5) | list }}");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Render({}, false, {}), "True b [9223372036854775806]");
  ExpectRenderError("{{ ((-2)**63) | abs }}", absl::StatusCode::kInvalidArgument,
                    "1:17: integer overflow");
}

// `in`, split and replace search in linear time: with std::string::find, a
// needle of 500k a's and a b took minutes on a million a's.
TEST(ChatTemplate, TextSearchIsLinearAndExact) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(
      "{% set h = 'a' * 1000000 %}{% set n = 'a' * 500000 ~ 'b' %}{{ n in h }} {{ h.split(n) | "
      "length }} "
      "{{ h.replace(n, '') | length }}");
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<ChatMessage> big = {
      {"user", std::string(1 << 20, 'x')}};  // steps for the scans
  EXPECT_EQ(*t->Render(big, false, {}), "False 1 1000000");
  // Overlapping and self-similar needles, as Python: 'aaa'.split('aa') ==
  // ['', 'a'], 'ababab'.split('aba') == ['', 'bab'], 'xaaaab'.replace('aab',
  // '-') == 'xaa-', 'abc'.replace('', '-') == '-a-b-c-'.
  t = ChatTemplate::Parse(
      "{{ 'aaa'.split('aa') }} {{ 'ababab'.split('aba') }} {{ 'aaaa'.replace('aa', 'b') }} "
      "{{ 'xaaaab'.replace('aab', '-') }} {{ 'abc'.replace('', '-') }} {{ 'abcabd' in 'abcabcabd' "
      "}} "
      "{{ 'aab' in 'aaab' }} {{ 'abd' in 'abcab' }} {{ '' in 'x' }} {{ 'x' is in 'yxy' }}");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Render({}, false, {}),
            "['', 'a'] ['', 'bab'] bb xaa- -a-b-c- True True False True True");
}

// The step limit grows with the conversation: every real template renders
// 2000 messages of 2 KB (they take 20-60 steps a message).
TEST(ChatTemplate, RealTemplatesRenderLongConversations) {
  std::vector<ChatMessage> messages;
  for (int i = 0; i < 2000; ++i) {
    messages.push_back(
        {i % 2 ? "assistant" : "user", std::string(2000, static_cast<char>('a' + i % 26))});
  }
  int rendered = 0;
  for (const char* name : {"gemma", "llama2", "llama3", "llama3_1", "llama3_2", "mistral_v1",
                           "mistral_v1_legacy", "mistral_v3", "qwen2_5", "smollm2", "zephyr"}) {
    absl::StatusOr<ChatTemplate> t =
        ChatTemplate::Parse(ReadFile(std::string(kDir) + name + ".jinja"));
    ASSERT_TRUE(t.ok()) << name << ": " << t.status();
    absl::StatusOr<std::string> out =
        t->Render(messages, true, {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
    ASSERT_TRUE(out.ok()) << name << ": " << out.status();
    EXPECT_GT(out->size(), 2000u * 2000u) << name;
    ++rendered;
  }
  EXPECT_EQ(rendered, 11);
}

TEST(ChatTemplate, RuntimeErrorsArePositioned) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  ExpectRenderError("{{ raise_exception('custom message') }}", kInvalid,
                    "chat template 1:4: the chat template raised an exception: custom message");
  ExpectRenderError("\n{{ nope.attr }}", kInvalid, "2:8: 'nope' is undefined");
  ExpectRenderError("{{ messages[5]['role'] }}", kInvalid, "list object has no element 5");
  ExpectRenderError("{{ none + 'x' }}", kInvalid, "unsupported operand type(s) for +: 'NoneType' and 'str'");
  ExpectRenderError("{{ 1 // 0 }}", kInvalid, "integer division or modulo by zero");
  ExpectRenderError("{{ messages[0].frob() }}", kInvalid, "'dict object' has no method 'frob'");
  ExpectRenderError("{% set x = 1 %}{% set x.y = 2 %}", kInvalid, "cannot assign attribute on non-namespace object");
  ExpectRenderError("{{ undefined_fn(1) }}", kInvalid, "'undefined_fn' is undefined");
}

// A namespace holding itself would be a shared_ptr cycle; every way of making
// one is refused, directly, through a list or dict, or through another namespace.
TEST(ChatTemplate, NamespaceCyclesAreRefused) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  ExpectRenderError("{% set ns = namespace(n=0) %}{% set ns.n = ns %}", kInvalid,
                    "1:33: cannot store namespace 'ns' inside itself (through 'ns.n')");
  ExpectRenderError("{% set ns = namespace() %}{% set ns.l = [1, {'k': ns}] %}", kInvalid, "inside itself");
  ExpectRenderError("{% set a = namespace() %}{% set b = namespace(x=a) %}{% set a.y = b %}", kInvalid,
                    "cannot store namespace 'a' inside itself (through 'a.y')");
  // Sharing without a cycle stays allowed.
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(
      "{% set a = namespace(v=1) %}{% set b = namespace(x=a, y=a) %}{% set b.z = [a, a] %}"
      "{{ b.x.v + b.z[1].v }}");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Render({}, false, {}), "2");
}

TEST(ChatTemplate, ContentIsNeverEvaluated) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse("{{ messages[0].content }}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->Render({{"user", "{{ raise_exception('x') }}{% for %}"}}, false, {}),
            "{{ raise_exception('x') }}{% for %}");
}

}  // namespace
}  // namespace kiln
