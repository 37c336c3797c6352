// The sampling kernel on a GPU against runtime/generate's SampleToken,
// through the check the emulator suite shares (sampling_check.h): compiled
// by NVRTC for the device's architecture with Kiln's options
// (--fmad=false), launched through the CUDA device seam
// (runtime/cuda/device_api.h) on batches of fresh random rows (f32, f16
// and bf16 logits; vocabularies 1031, 32000 and 128256; greedy and
// sampling; a NaN row and an all -inf row in every batch). Tokens and
// fault flags must equal SampleToken's, except the documented boundary
// cases, which are counted.
// Without a device every test is SKIPPED, never passed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/dtype.h"
#include "base/half.h"
#include "codegen/gpu_target.h"
#include "codegen/sampling/sampling_cuda.h"
#include "codegen/sampling/sampling_params.h"
#include "gtest/gtest.h"
#include "tests/codegen/sampling/sampling_check.h"
#include "tests/support/gpu_device_test.h"
#include "tests/support/test_seed.h"

namespace kiln::codegen::sampling {
namespace {

using ::kiln::testing::Rng;

using SamplingGpuTest = ::kiln::testing::GpuDeviceTest;

TEST_F(SamplingGpuTest, TokensAndFaultsMatchSampleToken) {
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
      for (float& x : logits) x = RoundToDType(x, dtype);
      const SamplingVariant variant{.dtype = dtype, .threads = SamplingThreads(vocab, preset_)};
      absl::StatusOr<SampledRows> got = RunSampling(run(), variant, vocab, logits, params);
      ASSERT_TRUE(got.ok()) << got.status();
      SampleCounts counts;
      for (int r = 0; r < rows; ++r) {
        CheckRow(got->tokens[r], got->faults[r],
                 std::span<const float>(logits).subspan(static_cast<size_t>(r) * vocab, vocab),
                 params[r], absl::StrCat(std::string(DTypeName(dtype)), " vocab ", vocab, " row ", r), counts);
      }
      std::printf("%-5s vocab %6d: %lld/%d rows equal SampleToken, %lld boundary cases\n",
                  std::string(DTypeName(dtype)).c_str(), vocab, static_cast<long long>(counts.equal),
                  rows, static_cast<long long>(counts.boundary));
    }
  }
}

}  // namespace
}  // namespace kiln::codegen::sampling
