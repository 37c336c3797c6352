// The GEMV tiling rule of gemv_config.h on the A100 and H100 presets, shape
// validation and the rendered source's contract (one extern "C" kernel, no
// #include, the constants at its top).
#include <string>

#include "codegen/gpu_target.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/gemv/gemv_cuda.h"
#include "gtest/gtest.h"

namespace kiln::codegen::gemv {
namespace {

GemvTiles Tiles(int64_t k, DType dtype, int max_rows, int64_t n_hint, const GpuTarget& info) {
  absl::StatusOr<GemvTiles> t = ChooseGemvTiles({k, dtype, max_rows}, n_hint, info);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : GemvTiles{};
}

TEST(GemvConfigTest, ColumnsPerWarpKeepSixteenWarpsPerSm) {
  // A100 (108 SMs: 1728 warps wanted), H100 (132 SMs: 2112).
  EXPECT_EQ(Tiles(2048, DType::kBF16, 1, 2048, A100Target()).cols_per_warp, 1);
  EXPECT_EQ(Tiles(2048, DType::kBF16, 1, 8192, A100Target()).cols_per_warp, 4);
  EXPECT_EQ(Tiles(2048, DType::kBF16, 1, 128256, A100Target()).cols_per_warp, 4);
  EXPECT_EQ(Tiles(2048, DType::kBF16, 1, 2048, H100Target()).cols_per_warp, 1);
  EXPECT_EQ(Tiles(2048, DType::kBF16, 1, 8192, H100Target()).cols_per_warp, 2);
  EXPECT_EQ(Tiles(2048, DType::kBF16, 1, 128256, H100Target()).cols_per_warp, 4);
  const GemvTiles t = Tiles(2048, DType::kBF16, 8, 128256, H100Target());
  EXPECT_EQ(t.warps, 8);
  EXPECT_EQ(t.min_blocks, 2);
  EXPECT_EQ(t.vec, 8);
  EXPECT_EQ(GemvBlocks(t, 128256), 4008);  // 32 columns a block
}

TEST(GemvConfigTest, XIsStagedInSharedMemoryWhenFourBlocksStillFit) {
  // A100: 164 KiB an SM, four blocks -> at most 40 KiB of x each.
  EXPECT_TRUE(Tiles(2048, DType::kBF16, 5, 2048, A100Target()).x_in_shared);   // 40 KiB
  EXPECT_FALSE(Tiles(2048, DType::kBF16, 6, 2048, A100Target()).x_in_shared);  // 48 KiB
  EXPECT_TRUE(Tiles(8192, DType::kBF16, 1, 2048, A100Target()).x_in_shared);   // 32 KiB
  EXPECT_FALSE(Tiles(8192, DType::kBF16, 2, 2048, A100Target()).x_in_shared);
  // H100: the 48 KiB static limit binds first.
  EXPECT_TRUE(Tiles(2048, DType::kF16, 6, 2048, H100Target()).x_in_shared);  // 48 KiB
  EXPECT_FALSE(Tiles(2048, DType::kF16, 7, 2048, H100Target()).x_in_shared);
  EXPECT_FALSE(Tiles(2048, DType::kF32, 8, 2048, H100Target()).x_in_shared);
}

TEST(GemvConfigTest, BadShapesAreInvalidArgument) {
  for (const GemvShape& s : {GemvShape{0, DType::kBF16, 1}, GemvShape{2048, DType::kI32, 1},
                             GemvShape{2048, DType::kBF16, 0}, GemvShape{2048, DType::kBF16, 9}}) {
    EXPECT_EQ(ChooseGemvTiles(s, 2048, H100Target()).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(GemvConfigTest, SourceHasOneExternCKernelAndItsConstants) {
  absl::StatusOr<GemvVariant> v = GemvVariantFor({769, DType::kF16, 3}, 1031, A100Target());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(GemvKernelName(*v), "kiln_gemv_k769_f16_r3_v1w8c1b2s");
  absl::StatusOr<std::string> src = RenderGemvCuda(*v);
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ(src->find("#include"), std::string::npos);
  EXPECT_NE(src->find("extern \"C\" __global__ void __launch_bounds__(kThreads, kMinBlocks)\n" +
                      GemvKernelName(*v) + "("),
            std::string::npos);
  EXPECT_NE(src->find("constexpr int kK = 769;"), std::string::npos);
  EXPECT_NE(src->find("constexpr int kVecBytes = 2;"), std::string::npos);
  EXPECT_NE(src->find("cvt.rn.f16.f32"), std::string::npos);
  GemvVariant bad = *v;
  bad.tiles.vec = 8;  // does not divide 769
  EXPECT_FALSE(RenderGemvCuda(bad).ok());
}

}  // namespace
}  // namespace kiln::codegen::gemv
