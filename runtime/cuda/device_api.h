// The device seam: every call the CUDA executor makes to a GPU, behind one
// narrow interface with two implementations.
//   - CudaDevice (cuda_device.h): the CUDA runtime, cuBLASLt and the
//     driver cudart loads lazily; the only one that touches a GPU.
//   - EmulatedDevice (runtime/emulator/emulated_device.h): host memory as
//     device memory, streams in order, graph capture that records launches
//     and replays them, kernels run by the CUDA emulator from the engine's
//     CUDA source, cuBLASLt products by a reference GEMM. Chosen only when
//     asked for (--device emulator), never in place of a missing GPU.
//
// Objects the device creates (streams, kernels, graphs, GEMM plans) are
// owned by it and live as long as it does; handles are opaque. Memory is
// the caller's to Free. Every call reports failure as a Status naming the
// call and the device's reason.
#ifndef KILN_RUNTIME_CUDA_DEVICE_API_H_
#define KILN_RUNTIME_CUDA_DEVICE_API_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/kernel_bundle.h"
#include "codegen/plan/launch_plan.h"

namespace kiln::gpu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

using StreamId = int;  // 0 is the device's default stream
using KernelId = int;
using GraphId = int;
// A CUDA graph conditional handle (cudaGraphConditionalHandle): a kernel
// argument that kernels set with cudaGraphSetConditional.
using ConditionHandle = unsigned long long;

// The parts of a loop graph (CaptureLoop), each enqueueing on the stream it
// is given: `prepare` sets `bucket` to the index of the part to run next,
// `finish` sets `go` to 0 to end the loop.
struct LoopGraphParts {
  std::function<absl::Status(StreamId, ConditionHandle bucket)> prepare;
  std::vector<std::function<absl::Status(StreamId)>> buckets;
  std::function<absl::Status(StreamId, ConditionHandle go)> finish;
};

// Host memory the device reads and writes while kernels run (mapped,
// pinned): `host` on the host, `device` in kernels.
struct MappedMemory {
  void* host = nullptr;
  void* device = nullptr;
};

// What a device is, as the executor checks and reports it.
struct DeviceDescription {
  std::string name;       // "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)"
  std::string device_name;  // the bare product name, as gemm_choices records it
  int major = 0;
  int minor = 0;
  bool emulated = false;
  int64_t gemm_library_version = 0;  // cublasLtGetVersion(), or 0
};

// One GEMM step planned on the device's GEMM library: the IR's
// out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) in the step's dtype, f32
// accumulation (cuda_gemm.h).
class DeviceGemm {
 public:
  virtual ~DeviceGemm() = default;
  virtual absl::Status Enqueue(const void* x, const void* w, const void* bias, void* out,
                               void* workspace, StreamId stream) const = 0;
  // "m=1 n=2048 k=2048 bf16 +bias: ..."
  virtual std::string Summary() const = 0;
};

class DeviceApi {
 public:
  virtual ~DeviceApi() = default;

  // Selects device `ordinal` (on a GPU: cudaSetDevice, which creates its
  // context) and describes it; FailedPrecondition when it cannot be used
  // (no driver, no device), with the reason. Call it first.
  virtual absl::StatusOr<DeviceDescription> Open(int ordinal) = 0;
  virtual absl::StatusOr<size_t> FreeMemory() = 0;

  // Memory. Copies and sets without a stream complete before returning.
  virtual absl::StatusOr<void*> Malloc(size_t bytes) = 0;
  virtual void Free(void* pointer) = 0;
  virtual absl::Status Memset(void* pointer, int value, size_t bytes) = 0;
  virtual absl::Status MemsetAsync(void* pointer, int value, size_t bytes, StreamId stream) = 0;
  virtual absl::Status CopyToDevice(void* device, const void* host, size_t bytes) = 0;
  virtual absl::Status CopyToDeviceAsync(void* device, const void* host, size_t bytes,
                                         StreamId stream) = 0;
  virtual absl::Status CopyToHostAsync(void* host, const void* device, size_t bytes,
                                       StreamId stream) = 0;

  // Streams, in order; Synchronize(0) waits for the whole device.
  virtual absl::StatusOr<StreamId> CreateStream() = 0;
  virtual absl::Status Synchronize(StreamId stream) = 0;
  // True when all `stream` was given has run (cudaStreamQuery); no wait.
  virtual absl::StatusOr<bool> Done(StreamId stream) = 0;

  // The kernel `function` of a bundle compiled for `arch`: its cubin on
  // that architecture, its PTX elsewhere; the emulator runs its source.
  virtual absl::StatusOr<KernelId> LoadKernel(const BundledKernel& kernel,
                                              const std::string& arch) = 0;
  // Opts the kernel into `bytes` of dynamic shared memory (above 48 KiB).
  virtual absl::Status SetMaxDynamicShared(KernelId kernel, int bytes) = 0;
  // `args` point at the parameter values (copied before returning).
  virtual absl::Status Launch(KernelId kernel, Dim3 grid, Dim3 block, size_t shared_bytes,
                              const std::vector<void*>& args, StreamId stream) = 0;

  // Graphs: what `stream` enqueues between the two calls, replayable.
  virtual absl::Status BeginCapture(StreamId stream) = 0;
  virtual absl::StatusOr<GraphId> EndCapture(StreamId stream) = 0;
  virtual absl::Status LaunchGraph(GraphId graph, StreamId stream) = 0;
  // One graph of conditional nodes (WHILE and SWITCH: CUDA >= 12.8):
  //   WHILE (go, 1 at each launch) { prepare; SWITCH (bucket) { buckets[bucket] }; finish }
  // A bucket index past the parts runs none. `stream` must not be capturing.
  virtual absl::StatusOr<GraphId> CaptureLoop(StreamId stream, const LoopGraphParts& parts) = 0;

  // Mapped pinned host memory, zeroed; FreeMapped gives it back.
  virtual absl::StatusOr<MappedMemory> AllocMapped(size_t bytes) = 0;
  virtual void FreeMapped(const MappedMemory& memory) = 0;

  // Milliseconds per run of `work` on `stream` (device timers), or
  // Unimplemented where the device has no meaningful clock (the emulator).
  virtual absl::StatusOr<double> TimeMs(const std::function<absl::Status(StreamId)>& work,
                                        StreamId stream, int warmups, int runs) = 0;

  // GEMM library: the recorded algorithm when given and usable here (else
  // an error the caller may answer with the heuristic), or the heuristic.
  virtual absl::StatusOr<const DeviceGemm*> PlanGemm(const GemmStep& step,
                                                     const LtAlgoConfig* recorded) = 0;
  // Scratch every GEMM may use.
  virtual size_t GemmWorkspaceBytes() const = 0;
};

// The CUDA runtime's device (cuda_device.cc).
std::unique_ptr<DeviceApi> MakeCudaDevice();

}  // namespace kiln::gpu

#endif  // KILN_RUNTIME_CUDA_DEVICE_API_H_
