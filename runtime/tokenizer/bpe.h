// Byte-pair encoding by merge rank, exactly as HF tokenizers' BPE model.
//
// A piece starts as one symbol per character (per byte for byte-level
// vocabularies); then, repeatedly, the adjacent pair with the lowest merge
// rank is merged (leftmost first among equal ranks) until no listed pair is
// left. Characters missing from the vocabulary become their <0xXX> byte
// tokens with byte_fallback, else the unknown token (consecutive ones fused
// into one with fuse_unk), else they are dropped, all as HF does.
//
// Byte-level vocabularies (GPT-2 alphabet) are translated to raw bytes at
// construction, so pieces are tokenized as raw bytes with no remapping.
//
// Results for pieces shorter than 256 bytes are cached per thread, so
// Tokenize is lock-free and thread-safe.
#ifndef KILN_RUNTIME_TOKENIZER_BPE_H_
#define KILN_RUNTIME_TOKENIZER_BPE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/model.h"

namespace kiln::tokenizer {

struct BpeOptions {
  bool byte_level = false;     // Vocabulary in GPT-2's byte alphabet; pieces are raw bytes.
  bool byte_fallback = false;  // Unknown characters become <0xXX> tokens.
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool ignore_merges = false;  // A piece that is itself a token is taken whole (Llama 3).
};

class BpeModel : public Model {
 public:
  // `merges` in rank order, each naming two tokens whose concatenation is a
  // token; all three must be in `vocab`.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options, std::string_view what);

  void Tokenize(std::string_view piece, std::vector<int32_t>* ids) const override;

  // Tokenizes without the cache (for tests and benchmarks).
  void TokenizeUncached(std::string_view piece, std::vector<int32_t>* ids) const;

 private:
  BpeModel() = default;
  int32_t PieceId(std::string_view piece) const;
  void InitialSymbols(std::string_view piece, std::vector<int32_t>* symbols) const;
  void MergeAll(std::vector<int32_t>* symbols, std::vector<int32_t>* out) const;

  struct MergeInfo {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  BpeOptions options_;
  uint64_t uid_ = 0;  // Identifies this model's entries in the per-thread caches.
  int32_t unk_id_ = -1;
  // Piece spelling (raw bytes for byte-level) -> id.
  absl::flat_hash_map<std::string, int32_t> piece_ids_;
  std::array<int32_t, 256> byte_ids_{};      // Single raw byte -> id (byte-level).
  std::array<int32_t, 256> fallback_ids_{};  // Byte -> <0xXX> id, or -1.
  absl::flat_hash_map<uint64_t, MergeInfo> merges_;
};

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_BPE_H_
