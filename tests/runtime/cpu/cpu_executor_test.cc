// The CPU executor end to end, on the plans compile-model writes:
//   - the plan scenario (tests/runtime/cuda/plan_scenario.h: batch-2 prefill
//     and decode, then batch-1 chunked prefill and decode on the same
//     caches) against the reference executor, every family in f32, bf16 and
//     f16 (f32 atol 1e-4: the GEMMs sum in their own order; bf16/f16 0.12,
//     TESTING.md's tiny-model bound), at every SIMD level this CPU has, and
//     the argmax tokens against the returned logits;
//   - the tiny HF fixtures through PlanSession against Transformers' logits
//     and greedy tokens (the bound the emulator and GPU suites use);
//   - engines with block-quantized weights (compile-model --quantize) against
//     the reference executor on the same engine, i.e. on the dequantised
//     weights: the only difference is the CPU kernels' 8-bit activations, so
//     X, and a
//     quantized engine is refused on the way to a GPU.
// Long prefills (bf16's staged products, f32 through oneDNN) are in
// cpu_long_prefill_test.cc.
#include "runtime/cpu/cpu_executor.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/compile_engine.h"
#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "models/gguf.h"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/cpu/cpu_features.h"
#include "runtime/reference/executor.h"
#include "runtime/reference/session.h"
#include "runtime/session/plan_session.h"
#include "tests/runtime/cpu/reference_steps.h"
#include "tests/runtime/cuda/executor_checks.h"
#include "tests/runtime/cuda/plan_scenario.h"
#include "tests/support/hf_fixture.h"

namespace kiln::testing {
namespace {

using cpu::CpuExecutor;
using cpu::CpuExecutorOptions;
using cpu::SimdLevel;

std::vector<SimdLevel> LevelsHere() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (l <= cpu::DetectSimdLevel()) levels.push_back(l);
  }
  return levels;
}

std::string Name(const ::testing::TestParamInfo<ExecutorCase>& info) {
  return CaseName(info.param);
}

class CpuScenarioTest : public ::testing::TestWithParam<ExecutorCase> {};

TEST_P(CpuScenarioTest, MatchesTheReferenceAtEveryLevel) {
  const ExecutorCase& c = GetParam();
  absl::StatusOr<CompiledPlanModel> model =
      CompilePlanModel(c.family, c.dtype, codegen::A100Target());
  ASSERT_TRUE(model.ok()) << model.status();
  const double tolerance = c.dtype == DType::kF32 ? 1e-4 : 0.12;
  const int64_t vocab = model->plans.front().vocab;
  // f32 weights run both ways: through oneDNN (the default where it loads)
  // and through Kiln's own kernel (what runs without the library).
  std::vector<bool> onednn_modes = {true};
  if (c.dtype == DType::kF32) onednn_modes.push_back(false);
  for (bool onednn : onednn_modes) {
    for (SimdLevel level : LevelsHere()) {
      for (int threads : {1, 3}) {
        SCOPED_TRACE(absl::StrCat(std::string(cpu::SimdLevelName(level)), ", ", threads,
                                  " threads, oneDNN ", onednn ? "allowed" : "off"));
        absl::StatusOr<std::unique_ptr<CpuExecutor>> executor =
            CpuExecutor::Create(model->module, model->weights, model->layout, model->plans,
                                CpuExecutorOptions{threads, level, onednn});
        ASSERT_TRUE(executor.ok()) << executor.status();
        absl::StatusOr<std::vector<ScenarioStep>> steps = RunScenario(*model, **executor);
        ASSERT_TRUE(steps.ok()) << steps.status();
        EXPECT_LE(MaxLogitDiff(*steps), tolerance);
        for (const ScenarioStep& s : *steps) {
          for (size_t r = 0; r < s.next_tokens.size(); ++r) {
            const float* row = s.got.data() + r * vocab;
            EXPECT_EQ(s.next_tokens[r], std::max_element(row, row + vocab) - row) << s.function;
          }
        }
      }
    }
  }
}

// Kiln's integer and f32 tiles compute each row of a product bit for bit
// alike whatever the number of rows; oneDNN's sums depend on it (its rows
// agree to f32 rounding: CpuF32Test), and the f32 panels of prompt buckets
// sum in another order than the tiles. The bit-for-bit tests below run
// without either.
CpuExecutorOptions KilnKernelsOnly(int threads = 0) {
  CpuExecutorOptions options;
  options.threads = threads;
  options.onednn = false;
  options.panels = false;
  return options;
}

// ForwardLast (the LM head for the last real token alone) and ForwardGreedy
// give Forward's last row and its argmax, chunk after chunk.
TEST(CpuLastRowTest, ForwardLastIsForwardsLastRow) {
  absl::StatusOr<CompiledPlanModel> model =
      CompileHfFixture("tests/fixtures/models/llama3/f32", DType::kF32, codegen::A100Target());
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::unique_ptr<CpuExecutor>> a = CpuExecutor::Create(
      model->module, model->weights, model->layout, model->plans, KilnKernelsOnly());
  absl::StatusOr<std::unique_ptr<CpuExecutor>> b = CpuExecutor::Create(
      model->module, model->weights, model->layout, model->plans, KilnKernelsOnly());
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<PlanSession> all =
      PlanSession::Create(**a, model->module, kHfFixtureCapacity, HfFixtureBuckets());
  absl::StatusOr<PlanSession> last =
      PlanSession::Create(**b, model->module, kHfFixtureCapacity, HfFixtureBuckets());
  ASSERT_TRUE(all.ok() && last.ok());
  for (const std::vector<int32_t>& feed :
       {std::vector<int32_t>{5, 9, 200, 31, 7, 7, 100, 3, 44, 1, 2}, std::vector<int32_t>{17},
        std::vector<int32_t>{250, 3, 9}}) {
    absl::StatusOr<HostTensor> full = all->Forward(feed);
    absl::StatusOr<HostTensor> one = last->ForwardLast(feed);
    ASSERT_TRUE(full.ok() && one.ok()) << full.status() << one.status();
    const int64_t vocab = full->shape.back();
    ASSERT_EQ(one->shape, (std::vector<int64_t>{1, vocab}));
    std::vector<float> want(full->floats.end() - vocab, full->floats.end());
    EXPECT_EQ(one->floats, want);
  }
  absl::StatusOr<int32_t> greedy = last->ForwardGreedy(std::vector<int32_t>{8, 9});
  absl::StatusOr<HostTensor> full = all->Forward(std::vector<int32_t>{8, 9});
  ASSERT_TRUE(greedy.ok() && full.ok());
  const int64_t vocab = full->shape.back();
  const float* row = full->floats.data() + vocab;
  EXPECT_EQ(*greedy, std::max_element(row, row + vocab) - row);
}

// The same on an engine with block-quantized weights and a tied Q8_0 LM
// head (the GGUF fixture), on 1 and 3 threads.
TEST(CpuLastRowTest, QuantizedLmHeadOnOneRow) {
  CompileOptions options;
  options.model = "tests/fixtures/models/gguf_llama/model.gguf";
  options.out = std::string(std::getenv("TEST_TMPDIR")) + "/last_row_gguf.engine";
  options.max_seq = 32;
  options.buckets = "8";
  ASSERT_TRUE(CompileEngine(options).ok());
  for (int threads : {1, 3}) {
    SCOPED_TRACE(threads);
    absl::StatusOr<cpu::CpuEngine> a = cpu::LoadCpuEngine(options.out, KilnKernelsOnly(threads));
    absl::StatusOr<cpu::CpuEngine> b = cpu::LoadCpuEngine(options.out, KilnKernelsOnly(threads));
    ASSERT_TRUE(a.ok() && b.ok());
    absl::StatusOr<PlanSession> all =
        PlanSession::Create(*a->executor, a->engine.module, 32, a->batch1_buckets);
    absl::StatusOr<PlanSession> last =
        PlanSession::Create(*b->executor, b->engine.module, 32, b->batch1_buckets);
    ASSERT_TRUE(all.ok() && last.ok());
    for (const std::vector<int32_t>& feed :
         {std::vector<int32_t>{5, 9, 20, 31, 7, 7, 10, 3, 44, 1, 2}, std::vector<int32_t>{17}}) {
      absl::StatusOr<HostTensor> full = all->Forward(feed);
      absl::StatusOr<HostTensor> one = last->ForwardLast(feed);
      ASSERT_TRUE(full.ok() && one.ok()) << full.status() << one.status();
      const int64_t vocab = full->shape.back();
      EXPECT_EQ(one->floats, std::vector<float>(full->floats.end() - vocab, full->floats.end()));
    }
  }
}

// The GGUF fixture (a Q8_0 LM head) compiled for batches 1 and 3, once for
// the batch tests below.
const std::string& GgufBatch3Engine() {
  static const std::string* dir = [] {
    auto* out = new std::string(std::string(std::getenv("TEST_TMPDIR")) + "/batch3_gguf.engine");
    CompileOptions options;
    options.model = "tests/fixtures/models/gguf_llama/model.gguf";
    options.out = *out;
    options.max_seq = 32;
    options.max_batch = 3;
    options.buckets = "4,8";
    EXPECT_TRUE(CompileEngine(options).ok());
    return out;
  }();
  return *dir;
}

// A batch step's last tokens alone (kLastOfEachSequence: each row's LM
// head and argmax only) give, bit for bit, the last column of the full
// step, through chunked prefills of rows of different lengths and decode
// steps, on the quantized GGUF fixture (a Q8_0 LM head), 1 and 3 threads.
TEST(CpuLastRowTest, EachSequencesLastTokenInABatch) {
  const std::string& dir = GgufBatch3Engine();
  for (int threads : {1, 3}) {
    SCOPED_TRACE(threads);
    absl::StatusOr<cpu::CpuEngine> a = cpu::LoadCpuEngine(dir, KilnKernelsOnly(threads));
    absl::StatusOr<cpu::CpuEngine> b = cpu::LoadCpuEngine(dir, KilnKernelsOnly(threads));
    ASSERT_TRUE(a.ok() && b.ok());
    std::vector<SessionBucket> buckets;
    for (const EngineBucket& e : a->engine.manifest.buckets) {
      if (e.function.find("_b3") != std::string::npos) buckets.push_back({e.function, e.seq});
    }
    absl::StatusOr<BatchSession> all =
        CreatePlanBatchSession(*a->executor, a->engine.module, 3, 32, buckets);
    absl::StatusOr<BatchSession> last =
        CreatePlanBatchSession(*b->executor, b->engine.module, 3, 32, buckets);
    ASSERT_TRUE(all.ok() && last.ok()) << all.status() << last.status();
    const std::vector<std::vector<std::vector<int32_t>>> steps = {
        {{5, 9, 20, 31, 7, 7, 10, 3, 44, 1, 2}, {17}, {8, 8, 9}},  // 11 tokens: 8 + 4 columns
        {{6}, {}, {12}},
        {{1, 2, 3}, {4}, {}}};
    for (const auto& rows : steps) {
      absl::StatusOr<std::vector<HostTensor>> full = all->Forward(rows);
      absl::StatusOr<std::vector<HostTensor>> ends = last->Forward(rows, /*last_only=*/true);
      ASSERT_TRUE(full.ok() && ends.ok()) << full.status() << ends.status();
      for (size_t r = 0; r < rows.size(); ++r) {
        const int64_t vocab = (*full)[r].shape.back();
        if (rows[r].empty()) {
          EXPECT_EQ((*ends)[r].shape[0], 0);
          continue;
        }
        EXPECT_EQ((*ends)[r].shape[0], 1);
        EXPECT_EQ((*ends)[r].floats,
                  std::vector<float>((*full)[r].floats.end() - vocab, (*full)[r].floats.end()));
      }
    }
  }
}

// A batch session that also holds the batch-1 buckets runs steps of its
// first row alone at batch 1, on row 0 of the same caches, and the rows'
// logits stay those of the session running every step at batch 3, bit for
// bit, as rows join and leave.
TEST(CpuLastRowTest, AFirstRowAloneRunsAtBatchOne) {
  const std::string& dir = GgufBatch3Engine();
  absl::StatusOr<cpu::CpuEngine> a = cpu::LoadCpuEngine(dir, KilnKernelsOnly(2));
  absl::StatusOr<cpu::CpuEngine> b = cpu::LoadCpuEngine(dir, KilnKernelsOnly(2));
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<SessionBucket> batch3, with_single;
  for (const EngineBucket& e : a->engine.manifest.buckets) {
    const bool three = e.function.find("_b3") != std::string::npos;
    if (three) batch3.push_back({e.function, e.seq});
    with_single.push_back({e.function, e.seq});
  }
  std::vector<std::string> ran;  // the functions the leading-rows session ran
  absl::StatusOr<BatchSession> plain =
      CreatePlanBatchSession(*a->executor, a->engine.module, 3, 32, batch3);
  absl::StatusOr<BatchSession> leading = BatchSession::CreateWithRunner(
      b->engine.module,
      [&](const std::string& function, HostTensor ids, HostTensor positions, bool last_only) {
        ran.push_back(function);
        std::vector<int32_t> i32(ids.ints.begin(), ids.ints.end());
        std::vector<int32_t> p32(positions.ints.begin(), positions.ints.end());
        absl::StatusOr<PlanOutput> out =
            b->executor->Run(function, i32, p32, true, last_only ? kLastOfEachSequence : -1);
        if (!out.ok()) return absl::StatusOr<HostTensor>(out.status());
        const int64_t columns = last_only ? 1 : ids.shape[1];
        HostTensor logits;
        logits.shape = {ids.shape[0], columns,
                        static_cast<int64_t>(out->logits.size()) / (ids.shape[0] * columns)};
        logits.floats = std::move(out->logits);
        return absl::StatusOr<HostTensor>(std::move(logits));
      },
      3, 32, with_single);
  ASSERT_TRUE(b->executor->ResetCaches().ok());
  ASSERT_TRUE(plain.ok() && leading.ok()) << plain.status() << leading.status();
  const std::vector<std::vector<std::vector<int32_t>>> steps = {
      {{5, 9, 20, 31, 7, 7, 10}},  // the first row alone: batch 1
      {{6}},
      {{4}, {8, 8, 9}},  // a second row joins: batch 3
      {{2}, {1}},
      {{3}}};  // alone again
  for (const auto& rows : steps) {
    absl::StatusOr<std::vector<HostTensor>> want = plain->Forward(rows, /*last_only=*/true);
    absl::StatusOr<std::vector<HostTensor>> got = leading->Forward(rows, /*last_only=*/true);
    ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
    for (size_t r = 0; r < rows.size(); ++r) EXPECT_EQ((*got)[r].floats, (*want)[r].floats) << r;
  }
  ASSERT_EQ(ran.size(), steps.size());  // each step fits one bucket
  for (size_t i : {0, 1, 4}) EXPECT_NE(ran[i].find("_b1"), std::string::npos) << ran[i];
  for (size_t i : {2, 3}) EXPECT_NE(ran[i].find("_b3"), std::string::npos) << ran[i];
}

INSTANTIATE_TEST_SUITE_P(Families, CpuScenarioTest, ::testing::ValuesIn(AllExecutorCases()), Name);

class CpuHfParityTest : public ::testing::TestWithParam<ExecutorCase> {};

TEST_P(CpuHfParityTest, TinyHfFixturesMatchTransformers) {
  CheckHfParityOn(GetParam(), codegen::A100Target(), [](const CompiledPlanModel& model)
                      -> absl::StatusOr<std::unique_ptr<PlanExecutor>> {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<CpuExecutor> executor,
                          CpuExecutor::Create(model.module, model.weights, model.layout,
                                              model.plans));
    return std::unique_ptr<PlanExecutor>(std::move(executor));
  });
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CpuHfParityTest, ::testing::ValuesIn(AllExecutorCases()), Name);

// --- Block-quantized engines ------------------------------------------------

std::string CompileQuantized(const std::string& family, const std::string& quantize) {
  const std::string out =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/", family, "_", quantize, ".engine");
  std::filesystem::remove_all(out);
  CompileOptions options;
  options.model = "tests/fixtures/models/" + family + "/f32";
  options.out = out;
  options.max_seq = 32;
  options.buckets = "4,8";
  options.quantize = quantize;
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  EXPECT_TRUE(report.ok()) << report.status();
  if (report.ok()) std::printf("%s %s: %s\n", family.c_str(), quantize.c_str(),
                               report->weights.c_str());
  return out;
}

// Normalised MSE of `got` against `want`.
double Nmse(const HostTensor& got, const HostTensor& want) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < want.floats.size(); ++i) {
    err += std::pow(double{got.floats[i]} - want.floats[i], 2);
    norm += std::pow(double{want.floats[i]}, 2);
  }
  return norm == 0 ? err : err / norm;
}

class CpuQuantizedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuQuantizedTest, MatchesTheReferenceOnTheDequantisedWeights) {
  for (const char* family : {"llama3", "gemma", "opt"}) {
    SCOPED_TRACE(family);
    const std::string dir = CompileQuantized(family, GetParam());
    absl::StatusOr<Engine> engine = LoadEngine(dir, "cpu");
    ASSERT_TRUE(engine.ok()) << engine.status();
    bool any_blocks = false;
    for (const auto& [name, view] : engine->weights.views()) {
      any_blocks |= IsBlockQuantized(view.dtype);
    }
    EXPECT_TRUE(any_blocks) << "nothing was quantized";
    // A chunked prompt, then decode steps fed the reference's tokens.
    for (SimdLevel level : LevelsHere()) {
      SCOPED_TRACE(std::string(cpu::SimdLevelName(level)));
      StepAgainstReference(dir, 32, {2, level}, {1, 17, 42, 99, 3, 250, 7, 8, 120, 64, 33}, 6,
                           [](int step, const HostTensor& got, const HostTensor& want) {
                             EXPECT_LE(Nmse(got, want), 5e-3) << "step " << step;
                             return true;
                           });
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CpuQuantizedTest,
                         ::testing::Values("q8_0", "q4_0", "q4_1"));

// The GGUF fixture (Q8_0/Q4_0/Q4_1 tensors as llama.cpp wrote them, kept
// as stored) against Transformers' logits on the same file dequantised.
TEST(CpuGgufTest, KeepsTheBlocksAndMatchesTransformers) {
  const std::string fixture = "tests/fixtures/models/gguf_llama";
  const std::string out = std::string(std::getenv("TEST_TMPDIR")) + "/gguf.engine";
  CompileOptions options;
  options.model = fixture + "/model.gguf";
  options.out = out;
  options.max_seq = 32;
  options.buckets = "8";
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("gguf_llama: %s\n", report->weights.c_str());
  EXPECT_NE(report->weights.find("block-quantized"), std::string::npos);
  absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(out);
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<PlanSession> session = PlanSession::Create(
      *engine->executor, engine->engine.module, 32, engine->batch1_buckets);
  ASSERT_TRUE(session.ok()) << session.status();
  absl::StatusOr<HfExpected> expected = ReadHfExpected(fixture);
  ASSERT_TRUE(expected.ok()) << expected.status();
  absl::StatusOr<HfComparison> got = CompareWithTransformers(*session, *expected);
  ASSERT_TRUE(got.ok()) << got.status();
  double spread = 0;
  for (float v : expected->prefill_logits.floats) spread = std::max(spread, std::fabs(double{v}));
  std::printf("max |cpu - Transformers| gguf_llama: %.3g of logits up to %.3g, %zu greedy "
              "mismatches\n",
              got->max_logit_diff, spread, got->argmax_mismatches.size());
  // 8-bit activations (as llama.cpp's own kernels quantize them) against
  // Transformers' f32 ones: a few percent of the logits' range (measured
  // 0.23 of about 7), and the same greedy tokens.
  EXPECT_LE(got->max_logit_diff, 0.1 * spread);
  EXPECT_TRUE(got->argmax_mismatches.empty());
}

// SmolLM2-135M-Instruct Q4_1 (a real model, when tools/fetch_references.sh
// has fetched it): the CPU executor against the reference executor on the
// same engine over a prompt and 16 greedy steps. 8-bit activations move
// logits by a little, so the check is TESTING.md's real-model rule: where
// the top-1 tokens differ, each side's token is in the other's top 5.
TEST(CpuGgufTest, SmolLM2FollowsTheReferenceExecutor) {
  const std::string gguf = "third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(gguf)) GTEST_SKIP() << gguf << " is not fetched";
  const std::string out = std::string(std::getenv("TEST_TMPDIR")) + "/smollm2.engine";
  CompileOptions options;
  options.model = gguf;
  options.out = out;
  options.max_seq = 64;
  options.buckets = "16";
  ASSERT_TRUE(CompileEngine(options).ok());
  auto top5 = [](const float* row, int64_t vocab) {
    std::vector<int32_t> ids(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + 5, ids.end(),
                      [&](int32_t a, int32_t b) { return row[a] > row[b]; });
    ids.resize(5);
    return ids;
  };
  int same = 0;
  // "The quick brown fox jumps over the lazy dog. Once upon a time" in
  // SmolLM2's vocabulary (any ids would do; these make a sensible text).
  StepAgainstReference(
      out, 64, {}, {504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30, 5195, 2115, 253, 655},
      16, [&](int step, const HostTensor& got, const HostTensor& want) {
        const int64_t vocab = want.shape.back();
        const std::vector<int32_t> ta = top5(got.floats.data() + (got.numel() - vocab), vocab);
        const std::vector<int32_t> tb = top5(want.floats.data() + (want.numel() - vocab), vocab);
        if (ta[0] == tb[0]) {
          ++same;
          return true;
        }
        EXPECT_NE(std::find(tb.begin(), tb.end(), ta[0]), tb.end()) << "step " << step;
        EXPECT_NE(std::find(ta.begin(), ta.end(), tb[0]), ta.end()) << "step " << step;
        return false;  // the sequences part here
      });
  std::printf("SmolLM2 Q4_1: %d of 16 greedy steps equal to the reference executor's\n", same);
}

// An f16 or bf16 KV cache under an f32 model (--kv-dtype): the CPU executor
// against the reference executor on the same engine (both round keys and
// values to the cache dtype as they are written, so they agree to f32's
// tolerance), on a batch-1 prompt in chunks and decode steps; the CUDA
// targets refuse the option.
TEST(CpuKvCacheTest, HalfPrecisionCachesMatchTheReference) {
  for (DType kv : {DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(std::string(DTypeName(kv)));
    const std::string out = absl::StrCat(std::getenv("TEST_TMPDIR"), "/kv_",
                                         std::string(DTypeName(kv)), ".engine");
    CompileOptions options;
    options.model = "tests/fixtures/models/mistral/f32";
    options.out = out;
    options.max_seq = 32;
    options.buckets = "4,8";
    options.kv_dtype = kv;
    absl::StatusOr<CompileReport> report = CompileEngine(options);
    ASSERT_TRUE(report.ok()) << report.status();
    StepAgainstReference(out, 32, {}, {1, 17, 42, 99, 3, 250, 7, 8, 120, 64, 33}, 5,
                         [](int step, const HostTensor& got, const HostTensor& want) {
                           double diff = 0;
                           for (size_t i = 0; i < want.floats.size(); ++i) {
                             diff = std::max(diff, std::fabs(double{got.floats[i]} -
                                                             want.floats[i]));
                           }
                           EXPECT_LE(diff, 1e-4) << "step " << step;
                           return true;
                         });
  }
  CompileOptions cuda;
  cuda.model = "tests/fixtures/models/mistral/f32";
  cuda.out = std::string(std::getenv("TEST_TMPDIR")) + "/kv_cuda.engine";
  cuda.target = "sm_90";
  cuda.kv_dtype = DType::kF16;
  absl::StatusOr<CompileReport> refused = CompileEngine(cuda);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--kv-dtype other than --dtype needs the cpu target"),
            std::string::npos)
      << refused.status();
}

// A GGUF whose block scale is NaN is refused at compile time, naming the
// weight, the GGUF tensor and the block.
TEST(CpuGgufTest, NonFiniteBlockScalesAreRefused) {
  const std::string source = "tests/fixtures/models/gguf_llama/model.gguf";
  const std::string bad = std::string(std::getenv("TEST_TMPDIR")) + "/nan_scale.gguf";
  std::filesystem::copy_file(source, bad, std::filesystem::copy_options::overwrite_existing);
  std::string name;
  uint64_t offset = 0;
  {
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(bad);
    ASSERT_TRUE(file.ok()) << file.status();
    for (const GgufTensor& t : (*file)->tensors()) {
      if (t.type == GgmlType::kQ8_0 && t.n_elements >= 64) {
        name = t.name;
        // The second block's f16 scale.
        offset = (*file)->data_offset() + t.offset + 34;
        break;
      }
    }
  }
  ASSERT_FALSE(name.empty()) << "the fixture has no Q8_0 tensor";
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    const char nan_f16[2] = {0x00, 0x7E};
    f.write(nan_f16, 2);
  }
  CompileOptions options;
  options.model = bad;
  options.out = std::string(std::getenv("TEST_TMPDIR")) + "/nan_scale.engine";
  options.max_seq = 32;
  options.buckets = "8";
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("(" + name + ")"), std::string::npos)
      << report.status();
  EXPECT_NE(report.status().message().find("block 1"), std::string::npos) << report.status();
}

// --quantize over a GGUF that already stores quantized tensors says what it
// would lose, and does it only with --requantize.
TEST(CpuGgufTest, RequantizingNeedsToBeAskedFor) {
  CompileOptions options;
  options.model = "tests/fixtures/models/gguf_llama/model.gguf";
  options.out = std::string(std::getenv("TEST_TMPDIR")) + "/requantized.engine";
  options.max_seq = 32;
  options.buckets = "8";
  options.quantize = "q8_0";
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("is already stored as q4_"), std::string::npos)
      << report.status();
  EXPECT_NE(report.status().message().find("Pass --requantize"), std::string::npos);
  options.requantize = true;
  report = CompileEngine(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_NE(report->weights.find("q8_0 block-quantized"), std::string::npos) << report->weights;
  EXPECT_EQ(report->weights.find("q4_"), std::string::npos) << report->weights;
}

TEST(CpuQuantizedTest, QuantizedWeightsAreRefusedForCudaAndNonF32) {
  CompileOptions options;
  options.model = "tests/fixtures/models/llama3/f32";
  options.out = std::string(std::getenv("TEST_TMPDIR")) + "/refused.engine";
  options.quantize = "q4_0";
  options.dtype = DType::kBF16;
  absl::StatusOr<CompileReport> report = CompileEngine(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("--quantize needs the cpu target with --dtype f32"),
            std::string::npos)
      << report.status();
  options.dtype = DType::kF32;
  options.quantize = "q3_k";
  report = CompileEngine(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("give q8_0, q4_0, q4_1 or q4_k"), std::string::npos)
      << report.status();
}

}  // namespace
}  // namespace kiln::testing
