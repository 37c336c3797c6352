#include "tools/gpu/device_checks.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "tools/gpu/probe_kernels.h"

namespace kiln::gpu {
namespace {

constexpr int kThreadsPerBlock = 256;

// Enough blocks to cover n once; the kernel's grid-stride loop would also
// cope with fewer.
int BlocksFor(int n) { return std::max(1, (n + kThreadsPerBlock - 1) / kThreadsPerBlock); }

// Every check runs on its own non-blocking stream (graph capture cannot use
// the legacy default stream) and orders its copies on that stream, so no
// implicit synchronisation with the default stream is relied on.
absl::Status CreateStream(Stream& stream) {
  KILN_GPU_CHECK(cudaStreamCreateWithFlags(stream.out(), cudaStreamNonBlocking));
  return absl::OkStatus();
}

absl::Status Upload(void* device, const std::vector<uint16_t>& host, cudaStream_t stream) {
  KILN_GPU_CHECK(cudaMemcpyAsync(device, host.data(), host.size() * sizeof(uint16_t),
                                 cudaMemcpyHostToDevice, stream));
  return absl::OkStatus();
}

absl::Status Download(std::vector<uint16_t>& host, const void* device, cudaStream_t stream) {
  KILN_GPU_CHECK(cudaMemcpyAsync(host.data(), device, host.size() * sizeof(uint16_t),
                                 cudaMemcpyDeviceToHost, stream));
  KILN_GPU_CHECK(cudaStreamSynchronize(stream));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> ElapsedMs(cudaEvent_t start, cudaEvent_t stop) {
  KILN_GPU_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  KILN_GPU_CHECK(cudaEventElapsedTime(&ms, start, stop));
  return static_cast<double>(ms);
}

bool DriverLibraryMapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/libcuda.so") != std::string::npos) return true;
  }
  return false;
}

absl::StatusOr<DeviceInfo> QueryDevice() {
  DeviceInfo info;
  const cudaError_t counted = cudaGetDeviceCount(&info.device_count);
  if (counted != cudaSuccess) {
    const std::string reason =
        absl::StrCat(cudaGetErrorString(counted), " (", cudaGetErrorName(counted), ")");
    // "No device" means no GPU, or no driver at all: cudart reports a driver
    // library it could not load as "driver version is insufficient". A
    // driver that did load but is too old or broken is a failure to report,
    // not a machine without a GPU.
    const bool driver_loaded = DriverLibraryMapped();
    if (counted == cudaErrorNoDevice) return absl::UnavailableError(reason);
    if (counted == cudaErrorInsufficientDriver && !driver_loaded) {
      return absl::UnavailableError(
          absl::StrCat(reason, "; libcuda.so.1 could not be loaded (no NVIDIA driver)"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cudaGetDeviceCount failed with the driver library ",
                     driver_loaded ? "loaded" : "not loaded", ": ", reason));
  }
  if (info.device_count == 0) return absl::UnavailableError("cudaGetDeviceCount found 0 devices");

  KILN_GPU_CHECK(cudaSetDevice(0));
  cudaDeviceProp prop{};
  KILN_GPU_CHECK(cudaGetDeviceProperties(&prop, 0));
  info.name = prop.name;
  info.sm_count = prop.multiProcessorCount;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.total_memory_bytes = prop.totalGlobalMem;
  info.l2_cache_bytes = prop.l2CacheSize;
  info.shared_memory_per_block_optin_bytes = static_cast<int>(prop.sharedMemPerBlockOptin);
  info.memory_bus_width_bits = prop.memoryBusWidth;
  char bus_id[64] = {};
  KILN_GPU_CHECK(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), 0));
  info.pci_bus_id = bus_id;
  size_t total_bytes = 0;
  KILN_GPU_CHECK(cudaMemGetInfo(&info.free_memory_bytes, &total_bytes));
  KILN_GPU_CHECK(cudaDriverGetVersion(&info.driver_version));
  KILN_GPU_CHECK(cudaRuntimeGetVersion(&info.runtime_version));
  return info;
}

absl::StatusOr<LoadedAxpyKernel> LoadedAxpyKernel::Load(const std::vector<char>& cubin) {
  LoadedAxpyKernel loaded;
  KILN_GPU_CHECK(cudaLibraryLoadData(loaded.library_.out(), cubin.data(), nullptr, nullptr, 0,
                                     nullptr, nullptr, 0));
  KILN_GPU_CHECK(cudaLibraryGetKernel(&loaded.kernel_, loaded.library_.get(), kAxpyBf16Kernel));
  return loaded;
}

absl::Status LoadedAxpyKernel::Launch(const void* x, const void* y, void* out, float alpha, int n,
                                      cudaStream_t stream) const {
  void* args[] = {&x, &y, &out, &alpha, &n};
  // cudart accepts a cudaKernel_t wherever it takes a kernel's address.
  KILN_GPU_CHECK(cudaLaunchKernel(reinterpret_cast<const void*>(kernel_), dim3(BlocksFor(n)),
                                  dim3(kThreadsPerBlock), args, 0, stream));
  return absl::OkStatus();
}

absl::StatusOr<AxpyCheck> RunAxpyCheck(const LoadedAxpyKernel& kernel, int n) {
  const float alpha = 1.3125f;  // exact in bf16; not a power of two, so it rounds
  const std::vector<uint16_t> x = RandomBf16Bits(n, 1);
  const std::vector<uint16_t> y = RandomBf16Bits(n, 2);
  const size_t bytes = n * sizeof(uint16_t);
  Stream stream;
  DeviceMemory dx, dy, dout;
  KILN_GPU_CHECK(CreateStream(stream));
  KILN_GPU_CHECK(cudaMalloc(dx.out(), bytes));
  KILN_GPU_CHECK(cudaMalloc(dy.out(), bytes));
  KILN_GPU_CHECK(cudaMalloc(dout.out(), bytes));
  KILN_GPU_CHECK(Upload(dx.get(), x, stream.get()));
  KILN_GPU_CHECK(Upload(dy.get(), y, stream.get()));
  KILN_GPU_CHECK(kernel.Launch(dx.get(), dy.get(), dout.get(), alpha, n, stream.get()));
  std::vector<uint16_t> out(n);
  KILN_GPU_CHECK(Download(out, dout.get(), stream.get()));

  AxpyCheck check;
  check.elements = n;
  check.mismatches = CountBf16Mismatches(out, AxpyBf16Reference(alpha, x, y));
  return check;
}

absl::StatusOr<GraphCheck> RunGraphCheck(const LoadedAxpyKernel& kernel, int n, int steps) {
  // Finite inputs and a small alpha keep y finite over all steps, so every
  // step's rounding is exercised rather than saturating at inf.
  const float alpha = 1.0f / 64;
  const std::vector<uint16_t> x = RandomBf16Uniform(n, -1, 1, 3);
  const std::vector<uint16_t> y0 = RandomBf16Uniform(n, -1, 1, 4);
  std::vector<uint16_t> expected = y0;
  for (int s = 0; s < steps; ++s) expected = AxpyBf16Reference(alpha, x, expected);

  const size_t bytes = n * sizeof(uint16_t);
  Stream stream;
  Event start, stop;
  DeviceMemory dx, dy, scratch;
  KILN_GPU_CHECK(CreateStream(stream));
  KILN_GPU_CHECK(cudaEventCreate(start.out()));
  KILN_GPU_CHECK(cudaEventCreate(stop.out()));
  KILN_GPU_CHECK(cudaMalloc(dx.out(), bytes));
  KILN_GPU_CHECK(cudaMalloc(dy.out(), bytes));
  KILN_GPU_CHECK(cudaMalloc(scratch.out(), bytes));
  KILN_GPU_CHECK(Upload(dx.get(), x, stream.get()));
  // The first launch may load the kernel into the context (CUDA's lazy
  // module loading); keep that out of the timings.
  KILN_GPU_CHECK(kernel.Launch(dx.get(), dx.get(), scratch.get(), alpha, n, stream.get()));

  GraphCheck check;
  check.elements = n;
  check.steps = steps;
  std::vector<uint16_t> result(n);

  // Eager: `steps` launches, each one an API call.
  KILN_GPU_CHECK(Upload(dy.get(), y0, stream.get()));
  KILN_GPU_CHECK(cudaEventRecord(start.get(), stream.get()));
  for (int s = 0; s < steps; ++s) {
    KILN_GPU_CHECK(kernel.Launch(dx.get(), dy.get(), dy.get(), alpha, n, stream.get()));
  }
  KILN_GPU_CHECK(cudaEventRecord(stop.get(), stream.get()));
  absl::StatusOr<double> eager_ms = ElapsedMs(start.get(), stop.get());
  if (!eager_ms.ok()) return eager_ms.status();
  check.eager_us_per_launch = *eager_ms * 1e3 / steps;
  KILN_GPU_CHECK(Download(result, dy.get(), stream.get()));
  check.eager_mismatches = CountBf16Mismatches(result, expected);

  // Graph: one captured launch, replayed `steps` times from the same y0.
  KILN_GPU_CHECK(Upload(dy.get(), y0, stream.get()));
  Graph graph;
  GraphExec exec;
  KILN_GPU_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
  const absl::Status captured =
      kernel.Launch(dx.get(), dy.get(), dy.get(), alpha, n, stream.get());
  // End the capture even after a failed launch, so the stream stays usable.
  KILN_GPU_CHECK(cudaStreamEndCapture(stream.get(), graph.out()));
  KILN_GPU_CHECK(captured);
  KILN_GPU_CHECK(cudaGraphInstantiate(exec.out(), graph.get(), 0));
  // Uploading the executable graph first keeps its one-time set-up out of
  // the first replay's time.
  KILN_GPU_CHECK(cudaGraphUpload(exec.get(), stream.get()));
  KILN_GPU_CHECK(cudaEventRecord(start.get(), stream.get()));
  for (int s = 0; s < steps; ++s) KILN_GPU_CHECK(cudaGraphLaunch(exec.get(), stream.get()));
  KILN_GPU_CHECK(cudaEventRecord(stop.get(), stream.get()));
  absl::StatusOr<double> graph_ms = ElapsedMs(start.get(), stop.get());
  if (!graph_ms.ok()) return graph_ms.status();
  check.graph_us_per_replay = *graph_ms * 1e3 / steps;
  KILN_GPU_CHECK(Download(result, dy.get(), stream.get()));
  check.graph_mismatches = CountBf16Mismatches(result, expected);
  return check;
}

absl::StatusOr<CopyBandwidth> MeasureCopyBandwidth(size_t bytes, int iterations) {
  Stream stream;
  Event start, stop;
  DeviceMemory src, dst;
  KILN_GPU_CHECK(CreateStream(stream));
  KILN_GPU_CHECK(cudaEventCreate(start.out()));
  KILN_GPU_CHECK(cudaEventCreate(stop.out()));
  KILN_GPU_CHECK(cudaMalloc(src.out(), bytes));
  KILN_GPU_CHECK(cudaMalloc(dst.out(), bytes));
  // Touch both buffers so the timed copies do not include first-use costs.
  KILN_GPU_CHECK(cudaMemsetAsync(src.get(), 1, bytes, stream.get()));
  KILN_GPU_CHECK(cudaMemsetAsync(dst.get(), 0, bytes, stream.get()));
  for (int i = 0; i < 2; ++i) {
    KILN_GPU_CHECK(
        cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
  }
  KILN_GPU_CHECK(cudaEventRecord(start.get(), stream.get()));
  for (int i = 0; i < iterations; ++i) {
    KILN_GPU_CHECK(
        cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
  }
  KILN_GPU_CHECK(cudaEventRecord(stop.get(), stream.get()));
  absl::StatusOr<double> ms = ElapsedMs(start.get(), stop.get());
  if (!ms.ok()) return ms.status();

  CopyBandwidth result;
  result.bytes = bytes;
  result.iterations = iterations;
  result.ms_per_copy = *ms / iterations;
  result.gb_per_s = 2.0 * static_cast<double>(bytes) / (result.ms_per_copy * 1e-3) / 1e9;
  return result;
}

}  // namespace kiln::gpu
