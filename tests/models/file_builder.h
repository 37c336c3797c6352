// Helpers for tests that need weight files on disk: byte-exact safetensors
// files written into the test's private temporary directory.
#ifndef KILN_TESTS_MODELS_FILE_BUILDER_H_
#define KILN_TESTS_MODELS_FILE_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace kiln {

// $TEST_TMPDIR (set by Bazel), else gtest's temporary directory.
std::string TestDir();

// Writes `bytes` to TestDir()/`relative_path`, creating parent directories,
// and returns the full path. Fails the test on an I/O error.
std::string WriteTestFile(const std::string& relative_path, const std::string& bytes);

// `n` as 8 little-endian bytes: the safetensors header length field.
std::string Le64(uint64_t n);

// A whole safetensors file: length field, `header` verbatim, `data`.
std::string Safetensors(const std::string& header, const std::string& data);

// `n` as 2 or 4 little-endian bytes.
std::string Le16(uint16_t n);
std::string Le32(uint32_t n);

// Writes GGUF files field by field, following the spec rather than Kiln's
// reader, so tests can build valid files and each hostile variant: the
// typed adders write well-formed entries; the Raw ones and the count
// overrides write whatever a hostile file might hold.
//
// Layout of Build(): "GGUF", version, tensor count, metadata count, the
// metadata, the tensor infos, zero padding to the alignment, the data
// section. AddTensor places each tensor's data at the next aligned offset
// and leaves no padding after the last one, so the file ends with data.
class GgufBuilder {
 public:
  // GGUF metadata value types (gguf_type).
  enum Tag : uint32_t {
    kUint8 = 0,
    kInt8 = 1,
    kUint16 = 2,
    kInt16 = 3,
    kUint32 = 4,
    kInt32 = 5,
    kFloat32 = 6,
    kBool = 7,
    kString = 8,
    kArray = 9,
    kUint64 = 10,
    kInt64 = 11,
    kFloat64 = 12,
  };
  // A few ggml tensor types (ggml_type).
  static constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kQ2_K = 10, kQ4_K = 12;

  explicit GgufBuilder(uint32_t version = 3) : version_(version) {}

  // A GGUF string: u64 length, then the bytes.
  static std::string Str(const std::string& s);

  // One metadata entry: key, type tag, `encoded` value verbatim.
  GgufBuilder& Kv(const std::string& key, uint32_t tag, const std::string& encoded);
  GgufBuilder& String(const std::string& key, const std::string& value);
  GgufBuilder& Uint32(const std::string& key, uint32_t value);
  // An array: element tag, count, `encoded` elements verbatim.
  GgufBuilder& Array(const std::string& key, uint32_t element_tag, uint64_t count,
                     const std::string& encoded);
  GgufBuilder& StringArray(const std::string& key, const std::vector<std::string>& values);
  // Sets the layout alignment and, when `write_key`, adds general.alignment.
  GgufBuilder& Alignment(uint32_t alignment, bool write_key = true);

  // A tensor info with its data placed at the next aligned data offset.
  GgufBuilder& Tensor(const std::string& name, uint32_t type, const std::vector<uint64_t>& ne,
                      const std::string& data);
  // A tensor info only, with an explicit offset; no data is written.
  GgufBuilder& TensorInfo(const std::string& name, uint32_t type, const std::vector<uint64_t>& ne,
                          uint64_t offset);
  // Appends raw bytes to the data section.
  GgufBuilder& Data(const std::string& bytes);

  // Hostile variants: raw entries counted as one entry each, and declared
  // counts that differ from what was added.
  GgufBuilder& RawKv(const std::string& bytes);
  GgufBuilder& RawTensorInfo(const std::string& bytes);
  GgufBuilder& DeclareCounts(uint64_t tensors, uint64_t kvs);

  std::string Build() const;

 private:
  uint32_t version_;
  uint64_t alignment_ = 32;
  uint64_t n_kv_ = 0, n_tensors_ = 0;
  bool counts_declared_ = false;
  uint64_t declared_tensors_ = 0, declared_kvs_ = 0;
  std::string kv_, infos_, data_;
};

// Succeeds when `status` is an error whose message contains `substring`;
// otherwise says what the status really was.
::testing::AssertionResult FailsWith(const absl::Status& status, const std::string& substring);

}  // namespace kiln

#endif  // KILN_TESTS_MODELS_FILE_BUILDER_H_
