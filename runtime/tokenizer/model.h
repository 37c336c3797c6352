// The vocabulary and the model interface shared by Kiln's tokenizer models.
#ifndef KILN_RUNTIME_TOKENIZER_MODEL_H_
#define KILN_RUNTIME_TOKENIZER_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::tokenizer {

// Limits that keep a hostile vocabulary from exhausting memory. Real
// vocabularies are far below them (Gemma: 256k tokens, longest < 100 bytes).
inline constexpr int32_t kMaxVocabSize = 1 << 24;
inline constexpr size_t kMaxTokenBytes = 4096;

// Token strings by id, as the vocabulary file spells them (for byte-level
// vocabularies: in GPT-2's byte alphabet). Ids may have holes.
class Vocab {
 public:
  // Builds the vocabulary from (token, id) entries; fails on a negative or
  // too large id, ids so sparse that the table would dwarf the file (more
  // holes than max(1024, entries)), a repeated id or token, or a token longer
  // than kMaxTokenBytes. `what` names the source for error messages.
  static absl::StatusOr<Vocab> Build(std::vector<std::pair<std::string, int64_t>> entries,
                                     std::string_view what);

  // One past the largest id (the size an embedding table needs).
  int32_t id_end() const { return static_cast<int32_t>(tokens_.size()); }
  // Number of ids that have a token.
  int32_t size() const { return count_; }
  bool Contains(int32_t id) const { return id >= 0 && id < id_end() && present_[id]; }
  // The token of `id`; Contains(id) must hold.
  const std::string& Token(int32_t id) const { return tokens_[id]; }
  // The id of `token`, or -1.
  int32_t Find(std::string_view token) const;

 private:
  std::vector<std::string> tokens_;
  std::vector<uint8_t> present_;
  absl::flat_hash_map<std::string, int32_t> ids_;
  int32_t count_ = 0;
};

// Turns one pre-token into ids. Implementations are immutable after
// construction and safe to call from many threads at once.
class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `piece` (non-empty, valid UTF-8; for byte-level
  // models any bytes) to `ids`.
  virtual void Tokenize(std::string_view piece, std::vector<int32_t>* ids) const = 0;
};

// Quotes a vocabulary string for an error message, cut to a sane length.
std::string QuoteToken(std::string_view token);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_MODEL_H_
