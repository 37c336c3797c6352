// DraftSchedule: Transformers' heuristic and constant schedules, and the
// adaptive one's choices from acceptance rates and step times.
#include "runtime/generate/draft_schedule.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(DraftScheduleTest, HeuristicGrowsByTwoAndShrinksByOneWithinItsBounds) {
  DraftSchedule s("heuristic", 3, 7, 1, /*free_drafter=*/true);
  EXPECT_EQ(s.Length(0), 3);
  s.Update(0, 3, 3);
  EXPECT_EQ(s.Length(0), 5);
  s.Update(0, 5, 5);
  s.Update(0, 7, 7);
  EXPECT_EQ(s.Length(0), 7);  // the cap
  for (int i = 0; i < 10; ++i) s.Update(0, 1, 0);
  EXPECT_EQ(s.Length(0), 1);  // never 0
  EXPECT_FALSE(s.Shadow(0));
}

TEST(DraftScheduleTest, ConstantNeverMoves) {
  DraftSchedule s("constant", 4, 7, 2, false);
  s.Update(1, 4, 0);
  s.Update(0, 4, 4);
  EXPECT_EQ(s.Length(0), 4);
  EXPECT_EQ(s.Length(1), 4);
}

// Verify steps of 2, 4 and 8 tokens costing 1.3, 1.7 and 3 decode steps: a row whose drafts are
// kept goes long, one whose drafts fail pauses (prompt lookup) or drafts 1 (an assistant), and a
// paused row resumes when its unverified proposals start matching.
TEST(DraftScheduleTest, AdaptiveFollowsAcceptanceAndStepCosts) {
  DraftSchedule s("adaptive", 7, 7, 2, /*free_drafter=*/true);
  for (auto [w, t] : {std::pair{1, 1.0}, {2, 1.3}, {4, 1.7}, {8, 3.0}}) s.TimeStep(w, t);
  for (int i = 0; i < 20; ++i) {
    s.Update(0, 7, 7);
    s.Update(1, 3, 0);
  }
  s.StartRound({true, false});
  EXPECT_EQ(s.Length(0), 7);
  s.StartRound({false, true});
  EXPECT_EQ(s.Length(1), 0);
  EXPECT_TRUE(s.Shadow(1));
  for (int i = 0; i < 20; ++i) s.Observe(1, true);
  s.StartRound({false, true});
  EXPECT_GT(s.Length(1), 0);
  EXPECT_FALSE(s.Shadow(1));

  DraftSchedule assistant("adaptive", 5, 7, 1, /*free_drafter=*/false);
  for (int i = 0; i < 20; ++i) assistant.Update(0, 3, 0);
  assistant.StartRound({true});
  EXPECT_EQ(assistant.Length(0), 1);
  // Expensive drafting shortens drafts that a free drafter would make long.
  DraftSchedule cheap("adaptive", 7, 7, 1, false), dear("adaptive", 7, 7, 1, false);
  for (DraftSchedule* d : {&cheap, &dear}) {
    for (auto [w, t] : {std::pair{1, 1.0}, {2, 1.05}, {4, 1.2}, {8, 1.5}}) d->TimeStep(w, t);
    for (int i = 0; i < 20; ++i) d->Update(0, 3, 2);  // about 2/3 kept
  }
  cheap.TimeDraft(0.01);
  dear.TimeDraft(0.9);
  cheap.StartRound({true});
  dear.StartRound({true});
  EXPECT_GT(cheap.Length(0), dear.Length(0));
}

// An assistant never runs a plain step, so its untimed lengths are guessed
// from its first verify step: drafts that are all kept grow it.
TEST(DraftScheduleTest, AdaptiveGrowsAnAssistantsDraftsFromItsFirstTimedStep) {
  DraftSchedule s("adaptive", 5, 7, 1, /*free_drafter=*/false);
  s.StartRound({true});
  EXPECT_EQ(s.Length(0), 1);
  s.TimeStep(2, 0.010);
  s.TimeDraft(0.001);
  for (int i = 0; i < 5; ++i) s.Update(0, 1, 1);
  s.StartRound({true});
  EXPECT_EQ(s.Length(0), 3);
  s.TimeStep(4, 0.011);
  s.StartRound({true});
  EXPECT_EQ(s.Length(0), 7);
}

// A sampled request with an assistant takes the heuristic for adaptive:
// timings never move it.
TEST(DraftScheduleTest, SamplingWithAnAssistantUsesTheHeuristic) {
  DraftSchedule s("adaptive", 3, 7, 1, /*free_drafter=*/false, /*timing_free=*/true);
  s.TimeStep(1, 1.0);
  s.TimeStep(4, 100.0);
  s.StartRound({true});
  EXPECT_EQ(s.Length(0), 3);
  s.Update(0, 3, 3);
  EXPECT_EQ(s.Length(0), 5);
}

// A sampled request with prompt lookup: each row's length follows its own
// acceptance against the fixed cost model, never timings or the other rows;
// a row whose drafts fail pauses (shadow proposals), and resumes when they
// start matching.
TEST(DraftScheduleTest, SamplingWithPromptLookupFollowsEachRowsAcceptanceOnly) {
  DraftSchedule timed("adaptive", 7, 7, 2, /*free_drafter=*/true, /*timing_free=*/true);
  DraftSchedule untimed("adaptive", 7, 7, 2, /*free_drafter=*/true, /*timing_free=*/true);
  timed.TimeStep(1, 1.0);
  timed.TimeStep(8, 1.01);  // a verify step as cheap as a decode step
  timed.TimeDraft(0.5);
  untimed.StartRound({true, true});
  EXPECT_EQ(untimed.Length(0), 1);  // the prior, acceptance 1/2
  for (int i = 0; i < 30; ++i) {
    for (DraftSchedule* s : {&timed, &untimed}) {
      s->StartRound({true, true});
      s->Update(0, s->Length(0), s->Length(0));
      if (s->Shadow(1)) {
        s->Observe(1, false);
      } else {
        s->Update(1, s->Length(1), 0);
      }
    }
  }
  for (DraftSchedule* s : {&timed, &untimed}) {
    s->StartRound({true, true});
    EXPECT_EQ(s->Length(0), 7);
    EXPECT_EQ(s->Length(1), 0);
    EXPECT_TRUE(s->Shadow(1));
    EXPECT_FALSE(s->Shadow(0));
  }
  // Acceptance 0.2: not worth a verify step (one of 1 + 0.3 k decode steps
  // yields (1 - a^(k+1)) / (1 - a) tokens; even k = 1 needs a > 0.3).
  DraftSchedule low("adaptive", 7, 7, 1, true, true);
  for (int i = 0; i < 40; ++i) low.Update(0, 1, i % 5 == 2);
  low.StartRound({true});
  EXPECT_EQ(low.Length(0), 0);
  for (int i = 0; i < 20; ++i) untimed.Observe(1, true);
  untimed.StartRound({false, true});
  EXPECT_GT(untimed.Length(1), 0);
  EXPECT_FALSE(untimed.Shadow(1));
}

TEST(DraftScheduleTest, NamesTheScheduleThatRuns) {
  EXPECT_EQ(DraftSchedule::Running("adaptive", true, false), "adaptive");
  EXPECT_EQ(DraftSchedule::Running("adaptive", true, true), "seeded adaptive");
  EXPECT_EQ(DraftSchedule::Running("adaptive", false, true), "heuristic");
  EXPECT_EQ(DraftSchedule::Running("constant", true, true), "constant");
}

// Untimed lengths are tried one verify step at a time, from the bottom.
TEST(DraftScheduleTest, AdaptiveExploresUpwards) {
  DraftSchedule s("adaptive", 7, 7, 1, /*free_drafter=*/true);
  s.StartRound({true});
  EXPECT_EQ(s.Length(0), 0);  // nothing timed: a plain step first
  s.TimeStep(1, 1.0);
  s.StartRound({true});
  EXPECT_EQ(s.Length(0), 1);
  s.TimeStep(2, 1.05);
  s.StartRound({true});
  EXPECT_EQ(s.Length(0), 3);
}

}  // namespace
}  // namespace kiln
