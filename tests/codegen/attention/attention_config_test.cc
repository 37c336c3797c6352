// The tile choices per GpuTarget preset (attention_config.h's rules,
// pinned), the split planner, shape validation and the rendered sources'
// contract (one extern "C" kernel by its variant's name, no #include).
#include "codegen/attention/attention_config.h"

#include <set>
#include <string>

#include "codegen/attention/attention_cuda.h"
#include "codegen/gpu_target.h"
#include "gtest/gtest.h"

namespace kiln::codegen::attention {
namespace {

AttentionShape Shape(int head_dim, int heads = 32, int kv_heads = 8, DType dtype = DType::kBF16) {
  return {.head_dim = head_dim, .heads = heads, .kv_heads = kv_heads, .dtype = dtype};
}

std::string Tiles(const absl::StatusOr<TileConfig>& t) {
  if (!t.ok()) return std::string(t.status().message());
  return "w" + std::to_string(t->warps) + " r" + std::to_string(t->rows_per_warp) + " n" +
         std::to_string(t->block_n) + " b" + std::to_string(t->min_blocks);
}

TEST(AttentionConfigTest, PrefillTilesPerPreset) {
  // A100 (163 KiB a block): head_dim 128 with 64-key tiles (91 KB) would
  // leave one block per SM, so it takes 32-key tiles; 256 fits one block.
  EXPECT_EQ(Tiles(PrefillTiles(Shape(64), A100Target())), "w4 r16 n64 b2");
  EXPECT_EQ(Tiles(PrefillTiles(Shape(128), A100Target())), "w4 r8 n32 b2");
  EXPECT_EQ(Tiles(PrefillTiles(Shape(256), A100Target())), "w8 r4 n32 b1");
  // H100 (227 KiB): two 91 KB blocks fit, and two 103 KB head_dim-256 ones.
  EXPECT_EQ(Tiles(PrefillTiles(Shape(64), H100Target())), "w4 r16 n64 b2");
  EXPECT_EQ(Tiles(PrefillTiles(Shape(128), H100Target())), "w4 r8 n64 b2");
  EXPECT_EQ(Tiles(PrefillTiles(Shape(256), H100Target())), "w8 r4 n32 b2");
  // Small heads keep 16 rows a warp (one dim a lane); 80 takes 12.
  EXPECT_EQ(Tiles(PrefillTiles(Shape(16), H100Target())), "w4 r16 n64 b2");
  EXPECT_EQ(Tiles(PrefillTiles(Shape(32), H100Target())), "w4 r16 n64 b2");
  EXPECT_EQ(Tiles(PrefillTiles(Shape(80), H100Target())), "w4 r12 n64 b2");
}

TEST(AttentionConfigTest, DecodeTilesPerPreset) {
  EXPECT_EQ(Tiles(DecodeTiles(Shape(64), A100Target())), "w4 r4 n32 b4");
  EXPECT_EQ(Tiles(DecodeTiles(Shape(128), A100Target())), "w4 r4 n32 b3");
  EXPECT_EQ(Tiles(DecodeTiles(Shape(256), A100Target())), "w4 r4 n32 b1");
  EXPECT_EQ(Tiles(DecodeTiles(Shape(128), H100Target())), "w4 r4 n32 b4");
  EXPECT_EQ(Tiles(DecodeTiles(Shape(256), H100Target())), "w4 r4 n32 b2");
}

TEST(AttentionConfigTest, SharedMemoryAndBlocksPerSm) {
  const TileConfig t{.warps = 4, .rows_per_warp = 8, .block_n = 64, .min_blocks = 2};
  // q 32x128 + k 64x132 + v 64x128 + p 32x64 floats, then 2x32 ints.
  EXPECT_EQ(AttentionSharedBytes(128, t), (32 * 128 + 64 * 132 + 64 * 128 + 32 * 64) * 4 + 256);
  EXPECT_EQ(BlocksPerSmByShared(91392, A100Target()), 1);
  EXPECT_EQ(BlocksPerSmByShared(91392, H100Target()), 2);
}

TEST(AttentionConfigTest, DecodeSplitsFillTwoBlocksPerSm) {
  const TileConfig t = *DecodeTiles(Shape(128), H100Target());
  // One token of 8 KV heads, 4 query heads each: 8 row blocks.
  EXPECT_EQ(DecodeSplits(Shape(128), t, A100Target(), 1, 1, 4096), 27);  // ceil(216 / 8)
  EXPECT_EQ(DecodeSplits(Shape(128), t, H100Target(), 1, 1, 4096), 33);  // ceil(264 / 8)
  // At most one 32-key tile a split, at most kMaxDecodeSplits.
  EXPECT_EQ(DecodeSplits(Shape(128), t, H100Target(), 1, 1, 83), 3);
  EXPECT_EQ(DecodeSplits(Shape(128, 8, 1), t, H100Target(), 1, 1, 1 << 20), kMaxDecodeSplits);
  // A batch that fills the GPU by itself is not split.
  EXPECT_EQ(DecodeSplits(Shape(128), t, H100Target(), 64, 5, 4096), 1);
}

TEST(AttentionConfigTest, ShapesOutsideTheKernelsAreErrors) {
  // head_dim: a multiple of 16 from 16 to 256.
  for (int bad : {0, 8, 24, 72, 100, 272}) EXPECT_FALSE(ValidateShape(Shape(bad)).ok()) << bad;
  for (int good : {16, 32, 80, 96}) EXPECT_TRUE(ValidateShape(Shape(good)).ok()) << good;
  EXPECT_FALSE(ValidateShape(Shape(128, 6, 4)).ok());
  EXPECT_FALSE(ValidateShape(Shape(128, 8, 0)).ok());
  EXPECT_FALSE(ValidateShape(Shape(128, 8, 2, DType::kI32)).ok());
  EXPECT_TRUE(ValidateShape(Shape(256, 16, 1, DType::kF32)).ok());
  GpuTarget small = A100Target();
  small.max_shared_per_block = 48 * 1024;
  absl::StatusOr<TileConfig> tiles = PrefillTiles(Shape(256), small);
  EXPECT_EQ(tiles.status().code(), absl::StatusCode::kFailedPrecondition) << Tiles(tiles);
}

TEST(AttentionConfigTest, EverySourceDefinesOneKernelByItsUniqueName) {
  std::set<std::string> names;
  for (const GpuTarget& info : {A100Target(), H100Target()}) {
    for (int head_dim : {64, 128, 256}) {
      for (KernelKind kind : {KernelKind::kPrefill, KernelKind::kDecode, KernelKind::kCombine,
                              KernelKind::kRopeKvWrite}) {
        const KernelVariant v = *VariantFor(kind, Shape(head_dim), info);
        const std::string source = *RenderAttentionCuda(v);
        const std::string name = KernelName(v);
        EXPECT_NE(source.find("extern \"C\" __global__"), std::string::npos) << name;
        EXPECT_NE(source.find(name + "("), std::string::npos) << name;
        EXPECT_EQ(source.find("#include"), std::string::npos) << name;
        EXPECT_EQ(source.find("$KERNEL"), std::string::npos) << name;
        names.insert(name + "\n" + source);
      }
    }
  }
  // Equal names only for equal sources (combine/rope do not depend on tiles).
  std::set<std::string> distinct_names;
  for (const std::string& entry : names) distinct_names.insert(entry.substr(0, entry.find('\n')));
  EXPECT_EQ(distinct_names.size(), names.size());
}

}  // namespace
}  // namespace kiln::codegen::attention
