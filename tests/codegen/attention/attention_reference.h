// The reference executor's attention, rope and kv_cache_write (the spec,
// runtime/reference/) applied to the attention tests' problems: what
// attention_check.h compares the kernels with, in the emulator and on a
// GPU.
#ifndef KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_REFERENCE_H_
#define KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_REFERENCE_H_

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "base/host_tensor.h"
#include "codegen/attention/attention_host.h"
#include "tests/codegen/attention/attention_test_support.h"

namespace kiln::codegen::attention::testing {

// attention(q, k_cache, v_cache, pos) with the problem's scale and window;
// an error where a position lies outside the cache.
absl::StatusOr<HostTensor> ReferenceAttention(const Problem& p);

// rope on q and on the new k, then kv_cache_write of the rotated k and of
// v into copies of the caches.
struct RopeKvResult {
  std::vector<float> q, k_cache, v_cache;
};
absl::StatusOr<RopeKvResult> ReferenceRopeKvWrite(const AttentionShape& shape,
                                                  const RopeParams& rope, const RopeKvInputs& in,
                                                  std::span<const float> k_cache,
                                                  std::span<const float> v_cache);

}  // namespace kiln::codegen::attention::testing

#endif  // KILN_TESTS_CODEGEN_ATTENTION_ATTENTION_REFERENCE_H_
