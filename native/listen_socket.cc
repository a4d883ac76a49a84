// A worker's listening socket with SO_REUSEPORT: Node 20's net has no reusePort, so the socket is made here and
// handed to Node as an fd (server.listen on a net.Socket made from it). The kernel then spreads new connections
// over every socket of the group by a hash of the 4-tuple, with no process in between.
#include "listen_socket.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace tidegate {

namespace {

bool IntegerArg(const Napi::CallbackInfo& info, size_t i, int64_t min, int64_t max, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

Napi::Value TypeError(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Like libuv's bind for a TCP listener (SO_REUSEADDR; IPv6 dual-stack as Node's default), plus SO_REUSEPORT.
int OpenListener(const std::string& host, int port, int backlog, int* bound_port) {
  sockaddr_storage addr;
  std::memset(&addr, 0, sizeof(addr));
  socklen_t len;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return -EINVAL;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  sockaddr_storage local;
  socklen_t local_len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  *bound_port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                        : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  return fd;
}

Napi::Value ListenSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t port;
  int64_t backlog;
  if (info.Length() < 1 || !info[0].IsString()) return TypeError(env, "listenSocket: host: expected a string");
  if (!IntegerArg(info, 1, 0, 65535, &port)) return TypeError(env, "listenSocket: port: expected 0-65535");
  if (!IntegerArg(info, 2, 1, 65535, &backlog)) return TypeError(env, "listenSocket: backlog: expected 1-65535");
  int bound = 0;
  int fd = OpenListener(info[0].As<Napi::String>().Utf8Value(), static_cast<int>(port), static_cast<int>(backlog),
                        &bound);
  if (fd < 0) return Napi::Number::New(env, fd);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fd));
  out.Set(1u, Napi::Number::New(env, bound));
  return out;
}

// Steers the reuseport group of `fd` by the CPU that receives the connection (where its SYN is handled): index =
// cpu % group_size, the group's sockets in the order they started listening. An index past the group (a slot's
// socket closed) falls back to the kernel's hash.
int SteerByCpu(int fd, uint32_t group_size) {
  sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_CPU)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, group_size},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  sock_fprog prog = {static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == 0 ? 0 : -errno;
}

Napi::Value SteerByCpuCall(const Napi::CallbackInfo& info) {
  int64_t fd;
  int64_t size;
  if (!IntegerArg(info, 0, 0, 2147483647, &fd)) return TypeError(info.Env(), "steerByCpu: fd: expected an fd");
  if (!IntegerArg(info, 1, 1, 65535, &size)) return TypeError(info.Env(), "steerByCpu: size: expected 1-65535");
  return Napi::Number::New(info.Env(), SteerByCpu(static_cast<int>(fd), static_cast<uint32_t>(size)));
}

// Every thread of this process onto the CPUs of the array (threads started later inherit the main thread's mask).
Napi::Value PinProcess(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArray()) return TypeError(info.Env(), "pinProcess: cpus: expected an array");
  Napi::Array cpus = info[0].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < cpus.Length(); i++) {
    Napi::Value v = cpus.Get(i);
    double cpu = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (cpu < 0 || cpu >= CPU_SETSIZE || cpu != static_cast<int>(cpu)) {
      return TypeError(info.Env(), "pinProcess: cpus: expected CPU numbers");
    }
    CPU_SET(static_cast<int>(cpu), &set);
  }
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return Napi::Number::New(info.Env(), -errno);
  int result = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (sched_setaffinity(static_cast<pid_t>(std::atoi(e->d_name)), sizeof(set), &set) != 0) result = -errno;
  }
  closedir(dir);
  return Napi::Number::New(info.Env(), result);
}

Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!IntegerArg(info, 0, 0, 2147483647, &fd)) return TypeError(info.Env(), "dupFd: fd: expected an fd");
  int copy = fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 0);
  return Napi::Number::New(info.Env(), copy < 0 ? -errno : copy);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!IntegerArg(info, 0, 0, 2147483647, &fd)) return TypeError(info.Env(), "closeFd: fd: expected an fd");
  return Napi::Number::New(info.Env(), close(static_cast<int>(fd)) == 0 ? 0 : -errno);
}

}  // namespace

void ExportListenSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("listenSocket", Napi::Function::New(env, ListenSocket, "listenSocket"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("steerByCpu", Napi::Function::New(env, SteerByCpuCall, "steerByCpu"));
  exports.Set("pinProcess", Napi::Function::New(env, PinProcess, "pinProcess"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
}

}  // namespace tidegate
