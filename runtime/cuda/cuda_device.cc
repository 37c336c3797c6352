// DeviceApi on the CUDA runtime and cuBLASLt (device_api.h). cudart loads
// the driver at its first call, so a machine without one gets Open's
// FailedPrecondition rather than a failure to start.
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/cuda/cuda_gemm.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/device_api.h"

namespace kiln::gpu {
namespace {

// A cuBLASLt plan as a DeviceGemm; streams resolve through the device.
class CudaGemm : public DeviceGemm {
 public:
  CudaGemm(PlannedGemm planned, std::function<cudaStream_t(StreamId)> stream_of)
      : planned_(std::move(planned)), stream_of_(std::move(stream_of)) {}
  absl::Status Enqueue(const void* x, const void* w, const void* bias, void* out, void* workspace,
                       StreamId stream) const override {
    return planned_.Enqueue(x, w, bias, out, workspace, stream_of_(stream));
  }
  std::string Summary() const override { return planned_.Summary(); }

 private:
  PlannedGemm planned_;
  std::function<cudaStream_t(StreamId)> stream_of_;
};

// The CUDA runtime's device. Owns every stream, library, graph and GEMM
// plan it hands out.
class CudaDevice : public DeviceApi {
 public:
  absl::StatusOr<DeviceDescription> Open(int ordinal) override {
    int count = 0;
    const cudaError_t counted = cudaGetDeviceCount(&count);
    if (counted != cudaSuccess) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no usable CUDA device (", cudaGetErrorName(counted), ": ", cudaGetErrorString(counted),
          "): compile the model with --target cpu to run it on this machine, or check the NVIDIA "
          "driver"));
    }
    if (ordinal < 0 || ordinal >= count) {
      return absl::FailedPreconditionError(
          absl::StrCat("CUDA device ", ordinal, " does not exist (", count, " found)"));
    }
    KILN_GPU_CHECK(cudaSetDevice(ordinal));
    cudaDeviceProp prop{};
    KILN_GPU_CHECK(cudaGetDeviceProperties(&prop, ordinal));
    DeviceDescription d;
    d.device_name = prop.name;
    d.name = absl::StrCat(prop.name, " (sm_", prop.major, prop.minor, ", ",
                          prop.multiProcessorCount, " SMs)");
    d.major = prop.major;
    d.minor = prop.minor;
    d.gemm_library_version = static_cast<int64_t>(cublasLtGetVersion());
    ordinal_ = ordinal;
    native_arch_ = absl::StrCat("sm_", prop.major, prop.minor);
    return d;
  }

  absl::StatusOr<size_t> FreeMemory() override {
    size_t free_bytes = 0, total_bytes = 0;
    KILN_GPU_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return free_bytes;
  }

  absl::StatusOr<void*> Malloc(size_t bytes) override {
    void* p = nullptr;
    KILN_GPU_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  void Free(void* pointer) override { cudaFree(pointer); }
  absl::Status Memset(void* p, int value, size_t bytes) override {
    KILN_GPU_CHECK(cudaMemset(p, value, bytes));
    return absl::OkStatus();
  }
  absl::Status MemsetAsync(void* p, int value, size_t bytes, StreamId s) override {
    KILN_GPU_CHECK(cudaMemsetAsync(p, value, bytes, Stream(s)));
    return absl::OkStatus();
  }
  absl::Status CopyToDevice(void* device, const void* host, size_t bytes) override {
    KILN_GPU_CHECK(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
    return absl::OkStatus();
  }
  absl::Status CopyToDeviceAsync(void* device, const void* host, size_t bytes,
                                 StreamId s) override {
    KILN_GPU_CHECK(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, Stream(s)));
    return absl::OkStatus();
  }
  absl::Status CopyToHostAsync(void* host, const void* device, size_t bytes,
                               StreamId s) override {
    KILN_GPU_CHECK(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, Stream(s)));
    return absl::OkStatus();
  }

  absl::StatusOr<StreamId> CreateStream() override {
    KILN_GPU_CHECK(cudaStreamCreateWithFlags(streams_.emplace_back().out(), cudaStreamNonBlocking));
    return static_cast<StreamId>(streams_.size());
  }
  absl::StatusOr<bool> Done(StreamId s) override {
    const cudaError_t queried = cudaStreamQuery(Stream(s));
    if (queried == cudaErrorNotReady) return false;
    KILN_GPU_CHECK(queried);
    return true;
  }
  absl::Status Synchronize(StreamId s) override {
    if (s == 0) {
      KILN_GPU_CHECK(cudaDeviceSynchronize());
    } else {
      KILN_GPU_CHECK(cudaStreamSynchronize(Stream(s)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<KernelId> LoadKernel(const BundledKernel& k, const std::string& arch) override {
    // The cubin runs on its own architecture only; anything else gets the PTX.
    const bool native = arch == native_arch_;
    const std::string& image = native ? k.compiled.cubin : k.compiled.ptx;
    Loaded& loaded = kernels_.emplace_back();
    KILN_GPU_CHECK(cudaLibraryLoadData(loaded.library.out(), image.data(), nullptr, nullptr, 0,
                                       nullptr, nullptr, 0));
    KILN_GPU_CHECK(cudaLibraryGetKernel(&loaded.kernel, loaded.library.get(), k.function.c_str()));
    return static_cast<KernelId>(kernels_.size() - 1);
  }
  absl::Status SetMaxDynamicShared(KernelId k, int bytes) override {
    KILN_GPU_CHECK(cudaKernelSetAttributeForDevice(
        kernels_.at(k).kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes, ordinal_));
    return absl::OkStatus();
  }
  absl::Status Launch(KernelId k, Dim3 grid, Dim3 block, size_t shared,
                      const std::vector<void*>& args, StreamId s) override {
    std::vector<void*> pointers = args;
    KILN_GPU_CHECK(cudaLaunchKernel(reinterpret_cast<const void*>(kernels_.at(k).kernel),
                                    dim3(grid.x, grid.y, grid.z), dim3(block.x, block.y, block.z),
                                    pointers.data(), shared, Stream(s)));
    return absl::OkStatus();
  }

  absl::Status BeginCapture(StreamId s) override {
    KILN_GPU_CHECK(cudaStreamBeginCapture(Stream(s), cudaStreamCaptureModeThreadLocal));
    return absl::OkStatus();
  }
  absl::StatusOr<GraphId> EndCapture(StreamId s) override {
    Graph graph;
    KILN_GPU_CHECK(cudaStreamEndCapture(Stream(s), graph.out()));
    KILN_GPU_CHECK(cudaGraphInstantiate(graphs_.emplace_back().out(), graph.get(), 0));
    return static_cast<GraphId>(graphs_.size() - 1);
  }
  absl::Status LaunchGraph(GraphId g, StreamId s) override {
    KILN_GPU_CHECK(cudaGraphLaunch(graphs_.at(g).get(), Stream(s)));
    return absl::OkStatus();
  }

  absl::StatusOr<GraphId> CaptureLoop(StreamId s, const LoopGraphParts& parts) override {
    Graph graph;
    KILN_GPU_CHECK(cudaGraphCreate(graph.out(), 0));
    cudaGraphConditionalHandle go = 0, bucket = 0;
    KILN_GPU_CHECK(
        cudaGraphConditionalHandleCreate(&go, graph.get(), 1, cudaGraphCondAssignDefault));
    KILN_GPU_CHECK(cudaGraphConditionalHandleCreate(&bucket, graph.get(), 0, 0));
    cudaGraphNodeParams loop{};
    loop.type = cudaGraphNodeTypeConditional;
    loop.conditional.handle = go;
    loop.conditional.type = cudaGraphCondTypeWhile;
    loop.conditional.size = 1;
    cudaGraphNode_t loop_node = nullptr;
    KILN_GPU_CHECK(cudaGraphAddNode(&loop_node, graph.get(), nullptr, nullptr, 0, &loop));
    // The body by stream capture: prepare, then the SWITCH node added to the
    // capture's graph after prepare's nodes, then finish after the SWITCH.
    const cudaStream_t stream = Stream(s);
    KILN_GPU_CHECK(cudaStreamBeginCaptureToGraph(stream, loop.conditional.phGraph_out[0], nullptr,
                                                 nullptr, 0, cudaStreamCaptureModeRelaxed));
    absl::Status body = AddLoopBody(stream, s, parts, go, bucket);
    cudaGraph_t captured = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream, &captured);
    KILN_RETURN_IF_ERROR(body);
    KILN_GPU_CHECK(ended);
    KILN_GPU_CHECK(cudaGraphInstantiate(graphs_.emplace_back().out(), graph.get(), 0));
    return static_cast<GraphId>(graphs_.size() - 1);
  }
  absl::StatusOr<MappedMemory> AllocMapped(size_t bytes) override {
    MappedMemory m;
    KILN_GPU_CHECK(cudaHostAlloc(&m.host, bytes, cudaHostAllocMapped));
    std::memset(m.host, 0, bytes);
    const cudaError_t mapped = cudaHostGetDevicePointer(&m.device, m.host, 0);
    if (mapped != cudaSuccess) {
      cudaFreeHost(m.host);
      KILN_GPU_CHECK(mapped);
    }
    return m;
  }
  void FreeMapped(const MappedMemory& m) override {
    if (m.host != nullptr) cudaFreeHost(m.host);
  }

  absl::StatusOr<double> TimeMs(const std::function<absl::Status(StreamId)>& work, StreamId s,
                                int warmups, int runs) override {
    Event start, stop;
    KILN_GPU_CHECK(cudaEventCreate(start.out()));
    KILN_GPU_CHECK(cudaEventCreate(stop.out()));
    for (int i = 0; i < warmups; ++i) KILN_RETURN_IF_ERROR(work(s));
    KILN_GPU_CHECK(cudaEventRecord(start.get(), Stream(s)));
    for (int i = 0; i < runs; ++i) KILN_RETURN_IF_ERROR(work(s));
    KILN_GPU_CHECK(cudaEventRecord(stop.get(), Stream(s)));
    KILN_GPU_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0;
    KILN_GPU_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    return ms / runs;
  }

  absl::StatusOr<const DeviceGemm*> PlanGemm(const GemmStep& step,
                                             const LtAlgoConfig* recorded) override {
    if (lt_.get() == nullptr) KILN_GPU_CHECK(cublasLtCreate(lt_.out()));
    KILN_ASSIGN_OR_RETURN(PlannedGemm planned, recorded != nullptr
                                                   ? PlannedGemm::FromConfig(lt_.get(), step, *recorded)
                                                   : PlannedGemm::Plan(lt_.get(), step));
    gemms_.push_back(std::make_unique<CudaGemm>(std::move(planned),
                                                [this](StreamId id) { return Stream(id); }));
    return gemms_.back().get();
  }
  size_t GemmWorkspaceBytes() const override { return kGemmWorkspaceBytes; }

 private:
  struct Loaded {
    Library library;
    cudaKernel_t kernel = nullptr;
  };
  // The WHILE body on a capturing `stream`: prepare, a SWITCH over the
  // buckets (each bucket's graph captured on a stream of its own), finish.
  absl::Status AddLoopBody(cudaStream_t stream, StreamId s, const LoopGraphParts& parts,
                           cudaGraphConditionalHandle go, cudaGraphConditionalHandle bucket) {
    KILN_RETURN_IF_ERROR(parts.prepare(s, bucket));
    cudaStreamCaptureStatus status{};
    cudaGraph_t body = nullptr;
    const cudaGraphNode_t* after = nullptr;
    size_t after_count = 0;
    KILN_GPU_CHECK(
        cudaStreamGetCaptureInfo(stream, &status, nullptr, &body, &after, nullptr, &after_count));
    cudaGraphNodeParams pick{};
    pick.type = cudaGraphNodeTypeConditional;
    pick.conditional.handle = bucket;
    pick.conditional.type = cudaGraphCondTypeSwitch;
    pick.conditional.size = static_cast<unsigned>(parts.buckets.size());
    cudaGraphNode_t pick_node = nullptr;
    KILN_GPU_CHECK(cudaGraphAddNode(&pick_node, body, after, nullptr, after_count, &pick));
    KILN_GPU_CHECK(cudaStreamUpdateCaptureDependencies(stream, &pick_node, nullptr, 1,
                                                       cudaStreamSetCaptureDependencies));
    if (loop_side_stream_ == 0) {
      KILN_ASSIGN_OR_RETURN(loop_side_stream_, CreateStream());
    }
    const StreamId side = loop_side_stream_;
    for (size_t b = 0; b < parts.buckets.size(); ++b) {
      KILN_GPU_CHECK(cudaStreamBeginCaptureToGraph(Stream(side), pick.conditional.phGraph_out[b],
                                                   nullptr, nullptr, 0,
                                                   cudaStreamCaptureModeRelaxed));
      absl::Status enqueued = parts.buckets[b](side);
      cudaGraph_t captured = nullptr;
      const cudaError_t ended = cudaStreamEndCapture(Stream(side), &captured);
      KILN_RETURN_IF_ERROR(enqueued);
      KILN_GPU_CHECK(ended);
    }
    return parts.finish(s, go);
  }

  cudaStream_t Stream(StreamId id) const { return id == 0 ? nullptr : streams_.at(id - 1).get(); }

  int ordinal_ = 0;
  std::string native_arch_;  // "sm_90", from Open
  std::vector<gpu::Stream> streams_;
  std::vector<Loaded> kernels_;
  std::vector<GraphExec> graphs_;
  StreamId loop_side_stream_ = 0;  // captures the loop graphs' SWITCH branches
  LtHandle lt_;
  std::vector<std::unique_ptr<CudaGemm>> gemms_;
};

}  // namespace

std::unique_ptr<DeviceApi> MakeCudaDevice() { return std::make_unique<CudaDevice>(); }

}  // namespace kiln::gpu
