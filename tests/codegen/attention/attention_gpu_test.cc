// The attention kernels on a GPU against their CPU twins. Compiles each
// variant with NVRTC for the device's architecture, with the tiles of the
// matching GpuTarget preset (sm_80: A100, sm_90: H100, which H200s share),
// loads the cubin through cudart's library API (nothing links libcuda),
// launches it as attention_cuda.h documents and compares with the twin:
//   prefill, decode + combine: f32 NMSE <= 1e-10 (only expf's last-ulp
//     differences separate kernel and twin), f16/bf16 the TESTING.md
//     allclose, with the count of bit-identical elements printed;
//   rope_kv_write: bit for bit (no transcendental on the device);
//   a position outside the cache sets the fault flag.
// Without a device every test is SKIPPED, never passed (tools/gpu/check.sh
// treats a skip on a host with a GPU as a failure). Nothing here has run on
// a GPU yet.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/attention/attention_host.h"
#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "base/half.h"
#include "tests/codegen/attention/attention_test_support.h"
#include "tests/support/gpu_buffers.h"
#include "tests/support/gpu_test_fixture.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/cuda_status.h"
#include "tools/gpu/nvrtc_compile.h"

namespace kiln::codegen::attention::testing {
namespace {

// A compiled variant, loaded; keeps its library loaded while it lives.
struct LoadedKernel {
  gpu::Library library;
  cudaKernel_t kernel = nullptr;
  int64_t shared_bytes = 0;
};

int64_t ElementBytes(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

using ::kiln::testing::Alloc;
using ::kiln::testing::Download;
using ::kiln::testing::Upload;
using ::kiln::testing::UploadInts;

absl::StatusOr<int32_t> DownloadFault(const gpu::DeviceMemory& fault) {
  return ::kiln::testing::DownloadInt(fault);
}

absl::Status Launch(const LoadedKernel& k, dim3 grid, dim3 block, std::vector<void*> args) {
  return ::kiln::testing::LaunchAndWait(k.kernel, grid, block,
                                        static_cast<size_t>(k.shared_bytes), std::move(args));
}

// Kernel output vs twin output, with the tolerances at the top.
void ExpectMatchesTwin(const std::string& what, const std::vector<float>& got,
                       const std::vector<float>& twin, const Problem& p) {
  int64_t identical = 0;
  for (size_t i = 0; i < got.size(); ++i) identical += got[i] == twin[i];
  std::printf("%-44s %s  %lld/%zu bit-identical  NMSE %.3g\n", what.c_str(),
              std::string(DTypeName(p.shape.dtype)).c_str(), static_cast<long long>(identical),
              got.size(), Nmse(got, twin));
  if (p.shape.dtype == DType::kF32) {
    EXPECT_LE(Nmse(got, twin), 1e-10) << what;
  } else {
    EXPECT_LE(AllCloseRatio(got, twin, AttentionTerms(p), p.shape.dtype), 1.0) << what;
  }
}

class AttentionGpuTest : public ::kiln::testing::GpuKernelTest {
 protected:
  absl::StatusOr<LoadedKernel> Load(KernelKind kind, const AttentionShape& shape) {
    absl::StatusOr<KernelVariant> variant = VariantFor(kind, shape, preset_);
    if (!variant.ok()) return variant.status();
    absl::StatusOr<std::string> source = RenderAttentionCuda(*variant);
    if (!source.ok()) return source.status();
    absl::StatusOr<gpu::CompiledCubin> cubin =
        gpu::CompileToCubin(*source, KernelName(*variant) + ".cu", arch_, {"-std=c++17"});
    if (!cubin.ok()) return cubin.status();
    LoadedKernel k;
    KILN_GPU_CHECK(cudaLibraryLoadData(k.library.out(), cubin->cubin.data(), nullptr, nullptr, 0,
                                       nullptr, nullptr, 0));
    KILN_GPU_CHECK(cudaLibraryGetKernel(&k.kernel, k.library.get(), KernelName(*variant).c_str()));
    if (kind == KernelKind::kPrefill || kind == KernelKind::kDecode) {
      k.shared_bytes = AttentionSharedBytes(shape.head_dim, variant->tiles);
      KILN_GPU_CHECK(cudaKernelSetAttributeForDevice(k.kernel,
                                                     cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                     static_cast<int>(k.shared_bytes), 0));
    }
    return k;
  }

  // The prefill kernel's output and fault flag.
  absl::StatusOr<TwinOutput> RunPrefill(const Problem& p) {
    absl::StatusOr<LoadedKernel> k = Load(KernelKind::kPrefill, p.shape);
    if (!k.ok()) return k.status();
    const TileConfig tiles = *PrefillTiles(p.shape, preset_);
    auto q = Upload(p.q, p.shape.dtype), kc = Upload(p.k_cache, p.shape.dtype);
    auto vc = Upload(p.v_cache, p.shape.dtype);
    auto pos = UploadInts(p.pos), fault = Alloc(4);
    auto out = Alloc(p.q.size() * ElementBytes(p.shape.dtype));
    for (const absl::Status& s :
         {q.status(), kc.status(), vc.status(), pos.status(), fault.status(), out.status()}) {
      if (!s.ok()) return s;
    }
    void *qp = q->get(), *kp = kc->get(), *vp = vc->get(), *pp = pos->get(), *op = out->get(),
         *fp = fault->get();
    int seq = static_cast<int>(p.seq), capacity = static_cast<int>(p.capacity);
    int window = static_cast<int>(p.window);
    float scale = p.scale;
    const dim3 grid((p.seq + tiles.block_m() - 1) / tiles.block_m(), p.shape.heads, p.batch);
    KILN_GPU_CHECK(Launch(*k, grid, dim3(tiles.threads()),
                          {&qp, &kp, &vp, &pp, &op, &fp, &seq, &capacity, &scale, &window}));
    TwinOutput result;
    absl::StatusOr<std::vector<float>> values = Download(*out, p.q.size(), p.shape.dtype);
    absl::StatusOr<int32_t> flag = DownloadFault(*fault);
    if (!values.ok()) return values.status();
    if (!flag.ok()) return flag.status();
    result.out = *std::move(values);
    result.fault = *flag != 0;
    return result;
  }

  // The decode kernel then the combine kernel, with `splits` splits.
  absl::StatusOr<TwinOutput> RunDecode(const Problem& p, int splits) {
    absl::StatusOr<LoadedKernel> decode = Load(KernelKind::kDecode, p.shape);
    absl::StatusOr<LoadedKernel> combine = Load(KernelKind::kCombine, p.shape);
    if (!decode.ok()) return decode.status();
    if (!combine.ok()) return combine.status();
    const TileConfig tiles = *DecodeTiles(p.shape, preset_);
    const size_t rows = static_cast<size_t>(p.batch * p.seq * p.shape.heads);
    auto q = Upload(p.q, p.shape.dtype), kc = Upload(p.k_cache, p.shape.dtype);
    auto vc = Upload(p.v_cache, p.shape.dtype);
    auto pos = UploadInts(p.pos), fault = Alloc(4);
    auto acc = Alloc(rows * splits * p.shape.head_dim * 4), ml = Alloc(rows * splits * 2 * 4);
    auto out = Alloc(p.q.size() * ElementBytes(p.shape.dtype));
    for (const absl::Status& s : {q.status(), kc.status(), vc.status(), pos.status(),
                                  fault.status(), acc.status(), ml.status(), out.status()}) {
      if (!s.ok()) return s;
    }
    void *qp = q->get(), *kp = kc->get(), *vp = vc->get(), *pp = pos->get(), *ap = acc->get(),
         *mp = ml->get(), *fp = fault->get(), *op = out->get();
    int seq = static_cast<int>(p.seq), capacity = static_cast<int>(p.capacity);
    int window = static_cast<int>(p.window);
    float scale = p.scale;
    const dim3 grid(splits, p.shape.kv_heads * DecodeRowBlocks(p.shape, tiles, p.seq), p.batch);
    KILN_GPU_CHECK(
        Launch(*decode, grid, dim3(tiles.threads()),
               {&qp, &kp, &vp, &pp, &ap, &mp, &fp, &seq, &capacity, &scale, &window, &splits}));
    KILN_GPU_CHECK(
        Launch(*combine, dim3(rows), dim3(CombineThreads(p.shape)), {&ap, &mp, &op, &splits}));
    absl::StatusOr<std::vector<float>> values = Download(*out, p.q.size(), p.shape.dtype);
    absl::StatusOr<int32_t> flag = DownloadFault(*fault);
    if (!values.ok()) return values.status();
    if (!flag.ok()) return flag.status();
    return TwinOutput{*std::move(values), *flag != 0};
  }

  // The fused RoPE + KV-write kernel: q_out, then the two caches after it.
  absl::StatusOr<std::vector<std::vector<float>>> RunRopeKvWrite(const Problem& p,
                                                                 const RopeKvInputs& in) {
    absl::StatusOr<LoadedKernel> k = Load(KernelKind::kRopeKvWrite, p.shape);
    if (!k.ok()) return k.status();
    const DType dt = p.shape.dtype;
    const std::vector<float> q(in.q.begin(), in.q.end()), kn(in.k.begin(), in.k.end());
    const std::vector<float> vn(in.v.begin(), in.v.end());
    const std::vector<float> table(in.cos_sin.begin(), in.cos_sin.end());
    auto qd = Upload(q, dt), kd = Upload(kn, dt), vd = Upload(vn, dt), cs = Upload(table, dt);
    auto pos = UploadInts(p.pos), fault = Alloc(4), q_out = Alloc(q.size() * ElementBytes(dt));
    auto kc = Upload(p.k_cache, dt), vc = Upload(p.v_cache, dt);
    for (const absl::Status& s : {qd.status(), kd.status(), vd.status(), cs.status(), pos.status(),
                                  fault.status(), q_out.status(), kc.status(), vc.status()}) {
      if (!s.ok()) return s;
    }
    void *qp = qd->get(), *kp = kd->get(), *vp = vd->get(), *pp = pos->get(), *cp = cs->get(),
         *op = q_out->get(), *kcp = kc->get(), *vcp = vc->get(), *fp = fault->get();
    int seq = static_cast<int>(in.seq), capacity = static_cast<int>(in.capacity);
    KILN_GPU_CHECK(Launch(*k, dim3(in.batch * in.seq), dim3(kRopeThreads),
                          {&qp, &kp, &vp, &pp, &cp, &op, &kcp, &vcp, &fp, &seq, &capacity}));
    std::vector<std::vector<float>> results;
    for (auto [memory, n] : {std::pair{&*q_out, q.size()}, std::pair{&*kc, p.k_cache.size()},
                             std::pair{&*vc, p.v_cache.size()}}) {
      absl::StatusOr<std::vector<float>> values = Download(*memory, n, dt);
      if (!values.ok()) return values.status();
      results.push_back(*std::move(values));
    }
    return results;
  }
};

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

TEST_F(AttentionGpuTest, FlashPrefillMatchesItsTwin) {
  Rng rng = TestRng();
  for (const ProblemSpec& spec : {Spec(128, 8, 2, DType::kBF16, 83, 4096, 0, 200, 300),
                                  Spec(64, 8, 2, DType::kF16, 7, 83, 5, 30, 50),
                                  Spec(256, 4, 1, DType::kF32, 83, 4096, 32, 200, 300),
                                  Spec(128, 8, 8, DType::kF16, 83, 83, 0, 0, 0),
                                  Spec(16, 4, 2, DType::kF32, 83, 83, 0, 0, 0),
                                  Spec(32, 4, 1, DType::kBF16, 7, 83, 5, 30, 50),
                                  Spec(80, 8, 2, DType::kBF16, 83, 4096, 0, 200, 300)}) {
    const Problem p = MakeProblem(rng, spec);
    absl::StatusOr<TwinOutput> got = RunPrefill(p);
    ASSERT_TRUE(got.ok()) << got.status();
    const TwinOutput twin = FlashPrefillTwin(p.shape, *PrefillTiles(p.shape, preset_), p.inputs());
    EXPECT_FALSE(got->fault);
    ExpectMatchesTwin(absl::StrCat("prefill d", spec.shape.head_dim, " seq ", spec.seq, " cache ",
                                   spec.capacity, " window ", spec.window),
                      got->out, twin.out, p);
  }
}

TEST_F(AttentionGpuTest, SplitKvDecodeAndCombineMatchTheirTwins) {
  Rng rng = TestRng();
  for (const ProblemSpec& spec : {Spec(128, 8, 2, DType::kBF16, 5, 4096, 0, 250, 400),
                                  Spec(64, 16, 1, DType::kF16, 1, 83, 5, 30, 50),
                                  Spec(256, 8, 1, DType::kF32, 1, 4096, 32, 200, 400),
                                  Spec(16, 4, 2, DType::kF32, 1, 83, 0, 0, 82),
                                  Spec(32, 4, 1, DType::kBF16, 5, 83, 5, 20, 70),
                                  Spec(80, 8, 2, DType::kBF16, 1, 4096, 0, 250, 400)}) {
    const Problem p = MakeProblem(rng, spec);
    const TileConfig tiles = *DecodeTiles(p.shape, preset_);
    const int splits = DecodeSplits(p.shape, tiles, preset_, p.batch, p.seq, p.capacity);
    absl::StatusOr<TwinOutput> got = RunDecode(p, splits);
    ASSERT_TRUE(got.ok()) << got.status();
    const DecodePartials part = SplitKvDecodeTwin(p.shape, tiles, p.inputs(), splits);
    EXPECT_FALSE(got->fault);
    ExpectMatchesTwin(
        absl::StrCat("decode d", spec.shape.head_dim, " tokens ", spec.seq, " splits ", splits),
        got->out, DecodeCombineTwin(p.shape, part), p);
  }
}

// No transcendental runs on the device (the cos/sin table is an input), so
// the kernel must equal its twin bit for bit.
TEST_F(AttentionGpuTest, RopeKvWriteEqualsItsTwinBitForBit) {
  Rng rng = TestRng();
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int head_dim : {16, 32, 64, 80, 128, 256}) {
      ProblemSpec spec = Spec(head_dim, 8, 2, dtype, 7, 4096, 0, 0, 0);
      spec.positions = Positions::kScattered;
      const Problem p = MakeProblem(rng, spec);
      const size_t new_kv = 2 * 7 * 2 * static_cast<size_t>(head_dim);
      const std::vector<float> table =
          RopeCosSinTable(RopeInverseFrequencies(
                              {.theta = 500000.0f, .scaling = "llama3", .factor = 8.0f}, head_dim),
                          p.capacity, dtype);
      const RopeKvInputs in{.batch = 2,
                            .seq = 7,
                            .capacity = p.capacity,
                            .q = p.q,
                            .k = std::span<const float>(p.k_cache).first(new_kv),
                            .v = std::span<const float>(p.v_cache).first(new_kv),
                            .pos = p.pos,
                            .cos_sin = table};
      absl::StatusOr<std::vector<std::vector<float>>> got = RunRopeKvWrite(p, in);
      ASSERT_TRUE(got.ok()) << got.status();
      std::vector<float> k_cache = p.k_cache, v_cache = p.v_cache;
      const TwinOutput q_out = RopeKvWriteTwin(p.shape, in, k_cache, v_cache);
      EXPECT_EQ((*got)[0], q_out.out) << "q, d" << head_dim;
      EXPECT_EQ((*got)[1], k_cache) << "k cache, d" << head_dim;
      EXPECT_EQ((*got)[2], v_cache) << "v cache, d" << head_dim;
    }
  }
}

TEST_F(AttentionGpuTest, PositionOutsideTheCacheSetsTheFaultFlag) {
  Rng rng = TestRng();
  Problem p = MakeProblem(rng, Spec(64, 4, 2, DType::kBF16, 5, 83, 0, 10, 10));
  p.pos[2] = 83;
  absl::StatusOr<TwinOutput> prefill = RunPrefill(p);
  ASSERT_TRUE(prefill.ok()) << prefill.status();
  EXPECT_TRUE(prefill->fault);
  absl::StatusOr<TwinOutput> decode = RunDecode(p, 3);
  ASSERT_TRUE(decode.ok()) << decode.status();
  EXPECT_TRUE(decode->fault);
}

}  // namespace
}  // namespace kiln::codegen::attention::testing
