// Lowering: which kernels a model gets, the GpuTarget-driven block sizes,
// and the errors for IR the row model cannot express.
#include <set>

#include "codegen/lower.h"
#include "tests/support/model_kernels.h"
#include "gtest/gtest.h"
#include "ir/text.h"

namespace kiln::codegen {
namespace {

TEST(GpuTargetTest, PresetsAndThreadsPerRowAreAsDocumented) {
  const GpuTarget a100 = A100Target(), h100 = H100Target();
  EXPECT_EQ(a100.sm_arch(), "sm_80");
  EXPECT_EQ(h100.sm_arch(), "sm_90");
  EXPECT_EQ(h100.compute_arch(), "compute_90");
  EXPECT_EQ(a100.sm_count, 108);
  EXPECT_EQ(h100.sm_count, 132);
  // One thread per 4 columns, whole warps, 32..1024 threads: the same on
  // both presets (they share warp size and block limit).
  for (const GpuTarget& info : {a100, h100}) {
    EXPECT_EQ(ThreadsPerRow(1, info), 32);
    EXPECT_EQ(ThreadsPerRow(64, info), 32);
    EXPECT_EQ(ThreadsPerRow(769, info), 224);   // ceil(769/4) = 193 -> 7 warps
    EXPECT_EQ(ThreadsPerRow(2048, info), 512);  // Llama 3.2 1B hidden
    EXPECT_EQ(ThreadsPerRow(4096, info), 1024);
    EXPECT_EQ(ThreadsPerRow(128256, info), 1024);  // Llama 3 vocabulary: argmax
  }
  GpuTarget small = h100;
  small.max_threads_per_block = 256;
  EXPECT_EQ(ThreadsPerRow(4096, small), 256);
  EXPECT_TRUE(GpuTargetByName("h100").ok());
  EXPECT_EQ(GpuTargetByName("sm_90")->name, "H100");
  EXPECT_EQ(GpuTargetByName("sm_75").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LowerTest, LlamaGetsOneKernelPerRowWiseGroup) {
  absl::StatusOr<KernelSuite> suite =
      ModelKernels("llama3_bf16", "tests/fixtures/models/llama3/bf16", DType::kBF16, H100Target());
  ASSERT_TRUE(suite.ok()) << suite.status();
  std::set<std::string> names;
  for (const KernelDesc& k : suite->kernels) names.insert(k.name);
  // Per layer: input norm, add + post-attention norm, SwiGLU, residual add;
  // then the embedding, the final norm and greedy sampling.
  EXPECT_EQ(names, (std::set<std::string>{
                       "k_embeds", "k_l0_attn_norm", "k_l0_mlp_norm", "k_l0_gated", "k_l0_out",
                       "k_l1_attn_norm", "k_l1_mlp_norm", "k_l1_gated", "k_l1_out",
                       "k_final_norm", "k_sample_argmax"}));
  std::set<std::string> reasons;
  for (const NotGenerated& n : suite->not_generated) reasons.insert(n.op + ": " + n.reason);
  EXPECT_TRUE(reasons.count("matmul_nt: GEMM: cuBLASLt, not generated yet"));
  EXPECT_TRUE(reasons.count("attention: attention / rope + cache write template: not written yet"));
  for (const KernelDesc& k : suite->kernels) {
    EXPECT_EQ(k.threads, k.name == "k_sample_argmax" ? 64 : 32) << k.name;  // vocab 256, hidden 64
  }
}

TEST(LowerTest, FusedNormStoresTheSumAndReloadsIt) {
  absl::StatusOr<KernelSuite> suite = OddSizeKernels(DType::kF32, A100Target());
  ASSERT_TRUE(suite.ok()) << suite.status();
  for (const KernelDesc& k : suite->kernels) {
    if (k.name != "k_rms") continue;
    ASSERT_EQ(k.buffers.size(), 5u);  // h, o, w, then the sum and the norm
    EXPECT_TRUE(k.buffers[3].output);
    EXPECT_EQ(k.buffers[3].name, "sum");
    EXPECT_EQ(k.num_loops(), 2);
    EXPECT_EQ(k.threads, 224);
    return;
  }
  FAIL() << "no k_rms kernel";
}

absl::StatusOr<LoweredFunction> LowerText(const std::string& text) {
  absl::StatusOr<Module> m = ParseModule(text);
  if (!m.ok()) return m.status();
  return LowerFunction(m->functions[0], A100Target());
}

TEST(LowerTest, UnsupportedShapesAreUnimplementedErrors) {
  // The right operand repeats every 2 rows: neither a full operand nor [cols].
  absl::StatusOr<LoweredFunction> r = LowerText(R"(module @m {
  func @f(%a: f32[4,2,8], %b: f32[2,8]) {
    %c = add(%a, %b) : f32[4,2,8]
    return %c
  }
})");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("%c (add)"), std::string::npos) << r.status();
  // A symbolic last dim.
  r = LowerText(R"(module @m {
  func @f(%a: f32[4,n]) {
    %c = relu(%a) : f32[4,n]
    return %c
  }
})");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
  // An argmax result consumed inside its own kernel (reachable through
  // LowerNodes only: no row op reads i32).
  absl::StatusOr<Module> m = ParseModule(R"(module @m {
  func @f(%a: f32[4,8]) {
    %i = argmax(%a) : i32[4]
    %c = cast(%i) : f32[4]
    return %c
  }
})");
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<KernelDesc> k = LowerNodes(m->functions[0], {1, 2}, "g", A100Target());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kUnimplemented) << k.status();
}

TEST(LowerTest, IntegerOpsAndGemmsAreListedNotGenerated) {
  absl::StatusOr<LoweredFunction> r = LowerText(R"(module @m {
  func @f(%a: i32[4,8], %x: f32[4,8], %w: f32[8,8]) {
    %b = add(%a, %a) : i32[4,8]
    %y = matmul_nt(%x, %w) : f32[4,8]
    return %b, %y
  }
})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->kernels.empty());
  ASSERT_EQ(r->not_generated.size(), 2u);
  EXPECT_EQ(r->not_generated[0].node, "b");
  EXPECT_EQ(r->not_generated[1].op, "matmul_nt");
}

}  // namespace
}  // namespace kiln::codegen
