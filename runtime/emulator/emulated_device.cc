#include "runtime/emulator/emulated_device.h"

#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "base/status_macros.h"
#include "runtime/emulator/device_memory.h"
#include "runtime/emulator/kernel_module.h"

namespace kiln::emulator {
namespace {

using gpu::StreamId;

// The opt-in dynamic shared memory per block (CUDA's documented limits).
absl::StatusOr<size_t> SharedLimit(const std::string& arch) {
  if (arch == "sm_80") return size_t{163} * 1024;
  if (arch == "sm_90") return size_t{227} * 1024;
  return absl::InvalidArgumentError(absl::StrCat(
      "the CUDA emulator knows sm_80 and sm_90, not ", arch, ": recompile for one of them"));
}

// `count` elements of `dtype` at device address `p`, widened (exactly).
std::vector<float> Floats(const void* p, int64_t count, DType dtype) {
  const size_t bytes = static_cast<size_t>(count) * (dtype == DType::kF32 ? 4 : 2);
  return DecodeFloats(std::span<const uint8_t>(static_cast<const uint8_t*>(p), bytes), dtype);
}

absl::Status CheckDevice(const void* p, size_t bytes, const std::string& what) {
  if (bytes == 0 || DeviceMemory::Global().Contains(p, bytes)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": ", bytes, " bytes at ", absl::Hex(reinterpret_cast<uintptr_t>(p)),
      " are not inside one emulated device allocation"));
}

using Operation = std::function<absl::Status()>;

// cuBLASLt's GEMM contract on the CPU: out[m, n] = x[m, k] . w[n, k]^T
// (+ bias[n]), the sum in f32 over k in order, one rounding to the dtype.
class ReferenceGemm : public gpu::DeviceGemm {
 public:
  ReferenceGemm(const GemmStep& step, std::function<absl::Status(StreamId, Operation)> enqueue)
      : step_(step), enqueue_(std::move(enqueue)) {}

  absl::Status Enqueue(const void* x, const void* w, const void* bias, void* out, void*,
                       StreamId stream) const override {
    const GemmStep s = step_;
    return enqueue_(stream, [s, x, w, bias, out]() -> absl::Status {
      const size_t e = s.dtype == DType::kF32 ? 4 : 2;
      KILN_RETURN_IF_ERROR(CheckDevice(x, static_cast<size_t>(s.m * s.k) * e, "GEMM x"));
      KILN_RETURN_IF_ERROR(CheckDevice(w, static_cast<size_t>(s.n * s.k) * e, "GEMM w"));
      KILN_RETURN_IF_ERROR(CheckDevice(out, static_cast<size_t>(s.m * s.n) * e, "GEMM out"));
      if (bias != nullptr) KILN_RETURN_IF_ERROR(CheckDevice(bias, static_cast<size_t>(s.n) * e, "GEMM bias"));
      // Each operand widened once (exactly), the product in f32, one
      // rounding as the result is encoded.
      const std::vector<float> xf = Floats(x, s.m * s.k, s.dtype);
      const std::vector<float> wf = Floats(w, s.n * s.k, s.dtype);
      const std::vector<float> bf = bias != nullptr ? Floats(bias, s.n, s.dtype) : std::vector<float>();
      std::vector<float> result(static_cast<size_t>(s.m * s.n));
      for (int64_t r = 0; r < s.m; ++r) {
        for (int64_t j = 0; j < s.n; ++j) {
          const float* xr = xf.data() + r * s.k;
          const float* wr = wf.data() + j * s.k;
          float acc = 0.0f;
          for (int64_t t = 0; t < s.k; ++t) acc += xr[t] * wr[t];
          result[static_cast<size_t>(r * s.n + j)] = bias != nullptr ? acc + bf[j] : acc;
        }
      }
      const std::vector<uint8_t> encoded = EncodeFloats(result, s.dtype);
      std::memcpy(out, encoded.data(), encoded.size());
      return absl::OkStatus();
    });
  }
  std::string Summary() const override {
    return absl::StrCat("m=", step_.m, " n=", step_.n, " k=", step_.k, " ",
                        std::string(DTypeName(step_.dtype)), step_.bias.bytes > 0 ? " +bias" : "",
                        ": emulator reference GEMM");
  }

 private:
  GemmStep step_;
  std::function<absl::Status(StreamId, Operation)> enqueue_;
};

class EmulatedDevice : public gpu::DeviceApi {
 public:
  EmulatedDevice(EmulatedDeviceOptions options, size_t shared_limit)
      : options_(std::move(options)), shared_limit_(shared_limit) {}
  ~EmulatedDevice() override {
    for (const std::unique_ptr<unsigned>& slot : conditions_) UnregisterCondition(slot.get());
    for (void* p : allocations_) (void)DeviceMemory::Global().Free(p);
  }

  absl::StatusOr<gpu::DeviceDescription> Open(int ordinal) override {
    if (ordinal != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("the CUDA emulator has device 0 only, not ", ordinal));
    }
    gpu::DeviceDescription d;
    d.device_name = "Kiln CUDA emulator";
    d.name = absl::StrCat("Kiln CUDA emulator (", options_.arch, " semantics on the CPU, ",
                          options_.schedule.Name(), " schedule; emulated, not a GPU)");
    d.major = options_.arch[3] - '0';
    d.minor = options_.arch[4] - '0';
    d.emulated = true;
    return d;
  }
  absl::StatusOr<size_t> FreeMemory() override {
    return static_cast<size_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  }

  absl::StatusOr<void*> Malloc(size_t bytes) override {
    KILN_ASSIGN_OR_RETURN(void* p, DeviceMemory::Global().Allocate(bytes));
    allocations_.push_back(p);
    return p;
  }
  void Free(void* pointer) override {
    for (size_t i = 0; i < allocations_.size(); ++i) {
      if (allocations_[i] == pointer) {
        allocations_.erase(allocations_.begin() + static_cast<std::ptrdiff_t>(i));
        (void)DeviceMemory::Global().Free(pointer);
        return;
      }
    }
  }
  absl::Status Memset(void* p, int value, size_t bytes) override {
    KILN_RETURN_IF_ERROR(RefuseWhileCapturing("a synchronous memset"));
    return SetNow(p, value, bytes);
  }
  absl::Status SetNow(void* p, int value, size_t bytes) {
    KILN_RETURN_IF_ERROR(CheckDevice(p, bytes, "memset"));
    std::memset(p, value, bytes);
    return absl::OkStatus();
  }
  absl::Status MemsetAsync(void* p, int value, size_t bytes, StreamId s) override {
    return Enqueue(s, [this, p, value, bytes] { return SetNow(p, value, bytes); });
  }
  absl::Status CopyToDevice(void* device, const void* host, size_t bytes) override {
    KILN_RETURN_IF_ERROR(RefuseWhileCapturing("a synchronous copy"));
    return CopyNow(device, host, bytes);
  }
  absl::Status CopyNow(void* device, const void* host, size_t bytes) {
    KILN_RETURN_IF_ERROR(CheckDevice(device, bytes, "copy to the device"));
    std::memcpy(device, host, bytes);
    return absl::OkStatus();
  }
  absl::Status CopyToDeviceAsync(void* device, const void* host, size_t bytes, StreamId s) override {
    return Enqueue(s, [this, device, host, bytes] { return CopyNow(device, host, bytes); });
  }
  absl::Status CopyToHostAsync(void* host, const void* device, size_t bytes, StreamId s) override {
    return Enqueue(s, [host, device, bytes]() -> absl::Status {
      KILN_RETURN_IF_ERROR(CheckDevice(device, bytes, "copy to the host"));
      std::memcpy(host, device, bytes);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<StreamId> CreateStream() override {
    captures_.emplace_back();
    return static_cast<StreamId>(captures_.size());
  }
  // Waiting completes at once (every call already ran), but not while a
  // stream captures: CUDA invalidates the capture.
  absl::Status Synchronize(StreamId) override { return RefuseWhileCapturing("a synchronize"); }
  absl::StatusOr<bool> Done(StreamId) override { return true; }

  absl::StatusOr<gpu::KernelId> LoadKernel(const BundledKernel& k, const std::string&) override {
    if (k.source.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the engine carries no CUDA source for kernel ", k.function,
          " (kernel.", k.function, ".cu): recompile it with this compile-model to run it on the "
          "emulator"));
    }
    std::shared_ptr<KernelModule>& module = modules_[k.source_sha256];
    if (module == nullptr) {
      KILN_ASSIGN_OR_RETURN(module, KernelModule::Compile(k.source, k.function));
    }
    KILN_ASSIGN_OR_RETURN(const EmulatedKernel* kernel, module->Kernel(k.function));
    kernels_.push_back({module, kernel, 48 * 1024});
    return static_cast<gpu::KernelId>(kernels_.size() - 1);
  }
  absl::Status SetMaxDynamicShared(gpu::KernelId k, int bytes) override {
    if (bytes < 0 || static_cast<size_t>(bytes) > shared_limit_) {
      return absl::InvalidArgumentError(absl::StrCat(
          kernels_.at(k).kernel->name, " asks for ", bytes, " bytes of dynamic shared memory; ",
          options_.arch, " allows ", shared_limit_));
    }
    kernels_.at(k).shared_limit = std::max<size_t>(48 * 1024, static_cast<size_t>(bytes));
    return absl::OkStatus();
  }
  absl::Status Launch(gpu::KernelId k, gpu::Dim3 grid, gpu::Dim3 block, size_t shared,
                      const std::vector<void*>& args, StreamId s) override {
    const Loaded& loaded = kernels_.at(k);
    const EmulatedKernel* kernel = loaded.kernel;
    if (args.size() != kernel->param_sizes.size()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid launch of ", kernel->name, ": it takes ",
                                                     kernel->param_sizes.size(), " parameters, ",
                                                     args.size(), " were given"));
    }
    // The values, copied now: a captured launch replays them.
    auto values = std::make_shared<std::vector<std::vector<char>>>();
    for (size_t i = 0; i < args.size(); ++i) {
      const char* p = static_cast<const char*>(args[i]);
      values->emplace_back(p, p + kernel->param_sizes[i]);
    }
    LaunchConfig config;
    config.grid = {grid.x, grid.y, grid.z};
    config.block = {block.x, block.y, block.z};
    config.dynamic_shared_bytes = shared;
    config.shared_limit_bytes = loaded.shared_limit;
    config.schedule = options_.schedule;
    return Enqueue(s, [kernel, config, values]() {
      std::vector<void*> pointers;
      for (std::vector<char>& v : *values) pointers.push_back(v.data());
      return emulator::Launch(*kernel, config, pointers);
    });
  }

  absl::Status BeginCapture(StreamId s) override {
    if (s <= 0 || s > static_cast<StreamId>(captures_.size()) || captures_[s - 1].has_value()) {
      return absl::FailedPreconditionError(absl::StrCat("stream ", s, " cannot begin a capture"));
    }
    captures_[s - 1].emplace();
    return absl::OkStatus();
  }
  absl::StatusOr<gpu::GraphId> EndCapture(StreamId s) override {
    if (s <= 0 || s > static_cast<StreamId>(captures_.size()) || !captures_[s - 1].has_value()) {
      return absl::FailedPreconditionError(absl::StrCat("stream ", s, " is not capturing"));
    }
    graphs_.push_back(std::move(*captures_[s - 1]));
    captures_[s - 1].reset();
    return static_cast<gpu::GraphId>(graphs_.size() - 1);
  }
  absl::Status LaunchGraph(gpu::GraphId g, StreamId s) override {
    if (g < 0 || g >= static_cast<gpu::GraphId>(graphs_.size())) {
      return absl::InvalidArgumentError(absl::StrCat("no graph ", g));
    }
    // By index: a graph launched while another is captured must not hold a
    // reference into graphs_, which grows.
    return Enqueue(s, [this, g]() -> absl::Status {
      const std::vector<Operation>& graph = graphs_[g];
      for (size_t i = 0; i < graph.size(); ++i) {
        absl::Status status = graph[i]();
        if (!status.ok()) {
          return absl::Status(status.code(), absl::StrCat("graph node ", i + 1, " of ",
                                                          graph.size(), ": ", status.message()));
        }
      }
      return absl::OkStatus();
    });
  }

  // The loop's parts are captured on `s` one after another; the graph is
  // one operation that runs them with CUDA's conditional-node semantics.
  absl::StatusOr<gpu::GraphId> CaptureLoop(StreamId s, const gpu::LoopGraphParts& parts) override {
    unsigned* go = NewCondition();
    unsigned* bucket = NewCondition();
    const gpu::ConditionHandle go_handle = RegisterCondition(go);
    const gpu::ConditionHandle bucket_handle = RegisterCondition(bucket);
    KILN_ASSIGN_OR_RETURN(std::vector<Operation> prepare, CaptureOps(s, [&](StreamId c) {
                            return parts.prepare(c, bucket_handle);
                          }));
    auto branches = std::make_shared<std::vector<std::vector<Operation>>>();
    for (const auto& part : parts.buckets) {
      KILN_ASSIGN_OR_RETURN(branches->emplace_back(), CaptureOps(s, part));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<Operation> finish,
                          CaptureOps(s, [&](StreamId c) { return parts.finish(c, go_handle); }));
    Operation loop = [go, bucket, branches, prepare = std::move(prepare),
                      finish = std::move(finish)]() -> absl::Status {
      *go = 1;  // cudaGraphCondAssignDefault, default 1
      for (int64_t round = 0; *go != 0; ++round) {
        if (round == kMaxLoopRounds) {
          return absl::DeadlineExceededError(absl::StrCat("the loop graph ran ", kMaxLoopRounds,
                                                          " rounds: its finish never ends it"));
        }
        KILN_RETURN_IF_ERROR(RunOps(prepare, "the loop's prepare"));
        if (*bucket < branches->size()) {
          KILN_RETURN_IF_ERROR(RunOps((*branches)[*bucket], absl::StrCat("loop bucket ", *bucket)));
        }
        KILN_RETURN_IF_ERROR(RunOps(finish, "the loop's finish"));
      }
      return absl::OkStatus();
    };
    graphs_.push_back({std::move(loop)});
    return static_cast<gpu::GraphId>(graphs_.size() - 1);
  }
  // Emulated device memory is host memory: one address serves both sides.
  absl::StatusOr<gpu::MappedMemory> AllocMapped(size_t bytes) override {
    KILN_ASSIGN_OR_RETURN(void* p, Malloc(bytes));
    std::memset(p, 0, bytes);
    return gpu::MappedMemory{p, p};
  }
  void FreeMapped(const gpu::MappedMemory& memory) override { Free(memory.host); }

  absl::StatusOr<double> TimeMs(const std::function<absl::Status(StreamId)>&, StreamId, int,
                                int) override {
    return absl::UnimplementedError("the CUDA emulator has no device clock to time with");
  }

  absl::StatusOr<const gpu::DeviceGemm*> PlanGemm(const GemmStep& step,
                                                  const LtAlgoConfig* recorded) override {
    if (recorded != nullptr) {
      return absl::FailedPreconditionError("a recorded cuBLASLt algorithm has no meaning on the emulator");
    }
    gemms_.push_back(std::make_unique<ReferenceGemm>(
        step, [this](StreamId s, Operation op) { return Enqueue(s, std::move(op)); }));
    return gemms_.back().get();
  }
  size_t GemmWorkspaceBytes() const override { return 256; }

 private:
  struct Loaded {
    std::shared_ptr<KernelModule> module;
    const EmulatedKernel* kernel = nullptr;
    size_t shared_limit = 0;
  };

  // CUDA's thread-local capture mode: a synchronous call or a wait during a
  // capture invalidates it, so the emulator refuses it too, naming it, and
  // a capture bug the GPU would hit shows here first.
  absl::Status RefuseWhileCapturing(const char* what) const {
    for (size_t s = 0; s < captures_.size(); ++s) {
      if (captures_[s].has_value()) {
        return absl::FailedPreconditionError(absl::StrCat(
            what, " while stream ", s + 1, " captures a graph (CUDA would invalidate the capture)"));
      }
    }
    return absl::OkStatus();
  }

  static constexpr int64_t kMaxLoopRounds = int64_t{1} << 24;

  unsigned* NewCondition() {
    conditions_.push_back(std::make_unique<unsigned>(0));
    return conditions_.back().get();
  }

  // What `enqueue` records on stream `s`, captured.
  absl::StatusOr<std::vector<Operation>> CaptureOps(
      StreamId s, const std::function<absl::Status(StreamId)>& enqueue) {
    KILN_RETURN_IF_ERROR(BeginCapture(s));
    absl::Status enqueued = enqueue(s);
    std::vector<Operation> ops = std::move(*captures_[s - 1]);
    captures_[s - 1].reset();
    KILN_RETURN_IF_ERROR(enqueued);
    return ops;
  }

  static absl::Status RunOps(const std::vector<Operation>& ops, const std::string& what) {
    for (size_t i = 0; i < ops.size(); ++i) {
      absl::Status status = ops[i]();
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat(what, ", node ", i + 1, " of ", ops.size(),
                                                        ": ", status.message()));
      }
    }
    return absl::OkStatus();
  }

  // Runs `op` now, or records it when `stream` is capturing.
  absl::Status Enqueue(StreamId s, Operation op) {
    if (s > 0 && s <= static_cast<StreamId>(captures_.size()) && captures_[s - 1].has_value()) {
      captures_[s - 1]->push_back(std::move(op));
      return absl::OkStatus();
    }
    return op();
  }

  EmulatedDeviceOptions options_;
  size_t shared_limit_;
  std::vector<void*> allocations_;
  std::vector<std::optional<std::vector<Operation>>> captures_;  // per stream
  std::vector<std::vector<Operation>> graphs_;
  std::map<std::string, std::shared_ptr<KernelModule>> modules_;  // by source digest
  std::vector<Loaded> kernels_;
  std::vector<std::unique_ptr<ReferenceGemm>> gemms_;
  std::vector<std::unique_ptr<unsigned>> conditions_;  // the loop graphs' handles' slots
};

}  // namespace

absl::StatusOr<std::unique_ptr<gpu::DeviceApi>> MakeEmulatedDevice(EmulatedDeviceOptions options) {
  KILN_ASSIGN_OR_RETURN(size_t limit, SharedLimit(options.arch));
  return std::unique_ptr<gpu::DeviceApi>(new EmulatedDevice(std::move(options), limit));
}

}  // namespace kiln::emulator
