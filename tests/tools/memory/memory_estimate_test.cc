// kiln-memory's predictions against independent numbers: Transformers'
// parameter counts and per-architecture formulas for the block formats on
// the benchmark configs; what compile-model writes and the CPU executor
// allocates on the fixtures and SmolLM2; and the same refusals as
// compile-model for bad configs and lying GGUF headers.
#include "tools/memory/memory_estimate.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "codegen/compile_engine.h"
#include "codegen/plan/arena_plan.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_plans.h"

namespace kiln {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : std::filesystem::temp_directory_path().string();
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Elements of the weights a format block-quantizes (matmul weights and
// embedding tables), from the config by each architecture's layout.
int64_t MatrixElements(const nlohmann::json& c) {
  const int64_t h = c["hidden_size"], layers = c["num_hidden_layers"], vocab = c["vocab_size"];
  const std::string type = c["model_type"];
  if (type == "opt") {
    const int64_t f = c["ffn_dim"], positions = c["max_position_embeddings"];
    // q, k, v, out_proj, fc1, fc2; the token and position tables (OPT's
    // positions are offset by 2); the LM head is tied.
    return layers * (4 * h * h + 2 * h * f) + vocab * h + (positions + 2) * h;
  }
  const int64_t heads = c["num_attention_heads"];
  const int64_t kv_heads = c.value("num_key_value_heads", heads);
  const int64_t head_dim = c.contains("head_dim") ? c["head_dim"].get<int64_t>() : h / heads;
  const int64_t f = c["intermediate_size"];
  const bool tied = c.value("tie_word_embeddings", type == "gemma");
  const int64_t attention = 2 * h * heads * head_dim + 2 * h * kv_heads * head_dim;
  return layers * (attention + 3 * h * f) + vocab * h * (tied ? 1 : 2);
}

struct BenchConfig {
  const char* name;
  int64_t parameters;  // Transformers' count (unique tensors), see below
};

// AutoModelForCausalLM.from_config(config) on the meta device, summing
// p.numel() over model.parameters() (Transformers 5.24, 2026-12-06); they
// equal the counts Hugging Face publishes for these models.
const BenchConfig kBenchConfigs[] = {
    {"mistral-7b", 7241732096}, {"llama-2-7b", 6738415616}, {"llama-3.2-1b", 1235814400},
    {"gemma-2b", 2506172416},   {"opt-1.3b", 1315758080},   {"smollm2-135m", 134515008},
};

MemoryEstimate Estimate(const std::string& model, std::vector<std::string> formats,
                        int64_t max_seq = 0) {
  MemoryEstimateOptions options;
  options.model = model;
  options.formats = std::move(formats);
  options.max_seq = max_seq;
  absl::StatusOr<MemoryEstimate> m = EstimateMemory(options);
  EXPECT_TRUE(m.ok()) << model << ": " << m.status();
  return m.ok() ? *m : MemoryEstimate{};
}

TEST(MemoryEstimateTest, WeightsOfTheBenchmarkConfigsAreTheirParametersInEachFormat) {
  for (const BenchConfig& bench : kBenchConfigs) {
    const std::string dir = std::string("tools/bench/configs/") + bench.name;
    SCOPED_TRACE(dir);
    const nlohmann::json config = ReadJson(dir + "/config.json");
    const int64_t n = bench.parameters, matrices = MatrixElements(config);
    const int64_t others = n - matrices;  // norms and biases stay f32
    // q4_k needs rows of whole 256-blocks: SmolLM2's 576 are not.
    const bool q4_k = config["hidden_size"].get<int64_t>() % 256 == 0;
    std::vector<std::string> formats = {"f32", "bf16", "f16", "q8_0", "q4_0", "q4_1"};
    if (q4_k) formats.push_back("q4_k");
    const MemoryEstimate m = Estimate(dir, formats);
    EXPECT_EQ(m.parameters, n);
    ASSERT_EQ(m.rows.size(), formats.size());
    EXPECT_EQ(m.rows[0].weights, 4 * n);
    EXPECT_EQ(m.rows[1].weights, 2 * n);
    EXPECT_EQ(m.rows[2].weights, 2 * n);
    // Bytes per block of 32 (or 256) values: q8_0 f16 scale + 32 int8;
    // q4_0 f16 scale + 16 bytes of nibbles; q4_1 adds an f16 min; q4_k
    // 2 f16 + 12 bytes of 6-bit scales and mins + 128 bytes of nibbles.
    EXPECT_EQ(m.rows[3].weights, matrices / 32 * 34 + others * 4);
    EXPECT_EQ(m.rows[4].weights, matrices / 32 * 18 + others * 4);
    EXPECT_EQ(m.rows[5].weights, matrices / 32 * 20 + others * 4);
    if (q4_k) {
      EXPECT_EQ(m.rows[6].weights, matrices / 256 * 144 + others * 4);
    }
  }
}

TEST(MemoryEstimateTest, KvCacheIsLayersTimesPositionsTimesKvWidth) {
  // Mistral-7B at 4096 tokens: 32 layers x (k + v) x 8 heads x 128 x 2 bytes.
  MemoryEstimateOptions options;
  options.model = "tools/bench/configs/mistral-7b/config.json";
  options.formats = {"bf16"};
  options.max_seq = 4096;
  options.max_batch = 2;
  absl::StatusOr<MemoryEstimate> m = EstimateMemory(options);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->rows[0].kv_cache, int64_t{32} * 2 * 2 * 4096 * 8 * 128 * 2);
  EXPECT_EQ(m->rows[0].largest_layer_name, "model.layers.0");
  // One decoder layer: q, o 4096x4096; k, v 1024x4096; gate, up, down
  // 14336x4096; two 4096 norms; in bf16.
  EXPECT_EQ(m->rows[0].largest_layer,
            (2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * int64_t{14336} * 4096 + 2 * 4096) * 2);
}

// A model compiled by compile-model and loaded onto the CPU executor: the
// prediction equals what was written (the weights' bytes) and what the
// executor allocated (KV cache, activation arena, workspace), exactly.
void ExpectPredictionMatchesEngine(const std::string& model, const std::string& format) {
  SCOPED_TRACE(model + " as " + format);
  MemoryEstimateOptions options;
  options.model = model;
  options.formats = {format};
  options.max_seq = 64;
  options.max_batch = 2;
  options.buckets = "16,32";
  options.cpu_threads = 2;
  absl::StatusOr<MemoryEstimate> m = EstimateMemory(options);
  ASSERT_TRUE(m.ok()) << m.status();
  const FormatEstimate& row = m->rows.at(0);

  CompileOptions compile;
  compile.model = model;
  compile.out = TempDir() + "/engine_" + std::to_string(std::hash<std::string>()(model + format));
  compile.max_seq = options.max_seq;
  compile.max_batch = options.max_batch;
  compile.buckets = options.buckets;
  if (format == "bf16" || format == "f16") compile.dtype = *DTypeFromName(format);
  if (format.starts_with("q")) compile.quantize = format;
  if (format == "f32" && model.ends_with(".gguf")) compile.dequantize = true;
  absl::StatusOr<CompileReport> report = CompileEngine(compile);
  ASSERT_TRUE(report.ok()) << report.status();
  absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(compile.out, {.threads = 2});
  ASSERT_TRUE(engine.ok()) << engine.status();

  EXPECT_EQ(row.weights, engine->engine.weights.stored_bytes());
  // The weights file adds its safetensors header (names, shapes, offsets).
  const auto file =
      static_cast<int64_t>(std::filesystem::file_size(compile.out + "/weights.safetensors"));
  EXPECT_GE(file, row.weights);
  EXPECT_LE(file, row.weights + 64 * 1024);
  const cpu::CpuMemory& allocated = engine->executor->memory();
  EXPECT_EQ(row.kv_cache, allocated.caches);
  EXPECT_EQ(row.activations, allocated.scratch);
  EXPECT_EQ(row.workspace, allocated.step_inputs + allocated.rope_tables + allocated.workspace());
  EXPECT_EQ(row.total, row.weights + allocated.total());
}

TEST(MemoryEstimateTest, FixturesPredictWhatCompileModelWritesAndTheExecutorAllocates) {
  for (const char* family : {"llama2", "llama3", "mistral", "gemma", "opt", "opt350"}) {
    const std::string dir = std::string("tests/fixtures/models/") + family;
    ExpectPredictionMatchesEngine(dir + "/f32", "f32");
    ExpectPredictionMatchesEngine(dir + "/bf16", "bf16");
  }
  for (const char* format : {"q8_0", "q4_0", "q4_1", "q4_k"}) {
    ExpectPredictionMatchesEngine("tests/fixtures/models/llama3/f32", format);
  }
  ExpectPredictionMatchesEngine("tests/fixtures/models/opt/f32", "q8_0");
  ExpectPredictionMatchesEngine("tests/fixtures/models/gguf_llama/model.gguf", "stored");
  ExpectPredictionMatchesEngine("tests/fixtures/models/gguf_llama/model.gguf", "f32");
}

// The CUDA target: the arena the CUDA executor allocates for the plans
// compile-model wrote (CudaExecutor::State::Allocate: PlanDeviceArena of the
// engine's plans, and the cuBLASLt workspace beside it).
TEST(MemoryEstimateTest, CudaTargetPredictsTheExecutorsArena) {
  for (const char* family : {"llama3", "opt"}) {
    const std::string model = std::string("tests/fixtures/models/") + family + "/bf16";
    SCOPED_TRACE(model);
    MemoryEstimateOptions options;
    options.model = model;
    options.formats = {"bf16"};
    options.target = "sm_90";
    options.max_seq = 64;
    options.max_batch = 2;
    options.buckets = "16";
    absl::StatusOr<MemoryEstimate> m = EstimateMemory(options);
    ASSERT_TRUE(m.ok()) << m.status();
    CompileOptions compile;
    compile.model = model;
    compile.out = TempDir() + "/cuda_" + family;
    compile.target = "sm_90";
    compile.dtype = DType::kBF16;
    compile.max_seq = options.max_seq;
    compile.max_batch = options.max_batch;
    compile.buckets = options.buckets;
    ASSERT_TRUE(CompileEngine(compile).ok());
    absl::StatusOr<Engine> engine = LoadEngine(compile.out, "sm_90");
    ASSERT_TRUE(engine.ok()) << engine.status();
    absl::StatusOr<PlannedEngine> planned = ReadEnginePlans(*engine, compile.out);
    ASSERT_TRUE(planned.ok()) << planned.status();
    const DeviceArenaPlan arena = PlanDeviceArena(planned->layout, planned->plans);
    const FormatEstimate& row = m->rows.at(0);
    EXPECT_EQ(row.total, arena.total_bytes + kCudaGemmWorkspaceBytes);
    EXPECT_EQ(row.weights, engine->weights.stored_bytes());
    EXPECT_EQ(row.kv_cache, arena.Find("kv_cache")->bytes);
    EXPECT_EQ(row.activations, arena.Find("scratch")->bytes);
  }
}

TEST(MemoryEstimateTest, SmolLM2PredictsItsEngine) {
  const std::string gguf = "third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(gguf)) GTEST_SKIP() << gguf << " is not fetched";
  ExpectPredictionMatchesEngine(gguf, "stored");
}

TEST(MemoryEstimateTest, GgufStoredFormatIsTheFilesOwnMix) {
  const MemoryEstimate m = Estimate("tests/fixtures/models/gguf_llama/model.gguf", {});
  ASSERT_FALSE(m.rows.empty());
  EXPECT_EQ(m.rows[0].format, "stored");
  EXPECT_EQ(m.rows[1].format, "f32");
  EXPECT_LT(m.rows[0].weights, m.rows[1].weights);
}

TEST(MemoryEstimateTest, LargestFittingMaxSeqIsTheLastThatFits) {
  MemoryEstimateOptions options;
  options.model = "tools/bench/configs/llama-3.2-1b";
  options.formats = {"q8_0"};
  const int64_t budget = int64_t{3} << 30;
  absl::StatusOr<int64_t> fitting = LargestFittingMaxSeq(options, "q8_0", budget);
  ASSERT_TRUE(fitting.ok()) << fitting.status();
  ASSERT_GT(*fitting, 256);
  ASSERT_LT(*fitting, 131072);
  options.max_seq = *fitting;
  EXPECT_LE(Estimate(options.model, {"q8_0"}, *fitting).rows[0].total, budget);
  EXPECT_GT(Estimate(options.model, {"q8_0"}, *fitting + 1).rows[0].total, budget);
  absl::StatusOr<int64_t> none = LargestFittingMaxSeq(options, "q8_0", int64_t{1} << 20);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  absl::StatusOr<int64_t> all = LargestFittingMaxSeq(options, "q8_0", int64_t{1} << 50);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 131072);  // max_position_embeddings
  // A one-token prefill bucket: the search starts at 1, not at a decode.
  options.model = "tests/fixtures/models/llama3/f32";
  options.buckets = "1";
  MemoryEstimateOptions at_one = options;
  at_one.max_seq = 1;
  absl::StatusOr<MemoryEstimate> tiny = EstimateMemory(at_one);
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  absl::StatusOr<int64_t> just_one = LargestFittingMaxSeq(options, "q8_0", tiny->rows[0].total);
  ASSERT_TRUE(just_one.ok()) << just_one.status();
  EXPECT_EQ(*just_one, 1);
}

// The same error compile-model gives for the same config.
void ExpectSameRefusal(const std::string& name, const nlohmann::json& config) {
  SCOPED_TRACE(name);
  const std::string dir = TempDir() + "/bad_" + name;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump();
  MemoryEstimateOptions options;
  options.model = dir;
  absl::StatusOr<MemoryEstimate> estimate = EstimateMemory(options);
  CompileOptions compile;
  compile.model = dir;
  compile.out = dir + ".engine";
  absl::StatusOr<CompileReport> compiled = CompileEngine(compile);
  ASSERT_FALSE(estimate.ok());
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(estimate.status().code(), absl::StatusCode::kInvalidArgument) << estimate.status();
  EXPECT_EQ(estimate.status().message(), compiled.status().message());
}

TEST(MemoryEstimateTest, BadConfigsGetCompileModelsErrors) {
  const nlohmann::json good = ReadJson("tools/bench/configs/llama-3.2-1b/config.json");
  nlohmann::json c = good;
  c["hidden_size"] = -2048;
  ExpectSameRefusal("negative_hidden", c);
  c = good;
  c.erase("num_hidden_layers");
  ExpectSameRefusal("missing_layers", c);
  c = good;
  c["intermediate_size"] = int64_t{1} << 40;
  c["hidden_size"] = int64_t{1} << 40;
  ExpectSameRefusal("overflowing_product", c);
  c = good;
  c["vocab_size"] = "many";
  ExpectSameRefusal("string_vocab", c);
}

TEST(MemoryEstimateTest, FlagsAreChecked) {
  MemoryEstimateOptions options;
  options.model = "tools/bench/configs/llama-3.2-1b";
  options.formats = {"q3_k"};
  EXPECT_EQ(EstimateMemory(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.formats = {"q4_k"};
  options.target = "sm_90";
  EXPECT_NE(EstimateMemory(options).status().message().find("needs --target cpu"),
            std::string::npos);
  options.formats = {"stored"};
  options.target = "cpu";
  EXPECT_NE(EstimateMemory(options).status().message().find("only a GGUF"), std::string::npos);
  options.formats = {"f32"};
  options.max_seq = 1 << 30;
  EXPECT_NE(EstimateMemory(options).status().message().find("max_position_embeddings"),
            std::string::npos);
  options.model = "tools/bench/configs/no-such-model";
  EXPECT_EQ(EstimateMemory(options).status().code(), absl::StatusCode::kNotFound);
}

// A GGUF whose header promises more tensor data than the file holds is
// refused when it is opened (the header and tensor table are all that is
// read), with the message compile-model gives.
TEST(MemoryEstimateTest, GgufHeaderThatLiesAboutSizesIsRefused) {
  const std::string source = "tests/fixtures/models/gguf_llama/model.gguf";
  const std::string lying = TempDir() + "/truncated.gguf";
  std::filesystem::copy_file(source, lying, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(lying, std::filesystem::file_size(source) / 2);
  MemoryEstimateOptions options;
  options.model = lying;
  absl::StatusOr<MemoryEstimate> estimate = EstimateMemory(options);
  ASSERT_FALSE(estimate.ok());
  CompileOptions compile;
  compile.model = lying;
  compile.out = lying + ".engine";
  absl::StatusOr<CompileReport> compiled = CompileEngine(compile);
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(estimate.status().message(), compiled.status().message());
  EXPECT_NE(estimate.status().message().find(lying), std::string::npos) << estimate.status();
}

}  // namespace
}  // namespace kiln
