#include "runtime/session/session_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/step_function.h"

namespace kiln {

absl::StatusOr<int64_t> StepFunctionBatch(const Module& module, const std::string& function) {
  const Function* f = module.FindFunction(function);
  if (f == nullptr || f->params.size() < 2 || f->node(f->params[0]).type.rank() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("the module has no @", function, "(input_ids, positions, caches...)"));
  }
  const Dim& batch = f->node(f->params[0]).type.shape[0];
  return batch.is_static() ? batch.size : 0;
}

absl::StatusOr<const Function*> PrepareBuckets(const Module& module, int64_t batch,
                                               std::vector<SessionBucket>& buckets) {
  std::sort(buckets.begin(), buckets.end(),
            [](const SessionBucket& a, const SessionBucket& b) { return a.seq < b.seq; });
  for (const SessionBucket& b : buckets) {
    KILN_ASSIGN_OR_RETURN(int64_t compiled, StepFunctionBatch(module, b.function));
    if (b.seq <= 0) return absl::InvalidArgumentError("a bucket needs a positive length");
    if (compiled != 0 && compiled != batch) {
      return absl::InvalidArgumentError(absl::StrCat("bucket @", b.function,
                                                     " is compiled for batch ", compiled,
                                                     ", but the session runs batch ", batch));
    }
  }
  std::string first = buckets.empty() ? kForwardFunction : buckets.front().function;
  KILN_RETURN_IF_ERROR(StepFunctionBatch(module, first).status());
  return module.FindFunction(first);
}

const SessionBucket* PickBucket(std::span<const SessionBucket> buckets, int64_t rest,
                                int64_t room) {
  const SessionBucket* pick = nullptr;
  for (const SessionBucket& b : buckets) {
    if (b.seq > room) break;
    pick = &b;
    if (b.seq >= rest) break;
  }
  return pick;
}

absl::StatusOr<std::vector<Chunk>> PlanChunks(std::span<const SessionBucket> buckets,
                                              int64_t position, int64_t count, int64_t capacity) {
  std::vector<Chunk> chunks;
  for (int64_t done = 0; done < count;) {
    const SessionBucket* pick = PickBucket(buckets, count - done, capacity - position);
    if (pick == nullptr) {
      return absl::OutOfRangeError(absl::StrCat("no compiled bucket fits the ", capacity - position,
                                                " cache positions left"));
    }
    const int64_t take = std::min(count - done, pick->seq);
    chunks.push_back({pick, position, take});
    position += take;
    done += take;
  }
  return chunks;
}

void ChunkInputs(const Chunk& chunk, std::span<const int32_t> tokens, int64_t first,
                 std::vector<int32_t>& ids, std::vector<int32_t>& positions) {
  const auto from = tokens.begin() + (chunk.position - first);
  ids.assign(from, from + chunk.take);
  ids.resize(static_cast<size_t>(chunk.bucket->seq), 0);  // right padding: token 0
  positions.clear();
  for (int64_t i = 0; i < chunk.bucket->seq; ++i) {
    positions.push_back(static_cast<int32_t>(chunk.position + i));
  }
}

std::vector<HostTensor> ZeroCaches(const Function& forward, int64_t batch, int64_t capacity) {
  std::vector<HostTensor> caches;
  for (size_t i = 2; i < forward.params.size(); ++i) {
    const TensorType& type = forward.node(forward.params[i]).type;
    std::vector<int64_t> shape = {batch, capacity};
    for (int d = 2; d < type.rank(); ++d) shape.push_back(type.shape[d].size);
    caches.push_back(HostTensor::Zeros(type.dtype, shape));
  }
  return caches;
}

absl::Status CheckTokenIds(const Function& forward, std::span<const int32_t> tokens,
                           std::string_view where) {
  const Dim& vocab = forward.node(forward.results[0]).type.shape.back();
  for (int32_t id : tokens) {
    if (id < 0 || (vocab.is_static() && id >= vocab.size)) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(where), "token id ", id, " is outside the vocabulary [0, ", vocab.size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<HostTensor> RunStep(const ReferenceExecutor& executor, const std::string& function,
                                   HostTensor ids, HostTensor positions,
                                   std::vector<HostTensor>& caches) {
  std::vector<HostTensor> inputs;
  inputs.push_back(std::move(ids));
  inputs.push_back(std::move(positions));
  std::vector<std::pair<DType, std::vector<int64_t>>> types;  // to start over from
  for (HostTensor& cache : caches) {
    types.emplace_back(cache.dtype, cache.shape);
    inputs.push_back(std::move(cache));
  }
  absl::StatusOr<std::vector<HostTensor>> outputs = executor.Run(function, std::move(inputs));
  if (!outputs.ok()) {
    for (size_t i = 0; i < caches.size(); ++i) {
      caches[i] = HostTensor::Zeros(types[i].first, types[i].second);
    }
    return outputs.status();
  }
  for (size_t i = 0; i < caches.size(); ++i) caches[i] = std::move((*outputs)[i + 1]);
  return std::move((*outputs)[0]);
}

}  // namespace kiln
