// Output helpers shared by every subcommand (see output.hpp).
#include "output.hpp"

#include <fmt/format.h>
#include <unistd.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace safetensors::cli {

// ---------------------------------------------------------------------------------------------
// Errors and exit codes

int exit_code_for(errc code) noexcept {
  switch (code) {
    case errc::io:
      return 3;
    case errc::malicious:
      return 4;
    case errc::unsupported:
      return 5;
    case errc::invalid_argument:
    case errc::invalid_slice:
      return 2;
    default:
      return 1;
  }
}

void print_error(std::string_view message) {
  const std::string line = "error: " + control_chars_escaped(message) + '\n';
  std::fputs(line.c_str(), stderr);
}

std::string with_path(const std::filesystem::path& path, std::string_view message) {
  const std::string p = path.string();
  if (p.empty() || message.find(p) != std::string_view::npos) return std::string(message);
  return fmt::format("{}: {}", p, message);
}

int report_error(const error& e, const std::filesystem::path& path) {
  print_error(with_path(path, e.message));
  return exit_code_for(e.code);
}

// ---------------------------------------------------------------------------------------------
// Formatting

std::string human_bytes(std::uint64_t bytes) {
  static constexpr std::array<const char*, 6> units{"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  // Move up while the rounded one-decimal value would print as 1024.0 or more.
  while (unit + 1 < units.size() && value >= 1023.95) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string human_count(std::uint64_t count) {
  static constexpr std::array<const char*, 6> units{"", "K", "M", "B", "T", "Q"};
  if (count < 1000) return fmt::format("{}", count);
  auto value = static_cast<double>(count);
  std::size_t unit = 0;
  while (unit + 1 < units.size() && value >= 999.95) {
    value /= 1000.0;
    ++unit;
  }
  return fmt::format("{:.1f}{}", value, units[unit]);
}

std::string format_shape(std::span<const std::uint64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string group_digits(std::uint64_t value) {
  std::string digits = fmt::format("{}", value);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string control_chars_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f)
      out.push_back(c);
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else
      out += fmt::format("\\x{:02x}", u);
  }
  return out;
}

std::size_t display_width(std::string_view utf8) {
  // Printable ASCII is one column a byte (what utf8proc says of it); tensor names mostly are,
  // and a 100,000-row table spent a fifth of its time asking utf8proc byte by byte.
  std::size_t ascii = 0;
  while (ascii < utf8.size() && utf8[ascii] >= 0x20 && utf8[ascii] < 0x7f) ++ascii;
  std::size_t width = ascii;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data() + ascii);
  auto remaining = static_cast<utf8proc_ssize_t>(utf8.size() - ascii);
  while (remaining > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, remaining, &cp);
    if (n <= 0) {  // invalid byte: shown as one replacement column
      width += 1;
      n = 1;
    } else {
      width += static_cast<std::size_t>(std::max(0, utf8proc_charwidth(cp)));
    }
    p += n;
    remaining -= n;
  }
  return width;
}

// ---------------------------------------------------------------------------------------------
// Tables

text_table::text_table(std::vector<column> columns) : columns_(std::move(columns)) {}

void text_table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  for (const auto& c : cells) {
    text_ += c;
    ends_.push_back(text_.size());
  }
  ++rows_;
}

std::string_view text_table::cell(std::size_t row, std::size_t col) const noexcept {
  const std::size_t k = row * columns_.size() + col;
  const std::size_t begin = k == 0 ? 0 : ends_[k - 1];
  return std::string_view(text_).substr(begin, ends_[k] - begin);
}

namespace {

void append_cell(std::string& line, std::string_view cell, std::size_t width,
                 text_table::alignment align) {
  const std::size_t pad = width - std::min(width, display_width(cell));
  if (align == text_table::right) line.append(pad, ' ');
  line.append(cell);
  if (align == text_table::left) line.append(pad, ' ');
}

void trim_right(std::string& line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
}

}  // namespace

std::string text_table::render() const {
  std::vector<std::size_t> widths(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = display_width(columns_[c].title);
    for (std::size_t r = 0; r < rows_; ++r)
      widths[c] = std::max(widths[c], display_width(cell(r, c)));
  }
  auto render_line = [&](auto cell_of) {
    std::string line;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (c > 0) line.append("  ");
      append_cell(line, cell_of(c), widths[c], columns_[c].align);
    }
    trim_right(line);
    line.push_back('\n');
    return line;
  };
  std::string out =
      render_line([&](std::size_t c) -> std::string_view { return columns_[c].title; });
  std::string rule;
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (c > 0) rule.append("  ");
    rule.append(widths[c], '-');
  }
  out += rule + '\n';
  for (std::size_t r = 0; r < rows_; ++r) {
    out += render_line([&](std::size_t c) { return cell(r, c); });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Progress

namespace {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto total = static_cast<std::uint64_t>(seconds + 0.5);
  if (total >= 3600)
    return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

}  // namespace

std::string render_progress(std::string_view label, std::uint64_t done, std::uint64_t total,
                            double elapsed_seconds, std::size_t bar_width) {
  const std::uint64_t clamped = std::min(done, total);
  const double fraction =
      total == 0 ? 1.0 : static_cast<double>(clamped) / static_cast<double>(total);
  const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(bar_width));
  std::string bar(filled, '=');
  if (filled < bar_width) {
    bar.push_back('>');
    bar.append(bar_width - filled - 1, ' ');
  }
  const double rate = elapsed_seconds > 0 ? static_cast<double>(clamped) / elapsed_seconds : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total - clamped) / rate : -1.0;
  const std::string rate_text =
      rate > 0 ? human_bytes(static_cast<std::uint64_t>(rate)) + "/s" : std::string("-- B/s");
  return fmt::format("{} [{}] {:3}%  {}/{}  {}  ETA {}", label, bar,
                     static_cast<int>(fraction * 100.0), human_bytes(clamped), human_bytes(total),
                     rate_text, format_duration(eta));
}

progress_bar::progress_bar(std::string label, std::uint64_t total_bytes, bool quiet)
    : label_(std::move(label)),
      total_(total_bytes),
      enabled_(!quiet && ::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

progress_bar::~progress_bar() { finish(); }

void progress_bar::update(std::uint64_t done_bytes) {
  done_ = done_bytes;
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(false);
}

void progress_bar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw(true);
}

void progress_bar::draw(bool final_draw) {
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  const std::string line = render_progress(label_, done_, total_, elapsed.count());
  // \r + clear to end of line, so a shorter line leaves no leftovers.
  std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final_draw ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace safetensors::cli
