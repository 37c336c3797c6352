// What a hand-written GEMV kernel (codegen/gemv/gemv_cuda.h) is specialised
// for, and the tiling chosen for it from a GpuTarget, so that the choices
// for an A100 or an H100 are testable on a CPU.
//
// The kernel computes the IR's matmul_nt for a few rows (batch-1 decode, or
// the k+1 tokens of a speculative verify step):
//   out[r, j] = round(sum_k x[r, k] * w[j, k] + bias[j]),  r < rows, j < n,
// with f32 accumulation and one rounding to the dtype after the bias add
// (runtime/reference/ops_linalg.cc's MatmulNT). What varies per model and
// weight (K, dtype, the most rows per launch, the tiling) is a compile-time
// constant of the generated source; `n` and `rows` are launch arguments.
#ifndef KILN_CODEGEN_GEMV_GEMV_CONFIG_H_
#define KILN_CODEGEN_GEMV_GEMV_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "base/dtype.h"

namespace kiln::codegen::gemv {

// The most rows one launch handles (accumulators: rows x columns per warp
// per lane, at most 32 registers).
inline constexpr int kMaxRowsPerLaunch = 8;

// The weight's reduction size, the dtype of x, w, bias and out (f32, f16 or
// bf16, all the same as the IR gives them) and the most rows a launch may
// be given (1..kMaxRowsPerLaunch).
struct GemvShape {
  int64_t k = 2048;
  DType dtype = DType::kBF16;
  int max_rows = 1;
};

// InvalidArgument naming the field when the shape is outside what the
// kernel is written for.
absl::Status ValidateGemvShape(const GemvShape& shape);

// How a launch divides the work. A warp owns `cols_per_warp` consecutive
// output columns and walks all of K for them and for every row: lane l
// takes the vectors (chunks of `vec` elements) l, l + 32, l + 64, ... of
// each of its columns' weight rows, so one warp-wide load reads 32 * vec
// consecutive elements of a weight row, and each weight byte is read once
// for all rows. A block is `warps` warps (warps * cols_per_warp columns).
struct GemvTiles {
  int vec = 8;            // elements per load: 16 bytes when K allows
  int warps = 8;          // per block
  int cols_per_warp = 4;  // output columns a warp owns
  bool x_in_shared = true;  // x staged in shared memory as f32, else read through L1
  int min_blocks = 2;     // __launch_bounds__'s second argument (ptxas's register budget)

  int threads() const { return warps * 32; }
  int cols_per_block() const { return warps * cols_per_warp; }
};

// Elements per load: the largest power of two that divides `k`, at most 16
// bytes' worth (4 f32, 8 f16/bf16). Weight row j starts at element j * k,
// so with a 16-byte aligned base every load of every row is aligned.
// Odd K (769) falls back to element loads, still coalesced across the warp.
int VecElements(int64_t k, DType dtype);

// Static shared memory of a block that stages x: max_rows * k f32.
int64_t XSharedBytes(const GemvShape& shape);

// The tiling for `shape` on `info`, for weights of about `n_hint` columns
// (the launch may pass any n). The rule:
//   vec: VecElements (128-bit loads whenever K is a multiple of the vector);
//   warps = 8 (256 threads), min_blocks = 2: a 128-register budget, which
//     holds the 32 accumulators of 8 rows x 4 columns without spills;
//   cols_per_warp = 4, halved (down to 1) while the grid would have fewer
//     than kWarpsPerSmTarget warps per SM: columns per warp buy loads in
//     flight per lane and reuse of each x load, but only wide matrices
//     have the columns to spare (n 2048: 1, n 8192: 2 on an H100, 4 on an
//     A100, the vocabulary projection: 4);
//   x_in_shared when max_rows * k f32 fits in at most 48 KiB (no opt-in)
//     and still lets kXSharedBlocksPerSm blocks share an SM; otherwise x is
//     read from global memory (it is small and stays in L1/L2).
// FailedPrecondition if the device cannot run a block.
inline constexpr int kWarpsPerSmTarget = 16;
inline constexpr int kXSharedBlocksPerSm = 4;
absl::StatusOr<GemvTiles> ChooseGemvTiles(const GemvShape& shape, int64_t n_hint,
                                          const GpuTarget& info);

// One kernel to generate.
struct GemvVariant {
  GemvShape shape;
  GemvTiles tiles;
};

// The variant for `shape` with the tiles chosen for `info` and `n_hint`.
absl::StatusOr<GemvVariant> GemvVariantFor(const GemvShape& shape, int64_t n_hint,
                                           const GpuTarget& info);

// The `extern "C"` name, unique per variant, e.g.
// "kiln_gemv_k2048_bf16_r8_v8w8c4s" (s: x in shared, g: x from global).
std::string GemvKernelName(const GemvVariant& variant);

// Grid of a launch over `n` output columns: ceil(n / cols_per_block()).
int64_t GemvBlocks(const GemvTiles& tiles, int64_t n);

}  // namespace kiln::codegen::gemv

#endif  // KILN_CODEGEN_GEMV_GEMV_CONFIG_H_
