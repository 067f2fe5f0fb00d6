// Character classes exactly as Hugging Face tokenizers decides them (normalizers/bert.rs,
// pre_tokenizers/bert.rs), answered from utf8proc's Unicode tables.
#pragma once

namespace safetensors::model::detail {

/// '\t', '\n', '\r' or Unicode White_Space (Rust char::is_whitespace).
bool is_bert_whitespace(char32_t c) noexcept;
/// Other-category (Cc, Cf, Co, Cs) except '\t', '\n', '\r': deleted by clean_text. Unassigned
/// code points (Cn) are kept, as tokenizers 0.22 does (measured against the npm package).
bool is_bert_control(char32_t c) noexcept;
/// ASCII punctuation (0x21-0x2F, 0x3A-0x40, 0x5B-0x60, 0x7B-0x7E) or Unicode P* categories.
bool is_bert_punctuation(char32_t c) noexcept;
/// The CJK ideograph ranges of normalizers/bert.rs is_chinese_char.
bool is_chinese_char(char32_t c) noexcept;
/// General category Mn (nonspacing mark): removed after NFD when accents are stripped.
bool is_nonspacing_mark(char32_t c) noexcept;

}  // namespace safetensors::model::detail
