// StopTrim: OpenAI's stop sequences end the text before them, also when
// the text streams in pieces that split a stop string.
#include "tools/serve/stop_trim.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

// Feeds `pieces`, returning what was sent piece by piece, then at Finish.
std::string Stream(StopTrim& trim, const std::vector<std::string>& pieces) {
  std::string sent;
  for (const std::string& p : pieces) sent += trim.Add(p);
  return sent + trim.Finish();
}

TEST(StopTrimTest, CutsBeforeTheFirstStopString) {
  StopTrim trim({"END", "\n\n"});
  EXPECT_EQ(Stream(trim, {"one two", " END three"}), "one two ");
  EXPECT_EQ(trim.sent(), "one two ");
}

TEST(StopTrimTest, HoldsBackATailThatMayBecomeAStopString) {
  StopTrim trim({"END"});
  EXPECT_EQ(trim.Add("abc E"), "abc ");  // "E" may start END
  EXPECT_EQ(trim.Add("N"), "");          // "EN" still may
  EXPECT_EQ(trim.Add("x"), "ENx");       // it did not
  EXPECT_EQ(trim.Add("EN"), "");
  EXPECT_EQ(trim.Add("D more"), "");  // the stop string: nothing from it on
  EXPECT_EQ(trim.Finish(), "");
  EXPECT_EQ(trim.sent(), "abc ENx");
}

TEST(StopTrimTest, TheEarliestOfSeveralStopStringsWins) {
  StopTrim trim({"world", "lo w"});
  EXPECT_EQ(Stream(trim, {"hel", "lo", " wor", "ld"}), "hel");
}

TEST(StopTrimTest, WithoutStopStringsEverythingPassesAtOnce) {
  StopTrim trim({});
  EXPECT_EQ(trim.Add("a"), "a");
  EXPECT_EQ(trim.Add("b"), "b");
  EXPECT_EQ(trim.Finish(), "");
  StopTrim empty_only({""});
  EXPECT_EQ(empty_only.Add("x"), "x");
}

TEST(StopTrimTest, AHeldTailIsSentAtTheEndWhenNoStopFollows) {
  StopTrim trim({"</s>"});
  EXPECT_EQ(trim.Add("text </"), "text ");
  EXPECT_EQ(trim.Finish(), "</");
}

TEST(StopTrimTest, CutsBetweenUtf8Characters) {
  StopTrim trim({"é!"});
  EXPECT_EQ(Stream(trim, {"caf\xc3", "\xa9", "!"}), "caf");
}

}  // namespace
}  // namespace kiln
