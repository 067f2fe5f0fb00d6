// open_torch_checkpoint: map, load the container, select the state dict, stream tensors.
#include "safetensors/torch/checkpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "core/mapped_file.hpp"
#include "core/try.hpp"
#include "torch/container.hpp"
#include "torch/mapped_file.hpp"
#include "torch/select.hpp"

namespace safetensors::torch {

std::uint64_t torch_tensor::numel() const noexcept {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;  // validated against the storage size when unpickled
  return n;
}

std::uint64_t torch_tensor::element_size() const noexcept { return dtype_bits(type) / 8; }

std::uint64_t torch_tensor::nbytes() const noexcept { return numel() * element_size(); }

bool torch_tensor::contiguous() const noexcept {
  if (numel() == 0) return true;
  std::uint64_t expected = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

struct torch_checkpoint::impl {
  std::filesystem::path path;
  detail::mapped_file map;
  container_kind kind = container_kind::zip;
  std::vector<torch_tensor> tensors;
  std::vector<torch_storage> storages;
  std::vector<std::string> notes;
  std::vector<std::string> globals;
};

struct checkpoint_builder {
  static result<torch_checkpoint> open(const std::filesystem::path& path,
                                       const torch_open_options& opts);
};

torch_checkpoint::torch_checkpoint() : impl_(std::make_unique<impl>()) {}
torch_checkpoint::torch_checkpoint(torch_checkpoint&&) noexcept = default;
torch_checkpoint& torch_checkpoint::operator=(torch_checkpoint&&) noexcept = default;
torch_checkpoint::~torch_checkpoint() = default;

const std::filesystem::path& torch_checkpoint::path() const noexcept { return impl_->path; }
container_kind torch_checkpoint::kind() const noexcept { return impl_->kind; }
const std::vector<torch_tensor>& torch_checkpoint::tensors() const noexcept {
  return impl_->tensors;
}
const std::vector<torch_storage>& torch_checkpoint::storages() const noexcept {
  return impl_->storages;
}
const std::vector<std::string>& torch_checkpoint::notes() const noexcept { return impl_->notes; }
const std::vector<std::string>& torch_checkpoint::globals() const noexcept {
  return impl_->globals;
}

std::span<const std::byte> torch_checkpoint::contiguous_bytes(
    const torch_tensor& t) const noexcept {
  if (!t.contiguous()) return {};
  const auto& st = impl_->storages[t.storage];
  std::uint64_t n = t.nbytes();
  if (n == 0) return {};
  return st.bytes.subspan(static_cast<std::size_t>(t.storage_offset * t.element_size()),
                          static_cast<std::size_t>(n));
}

namespace {

/// Copies a strided view in row-major order: the innermost dimension is one run when its
/// stride is 1, else element by element; an odometer walks the outer dimensions.
result<void> gather(std::span<const std::byte> storage, const torch_tensor& t,
                    const torch_sink& sink, std::size_t chunk) {
  const std::size_t elem = static_cast<std::size_t>(t.element_size());
  const std::size_t rank = t.shape.size();
  const bool inner_run = t.strides[rank - 1] == 1;
  const std::size_t run_bytes =
      (inner_run ? static_cast<std::size_t>(t.shape[rank - 1]) : 1) * elem;
  const std::size_t outer_rank = inner_run ? rank - 1 : rank;
  const std::uint64_t runs = t.nbytes() / run_bytes;
  std::vector<std::uint64_t> index(rank, 0);
  std::vector<std::byte> buf;
  buf.reserve(std::max(chunk, run_bytes));
  for (std::uint64_t r = 0; r < runs; ++r) {
    std::uint64_t offset = t.storage_offset;
    for (std::size_t d = 0; d < outer_rank; ++d) offset += index[d] * t.strides[d];
    if (!buf.empty() && buf.size() + run_bytes > std::max(chunk, run_bytes)) {
      ST_TRY(sink(buf));
      buf.clear();
    }
    const std::byte* src = storage.data() + offset * elem;
    buf.insert(buf.end(), src, src + run_bytes);
    for (std::size_t d = outer_rank; d-- > 0;) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
  if (!buf.empty()) return sink(buf);
  return {};
}

}  // namespace

result<void> torch_checkpoint::stream(const torch_tensor& t, const torch_sink& sink,
                                      std::size_t chunk) const {
  if (chunk == 0) chunk = 1;
  if (t.numel() == 0) return {};
  if (t.contiguous()) {
    // pread into one reused buffer (like cp): no page faults, resident set = one chunk.
    auto bytes = contiguous_bytes(t);
    const auto base = static_cast<std::uint64_t>(bytes.data() - impl_->map.bytes().data());
    const auto buf = std::make_unique_for_overwrite<std::byte[]>(std::min(chunk, bytes.size()));
    for (std::size_t at = 0; at < bytes.size(); at += chunk) {
      std::span<std::byte> piece(buf.get(), std::min(chunk, bytes.size() - at));
      ST_TRY(impl_->map.read_at(base + at, piece));
      ST_TRY(sink(piece));
    }
    return {};
  }
  auto r = gather(impl_->storages[t.storage].bytes, t, sink, chunk);
  impl_->map.release(impl_->storages[t.storage].bytes);
  return r;
}

result<void> torch_checkpoint::read_bytes(const torch_tensor& t, std::uint64_t offset,
                                          std::span<std::byte> out) const {
  const auto bytes = contiguous_bytes(t);
  if (!t.contiguous() || offset > bytes.size() || out.size() > bytes.size() - offset) {
    return fail(
        errc::invalid_argument,
        fmt::format("{}: tensor '{}': bytes [{}, +{}) are not a contiguous range of its {} bytes",
                    impl_->path.string(), t.name, offset, out.size(), t.nbytes()));
  }
  if (out.empty()) return {};
  const auto base = static_cast<std::uint64_t>(bytes.data() - impl_->map.bytes().data());
  return impl_->map.read_at(base + offset, out);
}

result<std::vector<std::byte>> torch_checkpoint::read(const torch_tensor& t) const {
  std::vector<std::byte> out;
  out.reserve(static_cast<std::size_t>(t.nbytes()));
  ST_TRY(stream(t, [&](std::span<const std::byte> c) -> result<void> {
    out.insert(out.end(), c.begin(), c.end());
    return {};
  }));
  return out;
}

bool looks_like_torch_file(const std::filesystem::path& path) {
  // The first 512 bytes tell (a tar header's size), read without mapping the file.
  std::uint64_t size = 0;
  const auto fd = safetensors::detail::open_regular_file(path, size);
  if (!fd) return false;
  std::array<std::byte, 512> head{};
  const auto bytes =
      std::span(head).first(static_cast<std::size_t>(std::min<std::uint64_t>(size, 512)));
  if (!safetensors::detail::pread_exact(fd->get(), 0, bytes, path)) return false;
  return detail::detect_format(bytes) != detail::file_format::unknown;
}

result<torch_checkpoint> open_torch_checkpoint(const std::filesystem::path& path,
                                               const torch_open_options& opts) {
  return checkpoint_builder::open(path, opts);
}

result<torch_checkpoint> checkpoint_builder::open(const std::filesystem::path& path,
                                                  const torch_open_options& opts) {
  torch_checkpoint c;
  auto& p = c.impl_;
  p->path = path;
  p->map = ST_TRY(detail::mapped_file::open(path));
  std::string source = path.string();
  detail::unpickle_options uo;
  uo.limits = opts.limits;
  uo.source = source;
  detail::pickle_trace trace;
  const byte_reader read_at = [&map = p->map](std::uint64_t at, std::span<std::byte> out) {
    return map.read_at(at, out);
  };
  detail::loaded_pickle loaded =
      ST_TRY(detail::load_container(p->map.bytes(), uo, &trace, read_at));
  detail::selection sel =
      ST_TRY(detail::select_tensors(loaded.graph, opts.select, opts.limits, source));
  p->kind = loaded.kind;
  for (std::size_t i = 0; i < loaded.graph.storages.size(); ++i) {
    const auto& st = loaded.graph.storages[i];
    p->storages.push_back(torch_storage{st.key, st.nbytes, loaded.storage_bytes[i]});
  }
  p->tensors = std::move(sel.tensors);
  p->notes = std::move(loaded.notes);
  p->notes.insert(p->notes.end(), sel.notes.begin(), sel.notes.end());
  p->globals.assign(trace.globals.begin(), trace.globals.end());
  return c;
}

}  // namespace safetensors::torch
