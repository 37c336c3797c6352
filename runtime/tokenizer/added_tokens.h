// Added tokens (special and not): tokens matched in the raw or normalized
// text before the model runs, as HF tokenizers' AddedVocabulary.
//
// Matching is leftmost-longest over all added tokens of one kind, scanning
// on after each match. A match that fails `single_word` is skipped (the scan
// still resumes after it, as in HF). `lstrip`/`rstrip` widen a match over
// the whitespace before/after it. Tokens with `normalized` are matched in
// the normalized text (by their normalized spelling), the others in the raw
// input first.
#ifndef KILN_RUNTIME_TOKENIZER_ADDED_TOKENS_H_
#define KILN_RUNTIME_TOKENIZER_ADDED_TOKENS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/regex.h"

namespace kiln::tokenizer {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A segment of text: either plain text to tokenize or one added token.
struct Segment {
  uint32_t begin;
  uint32_t end;
  int32_t token_id;  // -1 for plain text.
};

// Leftmost-longest matcher over a set of (pattern, token index) pairs.
// Immutable after construction; thread-safe.
class AddedTokenMatcher {
 public:
  // `patterns[i]` is matched for tokens[i]; empty patterns are ignored.
  static absl::StatusOr<std::unique_ptr<AddedTokenMatcher>> Create(
      const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);

  // Splits `text` (valid UTF-8) into segments covering it, in order.
  // Empty text gives no segments.
  void Split(std::string_view text, std::vector<Segment>* out) const;

  bool empty() const { return nodes_.size() <= 1; }

 private:
  AddedTokenMatcher() = default;
  // Index into tokens_ of the longest pattern starting at `pos`, and its
  // length; -1 when none.
  int LongestAt(std::string_view text, size_t pos, size_t* length) const;

  std::vector<AddedToken> tokens_;
  // A byte trie: children keyed by (node << 8 | byte); terminal token index
  // per node (-1 if none).
  absl::flat_hash_map<uint64_t, int32_t> children_;
  std::vector<int32_t> nodes_;  // Terminal token index per node.
  bool first_byte_[256] = {};
  std::unique_ptr<Regex> word_char_;   // Rust regex's \w, for single_word.
  std::unique_ptr<Regex> space_char_;  // Rust regex's \s, for lstrip/rstrip.
};

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_ADDED_TOKENS_H_
