// Test helpers for the DistilBERT engine: an in-memory weight source with random weights for a
// small config, and a straightforward float64 reference forward (docs/MODEL.md "Forward pass").
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/kernels.hpp"
#include "model/weights.hpp"

namespace safetensors::model::testing {

struct stored_tensor {
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> bytes;
  std::vector<float> values;  // the F32 values (before any dtype change)
};

class memory_source final : public detail::weight_source {
 public:
  std::map<std::string, stored_tensor, std::less<>> tensors;
  std::string name = "memory.safetensors";
  std::size_t misalign = 0;  // serve every tensor from an address offset by this many bytes

  bool contains(std::string_view n) const override { return tensors.find(n) != tensors.end(); }
  result<detail::raw_tensor> get(std::string_view n) const override {
    auto it = tensors.find(n);
    if (it == tensors.end()) return fail(errc::tensor_not_found, std::string(n));
    auto& buf = buffers_[std::string(n)];
    buf.assign(it->second.bytes.size() + misalign + 8, std::byte{0});
    auto* base = buf.data() + (8 - reinterpret_cast<std::uintptr_t>(buf.data()) % 8) % 8 + misalign;
    if (!it->second.bytes.empty())
      std::memcpy(base, it->second.bytes.data(), it->second.bytes.size());
    return detail::raw_tensor{
        it->second.type, it->second.shape, {base, it->second.bytes.size()}, {}};
  }
  const std::string& origin() const noexcept override { return name; }

  void put(const std::string& n, std::vector<std::uint64_t> shape, std::vector<float> v) {
    stored_tensor t{dtype::F32, std::move(shape), {}, std::move(v)};
    t.bytes.resize(t.values.size() * 4);
    std::memcpy(t.bytes.data(), t.values.data(), t.bytes.size());
    tensors[n] = std::move(t);
  }
  /// Re-encode every tensor as `to` (F16/BF16) and round `values` accordingly.
  void convert_all(dtype to) {
    for (auto& [n, t] : tensors) {
      std::vector<std::byte> out(t.values.size() * 2);
      (void)convert_elements(dtype::F32, t.bytes, to, out, t.values.size());
      std::vector<std::byte> back(t.values.size() * 4);
      (void)convert_elements(to, out, dtype::F32, back, t.values.size());
      std::memcpy(t.values.data(), back.data(), back.size());
      t.type = to;
      t.bytes = std::move(out);
    }
  }
  void rename(const std::string& from, const std::string& to) {
    auto node = tensors.extract(from);
    node.key() = to;
    tensors.insert(std::move(node));
  }
  const std::vector<float>& values(const std::string& n) const { return tensors.at(n).values; }

 private:
  mutable std::map<std::string, std::vector<std::byte>> buffers_;
};

inline distilbert_config tiny_config(std::size_t labels = 3) {
  distilbert_config c;
  c.dim = 32;
  c.n_heads = 4;
  c.n_layers = 2;
  c.hidden_dim = 48;
  c.vocab_size = 50;
  c.max_position_embeddings = 40;
  for (std::size_t i = 0; i < labels; ++i) c.id2label.push_back(fmt::format("LABEL_{}", i));
  return c;
}

/// Random weights under the canonical names ("distilbert." prefix).
inline memory_source random_model(const distilbert_config& c, unsigned seed = 1) {
  memory_source s;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 0.2f);
  auto rnd = [&](std::size_t n, float mean = 0.f) {
    std::vector<float> v(n);
    for (auto& x : v) x = mean + normal(rng);
    return v;
  };
  const auto d = c.dim, h = c.hidden_dim;
  s.put("distilbert.embeddings.word_embeddings.weight", {c.vocab_size, d}, rnd(c.vocab_size * d));
  s.put("distilbert.embeddings.position_embeddings.weight", {c.max_position_embeddings, d},
        rnd(c.max_position_embeddings * d));
  s.put("distilbert.embeddings.LayerNorm.weight", {d}, rnd(d, 1.f));
  s.put("distilbert.embeddings.LayerNorm.bias", {d}, rnd(d));
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    const auto p = fmt::format("distilbert.transformer.layer.{}.", l);
    for (const char* n :
         {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"}) {
      s.put(p + n + ".weight", {d, d}, rnd(d * d));
      s.put(p + n + ".bias", {d}, rnd(d));
    }
    s.put(p + "ffn.lin1.weight", {h, d}, rnd(h * d));
    s.put(p + "ffn.lin1.bias", {h}, rnd(h));
    s.put(p + "ffn.lin2.weight", {d, h}, rnd(d * h));
    s.put(p + "ffn.lin2.bias", {d}, rnd(d));
    for (const char* n : {"sa_layer_norm", "output_layer_norm"}) {
      s.put(p + n + ".weight", {d}, rnd(d, 1.f));
      s.put(p + n + ".bias", {d}, rnd(d));
    }
  }
  s.put("pre_classifier.weight", {d, d}, rnd(d * d));
  s.put("pre_classifier.bias", {d}, rnd(d));
  s.put("classifier.weight", {c.num_labels(), d}, rnd(c.num_labels() * d));
  s.put("classifier.bias", {c.num_labels()}, rnd(c.num_labels()));
  return s;
}

/// float64 forward of one unpadded sequence over the canonical names (no batching, no mask).
inline std::vector<double> reference_logits(const memory_source& s, const distilbert_config& c,
                                            const std::vector<std::int32_t>& ids) {
  using mat = std::vector<std::vector<double>>;
  const std::size_t n = ids.size(), d = c.dim, heads = c.n_heads, hd = d / heads;
  const auto act = detail::activation_from_name(c.activation).value();
  auto w = [&](const std::string& name) { return s.values(name); };
  auto linear = [&](const mat& x, const std::string& p) {
    const auto W = w(p + ".weight"), B = w(p + ".bias");
    const std::size_t out = B.size(), in = x[0].size();
    mat y(x.size(), std::vector<double>(out));
    for (std::size_t r = 0; r < x.size(); ++r)
      for (std::size_t o = 0; o < out; ++o) {
        double acc = B[o];
        for (std::size_t i = 0; i < in; ++i) acc += x[r][i] * W[o * in + i];
        y[r][o] = acc;
      }
    return y;
  };
  auto layer_norm = [&](mat& x, const std::string& p) {
    const auto g = w(p + ".weight"), b = w(p + ".bias");
    for (auto& row : x) {
      double mean = 0, var = 0;
      for (double v : row) mean += v;
      mean /= static_cast<double>(row.size());
      for (double v : row) var += (v - mean) * (v - mean);
      var /= static_cast<double>(row.size());
      for (std::size_t i = 0; i < row.size(); ++i)
        row[i] = (row[i] - mean) / std::sqrt(var + 1e-12) * g[i] + b[i];
    }
  };
  const auto word = w("distilbert.embeddings.word_embeddings.weight");
  const auto pos = w("distilbert.embeddings.position_embeddings.weight");
  mat h(n, std::vector<double>(d));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) h[i][j] = word[ids[i] * d + j] + double(pos[i * d + j]);
  layer_norm(h, "distilbert.embeddings.LayerNorm");
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    const auto p = fmt::format("distilbert.transformer.layer.{}.", l);
    auto q = linear(h, p + "attention.q_lin"), k = linear(h, p + "attention.k_lin"),
         v = linear(h, p + "attention.v_lin");
    mat ctx(n, std::vector<double>(d, 0.0));
    for (std::size_t hh = 0; hh < heads; ++hh)
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<double> sc(n);
        double mx = -1e300, sum = 0;
        for (std::size_t j = 0; j < n; ++j) {
          double acc = 0;
          for (std::size_t e = 0; e < hd; ++e)
            acc += q[i][hh * hd + e] / std::sqrt(double(hd)) * k[j][hh * hd + e];
          sc[j] = acc;
          mx = std::max(mx, acc);
        }
        for (auto& x : sc) sum += (x = std::exp(x - mx));
        for (std::size_t j = 0; j < n; ++j)
          for (std::size_t e = 0; e < hd; ++e)
            ctx[i][hh * hd + e] += sc[j] / sum * v[j][hh * hd + e];
      }
    auto a = linear(ctx, p + "attention.out_lin");
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j) a[i][j] += h[i][j];
    layer_norm(a, p + "sa_layer_norm");
    auto f = linear(a, p + "ffn.lin1");
    for (auto& row : f)
      for (auto& x : row) x = detail::activation_reference(act, static_cast<float>(x));
    auto o = linear(f, p + "ffn.lin2");
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j) o[i][j] += a[i][j];
    layer_norm(o, p + "output_layer_norm");
    h = std::move(o);
  }
  mat cls{h[0]};
  auto pre = linear(cls, "pre_classifier");
  for (auto& x : pre[0]) x = std::max(0.0, x);
  return linear(pre, "classifier")[0];
}

}  // namespace safetensors::model::testing
