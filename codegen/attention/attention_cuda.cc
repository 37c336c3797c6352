#include "codegen/attention/attention_cuda.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "codegen/cuda_ptx.h"

namespace kiln::codegen::attention {
namespace {

// Element type, widening and rounding for each dtype. f16 and bf16 travel
// as their bits (unsigned short); cvt.rn is round to nearest even, what
// base/half.h computes on the host. f32 first:
constexpr char kF32Io[] = R"(
typedef float kiln_io_t;
__device__ __forceinline__ float kiln_to_f32(float x) { return x; }
__device__ __forceinline__ float kiln_from_f32(float x) { return x; }
__device__ __forceinline__ float kiln_round(float x) { return x; }
__device__ __forceinline__ float4 kiln_load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
)";

// Widening f16 takes a cvt; bf16 is the top half of an f32, so widening
// it is a shift (exact).
constexpr char kF16ToF32[] = R"(
__device__ __forceinline__ float kiln_to_f32(unsigned short h) {
  float f;
  KILN_PTX_CVT_F32_F16(f, h);
  return f;
}
)";

constexpr char kBF16ToF32[] = R"(
__device__ __forceinline__ float kiln_to_f32(unsigned short h) {
  return __uint_as_float(static_cast<unsigned int>(h) << 16);
}
)";

// Shared by f16 and bf16 ($HALF names the PTX cvt: F16 or BF16): narrowing, rounding, and
// four consecutive elements in one 8-byte load.
constexpr char kHalfIo[] = R"(
__device__ __forceinline__ unsigned short kiln_from_f32(float f) {
  unsigned short h;
  KILN_PTX_CVT_RN_$HALF_F32(h, f);
  return h;
}
__device__ __forceinline__ float kiln_round(float x) { return kiln_to_f32(kiln_from_f32(x)); }
__device__ __forceinline__ float4 kiln_load4(const unsigned short* p) {
  const uint2 w = *reinterpret_cast<const uint2*>(p);
  return make_float4(kiln_to_f32(static_cast<unsigned short>(w.x & 0xffffu)),
                     kiln_to_f32(static_cast<unsigned short>(w.x >> 16)),
                     kiln_to_f32(static_cast<unsigned short>(w.y & 0xffffu)),
                     kiln_to_f32(static_cast<unsigned short>(w.y >> 16)));
}
)";

// The tile loop of both attention kernels. For the block's rows, with row r seeing
// cache slots [row_lo, row_hi] (its causal/window range cut to this
// block's [lo, hi)), over tiles of kBlockN keys starting at the multiple of
// kBlockN below lo:
//   1. the block loads the tile's K and V rows (zeros outside [lo, hi));
//   2. a warp none of whose rows sees the tile skips it (an exact no-op);
//   3. lane j scores key kk*32 + j for each of the warp's rows:
//        s = round(round(q . k) * scale), the dot an fmaf chain over
//        ascending dims, -inf where not visible (ir/op.h's roundings);
//   4. online softmax per row: m_new = max(m, max_j s_j) (m_use = 0 while
//      m_new = -inf), alpha = exp(m - m_use), p_j = exp(s_j - m_use),
//      l = fmaf(l, alpha, sum_j p_j) with the sum over the lane's keys in
//      order, then the xor-butterfly over lanes 16, 8, 4, 2, 1;
//      acc *= alpha; P stores round(p_j) (FlashAttention's P.V in dtype);
//   5. acc[dim] = fmaf(P_j, V[j][dim], acc) for j ascending; lane owns dims
//      lane + 32 t (below a head_dim that is not a multiple of 32, such as
//      16, the last t leaves the upper lanes without a dim).
// The result is unnormalised: out = acc / l.
constexpr char kTileLoop[] = R"(
constexpr int kThreads = kWarps * 32;
constexpr int kBlockM = kWarps * kRowsPerWarp;
constexpr int kKeysPerLane = kBlockN / 32;
constexpr int kDimsPerLane = (kHeadDim + 31) / 32;
constexpr int kKStride = kHeadDim + 4;
constexpr int kGroup = kHeads / kKvHeads;

__device__ __forceinline__ float kiln_neg_inf() { return __int_as_float(0xff800000); }

// Whether the lane owns a dim in accumulator slot t; always true (and
// folded away) when head_dim is a multiple of 32.
__device__ __forceinline__ bool kiln_lane_has_dim(int t, int lane) {
  return kHeadDim % 32 == 0 || t * 32 + lane < kHeadDim;
}

// Dynamic shared memory, in floats: q rows, K tile (padded rows), V tile,
// each row's rounded probabilities; then ints: each row's position (-1 for
// an idle or faulted row) and first visible slot.
struct KilnShared {
  float* q;
  float* k;
  float* v;
  float* p;
  int* pos;
  int* first;
};

__device__ __forceinline__ KilnShared kiln_shared() {
  KILN_DYNAMIC_SHARED(float4, kiln_smem);
  KilnShared s;
  s.q = reinterpret_cast<float*>(kiln_smem);
  s.k = s.q + kBlockM * kHeadDim;
  s.v = s.k + kBlockN * kKStride;
  s.p = s.v + kBlockN * kHeadDim;
  s.pos = reinterpret_cast<int*>(s.p + kBlockM * kBlockN);
  s.first = s.pos + kBlockM;
  return s;
}

// Per-lane state of the warp's rows: running max, running sum and the
// lane's output dims.
struct KilnRows {
  float m[kRowsPerWarp];
  float l[kRowsPerWarp];
  float acc[kRowsPerWarp][kDimsPerLane];
};

// Row r's position and first visible slot, or (-1, 0) for no row. A
// position outside the cache sets the fault flag and idles the row.
__device__ __forceinline__ void kiln_set_row(const KilnShared& sh, int r, bool valid, int p,
                                             int capacity, int window, int* fault) {
  int first = 0;
  if (valid && (p < 0 || p >= capacity)) {
    *fault = 1;
    valid = false;
  }
  if (valid && window > 0) first = max(0, p - window + 1);
  sh.pos[r] = valid ? p : -1;
  sh.first[r] = first;
}

// [lo, hi) covering every valid row's visible slots; (0, 0) without rows.
__device__ __forceinline__ void kiln_block_range(const KilnShared& sh, int* lo, int* hi) {
  int a = 0x7fffffff, b = 0;
  for (int r = 0; r < kBlockM; ++r) {
    if (sh.pos[r] >= 0) {
      a = min(a, sh.first[r]);
      b = max(b, sh.pos[r] + 1);
    }
  }
  *lo = b > 0 ? a : 0;
  *hi = b;
}

__device__ __forceinline__ void kiln_attn_tiles(const kiln_io_t* __restrict__ k_cache,
                                                const kiln_io_t* __restrict__ v_cache,
                                                long long kv_row0, int lo, int hi, float scale,
                                                const KilnShared& sh, KilnRows& st) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float neg_inf = kiln_neg_inf();
  int row_lo[kRowsPerWarp], row_hi[kRowsPerWarp];  // inclusive visible slots
  int warp_lo = 0x7fffffff, warp_hi = -1;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = warp * kRowsPerWarp + r;
    row_lo[r] = max(sh.first[row], lo);
    row_hi[r] = min(sh.pos[row], hi - 1);
    if (row_lo[r] <= row_hi[r]) {
      warp_lo = min(warp_lo, row_lo[r]);
      warp_hi = max(warp_hi, row_hi[r]);
    }
    st.m[r] = neg_inf;
    st.l[r] = 0.f;
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) st.acc[r][t] = 0.f;
  }
  for (int tile = lo / kBlockN * kBlockN; tile < hi; tile += kBlockN) {
    __syncthreads();  // the previous tile's readers are done
    for (int e = threadIdx.x; e < kBlockN * kHeadDim / 4; e += kThreads) {
      const int j = e / (kHeadDim / 4), i = e % (kHeadDim / 4) * 4, key = tile + j;
      float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;
      if (key >= lo && key < hi) {
        const long long off = (kv_row0 + static_cast<long long>(key) * kKvHeads) * kHeadDim + i;
        kv = kiln_load4(k_cache + off);
        vv = kiln_load4(v_cache + off);
      }
      *reinterpret_cast<float4*>(sh.k + j * kKStride + i) = kv;
      *reinterpret_cast<float4*>(sh.v + j * kHeadDim + i) = vv;
    }
    __syncthreads();
    if (tile > warp_hi || tile + kBlockN <= warp_lo) continue;  // warp-uniform

    float s[kRowsPerWarp][kKeysPerLane];
#pragma unroll
    for (int kk = 0; kk < kKeysPerLane; ++kk) {
      const int j = kk * 32 + lane, key = tile + j;
      const float4* krow = reinterpret_cast<const float4*>(sh.k + j * kKStride);
      float dot[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) dot[r] = 0.f;
      // Not unrolled: the rows already give kRowsPerWarp independent fmaf
      // chains per float4, and unrolling pushed head_dim 256 past its
      // 128-register budget into spills.
#pragma unroll 1
      for (int i4 = 0; i4 < kHeadDim / 4; ++i4) {
        const float4 kx = krow[i4];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          const float4 qx =
              reinterpret_cast<const float4*>(sh.q + (warp * kRowsPerWarp + r) * kHeadDim)[i4];
          dot[r] = fmaf(qx.x, kx.x, dot[r]);
          dot[r] = fmaf(qx.y, kx.y, dot[r]);
          dot[r] = fmaf(qx.z, kx.z, dot[r]);
          dot[r] = fmaf(qx.w, kx.w, dot[r]);
        }
      }
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const bool visible = key >= row_lo[r] && key <= row_hi[r];
        s[r][kk] = visible ? kiln_round(__fmul_rn(kiln_round(dot[r]), scale)) : neg_inf;
      }
    }

#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      float tile_max = s[r][0];
#pragma unroll
      for (int kk = 1; kk < kKeysPerLane; ++kk) tile_max = fmaxf(tile_max, s[r][kk]);
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
      }
      const float m_new = fmaxf(st.m[r], tile_max);
      const float m_use = m_new == neg_inf ? 0.f : m_new;
      const float alpha = expf(st.m[r] - m_use);
      float sum = 0.f;
#pragma unroll
      for (int kk = 0; kk < kKeysPerLane; ++kk) {
        const float p = expf(s[r][kk] - m_use);
        sum = kk == 0 ? p : __fadd_rn(sum, p);
        sh.p[(warp * kRowsPerWarp + r) * kBlockN + kk * 32 + lane] = kiln_round(p);
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) sum = __fadd_rn(sum, __shfl_xor_sync(0xffffffffu, sum, o));
      st.l[r] = fmaf(st.l[r], alpha, sum);
      st.m[r] = m_new;
#pragma unroll
      for (int t = 0; t < kDimsPerLane; ++t) st.acc[r][t] = __fmul_rn(st.acc[r][t], alpha);
    }
    __syncwarp();

#pragma unroll 2
    for (int j = 0; j < kBlockN; ++j) {
      float v[kDimsPerLane];
#pragma unroll
      for (int t = 0; t < kDimsPerLane; ++t) {
        v[t] = kiln_lane_has_dim(t, lane) ? sh.v[j * kHeadDim + t * 32 + lane] : 0.f;
      }
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float p = sh.p[(warp * kRowsPerWarp + r) * kBlockN + j];
#pragma unroll
        for (int t = 0; t < kDimsPerLane; ++t) st.acc[r][t] = fmaf(p, v[t], st.acc[r][t]);
      }
    }
  }
}

// Widens the block's query rows into shared memory; `row_offset(r)` is the
// element offset of row r's query, or -1 for no row.
template <typename RowOffset>
__device__ __forceinline__ void kiln_load_queries(const kiln_io_t* __restrict__ q,
                                                  const KilnShared& sh, RowOffset row_offset) {
  for (int e = threadIdx.x; e < kBlockM * kHeadDim / 4; e += kThreads) {
    const int r = e / (kHeadDim / 4), i = e % (kHeadDim / 4) * 4;
    const long long off = row_offset(r);
    const float4 x = off >= 0 ? kiln_load4(q + off + i) : make_float4(0.f, 0.f, 0.f, 0.f);
    *reinterpret_cast<float4*>(sh.q + r * kHeadDim + i) = x;
  }
}
)";

// Grid (query tile, head, batch): rows are consecutive tokens of one head.
constexpr char kPrefillKernel[] = R"(
extern "C" __global__ void __launch_bounds__(kThreads, kMinBlocks)
$KERNEL(const kiln_io_t* __restrict__ q, const kiln_io_t* __restrict__ k_cache,
        const kiln_io_t* __restrict__ v_cache, const int* __restrict__ pos,
        kiln_io_t* __restrict__ out, int* __restrict__ fault, int seq, int capacity,
        float scale, int window) {
  const int b = blockIdx.z, h = blockIdx.y, s0 = blockIdx.x * kBlockM;
  const KilnShared sh = kiln_shared();
  for (int r = threadIdx.x; r < kBlockM; r += kThreads) {
    const bool valid = s0 + r < seq;
    kiln_set_row(sh, r, valid, valid ? pos[b * seq + s0 + r] : -1, capacity, window, fault);
  }
  kiln_load_queries(q, sh, [&](int r) -> long long {
    return s0 + r < seq ? (static_cast<long long>(b * seq + s0 + r) * kHeads + h) * kHeadDim : -1;
  });
  __syncthreads();
  int lo, hi;
  kiln_block_range(sh, &lo, &hi);
  KilnRows st;
  kiln_attn_tiles(k_cache, v_cache, static_cast<long long>(b) * capacity * kKvHeads + h / kGroup,
                  lo, hi, scale, sh, st);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = warp * kRowsPerWarp + r, s = s0 + row;
    if (s >= seq) continue;
    const bool ok = sh.pos[row] >= 0;
    kiln_io_t* o = out + (static_cast<long long>(b * seq + s) * kHeads + h) * kHeadDim;
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) {
      if (!kiln_lane_has_dim(t, lane)) continue;
      o[t * 32 + lane] = kiln_from_f32(ok ? __fdiv_rn(st.acc[r][t], st.l[r]) : 0.f);
    }
  }
}
)";

// Grid (split, kv head * row block, batch): rows are the (token, head)
// pairs of one KV head, row = token * kGroup + g, so the block reads each
// key once for all of them. The block's visible keys [lo, hi) are cut into
// `splits` chunks of a multiple of kBlockN, from the multiple of kBlockN
// below lo; this block takes chunk blockIdx.x and writes its rows'
// unnormalised (acc, m, l).
constexpr char kDecodeKernel[] = R"(
extern "C" __global__ void __launch_bounds__(kThreads, kMinBlocks)
$KERNEL(const kiln_io_t* __restrict__ q, const kiln_io_t* __restrict__ k_cache,
        const kiln_io_t* __restrict__ v_cache, const int* __restrict__ pos,
        float* __restrict__ part_acc, float* __restrict__ part_ml, int* __restrict__ fault,
        int seq, int capacity, float scale, int window, int splits) {
  const int rows = kGroup * seq, row_blocks = (rows + kBlockM - 1) / kBlockM;
  const int b = blockIdx.z, kvh = blockIdx.y / row_blocks, r0 = blockIdx.y % row_blocks * kBlockM;
  const int split = blockIdx.x;
  const KilnShared sh = kiln_shared();
  for (int r = threadIdx.x; r < kBlockM; r += kThreads) {
    const bool valid = r0 + r < rows;
    const int s = (r0 + r) / kGroup;
    kiln_set_row(sh, r, valid, valid ? pos[b * seq + s] : -1, capacity, window, fault);
  }
  kiln_load_queries(q, sh, [&](int r) -> long long {
    if (r0 + r >= rows) return -1;
    const int s = (r0 + r) / kGroup, h = kvh * kGroup + (r0 + r) % kGroup;
    return (static_cast<long long>(b * seq + s) * kHeads + h) * kHeadDim;
  });
  __syncthreads();
  int lo, hi;
  kiln_block_range(sh, &lo, &hi);
  const int base = lo / kBlockN * kBlockN;
  const int per_split = (hi - base + splits - 1) / splits;
  const int chunk = (per_split + kBlockN - 1) / kBlockN * kBlockN;
  const int c_lo = max(lo, base + split * chunk), c_hi = min(hi, base + (split + 1) * chunk);
  KilnRows st;
  kiln_attn_tiles(k_cache, v_cache, static_cast<long long>(b) * capacity * kKvHeads + kvh,
                  c_lo < c_hi ? c_lo : 0, c_lo < c_hi ? c_hi : 0, scale, sh, st);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = r0 + warp * kRowsPerWarp + r;
    if (row >= rows) continue;
    const int s = row / kGroup, h = kvh * kGroup + row % kGroup;
    const long long slot = (static_cast<long long>(b * seq + s) * kHeads + h) * splits + split;
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) {
      if (kiln_lane_has_dim(t, lane)) part_acc[slot * kHeadDim + t * 32 + lane] = st.acc[r][t];
    }
    if (lane == 0) {
      part_ml[slot * 2] = st.m[r];
      part_ml[slot * 2 + 1] = st.l[r];
    }
  }
}
)";

// One block per output row, one thread per dim: the splits' partials merged
// in split order, M = max_k m_k, w_k = exp(m_k - M) (0 for an empty split),
// out = round(sum_k w_k acc_k / sum_k w_k l_k), both sums fmaf chains.
constexpr char kCombineKernel[] = R"(
extern "C" __global__ void __launch_bounds__(kHeadDim)
$KERNEL(const float* __restrict__ part_acc, const float* __restrict__ part_ml,
        kiln_io_t* __restrict__ out, int splits) {
  const long long row = blockIdx.x;
  const int dim = threadIdx.x;
  const float neg_inf = __int_as_float(0xff800000);
  const float* ml = part_ml + row * splits * 2;
  float m_max = neg_inf;
  for (int k = 0; k < splits; ++k) m_max = fmaxf(m_max, ml[2 * k]);
  float l = 0.f, o = 0.f;
  for (int k = 0; k < splits; ++k) {
    const float w = ml[2 * k] == neg_inf ? 0.f : expf(ml[2 * k] - m_max);
    l = fmaf(ml[2 * k + 1], w, l);
    o = fmaf(part_acc[(row * splits + k) * kHeadDim + dim], w, o);
  }
  out[row * kHeadDim + dim] = kiln_from_f32(l > 0.f ? __fdiv_rn(o, l) : 0.f);
}
)";

// One block per token. Rotate-half RoPE with ir/op.h's roundings, each
// product and the sum rounded to dtype:
//   y[i]        = round(round(x[i] c) + round(-x[i + d/2] s))
//   y[i + d/2]  = round(round(x[i + d/2] c) + round(x[i] s))
// for q (into q_out) and k (into the k cache at the token's position); v is
// copied into the v cache. Each thread reads a pair before writing it, so
// q_out may alias q.
constexpr char kRopeKernel[] = R"(
constexpr int kHalf = kHeadDim / 2;

__device__ __forceinline__ void kiln_rotate(const kiln_io_t* x, kiln_io_t* y, int i, float c,
                                            float s) {
  const float x0 = kiln_to_f32(x[i]), x1 = kiln_to_f32(x[i + kHalf]);
  const float y0 = __fadd_rn(kiln_round(__fmul_rn(x0, c)), kiln_round(__fmul_rn(-x1, s)));
  const float y1 = __fadd_rn(kiln_round(__fmul_rn(x1, c)), kiln_round(__fmul_rn(x0, s)));
  y[i] = kiln_from_f32(y0);
  y[i + kHalf] = kiln_from_f32(y1);
}

extern "C" __global__ void __launch_bounds__(kRopeThreads)
$KERNEL(const kiln_io_t* q, const kiln_io_t* __restrict__ k, const kiln_io_t* __restrict__ v,
        const int* __restrict__ pos, const kiln_io_t* __restrict__ cos_sin, kiln_io_t* q_out,
        kiln_io_t* __restrict__ k_cache, kiln_io_t* __restrict__ v_cache,
        int* __restrict__ fault, int seq, int capacity) {
  const long long token = blockIdx.x;
  const long long b = token / seq;
  const int p = pos[token];
  if (p < 0 || p >= capacity) {
    if (threadIdx.x == 0) *fault = 1;
    for (int e = threadIdx.x; e < kHeads * kHeadDim; e += kRopeThreads) {
      q_out[token * kHeads * kHeadDim + e] = kiln_from_f32(0.f);
    }
    return;
  }
  const kiln_io_t* cs = cos_sin + static_cast<long long>(p) * kHeadDim;
  for (int e = threadIdx.x; e < kHeads * kHalf; e += kRopeThreads) {
    const int h = e / kHalf, i = e % kHalf;
    const long long off = (token * kHeads + h) * kHeadDim;
    kiln_rotate(q + off, q_out + off, i, kiln_to_f32(cs[i]), kiln_to_f32(cs[kHalf + i]));
  }
  const long long slot = (b * capacity + p) * kKvHeads * kHeadDim;
  for (int e = threadIdx.x; e < kKvHeads * kHalf; e += kRopeThreads) {
    const int h = e / kHalf, i = e % kHalf;
    kiln_rotate(k + (token * kKvHeads + h) * kHeadDim, k_cache + slot + h * kHeadDim, i,
                kiln_to_f32(cs[i]), kiln_to_f32(cs[kHalf + i]));
  }
  for (int e = threadIdx.x; e < kKvHeads * kHeadDim; e += kRopeThreads) {
    v_cache[slot + e] = v[token * kKvHeads * kHeadDim + e];
  }
}
)";

std::string IoFor(DType dtype) {
  if (dtype == DType::kF32) return kF32Io;
  const bool f16 = dtype == DType::kF16;
  return absl::StrCat("typedef unsigned short kiln_io_t;\n", f16 ? kF16ToF32 : kBF16ToF32,
                      absl::StrReplaceAll(kHalfIo, {{"$HALF", f16 ? "F16" : "BF16"}}));
}

}  // namespace

absl::StatusOr<std::string> RenderAttentionCuda(const KernelVariant& variant) {
  if (absl::Status valid = ValidateShape(variant.shape); !valid.ok()) return valid;
  const AttentionShape& shape = variant.shape;
  const TileConfig& tiles = variant.tiles;
  std::string source = absl::StrCat(
      "// Generated by codegen/attention/attention_cuda.cc: ", KernelName(variant), "\n",
      kCudaPtxPatterns, "constexpr int kHeadDim = ", shape.head_dim, ";\n", "constexpr int kHeads = ", shape.heads,
      ";\n", "constexpr int kKvHeads = ", shape.kv_heads, ";\n", IoFor(shape.dtype));
  switch (variant.kind) {
    case KernelKind::kPrefill:
    case KernelKind::kDecode:
      if (tiles.block_n != 32 && tiles.block_n != 64) {
        return absl::InvalidArgumentError(
            absl::StrCat("attention block_n must be 32 or 64, not ", tiles.block_n));
      }
      if (tiles.warps <= 0 || tiles.rows_per_warp <= 0 || tiles.min_blocks <= 0) {
        return absl::InvalidArgumentError(
            "attention tiles need warps, rows_per_warp and min_blocks > 0");
      }
      absl::StrAppend(&source, "constexpr int kWarps = ", tiles.warps, ";\n",
                      "constexpr int kRowsPerWarp = ", tiles.rows_per_warp, ";\n",
                      "constexpr int kBlockN = ", tiles.block_n, ";\n",
                      "constexpr int kMinBlocks = ", tiles.min_blocks, ";\n", kTileLoop,
                      variant.kind == KernelKind::kPrefill ? kPrefillKernel : kDecodeKernel);
      break;
    case KernelKind::kCombine:
      absl::StrAppend(&source, kCombineKernel);
      break;
    case KernelKind::kRopeKvWrite:
      absl::StrAppend(&source, "constexpr int kRopeThreads = ", kRopeThreads, ";\n", kRopeKernel);
      break;
  }
  return absl::StrReplaceAll(source, {{"$KERNEL", KernelName(variant)}});
}

}  // namespace kiln::codegen::attention
