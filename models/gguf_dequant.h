// GGUF tensor types as Kiln's storage types, and their dequantisation to
// f32: F32, F16, BF16, the legacy 32-element blocks Q8_0, Q4_0, Q4_1 and the
// k-quants Q4_K, Q5_K, Q6_K. The block layouts and arithmetic are
// base/quant_blocks.h's (the same bytes as llama.cpp's ggml-quants.c).
#ifndef KILN_MODELS_GGUF_DEQUANT_H_
#define KILN_MODELS_GGUF_DEQUANT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "models/gguf.h"

namespace kiln {

// The Kiln dtype that stores `type` byte for byte; nullopt for the types
// Kiln does not read.
std::optional<DType> DTypeOfGgml(GgmlType type);

// True for the types DequantizeGgufTensor reads (those DTypeOfGgml maps).
bool CanDequantize(GgmlType type);

// Decodes `n` elements of type `type` from `bytes` (exactly n / block_size *
// type_size bytes; n a multiple of the block size) into `out` (n floats).
// Unsupported types are an error naming the type and the supported ones.
absl::Status DequantizeGgml(GgmlType type, std::span<const uint8_t> bytes, std::span<float> out);

// All elements of `tensor` in ggml order (ne[0] fastest), which is the
// row-major order of tensor.RowMajorShape(). Errors name the tensor.
absl::StatusOr<std::vector<float>> DequantizeGgufTensor(const GgufTensor& tensor);

}  // namespace kiln

#endif  // KILN_MODELS_GGUF_DEQUANT_H_
