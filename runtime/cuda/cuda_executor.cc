#include "runtime/cuda/cuda_executor.h"

#include <chrono>
#include <cstring>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "base/status_macros.h"
#include "codegen/attention/attention_host.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/loop/loop_cuda.h"
#include "codegen/plan/arena_plan.h"
#include "codegen/plan/gemm_shapes.h"
#include "runtime/cuda/cuda_executor_internal.h"
#include "runtime/cuda/device_api.h"
#include "runtime/cuda/eager_launch.h"

namespace kiln {
namespace {

namespace attn = codegen::attention;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

}  // namespace

absl::StatusOr<std::string> CudaDeviceAvailable(int device) {
  KILN_ASSIGN_OR_RETURN(gpu::DeviceDescription d, gpu::MakeCudaDevice()->Open(device));
  return d.name;
}

absl::Status CudaExecutor::State::Allocate(CudaLoadReport& report) {
  const DeviceArenaPlan plan = PlanDeviceArena(layout, plans);
  KILN_ASSIGN_OR_RETURN(size_t free_bytes, device->FreeMemory());
  const auto workspace_bytes = static_cast<int64_t>(device->GemmWorkspaceBytes());
  const int64_t needed = plan.total_bytes + workspace_bytes;
  KILN_RETURN_IF_ERROR(CheckArenaFits(plan, static_cast<int64_t>(free_bytes) - workspace_bytes,
                                      report.device));
  for (const ArenaRegion& r : plan.regions) {
    if (r.name == "weights") base[ArenaSpace::kWeights] = r.offset;
    if (r.name == "kv_cache") base[ArenaSpace::kCaches] = r.offset;
    if (r.name == "step_inputs") base[ArenaSpace::kInputs] = r.offset;
    if (r.name == "rope_tables") base[ArenaSpace::kTables] = r.offset;
    if (r.name == "scratch") base[ArenaSpace::kScratch] = r.offset;
  }
  KILN_RETURN_IF_ERROR(arena.Allocate(device.get(), static_cast<size_t>(plan.total_bytes)));
  KILN_RETURN_IF_ERROR(device->Memset(arena.get(), 0, static_cast<size_t>(plan.total_bytes)));
  KILN_RETURN_IF_ERROR(workspace.Allocate(device.get(), device->GemmWorkspaceBytes()));
  report.arena_bytes = needed;
  return absl::OkStatus();
}

absl::Status CudaExecutor::State::Upload(const WeightBytes& weights) {
  std::vector<uint8_t> scratch;
  for (const auto& [name, buffer] : layout.weights) {
    KILN_ASSIGN_OR_RETURN(std::span<const uint8_t> bytes, weights(name, buffer.dtype, scratch));
    if (static_cast<int64_t>(bytes.size()) != buffer.bytes) {
      return absl::InvalidArgumentError("weight " + name + " does not have its declared size");
    }
    KILN_RETURN_IF_ERROR(device->CopyToDevice(Address(buffer), bytes.data(), bytes.size()));
  }
  for (const RopeTable& t : layout.tables) {
    const std::vector<uint8_t> bytes = EncodeFloats(RopeTableValues(t), t.dtype);
    KILN_RETURN_IF_ERROR(device->CopyToDevice(Address(t.buffer), bytes.data(), bytes.size()));
  }
  return absl::OkStatus();
}

absl::Status CudaExecutor::State::LoadKernels(const KernelBundle& bundle) {
  for (const BundledKernel& k : bundle.kernels) {
    KILN_ASSIGN_OR_RETURN(kernels[k.function], device->LoadKernel(k, bundle.arch));
    if (k.function == codegen::loop::kPrepareKernel) loop_source_sha256 = k.source_sha256;
  }
  row_functions = bundle.row_functions;
  return absl::OkStatus();
}

absl::StatusOr<double> CudaExecutor::State::TimeMs(const Enqueue& launch) {
  return device->TimeMs(launch, stream, /*warmups=*/3, /*runs=*/20);
}

absl::StatusOr<const gpu::DeviceGemm*> CudaExecutor::State::PlanGemm(const GemmStep& g,
                                                                      CudaLoadReport& report) {
  const GemmChoice* recorded = recorded_gemms ? recorded_gemms->Find(ShapeOf(g)) : nullptr;
  if (recorded != nullptr) {
    absl::StatusOr<const gpu::DeviceGemm*> rebuilt = device->PlanGemm(g, &recorded->algo);
    if (rebuilt.ok()) {
      ++report.gemms_on_recorded_algo;
      return rebuilt;
    }
    report.notes.push_back(absl::StrCat(rebuilt.status().message(), "; using the heuristic"));
  }
  return device->PlanGemm(g, nullptr);
}

absl::StatusOr<NamedLaunch> CudaExecutor::State::PrepareGemm(const GemmStep& g,
                                                             CudaLoadReport& report) {
  KILN_ASSIGN_OR_RETURN(const gpu::DeviceGemm* gemm, PlanGemm(g, report));
  const void* x = Address(g.x);
  const void* w = Address(g.w);
  const void* bias = g.bias.bytes > 0 ? Address(g.bias) : nullptr;
  void* out = Address(g.out);
  void* scratch = workspace.get();
  Enqueue on_cublaslt = [=](StreamId stream) {
    return gemm->Enqueue(x, w, bias, out, scratch, stream);
  };
  NamedLaunch lt_launch{absl::StrCat("cuBLASLt GEMM ", g.m, "x", g.n, "x", g.k), on_cublaslt};
  if (!g.gemv || !options.choose_gemv) {
    ++report.gemms_on_cublaslt;
    return lt_launch;
  }
  const std::string name = codegen::gemv::GemvKernelName(*g.gemv);
  KILN_ASSIGN_OR_RETURN(KernelId kernel, Kernel(name));
  KernelArgs args;
  args.Add(x).Add(w).Add(bias).Add(out).Add(static_cast<int>(g.n)).Add(static_cast<int>(g.m));
  Enqueue on_gemv = Launch(device.get(), kernel,
                           Grid(codegen::gemv::GemvBlocks(g.gemv->tiles, g.n)),
                           Grid(g.gemv->tiles.threads()), 0, args);
  // Measured, not assumed: the faster of the two on this device, once per shape.
  const std::string key = absl::StrCat(name, " n=", g.n, g.bias.bytes > 0 ? " bias" : "");
  auto decided = gemv_wins.find(key);
  if (decided == gemv_wins.end() && description.emulated) {
    // No clock worth timing with: the generated kernel runs, so the
    // emulator checks its CUDA text.
    decided = gemv_wins.emplace(key, true).first;
  }
  if (decided == gemv_wins.end()) {
    KILN_ASSIGN_OR_RETURN(double gemv_ms, TimeMs(on_gemv));
    KILN_ASSIGN_OR_RETURN(double lt_ms, TimeMs(on_cublaslt));
    decided = gemv_wins.emplace(key, gemv_ms < lt_ms).first;
    report.notes.push_back(absl::StrCat(key, ": gemv ", gemv_ms * 1000, " us, cuBLASLt ",
                                        lt_ms * 1000, " us (", gemm->Summary(), ")"));
  }
  ++(decided->second ? report.gemms_on_gemv : report.gemms_on_cublaslt);
  return decided->second ? NamedLaunch{name, on_gemv} : lt_launch;
}

absl::StatusOr<NamedLaunch> CudaExecutor::State::PrepareRow(const RowKernelStep& s,
                                                            const LaunchPlan& plan) {
  auto function = row_functions.find(s.desc.name);
  if (function == row_functions.end()) {
    return absl::InternalError("the bundle has no function for row kernel " + s.desc.name);
  }
  KILN_ASSIGN_OR_RETURN(KernelId kernel, Kernel(function->second));
  KernelArgs args;
  for (const DeviceBuffer& b : s.buffers) args.Add(static_cast<void*>(Address(b)));
  args.Add(static_cast<long long>(s.rows));
  return NamedLaunch{function->second, Launch(device.get(), kernel, Grid(s.rows),
                                              Grid(s.desc.threads), 0, args)};
}

absl::StatusOr<std::vector<NamedLaunch>> CudaExecutor::State::PrepareAttention(
    const LaunchStep& step, const LaunchPlan& plan) {
  void* fault = Address(plan.fault);
  if (const auto* r = std::get_if<RopeKvWriteStep>(&step.op)) {
    KILN_ASSIGN_OR_RETURN(KernelId kernel, Kernel(attn::KernelName(r->variant)));
    KernelArgs args;
    for (const DeviceBuffer* b :
         {&r->q, &r->k, &r->v, &r->pos, &r->cos_sin, &r->q_out, &r->k_cache, &r->v_cache}) {
      args.Add(static_cast<void*>(Address(*b)));
    }
    args.Add(fault).Add(static_cast<int>(r->seq)).Add(static_cast<int>(r->capacity));
    return std::vector<NamedLaunch>{
        {attn::KernelName(r->variant), Launch(device.get(), kernel, Grid(r->batch * r->seq),
                                              Grid(attn::kRopeThreads), 0, args)}};
  }
  const auto& a = std::get<AttentionStep>(step.op);
  const attn::AttentionShape& shape = a.variant.shape;
  const attn::TileConfig& tiles = a.variant.tiles;
  KILN_ASSIGN_OR_RETURN(KernelId kernel, Kernel(attn::KernelName(a.variant)));
  const int64_t shared = attn::AttentionSharedBytes(shape.head_dim, tiles);
  KILN_RETURN_IF_ERROR(device->SetMaxDynamicShared(kernel, static_cast<int>(shared)));
  KernelArgs args;
  for (const DeviceBuffer* b : {&a.q, &a.k_cache, &a.v_cache, &a.pos}) {
    args.Add(static_cast<void*>(Address(*b)));
  }
  const int64_t batch = a.batch;
  if (a.variant.kind == attn::KernelKind::kPrefill) {
    args.Add(static_cast<void*>(Address(a.out))).Add(fault);
    args.Add(static_cast<int>(a.seq)).Add(static_cast<int>(a.capacity)).Add(a.scale);
    args.Add(static_cast<int>(a.window));
    const Dim3 grid = Grid((a.seq + tiles.block_m() - 1) / tiles.block_m(), shape.heads, batch);
    return std::vector<NamedLaunch>{{attn::KernelName(a.variant),
                                     Launch(device.get(), kernel, grid, Grid(tiles.threads()),
                                            static_cast<size_t>(shared), args)}};
  }
  args.Add(static_cast<void*>(Address(a.acc))).Add(static_cast<void*>(Address(a.ml))).Add(fault);
  args.Add(static_cast<int>(a.seq)).Add(static_cast<int>(a.capacity)).Add(a.scale);
  args.Add(static_cast<int>(a.window)).Add(a.splits);
  const Dim3 grid =
      Grid(a.splits, shape.kv_heads * attn::DecodeRowBlocks(shape, tiles, a.seq), batch);
  KILN_ASSIGN_OR_RETURN(KernelId combine, Kernel(attn::KernelName(a.combine)));
  KernelArgs combine_args;
  combine_args.Add(static_cast<const void*>(Address(a.acc)))
      .Add(static_cast<const void*>(Address(a.ml)))
      .Add(static_cast<void*>(Address(a.out)))
      .Add(a.splits);
  return std::vector<NamedLaunch>{
      {attn::KernelName(a.variant), Launch(device.get(), kernel, grid, Grid(tiles.threads()),
                                           static_cast<size_t>(shared), args)},
      {attn::KernelName(a.combine), Launch(device.get(), combine, Grid(a.batch * a.seq * shape.heads),
                                           Grid(attn::CombineThreads(shape)), 0, combine_args)}};
}

absl::StatusOr<std::vector<NamedLaunch>> CudaExecutor::State::Prepare(const LaunchPlan& plan,
                                                                      CudaLoadReport& report) {
  std::vector<NamedLaunch> out;
  void* fault = Address(plan.fault);
  gpu::DeviceApi* d = device.get();
  out.push_back({"clear the fault flag", [d, fault](StreamId stream) -> absl::Status {
                   return d->MemsetAsync(fault, 0, 4, stream);
                 }});
  for (const LaunchStep& step : plan.steps) {
    const auto* g = std::get_if<GemmStep>(&step.op);
    const auto* r = std::get_if<RopeKvWriteStep>(&step.op);
    if (r != nullptr && r->k_cache.dtype != r->variant.shape.dtype) {
      return absl::UnimplementedError(absl::StrCat(
          "@", plan.function, " step ", step.label, " keeps its KV cache in ",
          std::string(DTypeName(r->k_cache.dtype)),
          ", which the CUDA kernels do not (they keep it in the model dtype)"));
    }
    if (std::holds_alternative<GatherRowsStep>(step.op) ||
        (g != nullptr && IsBlockQuantized(g->w.dtype))) {
      return absl::UnimplementedError(absl::StrCat(
          "@", plan.function, " step ", step.label,
          " reads block-quantized weights, which only the CPU backend computes with; compile "
          "the model for CUDA with --dtype f16 or bf16 (no --quantize)"));
    }
    if (g != nullptr) {
      KILN_ASSIGN_OR_RETURN(out.emplace_back(), PrepareGemm(*g, report));
    } else if (const auto* row = std::get_if<RowKernelStep>(&step.op)) {
      KILN_ASSIGN_OR_RETURN(out.emplace_back(), PrepareRow(*row, plan));
    } else {
      KILN_ASSIGN_OR_RETURN(std::vector<NamedLaunch> launches, PrepareAttention(step, plan));
      for (NamedLaunch& l : launches) out.push_back(std::move(l));
    }
  }
  return out;
}

// Token 0 at position 0 in every row: valid inputs whatever the arena held,
// so the warm-up faults only where a kernel or its launch is wrong.
absl::Status CudaExecutor::State::WarmUp(size_t index) {
  const LaunchPlan& plan = plans[index];
  KILN_RETURN_IF_ERROR(device->MemsetAsync(Address(plan.input_ids), 0, plan.input_ids.bytes, stream));
  KILN_RETURN_IF_ERROR(device->MemsetAsync(Address(plan.positions), 0, plan.positions.bytes, stream));
  return gpu::LaunchEachEagerly(plan.function, launches[index], stream,
                                [this](StreamId waited) { return device->Synchronize(waited); });
}

CudaExecutor::CudaExecutor(std::unique_ptr<State> state) : state_(std::move(state)) {}
CudaExecutor::~CudaExecutor() = default;

absl::StatusOr<std::unique_ptr<CudaExecutor>> CudaExecutor::Create(
    const Module& module, const WeightStore& weights, StaticLayout layout,
    std::vector<LaunchPlan> plans, const KernelBundle& bundle, CudaExecutorOptions options) {
  // The stored bytes go to the device as they are: the engine stores its
  // weights in the dtype the plans declare.
  WeightBytes stored = [&](const std::string& name, DType dtype, std::vector<uint8_t>&)
      -> absl::StatusOr<std::span<const uint8_t>> {
    const WeightView* view = weights.Find(name);
    if (view == nullptr) return absl::NotFoundError("missing weight " + name);
    if (view->dtype != dtype) {
      return absl::DataLossError(absl::StrCat("weight ", name, " is stored as ",
                                              std::string(DTypeName(view->dtype)),
                                              ", the plan needs ", std::string(DTypeName(dtype))));
    }
    return view->bytes;
  };
  return Create(module, stored, std::move(layout), std::move(plans), bundle, options);
}

absl::StatusOr<std::unique_ptr<CudaExecutor>> CudaExecutor::Create(
    const Module& module, const WeightMap& weights, StaticLayout layout,
    std::vector<LaunchPlan> plans, const KernelBundle& bundle, CudaExecutorOptions options) {
  WeightBytes encoded = [&](const std::string& name, DType dtype, std::vector<uint8_t>& scratch)
      -> absl::StatusOr<std::span<const uint8_t>> {
    auto it = weights.find(name);
    if (it == weights.end()) return absl::NotFoundError("missing weight " + name);
    scratch = EncodeFloats(it->second.floats, dtype);
    return std::span<const uint8_t>(scratch);
  };
  return Create(module, encoded, std::move(layout), std::move(plans), bundle, options);
}

absl::StatusOr<std::unique_ptr<CudaExecutor>> CudaExecutor::Create(
    const Module& module, const WeightBytes& weights, StaticLayout layout,
    std::vector<LaunchPlan> plans, const KernelBundle& bundle, CudaExecutorOptions options) {
  CudaLoadReport report;
  auto state = std::make_unique<State>();
  state->device = options.device_api != nullptr ? options.device_api : gpu::MakeCudaDevice();
  gpu::DeviceApi& device = *state->device;
  KILN_ASSIGN_OR_RETURN(state->description, device.Open(options.device));
  const gpu::DeviceDescription& described = state->description;
  report.device = described.name;
  if (described.major * 10 + described.minor < 80) {
    return absl::FailedPreconditionError(
        absl::StrCat(report.device, " is older than sm_80, which Kiln's kernels need"));
  }
  state->options = options;
  state->layout = std::move(layout);
  state->plans = std::move(plans);
  Clock::time_point start = Clock::now();
  KILN_RETURN_IF_ERROR(state->Allocate(report));
  KILN_RETURN_IF_ERROR(state->Upload(weights));
  KILN_RETURN_IF_ERROR(state->LoadKernels(bundle));
  KILN_RETURN_IF_ERROR(device.Synchronize(0));
  report.upload_seconds = Seconds(start);

  start = Clock::now();
  KILN_ASSIGN_OR_RETURN(state->stream, device.CreateStream());
  report.gemm_algorithms = "cuBLASLt heuristic (the engine records no measured algorithms)";
  if (described.emulated) report.gemm_algorithms = "the emulator's reference GEMM";
  if (options.gemm_choices != nullptr) {
    const absl::Status applies = ChoicesApplyHere(
        *options.gemm_choices, described.device_name,
        absl::StrCat("sm_", described.major, described.minor), described.gemm_library_version);
    if (applies.ok()) {
      state->recorded_gemms = options.gemm_choices;
      report.gemm_algorithms = absl::StrCat("measured at compile time on ",
                                            options.gemm_choices->device);
    } else if (!described.emulated) {
      report.gemm_algorithms = absl::StrCat("cuBLASLt heuristic: ", applies.message());
    }
  }
  for (const LaunchPlan& plan : state->plans) {
    KILN_ASSIGN_OR_RETURN(state->launches.emplace_back(), state->Prepare(plan, report));
  }
  // The caller's record need not outlive Create.
  state->recorded_gemms = nullptr;
  state->options.gemm_choices = nullptr;
  // Every plan once, eagerly, before capture: a bad launch then names its
  // kernel (eager_launch.h) instead of failing the capture or the replay.
  for (size_t i = 0; i < state->plans.size(); ++i) KILN_RETURN_IF_ERROR(state->WarmUp(i));
  // Timing and the warm-up ran kernels on placeholder activations and wrote
  // the caches: start from zeroed caches.
  std::unique_ptr<CudaExecutor> executor(new CudaExecutor(std::move(state)));
  KILN_RETURN_IF_ERROR(executor->ResetCaches());
  State& s = *executor->state_;
  if (options.use_graphs) {
    for (const std::vector<NamedLaunch>& launches : s.launches) {
      KILN_RETURN_IF_ERROR(s.device->BeginCapture(s.stream));
      absl::Status enqueued = absl::OkStatus();
      for (const NamedLaunch& l : launches) {
        enqueued = l.enqueue(s.stream);
        if (!enqueued.ok()) break;
      }
      absl::StatusOr<gpu::GraphId> graph = s.device->EndCapture(s.stream);
      KILN_RETURN_IF_ERROR(enqueued);
      KILN_ASSIGN_OR_RETURN(s.graphs.emplace_back(), std::move(graph));
    }
  }
  KILN_RETURN_IF_ERROR(s.Sync(s.stream));
  report.capture_seconds = Seconds(start);
  executor->report_ = std::move(report);
  return executor;
}

absl::StatusOr<int32_t> CudaExecutor::SampleRow(const std::string& function, int64_t row,
                                                const codegen::sampling::SampleParams& params) {
  State& s = *state_;
  KILN_ASSIGN_OR_RETURN(const LaunchPlan* plan, FindPlan(s.plans, function));
  KILN_RETURN_IF_ERROR(CheckSampleRow(function, plan->batch * plan->seq, row, params));
  KILN_ASSIGN_OR_RETURN(KernelId kernel,
                        s.Kernel(codegen::sampling::SamplingKernelName(plan->sampler)));
  if (s.sample_io.get() == nullptr) KILN_RETURN_IF_ERROR(s.sample_io.Allocate(s.device.get(), 256));
  // Layout of sample_io: params at 0 (48 bytes), token at 64, fault at 68.
  char* io = static_cast<char*>(s.sample_io.get());
  const StreamId stream = s.stream;
  KILN_RETURN_IF_ERROR(s.device->CopyToDeviceAsync(io, &params, sizeof(params), stream));
  const int64_t element = plan->logits.dtype == DType::kF32 ? 4 : 2;
  KernelArgs args;
  args.Add(static_cast<const void*>(s.Address(plan->logits) + row * plan->vocab * element))
      .Add(static_cast<const void*>(io))
      .Add(static_cast<int>(plan->vocab))
      .Add(static_cast<void*>(io + 64))
      .Add(static_cast<void*>(io + 68));
  KILN_RETURN_IF_ERROR(
      Launch(s.device.get(), kernel, Grid(1), Grid(plan->sampler.threads), 0, args)(stream));
  int32_t out[2] = {0, 0};
  KILN_RETURN_IF_ERROR(s.device->CopyToHostAsync(out, io + 64, 8, stream));
  KILN_RETURN_IF_ERROR(s.Sync(stream));
  if (out[1] != 0) return absl::DataLossError("the logits hold a NaN: the request cannot sample");
  return out[0];
}

absl::Status CudaExecutor::ResetCaches() {
  State& s = *state_;
  if (s.layout.caches_bytes > 0) {
    KILN_RETURN_IF_ERROR(
        s.device->Memset(static_cast<char*>(s.arena.get()) + s.base.at(ArenaSpace::kCaches), 0,
                         static_cast<size_t>(s.layout.caches_bytes)));
  }
  KILN_RETURN_IF_ERROR(s.Sync(0));
  return absl::OkStatus();
}

absl::StatusOr<PlanOutput> CudaExecutor::DoRun(const std::string& function,
                                               std::span<const int32_t> input_ids,
                                               std::span<const int32_t> positions,
                                               bool copy_logits, int64_t only_row) {
  State& s = *state_;
  KILN_ASSIGN_OR_RETURN(const LaunchPlan* found, FindPlan(s.plans, function));
  const LaunchPlan& plan = *found;
  const size_t index = static_cast<size_t>(found - s.plans.data());
  const size_t tokens = static_cast<size_t>(plan.batch * plan.seq);
  if (input_ids.size() != tokens || positions.size() != tokens) {
    return absl::InvalidArgumentError(absl::StrCat("@", function, " takes ", tokens, " tokens"));
  }
  const StreamId stream = s.stream;
  gpu::DeviceApi& d = *s.device;
  KILN_RETURN_IF_ERROR(d.CopyToDeviceAsync(s.Address(plan.input_ids), input_ids.data(), tokens * 4, stream));
  KILN_RETURN_IF_ERROR(d.CopyToDeviceAsync(s.Address(plan.positions), positions.data(), tokens * 4, stream));
  KILN_RETURN_IF_ERROR(RunPlanAsync(index));
  std::vector<uint8_t> logits(copy_logits ? static_cast<size_t>(plan.logits.bytes) : 0);
  PlanOutput out;
  out.next_tokens.resize(static_cast<size_t>(plan.next_tokens.bytes / 4));
  int32_t fault = 0;
  if (copy_logits) {
    KILN_RETURN_IF_ERROR(d.CopyToHostAsync(logits.data(), s.Address(plan.logits), logits.size(), stream));
  }
  KILN_RETURN_IF_ERROR(d.CopyToHostAsync(out.next_tokens.data(), s.Address(plan.next_tokens),
                                         out.next_tokens.size() * 4, stream));
  KILN_RETURN_IF_ERROR(d.CopyToHostAsync(&fault, s.Address(plan.fault), 4, stream));
  KILN_RETURN_IF_ERROR(s.Sync(stream));
  if (fault != 0) {
    return absl::InvalidArgumentError("a token id or cache position was out of range");
  }
  out.logits = DecodeFloats(logits, plan.logits.dtype);
  KeepSelectedRows(out, only_row, plan.seq);  // every row was computed: one graph per bucket
  return out;
}

}  // namespace kiln
