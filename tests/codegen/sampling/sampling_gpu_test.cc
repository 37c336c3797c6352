// The sampling kernel on a GPU against its CPU twin: compiled by NVRTC for
// the device's architecture with Kiln's --fmad=false, loaded through
// cudart's library API (nothing links libcuda), launched on batches of
// fresh random rows (f32, f16 and bf16 logits; vocabularies 1031, 32000
// and 128256; greedy and sampling; a NaN row and an all -inf row in every
// batch). Tokens and fault flags must equal the twin's exactly: the twin
// replays the kernel's every double operation and summation order.
// Without a device every test is SKIPPED, never passed. Nothing here has
// run on a GPU yet.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "codegen/gpu_target.h"
#include "codegen/sampling/sampling_cuda.h"
#include "codegen/sampling/sampling_host.h"
#include "gtest/gtest.h"
#include "base/dtype.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/cuda_status.h"
#include "tests/support/gpu_buffers.h"
#include "tests/support/gpu_test_fixture.h"
#include "tests/support/test_seed.h"
#include "tools/gpu/nvrtc_compile.h"

namespace kiln::codegen::sampling {
namespace {

using ::kiln::testing::Alloc;
using ::kiln::testing::Download;
using ::kiln::testing::Rng;
using ::kiln::testing::Upload;

struct BatchResult {
  std::vector<int32_t> tokens;
  std::vector<int32_t> faults;
};

class SamplingGpuTest : public ::kiln::testing::GpuKernelTest {
 protected:
  // Runs the kernel on `rows` rows of `logits` (already rounded to dtype).
  absl::StatusOr<BatchResult> Run(DType dtype, int vocab, const std::vector<float>& logits,
                                  const std::vector<SampleParams>& params) {
    const SamplingVariant variant{.dtype = dtype, .threads = SamplingThreads(vocab, preset_)};
    absl::StatusOr<std::string> source = RenderSamplingCuda(variant);
    if (!source.ok()) return source.status();
    const std::string name = SamplingKernelName(variant);
    absl::StatusOr<gpu::CompiledCubin> cubin =
        gpu::CompileToCubin(*source, name + ".cu", arch_, {"-std=c++17", "--fmad=false"});
    if (!cubin.ok()) return cubin.status();
    gpu::Library library;
    cudaKernel_t kernel = nullptr;
    KILN_GPU_CHECK(cudaLibraryLoadData(library.out(), cubin->cubin.data(), nullptr, nullptr, 0,
                                       nullptr, nullptr, 0));
    KILN_GPU_CHECK(cudaLibraryGetKernel(&kernel, library.get(), name.c_str()));
    const int rows = static_cast<int>(params.size());
    auto x = Upload(logits, dtype);
    auto p = Alloc(params.size() * sizeof(SampleParams));
    auto tokens = Alloc(rows * 4), faults = Alloc(rows * 4);
    for (const absl::Status& s : {x.status(), p.status(), tokens.status(), faults.status()}) {
      if (!s.ok()) return s;
    }
    KILN_GPU_CHECK(cudaMemcpy(p->get(), params.data(), params.size() * sizeof(SampleParams),
                              cudaMemcpyHostToDevice));
    void *xp = x->get(), *pp = p->get(), *tp = tokens->get(), *fp = faults->get();
    KILN_GPU_CHECK(::kiln::testing::LaunchAndWait(kernel, dim3(rows), dim3(variant.threads), 0,
                                                  {&xp, &pp, &vocab, &tp, &fp}));
    BatchResult result{std::vector<int32_t>(rows), std::vector<int32_t>(rows)};
    KILN_GPU_CHECK(cudaMemcpy(result.tokens.data(), tp, rows * 4, cudaMemcpyDeviceToHost));
    KILN_GPU_CHECK(cudaMemcpy(result.faults.data(), fp, rows * 4, cudaMemcpyDeviceToHost));
    return result;
  }
};

TEST_F(SamplingGpuTest, TokensAndFaultsEqualTheTwin) {
  Rng rng = ::kiln::testing::TestRng();
  const float inf = std::numeric_limits<float>::infinity();
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int vocab : {1031, 32000, 128256}) {
      const int rows = 24;
      std::vector<float> logits(static_cast<size_t>(rows) * vocab);
      std::vector<SampleParams> params(rows);
      for (int r = 0; r < rows; ++r) {
        std::normal_distribution<double> normal(0.0, 1.0 + r % 4);
        float* row = &logits[static_cast<size_t>(r) * vocab];
        for (int j = 0; j < vocab; ++j) {
          row[j] = static_cast<float>(r % 3 == 1 ? std::round(normal(rng) * 2) : normal(rng));
        }
        if (r == 5) row[vocab / 2] = std::nanf("");
        if (r == 6) std::fill(row, row + vocab, -inf);
        if (r == 7) std::fill(row, row + vocab, 1.5f);
        SampleParams& p = params[r];
        p.greedy = r % 6 == 0;
        p.temperature = std::vector<double>{0.3, 0.8, 1.0, 1.7}[r % 4];
        p.top_k = std::vector<int>{0, 1, 50, 1000, vocab + 1}[r % 5];
        p.top_p = std::vector<double>{1.0, 0.9, 0.5, 0.999}[(r / 2) % 4];
        p.min_p = std::vector<double>{0.0, 0.05, 0.0}[r % 3];
        p.seed = rng();
        p.counter = rng() % 4096;
      }
      // The values as the device holds them.
      absl::StatusOr<gpu::DeviceMemory> rounded = Upload(logits, dtype);
      ASSERT_TRUE(rounded.ok()) << rounded.status();
      absl::StatusOr<std::vector<float>> held = Download(*rounded, logits.size(), dtype);
      ASSERT_TRUE(held.ok()) << held.status();
      absl::StatusOr<BatchResult> got = Run(dtype, vocab, *held, params);
      ASSERT_TRUE(got.ok()) << got.status();
      int equal = 0;
      for (int r = 0; r < rows; ++r) {
        const SampleResult twin = SampleRowTwin(
            std::span<const float>(*held).subspan(static_cast<size_t>(r) * vocab, vocab),
            params[r], SamplingThreads(vocab, preset_));
        EXPECT_EQ(got->tokens[r], twin.token) << "row " << r << " vocab " << vocab;
        EXPECT_EQ(got->faults[r], twin.fault ? 1 : 0) << "row " << r << " vocab " << vocab;
        equal += got->tokens[r] == twin.token;
      }
      std::printf("%-5s vocab %6d: %d/%d rows equal the twin\n",
                  std::string(DTypeName(dtype)).c_str(), vocab, equal, rows);
    }
  }
}

}  // namespace
}  // namespace kiln::codegen::sampling
