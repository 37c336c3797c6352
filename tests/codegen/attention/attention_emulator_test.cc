// The attention kernels' CUDA text (RenderAttentionCuda, what NVRTC
// compiles) in the emulator, under the in-order, reversed and seeded random
// schedules, against their CPU twins and the reference executor (the spec:
// attention, rope and kv_cache_write), with TESTING.md's tolerances:
//   - flash prefill (H100 tiles), f32/f16/bf16;
//   - split-KV decode + combine at head_dim 16/32/64/80/128, 1 and 5 (k+1)
//     tokens, GQA and MQA, sliding windows, the preset's split count and
//     an odd one, in every dtype across the cases;
//   - rope_kv_write at head_dim 16/32/64/80/128 in every dtype across the
//     cases (bit for bit: no transcendental runs on the device);
//   - a position outside the cache (capacity, and -1): every kernel sets
//     its fault flag and zeroes (or skips) that row, exactly as its twin.
// Each case prints the worst error and the elements bit-identical to the
// twin. Mutations the emulator must catch in the prefill kernel: a removed
// __syncthreads (race), an off-by-one store (bounds), a shuffle half the
// warp reaches (divergence), a grid one block short and swapped K/V caches
// (mismatch against the twin).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/attention/attention_host.h"
#include "codegen/gpu_target.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/emulator/launch.h"
#include "tests/codegen/attention/attention_reference.h"
#include "tests/codegen/attention/attention_test_support.h"
#include "tests/support/emulated_kernel.h"

namespace kiln::codegen::attention::testing {
namespace {

using ::kiln::testing::Agreement;
using ::kiln::testing::CompareWithTwin;
using ::kiln::testing::EmulatedBuffer;
using ::kiln::testing::EmulatedKernelCache;
using ::kiln::testing::EmulatorTally;
using ::testing::HasSubstr;

constexpr DType kF32 = DType::kF32, kF16 = DType::kF16, kBF16 = DType::kBF16;

// The kernels compiled once per test binary, and what each family ran.
EmulatedKernelCache& Cache() {
  static auto* cache = new EmulatedKernelCache();
  return *cache;
}

size_t ElementBytes(DType dtype) { return dtype == kF32 ? 4 : 2; }

// A source edit applied before compiling (`from` must occur).
struct Mutation {
  std::string from, to;
};

absl::StatusOr<const emulator::EmulatedKernel*> CompileKernel(const KernelVariant& variant,
                                                              const Mutation& m = {}) {
  absl::StatusOr<std::string> source = RenderAttentionCuda(variant);
  if (!source.ok()) return source.status();
  if (!m.from.empty()) {
    if (source->find(m.from) == std::string::npos) {
      return absl::NotFoundError("mutation site missing: " + m.from);
    }
    *source = absl::StrReplaceAll(*source, {{m.from, m.to}});
  }
  return Cache().Get(*source, KernelName(variant));
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

// A prefill or decode launch over `grid`: tiles.threads() a block and the
// tiles' dynamic shared memory, up to the H100's opt-in limit (as the
// runtime sets cudaFuncAttributeMaxDynamicSharedMemorySize).
emulator::LaunchConfig TiledLaunch(KilnEmuDim grid, const AttentionShape& shape,
                                   const TileConfig& tiles, const emulator::Schedule& schedule) {
  emulator::LaunchConfig config;
  config.grid = grid;
  config.block = {static_cast<unsigned>(tiles.threads()), 1, 1};
  config.dynamic_shared_bytes = static_cast<size_t>(AttentionSharedBytes(shape.head_dim, tiles));
  config.shared_limit_bytes = static_cast<size_t>(H100Target().max_shared_per_block);
  config.schedule = schedule;
  return config;
}

// A kernel's output and fault flag, or the emulator's report.
struct KernelRun {
  absl::Status status;
  std::vector<float> out;
  bool fault = false;
};

// How a prefill launch departs from the correct one.
struct PrefillMutation {
  Mutation source;
  int grid_blocks_short = 0;  // fewer blocks along y (heads)
  bool swap_caches = false;
};

KernelRun RunPrefill(const Problem& p, const emulator::Schedule& schedule, EmulatorTally& tally,
               const PrefillMutation& m = {}) {
  const KernelVariant variant = Variant(KernelKind::kPrefill, p.shape);
  absl::StatusOr<const emulator::EmulatedKernel*> kernel = CompileKernel(variant, m.source);
  if (!kernel.ok()) return {kernel.status(), {}};
  const TileConfig& tiles = variant.tiles;
  const DType dt = p.shape.dtype;
  EmulatedBuffer q = EmulatedBuffer::OfFloats(p.q, dt), kc = EmulatedBuffer::OfFloats(p.k_cache, dt);
  EmulatedBuffer vc = EmulatedBuffer::OfFloats(p.v_cache, dt), pos = EmulatedBuffer::OfInts(p.pos);
  EmulatedBuffer fault = EmulatedBuffer::OfInts({0});
  EmulatedBuffer out = EmulatedBuffer::Uninitialized(p.q.size() * ElementBytes(dt));
  void *kp = kc.ptr, *vp = vc.ptr;
  if (m.swap_caches) std::swap(kp, vp);
  int seq = static_cast<int>(p.seq), capacity = static_cast<int>(p.capacity);
  int window = static_cast<int>(p.window);
  float scale = p.scale;
  const emulator::LaunchConfig config = TiledLaunch(
      {static_cast<unsigned>((p.seq + tiles.block_m() - 1) / tiles.block_m()),
       static_cast<unsigned>(p.shape.heads - m.grid_blocks_short), static_cast<unsigned>(p.batch)},
      p.shape, tiles, schedule);
  KernelRun run;
  run.status = tally.Launch(**kernel, config, {&q.ptr, &kp, &vp, &pos.ptr, &out.ptr, &fault.ptr,
                                               &seq, &capacity, &scale, &window});
  if (run.status.ok()) {
    run.out = out.Floats(p.q.size(), dt);
    run.fault = fault.Ints(1)[0] != 0;
  }
  return run;
}

// The decode kernel with `splits` splits, then the combine kernel; `out`
// is the combined output, `partials` the decode kernel's (acc then ml).
struct DecodeRun : KernelRun {
  std::vector<float> partials;
};

DecodeRun RunDecode(const Problem& p, int splits, const emulator::Schedule& schedule,
                    EmulatorTally& tally) {
  const KernelVariant decode = Variant(KernelKind::kDecode, p.shape);
  const KernelVariant combine = Variant(KernelKind::kCombine, p.shape);
  absl::StatusOr<const emulator::EmulatedKernel*> dk = CompileKernel(decode);
  absl::StatusOr<const emulator::EmulatedKernel*> ck = CompileKernel(combine);
  if (!dk.ok()) return {{dk.status(), {}}, {}};
  if (!ck.ok()) return {{ck.status(), {}}, {}};
  const DType dt = p.shape.dtype;
  const size_t rows = static_cast<size_t>(p.batch * p.seq * p.shape.heads);
  const size_t acc_n = rows * splits * p.shape.head_dim, ml_n = rows * splits * 2;
  EmulatedBuffer q = EmulatedBuffer::OfFloats(p.q, dt), kc = EmulatedBuffer::OfFloats(p.k_cache, dt);
  EmulatedBuffer vc = EmulatedBuffer::OfFloats(p.v_cache, dt), pos = EmulatedBuffer::OfInts(p.pos);
  EmulatedBuffer fault = EmulatedBuffer::OfInts({0});
  EmulatedBuffer acc = EmulatedBuffer::Uninitialized(acc_n * 4);
  EmulatedBuffer ml = EmulatedBuffer::Uninitialized(ml_n * 4);
  EmulatedBuffer out = EmulatedBuffer::Uninitialized(p.q.size() * ElementBytes(dt));
  int seq = static_cast<int>(p.seq), capacity = static_cast<int>(p.capacity);
  int window = static_cast<int>(p.window), launch_splits = splits;
  float scale = p.scale;
  const TileConfig& tiles = decode.tiles;
  const emulator::LaunchConfig config = TiledLaunch(
      {static_cast<unsigned>(splits),
       static_cast<unsigned>(p.shape.kv_heads * DecodeRowBlocks(p.shape, tiles, p.seq)),
       static_cast<unsigned>(p.batch)},
      p.shape, tiles, schedule);
  DecodeRun run;
  run.status = tally.Launch(**dk, config,
                            {&q.ptr, &kc.ptr, &vc.ptr, &pos.ptr, &acc.ptr, &ml.ptr, &fault.ptr,
                             &seq, &capacity, &scale, &window, &launch_splits});
  if (!run.status.ok()) return run;
  emulator::LaunchConfig combine_config;
  combine_config.grid = {static_cast<unsigned>(rows), 1, 1};
  combine_config.block = {static_cast<unsigned>(CombineThreads(p.shape)), 1, 1};
  combine_config.schedule = schedule;
  run.status = tally.Launch(**ck, combine_config, {&acc.ptr, &ml.ptr, &out.ptr, &launch_splits});
  if (!run.status.ok()) return run;
  run.out = out.Floats(p.q.size(), dt);
  run.fault = fault.Ints(1)[0] != 0;
  run.partials = acc.Floats(acc_n, kF32);
  const std::vector<float> m_l = ml.Floats(ml_n, kF32);
  run.partials.insert(run.partials.end(), m_l.begin(), m_l.end());
  return run;
}

// The fused RoPE + KV-write kernel: q_out, then the caches after it.
struct RopeRun : KernelRun {
  std::vector<float> k_cache, v_cache;
};

RopeRun RunRopeKvWrite(const Problem& p, const RopeKvInputs& in, const emulator::Schedule& schedule,
                       EmulatorTally& tally) {
  absl::StatusOr<const emulator::EmulatedKernel*> kernel =
      CompileKernel(Variant(KernelKind::kRopeKvWrite, p.shape));
  if (!kernel.ok()) return {{kernel.status(), {}}, {}, {}};
  const DType dt = p.shape.dtype;
  auto floats = [](std::span<const float> s) { return std::vector<float>(s.begin(), s.end()); };
  EmulatedBuffer q = EmulatedBuffer::OfFloats(floats(in.q), dt);
  EmulatedBuffer k = EmulatedBuffer::OfFloats(floats(in.k), dt);
  EmulatedBuffer v = EmulatedBuffer::OfFloats(floats(in.v), dt);
  EmulatedBuffer cs = EmulatedBuffer::OfFloats(floats(in.cos_sin), dt);
  EmulatedBuffer pos = EmulatedBuffer::OfInts(std::vector<int32_t>(in.pos.begin(), in.pos.end()));
  EmulatedBuffer kc = EmulatedBuffer::OfFloats(p.k_cache, dt), vc = EmulatedBuffer::OfFloats(p.v_cache, dt);
  EmulatedBuffer fault = EmulatedBuffer::OfInts({0});
  EmulatedBuffer q_out = EmulatedBuffer::Uninitialized(in.q.size() * ElementBytes(dt));
  int seq = static_cast<int>(in.seq), capacity = static_cast<int>(in.capacity);
  emulator::LaunchConfig config;
  config.grid = {static_cast<unsigned>(in.batch * in.seq), 1, 1};
  config.block = {static_cast<unsigned>(kRopeThreads), 1, 1};
  config.schedule = schedule;
  RopeRun run;
  run.status = tally.Launch(**kernel, config, {&q.ptr, &k.ptr, &v.ptr, &pos.ptr, &cs.ptr, &q_out.ptr,
                                               &kc.ptr, &vc.ptr, &fault.ptr, &seq, &capacity});
  if (!run.status.ok()) return run;
  run.out = q_out.Floats(in.q.size(), dt);
  run.k_cache = kc.Floats(p.k_cache.size(), dt);
  run.v_cache = vc.Floats(p.v_cache.size(), dt);
  run.fault = fault.Ints(1)[0] != 0;
  return run;
}

// f32: NMSE; f16/bf16: the allclose ratio with the attention terms.
double Error(const std::vector<float>& got, const std::vector<float>& want, const Problem& p) {
  if (p.shape.dtype == kF32) return Nmse(got, want);
  return AllCloseRatio(got, want, AttentionTerms(p), p.shape.dtype);
}
// Against the reference: TESTING.md's NMSE 1e-7 (f32) or allclose. Against
// the twin, f32 must agree to 1e-10 (only expf's last ulp may differ).
constexpr double kTwinF32Nmse = 1e-10, kSpecF32Nmse = 1e-7;

// Checks one emulated output against its twin and the reference, counts
// it and prints the case's line.
void CheckOutput(const std::string& what, const std::vector<float>& got,
                 const std::vector<float>& twin, const std::vector<float>& spec, const Problem& p,
                 EmulatorTally& tally) {
  const Agreement a = CompareWithTwin(got, twin);
  tally.Add(a);
  const double vs_twin = Error(got, twin, p), vs_spec = Error(got, spec, p);
  const bool f32 = p.shape.dtype == kF32;
  const bool ok = vs_twin <= (f32 ? kTwinF32Nmse : 1.0) && vs_spec <= (f32 ? kSpecF32Nmse : 1.0);
  tally.mismatches += !ok;
  EXPECT_LE(vs_twin, f32 ? kTwinF32Nmse : 1.0) << what;
  EXPECT_LE(vs_spec, f32 ? kSpecF32Nmse : 1.0) << what;
  std::printf("%s: vs reference %.3g, worst |kernel - twin| %.3g, %lld/%lld bit-identical to the twin\n",
              what.c_str(), vs_spec, a.max_abs_vs_twin, static_cast<long long>(a.bit_identical),
              static_cast<long long>(a.compared));
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

TEST(AttentionEmulatorTest, PrefillMatchesTwinAndReferenceUnderEverySchedule) {
  EmulatorTally tally;
  const auto schedules = emulator::StandardSchedules(BaseSeed());
  for (DType dtype : {kF32, kBF16, kF16}) {
    const Problem p = SmallProblem(dtype);
    const TwinOutput twin =
        FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, H100Target()), p.inputs());
    absl::StatusOr<HostTensor> spec = ReferenceAttention(p);
    ASSERT_TRUE(spec.ok()) << spec.status();
    ++tally.kernels, ++tally.configurations;
    for (const emulator::Schedule& schedule : schedules) {
      KernelRun run = RunPrefill(p, schedule, tally);
      ASSERT_TRUE(run.status.ok()) << schedule.Name() << ": " << run.status;
      EXPECT_FALSE(run.fault);
      CheckOutput(CaseName("prefill", p, schedule), run.out, twin.out, spec->floats, p, tally);
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

Problem DecodeProblem(Rng& rng, const DecodeCase& c) {
  return MakeProblem(rng, {.shape = {.head_dim = c.head_dim, .heads = c.heads,
                                     .kv_heads = c.kv_heads, .dtype = c.dtype},
                           .batch = c.batch, .seq = c.seq, .capacity = c.capacity,
                           .window = c.window, .positions = Positions::kContiguous,
                           .start_lo = c.start_lo, .start_hi = c.start_hi});
}

TEST(AttentionEmulatorTest, SplitKvDecodeAndCombineMatchTwinAndReferenceUnderEverySchedule) {
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
  int64_t partials_identical = 0, partials = 0;
  for (const DecodeCase& c : kDecodeCases) {
    const Problem p = DecodeProblem(rng, c);
    absl::StatusOr<HostTensor> spec = ReferenceAttention(p);
    ASSERT_TRUE(spec.ok()) << spec.status();
    const TileConfig tiles = *DecodeTiles(p.shape, H100Target());
    // The preset's split count and an odd one.
    for (int splits : {DecodeSplits(p.shape, tiles, H100Target(), p.batch, p.seq, p.capacity), 7}) {
      ++tally.configurations;
      const DecodePartials part = SplitKvDecodeTwin(p.shape, tiles, p.inputs(), splits);
      const std::vector<float> twin = DecodeCombineTwin(p.shape, part);
      std::vector<float> twin_partials = part.acc;
      twin_partials.insert(twin_partials.end(), part.ml.begin(), part.ml.end());
      for (const emulator::Schedule& schedule : schedules) {
        DecodeRun run = RunDecode(p, splits, schedule, tally);
        const std::string what = absl::StrCat(CaseName("decode+combine", p, schedule), ", splits ", splits);
        ASSERT_TRUE(run.status.ok()) << what << ": " << run.status;
        EXPECT_FALSE(run.fault) << what;
        CheckOutput(what, run.out, twin, spec->floats, p, tally);
        const Agreement a = CompareWithTwin(run.partials, twin_partials);
        partials_identical += a.bit_identical;
        partials += a.compared;
      }
    }
  }
  std::printf("decode partials (acc, m, l): %lld/%lld bit-identical to the twin\n",
              static_cast<long long>(partials_identical), static_cast<long long>(partials));
  std::printf("%s\n", tally.Summary("decode+combine", static_cast<int>(schedules.size())).c_str());
}

// RoPE inputs of a problem: its q, the first seq tokens' worth of its
// caches as the new k and v, and a llama3-scaled cos/sin table.
struct RopeCase {
  Problem p;
  RopeParams rope{.theta = 500000.0f, .scaling = "llama3", .factor = 8.0f};
  std::vector<float> table;
  RopeKvInputs in() const {
    const size_t new_kv = static_cast<size_t>(p.batch * p.seq * p.shape.kv_heads * p.shape.head_dim);
    return {.batch = p.batch, .seq = p.seq, .capacity = p.capacity, .q = p.q,
            .k = std::span<const float>(p.k_cache).first(new_kv),
            .v = std::span<const float>(p.v_cache).first(new_kv), .pos = p.pos, .cos_sin = table};
  }
};

RopeCase MakeRopeCase(Rng& rng, int head_dim, DType dtype, Positions positions) {
  RopeCase c;
  c.p = MakeProblem(rng, {.shape = {.head_dim = head_dim, .heads = 8, .kv_heads = 2, .dtype = dtype},
                          .batch = 2, .seq = 7, .capacity = 301, .positions = positions,
                          .start_lo = 10, .start_hi = 200});
  c.table = RopeCosSinTable(RopeInverseFrequencies(c.rope, head_dim), c.p.capacity, dtype);
  return c;
}

// Elements of `got` that differ from `want` (bitwise), added to `tally`.
int64_t ExactDiffs(const std::vector<float>& got, const std::vector<float>& want,
                   EmulatorTally& tally) {
  const Agreement a = CompareWithTwin(got, want);
  tally.Add(a);
  return a.compared - a.bit_identical;
}

// No transcendental runs on the device (the cos/sin table is an input):
// kernel, twin and reference (rope, then kv_cache_write) agree bit for bit.
TEST(AttentionEmulatorTest, RopeKvWriteEqualsTwinAndReferenceUnderEverySchedule) {
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
    const RopeCase rc = MakeRopeCase(rng, head_dim, dtype, Positions::kScattered);
    const Problem& p = rc.p;
    absl::StatusOr<RopeKvResult> spec = ReferenceRopeKvWrite(p.shape, rc.rope, rc.in(), p.k_cache, p.v_cache);
    ASSERT_TRUE(spec.ok()) << spec.status();
    std::vector<float> k_twin = p.k_cache, v_twin = p.v_cache;
    const TwinOutput q_twin = RopeKvWriteTwin(p.shape, rc.in(), k_twin, v_twin);
    ++tally.configurations;
    for (const emulator::Schedule& schedule : schedules) {
      RopeRun run = RunRopeKvWrite(p, rc.in(), schedule, tally);
      const std::string what = CaseName("rope_kv_write", p, schedule);
      ASSERT_TRUE(run.status.ok()) << what << ": " << run.status;
      EXPECT_FALSE(run.fault) << what;
      EmulatorTally unused;
      const int64_t vs_twin = ExactDiffs(run.out, q_twin.out, tally) +
                              ExactDiffs(run.k_cache, k_twin, tally) +
                              ExactDiffs(run.v_cache, v_twin, tally);
      const int64_t vs_spec = ExactDiffs(run.out, spec->q, unused) +
                              ExactDiffs(run.k_cache, spec->k_cache, unused) +
                              ExactDiffs(run.v_cache, spec->v_cache, unused);
      tally.mismatches += vs_twin + vs_spec > 0;
      EXPECT_EQ(vs_twin, 0) << what;
      EXPECT_EQ(vs_spec, 0) << what;
      std::printf("%s: %lld elements differ from the reference, %lld from the twin\n", what.c_str(),
                  static_cast<long long>(vs_spec), static_cast<long long>(vs_twin));
    }
  }
  std::printf("%s\n", tally.Summary("rope_kv_write", static_cast<int>(schedules.size())).c_str());
}

// A position outside the cache (where the reference fails): every kernel
// sets its fault flag and, for that row, writes zeros (attention) or
// leaves the cache slot alone (rope_kv_write), exactly as its twin does;
// the other rows stay right.
TEST(AttentionEmulatorTest, PositionOutsideTheCacheSetsTheFaultFlag) {
  Rng rng = TestRng();
  EmulatorTally tally;
  for (int32_t bad : {83, -1}) {
    Problem p = MakeProblem(rng, {.shape = {.head_dim = 64, .heads = 4, .kv_heads = 2, .dtype = kBF16},
                                  .batch = 1, .seq = 5, .capacity = 83, .start_lo = 10, .start_hi = 10});
    p.pos[2] = bad;
    EXPECT_FALSE(ReferenceAttention(p).ok());
    const emulator::Schedule schedule = emulator::StandardSchedules(BaseSeed()).back();
    const std::string what = absl::StrCat("position ", bad, " in a cache of 83");
    const int64_t row = p.shape.heads * p.shape.head_dim;

    KernelRun prefill = RunPrefill(p, schedule, tally);
    ASSERT_TRUE(prefill.status.ok()) << what << ": " << prefill.status;
    const TwinOutput prefill_twin = FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, H100Target()), p.inputs());
    EXPECT_TRUE(prefill.fault) << what;
    EXPECT_LE(Error(prefill.out, prefill_twin.out, p), 1.0) << what;

    DecodeRun decode = RunDecode(p, 3, schedule, tally);
    ASSERT_TRUE(decode.status.ok()) << what << ": " << decode.status;
    EXPECT_TRUE(decode.fault) << what;
    const std::vector<float> decode_twin = DecodeCombineTwin(
        p.shape, SplitKvDecodeTwin(p.shape, *DecodeTiles(p.shape, H100Target()), p.inputs(), 3));
    EXPECT_LE(Error(decode.out, decode_twin, p), 1.0) << what;
    for (int64_t i = 2 * row; i < 3 * row; ++i) {
      EXPECT_EQ(prefill.out[i], 0.0f) << what << " prefill " << i;
      EXPECT_EQ(decode.out[i], 0.0f) << what << " decode " << i;
    }

    RopeCase rc = MakeRopeCase(rng, 64, kBF16, Positions::kContiguous);
    rc.p.pos[2] = bad < 0 ? bad : static_cast<int32_t>(rc.p.capacity);  // its own capacity
    RopeRun rope = RunRopeKvWrite(rc.p, rc.in(), schedule, tally);
    ASSERT_TRUE(rope.status.ok()) << what << ": " << rope.status;
    EXPECT_TRUE(rope.fault) << what;
    std::vector<float> k_twin = rc.p.k_cache, v_twin = rc.p.v_cache;
    const TwinOutput q_twin = RopeKvWriteTwin(rc.p.shape, rc.in(), k_twin, v_twin);
    EXPECT_TRUE(q_twin.fault);
    EXPECT_EQ(ExactDiffs(rope.out, q_twin.out, tally), 0) << what;
    EXPECT_EQ(ExactDiffs(rope.k_cache, k_twin, tally), 0) << what;
    EXPECT_EQ(ExactDiffs(rope.v_cache, v_twin, tally), 0) << what;
    std::printf("%s: fault flags prefill %d, decode %d, rope_kv_write %d\n", what.c_str(),
                prefill.fault, decode.fault, rope.fault);
  }
}

TEST(AttentionEmulatorTest, ARemovedBarrierIsCaught) {
  EmulatorTally tally;
  // The barrier between loading a K/V tile and reading it.
  KernelRun run = RunPrefill(SmallProblem(kF32), {}, tally,
                       {.source = {.from = "    }\n    __syncthreads();\n    if (tile > warp_hi",
                                   .to = "    }\n    if (tile > warp_hi"}});
  EXPECT_EQ(run.status.code(), absl::StatusCode::kAborted) << run.status;
  EXPECT_THAT(run.status.message(), ::testing::AnyOf(HasSubstr("shared-memory race"),
                                                     HasSubstr("uninitialized shared read")));
  EXPECT_THAT(run.status.message(), HasSubstr("dynamic shared memory"));
}

TEST(AttentionEmulatorTest, AnOffByOneStoreIsOutOfBounds) {
  EmulatorTally tally;
  KernelRun run = RunPrefill(SmallProblem(kF32), {}, tally,
                       {.source = {.from = "o[t * 32 + lane] =", .to = "o[t * 32 + lane + 1] ="}});
  EXPECT_THAT(run.status.message(), HasSubstr("out of bounds: kernel kiln_attn_prefill"));
}

TEST(AttentionEmulatorTest, AShuffleHalfTheWarpReachesIsDivergence) {
  EmulatorTally tally;
  KernelRun run = RunPrefill(
      SmallProblem(kF32), {}, tally,
      {.source = {.from = "tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));",
                  .to = "if (lane < 16) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));"}});
  EXPECT_THAT(run.status.message(), HasSubstr("divergence: kernel kiln_attn_prefill"));
}

TEST(AttentionEmulatorTest, AGridOneBlockShortIsAMismatch) {
  EmulatorTally tally;
  const Problem p = SmallProblem(kF32);
  const TwinOutput twin = FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, H100Target()), p.inputs());
  KernelRun run = RunPrefill(p, {}, tally, {.source = {}, .grid_blocks_short = 1});
  ASSERT_TRUE(run.status.ok()) << run.status;
  // The last head's outputs keep the allocation's poison (NaN).
  EXPECT_FALSE(Nmse(run.out, twin.out) <= kTwinF32Nmse);
}

TEST(AttentionEmulatorTest, SwappedKeyAndValueCachesAreAMismatch) {
  EmulatorTally tally;
  const Problem p = SmallProblem(kF32);
  const TwinOutput twin = FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, H100Target()), p.inputs());
  KernelRun run = RunPrefill(p, {}, tally, {.source = {}, .grid_blocks_short = 0, .swap_caches = true});
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_GT(Nmse(run.out, twin.out), 1e-3);
}

}  // namespace
}  // namespace kiln::codegen::attention::testing
