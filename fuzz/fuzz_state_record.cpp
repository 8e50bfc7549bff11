// A sandbox record file (daemon/src/state.cpp): JSON lines, the newest
// complete line is the state, a torn tail is ignored. A record that parses
// must be written back as one line that parses to the same record, and that
// line must win over whatever precedes it and survive any torn append.
#include <optional>

#include "check.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/daemon/state.hpp"

namespace json = boost::json;
namespace sd = sandnet::daemon;
using sandnet::fuzz::check;
using sandnet::fuzz::check_same;
using sandnet::fuzz::fail;

namespace {

json::value parse_or_fail(const std::string& text, const char* what) {
  try {
    return json::value_from(sd::parse_record_text(text, "journal"));
  } catch (const sandnet::Error& e) {
    fail(std::string(what) + ": " + e.what(), text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sandnet::fuzz::as_text(data, size);
  std::optional<sd::SandboxRecord> record;
  try {
    record = sd::parse_record_text(text, "fuzz");
  } catch (const sandnet::Error&) {
    return 0;
  }
  const json::value first = json::value_from(*record);
  const std::string line = json::serialize(first) + "\n";
  check(line.find('\n') == line.size() - 1, "a record is one line", line);
  check_same(first, parse_or_fail(line, "a written record does not parse"), "record round trip");

  // Appended after the fuzzed text, the line is the newest state.
  std::string journal(text);
  if (!journal.empty() && journal.back() != '\n') journal += '\n';
  journal += line;
  check_same(first, parse_or_fail(journal, "the newest line does not parse"), "the newest line wins");

  // A torn append (cut anywhere before its newline, maybe NULs before it)
  // leaves the state as it was.
  const std::size_t cut = (size > 0 ? data[size - 1] : 0) % line.size();
  check_same(first, parse_or_fail(journal + line.substr(0, cut), "a torn tail broke the journal"),
             "a torn tail is ignored");
  check_same(first, parse_or_fail(journal + std::string(cut, '\0'), "NULs broke the journal"),
             "trailing NULs are ignored");
  return 0;
}
