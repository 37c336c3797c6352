// Loading an engine for text generation: the engine on the backend its
// target chooses, its tokenizer and a Generator over it (generate and the
// speculative benchmark share it).
#ifndef KILN_TOOLS_LOAD_GENERATOR_H_
#define KILN_TOOLS_LOAD_GENERATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/cuda/cuda_engine.h"
#include "runtime/engine/engine.h"
#include "runtime/generate/generator.h"
#include "runtime/reference/executor.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln {

// An engine loaded with its tokenizer and a generator on its backend.
struct LoadedGenerator {
  std::string dir;  // the engine directory
  std::unique_ptr<CudaEngine> cuda;
  std::unique_ptr<cpu::CpuEngine> cpu;
  Engine reference_engine;
  std::unique_ptr<ReferenceExecutor> executor;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::shared_ptr<Generator> generator;

  Engine& engine() { return cuda ? cuda->engine : cpu ? cpu->engine : reference_engine; }
};

// Loads `dir` on the backend its target and `executor_name` choose: a
// CUDA engine (sm_80, sm_90) onto `device` (gpu or emulator), a cpu engine
// onto the CPU executor ("cpu") or the reference executor ("reference").
// The generator takes the engine's --verify-tokens. Fails when the engine
// has no tokenizer.
absl::StatusOr<std::unique_ptr<LoadedGenerator>> LoadGenerator(const std::string& dir,
                                                               const std::string& executor_name,
                                                               const std::string& device);

// A Generator over a plan executor's sessions (the CPU or CUDA backend):
// batch-1 sessions on `batch1`, batch sessions on `buckets`' batches.
// `plans`, `module`, `tok` and `batch1` must outlive it.
absl::StatusOr<std::shared_ptr<Generator>> GeneratorOnPlans(
    PlanExecutor& plans, const Module& module, const tokenizer::Tokenizer& tok, int64_t max_seq,
    const std::vector<SessionBucket>& batch1, std::vector<SessionBucket> buckets);

}  // namespace kiln

#endif  // KILN_TOOLS_LOAD_GENERATOR_H_
