// Decoders: turn token strings back into text, as HF tokenizers' ByteLevel,
// Metaspace, Replace, ByteFallback, Fuse and Strip decoders (and Sequence).
// Each step maps the list of token strings to a new list; the text is the
// concatenation of the final list.
#ifndef KILN_RUNTIME_TOKENIZER_DECODER_H_
#define KILN_RUNTIME_TOKENIZER_DECODER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/pre_tokenizer.h"
#include "runtime/tokenizer/regex.h"

namespace kiln::tokenizer {

struct DecoderStep {
  enum class Kind { kByteLevel, kMetaspace, kReplace, kByteFallback, kFuse, kStrip };
  Kind kind = Kind::kByteLevel;
  std::string content;  // kMetaspace: replacement; kReplace: replacement text.
  PrependScheme prepend_scheme = PrependScheme::kAlways;  // kMetaspace.
  std::shared_ptr<const Regex> regex;                     // kReplace.
  char32_t strip_char = 0;                                // kStrip.
  size_t strip_start = 0, strip_stop = 0;
};

// Immutable after construction; thread-safe.
class Decoder {
 public:
  explicit Decoder(std::vector<DecoderStep> steps) : steps_(std::move(steps)) {}

  static DecoderStep MakeByteLevel();
  static DecoderStep MakeMetaspace(std::string replacement, PrependScheme scheme);
  static absl::StatusOr<DecoderStep> MakeReplace(std::string_view pattern, bool is_regex,
                                                 std::string content);
  static DecoderStep MakeByteFallback();
  static DecoderStep MakeFuse();
  static DecoderStep MakeStrip(char32_t content, size_t start, size_t stop);

  // Runs the steps over `tokens` and returns the joined text (valid UTF-8:
  // bytes that do not form characters become U+FFFD).
  absl::StatusOr<std::string> Decode(std::vector<std::string> tokens) const;

 private:
  std::vector<DecoderStep> steps_;
};

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_DECODER_H_
