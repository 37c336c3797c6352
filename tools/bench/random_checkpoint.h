// A random-weight Hugging Face checkpoint at a real model's shape, written
// by Kiln's own code: the model builder says which tensors the config
// implies (names and shapes), base/counter_rng.h draws their values and
// models/safetensors_writer writes them. So a benchmark checkpoint needs
// neither Transformers nor a GPU-enabled PyTorch, and the same seed gives
// the same bytes on any machine.
//
// Speed does not depend on the values, so these stand in for the real
// weights; their text is noise. Values: rank-1 tensors (norm scales) are
// uniform in [0.5, 1.5), so activations keep their scale through the
// layers; every other tensor is uniform with standard deviation 0.02
// (Transformers' initializer_range for these models).
#ifndef KILN_TOOLS_BENCH_RANDOM_CHECKPOINT_H_
#define KILN_TOOLS_BENCH_RANDOM_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/dtype.h"

namespace kiln::bench {

struct RandomCheckpointOptions {
  std::string config_dir;  // holds config.json (e.g. tools/bench/configs/llama-3.2-1b)
  // A byte-level tokenizer.json (tests/fixtures/tokenizers/bytes256): padded
  // to the model's vocabulary with unreachable tokens "<rN>" (no merge makes
  // them), so prompts become byte ids and every id a random model generates
  // still detokenises.
  std::string tokenizer;
  std::string out;  // the directory to write: config.json, model.safetensors, tokenizer.json
  DType dtype = DType::kBF16;  // f32, bf16 or f16
  uint64_t seed = 0;
  int threads = 0;  // 0: one per hardware thread
};

struct RandomCheckpointReport {
  int64_t tensors = 0;
  int64_t parameters = 0;
  int64_t bytes = 0;  // of model.safetensors
};

// The value of element `index` of a weight whose draws are keyed by
// `tensor_seed`, as described above (`vector`: a rank-1 tensor).
float RandomWeightValue(uint64_t tensor_seed, uint64_t index, bool vector);

// The seed of weight `name`'s draws: independent of the order of the
// module's weight list, so adding a tensor does not change the others.
uint64_t TensorSeed(uint64_t seed, const std::string& name);

// Writes the checkpoint into `out` (created; written as `out`.partial and
// renamed, so an interrupted run leaves no half checkpoint under `out`).
// InvalidArgument for a bad dtype, config or tokenizer; AlreadyExists when
// `out` exists.
absl::StatusOr<RandomCheckpointReport> WriteRandomCheckpoint(const RandomCheckpointOptions& options);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_RANDOM_CHECKPOINT_H_
