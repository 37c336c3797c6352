#include "runtime/reference/session.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "models/model.h"

namespace kiln {
namespace {

// Zeroed batch-1 caches for the cache parameters of a forward function (all
// after input_ids and positions), with `capacity` positions.
std::vector<HostTensor> ZeroCaches(const Function& forward, int64_t capacity) {
  std::vector<HostTensor> caches;
  for (size_t i = 2; i < forward.params.size(); ++i) {
    const TensorType& type = forward.node(forward.params[i]).type;
    std::vector<int64_t> shape = {1, capacity};
    for (int d = 2; d < type.rank(); ++d) shape.push_back(type.shape[d].size);
    caches.push_back(HostTensor::Zeros(type.dtype, shape));
  }
  return caches;
}

// The shape contract every step function must meet.
absl::Status CheckForward(const Module& module, const std::string& name) {
  const Function* f = module.FindFunction(name);
  if (f == nullptr || f->params.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("the module has no @", name, "(input_ids, positions, caches...)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ReferenceSession> ReferenceSession::Create(const ReferenceExecutor& executor,
                                                          int64_t capacity,
                                                          std::vector<SessionBucket> buckets) {
  if (capacity <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cache capacity must be positive, got ", capacity));
  }
  std::sort(buckets.begin(), buckets.end(),
            [](const SessionBucket& a, const SessionBucket& b) { return a.seq < b.seq; });
  std::string first = buckets.empty() ? kForwardFunction : buckets.front().function;
  for (const SessionBucket& b : buckets) {
    KILN_RETURN_IF_ERROR(CheckForward(executor.module(), b.function));
    if (b.seq <= 0) return absl::InvalidArgumentError("a bucket needs a positive length");
  }
  KILN_RETURN_IF_ERROR(CheckForward(executor.module(), first));
  const Function& f = *executor.module().FindFunction(first);
  return ReferenceSession(executor, capacity, ZeroCaches(f, capacity), std::move(buckets));
}

absl::StatusOr<HostTensor> ReferenceSession::Forward(std::span<const int32_t> tokens) {
  int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to run");
  if (position_ + n > capacity_) {
    return absl::OutOfRangeError(absl::StrCat(n, " tokens at position ", position_,
                                              " do not fit in a cache of ", capacity_));
  }
  const std::string& any = buckets_.empty() ? kForwardFunction : buckets_.front().function;
  const Function& f = *executor_->module().FindFunction(any);
  const Dim& vocab = f.node(f.results[0]).type.shape.back();
  for (int32_t id : tokens) {
    if (id < 0 || (vocab.is_static() && id >= vocab.size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is outside the vocabulary [0, ", vocab.size, ")"));
    }
  }
  if (buckets_.empty()) return Step(kForwardFunction, tokens, n);

  // Chunk by buckets: the smallest holding the rest, else the largest that
  // fits in the cache.
  HostTensor logits;
  for (int64_t done = 0; done < n;) {
    int64_t rest = n - done, room = capacity_ - position_;
    const SessionBucket* pick = nullptr;
    for (const SessionBucket& b : buckets_) {
      if (b.seq > room) break;
      pick = &b;
      if (b.seq >= rest) break;
    }
    if (pick == nullptr) {
      return absl::OutOfRangeError(absl::StrCat("no compiled bucket fits the ", room,
                                                " cache positions left"));
    }
    int64_t take = std::min(rest, pick->seq);
    KILN_ASSIGN_OR_RETURN(HostTensor part, Step(pick->function, tokens.subspan(done, take),
                                                pick->seq));
    if (done == 0) {
      logits = std::move(part);
    } else {
      logits.floats.insert(logits.floats.end(), part.floats.begin(), part.floats.end());
      logits.shape[0] += part.shape[0];
    }
    done += take;
  }
  return logits;
}

absl::StatusOr<HostTensor> ReferenceSession::Step(const std::string& function,
                                                  std::span<const int32_t> tokens,
                                                  int64_t padded_length) {
  int64_t n = static_cast<int64_t>(tokens.size());
  // Padding repeats token 0 of the vocabulary at the following positions.
  std::vector<int64_t> ids(tokens.begin(), tokens.end()), positions;
  ids.resize(static_cast<size_t>(padded_length), 0);
  for (int64_t i = 0; i < padded_length; ++i) positions.push_back(position_ + i);
  std::vector<HostTensor> inputs;
  inputs.push_back(HostTensor::FromInts(DType::kI32, {1, padded_length}, std::move(ids)));
  inputs.push_back(HostTensor::FromInts(DType::kI32, {1, padded_length}, std::move(positions)));
  // The caches move into the call and come back updated in place. Inputs
  // were checked by Forward, so a failure here is unexpected; the caches are
  // then lost and the session starts over, empty.
  for (HostTensor& cache : caches_) inputs.push_back(std::move(cache));
  absl::StatusOr<std::vector<HostTensor>> outputs = executor_->Run(function, std::move(inputs));
  if (!outputs.ok()) {
    caches_ = ZeroCaches(*executor_->module().FindFunction(function), capacity_);
    position_ = 0;
    return outputs.status();
  }
  for (size_t i = 0; i < caches_.size(); ++i) caches_[i] = std::move((*outputs)[i + 1]);
  position_ += n;
  HostTensor logits = std::move((*outputs)[0]);
  int64_t vocab = logits.shape.back();
  logits.floats.resize(static_cast<size_t>(n * vocab));  // drop the padded rows
  logits.shape = {n, vocab};
  return logits;
}

}  // namespace kiln
