// Dispatch by SIMD level and the activation quantisation shared by all
// levels (it is O(m k), small next to the O(m n k) products).
#include "runtime/cpu/quant_gemm.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/cpu/quant_gemm_internal.h"

namespace kiln::cpu {
namespace internal {

constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23

void QuantizeActivationRow(const float* x, int64_t k, ActBlock* out) {
  for (int64_t b = 0; b < k / 32; ++b) {
    const float* v = x + 32 * b;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(v[i]));
    const float d = amax / 127;
    const float id = InverseStep(d);
    ActBlock& a = out[b];
    int sum[2] = {0, 0};
    for (int i = 0; i < 32; ++i) {
      // Round to nearest even by adding and removing 1.5 * 2^23: exact for
      // |v * id| <= 127 (no libm call, so the loop vectorises), and q stays
      // within [-127, 127].
      const float r = (v[i] * id + kRoundMagic) - kRoundMagic;
      const int q = static_cast<int>(r);
      a.q[i] = static_cast<int8_t>(q);
      sum[i / 16] += q;
    }
    a.d = d;
    a.sum = sum[0] + sum[1];
    a.sum16[0] = static_cast<int16_t>(sum[0]);
    a.sum16[1] = static_cast<int16_t>(sum[1]);
    a.s = d * static_cast<float>(a.sum);
  }
}

}  // namespace internal

bool WeightDTypeSupported(DType w) {
  switch (w) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

int64_t ActivationBytes(DType w, int64_t m, int64_t k) {
  if (!IsBlockQuantized(w)) return 0;
  return m * (k / 32) * static_cast<int64_t>(sizeof(internal::ActBlock));
}

void PrepareActivations(SimdLevel level, DType w, const float* x, int64_t m, int64_t k,
                        int64_t m_begin, int64_t m_end, void* act) {
  if (!IsBlockQuantized(w)) return;
  auto* blocks = static_cast<internal::ActBlock*>(act);
  const auto quantize = level == SimdLevel::kAvx512 ? internal::QuantizeActivationRowAvx512
                        : level == SimdLevel::kAvx2 ? internal::QuantizeActivationRowAvx2
                                                    : internal::QuantizeActivationRow;
  for (int64_t i = m_begin; i < m_end; ++i) quantize(x + i * k, k, blocks + i * (k / 32));
}

void GemmRows(SimdLevel level, DType w, const void* act_or_x, const uint8_t* w_bytes, int64_t m,
              int64_t n, int64_t k, int64_t n_begin, int64_t n_end, float* out, int64_t ldo) {
  if (n_begin >= n_end || m <= 0) return;
  switch (level) {
    case SimdLevel::kScalar:
      return internal::GemmRowsScalar(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
    case SimdLevel::kAvx2:
      return internal::GemmRowsAvx2(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
    case SimdLevel::kAvx512:
      return internal::GemmRowsAvx512(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo);
  }
}

bool PanelGemmTakes(SimdLevel level, DType w, int64_t m, int64_t k) {
  const bool dtype = w == DType::kQ8_0 || w == DType::kQ6_K || w == DType::kF16 ||
                     w == DType::kBF16 || w == DType::kF32;
  return level == SimdLevel::kAvx2 && dtype && m >= kPanelMinRows && k > 0 && k % 8 == 0 &&
         k % BlockSize(w) == 0;
}

int64_t PanelScratchBytes(int64_t m) { return internal::PanelScratchBytesAvx2(m); }

namespace {
std::atomic<int64_t> panel_calls{0};
}  // namespace

void PanelGemmRows(SimdLevel level, DType w, const void* act_or_x, const uint8_t* w_bytes,
                   int64_t m, int64_t k, int64_t n_begin, int64_t n_end, float* out, int64_t ldo,
                   void* scratch) {
  if (!PanelGemmTakes(level, w, m, k)) {
    std::fprintf(stderr, "PanelGemmRows: %s weights, m %lld, k %lld at this level: not taken\n",
                 std::string(DTypeName(w)).c_str(), static_cast<long long>(m),
                 static_cast<long long>(k));
    std::abort();
  }
  if (n_begin >= n_end) return;
  panel_calls.fetch_add(1, std::memory_order_relaxed);
  internal::PanelGemmRowsAvx2(w, act_or_x, w_bytes, m, k, n_begin, n_end, out, ldo, scratch);
}

int64_t PanelGemmCalls() { return panel_calls.load(std::memory_order_relaxed); }

}  // namespace kiln::cpu
