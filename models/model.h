// What a model builder produces: the IR module and facts the runtime needs.
#ifndef KILN_MODELS_MODEL_H_
#define KILN_MODELS_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/step_function.h"

namespace kiln {

// Options for building a model's IR.
struct BuildOptions {
  // The dtype of activations, KV cache and weights in the IR. The reference
  // executor computes every op in f32 and rounds its result to this dtype.
  DType dtype = DType::kF32;
  // The KV cache's dtype when it differs from `dtype` (f32, f16 or bf16):
  // keys and values are rounded to it as they are written.
  std::optional<DType> kv_dtype;

  DType cache_dtype() const { return kv_dtype.value_or(dtype); }
};

// Facts about a built model the runtime needs beyond the IR.
struct ModelInfo {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  int64_t vocab_size = 0;
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_positions = 0;  // max_position_embeddings
  DType dtype = DType::kF32;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
};

struct BuiltModel {
  Module module;
  ModelInfo info;
};

}  // namespace kiln

#endif  // KILN_MODELS_MODEL_H_
