// File I/O benchmark (docs/PERFORMANCE.md, "File I/O"): a 268 MB DistilBERT-shaped F32 file.
//   open + read every byte: ours (mmap, pread) vs `cat FILE > /dev/null` vs torch.load of the
//   same tensors saved as a .bin (Debian torch, run by SAFETENSORS_PYTHON: cmake/python.cmake);
//   write of the same bytes: ours (write_file, no fsync / fsync) vs `cp`.
// Every row is the median of --reps runs after one warm-up, page cache warm; ratios are taken
// within this one run. Usage: io_bench [--dir DIR] [--reps N] [--no-torch]
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_env.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/writer.hpp"

namespace fs = std::filesystem;
using namespace safetensors;

namespace {

struct spec {
  std::string name;
  std::vector<std::uint64_t> shape;
};

// distilbert-base-uncased + a 2-class head: 66,955,010 F32 parameters = 267.8 MB.
std::vector<spec> distilbert_shapes() {
  std::vector<spec> s = {{"distilbert.embeddings.word_embeddings.weight", {30522, 768}},
                         {"distilbert.embeddings.position_embeddings.weight", {512, 768}},
                         {"distilbert.embeddings.LayerNorm.weight", {768}},
                         {"distilbert.embeddings.LayerNorm.bias", {768}}};
  for (int l = 0; l < 6; ++l) {
    const auto p = fmt::format("distilbert.transformer.layer.{}.", l);
    for (const char* m :
         {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"}) {
      s.push_back({p + m + ".weight", {768, 768}});
      s.push_back({p + m + ".bias", {768}});
    }
    s.push_back({p + "sa_layer_norm.weight", {768}});
    s.push_back({p + "sa_layer_norm.bias", {768}});
    s.push_back({p + "ffn.lin1.weight", {3072, 768}});
    s.push_back({p + "ffn.lin1.bias", {3072}});
    s.push_back({p + "ffn.lin2.weight", {768, 3072}});
    s.push_back({p + "ffn.lin2.bias", {768}});
    s.push_back({p + "output_layer_norm.weight", {768}});
    s.push_back({p + "output_layer_norm.bias", {768}});
  }
  s.push_back({"pre_classifier.weight", {768, 768}});
  s.push_back({"pre_classifier.bias", {768}});
  s.push_back({"classifier.weight", {2, 768}});
  s.push_back({"classifier.bias", {2}});
  return s;
}

double median_ms(int reps, const std::function<void()>& run) {
  run();  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Reads every byte (32 at a time, four independent sums) so that every page is faulted in /
// copied and the loop itself is not the bottleneck.
std::uint64_t touch(std::span<const std::byte> bytes) {
  std::uint64_t s[4] = {0, 0, 0, 0};
  const auto* p = bytes.data();
  std::size_t i = 0;
  for (; i + 32 <= bytes.size(); i += 32) {
    for (int k = 0; k < 4; ++k) {
      std::uint64_t w;
      std::memcpy(&w, p + i + 8 * k, 8);
      s[k] += w;
    }
  }
  for (; i < bytes.size(); ++i) s[0] += std::to_integer<std::uint64_t>(bytes[i]);
  return s[0] + s[1] + s[2] + s[3];
}

volatile std::uint64_t sink_value;

void die(const std::string& what) {
  std::fprintf(stderr, "io_bench: %s\n", what.c_str());
  std::exit(1);
}

void run_shell(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) die(fmt::format("command failed: {}", cmd));
}

std::string quoted(const fs::path& p) { return fmt::format("'{}'", p.string()); }

// Creates the input file with pseudo-random contents.
void make_input(const fs::path& path) {
  const auto shapes = distilbert_shapes();
  std::vector<std::vector<std::byte>> data;
  std::vector<tensor_source> sources;
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (const auto& s : shapes) {
    std::uint64_t n = 4;
    for (auto d : s.shape) n *= d;
    auto& buf = data.emplace_back(n);
    for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const std::uint64_t v = (x & 0x3fff3fff3fff3fffULL);  // finite floats
      std::memcpy(buf.data() + i, &v, 8);
    }
  }
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    tensor_source t;
    t.name = shapes[i].name;
    t.shape = shapes[i].shape;
    t.data = data[i];
    sources.push_back(std::move(t));
  }
  if (auto r = write_file(path, sources, {}); !r) die(r.error().message);
}

void open_and_touch(const fs::path& path, backend io, bool populate = false) {
  open_options o;
  o.io = io;
  o.populate = populate;
  auto f = file::open(path, o);
  if (!f) die(f.error().message);
  std::uint64_t sum = 0;
  for (const auto& t : f->tensors()) {
    auto tensor = f->get(t.name);
    if (!tensor) die(tensor.error().message);
    sum += touch(tensor->bytes());
  }
  sink_value = sum;
}

double torch_load_ms(const fs::path& st, const fs::path& bin, int reps) {
  static const char* script = R"PY(
import json, struct, sys, statistics, time, numpy as np, torch
st, bin_path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
blob = open(st, "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n]); header.pop("__metadata__", None)
sd = {k: torch.from_numpy(np.frombuffer(blob, "<f4", (v["data_offsets"][1] - v["data_offsets"][0]) // 4,
                                        8 + n + v["data_offsets"][0]).reshape(v["shape"]).copy())
      for k, v in header.items()}
torch.save(sd, bin_path)
del sd, blob
torch.load(bin_path)
times = []
for _ in range(reps):
    t0 = time.perf_counter(); sd = torch.load(bin_path); times.append((time.perf_counter() - t0) * 1000); del sd
print(statistics.median(times))
)PY";
  const auto script_path = bin.parent_path() / "torch_load.py";
  if (FILE* f = std::fopen(script_path.c_str(), "w")) {
    std::fputs(script, f);
    std::fclose(f);
  }
  const auto out_path = bin.parent_path() / "torch_load.out";
  run_shell(fmt::format("{} {} {} {} {} > {}", quoted(SAFETENSORS_PYTHON), quoted(script_path),
                        quoted(st), quoted(bin), reps, quoted(out_path)));
  double ms = 0;
  if (FILE* f = std::fopen(out_path.c_str(), "r")) {
    if (std::fscanf(f, "%lf", &ms) != 1) ms = 0;
    std::fclose(f);
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = tmp && *tmp ? tmp : "/tmp";
  int reps = 5;
  bool with_torch = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc)
      base = argv[++i];
    else if (a == "--reps" && i + 1 < argc)
      reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--no-torch")
      with_torch = false;
    else
      die("usage: io_bench [--dir DIR] [--reps N] [--no-torch]");
  }
  const fs::path dir = base / fmt::format("io_bench-{}", ::getpid());
  fs::create_directories(dir);
  const auto input = dir / "model.safetensors";
  make_input(input);
  const double mb = static_cast<double>(fs::file_size(input)) / 1e6;

  const double cat =
      median_ms(reps, [&] { run_shell(fmt::format("cat {} > /dev/null", quoted(input))); });
  const double mmap_ms = median_ms(reps, [&] { open_and_touch(input, backend::mmap); });
  const double populate_ms = median_ms(reps, [&] { open_and_touch(input, backend::mmap, true); });
  const double pread_ms = median_ms(reps, [&] { open_and_touch(input, backend::pread); });
  const double torch_ms = with_torch ? torch_load_ms(input, dir / "model.bin", reps) : 0;

  auto in = file::open(input);
  if (!in) die(in.error().message);
  std::vector<tensor> keep;
  std::vector<tensor_source> sources;
  for (const auto& t : in->tensors()) keep.push_back(*in->get(t.name));
  for (std::size_t i = 0; i < keep.size(); ++i) {
    tensor_source s;
    s.name = in->tensors()[i].name;
    s.type = in->tensors()[i].type;
    s.shape = in->tensors()[i].shape;
    s.data = keep[i].bytes();
    sources.push_back(std::move(s));
  }
  const auto out = dir / "out.safetensors";
  const auto copy = dir / "copy.safetensors";
  write_options no_sync;
  no_sync.fsync = false;
  const double cp = median_ms(reps, [&] {
    fs::remove(copy);
    run_shell(fmt::format("cp {} {}", quoted(input), quoted(copy)));
  });
  const double write_ms = median_ms(reps, [&] {
    fs::remove(out);
    if (auto r = write_file(out, sources, in->metadata(), no_sync); !r) die(r.error().message);
  });
  const double cp_sync = median_ms(reps, [&] {
    fs::remove(copy);
    run_shell(fmt::format("cp {0} {1} && sync {1}", quoted(input), quoted(copy)));
  });
  const double write_sync = median_ms(reps, [&] {
    fs::remove(out);
    if (auto r = write_file(out, sources, in->metadata()); !r) die(r.error().message);
  });

  bench::print_environment();
  std::printf("File I/O, %.1f MB F32 file (%zu tensors), median of %d runs, page cache warm\n\n",
              mb, in->tensors().size(), reps);
  std::printf("| operation | ms | GB/s | ratio |\n|---|---:|---:|---:|\n");
  auto row = [&](const char* what, double ms, double ref, const char* ref_name) {
    std::printf("| %s | %.1f | %.2f | %.2fx %s |\n", what, ms, mb / ms, ms / ref, ref_name);
  };
  row("`cat FILE > /dev/null`", cat, cat, "cat");
  row("ours: open (mmap) + read every byte", mmap_ms, cat, "cat");
  row("ours: open (mmap, populate) + read every byte", populate_ms, cat, "cat");
  row("ours: open (pread) + read every byte", pread_ms, cat, "cat");
  if (with_torch) row("torch.load of the same tensors (.bin)", torch_ms, cat, "cat");
  row("`cp FILE COPY`", cp, cp, "cp");
  row("ours: write_file (no fsync)", write_ms, cp, "cp");
  row("`cp FILE COPY && sync COPY`", cp_sync, cp_sync, "cp+sync");
  row("ours: write_file (fsync, default)", write_sync, cp_sync, "cp+sync");
  if (with_torch) std::printf("\nours (mmap) vs torch.load: %.1fx faster\n", torch_ms / mmap_ms);
  const double best_open = std::min(mmap_ms, populate_ms);
  std::printf("targets: open+touch <= 0.8x cat: %s; write <= 1.3x cp: %s\n",
              best_open <= 0.8 * cat ? "met" : "MISSED", write_ms <= 1.3 * cp ? "met" : "MISSED");
  if (!std::getenv("IO_BENCH_KEEP")) fs::remove_all(dir);
  return 0;
}
