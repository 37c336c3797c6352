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
