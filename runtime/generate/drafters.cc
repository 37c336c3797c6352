#include "runtime/generate/drafters.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/sampler.h"

namespace kiln {
namespace {

// softmax(logits)[token], in double.
double SoftmaxAt(std::span<const float> logits, int32_t token) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return std::exp(static_cast<double>(logits[static_cast<size_t>(token)]) - max) / sum;
}

}  // namespace

std::vector<int32_t> PromptLookupCandidates(std::span<const int32_t> ids, int max_ngram,
                                            int num_tokens) {
  const int64_t n_ids = static_cast<int64_t>(ids.size());
  for (int64_t n = std::min<int64_t>(max_ngram, n_ids - 1); n >= 1; --n) {
    std::span<const int32_t> tail = ids.subspan(static_cast<size_t>(n_ids - n));
    // Windows starting at 0 .. n_ids - n - 1: each is followed by a token.
    for (int64_t start = 0; start + n < n_ids; ++start) {
      if (!std::equal(tail.begin(), tail.end(), ids.begin() + start)) continue;
      const int64_t from = start + n;
      const int64_t to = std::min(from + num_tokens, n_ids);
      return std::vector<int32_t>(ids.begin() + from, ids.begin() + to);
    }
  }
  return {};
}

absl::StatusOr<std::vector<Draft>> PromptLookupDrafter::Propose(
    std::span<const std::vector<int32_t>> contexts, std::span<const int> max_tokens,
    std::span<const uint64_t>, const GenerationConfig& config) {
  std::vector<Draft> drafts(contexts.size());
  for (size_t r = 0; r < contexts.size(); ++r) {
    if (max_tokens[r] <= 0) continue;
    drafts[r].tokens =
        PromptLookupCandidates(contexts[r], config.max_matching_ngram_size, max_tokens[r]);
  }
  return drafts;
}

AssistantDrafter::AssistantDrafter(RowSessions& sessions, int64_t capacity)
    : sessions_(&sessions), capacity_(capacity), cached_(sessions.rows()) {
  for (size_t r = 0; r < cached_.size(); ++r) {
    // The sessions may hold tokens from before: start each row over.
    if (sessions.position(r) > 0) (void)sessions.Rewind(r, 0);
  }
}

absl::StatusOr<std::vector<int32_t>> AssistantDrafter::CatchUp(size_t r,
                                                               const std::vector<int32_t>& ctx,
                                                               size_t limit) {
  std::vector<int32_t>& cached = cached_[r];
  size_t common =
      std::mismatch(cached.begin(), cached.end(), ctx.begin(), ctx.end()).first - cached.begin();
  common = std::min(common, limit);
  KILN_RETURN_IF_ERROR(sessions_->Rewind(r, static_cast<int64_t>(common)));
  cached.resize(common);
  return std::vector<int32_t>(ctx.begin() + static_cast<int64_t>(common), ctx.end());
}

absl::Status AssistantDrafter::Prime(std::span<const std::vector<int32_t>> contexts) {
  std::vector<std::vector<int32_t>> run(contexts.size());
  bool any = false;
  for (size_t r = 0; r < contexts.size() && r < cached_.size(); ++r) {
    const std::vector<int32_t>& ctx = contexts[r];
    if (ctx.size() < 2 || static_cast<int64_t>(ctx.size()) > capacity_) continue;
    KILN_ASSIGN_OR_RETURN(run[r], CatchUp(r, ctx, ctx.size() - 1));
    run[r].pop_back();  // the last token runs with the first draft
    any |= !run[r].empty();
  }
  if (!any) return absl::OkStatus();
  KILN_RETURN_IF_ERROR(sessions_->Forward(run, /*last_only=*/true).status());
  for (size_t r = 0; r < run.size(); ++r) {
    cached_[r].insert(cached_[r].end(), run[r].begin(), run[r].end());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Draft>> AssistantDrafter::Propose(
    std::span<const std::vector<int32_t>> contexts, std::span<const int> max_tokens,
    std::span<const uint64_t> first_index, const GenerationConfig& config) {
  const size_t rows = contexts.size();
  if (rows > cached_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the assistant has ", cached_.size(), " rows for a batch of ", rows));
  }
  std::vector<Draft> drafts(rows);
  std::vector<std::vector<int32_t>> run(rows);
  std::vector<int> budget(max_tokens.begin(), max_tokens.end());
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<int32_t>& ctx = contexts[r];
    // Drafting m tokens runs the context and m - 1 of them.
    const int64_t room = capacity_ - static_cast<int64_t>(ctx.size()) + 1;
    budget[r] = static_cast<int>(std::clamp<int64_t>(budget[r], 0, std::max<int64_t>(room, 0)));
    if (budget[r] == 0) continue;
    std::vector<int32_t>& cached = cached_[r];
    size_t common =
        std::mismatch(cached.begin(), cached.end(), ctx.begin(), ctx.end()).first - cached.begin();
    common = std::min(common, ctx.size() - 1);  // run at least the last token for its logits
    KILN_RETURN_IF_ERROR(sessions_->Rewind(r, static_cast<int64_t>(common)));
    cached.resize(common);
    run[r].assign(ctx.begin() + static_cast<int64_t>(common), ctx.end());
  }
  GenerationConfig greedy_softmax = config;  // the confidence of a greedy draft
  greedy_softmax.do_sample = true;
  greedy_softmax.temperature = 1.0;
  greedy_softmax.top_k = 0;
  greedy_softmax.top_p = 1.0;
  greedy_softmax.min_p = 0.0;
  for (int step = 0;; ++step) {
    bool any = false;
    for (size_t r = 0; r < rows; ++r) any |= !run[r].empty();
    if (!any) break;
    KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> logits,
                          sessions_->Forward(run, /*last_only=*/true));
    for (size_t r = 0; r < rows; ++r) {
      if (run[r].empty()) continue;
      cached_[r].insert(cached_[r].end(), run[r].begin(), run[r].end());
      run[r].clear();
      std::vector<int32_t> history = contexts[r];
      history.insert(history.end(), drafts[r].tokens.begin(), drafts[r].tokens.end());
      const std::span<const float> row(logits[r].floats);
      int32_t token;
      double confidence = 1.0;
      if (config.do_sample) {
        KILN_ASSIGN_OR_RETURN(std::vector<double> q, TokenDistribution(row, config, history));
        token = DrawFromDistribution(
            q, CounterUniform(config.seed,
                              SpeculativeCounter(first_index[r] + static_cast<uint64_t>(step),
                                                 SpeculativeStream::kDraft)));
        confidence = q[static_cast<size_t>(token)];
        drafts[r].q.push_back(std::move(q));
      } else {
        KILN_ASSIGN_OR_RETURN(token, GreedyToken(row, config, history));
        if (config.assistant_confidence_threshold > 0) {
          confidence = SoftmaxAt(row, token);
          if (config.repetition_penalty != 1.0) {
            KILN_ASSIGN_OR_RETURN(std::vector<double> soft,
                                  TokenDistribution(row, greedy_softmax, history));
            confidence = soft[static_cast<size_t>(token)];
          }
        }
      }
      drafts[r].tokens.push_back(token);
      const bool more = static_cast<int>(drafts[r].tokens.size()) < budget[r] &&
                        confidence >= config.assistant_confidence_threshold;
      if (more) run[r] = {token};
    }
  }
  return drafts;
}

absl::Status CheckAssistantTokenizer(const tokenizer::Tokenizer& target,
                                     const tokenizer::Tokenizer& assistant) {
  auto differ = [](const std::string& what, int64_t t, int64_t a) {
    return absl::InvalidArgumentError(
        absl::StrCat("the assistant engine cannot draft for this engine: ", what, " is ", t,
                     " in the target's tokenizer but ", a,
                     " in the assistant's (speculative decoding needs the same tokenizer)"));
  };
  if (target.vocab_size() != assistant.vocab_size()) {
    return differ("the vocabulary size", target.vocab_size(), assistant.vocab_size());
  }
  if (target.bos_id() != assistant.bos_id())
    return differ("the BOS id", target.bos_id(), assistant.bos_id());
  if (target.eos_id() != assistant.eos_id())
    return differ("the EOS id", target.eos_id(), assistant.eos_id());
  if (target.pad_id() != assistant.pad_id())
    return differ("the pad id", target.pad_id(), assistant.pad_id());
  for (int32_t id = 0; id < target.vocab_size(); ++id) {
    std::optional<std::string> t = target.IdToToken(id), a = assistant.IdToToken(id);
    if (t != a) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the assistant engine cannot draft for this engine: token ", id, " is '",
          t.value_or("(none)"), "' in the target's tokenizer but '", a.value_or("(none)"),
          "' in the assistant's (speculative decoding needs the same tokenizer)"));
    }
    if (target.IsSpecial(id) != assistant.IsSpecial(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the assistant engine cannot draft for this engine: token ", id, " ('", t.value_or(""),
          "') is ", target.IsSpecial(id) ? "" : "not ", "special in the target's tokenizer but ",
          assistant.IsSpecial(id) ? "" : "not ", "special in the assistant's"));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln
