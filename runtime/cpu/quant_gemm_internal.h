// Shared by the quant_gemm levels: the activation block and each level's
// entry point. Not for use outside runtime/cpu/quant_gemm*.
#ifndef KILN_RUNTIME_CPU_QUANT_GEMM_INTERNAL_H_
#define KILN_RUNTIME_CPU_QUANT_GEMM_INTERNAL_H_

#include <cstdint>
#include <limits>

#include "base/dtype.h"

namespace kiln::cpu::internal {

// 32 activations quantised to int8: x ~= d * q. `sum` = sum of q, `sum16`
// the sums of each half (q6_k's sub-blocks of 16), `s` = d * sum (the
// factor of a weight block's min term). A row of x is k / 32 of these.
struct ActBlock {
  int8_t q[32];
  float d;
  float s;
  int32_t sum;
  int16_t sum16[2];
};
static_assert(sizeof(ActBlock) == 48);

// 1 / d for a block's step d = max|x| / 127, or 0 where that is not finite
// (d == 0, or d so small, max|x| below about 3.7e-37, that 1 / d overflows): every code
// of such a block is 0, an error below 3.7e-37 an element, on every level.
inline float InverseStep(float d) {
  const float id = d != 0 ? 1 / d : 0;
  return id <= std::numeric_limits<float>::max() ? id : 0;
}

void QuantizeActivationRow(const float* x, int64_t k, ActBlock* out);
// The same blocks, bit for bit, on AVX2 (quant_gemm_avx2.cc) and AVX-512
// (quant_gemm_avx512.cc).
void QuantizeActivationRowAvx2(const float* x, int64_t k, ActBlock* out);
void QuantizeActivationRowAvx512(const float* x, int64_t k, ActBlock* out);

// GemmRows for one level (quant_gemm.h has the contract).
#define KILN_GEMM_ROWS_ARGS                                                                 \
  DType w, const void *act_or_x, const uint8_t *w_bytes, int64_t m, int64_t k, int64_t n_begin, \
      int64_t n_end, float *out, int64_t ldo
void GemmRowsScalar(KILN_GEMM_ROWS_ARGS);
void GemmRowsAvx2(KILN_GEMM_ROWS_ARGS);
void GemmRowsAvx512(KILN_GEMM_ROWS_ARGS);
// f32/f16/bf16 weights on 512-bit registers (float_gemm_avx512.cc); false
// for another dtype.
bool FloatGemmRowsAvx512(KILN_GEMM_ROWS_ARGS);

// PanelGemmRows on AVX2 (panel_gemm_avx2.cc): false for a dtype it does not
// take; its scratch size.
bool PanelGemmRowsAvx2(DType w, const void* act_or_x, const uint8_t* w_bytes, int64_t m, int64_t k,
                       int64_t n_begin, int64_t n_end, float* out, int64_t ldo, void* scratch);
int64_t PanelScratchBytesAvx2(int64_t m);

}  // namespace kiln::cpu::internal

#endif  // KILN_RUNTIME_CPU_QUANT_GEMM_INTERNAL_H_
