// Matrix products with weights kept in their stored dtype (f32, f16, bf16 or
// a GGUF block type, base/quant_blocks.h) for the CPU executor.
//
//   out[i * ldo + j] = sum_c x[i, c] * dequant(w)[j, c]   (i < m, j < n, c < k)
//
// w is row-major [n, k] (each row a whole number of blocks), x f32 row-major
// [m, k]. For the block types x is first quantised per block of 32 to int8
// (PrepareActivations: d = max|x| / 127, q = round(x / d), plus the block's
// integer sum and, for q4_1/q4_k/q5_k, d * sum for the min term), and the
// dot products are integer (u8 weight codes x s8 activations, 32-bit sums).
// f32 weights: f32 FMA. f16 weights: converted to f32 (F16C), then FMA.
// bf16 weights: converted to f32 (exact: a shift), then FMA, so x is never
// rounded to bf16. The plain float paths use x directly (no activations).
//
// Accuracy: the integer sums are exact, so the only error beyond f32
// rounding is the activations' 8-bit rounding, |x - d q| <= d / 2 per
// element, d = max|x_block| / 127: for Gaussian-like rows the normalised MSE
// against float64 x . dequant(w) is about 1e-5 (tests allow 1e-4).
//
// SIMD levels (cpu_features.h) compute the same integer sums per 32-element
// unit as the scalar path; they differ from it only in the order of the f32
// additions. Threads split the work: PrepareActivations over row ranges of
// x, then GemmRows over ranges of weight rows. Neither allocates or starts
// threads.
#ifndef KILN_RUNTIME_CPU_QUANT_GEMM_H_
#define KILN_RUNTIME_CPU_QUANT_GEMM_H_

#include <cstdint>

#include "base/dtype.h"
#include "runtime/cpu/cpu_features.h"

namespace kiln::cpu {

// f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k.
bool WeightDTypeSupported(DType w);

// Bytes of scratch for x's quantised form for m rows of k columns with
// weights of dtype w: m * (k / 32) * 48 for the block types, 0 for f32, f16
// and bf16 (GemmRows then reads x itself). The buffer needs 4-byte alignment
// (64 is best). Precondition: k is a whole number of w's blocks.
int64_t ActivationBytes(DType w, int64_t m, int64_t k);

// Quantises rows [m_begin, m_end) of x (m rows, k columns) into `act` (the
// whole ActivationBytes(w, m, k) buffer; only those rows' part is written),
// so threads may fill disjoint row ranges concurrently. Nothing to do for
// f32/f16/bf16 weights. x must be finite.
void PrepareActivations(SimdLevel level, DType w, const float* x, int64_t m, int64_t k,
                        int64_t m_begin, int64_t m_end, void* act);

// Writes out[i * ldo + j] for every i < m and j in [n_begin, n_end).
// `act_or_x` is the PrepareActivations buffer for block types and x itself
// (f32, [m, k]) for f32/f16/bf16 weights; `w_bytes` is the whole weight
// matrix [n, k]. Precondition: WeightDTypeSupported(w), `level` <=
// DetectSimdLevel(), 0 <= n_begin <= n_end <= n.
void GemmRows(SimdLevel level, DType w, const void* act_or_x, const uint8_t* w_bytes, int64_t m,
              int64_t n, int64_t k, int64_t n_begin, int64_t n_end, float* out, int64_t ldo);

// Prefill-sized products on AVX2 of weights whose integer tiles run below
// f32 FMA speed there (q8_0, q6_k, f16, bf16; f32 when oneDNN is absent):
// each weight is dequantized to f32 once per slice of 256 columns of k and
// multiplied in a register-blocked FMA kernel (panel_gemm_avx2.cc) by the
// activations GemmRows multiplies: for the block types the 8-bit blocks of
// PrepareActivations, as f32 d q; for the float types x itself. So the two
// compute the same sums and differ in f32 rounding and order only. On one
// Zen 3 core the panels ran 1.04-1.25x the q8_0 tile, 1.27-1.87x q6_k's and
// 1.15-2.10x the f16 and bf16 tiles from 64 to 512 rows (quant_gemm_bench;
// docs/PERFORMANCE.md, "f32 panels").
//
// Bits: each output is summed over k in slices of 256 (within a slice in
// column order), so a row gets the same bits whatever the rows beside it
// and however the weight rows are split among threads, but not GemmRows'
// bits. The CPU executor runs it only in steps compiled for at least 64
// tokens a sequence (cpu_steps.h, GemmRun::Panel), so that decode and
// verify steps keep equal bits.
//
// Below kPanelMinRows rows, decoding each weight for so few rows costs more
// than the integer tiles' extra work.
inline constexpr int64_t kPanelMinRows = 64;

// Whether PanelGemmRows takes this product: `level` AVX2, w one of its
// dtypes, m >= kPanelMinRows, and k a whole number of w's blocks and a
// multiple of 8.
bool PanelGemmTakes(SimdLevel level, DType w, int64_t m, int64_t k);

// Scratch bytes a thread needs for PanelGemmRows over m rows (64-byte
// aligned is best): the strips, and a slice of the activations.
int64_t PanelScratchBytes(int64_t m);

// Writes out[i * ldo + j] for every i < m and j in [n_begin, n_end), as
// GemmRows does with the same `act_or_x` (PrepareActivations' buffer for
// block types, x for float types). Precondition: PanelGemmTakes(level, w,
// m, k) (aborts otherwise: a caller's bug); `scratch` holds
// PanelScratchBytes(m) and is this thread's own.
void PanelGemmRows(SimdLevel level, DType w, const void* act_or_x, const uint8_t* w_bytes,
                   int64_t m, int64_t k, int64_t n_begin, int64_t n_end, float* out, int64_t ldo,
                   void* scratch);

// PanelGemmRows calls so far in this process (tests check that a product
// really took the panels).
int64_t PanelGemmCalls();

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_QUANT_GEMM_H_
