// One sequence's output as its tokens arrive, shared by the plain and the
// speculative generate loops.
#ifndef KILN_RUNTIME_GENERATE_ROW_OUTPUT_H_
#define KILN_RUNTIME_GENERATE_ROW_OUTPUT_H_

#include <algorithm>
#include <string>

#include "absl/status/statusor.h"
#include "base/status_macros.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/generator_types.h"
#include "runtime/tokenizer/stream_decoder.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln {

// The streamed text of a sequence and the stopping criteria Transformers
// checks after each token: EOS, then stop strings ("length" unless one of
// them fires). Stop strings are matched on the decoded text, on the host,
// after each token.
class RowOutput {
 public:
  RowOutput(const tokenizer::Tokenizer& tokenizer, GenerationResult& result)
      : stream_(tokenizer, /*skip_special_tokens=*/true), result_(&result) {
    result.finish_reason = "length";
  }

  // Appends `token`; true when generation stops after it.
  absl::StatusOr<bool> Add(int32_t token, const GenerationConfig& config,
                           const TextCallback& on_text) {
    result_->token_ids.push_back(token);
    KILN_ASSIGN_OR_RETURN(std::string piece, stream_.Step(token));
    result_->text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) !=
        config.eos_token_ids.end()) {
      result_->finish_reason = "eos";
      return true;
    }
    for (const std::string& stop : config.stop_strings) {
      if (result_->text.find(stop) != std::string::npos) {
        result_->finish_reason = "stop_string";
        return true;
      }
    }
    return false;
  }

  // Emits the text held back for incomplete characters.
  absl::Status Finish(const TextCallback& on_text) {
    KILN_ASSIGN_OR_RETURN(std::string rest, stream_.Flush());
    result_->text += rest;
    if (on_text && !rest.empty()) on_text(rest);
    return absl::OkStatus();
  }

  GenerationResult& result() { return *result_; }

 private:
  tokenizer::StreamDecoder stream_;
  GenerationResult* result_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_ROW_OUTPUT_H_
