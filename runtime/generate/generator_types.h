// What a generate request returns, and how its text streams.
#ifndef KILN_RUNTIME_GENERATE_GENERATOR_TYPES_H_
#define KILN_RUNTIME_GENERATE_GENERATOR_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> token_ids;  // generated, the stopping EOS included
  std::string text;                // the generated text, special tokens skipped
  // "eos", "stop_string", "length", or (in a batch) "error": this row's
  // request failed (e.g. NaN logits) while the other rows went on.
  std::string finish_reason;
  std::string error;  // why, when finish_reason is "error"
  double prefill_seconds = 0;
  double decode_seconds = 0;
  // Speculative decoding (zero otherwise): tokens drafted and accepted.
  // target_forwards: the target's steps that yielded generated tokens (a
  // plain loop: the prefill and one decode step per later token; with
  // speculation each verify round, the prefill yielding none).
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;
  int64_t target_forwards = 0;
  // With GenerationConfig::loop_plan: the host's waits on the device while
  // the loop ran (1 on a GPU or the emulator; 0 on the host); else -1.
  int64_t host_synchronizations = -1;
};

// Receives generated text as soon as it is complete UTF-8.
using TextCallback = std::function<void(std::string_view piece)>;
// The same for a batch: `row` is the prompt's index in the batch.
using BatchTextCallback = std::function<void(size_t row, std::string_view piece)>;

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_GENERATOR_TYPES_H_
