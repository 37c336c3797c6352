#include "codegen/loop/loop_plan.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace kiln::codegen::loop {
namespace {
#include "codegen/loop/loop_control.h"

bool FitsInt32(int64_t v) { return v >= 0 && v <= std::numeric_limits<int32_t>::max(); }

}  // namespace

absl::StatusOr<std::vector<int32_t>> EncodeLoopConfig(const LoopPlan& plan) {
  if (plan.buckets.empty() || plan.buckets.size() > kLoopMaxBranches) {
    return absl::InvalidArgumentError(absl::StrCat("a loop plan takes 1 to ", kLoopMaxBranches,
                                                   " step buckets, not ", plan.buckets.size()));
  }
  if (plan.eos_ids.size() > kLoopMaxEos) {
    return absl::InvalidArgumentError(absl::StrCat("a loop plan takes at most ", kLoopMaxEos,
                                                   " EOS ids, not ", plan.eos_ids.size()));
  }
  if (plan.capacity < 2 || !FitsInt32(plan.capacity) || plan.max_new_tokens < 1 ||
      !FitsInt32(plan.max_new_tokens)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a loop plan needs a cache of at least 2 and "
                     "max_new_tokens of at least 1 (int32), not ",
                     plan.capacity, " and ", plan.max_new_tokens));
  }
  if (plan.draft_cap < 0 || plan.draft_cap > kLoopMaxDraft || plan.first_draft_length < 0 ||
      plan.max_ngram < 1) {
    return absl::InvalidArgumentError(absl::StrCat("a loop plan drafts 0 to ", kLoopMaxDraft,
                                                   " tokens with an n-gram of at least 1; got ",
                                                   plan.draft_cap, " and ", plan.max_ngram));
  }
  if (plan.sample.has_value()) {
    if (absl::Status valid = sampling::ValidateSampleParams(*plan.sample); !valid.ok()) {
      return valid;
    }
  }
  std::vector<int32_t> config(kLoopConfigWords, 0);
  if (plan.sample.has_value()) {
    config[kLoopSampled] = 1;
    config[kLoopCounterLow] = static_cast<int32_t>(plan.sample->counter & 0xffffffffu);
    config[kLoopCounterHigh] = static_cast<int32_t>(plan.sample->counter >> 32);
  }
  config[kLoopCapacity] = static_cast<int32_t>(plan.capacity);
  config[kLoopMaxNew] = static_cast<int32_t>(plan.max_new_tokens);
  config[kLoopDraftCap] = plan.draft_cap;
  config[kLoopMaxNgram] = plan.max_ngram;
  config[kLoopHeuristic] = plan.heuristic ? 1 : 0;
  config[kLoopBranchCount] = static_cast<int32_t>(plan.buckets.size());
  config[kLoopEosCount] = static_cast<int32_t>(plan.eos_ids.size());
  for (size_t b = 0; b < plan.buckets.size(); ++b) {
    const int64_t tokens = plan.buckets[b].tokens;
    if (tokens < 1 || !FitsInt32(tokens) || (b > 0 && tokens <= plan.buckets[b - 1].tokens)) {
      return absl::InvalidArgumentError(
          absl::StrCat("a loop plan's buckets must take ascending token counts; @",
                       plan.buckets[b].function, " takes ", tokens));
    }
    config[kLoopWidths + b] = static_cast<int32_t>(tokens);
  }
  if (plan.buckets.front().tokens != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a loop plan's first bucket must take one token (a decode step); @",
                     plan.buckets.front().function, " takes ", plan.buckets.front().tokens));
  }
  for (size_t e = 0; e < plan.eos_ids.size(); ++e) config[kLoopEosIds + e] = plan.eos_ids[e];
  return config;
}

absl::Status CheckLoopHistory(const LoopPlan& plan, int64_t length, int64_t cached) {
  if (length < 1 || cached < 0 || cached >= length || length >= plan.capacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("the loop needs a history of 1 to ", plan.capacity - 1,
                     " tokens with fewer cached; got ", length, " with ", cached, " cached"));
  }
  return absl::OkStatus();
}

std::vector<int32_t> InitialLoopState(const LoopPlan& plan, int64_t length) {
  std::vector<int32_t> state(kLoopWords, 0);
  state[kLoopLength] = static_cast<int32_t>(length);
  state[kLoopFinish] = kLoopRunning;
  state[kLoopDraftLength] = plan.first_draft_length;
  return state;
}

bool LoopEndedOnNaN(const LoopResult& result) { return result.finish == kLoopNaN; }

const char* LoopFinishName(int finish) {
  switch (finish) {
    case kLoopRunning:
      return "running";
    case kLoopEos:
      return "eos";
    case kLoopMaxTokens:
      return "length";
    case kLoopCacheFull:
      return "cache full";
    case kLoopFault:
      return "fault";
    case kLoopHostStop:
      return "host stop";
    case kLoopNaN:
      return "NaN logits";
  }
  return "unknown";
}

}  // namespace kiln::codegen::loop
