#include "safetensors/writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "atomic_file.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"
#include "write_plan.hpp"

namespace safetensors {
namespace detail {
namespace {

std::string describe(const tensor_source& t) {
  return fmt::format("tensor `{}` ({} [{}])", t.name, dtype_name(t.type), fmt::join(t.shape, ","));
}

result<std::uint64_t> source_size(const tensor_source& t) {
  if (!is_valid_utf8(t.name)) return fail(errc::invalid_utf8, "tensor name: not valid UTF-8");
  if (t.name == "__metadata__") {
    return fail(errc::invalid_argument,
                "tensor name `__metadata__`: reserved for the metadata, cannot name a tensor");
  }
  std::uint64_t numel = 1;
  for (auto d : t.shape) {
    if (__builtin_mul_overflow(numel, d, &numel)) {
      return fail(errc::validation_overflow,
                  fmt::format("{}: element count overflows u64", describe(t)));
    }
  }
  auto bytes = dtype_byte_size(t.type, numel);
  if (!bytes)
    return fail(bytes.error().code, fmt::format("{}: {}", describe(t), bytes.error().message));
  const int given =
      int{!t.data.empty()} + int{static_cast<bool>(t.produce)} + int{static_cast<bool>(t.read)};
  if (given > 1) {
    return fail(errc::invalid_argument,
                fmt::format("{}: more than one of data, a producer and a reader", describe(t)));
  }
  if (!t.produce && !t.read && t.data.size() != *bytes) {
    return fail(errc::invalid_tensor_view,
                fmt::format("{}: needs {} bytes, {} given", describe(t), *bytes, t.data.size()));
  }
  return *bytes;
}

}  // namespace

result<std::vector<std::uint64_t>> source_sizes(std::span<const tensor_source> tensors) {
  std::vector<std::uint64_t> sizes;
  sizes.reserve(tensors.size());
  for (const auto& t : tensors) {
    sizes.push_back(ST_TRY(source_size(t)));
  }
  std::vector<std::string_view> names;
  names.reserve(tensors.size());
  for (const auto& t : tensors) names.emplace_back(t.name);
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup != names.end()) {
    return fail(errc::duplicate_key, fmt::format("tensor `{}`: appears twice", *dup));
  }
  return sizes;
}

std::vector<std::size_t> writer_order(std::span<const tensor_source> tensors) {
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // std::string_view compares as unsigned bytes (char_traits<char>), like Rust's String.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = tensors[a];
    const auto& y = tensors[b];
    if (x.type != y.type) return x.type > y.type;
    return std::string_view(x.name) < std::string_view(y.name);
  });
  return order;
}

result<void> stream_tensor(const tensor_source& t, std::uint64_t expected,
                           const byte_output& output) {
  if (t.read) return expected == 0 ? result<void>{} : output.pull(expected, t.read);
  const byte_sink& out = output.push;
  if (!t.produce) return t.data.empty() ? result<void>{} : out(t.data);
  std::uint64_t got = 0;
  const byte_sink counting = [&](std::span<const std::byte> chunk) -> result<void> {
    if (chunk.size() > expected - got) {
      return fail(
          errc::invalid_tensor_view,
          fmt::format("tensor `{}`: the producer pushed more than {} bytes", t.name, expected));
    }
    got += chunk.size();
    return chunk.empty() ? result<void>{} : out(chunk);
  };
  ST_TRY(t.produce(counting));
  if (got != expected) {
    return fail(
        errc::invalid_tensor_view,
        fmt::format("tensor `{}`: the producer pushed {} of {} bytes", t.name, got, expected));
  }
  return {};
}

}  // namespace detail

namespace {

result<std::vector<const std::pair<std::string, std::string>*>> sorted_metadata(
    const metadata_map& m) {
  std::vector<const std::pair<std::string, std::string>*> entries;
  entries.reserve(m.entries.size());
  for (const auto& e : m.entries) {
    if (!detail::is_valid_utf8(e.first) || !detail::is_valid_utf8(e.second)) {
      return fail(errc::invalid_utf8, "metadata: a key or value is not valid UTF-8");
    }
    entries.push_back(&e);
  }
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) {
    return std::string_view(a->first) < std::string_view(b->first);
  });
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i - 1]->first == entries[i]->first) {
      return fail(errc::duplicate_key,
                  fmt::format("metadata key `{}`: appears twice", entries[i]->first));
    }
  }
  return entries;
}

std::string header_json(const std::vector<tensor_info>& tensors,
                        const std::vector<const std::pair<std::string, std::string>*>& meta,
                        bool meta_present) {
  json_writer w;
  w.begin_object();
  if (meta_present) {
    w.key("__metadata__").begin_object();
    for (const auto* e : meta) w.key(e->first).value(e->second);
    w.end_object();
  }
  for (const auto& t : tensors) {
    w.key(t.name).begin_object();
    w.key("dtype").value(dtype_name(t.type));
    w.key("shape").begin_array();
    for (auto d : t.shape) w.value(d);
    w.end_array();
    w.key("data_offsets").begin_array().value(t.begin).value(t.end).end_array();
    w.end_object();
  }
  w.end_object();
  return w.take();
}

// Pads with spaces so that the data section starts at a multiple of `alignment`.
result<void> pad_header(std::string& json, const write_options& opts) {
  const std::uint64_t a = opts.alignment;
  if (a < 8 || (a & (a - 1)) != 0) {
    return fail(errc::invalid_argument,
                fmt::format("write options: alignment {} is not a power of two >= 8", a));
  }
  const std::uint64_t unpadded = json.size();
  const std::uint64_t start = (8 + unpadded + a - 1) / a * a;
  const std::uint64_t n = start - 8;
  if (n > opts.max_header_size) {
    return fail(errc::header_too_large,
                fmt::format("header: {} bytes exceed the limit of {}", n, opts.max_header_size));
  }
  json.append(n - unpadded, ' ');
  return {};
}

std::array<std::byte, 8> le64(std::uint64_t v) {
  std::array<std::byte, 8> out{};
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
  return out;
}

std::uint64_t data_size(const planned_header& plan) {
  return plan.tensors.empty() ? 0 : plan.tensors.back().end;
}

// Header then every tensor, in data order, into `out`.
result<void> stream_file(const planned_header& plan, std::span<const tensor_source> tensors,
                         const detail::byte_output& out) {
  const auto prefix = le64(plan.json.size());
  ST_TRY(out.push(prefix));
  ST_TRY(out.push(std::as_bytes(std::span(plan.json))));
  for (std::size_t k = 0; k < plan.order.size(); ++k) {
    const auto& info = plan.tensors[k];
    ST_TRY(detail::stream_tensor(tensors[plan.order[k]], info.end - info.begin, out));
  }
  return {};
}

}  // namespace

namespace detail {

result<std::string> header_text(const std::vector<tensor_info>& tensors,
                                const metadata_map& metadata, const write_options& opts) {
  const auto meta = ST_TRY(sorted_metadata(metadata));
  std::string json = header_json(tensors, meta, metadata.present);
  ST_TRY(pad_header(json, opts));
  return json;
}

}  // namespace detail

result<planned_header> plan_header(std::span<const tensor_source> tensors,
                                   const metadata_map& metadata, const write_options& opts) {
  const auto sizes = ST_TRY(detail::source_sizes(tensors));
  const auto meta = ST_TRY(sorted_metadata(metadata));
  planned_header plan;
  plan.order = detail::writer_order(tensors);
  plan.tensors.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (auto i : plan.order) {
    const auto& t = tensors[i];
    std::uint64_t end = 0;
    if (__builtin_add_overflow(offset, sizes[i], &end)) {
      return fail(errc::validation_overflow, "tensors: total data size overflows u64");
    }
    plan.tensors.push_back(tensor_info{t.name, t.type, t.shape, offset, end});
    offset = end;
  }
  plan.json = header_json(plan.tensors, meta, metadata.present);
  ST_TRY(pad_header(plan.json, opts));
  return plan;
}

result<std::vector<std::byte>> serialize(std::span<const tensor_source> tensors,
                                         const metadata_map& metadata, const write_options& opts) {
  const auto plan = ST_TRY(plan_header(tensors, metadata, opts));
  const std::uint64_t data = data_size(plan);
  const std::uint64_t total = 8 + plan.json.size() + data;
  std::vector<std::byte> out;
  if (data > out.max_size() - 8 - plan.json.size()) {
    return fail(errc::validation_overflow,
                fmt::format("serialized file: {} bytes do not fit in memory", total));
  }
  out.reserve(static_cast<std::size_t>(total));
  detail::byte_output to_memory;
  to_memory.push = [&](std::span<const std::byte> chunk) -> result<void> {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return {};
  };
  to_memory.pull = [&](std::uint64_t n, const byte_reader& read) -> result<void> {
    const std::size_t at = out.size();
    out.resize(at + static_cast<std::size_t>(n));  // n was counted in the reserved total
    return read(0, std::span(out).subspan(at));
  };
  ST_TRY(stream_file(plan, tensors, to_memory));
  return out;
}

namespace detail {

result<atomic_file> write_prepared(const std::filesystem::path& path,
                                   std::span<const tensor_source> tensors,
                                   const metadata_map& metadata, const write_options& opts) {
  const auto plan = ST_TRY(plan_header(tensors, metadata, opts));
  auto file = ST_TRY(detail::atomic_file::create(path));
  file.expect_size(8 + plan.json.size() + data_size(plan));
  file.write_behind(opts.fsync);
  file.on_written(opts.on_written);
  detail::byte_output to_file;
  to_file.push = [&](std::span<const std::byte> chunk) { return file.write(chunk); };
  to_file.pull = [&](std::uint64_t n, const byte_reader& read) { return file.fill(n, read); };
  ST_TRY(stream_file(plan, tensors, to_file));  // on error the temp file is removed
  ST_TRY(file.prepare(opts.fsync, opts.check));
  return file;
}

}  // namespace detail

result<void> write_file(const std::filesystem::path& path, std::span<const tensor_source> tensors,
                        const metadata_map& metadata, const write_options& opts) {
  auto file = ST_TRY(detail::write_prepared(path, tensors, metadata, opts));
  return file.publish();
}

}  // namespace safetensors
