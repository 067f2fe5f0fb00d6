#include "torch/convert_sources.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/try.hpp"
#include "torch/dedupe.hpp"

namespace safetensors::torch::detail {

metadata_map torch_metadata(const std::vector<std::pair<std::string, std::string>>& aliases) {
  std::map<std::string, std::string> m{{"format", "pt"}};
  for (const auto& [dropped, kept] : aliases) m.emplace(dropped, kept);
  metadata_map out;
  out.present = true;
  out.entries.assign(m.begin(), m.end());
  return out;
}

result<void> add_torch_file(source_set& set, const std::filesystem::path& path,
                            const convert_options& opts) {
  torch_open_options o;
  o.select = opts.select;
  o.limits = opts.limits;
  auto owned = std::make_unique<torch_checkpoint>(ST_TRY(open_torch_checkpoint(path, o)));
  const torch_checkpoint* c = owned.get();
  const auto d = ST_TRY(dedupe(c->tensors(), c->storages(), opts.sharing));
  for (auto i : d.keep) {
    const torch_tensor* t = &c->tensors()[i];
    byte_reader read;
    if (t->contiguous())
      read = [c, t](std::uint64_t at, std::span<std::byte> out) {
        return c->read_bytes(*t, at, out);
      };
    set.tensors.push_back({t->name, t->type, t->shape, t->nbytes(),
                           [c, t](const torch_sink& sink) { return c->stream(*t, sink, 8u << 20); },
                           std::move(read)});
  }
  for (const auto& n : c->notes())
    set.notes.push_back(fmt::format("{}: {}", path.filename().string(), n));
  set.aliases.insert(set.aliases.end(), d.aliases.begin(), d.aliases.end());
  set.torch_files.push_back(std::move(owned));
  return {};
}

result<void> add_safetensors(source_set& set, const std::filesystem::path& path) {
  set.safetensors_input = std::make_unique<checkpoint>(ST_TRY(checkpoint::open(path)));
  const checkpoint* c = set.safetensors_input.get();
  set.metadata = c->metadata();
  for (const auto& e : c->tensors()) {
    const tensor_info* info = e.info;
    set.tensors.push_back({info->name, info->type, info->shape, info->nbytes(),
                           [c, info](const torch_sink& sink) -> result<void> {
                             const auto t = ST_TRY(c->get(info->name));
                             const auto bytes = t.bytes();
                             constexpr std::size_t chunk = 1u << 20;
                             for (std::size_t at = 0; at < bytes.size(); at += chunk)
                               ST_TRY(sink(bytes.subspan(at, std::min(chunk, bytes.size() - at))));
                             return {};
                           },
                           [c, &e](std::uint64_t at, std::span<std::byte> out) {
                             return c->shards()[e.shard].read_bytes(*e.info, at, out);
                           }});
  }
  return {};
}

}  // namespace safetensors::torch::detail
