// Listening sockets with SO_REUSEPORT for worker processes (src/listen/). Separate from the relay so the relay's
// event loop stays untouched; addon.cc adds these calls to the exports.
#pragma once

#include <napi.h>

namespace tidegate {

// exports.listenSocket(host, port, backlog) -> [fd, port] | -errno;
// exports.dupFd(fd) -> fd | -errno; exports.closeFd(fd) -> 0 | -errno.
void ExportListenSocket(Napi::Env env, Napi::Object exports);

}  // namespace tidegate
