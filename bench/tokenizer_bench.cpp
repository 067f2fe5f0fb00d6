// Tokenizer throughput: ours vs Hugging Face tokenizers (npm @anush008/tokenizers, timed in the
// same run by tests/node/tokenizer_reference.js --time) over IMDB reviews (default: the 600 of
// tests/data/imdb/test_slice.jsonl.gz; any file of the same JSON-lines format, gzip, can be
// given), one thread each (RAYON_NUM_THREADS=1 for the reference), truncation to 512 as the
// classifier. Tokenizer: examples/distilbert-imdb/tokenizer.json.
//
// usage: tokenizer_bench [REVIEWS.jsonl.gz [COUNT]]   (env: SAFETENSORS_SOURCE_DIR, default .)
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_env.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/model/tokenizer.hpp"

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The "text" string of one IMDB JSON line (the data's writer emits it as a plain JSON string).
std::string text_field(const std::string& line) {
  std::string out;
  auto pos = line.find("\"text\": \"");
  if (pos == std::string::npos) return out;
  for (pos += 9; pos < line.size() && line[pos] != '"'; ++pos) {
    if (line[pos] != '\\') {
      out += line[pos];
      continue;
    }
    const char e = line[++pos];
    if (e == 'u') {
      unsigned cp = static_cast<unsigned>(std::stoul(line.substr(pos + 1, 4), nullptr, 16));
      pos += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && line.compare(pos + 1, 2, "\\u") == 0) {
        const unsigned lo = static_cast<unsigned>(std::stoul(line.substr(pos + 3, 4), nullptr, 16));
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        pos += 6;
      }
      append_utf8(out, cp);
    } else {
      out += e == 'n'   ? '\n'
             : e == 't' ? '\t'
             : e == 'r' ? '\r'
             : e == 'b' ? '\b'
             : e == 'f' ? '\f'
                        : e;
    }
  }
  return out;
}

std::vector<std::string> read_reviews(const std::string& gz, std::size_t count) {
  std::vector<std::string> texts;
  FILE* p = popen(fmt::format("gzip -dc '{}'", gz).c_str(), "r");
  if (!p) return texts;
  std::string line;
  char buf[1 << 16];
  while (texts.size() < count && std::fgets(buf, sizeof buf, p)) {
    line += buf;
    if (line.empty() || line.back() != '\n') continue;
    texts.push_back(text_field(line));
    line.clear();
  }
  pclose(p);
  return texts;
}

double reference_seconds(const std::string& source, const std::string& tokenizer_json,
                         const std::vector<std::string>& texts) {
  const auto inputs = std::filesystem::temp_directory_path() / "st_tokenizer_bench_inputs.jsonl";
  {
    std::ofstream out(inputs, std::ios::binary);
    for (const auto& t : texts) out << safetensors::json_quote(t) << '\n';
  }
  const std::string cmd = fmt::format(
      "RAYON_NUM_THREADS=1 node '{}/tests/node/tokenizer_reference.js' '{}' '{}' "
      "--time --max-length 512",
      source, tokenizer_json, inputs.string());
  FILE* p = popen(cmd.c_str(), "r");
  char buf[256] = {};
  const bool ok = p && std::fgets(buf, sizeof buf, p);
  if (p) pclose(p);
  std::filesystem::remove(inputs);
  if (!ok) return -1;
  const std::string out(buf);
  const auto k = out.find("\"seconds\":");
  return k == std::string::npos ? -1 : std::stod(out.substr(k + 10));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string source = env_or("SAFETENSORS_SOURCE_DIR", ".");
  const std::string reviews = argc > 1 ? argv[1] : source + "/tests/data/imdb/test_slice.jsonl.gz";
  const std::size_t limit = argc > 2 ? std::stoul(argv[2]) : SIZE_MAX;
  const std::string tokenizer_json = source + "/examples/distilbert-imdb/tokenizer.json";
  auto tok = safetensors::model::tokenizer::from_tokenizer_json(tokenizer_json);
  if (!tok) {
    std::fprintf(stderr, "error: %s\n", tok.error().message.c_str());
    return 1;
  }
  const auto texts = read_reviews(reviews, limit);
  if (texts.empty() || (limit != SIZE_MAX && texts.size() != limit)) {
    std::fprintf(stderr, "error: %s: read %zu reviews\n", reviews.c_str(), texts.size());
    return 1;
  }
  bench::print_environment();
  const std::size_t count = texts.size();
  std::size_t tokens = 0, bytes = 0;
  double best = 1e9, best_cpu = 1e9;
  for (int pass = 0; pass < 4; ++pass) {  // pass 0 warms up
    const double cpu_start = thread_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    std::size_t n = 0;
    for (const auto& t : texts) n += tok->encode(t)->size();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = thread_cpu_seconds() - cpu_start;
    if (pass > 0 && s < best) best = s;
    if (pass > 0 && cpu < best_cpu) best_cpu = cpu;
    tokens = n;
  }
  for (const auto& t : texts) bytes += t.size();
  const double ref = reference_seconds(source, tokenizer_json, texts);
  const double ours_rate = static_cast<double>(count) / best;
  fmt::print("reviews: {} ({:.0f} bytes, {:.0f} tokens on average, truncated to 512)\n", count,
             static_cast<double>(bytes) / static_cast<double>(count),
             static_cast<double>(tokens) / static_cast<double>(count));
  fmt::print("ours:      {:9.0f} reviews/s  {:7.1f} us/review  ({:.1f} MB/s)\n", ours_rate,
             1e6 * best / static_cast<double>(count), static_cast<double>(bytes) / best / 1e6);
  fmt::print("ours, thread CPU time: {:.1f} us/review (load-independent: time this thread ran)\n",
             1e6 * best_cpu / static_cast<double>(count));
  if (ref > 0) {
    const double ref_rate = static_cast<double>(count) / ref;
    fmt::print(
        "reference: {:9.0f} reviews/s  {:7.1f} us/review  (npm @anush008/tokenizers encodeBatch, 1 "
        "thread)\n",
        ref_rate, 1e6 * ref / static_cast<double>(count));
    fmt::print("ratio ours/reference: {:.2f}x\n", ours_rate / ref_rate);
  } else {
    fmt::print("reference: unavailable (node or tests/node/node_modules missing)\n");
  }
  return 0;
}
