// SafetensorsFile: every malformed-file case of TESTING.md fails with its
// own specific error, and the legal corner cases load. Files are built byte
// for byte in $TEST_TMPDIR.
#include "models/safetensors.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/models/file_builder.h"

namespace kiln {
namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  // Writes 8-byte length + header + data, opens it, and returns the status.
  absl::Status OpenStatus(const std::string& header, const std::string& data = "") {
    return SafetensorsFile::Open(WriteTestFile(NextName(), Safetensors(header, data))).status();
  }
  std::unique_ptr<SafetensorsFile> OpenOk(const std::string& header, const std::string& data = "") {
    auto file = SafetensorsFile::Open(WriteTestFile(NextName(), Safetensors(header, data)));
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? std::move(file).value() : nullptr;
  }
  void ExpectError(const std::string& header, const std::string& data,
                   const std::string& substring) {
    EXPECT_TRUE(FailsWith(OpenStatus(header, data), substring)) << "header: " << header;
  }

 private:
  std::string NextName() { return "st_" + std::to_string(counter_++) + ".safetensors"; }
  int counter_ = 0;
};

// One F32 tensor entry as header JSON text.
std::string F32Entry(const std::string& name, const std::string& shape, int begin, int end) {
  return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

// --- The file frame: length field and header text. ---

TEST_F(SafetensorsTest, RejectsFileShorterThanLengthField) {
  for (int size : {0, 1, 7}) {
    const std::string path = WriteTestFile("short" + std::to_string(size), std::string(size, '\0'));
    const absl::Status status = SafetensorsFile::Open(path).status();
    EXPECT_TRUE(FailsWith(status, "shorter than the 8-byte")) << size;
    EXPECT_TRUE(FailsWith(status, path));
  }
}

TEST_F(SafetensorsTest, RejectsHeaderLengthBeyondFile) {
  const std::string path = WriteTestFile("long_header", Le64(1000) + "{}");
  EXPECT_TRUE(FailsWith(SafetensorsFile::Open(path).status(), "exceeds the file"));
  // The largest length must not wrap around in any arithmetic.
  const std::string path2 = WriteTestFile("max_header", Le64(~0ull) + "{}");
  EXPECT_TRUE(FailsWith(SafetensorsFile::Open(path2).status(), "exceeds the limit"));
}

TEST_F(SafetensorsTest, RejectsHeaderOver100MB) {
  const std::string path = WriteTestFile("huge_header", Le64(100'000'001) + "{}");
  EXPECT_TRUE(
      FailsWith(SafetensorsFile::Open(path).status(), "exceeds the limit of 100000000 bytes"));
}

TEST_F(SafetensorsTest, RejectsNonUtf8Header) {
  ExpectError("{\"a\xff\":1}", "", "not valid UTF-8 at byte 3");
  ExpectError("{\"\xc0\xaf\":1}", "", "not valid UTF-8");          // Overlong '/'.
  ExpectError("{\"\xed\xa0\x80\":1}", "", "not valid UTF-8");      // Surrogate.
  ExpectError("{\"\xf4\x90\x80\x80\":1}", "", "not valid UTF-8");  // Above U+10FFFF.
  ExpectError("{\"\xe2\x82", "", "not valid UTF-8");               // Truncated.
}

TEST_F(SafetensorsTest, RejectsNonJsonOrNonObjectHeader) {
  ExpectError("", "", "not valid JSON");
  ExpectError("{\"a\":", "", "not valid JSON");
  ExpectError("{} {}", "", "not valid JSON");
  // nlohmann stops at a NUL byte, which would hide whatever follows it.
  ExpectError(std::string("{}\0", 3), "", "NUL byte at byte 2");
  ExpectError(std::string("{\"a\0\":1}", 8), "", "NUL byte at byte 3");
  ExpectError("[]", "", "header is not a JSON object");
  ExpectError("\"x\"", "", "header is not a JSON object");
}

TEST_F(SafetensorsTest, RejectsDuplicateTensorNamesAndDeepNesting) {
  ExpectError("{" + F32Entry("w", "[1]", 0, 4) + "," + F32Entry("w", "[1]", 4, 8) + "}",
              std::string(8, '\0'), "duplicate key \"w\"");
  ExpectError(std::string(10000, '[') + std::string(10000, ']'), "", "nesting deeper");
}

TEST_F(SafetensorsTest, ChecksMetadata) {
  ExpectError(R"({"__metadata__":[]})", "", "__metadata__ is not a JSON object");
  ExpectError(R"({"__metadata__":{"n":1}})", "", "__metadata__ value for \"n\" is not a string");
  auto file = OpenOk(R"({"__metadata__":{"format":"pt","note":"é"}})");
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("note"), "é");
}

// --- One tensor entry. ---

TEST_F(SafetensorsTest, RejectsMalformedEntries) {
  const std::string d4(4, '\0');
  ExpectError(R"({"w":[]})", d4, "tensor \"w\": entry is not a JSON object");
  ExpectError(R"({"w":{"dtype":"F32","shape":[1]}})", d4, "missing \"data_offsets\"");
  ExpectError(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", d4, "missing \"shape\"");
  ExpectError(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", d4, "missing \"dtype\"");
  ExpectError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", d4,
              "unexpected key \"x\"");
  ExpectError(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", d4, "dtype is not a string");
}

TEST_F(SafetensorsTest, RejectsUnsupportedAndUnknownDTypes) {
  for (const char* dtype : {"F64", "U8", "BOOL", "F8_E4M3", "F8_E5M2", "I16", "U64"}) {
    ExpectError(
        std::string(R"({"w":{"dtype":")") + dtype + R"(","shape":[0],"data_offsets":[0,0]}})", "",
        std::string("unsupported dtype ") + dtype);
  }
  for (const char* dtype : {"F33", "f32", "", "FLOAT"}) {
    ExpectError(
        std::string(R"({"w":{"dtype":")") + dtype + R"(","shape":[0],"data_offsets":[0,0]}})", "",
        "unknown dtype");
  }
}

TEST_F(SafetensorsTest, RejectsBadShapes) {
  const std::string d4(4, '\0');
  ExpectError("{" + F32Entry("w", "{}", 0, 4) + "}", d4, "shape is not an array");
  for (const char* shape : {"[-1]", "[2.5]", "[1e0]", "[\"1\"]", "[[1]]", "[9223372036854775808]",
                            "[18446744073709551616]"}) {
    ExpectError("{" + F32Entry("w", shape, 0, 4) + "}", d4, "not a non-negative integer");
  }
}

TEST_F(SafetensorsTest, RejectsShapeSizeOverflow) {
  // 2^62 elements fit int64, 2^62 x 4 bytes do not.
  ExpectError("{" + F32Entry("w", "[4611686018427387904]", 0, 0) + "}", "", "overflows");
  ExpectError("{" + F32Entry("w", "[4294967296,4294967296]", 0, 0) + "}", "", "overflows");
  // The product of the non-zero dims must fit even when another dim is 0,
  // so that stride arithmetic in consumers cannot overflow either.
  ExpectError("{" + F32Entry("w", "[4294967296,4294967296,0]", 0, 0) + "}", "", "overflows");
}

TEST_F(SafetensorsTest, RejectsBadDataOffsets) {
  const std::string d8(8, '\0');
  for (const char* offsets :
       {"[0]", "[0,4,8]", "[-1,4]", "[0,4.0]", "\"0,4\"", "[0,18446744073709551616]"}) {
    ExpectError(std::string(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":)") + offsets + "}}",
                d8, "is not [begin, end]");
  }
  ExpectError("{" + F32Entry("w", "[1]", 8, 4) + "}", d8, "begin > end");
}

TEST_F(SafetensorsTest, RejectsByteLengthNotMatchingShape) {
  ExpectError("{" + F32Entry("w", "[2]", 0, 4) + "}", std::string(4, '\0'), "byte length 4");
  ExpectError("{" + F32Entry("w", "[2]", 0, 12) + "}", std::string(12, '\0'),
              "does not match shape [2]");
  ExpectError("{" + F32Entry("w", "[]", 0, 0) + "}", "",
              "does not match");  // A scalar has 1 element.
}

TEST_F(SafetensorsTest, RejectsOutOfBoundsOffsets) {
  ExpectError("{" + F32Entry("w", "[2]", 0, 8) + "}", std::string(4, '\0'), "out of bounds");
  // Consistent with the shape but past the end, even with a huge begin.
  ExpectError(
      R"({"w":{"dtype":"I8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})",
      std::string(4, '\0'), "out of bounds");
}

// --- The layout of all tensors together. ---

TEST_F(SafetensorsTest, RejectsGapBetweenTensors) {
  const absl::Status status =
      OpenStatus("{" + F32Entry("a", "[1]", 0, 4) + "," + F32Entry("b", "[1]", 8, 12) + "}",
                 std::string(12, '\0'));
  EXPECT_TRUE(FailsWith(status, "gap of 4 bytes between tensor \"a\""));
  EXPECT_TRUE(FailsWith(status, "tensor \"b\""));
  ExpectError("{" + F32Entry("a", "[1]", 4, 8) + "}", std::string(8, '\0'),
              "gap: the first tensor \"a\"");
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  const absl::Status status =
      OpenStatus("{" + F32Entry("a", "[2]", 0, 8) + "," + F32Entry("b", "[2]", 4, 12) + "}",
                 std::string(12, '\0'));
  EXPECT_TRUE(FailsWith(status, "tensor \"b\" [4, 12) overlaps tensor \"a\" [0, 8)"));
  // Two tensors at the very same bytes.
  ExpectError("{" + F32Entry("a", "[1]", 0, 4) + "," + F32Entry("b", "[1]", 0, 4) + "}",
              std::string(4, '\0'), "overlaps");
  // A zero-sized tensor pointing inside another one is not on a boundary.
  ExpectError("{" + F32Entry("a", "[2]", 0, 8) + "," + F32Entry("z", "[0]", 4, 4) + "}",
              std::string(8, '\0'), "overlaps");
}

TEST_F(SafetensorsTest, RejectsTrailingBytes) {
  ExpectError("{" + F32Entry("a", "[1]", 0, 4) + "}", std::string(8, '\0'),
              "trailing bytes: the tensors cover 4 of the 8 data bytes");
  ExpectError("{}", "x", "trailing bytes");
}

// --- Legal corner cases. ---

TEST_F(SafetensorsTest, AcceptsEmptyFile) {
  auto file = OpenOk("{}");
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_EQ(file->Find("x"), nullptr);
}

TEST_F(SafetensorsTest, AcceptsZeroSizedTensorsSharingOffsets) {
  // Zero-sized tensors before, between and after real ones, several at one
  // offset: none of them is an overlap or a gap.
  auto file = OpenOk("{" + F32Entry("z0", "[0]", 0, 0) + "," + F32Entry("a", "[1]", 0, 4) + "," +
                         F32Entry("z1", "[3,0]", 4, 4) + "," + F32Entry("z2", "[0,5]", 4, 4) + "," +
                         F32Entry("b", "[1]", 4, 8) + "," + F32Entry("z3", "[0]", 8, 8) + "}",
                     std::string(8, '\0'));
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(file->tensors().size(), 6u);
  const TensorEntry* z1 = file->Find("z1");
  ASSERT_NE(z1, nullptr);
  EXPECT_EQ(z1->shape, (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(z1->NumElements(), 0);
  EXPECT_TRUE(z1->bytes.empty());
  // Only zero-sized tensors, no data at all.
  EXPECT_NE(OpenOk("{" + F32Entry("e", "[0,7]", 0, 0) + "}"), nullptr);
}

TEST_F(SafetensorsTest, AcceptsScalar) {
  float value = 3.25f;
  std::string data(4, '\0');
  std::memcpy(data.data(), &value, 4);
  auto file = OpenOk("{" + F32Entry("s", "[]", 0, 4) + "}", data);
  ASSERT_NE(file, nullptr);
  const TensorEntry* s = file->Find("s");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->NumElements(), 1);
  float read;
  std::memcpy(&read, s->bytes.data(), 4);
  EXPECT_EQ(read, 3.25f);
}

TEST_F(SafetensorsTest, AcceptsWhitespacePaddedHeader) {
  // Writers pad the header with spaces so the data starts 8-byte aligned.
  EXPECT_NE(
      OpenOk("{" + F32Entry("a", "[1]", 0, 4) + "}" + std::string(7, ' '), std::string(4, '\0')),
      nullptr);
  EXPECT_NE(OpenOk(" \n\t{}\r\n  "), nullptr);
}

TEST_F(SafetensorsTest, ReadsAllSixDTypes) {
  // Every dtype at an odd data offset (a 1-byte I8 first): consumers must
  // memcpy, and the bytes must still be exactly what was written.
  const int8_t i8[] = {-128, 127, 0};
  const uint16_t f16[] = {0x3C00, 0xC000};   // 1.0, -2.0
  const uint16_t bf16[] = {0x3F80, 0x4049};  // 1.0, 3.140625
  const float f32[] = {1.5f, -0.0f};
  const int32_t i32[] = {-7, 2147483647};
  const int64_t i64[] = {-5, int64_t{1} << 40};
  std::string data;
  auto append = [&data](const void* p, size_t n) { data.append(static_cast<const char*>(p), n); };
  append(i8, sizeof(i8));      // [0, 3)
  append(f16, sizeof(f16));    // [3, 7)
  append(bf16, sizeof(bf16));  // [7, 11)
  append(f32, sizeof(f32));    // [11, 19)
  append(i32, sizeof(i32));    // [19, 27)
  append(i64, sizeof(i64));    // [27, 43)
  const std::string header = R"({"i8":{"dtype":"I8","shape":[3],"data_offsets":[0,3]},)"
                             R"("f16":{"dtype":"F16","shape":[2],"data_offsets":[3,7]},)"
                             R"("bf16":{"dtype":"BF16","shape":[2,1],"data_offsets":[7,11]},)"
                             R"("f32":{"dtype":"F32","shape":[1,2],"data_offsets":[11,19]},)"
                             R"("i32":{"dtype":"I32","shape":[2],"data_offsets":[19,27]},)"
                             R"("i64":{"dtype":"I64","shape":[2],"data_offsets":[27,43]}})";
  auto file = OpenOk(header, data);
  ASSERT_NE(file, nullptr);

  struct Expected {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
    const void* bytes;
    size_t size;
  };
  const Expected expected[] = {
      {"i8", DType::kI8, {3}, i8, sizeof(i8)},
      {"f16", DType::kF16, {2}, f16, sizeof(f16)},
      {"bf16", DType::kBF16, {2, 1}, bf16, sizeof(bf16)},
      {"f32", DType::kF32, {1, 2}, f32, sizeof(f32)},
      {"i32", DType::kI32, {2}, i32, sizeof(i32)},
      {"i64", DType::kI64, {2}, i64, sizeof(i64)},
  };
  for (const Expected& e : expected) {
    const TensorEntry* t = file->Find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->name, e.name);
    EXPECT_EQ(t->dtype, e.dtype) << e.name;
    EXPECT_EQ(t->shape, e.shape) << e.name;
    ASSERT_EQ(t->bytes.size(), e.size) << e.name;
    EXPECT_EQ(std::memcmp(t->bytes.data(), e.bytes, e.size), 0) << e.name;
  }
  int64_t big;
  std::memcpy(&big, file->Find("i64")->bytes.data() + 8, 8);
  EXPECT_EQ(big, int64_t{1} << 40);
  // tensors() is sorted by name.
  std::vector<std::string> names;
  for (const TensorEntry& t : file->tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bf16", "f16", "f32", "i32", "i64", "i8"}));
}

// A file written by the reference implementation (Python safetensors 0.8.0,
// safetensors.numpy.save), byte for byte: its own padding, ordering, a
// scalar and a zero-sized tensor.
TEST_F(SafetensorsTest, ReadsFileWrittenByReferenceImplementation) {
  const std::string header =
      R"({"__metadata__":{"format":"np"},"c.i64":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("a.f32":{"dtype":"F32","shape":[1,3],"data_offsets":[16,28]},"z.empty":{"dtype":"F32","shape":[2,0],)"
      R"("data_offsets":[28,28]},"d.i32":{"dtype":"I32","shape":[],"data_offsets":[28,32]},"b.f16":{"dtype":)"
      R"("F16","shape":[2],"data_offsets":[32,36]},"e.i8":{"dtype":"I8","shape":[3],"data_offsets":[36,39]}}    )";
  ASSERT_EQ(header.size(), 0x188u);  // The length field the library wrote.
  const std::string data(
      "\xfb\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\xc0\x3f\x00\x00\x00"
      "\xc0"
      "\x00\x00\x80\x3e\x07\x00\x00\x00\x00\x3c\xff\x7b\x80\x7f\x00",
      39);
  auto file = OpenOk(header, data);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->metadata().at("format"), "np");
  EXPECT_EQ(file->tensors().size(), 6u);
  float a[3];
  std::memcpy(a, file->Find("a.f32")->bytes.data(), sizeof(a));
  EXPECT_EQ(a[0], 1.5f);
  EXPECT_EQ(a[1], -2.0f);
  EXPECT_EQ(a[2], 0.25f);
  EXPECT_EQ(file->Find("d.i32")->shape, std::vector<int64_t>{});
  EXPECT_EQ(file->Find("z.empty")->NumElements(), 0);
  int8_t e[3];
  std::memcpy(e, file->Find("e.i8")->bytes.data(), 3);
  EXPECT_EQ(e[0], -128);
  EXPECT_EQ(e[1], 127);
}

// --- The file system side. ---

TEST_F(SafetensorsTest, ReportsMissingFileAndDirectory) {
  const std::string missing = TestDir() + "/does_not_exist.safetensors";
  const absl::Status status = SafetensorsFile::Open(missing).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(FailsWith(status, missing));
  EXPECT_TRUE(FailsWith(SafetensorsFile::Open(TestDir()).status(), "not a regular file"));
}

TEST_F(SafetensorsTest, ErrorsNameFileAndTensor) {
  const std::string path = WriteTestFile(
      "named.safetensors",
      Safetensors("{" + F32Entry("layer.0.w", "[2]", 0, 4) + "}", std::string(4, '\0')));
  EXPECT_TRUE(FailsWith(SafetensorsFile::Open(path).status(), path + ": tensor \"layer.0.w\""));
}

}  // namespace
}  // namespace kiln
