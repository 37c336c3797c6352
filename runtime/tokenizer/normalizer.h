// Normalizers: rewrite each input segment before pre-tokenization, as HF
// tokenizers' Sequence, Prepend, Replace, NFC and Strip normalizers.
#ifndef KILN_RUNTIME_TOKENIZER_NORMALIZER_H_
#define KILN_RUNTIME_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/regex.h"

namespace kiln::tokenizer {

struct NormalizerStep {
  enum class Kind { kPrepend, kReplace, kNfc, kStrip };
  Kind kind = Kind::kPrepend;
  std::string content;                           // kPrepend: the prefix; kReplace: the replacement.
  std::shared_ptr<const Regex> regex;            // kReplace: what is replaced.
  bool strip_left = false, strip_right = false;  // kStrip.
};

// A sequence of normalizer steps. Immutable after construction; thread-safe.
class Normalizer {
 public:
  explicit Normalizer(std::vector<NormalizerStep> steps) : steps_(std::move(steps)) {}

  static NormalizerStep MakePrepend(std::string prefix);
  static absl::StatusOr<NormalizerStep> MakeReplace(std::string_view pattern, bool is_regex,
                                                    std::string content);
  static NormalizerStep MakeNfc();
  static absl::StatusOr<NormalizerStep> MakeStrip(bool left, bool right);

  // Normalizes `text` (valid UTF-8) in place.
  absl::Status Apply(std::string* text) const;

  bool empty() const { return steps_.empty(); }

 private:
  std::vector<NormalizerStep> steps_;
};

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_NORMALIZER_H_
