// Model builders from config.json: legacy and v5 config layouts, and a
// specific, field-naming error for each kind of bad config.
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "models/weights.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";

nlohmann::json FixtureConfig(const std::string& family) {
  std::ifstream in(std::string(kFixtures) + family + "/f32/config.json");
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

absl::StatusOr<BuiltModel> Build(const nlohmann::json& config) {
  return BuildModel(ConfigReader(config), BuildOptions{});
}

TEST(BuildersTest, EveryFixtureBuildsVerifiedIr) {
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    absl::StatusOr<BuiltModel> model = Build(FixtureConfig(family));
    ASSERT_TRUE(model.ok()) << family << ": " << model.status();
    EXPECT_TRUE(VerifyModule(model->module).ok());
    EXPECT_EQ(model->info.num_layers, 2);
    EXPECT_EQ(model->info.vocab_size, 256);
  }
}

TEST(BuildersTest, LegacyRopeLayoutBuildsTheSameIr) {
  nlohmann::json v5 = FixtureConfig("llama3");
  nlohmann::json legacy = v5;
  nlohmann::json rope = legacy["rope_parameters"];
  legacy.erase("rope_parameters");
  legacy["rope_theta"] = rope["rope_theta"];
  rope.erase("rope_theta");
  legacy["rope_scaling"] = rope;
  absl::StatusOr<BuiltModel> a = Build(v5);
  absl::StatusOr<BuiltModel> b = Build(legacy);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(PrintModule(a->module), PrintModule(b->module));
  // Old configs spell the type key "type".
  legacy["rope_scaling"]["type"] = legacy["rope_scaling"]["rope_type"];
  legacy["rope_scaling"].erase("rope_type");
  absl::StatusOr<BuiltModel> c = Build(legacy);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(PrintModule(a->module), PrintModule(c->module));
}

TEST(BuildersTest, ModelTypeSelectsTheArchitectureWhenArchitecturesIsAbsent) {
  nlohmann::json config = FixtureConfig("mistral");
  config.erase("architectures");
  absl::StatusOr<BuiltModel> model = Build(config);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->info.architecture, "MistralForCausalLM");
}

TEST(BuildersTest, TiedEmbeddingsShareOneWeight) {
  absl::StatusOr<BuiltModel> tied = Build(FixtureConfig("llama2"));
  absl::StatusOr<BuiltModel> untied = Build(FixtureConfig("llama3"));
  ASSERT_TRUE(tied.ok() && untied.ok());
  EXPECT_EQ(tied->module.FindWeight("lm_head.weight"), nullptr);
  EXPECT_NE(untied->module.FindWeight("lm_head.weight"), nullptr);
}

struct BadConfig {
  const char* name;
  const char* family;
  const char* patch;  // JSON merged into the fixture's config
  const char* error;  // expected substring
};

class BadConfigTest : public testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, GivesItsOwnError) {
  nlohmann::json config = FixtureConfig(GetParam().family);
  config.merge_patch(nlohmann::json::parse(GetParam().patch));
  absl::StatusOr<BuiltModel> model = Build(config);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(std::string(model.status().message()).find(GetParam().error), std::string::npos)
      << model.status();
}

INSTANTIATE_TEST_SUITE_P(
    Configs, BadConfigTest,
    testing::Values(
        BadConfig{"ZeroHidden", "llama3", R"({"hidden_size": 0})",
                  "'hidden_size' must be a positive integer, got 0"},
        BadConfig{"NegativeLayers", "mistral", R"({"num_hidden_layers": -2})",
                  "'num_hidden_layers' must be a positive integer, got -2"},
        BadConfig{"TooManyLayers", "opt", R"({"num_hidden_layers": 5000})",
                  "'num_hidden_layers' is 5000, above Kiln's limit of 4096 layers"},
        BadConfig{"FractionalHeads", "llama3", R"({"num_attention_heads": 4.5})",
                  "'num_attention_heads' must be a positive integer, got 4.5"},
        BadConfig{"MissingVocab", "gemma", R"({"vocab_size": null})", "'vocab_size' is required"},
        BadConfig{"HeadsNotMultipleOfKvHeads", "llama3", R"({"num_key_value_heads": 3})",
                  "'num_attention_heads' (4) must be a multiple of 'num_key_value_heads' (3)"},
        BadConfig{"HiddenNotDivisibleByHeads", "llama3",
                  R"({"head_dim": null, "hidden_size": 66})",
                  "'hidden_size' (66) must be divisible by 'num_attention_heads' (4)"},
        BadConfig{"OddHeadDim", "llama3", R"({"head_dim": 15})", "must be even"},
        BadConfig{"NegativeRopeTheta", "llama3", R"({"rope_parameters": {"rope_theta": -1.0}})",
                  "'rope_theta' must be a positive finite number"},
        BadConfig{"UnknownRopeType", "llama3", R"({"rope_parameters": {"rope_type": "yarn"}})",
                  "'yarn' is not supported (supported: default, linear, llama3)"},
        BadConfig{"Llama3RopeMissingFactor", "llama3",
                  R"({"rope_parameters": {"low_freq_factor": null}})",
                  "'low_freq_factor' is required"},
        BadConfig{"Llama3RopeBandInverted", "llama3",
                  R"({"rope_parameters": {"high_freq_factor": 0.5}})",
                  "'high_freq_factor' must exceed low_freq_factor"},
        BadConfig{"UnknownArchitecture", "llama3", R"({"architectures": ["FalconForCausalLM"]})",
                  "'architectures' names 'FalconForCausalLM', which Kiln does not support"},
        BadConfig{"ArchitecturesNotAList", "llama3", R"({"architectures": "LlamaForCausalLM"})",
                  "'architectures' must be a non-empty list"},
        BadConfig{"UnsupportedActivation", "llama2", R"({"hidden_act": "swiglu_oai"})",
                  "'hidden_act' 'swiglu_oai' is not a supported activation"},
        BadConfig{"NegativeSlidingWindow", "mistral", R"({"sliding_window": -4})",
                  "'sliding_window' must be a positive integer"},
        BadConfig{"TieNotBool", "llama3", R"({"tie_word_embeddings": "yes"})",
                  "'tie_word_embeddings' must be true or false"},
        BadConfig{"EosOutsideVocab", "gemma", R"({"eos_token_id": [1, 999]})",
                  "'eos_token_id' holds 999, outside the vocabulary [0, 256)"},
        BadConfig{"BosOutsideVocab", "llama2", R"({"bos_token_id": -1})",
                  "'bos_token_id' holds -1, outside the vocabulary [0, 256)"},
        BadConfig{"OptHiddenNotDivisible", "opt", R"({"num_attention_heads": 5})",
                  "'hidden_size' (64) must be divisible by 'num_attention_heads' (5)"},
        BadConfig{"OptNoAffineNorm", "opt", R"({"layer_norm_elementwise_affine": false})",
                  "'layer_norm_elementwise_affine' false is not supported"}),
    [](const testing::TestParamInfo<BadConfig>& info) { return info.param.name; });

TEST(BuildersTest, NanInConfigIsAClearError) {
  absl::StatusOr<ConfigReader> config =
      ConfigReader::Parse(R"({"rope_parameters": {"rope_theta": NaN}})");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(std::string(config.status().message()).find("NaN or Infinity"), std::string::npos);
  EXPECT_FALSE(ConfigReader::Parse("[1, 2]").ok());
  EXPECT_FALSE(ConfigReader::Parse("{").ok());
}

// A config whose vocab_size disagrees with the embedding's rows builds, but
// binding the weights names the tensor and both shapes.
TEST(BuildersTest, VocabSizeDisagreeingWithEmbeddingRowsFailsAtWeightLoad) {
  nlohmann::json config = FixtureConfig("llama3");
  config["vocab_size"] = 300;
  absl::StatusOr<BuiltModel> model = Build(config);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(std::string(kFixtures) + "llama3/f32");
  ASSERT_TRUE(checkpoint.ok());
  absl::StatusOr<WeightMap> weights = LoadWeights(model->module, *checkpoint);
  ASSERT_FALSE(weights.ok());
  EXPECT_NE(std::string(weights.status().message())
                .find("\"model.embed_tokens.weight\" has shape [256,64] but config.json implies "
                      "[300,64]"),
            std::string::npos)
      << weights.status();
}

TEST(BuildersTest, MissingTensorNamesIt) {
  nlohmann::json config = FixtureConfig("llama2");
  config["tie_word_embeddings"] = false;  // now lm_head.weight is needed
  absl::StatusOr<BuiltModel> model = Build(config);
  ASSERT_TRUE(model.ok());
  absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(std::string(kFixtures) + "llama2/f32");
  ASSERT_TRUE(checkpoint.ok());
  absl::StatusOr<WeightMap> weights = LoadWeights(model->module, *checkpoint);
  ASSERT_FALSE(weights.ok());
  EXPECT_NE(std::string(weights.status().message()).find("no tensor \"lm_head.weight\""),
            std::string::npos);
}

}  // namespace
}  // namespace kiln
