// The op table of the CPU reference executor (in the spirit of llama.cpp's
// test-backend-ops): every op of ir/op.h but parameter and constant, built
// as a one-op module, run on fresh random inputs at odd sizes and compared
// with an independent float64 implementation (op_reference_f64.h). The
// executor is the specification every backend is checked against, so here
// it is checked against the mathematics.
//
// The cases are in op_cases.h; the tolerances (TESTING.md: NMSE for f32,
// allclose for f16 and bf16, exact for data movement, casts, kv_cache_write
// and argmax) are stated and applied in op_test_support.h. Inputs are
// rounded to the dtype first; the float64 reference then reads those
// rounded values.
//
// Every run draws a new seed (KILN_TEST_SEED=<n> replays one); a failure
// prints it. The test log ends with a table of the worst error per op.
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ir/module.h"
#include "runtime/reference/executor.h"
#include "tests/runtime/op_cases.h"
#include "tests/runtime/op_test_support.h"

namespace kiln::op_test {
namespace {

const auto* const kStatsPrinter = ::testing::AddGlobalTestEnvironment(new StatsPrinter);

class ReferenceOpTest : public ::testing::TestWithParam<TableEntry> {};

TEST_P(ReferenceOpTest, MatchesFloat64) {
  const OpCase& c = GetParam().op_case;
  SCOPED_TRACE(SeedNote());
  Rng rng = TestRng();
  Prepared p = c.prepare(GetParam().dtype, rng);
  ASSERT_TRUE(p.executor.ok()) << p.executor.status();
  absl::StatusOr<std::vector<HostTensor>> results = p.executor->Run("f", std::move(p.inputs));
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), p.expected.size());
  ++Stats()[c.op].runs;
  const Function& f = p.executor->module().functions[0];
  for (size_t i = 0; i < results->size(); ++i) {
    EXPECT_EQ((*results)[i].dtype, f.node(f.results[i]).type.dtype) << "result " << i;
    if (c.exact) {
      ExpectExact(c.op, (*results)[i], p.expected[i]);
    } else {
      ExpectClose(c.op, (*results)[i], p.expected[i],
                  i < p.term_magnitude.size() ? &p.term_magnitude[i] : nullptr);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ops, ReferenceOpTest, ::testing::ValuesIn(Table()),
    [](const ::testing::TestParamInfo<TableEntry>& info) {
      const OpCase& c = info.param.op_case;
      if (c.dtypes.size() == 1) return c.name;
      return absl::StrCat(c.name, "_", std::string(DTypeName(info.param.dtype)));
    });

// Every op but parameter and constant has at least one row.
TEST(ReferenceOpTable, CoversEveryOp) {
  std::set<std::string> covered;
  for (const OpCase& c : AllCases()) covered.insert(c.op == "add_i32" ? "add" : c.op);
  for (const OpInfo& info : AllOps()) {
    if (info.op == Op::kParameter || info.op == Op::kConstant) continue;
    EXPECT_TRUE(covered.count(std::string(info.name))) << "no case for " << info.name;
  }
}

// ---------------------------------------------------------------- in place

// kv_cache_write updates its cache in place only at the cache's last use:
// a cache still returned (or read later) keeps its old contents, and chained
// writes all land.
TEST(ReferenceOpCache, WritesInPlaceOnlyAtLastUse) {
  ReferenceExecutor executor = FromText(R"(module @m {
  func @f(%cache: f32[1,5,1,2], %a: f32[1,1,1,2], %b: f32[1,1,1,2], %pa: i32[1,1], %pb: i32[1,1]) {
    %c1 = kv_cache_write(%cache, %a, %pa) : f32[1,5,1,2]
    %c2 = kv_cache_write(%c1, %b, %pb) : f32[1,5,1,2]
    return %c2, %cache
  }
}
)");
  std::vector<float> old = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  absl::StatusOr<std::vector<HostTensor>> out = executor.Run(
      "f", {HostTensor::FromFloats(kF32, {1, 5, 1, 2}, old),
            HostTensor::FromFloats(kF32, {1, 1, 1, 2}, {-1, -2}),
            HostTensor::FromFloats(kF32, {1, 1, 1, 2}, {-3, -4}), HostTensor::FromInts(kI32, {1, 1}, {4}),
            HostTensor::FromInts(kI32, {1, 1}, {1})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].floats, std::vector<float>({0, 1, -3, -4, 4, 5, 6, 7, -1, -2}));
  EXPECT_EQ((*out)[1].floats, old);
}

}  // namespace
}  // namespace kiln::op_test
