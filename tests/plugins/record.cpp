// sncni-record: a CNI plugin that tells a test what it was given. Each run
// appends one JSON line to the file named by the CNI_ARGS key SNCNI_RECORD:
// {"env": {...every variable...}, "stdin": <the config>, "fds": [open fds],
//  "pid", "ppid", "pgid", "sigBlocked", "sigIgnored" (hex masks from
// /proc/self/status)}. Then, driven by its own config keys:
//   "sncni.sleepMs": N      sleep before answering (a slow plugin)
//   "sncni.result": {...}   ADD prints this object verbatim (a bad result)
//   "sncni.failOn": "DEL"   fail that command with a CNI error object (code 11)
// Otherwise ADD prints its prevResult, or an empty result in the config's
// version; other commands print nothing.
#include <boost/json.hpp>
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>

extern char** environ;

namespace json = boost::json;

namespace {

std::string arg_value(const std::string& cni_args, const std::string& key) {
  std::size_t start = 0;
  while (start <= cni_args.size()) {
    const std::size_t end = std::min(cni_args.find(';', start), cni_args.size());
    const std::string pair = cni_args.substr(start, end - start);
    if (pair.rfind(key + "=", 0) == 0) return pair.substr(key.size() + 1);
    start = end + 1;
  }
  return {};
}

std::string status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", name.size() + 1));
  return {};
}

json::array open_fds() {
  json::array fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return fds;
  const int own = ::dirfd(dir);
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) fds.push_back(fd);
  }
  ::closedir(dir);
  return fds;
}

}  // namespace

int main() {
  const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  const char* command_env = std::getenv("CNI_COMMAND");
  const std::string command = command_env ? command_env : "";
  const char* args_env = std::getenv("CNI_ARGS");

  json::object record;
  json::object env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::size_t eq = kv.find('=');
    env[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  record["env"] = std::move(env);
  boost::system::error_code ec;
  json::value conf = json::parse(input, ec);
  record["stdin"] = ec ? json::value(input) : conf;
  record["fds"] = open_fds();
  record["pid"] = ::getpid();
  record["ppid"] = ::getppid();
  record["pgid"] = ::getpgrp();
  record["sigBlocked"] = status_field("SigBlk");
  record["sigIgnored"] = status_field("SigIgn");
  const std::string record_file = arg_value(args_env ? args_env : "", "SNCNI_RECORD");
  if (!record_file.empty()) std::ofstream(record_file, std::ios::app) << json::serialize(record) << "\n";

  if (ec || !conf.is_object()) {
    std::cout << R"({"cniVersion":"1.0.0","code":6,"msg":"failed to decode network configuration"})" << "\n";
    return 1;
  }
  const json::object& o = conf.as_object();
  if (const auto* ms = o.if_contains("sncni.sleepMs"); ms && ms->is_int64())
    std::this_thread::sleep_for(std::chrono::milliseconds(ms->as_int64()));
  const json::value* version = o.if_contains("cniVersion");
  if (const auto* fail = o.if_contains("sncni.failOn"); fail && fail->is_string() && fail->as_string() == command) {
    json::object err{{"cniVersion", version ? *version : json::value("1.0.0")},
                     {"code", 11},
                     {"msg", "sncni-record failing " + command},
                     {"details", "requested by the test"}};
    std::cout << json::serialize(err) << "\n";
    return 1;
  }
  if (command == "VERSION") {
    std::cout << R"({"cniVersion":"1.1.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]})" << "\n";
    return 0;
  }
  if (command != "ADD") return 0;
  if (const auto* result = o.if_contains("sncni.result")) {
    std::cout << json::serialize(*result) << "\n";
  } else if (const auto* prev = o.if_contains("prevResult")) {
    std::cout << json::serialize(*prev) << "\n";
  } else {
    json::object result;
    result["cniVersion"] = version ? *version : json::value("1.0.0");
    std::cout << json::serialize(result) << "\n";
  }
  return 0;
}
