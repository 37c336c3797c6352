// The sampling kernel's CUDA text (RenderSamplingCuda, what NVRTC compiles)
// in the emulator, under the in-order, reversed and seeded random
// schedules, against the specification, runtime/generate's SampleToken,
// through the check the GPU suite shares (sampling_check.h). The tokens
// must not depend on the schedule.
//
// Logits f32, f16 and bf16 (held as the device holds them); odd
// vocabularies 1, 37, 1031 and 8209 (64, 64, 96 and 512 threads: one
// partial warp, several, and the block cap); one batch of rows covering
// greedy, temperature, top-k (1, 50, past the vocabulary), top-p, min-p
// and their combinations, ties, -inf holes, an all -inf row, an all-equal
// row, and NaN rows (token -1, fault 1) both greedy and sampled.
//
// Against SampleToken, the only tolerated difference is the documented
// boundary case (sampling_check.h: a decision within a few ulps of its
// threshold). Those are counted and printed.
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "codegen/gpu_target.h"
#include "codegen/sampling/sampling_cuda.h"
#include "codegen/sampling/sampling_params.h"
#include "gtest/gtest.h"
#include "runtime/emulator/launch.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/sampler.h"
#include "tests/codegen/sampling/sampling_check.h"
#include "tests/support/emulated_kernel.h"
#include "tests/support/test_seed.h"

namespace kiln::codegen::sampling {
namespace {

using ::kiln::testing::EmulatedKernelCache;
using ::kiln::testing::EmulatedRunner;
using ::kiln::testing::EmulatorTally;
using ::kiln::testing::Rng;
using ::kiln::testing::SeedNote;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kVocabs[] = {1, 37, 1031, 8209};

// One row of the batch: how its logits are drawn and its sampling config.
struct RowSpec {
  const char* what;
  GenerationConfig config;
  enum Logits { kNormal, kTies, kPeaked, kHoles, kAllInf, kAllEqual, kNaN } logits = kNormal;
};

GenerationConfig Sample(double temperature, int top_k, double top_p, double min_p) {
  GenerationConfig c;
  c.do_sample = true;
  c.temperature = temperature;
  c.top_k = top_k;
  c.top_p = top_p;
  c.min_p = min_p;
  return c;
}

std::vector<RowSpec> BatchRows(int vocab) {
  return {
      {"greedy", GenerationConfig{}, RowSpec::kNormal},
      {"greedy, ties", GenerationConfig{}, RowSpec::kTies},
      {"temperature 0.7", Sample(0.7, 0, 1.0, 0.0)},
      {"top_k 1", Sample(1.0, 1, 1.0, 0.0)},
      {"top_k 50, T 1.3", Sample(1.3, 50, 1.0, 0.0), RowSpec::kTies},
      {"top_k past vocab, T 2.5", Sample(2.5, vocab + 5, 1.0, 0.0)},
      {"top_p 0.9", Sample(1.0, 0, 0.9, 0.0), RowSpec::kPeaked},
      {"top_p 0.5, top_k 1000", Sample(0.8, 1000, 0.5, 0.0)},
      {"min_p 0.1", Sample(1.0, 0, 1.0, 0.1), RowSpec::kHoles},
      {"min_p 0.05, top_p 0.95, top_k 10", Sample(1.0, 10, 0.95, 0.05)},
      {"all -inf, sampled", Sample(1.0, 0, 1.0, 0.0), RowSpec::kAllInf},
      {"all equal, sampled", Sample(1.0, 0, 0.9, 0.0), RowSpec::kAllEqual},
      {"NaN, sampled", Sample(1.0, 50, 0.9, 0.0), RowSpec::kNaN},
      {"NaN, greedy", GenerationConfig{}, RowSpec::kNaN},
  };
}

std::vector<float> RowLogits(Rng& rng, int vocab, RowSpec::Logits kind) {
  std::normal_distribution<double> normal(0.0, 2.0);
  std::vector<float> row(vocab);
  for (float& v : row) v = static_cast<float>(normal(rng));
  std::uniform_int_distribution<int> index(0, vocab - 1);
  switch (kind) {
    case RowSpec::kTies: for (float& v : row) v = std::round(v * 2) / 2; break;
    case RowSpec::kPeaked: row[index(rng)] += 12.0f; break;
    case RowSpec::kHoles:
      for (int j = 0; j < vocab; j += 3) row[j] = -kInf;
      break;
    case RowSpec::kAllInf: std::fill(row.begin(), row.end(), -kInf); break;
    case RowSpec::kAllEqual: std::fill(row.begin(), row.end(), 1.5f); break;
    case RowSpec::kNaN: row[index(rng)] = std::nanf(""); break;
    default: break;
  }
  return row;
}

TEST(SamplingEmulatorTest, TokensAndFaultsMatchSampleTokenUnderEverySchedule) {
  Rng rng = ::kiln::testing::TestRng();
  const GpuTarget preset = H100Target();
  const std::vector<emulator::Schedule> schedules =
      emulator::StandardSchedules(::kiln::testing::BaseSeed());
  EmulatedKernelCache cache;
  EmulatorTally tally;
  std::vector<std::pair<std::string, std::string>> texts;
  std::set<std::string> kernels;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int vocab : kVocabs) {
      const SamplingVariant v{.dtype = dtype, .threads = SamplingThreads(vocab, preset)};
      absl::StatusOr<std::string> source = RenderSamplingCuda(v);
      ASSERT_TRUE(source.ok()) << source.status();
      if (kernels.insert(SamplingKernelName(v)).second) texts.emplace_back(*source, SamplingKernelName(v));
    }
  }
  const absl::Status compiled = cache.CompileAll(texts);
  ASSERT_TRUE(compiled.ok()) << compiled;
  tally.kernels = static_cast<int64_t>(kernels.size());
  SampleCounts counts;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int vocab : kVocabs) {
      const SamplingVariant v{.dtype = dtype, .threads = SamplingThreads(vocab, preset)};
      const std::string name = SamplingKernelName(v);
      const std::vector<RowSpec> specs = BatchRows(vocab);
      const int rows = static_cast<int>(specs.size());
      std::vector<float> logits;
      std::vector<SampleParams> params;
      for (const RowSpec& spec : specs) {
        // The values as the device holds them.
        for (float x : RowLogits(rng, vocab, spec.logits)) logits.push_back(RoundToDType(x, dtype));
        GenerationConfig c = spec.config;
        c.seed = rng();
        params.push_back(DeviceSampleParams(c, rng() % 4096));
        ASSERT_TRUE(ValidateSampleParams(params.back()).ok());
      }
      ++tally.configurations;
      std::vector<int32_t> first_tokens;  // the in-order schedule's
      for (const emulator::Schedule& schedule : schedules) {
        absl::StatusOr<SampledRows> got =
            RunSampling(EmulatedRunner(cache, tally, schedule, 0), v, vocab, logits, params);
        ASSERT_TRUE(got.ok()) << name << " vocab " << vocab << ", " << schedule.Name() << ": "
                              << got.status();
        if (first_tokens.empty()) first_tokens = got->tokens;
        // The kernel's choice must not depend on the order threads run in.
        EXPECT_EQ(got->tokens, first_tokens) << name << " vocab " << vocab << ", " << schedule.Name();
        for (int r = 0; r < rows; ++r) {
          const std::string what = absl::StrCat(name, " vocab ", vocab, " row ", r, " (",
                                                specs[r].what, "), ", schedule.Name(), "; ", SeedNote());
          CheckRow(got->tokens[r], got->faults[r],
                   std::span<const float>(logits).subspan(size_t(r) * vocab, vocab), params[r], what,
                   counts);
        }
      }
    }
  }
  tally.compared = counts.rows;
  tally.bit_identical = counts.equal;
  tally.mismatches = counts.mismatches;
  std::printf("sampling: %lld of %lld rows x schedules equal SampleToken's token (fault flag for NaN rows), "
              "%lld documented boundary cases (%s)\n",
              static_cast<long long>(counts.equal), static_cast<long long>(counts.rows),
              static_cast<long long>(counts.boundary), SeedNote().c_str());
  std::printf("%s\n", tally.Summary("sampling (elements: rows' token and fault)",
                                    static_cast<int>(schedules.size())).c_str());
}

}  // namespace
}  // namespace kiln::codegen::sampling
