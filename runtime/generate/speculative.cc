#include "runtime/generate/speculative.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/draft_schedule.h"
#include "runtime/generate/elapsed.h"

namespace kiln {
namespace {

// Appends `token` to `row` and says whether the row goes on: the plain
// loop's stopping rules, checked after each token.
absl::StatusOr<bool> Append(SpeculativeRow& row, int32_t token, const GenerationConfig& config,
                            int64_t max_seq) {
  row.context.push_back(token);
  ++row.generated;
  KILN_ASSIGN_OR_RETURN(bool stop, row.output->Add(token, config, row.stream));
  return !stop && row.generated < static_cast<uint64_t>(config.max_new_tokens) &&
         static_cast<int64_t>(row.context.size()) < max_seq;
}

}  // namespace

DraftLengths DraftLengthsFor(const GenerationConfig& config, int64_t verify_tokens) {
  if (config.prompt_lookup_num_tokens > 0) {
    return {config.prompt_lookup_num_tokens, config.prompt_lookup_num_tokens};
  }
  return {static_cast<int>(std::min<int64_t>(verify_tokens, config.num_assistant_tokens)),
          static_cast<int>(verify_tokens)};
}

absl::Status RunSpeculativeRounds(RowSessions& target, Drafter& drafter,
                                  const GenerationConfig& config, const SpeculativeLimits& limits,
                                  std::span<SpeculativeRow> rows) {
  const DraftLengths lengths = DraftLengthsFor(config, limits.verify_tokens);
  const size_t n = rows.size();
  DraftSchedule schedule(config.num_assistant_tokens_schedule, lengths.start, lengths.cap, n,
                         drafter.free(), config.do_sample);
  std::vector<std::vector<int32_t>> contexts(n);
  std::vector<int> budget(n);
  std::vector<uint64_t> first_index(n);
  std::vector<std::vector<int32_t>> run(n);
  std::vector<int32_t> shadow(n, -1);  // a row's unverified proposal (Shadow)
  std::vector<bool> running(n);
  for (;;) {
    for (size_t r = 0; r < n; ++r) running[r] = rows[r].running;
    schedule.StartRound(running);
    bool any = false;
    for (size_t r = 0; r < n; ++r) {
      SpeculativeRow& row = rows[r];
      budget[r] = 0;
      run[r].clear();
      if (!row.running) continue;
      any = true;
      const int64_t room = limits.max_seq - static_cast<int64_t>(row.context.size());
      const int64_t left = config.max_new_tokens - static_cast<int64_t>(row.generated) - 1;
      const int64_t wanted = schedule.Shadow(r) ? 1 : schedule.Length(r);
      budget[r] = static_cast<int>(
          std::max<int64_t>(0, std::min({wanted, limits.verify_tokens, left, room})));
      contexts[r] = row.context;  // the drafter reads every row's tokens
      first_index[r] = row.generated;
    }
    if (!any) return absl::OkStatus();
    Clock::time_point start = Clock::now();
    KILN_ASSIGN_OR_RETURN(std::vector<Draft> drafts,
                          drafter.Propose(contexts, budget, first_index, config));
    const double draft_seconds = SecondsSince(start);
    bool drafted = false;
    size_t width = 1, most_drafted = 0;
    for (size_t r = 0; r < n; ++r) {
      if (!rows[r].running) continue;
      if (static_cast<int>(drafts[r].tokens.size()) > budget[r]) drafts[r].tokens.resize(budget[r]);
      most_drafted = std::max(most_drafted, drafts[r].tokens.size());
      shadow[r] = -1;
      if (schedule.Shadow(r)) {  // remember the proposal, do not verify it
        if (!drafts[r].tokens.empty()) shadow[r] = drafts[r].tokens[0];
        drafts[r] = Draft();
      }
      if (drafts[r].q.size() > drafts[r].tokens.size()) drafts[r].q.resize(drafts[r].tokens.size());
      run[r].push_back(rows[r].context.back());
      run[r].insert(run[r].end(), drafts[r].tokens.begin(), drafts[r].tokens.end());
      drafted |= !drafts[r].tokens.empty();
      width = std::max(width, run[r].size());
    }
    if (most_drafted > 0) schedule.TimeDraft(draft_seconds / static_cast<double>(most_drafted));
    // Without drafts this is a plain decode step: only the last logits.
    start = Clock::now();
    KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> logits,
                          target.Forward(run, /*last_only=*/!drafted));
    schedule.TimeStep(static_cast<int64_t>(width), SecondsSince(start));
    for (size_t r = 0; r < n; ++r) {
      SpeculativeRow& row = rows[r];
      if (!row.running) continue;
      const Draft& draft = drafts[r];
      const int64_t k = static_cast<int64_t>(draft.tokens.size());
      const HostTensor& out = logits[r];
      const int64_t vocab = out.shape.back();
      std::span<const float> tail(out.floats);
      tail = tail.subspan(tail.size() - static_cast<size_t>((k + 1) * vocab));
      GenerationResult& result = row.output->result();
      ++result.target_forwards;
      result.drafted_tokens += k;
      KILN_ASSIGN_OR_RETURN(
          const Verdict verdict,
          AcceptDraft(tail, vocab, draft, config, row.context, row.generated, limits.rule));
      bool going = true;
      for (int64_t i = 0; i < verdict.accepted && going; ++i) {
        KILN_ASSIGN_OR_RETURN(
            going, Append(row, draft.tokens[static_cast<size_t>(i)], config, limits.max_seq));
        ++result.accepted_tokens;  // kept and emitted (not past a stop)
      }
      if (!verdict.error.ok() && going) {
        // NaN logits: the request fails (alone), or the row ends with
        // "error" after the tokens kept before them, as in the plain loop.
        if (!limits.rows_fail_alone) return verdict.error;
        result.finish_reason = "error";
        result.error = std::string(verdict.error.message());
        going = false;
      } else if (going) {
        KILN_ASSIGN_OR_RETURN(going, Append(row, verdict.next, config, limits.max_seq));
      }
      row.running = going;
      KILN_RETURN_IF_ERROR(target.Rewind(r, static_cast<int64_t>(row.context.size()) - 1));
      schedule.Update(r, static_cast<int>(k), verdict.accepted);
      if (shadow[r] >= 0) schedule.Observe(r, verdict.error.ok() && shadow[r] == verdict.next);
    }
  }
}

}  // namespace kiln
