// config.json parsing: DistilBertConfig defaults, labels, pipeline function, and one clear
// message naming the field for each bad input.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "safetensors/model/classifier.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::model;

namespace {

const char* sst2 = R"({
  "activation": "gelu", "architectures": ["DistilBertForSequenceClassification"],
  "attention_dropout": 0.1, "dim": 768, "dropout": 0.1, "finetuning_task": "sst-2",
  "hidden_dim": 3072, "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
  "initializer_range": 0.02, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
  "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": 12, "n_layers": 6,
  "output_past": true, "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
  "sinusoidal_pos_embds": false, "tie_weights_": true, "vocab_size": 30522})";

error parse_error(std::string_view json) {
  auto r = parse_config(json);
  EXPECT_FALSE(r) << json;
  return r ? error{errc::io, ""} : r.error();
}

}  // namespace

TEST(config, sst2_config_parses) {
  auto c = parse_config(sst2);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->architecture, "DistilBertForSequenceClassification");
  EXPECT_EQ(c->dim, 768u);
  EXPECT_EQ(c->n_heads, 12u);
  EXPECT_EQ(c->n_layers, 6u);
  EXPECT_EQ(c->hidden_dim, 3072u);
  EXPECT_EQ(c->vocab_size, 30522u);
  EXPECT_EQ(c->max_position_embeddings, 512u);
  EXPECT_EQ(c->activation, "gelu");
  ASSERT_EQ(c->num_labels(), 2u);
  EXPECT_EQ(c->id2label[1], "POSITIVE");
  EXPECT_EQ(c->label2id.at("NEGATIVE"), 0u);
  EXPECT_EQ(c->default_function(), score_function::softmax);
}

TEST(config, defaults_and_generated_labels) {
  auto c = parse_config(R"({"model_type": "distilbert", "dim": 64, "n_heads": 4})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->n_layers, 6u);
  EXPECT_EQ(c->hidden_dim, 3072u);
  ASSERT_EQ(c->id2label, (std::vector<std::string>{"LABEL_0", "LABEL_1"}));
  EXPECT_EQ(c->label2id.at("LABEL_1"), 1u);
  auto three = parse_config(R"({"model_type": "distilbert", "num_labels": 3})");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->id2label.back(), "LABEL_2");
}

TEST(config, generated_labels_have_their_inverse_up_to_the_limit) {
  // label2id of generated labels is built in key order (src/model/config.cpp): every count, from
  // one label to the limit, has each LABEL_i once, mapped to i.
  for (const std::size_t n :
       {1u, 2u, 9u, 10u, 11u, 99u, 100u, 101u, 1000u, 4321u, 65535u, 65536u}) {
    auto c = parse_config(
        fmt::format(R"({{"model_type": "distilbert", "num_labels": {}, "n_heads": 1}})", n));
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_EQ(c->num_labels(), n);
    ASSERT_EQ(c->label2id.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(c->id2label[i], fmt::format("LABEL_{}", i));
      ASSERT_EQ(c->label2id.at(c->id2label[i]), i);
    }
  }
  EXPECT_NE(parse_error(R"({"model_type": "distilbert", "num_labels": 65537})")
                .message.find("field 'num_labels': 65537 is out of range (1..65536)"),
            std::string::npos);
}

TEST(config, label2id_is_kept_as_given_or_inverts_id2label) {
  auto c = parse_config(
      R"({"model_type": "distilbert", "num_labels": 3, "label2id": {"b": 1, "a": 1}})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->id2label, (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2"}));
  EXPECT_EQ(c->label2id, (std::map<std::string, std::size_t>{{"a", 1}, {"b", 1}}));
  auto twice = parse_config(R"({"model_type": "distilbert", "id2label": {"0": "x", "1": "x"}})");
  ASSERT_TRUE(twice) << twice.error().message;
  EXPECT_EQ(twice->label2id, (std::map<std::string, std::size_t>{{"x", 1}}));  // the last id
}

TEST(config, id2label_keys_are_class_ids_in_any_order) {
  auto c =
      parse_config(R"({"model_type": "distilbert", "id2label": {"2": "c", "0": "a", "1": "b"}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id2label, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(config, default_function_follows_the_pipeline) {
  auto one = parse_config(R"({"model_type": "distilbert", "id2label": {"0": "score"}})");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->default_function(), score_function::sigmoid);
  auto reg = parse_config(
      R"({"model_type": "distilbert", "id2label": {"0": "x"}, "problem_type": "regression"})");
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->default_function(), score_function::none);
  auto multi =
      parse_config(R"({"model_type": "distilbert", "problem_type": "multi_label_classification"})");
  ASSERT_TRUE(multi);
  EXPECT_EQ(multi->default_function(), score_function::sigmoid);
  auto null_type = parse_config(R"({"model_type": "distilbert", "problem_type": null})");
  ASSERT_TRUE(null_type);
  EXPECT_EQ(null_type->default_function(), score_function::softmax);
}

TEST(config, activations) {
  for (const char* a :
       {"gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "quick_gelu"}) {
    auto c = parse_config(std::string(R"({"model_type":"distilbert","activation":")") + a + "\"}");
    EXPECT_TRUE(c) << a;
  }
}

TEST(config, old_config_without_model_type_is_accepted_by_architecture) {
  auto c = parse_config(R"({"architectures": ["DistilBertForSequenceClassification"]})");
  ASSERT_TRUE(c) << c.error().message;
}

TEST(config, bad_inputs_name_the_field) {
  const struct {
    const char* json;
    const char* needle;
  } cases[] = {
      {R"({"model_type": "bert"})", "field 'model_type': is \"bert\""},
      {R"({"dim": 768})", "field 'model_type': is missing"},
      {R"({"model_type": "distilbert", "dim": 768, "n_heads": 7})",
       "field 'n_heads': 7 does not divide dim = 768"},
      {R"({"model_type": "distilbert", "dim": 0})", "field 'dim': 0 is out of range (1..65536)"},
      {R"({"model_type": "distilbert", "dim": -5})", "field 'dim': must be a non-negative integer"},
      {R"({"model_type": "distilbert", "n_layers": "six"})",
       "field 'n_layers': must be a non-negative integer"},
      {R"({"model_type": "distilbert", "vocab_size": 1e9})",
       "field 'vocab_size': must be a non-negative integer"},
      {R"({"model_type": "distilbert", "activation": "gelu_10"})",
       "field 'activation': \"gelu_10\" is not a supported"},
      {R"({"model_type": "distilbert", "activation": 3})", "field 'activation': must be a string"},
      {R"({"model_type": "distilbert", "id2label": {}})", "field 'id2label': is empty"},
      {R"({"model_type": "distilbert", "id2label": {"0": "a", "2": "b"}})",
       "field 'id2label': has id 2 but only 2 labels"},
      {R"({"model_type": "distilbert", "id2label": {"zero": "a"}})",
       "field 'id2label': has key \"zero\""},
      {R"({"model_type": "distilbert", "id2label": {"0": "a", "00": "b"}})",
       "field 'id2label': has id 0 twice"},
      {R"({"model_type": "distilbert", "id2label": {"0": "a", "0": "b"}})",
       "field 'id2label[\"0\"]': duplicate key"},
      {R"({"model_type": "distilbert", "model_type": "distilbert"})",
       "field 'model_type': duplicate key"},
      {R"({"model_type": "distilbert", "id2label": {"0": 1}})",
       "field 'id2label[\"0\"]': must be a string"},
      {R"({"model_type": "distilbert", "id2label": ["a"]})", "field 'id2label': must be an object"},
      {R"({"model_type": "distilbert", "label2id": {"a": 5}})",
       "field 'label2id': maps \"a\" to 5"},
      {R"({"model_type": "distilbert", "problem_type": "ranking"})",
       "field 'problem_type': \"ranking\""},
      {R"({"model_type": "distilbert", "architectures": "DistilBert"})",
       "field 'architectures': must be an array"},
      {R"({"model_type": "distilbert", "num_labels": 0})", "field 'num_labels': 0 is out of range"},
      {R"({"model_type": "distilbert",)", "invalid JSON"},
      {R"([1, 2])", "not a JSON object"},
  };
  for (const auto& c : cases) {
    const auto e = parse_error(c.json);
    EXPECT_EQ(e.code, errc::invalid_model) << c.json;
    EXPECT_NE(e.message.find(c.needle), std::string::npos)
        << e.message << "\n wanted: " << c.needle;
    EXPECT_EQ(e.message.find('\n'), std::string::npos);
  }
}

TEST(config, load_config_reports_missing_and_bad_files) {
  const safetensors::test::temp_dir tmp;
  const auto& dir = tmp.path();
  auto missing = load_config(dir / "config.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::io);
  EXPECT_NE(missing.error().message.find("config.json"), std::string::npos);
  safetensors::test::write_all(dir / "config.json", "{\"model_type\": \"distilbert\", oops}");
  auto bad = load_config(dir / "config.json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_model);
  EXPECT_NE(bad.error().message.find((dir / "config.json").string()), std::string::npos);
  safetensors::test::write_all(dir / "config.json", sst2);
  auto good = load_config(dir / "config.json");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->num_labels(), 2u);
}
