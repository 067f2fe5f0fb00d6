#include "torch/dedupe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace safetensors::torch::detail {
namespace {

using key_t = std::tuple<std::size_t, std::uint64_t, std::vector<std::uint64_t>,
                         std::vector<std::uint64_t>, dtype>;

dedupe_result finish(const std::vector<torch_tensor>& tensors,
                     const std::map<std::string, std::string>& dropped) {
  dedupe_result r;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (!dropped.count(tensors[i].name)) r.keep.push_back(i);
  r.aliases.assign(dropped.begin(), dropped.end());
  return r;
}

dedupe_result exact(const std::vector<torch_tensor>& tensors) {
  std::map<key_t, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.numel() == 0) continue;  // empty tensors hold no bytes to share
    groups[key_t{t.storage, t.storage_offset, t.shape, t.strides, t.type}].push_back(i);
  }
  std::map<std::string, std::string> dropped;
  for (const auto& [key, members] : groups) {
    if (members.size() < 2) continue;
    std::vector<std::string> names;
    for (auto i : members) names.push_back(tensors[i].name);
    std::sort(names.begin(), names.end());
    for (std::size_t k = 1; k < names.size(); ++k) dropped.emplace(names[k], names[0]);
  }
  return finish(tensors, dropped);
}

struct area {
  std::uint64_t start, stop;
  std::string name;
  bool complete;
  bool operator<(const area& o) const {
    return std::tie(start, stop, name) < std::tie(o.start, o.stop, o.name);
  }
};

area area_of(const torch_tensor& t, const torch_storage& st) {
  std::uint64_t elem = t.element_size(), start = t.storage_offset * elem, stop = start;
  if (t.numel() > 0) {
    std::uint64_t last = t.storage_offset;
    for (std::size_t d = 0; d < t.shape.size(); ++d) last += (t.shape[d] - 1) * t.strides[d];
    stop = (last + 1) * elem;
  }
  return {start, stop, t.name, start == 0 && t.nbytes() == st.nbytes};
}

}  // namespace

result<dedupe_result> dedupe(const std::vector<torch_tensor>& tensors,
                             const std::vector<torch_storage>& storages, share_policy policy) {
  if (policy == share_policy::exact) return exact(tensors);
  // Hugging Face: group by storage (skipping empty ones), then split into overlap clusters by
  // sorting (start, stop, name) and chaining start < previous stop.
  std::map<std::size_t, std::vector<area>> by_storage;
  for (const auto& t : tensors)
    if (storages[t.storage].nbytes > 0)
      by_storage[t.storage].push_back(area_of(t, storages[t.storage]));
  std::map<std::string, std::string> dropped;
  for (auto& [storage, areas] : by_storage) {
    std::sort(areas.begin(), areas.end());
    std::vector<std::vector<const area*>> clusters{{&areas[0]}};
    std::uint64_t last_stop = areas[0].stop;
    for (std::size_t i = 1; i < areas.size(); ++i) {
      if (areas[i].start >= last_stop)
        clusters.push_back({&areas[i]});
      else
        clusters.back().push_back(&areas[i]);
      last_stop = areas[i].stop;
    }
    for (const auto& cluster : clusters) {
      if (cluster.size() < 2) continue;
      std::set<std::string> complete, all;
      for (const area* a : cluster) {
        all.insert(a->name);
        if (a->complete) complete.insert(a->name);
      }
      if (complete.empty())
        return fail(
            errc::unsupported,
            fmt::format("--hf-compat: tensors {} share storage '{}' and none covers all of it "
                        "(Hugging Face's convert raises here; convert without --hf-compat)",
                        fmt::join(all, ", "), storages[storage].key));
      for (const auto& name : all)
        if (name != *complete.begin()) dropped.emplace(name, *complete.begin());
    }
  }
  return finish(tensors, dropped);
}

}  // namespace safetensors::torch::detail
