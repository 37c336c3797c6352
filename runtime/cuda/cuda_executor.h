// Runs an engine's launch plans on an NVIDIA GPU, or on the CUDA emulator
// when options.device_api is an EmulatedDevice: every device call goes
// through the seam of device_api.h.
//
// At load: checks a device is there (cudart loads the driver itself, at the
// first call: nothing links libcuda, and a machine without a driver gets a
// FailedPrecondition naming the cause), checks the arena fits the free
// memory before allocating it, uploads weights and RoPE tables, zeroes the
// caches, loads each kernel of the bundle (its cubin when the device is the
// bundle's architecture, else its PTX for the driver to JIT), plans every
// GEMM on cuBLASLt (and, for decode-sized GEMMs that have a generated GEMV,
// times both on the device and keeps the faster), launches every plan once
// eagerly, waiting after each step, so that a bad launch fails Create naming
// its kernel (eager_launch.h), then captures one CUDA graph per plan. GEMMs use the algorithms compile-model measured on this
// device when the engine records them (else the heuristic). A run copies
// the step's token ids and positions in, replays the graph and copies the
// logits and greedy tokens out.
//
// tests/runtime/cuda/executor_checks.h holds its end-to-end checks (against
// the reference executor, eager launches and Transformers), which CI runs
// on the emulated device and the GPU suite on a GPU. Nothing here has run
// on a GPU yet.
#ifndef KILN_RUNTIME_CUDA_CUDA_EXECUTOR_H_
#define KILN_RUNTIME_CUDA_CUDA_EXECUTOR_H_

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/host_tensor.h"
#include "codegen/loop/loop_plan.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/kernel_bundle.h"
#include "codegen/plan/launch_plan.h"
#include "ir/module.h"
#include "runtime/cuda/device_api.h"
#include "runtime/engine/weight_store.h"
#include "runtime/session/plan_executor.h"
#include "runtime/session/session_util.h"

namespace kiln {

struct CudaExecutorOptions {
  int device = 0;
  // The device the plans run on: null is the CUDA runtime's (the GPU); an
  // EmulatedDevice (runtime/emulator/emulated_device.h) runs them in the
  // CUDA emulator, and reports say "emulated".
  std::shared_ptr<gpu::DeviceApi> device_api;
  // Replay captured CUDA graphs (the default) or launch step by step.
  bool use_graphs = true;
  // Time GEMV against cuBLASLt for decode GEMMs and keep the faster (on the
  // emulator, which has no clock worth timing, GEMV wherever the plan has
  // one); when false, cuBLASLt everywhere.
  bool choose_gemv = true;
  // The engine's measured cuBLASLt algorithms (gemm_choices.h), used when
  // they were measured on this device with this cuBLASLt; else, or when
  // null, cuBLASLt's heuristic. Must outlive Create only.
  const GemmChoices* gemm_choices = nullptr;
};

// What loading measured and decided, for logs and benchmarks.
struct CudaLoadReport {
  std::string device;  // "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)"
  int64_t arena_bytes = 0;
  double upload_seconds = 0;   // weights, tables, caches
  double capture_seconds = 0;  // GEMM planning, GEMV timing, graph capture
  int64_t gemms_on_gemv = 0;   // GEMM steps the timing gave to the GEMV kernel
  int64_t gemms_on_cublaslt = 0;
  // GEMM steps whose cuBLASLt plan is the engine's recorded algorithm (a
  // step the GEMV then wins counts here too); the others asked the
  // heuristic. `gemm_algorithms` says which source applied, and why not
  // the record when it does not apply here.
  int64_t gemms_on_recorded_algo = 0;
  std::string gemm_algorithms;
  std::vector<std::string> notes;  // per-GEMM choices and timings
};

// The bytes of weight `name` as the device holds it (`dtype`), or an error
// when there is no such weight; `scratch` may hold them.
using WeightBytes = std::function<absl::StatusOr<std::span<const uint8_t>>(
    const std::string& name, DType dtype, std::vector<uint8_t>& scratch)>;

class CudaExecutor : public PlanExecutor {
 public:
  // An engine's stored weights, uploaded as stored (no host copy).
  static absl::StatusOr<std::unique_ptr<CudaExecutor>> Create(
      const Module& module, const WeightStore& weights, StaticLayout layout,
      std::vector<LaunchPlan> plans, const KernelBundle& bundle, CudaExecutorOptions options = {});
  // Host tensors (tests' random weights), encoded into each buffer's dtype.
  static absl::StatusOr<std::unique_ptr<CudaExecutor>> Create(
      const Module& module, const WeightMap& weights, StaticLayout layout,
      std::vector<LaunchPlan> plans, const KernelBundle& bundle, CudaExecutorOptions options = {});
  static absl::StatusOr<std::unique_ptr<CudaExecutor>> Create(
      const Module& module, const WeightBytes& weights, StaticLayout layout,
      std::vector<LaunchPlan> plans, const KernelBundle& bundle, CudaExecutorOptions options = {});
  ~CudaExecutor() override;

  absl::StatusOr<int32_t> SampleRow(const std::string& function, int64_t row,
                                    const codegen::sampling::SampleParams& params) override;
  absl::Status ResetCaches() override;

  const CudaLoadReport& load_report() const { return report_; }

  // One sequence's generate loop as one CUDA graph (cuda_loop.cc):
  // the history's tokens from `cached` on but the last are prefilled in
  // `prefill`'s buckets (PlanSession's chunks), then
  //   WHILE { prepare; SWITCH { plan.buckets' step graphs }; finish }
  // runs the rounds of codegen/loop/loop_control.h until a stop, writing
  // each token to mapped host memory, which `on_tokens` reads while the
  // graph runs; the call waits on the device once. The cache then holds
  // the history and the tokens but the last. A sampled plan draws each
  // token with the on-device sampler (codegen/sampling) inside the graph;
  // `sample` (the host's sampler) is not used. FailedPrecondition for an
  // engine without the loop kernels or buckets whose plans do not share
  // their inputs, loop kernels of another Kiln version, or a sampled plan
  // with a bucket of more than 64 tokens (the sampler's rows); the plan's
  // errors as EncodeLoopConfig gives them.
  absl::StatusOr<codegen::loop::LoopResult> RunLoop(
      const codegen::loop::LoopPlan& plan, std::span<const SessionBucket> prefill,
      std::span<const int32_t> history, int64_t cached,
      const codegen::loop::LoopTokens& on_tokens = nullptr,
      const codegen::loop::LoopSampler& sample = nullptr) override;

  // Host waits on the device since Create (each Run waits once).
  int64_t host_synchronizations() const;

 private:
  absl::StatusOr<PlanOutput> DoRun(const std::string& function,
                                   std::span<const int32_t> input_ids,
                                   std::span<const int32_t> positions, bool copy_logits,
                                   int64_t only_row) override;
  // The loop graph of `plan`'s buckets, captured at its first use.
  absl::StatusOr<gpu::GraphId> LoopGraph(const codegen::loop::LoopPlan& plan,
                                         const std::vector<const LaunchPlan*>& steps);
  // Enqueues plan `index` (its graph, or its launches) without waiting.
  absl::Status RunPlanAsync(size_t index);
  struct State;
  explicit CudaExecutor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  CudaLoadReport report_;
};

// FailedPrecondition when no CUDA device can be used (no driver, no
// device, or a driver too old for this toolkit), with cudart's reason; the
// device's name otherwise.
absl::StatusOr<std::string> CudaDeviceAvailable(int device = 0);

}  // namespace kiln

#endif  // KILN_RUNTIME_CUDA_CUDA_EXECUTOR_H_
