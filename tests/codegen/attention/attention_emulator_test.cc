// The attention kernels' CUDA text in the emulator: the flash prefill
// kernel against its CPU twin under the in-order, reversed and seeded
// random schedules, and the mutations the emulator must catch in it — a
// removed __syncthreads (race), an off-by-one store (bounds), a shuffle only
// half the warp reaches (divergence), a grid one block short and a swapped
// argument (mismatch against the twin).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/half.h"
#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/attention/attention_host.h"
#include "codegen/gpu_target.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/emulator/device_memory.h"
#include "runtime/emulator/kernel_module.h"
#include "runtime/emulator/launch.h"
#include "tests/codegen/attention/attention_test_support.h"

namespace kiln::codegen::attention::testing {
namespace {

using ::testing::HasSubstr;

// One emulated device buffer holding `values` in `dtype` (or raw ints).
class DeviceBuffer {
 public:
  DeviceBuffer(const void* data, size_t bytes)
      : pointer_(*emulator::DeviceMemory::Global().Allocate(bytes)), bytes_(bytes) {
    if (data != nullptr) std::memcpy(pointer_, data, bytes);
  }
  static DeviceBuffer Of(const std::vector<float>& values, DType dtype) {
    if (dtype == DType::kF32) return DeviceBuffer(values.data(), values.size() * 4);
    std::vector<uint16_t> bits;
    for (float v : values) bits.push_back(dtype == DType::kF16 ? FloatToF16(v) : FloatToBF16(v));
    return DeviceBuffer(bits.data(), bits.size() * 2);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : pointer_(o.pointer_), bytes_(o.bytes_) { o.pointer_ = nullptr; }
  ~DeviceBuffer() {
    if (pointer_ != nullptr) (void)emulator::DeviceMemory::Global().Free(pointer_);
  }
  std::vector<float> Floats(size_t n, DType dtype) const {
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) {
      if (dtype == DType::kF32) {
        std::memcpy(&out[i], static_cast<char*>(pointer_) + 4 * i, 4);
      } else {
        uint16_t b;
        std::memcpy(&b, static_cast<char*>(pointer_) + 2 * i, 2);
        out[i] = dtype == DType::kF16 ? F16ToFloat(b) : BF16ToFloat(b);
      }
    }
    return out;
  }
  void* pointer_;
  size_t bytes_;
};

// How a run departs from the correct launch.
struct Mutation {
  std::string from, to;   // a source edit (from must occur)
  int grid_blocks_short = 0;  // fewer blocks along y (heads)
  bool swap_caches = false;
};

struct PrefillRun {
  absl::Status status;
  std::vector<float> out;
};

PrefillRun RunPrefill(const Problem& p, const emulator::Schedule& schedule, const Mutation& m = {}) {
  const GpuTarget preset = H100Target();
  absl::StatusOr<KernelVariant> variant = VariantFor(KernelKind::kPrefill, p.shape, preset);
  if (!variant.ok()) return {variant.status()};
  absl::StatusOr<std::string> source = RenderAttentionCuda(*variant);
  if (!source.ok()) return {source.status()};
  if (!m.from.empty()) {
    if (source->find(m.from) == std::string::npos) return {absl::NotFoundError("mutation site missing: " + m.from)};
    *source = absl::StrReplaceAll(*source, {{m.from, m.to}});
  }
  absl::StatusOr<std::shared_ptr<emulator::KernelModule>> module =
      emulator::KernelModule::Compile(*source, KernelName(*variant));
  if (!module.ok()) return {module.status()};
  absl::StatusOr<const emulator::EmulatedKernel*> kernel = (*module)->Kernel(KernelName(*variant));
  if (!kernel.ok()) return {kernel.status()};
  const TileConfig& tiles = variant->tiles;
  const DType dt = p.shape.dtype;
  DeviceBuffer q = DeviceBuffer::Of(p.q, dt), kc = DeviceBuffer::Of(p.k_cache, dt);
  DeviceBuffer vc = DeviceBuffer::Of(p.v_cache, dt);
  DeviceBuffer pos(p.pos.data(), p.pos.size() * 4), fault(nullptr, 4);
  const int32_t zero = 0;
  std::memcpy(fault.pointer_, &zero, 4);
  DeviceBuffer out(nullptr, p.q.size() * (dt == DType::kF32 ? 4 : 2));
  void *qp = q.pointer_, *kp = kc.pointer_, *vp = vc.pointer_, *pp = pos.pointer_,
       *op = out.pointer_, *fp = fault.pointer_;
  if (m.swap_caches) std::swap(kp, vp);
  int seq = static_cast<int>(p.seq), capacity = static_cast<int>(p.capacity);
  int window = static_cast<int>(p.window);
  float scale = p.scale;
  emulator::LaunchConfig config;
  config.grid = {static_cast<unsigned>((p.seq + tiles.block_m() - 1) / tiles.block_m()),
                 static_cast<unsigned>(p.shape.heads - m.grid_blocks_short),
                 static_cast<unsigned>(p.batch)};
  config.block = {static_cast<unsigned>(tiles.threads()), 1, 1};
  config.dynamic_shared_bytes = static_cast<size_t>(AttentionSharedBytes(p.shape.head_dim, tiles));
  config.shared_limit_bytes = static_cast<size_t>(preset.max_shared_per_block);
  config.schedule = schedule;
  PrefillRun run;
  run.status = emulator::Launch(**kernel, config,
                                {&qp, &kp, &vp, &pp, &op, &fp, &seq, &capacity, &scale, &window});
  if (run.status.ok()) run.out = out.Floats(p.q.size(), dt);
  return run;
}

Problem SmallProblem(DType dtype) {
  Rng rng = TestRng();
  return MakeProblem(rng, {.shape = {.head_dim = 32, .heads = 4, .kv_heads = 2, .dtype = dtype},
                           .batch = 2, .seq = 19, .capacity = 83, .window = 0,
                           .positions = Positions::kContiguous, .start_lo = 20, .start_hi = 40});
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

TEST(AttentionEmulatorTest, PrefillMatchesItsTwinUnderEverySchedule) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const Problem p = SmallProblem(dtype);
    const TwinOutput twin =
        FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, H100Target()), p.inputs());
    for (const emulator::Schedule& schedule : emulator::StandardSchedules(BaseSeed())) {
      PrefillRun run = RunPrefill(p, schedule);
      ASSERT_TRUE(run.status.ok()) << schedule.Name() << ": " << run.status;
      std::printf("prefill %s, %s: NMSE %.3g, max |diff| %.3g vs the twin\n",
                  std::string(DTypeName(dtype)).c_str(), schedule.Name().c_str(),
                  Nmse(run.out, twin.out), MaxAbsDiff(run.out, twin.out));
      if (dtype == DType::kF32) {
        EXPECT_LE(Nmse(run.out, twin.out), 1e-10);
      } else {
        EXPECT_LE(AllCloseRatio(run.out, twin.out, AttentionTerms(p), dtype), 1.0);
      }
    }
  }
}

TEST(AttentionEmulatorTest, ARemovedBarrierIsCaught) {
  const Problem p = SmallProblem(DType::kF32);
  // The barrier between loading a K/V tile and reading it.
  PrefillRun run = RunPrefill(p, {}, {.from = "    }\n    __syncthreads();\n    if (tile > warp_hi",
                                      .to = "    }\n    if (tile > warp_hi"});
  EXPECT_EQ(run.status.code(), absl::StatusCode::kAborted) << run.status;
  EXPECT_THAT(run.status.message(), ::testing::AnyOf(HasSubstr("shared-memory race"),
                                                     HasSubstr("uninitialized shared read")));
  EXPECT_THAT(run.status.message(), HasSubstr("dynamic shared memory"));
}

TEST(AttentionEmulatorTest, AnOffByOneStoreIsOutOfBounds) {
  const Problem p = SmallProblem(DType::kF32);
  PrefillRun run = RunPrefill(p, {}, {.from = "o[t * 32 + lane] =", .to = "o[t * 32 + lane + 1] ="});
  EXPECT_THAT(run.status.message(), HasSubstr("out of bounds: kernel kiln_attn_prefill"));
}

TEST(AttentionEmulatorTest, AShuffleHalfTheWarpReachesIsDivergence) {
  const Problem p = SmallProblem(DType::kF32);
  PrefillRun run = RunPrefill(
      p, {}, {.from = "tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));",
              .to = "if (lane < 16) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));"});
  EXPECT_THAT(run.status.message(), HasSubstr("divergence: kernel kiln_attn_prefill"));
}

TEST(AttentionEmulatorTest, AGridOneBlockShortIsAMismatch) {
  const Problem p = SmallProblem(DType::kF32);
  const TwinOutput twin = FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, H100Target()), p.inputs());
  PrefillRun run = RunPrefill(p, {}, {.grid_blocks_short = 1});
  ASSERT_TRUE(run.status.ok()) << run.status;
  // The last head's outputs keep the allocation's poison (NaN).
  EXPECT_FALSE(Nmse(run.out, twin.out) <= 1e-10);
}

TEST(AttentionEmulatorTest, SwappedKeyAndValueCachesAreAMismatch) {
  const Problem p = SmallProblem(DType::kF32);
  const TwinOutput twin = FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, H100Target()), p.inputs());
  PrefillRun run = RunPrefill(p, {}, {.swap_caches = true});
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_GT(Nmse(run.out, twin.out), 1e-3);
}

}  // namespace
}  // namespace kiln::codegen::attention::testing
