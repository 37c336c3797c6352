#include "codegen/attention/attention_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::codegen::attention {
namespace {

constexpr int64_t kReservedSharedPerBlock = 1024;  // bytes the runtime keeps per block

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

absl::Status FitsDevice(const TileConfig& tiles, const AttentionShape& shape,
                        const GpuTarget& info) {
  const int64_t bytes = AttentionSharedBytes(shape.head_dim, tiles);
  if (bytes > info.max_shared_per_block || tiles.threads() > info.max_threads_per_block) {
    return absl::FailedPreconditionError(
        absl::StrCat("attention tiles for head_dim ", shape.head_dim, " need ", bytes,
                     " bytes of shared memory and ", tiles.threads(), " threads; ", info.name,
                     " allows ", info.max_shared_per_block, " and ", info.max_threads_per_block));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateShape(const AttentionShape& shape) {
  if (shape.head_dim < 16 || shape.head_dim > 256 || shape.head_dim % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention kernels support head_dim a multiple of 16 from 16 to 256, not ",
        shape.head_dim));
  }
  if (shape.heads <= 0 || shape.kv_heads <= 0 || shape.heads % shape.kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention needs heads (", shape.heads,
                                                   ") a positive multiple of kv_heads (",
                                                   shape.kv_heads, ")"));
  }
  if (shape.dtype != DType::kF32 && shape.dtype != DType::kF16 && shape.dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("attention kernels take f32, f16 or bf16, not ",
                                                   std::string(DTypeName(shape.dtype))));
  }
  return absl::OkStatus();
}

int64_t AttentionSharedBytes(int head_dim, const TileConfig& tiles) {
  const int64_t floats =
      int64_t{tiles.block_m()} * head_dim + int64_t{tiles.block_n} * KeyStride(head_dim) +
      int64_t{tiles.block_n} * head_dim + int64_t{tiles.block_m()} * tiles.block_n;
  return floats * 4 + int64_t{2} * tiles.block_m() * 4;
}

int BlocksPerSmByShared(int64_t shared_bytes, const GpuTarget& info) {
  const int64_t per_sm = info.max_shared_per_block + kReservedSharedPerBlock;
  return static_cast<int>(per_sm / (shared_bytes + kReservedSharedPerBlock));
}

absl::StatusOr<TileConfig> PrefillTiles(const AttentionShape& shape, const GpuTarget& info) {
  if (absl::Status valid = ValidateShape(shape); !valid.ok()) return valid;
  TileConfig tiles;
  tiles.warps = shape.head_dim == 256 ? 8 : 4;
  tiles.rows_per_warp = std::min(16, 1024 / shape.head_dim);
  for (int block_n : {64, 32}) {
    tiles.block_n = block_n;
    if (BlocksPerSmByShared(AttentionSharedBytes(shape.head_dim, tiles), info) >= 2) {
      tiles.min_blocks = 2;
      return tiles;
    }
  }
  // Neither width lets two blocks share an SM: take the narrow tile, which
  // at least fits one block on more devices.
  tiles.block_n = 32;
  tiles.min_blocks = 1;
  if (absl::Status fits = FitsDevice(tiles, shape, info); !fits.ok()) return fits;
  return tiles;
}

absl::StatusOr<TileConfig> DecodeTiles(const AttentionShape& shape, const GpuTarget& info) {
  if (absl::Status valid = ValidateShape(shape); !valid.ok()) return valid;
  TileConfig tiles{.warps = 4, .rows_per_warp = 4, .block_n = 32, .min_blocks = 1};
  if (absl::Status fits = FitsDevice(tiles, shape, info); !fits.ok()) return fits;
  tiles.min_blocks =
      std::clamp(BlocksPerSmByShared(AttentionSharedBytes(shape.head_dim, tiles), info), 1, 4);
  return tiles;
}

int64_t DecodeRowBlocks(const AttentionShape& shape, const TileConfig& tiles, int64_t tokens) {
  return CeilDiv(int64_t{shape.group()} * tokens, tiles.block_m());
}

int DecodeSplits(const AttentionShape& shape, const TileConfig& tiles, const GpuTarget& info,
                 int64_t batch, int64_t tokens, int64_t capacity) {
  const int64_t blocks =
      std::max<int64_t>(1, batch * shape.kv_heads * DecodeRowBlocks(shape, tiles, tokens));
  const int64_t wanted = CeilDiv(2 * int64_t{info.sm_count}, blocks);
  const int64_t most = std::min<int64_t>(kMaxDecodeSplits, CeilDiv(capacity, tiles.block_n));
  return static_cast<int>(std::clamp<int64_t>(wanted, 1, std::max<int64_t>(1, most)));
}

std::string KernelKindName(KernelKind kind) {
  switch (kind) {
    case KernelKind::kPrefill:
      return "prefill";
    case KernelKind::kDecode:
      return "decode";
    case KernelKind::kCombine:
      return "combine";
    case KernelKind::kRopeKvWrite:
      return "rope_kv_write";
  }
  return "unknown";
}

std::string KernelName(const KernelVariant& v) {
  std::string name = absl::StrCat("kiln_attn_", KernelKindName(v.kind), "_d", v.shape.head_dim,
                                  "_h", v.shape.heads, "_kv", v.shape.kv_heads, "_",
                                  std::string(DTypeName(v.shape.dtype)));
  if (v.kind == KernelKind::kPrefill || v.kind == KernelKind::kDecode) {
    absl::StrAppend(&name, "_w", v.tiles.warps, "r", v.tiles.rows_per_warp, "n", v.tiles.block_n,
                    "b", v.tiles.min_blocks);
  }
  return name;
}

absl::StatusOr<KernelVariant> VariantFor(KernelKind kind, const AttentionShape& shape,
                                         const GpuTarget& info) {
  if (absl::Status valid = ValidateShape(shape); !valid.ok()) return valid;
  KernelVariant variant{.kind = kind, .shape = shape, .tiles = {}};
  if (kind == KernelKind::kPrefill || kind == KernelKind::kDecode) {
    absl::StatusOr<TileConfig> tiles =
        kind == KernelKind::kPrefill ? PrefillTiles(shape, info) : DecodeTiles(shape, info);
    if (!tiles.ok()) return tiles.status();
    variant.tiles = *tiles;
  }
  return variant;
}

}  // namespace kiln::codegen::attention
