// safetensors::file: open + validate, then zero-copy (mmap) or owned (pread) tensor access.
#include "safetensors/reader.hpp"

#include <fmt/format.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/header_json.hpp"
#include "core/mapped_file.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"

namespace safetensors {

struct file::impl {
  std::filesystem::path path;
  std::string source;  // path as text, for messages
  open_options opts;
  std::uint64_t size = 0;
  header info;
  detail::unique_fd fd;             // kept for the pread backend
  detail::mapping map;              // mmap backend
  std::span<const std::byte> data;  // data section inside `map` (mmap backend)

  result<void> open_file();
  result<std::uint64_t> read_length();
  result<void> parse_mapped(std::uint64_t n);
  result<void> parse_read(std::uint64_t n);
  /// Refused when opened header-only; the error names `tensor` (none: the data section). The
  /// name is escaped only then: get() and read_bytes() run it per tensor and per chunk.
  result<void> check_data_access(std::optional<std::string_view> tensor) const;
};

result<std::uint64_t> file::impl::read_length() {
  std::byte prefix[8] = {};
  const std::size_t have = static_cast<std::size_t>(std::min<std::uint64_t>(size, 8));
  ST_TRY(detail::pread_exact(fd.get(), 0, std::span<std::byte>(prefix, have), path));
  parse_options po{opts.max_header_size, source};
  return read_header_length(std::span<const std::byte>(prefix, have), size, po);
}

result<void> file::impl::parse_mapped(std::uint64_t n) {
  // header_only maps the header bytes (and simdjson's padding where the file has them) only,
  // parses them in place and unmaps them: no copy, and page-cache pages instead of fresh ones.
  const std::uint64_t length =
      opts.header_only ? std::min<std::uint64_t>(size, 8 + n + simdjson::SIMDJSON_PADDING) : size;
  auto mapped = detail::mapping::map(fd.get(), length, path, opts.populate);
  if (!mapped && opts.header_only) return parse_read(n);  // a file system without mmap
  map = ST_TRY(std::move(mapped));
  // A big header is read in full right away: one system call instead of a fault per few pages.
  if (!opts.populate && n >= (1u << 20)) map.prefault(static_cast<std::size_t>(8 + n));
  auto bytes = map.bytes();
  std::string_view json(reinterpret_cast<const char*>(bytes.data()) + 8,
                        static_cast<std::size_t>(n));
  // Bytes after the header up to the end of the last mapped page are readable: parse in place
  // when they cover simdjson's padding.
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t readable_after = (length + page - 1) / page * page - (8 + n);
  const parse_options po{opts.max_header_size, source};
  info = ST_TRY(readable_after >= simdjson::SIMDJSON_PADDING
                    ? detail::parse_header_padded(json, size, po)
                    : parse_header(json, size, po));
  if (opts.header_only) {
    map = {};
  } else {
    data = bytes.subspan(static_cast<std::size_t>(8 + n));
  }
  fd.reset();  // the mapping stays valid without the descriptor
  return {};
}

result<void> file::impl::parse_read(std::uint64_t n) {
  // n <= max_header_size and 8 + n <= size were checked: the allocation is bounded.
  // The buffer carries simdjson's padding so the header is parsed in place.
  std::string buffer(static_cast<std::size_t>(n) + simdjson::SIMDJSON_PADDING, '\0');
  auto out = std::as_writable_bytes(std::span<char>(buffer.data(), static_cast<std::size_t>(n)));
  ST_TRY(detail::pread_exact(fd.get(), 8, out, path));
  std::string_view json(buffer.data(), static_cast<std::size_t>(n));
  info =
      ST_TRY(detail::parse_header_padded(json, size, parse_options{opts.max_header_size, source}));
  if (opts.header_only) fd.reset();
  return {};
}

result<void> file::impl::check_data_access(std::optional<std::string_view> tensor) const {
  if (opts.header_only) {
    const std::string what = tensor ? fmt::format("tensor '{}'", detail::ascii_escaped(*tensor))
                                    : std::string("data section");
    return fail(
        errc::invalid_argument,
        fmt::format("{}: {}: the file was opened header-only (no data access)", source, what));
  }
  return {};
}

result<file> file::open(const std::filesystem::path& path, const open_options& opts) {
  auto p = std::make_unique<impl>();
  p->path = path;
  p->source = path.string();
  p->opts = opts;
  p->fd = ST_TRY(detail::open_regular_file(path, p->size));
  const std::uint64_t n = ST_TRY(p->read_length());
  ST_TRY(opts.io == backend::mmap ? p->parse_mapped(n) : p->parse_read(n));
  return file(std::move(p));
}

file::file(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
file::file(file&&) noexcept = default;
file& file::operator=(file&&) noexcept = default;
file::~file() = default;

const std::filesystem::path& file::path() const noexcept { return impl_->path; }
const header& file::info() const noexcept { return impl_->info; }
std::uint64_t file::file_size() const noexcept { return impl_->size; }
std::span<const std::byte> file::mapped_data() const noexcept { return impl_->data; }

std::vector<const tensor_info*> file::tensors_by_name() const {
  std::vector<const tensor_info*> out;
  out.reserve(info().tensors.size());
  for (const auto& t : info().tensors) out.push_back(&t);
  std::sort(out.begin(), out.end(),
            [](const tensor_info* a, const tensor_info* b) { return a->name < b->name; });
  return out;
}

result<tensor> file::get(std::string_view name) const {
  const tensor_info* t = find(name);
  if (!t) {
    return fail(errc::tensor_not_found, fmt::format("{}: tensor '{}' not found", impl_->source,
                                                    detail::ascii_escaped(name)));
  }
  ST_TRY(impl_->check_data_access(name));
  if (impl_->opts.io == backend::mmap) {
    auto bytes = impl_->data.subspan(static_cast<std::size_t>(t->begin),
                                     static_cast<std::size_t>(t->nbytes()));
    return tensor::borrowed(tensor_view(t->type, t->shape, bytes));
  }
  std::vector<std::byte> buf =
      detail::large_buffer(static_cast<std::size_t>(t->nbytes()));  // within the file size
  ST_TRY(detail::pread_exact(impl_->fd.get(), data_start() + t->begin, buf, impl_->path));
  return tensor::owned(t->type, t->shape, std::move(buf));
}

result<void> file::read_bytes(const tensor_info& t, std::uint64_t offset,
                              std::span<std::byte> out) const {
  ST_TRY(impl_->check_data_access(t.name));
  if (offset > t.nbytes() || out.size() > t.nbytes() - offset) {
    return fail(
        errc::invalid_argument,
        fmt::format("{}: tensor '{}': bytes [{}, +{}) are outside its {} bytes", impl_->source,
                    detail::ascii_escaped(t.name), offset, out.size(), t.nbytes()));
  }
  if (t.end > info().data_size) {  // a tensor_info from another file
    return fail(errc::invalid_argument, fmt::format("{}: tensor '{}' is not in this file",
                                                    impl_->source, detail::ascii_escaped(t.name)));
  }
  return read_data(t.begin + offset, out);
}

result<void> file::read_data(std::uint64_t offset, std::span<std::byte> out) const {
  ST_TRY(impl_->check_data_access(std::nullopt));
  const std::uint64_t size = info().data_size;
  if (offset > size || out.size() > size - offset) {
    return fail(errc::invalid_argument,
                fmt::format("{}: data bytes [{}, +{}) are outside the {}-byte data section",
                            impl_->source, offset, out.size(), size));
  }
  if (out.empty()) return {};
  if (impl_->opts.io == backend::mmap) {
    std::memcpy(out.data(), impl_->data.data() + offset, out.size());
    return {};
  }
  return detail::pread_exact(impl_->fd.get(), data_start() + offset, out, impl_->path);
}

}  // namespace safetensors
