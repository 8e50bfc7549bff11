// A stand-in for sandnetd in the client's unit tests: a Unix socket in a
// TempDir and a thread that reads request lines (with any SCM_RIGHTS fds)
// and answers each with the next step of a script.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <boost/json.hpp>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "support/process.hpp"

namespace sandnet::test {

struct ReceivedRequest {
  std::string method;
  boost::json::object params;
  boost::json::value id;
  std::vector<std::string> fd_kinds;  // readlink of each passed fd, e.g. "anon_inode:[pidfd]"
  int connection = 0;                 // 1 for the first accepted connection, ...
};

// What a step does with the connection after answering.
enum class After { keep_open, close };

// One scripted answer: writes to the connection fd what the daemon would.
using Step = std::function<After(int conn, const ReceivedRequest& request)>;

// Writes data fully (blocking).
void write_all(int fd, std::string_view data);

// Canned steps.
Step reply_result(boost::json::value result);
Step reply_error(rpc::ErrorObject error);
Step reply_raw(std::string bytes);              // exactly these bytes, then keep open
Step close_mid_reply();                         // half a reply line, then close
Step reply_oversized();                         // a line longer than kMaxLineBytes
Step stall();                                   // answer nothing (the client must time out)

class FakeServer {
 public:
  explicit FakeServer(std::vector<Step> script);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  const std::string& path() const { return path_; }
  // The requests received so far.
  std::vector<ReceivedRequest> requests();
  int connections();

 private:
  void serve();
  void serve_connection(unique_fd conn, int number);

  TempDir dir_;
  std::string path_;
  unique_fd listener_;
  unique_fd stop_read_, stop_write_;
  std::vector<Step> script_;
  std::size_t next_step_ = 0;
  std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  int connections_ = 0;
  std::thread thread_;
};

}  // namespace sandnet::test
