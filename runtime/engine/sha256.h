// SHA-256 (FIPS 180-4), for engine-artefact checksums.
#ifndef KILN_RUNTIME_ENGINE_SHA256_H_
#define KILN_RUNTIME_ENGINE_SHA256_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace kiln {

// Incremental SHA-256: Update() any number of times, then Finish() once.
class Sha256 {
 public:
  Sha256();
  void Update(std::span<const uint8_t> bytes);
  std::array<uint8_t, 32> Finish();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lower-case hex digest of `bytes`.
std::string Sha256Hex(std::span<const uint8_t> bytes);

// Hex digest of a file's contents, read in chunks; the byte count too.
struct FileDigest {
  std::string sha256;
  int64_t bytes = 0;
};
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

}  // namespace kiln

#endif  // KILN_RUNTIME_ENGINE_SHA256_H_
