// Support shared by the op tests of the CPU reference executor
// (reference_ops_test.cc, reference_errors_test.cc): per-test random streams,
// random inputs with their float64 mirror, one-op modules, and the error
// metrics behind the worst-error table.
//
// Contract:
//   - Seeds: one base seed per process, KILN_TEST_SEED=<n> or random; each
//     test's stream is fixed by the base seed and the test's name, so
//     TestRng() must be called inside a running test.
//   - Inputs: Input::host is rounded to its dtype when built and Input::ref
//     holds those rounded values in float64.
//   - OneOp never fails itself: a module that does not build or verify
//     leaves its status in Prepared::executor.
//   - ExpectClose and ExpectExact record into Stats(); StatsPrinter prints
//     Stats() when all tests are done, once registered with
//     ::testing::AddGlobalTestEnvironment (by the binary that wants the table).
//
// Tolerances (TESTING.md), applied by ExpectClose:
//   f32:       NMSE = sum (a-b)^2 / sum b^2 <= 1e-7 (llama.cpp).
//   f16, bf16: allclose, |a-b| <= atol·s + rtol·(|b| + m), with (atol, rtol)
//              = (1e-3, 1e-3) for f16 and (1e-3, 1.6e-2) for bf16 (vLLM):
//     s = max(1, rms(b)): atol grows with the output's scale, so a k=769 dot
//       product or a x3.7 scale is held to the same relative standard as a
//       normalised output; the f32 accumulation and cancellation error before
//       the final rounding grows with the size of the terms, not of a result.
//     m = 0 for ops that round once, at their result. Where ir/op.h's
//       Precision note makes an op round intermediates to the dtype, as
//       Transformers does, rtol also covers the size of those intermediates,
//       since near a cancellation their rounding dominates the result's:
//       rope: |x_i| + |x_partner| (the rotated pair: cos, sin and both
//         products are rounded);
//       attention: sum_j p_j |v_j| (1 + |z_j| + sum_k p_k |z_k|), the
//         first-order effect of rounding the scores z and probabilities p
//         (f64::Attention). rms_norm's intermediate is the output's size, so
//         m = 0 there.
//   Data movement, casts, kv_cache_write and argmax: exact (ExpectExact).
#ifndef KILN_TESTS_RUNTIME_OP_TEST_SUPPORT_H_
#define KILN_TESTS_RUNTIME_OP_TEST_SUPPORT_H_

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "ir/module.h"
#include "runtime/reference/executor.h"
#include "tests/runtime/op_reference_f64.h"
#include "tests/support/test_seed.h"

namespace kiln::op_test {

using ::kiln::testing::BaseSeed;
using ::kiln::testing::Rng;
using ::kiln::testing::SeedNote;
using ::kiln::testing::TestRng;

inline constexpr DType kF32 = DType::kF32, kF16 = DType::kF16, kBF16 = DType::kBF16;
inline constexpr DType kI32 = DType::kI32, kI64 = DType::kI64;

// ---------------------------------------------------------------- seeds

// BaseSeed(), SeedNote() and TestRng(): tests/support/test_seed.h (each
// test gets its own stream, fixed by the base seed and the test's name).

// ---------------------------------------------------------------- inputs

// A value fed to the executor and the same (rounded) values in float64.
struct Input {
  HostTensor host;
  f64::Tensor ref;
};

Input FromHost(HostTensor host);
Input Floats(DType dtype, std::vector<int64_t> shape, std::vector<float> values);
Input Ints(DType dtype, std::vector<int64_t> shape, std::vector<int64_t> values);
// Uniform in [lo, hi) for floats; integers in [lo, hi) for integer dtypes.
Input Uniform(Rng& rng, DType dtype, std::vector<int64_t> shape, double lo = -1, double hi = 1);
Input Normal(Rng& rng, DType dtype, std::vector<int64_t> shape, double mean = 0, double sd = 1);
// Positions [start_b, start_b + seq) per batch row, start_b in [lo, capacity - seq].
Input ContiguousPositions(Rng& rng, int64_t batch, int64_t seq, int64_t lo, int64_t capacity);
// Distinct positions in [0, capacity) per batch row, in random order.
Input DistinctPositions(Rng& rng, int64_t batch, int64_t seq, int64_t capacity);

// ---------------------------------------------------------------- modules

// An operand of a one-op module: a function parameter (its leading dims
// optionally symbolic, bound from the input at run time) or a module weight.
struct Arg {
  std::string name;
  Input value;
  std::vector<std::string> symbols = {};
  bool weight = false;
};

Arg Weight(std::string name, Input value);

// One case, ready to run: the executor of a module whose function @f holds
// one op, its inputs and the float64 expectation of each result.
struct Prepared {
  absl::StatusOr<ReferenceExecutor> executor = absl::UnknownError("not built");
  std::vector<HostTensor> inputs;
  std::vector<f64::Tensor> expected;
  // Per result, the size m of the intermediates the op rounds (see the
  // tolerances at the top); empty when the op rounds once.
  std::vector<f64::Tensor> term_magnitude;
};

// `target` is the result type of reshape and cast (its dtype or shape).
Prepared OneOp(Op op, std::vector<Arg> args, Attrs attrs, f64::Tensor expected,
               const TensorType& target = {});

// Builds a module from text and its executor (failures are test failures).
ReferenceExecutor FromText(const std::string& text, WeightMap weights = {});

// ---------------------------------------------------------------- metrics

// The worst error seen per op and dtype, printed after all tests.
struct OpStats {
  int runs = 0;
  int64_t exact_elements = 0;
  std::map<DType, double> nmse;       // max over runs
  std::map<DType, double> tol_ratio;  // max |a-b| / (atol·s + rtol·(|b| + m)), f16/bf16
};

// Per op name (the summary row), for the whole process.
std::map<std::string, OpStats>& Stats();

// Prints Stats() as a table, with the seed, at the end of the test program.
class StatsPrinter : public ::testing::Environment {
 public:
  void TearDown() override;
};

// `got` within the tolerance of its dtype of `want`; `terms` (may be null)
// is the m of the tolerances above, per element.
void ExpectClose(const std::string& op, const HostTensor& got, const f64::Tensor& want,
                 const f64::Tensor* terms);
// Equal values, NaN equal to NaN, and the sign of zero preserved.
void ExpectExact(const std::string& op, const HostTensor& got, const f64::Tensor& want);

}  // namespace kiln::op_test

#endif  // KILN_TESTS_RUNTIME_OP_TEST_SUPPORT_H_
