// A deterministic stand-in for the classifier, for server tests: whitespace tokenizer, logits
// counting "good" and "bad" words, optional delay and failure, and a record of batch sizes.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "safetensors/server/backend.hpp"

namespace safetensors::server::testing {

class fake_backend final : public inference_backend {
 public:
  explicit fake_backend(std::size_t max_len = 64) {
    info_.model_id = "fake";
    info_.id2label = {"NEGATIVE", "POSITIVE"};
    info_.max_input_length = max_len;
  }
  std::chrono::milliseconds delay{0};  ///< per logits() call
  std::atomic<bool> should_fail{false};
  std::atomic<bool> nan{false};

  const backend_info& info() const noexcept override { return info_; }

  result<model::encoding> encode(std::string_view first, std::optional<std::string_view> second,
                                 const model::encode_options& opts) const override {
    if (first.find('\x01') != std::string_view::npos) return fail_now("cannot tokenize \\x01");
    model::encoding e;
    add(e, 101, "[CLS]", {0, 0}, true, 0);
    words(e, first, 0);
    if (second) {
      add(e, 102, "[SEP]", {0, 0}, true, 0);
      words(e, *second, 1);
    }
    add(e, 102, "[SEP]", {0, 0}, true, second ? 1 : 0);
    const std::size_t max = opts.max_length ? opts.max_length : info_.max_input_length;
    if (opts.truncate && e.size() > max) {
      const std::size_t keep = max - 1;
      if (opts.direction == model::truncation_side::right) {
        e.tokens.erase(e.tokens.begin() + static_cast<std::ptrdiff_t>(keep), e.tokens.end() - 1);
        e.ids.erase(e.ids.begin() + static_cast<std::ptrdiff_t>(keep), e.ids.end() - 1);
        e.type_ids.erase(e.type_ids.begin() + static_cast<std::ptrdiff_t>(keep),
                         e.type_ids.end() - 1);
        e.offsets.erase(e.offsets.begin() + static_cast<std::ptrdiff_t>(keep), e.offsets.end() - 1);
        e.special_tokens_mask.erase(
            e.special_tokens_mask.begin() + static_cast<std::ptrdiff_t>(keep),
            e.special_tokens_mask.end() - 1);
      } else {
        const auto drop = static_cast<std::ptrdiff_t>(e.size() - max);
        e.tokens.erase(e.tokens.begin() + 1, e.tokens.begin() + 1 + drop);
        e.ids.erase(e.ids.begin() + 1, e.ids.begin() + 1 + drop);
        e.type_ids.erase(e.type_ids.begin() + 1, e.type_ids.begin() + 1 + drop);
        e.offsets.erase(e.offsets.begin() + 1, e.offsets.begin() + 1 + drop);
        e.special_tokens_mask.erase(e.special_tokens_mask.begin() + 1,
                                    e.special_tokens_mask.begin() + 1 + drop);
      }
      e.truncated = true;
    }
    return e;
  }

  result<std::string> decode(std::span<const std::int32_t> ids,
                             bool skip_special_tokens) const override {
    std::string out;
    for (auto id : ids) {
      if (id == 101 || id == 102) {
        if (skip_special_tokens) continue;
      } else if (id == 666) {
        return fail_now("cannot decode id 666");  // the backend's error path
      } else if (id < 1000 || id > 1002) {
        continue;  // not in the vocabulary: skipped, as tokenizers' decode does
      }
      if (!out.empty()) out += ' ';
      out += id == 101    ? "[CLS]"
             : id == 102  ? "[SEP]"
             : id == 1000 ? "good"
             : id == 1001 ? "bad"
                          : "word";
    }
    return out;
  }

  result<std::vector<std::vector<float>>> logits(std::span<const model::encoding> batch) override {
    {
      std::lock_guard lock(mutex_);
      batch_sizes_.push_back(batch.size());
      calls_.push_back(batch.size());
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (should_fail.load()) return fail_now("injected failure");
    std::vector<std::vector<float>> out;
    for (const auto& e : batch) {
      float good = 0, bad = 0;
      for (auto id : e.ids) {
        good += id == 1000 ? 1.0f : 0.0f;
        bad += id == 1001 ? 1.0f : 0.0f;
      }
      out.push_back({bad, nan.load() ? std::nanf("") : good});
    }
    return out;
  }

  std::vector<model::label_score> scores(std::span<const float> logits,
                                         model::score_function fn) const override {
    std::vector<model::label_score> out;
    const float m = std::max(logits[0], logits[1]);
    const float e0 = std::exp(logits[0] - m), e1 = std::exp(logits[1] - m);
    for (std::size_t i = 0; i < 2; ++i) {
      float s = logits[i];
      if (fn == model::score_function::softmax) s = (i == 0 ? e0 : e1) / (e0 + e1);
      out.push_back({info_.id2label[i], s});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.score > b.score; });
    return out;
  }

  std::vector<std::size_t> batch_sizes() const {
    std::lock_guard lock(mutex_);
    return batch_sizes_;
  }

 private:
  static tl::unexpected<error> fail_now(std::string m) {
    return safetensors::fail(errc::invalid_argument, std::move(m));
  }
  static void add(model::encoding& e, std::int32_t id, std::string tok,
                  std::pair<std::size_t, std::size_t> off, bool special, std::int32_t type) {
    e.ids.push_back(id);
    e.tokens.push_back(std::move(tok));
    e.offsets.push_back(off);
    e.special_tokens_mask.push_back(special ? 1 : 0);
    e.type_ids.push_back(type);
  }
  static void words(model::encoding& e, std::string_view text, std::int32_t type) {
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && text[i] == ' ') ++i;
      const std::size_t start = i;
      while (i < text.size() && text[i] != ' ') ++i;
      if (i == start) break;
      const auto w = text.substr(start, i - start);
      add(e,
          w == "good"  ? 1000
          : w == "bad" ? 1001
                       : 1002,
          std::string(w), {start, i}, false, type);
    }
  }
  backend_info info_;
  mutable std::mutex mutex_;
  std::vector<std::size_t> batch_sizes_, calls_;
};

}  // namespace safetensors::server::testing
