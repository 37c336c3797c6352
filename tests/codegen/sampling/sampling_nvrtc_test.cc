// Every sampling kernel variant compiles under NVRTC (codegen/nvrtc_compile.h,
// Kiln's options: --fmad=false) for sm_80 and sm_90 with zero register
// spills and no stack. Variants: logits f32/f16/bf16 x the block sizes
// SamplingThreads picks for vocabularies 1031, 32000 and 128256 (96, 512,
// 512) and the 64-thread minimum. Registers and shared memory are printed.
#include <cstdio>
#include <set>
#include <string>

#include "codegen/gpu_target.h"
#include "codegen/nvrtc_compile.h"
#include "codegen/sampling/sampling_cuda.h"
#include "gtest/gtest.h"

namespace kiln::codegen::sampling {
namespace {

TEST(SamplingNvrtcTest, EveryVariantCompilesForSm80AndSm90WithoutSpills) {
  std::printf("NVRTC %s\n", NvrtcVersion().c_str());
  std::printf("%-6s %-26s %5s %7s %7s %6s %6s\n", "arch", "kernel", "regs", "spill_s", "spill_l",
              "stack", "smem");
  int compiles = 0;
  for (const GpuTarget& info : {A100Target(), H100Target()}) {
    std::set<int> threads = {64};
    for (int64_t vocab : {1031, 32000, 128256}) threads.insert(SamplingThreads(vocab, info));
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int t : threads) {
        const SamplingVariant variant{.dtype = dtype, .threads = t};
        absl::StatusOr<std::string> source = RenderSamplingCuda(variant);
        ASSERT_TRUE(source.ok()) << source.status();
        const std::string name = SamplingKernelName(variant);
        absl::StatusOr<CompiledKernel> compiled = CompileKernel(*source, name, info, "");
        ASSERT_TRUE(compiled.ok()) << compiled.status() << "\n" << *source;
        const KernelReport& r = compiled->report;
        std::printf("%-6s %-26s %5d %7lld %7lld %6lld %6lld\n", r.arch.c_str(), name.c_str(),
                    r.registers, static_cast<long long>(r.spill_stores),
                    static_cast<long long>(r.spill_loads), static_cast<long long>(r.stack_bytes),
                    static_cast<long long>(r.shared_bytes));
        EXPECT_EQ(r.arch, info.sm_arch());
        EXPECT_GT(r.registers, 0) << name << "\n" << compiled->log;
        // __launch_bounds__(threads): ptxas keeps the whole block resident.
        EXPECT_LE(r.registers * t, 65536) << name;
        EXPECT_FALSE(r.spills()) << name << " " << r.arch << "\n" << compiled->log;
        EXPECT_EQ(r.stack_bytes, 0) << name << " " << r.arch << "\n" << compiled->log;
        EXPECT_LE(r.shared_bytes, 48 * 1024) << name;
        EXPECT_FALSE(compiled->ptx.empty()) << name;
        ++compiles;
      }
    }
  }
  std::printf("%d compiles\n", compiles);
}

TEST(SamplingNvrtcTest, RejectsBadVariants) {
  EXPECT_FALSE(RenderSamplingCuda({.dtype = DType::kF32, .threads = 48}).ok());
  EXPECT_FALSE(RenderSamplingCuda({.dtype = DType::kF32, .threads = 1024}).ok());
  EXPECT_FALSE(RenderSamplingCuda({.dtype = DType::kI32, .threads = 64}).ok());
}

TEST(SamplingNvrtcTest, ThreadsPerVocabulary) {
  EXPECT_EQ(SamplingThreads(1, A100Target()), 64);
  EXPECT_EQ(SamplingThreads(1031, A100Target()), 96);
  EXPECT_EQ(SamplingThreads(32000, H100Target()), 512);
  EXPECT_EQ(SamplingThreads(128256, H100Target()), 512);
  EXPECT_EQ(SamplingKernelName({.dtype = DType::kBF16, .threads = 512}), "kiln_sample_bf16_t512");
}

}  // namespace
}  // namespace kiln::codegen::sampling
