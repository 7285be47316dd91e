#include "trainctl/api/names.hpp"

#include <algorithm>

namespace trainctl::api {

namespace {

bool is_name_char(char c, bool first) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return !first && (c == '.' || c == '_' || c == '-');
}

// True when `text` is valid UTF-8 with no C0/C1 control characters and no bidi overrides.
bool is_clean_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    uint32_t code = 0;
    size_t len = 0;
    if (c < 0x80) {
      code = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      code = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      code = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      code = c & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > text.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3F);
    }
    const bool overlong = (len == 2 && code < 0x80) || (len == 3 && code < 0x800) ||
                          (len == 4 && code < 0x10000);
    if (overlong || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    if (code < 0x20 || code == 0x7F || (code >= 0x80 && code < 0xA0)) return false;
    // Bidi embeddings/overrides/isolates and the line/paragraph separators.
    if ((code >= 0x202A && code <= 0x202E) || (code >= 0x2066 && code <= 0x2069) ||
        code == 0x200E || code == 0x200F || code == 0x2028 || code == 0x2029) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

Result<void> validate_idempotency_key(std::string_view key) {
  const bool printable =
      std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (key.empty() || key.size() > k_max_idempotency_key || !printable) {
    return fail(ErrorCode::invalid_argument,
                "an idempotency key is 1-{} printable ASCII characters without spaces",
                k_max_idempotency_key);
  }
  return {};
}

std::string batch_item_idempotency_key(std::string_view batch_key, size_t index) {
  return fmt::format("{}/{}", batch_key, index);
}

Result<void> validate_name(std::string_view kind, std::string_view name) {
  if (name.empty()) return fail(ErrorCode::invalid_argument, "{} name is empty", kind);
  if (name.size() > 255) {
    return fail(ErrorCode::invalid_argument, "{} name is longer than 255 characters", kind);
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i], i == 0)) {
      return fail(ErrorCode::invalid_argument,
                  "invalid {} name: use letters, digits, '.', '_' and '-', starting with a "
                  "letter or digit",
                  kind);
    }
  }
  return {};
}

Result<void> validate_process_string(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    return fail(ErrorCode::invalid_argument,
                "holds a NUL character, which a program's arguments and environment cannot carry");
  }
  return {};
}

Result<void> validate_slurm_name(std::string_view field, std::string_view name) {
  bool valid = name.size() <= k_max_slurm_name;
  for (size_t i = 0; valid && i < name.size(); ++i) valid = is_name_char(name[i], i == 0);
  if (valid) return {};
  return fail(ErrorCode::invalid_argument,
              "invalid Slurm {} name: use at most {} letters, digits, '.', '_' and '-', starting "
              "with a letter or digit (or \"\" for Slurm's default)",
              field, k_max_slurm_name);
}

bool is_sha256_hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` with every %XX escape decoded once.
std::string percent_decoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Whether a path component becomes '.', '..' or holds a separator once percent-decoded (once or
// more: %252e is %2e is '.'): such a name could never be asked for in a URL, which refuses
// encoded traversal, and would be a traversal to whatever decodes it.
bool decodes_to_traversal(std::string_view part) {
  std::string decoded(part);
  for (int round = 0; round < 3 && decoded.find('%') != std::string::npos; ++round) {
    std::string next = percent_decoded(decoded);
    if (next == decoded) break;
    decoded = std::move(next);
    if (decoded == "." || decoded == ".." ||
        decoded.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::vector<std::string>> split_relative_path(std::string_view path) {
  if (path.empty()) return fail(ErrorCode::invalid_argument, "path is empty");
  if (path.size() > 4096) return fail(ErrorCode::invalid_argument, "path is longer than 4096 bytes");
  if (path.front() == '/') return fail(ErrorCode::invalid_argument, "path must be relative");
  if (!is_clean_utf8(path)) {
    return fail(ErrorCode::invalid_argument, "path has invalid UTF-8 or control characters");
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string_view::npos ? path.size() : slash;
    const std::string_view part = path.substr(start, end - start);
    if (part.empty()) return fail(ErrorCode::invalid_argument, "path has an empty component");
    if (part == "." || part == "..") {
      return fail(ErrorCode::invalid_argument, "path components '.' and '..' are not allowed");
    }
    if (part.size() > 255) {
      return fail(ErrorCode::invalid_argument, "a path component is longer than 255 bytes");
    }
    if (part.find('\\') != std::string_view::npos) {
      return fail(ErrorCode::invalid_argument, "path must not contain '\\'");
    }
    if (decodes_to_traversal(part)) {
      return fail(ErrorCode::invalid_argument,
                  "path component '{}' percent-decodes to '.', '..' or a separator; rename the file",
                  part);
    }
    parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

}  // namespace trainctl::api
