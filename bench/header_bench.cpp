// Header parse + validate: a 104-tensor DistilBERT-shaped header and a 100,000-tensor header,
// generated here. The peer in the same run is a bare simdjson DOM parse of the same JSON (the
// floor for any simdjson-based reader); the reference Rust crate took ~130 ms for the
// 100,000-tensor header on this machine (issue 2).
//   build/bench/header_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_env.hpp"
#include "safetensors/header.hpp"
#include "safetensors/reader.hpp"

namespace st = safetensors;

namespace {

struct generated {
  std::string json;
  std::uint64_t file_size = 0;
};

class header_builder {
 public:
  void add(const std::string& name, const char* dtype, std::vector<std::uint64_t> shape,
           unsigned bytes_per) {
    std::uint64_t n = bytes_per;
    for (auto d : shape) n *= d;
    json_ += fmt::format("{}\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                         json_.size() > 1 ? "," : "", name, dtype, fmt::join(shape, ","), offset_,
                         offset_ + n);
    offset_ += n;
  }
  generated finish() {
    json_ += "}";
    json_.resize((json_.size() + 7) / 8 * 8, ' ');
    return {json_, 8 + json_.size() + offset_};
  }

 private:
  std::string json_ = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::uint64_t offset_ = 0;
};

generated distilbert() {
  header_builder b;
  const std::string e = "distilbert.embeddings.";
  b.add(e + "word_embeddings.weight", "F32", {30522, 768}, 4);
  b.add(e + "position_embeddings.weight", "F32", {512, 768}, 4);
  b.add(e + "LayerNorm.weight", "F32", {768}, 4);
  b.add(e + "LayerNorm.bias", "F32", {768}, 4);
  for (int l = 0; l < 6; ++l) {
    const std::string p = fmt::format("distilbert.transformer.layer.{}.", l);
    for (const char* lin :
         {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"}) {
      b.add(p + lin + ".weight", "F32", {768, 768}, 4);
      b.add(p + lin + ".bias", "F32", {768}, 4);
    }
    b.add(p + "sa_layer_norm.weight", "F32", {768}, 4);
    b.add(p + "sa_layer_norm.bias", "F32", {768}, 4);
    b.add(p + "ffn.lin1.weight", "F32", {3072, 768}, 4);
    b.add(p + "ffn.lin1.bias", "F32", {3072}, 4);
    b.add(p + "ffn.lin2.weight", "F32", {768, 3072}, 4);
    b.add(p + "ffn.lin2.bias", "F32", {768}, 4);
    b.add(p + "output_layer_norm.weight", "F32", {768}, 4);
    b.add(p + "output_layer_norm.bias", "F32", {768}, 4);
  }
  b.add("pre_classifier.weight", "F32", {768, 768}, 4);
  b.add("pre_classifier.bias", "F32", {768}, 4);
  b.add("classifier.weight", "F32", {2, 768}, 4);
  b.add("classifier.bias", "F32", {2}, 4);
  return b.finish();
}

generated many(int count) {
  header_builder b;
  for (int i = 0; i < count; ++i)
    b.add(fmt::format("model.layers.{}.mlp.weight", i), "F16", {16, 16}, 2);
  return b.finish();
}

void parse_validate(benchmark::State& state, const generated& g, std::size_t tensors) {
  for (auto _ : state) {
    auto h = st::parse_header(g.json, g.file_size);
    if (!h || h->tensors.size() != tensors) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g.json.size()));
  state.counters["json_MB"] = static_cast<double>(g.json.size()) / 1e6;
}

void simdjson_only(benchmark::State& state, const generated& g) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(g.json);
  for (auto _ : state) {
    simdjson::dom::element e;
    if (parser.parse(text).get(e) != simdjson::SUCCESS) state.SkipWithError("simdjson failed");
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g.json.size()));
}

const generated& small() {
  static const generated g = distilbert();
  return g;
}
const generated& large() {
  static const generated g = many(100'000);
  return g;
}

// The real open path: a sparse file (header + holes) opened header-only (pread + in-place parse).
class sparse_file {
 public:
  explicit sparse_file(const generated& g) {
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("header_bench_{}.safetensors", ::getpid());
    std::ofstream f(path_, std::ios::binary);
    std::uint64_t n = g.json.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    f.write(len, 8);
    f.write(g.json.data(), static_cast<std::streamsize>(g.json.size()));
    f.close();
    std::filesystem::resize_file(path_, g.file_size);
  }
  ~sparse_file() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void open_header_only(benchmark::State& state, const generated& g, std::size_t tensors) {
  sparse_file file(g);
  st::open_options o;
  o.header_only = true;
  for (auto _ : state) {
    auto f = st::file::open(file.path(), o);
    if (!f || f->tensors().size() != tensors) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(f);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g.json.size()));
}

void BM_open_header_only_100k(benchmark::State& s) { open_header_only(s, large(), 100'000); }

void BM_parse_validate_distilbert_104(benchmark::State& s) { parse_validate(s, small(), 104); }
void BM_simdjson_dom_only_distilbert_104(benchmark::State& s) { simdjson_only(s, small()); }
void BM_parse_validate_100k(benchmark::State& s) { parse_validate(s, large(), 100'000); }
void BM_simdjson_dom_only_100k(benchmark::State& s) { simdjson_only(s, large()); }

}  // namespace

BENCHMARK(BM_parse_validate_distilbert_104)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_simdjson_dom_only_distilbert_104)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_parse_validate_100k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_simdjson_dom_only_100k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_open_header_only_100k)->Unit(benchmark::kMillisecond);
// The first parse in a process pays for fresh memory (page faults for the parser's buffers);
// later ones reuse the per-thread parser. Print that first call before the steady-state runs.
int main(int argc, char** argv) {
  // simdjson picks its kernels for this CPU at run time (core's parse_header uses the same ones).
  const simdjson::implementation* simd = simdjson::get_active_implementation();
  bench::print_environment(fmt::format("simdjson {} ({})", simd->name(), simd->description()));
  const auto& g = large();
  auto t0 = std::chrono::steady_clock::now();
  auto h = st::parse_header(g.json, g.file_size);
  auto t1 = std::chrono::steady_clock::now();
  std::printf("first parse_header of the 100,000-tensor header (cold, %.2f MB): %.1f ms (%s)\n",
              static_cast<double>(g.json.size()) / 1e6,
              std::chrono::duration<double, std::milli>(t1 - t0).count(), h ? "ok" : "failed");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
