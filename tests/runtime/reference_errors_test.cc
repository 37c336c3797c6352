// Errors of the CPU reference executor: out-of-range ids and positions,
// inputs that do not match a function's signature, and casts to i32 that
// must stay in range. Most cases corrupt the inputs of an op_cases.h case.
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/reference/executor.h"
#include "tests/runtime/op_cases.h"
#include "tests/runtime/op_test_support.h"

namespace kiln::op_test {
namespace {

void ExpectInvalidArgument(const absl::StatusOr<std::vector<HostTensor>>& result,
                           const std::string& needle) {
  ASSERT_FALSE(result.ok()) << "expected an error mentioning \"" << needle << "\"";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  EXPECT_NE(std::string(result.status().message()).find(needle), std::string::npos)
      << "\"" << result.status().message() << "\" does not mention \"" << needle << "\"";
}

TEST(ReferenceOpErrors, EmbeddingIdOutOfRangeNamesTheRange) {
  struct Probe {
    DType id_dtype;
    int64_t offset, id;
    std::string range;
  };
  const Probe probes[] = {{kI32, 0, -1, "[0, 97)"},        {kI32, 0, 97, "[0, 97)"},
                          {kI32, 0, INT32_MAX, "[0, 97)"}, {kI64, 2, -1, "[0, 95)"},
                          {kI64, 2, 95, "[0, 95)"},        {kI64, 2, INT32_MAX, "[0, 95)"}};
  Rng rng = TestRng();
  for (const Probe& probe : probes) {
    SCOPED_TRACE(absl::StrCat("id ", probe.id, " index_offset ", probe.offset));
    Prepared p = EmbeddingCase(kF32, rng, probe.id_dtype, probe.offset);
    ASSERT_TRUE(p.executor.ok()) << p.executor.status();
    p.inputs[0].ints[7] = probe.id;
    ExpectInvalidArgument(p.executor->Run("f", p.inputs), probe.range);
    ExpectInvalidArgument(p.executor->Run("f", p.inputs), absl::StrCat("index ", probe.id));
  }
}

// The verifier accepts any integer index_offset. With index_offset = -1 the
// valid ids are [1, rows + 1); id 0 names row -1, which must be rejected
// rather than read from before the table.
TEST(ReferenceOpErrors, EmbeddingRowBeforeTheTable) {
  constexpr char kText[] = R"(module @m {
  weight "embed" : f32[5,4]
  func @f(%ids: i64[2]) {
    %embed = constant() {weight="embed"} : f32[5,4]
    %x = embedding(%embed, %ids) {index_offset=-1} : f32[2,4]
    return %x
  }
}
)";
  std::vector<float> table(20);
  std::iota(table.begin(), table.end(), 0.0f);
  ReferenceExecutor executor =
      FromText(kText, {{"embed", HostTensor::FromFloats(kF32, {5, 4}, table)}});
  absl::StatusOr<std::vector<HostTensor>> ok =
      executor.Run("f", {HostTensor::FromInts(kI64, {2}, {1, 5})});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].floats, std::vector<float>({0, 1, 2, 3, 16, 17, 18, 19}));
  absl::StatusOr<std::vector<HostTensor>> bad =
      executor.Run("f", {HostTensor::FromInts(kI64, {2}, {1, 0})});
  EXPECT_FALSE(bad.ok()) << "id 0 with index_offset -1 read row -1: "
                         << ::testing::PrintToString(bad.ok() ? (*bad)[0].floats
                                                              : std::vector<float>());
}

// id + index_offset overflows int64 for id = INT64_MAX; the id is out of
// range all the same and must be rejected, not wrapped into a row.
TEST(ReferenceOpErrors, EmbeddingIdNearInt64Max) {
  Rng rng = TestRng();
  Prepared p = EmbeddingCase(kF32, rng, kI64, 2);
  ASSERT_TRUE(p.executor.ok()) << p.executor.status();
  p.inputs[0].ints[7] = INT64_MAX;
  ExpectInvalidArgument(p.executor->Run("f", p.inputs), "[0, 95)");
}

TEST(ReferenceOpErrors, CachePositionOutOfRange) {
  Rng rng = TestRng();
  for (int64_t bad : {int64_t{-1}, int64_t{83}, int64_t{INT32_MAX}}) {
    SCOPED_TRACE(absl::StrCat("position ", bad));
    Prepared write = KvCacheWriteCase(kF32, rng, 7, 64);
    ASSERT_TRUE(write.executor.ok()) << write.executor.status();
    write.inputs[2].ints[9] = bad;
    ExpectInvalidArgument(write.executor->Run("f", write.inputs), "[0, 83)");

    Prepared attend = AttentionCase(kF32, rng, AttentionShape{2, 7, 8, 2, 64, 0, 1});
    ASSERT_TRUE(attend.executor.ok()) << attend.executor.status();
    attend.inputs[3].ints[9] = bad;
    ExpectInvalidArgument(attend.executor->Run("f", attend.inputs), "[0, 83)");
  }
}

constexpr char kAddModule[] = R"(module @m {
  func @f(%x: f32[batch,seq,16], %y: f32[batch,seq,16]) {
    %out = add(%x, %y) : f32[batch,seq,16]
    return %out
  }
}
)";

TEST(ReferenceOpErrors, RunRejectsInputsThatDoNotMatchTheSignature) {
  ReferenceExecutor executor = FromText(kAddModule);
  auto f32 = [](std::vector<int64_t> shape) {
    return HostTensor::Zeros(kF32, std::move(shape));
  };
  ASSERT_TRUE(executor.Run("f", {f32({2, 3, 16}), f32({2, 3, 16})}).ok());
  ASSERT_TRUE(executor.Run("f", {f32({1, 1, 16}), f32({1, 1, 16})}).ok());
  // Static dim, rank, dtype.
  ExpectInvalidArgument(executor.Run("f", {f32({2, 3, 15}), f32({2, 3, 16})}), "%x");
  ExpectInvalidArgument(executor.Run("f", {f32({2, 3, 16}), f32({6, 16})}), "%y");
  ExpectInvalidArgument(executor.Run("f", {HostTensor::Zeros(kF16, {2, 3, 16}), f32({2, 3, 16})}),
                        "f32[batch,seq,16]");
  ExpectInvalidArgument(executor.Run("f", {HostTensor::Zeros(kI32, {2, 3, 16}), f32({2, 3, 16})}),
                        "%x");
  // A symbol bound to two sizes.
  ExpectInvalidArgument(executor.Run("f", {f32({2, 3, 16}), f32({2, 4, 16})}), "'seq'");
  ExpectInvalidArgument(executor.Run("f", {f32({2, 3, 16}), f32({1, 3, 16})}), "'batch'");
  // Storage that does not match the shape, and the wrong number of inputs.
  HostTensor short_storage = f32({2, 3, 16});
  short_storage.floats.pop_back();
  ExpectInvalidArgument(executor.Run("f", {short_storage, f32({2, 3, 16})}), "%x");
  ExpectInvalidArgument(executor.Run("f", {f32({2, 3, 16})}), "takes 2 inputs");
}

TEST(ReferenceOpErrors, EmbeddingIdsOfTheWrongDtype) {
  Rng rng = TestRng();
  Prepared p = EmbeddingCase(kF32, rng, kI32, 0);
  ASSERT_TRUE(p.executor.ok()) << p.executor.status();
  HostTensor ids = p.inputs[0];
  ids.dtype = kI64;
  ExpectInvalidArgument(p.executor->Run("f", {ids}), "i32[batch,seq]");
}

// A static slice of a symbolic dim is checked when the symbol is bound.
TEST(ReferenceOpErrors, SliceBeyondABoundSymbol) {
  ReferenceExecutor executor = FromText(R"(module @m {
  func @f(%x: f32[seq,4]) {
    %out = slice(%x) {axis=0, start=2, end=5} : f32[3,4]
    return %out
  }
}
)");
  ExpectInvalidArgument(executor.Run("f", {HostTensor::Zeros(kF32, {4, 4})}), "[2, 5)");
  EXPECT_TRUE(executor.Run("f", {HostTensor::Zeros(kF32, {5, 4})}).ok());
}

// An i32 result must hold i32 values: a backend stores 32 bits, so a
// reference that keeps 3e9 in an i32 tensor specifies what no kernel can
// produce. Float -> i32 saturates (like the documented int64 saturation),
// and i64 -> i32 narrowing must at least land in range.
TEST(ReferenceOpCast, ToI32StaysInI32Range) {
  ReferenceExecutor executor = FromText(R"(module @m {
  func @f(%x: f32[4], %y: i64[2]) {
    %a = cast(%x) : i32[4]
    %b = cast(%y) : i32[2]
    return %a, %b
  }
}
)");
  absl::StatusOr<std::vector<HostTensor>> out =
      executor.Run("f", {HostTensor::FromFloats(kF32, {4}, {3e9f, -3e9f, INFINITY, -INFINITY}),
                         HostTensor::FromInts(kI64, {2}, {int64_t{1} << 40, -(int64_t{1} << 40)})});
  ASSERT_TRUE(out.ok()) << out.status();
  for (const HostTensor& t : *out) {
    for (size_t i = 0; i < t.ints.size(); ++i) {
      EXPECT_GE(t.ints[i], INT32_MIN) << "element " << i;
      EXPECT_LE(t.ints[i], INT32_MAX) << "element " << i;
    }
  }
  EXPECT_EQ((*out)[0].ints, std::vector<int64_t>({INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN}));
}

}  // namespace
}  // namespace kiln::op_test
