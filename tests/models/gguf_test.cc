// GgufFile: valid files read back exactly; every malformed or hostile file
// fails with its own error (the checks behind llama.cpp's GGUF CVEs among
// them); llama.cpp's own vocabulary GGUFs open.
#include "models/gguf.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/models/file_builder.h"
#include "third_party/references/reference_files.h"

namespace kiln {
namespace {

using B = GgufBuilder;

absl::StatusOr<std::unique_ptr<GgufFile>> OpenBuilt(const std::string& name, const B& b) {
  return GgufFile::Open(WriteTestFile("gguf/" + name + ".gguf", b.Build()));
}

std::string F32Bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    out += Le32(bits);
  }
  return out;
}

std::string F64Bytes(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  return Le64(bits);
}

// --- Files that must open -------------------------------------------------

TEST(GgufTest, EveryValueTypeReadsBack) {
  B b;
  b.Kv("u8", B::kUint8, std::string(1, '\xC8'))
      .Kv("i8", B::kInt8, std::string(1, '\xF6'))  // -10
      .Kv("u16", B::kUint16, Le16(65535))
      .Kv("i16", B::kInt16, Le16(static_cast<uint16_t>(-300)))
      .Uint32("u32", 4000000000u)
      .Kv("i32", B::kInt32, Le32(static_cast<uint32_t>(-7)))
      .Kv("u64", B::kUint64, Le64(std::numeric_limits<uint64_t>::max()))
      .Kv("i64", B::kInt64, Le64(static_cast<uint64_t>(int64_t{-1} << 40)))
      .Kv("f32", B::kFloat32, F32Bytes({1.5f}))
      .Kv("f64", B::kFloat64, F64Bytes(-2.25))
      .Kv("yes", B::kBool, std::string(1, '\1'))
      .Kv("no", B::kBool, std::string(1, '\0'))
      .String("name", "Kiln \xE2\x9C\x93")
      .String("empty", "")
      .StringArray("tokens", {"<unk>", "", "\xE2\x96\x81the", std::string("a\0b", 3)})
      .Array("scores", B::kFloat32, 3, F32Bytes({0.0f, -1.25f, 3.5f}))
      .Array("scores64", B::kFloat64, 1, F64Bytes(0.5))
      .Array("types", B::kInt32, 3, Le32(1) + Le32(static_cast<uint32_t>(-2)) + Le32(3))
      .Array("bytes", B::kUint8, 2, "\x05\xFF")
      .Array("flags", B::kBool, 2, std::string("\1\0", 2))
      .Array("nothing", B::kString, 0, "");
  auto file = OpenBuilt("all_types", b);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 21u);
  EXPECT_TRUE(f.tensors().empty());

  EXPECT_EQ(*f.GetUint("u8"), 200u);
  EXPECT_EQ(*f.GetInt("i8"), -10);
  EXPECT_EQ(*f.GetUint("u16"), 65535u);
  EXPECT_EQ(*f.GetInt("i16"), -300);
  EXPECT_EQ(*f.GetUint("u32"), 4000000000u);
  EXPECT_EQ(*f.GetInt("u32"), 4000000000);
  EXPECT_EQ(*f.GetInt("i32"), -7);
  EXPECT_EQ(*f.GetUint("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*f.GetInt("i64"), int64_t{-1} << 40);
  EXPECT_EQ(*f.GetFloat("f32"), 1.5);
  EXPECT_EQ(*f.GetFloat("f64"), -2.25);
  EXPECT_TRUE(*f.GetBool("yes"));
  EXPECT_FALSE(*f.GetBool("no"));
  EXPECT_EQ(*f.GetString("name"), "Kiln \xE2\x9C\x93");
  EXPECT_EQ(*f.GetString("empty"), "");
  EXPECT_EQ(
      *f.GetStringArray("tokens"),
      (std::vector<std::string_view>{"<unk>", "", "\xE2\x96\x81the", std::string_view("a\0b", 3)}));
  EXPECT_EQ(*f.GetArraySize("tokens"), 4u);
  EXPECT_EQ(*f.GetFloatArray("scores"), (std::vector<float>{0.0f, -1.25f, 3.5f}));
  EXPECT_EQ(*f.GetFloatArray("scores64"), (std::vector<float>{0.5f}));
  EXPECT_EQ(*f.GetIntArray("types"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(*f.GetIntArray("bytes"), (std::vector<int64_t>{5, 255}));
  EXPECT_EQ(*f.GetArraySize("flags"), 2u);
  EXPECT_TRUE(f.GetStringArray("nothing")->empty());

  const GgufValue* flags = f.Find("flags");
  ASSERT_NE(flags, nullptr);
  EXPECT_EQ(flags->type, GgufValueType::kArray);
  EXPECT_EQ(flags->element_type, GgufValueType::kBool);
  EXPECT_TRUE(f.Has("u8"));
  EXPECT_FALSE(f.Has("u9"));
}

TEST(GgufTest, TypedGettersNameTheStoredType) {
  B b;
  b.Uint32("count", 7)
      .Kv("neg", B::kInt8, "\xFF")
      .Kv("big", B::kUint64, Le64(uint64_t{1} << 63))
      .Array("ids", B::kInt32, 1, Le32(1))
      .Array("huge", B::kUint64, 1, Le64(uint64_t{1} << 63))
      .String("text", "x");
  auto file = OpenBuilt("getters", b);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  EXPECT_TRUE(FailsWith(f.GetString("count").status(),
                        "metadata key \"count\" (offset 41) is uint32, expected string"));
  EXPECT_TRUE(FailsWith(f.GetUint("neg").status(), "is -1, expected a non-negative integer"));
  EXPECT_TRUE(FailsWith(f.GetInt("big").status(), "is 9223372036854775808, which exceeds int64"));
  EXPECT_TRUE(FailsWith(f.GetFloat("count").status(), "is uint32, expected float32 or float64"));
  EXPECT_TRUE(FailsWith(f.GetBool("text").status(), "is string, expected bool"));
  EXPECT_TRUE(FailsWith(f.GetUint("text").status(), "is string, expected an unsigned integer"));
  EXPECT_TRUE(
      FailsWith(f.GetStringArray("ids").status(), "is array of int32, expected array of string"));
  EXPECT_TRUE(FailsWith(f.GetFloatArray("ids").status(), "expected array of float32"));
  EXPECT_TRUE(FailsWith(f.GetIntArray("text").status(), "is string, expected array of integers"));
  EXPECT_TRUE(FailsWith(f.GetIntArray("huge").status(), "element 0 is 9223372036854775808"));
  EXPECT_TRUE(FailsWith(f.GetArraySize("count").status(), "expected an array"));
  const absl::Status missing = f.GetUint("nope").status();
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_TRUE(FailsWith(missing, "no metadata key \"nope\""));
}

// Vocabulary-only GGUFs have metadata and no tensors, and may end right
// after the last value, without padding.
TEST(GgufTest, MetadataOnlyFileWithoutPadding) {
  B b(2);
  b.String("general.architecture", "llama").StringArray("tokenizer.ggml.tokens", {"a", "b"});
  const std::string bytes = b.Build();
  auto file = GgufFile::Open(WriteTestFile("gguf/vocab_only.gguf", bytes));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->version(), 2u);
  EXPECT_TRUE((*file)->tensors().empty());
  EXPECT_EQ((*file)->data_offset(), bytes.size());
  EXPECT_EQ((*file)->GetStringArray("tokenizer.ggml.tokens")->size(), 2u);
}

TEST(GgufTest, TensorsReadBack) {
  const std::string f32 = F32Bytes({1, 2, 3, 4, 5, 6});
  const std::string q4 = std::string(2 * 2 * 18, '\x11');  // 2 rows of 64 = 2 blocks each.
  B b;
  b.String("general.architecture", "llama")
      .Tensor("w", B::kF32, {3, 2}, f32)
      .Tensor("q", B::kQ4_0, {64, 2}, q4)
      .Tensor("empty", B::kF16, {0, 5}, "")
      .Tensor("scalar", B::kF32, {}, F32Bytes({7}));
  auto file = OpenBuilt("tensors", b);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.tensors()[0].name, "w");  // File order.

  const GgufTensor* w = f.FindTensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->type, GgmlType::kF32);
  EXPECT_EQ(w->ne, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(w->RowMajorShape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->n_elements, 6);
  EXPECT_EQ(w->n_bytes, 24u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(w->data.data()), w->data.size()), f32);

  const GgufTensor* q = f.FindTensor("q");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->n_bytes, 72u);
  EXPECT_EQ(q->offset, 32u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q->data.data()) % 32, 0u);  // Mapping is page-aligned.
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(q->data.data()), q->data.size()), q4);

  EXPECT_EQ(f.FindTensor("empty")->n_bytes, 0u);
  EXPECT_EQ(f.FindTensor("empty")->n_elements, 0);
  EXPECT_EQ(f.FindTensor("scalar")->n_elements, 1);
  EXPECT_TRUE(f.FindTensor("scalar")->RowMajorShape().empty());
  EXPECT_EQ(f.FindTensor("nope"), nullptr);
}

TEST(GgufTest, CustomAlignment) {
  B b;
  b.Alignment(64)
      .Tensor("a", B::kF32, {3}, F32Bytes({1, 2, 3}))
      .Tensor("b", B::kF32, {1}, F32Bytes({4}));
  auto file = OpenBuilt("align64", b);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->alignment(), 64u);
  EXPECT_EQ((*file)->data_offset() % 64, 0u);
  EXPECT_EQ((*file)->FindTensor("b")->offset, 64u);
}

TEST(GgufTest, OpenBytesParsesMemory) {
  B b;
  b.Uint32("n", 5).Tensor("t", B::kF32, {1}, F32Bytes({1}));
  const std::string bytes = b.Build();
  auto file = GgufFile::OpenBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
      "memory");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*(*file)->GetUint("n"), 5u);
  EXPECT_TRUE(FailsWith(GgufFile::OpenBytes({}, "nothing").status(), "nothing: offset 0"));
}

// The block sizes Kiln's quantized loaders will depend on.
TEST(GgufTest, GgmlTypeTable) {
  struct Expected {
    GgmlType type;
    int64_t block, bytes;
  };
  for (const Expected& e : std::vector<Expected>{
           {GgmlType::kF32, 1, 4},      {GgmlType::kF16, 1, 2},      {GgmlType::kBF16, 1, 2},
           {GgmlType::kF64, 1, 8},      {GgmlType::kI8, 1, 1},       {GgmlType::kI16, 1, 2},
           {GgmlType::kI32, 1, 4},      {GgmlType::kI64, 1, 8},      {GgmlType::kQ4_0, 32, 18},
           {GgmlType::kQ4_1, 32, 20},   {GgmlType::kQ5_0, 32, 22},   {GgmlType::kQ5_1, 32, 24},
           {GgmlType::kQ8_0, 32, 34},   {GgmlType::kQ2_K, 256, 84},  {GgmlType::kQ3_K, 256, 110},
           {GgmlType::kQ4_K, 256, 144}, {GgmlType::kQ5_K, 256, 176}, {GgmlType::kQ6_K, 256, 210},
           {GgmlType::kQ8_K, 256, 292}, {GgmlType::kMXFP4, 32, 17},
       }) {
    const std::optional<GgmlTypeTraits> info = GgmlTypeInfo(e.type);
    ASSERT_TRUE(info.has_value()) << static_cast<uint32_t>(e.type);
    EXPECT_EQ(info->block_size, e.block) << info->name;
    EXPECT_EQ(info->type_size, e.bytes) << info->name;
  }
  EXPECT_EQ(GgmlTypeName(GgmlType::kQ6_K), "Q6_K");
  EXPECT_EQ(GgmlTypeName(static_cast<GgmlType>(99)), "unknown");
  EXPECT_EQ(GgmlTypeProblem(12), "");
}

// --- Files that must fail, each with its own error ------------------------

struct Hostile {
  std::string name;
  std::string bytes;
  std::string error;  // Must appear in the message, after "<path>: ".
};

std::vector<Hostile> HostileFiles() {
  constexpr uint64_t k2e60 = uint64_t{1} << 60;
  const std::string f32x2 = F32Bytes({1, 2});
  // Header and one tensor info ("t", 1 dim), without the padding after it.
  const std::string unpadded = B().TensorInfo("t", B::kF32, {1}, 0).Build().substr(0, 24 + 33);
  return {
      {"bad_magic", "GGML" + B().Build().substr(4),
       "offset 0: bad magic \"GGML\": not a GGUF file"},
      {"empty_file", "",
       "offset 0: truncated: the magic needs 4 bytes but the file (0 bytes) has 0"},
      {"version_1", B(1).Build(), "offset 4: GGUF version 1 is not supported"},
      {"version_4", B(4).Build(),
       "offset 4: unsupported GGUF version 4 (Kiln reads versions 2 and 3)"},
      {"big_endian", B(0x03000000).Build(),
       "big-endian GGUF file (version field 0x03000000 is version 3 byte-swapped)"},
      // CVE-2024-23496-style lengths past the end of the file.
      {"string_past_file", B().Kv("general.name", B::kString, Le64(1000) + "abc").Build(),
       "offset 48: metadata key \"general.name\": string value length 1000 exceeds the 3 bytes "
       "left in the file"},
      {"key_past_file", B().RawKv(Le64(uint64_t{1} << 40) + std::string(20, 'k')).Build(),
       "offset 24: metadata entry 0: key length 1099511627776 exceeds the 20 bytes left"},
      {"key_over_spec_limit", B().Kv(std::string(65536, 'k'), B::kUint8, "\1").Build(),
       "key length 65536 exceeds GGUF's limit of 65535 bytes"},
      {"array_past_file", B().Array("s", B::kFloat32, uint64_t{1} << 62, F32Bytes({1})).Build(),
       "metadata key \"s\": array length 4611686018427387904 of float32 (4 bytes each) exceeds "
       "the 4 bytes left"},
      {"string_array_past_file", B().Array("t", B::kString, k2e60, B::Str("a")).Build(),
       "array length 1152921504606846976 exceeds the 9 bytes left in the file (a string takes "
       "at least 8)"},
      {"string_element_past_file",
       B().Array("t", B::kString, 2, B::Str("a") + Le64(99) + "b").Build(),
       "array element 1: string length 99 exceeds the 1 bytes left"},
      {"kv_count_absurd", B().DeclareCounts(0, k2e60).Build(),
       "offset 16: metadata count 1152921504606846976 cannot fit in the 0 bytes"},
      {"tensor_count_absurd", B().String("k", "v").DeclareCounts(k2e60, 1).Build(),
       "offset 8: tensor count 1152921504606846976 cannot fit in the 22 bytes"},
      {"counts_together_too_big",
       B().String("k", std::string(100, 'x')).DeclareCounts(5, 9).Build(),
       "5 tensor infos and 9 metadata entries cannot fit in the 121 bytes"},
      {"unknown_value_type", B().Kv("k", 13, "\1").Build(),
       "metadata key \"k\": unknown metadata value type 13"},
      {"unknown_array_element_type", B().Array("k", 99, 0, "").Build(),
       "unknown metadata value type 99 in an array"},
      {"nested_array", B().Array("k", B::kArray, 1, Le32(B::kUint8) + Le64(0)).Build(),
       "nested arrays are not supported"},
      {"bool_not_0_or_1", B().Kv("flag", B::kBool, "\2").Build(),
       "bool value 2 is neither 0 nor 1"},
      {"bool_array_not_0_or_1", B().Array("f", B::kBool, 3, std::string("\1\0\7", 3)).Build(),
       "bool value 7 is neither 0 nor 1 (element 2)"},
      {"duplicate_key", B().Uint32("a", 1).Uint32("a", 2).Build(),
       "metadata key \"a\": duplicate key"},
      {"alignment_not_power_of_two", B().Alignment(48).Build(),
       "alignment 48 is not a power of two"},
      {"alignment_zero", B().Uint32("general.alignment", 0).Build(), "alignment 0 is not a power"},
      {"alignment_wrong_type", B().Kv("general.alignment", B::kUint64, Le64(32)).Build(),
       "alignment has type uint64, expected uint32"},
      {"tensor_name_past_file",
       B().RawTensorInfo(Le64(uint64_t{1} << 50) + std::string(30, 't')).Build(),  // Padded to 64.
       "offset 24: tensor info 0: tensor name length 1125899906842624 exceeds the 32 bytes"},
      {"n_dims_too_large", B().TensorInfo("t", B::kF32, {1, 1, 1, 1, 1}, 0).Build(),
       "tensor \"t\": n_dims 5 exceeds ggml's limit of 4"},
      {"negative_dim", B().TensorInfo("t", B::kF32, {static_cast<uint64_t>(-4)}, 0).Build(),
       "ne[0] = -4 is negative"},
      // CVE-2025-53630-style size overflows.
      {"dims_product_overflow", B().TensorInfo("t", B::kF32, {1ull << 32, 1ull << 32}, 0).Build(),
       "shape [4294967296, 4294967296]: the element count overflows int64"},
      {"bytes_overflow_f32", B().TensorInfo("t", B::kF32, {1ull << 61, 2}, 0).Build(),
       "shape [2305843009213693952, 2] of F32: the byte size overflows int64"},
      // (2^63 - 32) / 32 blocks x 34 bytes > 2^63.
      {"bytes_overflow_q8_0", B().TensorInfo("t", B::kQ8_0, {(1ull << 63) - 32}, 0).Build(),
       "of Q8_0: the byte size overflows int64"},
      {"block_size_mismatch", B().Tensor("t", B::kQ4_K, {100}, std::string(144, '\0')).Build(),
       "ne[0] = 100 is not a multiple of the Q4_K block size 256"},
      {"unknown_ggml_type", B().TensorInfo("t", 99, {1}, 0).Build(), "unknown ggml type 99"},
      {"removed_ggml_type", B().TensorInfo("t", 31, {1}, 0).Build(),
       "ggml type 31 (Q4_0_4_4) has been removed from ggml"},
      {"duplicate_tensor_name",
       B().Tensor("t", B::kF32, {1}, F32Bytes({1}))
           .Tensor("t", B::kF32, {1}, F32Bytes({2}))
           .Build(),
       "tensor \"t\": duplicate tensor name (tensor info 0 has it too)"},
      {"misaligned_offset", B().TensorInfo("t", B::kF32, {1}, 4).Data(f32x2).Build(),
       "data offset 4 is not a multiple of the alignment 32"},
      // CVE-2026-33298-style data outside the file.
      {"data_past_end", B().Tensor("t", B::kF32, {4}, f32x2).Build(),
       "tensor \"t\": data (16 bytes at data offset 0) runs past the end of the file: the data "
       "section has 8 bytes"},
      {"offset_wraps_around", B().TensorInfo("t", B::kF32, {8}, ~uint64_t{31}).Data(f32x2).Build(),
       "runs past the end of the file"},
      {"data_section_past_end", unpadded,
       "truncated: the data section would start at offset 64 (alignment 32), past the end of the "
       "file (57 bytes)"},
      {"overlapping_tensors",
       B().TensorInfo("a", B::kF32, {16}, 0)
           .TensorInfo("b", B::kF32, {8}, 32)
           .Data(std::string(64, '\0'))
           .Build(),
       "tensor \"b\" data [32, 64) overlaps tensor \"a\" data [0, 64)"},
  };
}

class GgufHostileTest : public ::testing::TestWithParam<Hostile> {};

TEST_P(GgufHostileTest, FailsWithItsError) {
  const Hostile& h = GetParam();
  const std::string path = WriteTestFile("gguf/hostile_" + h.name + ".gguf", h.bytes);
  const absl::Status status = GgufFile::Open(path).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_TRUE(FailsWith(status, path + ": offset ")) << status;
  EXPECT_TRUE(FailsWith(status, h.error));
}

INSTANTIATE_TEST_SUITE_P(All, GgufHostileTest, ::testing::ValuesIn(HostileFiles()),
                         [](const ::testing::TestParamInfo<Hostile>& info) {
                           return info.param.name;
                         });

// Every proper prefix of a valid file must fail cleanly: from memory of
// exactly that size (so a sanitizer build catches any read past the end),
// and from a file.
TEST(GgufTest, EveryTruncationFails) {
  B b;
  b.String("general.architecture", "llama")
      .Kv("f", B::kFloat32, F32Bytes({1}))
      .Kv("flag", B::kBool, "\1")
      .StringArray("tokens", {"a", "bc"})
      .Array("ids", B::kInt32, 2, Le32(1) + Le32(2))
      .Tensor("w", B::kF32, {2, 2}, F32Bytes({1, 2, 3, 4}))
      .Tensor("q", B::kQ8_0, {32}, std::string(34, '\3'));
  const std::string bytes = b.Build();
  ASSERT_TRUE(OpenBuilt("whole", b).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + n);
    const absl::Status in_memory =
        GgufFile::OpenBytes(std::span<const uint8_t>(prefix.data(), n), "prefix").status();
    EXPECT_TRUE(absl::IsInvalidArgument(in_memory)) << n << ": " << in_memory;
    const std::string path = WriteTestFile("gguf/prefix.gguf", bytes.substr(0, n));
    const absl::Status from_file = GgufFile::Open(path).status();
    EXPECT_TRUE(absl::IsInvalidArgument(from_file)) << n << ": " << from_file;
    EXPECT_TRUE(FailsWith(from_file, path + ": offset ")) << n;
  }
}

// Random byte corruptions of a valid file (a deterministic mini-fuzz that
// runs in every build; the sanitizer build turns any overread into a
// failure): each must either open, with its invariants holding, or fail.
TEST(GgufTest, RandomCorruptionsOpenOrFailCleanly) {
  B b;
  b.String("general.architecture", "llama")
      .StringArray("tokens", {"a", "bc", "def"})
      .Array("ids", B::kInt32, 2, Le32(1) + Le32(2))
      .Tensor("w", B::kF32, {2, 2}, F32Bytes({1, 2, 3, 4}))
      .Tensor("q", B::kQ8_0, {32}, std::string(34, '\3'));
  const std::string valid = b.Build();
  std::mt19937 rng(20240601);
  int opened = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    std::vector<uint8_t> bytes(valid.begin(), valid.end());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const uint32_t r = rng();
      bytes[r % bytes.size()] = (r >> 16) % 3 == 0 ? 0xFF : static_cast<uint8_t>(r >> 24);
    }
    auto file = GgufFile::OpenBytes(std::span<const uint8_t>(bytes.data(), bytes.size()), "m");
    if (!file.ok()) {
      EXPECT_TRUE(absl::IsInvalidArgument(file.status())) << file.status();
      continue;
    }
    ++opened;
    for (const GgufTensor& t : (*file)->tensors()) {
      EXPECT_GE(t.data.data(), bytes.data());
      EXPECT_LE(t.data.data() + t.data.size(), bytes.data() + bytes.size());
    }
    for (const auto& [key, value] : (*file)->metadata()) {
      if (value.element_type == GgufValueType::kString && value.type == GgufValueType::kArray) {
        EXPECT_TRUE((*file)->GetStringArray(key).ok());
      }
    }
  }
  EXPECT_GT(opened, 0);  // Some flips land in data or string bytes.
}

TEST(GgufTest, NotAFile) {
  EXPECT_TRUE(absl::IsNotFound(GgufFile::Open(TestDir() + "/gguf/missing.gguf").status()));
  EXPECT_TRUE(FailsWith(GgufFile::Open(TestDir()).status(), "not a regular file"));
}

// --- llama.cpp's vocabulary GGUFs (tools/fetch_references.sh) -------------

TEST(GgufReferenceTest, LlamaCppVocabulariesHaveTheirTokenCounts) {
  struct Vocab {
    const char* file;
    const char* model;
    uint64_t tokens;
  };
  for (const Vocab& v : {Vocab{"ggml-vocab-llama-spm.gguf", "llama", 32000},
                         Vocab{"ggml-vocab-llama-bpe.gguf", "gpt2", 128256},
                         Vocab{"ggml-vocab-gpt-2.gguf", "gpt2", 50257}}) {
    const absl::StatusOr<std::string> path = ReferenceFile("llama_cpp_vocab", v.file);
    ASSERT_TRUE(path.ok()) << path.status();
    auto file = GgufFile::Open(*path);
    ASSERT_TRUE(file.ok()) << file.status();
    const GgufFile& f = **file;
    EXPECT_TRUE(f.tensors().empty()) << v.file;
    EXPECT_EQ(*f.GetString("tokenizer.ggml.model"), v.model) << v.file;
    const auto tokens = f.GetStringArray("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    EXPECT_EQ(tokens->size(), v.tokens) << v.file;
    EXPECT_EQ(f.GetIntArray("tokenizer.ggml.token_type")->size(), v.tokens) << v.file;
  }
  auto spm = GgufFile::Open(*ReferenceFile("llama_cpp_vocab", "ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(spm.ok()) << spm.status();
  const auto tokens = *(*spm)->GetStringArray("tokenizer.ggml.tokens");
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[13], "<0x0A>");
  EXPECT_EQ((*spm)->GetFloatArray("tokenizer.ggml.scores")->size(), 32000u);
  EXPECT_EQ(*(*spm)->GetUint("tokenizer.ggml.bos_token_id"), 1u);
}

// Every vocabulary llama.cpp ships opens, including the v2 one (aquila).
TEST(GgufReferenceTest, EveryLlamaCppVocabularyOpens) {
  const auto paths = ReferenceFiles("llama_cpp_vocab", ".gguf");
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_GE(paths->size(), 17u);
  for (const std::string& path : *paths) {
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    const auto n = (*file)->GetArraySize("tokenizer.ggml.tokens");
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_GT(*n, 1000u) << path;
    EXPECT_EQ((*file)->GetStringArray("tokenizer.ggml.tokens")->size(), *n) << path;
  }
}

}  // namespace
}  // namespace kiln
