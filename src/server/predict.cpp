// POST /predict: validate, admit and tokenize on a request worker, queue the inputs, and answer
// when the last one ran (on the inference thread) or when --request-timeout passes (on a timer).
#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "core/try.hpp"
#include "safetensors/json_writer.hpp"
#include "server/input_rules.hpp"
#include "server/request_parse.hpp"
#include "server/server_state.hpp"

namespace safetensors::server::detail {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

api_result<std::vector<model::encoding>> tokenize_all(server_state& s, predict_request& req,
                                                      request_facts& facts) {
  const bool truncate = req.truncate.value_or(s.opts.auto_truncate);
  model::encode_options opts;
  opts.truncate = truncate;
  opts.max_length = s.max_input_length;
  opts.direction = req.direction;
  std::vector<model::encoding> out;
  out.reserve(req.inputs.size());
  for (auto& in : req.inputs) {
    const auto t0 = clock_type::now();
    ST_TRY(check_text(in.first, in.second, truncate, s.max_input_length));
    std::optional<std::string_view> second;
    if (in.second) second = *in.second;
    auto enc = s.backend->encode(in.first, second, opts);
    if (!enc) return tokenizer_fail(enc.error().message);
    ST_TRY(check_tokens(enc->size(), s.max_input_length));
    const double ms = ms_since(t0);
    s.stats.observe("te_request_tokenization_duration", ms / 1000);
    s.stats.observe("te_request_input_length", static_cast<double>(enc->size()));
    facts.tokenization_ms += ms;
    facts.tokens += enc->size();
    out.push_back(std::move(*enc));
  }
  return out;
}

// serde_json prints an f32 with its shortest round-trip digits; so does fmt for a float.
void score_value(json_writer& w, float score) { w.raw(fmt::format("{}", score)); }

void write_scores(json_writer& w, const std::vector<model::label_score>& scores) {
  w.begin_array();
  for (const auto& ls : scores) {
    w.begin_object().key("score");
    score_value(w, ls.score);
    w.key("label").value(ls.label).end_object();
  }
  w.end_array();
}

api_result<std::string> predictions_body(server_state& s, const predict_request& req,
                                         const std::vector<std::vector<float>>& rows) {
  const auto fn = req.raw_scores ? model::score_function::none : s.backend->info().default_function;
  std::vector<std::vector<model::label_score>> all;
  for (const auto& row : rows) {
    auto scores = s.backend->scores(row, fn);
    for (const auto& ls : scores) {
      if (!std::isfinite(ls.score))
        return api_fail(424, "Backend", "Backend error: score is not finite (NaN or Inf)");
    }
    if (scores.empty())
      return api_fail(424, "Backend", "Backend error: the model returned no scores");
    all.push_back(std::move(scores));
  }
  json_writer w;
  if (req.shape == predict_shape::fastapi) {
    w.begin_object().key("label").value(all[0][0].label).key("score");
    score_value(w, all[0][0].score);
    w.end_object();
  } else if (req.shape == predict_shape::single) {
    write_scores(w, all[0]);
  } else {
    w.begin_array();
    for (const auto& scores : all) write_scores(w, scores);
    w.end_array();
  }
  return w.take();
}

std::string_view failure_label(const api_error& e) {
  if (e.type == "Overloaded") return "err=\"overloaded\"";
  if (e.type == "Tokenizer") return "err=\"tokenization\"";
  if (e.type == "Backend") return "err=\"inference\"";
  if (e.type == "Timeout") return "err=\"timeout\"";
  if (e.message.find("batch size") != std::string::npos) return "err=\"batch_size\"";
  return "err=\"validation\"";
}

// The reply of a request whose inputs all ran: rows in input order.
api_result<reply> success_reply(server_state& s, const predict_request& req,
                                const std::vector<std::vector<float>>& rows,
                                const request_facts& facts) {
  const std::size_t n = req.inputs.size();
  reply r;
  r.body = ST_TRY(predictions_body(s, req, rows));
  std::size_t chars = 0;
  for (const auto& in : req.inputs)
    chars += count_chars(in.first) + (in.second ? count_chars(*in.second) : 0);
  const double per = 1.0 / static_cast<double>(n);
  r.headers = {{"x-compute-type", "cpu"},
               {"x-compute-characters", std::to_string(chars)},
               {"x-compute-tokens", std::to_string(facts.tokens)},
               {"x-tokenization-time", fmt::format("{:.0f}", facts.tokenization_ms * per)},
               {"x-queue-time", fmt::format("{:.0f}", facts.queue_ms * per)},
               {"x-inference-time", fmt::format("{:.0f}", facts.inference_ms * per)}};
  s.stats.inc("te_request_success",
              req.shape == predict_shape::batch ? "method=\"batch\"" : "method=\"single\"");
  s.stats.inc("te_predict_success", {}, n);
  return r;
}

// One request from the queueing of its inputs to its answer. Whoever comes first answers: the
// inference thread with the last outcome (or the first failure), or the timeout timer; the
// other finds `answered` set and does nothing.
struct predict_flight : std::enable_shared_from_this<predict_flight> {
  predict_flight(server_state& st, predict_answer a) : s(st), answer(std::move(a)) {}

  server_state& s;
  predict_answer answer;
  predict_request req;
  request_facts facts;
  std::optional<admission> permit;  ///< released when the answer goes
  clock_type::time_point started = clock_type::now();
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  std::function<void()> cancel_timer;
  std::mutex mutex;  ///< rows, remaining, facts after queueing
  std::vector<std::vector<float>> rows;
  std::size_t remaining = 0;
  bool answered = false;

  void run(std::vector<model::encoding> encodings) {
    rows.resize(encodings.size());
    remaining = encodings.size();
    auto self = shared_from_this();
    {
      // The timer first, under the lock: an input may complete before submit() returns, and
      // the timer may fire before schedule() does.
      std::lock_guard lock(mutex);
      cancel_timer = s.schedule(s.opts.request_timeout, [self] { self->time_out(); });
    }
    for (std::size_t i = 0; i < encodings.size(); ++i) {
      s.queue->submit(std::move(encodings[i]), cancelled,
                      [self, i](item_outcome out) { self->complete(i, std::move(out)); });
    }
  }

  void complete(std::size_t i, item_outcome out) {
    std::unique_lock lock(mutex);
    if (answered) return;
    if (!out.logits) {
      cancelled->store(true);
      return finish(lock, api_fail(424, "Backend", "Backend error: " + out.logits.error().message));
    }
    s.stats.observe("te_request_queue_duration", out.queue_seconds);
    s.stats.observe("te_request_inference_duration", out.inference_seconds);
    facts.queue_ms += out.queue_seconds * 1000;
    facts.inference_ms += out.inference_seconds * 1000;
    rows[i] = std::move(*out.logits);
    if (--remaining == 0) finish(lock, success_reply(s, req, rows, facts));
  }

  void time_out() {
    std::unique_lock lock(mutex);
    if (answered) return;
    cancelled->store(true);  // the inputs still queued are dropped before they cost anything
    finish(lock, api_fail(503, "Timeout",
                          fmt::format("the request did not complete within {} ms",
                                      s.opts.request_timeout.count())));
  }

  void finish(std::unique_lock<std::mutex>& lock, api_result<reply> r) {
    answered = true;
    if (cancel_timer) cancel_timer();
    cancel_timer = nullptr;
    permit.reset();
    const request_facts done_facts = facts;
    lock.unlock();
    answer(finished(s, std::move(r), started), done_facts);
  }
};

// Validation, admission and tokenization: an error reply, or the flight's inputs.
api_result<std::vector<model::encoding>> prepare(predict_flight& f, std::string_view body) {
  server_state& s = f.s;
  f.req = ST_TRY(parse_predict(body));
  const std::size_t n = f.req.inputs.size();
  f.facts.inputs = n;
  s.stats.inc("te_request_count",
              f.req.shape == predict_shape::batch ? "method=\"batch\"" : "method=\"single\"");
  s.stats.inc("te_predict_count", {}, n);
  ST_TRY(check_batch(n, s.opts.max_client_batch_size, "inputs"));
  f.permit.emplace(s.admitted, n, s.opts.max_concurrent_requests);
  if (!f.permit->admitted()) return api_fail(429, "Overloaded", "Model is overloaded");
  return tokenize_all(s, f.req, f.facts);
}

}  // namespace

reply finished(server_state& s, api_result<reply> r, std::chrono::steady_clock::time_point t0) {
  s.stats.observe("te_request_duration", ms_since(t0) / 1000);
  if (r) return std::move(*r);
  s.stats.inc("te_request_failure", failure_label(r.error()));
  return error_reply(r.error());
}

void start_predict(server_state& s, std::string_view body, predict_answer answer) {
  auto flight = std::make_shared<predict_flight>(s, std::move(answer));
  auto encodings = prepare(*flight, body);
  if (!encodings) {
    flight->permit.reset();
    flight->answer(finished(s, tl::unexpected(encodings.error()), flight->started), flight->facts);
    return;
  }
  flight->run(std::move(*encodings));
}

admission::admission(std::atomic<std::size_t>& counter, std::size_t n, std::size_t limit)
    : counter_(counter), n_(n) {
  std::size_t cur = counter_.load();
  while (cur + n <= limit) {
    if (counter_.compare_exchange_weak(cur, cur + n)) {
      ok_ = true;
      return;
    }
  }
}

admission::~admission() {
  if (ok_) counter_.fetch_sub(n_);
}

}  // namespace safetensors::server::detail
