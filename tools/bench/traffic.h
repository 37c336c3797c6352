// The bytes a decode step must move: the denominator-free half of the
// roofline (the other half is the measured copy bandwidth).
#ifndef KILN_TOOLS_BENCH_TRAFFIC_H_
#define KILN_TOOLS_BENCH_TRAFFIC_H_

#include <cstdint>
#include <vector>

#include "ir/module.h"
#include "runtime/reference/session.h"

namespace kiln::bench {

// Lower bounds on one batch-1 decode step's memory traffic, in the dtypes
// the IR declares (the engine's storage dtype; the reference executor holds
// floats in memory whatever the dtype, a real backend does not).
struct StepTraffic {
  // Every weight the decode function reads, once. A weight read only by
  // `embedding` ops counts one row per token (a gather touches one row),
  // so an untied input embedding is not counted as a whole; a tied one is,
  // since the LM head reads all of it.
  int64_t weight_bytes = 0;
  // KV-cache bytes per context position, over all layers: the cache
  // parameters' bytes per position. A step attending over c positions reads
  // c times this.
  int64_t kv_bytes_per_position = 0;
};

// Computes the traffic of the decode function: the bucket with seq 1 when
// there is one, else the module's first function.
StepTraffic DecodeTraffic(const Module& module, const std::vector<SessionBucket>& buckets);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_TRAFFIC_H_
