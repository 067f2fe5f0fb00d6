// Output helpers shared by every subcommand: aligned text tables, human-readable sizes and
// counts, shape formatting, a terminal-only progress bar, the one-line error printer and the
// mapping from error kinds to exit codes.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/pipeline.hpp"

namespace safetensors::cli {

// ---------------------------------------------------------------------------------------------
// Errors and exit codes

/// Exit code for an error kind: io -> 3, malicious -> 4, unsupported -> 5, invalid_argument and
/// invalid_slice (a bad command-line value) -> 2, every other kind (invalid input) -> 1.
int exit_code_for(errc code) noexcept;

/// Writes "error: <message>\n" to stderr (one line: control characters escaped, see
/// control_chars_escaped).
void print_error(std::string_view message);

/// Prints `e` like print_error (prefixed with "<path>: " when the message does not already
/// name `path`) and returns exit_code_for(e.code).
int report_error(const error& e, const std::filesystem::path& path = {});

/// `message` prefixed with "<path>: " unless it already contains the path.
std::string with_path(const std::filesystem::path& path, std::string_view message);

// ---------------------------------------------------------------------------------------------
// Formatting

/// Bytes in binary units: "0 B", "1023 B", "1.0 KiB", "12.3 MiB", "1.5 GiB", "2.0 TiB".
std::string human_bytes(std::uint64_t bytes);

/// Counts in decimal units: "999", "1.2K", "66.4M", "7.0B", "1.1T".
std::string human_count(std::uint64_t count);

/// "[2, 3]"; "[]" for a scalar.
std::string format_shape(std::span<const std::uint64_t> shape);

/// Integer with thousands separators: 1234567 -> "1,234,567".
std::string group_digits(std::uint64_t value);

/// `text` safe to print on one terminal line: control characters (below 0x20 and DEL) shown as
/// \n, \r, \t or \xNN; everything else (including UTF-8) unchanged. (The libraries' messages
/// escape names to ASCII instead: detail::ascii_escaped in src/core/text_util.hpp.)
std::string control_chars_escaped(std::string_view text);

/// Terminal columns taken by a UTF-8 string (East Asian wide characters count 2, combining
/// marks 0). Invalid UTF-8 bytes count 1 each.
std::size_t display_width(std::string_view utf8);

// Tensor-name globs: safetensors::glob_match (safetensors/pipeline.hpp), as the pipeline's
// --filter uses them.

// ---------------------------------------------------------------------------------------------
// Tables

/// A column-aligned text table: a header row, a dashed rule, then the rows. Columns are
/// separated by two spaces; numeric columns are right-aligned; widths follow display_width.
///   text_table t({{"name"}, {"bytes", text_table::right}});
///   t.add_row({"a", "12"}); std::fputs(t.render().c_str(), stdout);
class text_table {
 public:
  enum alignment { left, right };
  struct column {
    std::string title;
    alignment align = left;
  };

  explicit text_table(std::vector<column> columns);
  /// A row with fewer cells than columns is padded with empty cells; extra cells are dropped.
  void add_row(std::vector<std::string> cells);
  std::size_t rows() const noexcept { return rows_; }
  /// The table, one '\n'-terminated line per row, no trailing spaces.
  std::string render() const;

 private:
  std::string_view cell(std::size_t row, std::size_t col) const noexcept;

  std::vector<column> columns_;
  // Every cell's text back to back, row after row, and where each ends: a 100,000-row table
  // holds its text, not 400,000 strings.
  std::string text_;
  std::vector<std::size_t> ends_;  // columns_.size() per row
  std::size_t rows_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Progress

/// A progress bar on stderr for long work: "label [=====>    ]  45%  120.0 MiB/268.0 MiB
/// 310.2 MiB/s  ETA 0:01". Draws only when stderr is a terminal and `quiet` is false; redraws
/// at most 10 times a second; finish() (or the destructor) draws the final state and ends the
/// line. Cheap to call update() in a tight loop.
class progress_bar {
 public:
  progress_bar(std::string label, std::uint64_t total_bytes, bool quiet = false);
  ~progress_bar();
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  /// Sets the bytes done so far (absolute, not a delta).
  void update(std::uint64_t done_bytes);
  /// Adds to the bytes done.
  void advance(std::uint64_t delta_bytes) { update(done_ + delta_bytes); }
  /// Draws the final state and a newline (once). No-op when not drawing.
  void finish();
  bool enabled() const noexcept { return enabled_; }

 private:
  void draw(bool final_draw);
  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// The progress line progress_bar draws (without the leading '\r'), for a given state; exposed
/// for tests and for commands that print their own status lines.
std::string render_progress(std::string_view label, std::uint64_t done, std::uint64_t total,
                            double elapsed_seconds, std::size_t bar_width = 24);

}  // namespace safetensors::cli
