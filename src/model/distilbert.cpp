// Forward pass. Layout: h is [batch, len, dim] (row b*len+i); q, k and v are three dense
// [batch*len, dim] blocks of one buffer (dense outputs let oneDNN pick its brgemm kernels; a
// strided destination falls back to the slower gemm path), and the attention GEMMs read heads
// in place through strides (no transposes).
#include "model/distilbert.hpp"

#include <algorithm>
#include <cmath>

#include "model/kernels.hpp"

namespace safetensors::model::detail {
namespace {

constexpr float layer_norm_eps = 1e-12f;  // hard-coded in every DistilBERT LayerNorm

template <class T>
T* sized(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

distilbert_engine::distilbert_engine(const distilbert_config& cfg, const model_weights& w)
    : cfg_(cfg), w_(w), act_(activation_from_name(cfg.activation).value_or(activation_kind::gelu_erf)) {}

result<void> distilbert_engine::attention(std::span<const std::span<const std::int32_t>> seqs,
                                          std::size_t len, bool cls_only) {
  const std::size_t b = seqs.size(), d = cfg_.dim, heads = cfg_.n_heads, hd = d / heads;
  const std::size_t q_len = cls_only ? 1 : len;
  const attention_shape shape{b, heads, hd, q_len, len};
  const std::size_t block = b * len * d;  // q, k, v blocks in qkv_
  const head_view q = cls_only ? head_view{q_cls_.data(), d, d} : head_view{qkv_.data(), len * d, d};
  const head_view k{qkv_.data() + block, len * d, d}, v{qkv_.data() + 2 * block, len * d, d};
  float* scores = sized(scores_, b * heads * q_len * len);
  if (auto r = gemm_.attention_scores(q, k, shape, 1.f / std::sqrt(static_cast<float>(hd)), scores); !r)
    return r;
  const bool padded = std::any_of(seqs.begin(), seqs.end(), [&](auto s) { return s.size() != len; });
  if (!padded) {
    masked_softmax(scores, b * heads * q_len, len, len);
  } else {
    for (std::size_t i = 0; i < b; ++i)
      masked_softmax(scores + i * heads * q_len * len, heads * q_len, len, seqs[i].size());
  }
  const std::size_t ctx_batch_stride = cls_only ? d : len * d;
  return gemm_.attention_context(scores, v, shape, ctx_.data(), ctx_batch_stride, d);
}

result<void> distilbert_engine::layer(const layer_weights& lw,
                                      std::span<const std::span<const std::int32_t>> seqs,
                                      std::size_t len, bool cls_only) {
  const std::size_t b = seqs.size(), d = cfg_.dim, rows = b * len;
  const const_matrix_ref all{h_.data(), rows, d};
  float* const q = qkv_.data();
  float* const k = q + rows * d;
  float* const v = k + rows * d;
  // Rows that continue past attention: every token, or each sequence's [CLS] (stride len*d).
  const matrix_ref out = cls_only ? matrix_ref{h_.data(), b, len * d} : matrix_ref{h_.data(), rows, d};
  const const_matrix_ref out_in{out.data, out.rows, out.ld};
  if (cls_only) {
    if (auto r = gemm_.linear(out_in, lw.q, {sized(q_cls_, b * d), b, d}); !r) return r;
  } else if (auto r = gemm_.linear(all, lw.q, {q, rows, d}); !r) {
    return r;
  }
  if (auto r = gemm_.linear(all, lw.k, {k, rows, d}); !r) return r;
  if (auto r = gemm_.linear(all, lw.v, {v, rows, d}); !r) return r;
  if (auto r = attention(seqs, len, cls_only); !r) return r;
  // out_lin + residual (sum post-op into h), then sa_layer_norm.
  const const_matrix_ref ctx{ctx_.data(), out.rows, d};
  if (auto r = gemm_.linear(ctx, lw.out, out, activation_kind::identity, true); !r) return r;
  layer_norm(out.data, out.rows, out.ld, d, lw.sa_gamma, lw.sa_beta, layer_norm_eps);
  // FFN: lin1 + activation, lin2 + residual, output_layer_norm.
  const matrix_ref ffn{sized(ffn_, out.rows * cfg_.hidden_dim), out.rows, cfg_.hidden_dim};
  if (auto r = gemm_.linear(out_in, lw.lin1, ffn, act_); !r) return r;
  if (auto r = gemm_.linear({ffn.data, ffn.rows, ffn.ld}, lw.lin2, out, activation_kind::identity, true); !r)
    return r;
  layer_norm(out.data, out.rows, out.ld, d, lw.out_gamma, lw.out_beta, layer_norm_eps);
  return {};
}

result<std::vector<float>> distilbert_engine::head(std::size_t batch, std::size_t len) {
  const std::size_t d = cfg_.dim;
  const const_matrix_ref cls{h_.data(), batch, len * d};
  const matrix_ref pooled{sized(pooled_, batch * d), batch, d};
  if (auto r = gemm_.linear(cls, w_.pre_classifier, pooled, activation_kind::relu); !r)
    return tl::unexpected(r.error());
  std::vector<float> logits(batch * cfg_.num_labels());
  if (auto r = gemm_.linear({pooled.data, batch, d}, w_.classifier, {logits.data(), batch, cfg_.num_labels()}); !r)
    return tl::unexpected(r.error());
  return logits;
}

result<std::vector<float>> distilbert_engine::forward(std::span<const std::span<const std::int32_t>> seqs,
                                                      bool cls_only_last_layer) {
  if (seqs.empty()) return std::vector<float>{};
  std::size_t len = 0;
  for (auto s : seqs) len = std::max(len, s.size());
  const std::size_t b = seqs.size(), d = cfg_.dim, rows = b * len;
  float* h = sized(h_, rows * d);
  sized(qkv_, rows * 3 * d);
  sized(ctx_, rows * d);
  for (std::size_t i = 0; i < b; ++i) embed_sequence(seqs[i], w_.word, w_.pos, d, len, h + i * len * d);
  layer_norm(h, rows, d, d, w_.emb_gamma, w_.emb_beta, layer_norm_eps);
  for (std::size_t l = 0; l < w_.layers.size(); ++l) {
    const bool cls_only = cls_only_last_layer && l + 1 == w_.layers.size();
    if (auto r = layer(w_.layers[l], seqs, len, cls_only); !r) return tl::unexpected(r.error());
  }
  return head(b, len);
}

}  // namespace safetensors::model::detail
