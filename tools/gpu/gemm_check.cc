#include "tools/gpu/gemm_check.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/cuda_status.h"
#include "tools/gpu/device_checks.h"
#include "tools/gpu/probe_kernels.h"

namespace kiln::gpu {
namespace {

// cuBLASLt's heuristic may pick split-K or stream-K algorithms that need
// scratch space; 32 MiB is what cuBLAS itself reserves on Hopper.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// A cuBLASLt bf16 matmul planned for one shape: the descriptors and the
// algorithm cuBLASLt's heuristic picked for them. Run() enqueues it.
class PlannedBf16Gemm {
 public:
  static absl::StatusOr<PlannedBf16Gemm> Plan(int m, int n, int k) {
    PlannedBf16Gemm gemm;
    KILN_GPU_CHECK(cublasLtCreate(gemm.handle_.out()));
    KILN_GPU_CHECK(cublasLtMatmulDescCreate(gemm.desc_.out(), CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t no_transpose = CUBLAS_OP_N;
    KILN_GPU_CHECK(cublasLtMatmulDescSetAttribute(gemm.desc_.get(), CUBLASLT_MATMUL_DESC_TRANSA,
                                                  &no_transpose, sizeof(no_transpose)));
    KILN_GPU_CHECK(cublasLtMatmulDescSetAttribute(gemm.desc_.get(), CUBLASLT_MATMUL_DESC_TRANSB,
                                                  &no_transpose, sizeof(no_transpose)));
    // Column-major: the leading dimension is the row count.
    KILN_GPU_CHECK(cublasLtMatrixLayoutCreate(gemm.a_.out(), CUDA_R_16BF, m, k, m));
    KILN_GPU_CHECK(cublasLtMatrixLayoutCreate(gemm.b_.out(), CUDA_R_16BF, k, n, k));
    KILN_GPU_CHECK(cublasLtMatrixLayoutCreate(gemm.d_.out(), CUDA_R_16BF, m, n, m));

    LtPreference preference;
    KILN_GPU_CHECK(cublasLtMatmulPreferenceCreate(preference.out()));
    const uint64_t workspace = kWorkspaceBytes;
    KILN_GPU_CHECK(cublasLtMatmulPreferenceSetAttribute(
        preference.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
    int returned = 0;
    KILN_GPU_CHECK(cublasLtMatmulAlgoGetHeuristic(gemm.handle_.get(), gemm.desc_.get(),
                                                  gemm.a_.get(), gemm.b_.get(), gemm.d_.get(),
                                                  gemm.d_.get(), preference.get(), 1,
                                                  &gemm.heuristic_, &returned));
    if (returned == 0) {
      return absl::NotFoundError(
          absl::StrCat("cuBLASLt has no bf16 algorithm for ", m, "x", n, "x", k));
    }
    return gemm;
  }

  // d = a * b (beta = 0, so d's old contents are never read).
  absl::Status Run(const void* a, const void* b, void* d, void* workspace,
                   cudaStream_t stream) const {
    const float alpha = 1.0f, beta = 0.0f;
    KILN_GPU_CHECK(cublasLtMatmul(handle_.get(), desc_.get(), &alpha, a, a_.get(), b, b_.get(),
                                  &beta, d, d_.get(), d, d_.get(), &heuristic_.algo, workspace,
                                  kWorkspaceBytes, stream));
    return absl::OkStatus();
  }

  std::string Describe() const {
    return absl::StrCat("heuristic workspace ", heuristic_.workspaceSize, " B, waves ",
                        heuristic_.wavesCount);
  }

 private:
  LtHandle handle_;
  LtMatmulDesc desc_;
  LtLayout a_, b_, d_;
  cublasLtMatmulHeuristicResult_t heuristic_{};
};

// Device buffers for one GEMM plus its workspace and stream.
struct GemmBuffers {
  Stream stream;
  DeviceMemory a, b, d, workspace;

  absl::Status Allocate(int m, int n, int k) {
    KILN_GPU_CHECK(cudaStreamCreateWithFlags(stream.out(), cudaStreamNonBlocking));
    KILN_GPU_CHECK(cudaMalloc(a.out(), size_t{2} * m * k));
    KILN_GPU_CHECK(cudaMalloc(b.out(), size_t{2} * k * n));
    KILN_GPU_CHECK(cudaMalloc(d.out(), size_t{2} * m * n));
    KILN_GPU_CHECK(cudaMalloc(workspace.out(), kWorkspaceBytes));
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<GemmCheck> RunGemmCheck(int m, int n, int k) {
  const std::vector<uint16_t> a = RandomBf16Uniform(size_t{1} * m * k, -1, 1, 5);
  const std::vector<uint16_t> b = RandomBf16Uniform(size_t{1} * k * n, -1, 1, 6);
  GemmBuffers buffers;
  KILN_GPU_CHECK(buffers.Allocate(m, n, k));
  absl::StatusOr<PlannedBf16Gemm> gemm = PlannedBf16Gemm::Plan(m, n, k);
  if (!gemm.ok()) return gemm.status();
  const cudaStream_t stream = buffers.stream.get();
  KILN_GPU_CHECK(cudaMemcpyAsync(buffers.a.get(), a.data(), a.size() * 2, cudaMemcpyHostToDevice,
                                 stream));
  KILN_GPU_CHECK(cudaMemcpyAsync(buffers.b.get(), b.data(), b.size() * 2, cudaMemcpyHostToDevice,
                                 stream));
  KILN_GPU_CHECK(gemm->Run(buffers.a.get(), buffers.b.get(), buffers.d.get(),
                           buffers.workspace.get(), stream));
  std::vector<uint16_t> d(size_t{1} * m * n);
  KILN_GPU_CHECK(
      cudaMemcpyAsync(d.data(), buffers.d.get(), d.size() * 2, cudaMemcpyDeviceToHost, stream));
  KILN_GPU_CHECK(cudaStreamSynchronize(stream));

  // float64 reference on the same bf16 inputs, column by column.
  std::vector<double> a_f(a.size()), ref(d.size(), 0.0);
  for (size_t i = 0; i < a.size(); ++i) a_f[i] = BF16ToFloat(a[i]);
  for (int j = 0; j < n; ++j) {
    for (int p = 0; p < k; ++p) {
      const double b_pj = BF16ToFloat(b[p + size_t{1} * j * k]);
      const double* a_col = &a_f[size_t{1} * p * m];
      double* ref_col = &ref[size_t{1} * j * m];
      for (int i = 0; i < m; ++i) ref_col[i] += a_col[i] * b_pj;
    }
  }

  GemmCheck check;
  check.m = m;
  check.n = n;
  check.k = k;
  double error_sq = 0, ref_sq = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const double error = std::abs(BF16ToFloat(d[i]) - ref[i]);
    // NaN compares false, so it counts as a mismatch.
    if (!(error <= 1e-3 + 1.6e-2 * std::abs(ref[i]))) ++check.mismatches;
    check.max_abs_error = std::max(check.max_abs_error, error);
    error_sq += error * error;
    ref_sq += ref[i] * ref[i];
  }
  check.nmse = ref_sq > 0 ? error_sq / ref_sq : error_sq;
  return check;
}

absl::StatusOr<GemmTiming> TimeGemm(int size, int iterations) {
  GemmBuffers buffers;
  KILN_GPU_CHECK(buffers.Allocate(size, size, size));
  absl::StatusOr<PlannedBf16Gemm> gemm = PlannedBf16Gemm::Plan(size, size, size);
  if (!gemm.ok()) return gemm.status();
  const cudaStream_t stream = buffers.stream.get();
  // Every element 0x3c3c (~0.0115): finite, and the values do not change
  // the work a dense GEMM does.
  const size_t operand_bytes = size_t{2} * size * size;
  KILN_GPU_CHECK(cudaMemsetAsync(buffers.a.get(), 0x3c, operand_bytes, stream));
  KILN_GPU_CHECK(cudaMemsetAsync(buffers.b.get(), 0x3c, operand_bytes, stream));
  Event start, stop;
  KILN_GPU_CHECK(cudaEventCreate(start.out()));
  KILN_GPU_CHECK(cudaEventCreate(stop.out()));
  for (int i = 0; i < 2; ++i) {  // warm-up: cuBLASLt's first call loads its kernels
    KILN_GPU_CHECK(gemm->Run(buffers.a.get(), buffers.b.get(), buffers.d.get(),
                             buffers.workspace.get(), stream));
  }
  KILN_GPU_CHECK(cudaEventRecord(start.get(), stream));
  for (int i = 0; i < iterations; ++i) {
    KILN_GPU_CHECK(gemm->Run(buffers.a.get(), buffers.b.get(), buffers.d.get(),
                             buffers.workspace.get(), stream));
  }
  KILN_GPU_CHECK(cudaEventRecord(stop.get(), stream));
  absl::StatusOr<double> ms = ElapsedMs(start.get(), stop.get());
  if (!ms.ok()) return ms.status();

  GemmTiming timing;
  timing.size = size;
  timing.iterations = iterations;
  timing.ms_per_gemm = *ms / iterations;
  timing.tflops = 2.0 * size * size * static_cast<double>(size) / (timing.ms_per_gemm * 1e-3) / 1e12;
  timing.algo_note = gemm->Describe();
  return timing;
}

}  // namespace kiln::gpu
