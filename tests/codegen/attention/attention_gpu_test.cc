// The attention kernels on a GPU against the reference executor, through
// the checks the emulator suite shares (attention_check.h). Each variant
// is compiled by NVRTC with Kiln's options for the device's architecture,
// with the tiles of the matching GpuTarget preset (sm_80: A100, sm_90:
// H100, which H200s share), loaded and launched through the CUDA device
// seam (runtime/cuda/device_api.h) exactly as the executor does:
//   prefill, decode + combine: f32 NMSE <= 1e-7, f16/bf16 the TESTING.md
//     allclose, with the count of bit-identical elements printed; sizes
//     the emulator suite does not reach (head_dim 256, caches of 4096);
//   rope_kv_write: bit for bit (no transcendental on the device);
//   a position outside the cache sets the fault flag.
// Without a device every test is SKIPPED, never passed (tools/gpu/check.sh
// treats a skip on a host with a GPU as a failure).
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "codegen/attention/attention_config.h"
#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "tests/codegen/attention/attention_check.h"
#include "tests/codegen/attention/attention_test_support.h"
#include "tests/support/gpu_device_test.h"

namespace kiln::codegen::attention::testing {
namespace {

using AttentionGpuTest = ::kiln::testing::GpuDeviceTest;

ProblemSpec Spec(int head_dim, int heads, int kv_heads, DType dtype, int64_t seq, int64_t capacity,
                 int64_t window, int64_t start_lo, int64_t start_hi) {
  return {.shape = {.head_dim = head_dim, .heads = heads, .kv_heads = kv_heads, .dtype = dtype},
          .batch = 2,
          .seq = seq,
          .capacity = capacity,
          .window = window,
          .positions = Positions::kContiguous,
          .start_lo = start_lo,
          .start_hi = start_hi};
}

TEST_F(AttentionGpuTest, FlashPrefillMatchesTheReference) {
  Rng rng = TestRng();
  CheckCounts counts;
  for (const ProblemSpec& spec : {Spec(128, 8, 2, DType::kBF16, 83, 4096, 0, 200, 300),
                                  Spec(64, 8, 2, DType::kF16, 7, 83, 5, 30, 50),
                                  Spec(256, 4, 1, DType::kF32, 83, 4096, 32, 200, 300),
                                  Spec(128, 8, 8, DType::kF16, 83, 83, 0, 0, 0),
                                  Spec(16, 4, 2, DType::kF32, 83, 83, 0, 0, 0),
                                  Spec(32, 4, 1, DType::kBF16, 7, 83, 5, 30, 50),
                                  Spec(80, 8, 2, DType::kBF16, 83, 4096, 0, 200, 300)}) {
    const Problem p = MakeProblem(rng, spec);
    const std::string what =
        absl::StrCat("prefill d", spec.shape.head_dim, " ", std::string(DTypeName(spec.shape.dtype)),
                     " seq ", spec.seq, " cache ", spec.capacity, " window ", spec.window);
    const absl::Status s = CheckPrefill(run(), preset_, p, what, counts);
    ASSERT_TRUE(s.ok()) << what << ": " << s;
  }
}

TEST_F(AttentionGpuTest, SplitKvDecodeAndCombineMatchTheReference) {
  Rng rng = TestRng();
  CheckCounts counts;
  for (const ProblemSpec& spec : {Spec(128, 8, 2, DType::kBF16, 5, 4096, 0, 250, 400),
                                  Spec(64, 16, 1, DType::kF16, 1, 83, 5, 30, 50),
                                  Spec(256, 8, 1, DType::kF32, 1, 4096, 32, 200, 400),
                                  Spec(16, 4, 2, DType::kF32, 1, 83, 0, 0, 82),
                                  Spec(32, 4, 1, DType::kBF16, 5, 83, 5, 20, 70),
                                  Spec(80, 8, 2, DType::kBF16, 1, 4096, 0, 250, 400)}) {
    const Problem p = MakeProblem(rng, spec);
    const TileConfig tiles = *DecodeTiles(p.shape, preset_);
    const int splits = DecodeSplits(p.shape, tiles, preset_, p.batch, p.seq, p.capacity);
    const std::string what =
        absl::StrCat("decode d", spec.shape.head_dim, " ", std::string(DTypeName(spec.shape.dtype)),
                     " tokens ", spec.seq, " splits ", splits);
    const absl::Status s = CheckDecode(run(), preset_, p, splits, what, counts);
    ASSERT_TRUE(s.ok()) << what << ": " << s;
  }
}

// No transcendental runs on the device (the cos/sin table is an input), so
// the kernel must equal rope then kv_cache_write bit for bit.
TEST_F(AttentionGpuTest, RopeKvWriteEqualsTheReferenceBitForBit) {
  Rng rng = TestRng();
  CheckCounts counts;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int head_dim : {16, 32, 64, 80, 128, 256}) {
      ProblemSpec spec = Spec(head_dim, 8, 2, dtype, 7, 4096, 0, 0, 0);
      spec.positions = Positions::kScattered;
      const RopeCase c = MakeRopeCase(MakeProblem(rng, spec));
      const std::string what = absl::StrCat("rope_kv_write d", head_dim, " ",
                                            std::string(DTypeName(dtype)));
      const absl::Status s = CheckRopeKvWrite(run(), preset_, c, what, counts);
      ASSERT_TRUE(s.ok()) << what << ": " << s;
    }
  }
}

TEST_F(AttentionGpuTest, PositionOutsideTheCacheSetsTheFaultFlag) {
  Rng rng = TestRng();
  CheckCounts counts;
  for (int32_t bad : {83, -1}) {
    ProblemSpec spec = Spec(64, 4, 2, DType::kBF16, 5, 83, 0, 10, 10);
    spec.batch = 1;
    const Problem p = MakeProblem(rng, spec);
    const RopeCase rope = MakeRopeCase(MakeProblem(rng, Spec(64, 8, 2, DType::kBF16, 7, 301, 0, 10, 200)));
    const absl::Status s = CheckPositionOutsideTheCache(run(), preset_, p, rope, bad, counts);
    ASSERT_TRUE(s.ok()) << s;
  }
}

}  // namespace
}  // namespace kiln::codegen::attention::testing
