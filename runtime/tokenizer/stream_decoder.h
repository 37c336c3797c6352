// Streaming detokenization: feed ids one at a time (as a model generates
// them) and get text as soon as it is complete.
//
// Each step decodes a small window (the last emitted id as context, plus the
// ids not yet emitted) with the tokenizer's full decoder, so context-
// dependent decoders (Metaspace's first-token rule, Strip) give the same
// text as decoding everything at once. New text is held back while it ends
// in U+FFFD: that is how a character split over several tokens (byte-level
// pieces, <0xXX> byte-fallback tokens) shows before its last byte arrives.
// After kMaxPending held ids, text is emitted anyway (a model may really
// produce invalid bytes); Flush() emits whatever is left.
//
// Concatenating every Step and the final Flush gives Decode(all ids) for
// the decoders Kiln supports. Not thread-safe (one per generation stream);
// the Tokenizer it reads may be shared.
#ifndef KILN_RUNTIME_TOKENIZER_STREAM_DECODER_H_
#define KILN_RUNTIME_TOKENIZER_STREAM_DECODER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln::tokenizer {

class StreamDecoder {
 public:
  static constexpr size_t kMaxPending = 8;

  // `tokenizer` must outlive the decoder.
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
      : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // Adds `id`; returns the text completed by it (often empty). An id with no
  // token is an InvalidArgument error and leaves the state unchanged.
  absl::StatusOr<std::string> Step(int32_t id);

  // Returns the held-back text (broken characters as U+FFFD) and resets.
  absl::StatusOr<std::string> Flush();

 private:
  absl::StatusOr<std::string> Emit(bool force);

  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> window_;  // Context ids, then pending ids.
  size_t context_ = 0;           // Leading ids of window_ already emitted.
  std::string context_text_;     // Decode of the context ids.
};

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_STREAM_DECODER_H_
