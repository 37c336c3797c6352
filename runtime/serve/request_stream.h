// What one served request yields as it runs: its text as it is generated,
// then its result; handed from the batching thread to the request's reader.
#ifndef KILN_RUNTIME_SERVE_REQUEST_STREAM_H_
#define KILN_RUNTIME_SERVE_REQUEST_STREAM_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "runtime/generate/generator_types.h"

namespace kiln {

// One step's news for a request: the tokens it gained (text holds what of
// them is complete UTF-8, possibly nothing yet), or, last, its end.
struct StreamEvent {
  std::string text;
  int new_tokens = 0;
  std::chrono::steady_clock::time_point time;
  bool final = false;
  // final only: OK with the result (finish_reason "eos", "stop_string",
  // "length"), or why the request failed or was cut short.
  absl::Status status;
  GenerationResult result;
};

// A single-producer, single-consumer queue of StreamEvents with a cancel
// flag. The batching thread Pushes; the request's reader (an HTTP handler)
// Pops, and Cancels when its client goes away; the batcher then frees the
// request's slot at its next step. Thread-safe.
class RequestStream {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RequestStream(Clock::time_point submitted) : submitted_(submitted) {}

  void Push(StreamEvent event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(std::move(event));
    }
    ready_.notify_one();
  }

  // The next event, waiting up to `timeout`; false when none came.
  bool Pop(StreamEvent& event, Clock::duration timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return false;
    event = std::move(events_.front());
    events_.pop_front();
    return true;
  }

  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  Clock::time_point submitted() const { return submitted_; }

 private:
  const Clock::time_point submitted_;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamEvent> events_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVE_REQUEST_STREAM_H_
