// The GEMV kernel's CUDA text (RenderGemvCuda, byte for byte what NVRTC
// compiles) in the emulator against the reference executor's matmul_nt
// (the spec, with TESTING.md's tolerances, through gemv_check.h, which the
// GPU suite shares), under the in-order, reversed and seeded random
// schedules. Any race, divergence, out-of-bounds or misaligned access
// fails the launch; the emulator checks each KILN_PTX_LD_GLOBAL_* load's
// bounds and vector alignment.
//
// Variants: every (vector width, columns per warp, x staging) the tiling
// rule (gemv_config.h) produces for the A100 and H100 presets, per dtype:
//   vec     every VecElements value: K = 37 vec (37 chunks: lanes 0..4
//           take two, the rest one) and K = vec x odd >= 1601;
//   columns n_hint 37 / 6000 / 128256 give 1 / 2 / 4 on both presets;
//   x       small K stages x in shared memory; large K with max_rows 7
//           reads it from global on the A100 but stages it on the H100,
//           max_rows 8 reads it from global on both.
// max_rows runs over 1..8 across the variants; each variant is launched
// with rows 1, a middle count and max_rows, at odd n 19 (partial last
// block, warps past n), with and without bias. A removed staging barrier
// must be caught (the emulator is checking).
#include <cstdio>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "base/half.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/gemv/gemv_cuda.h"
#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "runtime/emulator/launch.h"
#include "tests/codegen/gemv/gemv_check.h"
#include "tests/codegen/gemv/gemv_test_support.h"
#include "tests/support/emulated_kernel.h"

namespace kiln::codegen::gemv::testing {
namespace {

using ::kiln::testing::EmulatedBuffer;
using ::kiln::testing::EmulatedKernelCache;
using ::kiln::testing::EmulatedRunner;
using ::kiln::testing::EmulatorTally;
using ::kiln::testing::MaxKeepingNan;

// Odd n: 3 / 2 / 1 blocks of 8 / 16 / 32 columns, each with a partial last
// warp and warps wholly past n.
constexpr int64_t kN = 19;

// The variants to run: distinct kernels (by name) over both presets.
std::vector<GemvVariant> VariantsToRun(DType dtype) {
  const int widest = dtype == DType::kF32 ? 4 : 8;
  std::vector<GemvVariant> variants;
  std::set<std::string> seen;
  int next_small_rows = 0;
  for (int vec = widest; vec >= 1; vec /= 2) {
    // Odd multiples of vec, so VecElements(k) == vec exactly.
    const int64_t k_small = 37 * vec, k_large = vec * ((1601 / vec) | 1);
    for (int64_t n_hint : {kN, int64_t{6000}, int64_t{128256}}) {
      const int small_rows = 1 + (next_small_rows++ % 6);
      for (auto [k, max_rows] : {std::pair{k_small, small_rows}, std::pair{k_large, 7},
                                 std::pair{k_large, 8}}) {
        for (const GpuTarget& preset : {A100Target(), H100Target()}) {
          absl::StatusOr<GemvVariant> v =
              GemvVariantFor({.k = k, .dtype = dtype, .max_rows = max_rows}, n_hint, preset);
          EXPECT_TRUE(v.ok()) << v.status();
          if (!v.ok()) continue;
          EXPECT_EQ(v->tiles.vec, vec) << GemvKernelName(*v);
          const std::string tiling = absl::StrCat(v->tiles.vec, "c", v->tiles.cols_per_warp,
                                                  v->tiles.x_in_shared ? "s" : "g");
          if (seen.insert(tiling).second) variants.push_back(*v);
        }
      }
    }
  }
  return variants;
}

TEST(GemvEmulatorTest, EveryTilingVariantMatchesReferenceUnderEverySchedule) {
  Rng rng = TestRng();
  EmulatedKernelCache cache;
  EmulatorTally tally;
  const std::vector<emulator::Schedule> schedules = emulator::StandardSchedules(BaseSeed());
  std::set<std::string> shapes;  // "v4c2s" etc.: the tiling variants covered
  std::vector<std::pair<std::string, std::string>> texts;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const GemvVariant& v : VariantsToRun(dtype)) {
      absl::StatusOr<std::string> source = RenderGemvCuda(v);
      ASSERT_TRUE(source.ok()) << source.status();
      texts.emplace_back(*source, GemvKernelName(v));
    }
  }
  const absl::Status compiled = cache.CompileAll(texts);
  ASSERT_TRUE(compiled.ok()) << compiled;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    double worst_spec = 0, worst_abs = 0;
    for (const GemvVariant& v : VariantsToRun(dtype)) {
      const std::string name = GemvKernelName(v);
      ++tally.kernels;
      shapes.insert(absl::StrCat(std::string(DTypeName(dtype)), " v", v.tiles.vec, "c",
                                 v.tiles.cols_per_warp, v.tiles.x_in_shared ? "s" : "g"));
      const int max_rows = v.shape.max_rows;
      // Bias on the first and last row counts, off in the middle (and on
      // one-row kernels' second launch): both paths per variant.
      const std::vector<std::pair<int, bool>> launches =
          max_rows == 1 ? std::vector<std::pair<int, bool>>{{1, true}, {1, false}}
          : max_rows == 2 ? std::vector<std::pair<int, bool>>{{1, true}, {2, false}}
                          : std::vector<std::pair<int, bool>>{
                                {1, true}, {(max_rows + 1) / 2, false}, {max_rows, true}};
      for (auto [rows, bias] : launches) {
        ++tally.configurations;
        const Problem p = MakeProblem(rng, v.shape.k, kN, rows, dtype, bias);
        for (const emulator::Schedule& schedule : schedules) {
          const std::string what = absl::StrCat(name, " n ", kN, " rows ", rows, bias ? " bias" : "",
                                                ", ", schedule.Name(), "; ", SeedNote());
          absl::StatusOr<GemvChecked> c =
              CheckGemv(EmulatedRunner(cache, tally, schedule, 0), v, p, what);
          ASSERT_TRUE(c.ok()) << what << ": " << c.status();
          tally.Add(c->agreement);
          tally.mismatches += !c->ok;
          worst_spec = MaxKeepingNan(worst_spec, c->error);
          worst_abs = MaxKeepingNan(worst_abs, c->agreement.max_abs);
        }
      }
    }
    std::printf("gemv %-4s: worst vs reference %.3g (%s, limit %g), worst |kernel - reference| %.3g\n",
                std::string(DTypeName(dtype)).c_str(), worst_spec,
                dtype == DType::kF32 ? "NMSE" : "allclose ratio", GemvLimit(dtype), worst_abs);
  }
  std::printf("tiling variants covered (%zu):", shapes.size());
  for (const std::string& s : shapes) std::printf(" %s", s.c_str());
  std::printf("\n%s\n", tally.Summary("gemv", static_cast<int>(schedules.size())).c_str());
}

// The comparison has teeth in the emulator too: without the barrier after
// staging x, lanes read shared x before other threads wrote it.
TEST(GemvEmulatorTest, ARemovedStagingBarrierIsCaught) {
  absl::StatusOr<GemvVariant> v =
      GemvVariantFor({.k = 148, .dtype = DType::kF32, .max_rows = 3}, kN, H100Target());
  ASSERT_TRUE(v.ok() && v->tiles.x_in_shared);
  absl::StatusOr<std::string> source = RenderGemvCuda(*v);
  ASSERT_TRUE(source.ok());
  const std::string barrier = "    __syncthreads();\n";
  ASSERT_NE(source->find(barrier), std::string::npos);
  source->erase(source->find(barrier), barrier.size());
  EmulatedKernelCache cache;
  absl::StatusOr<const emulator::EmulatedKernel*> kernel = cache.Get(*source, GemvKernelName(*v));
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  Rng rng = TestRng();
  const Problem p = MakeProblem(rng, 148, kN, 3, DType::kF32, false);
  EmulatedBuffer x = EmulatedBuffer::OfFloats(p.x, DType::kF32);
  EmulatedBuffer w = EmulatedBuffer::OfFloats(p.w, DType::kF32);
  EmulatedBuffer out = EmulatedBuffer::Uninitialized(3 * kN * 4);
  void* no_bias = nullptr;
  int n = static_cast<int>(kN), rows = 3;
  emulator::LaunchConfig config;
  config.grid = {static_cast<unsigned>(GemvBlocks(v->tiles, kN)), 1, 1};
  config.block = {static_cast<unsigned>(v->tiles.threads()), 1, 1};
  const absl::Status s =
      emulator::Launch(**kernel, config, {&x.ptr, &w.ptr, &no_bias, &out.ptr, &n, &rows});
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "shared-memory race") ||
              absl::StrContains(s.message(), "uninitialized shared read"))
      << s;
}

}  // namespace
}  // namespace kiln::codegen::gemv::testing
