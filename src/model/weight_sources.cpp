// File-backed weight sources: a safetensors file or sharded index (core reader, mmap) and
// pytorch_model.bin (torch layer's safe reader, in memory, no temp files).
#include <fmt/format.h>

#include <unordered_map>

#include "core/try.hpp"
#include "model/weights.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/checkpoint.hpp"

namespace safetensors::model::detail {
namespace {

namespace fs = std::filesystem;

class safetensors_source final : public weight_source {
 public:
  safetensors_source(checkpoint c, std::string origin)
      : ckpt_(std::move(c)), origin_(std::move(origin)) {}
  bool contains(std::string_view name) const override { return ckpt_.find(name) != nullptr; }
  result<raw_tensor> get(std::string_view name) const override {
    const tensor t = ST_TRY(ckpt_.get(name));
    raw_tensor r{t.type(), t.shape(), t.bytes(), {}, !t.owns_data()};  // else a view into the mmap
    if (t.owns_data()) {
      r.owned.assign(t.bytes().begin(), t.bytes().end());
      r.bytes = r.owned;
    }
    return r;
  }
  const std::string& origin() const noexcept override { return origin_; }

 private:
  checkpoint ckpt_;
  std::string origin_;
};

class torch_source final : public weight_source {
 public:
  torch_source(torch::torch_checkpoint c, std::string origin)
      : ckpt_(std::move(c)), origin_(std::move(origin)) {
    for (std::size_t i = 0; i < ckpt_.tensors().size(); ++i)
      by_name_.emplace(ckpt_.tensors()[i].name, i);
  }
  bool contains(std::string_view name) const override {
    return by_name_.count(std::string(name)) != 0;
  }
  result<raw_tensor> get(std::string_view name) const override {
    const auto it = by_name_.find(std::string(name));
    if (it == by_name_.end())
      return fail(errc::tensor_not_found, fmt::format("{}: no tensor '{}'", origin_, name));
    const auto& t = ckpt_.tensors()[it->second];
    raw_tensor r{t.type, t.shape, ckpt_.contiguous_bytes(t), {}, false};  // in memory
    if (t.contiguous()) return r;
    r.owned = ST_TRY(ckpt_.read(t));  // a strided view: gathered once
    r.bytes = r.owned;
    return r;
  }
  const std::string& origin() const noexcept override { return origin_; }

 private:
  torch::torch_checkpoint ckpt_;
  std::string origin_;
  std::unordered_map<std::string, std::size_t> by_name_;
};

}  // namespace

result<std::unique_ptr<weight_source>> open_weight_source(const std::filesystem::path& dir) {
  const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json",
                 bin = dir / "pytorch_model.bin";
  std::error_code ec;
  for (const auto& p : {single, index}) {
    if (!fs::exists(p, ec)) continue;
    // No populate: the engine reads each linear weight once (packing) and then drops its pages,
    // and only the looked-up rows of the embedding tables are ever read. Mapping everything up
    // front would add the whole file to peak RSS for nothing.
    open_options o;
    o.populate = false;
    checkpoint c = ST_TRY(checkpoint::open(p, o));
    return std::unique_ptr<weight_source>(
        new safetensors_source(std::move(c), p.filename().string()));
  }
  if (fs::exists(bin, ec)) {
    torch::torch_checkpoint c = ST_TRY(torch::open_torch_checkpoint(bin));
    return std::unique_ptr<weight_source>(new torch_source(std::move(c), bin.filename().string()));
  }
  return fail(errc::io, fmt::format("{}: no weights: expected model.safetensors, "
                                    "model.safetensors.index.json or pytorch_model.bin",
                                    dir.string()));
}

}  // namespace safetensors::model::detail
