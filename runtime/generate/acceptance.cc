#include "runtime/generate/acceptance.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/sampler.h"

namespace kiln {
namespace {

double Uniform(const GenerationConfig& c, uint64_t index, SpeculativeStream stream) {
  return CounterUniform(c.seed, SpeculativeCounter(index, stream));
}

// norm(max(0, p - q)): what the target draws from after rejecting a draft
// token. When the residual is all zero (p <= q everywhere, so p == q), p
// itself.
std::vector<double> Residual(const std::vector<double>& p, const std::vector<double>& q) {
  std::vector<double> r(p.size());
  double sum = 0;
  for (size_t j = 0; j < p.size(); ++j) sum += (r[j] = std::max(0.0, p[j] - q[j]));
  if (sum <= 0) return p;
  for (double& v : r) v /= sum;
  return r;
}

// The verdict so far, ended by `error` (NaN logits at the next position).
Verdict Stopped(Verdict verdict, absl::Status error) {
  verdict.error = std::move(error);
  return verdict;
}

// A deterministic drafter's draft, or any under greedy decoding
// (AcceptDraft's contract): the target's own draw at each position, with
// the plain loop's counter (SampleToken: the argmax when greedy), keeps
// the draft while they agree.
template <class Row>
Verdict MatchDraws(const Row& row, const Draft& draft, const GenerationConfig& config,
                   std::vector<int32_t> history, uint64_t first_index, AcceptRule rule) {
  Verdict verdict;
  const size_t k = draft.tokens.size();
  for (size_t i = 0; i <= k; ++i) {
    absl::StatusOr<int32_t> drawn = SampleToken(row(i), config, history, first_index + i);
    if (!drawn.ok()) return Stopped(verdict, drawn.status());
    if (i == k || (*drawn != draft.tokens[i] && rule == AcceptRule::kExact)) {
      verdict.next = *drawn;
      return verdict;
    }
    ++verdict.accepted;
    history.push_back(draft.tokens[i]);
  }
  return verdict;
}

}  // namespace

absl::StatusOr<Verdict> AcceptDraft(std::span<const float> logits, int64_t vocab,
                                    const Draft& draft, const GenerationConfig& config,
                                    std::vector<int32_t> history, uint64_t first_index,
                                    AcceptRule rule) {
  const size_t k = draft.tokens.size();
  if (vocab <= 0 || logits.size() != (k + 1) * static_cast<size_t>(vocab)) {
    return absl::InvalidArgumentError(absl::StrCat("AcceptDraft: ", logits.size(), " logits for ",
                                                   k, " drafted tokens of a ", vocab,
                                                   "-token vocabulary"));
  }
  if (!draft.q.empty() && draft.q.size() != k) {
    return absl::InvalidArgumentError("AcceptDraft: one q per drafted token, or none");
  }
  auto row = [&](size_t i) { return logits.subspan(i * static_cast<size_t>(vocab), vocab); };
  // Greedy decoding draws the argmax at each position: the same matching.
  if (!config.do_sample || draft.q.empty()) {
    return MatchDraws(row, draft, config, std::move(history), first_index, rule);
  }
  Verdict verdict;
  for (size_t i = 0; i < k; ++i) {
    const int32_t d = draft.tokens[i];
    const uint64_t index = first_index + i;
    absl::StatusOr<std::vector<double>> dist = TokenDistribution(row(i), config, history);
    if (!dist.ok()) return Stopped(verdict, dist.status());
    const std::vector<double>& p = *dist;
    bool keep;
    if (rule == AcceptRule::kAlwaysAcceptForTesting) {
      keep = true;
    } else {
      const double q = draft.q[i][static_cast<size_t>(d)];
      const double pd = p[static_cast<size_t>(d)];
      // min(1, p/q) > u, written without dividing: q > 0 for a drawn token.
      keep = q > 0 && pd > Uniform(config, index, SpeculativeStream::kAccept) * q;
    }
    if (!keep) {
      verdict.next = DrawFromDistribution(Residual(p, draft.q[i]),
                                          Uniform(config, index, SpeculativeStream::kResidual));
      return verdict;
    }
    ++verdict.accepted;
    history.push_back(d);
  }
  absl::StatusOr<std::vector<double>> p = TokenDistribution(row(k), config, history);
  if (!p.ok()) return Stopped(verdict, p.status());
  verdict.next =
      DrawFromDistribution(*p, Uniform(config, first_index + k, SpeculativeStream::kResidual));
  return verdict;
}

}  // namespace kiln
