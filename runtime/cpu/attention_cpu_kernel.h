// The attention work-item kernel, written once over an instruction-set
// policy `Ops` and instantiated by each attention_cpu_<isa>.cc after its
// `#pragma GCC target`. Include it last, after every other header: it
// includes nothing itself, so that nothing else is compiled for the target.
// Every function here is a template over Ops, and each Ops lives in an
// anonymous namespace, so the instantiations of different files never
// merge at link time.
//
// Ops provides (n elements, d = head_dim, rows of `stride` floats):
//   ToF32(src, dtype, n, dst)        widen f32/f16/bf16 to f32 (exact)
//   FromF32(src, n, dtype, dst)      narrow, round to nearest even
//   Scores(q, k, stride, n, d, s)    s_i = q . k[i] in f32 for n keys, each
//                                    key's sum in one fixed order (whatever
//                                    keys it is computed with)
//   ScaleScores(s, n, dtype, scale)  s = r(r(s) scale), r = round to dtype
//   Max(s, n)
//   ExpScores(s, n, m, dtype)        s = r(exp(s - m)); returns the sum of
//                                    the unrounded exponentials
//   Accumulate(acc, alpha, p, v, stride, n, d)
//                                    acc = alpha acc + sum_i p_i v[i]
#ifndef KILN_RUNTIME_CPU_ATTENTION_CPU_KERNEL_H_
#define KILN_RUNTIME_CPU_ATTENTION_CPU_KERNEL_H_

namespace kiln::cpu::attention_internal {

// Runs items [begin, end): see attention_cpu.h for the decomposition. Per
// row (one query token and head) and chunk, the online softmax over the
// key blocks it sees, as FlashAttention does:
//   m' = max(m, max_j s_j),  alpha = exp(m - m'),  p_j = exp(s_j - m')
//   l' = alpha l + sum_j p_j,  acc' = alpha acc + sum_j r(p_j) v_j
// with s_j = r(r(q . k_j) scale) (ir/op.h: the reference rounds the
// product and the scaled score to the activation dtype). The reference
// rounds the normalised probability p_j / l before it weights V; a
// one-pass kernel does not know l yet, so here the unnormalised p_j is
// rounded instead (FlashAttention's P.V in 16 bits does the same); l sums
// the unrounded p_j in f32.
template <class Ops>
void RunAttentionItems(const ItemArgs& a, int64_t begin, int64_t end) {
  const AttentionDims& dm = a.dims;
  const AttentionPlan& plan = *a.plan;
  const int64_t d = dm.head_dim, group = dm.heads / dm.kv_heads, stride = RoundUp16(d);
  const int64_t cache_row = dm.kv_heads * d;  // elements per cache slot
  const int64_t qes = static_cast<int64_t>(StorageBytes(a.dtype, 1).value_or(4));
  const int64_t ces = static_cast<int64_t>(StorageBytes(a.cache_dtype, 1).value_or(4));
  const bool f32_cache = a.cache_dtype == DType::kF32;
  const ScratchLayout layout = LayoutScratch(dm);
  float* scratch = static_cast<float*>(a.scratch);
  float* qf = scratch + layout.q;
  float* acc = scratch + layout.acc;
  float* row_m = scratch + layout.m;
  float* row_l = scratch + layout.l;
  float* kbuf = scratch + layout.k;
  float* vbuf = scratch + layout.v;
  float* scores = scratch + layout.scores;
  const char* qbytes = static_cast<const char*>(a.q);
  const char* kbytes = static_cast<const char*>(a.k_cache);
  const char* vbytes = static_cast<const char*>(a.v_cache);
  char* obytes = static_cast<char*>(a.out);

  for (int64_t item = begin; item < end; ++item) {
    int64_t rest = item;
    const int64_t c = rest % plan.chunks;
    rest /= plan.chunks;
    const int64_t g = rest % dm.kv_heads;
    rest /= dm.kv_heads;
    const int64_t tile = rest % plan.tiles, b = rest / plan.tiles;
    const int64_t s0 = tile * kAttentionTile, s1 = std::min(dm.seq, s0 + kAttentionTile);
    const int64_t c_lo = c * kAttentionChunk;
    const int64_t c_hi = std::min(dm.capacity, c_lo + kAttentionChunk) - 1;

    // The union of the tile's visible key ranges within this chunk.
    int64_t ulo = c_hi + 1, uhi = c_lo - 1;
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t p = a.pos[b * dm.seq + s];
      const int64_t lo = std::max(FirstVisible(p, a.window), c_lo), hi = std::min(p, c_hi);
      if (lo > hi) continue;
      ulo = std::min(ulo, lo);
      uhi = std::max(uhi, hi);
    }
    if (ulo > uhi) continue;

    // Row r = (s - s0) * group + hh is query head g * group + hh of token s.
    const int64_t rows = (s1 - s0) * group;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t s = s0 + r / group, h = g * group + r % group;
      Ops::ToF32(qbytes + ((b * dm.seq + s) * dm.heads + h) * d * qes, a.dtype, d, qf + r * stride);
      row_m[r] = -INFINITY;
      row_l[r] = 0.0f;
      std::fill_n(acc + r * stride, d, 0.0f);
    }

    // Blocks at absolute multiples of kAttentionBlock, so a row meets the
    // same blocks whatever tile it is in.
    for (int64_t kb = ulo / kAttentionBlock * kAttentionBlock; kb <= uhi; kb += kAttentionBlock) {
      const int64_t blo = std::max(kb, ulo), bhi = std::min(kb + kAttentionBlock - 1, uhi);
      const float* kblock;
      const float* vblock;
      int64_t kv_stride;
      const int64_t first_elem = ((b * dm.capacity + blo) * dm.kv_heads + g) * d;
      if (f32_cache) {
        kblock = reinterpret_cast<const float*>(kbytes) + first_elem;
        vblock = reinterpret_cast<const float*>(vbytes) + first_elem;
        kv_stride = cache_row;
      } else {
        for (int64_t j = 0; j <= bhi - blo; ++j) {
          const int64_t at = (first_elem + j * cache_row) * ces;
          Ops::ToF32(kbytes + at, a.cache_dtype, d, kbuf + j * stride);
          Ops::ToF32(vbytes + at, a.cache_dtype, d, vbuf + j * stride);
        }
        kblock = kbuf;
        vblock = vbuf;
        kv_stride = stride;
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t p = a.pos[b * dm.seq + s0 + r / group];
        const int64_t lo = std::max(FirstVisible(p, a.window), blo), hi = std::min(p, bhi);
        if (lo > hi) continue;
        const int64_t n = hi - lo + 1;
        const float* k0 = kblock + (lo - blo) * kv_stride;
        const float* q_r = qf + r * stride;
        Ops::Scores(q_r, k0, kv_stride, n, d, scores);
        Ops::ScaleScores(scores, n, a.dtype, a.scale);
        const float m_new = std::max(row_m[r], Ops::Max(scores, n));
        const float alpha = row_m[r] == m_new ? 1.0f : std::exp(row_m[r] - m_new);
        const float sum = Ops::ExpScores(scores, n, m_new, a.dtype);
        row_l[r] = alpha * row_l[r] + sum;
        row_m[r] = m_new;
        Ops::Accumulate(acc + r * stride, alpha, scores, vblock + (lo - blo) * kv_stride, kv_stride,
                        n, d);
      }
    }

    // A row whose keys all lie in this chunk is done; otherwise it leaves
    // its partial (rows that see nothing here leave none: the combine
    // reads only chunks [first/C, p/C], each of which holds a visible key).
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t s = s0 + r / group, h = g * group + r % group;
      const int64_t p = a.pos[b * dm.seq + s], first = FirstVisible(p, a.window);
      if (std::max(first, c_lo) > std::min(p, c_hi)) continue;
      float* acc_r = acc + r * stride;
      const int64_t row = (b * dm.seq + s) * dm.heads + h;
      if (first / kAttentionChunk == p / kAttentionChunk) {
        const float inv = 1.0f / row_l[r];
        for (int64_t i = 0; i < d; ++i) acc_r[i] *= inv;
        Ops::FromF32(acc_r, d, a.dtype, obytes + row * d * qes);
      } else {
        float* partial = a.partials + (row * plan.chunks + c) * PartialFloats(dm);
        partial[0] = row_m[r];
        partial[1] = row_l[r];
        std::copy_n(acc_r, d, partial + 2);
      }
    }
  }
}

}  // namespace kiln::cpu::attention_internal

#endif  // KILN_RUNTIME_CPU_ATTENTION_CPU_KERNEL_H_
