#include "tools/bench/kiln_runner.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/session/plan_session.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/sampler.h"
#include "runtime/session/batch_session.h"
#include "runtime/reference/ops.h"
#include "runtime/tokenizer/load.h"
#include "runtime/tokenizer/stream_decoder.h"

namespace kiln::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::span<const float> LastRow(const HostTensor& logits) {
  int64_t vocab = logits.shape.back();
  int64_t row = logits.shape[0] - 1;
  return {logits.floats.data() + row * vocab, static_cast<size_t>(vocab)};
}

// What a step gives each row: its logits, or (greedy on the device) the
// chosen token alone.
struct RowStep {
  HostTensor logits;
  int32_t greedy = -1;
};

// Steps any session kind through the loop; `Forward` maps rows of tokens to
// each row's RowStep.
template <typename ForwardFn>
absl::StatusOr<RunTimes> Loop(const LoadedEngine& engine,
                              const std::vector<std::vector<int32_t>>& prompts,
                              const GenerationConfig& config, ForwardFn forward) {
  size_t rows = prompts.size();
  std::vector<tokenizer::StreamDecoder> streams;
  for (size_t b = 0; b < rows; ++b) streams.emplace_back(*engine.tokenizer, true);
  std::vector<std::vector<int32_t>> history = prompts;
  std::vector<bool> running(rows, true);
  RunTimes t;
  t.output_ids.resize(rows);
  Clock::time_point start = Clock::now();
  KILN_ASSIGN_OR_RETURN(std::vector<RowStep> logits, forward(prompts));
  for (int i = 0; i < config.max_new_tokens; ++i) {
    std::vector<std::vector<int32_t>> next(rows);
    bool any = false;
    int64_t produced = 0;
    for (size_t b = 0; b < rows; ++b) {
      if (!running[b]) continue;
      int32_t token = logits[b].greedy;
      if (token < 0) {
        KILN_ASSIGN_OR_RETURN(token, SampleToken(LastRow(logits[b].logits), config, history[b],
                                                 static_cast<uint64_t>(i)));
      }
      history[b].push_back(token);
      t.output_ids[b].push_back(token);
      ++produced;
      KILN_ASSIGN_OR_RETURN(std::string piece, streams[b].Step(token));
      bool eos = std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) !=
                 config.eos_token_ids.end();
      running[b] = !eos && i + 1 < config.max_new_tokens;
      if (running[b]) next[b] = {token};
      any |= running[b];
    }
    if (i == 0) {
      t.ttft_s = Since(start);
    } else {
      t.latencies_s.push_back(Since(start));
      t.decode_s += t.latencies_s.back();
      t.tokens_after_first += produced;
    }
    if (!any) break;
    start = Clock::now();
    KILN_ASSIGN_OR_RETURN(logits, forward(next));
  }
  return t;
}

// Each row's logits as RowSteps.
std::vector<RowStep> Rows(std::vector<HostTensor> logits) {
  std::vector<RowStep> out;
  for (HostTensor& t : logits) out.push_back({std::move(t), -1});
  return out;
}

}  // namespace

std::string LoadedEngine::backend() const {
  if (cpu) return cpu->executor->Describe();
  if (!cuda) return absl::StrCat("cpu reference executor (", CpuThreads(), " threads)");
  return absl::StrCat("cuda ", manifest.target, " on ", cuda->executor->load_report().device);
}

namespace {

// The manifest's tokenizer and buckets by batch, for any backend.
absl::Status DescribeEngine(const std::string& dir, const EngineManifest& manifest,
                            LoadedEngine& l) {
  if (manifest.tokenizer.empty()) {
    return absl::FailedPreconditionError("the engine has no tokenizer (compile-model --tokenizer)");
  }
  l.manifest = manifest;
  KILN_ASSIGN_OR_RETURN(l.tokenizer, tokenizer::LoadTokenizer(dir + "/" + manifest.tokenizer));
  for (const EngineBucket& b : manifest.buckets) l.buckets[b.batch].push_back({b.function, b.seq});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadedEngine> LoadForBench(const std::string& dir, const std::string& target,
                                          CudaExecutorOptions cuda_options, bool reference) {
  LoadedEngine l;
  if (target == "cpu" && !reference) {
    KILN_RETURN_IF_ERROR(cpu::CheckCpuEnvironment());
    KILN_ASSIGN_OR_RETURN(cpu::CpuEngine engine, cpu::LoadCpuEngine(dir));
    KILN_RETURN_IF_ERROR(DescribeEngine(dir, engine.engine.manifest, l));
    l.cpu = std::make_unique<cpu::CpuEngine>(std::move(engine));
    return l;
  }
  if (target != "cpu") {
    KILN_ASSIGN_OR_RETURN(CudaEngine cuda, LoadCudaEngine(dir, target, std::move(cuda_options)));
    KILN_RETURN_IF_ERROR(DescribeEngine(dir, cuda.engine.manifest, l));
    l.cuda = std::make_unique<CudaEngine>(std::move(cuda));
    return l;
  }
  KILN_ASSIGN_OR_RETURN(Engine engine, LoadEngine(dir, target));
  KILN_RETURN_IF_ERROR(DescribeEngine(dir, engine.manifest, l));
  KILN_ASSIGN_OR_RETURN(
      ReferenceExecutor executor,
      ReferenceExecutor::Create(std::move(engine.module), std::move(engine.weights)));
  l.executor = std::make_unique<ReferenceExecutor>(std::move(executor));
  return l;
}

absl::StatusOr<std::unique_ptr<SequenceSession>> NewSequenceSession(const LoadedEngine& engine) {
  const int64_t capacity = engine.manifest.max_seq;
  if (engine.plans() != nullptr) {
    KILN_ASSIGN_OR_RETURN(PlanSession session,
                          PlanSession::Create(*engine.plans(), engine.module(), capacity,
                                              engine.batch1_buckets()));
    return std::make_unique<PlanSession>(std::move(session));
  }
  auto it = engine.buckets.find(1);
  KILN_ASSIGN_OR_RETURN(
      ReferenceSession session,
      ReferenceSession::Create(*engine.executor, capacity,
                               it == engine.buckets.end() ? std::vector<SessionBucket>{}
                                                          : it->second));
  return std::make_unique<ReferenceSession>(std::move(session));
}

absl::StatusOr<RunTimes> RunTimed(const LoadedEngine& engine,
                                  const std::vector<std::vector<int32_t>>& prompts,
                                  const GenerationConfig& config) {
  int64_t rows = static_cast<int64_t>(prompts.size());
  int64_t capacity = engine.manifest.max_seq;
  if (engine.plans() != nullptr) {
    if (rows != 1) {
      auto it = engine.buckets.lower_bound(rows);
      if (it == engine.buckets.end()) {
        return absl::FailedPreconditionError(absl::StrCat("the engine has no batch >= ", rows));
      }
      KILN_ASSIGN_OR_RETURN(
          BatchSession batch,
          CreatePlanBatchSession(*engine.plans(), engine.module(), it->first, capacity,
                                 it->second));
      return Loop(engine, prompts, config,
                  [&batch](const std::vector<std::vector<int32_t>>& r)
                      -> absl::StatusOr<std::vector<RowStep>> {
                    KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> logits, batch.Forward(r));
                    return Rows(std::move(logits));
                  });
    }
    KILN_ASSIGN_OR_RETURN(PlanSession session,
                          PlanSession::Create(*engine.plans(), engine.module(), capacity,
                                              engine.batch1_buckets()));
    // Greedy takes the plan's argmax and, on a GPU, sampling the device
    // sampler (no logits copied) unless a repetition penalty needs the host
    // sampler; the CPU samples on the host.
    const bool on_device =
        engine.cuda != nullptr ? SamplesOnDevice(config) : !config.do_sample;
    uint64_t draw = 0;
    return Loop(
        engine, prompts, config,
        [&](const std::vector<std::vector<int32_t>>& r) -> absl::StatusOr<std::vector<RowStep>> {
          if (on_device) {
            int32_t next = -1;
            if (config.do_sample) {
              KILN_ASSIGN_OR_RETURN(
                  next, session.ForwardSampled(r[0], DeviceSampleParams(config, draw++)));
            } else {
              KILN_ASSIGN_OR_RETURN(next, session.ForwardGreedy(r[0]));
            }
            return std::vector<RowStep>{{HostTensor{}, next}};
          }
          KILN_ASSIGN_OR_RETURN(HostTensor logits, session.ForwardLast(r[0]));
          return Rows({std::move(logits)});
        });
  }
  if (rows == 1) {
    auto it = engine.buckets.find(1);
    KILN_ASSIGN_OR_RETURN(
        ReferenceSession session,
        ReferenceSession::Create(
            *engine.executor, capacity,
            it == engine.buckets.end() ? std::vector<SessionBucket>{} : it->second));
    return Loop(engine, prompts, config,
                [&session](const std::vector<std::vector<int32_t>>& r)
                    -> absl::StatusOr<std::vector<RowStep>> {
                  KILN_ASSIGN_OR_RETURN(HostTensor logits, session.ForwardLast(r[0]));
                  return Rows({std::move(logits)});
                });
  }
  auto it = engine.buckets.lower_bound(rows);
  if (it == engine.buckets.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the engine has no batch >= ", rows,
                     " (compile it with compile-model --max-batch ", rows, ")"));
  }
  KILN_ASSIGN_OR_RETURN(BatchSession session,
                        BatchSession::Create(*engine.executor, it->first, capacity, it->second));
  return Loop(engine, prompts, config,
              [&session](const std::vector<std::vector<int32_t>>& r)
                  -> absl::StatusOr<std::vector<RowStep>> {
                KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> logits, session.Forward(r));
                return Rows(std::move(logits));
              });
}

absl::StatusOr<RunTimes> RunTimedSpeculative(Generator& generator,
                                             const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerationConfig& config) {
  KILN_RETURN_IF_ERROR(generator.Reset());
  const size_t rows = prompts.size();
  std::vector<bool> streamed(rows, false);
  size_t first_done = 0;
  RunTimes t;
  const Clock::time_point start = Clock::now();
  // The first text of every row marks the time to first token.
  auto on_text = [&](size_t row, std::string_view piece) {
    if (piece.empty() || streamed[row]) return;
    streamed[row] = true;
    if (++first_done == rows) t.ttft_s = Since(start);
  };
  std::vector<GenerationResult> results;
  if (rows == 1) {
    KILN_ASSIGN_OR_RETURN(GenerationResult r,
                          generator.GenerateIds(prompts[0], config, [&](std::string_view piece) {
                            on_text(0, piece);
                          }));
    results.push_back(std::move(r));
  } else {
    KILN_ASSIGN_OR_RETURN(results, generator.GenerateBatchIds(prompts, config, on_text));
  }
  const double total = Since(start);
  if (first_done < rows) t.ttft_s = total;  // a row streamed no text
  t.decode_s = total - t.ttft_s;
  for (GenerationResult& r : results) {
    t.tokens_after_first += std::max<int64_t>(0, static_cast<int64_t>(r.token_ids.size()) - 1);
    t.drafted += r.drafted_tokens;
    t.accepted += r.accepted_tokens;
    t.target_forwards += r.target_forwards;
    t.output_ids.push_back(std::move(r.token_ids));
  }
  return t;
}

}  // namespace kiln::bench
