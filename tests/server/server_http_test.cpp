// The HTTP server over loopback with a fake backend: routes, shapes, every error status,
// admission, timeouts, concurrency with dynamic batching, graceful shutdown.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <future>
#include <map>
#include <thread>

#include "safetensors/server/server.hpp"
#include "server/fake_backend.hpp"

namespace safetensors::server {
namespace {

using testing::fake_backend;

struct running_server {
  explicit running_server(server_options opts = {}, std::size_t max_len = 64,
                          std::chrono::milliseconds delay = std::chrono::milliseconds(0),
                          bool load = true) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    if (!opts.log_sink)
      opts.log_sink = [this](const std::string& line) {
        std::lock_guard lock(log_mutex);
        log.push_back(line);
      };
    srv = std::make_unique<server>(opts);
    auto p = srv->bind();
    EXPECT_TRUE(p) << p.error().message;
    port = *p;
    srv->start();
    auto b = std::make_unique<fake_backend>(max_len);
    b->delay = delay;
    backend = b.get();
    if (load) {
      auto r = srv->set_backend(std::move(b));
      EXPECT_TRUE(r) << r.error().message;
    } else {
      pending = std::move(b);
    }
  }
  // The server goes first: its threads write to `log` until shutdown returns.
  ~running_server() { srv.reset(); }
  running_server(const running_server&) = delete;
  running_server& operator=(const running_server&) = delete;

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(20, 0);
    return c;
  }
  httplib::Result post(const std::string& path, const std::string& body) const {
    return client().Post(path.c_str(), body, "application/json");
  }
  httplib::Result get(const std::string& path) const { return client().Get(path.c_str()); }
  std::vector<std::string> log_lines() {
    std::lock_guard lock(log_mutex);
    return log;
  }

  std::unique_ptr<server> srv;
  fake_backend* backend = nullptr;
  std::unique_ptr<fake_backend> pending;
  int port = 0;
  std::mutex log_mutex;
  std::vector<std::string> log;
};

std::string error_type_of(const std::string& body) {
  simdjson::dom::parser p;
  std::string_view t;
  if (p.parse(body).at_key("error_type").get_string().get(t))
    return "<no error_type in " + body + ">";
  return std::string(t);
}

void expect_status(const httplib::Result& r, int status, std::string_view type) {
  ASSERT_TRUE(r) << "no response: " << httplib::to_string(r.error());
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(error_type_of(r->body), type) << r->body;
}

TEST(ServerHttp, HealthIsUnavailableUntilTheModelIsSet) {
  running_server s({}, 64, std::chrono::milliseconds(0), /*load=*/false);
  expect_status(s.get("/health"), 503, "Unhealthy");
  expect_status(s.post("/predict", R"({"inputs":"good"})"), 503, "Unhealthy");
  EXPECT_FALSE(s.srv->ready());
  ASSERT_TRUE(s.srv->set_backend(std::move(s.pending)));
  auto r = s.get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(s.get("/ping")->status, 200);
  EXPECT_EQ(s.get("/")->status, 200);
}

TEST(ServerHttp, PageOpenApiAndDocsAreSelfContained) {
  running_server s;
  auto page = s.get("/");
  ASSERT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  for (const char* part : {"fetch(\"/info\")", "fetch(\"/predict\"", "name=\"viewport\"",
                           "URLSearchParams(location.search).get(\"text\")"})
    EXPECT_NE(page->body.find(part), std::string::npos) << part;
  auto spec = s.get("/openapi.json");
  ASSERT_EQ(spec->status, 200);
  simdjson::dom::parser p;
  auto doc = p.parse(spec->body);
  ASSERT_FALSE(doc.error()) << spec->body;
  // Every route the server answers is described, with the method it takes.
  for (const auto& [path, method] :
       std::vector<std::pair<const char*, const char*>>{{"/predict", "post"},
                                                        {"/tokenize", "post"},
                                                        {"/decode", "post"},
                                                        {"/info", "get"},
                                                        {"/health", "get"},
                                                        {"/metrics", "get"},
                                                        {"/", "get"},
                                                        {"/openapi.json", "get"},
                                                        {"/docs", "get"}})
    EXPECT_FALSE(doc["paths"][path][method].error()) << path << " " << method;
  auto docs = s.get("/docs");
  ASSERT_EQ(docs->status, 200);
  EXPECT_NE(docs->body.find("fetch(\"/openapi.json\")"), std::string::npos);
  // No external resources: no URL with a scheme or protocol-relative src/href.
  for (const auto* body : {&page->body, &docs->body})
    for (const char* external : {"http://", "https://", "src=\"//", "href=\"//", "@import"})
      EXPECT_EQ(body->find(external), std::string::npos) << external;
}

TEST(ServerHttp, PredictSingleSortsAllLabels) {
  running_server s;
  auto r = s.post("/predict", R"({"inputs": "good good bad"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  // softmax([1, 2]) = [0.26894143, 0.7310586]
  EXPECT_EQ(r->body,
            R"([{"score":0.7310586,"label":"POSITIVE"},{"score":0.26894143,"label":"NEGATIVE"}])");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->get_header_value("x-compute-tokens"), "5");
  EXPECT_EQ(r->get_header_value("x-compute-characters"), "13");
  EXPECT_FALSE(r->get_header_value("x-total-time").empty());
  EXPECT_FALSE(r->get_header_value("x-inference-time").empty());
}

TEST(ServerHttp, PredictPairBatchRawScoresAndFastApiShape) {
  running_server s;
  auto pair = s.post("/predict", R"({"inputs": ["bad", "bad good"], "raw_scores": true})");
  ASSERT_EQ(pair->status, 200) << pair->body;
  EXPECT_EQ(pair->body, R"([{"score":2,"label":"NEGATIVE"},{"score":1,"label":"POSITIVE"}])");
  auto batch =
      s.post("/predict", R"({"inputs": [["good"], ["bad"], ["x", "bad"]], "raw_scores": true})");
  ASSERT_EQ(batch->status, 200) << batch->body;
  EXPECT_EQ(batch->body, R"([[{"score":1,"label":"POSITIVE"},{"score":0,"label":"NEGATIVE"}],)"
                         R"([{"score":1,"label":"NEGATIVE"},{"score":0,"label":"POSITIVE"}],)"
                         R"([{"score":1,"label":"NEGATIVE"},{"score":0,"label":"POSITIVE"}]])");
  auto fastapi = s.post("/predict", R"({"text": "bad bad bad"})");
  ASSERT_EQ(fastapi->status, 200);
  EXPECT_EQ(fastapi->body, R"({"label":"NEGATIVE","score":0.95257413})");
  // SageMaker-style aliases answer like /predict.
  EXPECT_EQ(s.post("/invocations", R"({"text": "bad bad bad"})")->body, fastapi->body);
  EXPECT_EQ(s.post("/", R"({"text": "bad bad bad"})")->body, fastapi->body);
}

TEST(ServerHttp, TruncationFollowsRequestAndServerDefault) {
  server_options o;
  o.auto_truncate = true;
  running_server s(o, /*max_len=*/4);
  // 6 tokens with specials; truncated right to [CLS] good good [SEP] -> 2 good.
  auto r = s.post("/predict", R"({"inputs": "good good bad bad", "raw_scores": true})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, R"([{"score":2,"label":"POSITIVE"},{"score":0,"label":"NEGATIVE"}])");
  auto left = s.post(
      "/predict",
      R"({"inputs": "good good bad bad", "raw_scores": true, "truncation_direction": "left"})");
  EXPECT_EQ(left->body, R"([{"score":2,"label":"NEGATIVE"},{"score":0,"label":"POSITIVE"}])");
  auto strict = s.post("/predict", R"({"inputs": "good good bad bad", "truncate": false})");
  expect_status(strict, 413, "Validation");
  EXPECT_NE(strict->body.find("must have less than 4 tokens. Given: 6"), std::string::npos)
      << strict->body;
  // Characters are bounded before tokenizing: 4 x 250 = 1000.
  auto huge =
      s.post("/predict", "{\"inputs\": \"" + std::string(1001, 'a') + "\", \"truncate\": false}");
  expect_status(huge, 413, "Validation");
  EXPECT_NE(huge->body.find("less than 1000 characters. Given: 1001"), std::string::npos)
      << huge->body;
}

TEST(ServerHttp, TokenizeDecodeInfoMetrics) {
  running_server s;
  auto t = s.post("/tokenize", R"({"inputs": "good  film"})");
  ASSERT_EQ(t->status, 200) << t->body;
  EXPECT_EQ(t->body, R"([[{"id":101,"text":"[CLS]","special":true,"start":null,"stop":null},)"
                     R"({"id":1000,"text":"good","special":false,"start":0,"stop":4},)"
                     R"({"id":1002,"text":"film","special":false,"start":6,"stop":10},)"
                     R"({"id":102,"text":"[SEP]","special":true,"start":null,"stop":null}]])");
  auto t2 = s.post("/tokenize", R"({"inputs": ["bad", "x"], "add_special_tokens": true})");
  ASSERT_EQ(t2->status, 200);
  EXPECT_EQ(t2->body.substr(0, 2), "[[");
  auto d = s.post("/decode", R"({"ids": [[101, 1000, 1001, 102], [1002]]})");
  ASSERT_EQ(d->status, 200) << d->body;
  EXPECT_EQ(d->body, R"(["good bad","word"])");
  auto d2 = s.post("/decode", R"({"ids": [101, 1000, 102], "skip_special_tokens": false})");
  EXPECT_EQ(d2->body, R"(["[CLS] good [SEP]"])");
  expect_status(s.post("/decode", R"({"ids": [666]})"), 422, "Tokenizer");
  expect_status(s.post("/tokenize", "{\"inputs\": \"\\u0001\"}"), 422, "Tokenizer");

  auto info = s.get("/info");
  ASSERT_EQ(info->status, 200);
  simdjson::dom::parser p;
  auto doc = p.parse(info->body);
  EXPECT_EQ(std::string_view(doc["model_type"]["classifier"]["id2label"]["1"].get_string().value()),
            "POSITIVE");
  EXPECT_EQ(doc["model_type"]["classifier"]["label2id"]["NEGATIVE"].get_uint64().value(), 0u);
  EXPECT_EQ(doc["max_input_length"].get_uint64().value(), 64u);
  EXPECT_EQ(doc["max_client_batch_size"].get_uint64().value(), 32u);
  EXPECT_TRUE(doc["auto_truncate"].get_bool().value());

  s.post("/predict", R"({"inputs": [["good"], ["bad"]]})");
  s.post("/predict", R"({"inputs": []})");
  auto m = s.get("/metrics");
  ASSERT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_NE(m->body.find("te_request_count{method=\"batch\"} 1\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("te_request_success{method=\"batch\"} 1\n"), std::string::npos);
  EXPECT_NE(m->body.find("te_predict_success 2\n"), std::string::npos);
  EXPECT_NE(m->body.find("te_request_failure{err=\"validation\"} 1\n"), std::string::npos);
  EXPECT_NE(m->body.find("te_request_inference_duration_count 2\n"), std::string::npos);
  EXPECT_NE(m->body.find("te_request_duration_count 2\n"), std::string::npos);
  EXPECT_NE(m->body.find("te_request_queue_duration_count 2\n"), std::string::npos);
  EXPECT_NE(m->body.find("te_request_tokenization_duration_count 2\n"), std::string::npos);
  EXPECT_NE(m->body.find("# TYPE te_batch_next_size histogram"), std::string::npos);
  EXPECT_NE(m->body.find("te_queue_size 0\n"), std::string::npos);
}

TEST(ServerHttp, ErrorStatuses) {
  server_options o;
  o.payload_limit = 1000;
  o.max_client_batch_size = 2;
  running_server s(o);
  expect_status(s.post("/predict", "{not json"), 422, "Validation");
  expect_status(s.post("/predict", R"({"inputs": []})"), 422, "Validation");
  auto big = s.post("/predict", R"({"inputs": [["a"], ["b"], ["c"]]})");
  expect_status(big, 413, "Validation");
  EXPECT_NE(big->body.find("batch size 3 > maximum allowed batch size 2"), std::string::npos);
  expect_status(s.post("/predict", "{\"inputs\": \"" + std::string(2000, 'a') + "\"}"), 413,
                "PayloadTooLarge");
  expect_status(s.get("/nope"), 404, "NotFound");
  auto m = s.get("/predict");
  expect_status(m, 405, "MethodNotAllowed");
  EXPECT_EQ(m->get_header_value("Allow"), "POST");
  expect_status(s.client().Delete("/health"), 405, "MethodNotAllowed");
  expect_status(s.client().Put("/info", "", "application/json"), 405, "MethodNotAllowed");
  s.backend->nan = true;
  expect_status(s.post("/predict", R"({"inputs": "good"})"), 424, "Backend");
  s.backend->nan = false;
  s.backend->should_fail = true;
  expect_status(s.post("/predict", R"({"inputs": "good"})"), 424, "Backend");
  s.backend->should_fail = false;
  EXPECT_EQ(s.post("/predict", R"({"inputs": "good"})")->status, 200);
  // The server is still healthy after all of that.
  EXPECT_EQ(s.get("/health")->status, 200);
}

TEST(ServerHttp, ApiKey) {
  server_options o;
  o.api_key = "s3cret";
  running_server s(o);
  auto none = s.post("/predict", R"({"inputs": "good"})");
  expect_status(none, 401, "Unauthorized");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  httplib::Client c = s.client();
  c.set_bearer_token_auth("wrong");
  expect_status(c.Post("/predict", R"({"inputs": "good"})", "application/json"), 401,
                "Unauthorized");
  c.set_bearer_token_auth("s3cre");
  expect_status(c.Get("/info"), 401, "Unauthorized");
  c.set_bearer_token_auth("s3cret");
  EXPECT_EQ(c.Post("/predict", R"({"inputs": "good"})", "application/json")->status, 200);
  EXPECT_EQ(c.Get("/info")->status, 200);
  // Probes and scraping stay open.
  EXPECT_EQ(s.get("/health")->status, 200);
  EXPECT_EQ(s.get("/metrics")->status, 200);
}

TEST(ServerHttp, AdmissionAnswers429WhenFull) {
  server_options o;
  o.max_concurrent_requests = 2;
  running_server s(o, 64, std::chrono::milliseconds(300));
  auto slow = std::async(std::launch::async,
                         [&] { return s.post("/predict", R"({"inputs": [["good"], ["bad"]]})"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = s.post("/predict", R"({"inputs": "good"})");
  expect_status(r, 429, "Overloaded");
  EXPECT_EQ(slow.get()->status, 200);
  // Permits are released: the next request is admitted.
  EXPECT_EQ(s.post("/predict", R"({"inputs": "good"})")->status, 200);
  EXPECT_NE(s.get("/metrics")->body.find("te_request_failure{err=\"overloaded\"} 1"),
            std::string::npos);
}

TEST(ServerHttp, RequestTimeoutAnswers503AndDropsTheQueuedInput) {
  server_options o;
  o.request_timeout = std::chrono::milliseconds(100);
  running_server s(o, 64, std::chrono::milliseconds(400));
  auto first =
      std::async(std::launch::async, [&] { return s.post("/predict", R"({"inputs": "good"})"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  expect_status(first.get(), 503, "Timeout");
  auto second = s.post("/predict", R"({"inputs": "bad"})");
  expect_status(second, 503, "Timeout");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_NE(s.get("/metrics")->body.find("te_request_failure{err=\"timeout\"} 2"),
            std::string::npos);
}

TEST(ServerHttp, SixtyFourConcurrentClientsGetTheirOwnAnswersInBatches) {
  running_server s({}, 64, std::chrono::milliseconds(20));
  std::vector<std::future<std::pair<int, std::string>>> results;
  for (int i = 0; i < 64; ++i) {
    results.push_back(std::async(std::launch::async, [&s, i] {
      std::string text;
      for (int k = 0; k < i % 5; ++k) text += "good ";
      for (int k = 0; k < i % 3; ++k) text += "bad ";
      auto r = s.post("/predict", "{\"inputs\": \"" + text + "w\", \"raw_scores\": true}");
      return r ? std::make_pair(r->status, r->body)
               : std::make_pair(0, httplib::to_string(r.error()));
    }));
  }
  for (int i = 0; i < 64; ++i) {
    auto [status, body] = results[static_cast<std::size_t>(i)].get();
    ASSERT_EQ(status, 200) << i << ": " << body;
    const int good = i % 5, bad = i % 3;
    // Ties keep label order (NEGATIVE first).
    const std::string hi = good > bad ? "POSITIVE" : "NEGATIVE",
                      lo = good > bad ? "NEGATIVE" : "POSITIVE";
    const std::string expected =
        "[{\"score\":" + std::to_string(std::max(good, bad)) + ",\"label\":\"" + hi +
        "\"},{\"score\":" + std::to_string(std::min(good, bad)) + ",\"label\":\"" + lo + "\"}]";
    EXPECT_EQ(body, expected) << i;
  }
  std::size_t biggest = 0, total = 0;
  for (auto n : s.backend->batch_sizes()) {
    biggest = std::max(biggest, n);
    total += n;
  }
  EXPECT_EQ(total, 64u + 2u);  // + the two warm-up batches
  EXPECT_GT(biggest, 1u) << "no dynamic batching happened";
}

TEST(ServerHttp, ShutdownWhileBusyAnswersEveryAcceptedRequest) {
  running_server s({}, 64, std::chrono::milliseconds(300));
  std::vector<std::future<int>> results;
  for (int i = 0; i < 16; ++i) {
    results.push_back(std::async(std::launch::async, [&s] {
      auto r = s.post("/predict", R"({"inputs": "good"})");
      return r ? r->status : 0;
    }));
  }
  // Wait until the server has read all 16 requests (they are then accepted and queued).
  for (int i = 0; i < 500; ++i) {
    auto m = s.get("/metrics");
    if (m && m->body.find("te_predict_count 16\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::size_t unanswered = 0;
  for (auto& f : results)
    unanswered += f.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
  EXPECT_GT(unanswered, 0u) << "the server was not busy when shutdown began";
  s.srv->shutdown();  // blocks until every accepted request is answered
  EXPECT_FALSE(s.srv->ready());
  for (auto& f : results) EXPECT_EQ(f.get(), 200);
  // New connections are refused.
  auto after = s.get("/health");
  EXPECT_FALSE(after);
}

TEST(ServerHttp, OneLogLinePerRequest) {
  server_options o;
  o.json_logs = true;
  running_server s(o);
  s.post("/predict", R"({"inputs": "good"})");
  s.post("/predict", R"({"inputs": ""})");
  s.get("/missing");
  // The line is written right after the response: give the last one a moment.
  for (int i = 0; i < 200 && s.log_lines().size() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto lines = s.log_lines();
  ASSERT_EQ(lines.size(), 3u);
  // Each request is logged by its own connection thread: order the lines by status.
  simdjson::dom::parser p;
  std::map<std::int64_t, std::string> by_status;
  for (const auto& line : lines) {
    auto doc = p.parse(line);
    ASSERT_FALSE(doc.error()) << line;
    by_status[doc["status"].get_int64().value()] = line;
  }
  ASSERT_EQ(by_status.size(), 3u);
  auto ok = p.parse(by_status[200]);
  EXPECT_EQ(std::string_view(ok["path"].get_string().value()), "/predict");
  EXPECT_EQ(std::string_view(ok["method"].get_string().value()), "POST");
  EXPECT_EQ(ok["tokens"].get_uint64().value(), 3u);
  EXPECT_EQ(ok["inputs"].get_uint64().value(), 1u);
  EXPECT_TRUE(ok["error_type"].is_null());
  EXPECT_GE(ok["duration_ms"].get_double().value(), 0.0);
  EXPECT_EQ(std::string_view(p.parse(by_status[400])["error_type"].get_string().value()), "Empty");
  EXPECT_EQ(std::string_view(p.parse(by_status[404])["error_type"].get_string().value()),
            "NotFound");
}

// ---- TEI's validation rules (docs/DEPLOY.md, "Validation rules"): one test per rule, with the
// exact status and body TEI answers.

void expect_reply(const httplib::Result& r, int status, std::string_view body) {
  ASSERT_TRUE(r) << "no response: " << httplib::to_string(r.error());
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(r->body, body);
}

constexpr std::string_view empty_inputs =
    R"({"error":"Input validation error: `inputs` cannot be empty","error_type":"Empty"})";

TEST(TeiRules, PredictEmptyTextIs400Empty) {
  running_server s;
  expect_reply(s.post("/predict", R"({"inputs": ""})"), 400, empty_inputs);
  expect_reply(s.post("/predict", R"({"text": ""})"), 400, empty_inputs);
}

TEST(TeiRules, PredictPairIsEmptyOnlyWhenBothSidesAre) {
  running_server s;
  expect_reply(s.post("/predict", R"({"inputs": ["", ""]})"), 400, empty_inputs);
  EXPECT_EQ(s.post("/predict", R"({"inputs": ["", "good"]})")->status, 200);
  EXPECT_EQ(s.post("/predict", R"({"inputs": ["good", ""]})")->status, 200);
}

TEST(TeiRules, PredictEmptyTextInABatchIs400Empty) {
  running_server s;
  expect_reply(s.post("/predict", R"({"inputs": [["good"], [""]]})"), 400, empty_inputs);
}

TEST(TeiRules, PredictEmptyBatchIsRejectedLikeABadBody) {
  running_server s;  // TEI's PredictInput deserializer refuses [] and axum answers 422
  expect_reply(
      s.post("/predict", R"({"inputs": []})"), 422,
      R"({"error":"Input validation error: `inputs` cannot be empty","error_type":"Validation"})");
}

TEST(TeiRules, PredictBatchAboveMaxClientBatchSizeIs413) {
  server_options o;
  o.max_client_batch_size = 2;
  running_server s(o);
  expect_reply(
      s.post("/predict", R"({"inputs": [["good"], ["bad"], ["good"]]})"), 413,
      R"({"error":"batch size 3 > maximum allowed batch size 2","error_type":"Validation"})");
  EXPECT_EQ(s.post("/predict", R"({"inputs": [["good"], ["bad"]]})")->status, 200);
}

TEST(TeiRules, PredictTooManyTokensWithoutTruncationIs413) {
  running_server s(server_options{}, /*max_len=*/4);
  expect_reply(
      s.post("/predict", R"({"inputs": ["good", "bad bad"], "truncate": false})"), 413,
      R"({"error":"Input validation error: `inputs` must have less than 4 tokens. Given: 6","error_type":"Validation"})");
  EXPECT_EQ(s.post("/predict", R"({"inputs": "good bad", "truncate": false})")->status,
            200);  // exactly 4
}

TEST(TeiRules, PredictTooManyCharactersWithoutTruncationIs413) {
  running_server s(server_options{}, /*max_len=*/4);  // 4 x 250 = 1000 characters; é is one
  std::string text;
  for (int i = 0; i < 1001; ++i) text += "\u00e9";
  expect_reply(
      s.post("/predict", "{\"inputs\": \"" + text + "\", \"truncate\": false}"), 413,
      R"({"error":"Input validation error: `inputs` must have less than 1000 characters. Given: 1001","error_type":"Validation"})");
}

TEST(TeiRules, PredictOverLongInputWithTruncateIsCut) {
  running_server s(server_options{}, /*max_len=*/4);
  auto tokens = s.post(
      "/predict", R"({"inputs": "good good good good bad", "truncate": true, "raw_scores": true})");
  ASSERT_EQ(tokens->status, 200) << tokens->body;
  EXPECT_EQ(tokens->get_header_value("x-compute-tokens"), "4");
  EXPECT_EQ(tokens->body, R"([{"score":2,"label":"POSITIVE"},{"score":0,"label":"NEGATIVE"}])");
  std::string words;
  for (int i = 0; i < 400; ++i) words += "good ";  // 2000 characters: cut to 1000, then to 4 tokens
  auto chars = s.post("/predict", "{\"inputs\": \"" + words + "\", \"truncate\": true}");
  ASSERT_EQ(chars->status, 200) << chars->body;
  EXPECT_EQ(chars->get_header_value("x-compute-tokens"), "4");
}

TEST(TeiRules, TokenizeEmptyTextIs400Empty) {
  running_server s;
  expect_reply(s.post("/tokenize", R"({"inputs": ""})"), 400, empty_inputs);
  expect_reply(s.post("/tokenize", R"({"inputs": ["good", ""]})"), 400, empty_inputs);
}

TEST(TeiRules, TokenizeEmptyBatchIs400EmptyWithoutPrefix) {
  running_server s;
  expect_reply(s.post("/tokenize", R"({"inputs": []})"), 400,
               R"({"error":"`inputs` cannot be empty","error_type":"Empty"})");
}

TEST(TeiRules, TokenizeBatchAboveMaxClientBatchSizeIs413) {
  server_options o;
  o.max_client_batch_size = 1;
  running_server s(o);
  expect_reply(
      s.post("/tokenize", R"({"inputs": ["good", "bad"]})"), 413,
      R"({"error":"batch size 2 > maximum allowed batch size 1","error_type":"Validation"})");
  EXPECT_EQ(s.post("/tokenize", R"({"inputs": ["good"]})")->status, 200);
}

TEST(TeiRules, TokenizeTooManyCharactersIs413) {
  running_server s(server_options{}, /*max_len=*/4);  // /tokenize never truncates
  expect_reply(
      s.post("/tokenize", "{\"inputs\": \"" + std::string(1001, 'a') + "\"}"), 413,
      R"({"error":"Input validation error: `inputs` must have less than 1000 characters. Given: 1001","error_type":"Validation"})");
  EXPECT_EQ(s.post("/tokenize", "{\"inputs\": \"" + std::string(1000, 'a') + "\"}")->status, 200);
}

TEST(TeiRules, DecodeEmptyIdListIs400Empty) {
  running_server s;
  constexpr std::string_view empty_ids =
      R"({"error":"Input validation error: `input_ids` cannot be empty","error_type":"Empty"})";
  expect_reply(s.post("/decode", R"({"ids": []})"), 400, empty_ids);
  expect_reply(s.post("/decode", R"({"ids": [[1000], []]})"), 400, empty_ids);
}

TEST(TeiRules, DecodeBatchAboveMaxClientBatchSizeIs413) {
  server_options o;
  o.max_client_batch_size = 2;
  running_server s(o);
  expect_reply(
      s.post("/decode", R"({"ids": [[1000], [1001], [1002]]})"), 413,
      R"({"error":"batch size 3 > maximum allowed batch size 2","error_type":"Validation"})");
}

TEST(TeiRules, DecodeSkipsIdsOutsideTheVocabulary) {
  running_server s;  // tokenizers' decode drops ids it does not know; u32 ids above int32 too
  expect_reply(s.post("/decode", R"({"ids": [1000, 5, 4294967295, 2147483648, 1001]})"), 200,
               R"(["good bad"])");
  expect_reply(s.post("/decode", R"({"ids": [[5], [1002]]})"), 200, R"(["","word"])");
  expect_status(s.post("/decode", R"({"ids": [4294967296]})"), 422, "Validation");  // not a u32
}

TEST(ServerHttp, RefusesOptionsThatCannotServeTheModel) {
  server_options o;
  o.max_batch_tokens = 8;
  o.auto_truncate = false;
  server srv(o);
  auto r = srv.set_backend(std::make_unique<fake_backend>(64));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--max-batch-tokens 8"), std::string::npos);
  auto failing = std::make_unique<fake_backend>(64);
  failing->should_fail = true;
  server srv2(server_options{});
  auto r2 = srv2.set_backend(std::move(failing));
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("warm-up"), std::string::npos);
  EXPECT_FALSE(srv2.ready());
}

TEST(ServerHttp, BindFailsOnABusyPort) {
  running_server a;
  server_options o;
  o.port = a.port;
  server b(o);
  auto r = b.bind();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::io);
}

}  // namespace
}  // namespace safetensors::server
