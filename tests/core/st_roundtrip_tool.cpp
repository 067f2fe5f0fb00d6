// Test helper for tests/python/crosscheck_test.py: writes a file from a JSON spec with our
// writer, and dumps a file read by our reader as JSON.
//   st_roundtrip_tool write SPEC.json OUT.safetensors
//     SPEC: {"metadata": {"k": "v"} | null, "alignment": 8,
//            "tensors": [{"name": "..", "dtype": "F32", "shape": [2, 3], "hex": "00ff.."}]}
//   st_roundtrip_tool dump FILE [--pread]
//     {"header_size": N, "metadata": {..} | null, "tensors": [{"name", "dtype", "shape",
//      "offsets": [b, e], "hex"}]} in offset order
// Errors: exit 1 with "error <kind>: <message>" on stderr.
#include <simdjson.h>

#include <cstdio>
#include <string>
#include <vector>

#include "safetensors/json_writer.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/writer.hpp"

using namespace safetensors;

namespace {

int report(const error& e) {
  std::fprintf(stderr, "error %s: %s\n", std::string(errc_name(e.code)).c_str(), e.message.c_str());
  return 1;
}

int usage(const char* what) {
  std::fprintf(stderr, "error usage: %s\n", what);
  return 2;
}

result<std::vector<std::byte>> from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2) return fail(errc::invalid_argument, "odd hex length");
  std::vector<std::byte> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(errc::invalid_argument, "bad hex digit");
    out[i] = static_cast<std::byte>(hi * 16 + lo);
  }
  return out;
}

std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out.push_back(digits[std::to_integer<int>(b) >> 4]);
    out.push_back(digits[std::to_integer<int>(b) & 15]);
  }
  return out;
}

struct spec {
  std::vector<std::vector<std::byte>> data;
  std::vector<tensor_source> tensors;
  metadata_map metadata;
  std::uint64_t alignment = 8;
};

result<void> read_tensor(simdjson::dom::object t, spec& s) {
  std::string_view name, dtype_str, hex;
  simdjson::dom::array shape;
  if (t["name"].get(name) || t["dtype"].get(dtype_str) || t["shape"].get(shape) ||
      t["hex"].get(hex)) {
    return fail(errc::invalid_argument, "tensor entry needs name, dtype, shape, hex");
  }
  auto type = dtype_from_name(dtype_str);
  if (!type) return fail(errc::unknown_dtype, std::string(dtype_str));
  auto bytes = from_hex(hex);
  if (!bytes) return tl::unexpected(bytes.error());
  tensor_source src;
  src.name = std::string(name);
  src.type = *type;
  for (auto d : shape) {
    std::uint64_t v = 0;
    if (d.get_uint64().get(v)) return fail(errc::invalid_argument, "shape entries must be u64");
    src.shape.push_back(v);
  }
  s.data.push_back(std::move(*bytes));
  s.tensors.push_back(std::move(src));
  return {};
}

result<spec> read_spec(const char* path) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.load(path).get(root)) return fail(errc::invalid_argument, "cannot parse the spec");
  spec s;
  simdjson::dom::array tensors;
  if (root["tensors"].get(tensors)) return fail(errc::invalid_argument, "spec needs tensors");
  for (auto t : tensors) {
    simdjson::dom::object obj;
    if (t.get(obj)) return fail(errc::invalid_argument, "tensor entries are objects");
    if (auto r = read_tensor(obj, s); !r) return tl::unexpected(r.error());
  }
  for (std::size_t i = 0; i < s.tensors.size(); ++i) s.tensors[i].data = s.data[i];
  simdjson::dom::object meta;
  if (!root["metadata"].get(meta)) {
    s.metadata.present = true;
    for (auto field : meta) {
      std::string_view v;
      if (field.value.get(v)) return fail(errc::invalid_argument, "metadata values are strings");
      s.metadata.entries.emplace_back(std::string(field.key), std::string(v));
    }
  }
  std::uint64_t align = 8;
  if (!root["alignment"].get(align)) s.alignment = align;
  return s;
}

int write_command(const char* spec_path, const char* out) {
  auto s = read_spec(spec_path);
  if (!s) return report(s.error());
  write_options opts;
  opts.alignment = s->alignment;
  opts.fsync = false;
  auto r = write_file(out, s->tensors, s->metadata, opts);
  return r ? 0 : report(r.error());
}

int dump_command(const char* path, bool pread) {
  open_options opts;
  opts.io = pread ? backend::pread : backend::mmap;
  auto f = file::open(path, opts);
  if (!f) return report(f.error());
  json_writer w;
  w.begin_object().key("header_size").value(f->info().header_size).key("metadata");
  if (f->metadata().present) {
    w.begin_object();
    for (const auto& [k, v] : f->metadata().entries) w.key(k).value(v);
    w.end_object();
  } else {
    w.null();
  }
  w.key("tensors").begin_array();
  for (const auto& t : f->tensors()) {
    auto data = f->get(t.name);
    if (!data) return report(data.error());
    w.begin_object()
        .key("name")
        .value(t.name)
        .key("dtype")
        .value(dtype_name(t.type))
        .key("shape")
        .begin_array();
    for (auto d : t.shape) w.value(d);
    w.end_array().key("offsets").begin_array().value(t.begin).value(t.end).end_array();
    w.key("hex").value(to_hex(data->bytes())).end_object();
  }
  w.end_array().end_object();
  std::fwrite(w.str().data(), 1, w.str().size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "write" && argc == 4) return write_command(argv[2], argv[3]);
  if (cmd == "dump" && (argc == 3 || (argc == 4 && std::string(argv[3]) == "--pread"))) {
    return dump_command(argv[2], argc == 4);
  }
  return usage("st_roundtrip_tool write SPEC.json OUT | dump FILE [--pread]");
}
