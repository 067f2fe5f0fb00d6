// The engine's forward pass against a float64 reference (padding, batching, the [CLS]-only last
// layer, activations, converted dtypes) and the weight binder's checks and name variants.
#include <gtest/gtest.h>

#include "model/distilbert.hpp"
#include "model_fixture.hpp"

using namespace safetensors;
using namespace safetensors::model;
using namespace safetensors::model::testing;

namespace {

std::vector<std::vector<std::int32_t>> sample_inputs(const distilbert_config& c) {
  std::vector<std::vector<std::int32_t>> r;
  std::mt19937 rng(7);
  for (std::size_t len : {1u, 5u, 17u, 3u, 40u}) {
    std::vector<std::int32_t> ids(len);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng() % c.vocab_size);
    r.push_back(ids);
  }
  return r;
}

std::vector<float> run(detail::distilbert_engine& e,
                       const std::vector<std::vector<std::int32_t>>& inputs, bool cls_only) {
  std::vector<std::span<const std::int32_t>> seqs(inputs.begin(), inputs.end());
  auto r = e.forward(seqs, cls_only);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : std::vector<float>{};
}

void expect_matches_reference(const memory_source& ref_src, const memory_source& run_src,
                              const distilbert_config& c, double tol, bool packed = false) {
  auto w = detail::bind_weights(run_src, c);
  ASSERT_TRUE(w) << w.error().message;
  detail::distilbert_engine engine(c, *w);
  if (packed) {
    auto r = engine.prepack(false);
    ASSERT_TRUE(r) << r.error().message;
  }
  const auto inputs = sample_inputs(c);
  for (bool cls_only : {true, false}) {
    const auto got = run(engine, inputs, cls_only);  // one padded batch
    ASSERT_EQ(got.size(), inputs.size() * c.num_labels());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto want = reference_logits(ref_src, c, inputs[i]);
      for (std::size_t j = 0; j < want.size(); ++j)
        EXPECT_NEAR(got[i * c.num_labels() + j], want[j], tol)
            << "input " << i << " cls_only " << cls_only;
    }
  }
}

}  // namespace

TEST(forward, padded_batch_matches_float64_reference) {
  const auto c = tiny_config();
  const auto src = random_model(c);
  expect_matches_reference(src, src, c, 1e-4);
}

TEST(forward, packed_weights_match_float64_reference) {
  const auto c = tiny_config();
  const auto src = random_model(c);
  expect_matches_reference(src, src, c, 1e-4, true);  // q|k|v as one GEMM, padded batch
}

TEST(forward, packing_only_file_mapped_weights_leaves_memory_weights_in_place) {
  const auto c = tiny_config();
  auto src = random_model(c);
  auto w = detail::bind_weights(src, c);
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->layers[0].q.file_mapped);  // an in-memory source: nothing to release
  detail::distilbert_engine engine(c, *w);
  const auto inputs = sample_inputs(c);
  const auto before = run(engine, inputs, true);
  ASSERT_TRUE(engine.prepack(true));
  EXPECT_EQ(run(engine, inputs, true), before);  // same kernels: bit-identical
}

TEST(forward, packed_and_plain_engines_agree_on_every_layout) {
  const auto c = tiny_config();
  const auto src = random_model(c, 5);
  auto w = detail::bind_weights(src, c);
  ASSERT_TRUE(w);
  detail::distilbert_engine plain(c, *w), packed(c, *w);
  ASSERT_TRUE(packed.prepack(false));
  const auto inputs = sample_inputs(c);
  for (bool cls_only : {true, false}) {
    const auto a = run(plain, inputs, cls_only), b = run(packed, inputs, cls_only);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << i;
    const auto single = run(packed, {inputs[4]}, cls_only);  // batch 1: one [CLS] row
    for (std::size_t j = 0; j < c.num_labels(); ++j)
      EXPECT_NEAR(single[j], b[4 * c.num_labels() + j], 1e-5);
  }
}

TEST(forward, other_activations_match_reference) {
  for (const char* act : {"relu", "gelu_new", "quick_gelu", "silu"}) {
    auto c = tiny_config(2);
    c.activation = act;
    const auto src = random_model(c, 3);
    SCOPED_TRACE(act);
    expect_matches_reference(src, src, c, 1e-4);
  }
}

TEST(forward, batching_does_not_change_results) {
  const auto c = tiny_config();
  const auto src = random_model(c);
  auto w = detail::bind_weights(src, c);
  ASSERT_TRUE(w);
  detail::distilbert_engine engine(c, *w);
  const auto inputs = sample_inputs(c);
  const auto batched = run(engine, inputs, true);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto single = run(engine, {inputs[i]}, true);
    for (std::size_t j = 0; j < c.num_labels(); ++j)
      EXPECT_NEAR(single[j], batched[i * c.num_labels() + j], 1e-5);
  }
}

TEST(weights, f32_is_used_in_place) {
  const auto c = tiny_config();
  const auto src = random_model(c);
  auto w = detail::bind_weights(src, c);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->bytes_converted, 0u);
  EXPECT_TRUE(w->converted.empty());
  std::uint64_t total = 0;
  for (const auto& [n, t] : src.tensors) total += t.bytes.size();
  EXPECT_EQ(w->bytes_in_place, total);
}

TEST(weights, f16_and_bf16_are_converted_once) {
  for (dtype t : {dtype::F16, dtype::BF16}) {
    const auto c = tiny_config();
    auto src = random_model(c);
    src.convert_all(t);  // values now hold the rounded weights
    auto w = detail::bind_weights(src, c);
    ASSERT_TRUE(w) << w.error().message;
    EXPECT_EQ(w->bytes_in_place, 0u);
    EXPECT_GT(w->bytes_converted, 0u);
    SCOPED_TRACE(std::string(dtype_name(t)));
    expect_matches_reference(src, src, c, 1e-4);
  }
}

TEST(weights, misaligned_f32_is_copied) {
  const auto c = tiny_config();
  auto src = random_model(c);
  src.misalign = 2;
  auto w = detail::bind_weights(src, c);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->bytes_in_place, 0u);
  expect_matches_reference(src, src, c, 1e-4);
}

TEST(weights, name_variants_give_the_same_model) {
  const auto c = tiny_config();
  const auto canonical = random_model(c);
  auto variant = canonical;
  std::vector<std::string> names;
  for (const auto& [n, t] : variant.tensors) names.push_back(n);
  for (const auto& n : names) {
    std::string to = n;
    if (to.rfind("distilbert.", 0) == 0) to = to.substr(11);  // DistilBertModel-style names
    for (const char* ln : {"LayerNorm", "sa_layer_norm", "output_layer_norm"}) {
      const std::string w = std::string(ln) + ".weight", b = std::string(ln) + ".bias";
      if (to.size() > w.size() && to.compare(to.size() - w.size(), w.size(), w) == 0)
        to = to.substr(0, to.size() - 6) + "gamma";
      else if (to.size() > b.size() && to.compare(to.size() - b.size(), b.size(), b) == 0)
        to = to.substr(0, to.size() - 4) + "beta";
    }
    variant.rename(n, to);
  }
  ASSERT_TRUE(variant.contains("transformer.layer.0.sa_layer_norm.gamma"));
  ASSERT_TRUE(variant.contains("embeddings.LayerNorm.beta"));
  expect_matches_reference(canonical, variant, c, 1e-4);
}

namespace {
error bind_error(const memory_source& src, const distilbert_config& c) {
  auto w = detail::bind_weights(src, c);
  EXPECT_FALSE(w);
  return w ? error{errc::io, ""} : w.error();
}
}  // namespace

TEST(weights, wrong_shape_names_tensor_and_both_shapes) {
  const auto c = tiny_config();
  auto src = random_model(c);
  src.put("distilbert.transformer.layer.1.ffn.lin1.weight", {32, 48}, std::vector<float>(32 * 48));
  const auto e = bind_error(src, c);
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_NE(e.message.find("'distilbert.transformer.layer.1.ffn.lin1.weight' has shape [32, 48], "
                           "the config implies [48, 32]"),
            std::string::npos)
      << e.message;
  auto labels = tiny_config(5);  // config says 5 labels, checkpoint has 3
  const auto e2 = bind_error(random_model(tiny_config(3)), labels);
  EXPECT_NE(e2.message.find("'classifier.weight' has shape [3, 32], the config implies [5, 32]"),
            std::string::npos)
      << e2.message;
}

TEST(weights, missing_tensor_is_named) {
  const auto c = tiny_config();
  auto src = random_model(c);
  src.tensors.erase("distilbert.transformer.layer.1.attention.v_lin.bias");
  const auto e = bind_error(src, c);
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_NE(e.message.find("'distilbert.transformer.layer.1.attention.v_lin.bias' not found"),
            std::string::npos)
      << e.message;
  EXPECT_NE(e.message.find("memory.safetensors"), std::string::npos);
}

TEST(weights, masked_lm_checkpoint_is_refused) {
  const auto c = tiny_config();
  auto src = random_model(c);
  for (const char* n :
       {"pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"})
    src.tensors.erase(n);
  src.put("vocab_transform.weight", {32, 32}, std::vector<float>(32 * 32));
  src.put("vocab_projector.bias", {50}, std::vector<float>(50));
  const auto e = bind_error(src, c);
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_NE(e.message.find("masked-LM checkpoint"), std::string::npos) << e.message;
  src.tensors.erase("vocab_transform.weight");
  src.tensors.erase("vocab_projector.bias");
  const auto headless = bind_error(src, c);
  EXPECT_NE(headless.message.find("no classifier head"), std::string::npos) << headless.message;
}

TEST(weights, unsupported_dtype_is_refused) {
  const auto c = tiny_config();
  auto src = random_model(c);
  src.tensors["classifier.bias"].type = dtype::I32;
  const auto e = bind_error(src, c);
  EXPECT_NE(e.message.find("'classifier.bias' has dtype I32"), std::string::npos) << e.message;
}
