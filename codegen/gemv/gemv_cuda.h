// CUDA C++ source of the hand-written GEMV kernel for batch-1 decode (and
// the few rows of a speculative verify step): matmul_nt with few rows, one
// NVRTC translation unit per GemvVariant. K, the dtype, the most rows per
// launch and the tiling are `constexpr` at the top of the source; n and
// rows are launch arguments, so one cubin serves every weight of that K
// and dtype. No #include: f16/bf16 conversions are PTX cvt (sm_80+).
//
// Semantics: the reference executor's matmul_nt within TESTING.md's
// tolerances, computed in this order: lane l of the warp owning column j
// accumulates, for each row r, the
// chunks l, l + 32, ... of `vec` elements in ascending order with explicit
// fmaf (acc = fmaf(x[r, k], w[j, k], acc)); the 32 lane partials are summed
// by the xor butterfly over offsets 16, 8, 4, 2, 1 (__fadd_rn); then
// sum + bias[j] (__fadd_rn, f32) and one cvt.rn to the dtype. NVRTC runs
// with --fmad=false and there is no transcendental, so the result is fixed
// by this order alone, on any device (the CUDA emulator runs this source
// against the reference: tests/codegen/gemv/gemv_emulator_test.cc).
//
// Layouts (row-major, in the dtype): x [rows, k], w [n, k], bias [n],
// out [rows, n]. x, w and out must be 16-byte aligned (cudaMalloc and the
// runtime's arena give 256); then every load is aligned because `vec`
// divides k.
//
// Launch:
//   kernel  GemvKernelName(variant)
//   grid    (GemvBlocks(tiles, n), 1, 1)
//   block   (tiles.threads(), 1, 1)
//   dynamic shared memory 0 (x staging, when used, is static: XSharedBytes)
//   args    (const T* x, const T* w, const T* bias /* nullptr: no bias */,
//            T* out, int n, int rows)   with T = float or uint16 bits,
//   1 <= rows <= shape.max_rows (larger values are clamped to max_rows:
//   the caller splits more rows over launches), n >= 1.
#ifndef KILN_CODEGEN_GEMV_GEMV_CUDA_H_
#define KILN_CODEGEN_GEMV_GEMV_CUDA_H_

#include <string>

#include "absl/status/statusor.h"
#include "codegen/gemv/gemv_config.h"

namespace kiln::codegen::gemv {

// The complete translation unit of `variant`, defining one
// `extern "C" __global__` function named GemvKernelName(variant).
absl::StatusOr<std::string> RenderGemvCuda(const GemvVariant& variant);

}  // namespace kiln::codegen::gemv

#endif  // KILN_CODEGEN_GEMV_GEMV_CUDA_H_
