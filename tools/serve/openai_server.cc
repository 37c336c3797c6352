#include "tools/serve/openai_server.h"

#include <chrono>
#include <ctime>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tools/chat_prompt.h"
#include "tools/serve/openai_request.h"
#include "tools/serve/stop_trim.h"

namespace kiln {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

// Text the model generated may hold U+FFFD but never invalid UTF-8; a
// replacing dump still keeps any byte from throwing.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Worker threads at most (each holds a connection and a stack).
constexpr int64_t kMaxThreads = 1024;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int HttpStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kNotFound:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

// OpenAI's error object.
json ErrorJson(int status, std::string_view message) {
  const char* type = status == 401   ? "authentication_error"
                     : status == 429 ? "rate_limit_error"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", status}}}};
}

void WriteError(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  if (status == 429) res.set_header("Retry-After", "1");
  res.set_content(Dump(ErrorJson(status, message)), "application/json");
}

// Compares in time that depends on `expected`'s length only, so a client
// cannot find the key byte by byte.
bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() != expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ expected[i]);
  }
  return diff == 0;
}

std::string FinishReason(const GenerationResult& r) {
  return r.finish_reason == "length" ? "length" : "stop";
}

// One generate request from its submission to the last byte written.
struct Generation {
  OpenAIEndpoint endpoint;
  std::string id;
  int64_t created;
  std::string model;
  std::shared_ptr<RequestStream> stream;
  StopTrim trim;
  bool include_usage;
  size_t prompt_tokens;
  bool first_sent = false;  // a chat stream's opening chunk (the role)
  bool ended = false;       // the final event was handled
  std::optional<Clock::time_point> last_token = std::nullopt;

  bool chat() const { return endpoint == OpenAIEndpoint::kChatCompletions; }

  // The envelope of every response and chunk.
  json Envelope(bool chunk) const {
    const char* object =
        chat() ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}};
  }

  json Usage(size_t completion_tokens) const {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens}};
  }

  // A streamed chunk of `text` (and the finish reason on the last one).
  json Chunk(std::string_view text, const json& finish_reason) const {
    json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    if (chat()) {
      choice["delta"] = finish_reason.is_null() ? json{{"content", text}} : json::object();
    } else {
      choice["text"] = text;
    }
    json out = Envelope(true);
    out["choices"] = json::array({choice});
    return out;
  }

  // The whole (non-streamed) response.
  json Whole(const GenerationResult& r, const std::string& text) const {
    json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", FinishReason(r)}};
    if (chat()) {
      choice["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
      choice["text"] = text;
    }
    json out = Envelope(false);
    out["choices"] = json::array({choice});
    out["usage"] = Usage(r.token_ids.size());
    return out;
  }
};

// Records an event's latencies: time to first token, then the gaps.
void Observe(Generation& g, const StreamEvent& e, ServerMetrics& metrics) {
  if (e.new_tokens > 0) {
    if (!g.last_token) {
      metrics.ObserveFirstToken(Seconds(e.time - g.stream->submitted()));
    } else {
      metrics.ObserveInterToken(Seconds(e.time - *g.last_token) / e.new_tokens);
    }
    g.last_token = e.time;
  }
  if (e.final) {
    metrics.ObserveRequest(Seconds(e.time - g.stream->submitted()));
    if (e.status.ok()) {
      metrics.CountTokens(g.prompt_tokens, e.result.token_ids.size());
      metrics.CountSpeculation(e.result.drafted_tokens, e.result.accepted_tokens);
    }
  }
}

}  // namespace

OpenAIServer::OpenAIServer(const Engine& engine, const tokenizer::Tokenizer& tokenizer,
                           ContinuousBatcher& batcher, GenerationConfig defaults,
                           ServerOptions options)
    : engine_(&engine),
      tokenizer_(&tokenizer),
      batcher_(&batcher),
      defaults_(std::move(defaults)),
      options_(std::move(options)),
      http_(std::make_unique<httplib::Server>()) {
  Route();
}

OpenAIServer::~OpenAIServer() = default;

absl::Status OpenAIServer::Bind() {
  ContinuousBatcher::Stats stats = batcher_->stats();
  const int threads = options_.threads > 0
                          ? options_.threads
                          : static_cast<int>(std::min<int64_t>(
                                stats.slots + batcher_->max_queue() + 8, kMaxThreads));
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options_.max_body_bytes);
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
  } else if (http_->bind_to_port(options_.host, options_.port)) {
    port_ = options_.port;
  }
  if (port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host, ":",
                                               options_.port,
                                               " (in use, or not an address of this machine)"));
  }
  return absl::OkStatus();
}

absl::Status OpenAIServer::Serve() {
  if (!http_->listen_after_bind() && !draining_) {
    return absl::InternalError("the HTTP server stopped unexpectedly");
  }
  return absl::OkStatus();
}

void OpenAIServer::Shutdown() {
  if (draining_.exchange(true)) return;
  batcher_->Drain();
  // Every stream has its last event now; let the workers write them (and
  // [DONE]) before the listener closes the connections.
  const Clock::time_point deadline = Clock::now() + 30s;
  while (in_flight_ > 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  http_->stop();
}

bool OpenAIServer::Authorized(const httplib::Request& req, httplib::Response& res) const {
  if (options_.api_key.empty()) return true;
  if (ConstantTimeEquals(req.get_header_value("Authorization"), "Bearer " + options_.api_key)) {
    return true;
  }
  WriteError(res, 401,
             "a valid API key is required: send the header 'Authorization: Bearer <key>' with "
             "the key kiln-serve was started with (--api-key)");
  return false;
}

void OpenAIServer::Route() {
  const int64_t started = static_cast<int64_t>(std::time(nullptr));
  // httplib's own errors (no route, a body over the limit, a bad request
  // line) as OpenAI error objects; the handlers' errors have their bodies.
  httplib::Server::HandlerWithResponse on_error = [this](const httplib::Request&,
                                                         httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string message =
        res.status == 404   ? "no such endpoint (see GET /v1/models, POST /v1/completions, POST "
                              "/v1/chat/completions)"
        : res.status == 405 ? "this endpoint does not take that method"
        : res.status == 413 ? absl::StrCat("the request body is over the server's limit of ",
                                           options_.max_body_bytes, " bytes")
                            : absl::StrCat("HTTP error ", res.status);
    res.set_content(Dump(ErrorJson(res.status, message)), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  };
  http_->set_error_handler(std::move(on_error));
  // Runs before httplib reads a body, which it would read whole and without
  // its length limit when chunked or compressed, or to the end of the
  // connection without a length: such bodies are refused unread, as is a
  // generate request (every POST) without the API key; the handlers do not
  // check it again.
  httplib::Server::HandlerWithResponse before_body = [this](const httplib::Request& req,
                                                            httplib::Response& res) {
    if (req.method != "POST") return httplib::Server::HandlerResponse::Unhandled;
    if (req.has_header("Transfer-Encoding") || !req.has_header("Content-Length")) {
      WriteError(res, 411, "send the request body with a Content-Length (no chunked encoding)");
      return httplib::Server::HandlerResponse::Handled;
    }
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      WriteError(res, 415, "send the request body uncompressed (no Content-Encoding)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return Authorized(req, res) ? httplib::Server::HandlerResponse::Unhandled
                                : httplib::Server::HandlerResponse::Handled;
  };
  http_->set_pre_routing_handler(std::move(before_body));
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    // Known paths only: a label per path a client invents would grow
    // without bound.
    static const char* const kPaths[] = {"/v1/completions", "/v1/chat/completions", "/v1/models",
                                         "/health", "/metrics"};
    std::string endpoint = "other";
    for (const char* p : kPaths) {
      if (req.path == p) endpoint = p;
    }
    metrics_.CountRequest(endpoint, res.status);
  });
  http_->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleGenerate(OpenAIEndpoint::kCompletions, req, res);
  });
  http_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleGenerate(OpenAIEndpoint::kChatCompletions, req, res);
  });
  http_->Get("/v1/models", [this, started](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    json model = {{"id", options_.model_name},
                  {"object", "model"},
                  {"created", started},
                  {"owned_by", "kiln"},
                  {"max_model_len", batcher_->max_seq()}};
    res.set_content(Dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
  });
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    ContinuousBatcher::Stats s = batcher_->stats();
    res.status = draining_ ? 503 : 200;
    res.set_content(Dump({{"status", draining_ ? "draining" : "ok"},
                          {"slots", s.slots},
                          {"busy_slots", s.busy_slots},
                          {"queued", s.queued}}),
                    "application/json");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    ContinuousBatcher::Stats s = batcher_->stats();
    res.set_content(
        metrics_.Render(
            {{"kiln_queue_depth", "Requests waiting for a slot.", static_cast<double>(s.queued)},
             {"kiln_busy_slots", "Slots running a request.", static_cast<double>(s.busy_slots)},
             {"kiln_slots", "Slots (the engine's batch rows served).",
              static_cast<double>(s.slots)},
             {"kiln_draining", "1 once a shutdown began.", draining_ ? 1.0 : 0.0}}),
        "text/plain; version=0.0.4");
  });
}

void OpenAIServer::HandleGenerate(OpenAIEndpoint endpoint, const httplib::Request& req,
                                  httplib::Response& res) {
  // Counted from here, so that Shutdown, once it saw none, never stops the
  // listener under a stream about to start; a stream hands its count to
  // its response's releaser.
  ++in_flight_;
  struct Uncount {
    std::atomic<int>* count;
    ~Uncount() {
      if (count != nullptr) --*count;
    }
  } uncount{&in_flight_};
  if (draining_) return WriteError(res, 503, "the server is shutting down");
  absl::StatusOr<OpenAIRequest> parsed = ParseOpenAIRequest(endpoint, req.body);
  if (!parsed.ok()) return WriteError(res, 400, Message(parsed.status()));
  const OpenAIRequest& request = *parsed;
  if (!request.model.empty() && request.model != options_.model_name) {
    return WriteError(res, 400,
                      absl::StrCat("the model '", request.model,
                                   "' is not served here; this "
                                   "server serves '",
                                   options_.model_name, "' (GET /v1/models)"));
  }
  // The prompt's ids: the completion's text with the tokenizer's special
  // tokens, its ids as given, or the conversation as the chat template
  // writes it (special tokens included).
  absl::StatusOr<std::vector<int32_t>> ids = request.prompt_ids;
  if (endpoint == OpenAIEndpoint::kChatCompletions) {
    absl::StatusOr<std::string> text = RenderChat(*engine_, *tokenizer_, request.messages, true);
    if (!text.ok()) {
      return WriteError(res, 400,
                        absl::StrCat("cannot format the messages: ", Message(text.status())));
    }
    ids = tokenizer_->Encode(*text, /*add_special_tokens=*/false);
  } else if (request.prompt_ids.empty()) {
    ids = tokenizer_->Encode(request.prompt, /*add_special_tokens=*/true);
  }
  if (!ids.ok()) return WriteError(res, 400, Message(ids.status()));
  absl::StatusOr<GenerationConfig> config =
      ToGenerationConfig(request, defaults_, batcher_->vocab_size());
  if (!config.ok()) return WriteError(res, 400, Message(config.status()));
  if (!request.seed) {
    // An unseeded sampled request draws anew each time, as OpenAI's; a
    // seed makes it reproducible, alone or among others.
    static thread_local std::mt19937_64 seeds{std::random_device{}()};
    config->seed = seeds();
  }
  const size_t prompt_tokens = ids->size();
  absl::StatusOr<std::shared_ptr<RequestStream>> stream =
      batcher_->Submit(*std::move(ids), *std::move(config));
  if (!stream.ok()) return WriteError(res, HttpStatus(stream.status()), Message(stream.status()));

  const bool chat = endpoint == OpenAIEndpoint::kChatCompletions;
  auto g = std::make_shared<Generation>(
      Generation{endpoint, absl::StrFormat("%s-%x", chat ? "chatcmpl" : "cmpl", next_id_++),
                 static_cast<int64_t>(std::time(nullptr)), options_.model_name, *stream,
                 StopTrim(request.stop), request.include_usage, prompt_tokens});
  if (!request.stream) {
    StreamEvent e;
    while (!g->ended) {
      if (!g->stream->Pop(e, 1s)) continue;
      Observe(*g, e, metrics_);
      g->trim.Add(e.text);
      g->ended = e.final;
    }
    if (!e.status.ok()) return WriteError(res, HttpStatus(e.status), Message(e.status));
    g->trim.Finish();
    res.set_content(Dump(g->Whole(e.result, std::string(g->trim.sent()))), "application/json");
    return;
  }

  uncount.count = nullptr;  // the releaser below uncounts the stream
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, g](size_t, httplib::DataSink& sink) {
        auto send = [&sink](const std::string& data) {
          const std::string event = absl::StrCat("data: ", data, "\n\n");
          return sink.write(event.data(), event.size());
        };
        auto gone = [&g] {  // the client went away: free its slot
          g->stream->Cancel();
          return false;
        };
        if (g->chat() && !g->first_sent) {
          json opening = g->Chunk("", nullptr);
          opening["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
          if (!send(Dump(opening))) return gone();
          g->first_sent = true;
        }
        StreamEvent e;
        if (!g->stream->Pop(e, 1s)) {
          // An SSE comment: clients ignore it, and writing it finds a
          // client that left while its request waited for a slot.
          static constexpr char kKeepAlive[] = ": keep-alive\n\n";
          return sink.write(kKeepAlive, sizeof kKeepAlive - 1) || gone();
        }
        Observe(*g, e, metrics_);
        std::string text = g->trim.Add(e.text);
        if (!e.final) return text.empty() || send(Dump(g->Chunk(text, nullptr))) || gone();
        g->ended = true;
        if (e.status.ok()) {
          text += g->trim.Finish();
          if (!text.empty() && !send(Dump(g->Chunk(text, nullptr)))) return false;
          if (!send(Dump(g->Chunk("", FinishReason(e.result))))) return false;
          if (g->include_usage) {
            json usage = g->Envelope(true);
            usage["choices"] = json::array();
            usage["usage"] = g->Usage(e.result.token_ids.size());
            if (!send(Dump(usage))) return false;
          }
        } else if (!send(Dump(ErrorJson(HttpStatus(e.status), Message(e.status))))) {
          return false;
        }
        if (!send("[DONE]")) return false;
        sink.done();
        return true;
      },
      [this, g](bool) {
        if (!g->ended) g->stream->Cancel();
        --in_flight_;
      });
}

}  // namespace kiln
