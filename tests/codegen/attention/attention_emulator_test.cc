// The attention kernels' CUDA text (RenderAttentionCuda, what NVRTC
// compiles) in the emulator, under the in-order, reversed and seeded random
// schedules, against the reference executor (the spec: attention, rope and
// kv_cache_write) with TESTING.md's tolerances, through the checks the GPU
// suite shares (attention_check.h):
//   - flash prefill (H100 tiles), f32/f16/bf16;
//   - split-KV decode + combine at head_dim 16/32/64/80/128, 1 and 5 (k+1)
//     tokens, GQA and MQA, sliding windows, the preset's split count and
//     an odd one, in every dtype across the cases;
//   - rope_kv_write at head_dim 16/32/64/80/128 in every dtype across the
//     cases (bit for bit: no transcendental runs on the device);
//   - a position outside the cache (capacity, and -1): every kernel sets
//     its fault flag and zeroes (or skips) that row; the other rows stay
//     right.
// Each case prints its error and the elements bit-identical to the
// reference. Mutations the emulator must catch in the prefill kernel: a
// removed __syncthreads (race), an off-by-one store (bounds), a shuffle half
// the warp reaches (divergence), a grid one block short and swapped K/V
// caches (mismatch against the reference).
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/gpu_target.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/emulator/launch.h"
#include "tests/codegen/attention/attention_check.h"
#include "tests/codegen/attention/attention_reference.h"
#include "tests/codegen/attention/attention_test_support.h"
#include "tests/support/emulated_kernel.h"

namespace kiln::codegen::attention::testing {
namespace {

using ::kiln::testing::EmulatedKernelCache;
using ::kiln::testing::EmulatedRunner;
using ::kiln::testing::EmulatorTally;
using ::kiln::testing::KernelCall;
using ::kiln::testing::KernelJob;
using ::testing::HasSubstr;

constexpr DType kF32 = DType::kF32, kF16 = DType::kF16, kBF16 = DType::kBF16;

// The kernels compiled once per test binary.
EmulatedKernelCache& Cache() {
  static auto* cache = new EmulatedKernelCache();
  return *cache;
}

// The emulator under `schedule`, with the H100's opt-in shared memory.
KernelRunner Emulated(EmulatorTally& tally, const emulator::Schedule& schedule = {}) {
  return EmulatedRunner(Cache(), tally, schedule,
                        static_cast<size_t>(H100Target().max_shared_per_block));
}

void Add(EmulatorTally& tally, const CheckCounts& counts) {
  tally.compared += counts.compared;
  tally.bit_identical += counts.bit_identical;
  tally.mismatches += counts.mismatches;
}

// Compiles the variants' texts all at once (CompileAll: every core).
void CompileAll(const std::vector<KernelVariant>& variants) {
  std::vector<std::pair<std::string, std::string>> texts;
  for (const KernelVariant& v : variants) {
    absl::StatusOr<std::string> source = RenderAttentionCuda(v);
    ASSERT_TRUE(source.ok()) << source.status();
    texts.emplace_back(*source, KernelName(v));
  }
  const absl::Status compiled = Cache().CompileAll(texts);
  ASSERT_TRUE(compiled.ok()) << compiled;
}

KernelVariant Variant(KernelKind kind, const AttentionShape& shape) {
  absl::StatusOr<KernelVariant> v = VariantFor(kind, shape, H100Target());
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : KernelVariant{};
}

std::string CaseName(const char* kernel, const Problem& p, const emulator::Schedule& schedule) {
  return absl::StrCat(kernel, " d", p.shape.head_dim, " h", p.shape.heads, "/", p.shape.kv_heads,
                      " ", std::string(DTypeName(p.shape.dtype)), " batch ", p.batch, " tokens ",
                      p.seq, " cache ", p.capacity, " window ", p.window, ", ", schedule.Name());
}

Problem SmallProblem(DType dtype) {
  Rng rng = TestRng();
  return MakeProblem(rng, {.shape = {.head_dim = 32, .heads = 4, .kv_heads = 2, .dtype = dtype},
                           .batch = 2, .seq = 19, .capacity = 83, .window = 0,
                           .positions = Positions::kContiguous, .start_lo = 20, .start_hi = 40});
}

TEST(AttentionEmulatorTest, PrefillMatchesReferenceUnderEverySchedule) {
  EmulatorTally tally;
  const auto schedules = emulator::StandardSchedules(BaseSeed());
  for (DType dtype : {kF32, kBF16, kF16}) {
    const Problem p = SmallProblem(dtype);
    ++tally.kernels, ++tally.configurations;
    for (const emulator::Schedule& schedule : schedules) {
      CheckCounts counts;
      const absl::Status s = CheckPrefill(Emulated(tally, schedule), H100Target(), p,
                                          CaseName("prefill", p, schedule), counts);
      ASSERT_TRUE(s.ok()) << schedule.Name() << ": " << s;
      Add(tally, counts);
    }
  }
  std::printf("%s\n", tally.Summary("prefill", static_cast<int>(schedules.size())).c_str());
}

// Decode and verify: every small head_dim, each dtype at least twice.
struct DecodeCase {
  int head_dim, heads, kv_heads;
  DType dtype;
  int64_t batch, seq, capacity, window, start_lo, start_hi;
};
const DecodeCase kDecodeCases[] = {
    {16, 4, 2, kF32, 2, 1, 83, 0, 0, 82},
    {32, 4, 1, kBF16, 1, 5, 83, 5, 20, 70},
    {64, 16, 1, kF16, 2, 5, 83, 5, 30, 50},
    {80, 8, 2, kBF16, 1, 1, 301, 0, 150, 250},
    {128, 8, 2, kF16, 1, 5, 301, 0, 100, 200},
    {128, 8, 2, kF32, 2, 1, 83, 32, 40, 82},
};

TEST(AttentionEmulatorTest, SplitKvDecodeAndCombineMatchReferenceUnderEverySchedule) {
  Rng rng = TestRng();
  EmulatorTally tally;
  const auto schedules = emulator::StandardSchedules(BaseSeed());
  std::vector<KernelVariant> variants;
  for (const DecodeCase& c : kDecodeCases) {
    const AttentionShape shape{.head_dim = c.head_dim, .heads = c.heads, .kv_heads = c.kv_heads,
                               .dtype = c.dtype};
    variants.push_back(Variant(KernelKind::kDecode, shape));
    variants.push_back(Variant(KernelKind::kCombine, shape));
  }
  CompileAll(variants);
  tally.kernels = static_cast<int64_t>(variants.size());
  for (const DecodeCase& c : kDecodeCases) {
    const Problem p = MakeProblem(
        rng, {.shape = {.head_dim = c.head_dim, .heads = c.heads, .kv_heads = c.kv_heads,
                        .dtype = c.dtype},
              .batch = c.batch, .seq = c.seq, .capacity = c.capacity, .window = c.window,
              .positions = Positions::kContiguous, .start_lo = c.start_lo, .start_hi = c.start_hi});
    const TileConfig tiles = *DecodeTiles(p.shape, H100Target());
    // The preset's split count and an odd one.
    for (int splits : {DecodeSplits(p.shape, tiles, H100Target(), p.batch, p.seq, p.capacity), 7}) {
      ++tally.configurations;
      for (const emulator::Schedule& schedule : schedules) {
        const std::string what =
            absl::StrCat(CaseName("decode+combine", p, schedule), ", splits ", splits);
        CheckCounts counts;
        const absl::Status s =
            CheckDecode(Emulated(tally, schedule), H100Target(), p, splits, what, counts);
        ASSERT_TRUE(s.ok()) << what << ": " << s;
        Add(tally, counts);
      }
    }
  }
  std::printf("%s\n", tally.Summary("decode+combine", static_cast<int>(schedules.size())).c_str());
}

RopeCase EmulatorRopeCase(Rng& rng, int head_dim, DType dtype, Positions positions) {
  return MakeRopeCase(
      MakeProblem(rng, {.shape = {.head_dim = head_dim, .heads = 8, .kv_heads = 2, .dtype = dtype},
                        .batch = 2, .seq = 7, .capacity = 301, .positions = positions,
                        .start_lo = 10, .start_hi = 200}));
}

// No transcendental runs on the device (the cos/sin table is an input):
// kernel and reference (rope, then kv_cache_write) agree bit for bit.
TEST(AttentionEmulatorTest, RopeKvWriteEqualsReferenceUnderEverySchedule) {
  Rng rng = TestRng();
  EmulatorTally tally;
  const auto schedules = emulator::StandardSchedules(BaseSeed());
  const std::vector<std::pair<int, DType>> cases = {{16, kF32}, {32, kF16}, {64, kBF16}, {80, kF32},
                                                    {128, kF32}, {128, kF16}, {128, kBF16}};
  std::vector<KernelVariant> variants;
  for (auto [head_dim, dtype] : cases) {
    variants.push_back(Variant(KernelKind::kRopeKvWrite,
                               {.head_dim = head_dim, .heads = 8, .kv_heads = 2, .dtype = dtype}));
  }
  CompileAll(variants);
  tally.kernels = static_cast<int64_t>(variants.size());
  for (auto [head_dim, dtype] : cases) {
    const RopeCase rc = EmulatorRopeCase(rng, head_dim, dtype, Positions::kScattered);
    ++tally.configurations;
    for (const emulator::Schedule& schedule : schedules) {
      const std::string what = CaseName("rope_kv_write", rc.p, schedule);
      CheckCounts counts;
      const absl::Status s = CheckRopeKvWrite(Emulated(tally, schedule), H100Target(), rc, what, counts);
      ASSERT_TRUE(s.ok()) << what << ": " << s;
      Add(tally, counts);
    }
  }
  std::printf("%s\n", tally.Summary("rope_kv_write", static_cast<int>(schedules.size())).c_str());
}

TEST(AttentionEmulatorTest, PositionOutsideTheCacheSetsTheFaultFlag) {
  Rng rng = TestRng();
  EmulatorTally tally;
  const emulator::Schedule schedule = emulator::StandardSchedules(BaseSeed()).back();
  for (int32_t bad : {83, -1}) {
    const Problem p =
        MakeProblem(rng, {.shape = {.head_dim = 64, .heads = 4, .kv_heads = 2, .dtype = kBF16},
                          .batch = 1, .seq = 5, .capacity = 83, .start_lo = 10, .start_hi = 10});
    const RopeCase rope = EmulatorRopeCase(rng, 64, kBF16, Positions::kContiguous);
    CheckCounts counts;
    const absl::Status s =
        CheckPositionOutsideTheCache(Emulated(tally, schedule), H100Target(), p, rope, bad, counts);
    ASSERT_TRUE(s.ok()) << s;
  }
}

// How a launch departs from the correct one: the runner edits the job
// before running it (source text, grid, argument order).
struct Mutation {
  std::string from, to;  // a source edit (`from` must occur)
  int grid_blocks_short = 0;  // fewer blocks along y (heads)
  bool swap_caches = false;   // K and V cache arguments exchanged
};

KernelRunner Mutated(EmulatorTally& tally, Mutation m) {
  return [&tally, m](KernelJob& job) -> absl::Status {
    KernelCall& call = job.calls.front();
    if (!m.from.empty()) {
      if (call.source.find(m.from) == std::string::npos) {
        return absl::NotFoundError("mutation site missing: " + m.from);
      }
      call.source = absl::StrReplaceAll(call.source, {{m.from, m.to}});
    }
    call.grid.y -= m.grid_blocks_short;
    if (m.swap_caches) std::swap(call.params[1], call.params[2]);
    return Emulated(tally)(job);
  };
}

absl::StatusOr<KernelOutput> RunMutatedPrefill(const Problem& p, Mutation m) {
  EmulatorTally tally;
  return RunPrefill(Mutated(tally, std::move(m)), H100Target(), p);
}

TEST(AttentionEmulatorTest, ARemovedBarrierIsCaught) {
  // The barrier between loading a K/V tile and reading it.
  absl::StatusOr<KernelOutput> run =
      RunMutatedPrefill(SmallProblem(kF32), {.from = "    }\n    __syncthreads();\n    if (tile > warp_hi",
                                             .to = "    }\n    if (tile > warp_hi"});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kAborted) << run.status();
  EXPECT_THAT(run.status().message(), ::testing::AnyOf(HasSubstr("shared-memory race"),
                                                       HasSubstr("uninitialized shared read")));
  EXPECT_THAT(run.status().message(), HasSubstr("dynamic shared memory"));
}

TEST(AttentionEmulatorTest, AnOffByOneStoreIsOutOfBounds) {
  absl::StatusOr<KernelOutput> run = RunMutatedPrefill(
      SmallProblem(kF32), {.from = "o[t * 32 + lane] =", .to = "o[t * 32 + lane + 1] ="});
  EXPECT_THAT(run.status().message(), HasSubstr("out of bounds: kernel kiln_attn_prefill"));
}

TEST(AttentionEmulatorTest, AShuffleHalfTheWarpReachesIsDivergence) {
  absl::StatusOr<KernelOutput> run = RunMutatedPrefill(
      SmallProblem(kF32),
      {.from = "tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));",
       .to = "if (lane < 16) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));"});
  EXPECT_THAT(run.status().message(), HasSubstr("divergence: kernel kiln_attn_prefill"));
}

TEST(AttentionEmulatorTest, AGridOneBlockShortIsAMismatch) {
  const Problem p = SmallProblem(kF32);
  absl::StatusOr<HostTensor> spec = ReferenceAttention(p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<KernelOutput> run = RunMutatedPrefill(p, {.grid_blocks_short = 1});
  ASSERT_TRUE(run.ok()) << run.status();
  // The last head's outputs keep the buffer's poison (NaN).
  EXPECT_FALSE(Nmse(run->out, spec->floats) <= AttentionLimit(kF32));
}

TEST(AttentionEmulatorTest, SwappedKeyAndValueCachesAreAMismatch) {
  const Problem p = SmallProblem(kF32);
  absl::StatusOr<HostTensor> spec = ReferenceAttention(p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<KernelOutput> run = RunMutatedPrefill(p, {.swap_caches = true});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_GT(Nmse(run->out, spec->floats), 1e-3);
}

}  // namespace
}  // namespace kiln::codegen::attention::testing
