// SHA-256 against FIPS 180-2's test vectors, whole and incremental, and a
// file digest against the in-memory one.
#include "base/sha256.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(Sha256Test, MatchesFips180Vectors) {
  auto hex = [](const std::string& s) {
    return Sha256Hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a's, fed in uneven pieces to exercise buffering.
  Sha256 hash;
  std::string piece(997, 'a');
  int64_t left = 1000000;
  while (left > 0) {
    size_t n = static_cast<size_t>(std::min<int64_t>(left, 997));
    hash.Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(piece.data()), n));
    left -= static_cast<int64_t>(n);
  }
  std::array<uint8_t, 32> digest = hash.Finish();
  EXPECT_EQ(digest[0], 0xcd);
  EXPECT_EQ(digest[31], 0xd0);
}

TEST(Sha256Test, FileDigestMatchesMemoryDigest) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/digest.bin";
  std::string data(5 << 20, '\0');  // longer than one read chunk
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + (i >> 9));
  std::ofstream(path, std::ios::binary) << data;
  absl::StatusOr<FileDigest> digest = DigestFile(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->bytes, static_cast<int64_t>(data.size()));
  EXPECT_EQ(digest->sha256,
            Sha256Hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()),
                                               data.size())));
  EXPECT_FALSE(DigestFile(path + ".missing").ok());
}

}  // namespace
}  // namespace kiln
