// Coroutine-friendly locks for the daemon's single network thread: an async
// mutex per sandbox ID (operations on one sandbox are serialised) and an async
// semaphore (at most N setups at once). They are NOT thread-safe: use them only
// from coroutines running on one io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace sandnet::daemon {

// A FIFO queue of waiters parked on timers that never expire on their own:
// wake_one() cancels the first timer, which resumes its waiter.
class WaitQueue {
 public:
  boost::asio::awaitable<void> wait();
  // Wakes the oldest waiter; false when nobody waits.
  bool wake_one();
  bool empty() const { return waiters_.empty(); }

 private:
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

// Counting semaphore. acquire() returns a guard that releases on destruction.
class AsyncSemaphore {
 public:
  explicit AsyncSemaphore(std::size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  class Permit {
   public:
    Permit() = default;
    explicit Permit(AsyncSemaphore* owner) : owner_(owner) {}
    Permit(Permit&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)) {}
    Permit& operator=(Permit&& o) noexcept {
      if (this != &o) {
        reset();
        owner_ = std::exchange(o.owner_, nullptr);
      }
      return *this;
    }
    ~Permit() { reset(); }
    void reset() {
      if (auto* o = std::exchange(owner_, nullptr)) o->release();
    }

   private:
    AsyncSemaphore* owner_ = nullptr;
  };

  boost::asio::awaitable<Permit> acquire();
  std::size_t in_use() const { return in_use_; }
  // A new limit (config reload) applies at once to waiters and later acquires.
  void set_limit(std::size_t limit);

 private:
  void release();

  std::size_t limit_;
  std::size_t in_use_ = 0;
  WaitQueue queue_;
};

// Many operations at once, or one exclusive one: enter() waits while the
// gate is closed; close() waits for everyone inside to leave and keeps new
// ones out until its guard is gone. (gc closes it around CNI GC so that no
// setup's ADD lands between its listing of attachments and its DELs.)
class AsyncGate {
 public:
  class Pass {
   public:
    Pass() = default;
    explicit Pass(AsyncGate* gate) : gate_(gate) {}
    Pass(Pass&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)) {}
    Pass& operator=(Pass&&) = delete;
    ~Pass() {
      if (gate_) gate_->leave();
    }

   private:
    AsyncGate* gate_ = nullptr;
  };
  class Closed {
   public:
    Closed() = default;
    explicit Closed(AsyncGate* gate) : gate_(gate) {}
    Closed(Closed&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)) {}
    Closed& operator=(Closed&&) = delete;
    ~Closed() {
      if (gate_) gate_->reopen();
    }

   private:
    AsyncGate* gate_ = nullptr;
  };

  boost::asio::awaitable<Pass> enter();
  boost::asio::awaitable<Closed> close();
  std::size_t inside() const { return inside_; }

 private:
  void leave();
  void reopen();
  std::size_t inside_ = 0;
  bool closed_ = false;
  WaitQueue entrants_, closers_;
  WaitQueue drained_;  // the one closer waiting for inside_ to reach 0
};

// One async mutex per key; entries disappear when nobody holds or waits.
class KeyedMutex {
 public:
  class Guard {
   public:
    Guard() = default;
    Guard(KeyedMutex* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    Guard(Guard&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), key_(std::move(o.key_)) {}
    Guard& operator=(Guard&&) = delete;
    ~Guard();

   private:
    KeyedMutex* owner_ = nullptr;
    std::string key_;
  };

  boost::asio::awaitable<Guard> lock(const std::string& key);
  bool is_locked(const std::string& key) const { return entries_.count(key) != 0; }

 private:
  struct Entry {
    WaitQueue queue;
  };
  void unlock(const std::string& key);

  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace sandnet::daemon
