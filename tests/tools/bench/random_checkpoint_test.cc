// WriteRandomCheckpoint on the tiny Llama 3 fixture's config (its vocabulary
// widened to 300, so the 256-token tokenizer needs padding): the tensors
// are the ones the model builder declares, their values follow the stated
// rule and seed, the tokenizer is padded to the vocabulary, and a bad
// request is a Status.
#include "tools/bench/random_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "base/half.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "nlohmann/json.hpp"

namespace kiln::bench {
namespace {

constexpr char kFixture[] = "tests/fixtures/models/llama3/bf16/config.json";
constexpr char kTokenizer[] = "tests/fixtures/tokenizers/bytes256/tokenizer.json";
constexpr int64_t kVocab = 300;

std::string Dir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fixture's config with kVocab tokens, in its own directory.
std::string ConfigDir() {
  const std::string dir = Dir("config");
  if (!std::filesystem::exists(dir + "/config.json")) {
    nlohmann::json config = nlohmann::json::parse(Slurp(kFixture));
    config["vocab_size"] = kVocab;
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/config.json") << config.dump(2);
  }
  return dir;
}

RandomCheckpointOptions Options(const std::string& out) {
  RandomCheckpointOptions o;
  o.config_dir = ConfigDir();
  o.tokenizer = kTokenizer;
  o.out = Dir(out);
  std::filesystem::remove_all(o.out);
  return o;
}

TEST(RandomCheckpointTest, WritesTheBuildersTensorsWithTheStatedValues) {
  const RandomCheckpointOptions options = Options("a");
  absl::StatusOr<RandomCheckpointReport> report = WriteRandomCheckpoint(options);
  ASSERT_TRUE(report.ok()) << report.status();
  absl::StatusOr<BuiltModel> model = BuildModelFromDir(ConfigDir(), BuildOptions{DType::kBF16, std::nullopt});
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open(options.out + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), model->module.weights.size());
  EXPECT_EQ(report->tensors, static_cast<int64_t>(model->module.weights.size()));
  int64_t parameters = 0;
  for (const WeightDecl& w : model->module.weights) {
    const TensorEntry* t = (*file)->Find(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->dtype, DType::kBF16) << w.name;
    ASSERT_EQ(t->shape.size(), w.type.shape.size()) << w.name;
    for (size_t d = 0; d < t->shape.size(); ++d) EXPECT_EQ(t->shape[d], w.type.shape[d].size);
    const std::vector<float> values = DecodeFloats(t->bytes, DType::kBF16);
    parameters += static_cast<int64_t>(values.size());
    const bool vector = t->shape.size() == 1;
    const uint64_t seed = TensorSeed(0, w.name);
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(values[i], RoundToDType(RandomWeightValue(seed, i, vector), DType::kBF16))
          << w.name << "[" << i << "]";
      if (vector) {
        EXPECT_TRUE(values[i] >= 0.5f && values[i] <= 1.5f) << w.name << "[" << i << "]";
      } else {
        EXPECT_LE(std::abs(values[i]), 0.035f) << w.name << "[" << i << "]";
      }
    }
  }
  EXPECT_EQ(report->parameters, parameters);
  EXPECT_EQ(Slurp(options.out + "/config.json"), Slurp(ConfigDir() + "/config.json"));
  EXPECT_FALSE(std::filesystem::exists(options.out + ".partial"));

  // The byte-level tokenizer, padded to the vocabulary with "<rN>".
  const nlohmann::json tokenizer = nlohmann::json::parse(Slurp(options.out + "/tokenizer.json"));
  const nlohmann::json& vocab = tokenizer["model"]["vocab"];
  ASSERT_EQ(model->info.vocab_size, kVocab);
  EXPECT_EQ(static_cast<int64_t>(vocab.size()), kVocab);
  const int64_t last = kVocab - 1;
  EXPECT_EQ(vocab.at("<r" + std::to_string(last) + ">").get<int64_t>(), last);
}

TEST(RandomCheckpointTest, TheSameSeedGivesTheSameBytesAndAnotherDoesNot) {
  RandomCheckpointOptions a = Options("seed0"), b = Options("seed0_again"), c = Options("seed1");
  b.threads = 3;  // the split over threads must not change a value
  c.seed = 1;
  for (const RandomCheckpointOptions* o : {&a, &b, &c}) {
    ASSERT_TRUE(WriteRandomCheckpoint(*o).ok());
  }
  const std::string first = Slurp(a.out + "/model.safetensors");
  EXPECT_EQ(first, Slurp(b.out + "/model.safetensors"));
  EXPECT_NE(first, Slurp(c.out + "/model.safetensors"));
}

TEST(RandomCheckpointTest, BadRequestsAreStatuses) {
  RandomCheckpointOptions o = Options("bad");
  o.dtype = DType::kI32;
  EXPECT_EQ(WriteRandomCheckpoint(o).status().code(), absl::StatusCode::kInvalidArgument);

  o = Options("bad");
  o.config_dir = Dir("no_such_config");
  EXPECT_FALSE(WriteRandomCheckpoint(o).ok());

  o = Options("bad");
  o.tokenizer = kFixture;  // JSON, but no model.vocab
  EXPECT_EQ(WriteRandomCheckpoint(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(o.out));

  o = Options("exists");
  std::filesystem::create_directories(o.out);
  EXPECT_EQ(WriteRandomCheckpoint(o).status().code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace kiln::bench
