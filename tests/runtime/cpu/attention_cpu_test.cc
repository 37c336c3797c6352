// The CPU attention kernels (runtime/cpu/attention_cpu.h) against the
// reference executor's rope, kv_cache_write and attention ops (EvalOp on
// hand-built nodes), on every kernel level this CPU has, at odd sizes.
//
// Tolerances, per element, b the reference, s = max(1, rms(reference)):
//   f32 activations: |a - b| <= 1e-5 s + 1.3e-6 |b| (vLLM's f32 allclose;
//     the kernels' f32 exp and dot order differ from the reference's
//     double exp and sequential dot by a few ulp of each score);
//   f16 / bf16: |a - b| <= 1e-3 s + rtol (|b| + m), rtol 1e-3 (f16) or
//     1.6e-2 (bf16), m = sum_j p_j |v_j| (1 + |z_j| + sum_k p_k |z_k|): the
//     first-order effect of rounding the scores z and probabilities p, as
//     tests/runtime/op_test_support.h states for the reference itself (the
//     kernel rounds the unnormalised probabilities, the reference the
//     normalised ones).
//   rope's q and the cache write: exact (the same roundings in the same order).
// Splitting over threads and items must not change a single bit.
#include "runtime/cpu/attention_cpu.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "base/host_tensor.h"
#include "codegen/attention/attention_host.h"
#include "gtest/gtest.h"
#include "ir/module.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/reference/ops.h"
#include "tests/support/test_seed.h"

namespace kiln::cpu {
namespace {

using ::kiln::testing::Rng;

struct Case {
  int64_t batch, seq, heads, kv_heads, d, capacity, window;
  DType dtype, cache_dtype;
};

std::string Name(const Case& c) {
  return absl::StrCat("b", c.batch, " s", c.seq, " h", c.heads, "/", c.kv_heads, " d", c.d, " C",
                      c.capacity, " w", c.window, " ", std::string(DTypeName(c.dtype)), " cache ",
                      std::string(DTypeName(c.cache_dtype)));
}

AttentionDims Dims(const Case& c) { return {c.batch, c.seq, c.heads, c.kv_heads, c.d, c.capacity}; }

std::vector<AttentionIsa> Levels() {
  std::vector<AttentionIsa> levels = {AttentionIsa::kPortable};
  if (BestAttentionIsa() >= AttentionIsa::kAvx2) levels.push_back(AttentionIsa::kAvx2);
  if (BestAttentionIsa() >= AttentionIsa::kAvx512) levels.push_back(AttentionIsa::kAvx512);
  return levels;
}

std::vector<float> Normal(Rng& rng, int64_t n, double sd, DType dtype) {
  return ::kiln::testing::NormalValues(rng, n, sd, dtype);
}

// Positions per batch row: a contiguous run at a random start in [0,
// capacity - seq] (a prefill chunk or a decode step anywhere in the cache).
std::vector<int32_t> Positions(Rng& rng, const Case& c) {
  std::vector<int32_t> pos(static_cast<size_t>(c.batch * c.seq));
  for (int64_t b = 0; b < c.batch; ++b) {
    std::uniform_int_distribution<int64_t> start(0, c.capacity - c.seq);
    int64_t s0 = start(rng);
    for (int64_t s = 0; s < c.seq; ++s) pos[b * c.seq + s] = static_cast<int32_t>(s0 + s);
  }
  return pos;
}

HostTensor PosTensor(const Case& c, const std::vector<int32_t>& pos) {
  return HostTensor::FromInts(DType::kI32, {c.batch, c.seq},
                              std::vector<int64_t>(pos.begin(), pos.end()));
}

HostTensor Eval(Op op, DType dtype, Attrs attrs, std::vector<HostTensor*> operands,
                std::vector<int64_t> shape) {
  Node node;
  node.op = op;
  node.name = "x";
  node.type.dtype = dtype;
  node.attrs = std::move(attrs);
  absl::StatusOr<HostTensor> r = EvalOp(node, operands, shape, false);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : HostTensor{};
}

// m of the tolerance (see the top), per output element, in double.
std::vector<double> TermMagnitude(const Case& c, const HostTensor& q, const HostTensor& k,
                                  const HostTensor& v, const std::vector<int32_t>& pos,
                                  float scale) {
  const int64_t d = c.d, group = c.heads / c.kv_heads;
  std::vector<double> m(q.floats.size());
  for (int64_t t = 0; t < c.batch * c.seq; ++t) {
    const int64_t b = t / c.seq, p = pos[t];
    const int64_t first = c.window > 0 ? std::max<int64_t>(0, p - c.window + 1) : 0;
    for (int64_t h = 0; h < c.heads; ++h) {
      std::vector<double> z, w;
      for (int64_t j = first; j <= p; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < d; ++i) {
          dot += double{q.floats[(t * c.heads + h) * d + i]} *
                 k.floats[((b * c.capacity + j) * c.kv_heads + h / group) * d + i];
        }
        z.push_back(dot * scale);
      }
      double mx = *std::max_element(z.begin(), z.end()), sum = 0, zbar = 0;
      for (double x : z) sum += (w.emplace_back(std::exp(x - mx)), w.back());
      for (size_t j = 0; j < z.size(); ++j) zbar += w[j] / sum * std::fabs(z[j]);
      for (int64_t i = 0; i < d; ++i) {
        double acc = 0;
        for (int64_t j = first; j <= p; ++j) {
          double vj = v.floats[((b * c.capacity + j) * c.kv_heads + h / group) * d + i];
          acc += w[j - first] / sum * std::fabs(vj) * (1 + std::fabs(z[j - first]) + zbar);
        }
        m[(t * c.heads + h) * d + i] = acc;
      }
    }
  }
  return m;
}

void ExpectClose(const std::vector<float>& got, const HostTensor& want,
                 const std::vector<double>& m, DType dtype, const std::string& what) {
  ASSERT_EQ(got.size(), want.floats.size()) << what;
  double rms = 0;
  for (float w : want.floats) rms += double{w} * w / static_cast<double>(want.floats.size());
  const double s = std::max(1.0, std::sqrt(rms));
  const double atol = (dtype == DType::kF32 ? 1e-5 : 1e-3) * s;
  const double rtol = dtype == DType::kF32 ? 1.3e-6 : dtype == DType::kF16 ? 1e-3 : 1.6e-2;
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double mi = dtype == DType::kF32 ? 0.0 : m[i];
    const double err = std::fabs(double{got[i]} - want.floats[i]);
    const double ratio = err / (atol + rtol * (std::fabs(want.floats[i]) + mi));
    worst = std::max(worst, std::isnan(err) ? 1e30 : ratio);
    if (!(ratio <= 1.0) && bad++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want.floats[i]
                    << " (atol " << atol << ", rtol " << rtol << ", m " << mi << ")";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " outside, worst ratio "
                    << worst;
}

// Runs attention as `threads` threads would, one after the other: each
// takes its AttentionItemRange with its own scratch, then each combines
// its share of the rows. Returns the output bytes.
std::vector<uint8_t> RunAttention(const Case& c, AttentionIsa isa, float scale,
                                  const std::vector<uint8_t>& q, const std::vector<uint8_t>& kc,
                                  const std::vector<uint8_t>& vc, const std::vector<int32_t>& pos,
                                  int threads) {
  const AttentionDims dims = Dims(c);
  const AttentionPlan plan = PlanAttention(dims);
  std::vector<uint8_t> out(q.size(), 0xAB);
  std::vector<float> partials(static_cast<size_t>(plan.partial_bytes / 4), NAN);
  std::vector<std::vector<float>> scratch(static_cast<size_t>(threads));
  int64_t covered = 0;
  for (int t = 0; t < threads; ++t) {
    int64_t begin, end;
    AttentionItemRange(plan, dims, c.window, pos.data(), t, threads, &begin, &end);
    EXPECT_EQ(begin, covered) << "thread " << t;
    covered = end;
    scratch[t].assign(static_cast<size_t>(plan.scratch_bytes / 4 + 16), NAN);
    Attention(plan, dims, isa, c.dtype, c.cache_dtype, scale, c.window, q.data(), kc.data(),
              vc.data(), pos.data(), out.data(), begin, end, scratch[t].data(),
              partials.empty() ? nullptr : partials.data());
  }
  EXPECT_EQ(covered, plan.items);
  for (int t = 0; t < threads; ++t) {
    const int64_t rows = plan.combine_rows;
    AttentionCombine(plan, dims, c.dtype, c.window, pos.data(),
                     partials.empty() ? nullptr : partials.data(), out.data(), rows * t / threads,
                     rows * (t + 1) / threads);
  }
  return out;
}

// One attention case on every level and thread split.
void CheckAttention(const Case& c) {
  SCOPED_TRACE(Name(c));
  SCOPED_TRACE(::kiln::testing::SeedNote());
  Rng rng = ::kiln::testing::TestRng();
  const int64_t cache_elems = c.batch * c.capacity * c.kv_heads * c.d;
  HostTensor q = HostTensor::FromFloats(c.dtype, {c.batch, c.seq, c.heads, c.d},
                                        Normal(rng, c.batch * c.seq * c.heads * c.d, 1.5, c.dtype));
  // Cache values rounded to the cache dtype, then to the activation dtype
  // the reference computes in (an f16 cache under a bf16 model is read as
  // f16 values; the reference reads its cache's floats as they are).
  HostTensor k = HostTensor::FromFloats(c.cache_dtype, {c.batch, c.capacity, c.kv_heads, c.d},
                                        Normal(rng, cache_elems, 1.0, c.cache_dtype));
  HostTensor v = HostTensor::FromFloats(c.cache_dtype, {c.batch, c.capacity, c.kv_heads, c.d},
                                        Normal(rng, cache_elems, 1.0, c.cache_dtype));
  std::vector<int32_t> pos = Positions(rng, c);
  HostTensor pos_t = PosTensor(c, pos);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.d)));
  HostTensor want = Eval(Op::kAttention, c.dtype, {{"scale", double{scale}}, {"window", c.window}},
                         {&q, &k, &v, &pos_t}, {c.batch, c.seq, c.heads, c.d});
  std::vector<double> m = TermMagnitude(c, q, k, v, pos, scale);

  // The kernel's cache: slots no query sees hold NaN (never read).
  std::vector<float> kp = k.floats, vp = v.floats;
  for (int64_t b = 0; b < c.batch; ++b) {
    int64_t lo = c.capacity, hi = -1;
    for (int64_t s = 0; s < c.seq; ++s) {
      int64_t p = pos[b * c.seq + s];
      hi = std::max(hi, p);
      lo = std::min(lo, c.window > 0 ? std::max<int64_t>(0, p - c.window + 1) : 0);
    }
    for (int64_t j = 0; j < c.capacity; ++j) {
      if (j >= lo && j <= hi) continue;
      for (int64_t i = 0; i < c.kv_heads * c.d; ++i) {
        kp[(b * c.capacity + j) * c.kv_heads * c.d + i] = NAN;
        vp[(b * c.capacity + j) * c.kv_heads * c.d + i] = NAN;
      }
    }
  }
  std::vector<uint8_t> qb = EncodeFloats(q.floats, c.dtype);
  std::vector<uint8_t> kb = EncodeFloats(kp, c.cache_dtype), vb = EncodeFloats(vp, c.cache_dtype);
  for (AttentionIsa isa : Levels()) {
    std::vector<uint8_t> one = RunAttention(c, isa, scale, qb, kb, vb, pos, 1);
    ExpectClose(DecodeFloats(one, c.dtype), want, m, c.dtype, AttentionIsaName(isa));
    for (int threads : {2, 3, 7}) {
      EXPECT_TRUE(RunAttention(c, isa, scale, qb, kb, vb, pos, threads) == one)
          << AttentionIsaName(isa) << ": " << threads << " threads differ from 1";
    }
  }
}

TEST(AttentionCpu, MatchesReference) {
  const DType f32 = DType::kF32, f16 = DType::kF16, bf16 = DType::kBF16;
  std::vector<Case> cases = {
      // batch, seq, heads, kv_heads, d, capacity, window, dtype, cache dtype
      {1, 1, 1, 1, 32, 1, 0, f32, f32},     {2, 1, 9, 3, 64, 300, 0, f32, f32},
      {3, 5, 4, 2, 80, 7, 0, f32, f32},     {2, 33, 6, 1, 128, 300, 0, f32, f32},
      {2, 33, 9, 3, 64, 300, 5, f32, f32},  {1, 1, 9, 3, 64, 300, 5, f32, f32},
      {3, 1, 4, 2, 32, 300, 0, f32, f16},   {2, 5, 9, 3, 64, 300, 0, f32, bf16},
      {2, 33, 6, 1, 80, 300, 0, f32, f16},  {1, 7, 1, 1, 128, 7, 0, f32, bf16},
      {2, 1, 9, 3, 64, 300, 0, bf16, bf16}, {2, 33, 4, 2, 128, 300, 5, bf16, bf16},
      {3, 5, 6, 1, 32, 300, 0, f16, f16},   {1, 33, 9, 3, 80, 300, 0, f16, f32},
      {2, 1, 1, 1, 64, 300, 0, f16, f16},   {1, 5, 9, 3, 64, 7, 5, bf16, f32},
      {1, 1, 9, 3, 64, 2048, 0, f32, f32},  {1, 1, 9, 3, 64, 2048, 0, f32, f16},
  };
  for (const Case& c : cases) CheckAttention(c);
}

// A decode step at the end of a long cache uses several chunks and the
// combine; a prefill chunk in the middle of the cache too.
TEST(AttentionCpu, LongContextsUseTheCombine) {
  const DType f32 = DType::kF32, bf16 = DType::kBF16;
  Case decode{2, 1, 9, 3, 64, 1000, 0, f32, f32};
  EXPECT_GT(PlanAttention(Dims(decode)).combine_rows, 0);
  CheckAttention(decode);
  CheckAttention({1, 40, 4, 2, 64, 700, 0, bf16, bf16});
  CheckAttention({1, 40, 4, 2, 64, 700, 300, f32, f32});
}

// Threads of a real pool: each takes its range, a barrier, then the combine.
TEST(AttentionCpu, RunsOnThreadPool) {
  Case c{2, 17, 9, 3, 64, 600, 0, DType::kF32, DType::kF16};
  Rng rng = ::kiln::testing::TestRng();
  const AttentionDims dims = Dims(c);
  const AttentionPlan plan = PlanAttention(dims);
  std::vector<uint8_t> q =
      EncodeFloats(Normal(rng, c.batch * c.seq * c.heads * c.d, 1.5, c.dtype), c.dtype);
  const int64_t cache_elems = c.batch * c.capacity * c.kv_heads * c.d;
  std::vector<uint8_t> kc = EncodeFloats(Normal(rng, cache_elems, 1, c.cache_dtype), c.cache_dtype);
  std::vector<uint8_t> vc = EncodeFloats(Normal(rng, cache_elems, 1, c.cache_dtype), c.cache_dtype);
  std::vector<int32_t> pos = Positions(rng, c);
  const float scale = 0.125f;
  std::vector<uint8_t> want = RunAttention(c, BestAttentionIsa(), scale, q, kc, vc, pos, 1);
  ThreadPool pool(3);
  std::vector<float> partials(static_cast<size_t>(plan.partial_bytes / 4));
  std::vector<std::vector<float>> scratch(3, std::vector<float>(plan.scratch_bytes / 4));
  std::vector<uint8_t> out(q.size());
  pool.Run([&](int t, int n) {
    int64_t begin, end;
    AttentionItemRange(plan, dims, c.window, pos.data(), t, n, &begin, &end);
    Attention(plan, dims, BestAttentionIsa(), c.dtype, c.cache_dtype, scale, c.window, q.data(),
              kc.data(), vc.data(), pos.data(), out.data(), begin, end, scratch[t].data(),
              partials.data());
    pool.Barrier(t);
    AttentionCombine(plan, dims, c.dtype, c.window, pos.data(), partials.data(), out.data(),
                     plan.combine_rows * t / n, plan.combine_rows * (t + 1) / n);
  });
  EXPECT_TRUE(out == want);
}

// ---------------------------------------------------------------- rope + cache write

void CheckRopeKvWrite(const Case& c, bool rotate, bool in_place) {
  SCOPED_TRACE(absl::StrCat(Name(c), rotate ? " rope" : " no rope", in_place ? " in place" : ""));
  SCOPED_TRACE(::kiln::testing::SeedNote());
  Rng rng = ::kiln::testing::TestRng();
  const int64_t d = c.d, tokens = c.batch * c.seq;
  HostTensor q = HostTensor::FromFloats(c.dtype, {c.batch, c.seq, c.heads, d},
                                        Normal(rng, tokens * c.heads * d, 1.0, c.dtype));
  HostTensor k = HostTensor::FromFloats(c.dtype, {c.batch, c.seq, c.kv_heads, d},
                                        Normal(rng, tokens * c.kv_heads * d, 1.0, c.dtype));
  HostTensor v = HostTensor::FromFloats(c.dtype, {c.batch, c.seq, c.kv_heads, d},
                                        Normal(rng, tokens * c.kv_heads * d, 1.0, c.dtype));
  // Distinct slots per batch row, random order (a cache write need not be
  // contiguous).
  std::vector<int32_t> pos(static_cast<size_t>(tokens));
  for (int64_t b = 0; b < c.batch; ++b) {
    std::vector<int32_t> slots(static_cast<size_t>(c.capacity));
    for (int64_t j = 0; j < c.capacity; ++j) slots[j] = static_cast<int32_t>(j);
    std::shuffle(slots.begin(), slots.end(), rng);
    for (int64_t s = 0; s < c.seq; ++s) pos[b * c.seq + s] = slots[s];
  }
  HostTensor pos_t = PosTensor(c, pos);
  const double theta = 10000.0;
  HostTensor q_want = q, k_rot = k;
  if (rotate) {
    q_want = Eval(Op::kRope, c.dtype, {{"theta", theta}}, {&q, &pos_t}, q.shape);
    k_rot = Eval(Op::kRope, c.dtype, {{"theta", theta}}, {&k, &pos_t}, k.shape);
  }
  // The reference's cache write, then the cache dtype's rounding.
  const std::vector<int64_t> cache_shape = {c.batch, c.capacity, c.kv_heads, d};
  HostTensor k_cache = HostTensor::FromFloats(
      c.cache_dtype, cache_shape,
      Normal(rng, c.batch * c.capacity * c.kv_heads * d, 1.0, c.cache_dtype));
  HostTensor v_cache = HostTensor::FromFloats(
      c.cache_dtype, cache_shape,
      Normal(rng, c.batch * c.capacity * c.kv_heads * d, 1.0, c.cache_dtype));
  HostTensor k_want =
      Eval(Op::kKvCacheWrite, c.cache_dtype, {}, {&k_cache, &k_rot, &pos_t}, cache_shape);
  HostTensor v_want =
      Eval(Op::kKvCacheWrite, c.cache_dtype, {}, {&v_cache, &v, &pos_t}, cache_shape);
  for (float& x : k_want.floats) x = RoundToDType(x, c.cache_dtype);
  for (float& x : v_want.floats) x = RoundToDType(x, c.cache_dtype);

  codegen::attention::RopeParams params;
  params.theta = static_cast<float>(theta);
  std::vector<float> table = codegen::attention::RopeCosSinTable(
      codegen::attention::RopeInverseFrequencies(params, static_cast<int>(d)), c.capacity, c.dtype);
  std::vector<uint8_t> qb = EncodeFloats(q.floats, c.dtype), kb = EncodeFloats(k.floats, c.dtype),
                       vb = EncodeFloats(v.floats, c.dtype);
  std::vector<uint8_t> q_out = in_place ? qb : std::vector<uint8_t>(qb.size(), 0xCD);
  std::vector<uint8_t> kc = EncodeFloats(k_cache.floats, c.cache_dtype);
  std::vector<uint8_t> vc = EncodeFloats(v_cache.floats, c.cache_dtype);
  // Three uneven token ranges, as threads would split them.
  const int64_t cuts[] = {0, tokens / 3, tokens * 2 / 3, tokens};
  for (int part = 0; part < 3; ++part) {
    RopeKvWrite(Dims(c), c.dtype, c.cache_dtype, in_place ? q_out.data() : qb.data(), kb.data(),
                vb.data(), pos.data(), rotate ? table.data() : nullptr, q_out.data(), kc.data(),
                vc.data(), cuts[part], cuts[part + 1]);
  }
  // Every slot compared: the written ones to the reference, the others
  // (untouched) to the old cache, which k_want and v_want hold there.
  EXPECT_TRUE(DecodeFloats(q_out, c.dtype) == q_want.floats) << "q";
  EXPECT_TRUE(DecodeFloats(kc, c.cache_dtype) == k_want.floats) << "k cache";
  EXPECT_TRUE(DecodeFloats(vc, c.cache_dtype) == v_want.floats) << "v cache";
}

TEST(RopeKvWrite, MatchesReference) {
  const DType f32 = DType::kF32, f16 = DType::kF16, bf16 = DType::kBF16;
  std::vector<Case> cases = {
      {1, 1, 1, 1, 32, 1, 0, f32, f32},      {2, 5, 9, 3, 64, 300, 0, f32, f32},
      {3, 5, 4, 2, 80, 7, 0, f32, f16},      {2, 33, 6, 1, 128, 300, 0, f32, bf16},
      {2, 33, 9, 3, 64, 300, 0, bf16, bf16}, {3, 1, 4, 2, 128, 7, 0, f16, f16},
      {1, 7, 9, 3, 64, 7, 0, bf16, f16},     {2, 5, 6, 1, 32, 300, 0, f16, f32},
  };
  for (const Case& c : cases) {
    CheckRopeKvWrite(c, true, false);
    CheckRopeKvWrite(c, true, true);
    CheckRopeKvWrite(c, false, false);
  }
}

}  // namespace
}  // namespace kiln::cpu

namespace kiln::cpu {
namespace {

// Timings of SmolLM2-135M's attention shape (heads 9, kv heads 3, d 64),
// one thread, every level: a decode step at the end of a 2048-slot cache
// and a 256-token prefill from slot 0. Printed, not asserted.
TEST(AttentionCpu, PrintsTimings) {
  Rng rng = ::kiln::testing::TestRng();
  for (DType cache : {DType::kF32, DType::kF16}) {
    for (int64_t seq : {1, 256}) {
      Case c{1, seq, 9, 3, 64, 2048, 0, DType::kF32, cache};
      const AttentionDims dims = Dims(c);
      const AttentionPlan plan = PlanAttention(dims);
      std::vector<uint8_t> q =
          EncodeFloats(Normal(rng, seq * 9 * 64, 1.0, DType::kF32), DType::kF32);
      std::vector<uint8_t> kc = EncodeFloats(Normal(rng, 2048 * 3 * 64, 1, cache), cache);
      std::vector<uint8_t> vc = EncodeFloats(Normal(rng, 2048 * 3 * 64, 1, cache), cache);
      std::vector<int32_t> pos(static_cast<size_t>(seq));
      for (int64_t s = 0; s < seq; ++s) pos[s] = static_cast<int32_t>(seq == 1 ? 2047 : s);
      std::vector<float> scratch(plan.scratch_bytes / 4), partials(plan.partial_bytes / 4);
      std::vector<uint8_t> out(q.size());
      for (AttentionIsa isa : Levels()) {
        auto once = [&] {
          Attention(plan, dims, isa, c.dtype, cache, 0.125f, 0, q.data(), kc.data(), vc.data(),
                    pos.data(), out.data(), 0, plan.items, scratch.data(),
                    partials.empty() ? nullptr : partials.data());
          AttentionCombine(plan, dims, c.dtype, 0, pos.data(), partials.data(), out.data(), 0,
                           plan.combine_rows);
        };
        once();
        const int reps = seq == 1 ? 200 : 5;
        auto start = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) once();
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count() /
            reps;
        std::printf("attention %-8s %s cache, seq %3lld at %s: %9.1f us\n", AttentionIsaName(isa),
                    std::string(DTypeName(cache)).c_str(), static_cast<long long>(seq),
                    seq == 1 ? "slot 2047" : "slots 0..255", us);
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
