// CudaExecutor::RunLoop: one sequence's generate loop as one CUDA graph.
//
// Device words (int32 offsets): state [0, 16), config [16, 64), each
// bucket's next_tokens, fault and logits addresses as uint64 [64, 160); for
// a sampled plan, the sampler's parameters of each row of a step
// (SampleParams [64]) [192, 960), its tokens [960, 1024) and fault flags
// [1024, 1088); history [1088, 1088 + capacity).
//
// Mapped pinned host memory (int32 offsets, cap = capacity), so that no
// copy makes the host wait (a copy between the device and pageable memory
// would): what the device writes — out [0, cap), out_count, host_stop,
// the final state [cap + 16, cap + 32), each prefill chunk's fault flag
// [cap + 32, 2 cap + 32) — and what the host uploads — state, config,
// bucket outputs, the sampler's parameters and history (the device words
// [0, kHistoryAt + length)) from 2 cap + 32, then the prefill chunks' ids
// and positions.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "codegen/loop/loop_cuda.h"
#include "codegen/sampling/sampling_cuda.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/cuda/cuda_executor_internal.h"

namespace kiln {
namespace {

namespace loop = codegen::loop;

#include "codegen/loop/loop_control.h"

constexpr int64_t kRows = kLoopMaxDraft + 1;  // a step's rows, at most
constexpr int64_t kParamWords = sizeof(codegen::sampling::SampleParams) / 4;
constexpr int64_t kStateAt = 0, kConfigAt = 16, kOutputsAt = 64, kSampleAt = 192,
                  kSampledTokensAt = kSampleAt + kRows * kParamWords,
                  kSampledFaultsAt = kSampledTokensAt + kRows,
                  kHistoryAt = kSampledFaultsAt + kRows;
static_assert(kLoopWords <= kConfigAt - kStateAt && kLoopConfigWords <= kOutputsAt - kConfigAt &&
              2 * 3 * kLoopMaxBranches <= kSampleAt - kOutputsAt);
static_assert(kSampleAt % 2 == 0 && kParamWords == 12 && kHistoryAt == 1088);
// Row 0's SampleParams counter; the prepare kernel sets each row's.
constexpr int64_t kSampleCounterAt =
    kSampleAt + offsetof(codegen::sampling::SampleParams, counter) / 4;

// The mapped buffer's regions for a cache of `cap` positions.
struct Pinned {
  explicit Pinned(int64_t cap)
      : out(0),
        count(cap),
        stop(cap + 1),
        state_back(cap + 16),
        faults(cap + 32),
        upload(2 * cap + 32),
        chunks(2 * cap + 32 + kHistoryAt + cap),
        total(chunks + 4 * cap + 64) {}
  // The chunks' ids and positions: each run pads only its last chunk, so
  // all of them take at most 2 (cap + the widest bucket) words; 4 cap + 64
  // holds that for buckets up to cap + 32 tokens (checked by RunLoop).
  int64_t out, count, stop, state_back, faults, upload, chunks, total;
};

// The plans of `plan`'s buckets, checked to take batch 1, the bucket's
// tokens, and the same input buffers (the prepare kernel writes them once).
absl::StatusOr<std::vector<const LaunchPlan*>> BucketPlans(const std::vector<LaunchPlan>& plans,
                                                           const loop::LoopPlan& plan) {
  std::vector<const LaunchPlan*> found;
  for (const loop::LoopBucket& b : plan.buckets) {
    KILN_ASSIGN_OR_RETURN(const LaunchPlan* p, FindPlan(plans, b.function));
    if (p->batch != 1 || p->seq != b.tokens) {
      return absl::InvalidArgumentError(absl::StrCat("loop bucket @", b.function, " takes ",
                                                     p->batch, "x", p->seq, " tokens, not 1x",
                                                     b.tokens));
    }
    const LaunchPlan& first = found.empty() ? *p : *found.front();
    if (p->input_ids.space != first.input_ids.space ||
        p->input_ids.offset != first.input_ids.offset ||
        p->positions.space != first.positions.space ||
        p->positions.offset != first.positions.offset) {
      return absl::FailedPreconditionError(
          absl::StrCat("loop buckets @", first.function, " and @", p->function,
                       " read their tokens from different buffers; the loop graph needs one"));
    }
    found.push_back(p);
  }
  return found;
}

int32_t* Words(const LoopGraphs& g, int64_t at) {
  return static_cast<int32_t*>(g.words.get()) + at;
}

int LogitsDtypeCode(DType dtype) { return dtype == DType::kF32 ? 0 : dtype == DType::kF16 ? 1 : 2; }

}  // namespace

int64_t CudaExecutor::host_synchronizations() const { return state_->synchronizations; }

absl::StatusOr<loop::LoopResult> CudaExecutor::RunLoop(const loop::LoopPlan& plan,
                                                       std::span<const SessionBucket> prefill,
                                                       std::span<const int32_t> history,
                                                       int64_t cached,
                                                       const loop::LoopTokens& on_tokens,
                                                       const loop::LoopSampler&) {
  State& s = *state_;
  KILN_ASSIGN_OR_RETURN(std::vector<int32_t> config, loop::EncodeLoopConfig(plan));
  const int64_t length = static_cast<int64_t>(history.size());
  KILN_RETURN_IF_ERROR(loop::CheckLoopHistory(plan, length, cached));
  if (!s.kernels.contains(loop::kPrepareKernel) || !s.kernels.contains(loop::kFinishKernel)) {
    return absl::FailedPreconditionError(
        "this engine carries no loop kernels (it predates the loop graph): recompile it with "
        "compile-model");
  }
  static const std::string kLoopSource = Sha256Hex(loop::RenderLoopCuda());
  if (s.loop_source_sha256 != kLoopSource) {
    return absl::FailedPreconditionError(
        "this engine's loop kernels come from another Kiln version (their source differs from "
        "this runtime's): recompile it with compile-model");
  }
  if (plan.sample.has_value()) {
    for (const loop::LoopBucket& b : plan.buckets) {
      if (b.tokens > kRows) {
        // FailedPrecondition: refused before the cache is touched.
        return absl::FailedPreconditionError(absl::StrCat("a sampled loop draws at most ", kRows,
                                                          " rows a step; bucket @", b.function,
                                                          " takes ", b.tokens));
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<const LaunchPlan*> steps, BucketPlans(s.plans, plan));
  const LaunchPlan& first_step = *steps.front();
  for (int32_t id : history) {
    if (id < 0 || id >= first_step.vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is outside the ", first_step.vocab, "-token vocabulary"));
    }
  }
  for (const SessionBucket& b : prefill) {
    if (b.seq > plan.capacity + 32) {
      return absl::InvalidArgumentError(absl::StrCat("prefill bucket @", b.function, " takes ",
                                                     b.seq, " tokens, more than the cache holds"));
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<Chunk> chunks,
                        PlanChunks(prefill, cached, length - 1 - cached, plan.capacity));
  config[kLoopVocab] = static_cast<int32_t>(first_step.vocab);
  config[kLoopLogitsDtype] = LogitsDtypeCode(first_step.logits.dtype);
  KILN_ASSIGN_OR_RETURN(gpu::GraphId graph, LoopGraph(plan, steps));
  LoopGraphs& g = *s.loop;
  gpu::DeviceApi& d = *s.device;
  const StreamId stream = s.stream;
  const int64_t waits_before = s.synchronizations;
  const Pinned at(g.capacity);
  auto* pinned = static_cast<int32_t*>(g.mapped.host);

  // The loop's inputs, staged in pinned memory and copied in stream order
  // before the prefill and the graph.
  int32_t* up = pinned + at.upload;
  const std::vector<int32_t> start = loop::InitialLoopState(plan, length);
  std::copy(start.begin(), start.end(), up + kStateAt);
  std::copy(config.begin(), config.end(), up + kConfigAt);
  auto* outputs = reinterpret_cast<uint64_t*>(up + kOutputsAt);
  for (size_t b = 0; b < steps.size(); ++b) {
    const void* next = plan.sample.has_value() ? static_cast<void*>(Words(g, kSampledTokensAt))
                                               : s.Address(steps[b]->next_tokens);
    outputs[3 * b] = reinterpret_cast<uintptr_t>(next);
    outputs[3 * b + 1] = reinterpret_cast<uintptr_t>(s.Address(steps[b]->fault));
    outputs[3 * b + 2] = reinterpret_cast<uintptr_t>(s.Address(steps[b]->logits));
  }
  if (plan.sample.has_value()) {  // every row's counter is set by prepare
    for (int64_t r = 0; r < kRows; ++r) {
      std::memcpy(up + kSampleAt + r * kParamWords, &*plan.sample, sizeof(*plan.sample));
    }
  }
  std::copy(history.begin(), history.end(), up + kHistoryAt);
  std::atomic_ref<int32_t> out_count(pinned[at.count]);
  std::atomic_ref<int32_t> host_stop(pinned[at.stop]);
  out_count.store(0);
  host_stop.store(0);

  // The prefill: PlanSession's chunks, enqueued without waiting; each
  // chunk's fault flag is read back after the one wait. Then the graph.
  std::vector<const LaunchPlan*> chunk_plans;
  for (const Chunk& chunk : chunks) {
    KILN_ASSIGN_OR_RETURN(chunk_plans.emplace_back(), FindPlan(s.plans, chunk.bucket->function));
  }
  auto enqueue = [&]() -> absl::Status {
    KILN_RETURN_IF_ERROR(
        d.CopyToDeviceAsync(Words(g, 0), up, static_cast<size_t>(kHistoryAt + length) * 4, stream));
    int32_t* staged = pinned + at.chunks;
    std::vector<int32_t> ids, positions;
    for (size_t c = 0; c < chunks.size(); ++c) {
      const LaunchPlan* p = chunk_plans[c];
      ChunkInputs(chunks[c], history, 0, ids, positions);
      std::copy(ids.begin(), ids.end(), staged);
      std::copy(positions.begin(), positions.end(), staged + ids.size());
      KILN_RETURN_IF_ERROR(
          d.CopyToDeviceAsync(s.Address(p->input_ids), staged, ids.size() * 4, stream));
      KILN_RETURN_IF_ERROR(d.CopyToDeviceAsync(s.Address(p->positions), staged + ids.size(),
                                               positions.size() * 4, stream));
      staged += ids.size() + positions.size();
      KILN_RETURN_IF_ERROR(RunPlanAsync(static_cast<size_t>(p - s.plans.data())));
      KILN_RETURN_IF_ERROR(
          d.CopyToHostAsync(pinned + at.faults + c, s.Address(p->fault), 4, stream));
    }
    KILN_RETURN_IF_ERROR(d.LaunchGraph(graph, stream));
    return d.CopyToHostAsync(pinned + at.state_back, Words(g, kStateAt), kLoopWords * 4, stream);
  };
  if (absl::Status queued = enqueue(); !queued.ok()) {
    (void)s.Sync(stream);  // what was queued must finish before the buffers are reused
    return queued;
  }
  // Stream the tokens while the graph runs; one wait at the end.
  int32_t seen = 0;
  auto deliver = [&]() {
    const int32_t count = out_count.load(std::memory_order_acquire);
    if (count == seen || !on_tokens) return;
    seen = count;
    if (on_tokens(std::span<const int32_t>(pinned + at.out, static_cast<size_t>(count)))) {
      host_stop.store(1, std::memory_order_release);
    }
  };
  for (;;) {
    absl::StatusOr<bool> done = d.Done(stream);
    if (!done.ok()) {
      (void)s.Sync(stream);  // the graph must stop writing before the buffers are reused
      return done.status();
    }
    if (*done) break;
    deliver();
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  KILN_RETURN_IF_ERROR(s.Sync(stream));
  deliver();
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (pinned[at.faults + static_cast<int64_t>(c)] != 0) {
      return absl::InvalidArgumentError("a token id or cache position was out of range");
    }
  }
  const int32_t* state = pinned + at.state_back;
  loop::LoopResult result;
  result.tokens.assign(pinned + at.out, pinned + at.out + state[kLoopGenerated]);
  result.finish = state[kLoopFinish];
  result.drafted = state[kLoopDraftedTotal];
  result.accepted = state[kLoopAcceptedTotal];
  result.steps = state[kLoopSteps];
  result.host_synchronizations = s.synchronizations - waits_before;
  if (result.finish == kLoopFault) {
    return absl::InvalidArgumentError("a token id or cache position was out of range in the loop");
  }
  return result;  // kLoopNaN included: the caller's stop strings may end it first
}

absl::StatusOr<gpu::GraphId> CudaExecutor::LoopGraph(const loop::LoopPlan& plan,
                                                     const std::vector<const LaunchPlan*>& steps) {
  State& s = *state_;
  if (s.loop == nullptr) {
    auto g = std::make_unique<LoopGraphs>();
    g->device = s.device.get();
    g->capacity = plan.capacity;
    KILN_RETURN_IF_ERROR(
        g->words.Allocate(s.device.get(), static_cast<size_t>(kHistoryAt + plan.capacity) * 4));
    KILN_ASSIGN_OR_RETURN(
        g->mapped, s.device->AllocMapped(static_cast<size_t>(Pinned(plan.capacity).total) * 4));
    s.loop = std::move(g);
  }
  LoopGraphs& g = *s.loop;
  if (plan.capacity != g.capacity) {
    return absl::InvalidArgumentError(absl::StrCat("this executor's loop runs a cache of ",
                                                   g.capacity, " positions, not ", plan.capacity));
  }
  std::string key = plan.sample.has_value() ? "sampled:" : "greedy:";
  for (const loop::LoopBucket& b : plan.buckets) absl::StrAppend(&key, b.function, ";");
  if (auto it = g.graphs.find(key); it != g.graphs.end()) return it->second;

  KILN_ASSIGN_OR_RETURN(KernelId prepare, s.Kernel(loop::kPrepareKernel));
  KILN_ASSIGN_OR_RETURN(KernelId finish, s.Kernel(loop::kFinishKernel));
  int32_t* state = Words(g, kStateAt);
  int32_t* config = Words(g, kConfigAt);
  int32_t* history = Words(g, kHistoryAt);
  void* step_ids = s.Address(steps.front()->input_ids);
  void* step_positions = s.Address(steps.front()->positions);
  const Pinned at(g.capacity);
  auto* out = static_cast<int32_t*>(g.mapped.device);
  gpu::LoopGraphParts parts;
  parts.prepare = [&](StreamId stream, gpu::ConditionHandle bucket) {
    KernelArgs args;
    args.Add(static_cast<void*>(state))
        .Add(static_cast<const void*>(config))
        .Add(static_cast<const void*>(history))
        .Add(step_ids)
        .Add(step_positions)
        .Add(static_cast<void*>(Words(g, kSampleCounterAt)))
        .Add(bucket);
    return Launch(s.device.get(), prepare, Grid(1), Grid(1), 0, args)(stream);
  };
  // A sampled plan's draws: the on-device sampler on every row of the
  // step's logits with the parameters at kSampleAt (whose counters prepare
  // sets), into the sampled tokens and fault flags (SampleRow's launch,
  // one block a row, in the graph).
  auto sample_rows = [&](const LaunchPlan& step) -> absl::StatusOr<Enqueue> {
    KILN_ASSIGN_OR_RETURN(KernelId kernel,
                          s.Kernel(codegen::sampling::SamplingKernelName(step.sampler)));
    KernelArgs args;
    args.Add(static_cast<const void*>(s.Address(step.logits)))
        .Add(static_cast<const void*>(Words(g, kSampleAt)))
        .Add(static_cast<int>(step.vocab))
        .Add(static_cast<void*>(Words(g, kSampledTokensAt)))
        .Add(static_cast<void*>(Words(g, kSampledFaultsAt)));
    return Launch(s.device.get(), kernel, Grid(static_cast<int>(step.seq)),
                  Grid(step.sampler.threads), 0, args);
  };
  for (const LaunchPlan* p : steps) {
    const size_t index = static_cast<size_t>(p - s.plans.data());
    Enqueue draw = nullptr;
    if (plan.sample.has_value()) {
      KILN_ASSIGN_OR_RETURN(draw, sample_rows(*p));
    }
    parts.buckets.push_back([&s, index, draw](StreamId stream) -> absl::Status {
      for (const NamedLaunch& l : s.launches[index]) KILN_RETURN_IF_ERROR(l.enqueue(stream));
      return draw ? draw(stream) : absl::OkStatus();
    });
  }
  parts.finish = [&](StreamId stream, gpu::ConditionHandle go) {
    KernelArgs args;
    args.Add(static_cast<void*>(state))
        .Add(static_cast<const void*>(config))
        .Add(static_cast<void*>(history))
        .Add(static_cast<const void*>(step_ids))
        .Add(static_cast<const void*>(Words(g, kOutputsAt)))
        .Add(static_cast<void*>(out + at.out))
        .Add(static_cast<void*>(out + at.count))
        .Add(static_cast<const void*>(out + at.stop))
        .Add(go);
    return Launch(s.device.get(), finish, Grid(1), Grid(1), 0, args)(stream);
  };
  KILN_ASSIGN_OR_RETURN(gpu::GraphId graph, s.device->CaptureLoop(s.stream, parts));
  g.graphs.emplace(key, graph);
  return graph;
}

absl::Status CudaExecutor::RunPlanAsync(size_t index) {
  State& s = *state_;
  if (s.options.use_graphs) return s.device->LaunchGraph(s.graphs[index], s.stream);
  for (const NamedLaunch& l : s.launches[index]) KILN_RETURN_IF_ERROR(l.enqueue(s.stream));
  return absl::OkStatus();
}

}  // namespace kiln
