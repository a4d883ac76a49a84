/* The many-streams load of the relay bench in C, so that the load costs little beside the relay under test (the
 * Node sink cost 0.85-0.95 CPU-s/GiB at 100 streams, five to nine times a splice relay's, and was the bottleneck).
 * Built by the bench with the machine's cc into a temp dir (bench/lib/c-load.ts). Loopback only.
 *   stream-load sink                      listens on 127.0.0.1:0, prints "port N"; reads every connection, counting
 *                                         bytes; answers each "count" line on stdin with "bytes N"
 *   stream-load source PORT STREAMS CHUNK  STREAMS connections to 127.0.0.1:PORT, each written CHUNK bytes at a time
 *                                         as fast as it takes them; prints "started" once all are connected
 * Level-triggered epoll, one read or write per ready socket per wake-up: every stream gets its turn, as the Node
 * load's event loop gives it. Runs until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define MAX_EVENTS 256

static int ep;

static void watch(int fd, uint32_t events) {
  struct epoll_event ev = { .events = events, .data.fd = fd };
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) perror("epoll_ctl"), exit(1);
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
  return a;
}

static int sink(void) {
  static char buf[READ_SIZE];
  char line[256];
  size_t lineLen = 0;
  uint64_t bytes = 0;
  int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0) return perror("listen"), 1;
  getsockname(lfd, (struct sockaddr *)&a, &len);
  printf("port %d\n", ntohs(a.sin_port));
  fflush(stdout);
  watch(lfd, EPOLLIN);
  watch(0, EPOLLIN);
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int cfd;
        while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          watch(cfd, EPOLLIN | EPOLLRDHUP);
        }
      } else if (fd == 0) {
        ssize_t got = read(0, line + lineLen, sizeof line - lineLen);
        if (got <= 0) return 0; /* the bench went away */
        lineLen += (size_t)got;
        char *nl;
        while ((nl = memchr(line, '\n', lineLen)) != NULL) {
          printf("bytes %llu\n", (unsigned long long)bytes);
          fflush(stdout);
          lineLen -= (size_t)(nl + 1 - line);
          memmove(line, nl + 1, lineLen);
        }
        if (lineLen == sizeof line) lineLen = 0;
      } else {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got > 0) bytes += (uint64_t)got;
        else if (got == 0 || (errno != EAGAIN && errno != EINTR)) close(fd); /* close drops the registration */
      }
    }
  }
}

static int source(int port, int streams, size_t chunk) {
  char *buf = malloc(chunk);
  int *connected = calloc((size_t)streams + 1024, sizeof *connected);
  int one = 1, pending = streams;
  if (buf == NULL || connected == NULL) return perror("malloc"), 1;
  memset(buf, 0x61, chunk);
  struct sockaddr_in a = loopback(port);
  for (int i = 0; i < streams; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return perror("socket"), 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) return perror("connect"), 1;
    if (fd >= streams + 1024) return fprintf(stderr, "fd %d out of range\n", fd), 1;
    watch(fd, EPOLLOUT);
  }
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (!connected[fd]) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fprintf(stderr, "connect: %s\n", strerror(err)), 1;
        connected[fd] = 1;
        if (--pending == 0) printf("started\n"), fflush(stdout);
      }
      ssize_t put = write(fd, buf, chunk);
      if (put < 0 && errno != EAGAIN && errno != EINTR) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); /* the relay went away: the round is over */
      }
    }
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  struct rlimit fds;
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max; /* 1,000 streams need more than a default soft limit of 1,024 */
    setrlimit(RLIMIT_NOFILE, &fds);
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (argc == 2 && strcmp(argv[1], "sink") == 0) return sink();
  if (argc == 5 && strcmp(argv[1], "source") == 0) return source(atoi(argv[2]), atoi(argv[3]), (size_t)atol(argv[4]));
  fprintf(stderr, "usage: stream-load sink | source PORT STREAMS CHUNK\n");
  return 2;
}
