#include "runtime/cuda/cuda_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::gpu {
namespace {

std::string Describe(const char* expr, const char* file, int line, const std::string& what) {
  return absl::StrCat(expr, " at ", file, ":", line, " failed: ", what);
}

}  // namespace

absl::Status CallStatus(cudaError_t code, const char* expr, const char* file, int line) {
  if (code == cudaSuccess) return absl::OkStatus();
  const std::string message = Describe(
      expr, file, line,
      absl::StrCat(cudaGetErrorName(code), " (", cudaGetErrorString(code), ")"));
  // No device and no driver are facts about the machine, not bugs; callers
  // (the probe's no-device path) tell them apart by this code.
  if (code == cudaErrorNoDevice || code == cudaErrorInsufficientDriver) {
    return absl::UnavailableError(message);
  }
  if (code == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status CallStatus(cublasStatus_t code, const char* expr, const char* file, int line) {
  if (code == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(Describe(expr, file, line, cublasLtGetStatusString(code)));
}

}  // namespace kiln::gpu
