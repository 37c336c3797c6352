// The CUDA launch plan, executed on the CPU by the kernels' twins
// (tests/support/plan_host_executor.h), against the reference executor.
//
// Models: tests/fixtures/plan_models (each fixture family resized to
// head_dim 64, which the attention kernels take), random weights, f32 and
// bf16. Row kernels run as their generated host C++ (the genrule's
// GeneratedHostKernels), the code CI otherwise only tests kernel by kernel. Buckets: a batch-2
// prefill and decode and a batch-1 prefill and decode that share the
// batch-2 caches' leading row, as an engine's buckets do. Each scenario runs
// prefill, decode steps fed by the reference's greedy tokens, then a batch-1
// chunked prefill and decode continuing row 0; logits are compared at every
// step (TESTING.md: f32 kernels vs reference 1e-5; bf16 tiny model 0.12).
#include "codegen/plan/launch_plan.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/plan_host_executor.h"
#include "tests/runtime/cuda/host_renderings.h"
#include "tests/runtime/cuda/plan_scenario.h"
#include "tests/support/error_metrics.h"

namespace kiln {
namespace {

// Checks the plan's memory contract independently of how it was placed:
// every scratch value is written before it is read, and two values whose
// lifetimes (first write to last touch; the logits, next tokens and fault
// flag to the end) overlap in steps never overlap in bytes. A step that
// writes a value it also reads (the in-place RoPE q) is one value.
void ExpectScratchContract(const LaunchPlan& plan) {
  struct Life {
    size_t first = SIZE_MAX, last = 0;
    int64_t offset = 0, bytes = 0;
  };
  std::map<std::string, Life> lives;
  const auto touch = [&](const DeviceBuffer& b, size_t s, bool written) {
    if (b.space != ArenaSpace::kScratch) return;
    Life& life = lives[b.value];
    if (life.first == SIZE_MAX) {
      EXPECT_TRUE(written || b.value == "fault")
          << plan.function << ": %" << b.value << " read first";
      life.first = s;
    }
    life.last = s;
    life.offset = b.offset;
    life.bytes = std::max(life.bytes, b.bytes);
    EXPECT_LE(b.offset + b.bytes, plan.scratch_bytes) << b.value;
  };
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    LaunchStep step = plan.steps[s];
    std::visit(
        [&](auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, RowKernelStep>) {
            for (size_t i = 0; i < op.buffers.size(); ++i) {
              touch(op.buffers[i], s, op.desc.buffers[i].output);
            }
          } else if constexpr (std::is_same_v<T, GemmStep>) {
            touch(op.x, s, false);
            touch(op.out, s, true);
          } else if constexpr (std::is_same_v<T, RopeKvWriteStep>) {
            for (const DeviceBuffer* b : {&op.q, &op.k, &op.v}) touch(*b, s, false);
            touch(op.q_out, s, true);
          } else {
            touch(op.q, s, false);
            for (const DeviceBuffer* b : {&op.out, &op.acc, &op.ml}) touch(*b, s, true);
          }
        },
        step.op);
  }
  for (const char* pinned : {"next_tokens", "fault"}) lives[pinned].last = SIZE_MAX;
  lives[plan.logits.value].last = SIZE_MAX;
  for (auto a = lives.begin(); a != lives.end(); ++a) {
    for (auto b = std::next(a); b != lives.end(); ++b) {
      const bool alive_together =
          a->second.first <= b->second.last && b->second.first <= a->second.last;
      const bool bytes_overlap = a->second.offset < b->second.offset + b->second.bytes &&
                                 b->second.offset < a->second.offset + a->second.bytes;
      EXPECT_FALSE(alive_together && bytes_overlap)
          << plan.function << ": %" << a->first << " and %" << b->first
          << " share bytes while both live";
    }
  }
}

struct Case {
  std::string family;
  DType dtype;
};

class LaunchPlanTest : public ::testing::TestWithParam<Case> {};

TEST_P(LaunchPlanTest, HostExecutionMatchesReference) {
  const Case& c = GetParam();
  absl::StatusOr<testing::CompiledPlanModel> model =
      testing::CompilePlanModel(c.family, c.dtype, codegen::A100Target());
  ASSERT_TRUE(model.ok()) << model.status();
  for (const LaunchPlan& plan : model->plans) ExpectScratchContract(plan);
  testing::HostRenderings renderings = testing::HostRenderingsOfSuite(
      absl::StrCat("plan_", c.family, "_", std::string(DTypeName(c.dtype))));
  ASSERT_FALSE(renderings.fns.empty()) << "no generated host kernels for " << c.family;
  absl::StatusOr<std::unique_ptr<HostPlanExecutor>> host = HostPlanExecutor::Create(
      model->module, model->weights, model->layout, model->plans, renderings.fns, renderings.irs);
  ASSERT_TRUE(host.ok()) << host.status();

  absl::StatusOr<std::vector<testing::ScenarioStep>> steps = testing::RunScenario(*model, **host);
  ASSERT_TRUE(steps.ok()) << steps.status();
  const double tolerance = c.dtype == DType::kF32 ? 1e-5 : 0.12;
  const int64_t vocab = model->plans.front().vocab;
  for (const testing::ScenarioStep& s : *steps) {
    double diff = 0;
    for (size_t i = 0; i < s.got.size(); ++i) {
      diff = testing::MaxKeepingNan(diff, std::fabs(double{s.got[i]} - s.want[i]));
    }
    EXPECT_LE(diff, tolerance) << s.function << " at position " << s.first_position;
    // The plan's argmax kernel agrees with its own logits.
    for (size_t r = 0; r < s.next_tokens.size(); ++r) {
      const float* row = s.got.data() + r * vocab;
      EXPECT_EQ(s.next_tokens[r], std::max_element(row, row + vocab) - row) << s.function;
    }
  }
  // Every row kernel of the last step ran as generated host C++.
  EXPECT_EQ((*host)->reference_steps(), 0);
  EXPECT_GT((*host)->host_rendered_steps(), 0);
  std::printf("%s %s: max |plan - reference| over all logits %.3g\n", c.family.c_str(),
              std::string(DTypeName(c.dtype)).c_str(), testing::MaxLogitDiff(*steps));
}

std::vector<Case> Cases() {
  std::vector<Case> out;
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    for (DType dtype : {DType::kF32, DType::kBF16}) out.push_back({family, dtype});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Families, LaunchPlanTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.family + "_" +
                                  std::string(DTypeName(info.param.dtype));
                         });

}  // namespace
}  // namespace kiln
