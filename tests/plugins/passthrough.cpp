// sncni-passthrough: the smallest well-behaved CNI plugin. ADD echoes its
// prevResult (or an empty result in the config's version), VERSION lists the
// spec versions, every other command succeeds silently. Used by the tests and
// the benchmark to measure the runtime's own overhead per plugin call.
#include <boost/json.hpp>

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

int main() {
  const char* command = std::getenv("CNI_COMMAND");
  const std::string cmd = command ? command : "";
  const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (cmd == "VERSION") {
    std::cout << R"({"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]})"
              << "\n";
    return 0;
  }
  if (cmd != "ADD") return 0;
  boost::system::error_code ec;
  boost::json::value conf = boost::json::parse(input, ec);
  if (ec || !conf.is_object()) {
    std::cout << R"({"cniVersion":"1.0.0","code":6,"msg":"failed to decode network configuration"})" << "\n";
    return 1;
  }
  const auto& o = conf.as_object();
  if (const auto* prev = o.if_contains("prevResult")) {
    std::cout << boost::json::serialize(*prev) << "\n";
    return 0;
  }
  boost::json::object result;
  const auto* version = o.if_contains("cniVersion");
  result["cniVersion"] = version ? *version : boost::json::value("1.0.0");
  std::cout << boost::json::serialize(result) << "\n";
  return 0;
}
