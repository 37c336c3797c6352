// The CUDA launch plans' memory contract, for every plan test model
// (tests/fixtures/plan_models: each fixture family resized to head_dim 64,
// f32 and bf16, the buckets of plan_scenario.h): every scratch value is
// written before it is read, and values alive together never share bytes.
#include "codegen/plan/launch_plan.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
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
          } else if constexpr (std::is_same_v<T, GatherRowsStep>) {
            touch(op.ids, s, false);
            touch(op.out, s, true);
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

// Executing the plans is cuda_executor_emulator_test's part (the CUDA
// executor on the emulator, against the reference executor).
TEST_P(LaunchPlanTest, EveryPlanKeepsTheScratchContract) {
  const Case& c = GetParam();
  absl::StatusOr<testing::CompiledPlanModel> model =
      testing::CompilePlanModel(c.family, c.dtype, codegen::A100Target());
  ASSERT_TRUE(model.ok()) << model.status();
  for (const LaunchPlan& plan : model->plans) ExpectScratchContract(plan);
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
