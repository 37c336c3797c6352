// CPU twin of the GEMV kernel (gemv_cuda.h): the same computation,
// operation by operation. It walks the kernel's blocks, warps and lanes,
// gives each lane the same chunks of the same weight rows, forms the same
// fmaf chains in the same order (std::fma for fmaf), sums the lane
// partials with the same xor butterfly, adds the bias in f32 and rounds
// once with base/half.h (cvt.rn's round to nearest even). Nothing in it
// is transcendental, so the kernel must equal it bit for bit; a test of the
// twin against the reference executor is a test of the kernel's algorithm.
//
// Tensors are held as the reference executor holds them: f32 values exactly
// representable in the shape's dtype.
#ifndef KILN_CODEGEN_GEMV_GEMV_HOST_H_
#define KILN_CODEGEN_GEMV_GEMV_HOST_H_

#include <cstdint>
#include <span>
#include <vector>

#include "codegen/gemv/gemv_config.h"

namespace kiln::codegen::gemv {

// A launch's arguments: `rows` (1..max_rows) and `n`, and the tensors.
struct GemvInputs {
  int64_t rows = 1;
  int64_t n = 1;
  std::span<const float> x;     // [rows, k]
  std::span<const float> w;     // [n, k]
  std::span<const float> bias;  // [n], or empty: no bias
};

// out [rows, n], each value rounded to the dtype. Rows past max_rows are
// not computed by one launch (the kernel clamps); the twin CHECK-fails on
// them, as on mis-sized spans.
std::vector<float> GemvTwin(const GemvVariant& variant, const GemvInputs& in);

}  // namespace kiln::codegen::gemv

#endif  // KILN_CODEGEN_GEMV_GEMV_HOST_H_
