// The AVX2 level: u8 x s8 products through vpmaddubsw (pairs into int16;
// no saturation for the codes here: 255 x 127 x 2 would, but q8_0 goes
// through |w| <= 128 and 4- to 6-bit codes stay far below; q4_0's and q4_1's tiles
// and q4_k's also sum a unit's pairs in int16, bounded in their rows8 files)
// and vpmaddwd.
// Compiled with -mavx2 -mfma -mf16c only in this library.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "base/quant_blocks.h"
#include "runtime/cpu/quant_gemm_internal.h"

namespace kiln::cpu::internal {
namespace avx2 {
namespace {

inline __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// 16 ymm registers: 2 weight rows x 4 activation rows of accumulators.
constexpr int kTileR = 2, kTileM = 4;

#include "runtime/cpu/quant_gemm_simd.inc"

// QuantizeActivationRow (quant_gemm.cc) on ymm with the same roundings:
// d = amax / 127 and id = InverseStep(d) as there, q = v * id rounded to nearest
// even by vcvtps2dq (the scalar path's 1.5 * 2^23 trick rounds alike for
// |v * id| <= 127). The max of |v| is exact in any order.
void QuantizeRow(const float* x, int64_t k, ActBlock* out) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int64_t b = 0; b < k / 32; ++b) {
    __m256 v[4];
    for (int t = 0; t < 4; ++t) v[t] = _mm256_loadu_ps(x + 32 * b + 8 * t);
    const __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                      _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float d = _mm_cvtss_f32(h) / 127;
    const __m256 id = _mm256_set1_ps(InverseStep(d));
    __m256i q[4];
    for (int t = 0; t < 4; ++t) q[t] = _mm256_cvtps_epi32(_mm256_mul_ps(v[t], id));
    // packs interleave the 128-bit lanes: bytes come out in dword order
    // 0 2 4 6 1 3 5 7, which the permute puts back.
    const __m256i bytes =
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    ActBlock& a = out[b];
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(a.q),
        _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const int32_t s0 = HorizontalSumI32(_mm256_add_epi32(q[0], q[1]));
    const int32_t s1 = HorizontalSumI32(_mm256_add_epi32(q[2], q[3]));
    a.d = d;
    a.sum = s0 + s1;
    a.sum16[0] = static_cast<int16_t>(s0);
    a.sum16[1] = static_cast<int16_t>(s1);
    a.s = d * static_cast<float>(a.sum);
  }
}

}  // namespace
}  // namespace avx2

void QuantizeActivationRowAvx2(const float* x, int64_t k, ActBlock* out) {
  avx2::QuantizeRow(x, k, out);
}

void GemmRowsAvx2(KILN_GEMM_ROWS_ARGS) {
  avx2::GemmRowsImpl(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
}

}  // namespace kiln::cpu::internal
