#include "runtime/tokenizer/gguf_vocab.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/spm.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

// llama.cpp's token types.
enum TokenType : int64_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

constexpr std::string_view kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

absl::Status Bad(const GgufFile& file, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(file.path(), ": ", message));
}

// An optional id key: -1 when absent; an error when out of range.
absl::StatusOr<int32_t> OptionalId(const GgufFile& file, std::string_view key, int32_t n) {
  if (!file.Has(key)) return -1;
  KILN_ASSIGN_OR_RETURN(int64_t id, file.GetInt(key));
  if (id < 0 || id >= n) {
    return Bad(
        file, absl::StrCat(std::string(key), " is ", id, ", outside the ", n, "-token vocabulary"));
  }
  return static_cast<int32_t>(id);
}

absl::StatusOr<bool> OptionalBool(const GgufFile& file, std::string_view key, bool fallback) {
  if (!file.Has(key)) return fallback;
  return file.GetBool(key);
}

// The byte-level pre-tokenizer (and normalizer) HF uses for a `pre` type.
absl::Status BytePipeline(const GgufFile& file, std::string_view pre, TokenizerParts* parts,
                          bool* ignore_merges) {
  std::vector<PreTokenizerStep> steps;
  *ignore_merges = false;
  if (pre == "gpt-2" || pre == "default") {
    KILN_ASSIGN_OR_RETURN(PreTokenizerStep s, PreTokenizer::MakeByteLevel(false, true));
    steps.push_back(std::move(s));
  } else if (pre == "llama-bpe" || pre == "llama3" || pre == "smaug-bpe") {
    KILN_ASSIGN_OR_RETURN(
        PreTokenizerStep s,
        PreTokenizer::MakeSplit(kLlama3Pattern, true, SplitBehavior::kIsolated, false));
    steps.push_back(std::move(s));
    KILN_ASSIGN_OR_RETURN(PreTokenizerStep b, PreTokenizer::MakeByteLevel(false, false));
    steps.push_back(std::move(b));
    *ignore_merges = true;
  } else if (pre == "qwen2" || pre == "deepseek-r1-qwen") {
    parts->normalizer.emplace(std::vector<NormalizerStep>{Normalizer::MakeNfc()});
    KILN_ASSIGN_OR_RETURN(
        PreTokenizerStep s,
        PreTokenizer::MakeSplit(kQwen2Pattern, true, SplitBehavior::kIsolated, false));
    steps.push_back(std::move(s));
    KILN_ASSIGN_OR_RETURN(PreTokenizerStep b, PreTokenizer::MakeByteLevel(false, false));
    steps.push_back(std::move(b));
  } else if (pre == "smollm") {
    KILN_ASSIGN_OR_RETURN(PreTokenizerStep d, PreTokenizer::MakeDigits(true));
    steps.push_back(std::move(d));
    KILN_ASSIGN_OR_RETURN(PreTokenizerStep b, PreTokenizer::MakeByteLevel(false, true));
    steps.push_back(std::move(b));
  } else {
    return absl::UnimplementedError(absl::StrCat(
        file.path(), ": tokenizer.ggml.pre \"", GgufQuote(pre),
        "\" is not supported (supported: default, gpt-2, llama-bpe, llama3, smaug-bpe, qwen2, "
        "deepseek-r1-qwen, smollm)"));
  }
  parts->pre_tokenizer.emplace(std::move(steps));
  parts->decoder.emplace(std::vector<DecoderStep>{Decoder::MakeByteLevel()});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const GgufFile& file) {
  KILN_ASSIGN_OR_RETURN(std::string_view model, file.GetString("tokenizer.ggml.model"));
  if (model != "llama" && model != "gpt2") {
    return absl::UnimplementedError(absl::StrCat(file.path(), ": tokenizer.ggml.model \"",
                                                 GgufQuote(model),
                                                 "\" is not supported (supported: llama, gpt2)"));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<std::string_view> tokens,
                        file.GetStringArray("tokenizer.ggml.tokens"));
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0 || n >= kMaxVocabSize) {
    return Bad(file, absl::StrCat("tokenizer.ggml.tokens has ", n, " entries"));
  }
  std::vector<int64_t> types(n, kNormal);
  if (file.Has("tokenizer.ggml.token_type")) {
    KILN_ASSIGN_OR_RETURN(types, file.GetIntArray("tokenizer.ggml.token_type"));
    if (static_cast<int64_t>(types.size()) != n) {
      return Bad(file, absl::StrCat("tokenizer.ggml.token_type has ", types.size(), " entries for ",
                                    n, " tokens"));
    }
  }
  TokenizerParts parts;
  parts.source = file.path();
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(n);
  for (int64_t id = 0; id < n; ++id) {
    if (types[id] < kNormal || types[id] > kByte) {
      return Bad(file, absl::StrCat("token ", id, " has unknown type ", types[id]));
    }
    // Vocabulary strings are taken as UTF-8; invalid bytes read as U+FFFD.
    std::string token = SanitizeUtf8(tokens[id]);
    if (types[id] == kControl || types[id] == kUserDefined ||
        (types[id] == kUnknown && model == "llama")) {
      AddedToken a;
      a.id = static_cast<int32_t>(id);
      a.content = token;
      a.special = types[id] != kUserDefined;
      a.normalized = false;
      if (!a.content.empty()) parts.added_tokens.push_back(std::move(a));
    }
    entries.emplace_back(std::move(token), id);
  }
  KILN_ASSIGN_OR_RETURN(parts.vocab,
                        Vocab::Build(std::move(entries), file.path() + ": tokenizer.ggml.tokens"));
  const int32_t n32 = static_cast<int32_t>(n);
  KILN_ASSIGN_OR_RETURN(parts.bos_id, OptionalId(file, "tokenizer.ggml.bos_token_id", n32));
  KILN_ASSIGN_OR_RETURN(parts.eos_id, OptionalId(file, "tokenizer.ggml.eos_token_id", n32));
  KILN_ASSIGN_OR_RETURN(parts.pad_id, OptionalId(file, "tokenizer.ggml.padding_token_id", n32));
  KILN_ASSIGN_OR_RETURN(int32_t unk_id, OptionalId(file, "tokenizer.ggml.unknown_token_id", n32));

  if (model == "llama") {
    if (!file.Has("tokenizer.ggml.scores")) return Bad(file, "tokenizer.ggml.scores is missing");
    KILN_ASSIGN_OR_RETURN(std::vector<float> scores, file.GetFloatArray("tokenizer.ggml.scores"));
    KILN_ASSIGN_OR_RETURN(parts.model, SpmModel::Create(parts.vocab, std::move(scores), unk_id,
                                                        file.path() + ": tokenizer.ggml.scores"));
    // HF's (legacy) Llama pipeline: "▁" in front of each text segment and
    // for every space; decoding undoes both.
    KILN_ASSIGN_OR_RETURN(bool space_prefix,
                          OptionalBool(file, "tokenizer.ggml.add_space_prefix", true));
    std::vector<NormalizerStep> norm;
    if (space_prefix) norm.push_back(Normalizer::MakePrepend("\xE2\x96\x81"));
    KILN_ASSIGN_OR_RETURN(NormalizerStep replace,
                          Normalizer::MakeReplace(" ", false, "\xE2\x96\x81"));
    norm.push_back(std::move(replace));
    parts.normalizer.emplace(std::move(norm));
    std::vector<DecoderStep> dec;
    KILN_ASSIGN_OR_RETURN(DecoderStep unescape, Decoder::MakeReplace("\xE2\x96\x81", false, " "));
    dec.push_back(std::move(unescape));
    dec.push_back(Decoder::MakeByteFallback());
    dec.push_back(Decoder::MakeFuse());
    if (space_prefix) dec.push_back(Decoder::MakeStrip(' ', 1, 0));
    parts.decoder.emplace(std::move(dec));
  } else {
    std::string pre = "default";
    if (file.Has("tokenizer.ggml.pre")) {
      KILN_ASSIGN_OR_RETURN(std::string_view p, file.GetString("tokenizer.ggml.pre"));
      pre = std::string(p);
    }
    bool ignore_merges = false;
    KILN_RETURN_IF_ERROR(BytePipeline(file, pre, &parts, &ignore_merges));
    KILN_ASSIGN_OR_RETURN(std::vector<std::string_view> merge_lines,
                          file.GetStringArray("tokenizer.ggml.merges"));
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(merge_lines.size());
    for (size_t i = 0; i < merge_lines.size(); ++i) {
      const std::string_view line = merge_lines[i];
      const size_t space = line.find(' ');
      if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
        return Bad(file, absl::StrCat("tokenizer.ggml.merges[", i, "] ", GgufQuote(line),
                                      " is not two tokens split by one space"));
      }
      merges.emplace_back(SanitizeUtf8(line.substr(0, space)),
                          SanitizeUtf8(line.substr(space + 1)));
    }
    BpeOptions options;
    options.byte_level = true;
    options.ignore_merges = ignore_merges;
    KILN_ASSIGN_OR_RETURN(parts.model, BpeModel::Create(parts.vocab, merges, options,
                                                        file.path() + ": tokenizer.ggml.merges"));
  }
  // BOS/EOS when add_special_tokens is set, as the metadata asks (llama.cpp
  // defaults: BOS for "llama" vocabularies, none for "gpt2").
  KILN_ASSIGN_OR_RETURN(bool add_bos,
                        OptionalBool(file, "tokenizer.ggml.add_bos_token", model == "llama"));
  KILN_ASSIGN_OR_RETURN(bool add_eos, OptionalBool(file, "tokenizer.ggml.add_eos_token", false));
  if (add_bos && parts.bos_id >= 0) parts.post_processor.prefix.push_back(parts.bos_id);
  if (add_eos && parts.eos_id >= 0) parts.post_processor.suffix.push_back(parts.eos_id);
  return Tokenizer::Create(std::move(parts));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(path));
  return LoadGgufTokenizer(*file);
}

}  // namespace kiln::tokenizer
