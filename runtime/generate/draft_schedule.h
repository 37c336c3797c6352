// How long each row's draft is, round by round, in speculative decoding.
#ifndef KILN_RUNTIME_GENERATE_DRAFT_SCHEDULE_H_
#define KILN_RUNTIME_GENERATE_DRAFT_SCHEDULE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/generate/generation_config.h"

namespace kiln {

// The schedules of GenerationConfig::num_assistant_tokens_schedule:
//   constant: the first length every round;
//   heuristic (Transformers'): +2 after a round whose draft was kept whole,
//     else -1, between 1 and the cap;
//   adaptive (Kiln's default, greedy requests): the length with the most
//     expected tokens per second, one for all rows of a batch (whose step costs what its
//     longest row costs). A row's acceptance rate a is estimated from its
//     recent rounds (decayed counts, a prior of 1/2); a draft of k tokens
//     yields E(k) = (1 - a^(k+1)) / (1 - a) tokens (summed over the rows)
//     and costs the measured time of
//     a target step of k + 1 tokens plus k times the measured time per
//     drafted token; k ranges over 0 (a plain step) and the verify steps'
//     draft lengths (2^j - 1 and the cap, compile-model's buckets), each
//     tried only once the one below it has been timed (the first untimed
//     step is guessed cheap, so lengths are explored upwards). A row at
//     0 with a drafter that costs nothing (prompt lookup) still gets a
//     one-token proposal that is compared, not verified, so its estimate
//     keeps moving; with a drafter that runs a model the length stays >= 1.
//   adaptive, timing-free: for a sampling request, whose draft lengths must
//     depend on its own draws only, never on timings or the batch, so that
//     a seed reproduces it and a batch row samples what it would alone; and
//     for a request of a continuous batch (runtime/serve), whose batch
//     changes at every step, so that a step's time says little. With a
//     drafter that costs nothing (prompt lookup), each row takes the length
//     with the most expected tokens per unit of a fixed cost model, a step
//     of k + 1 tokens costing 1 + kVerifyCostPerToken k decode steps, from
//     its own acceptance estimate (as above, shadow proposals included),
//     so it backs off to plain steps on text the lookup does not predict.
//     With an assistant model (whose cost would have to be timed) it runs
//     heuristic.
class DraftSchedule {
 public:
  // A verify step's cost per drafted token, in decode steps, for the
  // timing-free schedule: SmolLM2's steps of 2 / 4 / 8 tokens on the CPU
  // cost 0.15-0.2 / 0.2-0.28 / 0.3-0.37 decode steps more per drafted token
  // than a decode step (q8_0 and q4_0, docs/PERFORMANCE.md, "Two to four
  // rows take the packed path"), and 0.16-0.20 / 0.24-0.28 / 0.28-0.36 on
  // the Q4_1 GGUF after the verify prefetch ("Prefetching the next rows in
  // address order"). A GPU's verify steps cost less, so there it drafts
  // less than timings would allow: the price of a reproducible seed.
  static constexpr double kVerifyCostPerToken = 0.3;

  // `start` is the first length (of constant and heuristic; adaptive picks
  // its own), `cap` the longest (both >= 1); `timing_free`: adaptive must
  // not follow timings (see above).
  DraftSchedule(const std::string& kind, int start, int cap, size_t rows, bool free_drafter,
                bool timing_free = false);

  // The schedule that runs for these arguments, by name: `kind`, except
  // that a timing-free adaptive is "heuristic" with an assistant and
  // "seeded adaptive" with a free drafter.
  static std::string Running(const std::string& kind, bool free_drafter, bool timing_free);

  // Chooses this round's lengths (adaptive: one for all `running` rows).
  void StartRound(const std::vector<bool>& running);
  // The draft length to ask of row r's drafter this round (0: none).
  int Length(size_t r) const;
  // True when row r drafts nothing this round but its drafter should still
  // propose one token for Observe.
  bool Shadow(size_t r) const;

  // Row r drafted `drafted` tokens and the target kept `accepted`.
  void Update(size_t r, int drafted, int accepted);
  // Row r's unverified one-token proposal was the target's token, or not.
  void Observe(size_t r, bool matched);
  // A target step of `width` tokens took `seconds`; drafting took
  // `seconds_per_token` per drafted token (0 when nothing was drafted).
  void TimeStep(int64_t width, double seconds);
  void TimeDraft(double seconds_per_token);

 private:
  double Acceptance(size_t r) const;
  double StepSeconds(int64_t width) const;

  // kSeeded: timing-free adaptive with a free drafter.
  enum class Kind { kConstant, kHeuristic, kAdaptive, kSeeded };
  // The schedule that runs for the constructor's arguments (the one
  // decision the constructor and Running share).
  static Kind KindFor(const std::string& kind, bool free_drafter, bool timing_free);
  Kind kind_;
  int start_, cap_;
  bool free_drafter_;
  std::vector<int> length_;                 // constant, heuristic and seeded
  std::vector<double> kept_, rejected_;     // adaptive, seeded: decayed counts per row
  std::map<int64_t, double> step_seconds_;  // by width, an exponential average
  double draft_seconds_ = 0;                // per drafted token
  std::vector<int> candidates_;             // adaptive lengths, 0 first
  int choice_ = 0;                          // adaptive: this round's length
};

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_DRAFT_SCHEDULE_H_
