// codegen/loop/loop_control.h, the loop plan's control, against the host
// pieces it restates, on random inputs: its prompt lookup against
// PromptLookupCandidates, its heuristic schedule against DraftSchedule
// (rounds that draft nothing included), and a whole round's bookkeeping
// against a direct count; a sampled round's draw counter.
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/generate/draft_schedule.h"
#include "runtime/generate/drafters.h"

namespace kiln {
namespace {

#include "codegen/loop/loop_control.h"

TEST(LoopControlTest, PromptLookupIsTransformersRule) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 40);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    const int alphabet = 2 + static_cast<int>(rng() % 6);  // small: many matches
    for (int32_t& id : ids) id = static_cast<int32_t>(rng() % alphabet);
    const int ngram = 1 + static_cast<int>(rng() % 4);
    const int tokens = 1 + static_cast<int>(rng() % 8);
    std::vector<int32_t> got(8, -1);
    got.resize(static_cast<size_t>(kiln_loop_lookup(ids.data(), n, ngram, tokens, got.data())));
    EXPECT_EQ(got, PromptLookupCandidates(ids, ngram, tokens)) << "trial " << trial;
  }
}

TEST(LoopControlTest, HeuristicScheduleIsDraftSchedules) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int cap = 1 + static_cast<int>(rng() % 7);
    DraftSchedule host("heuristic", cap, cap, 1, /*free_drafter=*/true, /*timing_free=*/false);
    std::vector<int> config(kLoopConfigWords, 0), state(kLoopWords, 0);
    config[kLoopHeuristic] = 1;
    config[kLoopDraftCap] = cap;
    state[kLoopDraftLength] = cap;
    for (int round = 0; round < 30; ++round) {
      ASSERT_EQ(state[kLoopDraftLength], host.Length(0)) << "trial " << trial << " round " << round;
      // Drafts of 0 (no match) to the schedule's length, any acceptance.
      const int drafted = static_cast<int>(rng() % (host.Length(0) + 1));
      const int accepted = static_cast<int>(rng() % (drafted + 1));
      host.Update(0, drafted, accepted);
      // The round as finish sees it: `accepted` of `drafted` tokens agree.
      std::vector<int> history(64, 0), step(9, 0), next(9, 0), nan(9, 0), out(64, 0);
      for (int i = 0; i < drafted; ++i) step[1 + i] = next[i] = 5;
      if (accepted < drafted) next[accepted] = 6;
      config[kLoopMaxNew] = 1000;
      config[kLoopCapacity] = 1000;
      state[kLoopLength] = 1;
      state[kLoopGenerated] = 0;
      state[kLoopFinish] = kLoopRunning;
      state[kLoopDrafted] = drafted;
      int count = 0;
      EXPECT_EQ(kiln_loop_finish_round(state.data(), config.data(), history.data(), step.data(),
                                       next.data(), nan.data(), 0, 0, out.data(), &count),
                1);
      EXPECT_EQ(count, accepted + 1);
    }
  }
}

// A round whose acceptance reads `nan` rows of next = {5, 6, 7, 8} after a
// draft of 5, 5, 5: how many tokens it appends and how it ends.
struct NanRound {
  int going = 0, count = 0, finish = 0;
};
NanRound RunNanRound(const std::vector<int>& nan, int eos) {
  std::vector<int> config(kLoopConfigWords, 0), state(kLoopWords, 0), history(64, 0), out(64, 0);
  config[kLoopMaxNew] = 100;
  config[kLoopCapacity] = 100;
  config[kLoopEosCount] = eos >= 0 ? 1 : 0;
  config[kLoopEosIds] = eos;
  state[kLoopLength] = 1;
  state[kLoopDrafted] = 3;
  const std::vector<int> step = {1, 5, 5, 5}, next = {5, 5, 7, 8};  // two draft tokens kept
  NanRound r;
  r.going = kiln_loop_finish_round(state.data(), config.data(), history.data(), step.data(),
                                   next.data(), nan.data(), 0, 0, out.data(), &r.count);
  r.finish = state[kLoopFinish];
  return r;
}

TEST(LoopControlTest, TheFirstNanRowEndsTheReadingAsAcceptDraftDoes) {
  // Past the rows the acceptance reads (0 to 2): nothing changes.
  NanRound r = RunNanRound({0, 0, 0, 1}, -1);
  EXPECT_EQ(r.going, 1);
  EXPECT_EQ(r.count, 3);
  // Row 1: the draft token before it is kept, then the loop ends on NaN.
  r = RunNanRound({0, 1, 0, 0}, -1);
  EXPECT_EQ(r.going, 0);
  EXPECT_EQ(r.count, 1);
  EXPECT_EQ(r.finish, kLoopNaN);
  // Row 0: nothing is kept.
  r = RunNanRound({1, 0, 0, 0}, -1);
  EXPECT_EQ(r.count, 0);
  EXPECT_EQ(r.finish, kLoopNaN);
  // A kept token that stops the sequence (EOS) comes first: no NaN end.
  r = RunNanRound({0, 1, 0, 0}, 5);
  EXPECT_EQ(r.count, 1);
  EXPECT_EQ(r.finish, kLoopEos);
}

TEST(LoopControlTest, TheSampleCounterIsTheFirstDrawsPlusTheTokensGenerated) {
  std::vector<int> config(kLoopConfigWords, 0), state(kLoopWords, 0);
  const unsigned long long first = 0xfffffffeffffffffull;  // a carry into the high word
  config[kLoopCounterLow] = static_cast<int>(first & 0xffffffffu);
  config[kLoopCounterHigh] = static_cast<int>(first >> 32);
  for (int generated : {0, 1, 2, 77}) {
    state[kLoopGenerated] = generated;
    EXPECT_EQ(kiln_loop_sample_counter(state.data(), config.data()),
              first + static_cast<unsigned long long>(generated));
  }
}

}  // namespace
}  // namespace kiln
