// The AVX2 level: u8 x s8 products through vpmaddubsw (pairs into int16;
// no saturation for the codes here: 255 x 127 x 2 would, but q8_0 goes
// through |w| <= 128 and 4- to 6-bit codes stay far below) and vpmaddwd.
// Compiled with -mavx2 -mfma -mf16c only in this library.
#include <immintrin.h>

#include <cstring>

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

}  // namespace
}  // namespace avx2

void GemmRowsAvx2(KILN_GEMM_ROWS_ARGS) {
  avx2::GemmRowsImpl(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
}

}  // namespace kiln::cpu::internal
