#include "tests/support/test_seed.h"

#include <cstdlib>
#include <functional>

#include "gtest/gtest.h"
#include "base/half.h"

namespace kiln::testing {

uint64_t BaseSeed() {
  static const uint64_t seed = [] {
    if (const char* env = std::getenv("KILN_TEST_SEED"); env != nullptr && env[0] != '\0') {
      return static_cast<uint64_t>(std::strtoull(env, nullptr, 10));
    }
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }();
  return seed;
}

std::string SeedNote() {
  return "seed " + std::to_string(BaseSeed()) +
         " (replay: KILN_TEST_SEED=" + std::to_string(BaseSeed()) + ")";
}

Rng TestRng() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      info == nullptr ? "" : std::string(info->test_suite_name()) + "." + info->name();
  return Rng(BaseSeed() ^ std::hash<std::string>{}(name));
}

std::vector<float> NormalValues(Rng& rng, int64_t n, double sd, DType dtype) {
  std::normal_distribution<float> normal(0.0f, static_cast<float>(sd));
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = RoundToDType(normal(rng), dtype);
  return values;
}

}  // namespace kiln::testing
