// TG_ASSERT(cond): an invariant at an entry point of the loop. Debug builds (`npx node-gyp rebuild --debug`, which
// defines TG_DEBUG) print the failed condition with its file and line and abort, so a broken invariant stops where it
// broke instead of corrupting a relay later. Release builds compile it away entirely: some entry points (OnEvents,
// Pump) run per epoll event, and the release build must cost exactly what it did before the asserts.
#pragma once

#ifdef TG_DEBUG
#include <cstdio>
#include <cstdlib>

#define TG_ASSERT(cond)                                                                          \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "tidegate_relay: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)
#else
// sizeof keeps the condition compiled (and type-checked) without evaluating it.
#define TG_ASSERT(cond)  \
  do {                   \
    (void)sizeof(cond);  \
  } while (0)
#endif
