#include "runtime/generate/draft_schedule.h"

#include <algorithm>
#include <cmath>

namespace kiln {
namespace {

constexpr double kDecay = 0.85;   // of a row's acceptance counts, per round
constexpr double kAverage = 0.3;  // weight of a new timing in its average
// An unmeasured step of w tokens is guessed at a decode step's time times
// 1 + kGuessPerToken (w - 1): optimistic, so every length gets measured.
constexpr double kGuessPerToken = 0.05;

// The expected tokens of a k-token draft whose tokens are kept with
// probability a each: the kept prefix, plus the target's own token.
double ExpectedTokens(double a, int k) {
  a = std::min(a, 0.999);
  return (1 - std::pow(a, k + 1)) / (1 - a);
}

}  // namespace

DraftSchedule::DraftSchedule(const std::string& kind, int start, int cap, size_t rows,
                             bool free_drafter, bool timing_free)
    : kind_(KindFor(kind, free_drafter, timing_free)),
      start_(start),
      cap_(std::max(cap, start)),
      free_drafter_(free_drafter),
      length_(rows, start),
      kept_(rows, 0.0),
      rejected_(rows, 0.0) {
  candidates_.push_back(0);
  for (int k = 1; k < cap_; k = 2 * k + 1) candidates_.push_back(k);
  candidates_.push_back(cap_);
}

DraftSchedule::Kind DraftSchedule::KindFor(const std::string& kind, bool free_drafter,
                                           bool timing_free) {
  if (kind == "constant") return Kind::kConstant;
  if (kind == "heuristic") return Kind::kHeuristic;
  if (!timing_free) return Kind::kAdaptive;
  return free_drafter ? Kind::kSeeded : Kind::kHeuristic;
}

std::string DraftSchedule::Running(const std::string& kind, bool free_drafter, bool timing_free) {
  switch (KindFor(kind, free_drafter, timing_free)) {
    case Kind::kConstant:
      return "constant";
    case Kind::kHeuristic:
      return "heuristic";
    case Kind::kAdaptive:
      return "adaptive";
    case Kind::kSeeded:
      return "seeded adaptive";
  }
  return kind;
}

double DraftSchedule::Acceptance(size_t r) const {
  return (kept_[r] + 1) / (kept_[r] + rejected_[r] + 2);
}

double DraftSchedule::StepSeconds(int64_t width) const {
  auto it = step_seconds_.find(width);
  if (it != step_seconds_.end()) return it->second;
  // Guessed from the narrowest step timed (a decode step, or with an
  // assistant, which never runs one, the first verify step).
  if (step_seconds_.empty()) return 1 + kGuessPerToken * static_cast<double>(width - 1);
  const auto [timed, seconds] = *step_seconds_.begin();
  return seconds * (1 + kGuessPerToken * static_cast<double>(std::max<int64_t>(width - timed, 0)));
}

void DraftSchedule::StartRound(const std::vector<bool>& running) {
  if (kind_ == Kind::kSeeded) {
    // Each row on its own acceptance, against the fixed cost model.
    for (size_t r = 0; r < running.size(); ++r) {
      double best_rate = 0;
      for (int k : candidates_) {
        const double rate = ExpectedTokens(Acceptance(r), k) / (1 + kVerifyCostPerToken * k);
        if (rate > best_rate) best_rate = rate, length_[r] = k;
      }
    }
    return;
  }
  if (kind_ != Kind::kAdaptive) return;
  // One length for all rows: a batch step costs what its longest row
  // costs, so the length maximises the rows' expected tokens together.
  // Lengths are explored upwards one verify step at a time: the first whose
  // step has not been timed is tried (at an optimistic guess), no longer.
  choice_ = free_drafter_ ? 0 : candidates_[1];
  double best_rate = 0;
  bool explored = false;
  for (int k : candidates_) {
    if (k == 0 && !free_drafter_) continue;
    if (!step_seconds_.contains(k + 1)) {
      if (explored) break;
      explored = true;
    }
    double tokens = 0;
    for (size_t r = 0; r < running.size(); ++r) {
      if (!running[r]) continue;
      tokens += ExpectedTokens(Acceptance(r), k);
    }
    const double rate = tokens / (StepSeconds(k + 1) + k * draft_seconds_);
    if (rate > best_rate) best_rate = rate, choice_ = k;
  }
}

int DraftSchedule::Length(size_t r) const {
  return kind_ == Kind::kAdaptive ? choice_ : length_[r];
}

bool DraftSchedule::Shadow(size_t r) const {
  if (kind_ == Kind::kSeeded) return length_[r] == 0;
  return kind_ == Kind::kAdaptive && free_drafter_ && choice_ == 0;
}

void DraftSchedule::Update(size_t r, int drafted, int accepted) {
  if (drafted <= 0) return;
  if (kind_ == Kind::kHeuristic) {
    length_[r] = accepted == drafted ? std::min(length_[r] + 2, cap_) : std::max(length_[r] - 1, 1);
  }
  kept_[r] = kDecay * kept_[r] + accepted;
  rejected_[r] = kDecay * rejected_[r] + (accepted < drafted ? 1 : 0);
}

void DraftSchedule::Observe(size_t r, bool matched) {
  kept_[r] = kDecay * kept_[r] + (matched ? 1 : 0);
  rejected_[r] = kDecay * rejected_[r] + (matched ? 0 : 1);
}

void DraftSchedule::TimeStep(int64_t width, double seconds) {
  auto [it, fresh] = step_seconds_.emplace(width, seconds);
  if (!fresh) it->second = (1 - kAverage) * it->second + kAverage * seconds;
}

void DraftSchedule::TimeDraft(double seconds_per_token) {
  draft_seconds_ = draft_seconds_ == 0
                       ? seconds_per_token
                       : (1 - kAverage) * draft_seconds_ + kAverage * seconds_per_token;
}

}  // namespace kiln
