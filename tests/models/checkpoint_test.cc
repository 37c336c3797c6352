// Checkpoint: single-file and sharded Hugging Face model directories, and
// the ways a sharded index can disagree with its shards or escape its
// directory.
#include "models/checkpoint.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/models/file_builder.h"

namespace kiln {
namespace {

// A safetensors file holding one F32 scalar per name, with value i + base.
std::string ScalarsFile(const std::vector<std::string>& names, float base = 0.0f) {
  std::string header = "{";
  std::string data;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) header += ",";
    header += "\"" + names[i] + "\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[" +
              std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
    const float value = base + static_cast<float>(i);
    data.append(reinterpret_cast<const char*>(&value), 4);
  }
  return Safetensors(header + "}", data);
}

float ScalarValue(const TensorEntry* t) {
  float value = 0;
  std::memcpy(&value, t->bytes.data(), 4);
  return value;
}

// Writes a two-shard checkpoint into TestDir()/`dir` with the given index
// text; returns the directory path.
std::string TwoShardDir(const std::string& dir, const std::string& index) {
  WriteTestFile(dir + "/model-00001-of-00002.safetensors", ScalarsFile({"a", "b"}, 10.0f));
  WriteTestFile(dir + "/model-00002-of-00002.safetensors", ScalarsFile({"c"}, 20.0f));
  WriteTestFile(dir + "/model.safetensors.index.json", index);
  return TestDir() + "/" + dir;
}

constexpr char kGoodIndex[] = R"({
  "metadata": {"total_size": 12},
  "weight_map": {
    "a": "model-00001-of-00002.safetensors",
    "b": "model-00001-of-00002.safetensors",
    "c": "model-00002-of-00002.safetensors"
  }
})";

TEST(CheckpointTest, OpensSingleFileDirectory) {
  WriteTestFile("single/model.safetensors", ScalarsFile({"w2", "w1"}, 5.0f));
  absl::StatusOr<Checkpoint> ckpt = Checkpoint::Open(TestDir() + "/single");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->Names(), (std::vector<std::string>{"w1", "w2"}));
  ASSERT_NE(ckpt->Find("w2"), nullptr);
  EXPECT_EQ(ScalarValue(ckpt->Find("w2")), 5.0f);
  EXPECT_EQ(ckpt->Find("nope"), nullptr);
  EXPECT_EQ(ckpt->files().size(), 1u);
}

TEST(CheckpointTest, OpenFileOpensOneFile) {
  const std::string path = WriteTestFile("loose.safetensors", ScalarsFile({"x"}, 1.0f));
  absl::StatusOr<Checkpoint> ckpt = Checkpoint::OpenFile(path);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->Names(), std::vector<std::string>{"x"});
  EXPECT_TRUE(FailsWith(Checkpoint::OpenFile(TestDir() + "/none.safetensors").status(),
                        "none.safetensors"));
}

TEST(CheckpointTest, OpensTwoShards) {
  const std::string dir = TwoShardDir("sharded", kGoodIndex);
  absl::StatusOr<Checkpoint> ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->Names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ckpt->files().size(), 2u);
  EXPECT_EQ(ScalarValue(ckpt->Find("a")), 10.0f);
  EXPECT_EQ(ScalarValue(ckpt->Find("b")), 11.0f);
  EXPECT_EQ(ScalarValue(ckpt->Find("c")), 20.0f);

  // Entries stay valid when the checkpoint moves.
  const TensorEntry* c = ckpt->Find("c");
  Checkpoint moved = std::move(ckpt).value();
  EXPECT_EQ(moved.Find("c"), c);
  EXPECT_EQ(ScalarValue(moved.Find("c")), 20.0f);
}

TEST(CheckpointTest, IndexTakesPrecedenceOverSingleFile) {
  const std::string dir = TwoShardDir("both", kGoodIndex);
  WriteTestFile("both/model.safetensors", ScalarsFile({"other"}));
  absl::StatusOr<Checkpoint> ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->Find("other"), nullptr);
}

TEST(CheckpointTest, MissingCheckpointNamesBothFiles) {
  const absl::Status status = Checkpoint::Open(TestDir() + "/empty_dir_that_is_missing").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(FailsWith(status, "empty_dir_that_is_missing"));
  EXPECT_TRUE(FailsWith(status, "model.safetensors.index.json"));
  EXPECT_TRUE(FailsWith(status, "model.safetensors (single file)"));
}

TEST(CheckpointTest, RejectsShardPathTraversal) {
  // A file outside the checkpoint directory that a hostile index points at.
  WriteTestFile("outside.safetensors", ScalarsFile({"a"}));
  for (const std::string shard :
       {"../outside.safetensors", "/etc/passwd", "sub/x.safetensors", "..", ".", ""}) {
    const std::string index = R"({"weight_map": {"a": ")" + shard + R"("}})";
    const std::string dir = TwoShardDir("traversal", index);
    EXPECT_TRUE(FailsWith(Checkpoint::Open(dir).status(), "not a plain file name")) << shard;
  }
}

TEST(CheckpointTest, RejectsMissingShardFile) {
  const std::string dir =
      TwoShardDir("missing_shard", R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                                      "z": "model-00009-of-00009.safetensors"}})");
  const absl::Status status = Checkpoint::Open(dir).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(
      FailsWith(status, "names shard \"model-00009-of-00009.safetensors\" for tensor \"z\""));
}

TEST(CheckpointTest, RejectsTensorMissingFromItsShard) {
  const std::string dir = TwoShardDir("missing_tensor", R"({"weight_map": {
      "a": "model-00001-of-00002.safetensors",
      "c": "model-00001-of-00002.safetensors"}})");
  EXPECT_TRUE(FailsWith(Checkpoint::Open(dir).status(),
                        "assigns tensor \"c\" to shard \"model-00001-of-00002.safetensors\", but"));
}

TEST(CheckpointTest, RejectsTensorStoredInTwoShards) {
  // The index lists "b" once, but both shards contain it.
  WriteTestFile("dup/s1.safetensors", ScalarsFile({"a", "b"}));
  WriteTestFile("dup/s2.safetensors", ScalarsFile({"b", "c"}));
  WriteTestFile(
      "dup/model.safetensors.index.json",
      R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})");
  const absl::Status status = Checkpoint::Open(TestDir() + "/dup").status();
  EXPECT_TRUE(FailsWith(status, "tensor \"b\" is stored in two shards"));
  EXPECT_TRUE(FailsWith(status, "s1.safetensors and "));
  // The index itself assigning one tensor twice is a duplicate JSON key.
  const std::string dir = TwoShardDir("dup_index", R"({"weight_map": {
      "a": "model-00001-of-00002.safetensors",
      "a": "model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(FailsWith(Checkpoint::Open(dir).status(), "duplicate key \"a\""));
}

TEST(CheckpointTest, RejectsMalformedIndex) {
  struct Case {
    const char* index;
    const char* error;
  };
  const Case cases[] = {
      {"{\"weight_map\": {", "not valid JSON"},
      {"[]", "not a JSON object"},
      {"{}", "no \"weight_map\" object"},
      {"{\"weight_map\": []}", "no \"weight_map\" object"},
      {"{\"weight_map\": {}}", "lists no tensors"},
      {"{\"weight_map\": {\"a\": 3}}", "is not a file name string"},
      {"{\"metadata\": 1, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\"}}",
       "\"metadata\" is not a JSON object"},
      {"{\"weight_map\": {\"a\": \"\xff\"}}", "not valid UTF-8"},
  };
  for (const Case& c : cases) {
    const std::string dir = TwoShardDir("bad_index", c.index);
    const absl::Status status = Checkpoint::Open(dir).status();
    EXPECT_TRUE(FailsWith(status, c.error)) << c.index;
    EXPECT_TRUE(FailsWith(status, "model.safetensors.index.json")) << c.index;
  }
}

TEST(CheckpointTest, ShardErrorsNameTheShard) {
  const std::string dir = TwoShardDir("bad_shard", kGoodIndex);
  WriteTestFile("bad_shard/model-00002-of-00002.safetensors", "short");
  const absl::Status status = Checkpoint::Open(dir).status();
  EXPECT_TRUE(FailsWith(status, "model-00002-of-00002.safetensors"));
  EXPECT_TRUE(FailsWith(status, "shorter than the 8-byte"));
}

}  // namespace
}  // namespace kiln
