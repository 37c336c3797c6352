// The OpenAI-compatible HTTP API of kiln-serve over a ContinuousBatcher.
#ifndef KILN_TOOLS_SERVE_OPENAI_SERVER_H_
#define KILN_TOOLS_SERVE_OPENAI_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "runtime/engine/engine.h"
#include "runtime/generate/generation_config.h"
#include "runtime/serve/continuous_batcher.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/serve/metrics.h"
#include "tools/serve/openai_request.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace kiln {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (see port())
  std::string api_key;              // empty: no authentication
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int threads = 0;                  // HTTP workers; 0: slots + queue + 8
  std::string model_name;           // the one model /v1/models lists
};

// Serves, over HTTP/1.1:
//   POST /v1/completions, POST /v1/chat/completions (the engine's chat
//     template), whole or streamed as server-sent events ending in
//     "data: [DONE]"; GET /v1/models; GET /health; GET /metrics (Prometheus).
// Each generate request is parsed (openai_request.h), tokenized and
// submitted to the batcher; its answer carries `usage` and `finish_reason`
// ("stop" for EOS or a stop string, which the text then excludes, as
// OpenAI's; "length"). Client errors answer 400 (401 without the API key,
// 413 for a body over the limit, 429 with Retry-After when the queue is
// full, 503 while draining) with an OpenAI error object. A streaming client
// that goes away cancels its request; its slot is free at the next step.
// Every worker thread holds one connection, so the default count covers
// every slot and queue place (a connection beyond waits for a worker, not
// for a slot).
class OpenAIServer {
 public:
  // `engine`, `tokenizer` and `batcher` must outlive the server. `defaults`:
  // the engine's generation defaults with its EOS ids, which request
  // fields override.
  OpenAIServer(const Engine& engine, const tokenizer::Tokenizer& tokenizer,
               ContinuousBatcher& batcher, GenerationConfig defaults, ServerOptions options);
  ~OpenAIServer();

  // Binds the listening socket; fails naming the address when it cannot.
  absl::Status Bind();
  int port() const { return port_; }
  // Serves until Shutdown; returns once every connection is closed.
  absl::Status Serve();
  // Drains: new generate requests get 503, queued ones end with it, running
  // ones finish (streams get their last events and [DONE]), then the
  // listener stops. Safe from any thread; idempotent.
  void Shutdown();

 private:
  void Route();
  // false (with the 401 written) when the request lacks the API key.
  bool Authorized(const httplib::Request& req, httplib::Response& res) const;
  void HandleGenerate(OpenAIEndpoint endpoint, const httplib::Request& req, httplib::Response& res);

  const Engine* engine_;
  const tokenizer::Tokenizer* tokenizer_;
  ContinuousBatcher* batcher_;
  const GenerationConfig defaults_;
  const ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  ServerMetrics metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};  // streams not yet written to the end
  std::atomic<uint64_t> next_id_{1};
  int port_ = 0;
};

}  // namespace kiln

#endif  // KILN_TOOLS_SERVE_OPENAI_SERVER_H_
