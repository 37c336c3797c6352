// ParseOpenAIRequest and ToGenerationConfig: both endpoints' bodies with
// every field mapped, each kind of bad body with an error naming its field,
// and hostile bytes (deep nesting, random and mutated bodies) that must
// return an error rather than crash.
#include "tools/serve/openai_request.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "runtime/generate/generation_config.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln {
namespace {

constexpr OpenAIEndpoint kCompletions = OpenAIEndpoint::kCompletions;
constexpr OpenAIEndpoint kChat = OpenAIEndpoint::kChatCompletions;
constexpr int64_t kVocab = 256;

// The engine's resolved generation_config.json, as the server passes it.
GenerationConfig Defaults() {
  GenerationConfig defaults;
  defaults.max_new_tokens = 64;
  defaults.do_sample = true;
  defaults.temperature = 0.6;
  defaults.top_k = 50;
  defaults.top_p = 0.9;
  defaults.eos_token_ids = {2, 7};
  return defaults;
}

OpenAIRequest Parsed(OpenAIEndpoint endpoint, const std::string& body) {
  absl::StatusOr<OpenAIRequest> request = ParseOpenAIRequest(endpoint, body);
  EXPECT_TRUE(request.ok()) << body << ": " << request.status();
  return request.ok() ? *std::move(request) : OpenAIRequest{};
}

// `body` fails as InvalidArgument with a valid UTF-8 message containing
// each of `parts` (the field's quoted name, the value given, ...).
void ExpectError(OpenAIEndpoint endpoint, const std::string& body,
                 const std::vector<std::string>& parts) {
  SCOPED_TRACE(body.size() > 200 ? body.substr(0, 200) + "..." : body);
  absl::StatusOr<OpenAIRequest> request = ParseOpenAIRequest(endpoint, body);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(request.status().message());
  EXPECT_TRUE(tokenizer::IsValidUtf8(message)) << message;
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

TEST(OpenAIRequestTest, CompletionsWithOnlyAPromptKeepsTheDefaults) {
  const OpenAIRequest request = Parsed(kCompletions, R"({"prompt": "Hello"})");
  EXPECT_EQ(request.endpoint, kCompletions);
  EXPECT_EQ(request.prompt, "Hello");
  EXPECT_TRUE(request.prompt_ids.empty());
  EXPECT_EQ(request.model, "");
  EXPECT_FALSE(request.stream);
  EXPECT_FALSE(request.max_tokens || request.temperature || request.top_p || request.top_k ||
               request.min_p || request.repetition_penalty || request.seed);
  absl::StatusOr<GenerationConfig> config = ToGenerationConfig(request, Defaults(), kVocab);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_new_tokens, 64);
  EXPECT_TRUE(config->do_sample);
  EXPECT_DOUBLE_EQ(config->temperature, 0.6);
  EXPECT_EQ(config->top_k, 50);
  EXPECT_DOUBLE_EQ(config->top_p, 0.9);
  EXPECT_EQ(config->eos_token_ids, (std::vector<int32_t>{2, 7}));
  EXPECT_TRUE(config->stop_strings.empty());
}

TEST(OpenAIRequestTest, CompletionsMapsEveryField) {
  const OpenAIRequest request = Parsed(kCompletions, R"({
      "model": "smollm2", "prompt": "Once", "max_tokens": 16, "temperature": 0.8,
      "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1,
      "seed": 18446744073709551615, "stop": ["\n\n", "END"], "stream": true,
      "stream_options": {"include_usage": true}, "n": 1, "user": "u-1",
      "metadata": {"a": [1, {"b": null}]}, "service_tier": "auto", "logprobs": null,
      "echo": false, "best_of": 1, "suffix": "", "logit_bias": {}, "presence_penalty": 0,
      "frequency_penalty": 0.0})");
  EXPECT_EQ(request.model, "smollm2");
  EXPECT_EQ(request.prompt, "Once");
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_EQ(request.max_tokens, 16);
  EXPECT_EQ(request.seed, UINT64_MAX);
  absl::StatusOr<GenerationConfig> config = ToGenerationConfig(request, Defaults(), kVocab);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_new_tokens, 16);
  EXPECT_TRUE(config->do_sample);
  EXPECT_DOUBLE_EQ(config->temperature, 0.8);
  EXPECT_DOUBLE_EQ(config->top_p, 0.95);
  EXPECT_EQ(config->top_k, 40);
  EXPECT_DOUBLE_EQ(config->min_p, 0.05);
  EXPECT_DOUBLE_EQ(config->repetition_penalty, 1.1);
  EXPECT_EQ(config->seed, UINT64_MAX);
  EXPECT_EQ(config->stop_strings, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(config->eos_token_ids, (std::vector<int32_t>{2, 7}));
}

TEST(OpenAIRequestTest, PromptForms) {
  EXPECT_EQ(Parsed(kCompletions, R"({"prompt": [1, 0, 2147483647]})").prompt_ids,
            (std::vector<int32_t>{1, 0, 2147483647}));
  EXPECT_EQ(Parsed(kCompletions, R"({"prompt": ["Hi there"]})").prompt, "Hi there");
  EXPECT_EQ(Parsed(kCompletions, R"({"prompt": [[5, 6]]})").prompt_ids,
            (std::vector<int32_t>{5, 6}));
  // Ids past the vocabulary are the runtime's to refuse; here only int32 >= 0.
  EXPECT_EQ(Parsed(kCompletions, R"({"prompt": [100000]})").prompt_ids,
            (std::vector<int32_t>{100000}));

  ExpectError(kCompletions, R"({})", {"'prompt' is required", "a string"});
  ExpectError(kCompletions, R"({"prompt": null})", {"'prompt' is required"});
  ExpectError(kCompletions, R"({"prompt": ""})", {"'prompt' must not be empty"});
  ExpectError(kCompletions, R"({"prompt": []})", {"'prompt' must not be empty"});
  ExpectError(kCompletions, R"({"prompt": [""]})", {"'prompt[0]' must not be empty"});
  ExpectError(kCompletions, R"({"prompt": [[]]})", {"'prompt[0]' must not be empty"});
  ExpectError(kCompletions, R"({"prompt": ["a", "b"]})",
              {"'prompt' holds 2 prompts", "batched prompts are not supported",
               "send one prompt per request"});
  ExpectError(kCompletions, R"({"prompt": [[1], [2]]})", {"batched prompts are not supported"});
  ExpectError(kCompletions, R"({"prompt": [1, -1]})",
              {"'prompt[1]' must be a token id", "[0, 2147483647]", "got -1"});
  ExpectError(kCompletions, R"({"prompt": [2147483648]})", {"'prompt[0]'", "got 2147483648"});
  ExpectError(kCompletions, R"({"prompt": [1.5]})", {"'prompt[0]'", "got 1.5"});
  ExpectError(kCompletions, R"({"prompt": [3, "x"]})", {"'prompt[1]'", "got \"x\""});
  ExpectError(kCompletions, R"({"prompt": [[1, true]]})", {"'prompt[0][1]'", "got true"});
  ExpectError(kCompletions, R"({"prompt": 7})", {"'prompt' must be a string", "got 7"});
  ExpectError(kCompletions, R"({"prompt": {"text": "x"}})", {"'prompt'", "got an object"});
}

TEST(OpenAIRequestTest, ChatMapsMessagesAndContentParts) {
  const OpenAIRequest request = Parsed(kChat, R"({
      "model": "m", "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "system", "content": "Sys", "name": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": "Hello"},
                                     {"type": "text", "text": "world"}]},
        {"role": "assistant", "content": "", "tool_calls": []},
        {"role": "user", "content": []}],
      "max_tokens": 5, "max_completion_tokens": 9, "logprobs": false, "top_logprobs": 0,
      "tools": [], "tool_choice": "none", "response_format": {"type": "text"}})");
  EXPECT_EQ(request.endpoint, kChat);
  ASSERT_EQ(request.messages.size(), 5u);
  EXPECT_EQ(request.messages[0].role, "system");
  EXPECT_EQ(request.messages[0].content, "Be brief.");
  EXPECT_EQ(request.messages[1].role, "system");
  EXPECT_EQ(request.messages[2].role, "user");
  EXPECT_EQ(request.messages[2].content, "Hello\nworld");
  EXPECT_EQ(request.messages[3].role, "assistant");
  EXPECT_EQ(request.messages[3].content, "");
  EXPECT_EQ(request.messages[4].content, "");
  EXPECT_EQ(request.max_tokens, 9);  // max_completion_tokens wins
  EXPECT_TRUE(request.prompt.empty());
  // Completions has no max_completion_tokens: an unknown field there.
  EXPECT_FALSE(Parsed(kCompletions, R"({"prompt": "x", "max_completion_tokens": 9})").max_tokens);
  EXPECT_EQ(Parsed(kChat, R"({"messages": [{"role": "user", "content": "x"}],
                              "max_tokens": 5})")
                .max_tokens,
            5);
}

TEST(OpenAIRequestTest, ChatErrorsNameTheMessageField) {
  ExpectError(kChat, R"({"prompt": "x"})", {"'messages' is required"});
  ExpectError(kChat, R"({"messages": "hi"})", {"'messages' must be an array", "got \"hi\""});
  ExpectError(kChat, R"({"messages": []})", {"'messages' must hold at least one message"});
  ExpectError(kChat, R"({"messages": [3]})", {"'messages[0]' must be an object", "got 3"});
  ExpectError(kChat, R"({"messages": [{"content": "x"}]})", {"'messages[0].role' is required"});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": "x"}, {"role": "tool",
              "content": "x"}]})",
              {"'messages[1].role' must be one of", "\"developer\"", "got \"tool\""});
  ExpectError(kChat, R"({"messages": [{"role": 1, "content": "x"}]})",
              {"'messages[0].role'", "got 1"});
  ExpectError(kChat, R"({"messages": [{"role": "user"}]})", {"'messages[0].content' is required"});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": null}]})",
              {"'messages[0].content' is required"});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": 5}]})",
              {"'messages[0].content' must be a string or an array", "got 5"});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": ["x"]}]})",
              {"'messages[0].content[0]' must be an object", "got \"x\""});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})",
              {"'messages[0].content[0].type' is required"});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": [{"type": 2}]}]})",
              {"'messages[0].content[0].type' must be \"text\"", "got 2"});
  ExpectError(
      kChat, R"({"messages": [{"role": "user", "content": [{"type": "text",
              "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]}]})",
      {"'messages[0].content[1]' has type \"image_url\"", "only text content is supported"});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
              {"'messages[0].content[0].text' is required"});
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": [{"type": "text",
              "text": 1}]}]})",
              {"'messages[0].content[0].text' must be a string", "got 1"});
  ExpectError(kChat, R"({"messages": [{"role": "assistant", "content": "",
              "tool_calls": [{"id": "c"}]}]})",
              {"'messages[0].tool_calls' is not supported"});
}

TEST(OpenAIRequestTest, TemperatureChoosesGreedyOrSampling) {
  auto config_for = [](const std::string& fields, GenerationConfig defaults) {
    const OpenAIRequest request = Parsed(kCompletions, R"({"prompt": "x")" + fields + "}");
    absl::StatusOr<GenerationConfig> config = ToGenerationConfig(request, defaults, kVocab);
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? *config : GenerationConfig{};
  };
  GenerationConfig greedy = Defaults();
  greedy.do_sample = false;
  EXPECT_FALSE(config_for(R"(, "temperature": 0)", Defaults()).do_sample);
  EXPECT_FALSE(config_for(R"(, "temperature": 0.0, "top_p": 0.5)", Defaults()).do_sample);
  const GenerationConfig hot = config_for(R"(, "temperature": 2)", greedy);
  EXPECT_TRUE(hot.do_sample);
  EXPECT_DOUBLE_EQ(hot.temperature, 2.0);
  // Without temperature, the engine's choice stands.
  EXPECT_FALSE(config_for(R"(, "top_p": 0.5)", greedy).do_sample);
  EXPECT_TRUE(config_for(R"(, "top_p": 0.5)", Defaults()).do_sample);
  // vLLM's top_k -1 is "off", Kiln's 0.
  EXPECT_EQ(config_for(R"(, "top_k": -1)", Defaults()).top_k, 0);
}

TEST(OpenAIRequestTest, OutOfRangeAndWrongTypeFieldsNameTheField) {
  struct Case {
    const char* fields;
    std::vector<std::string> parts;
  };
  const Case cases[] = {
      {R"("max_tokens": 0)", {"'max_tokens' must be an integer in [1, 2147483647]", "got 0"}},
      {R"("max_tokens": -5)", {"'max_tokens'", "got -5"}},
      {R"("max_tokens": 1.5)", {"'max_tokens'", "got 1.5"}},
      {R"("max_tokens": "10")", {"'max_tokens'", "got \"10\""}},
      {R"("max_tokens": 2147483648)", {"'max_tokens'", "got 2147483648"}},
      {R"("temperature": -0.1)", {"'temperature' must be a number in [0, 2]", "got -0.1"}},
      {R"("temperature": 2.5)", {"'temperature'", "got 2.5"}},
      {R"("temperature": "hot")", {"'temperature'", "got \"hot\""}},
      {R"("top_p": 0)", {"'top_p' must be a number in (0, 1]", "got 0"}},
      {R"("top_p": 1.01)", {"'top_p'", "got 1.01"}},
      {R"("top_k": -2)", {"'top_k' must be an integer >= -1", "got -2"}},
      {R"("top_k": 4.5)", {"'top_k'", "got 4.5"}},
      {R"("top_k": 9999999999)", {"'top_k'", "got 9999999999"}},
      {R"("min_p": 1)", {"'min_p' must be a number in [0, 1)", "got 1"}},
      {R"("min_p": -0.5)", {"'min_p'", "got -0.5"}},
      {R"("repetition_penalty": 0)", {"'repetition_penalty' must be a number > 0", "got 0"}},
      {R"("repetition_penalty": [1])", {"'repetition_penalty'", "got an array"}},
      {R"("seed": -1)", {"'seed' must be an integer in [0, 2^64-1]", "got -1"}},
      {R"("seed": 1.5)", {"'seed'", "got 1.5"}},
      {R"("seed": 18446744073709551616)", {"'seed'", "got 1.8446744073709552e+19"}},
      {R"("n": 2)", {"'n' must be 1: Kiln returns one choice per request", "got 2"}},
      {R"("n": 0)", {"'n' must be 1", "got 0"}},
      {R"("n": "1")", {"'n' must be 1", "got \"1\""}},
      {R"("stream": "true")", {"'stream' must be true or false", "got \"true\""}},
      {R"("stream": 1)", {"'stream'", "got 1"}},
      {R"("stream": true, "stream_options": 5)", {"'stream_options' must be an object"}},
      {R"("stream": true, "stream_options": {"include_usage": "yes"})",
       {"'stream_options.include_usage' must be true or false", "got \"yes\""}},
      {R"("stream_options": {"include_usage": true})",
       {"'stream_options' is only allowed when 'stream' is true"}},
      {R"("model": 5)", {"'model' must be a string", "got 5"}},
      {R"("model": ["a"])", {"'model'", "got an array"}},
  };
  for (const Case& c : cases) {
    ExpectError(kCompletions, absl::StrCat(R"({"prompt": "x", )", c.fields, "}"), c.parts);
    ExpectError(kChat,
                absl::StrCat(R"({"messages": [{"role": "user", "content": "x"}], )", c.fields, "}"),
                c.parts);
  }
  ExpectError(kChat, R"({"messages": [{"role": "user", "content": "x"}],
              "max_completion_tokens": 0})",
              {"'max_completion_tokens' must be an integer in [1, 2147483647]", "got 0"});
}

TEST(OpenAIRequestTest, NullMeansAbsent) {
  const OpenAIRequest request = Parsed(kCompletions, R"({"prompt": "x", "model": null,
      "max_tokens": null, "temperature": null, "top_p": null, "top_k": null, "min_p": null,
      "repetition_penalty": null, "seed": null, "stop": null, "stream": null,
      "stream_options": null, "n": null, "logprobs": null, "top_logprobs": null, "echo": null,
      "best_of": null, "suffix": null, "logit_bias": null, "presence_penalty": null,
      "frequency_penalty": null, "tools": null, "tool_choice": null, "response_format": null})");
  EXPECT_EQ(request.model, "");
  EXPECT_FALSE(request.stream);
  EXPECT_FALSE(request.max_tokens || request.temperature || request.top_p || request.top_k ||
               request.min_p || request.repetition_penalty || request.seed);
  EXPECT_TRUE(request.stop.empty());
  const OpenAIRequest chat = Parsed(kChat, R"({"messages": [{"role": "user", "content": "x",
      "tool_calls": null}], "max_completion_tokens": null, "stream": true,
      "stream_options": {"include_usage": null}})");
  EXPECT_FALSE(chat.max_tokens);
  EXPECT_FALSE(chat.include_usage);
}

TEST(OpenAIRequestTest, StopIsAStringOrUpToFourStrings) {
  EXPECT_EQ(Parsed(kCompletions, R"({"prompt": "x", "stop": "###"})").stop,
            (std::vector<std::string>{"###"}));
  EXPECT_EQ(Parsed(kCompletions, R"({"prompt": "x", "stop": ["a", "b", "c", "d"]})").stop,
            (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_TRUE(Parsed(kCompletions, R"({"prompt": "x", "stop": []})").stop.empty());
  ExpectError(kCompletions, R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})",
              {"'stop' must hold at most 4 strings", "got 5"});
  ExpectError(kCompletions, R"({"prompt": "x", "stop": ""})", {"'stop' must not be empty"});
  ExpectError(kCompletions, R"({"prompt": "x", "stop": ["a", ""]})",
              {"'stop[1]' must be a non-empty string", "got \"\""});
  ExpectError(kCompletions, R"({"prompt": "x", "stop": [1]})", {"'stop[0]'", "got 1"});
  ExpectError(kCompletions, R"({"prompt": "x", "stop": 1})",
              {"'stop' must be a string or an array of at most 4 strings", "got 1"});
  // A non-empty stop replaces the engine's stop strings.
  GenerationConfig defaults = Defaults();
  defaults.stop_strings = {"<|end|>"};
  absl::StatusOr<GenerationConfig> config = ToGenerationConfig(
      Parsed(kCompletions, R"({"prompt": "x", "stop": "###"})"), defaults, kVocab);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->stop_strings, (std::vector<std::string>{"###"}));
}

TEST(OpenAIRequestTest, UnsupportedFieldsAreErrorsUnlessNeutral) {
  struct Case {
    const char* field;
    const char* value;
    const char* reason;
  };
  const Case cases[] = {
      {"logprobs", "true", "no log probabilities"},
      {"logprobs", "5", "no log probabilities"},
      {"top_logprobs", "2", "no log probabilities"},
      {"echo", "true", "does not echo"},
      {"best_of", "3", "it must be 1"},
      {"suffix", "\"x\"", "does not insert"},
      {"logit_bias", R"({"5": 100})", "logit bias is not supported"},
      {"presence_penalty", "0.5", "use 'repetition_penalty'"},
      {"frequency_penalty", "-1", "use 'repetition_penalty'"},
      {"tools", R"([{"type": "function"}])", "does not call tools"},
      {"functions", R"([{"name": "f"}])", "does not call tools"},
      {"tool_choice", "\"auto\"", "does not call tools"},
      {"function_call", "\"auto\"", "does not call tools"},
      {"response_format", R"({"type": "json_object"})", "{\"type\": \"text\"}"},
  };
  for (const Case& c : cases) {
    ExpectError(kCompletions, absl::StrCat(R"({"prompt": "x", ")", c.field, "\": ", c.value, "}"),
                {absl::StrCat("'", c.field, "'"), c.reason});
  }
  ExpectError(kCompletions, R"({"prompt": "x", "presence_penalty": 0.5})",
              {"'presence_penalty' is 0.5: only 0 is supported"});
}

TEST(OpenAIRequestTest, MalformedBodies) {
  ExpectError(kCompletions, "", {"the request body is not valid JSON", "line 1, column"});
  ExpectError(kCompletions, R"({"prompt": "x",)", {"not valid JSON", "line 1"});
  ExpectError(kCompletions, R"({"prompt": "x"} trailing)", {"not valid JSON"});
  ExpectError(kCompletions, std::string("{\"prompt\": \"x\"}\0{", 17), {"a NUL byte at byte 15"});
  ExpectError(kCompletions, "{\"prompt\": \"\xff\xfe\"}", {"not valid JSON", "\\xff"});
  ExpectError(kCompletions, "\xc3", {"not valid JSON"});
  ExpectError(kCompletions, R"({"prompt": 1e999})", {"not valid JSON: number overflow"});
  ExpectError(kCompletions, R"([{"prompt": "x"}])",
              {"the request body must be a JSON object", "got an array"});
  ExpectError(kChat, R"("hello")", {"must be a JSON object", "got \"hello\""});
  ExpectError(kChat, "null", {"must be a JSON object", "got null"});
  // A long string value is cut at a character boundary in the message.
  const std::string long_text = std::string(47, 'a') + "\xc3\xa9" + std::string(1000, 'b');
  ExpectError(kCompletions, R"({"prompt": "x", "suffix": ")" + long_text + "\"}",
              {"'suffix' is \"" + std::string(47, 'a') + "...\":"});
}

TEST(OpenAIRequestTest, DeepNestingIsAnErrorNotACrash) {
  ExpectError(kCompletions, std::string(100000, '[') + std::string(100000, ']'),
              {"deeper than 64 levels"});
  ExpectError(kChat, R"({"messages": )" + std::string(100000, '['), {"deeper than 64 levels"});
  // Brackets inside strings do not count.
  Parsed(kCompletions, R"({"prompt": ")" + std::string(1000, '[') + R"("})");
  // 64 levels in all are accepted (an ignored field), 65 are not.
  const std::string ok =
      R"({"prompt": "x", "metadata": )" + std::string(63, '[') + std::string(63, ']') + "}";
  Parsed(kCompletions, ok);
  ExpectError(kCompletions,
              R"({"prompt": "x", "metadata": )" + std::string(64, '[') + std::string(64, ']') + "}",
              {"deeper than 64 levels"});
}

TEST(OpenAIRequestTest, ToGenerationConfigErrorsNameTheField) {
  OpenAIRequest request;
  request.prompt = "x";
  request.temperature = -1;  // built by hand, not by the parser
  absl::StatusOr<GenerationConfig> config = ToGenerationConfig(request, Defaults(), kVocab);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("'temperature'"), std::string::npos) << config.status();
  request.temperature.reset();
  request.max_tokens = 0;
  config = ToGenerationConfig(request, Defaults(), kVocab);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'max_tokens' must be at least 1"), std::string::npos)
      << config.status();
  request.max_tokens.reset();
  request.stop = {""};
  config = ToGenerationConfig(request, Defaults(), kVocab);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'stop'"), std::string::npos) << config.status();
  // An eos id past the vocabulary is the engine's, not the client's.
  request.stop.clear();
  GenerationConfig defaults = Defaults();
  defaults.eos_token_ids = {kVocab};
  config = ToGenerationConfig(request, defaults, kVocab);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("the engine's generation defaults: eos_token_ids"),
            std::string::npos)
      << config.status();
}

// Every outcome is a value or an InvalidArgument with a UTF-8 message, and
// an accepted request's config passes validation.
void ExpectReturns(OpenAIEndpoint endpoint, const std::string& body) {
  absl::StatusOr<OpenAIRequest> request = ParseOpenAIRequest(endpoint, body);
  if (!request.ok()) {
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(tokenizer::IsValidUtf8(std::string(request.status().message())))
        << request.status();
    return;
  }
  absl::StatusOr<GenerationConfig> config = ToGenerationConfig(*request, Defaults(), kVocab);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(ValidateGenerationConfig(*config, kVocab).ok());
}

TEST(OpenAIRequestTest, RandomAndMutatedBodiesReturn) {
  std::mt19937 rng(20261206);
  auto below = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  constexpr char kJsonish[] = "{}[]\",:0123456789.-+eE truefalsn\\u\xc3\xa9\xff\n";
  for (int i = 0; i < 300; ++i) {
    std::string body(below(64), '\0');
    const bool jsonish = i % 2 == 0;
    for (char& c : body) {
      c = jsonish ? kJsonish[below(sizeof(kJsonish) - 1)] : static_cast<char>(below(256));
    }
    ExpectReturns(i % 3 == 0 ? kChat : kCompletions, body);
  }
  const std::pair<OpenAIEndpoint, std::string> valid[] = {
      {kCompletions, R"({"prompt": [1, 2, 3], "max_tokens": 4, "temperature": 0.5, "top_k": -1,
                        "stop": ["a", "b"], "seed": 7, "stream": true,
                        "stream_options": {"include_usage": true}})"},
      {kChat, R"({"messages": [{"role": "system", "content": "s"}, {"role": "user",
                 "content": [{"type": "text", "text": "t"}]}], "top_p": 0.9, "min_p": 0.1,
                 "repetition_penalty": 1.2, "max_completion_tokens": 3, "n": 1})"},
  };
  int accepted = 0;
  for (int i = 0; i < 600; ++i) {
    const auto& [endpoint, original] = valid[i % 2];
    std::string body = original;
    for (size_t edits = 1 + below(4); edits > 0; --edits) {
      const size_t at = below(body.size());
      switch (below(4)) {
        case 0:
          body[at] = static_cast<char>(below(256));
          break;
        case 1:
          body.erase(at, 1 + below(8));
          break;
        case 2:
          body.insert(at, 1, kJsonish[below(sizeof(kJsonish) - 1)]);
          break;
        default:
          body.resize(at);
          break;
      }
      if (body.empty()) break;
    }
    ExpectReturns(endpoint, body);
    accepted += ParseOpenAIRequest(endpoint, body).ok();
  }
  // The mutations keep some bodies valid, so accepted requests are checked too.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace kiln
