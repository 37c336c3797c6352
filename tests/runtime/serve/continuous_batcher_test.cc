// ContinuousBatcher on the CPU backend (a q8_0 engine of the llama3 fixture,
// 4 batch rows, prefill buckets of 4 and 16 tokens): requests that join and
// leave the running batch at any step produce exactly their solo
// Generator::GenerateIds output, greedy and seeded sampling, with prompts
// long enough to prefill in several chunks; cancelled requests free their
// slots; a full queue, bad requests and Drain give their errors.
#include "runtime/serve/continuous_batcher.h"

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "codegen/compile_engine.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/session/plan_session.h"
#include "runtime/tokenizer/load.h"

namespace kiln {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kMaxSeq = 64;

// Holds the batcher before each step (BatcherOptions::before_step) until the
// test lets it go on, so a state (slots taken, requests queued) can be set
// up and looked at: the tiny model's 61-token requests finish within a few
// milliseconds, faster than a loaded machine schedules a polling thread.
class StepGate {
 public:
  std::function<void()> Hook() {
    return [this] {
      std::unique_lock<std::mutex> lock(mutex_);
      passable_.wait(lock, [this] { return open_ || allowed_ > 0; });
      if (!open_) --allowed_;
    };
  }
  void Allow(int steps) {
    std::lock_guard<std::mutex> lock(mutex_);
    allowed_ += steps;
    passable_.notify_all();
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    passable_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable passable_;
  int allowed_ = 0;
  bool open_ = false;
};

// Waits (at most 30 s) until the batcher, held at the gate, shows `busy`
// slots taken and `queued` requests waiting.
void WaitForState(const ContinuousBatcher& b, int64_t busy, int64_t queued) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (b.stats().busy_slots != busy || b.stats().queued != queued) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "busy " << b.stats().busy_slots << " queued " << b.stats().queued;
    std::this_thread::sleep_for(1ms);
  }
}
constexpr char kTokenizer[] = "tests/fixtures/tokenizers/bytes256/tokenizer.json";

// The engine is compiled once for the whole suite.
const std::string& EngineDir() {
  static const std::string* dir = [] {
    auto* out = new std::string(absl::StrCat(std::getenv("TEST_TMPDIR"), "/llama3_q8.engine"));
    std::filesystem::remove_all(*out);
    CompileOptions options;
    options.model = "tests/fixtures/models/llama3/f32";
    options.out = *out;
    options.max_seq = kMaxSeq;
    options.max_batch = 4;
    options.buckets = "4,16";
    options.quantize = "q8_0";
    options.tokenizer = kTokenizer;
    absl::StatusOr<CompileReport> report = CompileEngine(options);
    EXPECT_TRUE(report.ok()) << report.status();
    return out;
  }();
  return *dir;
}

// A cpu engine with a Generator over its plan sessions, as bin/generate
// loads one.
struct LoadedEngine {
  std::unique_ptr<cpu::CpuEngine> engine;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<Generator> generator;
};

LoadedEngine Load() {
  LoadedEngine out;
  absl::StatusOr<cpu::CpuEngine> engine = cpu::LoadCpuEngine(EngineDir());
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return out;
  out.engine = std::make_unique<cpu::CpuEngine>(*std::move(engine));
  absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok = tokenizer::LoadTokenizer(kTokenizer);
  EXPECT_TRUE(tok.ok()) << tok.status();
  out.tokenizer = *std::move(tok);
  cpu::CpuEngine* e = out.engine.get();
  const Module* module = &e->engine.module;
  auto new_session = [e, module]() -> absl::StatusOr<std::unique_ptr<SequenceSession>> {
    absl::StatusOr<PlanSession> s =
        PlanSession::Create(*e->executor, *module, kMaxSeq, e->batch1_buckets);
    if (!s.ok()) return s.status();
    return std::make_unique<PlanSession>(*std::move(s));
  };
  auto new_batch = [e, module](int64_t batch, std::vector<SessionBucket> b) {
    return CreatePlanBatchSession(*e->executor, *module, batch, kMaxSeq, std::move(b));
  };
  std::vector<SessionBucket> buckets;
  for (const EngineBucket& b : e->engine.manifest.buckets) buckets.push_back({b.function, b.seq});
  absl::StatusOr<Generator> g = Generator::CreateWithSessions(
      new_session, new_batch, *module, *out.tokenizer, kMaxSeq, std::move(buckets));
  EXPECT_TRUE(g.ok()) << g.status();
  if (g.ok()) out.generator = std::make_unique<Generator>(*std::move(g));
  if (g.ok()) out.generator->set_verify_tokens(e->engine.manifest.verify_tokens);
  return out;
}

// Prompts of 1 to 41 random ids: the longest prefill in three chunks.
std::vector<std::vector<int32_t>> Prompts() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(3, 255);
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {1, 41, 3, 17, 5, 30, 9, 23}) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    for (int32_t& t : p) t = id(rng);
    prompts.push_back(std::move(p));
  }
  return prompts;
}

// Each prompt alone from an empty context, with config `configs[i]`.
std::vector<GenerationResult> Solo(Generator& generator,
                                   const std::vector<std::vector<int32_t>>& prompts,
                                   const std::vector<GenerationConfig>& configs) {
  std::vector<GenerationResult> out;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_TRUE(generator.Reset().ok());
    absl::StatusOr<GenerationResult> r = generator.GenerateIds(prompts[i], configs[i]);
    EXPECT_TRUE(r.ok()) << r.status();
    out.push_back(r.ok() ? *r : GenerationResult{});
  }
  return out;
}

// Reads a stream to its end: the result, its streamed text and status.
struct Collected {
  absl::Status status;
  GenerationResult result;
  std::string streamed;
  int tokens = 0;
};

Collected Collect(RequestStream& stream) {
  Collected c;
  StreamEvent e;
  while (true) {
    if (!stream.Pop(e, 60s)) {
      c.status = absl::DeadlineExceededError("no event in 60 s");
      return c;
    }
    c.streamed += e.text;
    c.tokens += e.new_tokens;
    if (e.final) {
      c.status = e.status;
      c.result = std::move(e.result);
      return c;
    }
  }
}

void ExpectSameAsSolo(const std::vector<Collected>& got,
                      const std::vector<GenerationResult>& solo) {
  ASSERT_EQ(got.size(), solo.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(testing::Message()
                 << "request " << i << " (" << solo[i].prompt_ids.size() << " prompt tokens)");
    ASSERT_TRUE(got[i].status.ok()) << got[i].status;
    EXPECT_EQ(got[i].result.token_ids, solo[i].token_ids);
    EXPECT_EQ(got[i].result.text, solo[i].text);
    EXPECT_EQ(got[i].result.finish_reason, solo[i].finish_reason);
    EXPECT_EQ(got[i].streamed, got[i].result.text);
    EXPECT_EQ(got[i].tokens, static_cast<int>(got[i].result.token_ids.size()));
  }
}

GenerationConfig Greedy(int max_new_tokens) {
  GenerationConfig c;
  c.max_new_tokens = max_new_tokens;
  return c;
}

// Each prompt with its config, all at once from a thread each; their
// streams read to the end.
std::vector<Collected> SubmitConcurrently(ContinuousBatcher& batcher,
                                          const std::vector<std::vector<int32_t>>& prompts,
                                          const std::vector<GenerationConfig>& configs) {
  std::vector<Collected> got(prompts.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < prompts.size(); ++i) {
    clients.emplace_back([&, i] {
      absl::StatusOr<std::shared_ptr<RequestStream>> s = batcher.Submit(prompts[i], configs[i]);
      if (!s.ok()) {
        got[i].status = s.status();
        return;
      }
      got[i] = Collect(**s);
    });
  }
  for (std::thread& t : clients) t.join();
  return got;
}

// 8 requests at once, from 8 threads, on 4 slots (so half wait, and join
// the batch as others leave): each equals its solo run.
void RunConcurrently(const std::vector<GenerationConfig>& configs) {
  LoadedEngine loaded = Load();
  ASSERT_NE(loaded.generator, nullptr);
  const std::vector<std::vector<int32_t>> prompts = Prompts();
  const std::vector<GenerationResult> solo = Solo(*loaded.generator, prompts, configs);
  absl::StatusOr<std::unique_ptr<ContinuousBatcher>> batcher =
      ContinuousBatcher::Create(*loaded.generator, {.slots = 4, .prefill_chunk = 16});
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  const std::vector<Collected> got = SubmitConcurrently(**batcher, prompts, configs);
  ExpectSameAsSolo(got, solo);
  EXPECT_EQ((*batcher)->stats().busy_slots, 0);
}

TEST(ContinuousBatcherTest, GreedyRequestsAmongOthersEqualTheirSoloRuns) {
  std::vector<GenerationConfig> configs;
  for (int i = 0; i < 8; ++i)
    configs.push_back(Greedy(6 + 3 * i));  // they leave at different steps
  RunConcurrently(configs);
}

TEST(ContinuousBatcherTest, SeededSampledRequestsAmongOthersEqualTheirSoloRuns) {
  std::vector<GenerationConfig> configs;
  for (int i = 0; i < 8; ++i) {
    GenerationConfig c = Greedy(12);
    c.do_sample = true;
    c.temperature = 0.9;
    c.top_k = 40;
    c.repetition_penalty = 1.1;
    c.seed = 100 + static_cast<uint64_t>(i);
    configs.push_back(c);
  }
  RunConcurrently(configs);
}

// Prompts that repeat a random phrase of 5 ids 2 to 5 times: prompt lookup
// finds its drafts in them (and in what a tiny random model generates).
std::vector<std::vector<int32_t>> RepetitivePrompts() {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> id(3, 255);
  std::vector<std::vector<int32_t>> prompts;
  for (int repeats : {2, 5, 3, 4, 2, 3, 5, 4}) {
    std::vector<int32_t> phrase(5);
    for (int32_t& t : phrase) t = id(rng);
    std::vector<int32_t> p;
    for (int i = 0; i < repeats; ++i) p.insert(p.end(), phrase.begin(), phrase.end());
    prompts.push_back(std::move(p));
  }
  return prompts;
}

// Prompt lookup served: each request's tokens equal Generator's own
// speculative run of it, greedy ones also its plain greedy run (lossless),
// among 7 others on 4 slots; the batcher drafted and kept tokens. A served
// request's schedule is timing-free, as a sampled request's is in
// Generator, so sampled requests also draft exactly what they drafted
// there (the same rounds, drafts and draws, acceptance.h).
TEST(ContinuousBatcherTest, PromptLookupRequestsEqualTheirSoloRuns) {
  LoadedEngine loaded = Load();
  ASSERT_NE(loaded.generator, nullptr);
  ASSERT_GT(loaded.generator->verify_tokens(), 2);
  const std::vector<std::vector<int32_t>> prompts = RepetitivePrompts();
  std::vector<GenerationConfig> configs, plain;
  for (int i = 0; i < 8; ++i) {
    GenerationConfig c = Greedy(10 + 2 * i);
    if (i % 2 == 1) {
      c.do_sample = true;
      c.temperature = 0.8;
      c.seed = 300 + static_cast<uint64_t>(i);
    }
    plain.push_back(c);
    c.prompt_lookup_num_tokens =
        i % 4 == 0 ? static_cast<int>(loaded.generator->verify_tokens()) : 3;
    configs.push_back(c);
  }
  const std::vector<GenerationResult> solo = Solo(*loaded.generator, prompts, configs);
  const std::vector<GenerationResult> plain_solo = Solo(*loaded.generator, prompts, plain);
  absl::StatusOr<std::unique_ptr<ContinuousBatcher>> batcher =
      ContinuousBatcher::Create(*loaded.generator, {.slots = 4, .prefill_chunk = 16});
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  const std::vector<Collected> got = SubmitConcurrently(**batcher, prompts, configs);
  ExpectSameAsSolo(got, solo);
  int64_t drafted = 0, accepted = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    drafted += got[i].result.drafted_tokens;
    accepted += got[i].result.accepted_tokens;
    if (configs[i].do_sample) {
      EXPECT_EQ(got[i].result.drafted_tokens, solo[i].drafted_tokens) << "request " << i;
      EXPECT_EQ(got[i].result.accepted_tokens, solo[i].accepted_tokens) << "request " << i;
    } else {
      EXPECT_EQ(got[i].result.token_ids, plain_solo[i].token_ids) << "request " << i;
    }
  }
  EXPECT_GT(drafted, 0);
  EXPECT_GT(accepted, 0);
  EXPECT_LE(accepted, drafted);
  EXPECT_EQ((*batcher)->stats().busy_slots, 0);
}

// Requests arriving one after another while others decode: each joins at
// some step of the others' decode and still equals its solo run.
TEST(ContinuousBatcherTest, StaggeredArrivalsEqualTheirSoloRuns) {
  LoadedEngine loaded = Load();
  ASSERT_NE(loaded.generator, nullptr);
  const std::vector<std::vector<int32_t>> prompts = Prompts();
  const std::vector<GenerationConfig> configs(prompts.size(), Greedy(20));
  const std::vector<GenerationResult> solo = Solo(*loaded.generator, prompts, configs);
  absl::StatusOr<std::unique_ptr<ContinuousBatcher>> batcher =
      ContinuousBatcher::Create(*loaded.generator, {.slots = 4, .prefill_chunk = 4});
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < prompts.size(); ++i) {
    absl::StatusOr<std::shared_ptr<RequestStream>> s = (*batcher)->Submit(prompts[i], configs[i]);
    ASSERT_TRUE(s.ok()) << s.status();
    streams.push_back(*s);
    std::this_thread::sleep_for(std::chrono::milliseconds(3 * (i % 3)));
  }
  std::vector<Collected> got;
  for (auto& s : streams) got.push_back(Collect(*s));
  ExpectSameAsSolo(got, solo);
}

TEST(ContinuousBatcherTest, CancelledRequestsFreeTheirSlots) {
  LoadedEngine loaded = Load();
  ASSERT_NE(loaded.generator, nullptr);
  StepGate gate;  // outlives the batcher, whose thread it may hold
  absl::StatusOr<std::unique_ptr<ContinuousBatcher>> batcher =
      ContinuousBatcher::Create(*loaded.generator, {.slots = 4, .before_step = gate.Hook()});
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  // A failed assertion returns with the loop held: open the gate first, or
  // the batcher's destructor (Drain) would wait on it forever.
  absl::Cleanup release = [&] { gate.Open(); };
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 6; ++i) {
    absl::StatusOr<std::shared_ptr<RequestStream>> s =
        (*batcher)->Submit({5, 6, 7}, Greedy(kMaxSeq));
    ASSERT_TRUE(s.ok()) << s.status();
    streams.push_back(*s);
    if (i == 0) {
      ASSERT_NO_FATAL_FAILURE(WaitForState(**batcher, 1, 0));  // the first holds a slot at the gate
    }
  }
  gate.Allow(1);  // its first step; then the next three take the free slots
  ASSERT_NO_FATAL_FAILURE(WaitForState(**batcher, 4, 2));
  for (auto& s : streams) s->Cancel();
  gate.Open();
  for (auto& s : streams) {  // cancelled long before their 61 tokens
    Collected c = Collect(*s);
    EXPECT_TRUE(absl::IsCancelled(c.status)) << c.status;
    EXPECT_LT(c.tokens, 30);
  }
  EXPECT_EQ((*batcher)->stats().busy_slots, 0);
  EXPECT_EQ((*batcher)->stats().queued, 0);
  // The slots serve again, and their stale cache rows change nothing.
  const std::vector<std::vector<int32_t>> prompts = {Prompts()[1]};
  absl::StatusOr<std::shared_ptr<RequestStream>> s = (*batcher)->Submit(prompts[0], Greedy(8));
  ASSERT_TRUE(s.ok());
  Collected after = Collect(**s);
  batcher->reset();  // frees the caches for the solo run
  ExpectSameAsSolo({after}, Solo(*loaded.generator, prompts, {Greedy(8)}));
}

TEST(ContinuousBatcherTest, FullQueueIsRefusedAndDrainEndsTheWaitingRequests) {
  LoadedEngine loaded = Load();
  ASSERT_NE(loaded.generator, nullptr);
  StepGate gate;
  absl::StatusOr<std::unique_ptr<ContinuousBatcher>> batcher = ContinuousBatcher::Create(
      *loaded.generator, {.slots = 4, .max_queue = 2, .before_step = gate.Hook()});
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  absl::Cleanup release = [&] { gate.Open(); };  // as above
  std::vector<std::shared_ptr<RequestStream>> running;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::shared_ptr<RequestStream>> s =
        (*batcher)->Submit({9, 8, 7}, Greedy(kMaxSeq));
    ASSERT_TRUE(s.ok()) << s.status();
    running.push_back(*s);
    if (i == 0) {
      ASSERT_NO_FATAL_FAILURE(WaitForState(**batcher, 1, 0));
    }
  }
  gate.Allow(1);
  ASSERT_NO_FATAL_FAILURE(
      WaitForState(**batcher, 4, 0));  // every slot taken, held at the gate: the queue holds 2
  std::vector<std::shared_ptr<RequestStream>> waiting;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::shared_ptr<RequestStream>> s = (*batcher)->Submit({1, 2}, Greedy(4));
    ASSERT_TRUE(s.ok()) << s.status();
    waiting.push_back(*s);
  }
  absl::StatusOr<std::shared_ptr<RequestStream>> refused = (*batcher)->Submit({1, 2}, Greedy(4));
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("retry later"), std::string::npos);

  std::thread drain([&] { (*batcher)->Drain(); });
  gate.Open();
  for (auto& s : waiting) {
    Collected c = Collect(*s);
    EXPECT_TRUE(absl::IsUnavailable(c.status) || c.status.ok()) << c.status;
  }
  for (auto& s : running) {
    Collected c = Collect(*s);
    EXPECT_TRUE(c.status.ok()) << c.status;  // running requests finish
    EXPECT_EQ(c.result.finish_reason, "length");
  }
  drain.join();
  EXPECT_TRUE(absl::IsUnavailable((*batcher)->Submit({1}, Greedy(1)).status()));
}

TEST(ContinuousBatcherTest, BadRequestsAreRefusedAtSubmit) {
  LoadedEngine loaded = Load();
  ASSERT_NE(loaded.generator, nullptr);
  absl::StatusOr<std::unique_ptr<ContinuousBatcher>> batcher =
      ContinuousBatcher::Create(*loaded.generator, {});
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  ContinuousBatcher& b = **batcher;
  EXPECT_EQ(b.stats().slots, 4);
  EXPECT_TRUE(absl::IsInvalidArgument(b.Submit({}, Greedy(4)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(b.Submit({1, 256}, Greedy(4)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(b.Submit({-1}, Greedy(4)).status()));
  absl::Status too_long = b.Submit(std::vector<int32_t>(kMaxSeq, 5), Greedy(4)).status();
  EXPECT_TRUE(absl::IsOutOfRange(too_long)) << too_long;
  EXPECT_NE(too_long.message().find("max length is 64"), std::string::npos) << too_long;
  EXPECT_FALSE(b.Submit({1}, Greedy(0)).ok());
  GenerationConfig nan = Greedy(4);
  nan.do_sample = true;
  nan.temperature = std::nan("");
  EXPECT_FALSE(b.Submit({1}, nan).ok());
  GenerationConfig lookup = Greedy(4);
  lookup.prompt_lookup_num_tokens = static_cast<int>(loaded.generator->verify_tokens()) + 1;
  absl::Status long_draft = b.Submit({1}, lookup).status();
  EXPECT_TRUE(absl::IsInvalidArgument(long_draft)) << long_draft;
  EXPECT_NE(long_draft.message().find("verifies at most"), std::string::npos) << long_draft;
  GenerationConfig assistant = Greedy(4);
  assistant.assistant_engine =
      std::shared_ptr<Generator>(loaded.generator.get(), [](Generator*) {});
  absl::Status not_served = b.Submit({1}, assistant).status();
  EXPECT_TRUE(absl::IsUnimplemented(not_served)) << not_served;
  EXPECT_NE(not_served.message().find("use prompt lookup"), std::string::npos) << not_served;
  // A prompt filling all but one position still generates one token.
  Collected last = Collect(**b.Submit(std::vector<int32_t>(kMaxSeq - 1, 5), Greedy(10)));
  EXPECT_TRUE(last.status.ok()) << last.status;
  EXPECT_EQ(last.result.token_ids.size(), 1u);
  EXPECT_EQ(last.result.finish_reason, "length");

  EXPECT_TRUE(
      absl::IsInvalidArgument(ContinuousBatcher::Create(*loaded.generator, {.slots = 5}).status()));
}

}  // namespace
}  // namespace kiln
