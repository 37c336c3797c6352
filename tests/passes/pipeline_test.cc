// Pass pipeline: optimised IR computes exactly what the unoptimised IR does
// on the CPU reference (TESTING.md's "optimised graph == unoptimised graph"),
// and the pipeline names a pass that breaks the IR.
#include "passes/pipeline.h"

#include <set>

#include "gtest/gtest.h"
#include "ir/text.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "runtime/reference/session.h"
#include "models/weights.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";

std::vector<float> RunPrompt(Module module, const Checkpoint& checkpoint) {
  absl::StatusOr<WeightMap> weights = LoadWeights(module, checkpoint);
  EXPECT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<ReferenceExecutor> executor =
      ReferenceExecutor::Create(std::move(module), *std::move(weights));
  EXPECT_TRUE(executor.ok()) << executor.status();
  absl::StatusOr<ReferenceSession> session = ReferenceSession::Create(*executor, 16);
  std::vector<int32_t> prompt = {5, 17, 200, 3, 99};
  absl::StatusOr<HostTensor> logits = session->Forward(prompt);
  EXPECT_TRUE(logits.ok()) << logits.status();
  return logits->floats;
}

TEST(PipelineTest, OptimisedModelsComputeTheSameLogits) {
  for (const char* family : {"llama3", "gemma", "opt350"}) {
    std::string dir = std::string(kFixtures) + family + "/f32";
    absl::StatusOr<BuiltModel> model = BuildModelFromDir(dir, BuildOptions{});
    ASSERT_TRUE(model.ok()) << model.status();
    Module optimised = model->module;
    absl::StatusOr<PassPipeline> pipeline = PassPipeline::Parse("cse,dce");
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    ASSERT_TRUE(pipeline->Run(optimised).ok());
    absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(dir);
    ASSERT_TRUE(checkpoint.ok());
    EXPECT_EQ(RunPrompt(model->module, *checkpoint), RunPrompt(optimised, *checkpoint)) << family;
  }
}

// The whole compile pipeline on every fixture family: the result verifies
// (fusion groups are convex), every layer gets its attention and MLP group,
// memory is planned, and the specialised, fused, planned function computes
// exactly the generic function's logits.
TEST(PipelineTest, FullPipelineKeepsEveryFamilyExact) {
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    SCOPED_TRACE(family);
    std::string dir = std::string(kFixtures) + family + "/f32";
    absl::StatusOr<BuiltModel> model = BuildModelFromDir(dir, BuildOptions{});
    ASSERT_TRUE(model.ok()) << model.status();
    Module compiled = model->module;
    absl::StatusOr<PassPipeline> pipeline = PassPipeline::Parse(
        "specialize-shapes{batch=1,seq=5,cache=16},fuse-attention,fuse-mlp,fuse-norm-residual,"
        "cse,dce,plan-memory");
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    std::string report;
    pipeline->set_report_sink([&](std::string_view, const std::string& r) { report = r; });
    absl::Status status = pipeline->Run(compiled);
    ASSERT_TRUE(status.ok()) << status;
    std::set<std::string> groups;
    for (const Node& node : compiled.functions[0].nodes) {
      if (node.attrs.count("fusion")) groups.insert(node.StringAttr("fusion"));
    }
    EXPECT_TRUE(groups.count("l0.attn") && groups.count("l1.attn")) << PrintModule(compiled);
    EXPECT_TRUE(groups.count("l0.out") && groups.count("l1.out")) << PrintModule(compiled);
    EXPECT_NE(report.find("peak"), std::string::npos);
    absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(dir);
    ASSERT_TRUE(checkpoint.ok());
    EXPECT_EQ(RunPrompt(model->module, *checkpoint), RunPrompt(compiled, *checkpoint));
  }
}

TEST(PipelineTest, PassSpecsParseWithOptionsAndRejectUnknowns) {
  EXPECT_TRUE(PassPipeline::Parse("dce,cse").ok());
  EXPECT_TRUE(PassPipeline::Parse("").ok());
  absl::StatusOr<PassPipeline> bad = PassPipeline::Parse("dce,nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("unknown pass 'nope'"), std::string::npos);
  bad = PassPipeline::Parse("cse{x}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("must be key=value"), std::string::npos);
}

// A pass that leaves an invalid module is caught by the pipeline's verifier
// and named.
class BreakTypes : public Pass {
 public:
  absl::StatusOr<bool> Run(Module& module) override {
    module.functions[0].nodes.back().type.dtype = DType::kF16;
    return true;
  }
};

TEST(PipelineTest, VerifierNamesThePassThatBrokeTheModule) {
  absl::StatusOr<Module> module =
      ParseModule("module @m { func @f(%x: f32[2]) { %y = relu(%x) : f32[2] return %y } }");
  ASSERT_TRUE(module.ok());
  PassPipeline pipeline;
  pipeline.Add("break-types", std::make_unique<BreakTypes>());
  absl::Status status = pipeline.Run(*module);
  EXPECT_NE(std::string(status.message()).find("pass break-types produced invalid IR"),
            std::string::npos)
      << status;
}

}  // namespace
}  // namespace kiln
