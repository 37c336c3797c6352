// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, which uses the CPU's SHA
// extensions where it has them: engine loads digest every file, hundreds of
// MiB of weights included, so the hash's speed is load time.
#ifndef KILN_BASE_SHA256_H_
#define KILN_BASE_SHA256_H_

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln {

// Incremental SHA-256: Update() any number of times, then Finish() once.
// Movable; a moved-from object may only be destroyed or assigned to.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(std::span<const uint8_t> bytes);
  std::array<uint8_t, 32> Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// Lower-case hex digest of `bytes`.
std::string Sha256Hex(std::span<const uint8_t> bytes);
std::string Sha256Hex(std::string_view bytes);

// Hex digest of a file's contents, read in chunks; the byte count too.
struct FileDigest {
  std::string sha256;
  int64_t bytes = 0;
};
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

}  // namespace kiln

#endif  // KILN_BASE_SHA256_H_
