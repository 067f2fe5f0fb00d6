// Forward pass. Layout: h is [batch, len, dim] (row b*len+i). Packed layers compute q|k|v with
// one GEMM into rows of 3*dim; unpacked ones write three dense [batch*len, dim] blocks (dense
// outputs let oneDNN pick its brgemm kernels; a strided destination falls back to the slower
// gemm path). The attention GEMMs read heads in place through strides (no transposes).
#include "model/distilbert.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/try.hpp"
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

namespace {

weight_type packed_type_for(gemm_precision p) {
  switch (p) {
    case gemm_precision::bf16:
      return weight_type::bf16_packed;
    case gemm_precision::int8:
      return weight_type::s8_packed;
    case gemm_precision::f32:
      break;
  }
  return weight_type::f32_packed;
}

}  // namespace

distilbert_engine::distilbert_engine(const distilbert_config& cfg, const model_weights& w,
                                     gemm_precision precision)
    : cfg_(cfg),
      w_(w),
      emb_gamma_(w.emb_gamma),
      emb_beta_(w.emb_beta),
      pre_classifier_(w.pre_classifier),
      classifier_(w.classifier),
      act_(activation_from_name(cfg.activation).value_or(activation_kind::gelu_erf)),
      packed_type_(packed_type_for(precision)),
      gemm_(gemm_engine::max_cached_primitives,
            precision == gemm_precision::bf16 ||
                (precision == gemm_precision::int8 && native_bf16())) {
  for (const auto& l : w.layers)
    ops_.push_back({{l.sa_gamma, l.sa_beta, l.out_gamma, l.out_beta},
                    {},
                    {},
                    l.q,
                    l.k,
                    l.v,
                    l.out,
                    l.lin1,
                    l.lin2});
}

namespace {

std::size_t weight_bytes(const linear_weights& w) {
  return w.out * w.in * (w.type == weight_type::bf16 ? 2 : sizeof(float));
}

void populate_if_mapped(const linear_weights& w) {
  if (w.file_mapped) populate_mapped_pages(w.weight, weight_bytes(w));
}

void release_if_mapped(const linear_weights& w) {
  if (w.file_mapped) release_mapped_pages(w.weight, weight_bytes(w));
}

}  // namespace

void distilbert_engine::populate_mapped_weights() const noexcept {
  for (const auto& op : ops_)
    for (const auto* w : {&op.q, &op.k, &op.v, &op.out, &op.lin1, &op.lin2}) populate_if_mapped(*w);
  populate_if_mapped(pre_classifier_);
  populate_if_mapped(classifier_);
}

const float* distilbert_engine::owned_copy(const float* v) {
  return owned_norms_.emplace_back(v, v + cfg_.dim).data();
}

result<void> distilbert_engine::prepack(bool only_file_mapped) {
  // The file-mapped weights packed (pack() reads them piece by piece and drops each piece).
  std::vector<linear_weights> packed_sources;
  const auto pack_one = [&](linear_weights& w) -> result<void> {
    packed_sources.push_back(w);
    w = ST_TRY(gemm_.pack({&w, 1}, packed_type_));
    return {};
  };
  for (auto& op : ops_) {
    const linear_weights* parts[] = {&op.q, &op.k, &op.v, &op.out, &op.lin1, &op.lin2};
    if (only_file_mapped &&
        !std::all_of(std::begin(parts), std::end(parts), [](auto p) { return p->file_mapped; }))
      continue;
    // The last layer may compute queries for [CLS] rows only: q stays a GEMM of its own there.
    const bool last = &op == &ops_.back();
    if (last) {
      packed_sources.insert(packed_sources.end(), {op.k, op.v});
      op.kv = ST_TRY(gemm_.pack(std::array{op.k, op.v}, packed_type_));
      ST_TRY(pack_one(op.q));
    } else {
      packed_sources.insert(packed_sources.end(), {op.q, op.k, op.v});
      op.qkv = ST_TRY(gemm_.pack(std::array{op.q, op.k, op.v}, packed_type_));
    }
    for (auto* w : {&op.out, &op.lin1, &op.lin2}) ST_TRY(pack_one(*w));
    // Packed layers read nothing else from the checkpoint but their LayerNorm vectors.
    op.norms = {owned_copy(op.norms.sa_gamma), owned_copy(op.norms.sa_beta),
                owned_copy(op.norms.out_gamma), owned_copy(op.norms.out_beta)};
  }
  for (auto* w : {&pre_classifier_, &classifier_}) {
    if (only_file_mapped && !w->file_mapped) continue;
    ST_TRY(pack_one(*w));
  }
  gemm_.end_packing();
  if (packed_sources.empty()) return {};
  emb_gamma_ = owned_copy(emb_gamma_);
  emb_beta_ = owned_copy(emb_beta_);
  // A fault maps the page cache's whole folio around its address, neighbours included: the
  // weights packed earlier may have come back in part while later ones were read.
  for (const auto& w : packed_sources) release_if_mapped(w);
  return {};
}

result<void> distilbert_engine::attention(std::span<const std::span<const std::int32_t>> seqs,
                                          std::size_t len, bool cls_only, head_view q, head_view k,
                                          head_view v) {
  const std::size_t b = seqs.size(), d = cfg_.dim, heads = cfg_.n_heads, hd = d / heads;
  const std::size_t q_len = cls_only ? 1 : len;
  const attention_shape shape{b, heads, hd, q_len, len};
  float* scores = sized(scores_, b * heads * q_len * len);
  ST_TRY(gemm_.attention_scores(q, k, shape, 1.f / std::sqrt(static_cast<float>(hd)), scores));
  const bool padded =
      std::any_of(seqs.begin(), seqs.end(), [&](auto s) { return s.size() != len; });
  if (!padded) {
    masked_softmax(scores, b * heads * q_len, len, len);
  } else {
    for (std::size_t i = 0; i < b; ++i)
      masked_softmax(scores + i * heads * q_len * len, heads * q_len, len, seqs[i].size());
  }
  const std::size_t ctx_batch_stride = cls_only ? d : len * d;
  return gemm_.attention_context(scores, v, shape, ctx_.data(), ctx_batch_stride, d);
}

result<void> distilbert_engine::layer(const layer_ops& lw,
                                      std::span<const std::span<const std::int32_t>> seqs,
                                      std::size_t len, bool cls_only) {
  const std::size_t b = seqs.size(), d = cfg_.dim, rows = b * len;
  const const_matrix_ref all{h_.data(), rows, d};
  // Rows that continue past attention: every token, or each sequence's [CLS] row gathered into
  // a dense block (oneDNN's kernels for packed weights take dense operands only).
  matrix_ref out{h_.data(), rows, d};
  if (cls_only) out = gather_cls(b, len);
  const const_matrix_ref out_in{out.data, out.rows, out.ld};
  float* const qkv = qkv_.data();
  if (lw.qkv.out != 0) {
    // One GEMM: row r of `joined` holds q | k | v. They are split into the three dense blocks
    // (a copy far cheaper than the attention GEMMs oneDNN runs slowly on 3*dim-strided heads).
    // With BF16 attention the conversion makes the dense copies: no split.
    float* const joined = sized(ffn_, rows * 3 * d);  // the FFN buffer is free until lin1
    ST_TRY(gemm_.linear(all, lw.qkv, {joined, rows, 3 * d}));
    if (gemm_.attention_bf16()) {
      const head_view q{joined, len * 3 * d, 3 * d}, k{joined + d, len * 3 * d, 3 * d},
          v{joined + 2 * d, len * 3 * d, 3 * d};
      ST_TRY(attention(seqs, len, cls_only, q, k, v));
    } else {
      split_columns(joined, rows, d, 3, qkv);
      const head_view q{qkv, len * d, d}, k{qkv + rows * d, len * d, d},
          v{qkv + 2 * rows * d, len * d, d};
      ST_TRY(attention(seqs, len, cls_only, q, k, v));
    }
  } else {
    float* const k = qkv + rows * d;
    float* const v = k + rows * d;
    if (cls_only) {
      ST_TRY(gemm_.linear(out_in, lw.q, {sized(q_cls_, b * d), b, d}));
    } else {
      ST_TRY(gemm_.linear(all, lw.q, {qkv, rows, d}));
    }
    if (lw.kv.out != 0) {  // k | v joined, split as above
      float* const joined = sized(ffn_, rows * 2 * d);
      ST_TRY(gemm_.linear(all, lw.kv, {joined, rows, 2 * d}));
      split_columns(joined, rows, d, 2, k);
    } else {
      ST_TRY(gemm_.linear(all, lw.k, {k, rows, d}));
      ST_TRY(gemm_.linear(all, lw.v, {v, rows, d}));
    }
    const head_view q = cls_only ? head_view{q_cls_.data(), d, d} : head_view{qkv, len * d, d};
    ST_TRY(attention(seqs, len, cls_only, q, {k, len * d, d}, {v, len * d, d}));
  }
  // out_lin + residual (sum post-op into h), then sa_layer_norm.
  const const_matrix_ref ctx{ctx_.data(), out.rows, d};
  ST_TRY(gemm_.linear(ctx, lw.out, out, activation_kind::identity, true));
  layer_norm(out.data, out.rows, out.ld, d, lw.norms.sa_gamma, lw.norms.sa_beta, layer_norm_eps);
  // FFN: lin1 + activation, lin2 + residual, output_layer_norm.
  const matrix_ref ffn{sized(ffn_, out.rows * cfg_.hidden_dim), out.rows, cfg_.hidden_dim};
  ST_TRY(gemm_.linear(out_in, lw.lin1, ffn, act_));
  ST_TRY(gemm_.linear({ffn.data, ffn.rows, ffn.ld}, lw.lin2, out, activation_kind::identity, true));
  layer_norm(out.data, out.rows, out.ld, d, lw.norms.out_gamma, lw.norms.out_beta, layer_norm_eps);
  return {};
}

matrix_ref distilbert_engine::gather_cls(std::size_t batch, std::size_t len) {
  const std::size_t d = cfg_.dim;
  float* cls = sized(cls_, batch * d);
  for (std::size_t i = 0; i < batch; ++i) std::copy_n(h_.data() + i * len * d, d, cls + i * d);
  return {cls, batch, d};
}

result<std::vector<float>> distilbert_engine::head(std::size_t batch) {
  const std::size_t d = cfg_.dim;
  const const_matrix_ref cls{cls_.data(), batch, d};
  const matrix_ref pooled{sized(pooled_, batch * d), batch, d};
  ST_TRY(gemm_.linear(cls, pre_classifier_, pooled, activation_kind::relu));
  std::vector<float> logits(batch * cfg_.num_labels());
  ST_TRY(gemm_.linear({pooled.data, batch, d}, classifier_,
                      {logits.data(), batch, cfg_.num_labels()}));
  return logits;
}

result<std::vector<float>> distilbert_engine::forward(
    std::span<const std::span<const std::int32_t>> seqs, bool cls_only_last_layer) {
  if (seqs.empty()) return std::vector<float>{};
  std::size_t len = 0;
  for (auto s : seqs) len = std::max(len, s.size());
  const std::size_t b = seqs.size(), d = cfg_.dim, rows = b * len;
  float* h = sized(h_, rows * d);
  sized(qkv_, rows * 3 * d);
  sized(ctx_, rows * d);
  for (std::size_t i = 0; i < b; ++i)
    embed_sequence(seqs[i], w_.word, w_.pos, d, len, h + i * len * d);
  layer_norm(h, rows, d, d, emb_gamma_, emb_beta_, layer_norm_eps);
  for (std::size_t l = 0; l < ops_.size(); ++l) {
    const bool cls_only = cls_only_last_layer && l + 1 == ops_.size();
    ST_TRY(layer(ops_[l], seqs, len, cls_only));
  }
  if (!cls_only_last_layer || ops_.empty())
    gather_cls(b, len);  // else the last layer left them there
  return head(b);
}

}  // namespace safetensors::model::detail
