// on_other_thread(): runs a function on a fresh std::thread and returns its result, for lock tests
// that need a caller which is not the lock's holder.
#pragma once

#include <thread>

namespace iocore::test {
/// Runs fn on a fresh std::thread and returns its result: a caller that is not the lock holder.
template <class Fn>
auto
on_other_thread(Fn fn)
{
  decltype(fn()) result{};
  std::thread t([&] { result = fn(); });
  t.join();
  return result;
}
} // namespace iocore::test
