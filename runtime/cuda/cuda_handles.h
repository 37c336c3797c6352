// Owning wrappers for the cudart and cuBLASLt objects the probe creates.
#ifndef KILN_RUNTIME_CUDA_CUDA_HANDLES_H_
#define KILN_RUNTIME_CUDA_CUDA_HANDLES_H_

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <utility>

namespace kiln::gpu {

// Owns one handle of type T (a pointer-like CUDA object) and releases it
// with `Destroy` when it goes out of scope. Move-only. Errors from Destroy
// are ignored: a destructor has nobody to report to, and a broken context
// makes the probe's next checked call fail loudly anyway.
template <typename T, auto Destroy>
class UniqueHandle {
 public:
  UniqueHandle() = default;
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  UniqueHandle(UniqueHandle&& other) noexcept : handle_(std::exchange(other.handle_, T{})) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, T{});
    }
    return *this;
  }
  ~UniqueHandle() { reset(); }

  T get() const { return handle_; }
  // For the C APIs' create functions: releases what is held, then lends the
  // slot to be filled.
  T* out() {
    reset();
    return &handle_;
  }
  void reset() {
    if (handle_ != T{}) Destroy(handle_);
    handle_ = T{};
  }

 private:
  T handle_{};
};

using DeviceMemory = UniqueHandle<void*, &cudaFree>;
using Stream = UniqueHandle<cudaStream_t, &cudaStreamDestroy>;
using Event = UniqueHandle<cudaEvent_t, &cudaEventDestroy>;
using Graph = UniqueHandle<cudaGraph_t, &cudaGraphDestroy>;
using GraphExec = UniqueHandle<cudaGraphExec_t, &cudaGraphExecDestroy>;
using Library = UniqueHandle<cudaLibrary_t, &cudaLibraryUnload>;

using LtHandle = UniqueHandle<cublasLtHandle_t, &cublasLtDestroy>;
using LtMatmulDesc = UniqueHandle<cublasLtMatmulDesc_t, &cublasLtMatmulDescDestroy>;
using LtLayout = UniqueHandle<cublasLtMatrixLayout_t, &cublasLtMatrixLayoutDestroy>;
using LtPreference = UniqueHandle<cublasLtMatmulPreference_t, &cublasLtMatmulPreferenceDestroy>;

}  // namespace kiln::gpu

#endif  // KILN_RUNTIME_CUDA_CUDA_HANDLES_H_
