// The generate loop of runtime/generate/generator.cc, stepped by the
// benchmark so that each token's time is seen: single sequences through a
// ReferenceSession (what Generator::Generate runs), batches through a
// BatchSession (what Generator::GenerateBatchIds runs).
#ifndef KILN_TOOLS_BENCH_KILN_RUNNER_H_
#define KILN_TOOLS_BENCH_KILN_RUNNER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/cuda/cuda_engine.h"
#include "runtime/engine/engine.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/generator.h"
#include "runtime/reference/executor.h"
#include "runtime/reference/session.h"
#include "runtime/session/sequence_session.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln::bench {

// A loaded engine and its buckets by batch. Built once, read by every run.
// A cpu engine runs on the CPU executor (or, when asked, the reference
// executor), a CUDA one (sm_80, sm_90) on the GPU; the plan executors
// through PlanSession / plan batch sessions.
struct LoadedEngine {
  EngineManifest manifest;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<ReferenceExecutor> executor;  // cpu, --executor reference
  std::unique_ptr<cpu::CpuEngine> cpu;          // cpu
  std::unique_ptr<CudaEngine> cuda;             // sm_XX
  std::map<int64_t, std::vector<SessionBucket>> buckets;  // batch -> its buckets

  const Module& module() const {
    return cuda ? cuda->engine.module : cpu ? cpu->engine.module : executor->module();
  }
  // The launch-plan executor (CPU or CUDA), or nullptr on the reference.
  PlanExecutor* plans() const {
    return cuda ? static_cast<PlanExecutor*>(cuda->executor.get()) : cpu ? cpu->executor.get()
                                                                        : nullptr;
  }
  const std::vector<SessionBucket>& batch1_buckets() const {
    return cuda ? cuda->batch1_buckets : cpu->batch1_buckets;
  }
  std::string backend() const;  // for the result JSON
};

// Loads `dir` for `target` with its tokenizer; fails when there is none.
// `cuda_options` apply to CUDA engines (the device: gpu or the emulator);
// `reference` runs a cpu engine on the reference executor instead of the
// CPU backend.
absl::StatusOr<LoadedEngine> LoadForBench(const std::string& dir, const std::string& target,
                                          CudaExecutorOptions cuda_options = {},
                                          bool reference = false);

// A fresh single-sequence session on the engine's batch-1 buckets: a
// ReferenceSession (cpu) or a PlanSession on the GPU (which must outlive it
// with the engine).
absl::StatusOr<std::unique_ptr<SequenceSession>> NewSequenceSession(const LoadedEngine& engine);

// One timed generation of `prompts.size()` rows stepped together.
struct RunTimes {
  std::vector<std::vector<int32_t>> output_ids;  // per row
  double ttft_s = 0;                 // prefill + the first token of every row
  std::vector<double> latencies_s;   // each later step (one token per running row)
  int64_t tokens_after_first = 0;    // tokens the later steps produced, all rows
  double decode_s = 0;               // after ttft_s until the last token (every row)
  // Speculative decoding (RunTimedSpeculative), summed over the rows.
  int64_t drafted = 0, accepted = 0, target_forwards = 0;
};

// Runs the rows with `config` (a fresh session each time, created before
// the clock starts). One row runs the batch-1 ReferenceSession (a
// PlanSession on the GPU, where greedy decoding takes the device's argmax and
// copies no logits); more rows run the smallest compiled batch that holds
// them (on the GPU through the same plans, logits copied to the host
// sampler). Each row samples as in
// Generate (its history, draws numbered from 0) and detokenises its tokens
// as they come; a row stops at an EOS of config.eos_token_ids.
absl::StatusOr<RunTimes> RunTimed(const LoadedEngine& engine,
                                  const std::vector<std::vector<int32_t>>& prompts,
                                  const GenerationConfig& config);

// The rows through `generator` (Generator::GenerateIds, or GenerateBatchIds
// for several rows) with `config`'s speculative decoding, from a fresh
// context. Tokens arrive by verify rounds, not one a step, so no per-token
// latencies are kept: ttft_s is the time until every row has streamed its
// first text, decode_s the rest of the request.
absl::StatusOr<RunTimes> RunTimedSpeculative(Generator& generator,
                                             const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerationConfig& config);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_KILN_RUNNER_H_
