#include "tools/serve/openai_request.h"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "base/json_nesting.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace kiln {
namespace {

using Json = nlohmann::json;

// nlohmann parses iteratively, but copying and printing a value recurse, so
// a hostile depth would overflow the stack. Requests nest 4 deep
// (messages[i].content[j]); 64 leaves room for ignored fields ("metadata").
constexpr int kMaxNesting = 64;
// A string value quoted in an error is cut to this many bytes.
constexpr size_t kShownBytes = 48;
// The parser's own message (it may quote the body) is cut to this many.
constexpr size_t kParseErrorBytes = 160;
// OpenAI's limit on stop sequences.
constexpr size_t kMaxStops = 4;
constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

template <typename... Args>
absl::Status Invalid(const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(args...));
}

// `text` with bytes outside printable ASCII written as \xNN and cut to
// `limit` bytes, so that a message quoting the body stays valid UTF-8.
std::string Printable(std::string_view text, size_t limit) {
  std::string out;
  for (const char c : text) {
    if (out.size() >= limit) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F) {
      out += c;
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xF]};
    }
  }
  return out;
}

// `value` as an error shows it: numbers and literals as JSON, strings
// quoted and cut to kShownBytes (at a character boundary), containers by
// kind, so a message stays short whatever a client sent.
std::string Shown(const Json& value) {
  switch (value.type()) {
    case Json::value_t::string: {
      std::string text = value.get_ref<const std::string&>();
      if (text.size() > kShownBytes) {
        size_t cut = kShownBytes;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text.resize(cut);
        text += "...";
      }
      return Json(text).dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
    }
    case Json::value_t::array:
      return value.empty() ? "an empty array" : "an array";
    case Json::value_t::object:
      return value.empty() ? "an empty object" : "an object";
    default:
      return value.dump();
  }
}

absl::Status Expected(absl::string_view field, absl::string_view expected, const Json& given) {
  return Invalid("'", field, "' must be ", expected, ", got ", Shown(given));
}

// The member `key` of `object`, or nullptr when it is absent or null: null
// means absent for every optional field.
const Json* Find(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// `value` when it is a JSON integer in [lo, hi] (0 <= hi); else nullopt.
std::optional<int64_t> IntegerIn(const Json& value, int64_t lo, int64_t hi) {
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) {
    const int64_t i = value.get<int64_t>();
    if (i < lo || i > hi) return std::nullopt;
    return i;
  }
  return std::nullopt;
}

absl::Status ReadBool(const Json& object, const char* key, absl::string_view field, bool& out) {
  const Json* value = Find(object, key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_boolean()) return Expected(field, "true or false", *value);
  out = value->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadInt(const Json& object, const char* key, int64_t lo, int64_t hi,
                     absl::string_view expected, std::optional<int>& out) {
  const Json* value = Find(object, key);
  if (value == nullptr) return absl::OkStatus();
  const std::optional<int64_t> i = IntegerIn(*value, lo, hi);
  if (!i) return Expected(key, expected, *value);
  out = static_cast<int>(*i);
  return absl::OkStatus();
}

// A number in the range `in_range` accepts, which `expected` describes.
absl::Status ReadNumber(const Json& object, const char* key, bool (*in_range)(double),
                        absl::string_view expected, std::optional<double>& out) {
  const Json* value = Find(object, key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_number() || !in_range(value->get<double>())) {
    return Expected(key, expected, *value);
  }
  out = value->get<double>();
  return absl::OkStatus();
}

absl::Status ReadSeed(const Json& object, std::optional<uint64_t>& out) {
  const Json* value = Find(object, "seed");
  if (value == nullptr) return absl::OkStatus();
  if (value->is_number_unsigned()) {
    out = value->get<uint64_t>();
  } else if (value->is_number_integer() && value->get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(value->get<int64_t>());
  } else {
    return Expected("seed", "an integer in [0, 2^64-1]", *value);
  }
  return absl::OkStatus();
}

absl::Status ReadStop(const Json& object, std::vector<std::string>& out) {
  const Json* stop = Find(object, "stop");
  if (stop == nullptr) return absl::OkStatus();
  if (stop->is_string()) {
    if (stop->get_ref<const std::string&>().empty()) return Invalid("'stop' must not be empty");
    out.push_back(stop->get<std::string>());
    return absl::OkStatus();
  }
  if (!stop->is_array())
    return Expected("stop", "a string or an array of at most 4 strings", *stop);
  if (stop->size() > kMaxStops) {
    return Invalid("'stop' must hold at most ", kMaxStops, " strings, got ", stop->size());
  }
  for (size_t i = 0; i < stop->size(); ++i) {
    const Json& s = (*stop)[i];
    if (!s.is_string() || s.get_ref<const std::string&>().empty()) {
      return Expected(absl::StrCat("stop[", i, "]"), "a non-empty string", s);
    }
    out.push_back(s.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadTokenIds(const Json& ids, const std::string& field, std::vector<int32_t>& out) {
  if (ids.empty()) return Invalid("'", field, "' must not be empty");
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    // The vocabulary's bound is the runtime's to check: it knows the engine.
    const std::optional<int64_t> id = IntegerIn(ids[i], 0, kInt32Max);
    if (!id) {
      return Expected(absl::StrCat(field, "[", i, "]"),
                      "a token id (an integer in [0, 2147483647])", ids[i]);
    }
    out.push_back(static_cast<int32_t>(*id));
  }
  return absl::OkStatus();
}

absl::Status ReadPromptText(const Json& text, const std::string& field, std::string& out) {
  if (text.get_ref<const std::string&>().empty()) return Invalid("'", field, "' must not be empty");
  out = text.get<std::string>();
  return absl::OkStatus();
}

// "prompt": text, token ids, or a batch of one of either (OpenAI's batch
// form, which clients use for a single prompt too).
absl::Status ReadPrompt(const Json& body, OpenAIRequest& request) {
  constexpr char kExpected[] = "a string, an array of token ids or an array of one string";
  const Json* prompt = Find(body, "prompt");
  if (prompt == nullptr) return Invalid("'prompt' is required: ", kExpected);
  if (prompt->is_string()) return ReadPromptText(*prompt, "prompt", request.prompt);
  if (!prompt->is_array()) return Expected("prompt", kExpected, *prompt);
  if (prompt->empty()) return Invalid("'prompt' must not be empty");
  const Json& first = prompt->front();
  if (!first.is_string() && !first.is_array()) {
    return ReadTokenIds(*prompt, "prompt", request.prompt_ids);
  }
  if (prompt->size() > 1) {
    return Invalid("'prompt' holds ", prompt->size(),
                   " prompts: n/batched prompts are not supported: send one prompt per request");
  }
  if (first.is_string()) return ReadPromptText(first, "prompt[0]", request.prompt);
  return ReadTokenIds(first, "prompt[0]", request.prompt_ids);
}

absl::StatusOr<std::string> ReadRole(const Json& message, const std::string& field) {
  constexpr char kRoles[] = "one of \"system\", \"user\", \"assistant\", \"developer\"";
  const Json* role = Find(message, "role");
  if (role == nullptr) return Invalid("'", field, ".role' is required: ", kRoles);
  if (role->is_string()) {
    const std::string& name = role->get_ref<const std::string&>();
    // OpenAI's newer name for the system role.
    if (name == "developer") return std::string("system");
    if (name == "system" || name == "user" || name == "assistant") return name;
  }
  return Expected(field + ".role", kRoles, *role);
}

// A message's content: a string, or an array of text parts joined by "\n"
// (vLLM's and TensorRT-LLM's convention).
absl::StatusOr<std::string> ReadContent(const Json& message, const std::string& field) {
  constexpr char kExpected[] = "a string or an array of {\"type\": \"text\", \"text\": ...} parts";
  const Json* content = Find(message, "content");
  if (content == nullptr) return Invalid("'", field, ".content' is required: ", kExpected);
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) return Expected(field + ".content", kExpected, *content);
  std::vector<std::string> texts;
  for (size_t j = 0; j < content->size(); ++j) {
    const Json& part = (*content)[j];
    const std::string part_field = absl::StrCat(field, ".content[", j, "]");
    if (!part.is_object()) {
      return Expected(part_field, "an object such as {\"type\": \"text\", \"text\": ...}", part);
    }
    const Json* type = Find(part, "type");
    if (type == nullptr) return Invalid("'", part_field, ".type' is required: \"text\"");
    if (!type->is_string()) return Expected(part_field + ".type", "\"text\"", *type);
    if (*type != "text") {
      return Invalid("'", part_field, "' has type ", Shown(*type),
                     ": only text content is supported");
    }
    const Json* text = Find(part, "text");
    if (text == nullptr) return Invalid("'", part_field, ".text' is required: a string");
    if (!text->is_string()) return Expected(part_field + ".text", "a string", *text);
    texts.push_back(text->get<std::string>());
  }
  return absl::StrJoin(texts, "\n");
}

absl::Status ReadMessages(const Json& body, std::vector<ChatMessage>& out) {
  constexpr char kExpected[] = "an array of {\"role\": ..., \"content\": ...} objects";
  const Json* messages = Find(body, "messages");
  if (messages == nullptr) return Invalid("'messages' is required: ", kExpected);
  if (!messages->is_array()) return Expected("messages", kExpected, *messages);
  if (messages->empty()) return Invalid("'messages' must hold at least one message");
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) {
      return Expected(field, "an object with \"role\" and \"content\"", message);
    }
    ChatMessage parsed;
    KILN_ASSIGN_OR_RETURN(parsed.role, ReadRole(message, field));
    KILN_ASSIGN_OR_RETURN(parsed.content, ReadContent(message, field));
    const Json* calls = Find(message, "tool_calls");
    if (calls != nullptr && !(calls->is_array() && calls->empty())) {
      return Invalid("'", field, ".tool_calls' is not supported: Kiln does not call tools, got ",
                     Shown(*calls));
    }
    out.push_back(std::move(parsed));
  }
  return absl::OkStatus();
}

// Neutral values of the standard fields Kiln does not implement.
bool IsFalse(const Json& v) { return v.is_boolean() && !v.get<bool>(); }
bool IsZero(const Json& v) { return v.is_number() && v.get<double>() == 0; }
bool IsFalseOrZero(const Json& v) { return IsFalse(v) || IsZero(v); }
bool IsOne(const Json& v) { return v.is_number() && v.get<double>() == 1; }
bool IsEmptyString(const Json& v) {
  return v.is_string() && v.get_ref<const std::string&>().empty();
}
bool IsEmptyObject(const Json& v) { return v.is_object() && v.empty(); }
bool IsEmptyArray(const Json& v) { return v.is_array() && v.empty(); }
bool IsNone(const Json& v) { return v.is_string() && v.get_ref<const std::string&>() == "none"; }
bool IsTextFormat(const Json& v) {
  if (!v.is_object()) return false;
  const auto type = v.find("type");
  return type != v.end() && *type == "text";
}

// A standard field accepted only at its neutral value, so that a client
// asking for more is told rather than silently given something else.
struct UnsupportedField {
  const char* key;
  bool (*neutral)(const Json&);
  const char* why;  // follows "'<key>' is <value>: "
};

constexpr char kNoTools[] = "Kiln does not call tools";
constexpr char kPenalty[] =
    "only 0 is supported; use 'repetition_penalty' (multiplicative, e.g. 1.1)";
constexpr UnsupportedField kUnsupported[] = {
    {"logprobs", IsFalseOrZero, "Kiln returns no log probabilities (false or 0 only)"},
    {"top_logprobs", IsZero, "Kiln returns no log probabilities (0 only)"},
    {"echo", IsFalse, "Kiln does not echo the prompt (false only)"},
    {"best_of", IsOne, "it must be 1: Kiln generates one sequence per request"},
    {"suffix", IsEmptyString, "Kiln does not insert text (\"\" only)"},
    {"logit_bias", IsEmptyObject, "logit bias is not supported ({} only)"},
    {"presence_penalty", IsZero, kPenalty},
    {"frequency_penalty", IsZero, kPenalty},
    {"tools", IsEmptyArray, kNoTools},
    {"functions", IsEmptyArray, kNoTools},
    {"tool_choice", IsNone, "Kiln does not call tools (\"none\" only)"},
    {"function_call", IsNone, "Kiln does not call tools (\"none\" only)"},
    {"response_format", IsTextFormat, "only {\"type\": \"text\"} is supported"},
};

bool InZeroToTwo(double x) { return x >= 0 && x <= 2; }
bool InZeroExclusiveToOne(double x) { return x > 0 && x <= 1; }
bool InZeroToOneExclusive(double x) { return x >= 0 && x < 1; }
bool Positive(double x) { return x > 0; }  // JSON has no infinity or NaN

absl::Status ReadSampling(const Json& body, OpenAIEndpoint endpoint, OpenAIRequest& request) {
  constexpr char kTokens[] = "an integer in [1, 2147483647]";
  KILN_RETURN_IF_ERROR(ReadInt(body, "max_tokens", 1, kIntMax, kTokens, request.max_tokens));
  if (endpoint == OpenAIEndpoint::kChatCompletions) {
    // OpenAI's newer name; it wins over max_tokens, as in vLLM.
    std::optional<int> max_completion_tokens;
    KILN_RETURN_IF_ERROR(
        ReadInt(body, "max_completion_tokens", 1, kIntMax, kTokens, max_completion_tokens));
    if (max_completion_tokens) request.max_tokens = max_completion_tokens;
  }
  KILN_RETURN_IF_ERROR(
      ReadNumber(body, "temperature", InZeroToTwo, "a number in [0, 2]", request.temperature));
  KILN_RETURN_IF_ERROR(
      ReadNumber(body, "top_p", InZeroExclusiveToOne, "a number in (0, 1]", request.top_p));
  KILN_RETURN_IF_ERROR(
      ReadInt(body, "top_k", -1, kIntMax, "an integer >= -1 (-1 or 0: off)", request.top_k));
  if (request.top_k == -1) request.top_k = 0;  // vLLM's "off"
  KILN_RETURN_IF_ERROR(
      ReadNumber(body, "min_p", InZeroToOneExclusive, "a number in [0, 1)", request.min_p));
  KILN_RETURN_IF_ERROR(ReadNumber(body, "repetition_penalty", Positive, "a number > 0 (1: off)",
                                  request.repetition_penalty));
  KILN_RETURN_IF_ERROR(ReadSeed(body, request.seed));
  return ReadStop(body, request.stop);
}

absl::StatusOr<Json> ParseBody(std::string_view body) {
  // nlohmann's lexer would take a NUL for the end of input and ignore the
  // rest; JSON allows no raw NUL anywhere.
  if (const size_t nul = body.find('\0'); nul != std::string_view::npos) {
    return Invalid("the request body is not valid JSON: a NUL byte at byte ", nul);
  }
  if (JsonNestingDepth(body) > kMaxNesting) {
    return Invalid("the request body nests arrays and objects deeper than ", kMaxNesting,
                   " levels");
  }
  Json json;
  try {
    json = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1,
    // column 9: syntax error while parsing ..." (or out_of_range.406, "number
    // overflow parsing '1e999'"); the prefix tells a client nothing.
    std::string_view what = e.what();
    if (const size_t end = what.find("] ");
        what.rfind("[json.exception", 0) == 0 && end != std::string_view::npos) {
      what.remove_prefix(end + 2);
    }
    return Invalid("the request body is not valid JSON: ", Printable(what, kParseErrorBytes));
  } catch (const std::exception& e) {
    return Invalid("the request body cannot be parsed: ", Printable(e.what(), kParseErrorBytes));
  }
  if (!json.is_object()) {
    return Invalid("the request body must be a JSON object, got ", Shown(json));
  }
  return json;
}

// Validation messages start with the GenerationConfig field; a client
// knows the OpenAI name.
std::string WithOpenAINames(absl::string_view message) {
  constexpr std::pair<const char*, const char*> kNames[] = {
      {"max_new_tokens", "max_tokens"},
      {"stop_strings", "stop"},
      {"temperature", "temperature"},
      {"top_p", "top_p"},
      {"top_k", "top_k"},
      {"min_p", "min_p"},
      {"repetition_penalty", "repetition_penalty"},
  };
  for (const auto& [config_name, openai_name] : kNames) {
    const std::string prefix = absl::StrCat(config_name, " ");
    if (message.rfind(prefix, 0) == 0) {
      return absl::StrCat("'", openai_name, "' ", message.substr(prefix.size()));
    }
  }
  return absl::StrCat("the engine's generation defaults: ", message);
}

}  // namespace

absl::StatusOr<OpenAIRequest> ParseOpenAIRequest(OpenAIEndpoint endpoint, std::string_view body) {
  KILN_ASSIGN_OR_RETURN(const Json json, ParseBody(body));
  OpenAIRequest request;
  request.endpoint = endpoint;
  if (const Json* model = Find(json, "model")) {
    if (!model->is_string()) return Expected("model", "a string", *model);
    request.model = model->get<std::string>();
  }
  if (endpoint == OpenAIEndpoint::kCompletions) {
    KILN_RETURN_IF_ERROR(ReadPrompt(json, request));
  } else {
    KILN_RETURN_IF_ERROR(ReadMessages(json, request.messages));
  }
  if (const Json* n = Find(json, "n"); n != nullptr && !IntegerIn(*n, 1, 1)) {
    return Invalid("'n' must be 1: Kiln returns one choice per request, got ", Shown(*n));
  }
  KILN_RETURN_IF_ERROR(ReadBool(json, "stream", "stream", request.stream));
  if (const Json* options = Find(json, "stream_options")) {
    if (!options->is_object()) {
      return Expected("stream_options", "an object such as {\"include_usage\": true}", *options);
    }
    if (!request.stream) {
      return Invalid("'stream_options' is only allowed when 'stream' is true");
    }
    KILN_RETURN_IF_ERROR(
        ReadBool(*options, "include_usage", "stream_options.include_usage", request.include_usage));
  }
  KILN_RETURN_IF_ERROR(ReadSampling(json, endpoint, request));
  for (const UnsupportedField& field : kUnsupported) {
    const Json* value = Find(json, field.key);
    if (value != nullptr && !field.neutral(*value)) {
      return Invalid("'", field.key, "' is ", Shown(*value), ": ", field.why);
    }
  }
  return request;
}

absl::StatusOr<GenerationConfig> ToGenerationConfig(const OpenAIRequest& request,
                                                    const GenerationConfig& defaults,
                                                    int64_t vocab_size) {
  GenerationConfig config = defaults;
  if (request.max_tokens) config.max_new_tokens = *request.max_tokens;
  if (request.temperature) {
    // 0 is OpenAI's greedy. Any other value is kept, so that a negative or
    // NaN one (from a request not built by the parser) fails validation.
    config.do_sample = *request.temperature > 0;
    if (*request.temperature != 0) config.temperature = *request.temperature;
  }
  if (request.top_p) config.top_p = *request.top_p;
  if (request.top_k) config.top_k = *request.top_k;
  if (request.min_p) config.min_p = *request.min_p;
  if (request.repetition_penalty) config.repetition_penalty = *request.repetition_penalty;
  if (request.seed) config.seed = *request.seed;
  if (!request.stop.empty()) config.stop_strings = request.stop;
  const absl::Status valid = ValidateGenerationConfig(config, vocab_size);
  if (!valid.ok()) return absl::InvalidArgumentError(WithOpenAINames(valid.message()));
  return config;
}

}  // namespace kiln
