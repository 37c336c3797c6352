// Replays every committed fuzz input through the harness its fuzzer runs
// (tests/fuzz/harness.h), in whatever build runs the tests: the plain gcc
// build, and ASan+UBSan under --config=asan.
//
// corpus/<target>/: seeds; none may crash, and those named ok_* must be
// accepted.
// regressions/<target>/: inputs that once crashed or misbehaved; each is
// listed in kRegressions with the outcome it must have now.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/harness.h"

namespace kiln::fuzz {
namespace {

namespace fs = std::filesystem;

constexpr char kFuzzDir[] = "tests/fuzz";

// The outcome one regression input must have.
struct Regression {
  const char* target;
  const char* file;
  // A substring of the error it must give; nullptr: it must be accepted.
  const char* error;
  // While the bug is unfixed: a one-line description, and the input is
  // skipped (it would crash the test) unless KILN_FUZZ_REPLAY_OPEN=1.
  // docs/FUZZING.md lists the open bugs with their stacks.
  const char* open_bug = nullptr;
};

const std::vector<Regression> kRegressions = {
    {"ir_text", "concat_length_overflow.ir", "overflow"},
    {"config", "heads_times_head_dim_overflow.json", "above Kiln's limit"},
    {"config", "opt_max_positions_overflow.json", "max_position_embeddings"},
    {"config", "layers_100_million.json", "num_hidden_layers"},
    {"config", "layers_2_pow_24.json", "above Kiln's limit of 4096 layers"},
    {"gguf_model", "empty_f32_embedding.gguf", "'vocab_size' must be a positive integer, got 0"},
    {"gguf_model", "deep_model_slow_build.gguf", nullptr},
    {"gguf_model", "empty_q_proj_2_pow_49_rows.gguf", nullptr},
    {"chat_template", "call_position_after_move.jinja", nullptr},
    {"chat_template", "namespace_self_cycle.jinja", "cannot store namespace 'ns' inside itself"},
    {"chat_template", "power_with_huge_exponent.jinja", nullptr},
    {"chat_template", "nested_loops_over_messages.jinja", "the template ran too long"},
    {"tokenizer_json", "post_processor_id_without_token.json",
     "the post-processor's special token \"</s>\" (id 2) is no token's id"},
    {"tokenizer_json", "two_added_tokens_one_id.json",
     "added tokens \"<s>\" and \"</s>\" both have id 2"},
    {"tokenizer_json", "added_token_against_vocab_id.json",
     "added token \"<s>\" has id 2 but the model's vocabulary gives it id 130"},
    {"tokenizer_json", "unk_id_against_vocab_id.json",
     "added token \"<unk>\" has id 0 but the model's vocabulary gives it id 5"},
    {"engine_manifest", "format_version_1_9.json", "format version"},
    {"engine_manifest", "format_version_2_pow_32_plus_1.json", "format version"},
    {"engine_manifest", "bos_token_id_1e29.json", "'bos_token_id' is not an integer in range"},
    {"kernel_index", "duplicate_function_names.json", "lists kernel k twice"},
    {"kernel_index", "registers_1e300.json", "'registers' must be an integer in [0, 2^31)"},
    {"kernel_index", "abi_version_nested_20000_deep.json",
     "kernel ABI version array, but this Kiln launches version"},
};

bool RunOpenBugs() {
  const char* value = std::getenv("KILN_FUZZ_REPLAY_OPEN");
  return value != nullptr && std::string(value) == "1";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The regular files of `dir`, sorted; none if it does not exist.
std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

const FuzzTarget& TargetNamed(const std::string& name) {
  for (const FuzzTarget& t : AllFuzzTargets()) {
    if (name == t.name) return t;
  }
  ADD_FAILURE() << "no fuzz target named " << name;
  return AllFuzzTargets()[0];
}

TEST(ReplayTest, EveryTargetHasASeedCorpus) {
  for (const FuzzTarget& target : AllFuzzTargets()) {
    EXPECT_FALSE(FilesIn(fs::path(kFuzzDir) / "corpus" / target.name).empty()) << target.name;
  }
}

TEST(ReplayTest, CorpusInputsRunAndOkSeedsAreAccepted) {
  for (const FuzzTarget& target : AllFuzzTargets()) {
    for (const fs::path& file : FilesIn(fs::path(kFuzzDir) / "corpus" / target.name)) {
      const absl::Status status = target.run(ReadFile(file));
      if (file.filename().string().rfind("ok_", 0) == 0) {
        EXPECT_TRUE(status.ok()) << file << ": " << status;
      }
    }
  }
}

TEST(ReplayTest, EveryRegressionInputIsListed) {
  std::set<std::pair<std::string, std::string>> listed;
  for (const Regression& r : kRegressions) listed.insert({r.target, r.file});
  std::set<std::pair<std::string, std::string>> present;
  for (const FuzzTarget& target : AllFuzzTargets()) {
    for (const fs::path& file : FilesIn(fs::path(kFuzzDir) / "regressions" / target.name)) {
      present.insert({target.name, file.filename().string()});
    }
  }
  for (const auto& [target, file] : present) {
    EXPECT_TRUE(listed.count({target, file})) << "regressions/" << target << "/" << file
                                              << " has no entry in kRegressions";
  }
  for (const auto& [target, file] : listed) {
    EXPECT_TRUE(present.count({target, file})) << "kRegressions lists missing input regressions/"
                                               << target << "/" << file;
  }
}

TEST(ReplayTest, RegressionInputsHaveTheirOutcome) {
  for (const Regression& r : kRegressions) {
    const fs::path path = fs::path(kFuzzDir) / "regressions" / r.target / r.file;
    SCOPED_TRACE(path.string());
    if (r.open_bug != nullptr && !RunOpenBugs()) {
      std::printf("skipping %s: open bug: %s\n", path.c_str(), r.open_bug);
      continue;
    }
    const absl::Status status = TargetNamed(r.target).run(ReadFile(path));
    if (r.error == nullptr) {
      EXPECT_TRUE(status.ok()) << status;
    } else {
      EXPECT_FALSE(status.ok());
      EXPECT_NE(std::string(status.message()).find(r.error), std::string::npos) << status;
    }
  }
}

// Too big to commit (200 KB): a config.json whose rope_parameters hold
// 100000 nested arrays. nlohmann's recursive parse, copy (ConfigReader::
// Object) and dump (the field errors) would overflow the stack, so
// ConfigReader::Parse rejects deep nesting first.
TEST(ReplayTest, DeeplyNestedConfigIsAnError) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string config = R"({"model_type": "llama", "vocab_size": 8, "hidden_size": 8,)"
                             R"( "intermediate_size": 8, "num_hidden_layers": 1,)"
                             R"( "num_attention_heads": 2, "max_position_embeddings": 8,)"
                             R"( "rope_parameters": {"rope_theta": 10000.0, "x": )" +
                             deep + "}}";
  const absl::Status status = FuzzConfig(config);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("nesting"), std::string::npos) << status;
  // The same depth as a field's value reaches the error message's dump.
  const absl::Status field = FuzzConfig(R"({"model_type": "llama", "vocab_size": )" + deep + "}");
  EXPECT_NE(std::string(field.message()).find("nesting"), std::string::npos) << field;
}

}  // namespace
}  // namespace kiln::fuzz
