// The cases of TESTING.md's bad-input list (and the IR parser's own error
// paths) that the parsers' test files do not yet pin to their specific
// error. Each asserts the message, not just a failure. The audit itself is
// in docs/FUZZING.md.
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "ir/text.h"
#include "models/config_reader.h"
#include "models/registry.h"

namespace kiln {
namespace {

// Succeeds when `status` is an error whose message contains `substring`.
::testing::AssertionResult FailsWith(const absl::Status& status, const std::string& substring) {
  if (status.ok()) return ::testing::AssertionFailure() << "succeeded; expected " << substring;
  const std::string message(status.message());
  if (message.find(substring) == std::string::npos) {
    return ::testing::AssertionFailure() << "\"" << message << "\" lacks \"" << substring << "\"";
  }
  return ::testing::AssertionSuccess();
}

nlohmann::json FixtureConfig(const std::string& family) {
  std::ifstream in("tests/fixtures/models/" + family + "/f32/config.json");
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

absl::Status BuildStatus(const nlohmann::json& config) {
  return BuildModel(ConfigReader(config), BuildOptions{}).status();
}

// --- config.json ---

TEST(ConfigAuditTest, ParseErrorsSayWhatIsWrong) {
  EXPECT_TRUE(FailsWith(ConfigReader::Parse("{").status(), "config.json is not valid JSON"));
  EXPECT_TRUE(
      FailsWith(ConfigReader::Parse("[1, 2]").status(), "config.json is not a JSON object"));
  EXPECT_TRUE(FailsWith(ConfigReader::Parse("\"llama\"").status(), "not a JSON object"));
}

TEST(ConfigAuditTest, InfinityAndNanLiteralsAreRejectedByName) {
  for (const char* text : {R"({"rope_theta": Infinity})", R"({"rope_theta": -Infinity})",
                           R"({"rms_norm_eps": NaN})"}) {
    EXPECT_TRUE(FailsWith(ConfigReader::Parse(text).status(), "NaN or Infinity")) << text;
  }
}

TEST(ConfigAuditTest, OverflowingFloatLiteralIsInvalidJson) {
  // 1e999 would be infinity; nlohmann refuses the literal outright, so no
  // infinite number can reach a field check either.
  nlohmann::json config = FixtureConfig("llama2");
  config["rope_theta"] = "@";
  std::string text = config.dump();
  text.replace(text.find("\"@\""), 3, "1e999");
  EXPECT_TRUE(FailsWith(ConfigReader::Parse(text).status(), "config.json is not valid JSON"));
}

TEST(ConfigAuditTest, NegativeAndZeroSizesNameTheField) {
  struct Case {
    const char* family;
    const char* key;
    int64_t value;
  };
  for (const Case& c : {Case{"llama3", "vocab_size", 0}, Case{"llama3", "intermediate_size", -1},
                        Case{"gemma", "num_attention_heads", 0},
                        Case{"mistral", "num_key_value_heads", -4}, Case{"llama3", "head_dim", 0},
                        Case{"opt", "ffn_dim", -1}, Case{"opt", "max_position_embeddings", 0},
                        Case{"opt350", "word_embed_proj_dim", 0}}) {
    nlohmann::json config = FixtureConfig(c.family);
    config[c.key] = c.value;
    EXPECT_TRUE(FailsWith(BuildStatus(config),
                          std::string("'") + c.key + "' must be a positive integer, got " +
                              std::to_string(c.value)))
        << c.family << " " << c.key;
  }
}

TEST(ConfigAuditTest, NanOrNegativeRopeParametersNameTheField) {
  // Reached through the reader (no NaN literal can be parsed): a negative
  // or zero factor, and a null theta in the v5 layout.
  nlohmann::json config = FixtureConfig("llama3");
  config["rope_parameters"]["factor"] = -8.0;
  EXPECT_TRUE(
      FailsWith(BuildStatus(config), "'factor' must be a positive finite number, got -8.0"));
  config = FixtureConfig("llama3");
  config["rope_parameters"]["low_freq_factor"] = 0;
  EXPECT_TRUE(FailsWith(BuildStatus(config), "'low_freq_factor' must be a positive finite number"));
  config = FixtureConfig("llama3");
  config["rope_parameters"]["rope_theta"] = nullptr;
  EXPECT_TRUE(FailsWith(BuildStatus(config), "'rope_theta' is required"));
}

TEST(ConfigAuditTest, ExplicitHeadDimMayDifferFromHiddenOverHeads) {
  // Transformers allows head_dim x heads != hidden (Gemma 7B: 16 x 256 vs
  // 3072): q_proj is then [heads * head_dim, hidden].
  nlohmann::json config = FixtureConfig("llama3");
  config["head_dim"] = 32;  // 4 heads x 32 = 128, hidden 64
  absl::StatusOr<BuiltModel> model = BuildModel(ConfigReader(config), BuildOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  const WeightDecl* q = model->module.FindWeight("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(TypeToString(q->type), "f32[128,64]");
}

TEST(ConfigAuditTest, ModelTypeUnknownOrMissing) {
  nlohmann::json config = FixtureConfig("llama3");
  config.erase("architectures");
  config["model_type"] = "falcon";
  EXPECT_TRUE(FailsWith(BuildStatus(config), "'model_type' names 'falcon', which Kiln does not"));
  config.erase("model_type");
  EXPECT_TRUE(FailsWith(BuildStatus(config), "'model_type' is required"));
  config["architectures"] = nlohmann::json::array();
  EXPECT_TRUE(FailsWith(BuildStatus(config), "'architectures' must be a non-empty list"));
}

// --- IR text parser and verifier ---

struct BadIr {
  const char* text;
  const char* error;
};

class IrAuditTest : public testing::TestWithParam<BadIr> {};

TEST_P(IrAuditTest, GivesItsOwnError) {
  EXPECT_TRUE(FailsWith(ParseModule(GetParam().text).status(), GetParam().error))
      << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, IrAuditTest,
    testing::Values(
        BadIr{"module @m { # }", "line 1, column 13: unexpected character '#'"},
        BadIr{"module @m { func @f(%x: f32[2]) { %y = scale(%x) {factor=1, factor=2} : f32[2] "
              "return %y } }",
              "attribute given twice"},
        BadIr{"module @m { weight \"w\" : f32[99999999999999999999] }", "expected an integer"},
        BadIr{"module @m { weight \"w\" : f32[-1] }", "invalid dimension symbol '-1'"},
        BadIr{"module @m { weight \"w\" : f32[4294967296,4294967296] }",
              "element count overflows int64"},
        BadIr{"module @m { weight \"w\" : f32[1] weight \"w\" : f32[1] }",
              "weight \"w\": declared twice"},
        BadIr{"module @m { weight \"\" : f32[1] }", "weight with an empty name"},
        BadIr{"module @a-b { }", "module: invalid module name"},
        BadIr{"module @m { func @f(%x: f32[2]) { return %x } func @f(%x: f32[2]) { return %x } }",
              "func @f: defined twice"},
        BadIr{"module @m { func @f(%x: f32[2]) { return %y } }", "expected a defined value"},
        BadIr{"module @m { func @f(%x: f32[2]) { %y = parameter() : f32[2] return %y } }",
              "expected an op name"},
        BadIr{"module @m { func @f(%x: f32[2], %x: f32[2]) { return %x } }",
              "%x is defined twice"},
        BadIr{"module @m { func @f(%x: f32[2]) { %y = slice(%x) {axis=0, start=0, end=1.5} : "
              "f32[1] return %y } }",
              "expected an integer"},
        BadIr{"module @m { func @f(%x: f32[2]) { %y = transpose(%x) {perm=[0,} : f32[2] "
              "return %y } }",
              "expected an integer"}));

}  // namespace
}  // namespace kiln
