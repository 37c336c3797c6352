// oneDNN's sgemm as the CPU executor calls it: column ranges of x . w^T
// against float64 at odd sizes, on the calling thread alone, and the
// refusals of a library that is missing or is not oneDNN. tools/setup.sh
// installs Debian's libdnnl2, so the library must load here unless
// KILN_CPU_ONEDNN=0 asks to run without it.
#include "runtime/cpu/onednn_sgemm.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/test_seed.h"

namespace kiln::cpu {
namespace {

int ThreadsOfThisProcess() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

const OnednnSgemm* LibraryOrFail() {
  const OnednnSgemm* library = OnednnSgemm::Get();
  const char* env = std::getenv("KILN_CPU_ONEDNN");
  if (env != nullptr && std::strcmp(env, "0") == 0) {
    EXPECT_EQ(library, nullptr);
    EXPECT_EQ(OnednnSgemm::UnavailableReason(), "KILN_CPU_ONEDNN=0");
    return nullptr;
  }
  EXPECT_NE(library, nullptr) << OnednnSgemm::UnavailableReason()
                              << " (tools/setup.sh installs libdnnl2)";
  return library;
}

// Two column ranges written into rows wider than n (sentinels past n must
// survive), each output within f32 rounding of the float64 sum: |error| <=
// k * 2^-23 * sum |x w| covers any summation order.
TEST(OnednnSgemm, ColumnRangesMatchFloat64) {
  const OnednnSgemm* library = LibraryOrFail();
  if (library == nullptr) GTEST_SKIP() << "KILN_CPU_ONEDNN=0";
  EXPECT_EQ(library->name().rfind("oneDNN ", 0), 0u) << library->name();
  auto rng = testing::TestRng();
  std::normal_distribution<float> normal(0, 1);
  const int threads_before = ThreadsOfThisProcess();
  for (int64_t m : {1, 16, 17, 33, 100}) {
    for (int64_t n : {1, 17, 100}) {
      for (int64_t k : {1, 37, 576, 1001}) {
        SCOPED_TRACE(testing::SeedNote() + " m " + std::to_string(m) + " n " + std::to_string(n) +
                     " k " + std::to_string(k));
        std::vector<float> x(m * k), w(n * k);
        for (auto& v : x) v = normal(rng);
        for (auto& v : w) v = normal(rng);
        const int64_t ldo = n + 3;
        std::vector<float> out(m * ldo, -7.0f);
        ASSERT_TRUE(library->Rows(x.data(), w.data(), m, k, 0, n / 3, out.data(), ldo));
        ASSERT_TRUE(library->Rows(x.data(), w.data(), m, k, n / 3, n, out.data(), ldo));
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double ref = 0, magnitude = 0;
            for (int64_t c = 0; c < k; ++c) {
              ref += double{x[i * k + c]} * w[j * k + c];
              magnitude += std::fabs(double{x[i * k + c]} * w[j * k + c]);
            }
            ASSERT_NEAR(out[i * ldo + j], ref, k * std::ldexp(magnitude, -23) + 1e-30)
                << "row " << i << " column " << j;
          }
          for (int64_t j = n; j < ldo; ++j) ASSERT_EQ(out[i * ldo + j], -7.0f) << "wrote past n";
        }
      }
    }
  }
  // Its OpenMP team is limited to the caller: no thread was started.
  EXPECT_EQ(ThreadsOfThisProcess(), threads_before);
}

TEST(OnednnSgemm, AMissingLibraryIsAnErrorThatSaysWhatToInstall) {
  absl::StatusOr<std::unique_ptr<OnednnSgemm>> opened =
      OnednnSgemm::Open("libkiln-no-such-dnnl.so.2");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(opened.status().message().find("libdnnl2"), std::string::npos) << opened.status();
}

TEST(OnednnSgemm, ALibraryThatIsNotOnednnIsRefused) {
  absl::StatusOr<std::unique_ptr<OnednnSgemm>> opened = OnednnSgemm::Open("libm.so.6");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("is not oneDNN"), std::string::npos) << opened.status();
}

}  // namespace
}  // namespace kiln::cpu
