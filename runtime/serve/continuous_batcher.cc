#include "runtime/serve/continuous_batcher.h"

#include <algorithm>
#include <span>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/acceptance.h"
#include "runtime/generate/draft_schedule.h"
#include "runtime/generate/drafters.h"
#include "runtime/generate/row_output.h"
#include "runtime/generate/sampler.h"
#include "runtime/generate/speculative.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The last row of `logits`, [n, vocab].
std::span<const float> LastRow(const HostTensor& logits) {
  const int64_t vocab = logits.shape.back();
  return std::span<const float>(logits.floats.data() + (logits.shape[0] - 1) * vocab,
                                static_cast<size_t>(vocab));
}

}  // namespace

// A request from Submit to its end. Its RowOutput writes into `result`, so
// a Request never moves (it lives behind a unique_ptr).
struct ContinuousBatcher::Request {
  Request(const tokenizer::Tokenizer& tokenizer, std::vector<int32_t> prompt,
          GenerationConfig config, std::shared_ptr<RequestStream> stream)
      : config(std::move(config)), stream(std::move(stream)), output(tokenizer, result) {
    result.prompt_ids = prompt;
    history = std::move(prompt);
  }

  // Prompt tokens the prefill runs: all of them, or with prompt lookup all
  // but the last, which opens the first round (as Generator's speculative
  // loop does, so a request's tokens and draws are the same served or not).
  size_t PrefillLength() const { return result.prompt_ids.size() - (schedule != nullptr ? 1 : 0); }

  GenerationConfig config;
  std::shared_ptr<RequestStream> stream;
  GenerationResult result;
  RowOutput output;
  std::vector<int32_t> history;  // the prompt, then each generated token
  size_t prefilled = 0;          // prompt tokens in the cache
  int generated = 0;
  Clock::time_point started;  // when it took its slot
  Clock::time_point first_token;
  // Prompt lookup (null without): the draft lengths, this round's draft
  // (verified by the step) and its unverified proposal (-1: none).
  std::unique_ptr<DraftSchedule> schedule;
  std::vector<int32_t> draft;
  int32_t shadow = -1;
};

absl::StatusOr<std::unique_ptr<ContinuousBatcher>> ContinuousBatcher::Create(
    Generator& generator, BatcherOptions options) {
  if (options.slots == 0) options.slots = generator.max_batch();
  if (options.slots < 1 || options.slots > generator.max_batch()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--slots ", options.slots, ": the engine's max batch is ", generator.max_batch()));
  }
  if (options.max_queue < 0 || options.max_queue > kMaxQueue) {
    return absl::InvalidArgumentError(
        absl::StrCat("the queue length must be in [0, ", kMaxQueue, "], not ", options.max_queue));
  }
  if (options.prefill_chunk < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prefill chunk must be >= 1 token, not ", options.prefill_chunk));
  }
  KILN_ASSIGN_OR_RETURN(BatchSession session,
                        generator.NewBatchSession(static_cast<size_t>(options.slots)));
  return std::unique_ptr<ContinuousBatcher>(
      new ContinuousBatcher(generator, std::move(session), options));
}

ContinuousBatcher::ContinuousBatcher(Generator& generator, BatchSession session,
                                     BatcherOptions options)
    : generator_(&generator), session_(std::move(session)), options_(options) {
  slots_.resize(static_cast<size_t>(options_.slots));
  thread_ = std::thread([this] { Loop(); });
}

ContinuousBatcher::~ContinuousBatcher() { Drain(); }

absl::StatusOr<std::shared_ptr<RequestStream>> ContinuousBatcher::Submit(
    std::vector<int32_t> prompt_ids, GenerationConfig config) {
  KILN_RETURN_IF_ERROR(ValidateGenerationConfig(config, generator_->vocab_size()));
  KILN_RETURN_IF_ERROR(CheckSpeculation(config));
  if (prompt_ids.empty()) {
    return absl::InvalidArgumentError("the prompt is empty (it encodes to no tokens)");
  }
  KILN_RETURN_IF_ERROR(
      tokenizer::CheckPromptIds(generator_->tokenizer(), prompt_ids, generator_->vocab_size()));
  if (static_cast<int64_t>(prompt_ids.size()) >= max_seq()) {
    return absl::OutOfRangeError(
        absl::StrCat("the prompt has ", prompt_ids.size(), " tokens; the engine's max length is ",
                     max_seq(), " tokens, prompt and generated together (no room to generate)"));
  }
  auto stream = std::make_shared<RequestStream>(Clock::now());
  auto request = std::make_unique<Request>(generator_->tokenizer(), std::move(prompt_ids),
                                           std::move(config), stream);
  if (request->config.prompt_lookup_num_tokens > 0) {
    const DraftLengths lengths = DraftLengthsFor(request->config, generator_->verify_tokens());
    // Timing-free: a batch step's time depends on the other requests.
    request->schedule = std::make_unique<DraftSchedule>(
        request->config.num_assistant_tokens_schedule, lengths.start, lengths.cap, 1,
        /*free_drafter=*/true, /*timing_free=*/true);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (draining_) return absl::UnavailableError("the server is shutting down");
    // Requests wait in the queue until the next step even when slots are
    // free: only the ones beyond the free slots count against its limit.
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queue + options_.slots - busy_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("all ", options_.slots, " slots are busy and ", queue_.size(),
                       " requests are waiting (the queue's limit); retry later"));
    }
    queue_.push_back(std::move(request));
  }
  wake_.notify_one();
  return stream;
}

void ContinuousBatcher::Drain() {
  std::deque<std::unique_ptr<Request>> waiting;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_ = true;
    waiting.swap(queue_);
  }
  for (std::unique_ptr<Request>& r : waiting) {
    StreamEvent end;
    end.final = true;
    end.time = Clock::now();
    end.status = absl::UnavailableError("the server is shutting down");
    r->stream->Push(std::move(end));
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

ContinuousBatcher::Stats ContinuousBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {options_.slots, busy_, static_cast<int64_t>(queue_.size())};
}

void ContinuousBatcher::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return busy_ > 0 || !queue_.empty() || draining_; });
      if (draining_ && busy_ == 0 && queue_.empty()) return;
    }
    if (!Admit()) continue;
    if (options_.before_step) options_.before_step();
    Step();
  }
}

bool ContinuousBatcher::Admit() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t b = 0; b < slots_.size() && !queue_.empty(); ++b) {
    if (slots_[b] != nullptr) continue;
    std::unique_ptr<Request> r = std::move(queue_.front());
    queue_.pop_front();
    // A fresh row: its old positions are forgotten, and overwritten before
    // any of its queries can read them (batch_session.h).
    absl::Status rewound = session_.Rewind(static_cast<int64_t>(b), 0);
    if (!rewound.ok()) {
      StreamEvent end;
      end.final = true;
      end.time = Clock::now();
      end.status = rewound;
      r->stream->Push(std::move(end));
      continue;
    }
    r->started = Clock::now();
    slots_[b] = std::move(r);
    ++busy_;
  }
  return busy_ > 0;
}

void ContinuousBatcher::Step() {
  std::vector<std::vector<int32_t>> rows(slots_.size());
  for (size_t b = 0; b < slots_.size(); ++b) {
    Request* r = slots_[b].get();
    if (r == nullptr) continue;
    if (r->stream->cancelled()) {
      Finish(b, absl::CancelledError("the client went away"));
      continue;
    }
    const std::vector<int32_t>& prompt = r->result.prompt_ids;
    const size_t prefill = r->PrefillLength();
    if (r->prefilled < prefill) {
      const size_t n =
          std::min(prefill - r->prefilled, static_cast<size_t>(options_.prefill_chunk));
      rows[b].assign(prompt.begin() + static_cast<std::ptrdiff_t>(r->prefilled),
                     prompt.begin() + static_cast<std::ptrdiff_t>(r->prefilled + n));
    } else {
      rows[b] = {r->history.back()};  // the last sampled token (or prompt token)
      if (r->schedule != nullptr) Draft(b, rows[b]);
    }
  }
  if (std::all_of(rows.begin(), rows.end(), [](const auto& row) { return row.empty(); })) return;
  // Drafted rows need the logits of every token they ran.
  const bool drafted = std::any_of(slots_.begin(), slots_.end(),
                                   [](const auto& r) { return r && !r->draft.empty(); });
  absl::StatusOr<std::vector<HostTensor>> logits = session_.Forward(rows, /*last_only=*/!drafted);
  for (size_t b = 0; b < slots_.size(); ++b) {
    if (slots_[b] == nullptr || rows[b].empty()) continue;
    if (!logits.ok()) {
      Finish(b, logits.status());
      continue;
    }
    Request& r = *slots_[b];
    const size_t prefill = r.PrefillLength();
    if (r.prefilled < prefill) {
      r.prefilled += rows[b].size();
      if (r.prefilled < prefill) continue;  // more prompt to run
      r.result.prefill_seconds = Seconds(Clock::now() - r.started);
      if (r.schedule != nullptr) continue;  // the rounds start with the last prompt token
      r.result.target_forwards = 1;  // the prefill yields the first token
    } else {
      ++r.result.target_forwards;
    }
    if (r.schedule != nullptr) {
      Verify(b, (*logits)[b]);
    } else {
      Advance(b, (*logits)[b]);
    }
  }
}

absl::Status ContinuousBatcher::CheckSpeculation(const GenerationConfig& config) const {
  if (config.assistant_engine != nullptr) {
    return absl::UnimplementedError(
        "an assistant engine is not served (each slot would need its own assistant session): "
        "use prompt lookup, or send the request without speculation");
  }
  if (config.prompt_lookup_num_tokens <= 0) return absl::OkStatus();
  const int64_t verify = generator_->verify_tokens();
  if (verify == 0) {
    return absl::FailedPreconditionError(
        "prompt lookup needs the engine's verify steps, and this engine has none: compile it with "
        "--verify-tokens K");
  }
  if (config.prompt_lookup_num_tokens > verify) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt lookup drafts up to ", config.prompt_lookup_num_tokens,
        " tokens, but the engine verifies at most ", verify, " in a step (--verify-tokens)"));
  }
  return absl::OkStatus();
}

void ContinuousBatcher::Draft(size_t b, std::vector<int32_t>& row) {
  Request& r = *slots_[b];
  DraftSchedule& schedule = *r.schedule;
  schedule.StartRound({true});
  r.draft.clear();
  r.shadow = -1;
  // The round yields up to k + 1 tokens: within max_new_tokens, and the k
  // drafted ones after the last token must fit in the cache.
  const int64_t left = r.config.max_new_tokens - r.generated - 1;
  const int64_t room = session_.capacity() - static_cast<int64_t>(r.history.size());
  const int64_t wanted = schedule.Shadow(0) ? 1 : schedule.Length(0);
  const int64_t k =
      std::max<int64_t>(0, std::min({wanted, generator_->verify_tokens(), left, room}));
  if (k == 0) return;
  std::vector<int32_t> proposal =
      PromptLookupCandidates(r.history, r.config.max_matching_ngram_size, static_cast<int>(k));
  if (schedule.Shadow(0)) {  // compared with the target's token, not verified
    if (!proposal.empty()) r.shadow = proposal[0];
    return;
  }
  r.draft = std::move(proposal);
  row.insert(row.end(), r.draft.begin(), r.draft.end());
}

void ContinuousBatcher::Verify(size_t b, const HostTensor& logits) {
  Request& r = *slots_[b];
  const int64_t k = static_cast<int64_t>(r.draft.size());
  const int64_t vocab = logits.shape.back();
  std::span<const float> tail(logits.floats);
  tail = tail.subspan(tail.size() - static_cast<size_t>((k + 1) * vocab));
  absl::StatusOr<Verdict> verdict = AcceptDraft(tail, vocab, kiln::Draft{r.draft, {}}, r.config,
                                                r.history, static_cast<uint64_t>(r.generated));
  if (!verdict.ok()) return Finish(b, verdict.status());
  r.result.drafted_tokens += k;
  r.schedule->Update(0, static_cast<int>(k), verdict->accepted);
  if (r.shadow >= 0) r.schedule->Observe(0, verdict->error.ok() && r.shadow == verdict->next);
  std::vector<int32_t> tokens(r.draft.begin(), r.draft.begin() + verdict->accepted);
  if (verdict->error.ok()) tokens.push_back(verdict->next);
  r.draft.clear();
  // The cache ran the last token and the draft: keep what was accepted (the
  // newest token is run by the next round).
  const int64_t kept = static_cast<int64_t>(r.history.size()) + verdict->accepted;
  if (absl::Status s = session_.Rewind(static_cast<int64_t>(b), kept); !s.ok()) return Finish(b, s);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const bool accepted = static_cast<int64_t>(i) < verdict->accepted;
    if (accepted) ++r.result.accepted_tokens;
    if (Emit(b, tokens[i])) return;  // finished
  }
  if (!verdict->error.ok()) Finish(b, verdict->error);
}

void ContinuousBatcher::Advance(size_t b, const HostTensor& logits) {
  Request& r = *slots_[b];
  absl::StatusOr<int32_t> token =
      SampleToken(LastRow(logits), r.config, r.history, static_cast<uint64_t>(r.generated));
  if (!token.ok()) return Finish(b, token.status());
  Emit(b, *token);
}

bool ContinuousBatcher::Emit(size_t b, int32_t token) {
  Request& r = *slots_[b];
  r.history.push_back(token);
  ++r.generated;
  StreamEvent event;
  event.new_tokens = 1;
  absl::StatusOr<bool> stop =
      r.output.Add(token, r.config, [&event](std::string_view piece) { event.text.append(piece); });
  if (!stop.ok()) {
    Finish(b, stop.status());
    return true;
  }
  event.time = Clock::now();
  if (r.generated == 1) r.first_token = event.time;
  r.stream->Push(std::move(event));
  // Generate's criteria: a stop, max_new_tokens, or no room in the cache
  // for the token (every token but the newest is in it).
  if (*stop || r.generated == r.config.max_new_tokens ||
      static_cast<int64_t>(r.history.size()) >= session_.capacity()) {
    Finish(b, absl::OkStatus());
    return true;
  }
  return false;
}

void ContinuousBatcher::Finish(size_t b, absl::Status status) {
  std::unique_ptr<Request> r = std::move(slots_[b]);
  StreamEvent end;
  end.final = true;
  if (status.ok()) {
    status = r->output.Finish([&end](std::string_view piece) { end.text.append(piece); });
  }
  end.time = Clock::now();
  if (r->generated > 0) r->result.decode_seconds = Seconds(end.time - r->first_token);
  end.status = std::move(status);
  end.result = std::move(r->result);
  {
    // Free before the reader learns of the end, so it sees the slot free.
    std::lock_guard<std::mutex> lock(mutex_);
    --busy_;
  }
  r->stream->Push(std::move(end));
}

}  // namespace kiln
