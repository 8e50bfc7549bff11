// sandnet-trivial: the smallest CNI plugin that still speaks the protocol, so
// that a benchmark with a chain made of it measures the runtime's own cost and
// not the plugins'. ADD prints its prevResult (or an empty result), DEL, CHECK,
// GC and STATUS succeed silently, VERSION lists what it accepts.
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

namespace json = boost::json;

namespace {

int fail(unsigned code, const std::string& msg) {
  json::object error{{"cniVersion", "1.0.0"}, {"code", code}, {"msg", msg}};
  std::cout << json::serialize(error) << '\n';
  return 1;
}

}  // namespace

int main() {
  const char* command = std::getenv("CNI_COMMAND");
  if (!command) return fail(4, "CNI_COMMAND is not set");
  const std::string_view cmd(command);
  if (cmd == "VERSION") {
    std::cout << R"({"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]})" << '\n';
    return 0;
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  json::value conf;
  try {
    conf = json::parse(input);
  } catch (const std::exception& e) {
    return fail(6, std::string("decoding network config: ") + e.what());
  }
  if (!conf.is_object()) return fail(6, "network config is not a JSON object");
  if (cmd != "ADD") return 0;  // DEL, CHECK, GC, STATUS: nothing to undo or verify

  const json::object& obj = conf.as_object();
  json::string version = "1.0.0";
  if (auto* v = obj.if_contains("cniVersion"); v && v->is_string()) version = v->as_string();
  json::object result;
  if (auto* prev = obj.if_contains("prevResult"); prev && prev->is_object()) {
    result = prev->as_object();
  } else {
    result = json::object{{"interfaces", json::array{}}, {"ips", json::array{}}, {"dns", json::object{}}};
  }
  result["cniVersion"] = version;
  std::cout << json::serialize(result) << '\n';
  return 0;
}
