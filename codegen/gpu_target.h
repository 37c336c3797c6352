// The GPU a model is compiled for: a preset described by data, so that the
// choices codegen makes for an H100 can be tested on a machine without one
// (XLA's TestGpuDeviceInfo idea). Not the device a run finds: the runtime
// asks cudart about that one.
#ifndef KILN_CODEGEN_GPU_TARGET_H_
#define KILN_CODEGEN_GPU_TARGET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::codegen {

// What lowering and compilation need to know about a target GPU. The
// numbers are the CUDA occupancy limits of the architecture (CUDA C++
// Programming Guide, "Compute Capabilities" table), not measurements.
struct GpuTarget {
  std::string name;
  int arch = 0;                      // compute capability x10: 80, 90
  int sm_count = 0;
  int warp_size = 32;
  int max_threads_per_block = 1024;
  int64_t max_shared_per_block = 0;  // bytes, opt-in maximum

  std::string sm_arch() const;       // "sm_80": the cubin target
  std::string compute_arch() const;  // "compute_80": the PTX target
};

GpuTarget A100Target();  // sm_80, 108 SMs, 163 KiB shared memory per block
GpuTarget H100Target();  // sm_90, 132 SMs (SXM5), 227 KiB shared memory per block

// "sm_80" / "a100" / "sm_90" / "h100" -> the preset; anything else is an error.
absl::StatusOr<GpuTarget> GpuTargetByName(const std::string& target);

// Threads per row for a row kernel of `cols` elements: one thread per
// kElementsPerThread columns, rounded up to whole warps, at least one warp
// and at most the block limit. Four columns a thread gives each thread four
// independent loads in flight per loop (enough to cover DRAM latency on
// both presets, which share the limits this rule reads), while a hidden
// size of 4096 still fills a 1024-thread block; above that each thread
// takes more columns. Rows are not split across blocks: at batch 1 a
// single-row kernel (argmax over the vocabulary) uses one SM, which is the
// first thing to revisit on silicon.
inline constexpr int kElementsPerThread = 4;
int ThreadsPerRow(int64_t cols, const GpuTarget& info);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_GPU_TARGET_H_
