// C++ quick start (README): write a file, open it, read a tensor back.
// Build against an installed safetensors-cpp: see CMakeLists.txt beside this file.
#include <cstdio>
#include <safetensors/safetensors.hpp>
#include <span>
#include <string>
#include <vector>

namespace st = safetensors;

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "quickstart.safetensors";

  // Write: tensors borrow caller memory; the file is streamed and replaced atomically.
  std::vector<float> weight = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  std::vector<st::tensor_source> tensors(1);
  tensors[0].name = "layer.weight";
  tensors[0].type = st::dtype::F32;
  tensors[0].shape = {2, 3};
  tensors[0].data = std::as_bytes(std::span(weight));
  st::metadata_map metadata{.present = true, .entries = {{"format", "pt"}}};
  if (auto written = st::write_file(path, tensors, metadata); !written) {
    std::fprintf(stderr, "error: %s\n", written.error().message.c_str());
    return 1;
  }

  // Read: the header is validated at open; tensors are zero-copy views of the mapping.
  auto file = st::file::open(path);
  if (!file) {
    std::fprintf(stderr, "error: %s\n", file.error().message.c_str());
    return 1;
  }
  for (const st::tensor_info& t : file->tensors()) {
    std::printf("%s %s rank %zu, %llu bytes\n", t.name.c_str(),
                std::string(st::dtype_name(t.type)).c_str(), t.shape.size(),
                static_cast<unsigned long long>(t.nbytes()));
  }
  auto w = file->get("layer.weight");
  if (!w) return 1;
  auto values = w->as<float>();
  if (!values) return 1;
  float sum = 0;
  for (float v : *values) sum += v;
  const std::string* format = file->metadata().find("format");
  std::printf("sum %.1f, format %s\n", static_cast<double>(sum), format ? format->c_str() : "none");
  return 0;
}
