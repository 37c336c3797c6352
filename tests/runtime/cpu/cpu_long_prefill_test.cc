// Long prefills on the CPU executor against the reference executor: bf16
// activations stage their products 64 rows at a time, f32 weights'
// products of 32 rows or more go through oneDNN's sgemm when it loads
// (tools/setup.sh installs it), else Kiln's own kernels (on AVX2 the f32
// panels), and on AVX2 q8_0 weights' products in steps of 64 tokens a
// sequence or more through f32 panels.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "codegen/compile_engine.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/cpu/cpu_executor.h"
#include "runtime/cpu/cpu_features.h"
#include "runtime/cpu/onednn_sgemm.h"
#include "runtime/cpu/quant_gemm.h"
#include "tests/runtime/cpu/reference_steps.h"

namespace kiln::testing {
namespace {

using cpu::SimdLevel;

// The llama3 fixture in `dtype` with one 100-token prefill bucket and a
// 128-token cache: its 64 positions widened to 256 in a copy (the model is
// the same at every position it has). Returns the engine directory.
std::string CompileLongPrefillEngine(DType dtype, const std::string& name,
                                     const std::string& quantize = "") {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string model = tmp + "/" + name;
  std::filesystem::create_directories(model);
  const std::string source = dtype == DType::kBF16 ? "bf16" : "f32";
  for (const auto& entry :
       std::filesystem::directory_iterator("tests/fixtures/models/llama3/" + source)) {
    std::filesystem::copy_file(entry.path(), model + "/" + entry.path().filename().string(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::string config;
  {
    std::ifstream in(model + "/config.json");
    config.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string from = "\"max_position_embeddings\": 64";
  EXPECT_NE(config.find(from), std::string::npos);
  if (config.find(from) == std::string::npos) return "";
  config.replace(config.find(from), from.size(), "\"max_position_embeddings\": 256");
  std::filesystem::remove(model + "/config.json");
  std::ofstream(model + "/config.json") << config;
  CompileOptions options;
  options.model = model;
  options.out = tmp + "/" + name + ".engine";
  options.dtype = dtype;
  options.max_seq = 128;
  options.buckets = "100";
  options.quantize = quantize;
  const absl::Status compiled = CompileEngine(options).status();
  EXPECT_TRUE(compiled.ok()) << compiled;
  return compiled.ok() ? options.out : "";
}

// A 100-token prefill then one decode step against the reference; each
// step's worst logit difference must be within `tolerance`.
void LongPrefillAgainstReference(const std::string& dir, int threads, bool onednn,
                                 float tolerance) {
  cpu::CpuExecutorOptions options;
  options.threads = threads;
  options.onednn = onednn;
  std::vector<int32_t> feed(100);
  for (int i = 0; i < 100; ++i) feed[i] = (i * 37 + 11) % 256;
  int checked = 0;
  StepAgainstReference(dir, 128, options, feed, 2,
                       [&](int, const HostTensor& got, const HostTensor& want) {
                         EXPECT_EQ(got.shape, want.shape);
                         float worst = 0;
                         for (int64_t i = 0; i < want.numel(); ++i) {
                           worst = std::max(worst, std::fabs(got.floats[i] - want.floats[i]));
                         }
                         EXPECT_LE(worst, tolerance) << threads << " threads";
                         ++checked;
                         return true;
                       });
  EXPECT_EQ(checked, 2);
}

// bf16 activations stage their products kStageRows (64) rows at a time: a
// 100-token prefill returns every row's logits (the LM head over 100 rows,
// two stages), against the reference, on 1 and 3 threads.
TEST(CpuBf16Test, LongPrefillLogitsMatchTheReference) {
  const std::string dir = CompileLongPrefillEngine(DType::kBF16, "llama3_bf16_long");
  ASSERT_FALSE(dir.empty());
  for (int threads : {1, 3}) LongPrefillAgainstReference(dir, threads, true, 0.12f);
}

// f32 weights: the 100-row products of a prefill run through oneDNN's sgemm
// when it loads (tools/setup.sh installs it) and through Kiln's own kernels
// when it is turned off (on an AVX2-only CPU the f32 panels, elsewhere the
// f32 tiles); each within f32 atol 1e-4 of the reference, on 1 and 3
// threads (each thread calls oneDNN on its own columns).
TEST(CpuF32Test, LongPrefillMatchesTheReferenceWithAndWithoutOnednn) {
  const std::string dir = CompileLongPrefillEngine(DType::kF32, "llama3_f32_long");
  ASSERT_FALSE(dir.empty());
  const bool expected = cpu::OnednnSgemm::Get() != nullptr;
  const char* env = std::getenv("KILN_CPU_ONEDNN");
  if (env == nullptr || std::string(env) != "0") {
    EXPECT_TRUE(expected) << cpu::OnednnSgemm::UnavailableReason();
  }
  const cpu::OnednnSgemm* library = cpu::OnednnSgemm::Get();
  for (bool onednn : {true, false}) {
    cpu::CpuExecutorOptions options;
    options.onednn = onednn;
    absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(dir, options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    const std::string describe = engine->executor->Describe();
    EXPECT_EQ(describe.find("oneDNN") != std::string::npos, onednn && expected) << describe;
    const int64_t calls = library != nullptr ? library->calls() : 0;
    for (int threads : {1, 3}) {
      SCOPED_TRACE(describe);
      LongPrefillAgainstReference(dir, threads, onednn, 1e-4f);
    }
    // The products really went through the library, or really did not.
    if (library != nullptr) {
      EXPECT_EQ(library->calls() > calls, onednn) << describe;
    }
  }
  // The scalar level runs Kiln's kernels only, the library present or not.
  cpu::CpuExecutorOptions scalar_options;
  scalar_options.simd = SimdLevel::kScalar;
  absl::StatusOr<cpu::CpuEngine> scalar = cpu::LoadCpuEngine(dir, scalar_options);
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->executor->Describe().find("oneDNN"), std::string::npos);
}

// q8_0 weights (--quantize q8_0) on the AVX2 level: the 100-row products
// of the prefill run through f32 panels (PanelGemmRows; the call count
// shows they ran), the decode step through the integer tiles. Both
// multiply the same 8-bit activations, so the logits agree with the
// executor's without panels to f32 rounding (atol 1e-4, as the f32 engine's
// with and without oneDNN) on 1 and 3 threads, and with the reference
// within the quantized engines' bound (cpu_executor_test: NMSE 5e-3).
TEST(CpuQ8_0Test, LongPrefillThroughPanelsMatchesTheTilesAndTheReference) {
  if (cpu::DetectSimdLevel() < SimdLevel::kAvx2) GTEST_SKIP() << "this CPU lacks AVX2";
  const std::string dir = CompileLongPrefillEngine(DType::kF32, "llama3_q8_0_long", "q8_0");
  ASSERT_FALSE(dir.empty());
  std::vector<int32_t> feed(100);
  for (int i = 0; i < 100; ++i) feed[i] = (i * 37 + 11) % 256;
  auto logits = [&](bool panels, int threads) {
    cpu::CpuExecutorOptions options;
    options.simd = SimdLevel::kAvx2;
    options.threads = threads;
    options.panels = panels;
    std::vector<HostTensor> steps;
    StepAgainstReference(dir, 128, options, feed, 2,
                         [&](int step, const HostTensor& got, const HostTensor& want) {
                           double err = 0, norm = 0;
                           for (int64_t i = 0; i < want.numel(); ++i) {
                             err += std::pow(double{got.floats[i]} - want.floats[i], 2);
                             norm += std::pow(double{want.floats[i]}, 2);
                           }
                           EXPECT_LE(err / norm, 5e-3) << threads << " threads, step " << step;
                           steps.push_back(got);
                           return true;
                         });
    return steps;
  };
  const int64_t before_tiles = cpu::PanelGemmCalls();
  const std::vector<HostTensor> tiles = logits(false, 1);
  ASSERT_EQ(tiles.size(), 2u);
  EXPECT_EQ(cpu::PanelGemmCalls(), before_tiles) << "panels ran with options.panels off";
  for (int threads : {1, 3}) {
    const int64_t calls = cpu::PanelGemmCalls();
    const std::vector<HostTensor> panels = logits(true, threads);
    EXPECT_GT(cpu::PanelGemmCalls(), calls) << "no product took the panels";
    ASSERT_EQ(panels.size(), 2u);
    for (size_t step = 0; step < 2; ++step) {
      float worst = 0;
      for (int64_t i = 0; i < tiles[step].numel(); ++i) {
        worst = std::max(worst, std::fabs(panels[step].floats[i] - tiles[step].floats[i]));
      }
      std::printf("panels against tiles, %d threads, step %zu: worst logit difference %.3g\n",
                  threads, step, worst);
      EXPECT_LE(worst, 1e-4f) << threads << " threads, step " << step;
    }
  }
  cpu::CpuExecutorOptions options;
  options.simd = SimdLevel::kAvx2;
  absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(dir, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::string describe = engine->executor->Describe();
  EXPECT_NE(describe.find("f32 panels for q8_0"), std::string::npos) << describe;
}

// Steps of few tokens a sequence keep the integer tiles whatever their
// rows: at --max-batch 8, an 8-token step (a verify step of 7 drafted
// tokens, or a prompt) multiplies 64 rows, and its logits must keep
// decode's bits. Describe names the panels from the rule the steps run
// (GemmRun::Panel).
TEST(CpuQ8_0Test, BatchedShortStepsKeepTheIntegerTiles) {
  if (cpu::DetectSimdLevel() < SimdLevel::kAvx2) GTEST_SKIP() << "this CPU lacks AVX2";
  CompileOptions options;
  options.model = "tests/fixtures/models/llama3/f32";
  options.out = std::string(std::getenv("TEST_TMPDIR")) + "/llama3_q8_0_b8.engine";
  options.quantize = "q8_0";
  options.max_seq = 32;
  options.max_batch = 8;
  options.buckets = "8";
  const absl::Status compiled = CompileEngine(options).status();
  ASSERT_TRUE(compiled.ok()) << compiled;
  cpu::CpuExecutorOptions run;
  run.simd = SimdLevel::kAvx2;
  absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(options.out, run);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::string describe = engine->executor->Describe();
  EXPECT_EQ(describe.find("f32 panels"), std::string::npos) << describe;
}

}  // namespace
}  // namespace kiln::testing
