// Starting a coroutine whose failure is never silent: an exception that
// escapes it is logged with what it was doing (and whose connection it was),
// and ends that coroutine only.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

namespace micstream::server {

template <class Executor, class Awaitable>
void spawn(Executor&& executor, Awaitable&& awaitable, std::string what) {
  boost::asio::co_spawn(std::forward<Executor>(executor), std::forward<Awaitable>(awaitable),
                        [what = std::move(what)](const std::exception_ptr& failure) {
                          if (!failure) return;
                          try {
                            std::rethrow_exception(failure);
                          } catch (const std::exception& e) {
                            spdlog::error("{} failed: {}", what, e.what());
                          } catch (...) {
                            spdlog::error("{} failed with an unknown exception", what);
                          }
                        });
}

}  // namespace micstream::server
