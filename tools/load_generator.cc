#include "tools/load_generator.h"

#include <cstdio>

#include "base/status_macros.h"
#include "runtime/session/plan_session.h"
#include "runtime/tokenizer/load.h"
#include "tools/device_flag.h"

namespace kiln {

absl::StatusOr<std::shared_ptr<Generator>> GeneratorOnPlans(
    PlanExecutor& plans, const Module& module, const tokenizer::Tokenizer& tok, int64_t max_seq,
    const std::vector<SessionBucket>& batch1, std::vector<SessionBucket> buckets) {
  PlanExecutor* executor = &plans;
  const Module* m = &module;
  const std::vector<SessionBucket>* b1 = &batch1;
  auto new_session = [=]() -> absl::StatusOr<std::unique_ptr<SequenceSession>> {
    KILN_ASSIGN_OR_RETURN(PlanSession session, PlanSession::Create(*executor, *m, max_seq, *b1));
    return std::make_unique<PlanSession>(std::move(session));
  };
  auto new_batch = [=](int64_t batch, std::vector<SessionBucket> b) {
    return CreatePlanBatchSession(*executor, *m, batch, max_seq, std::move(b));
  };
  KILN_ASSIGN_OR_RETURN(Generator g,
                        Generator::CreateWithSessions(new_session, new_batch, module, tok, max_seq,
                                                      std::move(buckets)));
  return std::make_shared<Generator>(std::move(g));
}

absl::StatusOr<std::unique_ptr<LoadedGenerator>> LoadGenerator(const std::string& dir,
                                                               const std::string& executor_name,
                                                               const std::string& device) {
  auto out = std::make_unique<LoadedGenerator>();
  out->dir = dir;
  // A CUDA engine (sm_80, sm_90) loads onto the GPU, a cpu engine onto the
  // CPU executor (or the reference executor); the rest is the same.
  KILN_ASSIGN_OR_RETURN(std::string target, EngineTarget(dir));
  KILN_ASSIGN_OR_RETURN(CudaExecutorOptions options, ExecutorOptionsForDevice(device, target));
  if (executor_name != "cpu" && executor_name != "reference") {
    return absl::InvalidArgumentError("--executor must be cpu or reference");
  }
  if (target == "cpu" && executor_name == "reference") {
    KILN_ASSIGN_OR_RETURN(out->reference_engine, LoadEngine(dir, "cpu"));
  } else if (target == "cpu") {
    KILN_RETURN_IF_ERROR(cpu::CheckCpuEnvironment());
    KILN_ASSIGN_OR_RETURN(cpu::CpuEngine loaded, cpu::LoadCpuEngine(dir));
    out->cpu = std::make_unique<cpu::CpuEngine>(std::move(loaded));
    std::fprintf(stderr, "[%s]\n", out->cpu->executor->Describe().c_str());
  } else {
    KILN_ASSIGN_OR_RETURN(CudaEngine loaded, LoadCudaEngine(dir, target, options));
    out->cuda = std::make_unique<CudaEngine>(std::move(loaded));
    std::fprintf(stderr, "[device: %s]\n", out->cuda->executor->load_report().device.c_str());
  }
  Engine& engine = out->engine();
  if (engine.manifest.tokenizer.empty()) {
    return absl::FailedPreconditionError(
        "the engine has no tokenizer: compile it from a directory with tokenizer.json or pass "
        "compile-model --tokenizer");
  }
  KILN_ASSIGN_OR_RETURN(out->tokenizer,
                        tokenizer::LoadTokenizer(dir + "/" + engine.manifest.tokenizer));
  const tokenizer::Tokenizer& tok = *out->tokenizer;
  std::unique_ptr<CudaEngine>& cuda = out->cuda;
  std::unique_ptr<cpu::CpuEngine>& cpu = out->cpu;
  std::vector<SessionBucket> buckets;
  for (const EngineBucket& b : engine.manifest.buckets) buckets.push_back({b.function, b.seq});
  int64_t max_seq = engine.manifest.max_seq;
  if (cuda || cpu) {
    // The engine lives on the heap with `out`: the factories hold pointers.
    PlanExecutor* plans =
        cuda ? static_cast<PlanExecutor*>(cuda->executor.get()) : cpu->executor.get();
    const std::vector<SessionBucket>& batch1 = cuda ? cuda->batch1_buckets : cpu->batch1_buckets;
    KILN_ASSIGN_OR_RETURN(out->generator, GeneratorOnPlans(*plans, engine.module, tok, max_seq,
                                                           batch1, std::move(buckets)));
  } else {
    KILN_ASSIGN_OR_RETURN(
        ReferenceExecutor e,
        ReferenceExecutor::Create(std::move(engine.module), std::move(engine.weights)));
    out->executor = std::make_unique<ReferenceExecutor>(std::move(e));
    KILN_ASSIGN_OR_RETURN(Generator g,
                          Generator::Create(*out->executor, tok, max_seq, std::move(buckets)));
    out->generator = std::make_shared<Generator>(std::move(g));
  }
  out->generator->set_verify_tokens(engine.manifest.verify_tokens);
  return out;
}

}  // namespace kiln
