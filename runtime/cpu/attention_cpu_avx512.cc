// The AVX-512 attention kernel (F/BW/VL/DQ with FMA and F16C): 16 lanes,
// masked tails, exp by range reduction and a degree-7 polynomial.
// Everything after the pragma is compiled for AVX-512 and is only called
// when BestAttentionIsa() (or a test) chose it.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/dtype.h"
#include "base/half.h"
#include "runtime/cpu/attention_cpu_internal.h"

#pragma GCC push_options
// GCC 12's intrinsic headers start some results from a deliberately
// undefined register, which -Wmaybe-uninitialized reports once inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

#include "runtime/cpu/attention_cpu_kernel.h"

namespace kiln::cpu::attention_internal {
namespace {

inline __mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// e^x for x <= 88.7 in f32 (about 2 ulp): x = n ln2 + r with |r| <= ln2/2
// (ln2 split in two so n ln2 is exact enough), e^r by its Taylor series to
// r^7 (truncation < 1e-8 relative), then e^x = e^r 2^n by scalef, which
// also underflows gracefully. -inf and very negative x give 0.
inline __m512 Exp(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-6f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Round to nearest even into bf16, as the 32-bit pattern of the result
// (low 16 bits zero). NaN stays a quiet NaN of the same sign.
inline __m512i RoundBF16Bits(__m512 x) {
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  rounded = _mm512_and_si512(rounded, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512i quiet = _mm512_and_si512(_mm512_or_si512(bits, _mm512_set1_epi32(0x00400000)),
                                         _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
  return _mm512_mask_blend_epi32(nan, rounded, quiet);
}

// x rounded to dtype's precision, kept in f32 (RoundToDType, 16 lanes).
inline __m512 Round(__m512 x, DType dtype) {
  if (dtype == DType::kF16) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  if (dtype == DType::kBF16) return _mm512_castsi512_ps(RoundBF16Bits(x));
  return x;
}

struct Avx512Ops {
  static void ToF32(const void* src, DType dtype, int64_t n, float* dst) {
    if (dtype == DType::kF32) {
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    }
    const uint16_t* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n - i);
      const __m256i raw = _mm256_maskz_loadu_epi16(mask, h + i);
      const __m512 f = dtype == DType::kF16
                           ? _mm512_cvtph_ps(raw)
                           : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
      _mm512_mask_storeu_ps(dst + i, mask, f);
    }
  }

  static void FromF32(const float* src, int64_t n, DType dtype, void* dst) {
    if (dtype == DType::kF32) {
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    }
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n - i);
      const __m512 x = _mm512_maskz_loadu_ps(mask, src + i);
      const __m256i narrow = dtype == DType::kF16
                                 ? _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
                                 : _mm512_cvtepi32_epi16(_mm512_srli_epi32(RoundBF16Bits(x), 16));
      _mm256_mask_storeu_epi16(h + i, mask, narrow);
    }
  }

  // Four keys at a time: four accumulators, then one transposing
  // reduction tree that sums each accumulator's 16 lanes in the same order
  // (a key's score does not depend on its place in the four); the last
  // group is padded with a zero accumulator.
  static void Scores(const float* q, const float* k, int64_t stride, int64_t n, int64_t d,
                     float* s) {
    for (int64_t j = 0; j < n; j += 4) {
      const int64_t keys = std::min<int64_t>(4, n - j);
      __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                       _mm512_setzero_ps()};
      // A group short of four repeats its first key (read, then ignored),
      // so the loop keeps its four accumulators in registers.
      const float* kr[4];
      for (int u = 0; u < 4; ++u) kr[u] = k + (j + (u < keys ? u : 0)) * stride;
      for (int64_t i = 0; i < d; i += 16) {
        const __mmask16 mask = d - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(d - i);
        const __m512 qv = _mm512_maskz_loadu_ps(mask, q + i);
        acc[0] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mask, kr[0] + i), acc[0]);
        acc[1] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mask, kr[1] + i), acc[1]);
        acc[2] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mask, kr[2] + i), acc[2]);
        acc[3] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mask, kr[3] + i), acc[3]);
      }
      const __m512 s01 =
          _mm512_add_ps(_mm512_unpacklo_ps(acc[0], acc[1]), _mm512_unpackhi_ps(acc[0], acc[1]));
      const __m512 s23 =
          _mm512_add_ps(_mm512_unpacklo_ps(acc[2], acc[3]), _mm512_unpackhi_ps(acc[2], acc[3]));
      const __m512 t =
          _mm512_add_ps(_mm512_shuffle_ps(s01, s23, 0x44), _mm512_shuffle_ps(s01, s23, 0xEE));
      const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1));
      const __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      alignas(16) float four[4];
      _mm_store_ps(four, r);
      for (int64_t u = 0; u < keys; ++u) s[j + u] = four[u];
    }
  }

  static void ScaleScores(float* s, int64_t n, DType dtype, float scale) {
    const __m512 vs = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n - i);
      const __m512 x = _mm512_maskz_loadu_ps(mask, s + i);
      _mm512_mask_storeu_ps(s + i, mask, Round(_mm512_mul_ps(Round(x, dtype), vs), dtype));
    }
  }

  static float Max(const float* s, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n - i);
      m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask, s + i));
    }
    return _mm512_reduce_max_ps(m);
  }

  static float ExpScores(float* s, int64_t n, float m, DType dtype) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n - i);
      const __m512 p = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + i), vm));
      sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mask, p));
      _mm512_mask_storeu_ps(s + i, mask, Round(p, dtype));
    }
    return _mm512_reduce_add_ps(sum);
  }

  // acc = alpha acc + sum_i p_i v_i, 64 columns at a time held in four
  // registers across the whole key loop.
  static void Accumulate(float* acc, float alpha, const float* p, const float* v, int64_t stride,
                         int64_t n, int64_t d) {
    const __m512 va = _mm512_set1_ps(alpha);
    auto mask_at = [d](int64_t x) {
      const int64_t left = d - x;
      return left >= 16  ? static_cast<__mmask16>(0xFFFF)
             : left <= 0 ? static_cast<__mmask16>(0)
                         : TailMask(left);
    };
    for (int64_t x = 0; x < d; x += 64) {
      // Four named registers (an array indexed in a loop would live in
      // memory at -O2).
      const __mmask16 m0 = mask_at(x), m1 = mask_at(x + 16), m2 = mask_at(x + 32),
                      m3 = mask_at(x + 48);
      __m512 a0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(m0, acc + x), va);
      __m512 a1 = _mm512_mul_ps(_mm512_maskz_loadu_ps(m1, acc + x + 16), va);
      __m512 a2 = _mm512_mul_ps(_mm512_maskz_loadu_ps(m2, acc + x + 32), va);
      __m512 a3 = _mm512_mul_ps(_mm512_maskz_loadu_ps(m3, acc + x + 48), va);
      for (int64_t i = 0; i < n; ++i) {
        const __m512 w = _mm512_set1_ps(p[i]);
        const float* vi = v + i * stride + x;
        a0 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m0, vi), a0);
        a1 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m1, vi + 16), a1);
        a2 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m2, vi + 32), a2);
        a3 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m3, vi + 48), a3);
      }
      _mm512_mask_storeu_ps(acc + x, m0, a0);
      _mm512_mask_storeu_ps(acc + x + 16, m1, a1);
      _mm512_mask_storeu_ps(acc + x + 32, m2, a2);
      _mm512_mask_storeu_ps(acc + x + 48, m3, a3);
    }
  }
};

}  // namespace

void AttentionItemsAvx512(const ItemArgs& args, int64_t begin, int64_t end) {
  RunAttentionItems<Avx512Ops>(args, begin, end);
}

}  // namespace kiln::cpu::attention_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options
