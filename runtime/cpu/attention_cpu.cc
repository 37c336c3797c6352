// RoPE + KV-cache write, attention planning, the cost-balanced item split,
// the dispatch over instruction sets and the combine of chunk partials.
#include "runtime/cpu/attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/half.h"
#include "runtime/cpu/attention_cpu_internal.h"

namespace kiln::cpu {
namespace {

using attention_internal::FirstVisible;
using attention_internal::PartialFloats;

float LoadValue(const void* base, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF16:
      return F16ToFloat(static_cast<const uint16_t*>(base)[i]);
    case DType::kBF16:
      return BF16ToFloat(static_cast<const uint16_t*>(base)[i]);
    default:
      return static_cast<const float*>(base)[i];
  }
}

void StoreValue(void* base, DType dtype, int64_t i, float value) {
  switch (dtype) {
    case DType::kF16:
      static_cast<uint16_t*>(base)[i] = FloatToF16(value);
      break;
    case DType::kBF16:
      static_cast<uint16_t*>(base)[i] = FloatToBF16(value);
      break;
    default:
      static_cast<float*>(base)[i] = value;
  }
}

// Rotates the `heads` rows of d values at element `at` of x by (cos, sin)
// and stores them at element `out_at` of out in out_dtype. Each pair (i,
// i + d/2) is read before either is written, so out may alias x.
void RotateRows(const void* x, DType dtype, int64_t at, int64_t heads, int64_t d,
                const float* cos_sin, void* out, DType out_dtype, int64_t out_at) {
  const int64_t half = d / 2;
  auto r = [dtype](float v) { return RoundToDType(v, dtype); };
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t xi = at + h * d, oi = out_at + h * d;
    if (cos_sin == nullptr) {
      if (x == out && xi == oi && dtype == out_dtype) continue;
      for (int64_t i = 0; i < d; ++i)
        StoreValue(out, out_dtype, oi + i, LoadValue(x, dtype, xi + i));
      continue;
    }
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = LoadValue(x, dtype, xi + i), x1 = LoadValue(x, dtype, xi + i + half);
      const float c = cos_sin[i], s = cos_sin[half + i];
      const float y0 = r(r(x0 * c) + r(-x1 * s));
      const float y1 = r(r(x1 * c) + r(x0 * s));
      StoreValue(out, out_dtype, oi + i, y0);
      StoreValue(out, out_dtype, oi + i + half, y1);
    }
  }
}

}  // namespace

AttentionIsa BestAttentionIsa() {
#if defined(__x86_64__)
  static const AttentionIsa best = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    // F16C has no __builtin_cpu_supports name in older GCC; every CPU with
    // AVX2 and FMA (Haswell, Zen) has it.
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq");
    return avx512 ? AttentionIsa::kAvx512 : avx2 ? AttentionIsa::kAvx2 : AttentionIsa::kPortable;
  }();
  return best;
#else
  return AttentionIsa::kPortable;
#endif
}

const char* AttentionIsaName(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::kAvx2:
      return "avx2";
    case AttentionIsa::kAvx512:
      return "avx512";
    default:
      return "portable";
  }
}

void RopeKvWrite(const AttentionDims& dims, DType dtype, DType cache_dtype, const void* q,
                 const void* k, const void* v, const int32_t* pos, const float* cos_sin,
                 void* q_out, void* k_cache, void* v_cache, int64_t token_begin,
                 int64_t token_end) {
  const int64_t d = dims.head_dim;
  for (int64_t t = token_begin; t < token_end; ++t) {
    const int64_t b = t / dims.seq, p = pos[t];
    const float* row = cos_sin ? cos_sin + p * d : nullptr;
    RotateRows(q, dtype, t * dims.heads * d, dims.heads, d, row, q_out, dtype, t * dims.heads * d);
    // The rotated k is rounded to dtype (the rope's result) inside
    // RotateRows, then to cache_dtype by the store.
    const int64_t slot = (b * dims.capacity + p) * dims.kv_heads * d;
    RotateRows(k, dtype, t * dims.kv_heads * d, dims.kv_heads, d, row, k_cache, cache_dtype, slot);
    RotateRows(v, dtype, t * dims.kv_heads * d, dims.kv_heads, d, nullptr, v_cache, cache_dtype,
               slot);
  }
}

AttentionPlan PlanAttention(const AttentionDims& dims) {
  AttentionPlan plan;
  plan.tiles = (dims.seq + kAttentionTile - 1) / kAttentionTile;
  plan.chunks = (dims.capacity + kAttentionChunk - 1) / kAttentionChunk;
  plan.items = dims.batch * plan.tiles * dims.kv_heads * plan.chunks;
  plan.scratch_bytes = attention_internal::LayoutScratch(dims).total * 4;
  if (plan.chunks > 1) {
    plan.combine_rows = dims.batch * dims.seq * dims.heads;
    plan.partial_bytes = plan.combine_rows * plan.chunks * PartialFloats(dims) * 4;
  }
  return plan;
}

namespace {

// The (query, key) pairs of one item, times the group it serves, plus a
// fixed cost for a non-empty item (loading q, the tile's bookkeeping).
int64_t ItemCost(const AttentionPlan& plan, const AttentionDims& dims, int64_t window,
                 const int32_t* pos, int64_t item) {
  int64_t rest = item;
  const int64_t c = rest % plan.chunks;
  rest /= plan.chunks * dims.kv_heads;  // the kv head does not change the cost
  const int64_t tile = rest % plan.tiles, b = rest / plan.tiles;
  const int64_t s0 = tile * kAttentionTile, s1 = std::min(dims.seq, s0 + kAttentionTile);
  const int64_t c_lo = c * kAttentionChunk;
  const int64_t c_hi = std::min(dims.capacity, c_lo + kAttentionChunk) - 1;
  int64_t keys = 0;
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t p = pos[b * dims.seq + s];
    keys += std::max<int64_t>(0, std::min(p, c_hi) - std::max(FirstVisible(p, window), c_lo) + 1);
  }
  return keys == 0 ? 0 : keys * (dims.heads / dims.kv_heads) + 64;
}

}  // namespace

void AttentionItemRange(const AttentionPlan& plan, const AttentionDims& dims, int64_t window,
                        const int32_t* pos, int thread, int threads, int64_t* begin, int64_t* end) {
  if (threads <= 1) {
    *begin = 0;
    *end = plan.items;
    return;
  }
  int64_t total = 0;
  for (int64_t i = 0; i < plan.items; ++i) total += ItemCost(plan, dims, window, pos, i);
  // Thread t's first item is the first whose preceding cost reaches
  // total * t / threads; the bounds are monotonic in t, so the ranges tile
  // [0, items).
  auto boundary = [&](int t) -> int64_t {
    if (t <= 0) return 0;
    if (t >= threads) return plan.items;
    int64_t before = 0;
    for (int64_t i = 0; i < plan.items; ++i) {
      if (before * threads >= total * t) return i;
      before += ItemCost(plan, dims, window, pos, i);
    }
    return plan.items;
  };
  *begin = boundary(thread);
  *end = boundary(thread + 1);
}

void Attention(const AttentionPlan& plan, const AttentionDims& dims, AttentionIsa isa, DType dtype,
               DType cache_dtype, float scale, int64_t window, const void* q, const void* k_cache,
               const void* v_cache, const int32_t* pos, void* out, int64_t item_begin,
               int64_t item_end, void* scratch, void* partials) {
  attention_internal::ItemArgs args{&plan,
                                    dims,
                                    dtype,
                                    cache_dtype,
                                    scale,
                                    window,
                                    q,
                                    k_cache,
                                    v_cache,
                                    pos,
                                    out,
                                    scratch,
                                    static_cast<float*>(partials)};
  switch (isa) {
    case AttentionIsa::kAvx512:
      attention_internal::AttentionItemsAvx512(args, item_begin, item_end);
      break;
    case AttentionIsa::kAvx2:
      attention_internal::AttentionItemsAvx2(args, item_begin, item_end);
      break;
    default:
      attention_internal::AttentionItemsPortable(args, item_begin, item_end);
  }
}

// Merging chunk partials (m_c, l_c, acc_c) of one row:
//   M = max_c m_c,  L = sum_c l_c exp(m_c - M),  out = sum_c exp(m_c - M) acc_c / L.
void AttentionCombine(const AttentionPlan& plan, const AttentionDims& dims, DType dtype,
                      int64_t window, const int32_t* pos, const void* partials, void* out,
                      int64_t row_begin, int64_t row_end) {
  const int64_t d = dims.head_dim, pf = PartialFloats(dims);
  const float* parts = static_cast<const float*>(partials);
  float acc[512];  // head_dim values at a time
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t token = row / dims.heads, p = pos[token];
    const int64_t c0 = FirstVisible(p, window) / kAttentionChunk, c1 = p / kAttentionChunk;
    if (c0 == c1) continue;
    const float* part = parts + row * plan.chunks * pf;
    float m = -INFINITY;
    for (int64_t c = c0; c <= c1; ++c) m = std::max(m, part[c * pf]);
    float l = 0.0f;
    for (int64_t c = c0; c <= c1; ++c) l += part[c * pf + 1] * std::exp(part[c * pf] - m);
    const float inv = 1.0f / l;
    for (int64_t x0 = 0; x0 < d; x0 += 512) {
      const int64_t n = std::min<int64_t>(512, d - x0);
      std::fill_n(acc, n, 0.0f);
      for (int64_t c = c0; c <= c1; ++c) {
        const float w = std::exp(part[c * pf] - m);
        const float* a = part + c * pf + 2 + x0;
        for (int64_t x = 0; x < n; ++x) acc[x] += w * a[x];
      }
      for (int64_t x = 0; x < n; ++x) StoreValue(out, dtype, row * d + x0 + x, acc[x] * inv);
    }
  }
}

}  // namespace kiln::cpu
