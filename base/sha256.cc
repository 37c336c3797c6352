#include "base/sha256.h"

// libcrypto's SHA256_* functions, deprecated in OpenSSL 3 in favour of
// EVP, run the same SHA-extension code without the provider framework: a
// static link (the GPU bundle) stays ~4 MB smaller per binary, and no
// openssl.cnf is read.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

// libcrypto's SHA-256 calls fail only when handed a null context, which
// this class never does: an invariant, not an error.
void CheckCrypto(int ok, const char* what) {
  if (ok != 1) {
    std::fprintf(stderr, "libcrypto: %s failed\n", what);
    std::abort();
  }
}

std::string Hex(const std::array<uint8_t, 32>& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t byte : digest) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 15];
  }
  return out;
}

}  // namespace

struct Sha256::Context {
  SHA256_CTX ctx;
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  CheckCrypto(SHA256_Init(&context_->ctx), "SHA256_Init");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  CheckCrypto(SHA256_Update(&context_->ctx, bytes.data(), bytes.size()), "SHA256_Update");
}

std::array<uint8_t, 32> Sha256::Finish() {
  std::array<uint8_t, 32> digest{};
  CheckCrypto(SHA256_Final(digest.data(), &context_->ctx), "SHA256_Final");
  return digest;
}

std::string Sha256Hex(std::string_view bytes) {
  return Sha256Hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            bytes.size()));
}

std::string Sha256Hex(std::span<const uint8_t> bytes) {
  Sha256 hash;
  hash.Update(bytes);
  return Hex(hash.Finish());
}

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, " is missing or unreadable: ", std::strerror(errno)));
  }
  Sha256 hash;
  FileDigest digest;
  std::vector<uint8_t> chunk(size_t{4} << 20);
  while (true) {
    const size_t got = std::fread(chunk.data(), 1, chunk.size(), f.get());
    hash.Update(std::span<const uint8_t>(chunk.data(), got));
    digest.bytes += static_cast<int64_t>(got);
    if (got < chunk.size()) break;
  }
  if (std::ferror(f.get())) return absl::DataLossError(absl::StrCat("error reading ", path));
  digest.sha256 = Hex(hash.Finish());
  return digest;
}

}  // namespace kiln
