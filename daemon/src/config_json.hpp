// Internal: a strict reader of one JSON object for the config file and the
// state records. Every error names the key by its full path
// ("/etc/sandnet/sandnetd.json: cni.pluginTimeoutSeconds: must be an integer").
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/common/error.hpp"
#include "sandnet/common/finite_json.hpp"

namespace sandnet::daemon::detail {

// "cni" + "confDir" -> "cni.confDir"; "" + "socket" -> "socket".
inline std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  if (!key.empty() && key.front() != '[') out += '.';
  out += key;
  return out;
}

inline std::string index_path(std::string_view parent, std::size_t i) {
  return std::string(parent) + "[" + std::to_string(i) + "]";
}

// Throws Error(invalid_argument, "<source>: <path>: <why>").
[[noreturn]] inline void fail_at(std::string_view source, std::string_view path,
                                 std::string_view why) {
  std::string msg(source);
  if (!path.empty()) {
    if (!msg.empty()) msg += ": ";
    msg += path;
  }
  if (!msg.empty()) msg += ": ";
  msg += why;
  throw_error(errc::invalid_argument, std::move(msg));
}

// Parses text as JSON; a syntax error names the line and column.
inline boost::json::value parse_json(std::string_view text, std::string_view source) {
  boost::json::stream_parser parser;
  boost::system::error_code ec;
  std::size_t used = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < used && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    fail_at(source, "",
            "not valid JSON (line " + std::to_string(line) + ", column " + std::to_string(column) +
                "): " + ec.message());
  }
  boost::json::value doc = parser.release();
  // Read back as infinity, which would be written out as "Infinity" (not JSON).
  if (has_non_finite(doc)) fail_at(source, "", "a number is out of range");
  return doc;
}

inline std::optional<std::int64_t> as_int64(const boost::json::value& v) noexcept {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() &&
      v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v.get_uint64());
  return std::nullopt;
}

class ObjectReader {
 public:
  ObjectReader(const boost::json::value& v, std::string_view source, std::string path)
      : source_(source), path_(std::move(path)) {
    obj_ = v.if_object();
    if (!obj_) fail_at(source_, path_, "must be an object");
  }

  const boost::json::object& object() const noexcept { return *obj_; }
  const std::string& path() const noexcept { return path_; }
  std::string path_of(std::string_view key) const { return join_path(path_, key); }

  // Refuses keys not in known, naming the first unknown one by its path.
  void only(std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : *obj_) {
      bool ok = false;
      for (auto name : known) ok = ok || k == name;
      if (!ok) fail_at(source_, path_of(k), "unknown key");
    }
  }

  const boost::json::value* find(std::string_view key) const {
    auto* v = obj_->if_contains(key);
    return (v && !v->is_null()) ? v : nullptr;
  }

  [[noreturn]] void fail(std::string_view key, std::string_view why) const {
    fail_at(source_, path_of(key), why);
  }

  std::optional<std::string> string(std::string_view key) const {
    auto* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string");
    return std::string(v->get_string());
  }

  std::string required_string(std::string_view key) const {
    auto s = string(key);
    if (!s) fail(key, "is required");
    return *s;
  }

  template <class Int>
  std::optional<Int> integer(std::string_view key, Int min = std::numeric_limits<Int>::min(),
                             Int max = std::numeric_limits<Int>::max()) const {
    auto* v = find(key);
    if (!v) return std::nullopt;
    auto n = as_int64(*v);
    if (!n) fail(key, "must be an integer");
    if (*n < static_cast<std::int64_t>(min) ||
        (*n >= 0 && static_cast<std::uint64_t>(*n) > static_cast<std::uint64_t>(max)))
      fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return static_cast<Int>(*n);
  }

  template <class Int>
  Int required_integer(std::string_view key, Int min = std::numeric_limits<Int>::min(),
                       Int max = std::numeric_limits<Int>::max()) const {
    auto n = integer<Int>(key, min, max);
    if (!n) fail(key, "is required");
    return *n;
  }

  std::optional<bool> boolean(std::string_view key) const {
    auto* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_bool()) fail(key, "must be true or false");
    return v->get_bool();
  }

  const boost::json::array* array(std::string_view key) const {
    auto* v = find(key);
    if (!v) return nullptr;
    if (!v->is_array()) fail(key, "must be an array");
    return &v->get_array();
  }

  const boost::json::object* object(std::string_view key) const {
    auto* v = find(key);
    if (!v) return nullptr;
    if (!v->is_object()) fail(key, "must be an object");
    return &v->get_object();
  }

  std::optional<std::vector<std::string>> strings(std::string_view key) const {
    auto* a = array(key);
    if (!a) return std::nullopt;
    std::vector<std::string> out;
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_string()) fail_at(source_, index_path(path_of(key), i), "must be a string");
      out.emplace_back((*a)[i].get_string());
    }
    return out;
  }

 private:
  std::string_view source_;
  std::string path_;
  const boost::json::object* obj_ = nullptr;
};

}  // namespace sandnet::daemon::detail
