// Kiln's tokenizer: text to token ids and back, exactly as Hugging Face
// tokenizers (or llama.cpp, for vocabularies read from GGUF) would.
//
// Encode runs HF's pipeline:
//   1. invalid UTF-8 becomes U+FFFD;
//   2. added tokens with normalized=false are cut out of the raw text;
//   3. each remaining segment is normalized, then added tokens with
//      normalized=true are cut out of the normalized text;
//   4. each remaining part is pre-tokenized into pieces, and the model
//      turns every piece into ids;
//   5. with add_special_tokens, the post-processor's template wraps the ids.
// Decode maps ids to token strings (dropping special added tokens when
// asked) and runs the decoder.
//
// A Tokenizer is immutable after loading; Encode and Decode are thread-safe
// (per-thread caches, no locks). Load one with LoadTokenizer (load.h).
#ifndef KILN_RUNTIME_TOKENIZER_TOKENIZER_H_
#define KILN_RUNTIME_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/added_tokens.h"
#include "runtime/tokenizer/decoder.h"
#include "runtime/tokenizer/model.h"
#include "runtime/tokenizer/normalizer.h"
#include "runtime/tokenizer/post_processor.h"
#include "runtime/tokenizer/pre_tokenizer.h"

namespace kiln::tokenizer {

// Everything a loader assembles. Absent stages are skipped.
struct TokenizerParts {
  Vocab vocab;  // The model's tokens (added tokens may add more).
  std::unique_ptr<Model> model;
  std::optional<Normalizer> normalizer;
  std::optional<PreTokenizer> pre_tokenizer;
  std::optional<Decoder> decoder;  // Absent: tokens are joined with spaces (HF).
  PostProcessor post_processor;
  std::vector<AddedToken> added_tokens;
  // Ids a runtime needs (from GGUF metadata or the post-processor); -1 if unknown.
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t pad_id = -1;
  std::string source;  // For messages: the file it came from.
};

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(TokenizerParts parts);

  // The ids of `text` (any bytes; invalid UTF-8 reads as U+FFFD). Fails only
  // on a regex resource limit with pathological input.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens) const;

  // The text of `ids`. An id with no token is an InvalidArgument error.
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // Decode into the caller's `buffer` of `capacity` bytes: returns the byte
  // count written, or OutOfRange (naming the size needed) when it does not
  // fit, in which case nothing is written. Never writes past `capacity`.
  absl::StatusOr<size_t> DecodeInto(std::span<const int32_t> ids, bool skip_special_tokens,
                                    char* buffer, size_t capacity) const;

  // The id of a token string (added tokens first, then the model's), or -1.
  int32_t TokenToId(std::string_view token) const;
  // The string of `id` as the vocabulary spells it; nullopt if none.
  std::optional<std::string> IdToToken(int32_t id) const;
  // One past the largest id.
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  // Whether `id` is a special added token (false for ids without a token).
  bool IsSpecial(int32_t id) const { return id >= 0 && id < vocab_size() && special_[id] != 0; }
  int32_t bos_id() const { return parts_.bos_id; }
  int32_t eos_id() const { return parts_.eos_id; }
  int32_t pad_id() const { return parts_.pad_id; }
  const std::string& source() const { return parts_.source; }

 private:
  Tokenizer() = default;
  absl::Status EncodeSegment(std::string segment, bool at_start, std::vector<int32_t>* ids) const;

  TokenizerParts parts_;
  std::unique_ptr<AddedTokenMatcher> raw_matcher_;         // normalized=false tokens.
  std::unique_ptr<AddedTokenMatcher> normalized_matcher_;  // normalized=true tokens.
  std::vector<std::string> tokens_;                        // By id: the spelling decode uses.
  std::vector<uint8_t> present_;                           // By id: has a token.
  std::vector<uint8_t> special_;                           // By id: special added token.
  absl::flat_hash_map<std::string, int32_t> added_ids_;
};

// InvalidArgument, naming both numbers, when `tokenizer` does not belong to
// a model with `logits` outputs (its vocabulary): an ordinary token at or
// past them, or a post-processor id (added to every prompt) past them. Special added tokens past
// them are accepted, as Transformers accepts Llama-2's `<pad>` at id 32000 of a 32000-logit model:
// the model never produces them, and a prompt holding one is refused where it is run (Generator).
absl::Status CheckTokenizerFitsModel(const Tokenizer& tokenizer, int64_t logits);

// InvalidArgument naming the first of `ids` the model (`logits` wide) has no
// embedding for: a special token past the logits that a prompt's text named.
absl::Status CheckPromptIds(const Tokenizer& tokenizer, std::span<const int32_t> ids,
                            int64_t logits);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_TOKENIZER_H_
