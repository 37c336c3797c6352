// The portable kernels: the spec the SIMD levels follow. Per weight row and
// activation row, per 32-element unit u (activation block u):
//   q8_0: acc += (dw * dx) * I,  I = sum w q
//   q4_0: acc += (dw * dx) * I,  I = sum nib q - 8 sum q
//   q4_1: acc += (dw * dx) * I,  I = sum nib q;  mins += m * s
//   q4_k/q5_k (sub-block u of its super-block, 6-bit sc, mn):
//         acc += ((d * sc) * dx) * I,  I = sum code q;  mins += -(dmin * mn) * s
//   q6_k (sub-blocks a, b of 16 with int8 scales):
//         acc += (d * dx) * I,  I = sc_a (sum_a code q - 32 sum_a q) + sc_b (...)
//   out = acc + mins,
// where dx, s = dx * sum q are the activation block's (ActBlock). The integer
// sums I are exact, so every level must reproduce them; only the order of the
// f32 additions differs.
#include <cstring>

#include "base/half.h"
#include "base/quant_blocks.h"
#include "runtime/cpu/quant_gemm_internal.h"

namespace kiln::cpu::internal {
namespace {

float HalfAt(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return F16ToFloat(h);
}

int DotCodes(const uint8_t* codes, const int8_t* q, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += codes[i] * q[i];
  return s;
}

// One weight row (`nb` blocks) against one activation row.
float RowDot(DType t, const uint8_t* w, const ActBlock* a, int64_t units) {
  float acc = 0, mins = 0;
  uint8_t codes[32];
  switch (t) {
    case DType::kQ8_0:
      for (int64_t u = 0; u < units; ++u) {
        const uint8_t* b = w + 34 * u;
        int s = 0;
        for (int i = 0; i < 32; ++i) s += static_cast<int8_t>(b[2 + i]) * a[u].q[i];
        acc += (HalfAt(b) * a[u].d) * static_cast<float>(s);
      }
      break;
    case DType::kQ4_0:
    case DType::kQ4_1: {
      const bool q40 = t == DType::kQ4_0;
      const int bytes = q40 ? 18 : 20, qs = q40 ? 2 : 4;
      for (int64_t u = 0; u < units; ++u) {
        const uint8_t* b = w + bytes * u;
        for (int i = 0; i < 16; ++i) codes[i] = b[qs + i] & 15, codes[i + 16] = b[qs + i] >> 4;
        int s = DotCodes(codes, a[u].q, 32);
        if (q40) s -= 8 * a[u].sum;
        acc += (HalfAt(b) * a[u].d) * static_cast<float>(s);
        if (!q40) mins += HalfAt(b + 2) * a[u].s;
      }
      break;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool q5 = t == DType::kQ5_K;
      const int64_t bytes = BlockBytes(t);
      for (int64_t u = 0; u < units; ++u) {
        const uint8_t* b = w + bytes * (u / 8);
        const int j = static_cast<int>(u % 8);
        uint8_t sc[8], mn[8];
        UnpackQ4KScales(b + kQ4KScalesAt, sc, mn);
        const uint8_t* qs = b + (q5 ? kQ5KQsAt : kQ4KQsAt) + 32 * (j / 2);
        for (int l = 0; l < 32; ++l) {
          codes[l] = (qs[l] >> (4 * (j % 2))) & 15;
          if (q5) codes[l] |= ((b[kQ5KQhAt + l] >> j) & 1) << 4;
        }
        const int s = DotCodes(codes, a[u].q, 32);
        acc += ((HalfAt(b) * sc[j]) * a[u].d) * static_cast<float>(s);
        mins += -(HalfAt(b + 2) * mn[j]) * a[u].s;
      }
      break;
    }
    case DType::kQ6_K:
      for (int64_t u = 0; u < units; ++u) {
        const uint8_t* b = w + 210 * (u / 8);
        const int h = static_cast<int>(u % 8) / 4, q = static_cast<int>(u % 4);
        const uint8_t* ql = b + 64 * h + 32 * (q & 1);
        const uint8_t* qh = b + kQ6KQhAt + 32 * h;
        for (int l = 0; l < 32; ++l) {
          codes[l] = static_cast<uint8_t>(((q < 2 ? ql[l] : ql[l] >> 4) & 15) |
                                          (((qh[l] >> (2 * q)) & 3) << 4));
        }
        const auto* sc = reinterpret_cast<const int8_t*>(b + kQ6KScalesAt + 8 * h + 2 * q);
        const int s = sc[0] * (DotCodes(codes, a[u].q, 16) - 32 * a[u].sum16[0]) +
                      sc[1] * (DotCodes(codes + 16, a[u].q + 16, 16) - 32 * a[u].sum16[1]);
        acc += (HalfAt(b + kQ6KDAt) * a[u].d) * static_cast<float>(s);
      }
      break;
    default:
      break;
  }
  return acc + mins;
}

float FloatDot(DType t, const uint8_t* w, const float* x, int64_t k) {
  float acc = 0;
  for (int64_t c = 0; c < k; ++c) {
    float v;
    uint16_t h;
    if (t == DType::kF32) {
      std::memcpy(&v, w + 4 * c, 4);
    } else {
      std::memcpy(&h, w + 2 * c, 2);
      v = t == DType::kF16 ? F16ToFloat(h) : BF16ToFloat(h);
    }
    acc += x[c] * v;
  }
  return acc;
}

}  // namespace

void GemmRowsScalar(KILN_GEMM_ROWS_ARGS) {
  const int64_t row_bytes = k / BlockSize(w) * BlockBytes(w);
  for (int64_t j = n_begin; j < n_end; ++j) {
    const uint8_t* wr = w_bytes + j * row_bytes;
    for (int64_t i = 0; i < m; ++i) {
      out[i * ldo + j] =
          IsBlockQuantized(w)
              ? RowDot(w, wr, static_cast<const ActBlock*>(act_or_x) + i * (k / 32), k / 32)
              : FloatDot(w, wr, static_cast<const float*>(act_or_x) + i * k, k);
    }
  }
}

}  // namespace kiln::cpu::internal
