#include "inspect_group.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <tuple>

namespace safetensors::cli {

std::string name_pattern(std::string_view name, std::uint64_t* first) {
  std::string out;
  bool replaced = false;
  std::size_t at = 0;
  while (at <= name.size()) {
    std::size_t dot = name.find('.', at);
    if (dot == std::string_view::npos) dot = name.size();
    const auto part = name.substr(at, dot - at);
    const bool number =
        !part.empty() && part.size() <= 18 &&
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (number) {
      if (!replaced && first != nullptr)
        std::from_chars(part.data(), part.data() + part.size(), *first);
      replaced = true;
      out += '#';
    } else {
      out += part;
    }
    if (dot < name.size()) out += '.';
    at = dot + 1;
  }
  return out;
}

std::vector<name_group> group_rows(const std::vector<listing_row>& rows) {
  std::vector<name_group> groups;
  std::map<std::tuple<std::string, std::string, std::vector<std::uint64_t>>, std::size_t> index;
  for (const auto& r : rows) {
    std::uint64_t number = 0;
    std::string pattern = name_pattern(r.name, &number);
    const bool numbered = pattern != r.name;
    std::vector<std::uint64_t> shape(r.shape.begin(), r.shape.end());
    auto key = std::make_tuple(pattern, std::string(r.dtype_name), shape);
    auto [it, added] = index.emplace(std::move(key), groups.size());
    if (added) {
      groups.push_back(
          {std::move(pattern), std::string(r.dtype_name), std::move(shape), 0, 0, 0, {}});
    }
    auto& g = groups[it->second];
    ++g.count;
    g.parameters += r.numel;
    g.bytes += r.bytes();
    if (numbered) g.numbers.push_back(number);
  }
  for (auto& g : groups) {
    std::sort(g.numbers.begin(), g.numbers.end());
    g.numbers.erase(std::unique(g.numbers.begin(), g.numbers.end()), g.numbers.end());
  }
  return groups;
}

std::string number_ranges(const std::vector<std::uint64_t>& numbers) {
  std::string out;
  for (std::size_t i = 0; i < numbers.size();) {
    std::size_t j = i;
    while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", numbers[i]) : fmt::format("{}-{}", numbers[i], numbers[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace safetensors::cli
