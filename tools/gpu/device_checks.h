// The probe's device-side checks: what the GPU is, whether an NVRTC cubin
// loads and runs without the driver library being linked, whether a CUDA
// graph replays it exactly, and how fast device memory copies.
//
// QueryDevice returns Unavailable (cudart's reason in the message) only when
// there is no GPU or no driver library at all; a driver that loads but fails
// is FailedPrecondition. The other functions expect QueryDevice to have
// succeeded and return the failing call's text and location for any CUDA
// error. Device 0 is used throughout.
#ifndef KILN_TOOLS_GPU_DEVICE_CHECKS_H_
#define KILN_TOOLS_GPU_DEVICE_CHECKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_handles.h"

namespace kiln::gpu {

// What cudart reports about device 0.
struct DeviceInfo {
  int device_count = 0;
  std::string name;
  std::string pci_bus_id;
  int sm_count = 0;
  int cc_major = 0;
  int cc_minor = 0;
  size_t total_memory_bytes = 0;
  size_t free_memory_bytes = 0;
  int l2_cache_bytes = 0;
  int shared_memory_per_block_optin_bytes = 0;
  int memory_bus_width_bits = 0;
  int driver_version = 0;   // e.g. 13000 for CUDA 13.0
  int runtime_version = 0;  // cudart's own version
};

// Initialises cudart on device 0 (which loads the driver library lazily).
// Unavailable: no GPU, or no driver installed.
absl::StatusOr<DeviceInfo> QueryDevice();

// True when a file named libcuda.so* is mapped into this process. Before
// cudart starts this must be false (the driver is not linked); after a
// successful start on a GPU host it is true (cudart loaded it lazily).
bool DriverLibraryMapped();

// The axpy kernel (probe_kernels.h) loaded from a cubin with
// cudaLibraryLoadData: the driver's library loader reached through cudart,
// so nothing links libcuda. Keeps the library loaded while it lives.
class LoadedAxpyKernel {
 public:
  static absl::StatusOr<LoadedAxpyKernel> Load(const std::vector<char>& cubin);

  // Enqueues out = bf16(fma(alpha, x, y)) for n elements on `stream`.
  absl::Status Launch(const void* x, const void* y, void* out, float alpha, int n,
                      cudaStream_t stream) const;

 private:
  Library library_;
  cudaKernel_t kernel_ = nullptr;
};

// One launch on every 16-bit pattern class (random bits: NaN, inf,
// subnormals included), compared bit for bit with the CPU reference.
struct AxpyCheck {
  int64_t elements = 0;
  int64_t mismatches = 0;
};
absl::StatusOr<AxpyCheck> RunAxpyCheck(const LoadedAxpyKernel& kernel, int n);

// y <- bf16(fma(alpha, x, y)) applied `steps` times, first as that many
// eager launches, then as one captured launch replayed `steps` times. Both
// results are compared bit for bit with the same recurrence on the CPU, so
// a replay that did not run, ran twice or ran out of order shows up.
struct GraphCheck {
  int64_t elements = 0;
  int steps = 0;
  int64_t eager_mismatches = 0;
  int64_t graph_mismatches = 0;
  double eager_us_per_launch = 0;  // device time between events / steps
  double graph_us_per_replay = 0;
};
absl::StatusOr<GraphCheck> RunGraphCheck(const LoadedAxpyKernel& kernel, int n, int steps);

// Device-to-device cudaMemcpyAsync of `bytes`, `iterations` times after two
// warm-up copies. Bandwidth counts bytes read plus bytes written (2 x bytes
// per copy), the convention in which an H100 measures ~3.0 TB/s.
struct CopyBandwidth {
  size_t bytes = 0;
  int iterations = 0;
  double ms_per_copy = 0;
  double gb_per_s = 0;  // 1e9 bytes/s, read + write
};
absl::StatusOr<CopyBandwidth> MeasureCopyBandwidth(size_t bytes, int iterations);

// Milliseconds between two events recorded on a stream, after waiting for
// `stop`. Shared with gemm_check.cc.
absl::StatusOr<double> ElapsedMs(cudaEvent_t start, cudaEvent_t stop);

}  // namespace kiln::gpu

#endif  // KILN_TOOLS_GPU_DEVICE_CHECKS_H_
