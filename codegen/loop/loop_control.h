// The generate loop's control, written once for both sides: the host loop
// (runtime/session/host_loop.h) includes this file as C++, and every CUDA
// engine carries it as the body of its loop kernels (loop_cuda.h), compiled
// by NVRTC and run in a CUDA graph's WHILE node. It is plain C over int32
// arrays, with no library call, so the two compilations mean the same thing.
//
// One round of a sequence's loop:
//   prepare: draft up to the schedule's length by prompt lookup (bounded by
//            the draft cap, the tokens max_new_tokens leaves after the
//            target's own, the cache's room and the widest bucket it
//            holds), write the step's tokens (the last token, the draft,
//            padding) and positions, and pick the step bucket the host
//            session would pick (PickBucket);
//   step:    the bucket's plan runs (argmax of every row: next_tokens); a
//            sampled plan then draws every row's token with the sampler,
//            row r with counter kiln_loop_sample_counter + r;
//   finish:  keep the longest draft prefix equal to the argmax (or the
//            draws), then the target's own token, appending them one at a time with the
//            plain loop's stops after each (EOS, max_new_tokens, a full
//            cache), update the schedule, and say whether to go on.
// The state, the config and the history are the caller's int32 arrays:
//   state   [kLoopWords]                    see KilnLoopWord
//   config  [kLoopConfigWords]              see KilnLoopConfigWord
//   history [capacity]                      prompt and generated tokens; the
//                                           cache holds all but the last
//   out     [max_new_tokens], out_count [1] the generated tokens, streamed
#ifndef KILN_CODEGEN_LOOP_LOOP_CONTROL_H_
#define KILN_CODEGEN_LOOP_LOOP_CONTROL_H_

#ifndef KILN_LOOP_FN
#define KILN_LOOP_FN static inline
#endif
// Orders the streamed tokens before their count for a reader on the host.
#ifndef KILN_LOOP_PUBLISH
#define KILN_LOOP_PUBLISH()
#endif

enum KilnLoopWord {
  kLoopLength = 0,    // tokens in history
  kLoopGenerated,     // tokens this request generated
  kLoopFinish,        // a KilnLoopFinish
  kLoopDraftLength,   // the schedule's length for the next round
  kLoopDrafted,       // tokens this round drafted (step_ids[1..])
  kLoopBranch,        // the bucket this round runs
  kLoopDraftedTotal,  // over the request
  kLoopAcceptedTotal,
  kLoopSteps,  // target steps the rounds ran
  kLoopWords
};

enum KilnLoopFinish {
  kLoopRunning = 0,
  kLoopEos = 1,        // an EOS id was generated
  kLoopMaxTokens = 2,  // max_new_tokens reached
  kLoopCacheFull = 3,  // the history fills the cache
  kLoopFault = 4,      // the step's kernels saw an id or position out of range
  kLoopHostStop = 5,   // the host asked it to stop (a stop string matched)
  kLoopNaN = 6         // the logits of a row the acceptance read hold a NaN (an error)
};

// kLoopMaxDraft bounds the rows the device's acceptance reads (a stack array).
enum { kLoopMaxBranches = 16, kLoopMaxEos = 16, kLoopMaxDraft = 63 };

enum KilnLoopConfigWord {
  kLoopCapacity = 0,  // the cache's positions
  kLoopMaxNew,        // max_new_tokens
  kLoopDraftCap,      // the longest draft (0: plain decoding)
  kLoopMaxNgram,      // prompt lookup's max_matching_ngram_size
  kLoopHeuristic,     // 1: +2 after a fully accepted round, -1 otherwise
  kLoopBranchCount,   // step buckets, 1..kLoopMaxBranches
  kLoopEosCount,      // 0..kLoopMaxEos
  kLoopVocab,         // the logits' width (the device runner sets it)
  kLoopLogitsDtype,   // 0 f32, 1 f16, 2 bf16 (the device runner sets it)
  kLoopSampled,       // 1: next holds the rows' draws (token -1: the row's logits hold a NaN)
  kLoopCounterLow,    // the request's first draw counter, low and high 32 bits
  kLoopCounterHigh,
  kLoopWidths,  // [kLoopMaxBranches]: the buckets' tokens, ascending
  kLoopEosIds = kLoopWidths + kLoopMaxBranches,  // [kLoopMaxEos]
  kLoopConfigWords = kLoopEosIds + kLoopMaxEos
};

// Transformers' prompt lookup (drafters.h PromptLookupCandidates): for n
// from max_ngram down to 1, the first earlier window equal to the last n
// ids that is followed by a token proposes up to `num_tokens` of the ids
// after it. Returns how many it wrote to `out`.
KILN_LOOP_FN int kiln_loop_lookup(const int* ids, int n_ids, int max_ngram, int num_tokens,
                                  int* out) {
  int n = max_ngram < n_ids - 1 ? max_ngram : n_ids - 1;
  for (; n >= 1; --n) {
    for (int start = 0; start + n < n_ids; ++start) {
      int same = 1;
      for (int i = 0; i < n && same; ++i) same = ids[start + i] == ids[n_ids - n + i];
      if (!same) continue;
      int count = 0;
      for (int j = start + n; j < n_ids && count < num_tokens; ++j) out[count++] = ids[j];
      return count;
    }
  }
  return 0;
}

KILN_LOOP_FN int kiln_loop_min(int a, int b) { return a < b ? a : b; }

// The sampler's draw counter of row 0 of the round about to run: the
// request's first counter plus the tokens generated so far, so generated
// token i is drawn with counter i, as the step-by-step generator draws it
// (SampleToken's `step`); row r draws with this plus r.
KILN_LOOP_FN unsigned long long kiln_loop_sample_counter(const int* state, const int* config) {
  const unsigned long long first = ((unsigned long long)(unsigned)config[kLoopCounterHigh] << 32) |
                                   (unsigned long long)(unsigned)config[kLoopCounterLow];
  return first + (unsigned long long)state[kLoopGenerated];
}

// The round's draft, step tokens and positions; returns the bucket to run
// (an index into the config's widths). The draft is bounded by the widest
// bucket the cache's room holds, so a round is never split into chunks;
// the bucket is then PickBucket's: the smallest that takes every token.
KILN_LOOP_FN int kiln_loop_prepare_round(int* state, const int* config, const int* history,
                                         int* step_ids, int* step_positions) {
  const int length = state[kLoopLength];
  const int position = length - 1;  // the last token's: not in the cache yet
  const int room = config[kLoopCapacity] - position;
  int widest = 1;
  for (int b = 0; b < config[kLoopBranchCount]; ++b) {
    if (config[kLoopWidths + b] <= room) widest = config[kLoopWidths + b];
  }
  int budget = kiln_loop_min(state[kLoopDraftLength], config[kLoopDraftCap]);
  budget = kiln_loop_min(budget, config[kLoopMaxNew] - state[kLoopGenerated] - 1);
  budget = kiln_loop_min(budget, config[kLoopCapacity] - length);
  budget = kiln_loop_min(budget, widest - 1);
  const int drafted =
      budget > 0 ? kiln_loop_lookup(history, length, config[kLoopMaxNgram], budget, step_ids + 1)
                 : 0;
  const int width = drafted + 1;
  int branch = 0;
  while (config[kLoopWidths + branch] < width) ++branch;
  step_ids[0] = history[position];
  for (int i = 0; i < config[kLoopWidths + branch]; ++i) {
    if (i >= width) step_ids[i] = 0;  // right padding, as PlanSession pads
    step_positions[i] = position + i;
  }
  state[kLoopDrafted] = drafted;
  state[kLoopBranch] = branch;
  return branch;
}

// Appends `token` and says whether the sequence goes on (the plain loop's
// stops, in its order).
KILN_LOOP_FN int kiln_loop_append(int* state, const int* config, int* history, int token, int* out,
                                  int* out_count) {
  history[state[kLoopLength]] = token;
  state[kLoopLength] += 1;
  out[state[kLoopGenerated]] = token;
  state[kLoopGenerated] += 1;
  KILN_LOOP_PUBLISH();
  *out_count = state[kLoopGenerated];
  for (int e = 0; e < config[kLoopEosCount]; ++e) {
    if (token == config[kLoopEosIds + e]) {
      state[kLoopFinish] = kLoopEos;
      return 0;
    }
  }
  if (state[kLoopGenerated] >= config[kLoopMaxNew]) {
    state[kLoopFinish] = kLoopMaxTokens;
    return 0;
  }
  if (state[kLoopLength] >= config[kLoopCapacity]) {
    state[kLoopFinish] = kLoopCacheFull;
    return 0;
  }
  return 1;
}

// Acceptance of the round's draft against the step's tokens (`next`: one
// per row, the argmax or, in a sampled plan, the row's draw; `row_nan`: 1
// where the row's logits hold a NaN); returns 1 when the loop goes on. As AcceptDraft does, the
// rows are read in order and the first NaN row ends the reading: the draft tokens before it are
// appended (with the stops), and if none of them stops the sequence it ends with kLoopNaN, where
// the step-by-step loops fail.
KILN_LOOP_FN int kiln_loop_finish_round(int* state, const int* config, int* history,
                                        const int* step_ids, const int* next, const int* row_nan,
                                        int fault, int host_stop, int* out, int* out_count) {
  if (state[kLoopFinish] != kLoopRunning) return 0;
  if (fault != 0) {
    state[kLoopFinish] = kLoopFault;
    return 0;
  }
  const int drafted = state[kLoopDrafted];
  int accepted = 0;
  while (accepted < drafted && row_nan[accepted] == 0 && step_ids[1 + accepted] == next[accepted]) {
    ++accepted;
  }
  const int nan_row = row_nan[accepted] != 0;
  state[kLoopSteps] += 1;
  state[kLoopDraftedTotal] += drafted;
  int going = 1;
  for (int i = 0; i < accepted && going; ++i) {
    going = kiln_loop_append(state, config, history, step_ids[1 + i], out, out_count);
    state[kLoopAcceptedTotal] += 1;
  }
  if (going && nan_row) {
    state[kLoopFinish] = kLoopNaN;
    return 0;
  }
  if (going) going = kiln_loop_append(state, config, history, next[accepted], out, out_count);
  if (config[kLoopHeuristic] != 0 && drafted > 0) {  // DraftSchedule::Update
    const int length = state[kLoopDraftLength];
    state[kLoopDraftLength] = accepted == drafted ? kiln_loop_min(length + 2, config[kLoopDraftCap])
                                                  : (length > 2 ? length - 1 : 1);
  }
  if (going && host_stop != 0) {
    state[kLoopFinish] = kLoopHostStop;
    going = 0;
  }
  return going;
}

#endif  // KILN_CODEGEN_LOOP_LOOP_CONTROL_H_
