// A tampered launch plan is refused by the CPU executor before it runs: each
// mutation below would, unchecked, make a CPU kernel read or write outside
// its buffers (runtime/cpu/plan_checks.h). The untampered plans load, so
// every refusal is the mutation's.
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_executor.h"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln::testing {
namespace {

using Mutation = std::function<void(LaunchPlan&)>;

template <typename Step>
Step* First(LaunchPlan& plan) {
  for (LaunchStep& s : plan.steps) {
    if (auto* step = std::get_if<Step>(&s.op)) return step;
  }
  return nullptr;
}

// `mutate` applied to the first plan makes CpuExecutor::Create refuse it
// with DataLoss and a message holding `why` (so the refusal is this
// mutation's, not some other check's).
void ExpectRefused(const std::string& what, const std::string& why, const Mutation& mutate,
                   const std::string& family = "llama3") {
  SCOPED_TRACE(what);
  absl::StatusOr<CompiledPlanModel> model =
      CompilePlanModel(family, DType::kF32, codegen::A100Target());
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<LaunchPlan> plans = model->plans;
  mutate(plans.front());
  absl::StatusOr<std::unique_ptr<cpu::CpuExecutor>> executor =
      cpu::CpuExecutor::Create(model->module, model->weights, model->layout, plans);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kDataLoss) << executor.status();
  EXPECT_NE(executor.status().message().find(why), std::string::npos) << executor.status();
}

TEST(CpuPlanChecksTest, UntamperedPlansLoad) {
  absl::StatusOr<CompiledPlanModel> model =
      CompilePlanModel("llama3", DType::kF32, codegen::A100Target());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(
      cpu::CpuExecutor::Create(model->module, model->weights, model->layout, model->plans).ok());
}

TEST(CpuPlanChecksTest, TamperedPlansAreRefused) {
  ExpectRefused("input ids in scratch", "input_ids is in the wrong arena space", [](LaunchPlan& p) {
    p.input_ids.space = ArenaSpace::kScratch;
  });
  ExpectRefused("logits too small", ".logits (", [](LaunchPlan& p) { p.logits.bytes = 4; });
  ExpectRefused("a GEMM's out narrower than its dtype", "must be f32, f16 or bf16", [](LaunchPlan& p) {
    First<GemmStep>(p)->dtype = DType::kI8;
  });
  ExpectRefused("a GEMM's weight read as another dtype", ".w is bf16, not f32", [](LaunchPlan& p) {
    First<GemmStep>(p)->w.dtype = DType::kBF16;
  });
  ExpectRefused("a GEMM wider than its weight", ".w (", [](LaunchPlan& p) {
    First<GemmStep>(p)->n *= 2;
  });
  ExpectRefused("a GEMM writing over its own x", ".out overlaps x", [](LaunchPlan& p) {
    GemmStep* g = First<GemmStep>(p);
    g->out.space = g->x.space;
    g->out.offset = g->x.offset;
  });
  ExpectRefused("a GEMM of no columns", "has an empty dimension", [](LaunchPlan& p) {
    First<GemmStep>(p)->n = 0;
  });
  ExpectRefused("caches of two dtypes", "must be a float cache of k_cache's dtype", [](LaunchPlan& p) {
    First<RopeKvWriteStep>(p)->v_cache.dtype = DType::kBF16;
  });
  ExpectRefused("a cache too small for its capacity", ".k_cache (", [](LaunchPlan& p) {
    First<AttentionStep>(p)->capacity *= 4;
  });
  ExpectRefused("positions that are not the plan's", "is not the plan's positions", [](LaunchPlan& p) {
    First<AttentionStep>(p)->pos = p.input_ids;
  });
  ExpectRefused("a RoPE table shorter than the cache", "is not a RoPE table of this head size and capacity", [](LaunchPlan& p) {
    RopeKvWriteStep* r = First<RopeKvWriteStep>(p);
    r->capacity *= 4;
    r->k_cache.bytes *= 4;
    r->v_cache.bytes *= 4;
  });
  ExpectRefused("heads that do not group", "is not a head layout the CPU kernels take", [](LaunchPlan& p) {
    First<AttentionStep>(p)->variant.shape.kv_heads = 3;
  });
  ExpectRefused("a row kernel faulting elsewhere", "outside the plan's fault flag", [](LaunchPlan& p) {
    for (LaunchStep& s : p.steps) {
      auto* row = std::get_if<RowKernelStep>(&s.op);
      if (row == nullptr) continue;
      for (size_t i = 0; i < row->buffers.size(); ++i) {
        if (row->desc.buffers[i].indexing == codegen::Indexing::kScalar) {
          row->buffers[i].offset += 256;
          return;
        }
      }
    }
  });
}

}  // namespace
}  // namespace kiln::testing
