#include "checkpoint_input.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <system_error>

#include "core/try.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/checkpoint.hpp"

namespace safetensors::cli {

struct checkpoint_input::impl {
  std::string path;
  std::optional<checkpoint> st;
  std::optional<torch::torch_checkpoint> pt;
  std::optional<remote_checkpoint> remote;
  std::vector<std::filesystem::path> files;
  std::filesystem::path index;
  std::vector<input_tensor> tensors;
  metadata_map metadata;
};

checkpoint_input::checkpoint_input(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
checkpoint_input::checkpoint_input(checkpoint_input&&) noexcept = default;
checkpoint_input& checkpoint_input::operator=(checkpoint_input&&) noexcept = default;
checkpoint_input::~checkpoint_input() = default;

result<checkpoint_input> checkpoint_input::open(const std::string& path,
                                                const remote_options& remote, backend io) {
  auto p = std::make_unique<impl>();
  p->path = path;
  std::error_code ec;
  if (cli::is_remote(path)) {
    p->remote = ST_TRY(fetch_remote(path, remote));
    p->index = p->remote->index_url;
    for (std::size_t k = 0; k < p->remote->files.size(); ++k) {
      const auto& f = p->remote->files[k];
      p->files.emplace_back(f.url);
      for (std::size_t i = 0; i < f.info.tensors.size(); ++i) {
        const auto& t = f.info.tensors[i];
        p->tensors.push_back({t.name, t.type, t.shape, t.numel(), t.nbytes(), k, i});
      }
    }
    if (!p->remote->files.empty()) p->metadata = p->remote->files.front().info.metadata;
  } else if (std::filesystem::is_regular_file(path, ec) && torch::looks_like_torch_file(path)) {
    p->pt = ST_TRY(torch::open_torch_checkpoint(path));
    p->files.emplace_back(path);
    const auto& ts = p->pt->tensors();
    for (std::size_t i = 0; i < ts.size(); ++i) {
      p->tensors.push_back(
          {ts[i].name, ts[i].type, ts[i].shape, ts[i].numel(), ts[i].nbytes(), 0, i});
    }
  } else {
    open_options oo;
    oo.io = io;
    p->st = ST_TRY(checkpoint::open(path, oo));
    for (const auto& f : p->st->shards()) p->files.push_back(f.path());
    p->index = p->st->index_path();
    p->metadata = p->st->metadata();
    const auto& es = p->st->tensors();
    for (std::size_t i = 0; i < es.size(); ++i) {
      const auto& t = *es[i].info;
      p->tensors.push_back({t.name, t.type, t.shape, t.numel(), t.nbytes(), es[i].shard, i});
    }
  }
  std::sort(p->tensors.begin(), p->tensors.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return checkpoint_input(std::move(p));
}

const std::string& checkpoint_input::path() const noexcept { return impl_->path; }
bool checkpoint_input::is_remote() const noexcept { return impl_->remote.has_value(); }
std::string_view checkpoint_input::format() const noexcept {
  return impl_->pt ? "pytorch" : "safetensors";
}
const std::vector<std::filesystem::path>& checkpoint_input::files() const noexcept {
  return impl_->files;
}
const std::filesystem::path& checkpoint_input::index_path() const noexcept { return impl_->index; }
const std::vector<input_tensor>& checkpoint_input::tensors() const noexcept {
  return impl_->tensors;
}
const metadata_map& checkpoint_input::metadata() const noexcept { return impl_->metadata; }

const input_tensor* checkpoint_input::find(std::string_view name) const noexcept {
  const auto& ts = impl_->tensors;
  auto it = std::lower_bound(ts.begin(), ts.end(), name,
                             [](const input_tensor& t, std::string_view n) { return t.name < n; });
  return it != ts.end() && it->name == name ? &*it : nullptr;
}

namespace {
tl::unexpected<error> headers_only(const std::string& url, const input_tensor& t) {
  return fail(
      errc::unsupported,
      fmt::format("{}: tensor '{}': a URL gives headers only, not tensor data", url, t.name));
}
}  // namespace

result<tensor> checkpoint_input::get(const input_tensor& t) const {
  if (impl_->remote) return headers_only(impl_->path, t);
  if (impl_->st) return impl_->st->get(t.name);
  const auto& pt = impl_->pt->tensors()[t.index];
  if (pt.contiguous()) {
    return tensor::borrowed(tensor_view(t.type, t.shape, impl_->pt->contiguous_bytes(pt)));
  }
  auto bytes = ST_TRY(impl_->pt->read(pt));
  return tensor::make_owned(t.type, t.shape, std::move(bytes));
}

result<value_source> checkpoint_input::value_source_of(const input_tensor& t) const {
  if (impl_->remote) return headers_only(impl_->path, t);
  value_source src{t.type, t.nbytes, {}, {}};
  if (impl_->st) {
    const auto& e = impl_->st->tensors()[t.index];
    const file* f = &impl_->st->shards()[e.shard];
    const tensor_info* info = e.info;
    src.read = [f, info](std::uint64_t at, std::span<std::byte> out) {
      return f->read_bytes(*info, at, out);
    };
  } else {
    const torch::torch_checkpoint* c = &*impl_->pt;
    const torch::torch_tensor* pt = &c->tensors()[t.index];
    if (pt->contiguous())
      src.read = [c, pt](std::uint64_t at, std::span<std::byte> out) {
        return c->read_bytes(*pt, at, out);
      };
    else
      src.stream = [c, pt](const byte_sink& sink) { return c->stream(*pt, sink); };
  }
  return src;
}

error tensor_not_found(const checkpoint_input& in, std::string_view name) {
  // Suggest names that share the longest prefix with the one asked for.
  std::vector<std::pair<std::size_t, std::string_view>> close;
  for (const auto& t : in.tensors()) {
    const auto m = std::mismatch(name.begin(), name.end(), t.name.begin(), t.name.end());
    close.emplace_back(static_cast<std::size_t>(m.first - name.begin()), t.name);
  }
  std::stable_sort(close.begin(), close.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string hint;
  for (std::size_t i = 0; i < close.size() && i < 3; ++i)
    hint += fmt::format("{}'{}'", i == 0 ? "; similar: " : ", ", close[i].second);
  return error{errc::tensor_not_found, fmt::format("{}: tensor '{}' not found ({} tensors{})",
                                                   in.path(), name, in.tensors().size(), hint)};
}

}  // namespace safetensors::cli
