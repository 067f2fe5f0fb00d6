// DistilBERT weights bound to a model folder's checkpoint (private). F32 tensors are used in
// place from the mapping; F16/BF16/F64 (and misaligned or strided F32) are converted once to
// F32 -- except with `keep_bf16` (bf16 precision), where the linear weights and embedding
// tables of a BF16 checkpoint are used in place and F16 ones converted to BF16, never widened.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/gemm.hpp"
#include "model/kernels.hpp"
#include "model/mapped_pages.hpp"
#include "safetensors/dtype.hpp"
#include "safetensors/model/classifier.hpp"

namespace safetensors::model::detail {

struct layer_weights {
  linear_weights q, k, v, out, lin1, lin2;
  const float *sa_gamma = nullptr, *sa_beta = nullptr, *out_gamma = nullptr, *out_beta = nullptr;
};

struct model_weights {
  table_ref word, pos;
  const float *emb_gamma = nullptr, *emb_beta = nullptr;
  std::vector<layer_weights> layers;
  linear_weights pre_classifier, classifier;
  std::vector<std::vector<float>> converted;  ///< owned F32 copies (stable data pointers)
  std::vector<std::vector<std::uint16_t>> converted_bf16;  ///< owned BF16 copies (from F16)
  std::uint64_t bytes_in_place = 0, bytes_converted = 0;
};

/// A tensor as a checkpoint provides it: borrowed bytes, or `owned` ones (a gathered view).
/// `file_mapped`: the borrowed bytes lie in a read-only file mapping.
struct raw_tensor {
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> bytes;
  std::vector<std::byte> owned;
  bool file_mapped = false;
};

/// Name -> tensor lookup over one opened checkpoint (safetensors file/index or torch .bin).
class weight_source {
 public:
  virtual ~weight_source() = default;
  virtual bool contains(std::string_view name) const = 0;
  virtual result<raw_tensor> get(std::string_view name) const = 0;
  /// File name used in messages ("model.safetensors", "pytorch_model.bin", ...).
  virtual const std::string& origin() const noexcept = 0;
};

/// Opens the weights of a model folder: model.safetensors, else model.safetensors.index.json
/// (+ shards), else pytorch_model.bin (parsed in memory by the safe torch reader).
result<std::unique_ptr<weight_source>> open_weight_source(const std::filesystem::path& dir);

/// Finds every tensor the config implies (name variants: with/without "distilbert.",
/// "transformer."/"encoder.", LayerNorm gamma/beta), checks each shape against the config and
/// binds F32 pointers. A checkpoint without the classifier head is refused (invalid_model),
/// naming a masked-LM checkpoint when it has vocab_transform/vocab_projector.
result<model_weights> bind_weights(const weight_source& src, const distilbert_config& cfg,
                                   bool keep_bf16 = false);

}  // namespace safetensors::model::detail
