/* Baseline: a minimal splice(2) relay, the floor a splice relay can reach on this machine. One thread, epoll
 * edge-triggered, one 1 MiB pipe per direction for the connection's life, each direction drained until EAGAIN.
 * Built by the relay bench with the machine's cc into a temp dir. Usage: splice-relay LISTEN_PORT=TARGET_PORT ... */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn;
struct ref { int fd, target; struct conn *c; }; /* the epoll data: a listener (c NULL) or a connection's fd */
struct dir { int src, dst, p[2]; size_t held; int eof, shut; };
struct conn { struct dir d[2]; struct ref r[2]; int open; struct conn *next; };

static int ep;
static struct conn *ended; /* freed after the epoll batch: later events of the batch may still name them */

static int tcp_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void end_conn(struct conn *c) {
  for (int i = 0; i < 2; i++) close(c->d[i].src), close(c->d[i].p[0]), close(c->d[i].p[1]);
  c->open = 0, c->next = ended, ended = c;
}

/* Moves what it can one way: pipe -> dst first, then src -> pipe, until both would block. */
static int pump(struct dir *d) {
  for (;;) {
    if (d->held > 0) {
      ssize_t n = splice(d->p[0], NULL, d->dst, NULL, d->held, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n < 0) return errno == EAGAIN ? 0 : -1;
      d->held -= (size_t)n;
    }
    if (d->eof) {
      if (d->held == 0 && !d->shut) shutdown(d->dst, SHUT_WR), d->shut = 1;
      return 0;
    }
    ssize_t n = splice(d->src, NULL, d->p[1], NULL, 1 << 20, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n == 0) d->eof = 1;
    else if (n > 0) d->held += (size_t)n;
    else if (errno != EAGAIN) return -1;
    else if (d->held == 0) return 0; /* source empty; with bytes held it may be a full pipe: drain and retry */
  }
}

static void watch(struct conn *c, int side, int fd) {
  c->r[side].fd = fd, c->r[side].c = c;
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = &c->r[side] };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
  return a;
}

static void accept_all(int lfd, int target) {
  int cfd;
  while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
    int one = 1, tfd = tcp_socket();
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = loopback(target);
    connect(tfd, (struct sockaddr *)&a, sizeof a); /* EINPROGRESS: EPOLLOUT says when; early splices just EAGAIN */
    struct conn *c = calloc(1, sizeof *c);
    c->open = 1;
    for (int i = 0; i < 2; i++) {
      pipe2(c->d[i].p, O_NONBLOCK | O_CLOEXEC);
      fcntl(c->d[i].p[1], F_SETPIPE_SZ, 1 << 20); /* may be refused past the user's pipe pages: keep 64 KiB */
    }
    c->d[0].src = c->d[1].dst = cfd;
    c->d[1].src = c->d[0].dst = tfd;
    watch(c, 0, cfd), watch(c, 1, tfd);
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* splice() to a reset peer: EPIPE, not death */
  ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 1; i < argc; i++) {
    int listen_port, target, one = 1, lfd = tcp_socket();
    if (sscanf(argv[i], "%d=%d", &listen_port, &target) != 2) return fprintf(stderr, "bad %s\n", argv[i]), 2;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(listen_port);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0) return perror("listen"), 1;
    struct ref *r = calloc(1, sizeof *r);
    r->fd = lfd, r->target = target;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = r };
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  }
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      struct ref *r = evs[i].data.ptr;
      struct conn *c = r->c;
      if (c == NULL) accept_all(r->fd, r->target);
      else if (c->open && (pump(&c->d[0]) < 0 || pump(&c->d[1]) < 0 || (c->d[0].shut && c->d[1].shut))) end_conn(c);
    }
    while (ended != NULL) {
      struct conn *c = ended;
      ended = c->next;
      free(c);
    }
  }
}
