// Pre-tokenizers: split normalized text into the pieces the model sees, as
// HF tokenizers' Split, Digits, Metaspace and ByteLevel (and Sequence).
#ifndef KILN_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_
#define KILN_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/regex.h"

namespace kiln::tokenizer {

// A piece of PieceList::text. `at_start`: the piece begins where the
// original input (or input segment starting at offset 0) begins, which
// Metaspace's "first" prepend scheme needs.
struct Piece {
  uint32_t begin;
  uint32_t end;
  bool at_start;
};

// Pieces over one buffer. Splitting only subdivides ranges; steps that edit
// text (Metaspace, ByteLevel's prefix space) rebuild the buffer.
struct PieceList {
  std::string text;
  std::vector<Piece> pieces;
  std::string_view View(const Piece& p) const {
    return std::string_view(text).substr(p.begin, p.end - p.begin);
  }
};

// What happens to the delimiter matches of a Split (HF's names).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Metaspace's rule for adding the replacement character in front.
enum class PrependScheme { kAlways, kFirst, kNever };

// One pre-tokenizer step.
struct PreTokenizerStep {
  enum class Kind { kSplit, kMetaspace, kByteLevel };
  Kind kind = Kind::kSplit;
  // kSplit (also Digits, and ByteLevel's regex when use_regex).
  std::shared_ptr<const Regex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  // kMetaspace.
  std::string replacement;  // UTF-8 of one character, normally "▁".
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;
  // kByteLevel.
  bool add_prefix_space = false;
};

// A sequence of steps, applied in order to every piece not yet final.
// Immutable after construction; thread-safe.
class PreTokenizer {
 public:
  explicit PreTokenizer(std::vector<PreTokenizerStep> steps) : steps_(std::move(steps)) {}

  static absl::StatusOr<PreTokenizerStep> MakeSplit(std::string_view pattern, bool is_regex,
                                                    SplitBehavior behavior, bool invert);
  static absl::StatusOr<PreTokenizerStep> MakeDigits(bool individual_digits);
  static PreTokenizerStep MakeMetaspace(std::string replacement, PrependScheme scheme, bool split);
  static absl::StatusOr<PreTokenizerStep> MakeByteLevel(bool add_prefix_space, bool use_regex);

  // Splits `list` in place. Fails only on regex resource limits.
  absl::Status Apply(PieceList* list) const;

  const std::vector<PreTokenizerStep>& steps() const { return steps_; }
  // True when a ByteLevel step is present (the model then works on bytes).
  bool byte_level() const;

 private:
  std::vector<PreTokenizerStep> steps_;
};

// Splits [begin, end) of `text` at the matches of `regex` per `behavior`,
// appending the non-empty results to `out`.
absl::Status SplitPiece(const std::string& text, const Piece& piece, const Regex& regex,
                        SplitBehavior behavior, bool invert, std::vector<Piece>* out);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_
