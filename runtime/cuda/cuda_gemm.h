// A launch plan's GEMM step (launch_plan.h GemmStep) on cuBLASLt.
//
// The IR's out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) is, read column-major
// (cuBLASLt's convention), D (n x m, ld n) = op(A) . B with A = w as a k x n
// matrix (ld k) transposed and B = x as k x m (ld k): TRANSA = T, TRANSB = N.
// Inputs and output in the step's dtype (f32, f16 or bf16), accumulation and
// scale in f32 (CUBLAS_COMPUTE_32F: no TF32 for f32, so an f32 engine stays
// within f32 rounding of the reference); the bias is the BIAS epilogue, added
// to the f32 accumulator before the one rounding, as the reference does.
// The algorithm is cuBLASLt's heuristic top choice for the shape on the
// device at load (a machine without the GPU cannot ask for it).
#ifndef KILN_RUNTIME_CUDA_CUDA_GEMM_H_
#define KILN_RUNTIME_CUDA_CUDA_GEMM_H_

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <string>

#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/launch_plan.h"

namespace kiln::gpu {

// Scratch every GEMM may use (split-K and stream-K algorithms need some);
// 32 MiB is what cuBLAS reserves on Hopper.
inline constexpr size_t kGemmWorkspaceBytes = size_t{32} << 20;

// One GemmStep's descriptors and algorithm. Move-only; `handle` must outlive it.
class PlannedGemm {
 public:
  static absl::StatusOr<PlannedGemm> Plan(cublasLtHandle_t handle, const GemmStep& step);

  // Enqueues the product on `stream`, operands at their arena addresses.
  absl::Status Enqueue(const void* x, const void* w, const void* bias, void* out, void* workspace,
                       cudaStream_t stream) const;

  // "m=1 n=2048 k=2048 bf16 bias: algo 23 tile 12 splitK 1, workspace 0 B".
  std::string Describe() const;

 private:
  cublasLtHandle_t handle_ = nullptr;
  GemmStep step_;
  LtMatmulDesc desc_;
  LtLayout a_, b_, d_;
  cublasLtMatmulHeuristicResult_t heuristic_{};
};

}  // namespace kiln::gpu

#endif  // KILN_RUNTIME_CUDA_CUDA_GEMM_H_
