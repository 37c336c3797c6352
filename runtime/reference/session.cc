#include "runtime/reference/session.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/step_function.h"

namespace kiln {

absl::StatusOr<ReferenceSession> ReferenceSession::Create(const ReferenceExecutor& executor,
                                                          int64_t capacity,
                                                          std::vector<SessionBucket> buckets) {
  if (capacity <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache capacity must be positive, got ", capacity));
  }
  KILN_ASSIGN_OR_RETURN(const Function* f, PrepareBuckets(executor.module(), 1, buckets));
  return ReferenceSession(executor, capacity, ZeroCaches(*f, 1, capacity), std::move(buckets));
}

absl::StatusOr<HostTensor> ReferenceSession::Forward(std::span<const int32_t> tokens) {
  int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to run");
  if (position_ + n > capacity_) {
    return absl::OutOfRangeError(absl::StrCat(n, " tokens at position ", position_,
                                              " do not fit in a cache of ", capacity_));
  }
  const std::string& any = buckets_.empty() ? kForwardFunction : buckets_.front().function;
  KILN_RETURN_IF_ERROR(CheckTokenIds(*executor_->module().FindFunction(any), tokens, ""));
  if (buckets_.empty()) return Step(kForwardFunction, tokens, n);

  // Chunk by buckets: the smallest holding the rest, else the largest that
  // fits in the cache.
  HostTensor logits;
  for (int64_t done = 0; done < n;) {
    int64_t rest = n - done, room = capacity_ - position_;
    const SessionBucket* pick = PickBucket(buckets_, rest, room);
    if (pick == nullptr) {
      return absl::OutOfRangeError(
          absl::StrCat("no compiled bucket fits the ", room, " cache positions left"));
    }
    int64_t take = std::min(rest, pick->seq);
    KILN_ASSIGN_OR_RETURN(HostTensor part,
                          Step(pick->function, tokens.subspan(done, take), pick->seq));
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
  // A failed step zeroed the caches: the session starts over, empty.
  absl::StatusOr<HostTensor> out = RunStep(
      *executor_, function, HostTensor::FromInts(DType::kI32, {1, padded_length}, std::move(ids)),
      HostTensor::FromInts(DType::kI32, {1, padded_length}, std::move(positions)), caches_);
  if (!out.ok()) {
    position_ = 0;
    return out.status();
  }
  position_ += n;
  HostTensor logits = *std::move(out);
  int64_t vocab = logits.shape.back();
  logits.floats.resize(static_cast<size_t>(n * vocab));  // drop the padded rows
  logits.shape = {n, vocab};
  return logits;
}

absl::Status ReferenceSession::Rewind(int64_t position) {
  if (position < 0 || position > position_) {
    return absl::InvalidArgumentError(absl::StrCat("cannot rewind a session at position ", position_,
                                                   " to ", position));
  }
  position_ = position;
  return absl::OkStatus();
}

}  // namespace kiln
