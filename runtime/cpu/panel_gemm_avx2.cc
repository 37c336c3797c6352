// Prefill products on AVX2 for weights whose integer tiles run slower than
// f32 FMA (quant_gemm.h, PanelGemmRows): the weights are dequantized into
// f32 panels and multiplied by the tiles' activations in a register-blocked
// kernel.
//
// Why: without VNNI, a q8_0 product of signed bytes costs vpsignb,
// vpmaddubsw, vpmaddwd and an f32 convert and multiply-add a 32-element unit
// for each pair of rows (the generic tile ran prompts at 59-67 GFLOP/s on
// one Zen 3 core), while two FMA pipes multiply 16 f32 pairs a cycle. Once
// there are tens of activation rows, decoding each weight once into f32 and
// reusing it for every row is cheaper than the integer route.
//
// Blocking (sizes in f32): the product runs over slices of kKc columns of k.
// For each slice, the activations' slice is made f32 (block types: d q, all
// m rows, kKc apart; float types read x in place), and kNc weight rows at a
// time are dequantized into strips of kNr rows, transposed so that strip
// column c holds its kNr weights contiguously (bp[c * kNr + r]); then every
// group of kMr activation rows runs over each strip. A strip (kNr x kKc =
// 16 KB) and kMr rows of the slice (6 KB) stay in L1; the kNc / kNr strips
// (128 KB) in L2. The kernel keeps kMr x 2 accumulators of 8 columns (12 of
// the 16 ymm registers): per column of k, 2 loads of the strip, kMr
// broadcasts of activations and 2 kMr FMAs.
// Compiled with -mavx2 -mfma -mf16c only in this library.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "base/quant_blocks.h"
#include "runtime/cpu/quant_gemm_internal.h"

namespace kiln::cpu::internal {
namespace {

constexpr int kMr = 6, kNr = 16;
constexpr int64_t kKc = 256, kNc = 128;

#include "runtime/cpu/simd_float_loads.inc"

// The loaders: Values(row, c), 8 consecutive weights of a row from column
// c (a multiple of 8) as f32 before their block's scale; Scale(row, c), the
// factor of the kSpan columns from c (c a multiple of kSpan); kSpan 0 for
// the float types, which have none. PackStrip applies the factors of 8
// rows as one vector after the transpose, where lane r is row r.
struct LoadQ8_0 {
  static constexpr int kSpan = 32;
  static __m256 Values(const uint8_t* row, int64_t c) {
    int64_t codes;
    std::memcpy(&codes, row + c / 32 * 34 + 2 + c % 32, 8);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(codes)));
  }
  static float Scale(const uint8_t* row, int64_t c) { return HalfAt(row + c / 32 * 34); }
};
// q6_k: unit t of half h holds elements 128h + 32t + l; its 6-bit code is
// nibble t / 2 of ql[64h + 32(t % 2) + l] and bits 2t, 2t + 1 of
// qh[32h + l]. Eight codes at a time in a 64-bit word (the shifts bring in
// a neighbour's bits, which the masks drop). The weight is (d sc) (c - 32),
// in base's order, sc the scale of its 16 elements.
struct LoadQ6K {
  static constexpr int kSpan = 16;
  static __m256 Values(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + c / 256 * 210;
    const int e = static_cast<int>(c % 256), h = e / 128, t = e % 128 / 32, l = e % 32;
    uint64_t ql, qh;
    std::memcpy(&ql, b + 64 * h + 32 * (t & 1) + l, 8);
    std::memcpy(&qh, b + kQ6KQhAt + 32 * h + l, 8);
    const uint64_t low4 = (t < 2 ? ql : ql >> 4) & 0x0F0F0F0F0F0F0F0Full;
    const uint64_t high2 = (qh >> (2 * t)) & 0x0303030303030303ull;
    const __m128i codes = _mm_cvtsi64_si128(static_cast<int64_t>(low4 | high2 << 4));
    return _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(codes)), _mm256_set1_ps(32));
  }
  static float Scale(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + c / 256 * 210;
    const int e = static_cast<int>(c % 256);
    return HalfAt(b + kQ6KDAt) * static_cast<int8_t>(b[kQ6KScalesAt + e / 16]);
  }
};
// The float types, through the tiles' loaders (simd_float_loads.inc).
template <class F>
struct LoadFloat {
  static constexpr int kSpan = 0;
  static __m256 Values(const uint8_t* row, int64_t c) { return F::Load(row + c * F::kSize); }
  static float Scale(const uint8_t*, int64_t) { return 1; }
};

// Transposes 8 vectors in place: v[r] lane c becomes v[c] lane r. Inlined,
// so that v stays in registers (as a call, it went through memory).
[[gnu::always_inline]] inline void Transpose8x8(__m256 v[8]) {
  __m256 t[8], u[8];
#pragma GCC unroll 8
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 2; ++i) {
#pragma GCC unroll 8
    for (int h = 0; h < 2; ++h) {
      const __m256 a = t[4 * i + h], b = t[4 * i + 2 + h];
      u[4 * i + 2 * h] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * i + 2 * h + 1] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2));
    }
  }
  // u[0..3]: rows 0-3, columns (0,4), (1,5), (2,6), (3,7) in the two
  // halves; u[4..7] the same for rows 4-7.
#pragma GCC unroll 8
  for (int c = 0; c < 4; ++c) {
    v[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    v[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

// Strip of `rows` (<= kNr) weight rows from `w` (row stride row_bytes),
// columns [c0, c0 + kc), into bp[c * kNr + r]; rows past `rows` are 0.
template <class L>
void PackStrip(const uint8_t* w, int64_t row_bytes, int rows, int64_t c0, int64_t kc, float* bp) {
  for (int half = 0; half < 2; ++half) {
    const uint8_t* base = w + 8 * half * row_bytes;
    const int in_half = std::clamp(rows - 8 * half, 0, 8);
    __m256 scales = _mm256_setzero_ps();
    for (int64_t c = 0; c < kc; c += 8) {
      if (L::kSpan > 0 && (c0 + c) % L::kSpan == 0) {
        alignas(32) float f[8] = {};
        for (int r = 0; r < in_half; ++r) f[r] = L::Scale(base + r * row_bytes, c0 + c);
        scales = _mm256_load_ps(f);
      }
      __m256 v[8];
      if (in_half == 8) {
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) v[r] = L::Values(base + r * row_bytes, c0 + c);
      } else {
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) {
          v[r] = r < in_half ? L::Values(base + r * row_bytes, c0 + c) : _mm256_setzero_ps();
        }
      }
      Transpose8x8(v);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) {
        const __m256 col = L::kSpan > 0 ? _mm256_mul_ps(v[t], scales) : v[t];
        _mm256_storeu_ps(bp + (c + t) * kNr + 8 * half, col);
      }
    }
  }
}

// out[i * ldo + j] (+)= sum_c x[i * ldx + c] bp[c * kNr + j] for i < M and
// j < cols: kMr x kNr accumulators in registers for the whole slice.
template <int M>
void Kernel(const float* x, int64_t ldx, const float* bp, int64_t kc, float* out, int64_t ldo,
            int cols, bool accumulate) {
  __m256 acc[M][2];
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int64_t c = 0; c < kc; ++c) {
    const __m256 b0 = _mm256_loadu_ps(bp + c * kNr), b1 = _mm256_loadu_ps(bp + c * kNr + 8);
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      const __m256 a = _mm256_broadcast_ss(x + i * ldx + c);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i) {
    float* o = out + i * ldo;
    if (cols == kNr) {
      for (int h = 0; h < 2; ++h) {
        __m256 v = acc[i][h];
        if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(o + 8 * h), v);
        _mm256_storeu_ps(o + 8 * h, v);
      }
    } else {
      alignas(32) float row[kNr];
      _mm256_store_ps(row, acc[i][0]);
      _mm256_store_ps(row + 8, acc[i][1]);
      for (int j = 0; j < cols; ++j) o[j] = accumulate ? o[j] + row[j] : row[j];
    }
  }
}

void KernelRows(int rows, const float* x, int64_t ldx, const float* bp, int64_t kc, float* out,
                int64_t ldo, int cols, bool accumulate) {
  switch (rows) {
    case 6:
      return Kernel<6>(x, ldx, bp, kc, out, ldo, cols, accumulate);
    case 5:
      return Kernel<5>(x, ldx, bp, kc, out, ldo, cols, accumulate);
    case 4:
      return Kernel<4>(x, ldx, bp, kc, out, ldo, cols, accumulate);
    case 3:
      return Kernel<3>(x, ldx, bp, kc, out, ldo, cols, accumulate);
    case 2:
      return Kernel<2>(x, ldx, bp, kc, out, ldo, cols, accumulate);
    default:
      return Kernel<1>(x, ldx, bp, kc, out, ldo, cols, accumulate);
  }
}

// Rows [0, m) of the activation blocks' columns [c0, c0 + kc) as f32,
// d q, into xs[i * kKc + c]: the values the integer tiles multiply.
void DequantizeActivations(const ActBlock* act, int64_t m, int64_t k, int64_t c0, int64_t kc,
                           float* xs) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < kc; c += 32) {
      const ActBlock& a = act[i * (k / 32) + (c0 + c) / 32];
      const __m256 d = _mm256_set1_ps(a.d);
      for (int t = 0; t < 4; ++t) {
        int64_t q8;
        std::memcpy(&q8, a.q + 8 * t, 8);
        const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(q8)));
        _mm256_storeu_ps(xs + i * kKc + c + 8 * t, _mm256_mul_ps(d, q));
      }
    }
  }
}

// `act` (block weights) or `x` (float weights), as GemmRows takes them.
template <class L>
void Run(const float* x, const ActBlock* act, const uint8_t* w, int64_t row_bytes, int64_t m,
         int64_t k, int64_t n_begin, int64_t n_end, float* out, int64_t ldo, float* scratch) {
  float* bp = scratch;              // kNc x kKc: the strips
  float* xs = scratch + kNc * kKc;  // m x kKc: a slice of the activations (act only)
  for (int64_t pc = 0; pc < k; pc += kKc) {
    const int64_t kc = std::min(kKc, k - pc);
    if (act != nullptr) DequantizeActivations(act, m, k, pc, kc, xs);
    const float* xc = act != nullptr ? xs : x + pc;
    const int64_t ldx = act != nullptr ? kKc : k;
    for (int64_t jc = n_begin; jc < n_end; jc += kNc) {
      const int64_t nc = std::min(kNc, n_end - jc);
      for (int64_t s = 0; s * kNr < nc; ++s) {
        const int rows = static_cast<int>(std::min<int64_t>(kNr, nc - s * kNr));
        PackStrip<L>(w + (jc + s * kNr) * row_bytes, row_bytes, rows, pc, kc, bp + s * kNr * kc);
      }
      for (int64_t i = 0; i < m; i += kMr) {
        const int rows = static_cast<int>(std::min<int64_t>(kMr, m - i));
        for (int64_t s = 0; s * kNr < nc; ++s) {
          const int cols = static_cast<int>(std::min<int64_t>(kNr, nc - s * kNr));
          KernelRows(rows, xc + i * ldx, ldx, bp + s * kNr * kc, kc, out + i * ldo + jc + s * kNr,
                     ldo, cols, pc > 0);
        }
      }
    }
  }
}

}  // namespace

int64_t PanelScratchBytesAvx2(int64_t m) {
  return (kNc + m) * kKc * static_cast<int64_t>(sizeof(float));
}

bool PanelGemmRowsAvx2(DType w, const void* act_or_x, const uint8_t* w_bytes, int64_t m, int64_t k,
                       int64_t n_begin, int64_t n_end, float* out, int64_t ldo, void* scratch) {
  auto* f = static_cast<float*>(scratch);
  const auto* x = static_cast<const float*>(act_or_x);
  const auto* act = static_cast<const ActBlock*>(act_or_x);
  switch (w) {
    case DType::kQ8_0:
      Run<LoadQ8_0>(nullptr, act, w_bytes, k / 32 * 34, m, k, n_begin, n_end, out, ldo, f);
      return true;
    case DType::kQ6_K:
      Run<LoadQ6K>(nullptr, act, w_bytes, k / 256 * 210, m, k, n_begin, n_end, out, ldo, f);
      return true;
    case DType::kF16:
      Run<LoadFloat<LoadF16>>(x, nullptr, w_bytes, 2 * k, m, k, n_begin, n_end, out, ldo, f);
      return true;
    case DType::kBF16:
      Run<LoadFloat<LoadBF16>>(x, nullptr, w_bytes, 2 * k, m, k, n_begin, n_end, out, ldo, f);
      return true;
    case DType::kF32:
      Run<LoadFloat<LoadF32>>(x, nullptr, w_bytes, 4 * k, m, k, n_begin, n_end, out, ldo, f);
      return true;
    default:
      return false;
  }
}

}  // namespace kiln::cpu::internal
