// The CPU executor's steps (cpu_executor.cc): one runner per launch-plan
// step kind, holding the step's resolved pointers and sizes, each with
// Run(thread, threads, context) doing that thread's share of the step. A
// runner with internal phases (a GEMM's shared activation quantization,
// attention's combine) separates them with the pool's barrier itself; the
// executor puts a barrier between steps. Internal to runtime/cpu.
#ifndef KILN_RUNTIME_CPU_CPU_STEPS_H_
#define KILN_RUNTIME_CPU_CPU_STEPS_H_

#include <algorithm>
#include <cstdint>
#include <utility>
#include <variant>
#include <vector>

#include "base/dtype.h"
#include "base/half.h"
#include "base/quant_blocks.h"
#include "runtime/cpu/attention_cpu.h"
#include "runtime/cpu/cpu_features.h"
#include "runtime/cpu/onednn_sgemm.h"
#include "runtime/cpu/quant_gemm.h"
#include "runtime/cpu/row_program.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/session/plan_executor.h"

namespace kiln::cpu::steps {

// [begin, end) of `n` items for thread t of T, in whole `align`-item units.
inline std::pair<int64_t, int64_t> Share(int64_t n, int t, int threads, int64_t align = 1) {
  const int64_t units = (n + align - 1) / align;
  const int64_t begin = units * t / threads * align, end = units * (t + 1) / threads * align;
  return {std::min(begin, n), std::min(end, n)};
}

inline float ToFloat(DType dtype, const void* base, int64_t i) {
  if (dtype == DType::kF16) return F16ToFloat(static_cast<const uint16_t*>(base)[i]);
  if (dtype == DType::kBF16) return BF16ToFloat(static_cast<const uint16_t*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

inline void FromFloat(DType dtype, void* base, int64_t i, float v) {
  if (dtype == DType::kF16) {
    static_cast<uint16_t*>(base)[i] = FloatToF16(v);
  } else if (dtype == DType::kBF16) {
    static_cast<uint16_t*>(base)[i] = FloatToBF16(v);
  } else {
    static_cast<float*>(base)[i] = v;
  }
}

// What every step's Run may use besides its own operands.
struct Context {
  ThreadPool* pool = nullptr;
  SimdLevel simd = SimdLevel::kScalar;
  AttentionIsa attention_isa = AttentionIsa::kPortable;
  uint8_t* thread_scratch = nullptr;  // threads x thread_scratch_bytes
  int64_t thread_scratch_bytes = 0;
  uint8_t* shared = nullptr;  // GEMM activations / conversions, attention partials
  int64_t only_row = -1;      // this run's PlanExecutor::Run only_row
  int64_t seq = 1;            // the plan's tokens per sequence (kLastOfEachSequence's stride)
  // f32-weight products of at least kOnednnMinRows rows, when set.
  const OnednnSgemm* onednn = nullptr;
  // Prompt-sized products through f32 panels (GemmRun::Panel), when set.
  bool panels = false;
};

// The f32 panels (quant_gemm.h, PanelGemmRows) run in steps compiled for
// at least this many tokens a sequence: prompt buckets (with the default
// buckets 16, 64, 256, every prompt or chunk over 16 tokens), never decode
// steps, nor verify steps while --verify-tokens stays below 63.
inline constexpr int64_t kPanelMinSequenceTokens = 64;

// oneDNN's sgemm overtakes Kiln's f32 kernel between 16 and 32 rows on one
// thread (quant_gemm_bench's f32_library rows, medians of 3, 2026-12-06
// 20:35 UTC, after Kiln's tile kept its accumulators in registers: 76
// against 69 GFLOP/s at 16, 77 against 97 at 32, 79 against 124 at 64).
inline constexpr int64_t kOnednnMinRows = 32;

// With only_row = kLastOfEachSequence on a plan of seq > 1: the rows, one
// per sequence, whose LM head and argmax run; 0 otherwise (every row runs,
// or only_row's alone).
inline int64_t LastOfEachSequenceCount(const Context& c, int64_t rows) {
  return c.only_row == kLastOfEachSequence && c.seq > 1 ? rows / c.seq : 0;
}

inline void* ThreadScratch(const Context& c, int t) {
  return c.thread_scratch + c.thread_scratch_bytes * t;
}

struct RowRun {
  const RowProgram* program = nullptr;
  std::vector<void*> buffers;
  int64_t rows = 0;
  bool argmax = false;  // the plan's greedy tokens: only_row's alone when asked

  void Run(int t, int threads, const Context& c) const {
    if (argmax && c.only_row >= 0) {
      if (t == 0) program->Run(buffers.data(), c.only_row, c.only_row + 1, ThreadScratch(c, t));
      return;
    }
    if (const int64_t sequences = argmax ? LastOfEachSequenceCount(c, rows) : 0; sequences > 0) {
      auto [b0, b1] = Share(sequences, t, threads);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r = b * c.seq + c.seq - 1;
        program->Run(buffers.data(), r, r + 1, ThreadScratch(c, t));
      }
      return;
    }
    auto [begin, end] = Share(rows, t, threads);
    if (begin < end) program->Run(buffers.data(), begin, end, ThreadScratch(c, t));
  }
};

// out = x . w^T (+ bias). x and out in `dtype`: f32 runs in place; f16/bf16
// go through f32 copies in the shared scratch (the kernels read f32 x).
struct GemmRun {
  DType dtype = DType::kF32, w_dtype = DType::kF32;
  int64_t m = 0, n = 0, k = 0;
  const void* x = nullptr;
  const uint8_t* w = nullptr;
  const void* bias = nullptr;
  void* out = nullptr;
  bool logits = false;  // the LM head: only_row's row alone when asked
  // The previous step is a GEMM of the same f32 x into the same block type
  // (q, k and v of one norm; gate and up): its quantized activations, still
  // in the shared scratch (or each thread's own, PrivateActivations), serve
  // this one too, and no barrier separates the two (they write different
  // outputs).
  bool reuses_activations = false;

  void Run(int t, int threads, const Context& c) const {
    if (logits && c.only_row >= 0) return RunRow(c.only_row, t, threads, c);
    if (const int64_t sequences = logits ? LastOfEachSequenceCount(c, m) : 0; sequences > 0) {
      // Each sequence's last row alone, one after the other: the rows are
      // strided, and each reuses the activation scratch (shared for bf16 /
      // f16 rows), so all threads finish one before any starts the next.
      for (int64_t b = 0; b < sequences; ++b) {
        if (b > 0) c.pool->Barrier(t);
        RunRow(b * c.seq + c.seq - 1, t, threads, c);
      }
      return;
    }
    if (dtype != DType::kF32) return RunConverted(t, threads, c);
    const auto* xf = static_cast<const float*>(x);
    auto* of = static_cast<float*>(out);
    const bool blocks = IsBlockQuantized(w_dtype), private_rows = PrivateActivations();
    uint8_t* act = private_rows ? static_cast<uint8_t*>(ThreadScratch(c, t)) : c.shared;
    if (blocks && !reuses_activations) {
      if (private_rows) {
        PrepareActivations(c.simd, w_dtype, xf, m, k, 0, m, act);
      } else {
        auto [r0, r1] = Share(m, t, threads);
        if (r0 < r1) PrepareActivations(c.simd, w_dtype, xf, m, k, r0, r1, act);
        c.pool->Barrier(t);
      }
    }
    auto [n0, n1] = Share(n, t, threads, 16);
    Columns(c, blocks ? static_cast<const void*>(act) : xf, m, n0, n1, of, t);
    if (bias != nullptr) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = n0; j < n1; ++j) of[i * n + j] += ToFloat(dtype, bias, j);
      }
    }
  }

  // Whether `rows` rows of this product go through PanelGemmRows: in
  // steps compiled for at least kPanelMinSequenceTokens tokens a sequence
  // (the bucket's width, padding included), so that decode and verify
  // steps (K + 1 tokens a sequence, while K < 63), batched or not, keep the
  // integer tiles and equal bits; oneDNN keeps f32 weights where the
  // context has it.
  bool Panel(const Context& c, int64_t rows) const {
    const bool onednn_takes =
        c.onednn != nullptr && w_dtype == DType::kF32 && rows >= kOnednnMinRows;
    return c.panels && c.seq >= kPanelMinSequenceTokens && !onednn_takes &&
           PanelGemmTakes(c.simd, w_dtype, rows, k);
  }

  // Columns [n0, n1) of `rows` rows of the product into `o` (row stride n),
  // on thread t: oneDNN for f32 weights from kOnednnMinRows rows when the
  // context has it, f32 panels where Panel() says (on the same act_or_x),
  // else Kiln's kernel at the context's SIMD level.
  void Columns(const Context& c, const void* act_or_x, int64_t rows, int64_t n0, int64_t n1,
               float* o, int t) const {
    if (n0 >= n1) return;
    if (c.onednn != nullptr && w_dtype == DType::kF32 && rows >= kOnednnMinRows &&
        c.onednn->Rows(static_cast<const float*>(act_or_x), reinterpret_cast<const float*>(w), rows,
                       k, n0, n1, o, n)) {
      return;
    }
    if (Panel(c, rows)) {
      return PanelGemmRows(c.simd, w_dtype, act_or_x, w, rows, k, n0, n1, o, n,
                           ThreadScratch(c, t));
    }
    GemmRows(c.simd, w_dtype, act_or_x, w, rows, n, k, n0, n1, o, n);
  }

  // This product for row `r` of x alone (into row r of out).
  void RunRow(int64_t r, int t, int threads, const Context& c) const {
    const int64_t width = dtype == DType::kF32 ? 4 : 2;
    GemmRun row = *this;
    row.logits = false;
    row.m = 1;
    row.x = static_cast<const uint8_t*>(x) + r * k * width;
    row.out = static_cast<uint8_t*>(out) + r * n * width;
    row.Run(t, threads, c);
  }

  // Rows of products staged in f32 at a time by RunConverted.
  static constexpr int64_t kStageRows = 64;

  // bf16/f16 activations (their weights are floats: block types compute
  // under f32 activations only): x widened to f32 once (each thread its
  // share of rows, then a barrier), then kStageRows rows of products at a
  // time staged in f32, each thread rounding its own columns into `out`, so
  // the staging buffer is kStageRows x n instead of m x n (the LM head over
  // a whole prefill would be m x vocab).
  void RunConverted(int t, int threads, const Context& c) const {
    float* xf = reinterpret_cast<float*>(c.shared);
    float* stage = xf + m * k;
    if (!reuses_activations) {
      auto [r0, r1] = Share(m, t, threads);
      for (int64_t i = r0 * k; i < r1 * k; ++i) xf[i] = ToFloat(dtype, x, i);
      c.pool->Barrier(t);
    }
    auto [n0, n1] = Share(n, t, threads, 16);
    if (n0 >= n1) return;
    for (int64_t i0 = 0; i0 < m; i0 += kStageRows) {
      const int64_t rows = std::min(kStageRows, m - i0);
      Columns(c, xf + i0 * k, rows, n0, n1, stage, t);
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = n0; j < n1; ++j) {
          float v = stage[i * n + j];
          if (bias != nullptr) v += ToFloat(dtype, bias, j);
          FromFloat(dtype, out, (i0 + i) * n + j, v);
        }
      }
    }
  }

  // The most rows one Columns call multiplies: all m, or a stage of
  // RunConverted's.
  int64_t ColumnRows() const { return dtype == DType::kF32 ? m : std::min(m, kStageRows); }

  // Up to this many activation rows, each thread quantizes all of them
  // into its own scratch instead of its share into the shared one: no
  // barrier between quantizing and the product. At decode one thread
  // quantized the one row while the others waited at that barrier; the
  // rows quantized twice cost less (quantizing is exact, so every copy
  // has the same bits).
  static constexpr int64_t kPrivateActivationRows = 4;

  bool PrivateActivations() const {
    return dtype == DType::kF32 && IsBlockQuantized(w_dtype) && m <= kPrivateActivationRows;
  }

  // Per thread: the private activations, also for RunRow's one row of a
  // larger product (the LM head asked for one row); the f32 panels of a
  // product that may take them (at any SIMD level: the memory plan does
  // not know the executor's).
  int64_t ThreadBytes() const {
    const int64_t rows = ColumnRows();
    const int64_t panel =
        PanelGemmTakes(SimdLevel::kAvx2, w_dtype, rows, k) ? PanelScratchBytes(rows) : 0;
    if (dtype != DType::kF32 || !IsBlockQuantized(w_dtype)) return panel;
    return std::max(panel, ActivationBytes(w_dtype, PrivateActivations() ? m : 1, k));
  }

  int64_t SharedBytes() const {
    if (dtype != DType::kF32) return (m * k + std::min(m, kStageRows) * n) * 4;
    return PrivateActivations() ? 0 : ActivationBytes(w_dtype, m, k);
  }
};

struct RopeRun {
  AttentionDims dims;
  DType dtype = DType::kF32, cache_dtype = DType::kF32;
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  const int32_t* pos = nullptr;
  const float* cos_sin = nullptr;
  void *q_out = nullptr, *k_cache = nullptr, *v_cache = nullptr;

  void Run(int t, int threads, const Context&) const {
    auto [begin, end] = Share(dims.batch * dims.seq, t, threads);
    if (begin < end) {
      RopeKvWrite(dims, dtype, cache_dtype, q, k, v, pos, cos_sin, q_out, k_cache, v_cache,
                  begin, end);
    }
  }
};

struct AttentionRun {
  AttentionDims dims;
  AttentionPlan plan;
  DType dtype = DType::kF32, cache_dtype = DType::kF32;
  float scale = 1.0f;
  int64_t window = 0;
  const void *q = nullptr, *k_cache = nullptr, *v_cache = nullptr;
  const int32_t* pos = nullptr;
  void* out = nullptr;

  void Run(int t, int threads, const Context& c) const {
    int64_t begin = 0, end = 0;
    AttentionItemRange(plan, dims, window, pos, t, threads, &begin, &end);
    void* partials = plan.partial_bytes > 0 ? c.shared : nullptr;
    Attention(plan, dims, c.attention_isa, dtype, cache_dtype, scale, window, q, k_cache, v_cache,
              pos, out, begin, end, ThreadScratch(c, t), partials);
    if (plan.combine_rows > 0) {
      c.pool->Barrier(t);
      auto [r0, r1] = Share(plan.combine_rows, t, threads);
      AttentionCombine(plan, dims, dtype, window, pos, partials, out, r0, r1);
    }
  }
};

// embedding from a block-quantized table (GatherRowsStep).
struct GatherRun {
  DType table_dtype = DType::kQ8_0;
  const uint8_t* table = nullptr;
  int64_t row_bytes = 0, rows = 0, cols = 0, table_rows = 0, index_offset = 0;
  const int32_t* ids = nullptr;
  float* out = nullptr;
  int32_t* fault = nullptr;

  void Run(int t, int threads, const Context&) const {
    auto [begin, end] = Share(rows, t, threads);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t id = ids[r], g = id + index_offset;
      if (id < 0 || g < 0 || g >= table_rows) {
        __atomic_store_n(fault, 1, __ATOMIC_RELAXED);
        std::fill(out + r * cols, out + (r + 1) * cols, 0.0f);
        continue;
      }
      DequantizeRow(table_dtype, table + g * row_bytes, cols, out + r * cols);
    }
  }
};

using StepRun = std::variant<RowRun, GemmRun, RopeRun, AttentionRun, GatherRun>;

}  // namespace kiln::cpu::steps

#endif  // KILN_RUNTIME_CPU_CPU_STEPS_H_
