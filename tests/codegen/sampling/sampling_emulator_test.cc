// The sampling kernel's CUDA text (RenderSamplingCuda, what NVRTC compiles)
// in the emulator, under the in-order, reversed and seeded random
// schedules, against its CPU twin (tokens and fault flags exactly: the twin
// replays the kernel's every double operation and summation order) and
// against the specification, runtime/generate's SampleToken.
//
// Logits f32, f16 and bf16 (held as the device holds them); odd
// vocabularies 1, 37, 1031 and 8209 (64, 64, 96 and 512 threads: one
// partial warp, several, and the block cap); one batch of rows covering
// greedy, temperature, top-k (1, 50, past the vocabulary), top-p, min-p
// and their combinations, ties, -inf holes, an all -inf row, an all-equal
// row, and NaN rows (token -1, fault 1) both greedy and sampled.
//
// The kernel must equal the twin. Against SampleToken, the only tolerated
// difference is where the twin also differs: the documented boundary case
// (sampling_host.h; tests/codegen/sampling/sampling_twin_test.cc shows
// such a draw is within a few ulps of a decision threshold). Those are
// counted and printed.
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
#include "codegen/sampling/sampling_host.h"
#include "gtest/gtest.h"
#include "runtime/emulator/launch.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/sampler.h"
#include "tests/support/emulated_kernel.h"
#include "tests/support/test_seed.h"

namespace kiln::codegen::sampling {
namespace {

using ::kiln::testing::EmulatedBuffer;
using ::kiln::testing::EmulatedKernelCache;
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

TEST(SamplingEmulatorTest, TokensAndFaultsMatchTwinAndSampleTokenUnderEverySchedule) {
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
  int64_t rows_vs_spec = 0, spec_equal = 0, boundary = 0;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int vocab : kVocabs) {
      const SamplingVariant v{.dtype = dtype, .threads = SamplingThreads(vocab, preset)};
      const std::string name = SamplingKernelName(v);
      absl::StatusOr<std::string> source = RenderSamplingCuda(v);
      absl::StatusOr<const emulator::EmulatedKernel*> kernel = cache.Get(*source, name);
      ASSERT_TRUE(kernel.ok()) << kernel.status();
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
      std::vector<SampleResult> twin;
      for (int r = 0; r < rows; ++r) {
        twin.push_back(SampleRowTwin(std::span<const float>(logits).subspan(size_t(r) * vocab, vocab),
                                     params[r], v.threads));
      }
      ++tally.configurations;
      for (const emulator::Schedule& schedule : schedules) {
        EmulatedBuffer x = EmulatedBuffer::OfFloats(logits, dtype);
        EmulatedBuffer p = EmulatedBuffer::Of(params.data(), params.size() * sizeof(SampleParams));
        EmulatedBuffer tokens = EmulatedBuffer::Uninitialized(rows * 4);
        EmulatedBuffer faults = EmulatedBuffer::Uninitialized(rows * 4);
        int launch_vocab = vocab;
        emulator::LaunchConfig config;
        config.grid = {static_cast<unsigned>(rows), 1, 1};
        config.block = {static_cast<unsigned>(v.threads), 1, 1};
        config.schedule = schedule;
        const absl::Status launched =
            tally.Launch(**kernel, config, {&x.ptr, &p.ptr, &launch_vocab, &tokens.ptr, &faults.ptr});
        ASSERT_TRUE(launched.ok()) << name << " vocab " << vocab << ", " << schedule.Name() << ": "
                                   << launched;
        const std::vector<int32_t> got = tokens.Ints(rows), fault = faults.Ints(rows);
        for (int r = 0; r < rows; ++r) {
          const std::string what = absl::StrCat(name, " vocab ", vocab, " row ", r, " (",
                                                specs[r].what, "), ", schedule.Name(), "; ", SeedNote());
          const bool same = got[r] == twin[r].token && fault[r] == (twin[r].fault ? 1 : 0);
          tally.compared += 1;
          tally.bit_identical += same;
          tally.mismatches += !same;
          EXPECT_EQ(got[r], twin[r].token) << what;
          EXPECT_EQ(fault[r], twin[r].fault ? 1 : 0) << what;
          if (&schedule != &schedules.front()) continue;  // the spec once per row
          GenerationConfig c = specs[r].config;
          c.seed = params[r].seed;
          const absl::StatusOr<int32_t> want = SampleToken(
              std::span<const float>(logits).subspan(size_t(r) * vocab, vocab), c, {}, params[r].counter);
          ++rows_vs_spec;
          if (!want.ok()) {
            // NaN logits: SampleToken's DataLossError is the kernel's fault flag.
            EXPECT_EQ(fault[r], 1) << what << ": SampleToken says " << want.status();
            EXPECT_EQ(got[r], -1) << what;
            spec_equal += fault[r] == 1 && got[r] == -1;
          } else if (got[r] == *want) {
            EXPECT_EQ(fault[r], 0) << what;
            ++spec_equal;
          } else if (twin[r].token != *want) {
            ++boundary;
            std::printf("boundary case: %s: kernel and twin %d, SampleToken %d\n", what.c_str(),
                        got[r], *want);
          } else {
            ADD_FAILURE() << what << ": kernel " << got[r] << ", SampleToken and twin " << *want;
          }
        }
      }
    }
  }
  std::printf("sampling: %lld of %lld rows equal SampleToken's token (fault flag for NaN rows), "
              "%lld documented boundary cases (%s)\n",
              static_cast<long long>(spec_equal), static_cast<long long>(rows_vs_spec),
              static_cast<long long>(boundary), SeedNote().c_str());
  std::printf("%s\n", tally.Summary("sampling (elements: rows' token and fault)",
                                    static_cast<int>(schedules.size())).c_str());
}

}  // namespace
}  // namespace kiln::codegen::sampling
