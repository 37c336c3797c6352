// Fresh random inputs for every run, replayable: the seed tests draw from,
// and the random tensors they draw.
//
// The base seed comes from std::random_device unless KILN_TEST_SEED=<n> is
// set; each test's stream is fixed by the base seed and the test's name, so
// TestRng() must be called inside a running test. SeedNote() says how to
// replay a failure.
#ifndef KILN_TESTS_SUPPORT_TEST_SEED_H_
#define KILN_TESTS_SUPPORT_TEST_SEED_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace kiln::testing {

using Rng = std::mt19937_64;

uint64_t BaseSeed();
std::string SeedNote();  // "seed <n> (replay: KILN_TEST_SEED=<n>)"
Rng TestRng();

// `n` draws of N(0, sd), each rounded to `dtype` (as the reference executor
// holds tensors).
std::vector<float> NormalValues(Rng& rng, int64_t n, double sd, DType dtype);

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_TEST_SEED_H_
