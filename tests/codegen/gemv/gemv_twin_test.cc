// The GEMV kernel's CPU twin against the reference executor's matmul_nt
// (runtime/reference/ops_linalg.cc, the spec) and against a float64 loop.
// The twin computes what the kernel computes, operation by operation
// (codegen/gemv/gemv_host.h), so this is the evidence about the kernel's
// algorithm a machine without a GPU can give: the lane/chunk split of K,
// the vector width chosen for odd K, the butterfly, the bias and the single
// rounding, columns past n and rows below max_rows.
//
// Sizes are odd on purpose: K 64, 769 (element loads), 2048 and 2051; N 7
// and 1031 (neither a multiple of any block's columns); rows 1, 3 and 8;
// f32, f16, bf16; with and without bias; the A100's and the H100's tiling
// for narrow and wide weights. Inputs are fresh each run; the seed is
// printed for replay.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/gpu_target.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/gemv/gemv_host.h"
#include "gtest/gtest.h"
#include "ir/builder.h"
#include "base/half.h"
#include "runtime/reference/executor.h"
#include "tests/codegen/gemv/gemv_test_support.h"
#include "tests/support/one_op.h"

namespace kiln::codegen::gemv::testing {
namespace {

constexpr DType kF32 = DType::kF32, kF16 = DType::kF16, kBF16 = DType::kBF16;

// Runs matmul_nt(x, w[, bias]) alone on the reference executor.
absl::StatusOr<HostTensor> ReferenceMatmulNT(const Problem& p) {
  std::vector<HostTensor> inputs = {HostTensor::FromFloats(p.dtype, {p.rows, p.k}, p.x),
                                    HostTensor::FromFloats(p.dtype, {p.n, p.k}, p.w)};
  if (!p.bias.empty()) inputs.push_back(HostTensor::FromFloats(p.dtype, {p.n}, p.bias));
  return ::kiln::testing::RunOneOp(Op::kMatmulNT, std::move(inputs));
}

// The float64 product rounded once to the dtype: the best any kernel can do.
std::vector<float> RoundedExact(const Problem& p) {
  std::vector<float> out;
  for (double v : ExactProduct(p)) out.push_back(RoundToDType(static_cast<float>(v), p.dtype));
  return out;
}

struct Worst {
  double vs_reference = 0, vs_exact = 0, reference_vs_exact = 0;
  int64_t identical = 0, total = 0;
};

// f32: NMSE <= 1e-7 (TESTING.md, op vs CPU reference); f16/bf16: the
// allclose ratio <= 1. Returns the metric.
double Check(const std::vector<float>& got, const std::vector<float>& want, DType dtype,
             const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  if (dtype == kF32) {
    const double nmse = Nmse(got, want);
    EXPECT_LE(nmse, 1e-7) << what;
    return nmse;
  }
  const double ratio = AllCloseRatio(got, want, dtype);
  EXPECT_LE(ratio, 1.0) << what;
  return ratio;
}

TEST(GemvTwinTest, MatchesTheReferenceMatmulNT) {
  Rng rng = TestRng();
  Worst worst[3];
  int cases = 0;
  for (DType dtype : {kF32, kF16, kBF16}) {
    Worst& wd = worst[static_cast<int>(dtype == kF32 ? 0 : dtype == kF16 ? 1 : 2)];
    for (int64_t k : {769, 64, 2051, 2048}) {
      for (int64_t n : {1031, 7}) {
        for (int64_t rows : {1, 3, 8}) {
          for (bool bias : {false, true}) {
            const Problem p = MakeProblem(rng, k, n, rows, dtype, bias);
            const std::string what =
                absl::StrCat("k ", k, " n ", n, " rows ", rows, " ", std::string(DTypeName(dtype)),
                             bias ? " bias" : " no bias", "; ", SeedNote());
            absl::StatusOr<HostTensor> want = ReferenceMatmulNT(p);
            ASSERT_TRUE(want.ok()) << want.status();
            const std::vector<float> exact = RoundedExact(p);
            // Narrow (n itself) and wide (vocabulary) tilings of both
            // presets, the launch's max_rows exact and at the limit: the
            // result must not depend on any of them (bit for bit).
            std::vector<float> first;
            for (const GpuTarget& info : {A100Target(), H100Target()}) {
              for (int64_t n_hint : {n, int64_t{128256}}) {
                for (int max_rows : {static_cast<int>(rows), kMaxRowsPerLaunch}) {
                  absl::StatusOr<GemvVariant> v =
                      GemvVariantFor({.k = k, .dtype = dtype, .max_rows = max_rows}, n_hint, info);
                  ASSERT_TRUE(v.ok()) << v.status();
                  const std::vector<float> got = GemvTwin(*v, p.inputs());
                  if (first.empty()) {
                    first = got;
                  } else {
                    EXPECT_EQ(got, first) << GemvKernelName(*v) << " " << what;
                  }
                }
              }
            }
            wd.vs_reference = std::max(wd.vs_reference,
                                       Check(first, want->floats, dtype, what + " vs reference"));
            wd.vs_exact = std::max(wd.vs_exact, Check(first, exact, dtype, what + " vs float64"));
            wd.reference_vs_exact = std::max(
                wd.reference_vs_exact, Check(want->floats, exact, dtype, what + " ref vs float64"));
            for (size_t i = 0; i < first.size(); ++i) wd.identical += first[i] == want->floats[i];
            wd.total += static_cast<int64_t>(first.size());
            ++cases;
          }
        }
      }
    }
  }
  std::printf("\n%d problems (%s)\n", cases, SeedNote().c_str());
  std::printf("%-5s %14s %14s %18s %24s\n", "dtype", "twin vs ref", "twin vs f64",
              "ref vs f64", "bit-identical to ref");
  const char* names[] = {"f32", "f16", "bf16"};
  for (int d = 0; d < 3; ++d) {
    std::printf("%-5s %14.3g %14.3g %18.3g %14lld/%lld\n", names[d], worst[d].vs_reference,
                worst[d].vs_exact, worst[d].reference_vs_exact,
                static_cast<long long>(worst[d].identical), static_cast<long long>(worst[d].total));
  }
  std::printf("(f32: NMSE, limit 1e-7; f16/bf16: allclose error / tolerance, limit 1)\n");
}

// Vector width: 16-byte loads when K allows, narrower for K that is not a
// multiple of the vector (every weight row stays aligned).
TEST(GemvTwinTest, VectorWidthDividesK) {
  EXPECT_EQ(VecElements(2048, kBF16), 8);
  EXPECT_EQ(VecElements(2048, kF32), 4);
  EXPECT_EQ(VecElements(769, kBF16), 1);
  EXPECT_EQ(VecElements(2051, kF32), 1);
  EXPECT_EQ(VecElements(2052, kF16), 4);
  EXPECT_EQ(VecElements(2054, kF16), 2);
  EXPECT_EQ(VecElements(2054, kF32), 2);
}

// The comparison has teeth: a twin that loses one lane's partial (one
// chunk in 32) fails the f32 check against the reference.
TEST(GemvTwinTest, ADroppedChunkIsDetected) {
  Rng rng = TestRng();
  const Problem p = MakeProblem(rng, 769, 7, 3, kF32, true);
  absl::StatusOr<HostTensor> want = ReferenceMatmulNT(p);
  ASSERT_TRUE(want.ok()) << want.status();
  Problem broken = p;
  for (int64_t j = 0; j < p.n; ++j) broken.w[j * p.k + p.k - 1] = 0.0f;  // lane 0's last chunk
  absl::StatusOr<GemvVariant> v = GemvVariantFor({.k = 769, .dtype = kF32, .max_rows = 3}, 7,
                                                 H100Target());
  ASSERT_TRUE(v.ok());
  EXPECT_GT(Nmse(GemvTwin(*v, broken.inputs()), want->floats), 1e-7);
}

}  // namespace
}  // namespace kiln::codegen::gemv::testing
