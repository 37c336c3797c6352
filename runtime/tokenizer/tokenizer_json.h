// Reads Hugging Face tokenizer.json files (the `tokenizers` serialization).
//
// Supported: model BPE (byte-level or with byte_fallback, unk/fuse_unk,
// ignore_merges); normalizers Sequence, Prepend, Replace, NFC, Strip;
// pre-tokenizers Sequence, Split, Digits, Metaspace, ByteLevel; decoders
// Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip;
// post-processors TemplateProcessing, RobertaProcessing, BertProcessing,
// ByteLevel, Sequence; added tokens with all their flags. Anything else is
// an Unimplemented error naming the component, never a silent difference.
// Truncation and padding settings are ignored (they never change ids of a
// single unpadded sequence).
#ifndef KILN_RUNTIME_TOKENIZER_TOKENIZER_JSON_H_
#define KILN_RUNTIME_TOKENIZER_TOKENIZER_JSON_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln::tokenizer {

// The largest tokenizer.json accepted (Gemma's is ~34 MB).
inline constexpr size_t kMaxTokenizerJsonBytes = 256 << 20;

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const std::string& path);

// Parses tokenizer.json text; `what` names it in error messages.
absl::StatusOr<std::unique_ptr<Tokenizer>> ParseTokenizerJson(std::string_view json,
                                                              const std::string& what);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_TOKENIZER_JSON_H_
