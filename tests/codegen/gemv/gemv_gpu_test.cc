// The GEMV kernel on a GPU against the reference executor's matmul_nt,
// through the check the emulator suite shares (gemv_check.h): each variant
// compiled by the production NVRTC path (codegen/nvrtc_compile.h:
// --fmad=false) for the device's architecture, with the tiling of the
// matching GpuTarget preset (sm_80: A100, sm_90: H100, which H200s share),
// launched through the CUDA device seam (runtime/cuda/device_api.h), within
// TESTING.md's tolerances, bit-identical elements printed. Then it times
// the decode shapes and prints the achieved weight bandwidth (not
// asserted; cudart's library API directly, nothing links libcuda).
// Without a device every test is SKIPPED, never passed.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "codegen/gpu_target.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/gemv/gemv_cuda.h"
#include "codegen/nvrtc_compile.h"
#include "gtest/gtest.h"
#include "base/half.h"
#include "tests/codegen/gemv/gemv_check.h"
#include "tests/codegen/gemv/gemv_test_support.h"
#include "tests/support/gpu_buffers.h"
#include "tests/support/gpu_device_test.h"
#include "tools/gpu/device_checks.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/cuda_status.h"

namespace kiln::codegen::gemv::testing {
namespace {

// A compiled variant, loaded; keeps its library loaded while it lives.
struct LoadedKernel {
  GemvVariant variant;
  gpu::Library library;
  cudaKernel_t kernel = nullptr;
};

int64_t ElementBytes(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

using ::kiln::testing::Alloc;
using ::kiln::testing::Download;
using ::kiln::testing::Upload;

// The problem's tensors on the device, and its output buffer.
struct DeviceProblem {
  gpu::DeviceMemory x, w, bias, out;
};

absl::StatusOr<DeviceProblem> ToDevice(const Problem& p) {
  DeviceProblem d;
  for (auto [dst, src] : {std::pair{&d.x, &p.x}, std::pair{&d.w, &p.w}}) {
    absl::StatusOr<gpu::DeviceMemory> m = Upload(*src, p.dtype);
    if (!m.ok()) return m.status();
    *dst = *std::move(m);
  }
  if (!p.bias.empty()) {
    absl::StatusOr<gpu::DeviceMemory> m = Upload(p.bias, p.dtype);
    if (!m.ok()) return m.status();
    d.bias = *std::move(m);
  }
  absl::StatusOr<gpu::DeviceMemory> out = Alloc(p.rows * p.n * ElementBytes(p.dtype));
  if (!out.ok()) return out.status();
  d.out = *std::move(out);
  return d;
}

// The launch of gemv_cuda.h: grid GemvBlocks, block threads(), no dynamic
// shared memory, (x, w, bias or nullptr, out, int n, int rows).
absl::Status Launch(const LoadedKernel& k, DeviceProblem& d, int64_t n, int64_t rows,
                    cudaStream_t stream) {
  void *xp = d.x.get(), *wp = d.w.get(), *bp = d.bias.get(), *op = d.out.get();
  int n32 = static_cast<int>(n), rows32 = static_cast<int>(rows);
  void* args[] = {&xp, &wp, &bp, &op, &n32, &rows32};
  KILN_GPU_CHECK(cudaLaunchKernel(reinterpret_cast<const void*>(k.kernel),
                                  dim3(static_cast<unsigned>(GemvBlocks(k.variant.tiles, n))),
                                  dim3(k.variant.tiles.threads()), args, 0, stream));
  return absl::OkStatus();
}

class GemvGpuTest : public ::kiln::testing::GpuDeviceTest {
 protected:
  absl::StatusOr<LoadedKernel> Load(const GemvShape& shape, int64_t n_hint) {
    absl::StatusOr<GemvVariant> variant = GemvVariantFor(shape, n_hint, preset_);
    if (!variant.ok()) return variant.status();
    absl::StatusOr<std::string> source = RenderGemvCuda(*variant);
    if (!source.ok()) return source.status();
    const std::string name = GemvKernelName(*variant);
    absl::StatusOr<CompiledKernel> compiled = CompileKernel(*source, name, preset_, "");
    if (!compiled.ok()) return compiled.status();
    LoadedKernel k;
    k.variant = *variant;
    KILN_GPU_CHECK(cudaLibraryLoadData(k.library.out(), compiled->cubin.data(), nullptr, nullptr,
                                       0, nullptr, nullptr, 0));
    KILN_GPU_CHECK(cudaLibraryGetKernel(&k.kernel, k.library.get(), name.c_str()));
    return k;
  }
};

struct Case {
  int64_t k, n, rows;
  int max_rows;
  int64_t n_hint;
  bool bias;
};

TEST_F(GemvGpuTest, MatchesTheReference) {
  Rng rng = TestRng();
  const std::vector<Case> cases = {
      {769, 1031, 3, 8, 1031, true},     {64, 7, 8, 8, 7, false},
      {2051, 1031, 1, 1, 128256, true},  {2048, 2048, 1, 1, 2048, false},
      {2048, 1031, 8, 8, 128256, true},  {4096, 4099, 3, 4, 8192, false},
      {8192, 2048, 2, 2, 2048, true},    {2054, 517, 5, 8, 128256, false},
  };
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const Case& c : cases) {
      const Problem p = MakeProblem(rng, c.k, c.n, c.rows, dtype, c.bias);
      absl::StatusOr<GemvVariant> v =
          GemvVariantFor({.k = c.k, .dtype = dtype, .max_rows = c.max_rows}, c.n_hint, preset_);
      ASSERT_TRUE(v.ok()) << v.status();
      const std::string what = absl::StrCat(GemvKernelName(*v), " n ", c.n, " rows ", c.rows,
                                            c.bias ? " bias" : "");
      absl::StatusOr<GemvChecked> checked = CheckGemv(run(), *v, p, what);
      ASSERT_TRUE(checked.ok()) << what << ": " << checked.status();
      std::printf("%-52s: error %.3g (limit %g), %lld/%lld bit-identical to the reference\n",
                  what.c_str(), checked->error, GemvLimit(dtype),
                  static_cast<long long>(checked->agreement.bit_identical),
                  static_cast<long long>(checked->agreement.compared));
    }
  }
}

// Weight bandwidth of the decode shapes (bytes of w per launch / time):
// printed for the record, not asserted.
TEST_F(GemvGpuTest, PrintsDecodeBandwidth) {
  Rng rng = TestRng();
  for (auto [k, n, rows] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {2048, 2048, 1}, {2048, 8192, 1}, {8192, 2048, 1}, {2048, 128256, 1},
           {2048, 8192, 4}, {2048, 128256, 8}}) {
    const Problem p = MakeProblem(rng, k, n, rows, DType::kBF16, false);
    absl::StatusOr<LoadedKernel> kernel =
        Load({.k = k, .dtype = DType::kBF16, .max_rows = static_cast<int>(rows)}, n);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    absl::StatusOr<DeviceProblem> d = ToDevice(p);
    ASSERT_TRUE(d.ok()) << d.status();
    gpu::Event start, stop;
    ASSERT_EQ(cudaEventCreate(start.out()), cudaSuccess);
    ASSERT_EQ(cudaEventCreate(stop.out()), cudaSuccess);
    constexpr int kIterations = 50;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Launch(*kernel, *d, n, rows, nullptr).ok());
    ASSERT_EQ(cudaEventRecord(start.get(), nullptr), cudaSuccess);
    for (int i = 0; i < kIterations; ++i) ASSERT_TRUE(Launch(*kernel, *d, n, rows, nullptr).ok());
    ASSERT_EQ(cudaEventRecord(stop.get(), nullptr), cudaSuccess);
    absl::StatusOr<double> ms = gpu::ElapsedMs(start.get(), stop.get());
    ASSERT_TRUE(ms.ok()) << ms.status();
    const double us = *ms * 1000.0 / kIterations;
    std::printf("%-44s %6lld x %-5lld rows %lld: %8.2f us  %7.1f GB/s of weights\n",
                GemvKernelName(kernel->variant).c_str(), static_cast<long long>(n),
                static_cast<long long>(k), static_cast<long long>(rows), us,
                static_cast<double>(n * k * 2) / (us * 1e3));
  }
}

}  // namespace
}  // namespace kiln::codegen::gemv::testing
