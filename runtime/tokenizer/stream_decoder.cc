#include "runtime/tokenizer/stream_decoder.h"

#include "base/status_macros.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {

absl::StatusOr<std::string> StreamDecoder::Step(int32_t id) {
  if (!tokenizer_.IdToToken(id).has_value()) {
    // Decode reports it; keep the window unchanged.
    const int32_t ids[1] = {id};
    KILN_RETURN_IF_ERROR(tokenizer_.Decode(ids, skip_special_tokens_).status());
  }
  window_.push_back(id);
  return Emit(window_.size() - context_ > kMaxPending);
}

absl::StatusOr<std::string> StreamDecoder::Flush() {
  KILN_ASSIGN_OR_RETURN(std::string out, Emit(true));
  window_.clear();
  context_ = 0;
  context_text_.clear();
  return out;
}

absl::StatusOr<std::string> StreamDecoder::Emit(bool force) {
  if (window_.size() == context_) return std::string();
  KILN_ASSIGN_OR_RETURN(std::string text, tokenizer_.Decode(window_, skip_special_tokens_));
  const bool grew = text.size() > context_text_.size() &&
                    text.compare(0, context_text_.size(), context_text_) == 0;
  const bool broken = text.size() >= kReplacementUtf8.size() &&
                      text.compare(text.size() - kReplacementUtf8.size(), kReplacementUtf8.size(),
                                   kReplacementUtf8) == 0;
  if (!force && (!grew || broken)) return std::string();
  std::string out = grew ? text.substr(context_text_.size()) : std::string();
  // The last id becomes the context of the next step.
  window_.erase(window_.begin(), window_.end() - 1);
  context_ = 1;
  KILN_ASSIGN_OR_RETURN(context_text_, tokenizer_.Decode(window_, skip_special_tokens_));
  return out;
}

}  // namespace kiln::tokenizer
