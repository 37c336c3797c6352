// The record of measured cuBLASLt algorithms (codegen/plan/gemm_choices.h):
// the shapes it covers, its JSON round trip, the damage it refuses, and when
// it applies. The measuring itself needs a GPU (cuda_executor_gpu_test).
#include "codegen/plan/gemm_choices.h"

#include <set>

#include "gtest/gtest.h"
#include "codegen/plan/gemm_shapes.h"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln {
namespace {

GemmChoices TunedRecord() {
  GemmChoices c;
  c.tuned = true;
  c.device = "NVIDIA H100 80GB HBM3";
  c.arch = "sm_90";
  c.cublaslt_version = 130100;
  c.shapes = {{.m = 1, .n = 2048, .k = 8192, .dtype = DType::kBF16, .bias = false},
              {.m = 16, .n = 50272, .k = 768, .dtype = DType::kF16, .bias = true}};
  c.choices = {{.shape = c.shapes[0],
                .algo = {.algo_id = 66,
                         .tile = 20,
                         .split_k = 4,
                         .reduction_scheme = 2,
                         .swizzle = 1,
                         .custom_option = 3,
                         .stages = 35,
                         .inner_shape = 7,
                         .cluster_shape = 2},
                .workspace_bytes = 1 << 20,
                .candidates = 8,
                .best_us = 10.5,
                .heuristic_us = 12.25},
               {.shape = c.shapes[1],
                .algo = {.algo_id = 0, .tile = 4294967295u},
                .workspace_bytes = 0,
                .candidates = 1,
                .best_us = 3,
                .heuristic_us = 3}};
  return c;
}

void ExpectSame(const GemmChoices& a, const GemmChoices& b) {
  EXPECT_EQ(a.tuned, b.tuned);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.cublaslt_version, b.cublaslt_version);
  EXPECT_EQ(a.shapes, b.shapes);
  ASSERT_EQ(a.choices.size(), b.choices.size());
  for (size_t i = 0; i < a.choices.size(); ++i) {
    EXPECT_EQ(a.choices[i].shape, b.choices[i].shape);
    EXPECT_EQ(a.choices[i].algo, b.choices[i].algo);
    EXPECT_EQ(a.choices[i].workspace_bytes, b.choices[i].workspace_bytes);
    EXPECT_EQ(a.choices[i].candidates, b.choices[i].candidates);
    EXPECT_EQ(a.choices[i].best_us, b.choices[i].best_us);
    EXPECT_EQ(a.choices[i].heuristic_us, b.choices[i].heuristic_us);
  }
}

TEST(GemmChoicesTest, EveryShapeOfThePlansOnce) {
  for (const char* family : {"llama3", "opt"}) {
    absl::StatusOr<testing::CompiledPlanModel> model =
        testing::CompilePlanModel(family, DType::kBF16, codegen::H100Target());
    ASSERT_TRUE(model.ok()) << model.status();
    std::set<std::string> keys;
    int64_t steps = 0;
    for (const LaunchPlan& plan : model->plans) {
      for (const LaunchStep& step : plan.steps) {
        if (const auto* g = std::get_if<GemmStep>(&step.op)) {
          keys.insert(ShapeOf(*g).Key());
          ++steps;
        }
      }
    }
    const std::vector<GemmShape> shapes = DistinctGemmShapes(model->plans);
    EXPECT_EQ(shapes.size(), keys.size()) << family;
    EXPECT_LT(static_cast<int64_t>(shapes.size()), steps) << family << ": layers share shapes";
    // OPT's projections carry biases, Llama's do not.
    const bool any_bias =
        std::any_of(shapes.begin(), shapes.end(), [](const GemmShape& s) { return s.bias; });
    EXPECT_EQ(any_bias, std::string(family) == "opt");
    const GemmChoices untuned = UntunedGemmChoices(model->plans, "sm_90", "no GPU here");
    EXPECT_EQ(untuned.shapes, shapes);
    EXPECT_TRUE(untuned.choices.empty());
  }
}

TEST(GemmChoicesTest, RecordsReadBackUnchanged) {
  const GemmChoices tuned = TunedRecord();
  absl::StatusOr<GemmChoices> back = ParseGemmChoices(GemmChoicesJson(tuned));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, tuned);
  EXPECT_EQ(back->Find(tuned.shapes[1])->algo.tile, 4294967295u);
  EXPECT_EQ(back->Find({.m = 2, .n = 2048, .k = 8192, .dtype = DType::kBF16}), nullptr);

  GemmChoices untuned;
  untuned.arch = "sm_80";
  untuned.reason = "no usable CUDA device";
  untuned.shapes = tuned.shapes;
  back = ParseGemmChoices(GemmChoicesJson(untuned));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, untuned);
}

TEST(GemmChoicesTest, DamagedRecordsAreDataLoss) {
  const std::string good = GemmChoicesJson(TunedRecord());
  const auto damaged = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return ParseGemmChoices(text).status();
  };
  EXPECT_EQ(ParseGemmChoices("not json").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseGemmChoices("[]").status().code(), absl::StatusCode::kDataLoss);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"tuned\": true", "\"tuned\": 1"},
           {"\"algo_id\": 66", "\"algo_id\": -1"},
           {"\"tile\": 20", "\"tile\": 1099511627776"},       // past uint32
           {"\"inner_shape\": 7", "\"inner_shape\": 70000"},  // past uint16
           {"\"m\": 1,", "\"m\": 0,"},
           {"\"bf16\"", "\"q4\""},
           {"\"best_us\": 10.5", "\"best_us\": \"fast\""},
           {"\"best_us\": 10.5", "\"best_us\": 1e999"},  // inf: JSON cannot print it
           {"\"device\": \"NVIDIA H100 80GB HBM3\",", ""},
       }) {
    const absl::Status s = damaged(from, to);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << from << " -> " << to << ": " << s;
    EXPECT_NE(std::string(s.message()).find("recompile the engine"), std::string::npos) << s;
  }
  // A tuned record must choose for every shape it lists.
  GemmChoices missing = TunedRecord();
  missing.choices.pop_back();
  EXPECT_EQ(ParseGemmChoices(GemmChoicesJson(missing)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(GemmChoicesTest, ApplyOnlyWhereMeasured) {
  const GemmChoices tuned = TunedRecord();
  EXPECT_TRUE(ChoicesApplyHere(tuned, "NVIDIA H100 80GB HBM3", "sm_90", 130100).ok());
  const absl::Status other_card = ChoicesApplyHere(tuned, "NVIDIA H200", "sm_90", 130100);
  EXPECT_EQ(other_card.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(other_card.message()).find("measured on NVIDIA H100 80GB HBM3"),
            std::string::npos)
      << other_card;
  EXPECT_NE(std::string(other_card.message()).find("NVIDIA H200"), std::string::npos);
  const absl::Status other_lib = ChoicesApplyHere(tuned, "NVIDIA H100 80GB HBM3", "sm_90", 130000);
  EXPECT_NE(std::string(other_lib.message()).find("cuBLASLt 130100, this is 130000"),
            std::string::npos)
      << other_lib;
  const GemmChoices untuned = UntunedGemmChoices({}, "sm_90", "no usable CUDA device");
  const absl::Status not_measured = ChoicesApplyHere(untuned, "NVIDIA H100 80GB HBM3", "sm_90", 1);
  EXPECT_NE(std::string(not_measured.message()).find("not measured (no usable CUDA device)"),
            std::string::npos)
      << not_measured;
}

}  // namespace
}  // namespace kiln
