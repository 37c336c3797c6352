#include "tools/bench/greedy_parity.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace kiln::bench {
namespace {

using Json = nlohmann::json;

bool IsIdList(const Json& j) {
  if (!j.is_array()) return false;
  return std::all_of(j.begin(), j.end(), [](const Json& v) {
    return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
  });
}

std::vector<int32_t> Ids(const Json& j) {
  std::vector<int32_t> out;
  for (const Json& v : j) out.push_back(static_cast<int32_t>(v.get<int64_t>()));
  return out;
}

bool Contains(const std::vector<int32_t>& ids, int32_t id, size_t first) {
  const auto end = ids.begin() + static_cast<std::ptrdiff_t>(std::min(first, ids.size()));
  return std::find(ids.begin(), end, id) != end;
}

}  // namespace

absl::StatusOr<GreedyTrace> ParseGreedyTrace(const std::string& text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("runs") || !j["runs"].is_array()) {
    return absl::InvalidArgumentError("a greedy trace is a JSON object with a 'runs' array");
  }
  GreedyTrace trace;
  if (j.contains("source") && j["source"].is_string()) trace.source = j["source"];
  for (size_t r = 0; r < j["runs"].size(); ++r) {
    const Json& run = j["runs"][r];
    const std::string where = absl::StrCat("runs[", r, "]");
    if (!run.is_object() || !run.contains("prompt") || !IsIdList(run["prompt"]) ||
        run["prompt"].empty() || !run.contains("tokens") || !IsIdList(run["tokens"]) ||
        run["tokens"].empty() || !run.contains("top") || !run["top"].is_array() ||
        run["top"].size() != run["tokens"].size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where,
                       " needs 'prompt' (non-empty ids), 'tokens' (ids) and 'top' (one id "
                       "list per token)"));
    }
    GreedyRun g{Ids(run["prompt"]), Ids(run["tokens"]), {}, {}};
    for (const Json& top : run["top"]) {
      if (!IsIdList(top)) return absl::InvalidArgumentError(where + ": 'top' holds a non-id list");
      g.top.push_back(Ids(top));
    }
    if (run.contains("top_logits")) {
      const Json& logits = run["top_logits"];
      if (!logits.is_array() || logits.size() != g.top.size()) {
        return absl::InvalidArgumentError(where + ": 'top_logits' needs one list per token");
      }
      for (size_t i = 0; i < logits.size(); ++i) {
        if (!logits[i].is_array() || logits[i].size() != g.top[i].size() ||
            !std::all_of(logits[i].begin(), logits[i].end(),
                         [](const Json& v) { return v.is_number(); })) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": top_logits[", i, "] must be numbers, one per top id"));
        }
        std::vector<float> values;
        for (const Json& v : logits[i]) values.push_back(v.get<float>());
        g.top_logits.push_back(std::move(values));
      }
    }
    trace.runs.push_back(std::move(g));
  }
  return trace;
}

std::string GreedyTraceJson(const GreedyTrace& trace) {
  Json runs = Json::array();
  for (const GreedyRun& r : trace.runs) {
    Json run = {{"prompt", r.prompt}, {"tokens", r.tokens}, {"top", r.top}};
    if (!r.top_logits.empty()) run["top_logits"] = r.top_logits;
    runs.push_back(std::move(run));
  }
  return Json{{"source", trace.source}, {"runs", runs}}.dump() + "\n";
}

std::vector<int32_t> TopK(std::span<const float> logits, int k) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const size_t n = std::min(static_cast<size_t>(std::max(k, 0)), ids.size());
  // NaN ranks as -inf, so the order stays a strict weak one.
  const auto key = [&](int32_t i) {
    return std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
  };
  std::partial_sort(
      ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
      [&](int32_t a, int32_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
  ids.resize(n);
  return ids;
}

absl::StatusOr<ParityVerdict> CompareGreedy(const GreedyRun& kiln, const GreedyRun& reference) {
  if (kiln.prompt != reference.prompt || kiln.tokens.size() != reference.tokens.size() ||
      kiln.top.size() != kiln.tokens.size() || reference.top.size() != reference.tokens.size()) {
    return absl::InvalidArgumentError("the runs compared must share a prompt and a length");
  }
  ParityVerdict v;
  for (size_t i = 0; i < kiln.tokens.size(); ++i) {
    if (kiln.top[i].size() < kParityTopK || reference.top[i].size() < kParityTopK) {
      return absl::InvalidArgumentError(
          absl::StrCat("step ", i, " has fewer than ", kParityTopK, " top ids"));
    }
    const int32_t ours = kiln.tokens[i], theirs = reference.tokens[i];
    if (ours == theirs) {
      ++v.matched;
      continue;
    }
    v.diverged = static_cast<int64_t>(i);
    const bool theirs_in_ours = Contains(kiln.top[i], theirs, kParityTopK);
    const bool ours_in_theirs = Contains(reference.top[i], ours, kParityTopK);
    v.ok = theirs_in_ours && ours_in_theirs;
    v.detail = absl::StrCat(
        "differs at step ", i, ": Kiln ", ours, " (", ours_in_theirs ? "in" : "NOT in",
        " the reference's top-5 [",
        absl::StrJoin(reference.top[i].begin(), reference.top[i].begin() + kParityTopK, " "),
        "]), reference ", theirs, " (", theirs_in_ours ? "in" : "NOT in", " Kiln's top-5 [",
        absl::StrJoin(kiln.top[i].begin(), kiln.top[i].begin() + kParityTopK, " "), "])");
    return v;
  }
  v.ok = true;
  v.detail = absl::StrCat("all ", v.matched, " tokens equal");
  return v;
}

}  // namespace kiln::bench
