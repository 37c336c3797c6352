// The AVX-512 level: u8 x s8 products with VNNI's vpdpbusd (4 products
// summed straight into int32, no int16 step). q4_0, q4_1, q8_0, q4_k, q5_k and q6_k
// run on 512-bit registers, four blocks of 32 of a row at a time (below): one row
// straight from the activation blocks, more (prefill, verify steps, batches)
// from activation quads unpacked once per call; f32, f16 and bf16 weights
// have their own tiles (float_gemm_avx512.cc). So the shared 256-bit
// kernels (quant_gemm_simd.inc) compiled into this library serve no format
// this level takes: they stay for a format added without an AVX-512 kernel.
// Compiled with the AVX-512 flags only in this library.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "base/quant_blocks.h"
#include "runtime/cpu/quant_gemm_internal.h"

namespace kiln::cpu::internal {
namespace avx512 {
namespace {

inline __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

constexpr int kTileR = 4, kTileM = 4;

#include "runtime/cpu/quant_gemm_simd.inc"

// ---- Decode (one row; groups of 4 past kMaxPackedQuads) on 512-bit registers
//
// A quad is 4 consecutive blocks of 32 (q4_0, q4_1, q8_0). Per weight row
// and activation row, a quad's integer sums land in one zmm of int32 with
// lanes 4j..4j+3 summing to block j's I, so one vector of per-block scales
// (each replicated over its 4 lanes) weights all four blocks with one FMA:
//   acc += (f32(I) * dx) * dw        (+ m * s for q4_1's min term),
// the activation row's dx, s and sums being read once per quad for all rows
// of the tile. A row's tail of 1-3 blocks runs the same code on masked
// (zero-filled) loads: zero codes, activations and scales add exact zeros.
//
// An activation quad is 4 ActBlocks (192 bytes, three zmm); its 128-bit
// lanes are q[0..15], q[16..31] and the block's {d, s, sum, sum16} in turn.

inline __mmask64 FirstBytes(int64_t n) {
  return n >= 64 ? ~__mmask64{0} : n <= 0 ? 0 : (__mmask64{1} << n) - 1;
}

template <bool kTail>
inline __m512i LoadZ(const void* p, int64_t valid_bytes) {
  if (kTail) return _mm512_maskz_loadu_epi8(FirstBytes(valid_bytes), p);
  return _mm512_loadu_si512(p);
}

// Picks 128-bit lanes of (z0, z1, z2) by qword indices: `i01` into z0:z1,
// then the lanes in `mask2` (qwords) from z2 by `i2`.
inline __m512i PickLanes(__m512i z0, __m512i z1, __m512i z2, __m512i i01, __mmask8 mask2,
                         __m512i i2) {
  return _mm512_mask_permutexvar_epi64(_mm512_permutex2var_epi64(z0, i01, z1), mask2, i2, z2);
}

// The activation side of a quad. `init` holds the format's integer
// correction -c * sum_j in lane 4j + 2 (zero elsewhere).
struct ActQuad {
  __m512i q0, q1;  // q[0..15] / q[16..31] of blocks 0..3
  __m512 dx;       // d_j in lanes 4j..4j+3
  __m512 s;        // s_j in lane 4j + 1, 0 elsewhere
  __m512i init;
  __m512i meta;  // block j's {d, s, sum, sum16} in lanes 4j..4j+3 (q6_k's half sums)
};

// kShift: init = -(sum << kShift), or none when negative.
template <int kShift, bool kTail>
inline ActQuad LoadActQuad(const ActBlock* a, int nb) {
  const auto* p = reinterpret_cast<const uint8_t*>(a);
  const int64_t bytes = 48 * nb;
  const __m512i z0 = LoadZ<kTail>(p, bytes), z1 = LoadZ<kTail>(p + 64, bytes - 64),
                z2 = LoadZ<kTail>(p + 128, bytes - 128);
  ActQuad q;
  // [z0.0 z0.3 z1.2 z2.1], [z0.1 z1.0 z1.3 z2.2]
  q.q0 = PickLanes(z0, z1, z2, _mm512_setr_epi64(0, 1, 6, 7, 12, 13, 0, 0), 0xC0,
                   _mm512_setr_epi64(0, 0, 0, 0, 0, 0, 2, 3));
  q.q1 = PickLanes(z0, z1, z2, _mm512_setr_epi64(2, 3, 8, 9, 14, 15, 0, 0), 0xC0,
                   _mm512_setr_epi64(0, 0, 0, 0, 0, 0, 4, 5));
  // {d, s, sum, sum16} of block j in lane j: [z0.2 z1.1 z2.0 z2.3].
  const __m512i meta = PickLanes(z0, z1, z2, _mm512_setr_epi64(4, 5, 10, 11, 0, 0, 0, 0), 0xF0,
                                 _mm512_setr_epi64(0, 0, 0, 0, 0, 1, 6, 7));
  const __m512 mf = _mm512_castsi512_ps(meta);
  q.meta = meta;
  q.dx = _mm512_permute_ps(mf, 0x00);
  q.s = _mm512_maskz_mov_ps(0x2222, mf);
  if (kShift >= 0) {
    q.init = _mm512_maskz_sub_epi32(0x4444, _mm512_setzero_si512(),
                                    _mm512_slli_epi32(meta, kShift >= 0 ? kShift : 0));
  } else {
    q.init = _mm512_setzero_si512();
  }
  return q;
}

// The weight side of a quad of one row: codes ready for vpdpbusd and the
// scales (dw_j over lanes 4j..4j+3; q4_1's m_j likewise; q6_k's integer
// scales of each unit's two halves of 16 in sa, sb).
struct WQuad {
  __m512i c0, c1;
  __m512 dw, mw;
  __m512i sa, sb;
};

inline __m512 HalvesToFloat(__m256i h) { return _mm512_cvtph_ps(h); }

// Every format's codes come in ActQuad's order: c0 holds elements 0..15 of
// blocks 0..3, c1 elements 16..31, so one Dot serves them all.
struct NibbleQuad {
  // q4_0 / q4_1: 64 bytes of nibbles (16 per block) -> low and high codes.
  static WQuad Split(__m512i qs, __m512 dw, __m512 mw) {
    const __m512i nib = _mm512_set1_epi8(0x0F);
    return {_mm512_and_si512(qs, nib),
            _mm512_and_si512(_mm512_srli_epi16(qs, 4), nib),
            dw,
            mw,
            _mm512_setzero_si512(),
            _mm512_setzero_si512()};
  }
  // What the activation side passes Dot (and a packed quad keeps) besides
  // its codes: the integer correction init.
  static __m512i Aux(const ActQuad& x) { return x.init; }
  static __m512i Dot(const WQuad& w, __m512i q0, __m512i q1, __m512i init) {
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(init, w.c0, q0), w.c1, q1);
  }
  // The quad's products as f32 lanes (before the activation and weight
  // scales dx, dw).
  static __m512 Products(const WQuad& w, __m512i q0, __m512i q1, __m512i init) {
    return _mm512_cvtepi32_ps(Dot(w, q0, q1, init));
  }
};

struct DecQ4_1 : NibbleQuad {
  static constexpr int kBytes = 20;
  static constexpr int kQuadBytes = 4 * kBytes;
  static constexpr bool kHasMin = true;
  static constexpr int kShift = -1;
  template <bool kTail>
  static WQuad Load(const uint8_t* row, int64_t q, int nb) {
    const uint8_t* p = row + q * 4 * kBytes;
    const int64_t bytes = kBytes * nb;
    const __m512i a = LoadZ<kTail>(p, bytes), b = LoadZ<kTail>(p + 16, bytes - 16);
    // qs of block j: dwords 5j+1..5j+4 (block 3 from b, which starts at dword 4).
    const __m512i qs = _mm512_permutex2var_epi32(
        a, _mm512_setr_epi32(1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 28, 29, 30, 31), b);
    // d_j is word 10j, m_j word 10j + 1.
    const __m512i dm = _mm512_permutexvar_epi16(
        _mm512_set_epi16(31, 31, 31, 31, 21, 21, 21, 21, 11, 11, 11, 11, 1, 1, 1, 1,  //
                         30, 30, 30, 30, 20, 20, 20, 20, 10, 10, 10, 10, 0, 0, 0, 0),
        a);
    return Split(qs, HalvesToFloat(_mm512_castsi512_si256(dm)),
                 HalvesToFloat(_mm512_extracti64x4_epi64(dm, 1)));
  }
};

struct DecQ4_0 : NibbleQuad {
  static constexpr int kBytes = 18;
  static constexpr int kQuadBytes = 4 * kBytes;
  static constexpr bool kHasMin = false;
  static constexpr int kShift = 3;  // codes are nibble + 8: I = sum nib q - 8 sum q
  template <bool kTail>
  static WQuad Load(const uint8_t* row, int64_t q, int nb) {
    const uint8_t* p = row + q * 4 * kBytes;
    const int64_t bytes = kBytes * nb;
    const __m512i a = LoadZ<kTail>(p, bytes), b = LoadZ<kTail>(p + 8, bytes - 8);
    // qs of block j: words 9j+1..9j+8 (block 3 from b, which starts at word 4).
    const __m512i qs = _mm512_permutex2var_epi16(
        a,
        _mm512_set_epi16(63, 62, 61, 60, 59, 58, 57, 56, 26, 25, 24, 23, 22, 21, 20, 19,  //
                         17, 16, 15, 14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1),
        b);
    const __m512i d = _mm512_permutexvar_epi16(
        _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                         27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0),
        a);
    return Split(qs, HalvesToFloat(_mm512_castsi512_si256(d)), _mm512_setzero_ps());
  }
};

#include "runtime/cpu/quant_gemm_avx512_kquants.inc"

// q8_0 in the same order as the nibble formats: c0 holds elements 0..15 of
// blocks 0..3, c1 elements 16..31, each 16-byte half gathered by word.
struct DecQ8_0 : NibbleQuad {
  static constexpr int kBytes = 34;
  static constexpr int kQuadBytes = 4 * kBytes;
  static constexpr bool kHasMin = false;
  static constexpr int kShift = 7;  // codes are w + 128: I = sum (w + 128) q - 128 sum q
  template <bool kTail>
  static WQuad Load(const uint8_t* row, int64_t q, int nb) {
    const uint8_t* p = row + q * 4 * kBytes;
    const int64_t bytes = kBytes * nb;
    // Block j spans bytes 34j..34j+33: d at word 17j, then the two halves.
    const __m512i a = LoadZ<kTail>(p, bytes), b = LoadZ<kTail>(p + 64, bytes - 64);
    const __m512i c = LoadZ<kTail>(p + 8, bytes - 8), e = LoadZ<kTail>(p + 72, bytes - 72);
    const __m512i lo = _mm512_permutex2var_epi16(  // words 17j+1..17j+8 of a:b
        a,
        _mm512_set_epi16(59, 58, 57, 56, 55, 54, 53, 52, 42, 41, 40, 39, 38, 37, 36, 35,  //
                         25, 24, 23, 22, 21, 20, 19, 18, 8, 7, 6, 5, 4, 3, 2, 1),
        b);
    const __m512i hi = _mm512_permutex2var_epi16(  // the same + 16 bytes, from c:e
        c,
        _mm512_set_epi16(63, 62, 61, 60, 59, 58, 57, 56, 46, 45, 44, 43, 42, 41, 40, 39,  //
                         29, 28, 27, 26, 25, 24, 23, 22, 12, 11, 10, 9, 8, 7, 6, 5),
        e);
    const __m512i d = _mm512_permutex2var_epi16(
        a,
        _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                         51, 51, 51, 51, 34, 34, 34, 34, 17, 17, 17, 17, 0, 0, 0, 0),
        b);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    return {_mm512_xor_si512(lo, flip),
            _mm512_xor_si512(hi, flip),
            HalvesToFloat(_mm512_castsi512_si256(d)),
            _mm512_setzero_ps(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512()};
  }
};

// Software prefetch distance in weight rows (the rows of a matrix are
// consecutive, so this is one sequential stream).
constexpr int kPrefetchRows = 8;

// Prefetches quad q of the weight row kPrefetchRows rows after `row`: one
// line per 64 bytes of quad.
template <class F>
inline void PrefetchQuadAhead(const uint8_t* row, int64_t row_bytes, int64_t q) {
  const uint8_t* ahead = row + kPrefetchRows * row_bytes + q * F::kQuadBytes;
  for (int l = 0; l < F::kQuadBytes; l += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(ahead + l), _MM_HINT_T0);
  }
}

// One quad (nb blocks) of R weight rows x M activation rows.
template <class F, int R, int M, bool kTail>
inline void DecodeQuad(const uint8_t* w, int64_t row_bytes, int64_t q, const ActBlock* a,
                       int64_t units, int nb, __m512 (&acc)[M][R]) {
  ActQuad x[M];
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    x[i] = LoadActQuad<F::kShift, kTail>(a + i * units, nb);
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const uint8_t* p = w + r * row_bytes;
    if (!kTail) PrefetchQuadAhead<F>(p, row_bytes, q);
    const WQuad wq = F::template Load<kTail>(p, q, nb);
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      const __m512 p = _mm512_mul_ps(F::Products(wq, x[i].q0, x[i].q1, F::Aux(x[i])), x[i].dx);
      acc[i][r] = _mm512_fmadd_ps(p, wq.dw, acc[i][r]);
      if (F::kHasMin) acc[i][r] = _mm512_fmadd_ps(wq.mw, x[i].s, acc[i][r]);
    }
  }
}

// The lane sums of a, b, c, d in one pass; each row's sum is added in the
// same order whatever the other three are.
inline __m128 Sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  // Per 128-bit lane: [a0+a2 b0+b2 a1+a3 b1+b3] and likewise for c, d.
  const __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// out[i * ldo + r] = the lane sum of acc[i][r].
template <int M, int R>
inline void StoreSums(const __m512 (&acc)[M][R], float* out, int64_t ldo) {
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    if (R == 4) {
      _mm_storeu_ps(out + i * ldo, Sum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    } else {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        out[i * ldo + r] = _mm_cvtss_f32(Sum4(acc[i][r], acc[i][r], acc[i][r], acc[i][r]));
      }
    }
  }
}

template <class F, int R, int M>
void DecodeTile(const uint8_t* w, int64_t row_bytes, const ActBlock* a, int64_t units,
                float* out, int64_t ldo) {
  __m512 acc[M][R];  // in registers only if every loop over it is unrolled
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  const int64_t quads = units / 4;
  for (int64_t q = 0; q < quads; ++q) {
    DecodeQuad<F, R, M, false>(w, row_bytes, q, a + 4 * q, units, 4, acc);
  }
  if (units % 4 != 0) {
    DecodeQuad<F, R, M, true>(w, row_bytes, quads, a + 4 * quads, units,
                              static_cast<int>(units % 4), acc);
  }
  StoreSums(acc, out, ldo);
}

template <class F, int M>
void DecodeRows(const ActBlock* a, const uint8_t* w, int64_t k, int64_t n_begin, int64_t n_end,
                float* out, int64_t ldo) {
  constexpr int R = M <= 2 ? 4 : 2;
  const int64_t units = k / 32, row_bytes = units * F::kQuadBytes / 4;
  int64_t j = n_begin;
  for (; j + R <= n_end; j += R) {
    DecodeTile<F, R, M>(w + j * row_bytes, row_bytes, a, units, out + j, ldo);
  }
  for (; j < n_end; ++j) DecodeTile<F, 1, M>(w + j * row_bytes, row_bytes, a, units, out + j, ldo);
}

template <class F>
void RunDecode(const void* act, const uint8_t* w, int64_t m, int64_t k, int64_t n_begin,
               int64_t n_end, float* out, int64_t ldo) {
  const auto* a = static_cast<const ActBlock*>(act);
  switch (m) {
    case 1: return DecodeRows<F, 1>(a, w, k, n_begin, n_end, out, ldo);
    case 2: return DecodeRows<F, 2>(a, w, k, n_begin, n_end, out, ldo);
    case 3: return DecodeRows<F, 3>(a, w, k, n_begin, n_end, out, ldo);
    default: return DecodeRows<F, 4>(a, w, k, n_begin, n_end, out, ldo);
  }
}

// QuantizeActivationRow (quant_gemm.cc) on zmm, with the same roundings:
// d = amax / 127 and id = InverseStep(d) as there, q = v * id rounded to nearest
// even by vcvtps2dq (the scalar path's 1.5 * 2^23 trick rounds alike).
void QuantizeRow(const float* x, int64_t k, ActBlock* out) {
  for (int64_t b = 0; b < k / 32; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127;
    const __m512 id = _mm512_set1_ps(InverseStep(d));
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
    ActBlock& a = out[b];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.q), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.q + 16), _mm512_cvtepi32_epi8(q1));
    const int s0 = _mm512_reduce_add_epi32(q0), s1 = _mm512_reduce_add_epi32(q1);
    a.d = d;
    a.sum = s0 + s1;
    a.sum16[0] = static_cast<int16_t>(s0);
    a.sum16[1] = static_cast<int16_t>(s1);
    a.s = d * static_cast<float>(a.sum);
  }
}

// ---- Prefill (m > 1) --------------------------------------------------------
//
// The same quad arithmetic with the activation side unpacked once per call:
// a group of activation rows becomes PackedQuads in a stack buffer, then
// every tile of kPackR weight rows x kPackM activation rows reads them as
// plain loads, so the lane shuffles of LoadActQuad run once per activation
// quad instead of once per weight tile. Rows longer than kMaxPackedQuads
// quads fall back to RunDecode on groups of 4 rows.

struct PackedQuad {
  __m512i q0, q1;
  __m512 dx;
  __m512i aux;  // formats with a min term: s (f32 bits); otherwise F::Aux
};

// 4 weight rows x 4 activation rows: 16 accumulators and 12-16 registers of
// decoded weights. The buffer holds kPackedBudget packed quads (128 KiB),
// at least kPackM rows of kMaxPackedQuads quads.
constexpr int kPackR = 4, kPackM = 4, kMaxPackedQuads = 64;
constexpr int64_t kPackedBudget = 512;

template <class F, bool kTail>
inline void PackQuad(const ActBlock* a, int nb, PackedQuad* out) {
  const ActQuad x = LoadActQuad<F::kShift, kTail>(a, nb);
  _mm512_store_si512(&out->q0, x.q0);
  _mm512_store_si512(&out->q1, x.q1);
  _mm512_store_ps(&out->dx, x.dx);
  _mm512_store_si512(&out->aux, F::kHasMin ? _mm512_castps_si512(x.s) : F::Aux(x));
}

// One quad (nb blocks) of R weight rows x M packed activation rows; per
// (row, activation row) the same operations in the same order as any other
// tile shape.
template <class F, int R, int M, bool kTail>
inline void PackedStep(const uint8_t* w, int64_t row_bytes, int64_t q, const PackedQuad* x,
                       int64_t quads, int nb, __m512 (&acc)[M][R]) {
  WQuad wq[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    if (!kTail) PrefetchQuadAhead<F>(w + r * row_bytes, row_bytes, q);
    wq[r] = F::template Load<kTail>(w + r * row_bytes, q, nb);
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    const PackedQuad& xq = x[i * quads];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i aux = F::kHasMin ? _mm512_setzero_si512() : xq.aux;
      const __m512 p = _mm512_mul_ps(F::Products(wq[r], xq.q0, xq.q1, aux), xq.dx);
      acc[i][r] = _mm512_fmadd_ps(p, wq[r].dw, acc[i][r]);
      if (F::kHasMin) acc[i][r] = _mm512_fmadd_ps(wq[r].mw, _mm512_castsi512_ps(xq.aux), acc[i][r]);
    }
  }
}

template <class F, int R, int M>
void PackedTile(const uint8_t* w, int64_t row_bytes, const PackedQuad* x, int64_t units,
                float* out, int64_t ldo) {
  __m512 acc[M][R];  // in registers only if every loop over it is unrolled
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  const int64_t full = units / 4, quads = (units + 3) / 4;
  for (int64_t q = 0; q < full; ++q) {
    PackedStep<F, R, M, false>(w, row_bytes, q, x + q, quads, 4, acc);
  }
  if (full != quads) {
    PackedStep<F, R, M, true>(w, row_bytes, full, x + full, quads, static_cast<int>(units % 4),
                              acc);
  }
  StoreSums(acc, out, ldo);
}

// A format's prefill tile: F::kPackR weight rows x F::kPackM activation
// rows where it sets them (k-quants, whose quads cost more to decode, take
// fewer weight rows against more activation rows), else kPackR x kPackM.
template <class F>
constexpr int PackR() {
  if constexpr (requires { F::kPackR; }) return F::kPackR;
  return kPackR;
}
template <class F>
constexpr int PackM() {
  if constexpr (requires { F::kPackM; }) return F::kPackM;
  return kPackM;
}

// PackedTile with M = `rows` (1 <= rows <= kM).
template <class F, int R, int kM>
void PackedTileRows(int64_t rows, const uint8_t* w, int64_t row_bytes, const PackedQuad* x,
                    int64_t units, float* out, int64_t ldo) {
  if (rows == kM) return PackedTile<F, R, kM>(w, row_bytes, x, units, out, ldo);
  if constexpr (kM > 1) PackedTileRows<F, R, kM - 1>(rows, w, row_bytes, x, units, out, ldo);
}

// Tiles of R weight rows from w on against `rows` packed activation rows
// (groups of up to PackM<F>()).
template <class F, int R>
void PackedColumn(const uint8_t* w, int64_t row_bytes, const PackedQuad* x, int64_t units,
                  int64_t quads, int64_t rows, float* out, int64_t ldo) {
  constexpr int M = PackM<F>();
  for (int64_t g = 0; g < rows; g += M) {
    PackedTileRows<F, R, M>(std::min<int64_t>(M, rows - g), w, row_bytes, x + g * quads, units,
                            out + g * ldo, ldo);
  }
}

template <class F>
void RunPrefill(const void* act, const uint8_t* w, int64_t m, int64_t k, int64_t n_begin,
                int64_t n_end, float* out, int64_t ldo) {
  const auto* a = static_cast<const ActBlock*>(act);
  const int64_t units = k / 32, quads = (units + 3) / 4;
  const int64_t row_bytes = units * F::kQuadBytes / 4;
  if (quads > kMaxPackedQuads) {
    for (int64_t i = 0; i < m; i += 4) {
      RunDecode<F>(a + i * units, w, std::min<int64_t>(4, m - i), k, n_begin, n_end,
                   out + i * ldo, ldo);
    }
    return;
  }
  // As many activation rows as the buffer holds are packed at once, and each
  // tile of weight rows meets all of them before the next tile: the weights
  // are streamed from memory once per group of `group` rows, not once per 4.
  alignas(64) PackedQuad packed[kPackedBudget];
  constexpr int PM = PackM<F>(), PR = PackR<F>();
  static_assert(PM * kMaxPackedQuads <= kPackedBudget, "a group of PackM rows must fit the buffer");
  const int64_t group = std::max<int64_t>(PM, kPackedBudget / quads / PM * PM);
  for (int64_t i0 = 0; i0 < m; i0 += group) {
    const int64_t rows = std::min<int64_t>(group, m - i0);
    for (int64_t i = 0; i < rows; ++i) {
      const ActBlock* ar = a + (i0 + i) * units;
      for (int64_t q = 0; q < units / 4; ++q) {
        PackQuad<F, false>(ar + 4 * q, 4, &packed[i * quads + q]);
      }
      if (units % 4 != 0) {
        PackQuad<F, true>(ar + units / 4 * 4, static_cast<int>(units % 4),
                          &packed[i * quads + units / 4]);
      }
    }
    float* o = out + i0 * ldo;
    int64_t j = n_begin;
    for (; j + PR <= n_end; j += PR) {
      PackedColumn<F, PR>(w + j * row_bytes, row_bytes, packed, units, quads, rows, o + j, ldo);
    }
    for (; j < n_end; ++j) {
      PackedColumn<F, 1>(w + j * row_bytes, row_bytes, packed, units, quads, rows, o + j, ldo);
    }
  }
}

template <class F>
void RunQuads(const void* act, const uint8_t* w, int64_t m, int64_t k, int64_t n_begin,
              int64_t n_end, float* out, int64_t ldo) {
  // One row: straight from the activation blocks. From two rows on the
  // packed path is faster (verify steps of 2 and 4 tokens 1.1-1.6x, docs/
  // PERFORMANCE.md): the decode tile unpacks each activation quad once per
  // tile of weight rows, and spills at 2 x 4.
  if (m == 1) return RunDecode<F>(act, w, m, k, n_begin, n_end, out, ldo);
  RunPrefill<F>(act, w, m, k, n_begin, n_end, out, ldo);
}

// A format with a quad kernel: RunQuads; false otherwise.
bool TryDecode(KILN_GEMM_ROWS_ARGS) {
  switch (w) {
    case DType::kQ8_0: RunQuads<DecQ8_0>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo); break;
    case DType::kQ4_0: RunQuads<DecQ4_0>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo); break;
    case DType::kQ4_1: RunQuads<DecQ4_1>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo); break;
    case DType::kQ4_K:
      RunQuads<DecQ4K>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
      break;
    case DType::kQ5_K:
      RunQuads<DecQ5K>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
      break;
    case DType::kQ6_K:
      RunQuads<DecQ6K>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
      break;
    default: return false;
  }
  return true;
}

}  // namespace
}  // namespace avx512

void QuantizeActivationRowAvx512(const float* x, int64_t k, ActBlock* out) {
  avx512::QuantizeRow(x, k, out);
}

void GemmRowsAvx512(KILN_GEMM_ROWS_ARGS) {
  if (avx512::TryDecode(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo)) return;
  if (FloatGemmRowsAvx512(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo)) return;
  avx512::GemmRowsImpl(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
}

}  // namespace kiln::cpu::internal
