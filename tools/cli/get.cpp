// `get PATH NAME [--slice SPEC] [--format npy|text|raw] [-o FILE]`: one tensor, or a slice of
// it, as a NumPy .npy file, as text summarised like NumPy prints arrays, or as raw bytes.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint_input.hpp"
#include "command.hpp"
#include "core/atomic_file.hpp"
#include "npy.hpp"
#include "output.hpp"
#include "tensor_values.hpp"

namespace safetensors::cli {
namespace {

struct get_options {
  std::string path;
  std::string name;
  std::string slice;
  std::string format;  // empty: from -o (".npy" -> npy, else raw), text on stdout
  std::string output;
};

constexpr std::uint64_t threshold = 1000;  // NumPy's print threshold and edge items
constexpr std::uint64_t edge = 3;

/// NumPy-style nested brackets; with more than `threshold` elements only `edge` items at each
/// end of every dimension, "..." between them. Cells are right-aligned to one width.
std::string array_text(const tensor_view& v) {
  const auto& shape = v.shape();
  if (shape.empty()) return format_element(v.type(), v.bytes(), 0);
  const bool summarise = v.numel() > threshold;
  std::vector<std::uint64_t> strides(shape.size(), 1);
  for (std::size_t d = shape.size() - 1; d > 0; --d) strides[d - 1] = strides[d] * shape[d];
  // First pass: the printed cells, in order; second: the layout.
  std::vector<std::string> cells;
  auto shown = [&](std::size_t d) {
    std::vector<std::int64_t> idx;  // -1 stands for "..."
    const std::uint64_t n = shape[d];
    if (summarise && n > 2 * edge) {
      for (std::uint64_t i = 0; i < edge; ++i) idx.push_back(static_cast<std::int64_t>(i));
      idx.push_back(-1);
      for (std::uint64_t i = n - edge; i < n; ++i) idx.push_back(static_cast<std::int64_t>(i));
    } else {
      for (std::uint64_t i = 0; i < n; ++i) idx.push_back(static_cast<std::int64_t>(i));
    }
    return idx;
  };
  std::function<void(std::size_t, std::uint64_t)> collect = [&](std::size_t d, std::uint64_t base) {
    for (auto i : shown(d)) {
      if (i < 0) continue;
      const std::uint64_t at = base + static_cast<std::uint64_t>(i) * strides[d];
      if (d + 1 == shape.size())
        cells.push_back(format_element(v.type(), v.bytes(), at));
      else
        collect(d + 1, at);
    }
  };
  collect(0, 0);
  std::size_t width = 0;
  for (const auto& c : cells) width = std::max(width, c.size());
  std::size_t next = 0;
  std::function<std::string(std::size_t)> render = [&](std::size_t d) {
    std::string out = "[";
    const auto idx = shown(d);
    const std::string sep = d + 1 == shape.size()
                                ? " "
                                : std::string(shape.size() - d - 1, '\n') + std::string(d + 1, ' ');
    for (std::size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) out += sep;
      if (idx[k] < 0) {
        out += "...";
      } else if (d + 1 == shape.size()) {
        const std::string& cell = cells[next++];
        out += std::string(width - cell.size(), ' ') + cell;
      } else {
        out += render(d + 1);
      }
    }
    return out + "]";
  };
  return render(0);
}

int write_out(const get_options& opts, std::string_view head, std::span<const std::byte> body) {
  if (opts.output.empty() || opts.output == "-") {
    std::fwrite(head.data(), 1, head.size(), stdout);
    std::fwrite(body.data(), 1, body.size(), stdout);
    return std::fflush(stdout) == 0 ? exit_ok : exit_io;
  }
  auto f = detail::atomic_file::create(opts.output);
  if (!f) return report_error(f.error(), opts.output);
  f->expect_size(head.size() + body.size());
  auto r = f->write(std::as_bytes(std::span(head)));
  if (r) r = f->write(body);
  if (r) r = f->commit(true);
  if (!r) return report_error(r.error(), opts.output);
  return exit_ok;
}

int run_get(get_options opts) {
  if (opts.format.empty()) {
    opts.format = opts.output.empty() || opts.output == "-" ? "text"
                  : opts.output.ends_with(".npy")           ? "npy"
                                                            : "raw";
  }
  const bool to_stdout = opts.output.empty() || opts.output == "-";
  if (opts.format != "text" && to_stdout && ::isatty(STDOUT_FILENO) == 1) {
    print_error(
        fmt::format("--format {}: binary output to a terminal; use -o FILE (or redirect "
                    "stdout, or --format text)",
                    opts.format));
    return exit_usage;
  }
  std::vector<slice_spec> specs;
  if (!opts.slice.empty()) {
    auto s = parse_slices(opts.slice);
    if (!s) return report_error(s.error());
    specs = std::move(*s);
  }
  auto in = checkpoint_input::open(opts.path);
  if (!in) return report_error(in.error(), opts.path);
  const auto* t = in->find(opts.name);
  if (t == nullptr) return report_error(tensor_not_found(*in, opts.name));
  auto whole = in->get(*t);
  if (!whole) return report_error(whole.error(), opts.path);
  tensor picked = std::move(*whole);
  if (!specs.empty()) {
    auto s = picked.view().slice(specs);
    if (!s) {
      return report_error(
          {s.error().code,
           fmt::format("tensor '{}' {} {}: --slice '{}': {}", opts.name, dtype_name(t->type),
                       format_shape(t->shape), opts.slice, s.error().message)});
    }
    picked = std::move(*s);
  }
  const auto& v = picked.view();
  if (opts.format == "text") {
    std::string out = fmt::format("{}: {} {}{}\n", control_chars_escaped(opts.name),
                                  dtype_name(v.type()), format_shape(v.shape()),
                                  specs.empty() ? "" : fmt::format(" (slice {})", opts.slice));
    out += array_text(v) + '\n';
    return write_out(opts, out, {});
  }
  if (opts.format == "npy") {
    if (const auto descr = npy_descr(v.type()))
      return write_out(opts, npy_header(*descr, v.shape()), v.bytes());
    std::fprintf(stderr,
                 "note: %s has no NumPy dtype: wrote its raw bytes instead of .npy (row-major, "
                 "little-endian, shape %s, %zu bytes)\n",
                 std::string(dtype_name(v.type())).c_str(), format_shape(v.shape()).c_str(),
                 v.bytes().size());
  }
  return write_out(opts, {}, v.bytes());
}

std::function<int()> setup_get(CLI::App& sub) {
  auto opts = std::make_shared<get_options>();
  sub.add_option("path", opts->path,
                 "a .safetensors file, a sharded folder, its index.json, or a .bin/.pt/.pth")
      ->required();
  sub.add_option("name", opts->name, "the tensor")->required();
  sub.add_option("--slice", opts->slice, "Python slice syntax per dimension, e.g. '0:2,:,-1'");
  sub.add_option("--format", opts->format,
                 "npy, text or raw (default: text on stdout; with -o, npy for *.npy else raw)")
      ->check(CLI::IsMember({"npy", "text", "raw"}));
  sub.add_option("-o,--output", opts->output, "write to this file (atomically) instead of stdout");
  return [opts] { return run_get(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("get", "Extract one tensor or a slice as .npy, text or raw bytes",
                        setup_get);

}  // namespace safetensors::cli
