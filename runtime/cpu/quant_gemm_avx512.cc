// The AVX-512 level: u8 x s8 products with VNNI's vpdpbusd (4 products
// summed straight into int32, no int16 step), on 256-bit registers through
// AVX-512 VL: Zen 4 runs 512-bit integer ops as two 256-bit halves, so the
// wider form would not stream weights faster, while VL gives 32 registers
// for a 4 x 4 tile. Compiled with the AVX-512 flags only in this library.
#include <immintrin.h>

#include <cstring>

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

}  // namespace
}  // namespace avx512

void GemmRowsAvx512(KILN_GEMM_ROWS_ARGS) {
  avx512::GemmRowsImpl(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
}

}  // namespace kiln::cpu::internal
