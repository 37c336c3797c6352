// The attention kernels on any device (a KernelRunner: the CUDA emulator or
// a GPU, tests/support/kernel_job.h) against the reference executor's
// attention, rope and kv_cache_write (attention_reference.h), shared by
// attention_emulator_test and attention_gpu_test. Launches are exactly as
// attention_cuda.h documents them and as the CUDA executor makes them.
//
// Tolerances (TESTING.md): prefill and decode + combine f32 NMSE <= 1e-7,
// f16/bf16 the allclose of attention_test_support.h (ratio <= 1);
// rope_kv_write bit for bit (the cos/sin table is an input, so nothing
// transcendental runs on the device). Each check prints one line with the
// error and the elements bit-identical to the reference, EXPECTs the
// tolerance (naming the case), and returns the runner's failure unchanged.
#ifndef KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_CHECK_H_
#define KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_host.h"
#include "codegen/gpu_target.h"
#include "tests/codegen/attention/attention_test_support.h"
#include "tests/support/kernel_job.h"

namespace kiln::codegen::attention::testing {

using ::kiln::testing::KernelRunner;

// What a kernel (or kernel pair) left on the device.
struct KernelOutput {
  std::vector<float> out;  // prefill / combine output, or rope_kv_write's q
  std::vector<float> k_cache, v_cache;  // rope_kv_write only
  bool fault = false;
};

// The launches, with `preset`'s variant of each kernel.
absl::StatusOr<KernelOutput> RunPrefill(const KernelRunner& run, const GpuTarget& preset,
                                        const Problem& p);
absl::StatusOr<KernelOutput> RunDecode(const KernelRunner& run, const GpuTarget& preset,
                                       const Problem& p, int splits);

// A rope_kv_write case: a problem's q, the first seq tokens' worth of its
// caches as the new k and v, and a llama3-scaled cos/sin table.
struct RopeCase {
  Problem p;
  RopeParams rope{.theta = 500000.0f, .scaling = "llama3", .factor = 8.0f};
  std::vector<float> table;
  RopeKvInputs in() const;
};
RopeCase MakeRopeCase(Problem p);
absl::StatusOr<KernelOutput> RunRopeKvWrite(const KernelRunner& run, const GpuTarget& preset,
                                            const RopeCase& c);

// Counts of what the checks compared (the suites print their sums).
struct CheckCounts {
  int64_t compared = 0, bit_identical = 0, mismatches = 0;
};

// Prefill, and decode + combine with `splits` splits, against
// ReferenceAttention; no fault flag.
absl::Status CheckPrefill(const KernelRunner& run, const GpuTarget& preset, const Problem& p,
                          const std::string& what, CheckCounts& counts);
absl::Status CheckDecode(const KernelRunner& run, const GpuTarget& preset, const Problem& p,
                         int splits, const std::string& what, CheckCounts& counts);
// rope_kv_write against rope then kv_cache_write, bit for bit.
absl::Status CheckRopeKvWrite(const KernelRunner& run, const GpuTarget& preset, const RopeCase& c,
                              const std::string& what, CheckCounts& counts);

// Token 2 of a one-row problem at position `bad` (outside the cache): every
// kernel sets its fault flag; prefill and decode write zeros for that token
// and rope_kv_write leaves its q row zero and its cache slot alone; every
// other element equals the reference's for the problem with the token's
// position valid (its original one). `p` must have batch 1 and seq >= 3;
// `rope` its own problem of the same shape.
absl::Status CheckPositionOutsideTheCache(const KernelRunner& run, const GpuTarget& preset,
                                          const Problem& p, const RopeCase& rope, int32_t bad,
                                          CheckCounts& counts);

// f32: NMSE; f16/bf16: AllCloseRatio with the attention terms.
double AttentionError(const std::vector<float>& got, const std::vector<float>& want,
                      const Problem& p);
double AttentionLimit(DType dtype);  // 1e-7 for f32, 1 otherwise

}  // namespace kiln::codegen::attention::testing

#endif  // KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_CHECK_H_
