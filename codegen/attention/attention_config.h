// What a hand-written attention kernel is specialised for, and the tile
// sizes chosen for it from a GpuTarget (so an H100's choices are testable
// on a CPU).
//
// The four kernels (codegen/attention/attention_cuda.h), the CUDA executor
// and the tests share these types. Everything that varies per model
// (head_dim, head counts, dtype) and per GPU (tiles) is a compile-time
// constant of the generated source; everything that varies per step
// (batch, sequence length, cache capacity, scale, window, split count) is a
// launch argument, so one cubin serves every bucket of a model.
#ifndef KILN_CODEGEN_ATTENTION_ATTENTION_CONFIG_H_
#define KILN_CODEGEN_ATTENTION_ATTENTION_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "base/dtype.h"

namespace kiln::codegen::attention {

// The model's attention constants. q, k, v, the caches and the output all
// have `dtype` (f32, f16 or bf16); arithmetic is f32 throughout.
struct AttentionShape {
  int head_dim = 128;  // a multiple of 16 from 16 to 256 (the kernels are tuned for 64/128/256)
  int heads = 32;      // query heads
  int kv_heads = 8;    // divides heads; heads / kv_heads query heads share one KV head
  DType dtype = DType::kF16;

  int group() const { return heads / kv_heads; }
};

// InvalidArgument naming the field when the shape is outside what the
// kernels are written for.
absl::Status ValidateShape(const AttentionShape& shape);

// One block's tiling of the tile loop both attention kernels share. A block
// of `warps` warps owns block_m() = warps * rows_per_warp query rows (warp w
// the rows [w * rows_per_warp, (w + 1) * rows_per_warp)) and walks the keys
// in tiles of `block_n` (one or two keys per lane). Each lane keeps
// rows_per_warp * head_dim / 32 output accumulators in registers.
struct TileConfig {
  int warps = 4;
  int rows_per_warp = 8;
  int block_n = 32;  // 32 or 64
  // Blocks per SM the choice assumes: __launch_bounds__'s second argument,
  // which gives ptxas its register budget, 65536 / (threads * min_blocks).
  // Left to its own heuristic, ptxas aimed the decode kernel at 64
  // registers and spilled.
  int min_blocks = 1;

  int threads() const { return warps * 32; }
  int block_m() const { return warps * rows_per_warp; }
  int keys_per_lane() const { return block_n / 32; }
};

// Floats between consecutive keys of the shared K tile: head_dim + 4. Lane j
// reads key j's row as float4s; with the 4-float pad the 8 lanes of a
// quarter-warp start 4 banks apart and cover all 32 banks once, so the
// 128-bit loads are conflict-free.
inline int KeyStride(int head_dim) { return head_dim + 4; }

// Dynamic shared memory of an attention block, in bytes: the query rows,
// the K tile (padded), the V tile and each warp's probabilities, all f32,
// then two ints per row (position and first visible slot).
int64_t AttentionSharedBytes(int head_dim, const TileConfig& tiles);

// Blocks of `shared_bytes` that fit on one SM at once by shared memory. An
// SM has max_shared_per_block + 1 KiB, and the runtime reserves 1 KiB of it
// per resident block (CUDA C++ Programming Guide, compute capabilities
// 8.x/9.0: 164 KiB per SM on an A100, 228 KiB on an H100).
int BlocksPerSmByShared(int64_t shared_bytes, const GpuTarget& info);

// Tiles of the prefill kernel. The rule:
//   rows_per_warp = min(16, 1024 / head_dim): 32 accumulators per lane at
//     head dims 64/128/256 (16, 8, 4 rows), which with the scores and
//     addressing stays well under the 255-register limit with no spills;
//     small heads (16, 32: tiny test models) keep 16 rows, one dim a lane;
//   warps = 8 for head_dim 256 (else 4), so its block still covers 32 rows;
//   block_n = 64 where two blocks still fit per SM by shared memory, else
//     32. The SIMT kernel has no asynchronous copy pipeline, so a second
//     resident block is what overlaps one block's tile loads with another's
//     maths; wider tiles halve the block barriers per key when that is free.
//   min_blocks = 2 where shared memory allows it (else 1).
//   On an A100 this gives block_n 64/32/32 for head_dim 64/128/256, on an
//   H100 64/64/32 (attention_config_test pins both).
// FailedPrecondition if even the smallest tile does not fit the device.
absl::StatusOr<TileConfig> PrefillTiles(const AttentionShape& shape, const GpuTarget& info);

// Tiles of the split-KV decode kernel: 4 warps of 4 rows (16 rows: up to 4
// verify tokens of a 4:1 GQA group, or one token of 16 heads) and 32-key
// tiles. Decode reads each key once per block for all its rows and is bound
// by that traffic, so parallelism comes from splitting the keys
// (DecodeSplits), not from wider tiles. min_blocks = 4 where shared memory
// allows it (128 registers a thread; more warps in flight hide the loads).
absl::StatusOr<TileConfig> DecodeTiles(const AttentionShape& shape, const GpuTarget& info);

// Row blocks of the decode kernel for `tokens` query tokens: its rows are
// the (token, query head) pairs of one KV head, row = token * group + g.
int64_t DecodeRowBlocks(const AttentionShape& shape, const TileConfig& tiles, int64_t tokens);

// Blocks the decode kernel splits each row block's keys over (grid.x), so
// that the grid holds about two blocks per SM: ceil(2 * sm_count / (batch *
// kv_heads * row_blocks)), at least 1 and at most ceil(capacity / block_n)
// and kMaxDecodeSplits. The kernel sizes the chunks from the keys actually
// visible at run time (a multiple of block_n each), so a 4096-slot cache
// holding 300 tokens is split 300 ways, not 4096, without the host knowing
// the length (the launch stays fixed under CUDA-graph replay).
inline constexpr int kMaxDecodeSplits = 64;
int DecodeSplits(const AttentionShape& shape, const TileConfig& tiles, const GpuTarget& info,
                 int64_t batch, int64_t tokens, int64_t capacity);

// Threads of the RoPE + KV-write kernel (one block per token) and of the
// decode combine kernel (one block per output row, one thread per dim).
inline constexpr int kRopeThreads = 128;
inline int CombineThreads(const AttentionShape& shape) { return shape.head_dim; }

// The four kernels.
enum class KernelKind : uint8_t { kPrefill, kDecode, kCombine, kRopeKvWrite };
std::string KernelKindName(KernelKind kind);  // "prefill", "decode", "combine", "rope_kv_write"

// One kernel to generate: what it computes, for which model, with which
// tiles (unused by kCombine and kRopeKvWrite).
struct KernelVariant {
  KernelKind kind = KernelKind::kPrefill;
  AttentionShape shape;
  TileConfig tiles;
};

// The `extern "C"` name, unique per variant, e.g.
// "kiln_attn_prefill_d128_h32_kv8_bf16_w4r8n64b2".
std::string KernelName(const KernelVariant& variant);

// The variant of `kind` for `shape` with the tiles chosen for `info`.
absl::StatusOr<KernelVariant> VariantFor(KernelKind kind, const AttentionShape& shape,
                                         const GpuTarget& info);

}  // namespace kiln::codegen::attention

#endif  // KILN_CODEGEN_ATTENTION_ATTENTION_CONFIG_H_
