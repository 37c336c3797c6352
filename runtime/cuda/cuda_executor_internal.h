// The CUDA executor's state and launch helpers, shared by its files
// (cuda_executor.cc: load and step runs; cuda_loop.cc: the loop graph).
// Not part of the executor's interface.
#ifndef KILN_RUNTIME_CUDA_CUDA_EXECUTOR_INTERNAL_H_
#define KILN_RUNTIME_CUDA_CUDA_EXECUTOR_INTERNAL_H_

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/launch_plan.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/cuda/device_api.h"
#include "runtime/cuda/eager_launch.h"

namespace kiln {

using gpu::Dim3;
using gpu::Enqueue;
using gpu::KernelId;
using gpu::NamedLaunch;
using gpu::StreamId;

// Launch arguments: a launch takes the address of each.
class KernelArgs {
 public:
  template <typename T>
  KernelArgs& Add(T value) {
    static_assert(sizeof(T) <= sizeof(uint64_t));
    uint64_t slot = 0;
    std::memcpy(&slot, &value, sizeof(T));
    slots_.push_back(slot);
    return *this;
  }
  // Pointers into the slots (valid until the next Add).
  std::vector<void*> Pointers() {
    std::vector<void*> out;
    for (uint64_t& s : slots_) out.push_back(&s);
    return out;
  }

 private:
  std::vector<uint64_t> slots_;
};

inline Enqueue Launch(gpu::DeviceApi* device, KernelId kernel, Dim3 grid, Dim3 block, size_t shared,
                      KernelArgs args) {
  return [=](StreamId stream) mutable -> absl::Status {
    return device->Launch(kernel, grid, block, shared, args.Pointers(), stream);
  };
}

inline Dim3 Grid(int64_t x, int64_t y = 1, int64_t z = 1) {
  return Dim3{static_cast<unsigned>(x), static_cast<unsigned>(y), static_cast<unsigned>(z)};
}

// The device's memory, freed with the device.
struct DeviceAllocation {
  gpu::DeviceApi* device = nullptr;
  void* pointer = nullptr;
  DeviceAllocation() = default;
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;
  ~DeviceAllocation() {
    if (pointer != nullptr) device->Free(pointer);
  }
  absl::Status Allocate(gpu::DeviceApi* on, size_t bytes) {
    device = on;
    KILN_ASSIGN_OR_RETURN(pointer, on->Malloc(bytes));
    return absl::OkStatus();
  }
  void* get() const { return pointer; }
};

// RunLoop's buffers and captured loop graphs (cuda_loop.cc): device words
// for the loop's state, config, history and bucket outputs, and mapped
// host memory for the streamed tokens and the host's stop request.
struct LoopGraphs {
  gpu::DeviceApi* device = nullptr;
  int64_t capacity = 0;
  DeviceAllocation words;
  gpu::MappedMemory mapped;
  std::map<std::string, gpu::GraphId> graphs;  // by their buckets' functions
  LoopGraphs() = default;
  LoopGraphs(const LoopGraphs&) = delete;
  LoopGraphs& operator=(const LoopGraphs&) = delete;
  ~LoopGraphs() {
    if (mapped.host != nullptr) device->FreeMapped(mapped);
  }
};

struct CudaExecutor::State {
  // Declared first, destroyed last: everything below lives on it.
  std::shared_ptr<gpu::DeviceApi> device;
  gpu::DeviceDescription description;
  CudaExecutorOptions options;
  StaticLayout layout;
  std::vector<LaunchPlan> plans;
  std::map<ArenaSpace, int64_t> base;  // each space's offset in the arena
  DeviceAllocation arena, workspace;
  StreamId stream = 0;
  std::map<std::string, KernelId> kernels;  // by function name
  // The SHA-256 of the loop kernels' source as the bundle records it:
  // RunLoop runs them only if it is this build's (their arguments and
  // config words are an interface between the two).
  std::string loop_source_sha256;
  std::map<std::string, std::string> row_functions;
  std::map<std::string, bool> gemv_wins;           // timing decisions by shape
  const GemmChoices* recorded_gemms = nullptr;     // during Create, when they apply here
  std::vector<std::vector<NamedLaunch>> launches;  // per plan
  std::vector<gpu::GraphId> graphs;                // per plan, when use_graphs
  // SampleRow's parameters in, token and fault flag out.
  DeviceAllocation sample_io;
  int64_t synchronizations = 0;      // host waits on the device (Sync)
  std::unique_ptr<LoopGraphs> loop;  // cuda_loop.cc, made at the first RunLoop

  char* Address(const DeviceBuffer& b) const {
    return static_cast<char*>(arena.get()) + base.at(b.space) + b.offset;
  }
  absl::StatusOr<KernelId> Kernel(const std::string& function) const {
    auto it = kernels.find(function);
    if (it == kernels.end()) return absl::InternalError("the bundle lacks kernel " + function);
    return it->second;
  }

  absl::Status Allocate(CudaLoadReport& report);
  absl::Status Upload(const WeightBytes& weights);
  absl::Status LoadKernels(const KernelBundle& bundle);
  absl::StatusOr<std::vector<NamedLaunch>> Prepare(const LaunchPlan& plan, CudaLoadReport& report);
  absl::StatusOr<const gpu::DeviceGemm*> PlanGemm(const GemmStep& g, CudaLoadReport& report);
  absl::StatusOr<NamedLaunch> PrepareGemm(const GemmStep& g, CudaLoadReport& report);
  absl::StatusOr<NamedLaunch> PrepareRow(const RowKernelStep& s, const LaunchPlan& plan);
  absl::StatusOr<std::vector<NamedLaunch>> PrepareAttention(const LaunchStep& step,
                                                            const LaunchPlan& plan);
  absl::Status WarmUp(size_t plan);
  absl::StatusOr<double> TimeMs(const Enqueue& launch);
  // Waits for `stream`, counted.
  absl::Status Sync(StreamId stream) {
    ++synchronizations;
    return device->Synchronize(stream);
  }
};

}  // namespace kiln

#endif  // KILN_RUNTIME_CUDA_CUDA_EXECUTOR_INTERNAL_H_
