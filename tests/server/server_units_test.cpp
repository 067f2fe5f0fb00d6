// Request parsing, batch planning and metrics: the server's pure parts.
#include <gtest/gtest.h>

#include "server/batcher.hpp"
#include "server/metrics.hpp"
#include "server/request_parse.hpp"

namespace safetensors::server::detail {
namespace {

TEST(ParsePredict, SingleText) {
  auto r = parse_predict(R"({"inputs": "I like you."})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->shape, predict_shape::single);
  ASSERT_EQ(r->inputs.size(), 1u);
  EXPECT_EQ(r->inputs[0].first, "I like you.");
  EXPECT_FALSE(r->inputs[0].second);
  EXPECT_FALSE(r->truncate);
  EXPECT_FALSE(r->raw_scores);
}

TEST(ParsePredict, ListOfOneIsSingleAndTwoIsAPair) {
  auto one = parse_predict(R"({"inputs": ["a"]})");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->shape, predict_shape::single);
  EXPECT_FALSE(one->inputs[0].second);
  auto pair = parse_predict(
      R"({"inputs": ["a", "b"], "truncate": false, "truncation_direction": "Left", "raw_scores": true})");
  ASSERT_TRUE(pair) << pair.error().message;
  EXPECT_EQ(pair->shape, predict_shape::single);
  ASSERT_EQ(pair->inputs.size(), 1u);
  EXPECT_EQ(pair->inputs[0].first, "a");
  EXPECT_EQ(*pair->inputs[0].second, "b");
  EXPECT_EQ(pair->truncate, std::optional<bool>(false));
  EXPECT_EQ(pair->direction, model::truncation_side::left);
  EXPECT_TRUE(pair->raw_scores);
}

TEST(ParsePredict, BatchOfSinglesAndPairs) {
  auto r = parse_predict(R"({"inputs": [["x"], ["y", "z"], ["w"]], "truncate": null})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->shape, predict_shape::batch);
  ASSERT_EQ(r->inputs.size(), 3u);
  EXPECT_EQ(*r->inputs[1].second, "z");
  EXPECT_FALSE(r->truncate);
}

TEST(ParsePredict, FastApiShape) {
  auto r = parse_predict(R"({"text": "great film"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->shape, predict_shape::fastapi);
  EXPECT_EQ(r->inputs[0].first, "great film");
}

void expect_error(std::string_view body, int status, std::string_view type,
                  std::string_view fragment) {
  auto r = parse_predict(body);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().status, status) << body;
  EXPECT_EQ(r.error().type, type) << body;
  EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
}

TEST(ParsePredict, Errors) {
  expect_error("", 422, "Validation", "empty");
  expect_error("{\"inputs\": ", 422, "Validation", "request body: invalid JSON");
  expect_error("[1]", 422, "Validation", "request body: not a JSON object");
  expect_error("{}", 422, "Validation", "request body: field 'inputs': is missing");
  expect_error(R"({"inputs": []})", 422, "Validation",
               "`inputs` cannot be empty");  // TEI: serde invalid_length
  expect_error(R"({"inputs": 3})", 422, "Validation", "field 'inputs': must be");
  expect_error(R"({"inputs": ["a", "b", "c"]})", 422, "Validation", "not 3");
  expect_error(R"({"inputs": [["a"], "b"]})", 422, "Validation", "field 'inputs[1]'");
  expect_error(R"({"inputs": [["a"], []]})", 422, "Validation", "not 0");
  expect_error(R"({"inputs": [["a", 1]]})", 422, "Validation",
               "field 'inputs[0][1]': must be a string");
  expect_error(R"({"inputs": "a", "inputs": "b"})", 422, "Validation",
               "field 'inputs': duplicate key");
  expect_error(R"({"inputs": "a", "extra": {"k": 1, "k": 2}})", 422, "Validation",
               "field 'extra.k': duplicate key");
  expect_error(R"({"inputs": "a", "truncate": "yes"})", 422, "Validation",
               "field 'truncate': must be true or false");
  expect_error(R"({"inputs": "a", "truncation_direction": "up"})", 422, "Validation",
               "field 'truncation_direction'");
  expect_error(R"({"inputs": "a", "raw_scores": 1})", 422, "Validation", "field 'raw_scores'");
  expect_error(R"({"inputs": "a", "text": "b"})", 422, "Validation", "not both");
  expect_error(R"({"text": 5})", 422, "Validation", "field 'text': must be a string");
}

TEST(ParseTokenizeDecode, Shapes) {
  auto t = parse_tokenize(R"({"inputs": ["a", "b"], "add_special_tokens": false})");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->inputs.size(), 2u);
  EXPECT_FALSE(t->add_special_tokens);
  EXPECT_TRUE(parse_tokenize(R"({"inputs": "a"})")->add_special_tokens);
  EXPECT_TRUE(parse_tokenize(R"({"inputs": []})")->inputs.empty());  // the handler answers it
  EXPECT_EQ(parse_tokenize(R"({"inputs": [1]})").error().status, 422);

  auto d = parse_decode(R"({"ids": [101, 7, 102]})");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->ids.size(), 1u);
  EXPECT_EQ(d->ids[0], (std::vector<std::uint32_t>{101, 7, 102}));
  EXPECT_TRUE(d->skip_special_tokens);
  auto dd = parse_decode(R"({"ids": [[1], [2, 3]], "skip_special_tokens": false})");
  ASSERT_TRUE(dd);
  EXPECT_EQ(dd->ids.size(), 2u);
  EXPECT_FALSE(dd->skip_special_tokens);
  EXPECT_EQ(parse_decode(R"({"ids": [-1]})").error().status, 422);
  EXPECT_EQ(parse_decode(R"({"ids": [4294967295]})")->ids[0],
            (std::vector<std::uint32_t>{4294967295u}));  // TEI's u32
  EXPECT_EQ(parse_decode(R"({"ids": [4294967296]})").error().status, 422);
  EXPECT_TRUE(parse_decode(R"({"ids": []})")->ids.at(0).empty());  // one empty list, as TEI's
                                                                   // untagged InputIds
  EXPECT_EQ(parse_decode(R"({"ids": [1.5]})").error().status, 422);
  EXPECT_EQ(parse_decode(R"({"ids": [[1], 2]})").error().status, 422);
  EXPECT_EQ(parse_decode(R"({"idz": []})").error().status, 422);
  EXPECT_NE(parse_decode(R"({"ids": [[1], [2, -3]]})")
                .error()
                .message.find("field 'ids[1][1]': must be a token id"),
            std::string::npos);
  EXPECT_EQ(parse_decode(R"({"ids": [1], "ids": [2]})").error().status, 422);
  EXPECT_EQ(
      parse_tokenize(R"({"inputs": "a", "add_special_tokens": "no"})").error().message,
      "Input validation error: request body: field 'add_special_tokens': must be true or false");
}

TEST(BatchPlan, NextBatchSizeHonoursTokenAndRequestBudgets) {
  const std::vector<std::size_t> lens{10, 10, 10, 10};
  EXPECT_EQ(next_batch_size(lens, {100, 64}), 4u);
  EXPECT_EQ(next_batch_size(lens, {100, 3}), 3u);
  EXPECT_EQ(next_batch_size(lens, {25, 64}), 2u);  // 10 x 3 > 25
  // The longest sets the padded width: 10, 40 -> 2 x 40 = 80 > 60.
  EXPECT_EQ(next_batch_size(std::vector<std::size_t>{10, 40, 5}, {60, 64}), 1u);
  // A single input larger than the budget still runs alone.
  EXPECT_EQ(next_batch_size(std::vector<std::size_t>{500}, {100, 64}), 1u);
  EXPECT_EQ(next_batch_size(std::vector<std::size_t>{}, {100, 64}), 0u);
}

TEST(BatchPlan, PaddingGroupsSplitVeryDifferentLengths) {
  EXPECT_EQ(padding_groups(std::vector<std::size_t>{100, 98, 95, 90}),
            (std::vector<std::size_t>{4}));
  EXPECT_EQ(padding_groups(std::vector<std::size_t>{500, 20, 19, 18}),
            (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(padding_groups(std::vector<std::size_t>{7}), (std::vector<std::size_t>{1}));
  EXPECT_TRUE(padding_groups(std::vector<std::size_t>{}).empty());
}

TEST(Metrics, PrometheusText) {
  metrics m;
  m.inc("te_request_count", "method=\"single\"");
  m.inc("te_request_count", "method=\"single\"");
  m.inc("te_request_failure", "err=\"overloaded\"", 3);
  m.observe("te_batch_next_size", 3);
  m.set_gauge("te_queue_size", 5);
  m.inc("no_such_metric");
  const std::string text = m.render();
  EXPECT_NE(text.find("# TYPE te_request_count counter\n"), std::string::npos);
  EXPECT_NE(text.find("te_request_count{method=\"single\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("te_request_failure{err=\"overloaded\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE te_batch_next_size histogram\n"), std::string::npos);
  EXPECT_NE(text.find("te_batch_next_size_bucket{le=\"2\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("te_batch_next_size_bucket{le=\"4\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("te_batch_next_size_bucket{le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("te_batch_next_size_sum 3\n"), std::string::npos);
  EXPECT_NE(text.find("te_queue_size 5\n"), std::string::npos);
  EXPECT_NE(text.find("te_request_success 0\n"), std::string::npos);
  EXPECT_EQ(text.find("no_such_metric"), std::string::npos);
}

}  // namespace
}  // namespace safetensors::server::detail
