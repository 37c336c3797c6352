#include "runtime/tokenizer/tokenizer_json.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/bpe.h"
#include "base/file_util.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

using Json = nlohmann::json;

// Error helpers: every message names the file and the JSON location.
class Ctx {
 public:
  explicit Ctx(std::string what) : what_(std::move(what)) {}
  absl::Status Error(const std::string& where, const std::string& message) const {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": ", where, ": ", message));
  }
  absl::Status Unsupported(const std::string& where, const std::string& message) const {
    return absl::UnimplementedError(absl::StrCat(what_, ": ", where, ": ", message));
  }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
};

const Json* Field(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

absl::StatusOr<std::string> GetString(const Ctx& ctx, const Json& obj, const char* key,
                                      const std::string& where) {
  const Json* v = Field(obj, key);
  if (v == nullptr || !v->is_string()) {
    return ctx.Error(where, absl::StrCat("\"", key, "\" must be a string"));
  }
  return v->get<std::string>();
}

absl::StatusOr<bool> GetBool(const Ctx& ctx, const Json& obj, const char* key, bool fallback,
                             const std::string& where) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) return ctx.Error(where, absl::StrCat("\"", key, "\" must be a boolean"));
  return v->get<bool>();
}

absl::StatusOr<int64_t> GetInt(const Ctx& ctx, const Json& v, const std::string& where) {
  if (!v.is_number_integer()) return ctx.Error(where, "must be an integer");
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT32_MAX)) return ctx.Error(where, "integer too large");
    return static_cast<int64_t>(u);
  }
  return v.get<int64_t>();
}

absl::StatusOr<std::string> TypeOf(const Ctx& ctx, const Json& obj, const std::string& where) {
  if (!obj.is_object()) return ctx.Error(where, "must be an object");
  return GetString(ctx, obj, "type", where);
}

// {"String": "..."} or {"Regex": "..."}.
absl::Status GetPattern(const Ctx& ctx, const Json& obj, const std::string& where,
                        std::string* pattern, bool* is_regex) {
  const Json* p = Field(obj, "pattern");
  if (p == nullptr || !p->is_object() || p->size() != 1) {
    return ctx.Error(where, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
  }
  const auto it = p->begin();
  if ((it.key() != "String" && it.key() != "Regex") || !it.value().is_string()) {
    return ctx.Error(where, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
  }
  *is_regex = it.key() == "Regex";
  *pattern = it.value().get<std::string>();
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetSingleChar(const Ctx& ctx, const Json& obj, const char* key,
                                          const std::string& where) {
  KILN_ASSIGN_OR_RETURN(std::string s, GetString(ctx, obj, key, where));
  if (s.empty() || !IsValidUtf8(s) || Utf8Length(s) != 1) {
    return ctx.Error(where, absl::StrCat("\"", key, "\" must be one character"));
  }
  return s;
}

absl::StatusOr<PrependScheme> GetPrependScheme(const Ctx& ctx, const Json& obj,
                                               const std::string& where) {
  // Older files carry add_prefix_space instead of prepend_scheme.
  KILN_ASSIGN_OR_RETURN(bool add_prefix_space, GetBool(ctx, obj, "add_prefix_space", true, where));
  const Json* scheme = Field(obj, "prepend_scheme");
  if (scheme == nullptr) return add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
  if (!scheme->is_string()) return ctx.Error(where, "\"prepend_scheme\" must be a string");
  const std::string s = scheme->get<std::string>();
  PrependScheme result;
  if (s == "always") {
    result = PrependScheme::kAlways;
  } else if (s == "first") {
    result = PrependScheme::kFirst;
  } else if (s == "never") {
    result = PrependScheme::kNever;
  } else {
    return ctx.Error(where, absl::StrCat("unknown prepend_scheme \"", s, "\""));
  }
  if (!add_prefix_space && result != PrependScheme::kNever) {
    return ctx.Error(where, "add_prefix_space does not match declared prepend_scheme");
  }
  return result;
}

absl::Status AddNormalizer(const Ctx& ctx, const Json& n, const std::string& where,
                           std::vector<NormalizerStep>* steps) {
  KILN_ASSIGN_OR_RETURN(std::string type, TypeOf(ctx, n, where));
  const std::string at = absl::StrCat(where, " (", type, ")");
  if (type == "Sequence") {
    const Json* list = Field(n, "normalizers");
    if (list == nullptr || !list->is_array())
      return ctx.Error(at, "\"normalizers\" must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(AddNormalizer(ctx, (*list)[i], absl::StrCat(where, "[", i, "]"), steps));
    }
  } else if (type == "Prepend") {
    KILN_ASSIGN_OR_RETURN(std::string prefix, GetString(ctx, n, "prepend", at));
    steps->push_back(Normalizer::MakePrepend(SanitizeUtf8(prefix)));
  } else if (type == "Replace") {
    std::string pattern;
    bool is_regex;
    KILN_RETURN_IF_ERROR(GetPattern(ctx, n, at, &pattern, &is_regex));
    KILN_ASSIGN_OR_RETURN(std::string content, GetString(ctx, n, "content", at));
    auto step = Normalizer::MakeReplace(pattern, is_regex, SanitizeUtf8(content));
    if (!step.ok()) return ctx.Error(at, std::string(step.status().message()));
    steps->push_back(std::move(*step));
  } else if (type == "NFC") {
    steps->push_back(Normalizer::MakeNfc());
  } else if (type == "Strip") {
    KILN_ASSIGN_OR_RETURN(bool left, GetBool(ctx, n, "strip_left", false, at));
    KILN_ASSIGN_OR_RETURN(bool right, GetBool(ctx, n, "strip_right", false, at));
    KILN_ASSIGN_OR_RETURN(NormalizerStep step, Normalizer::MakeStrip(left, right));
    steps->push_back(std::move(step));
  } else {
    return ctx.Unsupported(where, absl::StrCat("normalizer \"", type,
                                               "\" is not supported (supported: Sequence, "
                                               "Prepend, Replace, NFC, Strip)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SplitBehavior> GetBehavior(const Ctx& ctx, const Json& n, const std::string& at) {
  KILN_ASSIGN_OR_RETURN(std::string b, GetString(ctx, n, "behavior", at));
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return ctx.Error(at, absl::StrCat("unknown split behavior \"", b, "\""));
}

absl::Status AddPreTokenizer(const Ctx& ctx, const Json& n, const std::string& where,
                             std::vector<PreTokenizerStep>* steps) {
  KILN_ASSIGN_OR_RETURN(std::string type, TypeOf(ctx, n, where));
  const std::string at = absl::StrCat(where, " (", type, ")");
  if (!steps->empty() && steps->back().kind == PreTokenizerStep::Kind::kByteLevel) {
    // Kiln's byte-level models read raw bytes, so nothing may split the
    // byte-mapped text after the ByteLevel step.
    return ctx.Unsupported(at, "a pre-tokenizer after ByteLevel is not supported");
  }
  absl::StatusOr<PreTokenizerStep> step = absl::InternalError("unset");
  if (type == "Sequence") {
    const Json* list = Field(n, "pretokenizers");
    if (list == nullptr || !list->is_array())
      return ctx.Error(at, "\"pretokenizers\" must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(
          AddPreTokenizer(ctx, (*list)[i], absl::StrCat(where, "[", i, "]"), steps));
    }
    return absl::OkStatus();
  } else if (type == "Split") {
    std::string pattern;
    bool is_regex;
    KILN_RETURN_IF_ERROR(GetPattern(ctx, n, at, &pattern, &is_regex));
    KILN_ASSIGN_OR_RETURN(SplitBehavior behavior, GetBehavior(ctx, n, at));
    KILN_ASSIGN_OR_RETURN(bool invert, GetBool(ctx, n, "invert", false, at));
    step = PreTokenizer::MakeSplit(pattern, is_regex, behavior, invert);
  } else if (type == "Digits") {
    KILN_ASSIGN_OR_RETURN(bool individual, GetBool(ctx, n, "individual_digits", false, at));
    step = PreTokenizer::MakeDigits(individual);
  } else if (type == "Metaspace") {
    KILN_ASSIGN_OR_RETURN(std::string replacement, GetSingleChar(ctx, n, "replacement", at));
    KILN_ASSIGN_OR_RETURN(PrependScheme scheme, GetPrependScheme(ctx, n, at));
    KILN_ASSIGN_OR_RETURN(bool split, GetBool(ctx, n, "split", true, at));
    step = PreTokenizer::MakeMetaspace(replacement, scheme, split);
  } else if (type == "ByteLevel") {
    KILN_ASSIGN_OR_RETURN(bool prefix, GetBool(ctx, n, "add_prefix_space", true, at));
    KILN_ASSIGN_OR_RETURN(bool use_regex, GetBool(ctx, n, "use_regex", true, at));
    step = PreTokenizer::MakeByteLevel(prefix, use_regex);
  } else {
    return ctx.Unsupported(where, absl::StrCat("pre-tokenizer \"", type,
                                               "\" is not supported (supported: Sequence, Split, "
                                               "Digits, Metaspace, ByteLevel)"));
  }
  if (!step.ok()) return ctx.Error(at, std::string(step.status().message()));
  steps->push_back(std::move(*step));
  return absl::OkStatus();
}

absl::Status AddDecoder(const Ctx& ctx, const Json& n, const std::string& where,
                        std::vector<DecoderStep>* steps) {
  KILN_ASSIGN_OR_RETURN(std::string type, TypeOf(ctx, n, where));
  const std::string at = absl::StrCat(where, " (", type, ")");
  if (type == "Sequence") {
    const Json* list = Field(n, "decoders");
    if (list == nullptr || !list->is_array()) return ctx.Error(at, "\"decoders\" must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(AddDecoder(ctx, (*list)[i], absl::StrCat(where, "[", i, "]"), steps));
    }
  } else if (type == "ByteLevel") {
    steps->push_back(Decoder::MakeByteLevel());
  } else if (type == "Metaspace") {
    KILN_ASSIGN_OR_RETURN(std::string replacement, GetSingleChar(ctx, n, "replacement", at));
    KILN_ASSIGN_OR_RETURN(PrependScheme scheme, GetPrependScheme(ctx, n, at));
    steps->push_back(Decoder::MakeMetaspace(replacement, scheme));
  } else if (type == "Replace") {
    std::string pattern;
    bool is_regex;
    KILN_RETURN_IF_ERROR(GetPattern(ctx, n, at, &pattern, &is_regex));
    KILN_ASSIGN_OR_RETURN(std::string content, GetString(ctx, n, "content", at));
    auto step = Decoder::MakeReplace(pattern, is_regex, SanitizeUtf8(content));
    if (!step.ok()) return ctx.Error(at, std::string(step.status().message()));
    steps->push_back(std::move(*step));
  } else if (type == "ByteFallback") {
    steps->push_back(Decoder::MakeByteFallback());
  } else if (type == "Fuse") {
    steps->push_back(Decoder::MakeFuse());
  } else if (type == "Strip") {
    KILN_ASSIGN_OR_RETURN(std::string content, GetSingleChar(ctx, n, "content", at));
    const Json* start = Field(n, "start");
    const Json* stop = Field(n, "stop");
    if (start == nullptr || stop == nullptr) return ctx.Error(at, "needs \"start\" and \"stop\"");
    KILN_ASSIGN_OR_RETURN(int64_t s, GetInt(ctx, *start, at + " start"));
    KILN_ASSIGN_OR_RETURN(int64_t e, GetInt(ctx, *stop, at + " stop"));
    if (s < 0 || e < 0) return ctx.Error(at, "\"start\" and \"stop\" must be >= 0");
    char32_t cp;
    Utf8Decode(content, &cp);
    steps->push_back(Decoder::MakeStrip(cp, s, e));
  } else {
    return ctx.Unsupported(where, absl::StrCat("decoder \"", type,
                                               "\" is not supported (supported: Sequence, "
                                               "ByteLevel, Metaspace, Replace, ByteFallback, "
                                               "Fuse, Strip)"));
  }
  return absl::OkStatus();
}

// ["<s>", 1] as in Roberta/Bert processors.
absl::StatusOr<int32_t> TokenPairId(const Ctx& ctx, const Json& n, const char* key,
                                    const std::string& at) {
  const Json* v = Field(n, key);
  if (v == nullptr || !v->is_array() || v->size() != 2) {
    return ctx.Error(at, absl::StrCat("\"", key, "\" must be [token, id]"));
  }
  KILN_ASSIGN_OR_RETURN(int64_t id, GetInt(ctx, (*v)[1], absl::StrCat(at, " ", key)));
  if (id < 0 || id >= kMaxVocabSize) return ctx.Error(at, absl::StrCat("bad id ", id));
  return static_cast<int32_t>(id);
}

absl::Status AddPostProcessor(const Ctx& ctx, const Json& n, const std::string& where,
                              PostProcessor* out) {
  KILN_ASSIGN_OR_RETURN(std::string type, TypeOf(ctx, n, where));
  const std::string at = absl::StrCat(where, " (", type, ")");
  PostProcessor p;
  if (type == "Sequence") {
    const Json* list = Field(n, "processors");
    if (list == nullptr || !list->is_array()) return ctx.Error(at, "\"processors\" must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(
          AddPostProcessor(ctx, (*list)[i], absl::StrCat(where, "[", i, "]"), out));
    }
    return absl::OkStatus();
  } else if (type == "ByteLevel") {
    return absl::OkStatus();  // Offsets only.
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    KILN_ASSIGN_OR_RETURN(int32_t cls, TokenPairId(ctx, n, "cls", at));
    KILN_ASSIGN_OR_RETURN(int32_t sep, TokenPairId(ctx, n, "sep", at));
    p.prefix = {cls};
    p.suffix = {sep};
  } else if (type == "TemplateProcessing") {
    const Json* single = Field(n, "single");
    const Json* specials = Field(n, "special_tokens");
    if (single == nullptr || !single->is_array()) return ctx.Error(at, "\"single\" must be a list");
    bool seen_sequence = false;
    for (const Json& piece : *single) {
      if (Field(piece, "Sequence") != nullptr) {
        if (seen_sequence) return ctx.Unsupported(at, "a template repeating the sequence");
        seen_sequence = true;
        continue;
      }
      const Json* special = Field(piece, "SpecialToken");
      if (special == nullptr)
        return ctx.Error(at, "template pieces must be Sequence or SpecialToken");
      KILN_ASSIGN_OR_RETURN(std::string name, GetString(ctx, *special, "id", at));
      const Json* entry = specials == nullptr ? nullptr : Field(*specials, name.c_str());
      const Json* ids = entry == nullptr ? nullptr : Field(*entry, "ids");
      if (ids == nullptr || !ids->is_array()) {
        return ctx.Error(
            at, absl::StrCat("special token \"", name, "\" is missing from \"special_tokens\""));
      }
      for (const Json& id : *ids) {
        KILN_ASSIGN_OR_RETURN(int64_t v, GetInt(ctx, id, at + " ids"));
        if (v < 0 || v >= kMaxVocabSize) return ctx.Error(at, absl::StrCat("bad id ", v));
        (seen_sequence ? p.suffix : p.prefix).push_back(static_cast<int32_t>(v));
        if (ids->size() == 1) p.names.emplace(static_cast<int32_t>(v), name);
      }
    }
    if (!seen_sequence) return ctx.Error(at, "the single template has no $A");
  } else {
    return ctx.Unsupported(where, absl::StrCat("post-processor \"", type,
                                               "\" is not supported (supported: Sequence, "
                                               "ByteLevel, TemplateProcessing, "
                                               "RobertaProcessing, BertProcessing)"));
  }
  out->WrapWith(p);
  return absl::OkStatus();
}

absl::Status ReadModel(const Ctx& ctx, const Json& m, bool byte_level, TokenizerParts* parts) {
  const std::string at = "model";
  if (!m.is_object()) return ctx.Error(at, "must be an object");
  if (const Json* type = Field(m, "type")) {
    if (!type->is_string() || type->get<std::string>() != "BPE") {
      return ctx.Unsupported(
          at, absl::StrCat("model type ", type->dump(), " is not supported (supported: BPE)"));
    }
  }
  if (const Json* d = Field(m, "dropout")) {
    if (!d->is_number() || d->get<double>() != 0.0) {
      return ctx.Unsupported(at, "BPE dropout is not supported (encoding would be random)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json* v = Field(m, key);
    if (v != nullptr && !(v->is_string() && v->get<std::string>().empty())) {
      return ctx.Unsupported(at, absl::StrCat("\"", key, "\" is not supported"));
    }
  }
  BpeOptions options;
  options.byte_level = byte_level;
  KILN_ASSIGN_OR_RETURN(options.byte_fallback, GetBool(ctx, m, "byte_fallback", false, at));
  KILN_ASSIGN_OR_RETURN(options.fuse_unk, GetBool(ctx, m, "fuse_unk", false, at));
  KILN_ASSIGN_OR_RETURN(options.ignore_merges, GetBool(ctx, m, "ignore_merges", false, at));
  if (Field(m, "unk_token") != nullptr) {
    KILN_ASSIGN_OR_RETURN(options.unk_token, GetString(ctx, m, "unk_token", at));
  }
  const Json* vocab = Field(m, "vocab");
  if (vocab == nullptr || !vocab->is_object()) return ctx.Error(at, "\"vocab\" must be an object");
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    KILN_ASSIGN_OR_RETURN(
        int64_t id, GetInt(ctx, it.value(), absl::StrCat("vocab entry ", QuoteToken(it.key()))));
    entries.emplace_back(it.key(), id);
  }
  KILN_ASSIGN_OR_RETURN(parts->vocab,
                        Vocab::Build(std::move(entries), ctx.what() + ": model.vocab"));
  const Json* merges = Field(m, "merges");
  std::vector<std::pair<std::string, std::string>> pairs;
  if (merges != nullptr) {
    if (!merges->is_array()) return ctx.Error(at, "\"merges\" must be a list");
    pairs.reserve(merges->size());
    size_t rank = 0;
    for (const Json& merge : *merges) {
      const std::string where = absl::StrCat("merge ", rank);
      if (merge.is_string()) {
        // Legacy "a b" form: exactly one space.
        const std::string s = merge.get<std::string>();
        if (s.rfind("#version", 0) == 0) continue;
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          return ctx.Error(where,
                           absl::StrCat(QuoteToken(s), " is not two tokens split by one space"));
        }
        pairs.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
                 merge[1].is_string()) {
        pairs.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      } else {
        return ctx.Error(where, "must be \"a b\" or [\"a\", \"b\"]");
      }
      ++rank;
    }
  }
  KILN_ASSIGN_OR_RETURN(parts->model,
                        BpeModel::Create(parts->vocab, pairs, options, ctx.what() + ": model"));
  return absl::OkStatus();
}

absl::Status ReadAddedTokens(const Ctx& ctx, const Json& list, TokenizerParts* parts) {
  if (!list.is_array()) return ctx.Error("added_tokens", "must be a list");
  const int64_t limit = static_cast<int64_t>(parts->vocab.id_end()) + list.size() + 1024;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = absl::StrCat("added_tokens[", i, "]");
    const Json& t = list[i];
    AddedToken a;
    const Json* id = Field(t, "id");
    if (id == nullptr) return ctx.Error(at, "needs an \"id\"");
    KILN_ASSIGN_OR_RETURN(int64_t v, GetInt(ctx, *id, at + " id"));
    if (v < 0 || v >= kMaxVocabSize || v > limit) {
      return ctx.Error(at, absl::StrCat("id ", v, " is out of range"));
    }
    a.id = static_cast<int32_t>(v);
    KILN_ASSIGN_OR_RETURN(a.content, GetString(ctx, t, "content", at));
    if (a.content.size() > kMaxTokenBytes) return ctx.Error(at, "content is too long");
    a.content = SanitizeUtf8(a.content);
    KILN_ASSIGN_OR_RETURN(a.single_word, GetBool(ctx, t, "single_word", false, at));
    KILN_ASSIGN_OR_RETURN(a.lstrip, GetBool(ctx, t, "lstrip", false, at));
    KILN_ASSIGN_OR_RETURN(a.rstrip, GetBool(ctx, t, "rstrip", false, at));
    KILN_ASSIGN_OR_RETURN(a.special, GetBool(ctx, t, "special", false, at));
    KILN_ASSIGN_OR_RETURN(a.normalized, GetBool(ctx, t, "normalized", !a.special, at));
    if (a.content.empty()) continue;  // HF ignores empty added tokens.
    parts->added_tokens.push_back(std::move(a));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> ParseTokenizerJson(std::string_view text,
                                                              const std::string& what) {
  const Ctx ctx(what);
  Json root = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError(what + ": not valid JSON");
  if (!root.is_object()) return absl::InvalidArgumentError(what + ": not a JSON object");
  TokenizerParts parts;
  parts.source = what;
  if (const Json* n = Field(root, "normalizer")) {
    std::vector<NormalizerStep> steps;
    KILN_RETURN_IF_ERROR(AddNormalizer(ctx, *n, "normalizer", &steps));
    parts.normalizer.emplace(std::move(steps));
  }
  if (const Json* n = Field(root, "pre_tokenizer")) {
    std::vector<PreTokenizerStep> steps;
    KILN_RETURN_IF_ERROR(AddPreTokenizer(ctx, *n, "pre_tokenizer", &steps));
    parts.pre_tokenizer.emplace(std::move(steps));
  }
  if (const Json* n = Field(root, "decoder")) {
    std::vector<DecoderStep> steps;
    KILN_RETURN_IF_ERROR(AddDecoder(ctx, *n, "decoder", &steps));
    parts.decoder.emplace(std::move(steps));
  }
  if (const Json* n = Field(root, "post_processor")) {
    KILN_RETURN_IF_ERROR(AddPostProcessor(ctx, *n, "post_processor", &parts.post_processor));
  }
  const Json* model = Field(root, "model");
  if (model == nullptr) return ctx.Error("model", "missing");
  const bool byte_level = parts.pre_tokenizer.has_value() && parts.pre_tokenizer->byte_level();
  KILN_RETURN_IF_ERROR(ReadModel(ctx, *model, byte_level, &parts));
  if (const Json* n = Field(root, "added_tokens"))
    KILN_RETURN_IF_ERROR(ReadAddedTokens(ctx, *n, &parts));
  for (int32_t id : parts.post_processor.prefix) {
    if (parts.bos_id < 0) parts.bos_id = id;
  }
  for (int32_t id : parts.post_processor.suffix) parts.eos_id = id;
  return Tokenizer::Create(std::move(parts));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxTokenizerJsonBytes));
  return ParseTokenizerJson(text, path);
}

}  // namespace kiln::tokenizer
