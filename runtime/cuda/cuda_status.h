// Turning the status codes of cudart and cuBLASLt into absl::Status (the
// runtime never links NVRTC; tools/gpu adds an NVRTC overload for its probe).
//
// The probe checks every CUDA call. A failure must say which call failed and
// where, because the probe's log is often all that comes back from a scarce
// GPU host: "cudaMalloc(&ptr, bytes) at device_checks.cc:88 failed:
// cudaErrorMemoryAllocation (out of memory)".
#ifndef KILN_RUNTIME_CUDA_CUDA_STATUS_H_
#define KILN_RUNTIME_CUDA_CUDA_STATUS_H_

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace kiln::gpu {

// OkStatus when `code` is the library's success value; otherwise an error
// naming the call text `expr`, its source location and the library's name
// and description of the code.
absl::Status CallStatus(cudaError_t code, const char* expr, const char* file, int line);
absl::Status CallStatus(cublasStatus_t code, const char* expr, const char* file, int line);
// Kiln's own steps already return absl::Status; passed through unchanged so
// one macro propagates every kind of failure.
inline absl::Status CallStatus(absl::Status status, const char*, const char*, int) {
  return status;
}

}  // namespace kiln::gpu

// Evaluates a cudart/cuBLASLt call (or an absl::Status expression) and
// returns its failure, as an absl::Status, from the enclosing function.
#define KILN_GPU_CHECK(expr)                                                                 \
  do {                                                                                       \
    absl::Status kiln_gpu_status_ = ::kiln::gpu::CallStatus((expr), #expr, __FILE__, __LINE__); \
    if (!kiln_gpu_status_.ok()) return kiln_gpu_status_;                                     \
  } while (false)

#endif  // KILN_RUNTIME_CUDA_CUDA_STATUS_H_
