// The float weight formats (f32, f16, bf16) on 512-bit registers: the same
// dot-product tiles as the 256-bit kernels of quant_gemm_simd.inc (R weight
// rows x M activation rows, one accumulator each, summed across lanes at
// the end), 16 columns a step, and the row's last k % 16 columns through
// masked loads (zeros add nothing). Every (row, activation row) pair runs
// the same operations in the same order whatever the tile shape, so a row
// range split anywhere computes the same values. Compiled with the AVX-512
// flags only in this library.
#include <immintrin.h>

#include <cstdint>

#include "runtime/cpu/quant_gemm_internal.h"

namespace kiln::cpu::internal {
namespace {

struct LoadF32 {
  static constexpr int kSize = 4;
  static __m512 Load(const uint8_t* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LoadF16 {
  static constexpr int kSize = 2;
  static __m512 Load(const uint8_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct LoadBF16 {  // bf16 is the top half of an f32: widen and shift (exact)
  static constexpr int kSize = 2;
  static __m512 Load(const uint8_t* p, __mmask16 m) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
};

// One step of 16 columns from c on (masked: the row's last k % 16).
template <class L, int R, int M>
__attribute__((always_inline)) inline void FloatStep(const uint8_t* w, int64_t row_bytes,
                                                     const float* x, int64_t k, int64_t c,
                                                     __mmask16 mask, __m512 (&acc)[M][R]) {
  __m512 wv[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) wv[r] = L::Load(w + r * row_bytes + c * L::kSize, mask);
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * k + c);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(wv[r], xv, acc[i][r]);
  }
}

// out[i * ldo + r] = x[i] . w[r] for R rows of w and M rows of x. The
// accumulators must stay in registers: the step is an always-inline
// function, not a lambda capturing them (GCC then kept them in memory,
// storing all R x M after every step, a quarter of the FMA rate).
template <class L, int R, int M>
void FloatTile(const uint8_t* w, int64_t row_bytes, const float* x, int64_t k, float* out,
               int64_t ldo) {
  __m512 acc[M][R];
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) FloatStep<L, R, M>(w, row_bytes, x, k, c, 0xFFFF, acc);
  if (c < k) {
    FloatStep<L, R, M>(w, row_bytes, x, k, c, static_cast<__mmask16>((1u << (k - c)) - 1), acc);
  }
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) out[i * ldo + r] = _mm512_reduce_add_ps(acc[i][r]);
  }
}

// Tiles rows [n_begin, n_end) x [0, m) as the 256-bit kernels do: 4 x 4
// (4 x 1 for a single activation row), single rows and rows of x at the edges.
template <class L>
void RunFloat(const void* x_in, const uint8_t* w, int64_t m, int64_t k, int64_t n_begin,
              int64_t n_end, float* out, int64_t ldo) {
  const auto* x = static_cast<const float*>(x_in);
  const int64_t row_bytes = k * L::kSize;
  auto tile = [&]<int R, int M>(int64_t j, int64_t i) {
    FloatTile<L, R, M>(w + j * row_bytes, row_bytes, x + i * k, k, out + i * ldo + j, ldo);
  };
  int64_t j = n_begin;
  for (; j + 4 <= n_end; j += 4) {
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) tile.template operator()<4, 4>(j, i);
    for (; i < m; ++i) tile.template operator()<4, 1>(j, i);
  }
  for (; j < n_end; ++j) {
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) tile.template operator()<1, 4>(j, i);
    for (; i < m; ++i) tile.template operator()<1, 1>(j, i);
  }
}

}  // namespace

bool FloatGemmRowsAvx512(KILN_GEMM_ROWS_ARGS) {
  switch (w) {
    case DType::kF32:
      RunFloat<LoadF32>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
      break;
    case DType::kF16:
      RunFloat<LoadF16>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
      break;
    case DType::kBF16:
      RunFloat<LoadBF16>(act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
      break;
    default:
      return false;
  }
  return true;
}

}  // namespace kiln::cpu::internal
