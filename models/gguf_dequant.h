// Dequantisation of GGUF tensor data to f32, for the weight types Kiln
// imports today: F32, F16, BF16 and the legacy 32-element block formats
// Q8_0, Q4_0 and Q4_1 (llama.cpp's ggml-quants.c defines the layouts; this is
// an independent implementation of the same arithmetic).
//
// Block layouts (little-endian, `d` and `m` are IEEE f16):
//   Q8_0: d, int8 q[32]             x[i] = q[i] * d
//   Q4_0: d, uint8 nibbles[16]      x[i] = (lo(n[i]) - 8) * d,
//                                   x[i + 16] = (hi(n[i]) - 8) * d
//   Q4_1: d, m, uint8 nibbles[16]   x[i] = lo(n[i]) * d + m,
//                                   x[i + 16] = hi(n[i]) * d + m
// for i in [0, 16) (Q8_0: [0, 32)); lo/hi are the low and high four bits, so
// a block's first half lives in the low nibbles.
#ifndef KILN_MODELS_GGUF_DEQUANT_H_
#define KILN_MODELS_GGUF_DEQUANT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/gguf.h"

namespace kiln {

// True for the types DequantizeGgufTensor reads.
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
