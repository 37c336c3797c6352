// SentencePiece-style BPE by token score, as llama.cpp tokenizes GGUF
// vocabularies of type "llama" (which carry scores but no merge list).
//
// A piece starts as one symbol per UTF-8 character. Repeatedly, of all
// adjacent pairs whose concatenation is a token, the one whose token has the
// highest score is merged (the leftmost among equal scores). Symbols that
// are not tokens at the end (characters outside the vocabulary) become their
// <0xXX> byte tokens, or the unknown token where a byte token is missing.
#ifndef KILN_RUNTIME_TOKENIZER_SPM_H_
#define KILN_RUNTIME_TOKENIZER_SPM_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/model.h"

namespace kiln::tokenizer {

class SpmModel : public Model {
 public:
  // `scores[id]` for every id of `vocab` (scores.size() == vocab.id_end()).
  static absl::StatusOr<std::unique_ptr<SpmModel>> Create(const Vocab& vocab,
                                                          std::vector<float> scores, int32_t unk_id,
                                                          std::string_view what);

  void Tokenize(std::string_view piece, std::vector<int32_t>* ids) const override;

 private:
  SpmModel() = default;

  const Vocab* vocab_ = nullptr;  // Owned by the Tokenizer, which outlives the model.
  std::unique_ptr<Vocab> own_vocab_;
  std::vector<float> scores_;
  int32_t unk_id_ = -1;
  std::array<int32_t, 256> byte_ids_{};
};

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_SPM_H_
