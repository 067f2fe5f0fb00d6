// The tokenizer's private state (tokenizer::state), shared by the loaders (load_json.cpp,
// load_vocab.cpp), the encoder (tokenizer.cpp) and the decoder (decode.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/tokenizer/added_vocab.hpp"
#include "model/tokenizer/normalizer.hpp"
#include "model/tokenizer/wordpiece.hpp"
#include "safetensors/model/tokenizer.hpp"

namespace safetensors::model {

namespace detail {

/// One element of a TemplateProcessing template: a special token or sequence A/B.
struct template_piece {
  bool is_sequence = false;
  int sequence = 0;                 ///< 0 = A, 1 = B
  std::vector<std::int32_t> ids;    ///< special token ids
  std::vector<std::string> tokens;  ///< special token strings
  std::int32_t type_id = 0;
};

struct post_processor {
  bool present = false;
  std::vector<template_piece> single;
  std::vector<template_piece> pair;
  std::size_t added(bool is_pair) const noexcept;
};

struct decoder_config {
  bool wordpiece = false;  ///< false: tokens joined with spaces (no decoder in the file)
  std::string prefix = "##";
  bool cleanup = true;
};

enum class truncation_strategy { longest_first, only_first, only_second };

struct tokenizer_state {
  std::string source;  ///< file name(s) for messages
  normalizer_config normalizer;
  pre_tokenizer_kind pre_tokenizer = pre_tokenizer_kind::bert;
  wordpiece_model model;
  added_vocab added;
  post_processor post;
  decoder_config decoder;
  truncation_strategy strategy = truncation_strategy::longest_first;
  std::size_t model_max_length = 512;
  std::int32_t pad_id = 0;
  std::vector<std::string> id_to_token;  ///< model vocabulary by id ("" where no token)
  std::vector<std::uint8_t> has_token;   ///< 1 where id_to_token is defined

  /// Registers a token id for id_to_token (model vocabulary).
  void set_id(std::int32_t id, std::string_view token);
  /// Builds the normalized-text patterns of added tokens with normalized=true.
  void finish_added_tokens();
};

}  // namespace detail

/// The tokenizer's private state type: the loaders and encoder work on its base.
struct tokenizer::state : detail::tokenizer_state {};

}  // namespace safetensors::model
