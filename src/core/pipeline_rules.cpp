// Pipeline selection: --filter / --exclude globs, --rename regexes and the --dtype cast.

// GCC 12 reports a false maybe-uninitialized inside libstdc++'s <regex> NFA (a moved
// std::function) when it inlines at -O2 with sanitizers; the state is set on every path. Off for
// the headers this file instantiates <regex> from (it is the only one that compiles regexes).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>

#include "core/text_util.hpp"
#include "core/try.hpp"
#include "safetensors/pipeline.hpp"

namespace safetensors {
namespace {

/// The bytes of `s` converted to `to` in pieces: source chunks may end inside a packed element
/// group (three bytes hold four F6 values), the tail waits for the next chunk.
result<void> stream_cast(const source_tensor& s, dtype to, const byte_sink& sink) {
  const unsigned bits = dtype_bits(s.type);
  const std::size_t group_elems = 8 / std::gcd(bits, 8u), group_bytes = group_elems * bits / 8;
  std::vector<std::byte> carry, out;
  const auto convert = [&](std::span<const std::byte> in) -> result<void> {
    const std::uint64_t count = in.size() / group_bytes * group_elems;
    out.resize(static_cast<std::size_t>(ST_TRY(dtype_byte_size(to, count))));
    if (auto r = convert_elements(s.type, in, to, out, count); !r)
      return fail(r.error().code,
                  fmt::format("tensor '{}': {}", detail::ascii_escaped(s.name), r.error().message));
    return sink(out);
  };
  const auto take_chunk = [&](std::span<const std::byte> chunk) -> result<void> {
    if (!carry.empty()) {
      const std::size_t take = std::min(group_bytes - carry.size(), chunk.size());
      carry.insert(carry.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(take));
      chunk = chunk.subspan(take);
      if (carry.size() < group_bytes) return {};
      ST_TRY(convert(carry));
      carry.clear();
    }
    const std::size_t whole = chunk.size() - chunk.size() % group_bytes;
    if (whole > 0) ST_TRY(convert(chunk.first(whole)));
    carry.assign(chunk.begin() + static_cast<std::ptrdiff_t>(whole), chunk.end());
    return {};
  };
  ST_TRY(s.stream(take_chunk));
  if (!carry.empty())
    return fail(errc::invalid_checkpoint,
                fmt::format("tensor '{}': its {} bytes end inside a {} element",
                            detail::ascii_escaped(s.name), s.nbytes, dtype_name(s.type)));
  return {};
}

result<void> cast_tensor(source_tensor& t, dtype to) {
  if (!dtype_is_float(t.type) || t.type == to) return {};
  std::uint64_t numel = 1;
  for (auto d : t.shape) numel *= d;  // checked when the source was opened (its bytes exist)
  const auto bytes = dtype_byte_size(to, numel);
  if (!bytes)
    return fail(
        errc::invalid_argument,
        fmt::format("tensor '{}': {} elements cannot be written as {} ({})",
                    detail::ascii_escaped(t.name), numel, dtype_name(to), bytes.error().message));
  auto from = std::make_shared<source_tensor>(std::move(t));
  t.name = from->name;
  t.shape = from->shape;
  t.type = to;
  t.nbytes = *bytes;
  t.read = {};
  t.stream = [from, to](const byte_sink& sink) { return stream_cast(*from, to, sink); };
  return {};
}

bool selected(const std::string& name, const select_rules& rules) {
  if (!rules.include.empty() &&
      std::none_of(rules.include.begin(), rules.include.end(),
                   [&](const std::string& g) { return glob_match(g, name); }))
    return false;
  return std::none_of(rules.exclude.begin(), rules.exclude.end(),
                      [&](const std::string& g) { return glob_match(g, name); });
}

std::string renamed(std::string name, const select_rules& rules) {
  for (const auto& r : rules.rename) name = std::regex_replace(name, r.pattern, r.replacement);
  return name;
}

/// Aliases (and their metadata entries) follow their tensors: renamed with them, dropped when
/// either side was filtered out.
void update_aliases(tensor_set& set, const select_rules& rules,
                    const std::set<std::string>& kept_sources) {
  std::map<std::string, std::string> entry_renames;  // metadata key (old) -> new key, "" = drop
  std::vector<std::pair<std::string, std::string>> aliases;
  for (auto& [dropped, kept] : set.aliases) {
    if (!kept_sources.count(kept) || !selected(dropped, rules)) {
      entry_renames[dropped] = "";
      continue;
    }
    auto d = renamed(dropped, rules), k = renamed(kept, rules);
    entry_renames[dropped] = d;
    aliases.emplace_back(std::move(d), std::move(k));
  }
  std::map<std::string, std::string> alias_value;
  for (const auto& [d, k] : aliases) alias_value[d] = k;
  std::map<std::string, std::string> entries;
  for (auto& [key, value] : set.metadata.entries) {
    const auto it = entry_renames.find(key);
    if (it == entry_renames.end())
      entries[key] = value;
    else if (!it->second.empty())
      entries[it->second] = alias_value[it->second];
  }
  set.metadata.entries.assign(entries.begin(), entries.end());
  set.aliases = std::move(aliases);
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view name) {
  // fnmatch needs NUL-terminated strings; names may hold any byte except NUL in practice.
  const std::string pat(pattern), str(name);
  return ::fnmatch(pat.c_str(), str.c_str(), 0) == 0;
}

result<rename_rule> rename_rule::parse(std::string_view text) {
  std::size_t eq = std::string_view::npos;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '=' && (i == 0 || text[i - 1] != '\\')) {
      eq = i;
      break;
    }
  if (eq == std::string_view::npos)
    return fail(errc::invalid_argument, fmt::format("rename '{}': expected REGEX=REPLACEMENT",
                                                    detail::ascii_escaped(text)));
  std::string regex;
  for (std::size_t i = 0; i < eq; ++i) {
    if (text[i] == '\\' && i + 1 < eq && text[i + 1] == '=') continue;  // "\=" is '='
    regex += text[i];
  }
  rename_rule r;
  r.text = std::string(text);
  r.replacement = std::string(text.substr(eq + 1));
  try {
    r.pattern = std::regex(regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return fail(errc::invalid_argument, fmt::format("rename '{}': invalid regex: {}",
                                                    detail::ascii_escaped(text), e.what()));
  }
  return r;
}

result<void> apply_rules(tensor_set& set, const select_rules& rules) {
  if (rules.cast && !dtype_is_float(*rules.cast))
    return fail(errc::invalid_argument,
                fmt::format("cast target {} is not a floating dtype", dtype_name(*rules.cast)));
  const bool filtering = !rules.include.empty() || !rules.exclude.empty();
  const std::size_t before = set.tensors.size();
  std::set<std::string> kept_sources;
  if (filtering)
    std::erase_if(set.tensors, [&](const source_tensor& t) { return !selected(t.name, rules); });
  if (before > 0 && set.tensors.empty())
    return fail(errc::invalid_argument,
                fmt::format("no tensor is left after the filters (of {})", before));
  if (!set.aliases.empty())
    for (const auto& t : set.tensors) kept_sources.insert(t.name);
  if (!rules.rename.empty()) {
    std::unordered_map<std::string, std::string> taken;  // new name -> old name
    for (auto& t : set.tensors) {
      auto name = renamed(t.name, rules);
      if (name.empty())
        return fail(errc::invalid_argument,
                    fmt::format("rename: tensor '{}' would get an empty name",
                                detail::ascii_escaped(t.name)));
      const auto [it, fresh] = taken.emplace(name, t.name);
      if (!fresh)
        return fail(errc::invalid_argument,
                    fmt::format("rename: tensors '{}' and '{}' would both be named '{}'",
                                detail::ascii_escaped(it->second), detail::ascii_escaped(t.name),
                                detail::ascii_escaped(name)));
      t.name = std::move(name);
    }
  }
  if (!set.aliases.empty() && (filtering || !rules.rename.empty()))
    update_aliases(set, rules, kept_sources);
  if (rules.cast)
    for (auto& t : set.tensors) ST_TRY(cast_tensor(t, *rules.cast));
  return {};
}

}  // namespace safetensors
