// The AVX2 attention kernel (AVX2 + FMA + F16C): 8 lanes, scalar tails,
// exp by range reduction and a degree-7 polynomial. Everything after the
// pragma is compiled for AVX2 and only called when it was chosen.
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
#pragma GCC target("avx2,fma,f16c")

#include "runtime/cpu/attention_cpu_kernel.h"

namespace kiln::cpu::attention_internal {
namespace {

// e^x as in the AVX-512 kernel, with 2^n built in the exponent field;
// x below -87.3 (where 2^n would leave the normal range) gives 0.
inline __m256 Exp(__m256 x) {
  const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-6f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(tiny, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

inline __m256 Round(__m256 x, DType dtype) {
  if (dtype == DType::kF16) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  if (dtype == DType::kBF16) {
    // Round to nearest even on the bit pattern; NaN lanes keep x.
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
    rounded = _mm256_and_si256(rounded, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u)));
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return _mm256_blendv_ps(_mm256_castsi256_ps(rounded), x, nan);
  }
  return x;
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float HorizontalMax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct Avx2Ops {
  static void ToF32(const void* src, DType dtype, int64_t n, float* dst) {
    if (dtype == DType::kF32) {
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    }
    const uint16_t* h = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i));
      _mm256_storeu_ps(dst + i, dtype == DType::kF16 ? _mm256_cvtph_ps(raw)
                                                     : _mm256_castsi256_ps(_mm256_slli_epi32(
                                                           _mm256_cvtepu16_epi32(raw), 16)));
    }
    ToF32Scalar(h + i, dtype, n - i, dst + i);
  }

  // Outputs are a row per query head: not worth a vector path here.
  static void FromF32(const float* src, int64_t n, DType dtype, void* dst) {
    FromF32Scalar(src, n, dtype, dst);
  }

  // Four keys at a time with one transposing reduction tree, as in the
  // AVX-512 kernel; the columns past d / 8 * 8 are added last, in order.
  static void Scores(const float* q, const float* k, int64_t stride, int64_t n, int64_t d,
                     float* s) {
    const int64_t vec_d = d / 8 * 8;
    for (int64_t j = 0; j < n; j += 4) {
      const int64_t keys = std::min<int64_t>(4, n - j);
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      // A group short of four repeats its first key (read, then ignored).
      const float* kr[4];
      for (int u = 0; u < 4; ++u) kr[u] = k + (j + (u < keys ? u : 0)) * stride;
      for (int64_t i = 0; i < vec_d; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        acc[0] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[0] + i), acc[0]);
        acc[1] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[1] + i), acc[1]);
        acc[2] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[2] + i), acc[2]);
        acc[3] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[3] + i), acc[3]);
      }
      const __m256 s01 =
          _mm256_add_ps(_mm256_unpacklo_ps(acc[0], acc[1]), _mm256_unpackhi_ps(acc[0], acc[1]));
      const __m256 s23 =
          _mm256_add_ps(_mm256_unpacklo_ps(acc[2], acc[3]), _mm256_unpackhi_ps(acc[2], acc[3]));
      const __m256 t =
          _mm256_add_ps(_mm256_shuffle_ps(s01, s23, 0x44), _mm256_shuffle_ps(s01, s23, 0xEE));
      const __m128 r = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
      alignas(16) float four[4];
      _mm_store_ps(four, r);
      for (int64_t u = 0; u < keys; ++u) {
        float sum = four[u];
        for (int64_t i = vec_d; i < d; ++i) sum += q[i] * k[(j + u) * stride + i];
        s[j + u] = sum;
      }
    }
  }

  static void ScaleScores(float* s, int64_t n, DType dtype, float scale) {
    const __m256 vs = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(s + i,
                       Round(_mm256_mul_ps(Round(_mm256_loadu_ps(s + i), dtype), vs), dtype));
    }
    for (; i < n; ++i) s[i] = RoundToDType(RoundToDType(s[i], dtype) * scale, dtype);
  }

  static float Max(const float* s, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + i));
    float best = HorizontalMax(m);
    for (; i < n; ++i) best = std::max(best, s[i]);
    return best;
  }

  static float ExpScores(float* s, int64_t n, float m, DType dtype) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 p = Exp(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
      sum = _mm256_add_ps(sum, p);
      _mm256_storeu_ps(s + i, Round(p, dtype));
    }
    float total = HorizontalSum(sum);
    if (i < n) {
      // The tail through the same vector exp, padded with -inf (e^-inf = 0).
      alignas(32) float tail[8];
      for (int u = 0; u < 8; ++u) tail[u] = i + u < n ? s[i + u] : -INFINITY;
      const __m256 p = Exp(_mm256_sub_ps(_mm256_load_ps(tail), vm));
      total += HorizontalSum(p);
      _mm256_store_ps(tail, Round(p, dtype));
      for (int64_t u = 0; i + u < n; ++u) s[i + u] = tail[u];
    }
    return total;
  }

  // acc = alpha acc + sum_i p_i v_i, 32 columns at a time held in four
  // registers across the key loop, then 8, then a scalar loop for d % 8.
  static void Accumulate(float* acc, float alpha, const float* p, const float* v, int64_t stride,
                         int64_t n, int64_t d) {
    const __m256 va = _mm256_set1_ps(alpha);
    int64_t x = 0;
    for (; x + 32 <= d; x += 32) {  // four named registers across the key loop
      __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + x), va);
      __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + x + 8), va);
      __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + x + 16), va);
      __m256 a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + x + 24), va);
      for (int64_t i = 0; i < n; ++i) {
        const __m256 w = _mm256_set1_ps(p[i]);
        const float* vi = v + i * stride + x;
        a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi), a0);
        a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 8), a1);
        a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 16), a2);
        a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 24), a3);
      }
      _mm256_storeu_ps(acc + x, a0);
      _mm256_storeu_ps(acc + x + 8, a1);
      _mm256_storeu_ps(acc + x + 16, a2);
      _mm256_storeu_ps(acc + x + 24, a3);
    }
    for (; x + 8 <= d; x += 8) {
      __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + x), va);
      for (int64_t i = 0; i < n; ++i) {
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[i]), _mm256_loadu_ps(v + i * stride + x), a0);
      }
      _mm256_storeu_ps(acc + x, a0);
    }
    for (; x < d; ++x) {
      float a = acc[x] * alpha;
      for (int64_t i = 0; i < n; ++i) a += p[i] * v[i * stride + x];
      acc[x] = a;
    }
  }
};

}  // namespace

void AttentionItemsAvx2(const ItemArgs& args, int64_t begin, int64_t end) {
  RunAttentionItems<Avx2Ops>(args, begin, end);
}

}  // namespace kiln::cpu::attention_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options
