#include "runtime/reference/session.h"

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "models/model.h"

namespace kiln {
namespace {

// Zeroed batch-1 caches for the cache parameters of @forward (all after
// input_ids and positions), with `capacity` positions.
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

}  // namespace

absl::StatusOr<ReferenceSession> ReferenceSession::Create(const ReferenceExecutor& executor,
                                                          int64_t capacity) {
  const Function* f = executor.module().FindFunction(kForwardFunction);
  if (f == nullptr || f->params.size() < 2) {
    return absl::InvalidArgumentError("the module has no @forward(input_ids, positions, ...)");
  }
  if (capacity <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cache capacity must be positive, got ", capacity));
  }
  return ReferenceSession(executor, capacity, ZeroCaches(*f, capacity));
}

absl::StatusOr<HostTensor> ReferenceSession::Forward(std::span<const int32_t> tokens) {
  const Function& f = *executor_->module().FindFunction(kForwardFunction);
  int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to run");
  if (position_ + n > capacity_) {
    return absl::OutOfRangeError(absl::StrCat(n, " tokens at position ", position_,
                                              " do not fit in a cache of ", capacity_));
  }
  const Dim& vocab = f.node(f.results[0]).type.shape.back();
  for (int32_t id : tokens) {
    if (id < 0 || (vocab.is_static() && id >= vocab.size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is outside the vocabulary [0, ", vocab.size, ")"));
    }
  }
  std::vector<int64_t> ids(tokens.begin(), tokens.end()), positions;
  for (int64_t i = 0; i < n; ++i) positions.push_back(position_ + i);
  std::vector<HostTensor> inputs;
  inputs.push_back(HostTensor::FromInts(DType::kI32, {1, n}, std::move(ids)));
  inputs.push_back(HostTensor::FromInts(DType::kI32, {1, n}, std::move(positions)));
  // The caches move into the call and come back updated in place. Inputs
  // were checked above, so a failure here is unexpected; the caches are then
  // lost and the session starts over, empty.
  for (HostTensor& cache : caches_) inputs.push_back(std::move(cache));
  absl::StatusOr<std::vector<HostTensor>> outputs = executor_->Run(kForwardFunction, std::move(inputs));
  if (!outputs.ok()) {
    caches_ = ZeroCaches(f, capacity_);
    position_ = 0;
    return outputs.status();
  }
  for (size_t i = 0; i < caches_.size(); ++i) caches_[i] = std::move((*outputs)[i + 1]);
  position_ += n;
  HostTensor logits = std::move((*outputs)[0]);
  logits.shape = {n, logits.shape.back()};
  return logits;
}

}  // namespace kiln
