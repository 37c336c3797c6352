// One interface over a batch-1 SequenceSession and a BatchSession, for
// loops that step several sequences (rows) the same way whichever holds
// them: speculative decoding verifies and drafts through it.
#ifndef KILN_RUNTIME_SESSION_ROW_SESSIONS_H_
#define KILN_RUNTIME_SESSION_ROW_SESSIONS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/host_tensor.h"
#include "base/status_macros.h"
#include "runtime/session/batch_session.h"
#include "runtime/session/sequence_session.h"

namespace kiln {

// Rows stepped together: Forward appends rows[r] at row r's next positions
// (an empty row runs nothing) and returns each row's logits. With
// `last_only` a row's result holds its last token's logits alone ([1,
// vocab]; [0, vocab] for an empty row), else every token's ([n_r, vocab]).
// Rewind forgets a row's positions from `position` on. Errors are the
// sessions' (nothing runs when a row does not fit).
class RowSessions {
 public:
  virtual ~RowSessions() = default;
  virtual absl::StatusOr<std::vector<HostTensor>> Forward(
      std::span<const std::vector<int32_t>> rows, bool last_only) = 0;
  virtual absl::Status Rewind(size_t row, int64_t position) = 0;
  virtual int64_t position(size_t row) const = 0;
  virtual size_t rows() const = 0;
};

// The single row of a SequenceSession (not owned; it must outlive this).
class SingleRow : public RowSessions {
 public:
  explicit SingleRow(SequenceSession& session) : session_(&session) {}

  absl::StatusOr<std::vector<HostTensor>> Forward(std::span<const std::vector<int32_t>> rows,
                                                  bool last_only) override {
    if (rows.size() != 1) return absl::InvalidArgumentError("a sequence session has one row");
    std::vector<HostTensor> out(1);
    if (rows[0].empty()) return out;
    if (last_only) {
      KILN_ASSIGN_OR_RETURN(out[0], session_->ForwardLast(rows[0]));
    } else {
      KILN_ASSIGN_OR_RETURN(out[0], session_->Forward(rows[0]));
    }
    return out;
  }
  absl::Status Rewind(size_t row, int64_t position) override {
    if (row != 0) return absl::OutOfRangeError(absl::StrCat("no row ", row, " in one sequence"));
    return session_->Rewind(position);
  }
  int64_t position(size_t) const override { return session_->position(); }
  size_t rows() const override { return 1; }

 private:
  SequenceSession* session_;
};

// The rows of a BatchSession (not owned).
class BatchRows : public RowSessions {
 public:
  explicit BatchRows(BatchSession& session) : session_(&session) {}

  absl::StatusOr<std::vector<HostTensor>> Forward(std::span<const std::vector<int32_t>> rows,
                                                  bool last_only) override {
    return session_->Forward(rows, last_only);
  }
  absl::Status Rewind(size_t row, int64_t position) override {
    return session_->Rewind(static_cast<int64_t>(row), position);
  }
  int64_t position(size_t row) const override {
    return session_->position(static_cast<int64_t>(row));
  }
  size_t rows() const override { return static_cast<size_t>(session_->batch()); }

 private:
  BatchSession* session_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_ROW_SESSIONS_H_
