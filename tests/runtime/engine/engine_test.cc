// Engine artefacts end to end: compile-model writes an engine, LoadEngine
// checks and loads it, and the compiled buckets (padded, chunked prefill
// and decode) reproduce Transformers' logits. Damaged engines each give
// their own error.
#include "codegen/engine_writer.h"
#include "runtime/engine/engine.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "models/checkpoint.h"
#include "base/sha256.h"
#include "runtime/reference/session.h"
#include "models/weights.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";

std::string TempDir(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

// What compile-model would write to reproduce `engine`.
EngineContents Contents(const Engine& engine) {
  EngineContents contents;
  contents.manifest = engine.manifest;
  contents.config = engine.config;
  contents.module = engine.module;
  absl::StatusOr<WeightMap> weights = engine.weights.ToHostTensors();
  EXPECT_TRUE(weights.ok()) << weights.status();
  if (weights.ok()) contents.weights = *std::move(weights);
  contents.chat_template = engine.chat_template;
  contents.generation_config = engine.generation_config;
  contents.kernel_files = engine.kernel_files;
  return contents;
}

// Runs bin/compile-model (a data dependency) on `model` (a fixture
// directory or file); returns its exit status.
int CompileModel(const std::string& model, const std::string& dtype, const std::string& out,
                 const std::string& extra = "") {
  std::string command = "tools/compile-model --model " + model + " --out " + out + " --dtype " +
                        dtype + " --buckets 8 --max-seq 32 " + extra + " 2>" + out + ".log";
  return std::system(command.c_str());
}

int Compile(const std::string& family, const std::string& dtype, const std::string& out,
            const std::string& extra = "") {
  return CompileModel(std::string(kFixtures) + family + "/" + dtype, dtype, out, extra);
}

std::string ReadLog(const std::string& out) {
  std::ifstream in(out + ".log");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

HostTensor Expected(const std::string& dir, const char* name, DType dtype) {
  absl::StatusOr<Checkpoint> file = Checkpoint::OpenFile(dir + "/expected.safetensors");
  EXPECT_TRUE(file.ok()) << file.status();
  absl::StatusOr<HostTensor> t = HostTensorFromEntry(*file->Find(name), dtype);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

double MaxAbsDiff(const float* a, const float* b, int64_t n) {
  double max = 0;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, std::fabs(double{a[i]} - b[i]));
  return max;
}

struct Case {
  std::string family;
  std::string dtype;
  double tolerance;
  // A GGUF fixture: the model file inside tests/fixtures/models/<family>/,
  // which also holds expected.safetensors. Empty: a Hugging Face fixture in
  // <family>/<dtype>/.
  std::string gguf = "";

  std::string Dir() const {
    return std::string(kFixtures) + family + (gguf.empty() ? "/" + dtype : "");
  }
  std::string Model() const { return gguf.empty() ? Dir() : Dir() + "/" + gguf; }
};

class EngineParityTest : public testing::TestWithParam<Case> {};

TEST_P(EngineParityTest, CompiledBucketsMatchTransformers) {
  const Case& c = GetParam();
  std::string out = TempDir(c.family + "_" + c.dtype + ".engine");
  ASSERT_EQ(CompileModel(c.Model(), c.dtype, out), 0) << ReadLog(out);
  absl::StatusOr<Engine> engine = LoadEngine(out, "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<SessionBucket> buckets;
  for (const EngineBucket& b : engine->manifest.buckets) buckets.push_back({b.function, b.seq});
  int64_t capacity = engine->manifest.max_seq;
  absl::StatusOr<ReferenceExecutor> executor =
      ReferenceExecutor::Create(std::move(engine->module), std::move(engine->weights));
  ASSERT_TRUE(executor.ok()) << executor.status();
  absl::StatusOr<ReferenceSession> session =
      ReferenceSession::Create(*executor, capacity, buckets);
  ASSERT_TRUE(session.ok()) << session.status();

  std::string dir = c.Dir();
  HostTensor prompt = Expected(dir, "prompt_ids", DType::kI64);
  HostTensor tokens = Expected(dir, "tokens", DType::kI64);
  HostTensor prefill = Expected(dir, "prefill_logits", DType::kF32);
  HostTensor decode = Expected(dir, "decode_logits", DType::kF32);
  // 12 prompt tokens with an 8-token bucket: one full chunk, one padded.
  std::vector<int32_t> ids(prompt.ints.begin(), prompt.ints.end());
  absl::StatusOr<HostTensor> logits = session->Forward(ids);
  ASSERT_TRUE(logits.ok()) << logits.status();
  ASSERT_EQ(logits->floats.size(), prefill.floats.size());
  EXPECT_LE(MaxAbsDiff(logits->floats.data(), prefill.floats.data(), prefill.numel()),
            c.tolerance);
  int64_t vocab = decode.shape[1];
  for (int step = 0; step < 8; ++step) {
    int32_t token = static_cast<int32_t>(tokens.ints[step]);
    logits = session->Forward(std::span<const int32_t>(&token, 1));
    ASSERT_TRUE(logits.ok()) << logits.status();
    EXPECT_LE(MaxAbsDiff(logits->floats.data(), decode.floats.data() + step * vocab, vocab),
              c.tolerance)
        << "decode step " << step;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineParityTest,
                         testing::Values(Case{"llama3", "f32", 1e-4}, Case{"opt350", "f32", 1e-4},
                                         Case{"gemma", "bf16", 0.12},
                                         Case{"gguf_llama", "f32", 1e-4, "model.gguf"}),
                         [](const testing::TestParamInfo<Case>& info) {
                           return info.param.family + "_" + info.param.dtype;
                         });

// A fresh engine, compiled once per test that damages it.
std::string FreshEngine(const std::string& name) {
  std::string out = TempDir(name);
  std::filesystem::remove_all(out);
  EXPECT_EQ(Compile("llama2", "f32", out), 0) << ReadLog(out);
  return out;
}

void ExpectLoadError(const std::string& dir, const std::string& target,
                     const std::string& expected) {
  absl::StatusOr<Engine> engine = LoadEngine(dir, target);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(std::string(engine.status().message()).find(expected), std::string::npos)
      << engine.status();
}

TEST(EngineLoadTest, DamagedEnginesEachGiveTheirOwnError) {
  std::string dir = FreshEngine("damaged.engine");
  ASSERT_TRUE(LoadEngine(dir, "cpu").ok());
  ExpectLoadError(dir, "sm_90", "was compiled for cpu, not sm_90: recompile with --target sm_90");

  {  // flip one byte of the weights
    std::fstream f(dir + "/weights.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-5, std::ios::end);
    f.put('\x7f');
  }
  ExpectLoadError(dir, "cpu", "weights.safetensors does not match its SHA-256 in the manifest");

  std::filesystem::resize_file(dir + "/weights.safetensors", 1000);
  ExpectLoadError(dir, "cpu", "has 1000 bytes but the manifest records");

  std::filesystem::remove(dir + "/model.ir");
  ExpectLoadError(dir, "cpu", "model.ir is missing or unreadable");

  std::filesystem::remove(dir + "/manifest.json");
  ExpectLoadError(dir, "cpu", "manifest.json is missing or unreadable");
}

// A GGUF model's engine bundles its vocabulary as a metadata-only GGUF.
TEST(EngineGgufTest, BundlesTheVocabulary) {
  std::string out = TempDir("gguf_vocab.engine");
  ASSERT_EQ(CompileModel(std::string(kFixtures) + "gguf_llama/model.gguf", "f32", out), 0)
      << ReadLog(out);
  absl::StatusOr<Engine> engine = LoadEngine(out, "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ(engine->manifest.tokenizer, "tokenizer.gguf");
  EXPECT_EQ(engine->manifest.architecture, "LlamaForCausalLM");
  EXPECT_EQ(engine->config["num_key_value_heads"], 2);
  EXPECT_TRUE(engine->chat_template.empty());
  EXPECT_LT(std::filesystem::file_size(out + "/tokenizer.gguf"), 8192u);
  EXPECT_NE(ReadLog(out).find("loading weights (block types kept as the GGUF stores them)"),
            std::string::npos);
}

// The plans' text listing is written on request only; the engine runs the
// JSON either way.
TEST(EngineLoadTest, PlansListingOnlyOnRequest) {
  const std::string gguf = std::string(kFixtures) + "gguf_llama/model.gguf";
  const std::string plain = TempDir("no_listing.engine");
  ASSERT_EQ(CompileModel(gguf, "f32", plain), 0) << ReadLog(plain);
  EXPECT_FALSE(std::filesystem::exists(plain + "/" + kEnginePlansListingFile));
  const std::string listed = TempDir("listing.engine");
  ASSERT_EQ(CompileModel(gguf, "f32", listed, "--plans-listing"), 0) << ReadLog(listed);
  std::ifstream in(listed + "/" + kEnginePlansListingFile);
  const std::string listing(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(listing.find("@decode_b1 (batch 1, seq 1)"), std::string::npos) << listing;
  for (const std::string& dir : {plain, listed}) {
    absl::StatusOr<Engine> engine = LoadEngine(dir, "cpu");
    EXPECT_TRUE(engine.ok()) << engine.status();
  }
}

// The chat template travels with the engine, covered by the manifest's
// digests; a manifest naming a file it does not list is refused.
TEST(EngineLoadTest, ChatTemplateRoundTrips) {
  std::string dir = FreshEngine("chat.engine");
  absl::StatusOr<Engine> engine = LoadEngine(dir, "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_TRUE(engine->chat_template.empty());
  engine->chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
  std::string with_template = TempDir("chat2.engine");
  ASSERT_TRUE(WriteEngine(with_template, Contents(*engine)).ok());
  absl::StatusOr<Engine> reloaded = LoadEngine(with_template, "cpu");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->manifest.chat_template, "chat_template.jinja");
  EXPECT_EQ(reloaded->chat_template, engine->chat_template);

  std::ofstream(with_template + "/chat_template.jinja", std::ios::app) << "tampered";
  ExpectLoadError(with_template, "cpu", "chat_template.jinja has");

  std::ifstream in(dir + "/manifest.json");
  std::string text(std::istreambuf_iterator<char>(in), {});
  in.close();
  size_t at = text.find("\"chat_template\": \"\"");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 19, "\"chat_template\": \"../../x\"");
  std::ofstream(dir + "/manifest.json") << text;
  ExpectLoadError(dir, "cpu", "manifest.json names '../../x' but does not list it among its files");
}

// Edits manifest.json's text: replaces the first `from` with `to`.
void EditManifest(const std::string& dir, const std::string& from, const std::string& to) {
  std::ifstream in(dir + "/manifest.json");
  std::string text(std::istreambuf_iterator<char>(in), {});
  in.close();
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << text;
  text.replace(at, from.size(), to);
  std::ofstream(dir + "/manifest.json") << text;
}

TEST(EngineLoadTest, ManifestLimitsAndFileNames) {
  std::string dir = FreshEngine("limits.engine");
  EditManifest(dir, "\"max_seq\": 32", "\"max_seq\": 4611686018427387904");
  ExpectLoadError(dir, "cpu", "max_batch 1 and max_seq 4611686018427387904 must be in [1, 4096]");
  EditManifest(dir, "\"max_seq\": 4611686018427387904", "\"max_seq\": 32");
  ASSERT_TRUE(LoadEngine(dir, "cpu").ok());
  // An extra entry after the required ones, so only its name is at fault.
  const std::string extra = "{\"bytes\": 1, \"path\": \"config.json\\u0000x\", \"sha256\": \"00\"}, ";
  EditManifest(dir, "\"files\": [", "\"files\": [" + extra);
  ExpectLoadError(dir, "cpu", "manifest.json lists a bad file name");
  EditManifest(dir, "config.json\\u0000x", ".");
  ExpectLoadError(dir, "cpu", "manifest.json lists a bad file name '.'");
}

TEST(EngineLoadTest, OtherFormatVersionsAreRejected) {
  std::string dir = FreshEngine("version.engine");
  std::ifstream in(dir + "/manifest.json");
  std::string text(std::istreambuf_iterator<char>(in), {});
  in.close();
  size_t at = text.find("\"format_version\": 3");
  ASSERT_NE(at, std::string::npos);
  // An engine from the previous Kiln (format 2: cpu engines without launch
  // plans, no block-quantized weights), and one from some other version.
  std::string previous = text;
  previous.replace(at, 19, "\"format_version\": 2");
  std::ofstream(dir + "/manifest.json") << previous;
  ExpectLoadError(dir, "cpu",
                  "engine format version 2, but this Kiln reads version 3: recompile with "
                  "compile-model");
  text.replace(at, 19, "\"format_version\": 99");
  std::ofstream(dir + "/manifest.json") << text;
  ExpectLoadError(dir, "cpu", "engine format version 99, but this Kiln reads version 3");
  std::ofstream(dir + "/manifest.json") << "{\"format_version\": 3}";
  ExpectLoadError(dir, "cpu", "field 'architecture' is missing or has the wrong type");
}

TEST(CompileModelTest, BadRequestsFailWithTheirReason) {
  std::string out = TempDir("bad.engine");
  EXPECT_NE(Compile("llama3", "f32", out, "--target sm_75"), 0);
  EXPECT_NE(ReadLog(out).find("--target must be cpu, sm_80 or sm_90"), std::string::npos)
      << ReadLog(out);
  EXPECT_NE(Compile("llama3", "f32", out, "--target sm_90 --tune_gemms maybe"), 0);
  EXPECT_NE(ReadLog(out).find("--tune_gemms must be auto, on or off, not 'maybe'"),
            std::string::npos)
      << ReadLog(out);
  EXPECT_NE(Compile("llama3", "f32", out, "--max-seq 4096"), 0);
  EXPECT_NE(ReadLog(out).find("--max-seq 4096 must be in [1, 64]"), std::string::npos)
      << ReadLog(out);
  EXPECT_NE(std::system(("tools/compile-model --model /nonexistent --out " + out + " 2>" + out +
                         ".log").c_str()),
            0);
  EXPECT_NE(ReadLog(out).find("--model /nonexistent does not exist: give a Hugging Face model directory or a .gguf file"), std::string::npos);
}
}  // namespace
}  // namespace kiln
