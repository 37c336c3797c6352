#include "tools/bench/kiln_runner.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/generate/sampler.h"
#include "runtime/reference/batch_session.h"
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

// Steps either session kind through the loop; `Forward` maps rows of tokens
// to each row's logits.
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
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> logits, forward(prompts));
  for (int i = 0; i < config.max_new_tokens; ++i) {
    std::vector<std::vector<int32_t>> next(rows);
    bool any = false;
    int64_t produced = 0;
    for (size_t b = 0; b < rows; ++b) {
      if (!running[b]) continue;
      KILN_ASSIGN_OR_RETURN(int32_t token,
                            SampleToken(LastRow(logits[b]), config, history[b], static_cast<uint64_t>(i)));
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
      t.tokens_after_first += produced;
    }
    if (!any) break;
    start = Clock::now();
    KILN_ASSIGN_OR_RETURN(logits, forward(next));
  }
  return t;
}

}  // namespace

absl::StatusOr<LoadedEngine> LoadForBench(const std::string& dir, const std::string& target) {
  KILN_ASSIGN_OR_RETURN(Engine engine, LoadEngine(dir, target));
  if (engine.manifest.tokenizer.empty()) {
    return absl::FailedPreconditionError("the engine has no tokenizer (compile-model --tokenizer)");
  }
  LoadedEngine l;
  KILN_ASSIGN_OR_RETURN(l.tokenizer, tokenizer::LoadTokenizer(dir + "/" + engine.manifest.tokenizer));
  for (const EngineBucket& b : engine.manifest.buckets) l.buckets[b.batch].push_back({b.function, b.seq});
  l.manifest = engine.manifest;
  KILN_ASSIGN_OR_RETURN(ReferenceExecutor executor,
                        ReferenceExecutor::Create(std::move(engine.module), std::move(engine.weights)));
  l.executor = std::make_unique<ReferenceExecutor>(std::move(executor));
  return l;
}

absl::StatusOr<RunTimes> RunTimed(const LoadedEngine& engine,
                                  const std::vector<std::vector<int32_t>>& prompts,
                                  const GenerationConfig& config) {
  int64_t rows = static_cast<int64_t>(prompts.size());
  int64_t capacity = engine.manifest.max_seq;
  if (rows == 1) {
    auto it = engine.buckets.find(1);
    KILN_ASSIGN_OR_RETURN(
        ReferenceSession session,
        ReferenceSession::Create(*engine.executor, capacity,
                                 it == engine.buckets.end() ? std::vector<SessionBucket>{} : it->second));
    return Loop(engine, prompts, config,
                [&session](const std::vector<std::vector<int32_t>>& r)
                    -> absl::StatusOr<std::vector<HostTensor>> {
                  KILN_ASSIGN_OR_RETURN(HostTensor logits, session.Forward(r[0]));
                  return std::vector<HostTensor>{std::move(logits)};
                });
  }
  auto it = engine.buckets.lower_bound(rows);
  if (it == engine.buckets.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the engine has no batch >= ", rows, " (compile it with compile-model --max-batch ", rows, ")"));
  }
  KILN_ASSIGN_OR_RETURN(BatchSession session,
                        BatchSession::Create(*engine.executor, it->first, capacity, it->second));
  return Loop(engine, prompts, config,
              [&session](const std::vector<std::vector<int32_t>>& r) { return session.Forward(r); });
}

}  // namespace kiln::bench
