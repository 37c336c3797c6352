// Tokenizers from the vocabulary in GGUF metadata (llama.cpp's format).
//
// Keys read: tokenizer.ggml.model ("llama": SentencePiece-style BPE by
// score; "gpt2": byte-level BPE by merge rank), .tokens, .scores,
// .token_type, .merges, .pre (which split regex a byte-level vocabulary
// uses), .bos/.eos/.unknown/.padding_token_id, .add_bos_token,
// .add_eos_token, .add_space_prefix.
//
// The pipeline reproduces what Hugging Face tokenizers does with the
// model's tokenizer.json (which is what llama.cpp's .inp/.out tests hold):
// control tokens (type 3) become special added tokens and user-defined
// tokens (type 4) plain added tokens, both matched in the raw text.
#ifndef KILN_RUNTIME_TOKENIZER_GGUF_VOCAB_H_
#define KILN_RUNTIME_TOKENIZER_GGUF_VOCAB_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/gguf.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln::tokenizer {

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const GgufFile& file);
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const std::string& path);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_GGUF_VOCAB_H_
