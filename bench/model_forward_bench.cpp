// DistilBERT engine latency: loads a model folder, runs logits() on deterministic token ids at
// the requested (batch x length) shapes and prints one JSON line per shape. Also measures the
// raw GEMM throughput of our oneDNN interface (--gemm). Driven by bench/model_bench.py, which
// runs PyTorch and ONNX Runtime on the same ids in the same session.
//   model_forward_bench --model DIR --threads 2 --shapes 1x16,1x128,1x512,8x128 [--seconds 3]
//                       [--precision fp32|bf16|int8]
#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "../src/model/gemm.hpp"
#include "../src/model/threads.hpp"
#include "bench_env.hpp"
#include "safetensors/model/classifier.hpp"

using namespace safetensors;
using clock_type = std::chrono::steady_clock;

namespace {

// The ids every peer uses: [CLS] x... [SEP], x = 1000 + (i*7919 + b*104729) % 29000.
std::vector<model::encoding> make_inputs(std::size_t batch, std::size_t len) {
  std::vector<model::encoding> out(batch);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t i = 0; i < len; ++i) {
      std::int32_t id = static_cast<std::int32_t>(1000 + (i * 7919 + b * 104729) % 29000);
      if (i == 0) id = 101;
      if (i + 1 == len && len > 1) id = 102;
      out[b].ids.push_back(id);
    }
  return out;
}

double forward_flops(const model::distilbert_config& c, double batch, double len) {
  const double d = static_cast<double>(c.dim), h = static_cast<double>(c.hidden_dim);
  const double per_layer = 4 * len * d * d + 2 * len * d * h + 2 * len * len * d;
  return 2 * batch * per_layer * static_cast<double>(c.n_layers);
}

struct stats {
  double median_ms, min_ms, mean_ms;
  std::size_t reps;
  double cpu_ms;  // process CPU time per call (all threads), median
};

double cpu_now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

template <class F>
stats measure(F&& f, double seconds) {
  f();  // warm-up: primitive creation, page faults
  std::vector<double> ms, cpu;
  const auto start = clock_type::now();
  while (ms.size() < 3 ||
         (std::chrono::duration<double>(clock_type::now() - start).count() < seconds &&
          ms.size() < 1000)) {
    const auto t0 = clock_type::now();
    const double c0 = cpu_now_ms();
    f();
    cpu.push_back(cpu_now_ms() - c0);
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  double sum = 0;
  for (double v : ms) sum += v;
  return {ms[ms.size() / 2], ms.front(), sum / static_cast<double>(ms.size()), ms.size(),
          cpu[cpu.size() / 2]};
}

const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_all:
      return "all";
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
      return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
  }
  return "unknown";
}

// oneDNN's version and the widest instruction set its JIT kernels may use on this CPU (each
// primitive picks its kernel at creation, up to that ISA; ONEDNN_VERBOSE=1 names the ones used).
std::string onednn_kernels() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("oneDNN {}.{}.{}, ISA up to {}", v->major, v->minor, v->patch,
                     isa_name(dnnl_get_effective_cpu_isa()));
}

int gemm_throughput(int threads, double seconds) {
  model::detail::set_compute_threads(threads);
  model::detail::gemm_engine g;
  for (const auto& shape : {std::array<std::size_t, 3>{128, 768, 768},
                            {128, 768, 3072},
                            {128, 3072, 768},
                            {1024, 768, 768},
                            {16, 768, 768}}) {
    const std::size_t m = shape[0], k = shape[1],
                      n = shape[2];  // lambdas cannot capture bindings (clang 14)
    std::vector<float> x(m * k, 0.5f), w(n * k, 0.25f), b(n, 1.f), y(m * n);
    const model::detail::linear_weights lw{w.data(), b.data(), n, k};
    auto s = measure([&] { (void)g.linear({x.data(), m, k}, lw, {y.data(), m, n}); }, seconds / 5);
    std::printf("{\"gemm\":\"%zux%zux%zu\",\"threads\":%d,\"median_ms\":%.4f,\"gflops\":%.1f}\n", m,
                k, n, threads, s.median_ms, 2.0 * double(m * k * n) / (s.median_ms * 1e6));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, shapes = "1x16,1x128,1x512,8x128";
  int threads = 1;
  double seconds = 3;
  bool gemm = false;
  model::precision precision = model::precision::fp32;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--model")
      model_dir = next();
    else if (a == "--threads")
      threads = std::atoi(next().c_str());
    else if (a == "--shapes")
      shapes = next();
    else if (a == "--seconds")
      seconds = std::atof(next().c_str());
    else if (a == "--gemm")
      gemm = true;
    else if (a == "--precision" && i + 1 < argc && model::parse_precision(argv[i + 1]))
      precision = *model::parse_precision(next());
    else {
      std::fprintf(stderr,
                   "usage: model_forward_bench --model DIR [--threads N] [--shapes BxL,...] "
                   "[--seconds S] [--precision fp32|bf16|int8] | --gemm [--threads N]\n");
      return 2;
    }
  }
  bench::print_environment(onednn_kernels());
  if (gemm) return gemm_throughput(threads, seconds);
  const auto t0 = clock_type::now();
  model::load_options opts;
  opts.threads = threads;
  opts.batch_size = 64;
  opts.precision = precision;
  auto clf = model::classifier::load(model_dir, opts);
  if (!clf) {
    std::fprintf(stderr, "error: %s\n", clf.error().message.c_str());
    return 1;
  }
  const double load_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
  std::printf("{\"load_ms\":%.2f,\"in_place_bytes\":%llu,\"converted_bytes\":%llu}\n", load_ms,
              static_cast<unsigned long long>(clf->weights_bytes_in_place()),
              static_cast<unsigned long long>(clf->weights_bytes_converted()));
  for (std::size_t pos = 0; pos < shapes.size();) {
    const std::size_t comma = std::min(shapes.find(',', pos), shapes.size());
    const std::string shape = shapes.substr(pos, comma - pos);
    pos = comma + 1;
    const std::size_t x = shape.find('x');
    const std::size_t batch = std::stoul(shape.substr(0, x)), len = std::stoul(shape.substr(x + 1));
    const auto inputs = make_inputs(batch, len);
    std::size_t calls = 0, reduced = 0;  // calls that ran with fewer threads (busy machine)
    auto s = measure(
        [&] {
          auto r = clf->logits(inputs);
          if (!r) std::fprintf(stderr, "error: %s\n", r.error().message.c_str()), std::exit(1);
          ++calls;
          if (model::detail::compute_threads() < threads) ++reduced;
        },
        seconds);
    std::printf(
        "{\"engine\":\"ours\",\"precision\":\"%s\",\"batch\":%zu,\"len\":%zu,\"threads\":%d,"
        "\"median_ms\":%.3f,\"min_"
        "ms\":%.3f,"
        "\"mean_ms\":%.3f,\"reps\":%zu,\"cpu_ms\":%.3f,\"gflops\":%.1f,\"reduced_thread_calls\":\"%"
        "zu/%zu\"}\n",
        std::string(model::precision_name(precision)).c_str(), batch, len, threads, s.median_ms,
        s.min_ms, s.mean_ms, s.reps, s.cpu_ms,
        forward_flops(clf->config(), double(batch), double(len)) / (s.median_ms * 1e6), reduced,
        calls);
    std::fflush(stdout);
  }
  rusage usage{};  // after every shape: packed weights (from the 2nd forward) + activations
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"engine\":\"ours\",\"peak_rss_mib\":%.1f}\n",
              static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
