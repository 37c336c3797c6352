// The CPU backend: runs the launch plans compile-model wrote for the cpu
// target (codegen/plan/launch_plan.h) with Kiln's CPU kernels: the
// generated row kernels (row_program.h), matrix products on the weights as
// stored, block-quantized ones included (quant_gemm.h; oneDNN's sgemm for
// f32 weights at prefill sizes, onednn_sgemm.h), the fused RoPE +
// KV-cache write and flash attention (attention_cpu.h) and the quantized
// embedding gather, split over a persistent thread pool (thread_pool.h).
//
// Memory: weights are read in place from the engine's mapped weights file
// (never copied); caches, step inputs, RoPE tables and one scratch arena
// laid out by the plans are allocated once at Create, with every kernel's
// per-thread scratch, so running a step allocates nothing but the returned
// PlanOutput.
#ifndef KILN_RUNTIME_CPU_CPU_EXECUTOR_H_
#define KILN_RUNTIME_CPU_CPU_EXECUTOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/plan/launch_plan.h"
#include "ir/module.h"
#include "runtime/cpu/cpu_features.h"
#include "runtime/cpu/cpu_memory.h"
#include "runtime/engine/weight_store.h"
#include "runtime/session/plan_executor.h"

namespace kiln::cpu {

struct CpuExecutorOptions {
  int threads = 0;                // 0: DefaultCpuThreads() (KILN_CPU_THREADS, else physical cores)
  std::optional<SimdLevel> simd =
      std::nullopt;  // unset: ChooseSimdLevel() (KILN_CPU_SIMD may lower it)
  // f32-weight products of prefill size through oneDNN when it loads
  // (onednn_sgemm.h; KILN_CPU_ONEDNN=0 turns it off). Never at the scalar
  // level, which runs Kiln's own kernels only.
  bool onednn = true;
  // Prompt-sized products of q8_0, q6_k, f16 and bf16 weights (f32 without
  // oneDNN) through f32 panels on AVX2 (quant_gemm.h, PanelGemmRows;
  // KILN_CPU_PANELS=0 turns them off).
  bool panels = true;
};

class CpuExecutor : public PlanExecutor {
 public:
  // Checks that every weight a plan reads is in `weights` with the bytes
  // its buffer declares and that every GEMM's weight dtype has a kernel;
  // allocates the arena. `weights` is shared (its mapping stays alive).
  static absl::StatusOr<std::unique_ptr<CpuExecutor>> Create(const Module& module,
                                                             const WeightStore& weights,
                                                             StaticLayout layout,
                                                             std::vector<LaunchPlan> plans,
                                                             CpuExecutorOptions options = {});
  // The same over float weights held in memory (tests, tools that build a
  // model in process): they are encoded once into the executor's own bytes.
  static absl::StatusOr<std::unique_ptr<CpuExecutor>> Create(const Module& module,
                                                             const WeightMap& weights,
                                                             StaticLayout layout,
                                                             std::vector<LaunchPlan> plans,
                                                             CpuExecutorOptions options = {});
  ~CpuExecutor() override;

  // The CPU samples on the host (runtime/generate/sampler.h) from the
  // logits Run copies: Unimplemented.
  absl::StatusOr<int32_t> SampleRow(const std::string& function, int64_t row,
                                    const codegen::sampling::SampleParams& params) override;

  absl::Status ResetCaches() override;
  // The loop plan run on the host (runtime/session/host_loop.h).
  absl::StatusOr<codegen::loop::LoopResult> RunLoop(
      const codegen::loop::LoopPlan& plan, std::span<const SessionBucket> prefill,
      std::span<const int32_t> history, int64_t cached, const codegen::loop::LoopTokens& on_tokens,
      const codegen::loop::LoopSampler& sample) override;

  // One line: threads, the SIMD level, the weight dtypes the GEMMs read and
  // the library taking f32 prefill products, if any.
  std::string Describe() const;
  // What Create allocated, weights excluded (it equals PlanCpuMemory of the
  // plans, which Create checks).
  const CpuMemory& memory() const;

  struct State;

 private:
  // With only_row >= 0 the LM head and the argmax run for that row alone.
  absl::StatusOr<PlanOutput> DoRun(const std::string& function,
                                   std::span<const int32_t> input_ids,
                                   std::span<const int32_t> positions, bool copy_logits,
                                   int64_t only_row) override;
  explicit CpuExecutor(std::unique_ptr<State> state);
  static absl::StatusOr<std::unique_ptr<CpuExecutor>> Start(std::unique_ptr<State> state,
                                                            StaticLayout layout,
                                                            std::vector<LaunchPlan> plans,
                                                            CpuExecutorOptions options);
  std::unique_ptr<State> state_;
};

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_CPU_EXECUTOR_H_
