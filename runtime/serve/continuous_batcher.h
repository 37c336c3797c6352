// Continuous batching over an engine's static KV slots: requests join and
// leave the running batch at any step.
#ifndef KILN_RUNTIME_SERVE_CONTINUOUS_BATCHER_H_
#define KILN_RUNTIME_SERVE_CONTINUOUS_BATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/generator.h"
#include "runtime/serve/request_stream.h"
#include "runtime/session/batch_session.h"

namespace kiln {

// The longest queue BatcherOptions takes.
inline constexpr int64_t kMaxQueue = 1 << 16;

struct BatcherOptions {
  int64_t slots = 0;           // rows of the batch session; 0: the engine's max batch
  int64_t max_queue = 64;      // requests waiting for a slot; Submit refuses beyond
  int64_t prefill_chunk = 16;  // the most prompt tokens one step runs for a row
  // Called on the batcher's thread before each step, after waiting requests
  // took their slots, without the batcher's lock held (tests hold the loop
  // there to pin a state: steps of a tiny model outrun any polling). It must
  // return for Drain, and so the destructor, to finish.
  std::function<void()> before_step = nullptr;
};

// Runs generate requests on one BatchSession of `slots` rows, one thread
// stepping them all. Each slot is a row of the static KV cache with its own
// position (batch_session.h). At every step:
//   - a waiting request takes a free slot (rewound to position 0);
//   - each busy slot runs its next tokens: up to prefill_chunk tokens of its
//     prompt while prefilling (chunked, so a long prompt delays the others'
//     next token by a bounded step), else its last sampled token;
//   - a slot that finished its prompt or ran a token samples its next token
//     exactly as Generator::GenerateIds would alone (its history, its draw
//     counter, its stop criteria), streams it, and leaves the batch when it
//     stops: its slot is free for the next step;
//   - a prompt-lookup request (GenerationConfig::prompt_lookup_num_tokens)
//     runs as Generator's speculative loop would alone: its prefill stops
//     one prompt token short; then each step runs its last token plus a
//     draft from its own history (draft_schedule.h, timing-free), keeps
//     what acceptance.h accepts plus the target's next token, streams them
//     one by one under the same stop criteria, and rewinds its row past
//     the rejected ones.
// Rows of one step never read each other's cache slots, and a row's
// arithmetic does not depend on the others' values; it may depend on the
// step's shape (the CPU GEMMs' decode and prefill tiles, a GPU's GEMM
// algorithm per shape) only through the order of f32 additions. Tests check
// that a request's greedy tokens (and a seeded request's samples) are the
// same alone and among others (batch invariance), on the fixtures and on
// SmolLM2; it is not a bitwise guarantee for every model.
//
// A request whose stream is cancelled leaves at the next step. Drain (and
// the destructor) stops taking requests, ends the waiting ones with
// Unavailable and returns once the running ones finished. The generator
// must outlive the batcher and run nothing else meanwhile.
class ContinuousBatcher {
 public:
  static absl::StatusOr<std::unique_ptr<ContinuousBatcher>> Create(Generator& generator,
                                                                   BatcherOptions options);
  ~ContinuousBatcher();
  ContinuousBatcher(const ContinuousBatcher&) = delete;
  ContinuousBatcher& operator=(const ContinuousBatcher&) = delete;

  // Queues a request. Fails at once, with a message for the client, on an
  // invalid config (ValidateGenerationConfig), an assistant engine (not
  // served), prompt lookup the engine cannot verify (no verify steps, or a
  // longer draft than they take), an empty prompt, an id outside the vocabulary, a prompt with
  // no room to generate in the engine's max length (OutOfRange), a full
  // queue (ResourceExhausted) or after Drain (Unavailable).
  absl::StatusOr<std::shared_ptr<RequestStream>> Submit(std::vector<int32_t> prompt_ids,
                                                        GenerationConfig config);

  // What Submit says of `config`'s speculation: OK without any, or for
  // prompt lookup the engine's verify steps take; an assistant engine is
  // not served (each slot would need an assistant session of its own).
  absl::Status CheckSpeculation(const GenerationConfig& config) const;

  // Stops taking requests, ends the waiting ones and waits for the running
  // ones; idempotent.
  void Drain();

  struct Stats {
    int64_t slots = 0;
    int64_t busy_slots = 0;
    int64_t queued = 0;
  };
  Stats stats() const;
  int64_t max_seq() const { return session_.capacity(); }
  int64_t max_queue() const { return options_.max_queue; }
  int64_t vocab_size() const { return generator_->vocab_size(); }

 private:
  struct Request;  // a request's state while it waits and runs
  ContinuousBatcher(Generator& generator, BatchSession session, BatcherOptions options);

  void Loop();
  // Moves waiting requests into free slots; false when nothing is running
  // or waiting.
  bool Admit();
  // One step of every busy slot.
  void Step();
  // Samples, streams and maybe finishes slot `b` after its logits [n, vocab].
  void Advance(size_t b, const HostTensor& logits);
  // Streams `token` as slot `b`'s next; true when that finished the request.
  bool Emit(size_t b, int32_t token);
  // Appends this round's draft for slot `b` to its row (or notes a shadow
  // proposal).
  void Draft(size_t b, std::vector<int32_t>& row);
  // Accepts slot `b`'s draft against its logits [1 + draft, vocab] as
  // Generator's speculative loop does (acceptance.h: the same tokens and
  // draws), rewinds the rejected tokens and streams the rest.
  void Verify(size_t b, const HostTensor& logits);
  // Ends slot `b`'s request with `status` (OK: its result) and frees it.
  void Finish(size_t b, absl::Status status);

  Generator* generator_;
  BatchSession session_;
  const BatcherOptions options_;

  mutable std::mutex mutex_;  // guards queue_, busy_, draining_, stopped_
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Request>> queue_;
  int64_t busy_ = 0;
  bool draining_ = false;
  bool stopped_ = false;

  std::vector<std::unique_ptr<Request>> slots_;  // the loop thread's only
  std::thread thread_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVE_CONTINUOUS_BATCHER_H_
