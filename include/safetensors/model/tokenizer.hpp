// BERT WordPiece tokenizer, identical to Hugging Face tokenizers for BertNormalizer +
// BertPreTokenizer + WordPiece + TemplateProcessing/BertProcessing (see docs/MODEL.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/error.hpp"

namespace safetensors::model {

enum class truncation_side { right, left };

/// What encoding::offsets count.
enum class offset_unit {
  bytes,  ///< UTF-8 bytes (the default, as Text Embeddings Inference)
  /// Unicode code points, as Python transformers' return_offsets_mapping and the tokenizers
  /// bindings for Python and Node (not UTF-16 units). In invalid UTF-8, each maximal invalid
  /// subpart counts as one (it reads as one U+FFFD).
  chars,
};

struct encode_options {
  bool add_special_tokens = true;
  bool truncate = true;
  /// Total length limit including special tokens; 0 means the tokenizer's model_max_length.
  std::size_t max_length = 0;
  truncation_side direction = truncation_side::right;
  offset_unit offsets = offset_unit::bytes;
};

/// One encoded input (single text or pair).
struct encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;  ///< 0 for the first sequence, 1 for the second
  std::vector<std::string> tokens;
  /// Offsets [begin, end) into the original text of each token, in encode_options::offsets
  /// units ((0,0) for special tokens; for pairs, offsets of second-sequence tokens refer to the
  /// second text).
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
  std::vector<std::uint8_t> special_tokens_mask;
  bool truncated = false;  ///< tokens were dropped by truncation
  std::size_t size() const noexcept { return ids.size(); }
};

class tokenizer {
 public:
  /// Loads tokenizer.json from `dir`, else vocab.txt + tokenizer_config.json (+
  /// special_tokens_map.json).
  static result<tokenizer> load(const std::filesystem::path& dir);
  static result<tokenizer> from_tokenizer_json(const std::filesystem::path& file);
  /// tokenizer.json's text, already in memory (what from_tokenizer_json reads from its file);
  /// errors name `source`, the file the text came from.
  static result<tokenizer> from_tokenizer_json_text(std::string_view json,
                                                    std::string source = "tokenizer.json");
  static result<tokenizer> from_vocab(const std::filesystem::path& vocab_txt,
                                      const std::filesystem::path& tokenizer_config_json);
  tokenizer(tokenizer&&) noexcept;
  tokenizer& operator=(tokenizer&&) noexcept;
  ~tokenizer();

  result<encoding> encode(std::string_view text, const encode_options& opts = {}) const;
  result<encoding> encode_pair(std::string_view first, std::string_view second,
                               const encode_options& opts = {}) const;
  /// WordPiece decoding as tokenizers' decoder does (## joins, cleanup), optionally skipping
  /// special tokens. Unknown ids: invalid_argument.
  result<std::string> decode(std::span<const std::int32_t> ids,
                             bool skip_special_tokens = true) const;

  /// The normalizer alone (BertNormalizer steps, no added-token matching), as tokenizers'
  /// normalize_str: for inspecting what the model sees.
  std::string normalize(std::string_view text) const;

  /// Added tokens first, then the model vocabulary (as tokenizers does).
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string_view> id_to_token(std::int32_t id) const;
  /// Distinct ids: the model vocabulary plus added tokens whose id is not in it.
  std::size_t vocab_size() const noexcept;
  std::size_t model_max_length()
      const noexcept;  ///< from tokenizer_config / truncation; 512 default
  std::int32_t pad_id() const noexcept;

 private:
  struct state;  // src/model/tokenizer/state.hpp
  explicit tokenizer(std::unique_ptr<state> s);
  result<encoding> encode_impl(std::string_view first, const std::string_view* second,
                               const encode_options& opts) const;
  std::unique_ptr<state> state_;
};

}  // namespace safetensors::model
