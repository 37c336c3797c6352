// Every GEMV variant compiles under NVRTC for sm_80 and sm_90 with zero
// register spills and no stack. NVRTC and ptxas need no GPU, so this runs
// in CPU-only CI. Variants: dtype {f32, f16, bf16} x K {769, 2048, 8192}
// (odd, typical, widest) x max_rows {1, 8} x n_hint {2048, 128256} (1 and 4 columns
// per warp on both presets), with the A100 preset's tiling compiled for
// sm_80 and the H100's for sm_90. Both x paths (shared, global) occur. The
// registers, spills and shared memory of each are printed as a table.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "codegen/gpu_target.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/gemv/gemv_cuda.h"
#include "codegen/nvrtc_compile.h"
#include "gtest/gtest.h"

namespace kiln::codegen::gemv {
namespace {

TEST(GemvNvrtcTest, EveryVariantCompilesForSm80AndSm90WithoutSpills) {
  std::printf("NVRTC %s\n", NvrtcVersion().c_str());
  std::printf("%-6s %-44s %5s %7s %7s %6s %7s\n", "arch", "kernel", "regs", "spill_s", "spill_l",
              "stack", "smem");
  int compiles = 0, shared_x = 0, global_x = 0;
  std::set<std::string> seen;
  for (const GpuTarget& info : {A100Target(), H100Target()}) {
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int64_t k : {769, 2048, 8192}) {
        for (int max_rows : {1, 8}) {
          for (int64_t n_hint : {2048, 128256}) {
            absl::StatusOr<GemvVariant> v =
                GemvVariantFor({.k = k, .dtype = dtype, .max_rows = max_rows}, n_hint, info);
            ASSERT_TRUE(v.ok()) << v.status();
            const std::string name = GemvKernelName(*v);
            if (!seen.insert(info.sm_arch() + name).second) continue;
            absl::StatusOr<std::string> source = RenderGemvCuda(*v);
            ASSERT_TRUE(source.ok()) << source.status();
            absl::StatusOr<CompiledKernel> c = CompileKernel(*source, name, info, "");
            ASSERT_TRUE(c.ok()) << c.status() << "\n" << *source;
            const KernelReport& r = c->report;
            std::printf("%-6s %-44s %5d %7lld %7lld %6lld %7lld\n", r.arch.c_str(), name.c_str(),
                        r.registers, static_cast<long long>(r.spill_stores),
                        static_cast<long long>(r.spill_loads),
                        static_cast<long long>(r.stack_bytes),
                        static_cast<long long>(r.shared_bytes));
            EXPECT_GT(r.registers, 0) << name << "\n" << c->log;
            EXPECT_LE(r.registers, 65536 / (v->tiles.threads() * v->tiles.min_blocks)) << name;
            EXPECT_FALSE(r.spills()) << name << " " << r.arch << "\n" << c->log;
            EXPECT_EQ(r.stack_bytes, 0) << name << " " << r.arch << "\n" << c->log;
            EXPECT_FALSE(c->ptx.empty()) << name;
            if (v->tiles.x_in_shared) {
              EXPECT_EQ(r.shared_bytes, XSharedBytes(v->shape)) << name;
              ++shared_x;
            } else {
              EXPECT_LE(r.shared_bytes, 16) << name;
              ++global_x;
            }
            ++compiles;
          }
        }
      }
    }
  }
  std::printf("%d compiles (%d with x in shared memory, %d with x from global)\n", compiles,
              shared_x, global_x);
  EXPECT_GT(shared_x, 0);
  EXPECT_GT(global_x, 0);
}

}  // namespace
}  // namespace kiln::codegen::gemv
