#include "base/dtype.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(DTypeTest, NamesRoundTrip) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kI8,
                  DType::kU4}) {
    EXPECT_EQ(DTypeFromName(DTypeName(d)), d);
  }
  EXPECT_FALSE(DTypeFromName("f8").has_value());
}

TEST(DTypeTest, StorageBytesPacksU4AndRejectsOverflow) {
  EXPECT_EQ(StorageBytes(DType::kU4, 5), 3);
  EXPECT_EQ(StorageBytes(DType::kBF16, 5), 10);
  EXPECT_FALSE(StorageBytes(DType::kI64, std::numeric_limits<int64_t>::max() / 4).has_value());
  EXPECT_FALSE(StorageBytes(DType::kF32, -1).has_value());
}

}  // namespace
}  // namespace kiln
