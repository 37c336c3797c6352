// Every attention kernel variant compiles under NVRTC for sm_80 and sm_90
// with zero register spills. NVRTC and ptxas need no GPU, so this runs in
// CPU-only CI. Variants: head_dim {64, 128, 256} x dtype {f32, f16, bf16}
// (plus head_dim 16 in f32, 32 and 80 in bf16) x
// {prefill, decode, combine, rope_kv_write}, with the tiles the A100 and
// the H100 presets choose (GQA 4:1, and MQA for the decode kernel, whose
// rows depend on the group), each compiled for both architectures. The
// registers, spills and shared memory of each are printed as a table.
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "tools/gpu/nvrtc_compile.h"

namespace kiln::codegen::attention {
namespace {

struct Row {
  std::string preset;  // whose tile choice: "A100" / "H100"
  std::string arch;
  std::string kernel;
  int registers = -1;
  int spill_stores = -1;
  int spill_loads = -1;
  int stack = -1;
  int64_t dynamic_shared = 0;
  int blocks_per_sm = 0;  // by shared memory, on the preset's device
  double compile_ms = 0;
};

std::vector<KernelVariant> Variants(const GpuTarget& info) {
  std::vector<KernelVariant> variants;
  const std::vector<std::pair<int, int>> kHeadCounts = {{32, 8}, {16, 1}};  // GQA 4:1, MQA
  for (int head_dim : {16, 32, 64, 80, 128, 256}) {
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      // The small and odd heads (tiny test models) in one dtype each: the
      // dtype changes only the loads and stores, which 64/128/256 cover.
      if (head_dim % 64 != 0 && dtype != (head_dim == 16 ? DType::kF32 : DType::kBF16)) continue;
      for (KernelKind kind : {KernelKind::kPrefill, KernelKind::kDecode, KernelKind::kCombine,
                              KernelKind::kRopeKvWrite}) {
        for (auto [heads, kv_heads] : kHeadCounts) {
          // Only decode's work division depends on the group; one head
          // layout covers the others.
          if (kind != KernelKind::kDecode && kv_heads == 1) continue;
          absl::StatusOr<KernelVariant> v = VariantFor(
              kind, {.head_dim = head_dim, .heads = heads, .kv_heads = kv_heads, .dtype = dtype},
              info);
          EXPECT_TRUE(v.ok()) << v.status();
          if (v.ok()) variants.push_back(*v);
        }
      }
    }
  }
  return variants;
}

TEST(AttentionNvrtcTest, EveryVariantCompilesForSm80AndSm90WithoutSpills) {
  std::printf("NVRTC %s\n", gpu::NvrtcVersion().c_str());
  std::vector<Row> rows;
  std::map<std::pair<std::string, std::string>, bool> done;  // (kernel, arch)
  for (const GpuTarget& info : {A100Target(), H100Target()}) {
    for (const KernelVariant& variant : Variants(info)) {
      const std::string name = KernelName(variant);
      absl::StatusOr<std::string> source = RenderAttentionCuda(variant);
      ASSERT_TRUE(source.ok()) << source.status();
      for (const std::string arch : {"sm_80", "sm_90"}) {
        // Combine and RoPE kernels have no tiles: both presets give the same
        // source, compiled once.
        if (!done.emplace(std::make_pair(name, arch), true).second) continue;
        absl::StatusOr<gpu::CompiledCubin> cubin =
            gpu::CompileToCubin(*source, name + ".cu", arch, {"-std=c++17"});
        ASSERT_TRUE(cubin.ok()) << cubin.status() << "\n" << *source;
        Row row{.preset = info.name, .arch = arch, .kernel = name};
        row.registers = cubin->ptxas.registers;
        row.spill_stores = cubin->ptxas.spill_store_bytes;
        row.spill_loads = cubin->ptxas.spill_load_bytes;
        row.stack = cubin->ptxas.stack_frame_bytes;
        row.compile_ms = cubin->compile_ms;
        if (variant.kind == KernelKind::kPrefill || variant.kind == KernelKind::kDecode) {
          row.dynamic_shared = AttentionSharedBytes(variant.shape.head_dim, variant.tiles);
          row.blocks_per_sm = BlocksPerSmByShared(row.dynamic_shared, info);
          EXPECT_LE(row.dynamic_shared, info.max_shared_per_block) << name;
        }
        // ptxas must have reported, and reported no spill and no stack.
        EXPECT_GT(row.registers, 0) << name << " " << arch << "\n" << cubin->log;
        EXPECT_LE(row.registers, 255) << name;
        EXPECT_EQ(row.spill_stores, 0) << name << " " << arch << "\n" << cubin->log;
        EXPECT_EQ(row.spill_loads, 0) << name << " " << arch << "\n" << cubin->log;
        EXPECT_EQ(row.stack, 0) << name << " " << arch << "\n" << cubin->log;
        rows.push_back(row);
      }
    }
  }
  std::printf("\n%-6s %-6s %-52s %5s %7s %7s %6s %9s %7s %8s\n", "tiles", "arch", "kernel", "regs",
              "spill_s", "spill_l", "stack", "dyn_smem", "blk/SM", "ms");
  for (const Row& r : rows) {
    std::printf("%-6s %-6s %-52s %5d %7d %7d %6d %9lld %7d %8.0f\n", r.preset.c_str(),
                r.arch.c_str(), r.kernel.c_str(), r.registers, r.spill_stores, r.spill_loads,
                r.stack, static_cast<long long>(r.dynamic_shared), r.blocks_per_sm, r.compile_ms);
  }
  std::printf("%zu compiles\n", rows.size());
}

}  // namespace
}  // namespace kiln::codegen::attention
