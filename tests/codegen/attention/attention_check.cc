#include "tests/codegen/attention/attention_check.h"

#include <cstdio>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/attention/attention_cuda.h"
#include "gtest/gtest.h"
#include "tests/codegen/attention/attention_reference.h"
#include "tests/support/error_metrics.h"

namespace kiln::codegen::attention::testing {
namespace {

using ::kiln::testing::Agreement;
using ::kiln::testing::BytesToFloats;
using ::kiln::testing::BytesToInts;
using ::kiln::testing::CompareBits;
using ::kiln::testing::FloatBytes;
using ::kiln::testing::IntBytes;
using ::kiln::testing::KernelCall;
using ::kiln::testing::KernelJob;
using ::kiln::testing::KernelParam;
using ::kiln::testing::PoisonBytes;

size_t ElementBytes(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }
unsigned U(int64_t v) { return static_cast<unsigned>(v); }

// The call of `kind`'s variant for `preset`, without grid, block or params.
absl::StatusOr<std::pair<KernelCall, KernelVariant>> CallFor(KernelKind kind,
                                                             const AttentionShape& shape,
                                                             const GpuTarget& preset) {
  KILN_ASSIGN_OR_RETURN(KernelVariant variant, VariantFor(kind, shape, preset));
  KernelCall call;
  KILN_ASSIGN_OR_RETURN(call.source, RenderAttentionCuda(variant));
  call.function = KernelName(variant);
  return std::pair(std::move(call), std::move(variant));
}

KernelParam Buf(int i) { return KernelParam::Buffer(i); }
template <typename T>
KernelParam Val(T v) {
  return KernelParam::Scalar(v);
}

// Counts `got` against `want`, EXPECTs the tolerance and prints the line.
void Expect(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
            const Problem& p, CheckCounts& counts) {
  const Agreement a = CompareBits(got, want);
  counts.compared += a.compared;
  counts.bit_identical += a.bit_identical;
  const double error = AttentionError(got, want, p);
  const bool ok = error <= AttentionLimit(p.shape.dtype);
  counts.mismatches += !ok;
  EXPECT_TRUE(ok) << what << ": error " << error << " > " << AttentionLimit(p.shape.dtype);
  std::printf("%s: %s %.3g, %lld/%lld bit-identical to the reference\n", what.c_str(),
              p.shape.dtype == DType::kF32 ? "NMSE" : "allclose ratio", error,
              static_cast<long long>(a.bit_identical), static_cast<long long>(a.compared));
}

// Elements of rope_kv_write's q and caches that differ from `want`'s
// bitwise, counted; EXPECTs none.
int64_t ExpectRopeEqual(const std::string& what, const KernelOutput& got, const RopeKvResult& want,
                        CheckCounts& counts) {
  int64_t diffs = 0;
  for (auto [g, w] : {std::pair{&got.out, &want.q}, std::pair{&got.k_cache, &want.k_cache},
                      std::pair{&got.v_cache, &want.v_cache}}) {
    const Agreement a = CompareBits(*g, *w);
    counts.compared += a.compared;
    counts.bit_identical += a.bit_identical;
    diffs += a.compared - a.bit_identical;
  }
  counts.mismatches += diffs > 0;
  EXPECT_EQ(diffs, 0) << what;
  return diffs;
}

}  // namespace

double AttentionError(const std::vector<float>& got, const std::vector<float>& want,
                      const Problem& p) {
  if (p.shape.dtype == DType::kF32) return Nmse(got, want);
  return AllCloseRatio(got, want, AttentionTerms(p), p.shape.dtype);
}

double AttentionLimit(DType dtype) { return dtype == DType::kF32 ? 1e-7 : 1.0; }

absl::StatusOr<KernelOutput> RunPrefill(const KernelRunner& run, const GpuTarget& preset,
                                        const Problem& p) {
  KILN_ASSIGN_OR_RETURN(auto call_variant, CallFor(KernelKind::kPrefill, p.shape, preset));
  auto& [call, variant] = call_variant;
  const DType dt = p.shape.dtype;
  KernelJob job;
  const int q = job.AddBuffer(FloatBytes(p.q, dt)), kc = job.AddBuffer(FloatBytes(p.k_cache, dt));
  const int vc = job.AddBuffer(FloatBytes(p.v_cache, dt)), pos = job.AddBuffer(IntBytes(p.pos));
  const int out = job.AddBuffer(PoisonBytes(p.q.size() * ElementBytes(dt)));
  const int fault = job.AddBuffer(IntBytes({0}));
  const TileConfig& tiles = variant.tiles;
  call.grid = {U((p.seq + tiles.block_m() - 1) / tiles.block_m()), U(p.shape.heads), U(p.batch)};
  call.block = {U(tiles.threads()), 1, 1};
  call.dynamic_shared_bytes = static_cast<size_t>(AttentionSharedBytes(p.shape.head_dim, tiles));
  call.params = {Buf(q),   Buf(kc), Buf(vc), Buf(pos), Buf(out), Buf(fault),
                 Val(static_cast<int>(p.seq)), Val(static_cast<int>(p.capacity)), Val(p.scale),
                 Val(static_cast<int>(p.window))};
  job.calls.push_back(std::move(call));
  KILN_RETURN_IF_ERROR(run(job));
  return KernelOutput{.out = BytesToFloats(job.buffers[out], dt),
                      .fault = BytesToInts(job.buffers[fault])[0] != 0};
}

absl::StatusOr<KernelOutput> RunDecode(const KernelRunner& run, const GpuTarget& preset,
                                       const Problem& p, int splits) {
  KILN_ASSIGN_OR_RETURN(auto decode, CallFor(KernelKind::kDecode, p.shape, preset));
  KILN_ASSIGN_OR_RETURN(auto combine, CallFor(KernelKind::kCombine, p.shape, preset));
  const DType dt = p.shape.dtype;
  const int64_t rows = p.batch * p.seq * p.shape.heads;
  KernelJob job;
  const int q = job.AddBuffer(FloatBytes(p.q, dt)), kc = job.AddBuffer(FloatBytes(p.k_cache, dt));
  const int vc = job.AddBuffer(FloatBytes(p.v_cache, dt)), pos = job.AddBuffer(IntBytes(p.pos));
  // Partials: acc [rows, splits, head_dim] and (m, l) [rows, splits, 2], f32.
  const int acc = job.AddBuffer(PoisonBytes(rows * splits * p.shape.head_dim * 4));
  const int ml = job.AddBuffer(PoisonBytes(rows * splits * 2 * 4));
  const int fault = job.AddBuffer(IntBytes({0}));
  const int out = job.AddBuffer(PoisonBytes(p.q.size() * ElementBytes(dt)));
  const TileConfig& tiles = decode.second.tiles;
  KernelCall& d = decode.first;
  d.grid = {U(splits), U(p.shape.kv_heads * DecodeRowBlocks(p.shape, tiles, p.seq)), U(p.batch)};
  d.block = {U(tiles.threads()), 1, 1};
  d.dynamic_shared_bytes = static_cast<size_t>(AttentionSharedBytes(p.shape.head_dim, tiles));
  d.params = {Buf(q), Buf(kc), Buf(vc), Buf(pos), Buf(acc), Buf(ml), Buf(fault),
              Val(static_cast<int>(p.seq)), Val(static_cast<int>(p.capacity)), Val(p.scale),
              Val(static_cast<int>(p.window)), Val(splits)};
  KernelCall& c = combine.first;
  c.grid = {U(rows), 1, 1};
  c.block = {U(CombineThreads(p.shape)), 1, 1};
  c.params = {Buf(acc), Buf(ml), Buf(out), Val(splits)};
  job.calls.push_back(std::move(d));
  job.calls.push_back(std::move(c));
  KILN_RETURN_IF_ERROR(run(job));
  return KernelOutput{.out = BytesToFloats(job.buffers[out], dt),
                      .fault = BytesToInts(job.buffers[fault])[0] != 0};
}

RopeKvInputs RopeCase::in() const {
  const size_t new_kv = static_cast<size_t>(p.batch * p.seq * p.shape.kv_heads * p.shape.head_dim);
  return {.batch = p.batch, .seq = p.seq, .capacity = p.capacity, .q = p.q,
          .k = std::span<const float>(p.k_cache).first(new_kv),
          .v = std::span<const float>(p.v_cache).first(new_kv), .pos = p.pos, .cos_sin = table};
}

RopeCase MakeRopeCase(Problem p) {
  RopeCase c;
  c.p = std::move(p);
  c.table = RopeCosSinTable(RopeInverseFrequencies(c.rope, c.p.shape.head_dim), c.p.capacity,
                            c.p.shape.dtype);
  return c;
}

absl::StatusOr<KernelOutput> RunRopeKvWrite(const KernelRunner& run, const GpuTarget& preset,
                                            const RopeCase& rc) {
  KILN_ASSIGN_OR_RETURN(auto call_variant, CallFor(KernelKind::kRopeKvWrite, rc.p.shape, preset));
  KernelCall& call = call_variant.first;
  const Problem& p = rc.p;
  const RopeKvInputs in = rc.in();
  const DType dt = p.shape.dtype;
  auto floats = [](std::span<const float> s) { return std::vector<float>(s.begin(), s.end()); };
  KernelJob job;
  const int q = job.AddBuffer(FloatBytes(p.q, dt)), k = job.AddBuffer(FloatBytes(floats(in.k), dt));
  const int v = job.AddBuffer(FloatBytes(floats(in.v), dt)), pos = job.AddBuffer(IntBytes(p.pos));
  const int cs = job.AddBuffer(FloatBytes(rc.table, dt));
  const int q_out = job.AddBuffer(PoisonBytes(p.q.size() * ElementBytes(dt)));
  const int kc = job.AddBuffer(FloatBytes(p.k_cache, dt)), vc = job.AddBuffer(FloatBytes(p.v_cache, dt));
  const int fault = job.AddBuffer(IntBytes({0}));
  call.grid = {U(p.batch * p.seq), 1, 1};
  call.block = {U(kRopeThreads), 1, 1};
  call.params = {Buf(q),  Buf(k),  Buf(v),  Buf(pos), Buf(cs), Buf(q_out), Buf(kc), Buf(vc),
                 Buf(fault), Val(static_cast<int>(p.seq)), Val(static_cast<int>(p.capacity))};
  job.calls.push_back(std::move(call));
  KILN_RETURN_IF_ERROR(run(job));
  return KernelOutput{.out = BytesToFloats(job.buffers[q_out], dt),
                      .k_cache = BytesToFloats(job.buffers[kc], dt),
                      .v_cache = BytesToFloats(job.buffers[vc], dt),
                      .fault = BytesToInts(job.buffers[fault])[0] != 0};
}

absl::Status CheckPrefill(const KernelRunner& run, const GpuTarget& preset, const Problem& p,
                          const std::string& what, CheckCounts& counts) {
  KILN_ASSIGN_OR_RETURN(HostTensor spec, ReferenceAttention(p));
  KILN_ASSIGN_OR_RETURN(KernelOutput got, RunPrefill(run, preset, p));
  EXPECT_FALSE(got.fault) << what;
  Expect(what, got.out, spec.floats, p, counts);
  return absl::OkStatus();
}

absl::Status CheckDecode(const KernelRunner& run, const GpuTarget& preset, const Problem& p,
                         int splits, const std::string& what, CheckCounts& counts) {
  KILN_ASSIGN_OR_RETURN(HostTensor spec, ReferenceAttention(p));
  KILN_ASSIGN_OR_RETURN(KernelOutput got, RunDecode(run, preset, p, splits));
  EXPECT_FALSE(got.fault) << what;
  Expect(what, got.out, spec.floats, p, counts);
  return absl::OkStatus();
}

absl::Status CheckRopeKvWrite(const KernelRunner& run, const GpuTarget& preset, const RopeCase& c,
                              const std::string& what, CheckCounts& counts) {
  KILN_ASSIGN_OR_RETURN(RopeKvResult spec, ReferenceRopeKvWrite(c.p.shape, c.rope, c.in(),
                                                                c.p.k_cache, c.p.v_cache));
  KILN_ASSIGN_OR_RETURN(KernelOutput got, RunRopeKvWrite(run, preset, c));
  EXPECT_FALSE(got.fault) << what;
  const int64_t diffs = ExpectRopeEqual(what, got, spec, counts);
  std::printf("%s: %lld elements differ from the reference\n", what.c_str(),
              static_cast<long long>(diffs));
  return absl::OkStatus();
}

absl::Status CheckPositionOutsideTheCache(const KernelRunner& run, const GpuTarget& preset,
                                          const Problem& p, const RopeCase& rope, int32_t bad,
                                          CheckCounts& counts) {
  const std::string what = absl::StrCat("position ", bad, " in a cache of ", p.capacity);
  Problem faulty = p;
  faulty.pos[2] = bad;
  EXPECT_FALSE(ReferenceAttention(faulty).ok()) << what;
  // The reference with the token's position valid, that token's row zeroed.
  KILN_ASSIGN_OR_RETURN(HostTensor spec, ReferenceAttention(p));
  const int64_t row = p.shape.heads * p.shape.head_dim;
  std::fill(spec.floats.begin() + 2 * row, spec.floats.begin() + 3 * row, 0.0f);
  KILN_ASSIGN_OR_RETURN(KernelOutput prefill, RunPrefill(run, preset, faulty));
  KILN_ASSIGN_OR_RETURN(KernelOutput decode, RunDecode(run, preset, faulty, 3));
  EXPECT_TRUE(prefill.fault) << what;
  EXPECT_TRUE(decode.fault) << what;
  Expect(what + ", prefill", prefill.out, spec.floats, p, counts);
  Expect(what + ", decode+combine", decode.out, spec.floats, p, counts);
  for (int64_t i = 2 * row; i < 3 * row; ++i) {
    EXPECT_EQ(prefill.out[i], 0.0f) << what << " prefill " << i;
    EXPECT_EQ(decode.out[i], 0.0f) << what << " decode " << i;
  }

  // rope_kv_write: the reference with the position valid, then the token's
  // q row zero and its cache slot (batch row 0) as it was.
  KILN_ASSIGN_OR_RETURN(RopeKvResult want, ReferenceRopeKvWrite(rope.p.shape, rope.rope, rope.in(),
                                                                rope.p.k_cache, rope.p.v_cache));
  const int64_t d = rope.p.shape.head_dim, q_row = rope.p.shape.heads * d;
  const int64_t slot_size = rope.p.shape.kv_heads * d, slot = rope.p.pos[2] * slot_size;
  std::fill(want.q.begin() + 2 * q_row, want.q.begin() + 3 * q_row, 0.0f);
  std::copy_n(rope.p.k_cache.begin() + slot, slot_size, want.k_cache.begin() + slot);
  std::copy_n(rope.p.v_cache.begin() + slot, slot_size, want.v_cache.begin() + slot);
  RopeCase faulty_rope = rope;
  faulty_rope.p.pos[2] = bad < 0 ? bad : static_cast<int32_t>(rope.p.capacity);
  KILN_ASSIGN_OR_RETURN(KernelOutput got, RunRopeKvWrite(run, preset, faulty_rope));
  EXPECT_TRUE(got.fault) << what;
  ExpectRopeEqual(what + ", rope_kv_write", got, want, counts);
  std::printf("%s: fault flags prefill %d, decode %d, rope_kv_write %d\n", what.c_str(),
              prefill.fault, decode.fault, got.fault);
  return absl::OkStatus();
}

}  // namespace kiln::codegen::attention::testing
