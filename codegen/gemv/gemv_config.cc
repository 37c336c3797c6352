#include "codegen/gemv/gemv_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::codegen::gemv {
namespace {

constexpr int64_t kReservedSharedPerBlock = 1024;  // bytes the runtime keeps per block
constexpr int64_t kStaticSharedLimit = 48 * 1024;  // static __shared__ needs no opt-in below this
constexpr int kLoadBytes = 16;                     // one 128-bit load

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int ElementBytes(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

// Blocks of `shared_bytes` one SM holds at once by shared memory: an SM has
// max_shared_per_block + 1 KiB, of which 1 KiB is reserved per resident
// block (CUDA C++ Programming Guide, compute capabilities 8.x/9.0).
int64_t BlocksPerSmByShared(int64_t shared_bytes, const GpuTarget& info) {
  return (info.max_shared_per_block + kReservedSharedPerBlock) /
         (shared_bytes + kReservedSharedPerBlock);
}

}  // namespace

absl::Status ValidateGemvShape(const GemvShape& shape) {
  if (shape.k <= 0 || shape.k > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gemv needs 0 < k <= 2^24, not ", shape.k));
  }
  if (shape.dtype != DType::kF32 && shape.dtype != DType::kF16 && shape.dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("gemv kernels take f32, f16 or bf16, not ",
                                                   std::string(DTypeName(shape.dtype))));
  }
  if (shape.max_rows < 1 || shape.max_rows > kMaxRowsPerLaunch) {
    return absl::InvalidArgumentError(absl::StrCat("gemv max_rows must be in [1, ",
                                                   kMaxRowsPerLaunch, "], not ", shape.max_rows));
  }
  return absl::OkStatus();
}

int VecElements(int64_t k, DType dtype) {
  int vec = kLoadBytes / ElementBytes(dtype);
  while (k % vec != 0) vec /= 2;
  return vec;
}

int64_t XSharedBytes(const GemvShape& shape) { return int64_t{shape.max_rows} * shape.k * 4; }

absl::StatusOr<GemvTiles> ChooseGemvTiles(const GemvShape& shape, int64_t n_hint,
                                          const GpuTarget& info) {
  if (absl::Status valid = ValidateGemvShape(shape); !valid.ok()) return valid;
  GemvTiles tiles;
  tiles.vec = VecElements(shape.k, shape.dtype);
  tiles.warps = 8;
  tiles.min_blocks = 2;
  tiles.cols_per_warp = 4;
  const int64_t target_warps = int64_t{kWarpsPerSmTarget} * info.sm_count;
  while (tiles.cols_per_warp > 1 && CeilDiv(n_hint, tiles.cols_per_warp) < target_warps) {
    tiles.cols_per_warp /= 2;
  }
  const int64_t x_bytes = XSharedBytes(shape);
  tiles.x_in_shared = x_bytes <= std::min(kStaticSharedLimit, info.max_shared_per_block) &&
                      BlocksPerSmByShared(x_bytes, info) >= kXSharedBlocksPerSm;
  if (tiles.threads() > info.max_threads_per_block || info.warp_size != 32) {
    return absl::FailedPreconditionError(
        absl::StrCat("gemv needs ", tiles.threads(), " threads a block and 32-lane warps; ",
                     info.name, " allows ", info.max_threads_per_block, " threads, warp size ",
                     info.warp_size));
  }
  return tiles;
}

absl::StatusOr<GemvVariant> GemvVariantFor(const GemvShape& shape, int64_t n_hint,
                                           const GpuTarget& info) {
  absl::StatusOr<GemvTiles> tiles = ChooseGemvTiles(shape, n_hint, info);
  if (!tiles.ok()) return tiles.status();
  return GemvVariant{shape, *tiles};
}

std::string GemvKernelName(const GemvVariant& v) {
  const GemvTiles& t = v.tiles;
  return absl::StrCat("kiln_gemv_k", v.shape.k, "_", std::string(DTypeName(v.shape.dtype)), "_r",
                      v.shape.max_rows, "_v", t.vec, "w", t.warps, "c", t.cols_per_warp, "b",
                      t.min_blocks, t.x_in_shared ? "s" : "g");
}

int64_t GemvBlocks(const GemvTiles& tiles, int64_t n) { return CeilDiv(n, tiles.cols_per_block()); }

}  // namespace kiln::codegen::gemv
