// Shared by attention_cpu.cc and the per-instruction-set kernel files
// (attention_cpu_{portable,avx2,avx512}.cc): the arguments of a batch of
// work items, the scratch layout, and the visible-range arithmetic. Not a
// public interface: attention_cpu.h is.
#ifndef KILN_RUNTIME_CPU_ATTENTION_CPU_INTERNAL_H_
#define KILN_RUNTIME_CPU_ATTENTION_CPU_INTERNAL_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/dtype.h"
#include "base/half.h"
#include "runtime/cpu/attention_cpu.h"

namespace kiln::cpu::attention_internal {

struct ItemArgs {
  const AttentionPlan* plan;
  AttentionDims dims;
  DType dtype, cache_dtype;
  float scale;
  int64_t window;
  const void* q;
  const void* k_cache;
  const void* v_cache;
  const int32_t* pos;
  void* out;
  void* scratch;
  float* partials;
};

// The first visible slot of a query at slot p.
inline int64_t FirstVisible(int64_t p, int64_t window) {
  return window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
}

inline int64_t RoundUp16(int64_t n) { return (n + 15) / 16 * 16; }

// Rows of one item: the tile's tokens times the kv head's group.
inline int64_t MaxItemRows(const AttentionDims& d) {
  return std::min(d.seq, kAttentionTile) * (d.heads / d.kv_heads);
}

// Per-thread scratch, in floats, each part 64-byte aligned:
//   q [rows][d] f32, acc [rows][d], m [rows], l [rows],
//   k and v blocks [kAttentionBlock][d] f32 (for f16/bf16 caches),
//   scores [kAttentionBlock].
struct ScratchLayout {
  int64_t q, acc, m, l, k, v, scores, total;
};

inline ScratchLayout LayoutScratch(const AttentionDims& d) {
  const int64_t rows = MaxItemRows(d), row_floats = RoundUp16(d.head_dim);
  ScratchLayout s;
  s.q = 0;
  s.acc = s.q + rows * row_floats;
  s.m = s.acc + rows * row_floats;
  s.l = s.m + RoundUp16(rows);
  s.k = s.l + RoundUp16(rows);
  s.v = s.k + kAttentionBlock * row_floats;
  s.scores = s.v + kAttentionBlock * row_floats;
  s.total = s.scores + kAttentionBlock;
  return s;
}

// A partial of (row, chunk): [m, l, acc[head_dim]].
inline int64_t PartialFloats(const AttentionDims& d) { return d.head_dim + 2; }

// Element-wise conversions between f32 and dtype (f32, f16, bf16): the
// portable kernel's, and the other kernels' for what their vectors leave.
// Defined here, before any file's target pragma, so they are plain code.
inline void ToF32Scalar(const void* src, DType dtype, int64_t n, float* dst) {
  if (dtype == DType::kF32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i)
    dst[i] = dtype == DType::kF16 ? F16ToFloat(h[i]) : BF16ToFloat(h[i]);
}

inline void FromF32Scalar(const float* src, int64_t n, DType dtype, void* dst) {
  if (dtype == DType::kF32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i)
    h[i] = dtype == DType::kF16 ? FloatToF16(src[i]) : FloatToBF16(src[i]);
}

// Items [begin, end) with one instruction set.
void AttentionItemsPortable(const ItemArgs& args, int64_t begin, int64_t end);
void AttentionItemsAvx2(const ItemArgs& args, int64_t begin, int64_t end);
void AttentionItemsAvx512(const ItemArgs& args, int64_t begin, int64_t end);

}  // namespace kiln::cpu::attention_internal

#endif  // KILN_RUNTIME_CPU_ATTENTION_CPU_INTERNAL_H_
