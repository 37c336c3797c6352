#include "tests/models/file_builder.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kiln {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? std::string(dir) : ::testing::TempDir();
}

std::string WriteTestFile(const std::string& relative_path, const std::string& bytes) {
  const std::filesystem::path path = std::filesystem::path(TestDir()) / relative_path;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  EXPECT_FALSE(ec) << "cannot create " << path.parent_path() << ": " << ec.message();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
  return path.string();
}

std::string Le64(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

std::string Safetensors(const std::string& header, const std::string& data) {
  return Le64(header.size()) + header + data;
}

std::string Le16(uint16_t n) {
  return std::string{static_cast<char>(n & 0xFF), static_cast<char>(n >> 8)};
}

std::string Le32(uint32_t n) { return Le64(n).substr(0, 4); }

std::string GgufBuilder::Str(const std::string& s) { return Le64(s.size()) + s; }

GgufBuilder& GgufBuilder::Kv(const std::string& key, uint32_t tag, const std::string& encoded) {
  return RawKv(Str(key) + Le32(tag) + encoded);
}

GgufBuilder& GgufBuilder::String(const std::string& key, const std::string& value) {
  return Kv(key, kString, Str(value));
}

GgufBuilder& GgufBuilder::Uint32(const std::string& key, uint32_t value) {
  return Kv(key, kUint32, Le32(value));
}

GgufBuilder& GgufBuilder::Array(const std::string& key, uint32_t element_tag, uint64_t count,
                                const std::string& encoded) {
  return Kv(key, kArray, Le32(element_tag) + Le64(count) + encoded);
}

GgufBuilder& GgufBuilder::StringArray(const std::string& key,
                                      const std::vector<std::string>& values) {
  std::string encoded;
  for (const std::string& v : values) encoded += Str(v);
  return Array(key, kString, values.size(), encoded);
}

GgufBuilder& GgufBuilder::Alignment(uint32_t alignment, bool write_key) {
  alignment_ = alignment;
  if (write_key) Uint32("general.alignment", alignment);
  return *this;
}

GgufBuilder& GgufBuilder::Tensor(const std::string& name, uint32_t type,
                                 const std::vector<uint64_t>& ne, const std::string& data) {
  if (alignment_ > 0) data_.resize((data_.size() + alignment_ - 1) / alignment_ * alignment_);
  TensorInfo(name, type, ne, data_.size());
  data_ += data;
  return *this;
}

GgufBuilder& GgufBuilder::TensorInfo(const std::string& name, uint32_t type,
                                     const std::vector<uint64_t>& ne, uint64_t offset) {
  std::string info = Str(name) + Le32(static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) info += Le64(d);
  return RawTensorInfo(info + Le32(type) + Le64(offset));
}

GgufBuilder& GgufBuilder::Data(const std::string& bytes) {
  data_ += bytes;
  return *this;
}

GgufBuilder& GgufBuilder::RawKv(const std::string& bytes) {
  kv_ += bytes;
  ++n_kv_;
  return *this;
}

GgufBuilder& GgufBuilder::RawTensorInfo(const std::string& bytes) {
  infos_ += bytes;
  ++n_tensors_;
  return *this;
}

GgufBuilder& GgufBuilder::DeclareCounts(uint64_t tensors, uint64_t kvs) {
  counts_declared_ = true;
  declared_tensors_ = tensors;
  declared_kvs_ = kvs;
  return *this;
}

std::string GgufBuilder::Build() const {
  std::string out = "GGUF" + Le32(version_);
  out += Le64(counts_declared_ ? declared_tensors_ : n_tensors_);
  out += Le64(counts_declared_ ? declared_kvs_ : n_kv_);
  out += kv_ + infos_;
  if ((n_tensors_ > 0 || !data_.empty()) && alignment_ > 0) {
    out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, '\0');
  }
  return out + data_;
}

::testing::AssertionResult FailsWith(const absl::Status& status, const std::string& substring) {
  if (status.ok())
    return ::testing::AssertionFailure()
           << "succeeded; expected an error containing \"" << substring << "\"";
  const std::string message(status.message());
  if (message.find(substring) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "error \"" << message << "\" does not contain \"" << substring << "\"";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace kiln
