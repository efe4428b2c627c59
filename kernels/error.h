// attn::Error and the checks that throw it.
//
// Every user-facing mistake (a shape mismatch, a bad dim, a dtype or device
// mismatch, a second backward) throws attn::Error with a message that names the
// op and the shapes involved, so that the first line of the error tells the
// learner what went wrong and where.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace attn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {

// Joins the pieces of a message with operator<< into one string. Only called
// when a check fails, so building the message costs nothing on the fast path.
template <typename... Parts>
std::string join_message(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace detail
}  // namespace attn

// ATTN_CHECK(cond, "op: ", shape, " ...") throws attn::Error when cond is false.
// A macro rather than a function so that the message is only built on failure.
#define ATTN_CHECK(cond, ...)                                          \
  do {                                                                 \
    if (!(cond)) {                                                     \
      throw ::attn::Error(::attn::detail::join_message(__VA_ARGS__));  \
    }                                                                  \
  } while (0)

// Checks that cost time on every element (bounds of ids, for example) run only
// in Debug builds, where ATTN_DEBUG_CHECKS is defined (see CMakePresets.json).
#ifdef ATTN_DEBUG_CHECKS
#define ATTN_DEBUG_CHECK(cond, ...) ATTN_CHECK(cond, __VA_ARGS__)
#else
#define ATTN_DEBUG_CHECK(cond, ...) \
  do {                              \
  } while (0)
#endif
