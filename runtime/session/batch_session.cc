#include "runtime/session/batch_session.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/step_function.h"

namespace kiln {
namespace {

// [batch, width, vocab] logits cut to each row's last column, [batch, 1,
// vocab].
HostTensor LastColumns(const HostTensor& logits) {
  const int64_t batch = logits.shape[0], width = logits.shape[1], vocab = logits.shape[2];
  HostTensor out{logits.dtype, {batch, 1, vocab}, {}, {}};
  for (int64_t b = 0; b < batch; ++b) {
    auto from = logits.floats.begin() + ((b + 1) * width - 1) * vocab;
    out.floats.insert(out.floats.end(), from, from + vocab);
  }
  return out;
}

}  // namespace

absl::StatusOr<BatchSession> BatchSession::Create(const ReferenceExecutor& executor, int64_t batch,
                                                  int64_t capacity,
                                                  std::vector<SessionBucket> buckets) {
  if (batch <= 0)
    return absl::InvalidArgumentError(absl::StrCat("batch must be positive, got ", batch));
  if (capacity <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache capacity must be positive, got ", capacity));
  }
  KILN_ASSIGN_OR_RETURN(const Function* f, PrepareBuckets(executor.module(), batch, buckets));
  // The reference executor takes the caches as inputs: the runner keeps them.
  auto caches = std::make_shared<std::vector<HostTensor>>(ZeroCaches(*f, batch, capacity));
  StepRunner run = [&executor, caches](const std::string& function, HostTensor ids,
                                       HostTensor positions,
                                       bool last_only) -> absl::StatusOr<HostTensor> {
    KILN_ASSIGN_OR_RETURN(HostTensor logits, RunStep(executor, function, std::move(ids),
                                                     std::move(positions), *caches));
    return last_only ? LastColumns(logits) : logits;
  };
  return BatchSession(executor.module(), std::move(run), batch, capacity, std::move(buckets));
}

absl::StatusOr<BatchSession> BatchSession::CreateWithRunner(const Module& module, StepRunner run,
                                                            int64_t batch, int64_t capacity,
                                                            std::vector<SessionBucket> buckets) {
  if (batch <= 0 || capacity <= 0 || buckets.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a batch session needs a positive batch and capacity and compiled buckets (batch ", batch,
        ", capacity ", capacity, ", ", buckets.size(), " buckets)"));
  }
  std::vector<SessionBucket> own;
  std::map<int64_t, std::vector<SessionBucket>> leading;
  for (SessionBucket& b : buckets) {
    KILN_ASSIGN_OR_RETURN(int64_t compiled, StepFunctionBatch(module, b.function));
    if (compiled > 0 && compiled < batch) {
      leading[compiled].push_back(std::move(b));
    } else {
      own.push_back(std::move(b));  // PrepareBuckets refuses a larger batch
    }
  }
  KILN_RETURN_IF_ERROR(PrepareBuckets(module, batch, own).status());
  for (auto& [b, list] : leading) KILN_RETURN_IF_ERROR(PrepareBuckets(module, b, list).status());
  BatchSession session(module, std::move(run), batch, capacity, std::move(own));
  session.leading_ = std::move(leading);
  return session;
}

absl::Status BatchSession::CheckRows(std::span<const std::vector<int32_t>> rows) const {
  if (rows.empty() || static_cast<int64_t>(rows.size()) > batch_) {
    return absl::InvalidArgumentError(
        absl::StrCat(rows.size(), " rows given, but the session holds 1 to ", batch_));
  }
  const std::string& any = buckets_.empty() ? kForwardFunction : buckets_.front().function;
  const Function& f = *module_->FindFunction(any);
  bool any_tokens = false;
  for (size_t b = 0; b < rows.size(); ++b) {
    int64_t n = static_cast<int64_t>(rows[b].size());
    if (positions_[b] + n > capacity_) {
      return absl::OutOfRangeError(absl::StrCat("row ", b, ": ", n, " tokens at position ",
                                                positions_[b], " do not fit in a cache of ",
                                                capacity_));
    }
    KILN_RETURN_IF_ERROR(CheckTokenIds(f, rows[b], absl::StrCat("row ", b, ": ")));
    any_tokens |= n > 0;
  }
  if (!any_tokens) return absl::InvalidArgumentError("no tokens to run in any row");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostTensor>> BatchSession::Forward(
    std::span<const std::vector<int32_t>> rows, bool last_only) {
  KILN_RETURN_IF_ERROR(CheckRows(rows));
  int64_t longest = 0, used = 0;  // used: the rows up to the last with tokens
  for (size_t r = 0; r < rows.size(); ++r) {
    longest = std::max(longest, static_cast<int64_t>(rows[r].size()));
    if (!rows[r].empty()) used = static_cast<int64_t>(r) + 1;
  }
  // The smallest compiled batch that holds the used rows.
  int64_t step_batch = batch_;
  const std::vector<SessionBucket>* buckets = &buckets_;
  for (const auto& [b, list] : leading_) {
    if (b >= used) {
      step_batch = b;
      buckets = &list;
      break;
    }
  }
  // The steps: one of exactly `longest` columns without buckets, else the
  // bucket lengths the batch-1 session would chunk `longest` tokens into.
  std::vector<const SessionBucket*> steps;
  int64_t padded = 0;
  SessionBucket generic{kForwardFunction, longest};
  while (padded < longest) {
    const SessionBucket* pick =
        buckets->empty() ? &generic : PickBucket(*buckets, longest - padded, capacity_);
    if (pick == nullptr) {
      return absl::OutOfRangeError(
          absl::StrCat("no compiled bucket fits a cache of ", capacity_, " positions"));
    }
    steps.push_back(pick);
    padded += pick->seq;
  }

  std::vector<HostTensor> out(rows.size());
  int64_t first = 0;
  for (const SessionBucket* step : steps) {
    // A failed step zeroed the caches: the session starts over, empty.
    absl::Status status =
        Step(step->function, step_batch, rows, padded, first, step->seq, last_only, out);
    if (!status.ok()) {
      std::fill(positions_.begin(), positions_.end(), 0);
      return status;
    }
    first += step->seq;
  }
  return out;
}

absl::Status BatchSession::Step(const std::string& function, int64_t step_batch,
                                std::span<const std::vector<int32_t>> rows, int64_t padded,
                                int64_t first, int64_t width, bool last_only,
                                std::vector<HostTensor>& out) {
  std::vector<int64_t> ids, positions;
  std::vector<int64_t> real(static_cast<size_t>(batch_), 0);  // real tokens per row
  for (int64_t b = 0; b < step_batch; ++b) {
    std::span<const int32_t> row;
    if (b < static_cast<int64_t>(rows.size())) row = rows[static_cast<size_t>(b)];
    // Column c of the row left-padded to `padded` holds token c - lead.
    int64_t lead = padded - static_cast<int64_t>(row.size());
    int64_t begin = std::clamp<int64_t>(first - lead, 0, static_cast<int64_t>(row.size()));
    int64_t end = std::clamp<int64_t>(first + width - lead, 0, static_cast<int64_t>(row.size()));
    int64_t n = end - begin, next = positions_[static_cast<size_t>(b)] + n;
    real[static_cast<size_t>(b)] = n;
    for (int64_t i = 0; i < width - n; ++i) {
      if (n > 0 && next == capacity_) {
        // No free slot after the row's tokens: the pad is a copy of its
        // last token (same id, same position), which computes the same
        // values bit for bit and so writes that slot identically.
        ids.push_back(row[static_cast<size_t>(end - 1)]);
        positions.push_back(capacity_ - 1);
      } else {
        ids.push_back(0);
        positions.push_back(std::min(next + i, capacity_ - 1));
      }
    }
    for (int64_t i = begin; i < end; ++i) {
      ids.push_back(row[static_cast<size_t>(i)]);
      positions.push_back(positions_[static_cast<size_t>(b)] + (i - begin));
    }
  }
  KILN_ASSIGN_OR_RETURN(
      HostTensor logits,
      run_(function, HostTensor::FromInts(DType::kI32, {step_batch, width}, std::move(ids)),
           HostTensor::FromInts(DType::kI32, {step_batch, width}, std::move(positions)),
           last_only));
  int64_t vocab = logits.shape.back();
  for (size_t b = 0; b < out.size(); ++b) {
    HostTensor& row = out[b];
    if (row.shape.empty()) row = HostTensor{logits.dtype, {0, vocab}, {}, {}};
    if (real[b] == 0) continue;  // (rows past step_batch have no logits)
    if (last_only) {
      // Every row's tokens end in the last column (left padding).
      auto from = logits.floats.begin() + static_cast<int64_t>(b) * vocab;
      row.floats.assign(from, from + vocab);
      row.shape[0] = 1;
      continue;
    }
    // The row's real tokens are its last `real[b]` columns.
    auto from = logits.floats.begin() + (static_cast<int64_t>(b) * width + width - real[b]) * vocab;
    row.floats.insert(row.floats.end(), from, from + real[b] * vocab);
    row.shape[0] += real[b];
  }
  for (int64_t b = 0; b < batch_; ++b)
    positions_[static_cast<size_t>(b)] += real[static_cast<size_t>(b)];
  return absl::OkStatus();
}

absl::Status BatchSession::Rewind(int64_t row, int64_t position) {
  if (row < 0 || row >= batch_) {
    return absl::OutOfRangeError(absl::StrCat("no row ", row, " in a batch of ", batch_));
  }
  if (position < 0 || position > positions_[static_cast<size_t>(row)]) {
    return absl::OutOfRangeError(absl::StrCat("row ", row, ": cannot rewind to position ", position,
                                              "; it holds ", positions_[static_cast<size_t>(row)]));
  }
  positions_[static_cast<size_t>(row)] = position;
  return absl::OkStatus();
}

}  // namespace kiln
