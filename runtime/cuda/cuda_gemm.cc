#include "runtime/cuda/cuda_gemm.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/cuda/cuda_status.h"
#include "codegen/plan/gemm_shapes.h"

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

// Calls visit(attribute, field) for each configuration attribute of an
// algorithm and the LtAlgoConfig field holding it (whose type is the
// attribute's), stopping at the first failure; the id only `with_id` (it is
// read-only, set by cublasLtMatmulAlgoInit).
template <typename Config, typename Visit>
cublasStatus_t ForEachAttribute(Config& c, bool with_id, Visit visit) {
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  const auto step = [&](cublasLtMatmulAlgoConfigAttributes_t attr, auto& field) {
    if (status == CUBLAS_STATUS_SUCCESS) status = visit(attr, field);
  };
  if (with_id) step(CUBLASLT_ALGO_CONFIG_ID, c.algo_id);
  step(CUBLASLT_ALGO_CONFIG_TILE_ID, c.tile);
  step(CUBLASLT_ALGO_CONFIG_SPLITK_NUM, c.split_k);
  step(CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, c.reduction_scheme);
  step(CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, c.swizzle);
  step(CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, c.custom_option);
  step(CUBLASLT_ALGO_CONFIG_STAGES_ID, c.stages);
  step(CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, c.inner_shape);
  step(CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, c.cluster_shape);
  return status;
}

}  // namespace

absl::StatusOr<PlannedGemm> PlannedGemm::Describe(cublasLtHandle_t handle, const GemmStep& step) {
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
  return g;
}

absl::StatusOr<std::vector<PlannedGemm>> PlannedGemm::Candidates(cublasLtHandle_t handle,
                                                                 const GemmStep& step, int count) {
  KILN_ASSIGN_OR_RETURN(PlannedGemm g, Describe(handle, step));
  LtPreference preference;
  KILN_GPU_CHECK(cublasLtMatmulPreferenceCreate(preference.out()));
  const uint64_t workspace = kGemmWorkspaceBytes;
  KILN_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(std::max(count, 1)));
  int returned = 0;
  KILN_GPU_CHECK(cublasLtMatmulAlgoGetHeuristic(handle, g.desc_.get(), g.a_.get(), g.b_.get(),
                                                g.d_.get(), g.d_.get(), preference.get(),
                                                static_cast<int>(results.size()), results.data(),
                                                &returned));
  if (returned == 0) {
    return absl::NotFoundError(absl::StrCat("cuBLASLt has no algorithm for ", step.m, "x", step.n,
                                            "x", step.k, " ", std::string(DTypeName(step.dtype))));
  }
  std::vector<PlannedGemm> out;
  for (int i = 0; i < returned; ++i) {
    // cublasLt.h: each result's `state` says whether it is usable.
    if (results[static_cast<size_t>(i)].state != CUBLAS_STATUS_SUCCESS) continue;
    KILN_ASSIGN_OR_RETURN(PlannedGemm candidate, Describe(handle, step));
    candidate.heuristic_ = results[static_cast<size_t>(i)];
    out.push_back(std::move(candidate));
  }
  if (out.empty()) {
    return absl::NotFoundError(
        absl::StrCat("cuBLASLt offered no usable algorithm for ", ShapeOf(step).Key()));
  }
  return out;
}

absl::StatusOr<PlannedGemm> PlannedGemm::Plan(cublasLtHandle_t handle, const GemmStep& step) {
  KILN_ASSIGN_OR_RETURN(std::vector<PlannedGemm> first, Candidates(handle, step, 1));
  return std::move(first.front());
}

absl::StatusOr<PlannedGemm> PlannedGemm::FromConfig(cublasLtHandle_t handle, const GemmStep& step,
                                                    const LtAlgoConfig& config) {
  KILN_ASSIGN_OR_RETURN(PlannedGemm g, Describe(handle, step));
  const cudaDataType_t type = CudaType(step.dtype);
  cublasLtMatmulAlgo_t algo{};
  KILN_GPU_CHECK(cublasLtMatmulAlgoInit(handle, CUBLAS_COMPUTE_32F, CUDA_R_32F, type, type, type,
                                        type, config.algo_id, &algo));
  KILN_GPU_CHECK(ForEachAttribute(config, /*with_id=*/false, [&](auto attr, const auto& value) {
    return cublasLtMatmulAlgoConfigSetAttribute(&algo, attr, &value, sizeof(value));
  }));
  cublasLtMatmulHeuristicResult_t checked{};
  const cublasStatus_t status = cublasLtMatmulAlgoCheck(
      handle, g.desc_.get(), g.a_.get(), g.b_.get(), g.d_.get(), g.d_.get(), &algo, &checked);
  if (status != CUBLAS_STATUS_SUCCESS || checked.workspaceSize > kGemmWorkspaceBytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the recorded cuBLASLt algorithm ", config.algo_id, " for ", ShapeOf(step).Key(),
        status != CUBLAS_STATUS_SUCCESS ? " does not run here: " : " needs more workspace: ",
        status != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusString(status)
                                        : absl::StrCat(checked.workspaceSize, " bytes")));
  }
  g.heuristic_ = checked;
  g.heuristic_.algo = algo;  // AlgoCheck never writes the algo back
  return g;
}

absl::StatusOr<LtAlgoConfig> PlannedGemm::Config() const {
  LtAlgoConfig c;
  KILN_GPU_CHECK(ForEachAttribute(c, /*with_id=*/true, [&](auto attr, auto& value) {
    size_t written = 0;
    return cublasLtMatmulAlgoConfigGetAttribute(&heuristic_.algo, attr, &value, sizeof(value),
                                                &written);
  }));
  return c;
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

std::string PlannedGemm::Summary() const {
  return absl::StrCat("m=", step_.m, " n=", step_.n, " k=", step_.k, " ",
                      std::string(DTypeName(step_.dtype)), step_.bias.bytes > 0 ? " +bias" : "",
                      ": workspace ", heuristic_.workspaceSize, " B, waves ",
                      heuristic_.wavesCount);
}

}  // namespace kiln::gpu
