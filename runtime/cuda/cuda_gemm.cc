#include "runtime/cuda/cuda_gemm.h"

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"

namespace kiln::gpu {
namespace {

cudaDataType_t CudaType(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kBF16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

}  // namespace

absl::StatusOr<PlannedGemm> PlannedGemm::Plan(cublasLtHandle_t handle, const GemmStep& step) {
  PlannedGemm g;
  g.handle_ = handle;
  g.step_ = step;
  const cudaDataType_t type = CudaType(step.dtype);
  KILN_GPU_CHECK(cublasLtMatmulDescCreate(g.desc_.out(), CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, none = CUBLAS_OP_N;
  KILN_GPU_CHECK(cublasLtMatmulDescSetAttribute(g.desc_.get(), CUBLASLT_MATMUL_DESC_TRANSA,
                                                &transpose, sizeof(transpose)));
  KILN_GPU_CHECK(cublasLtMatmulDescSetAttribute(g.desc_.get(), CUBLASLT_MATMUL_DESC_TRANSB, &none,
                                                sizeof(none)));
  if (step.bias.bytes > 0) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    KILN_GPU_CHECK(cublasLtMatmulDescSetAttribute(g.desc_.get(), CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                  &epilogue, sizeof(epilogue)));
    KILN_GPU_CHECK(cublasLtMatmulDescSetAttribute(
        g.desc_.get(), CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &type, sizeof(type)));
  }
  KILN_GPU_CHECK(cublasLtMatrixLayoutCreate(g.a_.out(), type, step.k, step.n, step.k));
  KILN_GPU_CHECK(cublasLtMatrixLayoutCreate(g.b_.out(), type, step.k, step.m, step.k));
  KILN_GPU_CHECK(cublasLtMatrixLayoutCreate(g.d_.out(), type, step.n, step.m, step.n));
  LtPreference preference;
  KILN_GPU_CHECK(cublasLtMatmulPreferenceCreate(preference.out()));
  const uint64_t workspace = kGemmWorkspaceBytes;
  KILN_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
  int returned = 0;
  KILN_GPU_CHECK(cublasLtMatmulAlgoGetHeuristic(handle, g.desc_.get(), g.a_.get(), g.b_.get(),
                                                g.d_.get(), g.d_.get(), preference.get(), 1,
                                                &g.heuristic_, &returned));
  if (returned == 0) {
    return absl::NotFoundError(absl::StrCat("cuBLASLt has no algorithm for ", step.m, "x", step.n,
                                            "x", step.k, " ", std::string(DTypeName(step.dtype))));
  }
  return g;
}

absl::Status PlannedGemm::Enqueue(const void* x, const void* w, const void* bias, void* out,
                                  void* workspace, cudaStream_t stream) const {
  if (step_.bias.bytes > 0) {
    KILN_GPU_CHECK(cublasLtMatmulDescSetAttribute(desc_.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                  &bias, sizeof(bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  KILN_GPU_CHECK(cublasLtMatmul(handle_, desc_.get(), &alpha, w, a_.get(), x, b_.get(), &beta, out,
                                d_.get(), out, d_.get(), &heuristic_.algo, workspace,
                                kGemmWorkspaceBytes, stream));
  return absl::OkStatus();
}

std::string PlannedGemm::Describe() const {
  return absl::StrCat("m=", step_.m, " n=", step_.n, " k=", step_.k, " ",
                      std::string(DTypeName(step_.dtype)), step_.bias.bytes > 0 ? " +bias" : "",
                      ": workspace ", heuristic_.workspaceSize, " B, waves ",
                      heuristic_.wavesCount);
}

}  // namespace kiln::gpu
