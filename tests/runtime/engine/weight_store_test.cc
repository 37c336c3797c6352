// The weight store: views of the mapped file in the stored dtype, bound to
// the module's declarations; its f32 widening against the stored values; and
// a file that does not match the IR refused naming the weight.
#include "runtime/engine/weight_store.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/mapped_file.h"
#include "gtest/gtest.h"
#include "ir/type.h"
#include "models/safetensors_writer.h"

namespace kiln {
namespace {

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

Module TwoWeights() {
  Module module;
  module.weights.push_back({"embed", {DType::kBF16, MakeShape({3, 5})}});
  module.weights.push_back({"norm", {DType::kBF16, MakeShape({5})}});
  return module;
}

// bf16 values that are exact, so widening them must give them back.
std::vector<float> Values(int n, float scale) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(scale * static_cast<float>(i - n / 2) / 8.0f);
  return v;
}

std::string WriteFile(const std::string& name, DType embed_dtype, std::vector<int64_t> embed_shape,
                      bool with_norm = true) {
  const std::string path = TempPath(name);
  const std::vector<uint8_t> embed = EncodeFloats(Values(15, 1.0f), embed_dtype);
  const std::vector<uint8_t> norm = EncodeFloats(Values(5, 3.0f), DType::kBF16);
  std::vector<TensorToWrite> tensors = {{"embed", embed_dtype, embed_shape, embed}};
  if (with_norm) tensors.push_back({"norm", DType::kBF16, {5}, norm});
  EXPECT_TRUE(WriteSafetensors(path, tensors, {{"format", "kiln"}}).ok());
  return path;
}

TEST(WeightStoreTest, ViewsHoldTheStoredBytesAndWidenExactly) {
  const std::string path = WriteFile("ok.safetensors", DType::kBF16, {3, 5});
  absl::StatusOr<WeightStore> store = WeightStore::Open(path, TwoWeights());
  ASSERT_TRUE(store.ok()) << store.status();
  const WeightView* embed = store->Find("embed");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, DType::kBF16);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{3, 5}));
  const std::vector<uint8_t> stored = EncodeFloats(Values(15, 1.0f), DType::kBF16);
  EXPECT_EQ(std::vector<uint8_t>(embed->bytes.begin(), embed->bytes.end()), stored);
  EXPECT_EQ(store->stored_bytes(), 2 * (15 + 5));
  EXPECT_EQ(store->Find("missing"), nullptr);

  // Moving the store keeps its views valid: the mapping does not move.
  WeightStore moved = *std::move(store);
  absl::StatusOr<WeightMap> host = moved.ToHostTensors();
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->at("embed").floats, Values(15, 1.0f));
  EXPECT_EQ(host->at("norm").floats, Values(5, 3.0f));
  // Widening dropped the views' pages from residency; reading them again
  // faults them back in from the file, unchanged.
  EXPECT_EQ(std::vector<uint8_t>(moved.Find("embed")->bytes.begin(),
                                 moved.Find("embed")->bytes.end()),
            stored);
}

TEST(WeightStoreTest, FilesThatDoNotMatchTheIrAreRefusedNamingTheWeight) {
  struct Case {
    std::string file;
    DType dtype;
    std::vector<int64_t> shape;
    bool with_norm;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"f32.safetensors", DType::kF32, {3, 5}, true, "tensor \"embed\" is f32[3,5]"},
           {"shape.safetensors", DType::kBF16, {5, 3}, true, "model.ir declares bf16[3,5]"},
           {"missing.safetensors", DType::kBF16, {3, 5}, false, "has no tensor \"norm\""}}) {
    absl::StatusOr<WeightStore> store =
        WeightStore::Open(WriteFile(c.file, c.dtype, c.shape, c.with_norm), TwoWeights());
    ASSERT_FALSE(store.ok()) << c.file;
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
    EXPECT_NE(std::string(store.status().message()).find(c.expected), std::string::npos)
        << store.status();
  }
  EXPECT_FALSE(WeightStore::Open(TempPath("absent.safetensors"), TwoWeights()).ok());
}

TEST(DropResidentPagesTest, ContentsSurviveAndOddRangesAreSafe) {
  const std::string path = TempPath("pages.bin");
  {
    std::vector<float> big(300000);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
    std::vector<uint8_t> bytes = EncodeFloats(big, DType::kF32);
    ASSERT_TRUE(WriteSafetensors(path, {{"x", DType::kF32, {300000}, bytes}}, {}).ok());
  }
  absl::StatusOr<MappedFile> file = MappedFile::Open(path, "test file");
  ASSERT_TRUE(file.ok()) << file.status();
  const std::vector<uint8_t> before(file->bytes().begin(), file->bytes().end());
  DropResidentPages(file->bytes());
  DropResidentPages(file->bytes().subspan(1, 4097));  // no whole page inside: a no-op
  DropResidentPages(file->bytes().subspan(0, 0));
  EXPECT_EQ(std::vector<uint8_t>(file->bytes().begin(), file->bytes().end()), before);
}

}  // namespace
}  // namespace kiln
