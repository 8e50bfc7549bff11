#include "sandnet/daemon/async_sync.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sandnet::daemon {
namespace asio = boost::asio;

asio::awaitable<void> WaitQueue::wait() {
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                    asio::steady_timer::time_point::max());
  waiters_.push_back(timer);
  // Cancellation by wake_one() is the wake-up; the error is expected.
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

bool WaitQueue::wake_one() {
  if (waiters_.empty()) return false;
  auto timer = std::move(waiters_.front());
  waiters_.pop_front();
  timer->cancel();
  return true;
}

asio::awaitable<AsyncSemaphore::Permit> AsyncSemaphore::acquire() {
  if (in_use_ < limit_ && queue_.empty()) {
    ++in_use_;
    co_return Permit(this);
  }
  // release() hands its slot straight to us, so in_use_ stays counted.
  co_await queue_.wait();
  co_return Permit(this);
}

void AsyncSemaphore::release() {
  if (in_use_ <= limit_ && queue_.wake_one()) return;
  --in_use_;
}

void AsyncSemaphore::set_limit(std::size_t limit) {
  limit_ = limit == 0 ? 1 : limit;
  while (in_use_ < limit_ && queue_.wake_one()) ++in_use_;
}

asio::awaitable<AsyncGate::Pass> AsyncGate::enter() {
  while (closed_) co_await entrants_.wait();
  ++inside_;
  co_return Pass(this);
}

asio::awaitable<AsyncGate::Closed> AsyncGate::close() {
  while (closed_) co_await closers_.wait();
  closed_ = true;
  while (inside_ > 0) co_await drained_.wait();
  co_return Closed(this);
}

void AsyncGate::leave() {
  if (--inside_ == 0) drained_.wake_one();
}

void AsyncGate::reopen() {
  closed_ = false;
  // Everyone waiting re-checks: entrants go in, the next closer (if any)
  // closes again and waits for them to leave.
  while (entrants_.wake_one()) {
  }
  closers_.wake_one();
}

asio::awaitable<KeyedMutex::Guard> KeyedMutex::lock(const std::string& key) {
  auto [it, inserted] = entries_.try_emplace(key);
  if (inserted) {
    it->second = std::make_unique<Entry>();
    co_return Guard(this, key);
  }
  co_await it->second->queue.wait();
  co_return Guard(this, key);
}

void KeyedMutex::unlock(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  // Hand the lock to the next waiter; the entry stays while anyone waits.
  if (it->second->queue.wake_one()) return;
  entries_.erase(it);
}

KeyedMutex::Guard::~Guard() {
  if (owner_) owner_->unlock(key_);
}

}  // namespace sandnet::daemon
