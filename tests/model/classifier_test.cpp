// classifier::load on model folders written at run time: a working tiny model (logits against
// the float64 reference) and each bad folder giving one clear error.
#include "safetensors/model/classifier.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "model/threads.hpp"
#include "model/weights.hpp"
#include "model_fixture.hpp"
#include "safetensors/writer.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::model;
using namespace safetensors::model::testing;
namespace fs = std::filesystem;

namespace {

const char* vocab_words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",   "movie",
                             "was",   "good",  "bad",   "great", "very",   "not",   "!",
                             ".",     ",",     "a",     "##s",   "film",   "boring"};

class model_folder : public ::testing::Test {
 protected:
  safetensors::test::temp_dir folder;
  const fs::path& dir = folder.path();
  distilbert_config cfg = tiny_config(3);
  memory_source weights = random_model(cfg, 11);

  void SetUp() override {
    write_text("config.json", R"({"architectures": ["DistilBertForSequenceClassification"],
      "model_type": "distilbert", "dim": 32, "n_heads": 4, "n_layers": 2, "hidden_dim": 48,
      "vocab_size": 50, "max_position_embeddings": 40, "activation": "gelu",
      "id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}})");
    std::string vocab;
    for (const char* w : vocab_words) vocab += std::string(w) + "\n";
    write_text("vocab.txt", vocab);
    write_text("tokenizer_config.json", R"({"do_lower_case": true, "model_max_length": 512})");
  }
  void write_text(const std::string& name, const std::string& text) {
    safetensors::test::write_all(dir / name, text);
  }
  void write_weights(const memory_source& src, const std::string& name = "model.safetensors") {
    std::vector<tensor_source> tensors;
    for (const auto& [n, t] : src.tensors) tensors.push_back({n, t.type, t.shape, t.bytes, {}, {}});
    write_options opts;
    opts.fsync = false;
    auto r = write_file(dir / name, tensors, metadata_map{}, opts);
    ASSERT_TRUE(r) << r.error().message;
  }
  error load_error() {
    auto c = classifier::load(dir);
    EXPECT_FALSE(c);
    if (c) return {errc::io, ""};
    EXPECT_EQ(c.error().message.find('\n'), std::string::npos);
    return c.error();
  }
};

bool contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

}  // namespace

TEST_F(model_folder, loads_and_matches_the_reference) {
  write_weights(weights);
  auto c = classifier::load(dir, {.threads = 1, .batch_size = 2});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->weights_source(), "model.safetensors");
  EXPECT_EQ(c->weights_bytes_converted(), 0u);
  EXPECT_GT(c->weights_bytes_in_place(), 0u);
  std::vector<encoding> inputs(3);
  inputs[0].ids = {2, 5, 6, 7, 8, 3};
  inputs[1].ids = {2, 3};
  inputs[2].ids = {2, 18, 7, 11, 19, 14, 3, 12, 9};
  auto logits = c->logits(inputs);
  ASSERT_TRUE(logits) << logits.error().message;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto want = reference_logits(weights, cfg, inputs[i].ids);
    for (std::size_t j = 0; j < want.size(); ++j) EXPECT_NEAR((*logits)[i][j], want[j], 1e-4) << i;
  }
  std::vector<std::string> texts = {"The movie was very good!", "boring films."};
  auto scores = c->classify(texts);
  ASSERT_TRUE(scores) << scores.error().message;
  ASSERT_EQ(scores->size(), 2u);
  float sum = 0;
  for (const auto& s : (*scores)[0]) sum += s.score;
  EXPECT_NEAR(sum, 1.f, 1e-5);
  EXPECT_GE((*scores)[0][0].score, (*scores)[0][1].score);
  auto enc = c->tokenizer().encode(texts[1]);
  ASSERT_TRUE(enc);
  const auto want = reference_logits(weights, cfg, enc->ids);
  const auto top = std::max_element(want.begin(), want.end()) - want.begin();
  EXPECT_EQ((*scores)[1][0].label, cfg.id2label[static_cast<std::size_t>(top)]);
}

namespace {

// Resident kB of the mapping starting at `addr`, from /proc/self/smaps.
long mapping_rss_kb(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  const std::string start = fmt::format("{:x}-", reinterpret_cast<std::uintptr_t>(addr));
  bool in = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.rfind(start, 0) == 0)
      in = true;
    else if (in && line.rfind("Rss:", 0) == 0)
      return std::stol(line.substr(4));
  }
  return -1;
}

}  // namespace

TEST_F(model_folder, fixed_threads_ignore_the_load) {
  write_weights(weights);
  std::vector<encoding> inputs(1);
  inputs[0].ids = {2, 5, 6, 3};
  // Other runnable threads (the load a server's own connection threads make) do not shrink a
  // fixed team.
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 4; ++i)
    busy.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  auto c = classifier::load(dir, {.threads = 2, .threads_follow_load = false});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->logits(inputs));
  const int fixed = safetensors::model::detail::compute_threads();
  stop = true;
  for (auto& t : busy) t.join();
  safetensors::model::detail::set_compute_threads(1);
  safetensors::model::detail::set_compute_threads(2);
  if (safetensors::model::detail::compute_threads() == 2) {  // 1 without OpenMP
    EXPECT_EQ(fixed, 2);
  }
}

TEST_F(model_folder, released_mapped_pages_read_back_from_the_file) {
  const long page = ::sysconf(_SC_PAGESIZE);
  std::string bytes(static_cast<std::size_t>(5 * page), '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 % 251);
  write_text("pages.bin", bytes);
  const int fd = ::open((dir / "pages.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  void* map = ::mmap(nullptr, bytes.size(), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  ASSERT_NE(map, MAP_FAILED);
  const auto* p = static_cast<const char*>(map);
  EXPECT_EQ(std::string(p, bytes.size()), bytes);  // every page touched
  const long all_kb = mapping_rss_kb(map);
  EXPECT_EQ(all_kb, 5 * page / 1024);
  // Bytes [100, 4 pages + 50): only whole pages 1..3 lie inside; 0 and 4 stay.
  detail::release_mapped_pages(p + 100, static_cast<std::size_t>(4 * page - 50));
  EXPECT_EQ(mapping_rss_kb(map), 2 * page / 1024);
  EXPECT_EQ(std::string(p, bytes.size()), bytes);  // faulted back in, same contents
  detail::release_mapped_pages(p, bytes.size());   // every page
  EXPECT_EQ(mapping_rss_kb(map), 0);
  detail::populate_mapped_pages(p + 1, bytes.size() - 1);  // from inside the first page
  EXPECT_EQ(mapping_rss_kb(map), all_kb);
  ::munmap(map, bytes.size());
}

TEST_F(model_folder, packing_drops_the_mapped_weights_piece_by_piece) {
  // A [600, 512] F32 weight (1.2 MB: two pieces) in a file mapping, packed to each type: every
  // page of it is dropped afterwards, and the result is the same as packing an in-memory copy.
  const std::size_t out = 600, in = 512;
  std::vector<float> w(out * in), bias(out, 0.25f);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 97) / 50.f - 1.f;
  write_text("weight.bin", std::string(reinterpret_cast<const char*>(w.data()), w.size() * 4));
  const int fd = ::open((dir / "weight.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  void* map = ::mmap(nullptr, w.size() * 4, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  ASSERT_NE(map, MAP_FAILED);
  const detail::linear_weights mapped{map, bias.data(), out, in, detail::weight_type::f32, true};
  const detail::linear_weights memory{w.data(), bias.data(), out, in};
  std::vector<float> x(3 * in);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) / 7.f - 0.9f;
  for (auto to : {detail::weight_type::f32_packed, detail::weight_type::bf16_packed,
                  detail::weight_type::s8_packed}) {
    detail::populate_mapped_pages(map, w.size() * 4);
    detail::gemm_engine g;
    auto from_map = g.pack({&mapped, 1}, to);
    ASSERT_TRUE(from_map) << from_map.error().message;
    EXPECT_EQ(mapping_rss_kb(map), 0) << "type " << static_cast<int>(to);
    auto from_memory = g.pack({&memory, 1}, to);
    ASSERT_TRUE(from_memory);
    EXPECT_NE(from_map->bias, bias.data());  // the engine's copy
    std::vector<float> a(3 * out), b(3 * out);
    ASSERT_TRUE(g.linear({x.data(), 3, in}, *from_map, {a.data(), 3, out}));
    ASSERT_TRUE(g.linear({x.data(), 3, in}, *from_memory, {b.data(), 3, out}));
    EXPECT_EQ(a, b) << "type " << static_cast<int>(to);
  }
  ::munmap(map, w.size() * 4);
}

TEST_F(model_folder, only_mapped_f32_weights_are_marked_for_packing) {
  write_weights(weights);
  auto src = detail::open_weight_source(dir);
  ASSERT_TRUE(src) << src.error().message;
  auto w = detail::bind_weights(**src, cfg);
  ASSERT_TRUE(w) << w.error().message;
  for (const auto& l : w->layers)
    for (const auto* lin : {&l.q, &l.k, &l.v, &l.out, &l.lin1, &l.lin2})
      EXPECT_TRUE(lin->file_mapped);
  EXPECT_TRUE(w->pre_classifier.file_mapped);
  auto half = weights;
  half.convert_all(dtype::F16);
  write_weights(half);
  auto src16 = detail::open_weight_source(dir);
  ASSERT_TRUE(src16);
  auto w16 = detail::bind_weights(**src16, cfg);
  ASSERT_TRUE(w16);
  EXPECT_FALSE(w16->layers[0].lin1.file_mapped);  // converted copies: never released
  EXPECT_FALSE(w16->classifier.file_mapped);
}

TEST_F(model_folder, long_texts_are_truncated_to_the_position_table) {
  write_weights(weights);
  auto c = classifier::load(dir);
  ASSERT_TRUE(c) << c.error().message;
  std::string text;
  for (int i = 0; i < 100; ++i) text += "good movie ";
  auto scores = c->classify(std::vector<std::string>{text});  // 202 tokens > 40 positions
  ASSERT_TRUE(scores) << scores.error().message;
  encode_options no_trunc;
  no_trunc.truncate = false;
  auto refused = c->classify(std::vector<std::string>{text}, no_trunc);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message, "at most 40")) << refused.error().message;
}

TEST_F(model_folder, bad_inputs_to_logits) {
  write_weights(weights);
  auto c = classifier::load(dir);
  ASSERT_TRUE(c);
  std::vector<encoding> bad(1);
  auto empty = c->logits(bad);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, errc::invalid_argument);
  bad[0].ids = {2, 50, 3};
  auto out_of_vocab = c->logits(bad);
  ASSERT_FALSE(out_of_vocab);
  EXPECT_TRUE(contains(out_of_vocab.error().message, "token id 50"))
      << out_of_vocab.error().message;
  bad[0].ids.assign(41, 5);
  auto too_long = c->logits(bad);
  ASSERT_FALSE(too_long);
  EXPECT_TRUE(contains(too_long.error().message, "41 tokens")) << too_long.error().message;
}

TEST_F(model_folder, f16_weights_are_converted) {
  auto half = weights;
  half.convert_all(dtype::F16);
  write_weights(half);
  auto c = classifier::load(dir);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->weights_bytes_in_place(), 0u);
  std::vector<encoding> in(1);
  in[0].ids = {2, 6, 10, 3};
  auto logits = c->logits(in);
  ASSERT_TRUE(logits);
  const auto want = reference_logits(half, cfg, in[0].ids);
  for (std::size_t j = 0; j < want.size(); ++j) EXPECT_NEAR((*logits)[0][j], want[j], 1e-4);
}

TEST_F(model_folder, missing_config) {
  write_weights(weights);
  fs::remove(dir / "config.json");
  const auto e = load_error();
  EXPECT_EQ(e.code, errc::io);
  EXPECT_TRUE(contains(e.message, "config.json")) << e.message;
}

TEST_F(model_folder, fifo_config_is_refused_without_blocking) {
  write_weights(weights);
  std::filesystem::remove(dir / "config.json");
  ASSERT_EQ(::mkfifo((dir / "config.json").c_str(), 0600), 0);
  auto c = classifier::load(dir);  // would block forever in open() if it tried to read the FIFO
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, errc::io);
  EXPECT_TRUE(contains(c.error().message, "config.json")) << c.error().message;
}

TEST_F(model_folder, bad_config_json) {
  write_weights(weights);
  write_text("config.json", "{\"model_type\": \"distilbert\",,}");
  const auto e = load_error();
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_TRUE(contains(e.message, "invalid JSON")) << e.message;
}

TEST_F(model_folder, unknown_model_type) {
  write_weights(weights);
  write_text("config.json", R"({"model_type": "roberta"})");
  const auto e = load_error();
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_TRUE(contains(e.message, "field 'model_type': is \"roberta\"")) << e.message;
}

TEST_F(model_folder, missing_weights) {
  const auto e = load_error();
  EXPECT_EQ(e.code, errc::io);
  EXPECT_TRUE(contains(e.message, "no weights")) << e.message;
  EXPECT_TRUE(contains(e.message, "model.safetensors")) << e.message;
}

TEST_F(model_folder, wrong_shape) {
  auto w = weights;
  w.put("distilbert.embeddings.position_embeddings.weight", {20, 32}, std::vector<float>(20 * 32));
  write_weights(w);
  const auto e = load_error();
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_TRUE(contains(e.message,
                       "'distilbert.embeddings.position_embeddings.weight' has shape [20, 32], "
                       "the config implies [40, 32]"))
      << e.message;
}

TEST_F(model_folder, masked_lm_checkpoint) {
  auto w = weights;
  for (const char* n :
       {"pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"})
    w.tensors.erase(n);
  w.put("vocab_transform.weight", {32, 32}, std::vector<float>(32 * 32));
  w.put("vocab_projector.bias", {50}, std::vector<float>(50));
  write_weights(w);
  const auto e = load_error();
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_TRUE(contains(e.message, "masked-LM checkpoint")) << e.message;
}

TEST_F(model_folder, corrupt_weights_file) {
  write_text("model.safetensors", std::string("\x10\0\0\0\0\0\0\0{\"a\":", 13));
  const auto e = load_error();
  EXPECT_TRUE(contains(e.message, "model.safetensors")) << e.message;
}

TEST_F(model_folder, empty_vocab) {
  write_weights(weights);
  write_text("vocab.txt", "");
  const auto e = load_error();
  EXPECT_TRUE(contains(e.message, "vocab")) << e.message;
}

TEST_F(model_folder, tokenizer_larger_than_the_embedding_table) {
  write_weights(weights);
  std::string vocab;
  for (int i = 0; i < 60; ++i)
    vocab += i < 5 ? fmt::format("{}\n", vocab_words[i]) : fmt::format("w{}\n", i);
  write_text("vocab.txt", vocab);
  const auto e = load_error();
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_TRUE(contains(e.message, "the tokenizer has 60 tokens but config.json vocab_size is 50"))
      << e.message;
}
