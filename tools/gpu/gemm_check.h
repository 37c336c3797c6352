// One cuBLASLt bf16 GEMM checked against the CPU, and its throughput.
//
// D = A * B with bf16 A (m x k), B (k x n), D (m x n), all column-major (the
// cuBLAS convention), fp32 accumulation and scaling. The check uses a
// non-square shape so a transposed or mis-strided operand cannot pass.
#ifndef KILN_TOOLS_GPU_GEMM_CHECK_H_
#define KILN_TOOLS_GPU_GEMM_CHECK_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::gpu {

struct GemmCheck {
  int m = 0, n = 0, k = 0;
  // Elements outside |gpu - ref| <= atol + rtol * |ref| with vLLM's bf16
  // tolerances (atol 1e-3, rtol 1.6e-2); ref is float64 math on the same
  // bf16 inputs.
  int64_t mismatches = 0;
  double max_abs_error = 0;
  double nmse = 0;  // sum (gpu - ref)^2 / sum ref^2
};
absl::StatusOr<GemmCheck> RunGemmCheck(int m, int n, int k);

struct GemmTiming {
  int size = 0;  // m = n = k
  int iterations = 0;
  double ms_per_gemm = 0;
  double tflops = 0;  // 2 * size^3 / time
  std::string algo_note;  // what cuBLASLt's heuristic returned
};
absl::StatusOr<GemmTiming> TimeGemm(int size, int iterations);

}  // namespace kiln::gpu

#endif  // KILN_TOOLS_GPU_GEMM_CHECK_H_
