// Helpers for tests that need weight files on disk: byte-exact safetensors
// files written into the test's private temporary directory.
#ifndef KILN_TESTS_MODELS_FILE_BUILDER_H_
#define KILN_TESTS_MODELS_FILE_BUILDER_H_

#include <cstdint>
#include <string>

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

// Succeeds when `status` is an error whose message contains `substring`;
// otherwise says what the status really was.
::testing::AssertionResult FailsWith(const absl::Status& status, const std::string& substring);

}  // namespace kiln

#endif  // KILN_TESTS_MODELS_FILE_BUILDER_H_
