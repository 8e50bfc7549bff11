// docs/man/sandnetd.json.5.scd documents every configuration key with its
// default. The keys and defaults come from the code (to_json of a default
// Config, which names every key): a key added to the config without an entry
// in the page, or a default changed in one place only, fails here. An entry
// is a line that starts with the key in bold and says its default:
//   *cni.pluginTimeoutSeconds* (integer, default 60)
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "sandnet/common/fs.hpp"
#include "sandnet/daemon/config.hpp"

namespace sandnet::daemon {
namespace {
namespace json = boost::json;

std::vector<std::string> page_lines() {
  std::istringstream in(fs::read_file(SANDNET_MAN_DIR "/sandnetd.json.5.scd"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string without_blanks(std::string s) {
  std::erase(s, ' ');
  return s;
}

// The page's entry line for key, or "" when it has none.
std::string entry(const std::vector<std::string>& lines, const std::string& key) {
  for (const auto& line : lines)
    if (line.starts_with("*" + key + "*")) return line;
  return {};
}

// Every leaf key below object, with its path: "cni.confDir" and its value.
void leaves(const json::object& object, const std::string& prefix, std::vector<std::pair<std::string, json::value>>& out) {
  for (const auto& [key, value] : object) {
    std::string path = prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
    if (value.is_object()) {
      out.emplace_back(path, json::value());  // the object's own entry, no default
      leaves(value.as_object(), path, out);
    } else {
      out.emplace_back(path, value);
    }
  }
}

TEST(ConfigManPage, EveryKeyHasAnEntryWithItsDefault) {
  const auto lines = page_lines();
  std::vector<std::pair<std::string, json::value>> keys;
  leaves(to_json(Config{}), "", keys);
  ASSERT_GT(keys.size(), 19U);
  for (const auto& [key, value] : keys) {
    const std::string line = entry(lines, key);
    if (line.empty()) {
      ADD_FAILURE() << "docs/man/sandnetd.json.5.scd has no entry for \"" << key << "\" (a line starting *" << key
                    << "*)";
      continue;
    }
    if (value.is_null()) continue;
    // JSON as serialised, blanks aside: "/run/netns", ["/opt/cni/bin","/usr/lib/cni"], 60, true.
    const std::string expected = "default" + json::serialize(value);
    EXPECT_NE(without_blanks(line).find(expected), std::string::npos)
        << key << ": the page says \"" << line << "\", the code's default is " << json::serialize(value);
  }
}

TEST(ConfigManPage, EveryPolicyRuleKeyHasAnEntry) {
  const auto lines = page_lines();
  Config config = parse_config(R"({"policy":[{"uid":1000,"maxSandboxes":1}]})", "test");
  const json::object rule = to_json(config).at("policy").as_array().at(0).as_object();
  for (const auto& [key, value] : rule) {
    bool found = false;
    for (const auto& line : lines) found = found || line.starts_with("*" + std::string(key) + "*");
    EXPECT_TRUE(found) << "policy rule key \"" << key << "\" has no entry in docs/man/sandnetd.json.5.scd";
  }
}

}  // namespace
}  // namespace sandnet::daemon
