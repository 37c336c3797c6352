// Random attention problems and error metrics shared by the attention
// checks (attention_check.h), which run the kernels in the emulator and on
// a GPU against the reference executor (attention_reference.h).
//
// Contract:
//   - Seeds: fresh each run (std::random_device) unless KILN_TEST_SEED=<n>;
//     each test's stream is fixed by the base seed and the test's name, so
//     TestRng() must be called inside a running test. SeedNote() says how
//     to replay.
//   - Problems hold their tensors rounded to the shape's dtype, as the
//     reference executor's HostTensors do.
//   - Tolerances (TESTING.md): f32 NMSE <= 1e-7; f16/bf16 vLLM allclose,
//     |a - b| <= atol s + rtol (|b| + m) with s = max(1, rms(b)) and m the
//     attention term magnitude of tests/runtime/op_test_support.h:
//     sum_j p_j |v_j| (1 + |z_j| + sum_k p_k |z_k|), the first-order effect
//     of rounding the scores z and probabilities p to the dtype.
#ifndef KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_TEST_SUPPORT_H_
#define KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_TEST_SUPPORT_H_

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "codegen/attention/attention_config.h"
#include "tests/support/error_metrics.h"
#include "tests/support/test_seed.h"

namespace kiln::codegen::attention::testing {

// Seeds: tests/support/test_seed.h.
using ::kiln::testing::BaseSeed;
using ::kiln::testing::Rng;
using ::kiln::testing::SeedNote;
using ::kiln::testing::TestRng;

// How query positions are laid out in each batch row.
enum class Positions {
  kContiguous,  // start_b + s, start_b uniform in [start_lo, start_hi]
  kScattered,   // distinct, uniform in [0, capacity), in random order
};

// How to draw a problem: sizes and the position layout.
struct ProblemSpec {
  AttentionShape shape;
  int64_t batch = 1;
  int64_t seq = 1;
  int64_t capacity = 83;
  int64_t window = 0;
  Positions positions = Positions::kContiguous;
  int64_t start_lo = 0;  // kContiguous: first position's range
  int64_t start_hi = 0;
};

// One attention problem drawn from its spec: a cache with random contents
// (every slot, filled or not) and queries at positions inside it.
struct Problem : ProblemSpec {
  float scale = 1.0f;
  std::vector<float> q;        // [batch, seq, heads, head_dim]
  std::vector<float> k_cache;  // [batch, capacity, kv_heads, head_dim]
  std::vector<float> v_cache;
  std::vector<int32_t> pos;  // [batch, seq]
};

// The fused RoPE + KV-write kernel's inputs (attention_cuda.h): values as
// the reference executor holds them, f32 exactly representable in the
// dtype.
struct RopeKvInputs {
  int64_t batch = 1;
  int64_t seq = 1;
  int64_t capacity = 1;
  std::span<const float> q;  // [batch, seq, heads, head_dim]
  std::span<const float> k;  // [batch, seq, kv_heads, head_dim]
  std::span<const float> v;
  std::span<const int32_t> pos;    // [batch, seq]
  std::span<const float> cos_sin;  // [capacity, head_dim]
};

// q ~ N(0, 1.5^2), k and v ~ N(0, 1), each rounded to the dtype; scale
// 1/sqrt(head_dim).
Problem MakeProblem(Rng& rng, const ProblemSpec& spec);

using ::kiln::testing::Nmse;  // tests/support/error_metrics.h

// The largest |a - b| / (atol s + rtol (|b| + m)) over all elements (<= 1
// passes), with (atol, rtol) of `dtype`; `terms` is m per element (empty:
// 0). For f32 the ratio uses (1e-5, 1.3e-6) and no m.
double AllCloseRatio(const std::vector<float>& got, const std::vector<float>& want,
                     const std::vector<double>& terms, DType dtype);

// The attention term magnitude m of each output element, in float64.
std::vector<double> AttentionTerms(const Problem& p);

}  // namespace kiln::codegen::attention::testing

#endif  // KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_TEST_SUPPORT_H_
