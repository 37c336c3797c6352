#include "base/zeroed_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace kiln {
namespace {

// How many of the pages under [data, data + bytes) are resident (mincore).
int64_t ResidentPages(const uint8_t* data, int64_t bytes) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> in_core((bytes + page - 1) / page);
  if (mincore(const_cast<uint8_t*>(data), bytes, in_core.data()) != 0) return -1;
  int64_t resident = 0;
  for (unsigned char c : in_core) resident += c & 1;
  return resident;
}

bool AllZero(const ZeroedPages& p) {
  for (int64_t i = 0; i < p.bytes(); ++i) {
    if (p.data()[i] != 0) return false;
  }
  return true;
}

TEST(ZeroedPagesTest, FreshPagesReadZeroAndAreAligned) {
  ZeroedPages p(12345);  // not a whole number of pages
  ASSERT_NE(p.data(), nullptr);
  EXPECT_EQ(p.bytes(), 12345);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p.data()) % 64, 0u);
  EXPECT_TRUE(AllZero(p));
}

TEST(ZeroedPagesTest, ZeroBytesStillMapsAPage) {
  ZeroedPages p(0);
  EXPECT_NE(p.data(), nullptr);
  EXPECT_EQ(p.bytes(), 0);
}

// The reason for the class: an untouched arena costs no memory, and Zero()
// gives back what a sequence touched instead of writing every byte.
TEST(ZeroedPagesTest, OnlyTouchedPagesAreResident) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  const int64_t bytes = 4096 * page + 7;
  ZeroedPages p(bytes);
  ASSERT_NE(p.data(), nullptr);
  if (ResidentPages(p.data(), bytes) != 0) {
    // Some sandboxes (gVisor) report every mapped page as resident.
    GTEST_SKIP() << "mincore does not report residency here";
  }
  for (int64_t i = 0; i < 3; ++i) p.data()[i * 100 * page + 5] = 1;
  // 3 pages, or the huge pages holding them where transparent huge pages
  // are "always" on: a small part of the mapping either way.
  const int64_t touched = ResidentPages(p.data(), bytes);
  EXPECT_GE(touched, 3);
  EXPECT_LT(touched, 4096 / 4);
  p.Zero();
  EXPECT_EQ(ResidentPages(p.data(), bytes), 0);
}

TEST(ZeroedPagesTest, ZeroClearsEveryWrittenByte) {
  const int64_t bytes = 3 * sysconf(_SC_PAGESIZE) + 11;
  ZeroedPages p(bytes);
  ASSERT_NE(p.data(), nullptr);
  for (int64_t i = 0; i < bytes; i += 7) p.data()[i] = static_cast<uint8_t>(i | 1);
  p.data()[bytes - 1] = 0xff;  // the last byte asked for
  EXPECT_FALSE(AllZero(p));
  p.Zero();
  EXPECT_TRUE(AllZero(p));
}

// Locked pages make madvise(MADV_DONTNEED) fail: Zero() writes zeros.
TEST(ZeroedPagesTest, ZeroOfLockedPagesWritesZeros) {
  const int64_t bytes = 2 * sysconf(_SC_PAGESIZE) + 3;
  ZeroedPages p(bytes);
  ASSERT_NE(p.data(), nullptr);
  if (mlock(p.data(), bytes) != 0) GTEST_SKIP() << "mlock is not permitted here";
  if (madvise(p.data(), bytes, MADV_DONTNEED) == 0) {
    munlock(p.data(), bytes);
    GTEST_SKIP() << "this kernel drops locked pages too: the fallback is not reached";
  }
  for (int64_t i = 0; i < bytes; ++i) p.data()[i] = 0x5a;
  p.Zero();
  EXPECT_TRUE(AllZero(p));
  munlock(p.data(), bytes);
}

TEST(ZeroedPagesTest, MoveTransfersTheMapping) {
  ZeroedPages a(100);
  ASSERT_NE(a.data(), nullptr);
  a.data()[99] = 42;
  uint8_t* data = a.data();
  ZeroedPages b(std::move(a));
  // NOLINTNEXTLINE(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.bytes(), 0);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.data()[99], 42);
  ZeroedPages c(10);
  c = std::move(b);
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(c.bytes(), 100);
}

}  // namespace
}  // namespace kiln
