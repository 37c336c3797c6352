// A test helper of the CPU backend's suites: an engine stepped on the CPU
// executor and on the reference executor side by side.
#ifndef KILN_TESTS_RUNTIME_CPU_REFERENCE_STEPS_H_
#define KILN_TESTS_RUNTIME_CPU_REFERENCE_STEPS_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/host_tensor.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/reference/executor.h"
#include "runtime/reference/session.h"
#include "runtime/session/plan_session.h"

namespace kiln::testing {

// Steps the engine in `dir` on the CPU executor (`options`) and on the
// reference executor side by side: `feed` first (in chunks of the batch-1
// buckets), then single tokens, each the reference's greedy next token;
// `check(step, got, want)` sees every step's logits ([n, vocab]) and returns
// false to stop.
using StepCheck = std::function<bool(int, const HostTensor&, const HostTensor&)>;
inline void StepAgainstReference(const std::string& dir, int64_t capacity,
                                 cpu::CpuExecutorOptions options, std::vector<int32_t> feed,
                                 int steps, const StepCheck& check) {
  absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(dir, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<ReferenceExecutor> reference =
      ReferenceExecutor::Create(engine->engine.module, engine->engine.weights);
  ASSERT_TRUE(reference.ok()) << reference.status();
  absl::StatusOr<PlanSession> got = PlanSession::Create(*engine->executor, engine->engine.module,
                                                        capacity, engine->batch1_buckets);
  absl::StatusOr<ReferenceSession> want =
      ReferenceSession::Create(*reference, capacity, engine->batch1_buckets);
  ASSERT_TRUE(got.ok() && want.ok());
  for (int step = 0; step < steps; ++step) {
    absl::StatusOr<HostTensor> a = got->Forward(feed);
    absl::StatusOr<HostTensor> b = want->Forward(feed);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
    if (!check(step, *a, *b)) return;
    const int64_t vocab = b->shape.back();
    const float* last = b->floats.data() + (b->numel() - vocab);
    feed = {static_cast<int32_t>(std::max_element(last, last + vocab) - last)};
  }
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_CPU_REFERENCE_STEPS_H_
