// A batch of sequences stepped together through batch-N buckets.
#ifndef KILN_RUNTIME_SESSION_BATCH_SESSION_H_
#define KILN_RUNTIME_SESSION_BATCH_SESSION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/reference/executor.h"
#include "runtime/session/session_util.h"

namespace kiln {

// Owns the static KV caches of `batch` independent sequences (rows) and
// steps a model's forward function (ir/step_function.h's convention) on all of
// them at once: each Forward call appends each row's tokens at that row's
// next cache positions. Rows may run different numbers of tokens, none
// included; every row's result equals what the row would get alone in a
// ReferenceSession. The executor must outlive the session.
//
// Padding (exact, with no attention mask). A step runs a [batch, width]
// bucket; the rows are LEFT-padded to the width, as Transformers' generate
// pads a batch, so every row's last token sits in the last column. Positions
// are explicit per token: a row's real tokens run at its next positions
// p0, p0+1, ..., and its pads at the positions right AFTER them (clamped to
// the last cache slot). A real query at position p attends to the row's
// slots j <= p only (and p - j < window with a sliding window), and every
// slot j <= p was last written by the row's real token j: a pad's slot lies
// beyond the row's real tokens, so a real token overwrites it in a later
// step, before any query can reach it (the kv-cache write of a step precedes
// its attention). Pads thus change no real logit, bit for bit. (A row whose
// tokens end at the last slot has no slot beyond them: its pads repeat its
// last token there, see Step. A full row may get pads at its last slot; it
// can run no more tokens, so nothing reads them.)
//
// Without buckets the generic @forward runs each step at exactly the width
// of the longest row. With buckets (an engine's functions for this batch)
// the longest row picks the smallest bucket that holds it, else runs in
// chunks of the largest (chunked prefill): the rows are left-padded to the
// whole chunked width and every row advances column by column, so a row
// whose tokens start later gets only pads in the first chunks.
class BatchSession {
 public:
  // Runs one step of `function` on ids and positions [batch, width] against
  // caches the runner owns, returning the logits [batch, width, vocab], or
  // with `last_only` each row's last column's, [batch, 1, vocab] (a runner
  // may then skip the other columns' LM head).
  using StepRunner = std::function<absl::StatusOr<HostTensor>(
      const std::string& function, HostTensor ids, HostTensor positions, bool last_only)>;

  // Allocates zeroed caches of `capacity` positions for `batch` rows.
  static absl::StatusOr<BatchSession> Create(const ReferenceExecutor& executor, int64_t batch,
                                             int64_t capacity,
                                             std::vector<SessionBucket> buckets = {});

  // The same on another backend (the launch plans: runtime/cuda), which owns
  // the caches (already zeroed) and runs each step through `run`. `module`
  // holds the buckets and must outlive the session. `buckets` may also hold
  // buckets compiled for smaller batches b, which the runner must run on the
  // leading b rows of the same caches (as an executor's plans share one set
  // of caches, plan_session.h): a Forward whose rows past some such b are
  // all empty runs the smallest one that holds its rows (a lone first row
  // runs at batch 1, not in the whole batch's bucket with pads).
  static absl::StatusOr<BatchSession> CreateWithRunner(const Module& module, StepRunner run,
                                                       int64_t batch, int64_t capacity,
                                                       std::vector<SessionBucket> buckets);

  // Runs rows[b] at positions position(b) .. position(b) + n_b - 1 for each
  // b < rows.size() <= batch(); the other rows (a smaller batch in a larger
  // bucket) only get pads. Returns each given row's logits, [n_b, vocab]
  // ([0, vocab] for an empty row). Fails without changing the session when
  // a row's tokens do not fit in the cache or an id is outside the
  // vocabulary; the error names the row. With `last_only` each given row's
  // result holds its last token's logits alone, [1, vocab] ([0, vocab] for
  // an empty row): what a decode or a prefill samples from, without the
  // LM head of every other column.
  absl::StatusOr<std::vector<HostTensor>> Forward(std::span<const std::vector<int32_t>> rows,
                                                  bool last_only = false);

  // Forgets row `row`'s positions from `position` on (0 <= position <=
  // position(row)), as SequenceSession::Rewind: nothing is copied; the
  // slots past it are masked by position and overwritten by the row's next
  // tokens before any query reads them (the padding argument above).
  absl::Status Rewind(int64_t row, int64_t position);

  int64_t position(int64_t row) const { return positions_[static_cast<size_t>(row)]; }
  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }

 private:
  BatchSession(const Module& module, StepRunner run, int64_t batch, int64_t capacity,
               std::vector<SessionBucket> buckets)
      : module_(&module),
        run_(std::move(run)),
        batch_(batch),
        capacity_(capacity),
        positions_(static_cast<size_t>(batch), 0),
        buckets_(std::move(buckets)) {}

  absl::Status CheckRows(std::span<const std::vector<int32_t>> rows) const;

  // Runs columns [first, first + width) of rows [0, step_batch) left-padded
  // to `padded` columns through `function` (compiled for step_batch),
  // appending each row's real logits
  // to `out` (with `last_only`: replacing it by the step's last column,
  // when the row ran tokens) and advancing its position.
  absl::Status Step(const std::string& function, int64_t step_batch,
                    std::span<const std::vector<int32_t>> rows, int64_t padded, int64_t first,
                    int64_t width, bool last_only, std::vector<HostTensor>& out);

  const Module* module_;
  StepRunner run_;
  int64_t batch_;
  int64_t capacity_;
  std::vector<int64_t> positions_;      // per row: the next cache slot
  std::vector<SessionBucket> buckets_;  // sorted by seq
  // Buckets of smaller batches run on the caches' leading rows, by batch
  // (each sorted by seq).
  std::map<int64_t, std::vector<SessionBucket>> leading_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_BATCH_SESSION_H_
