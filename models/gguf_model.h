// A llama.cpp GGUF model file seen as a Hugging Face checkpoint: the
// config.json Transformers would have, and every tensor under its
// Transformers name, dequantised to f32 in Transformers' layout.
#ifndef KILN_MODELS_GGUF_MODEL_H_
#define KILN_MODELS_GGUF_MODEL_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/gguf.h"
#include "nlohmann/json.hpp"

namespace kiln {

// A GGUF model file opened as a checkpoint. Supports general.architecture
// "llama" (Llama 1/2/3, Mistral, SmolLM and others llama.cpp converts as
// llama). Contract:
//   - config() holds the fields Kiln's Llama builder reads, derived from the
//     llama.* metadata (block_count -> num_hidden_layers, ...), with
//     tie_word_embeddings true exactly when the file has no output.weight;
//   - every tensor maps to one Transformers name (blk.3.attn_q.weight ->
//     model.layers.3.self_attn.q_proj.weight); an unknown tensor name or a
//     tensor type Kiln cannot dequantise is an error at Open, before any
//     weight is read;
//   - Read() returns the values in Transformers' row order: llama.cpp's
//     converter interleaves the two rotary halves of each head's rows of
//     q_proj and k_proj (so its rope can pair adjacent elements); Read
//     undoes that permutation, so the weights work with Kiln's (and
//     Transformers') rotate-half rope.
// Not supported (clear errors): Llama-3 rope scaling stored as a
// rope_freqs tensor, other architectures.
class GgufCheckpoint {
 public:
  static absl::StatusOr<GgufCheckpoint> Open(const std::string& path);

  GgufCheckpoint(GgufCheckpoint&&) = default;
  GgufCheckpoint& operator=(GgufCheckpoint&&) = default;

  const GgufFile& file() const { return *file_; }
  const nlohmann::json& config() const { return config_; }

  // nullptr when no tensor has that Transformers name.
  const GgufTensor* Find(std::string_view hf_name) const;
  // Transformers names, sorted.
  std::vector<std::string> Names() const;
  // Row-major (Transformers) shape of a tensor Find returns.
  static std::vector<int64_t> Shape(const GgufTensor& tensor) { return tensor.RowMajorShape(); }
  // The tensor's values in Transformers' layout; NotFound for an unknown name.
  absl::StatusOr<std::vector<float>> Read(std::string_view hf_name) const;
  // The tensor's stored bytes (tensor.type's blocks), rows in Transformers'
  // order: rows move whole, so a quantized row keeps its blocks.
  absl::StatusOr<std::vector<uint8_t>> ReadStored(std::string_view hf_name) const;

 private:
  GgufCheckpoint() = default;
  absl::StatusOr<const GgufTensor*> Get(std::string_view hf_name) const;
  // The heads whose rotary rows llama.cpp interleaved (q_proj, k_proj), else
  // 0 (also for a tensor without elements: nothing to reorder).
  absl::StatusOr<int64_t> RotaryHeads(std::string_view hf_name, const GgufTensor& tensor) const;

  std::unique_ptr<GgufFile> file_;
  nlohmann::json config_;
  std::map<std::string, const GgufTensor*, std::less<>> by_hf_name_;
  int64_t num_heads_ = 0;
  int64_t num_kv_heads_ = 0;
};

// The Transformers name of a llama-architecture GGUF tensor, or "" when the
// name is not one llama.cpp's converter writes for Llama.
std::string HfNameOfGgufTensor(std::string_view gguf_name);

// Undoes llama.cpp's q/k row interleaving in place. `rows` x `cols` values,
// rows = heads x head_dim: GGUF row h*hd + 2i + j holds Transformers row
// h*hd + j*hd/2 + i (i < hd/2, j in {0, 1}). A bias is the cols == 1 case.
void UnpermuteRotaryRows(std::vector<float>& values, int64_t heads, int64_t rows, int64_t cols);

}  // namespace kiln

#endif  // KILN_MODELS_GGUF_MODEL_H_
