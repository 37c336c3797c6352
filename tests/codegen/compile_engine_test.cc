// CompileEngine's weight options on the GGUF fixture (Q8_0/Q4_0/Q4_1
// tensors as llama.cpp wrote them):
//   - --dequantize stores every weight as f32 on the cpu target (where the
//     blocks would otherwise be kept), and the engine then follows
//     Transformers' run of the same dequantised file to the f32 bound: this
//     is the float baseline tools/bench/quant_quality.sh measures against;
//   - --dequantize with --quantize is refused, naming both flags;
//   - --quantize q4_k --requantize keeps the stored type of weights whose
//     rows are not whole q4_k blocks (256 values), as the float path leaves
//     them unquantized, instead of writing IR that does not verify.
#include <cstdlib>
#include <string>

#include "codegen/compile_engine.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/session/plan_session.h"
#include "tests/support/hf_fixture.h"

namespace kiln::testing {
namespace {

constexpr char kFixture[] = "tests/fixtures/models/gguf_llama";

CompileOptions FixtureOptions(const std::string& name) {
  CompileOptions options;
  options.model = std::string(kFixture) + "/model.gguf";
  options.out = std::string(std::getenv("TEST_TMPDIR")) + "/" + name + ".engine";
  options.max_seq = 32;
  options.buckets = "8";
  return options;
}

TEST(CompileEngineTest, DequantizeStoresFloatsThatFollowTransformers) {
  CompileOptions options = FixtureOptions("dequantized");
  options.dequantize = true;
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_NE(report->weights.find("weights: none block-quantized"), std::string::npos)
      << report->weights;
  absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(options.out);
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<PlanSession> session = PlanSession::Create(
      *engine->executor, engine->engine.module, 32, engine->batch1_buckets);
  ASSERT_TRUE(session.ok()) << session.status();
  absl::StatusOr<HfExpected> expected = ReadHfExpected(kFixture);
  ASSERT_TRUE(expected.ok()) << expected.status();
  absl::StatusOr<HfComparison> got = CompareWithTransformers(*session, *expected);
  ASSERT_TRUE(got.ok()) << got.status();
  // f32 weights and f32 activations: the whole-model f32 bound, where the
  // kept blocks (8-bit activations) are only held to a share of the range.
  EXPECT_LE(got->max_logit_diff, HfLogitTolerance(DType::kF32));
  EXPECT_TRUE(got->argmax_mismatches.empty());
}

TEST(CompileEngineTest, DequantizeExcludesQuantize) {
  CompileOptions options = FixtureOptions("both");
  options.dequantize = true;
  options.quantize = "q8_0";
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("--dequantize and --quantize exclude each other"),
            std::string::npos)
      << report.status();
}

TEST(CompileEngineTest, RequantizeKeepsRowsThatAreNotWholeBlocks) {
  CompileOptions options = FixtureOptions("q4_k");
  options.quantize = "q4_k";
  options.requantize = true;
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  ASSERT_TRUE(report.ok()) << report.status();
  // The fixture's rows are far shorter than 256: nothing becomes q4_k.
  EXPECT_EQ(report->weights.find("q4_k"), std::string::npos) << report->weights;
  EXPECT_NE(report->weights.find("q4_1"), std::string::npos) << report->weights;
  EXPECT_TRUE(cpu::LoadCpuEngine(options.out).ok());
}

}  // namespace
}  // namespace kiln::testing
