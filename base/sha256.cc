#include "base/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

// libcrypto fails these calls only when out of memory or handed a broken
// context, neither of which input can cause: an invariant, not an error.
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

// SHA-256 from OpenSSL's default provider, fetched once. The host's
// openssl.cnf is not read: a digest needs no configuration, and a binary
// carried to another machine (the GPU bundle links libcrypto statically)
// must not depend on that machine's OpenSSL set-up.
const EVP_MD* Sha256Algorithm() {
  static const EVP_MD* const md = [] {
    CheckCrypto(OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr), "OPENSSL_init_crypto");
    return EVP_MD_fetch(nullptr, "SHA256", nullptr);
  }();
  CheckCrypto(md != nullptr ? 1 : 0, "EVP_MD_fetch(SHA256)");
  return md;
}

}  // namespace

struct Sha256::Context {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  CheckCrypto(context_->ctx != nullptr ? 1 : 0, "EVP_MD_CTX_new");
  CheckCrypto(EVP_DigestInit_ex(context_->ctx.get(), Sha256Algorithm(), nullptr),
              "EVP_DigestInit_ex");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  CheckCrypto(EVP_DigestUpdate(context_->ctx.get(), bytes.data(), bytes.size()),
              "EVP_DigestUpdate");
}

std::array<uint8_t, 32> Sha256::Finish() {
  std::array<uint8_t, 32> digest{};
  unsigned int length = 0;
  CheckCrypto(EVP_DigestFinal_ex(context_->ctx.get(), digest.data(), &length),
              "EVP_DigestFinal_ex");
  CheckCrypto(length == digest.size() ? 1 : 0, "SHA-256 digest length");
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
