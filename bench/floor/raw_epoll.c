/* raw_epoll: the floor an epoll HTTP/1.1 responder can reach on this machine, for the macro
 * benchmark to measure iocore against. One thread, one epoll set, edge-triggered; per connection
 * it only receives, counts the request heads ("\r\n\r\n") and sends that many canned responses.
 * No parsing, no timeouts, no limits: not a server, a measuring stick.
 *
 *   raw_epoll PORT BODY_BYTES      (PORT 0: any; prints "raw_epoll listening on 127.0.0.1:PORT")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kMaxEvents = 256, kInSize = 16384 };

struct conn {
  int fd;
  int matched;       /* bytes of "\r\n\r\n" matched at the end of the last read */
  size_t out_off;    /* bytes of the pending output already sent */
  size_t out_len;    /* pending output (responses owed) */
  char *out;
  size_t out_cap;
};

static char *g_response;
static size_t g_response_len;

static int count_heads(struct conn *c, const char *p, ssize_t n)
{
  static const char end[4] = {'\r', '\n', '\r', '\n'};
  int heads = 0;
  for (ssize_t i = 0; i < n; ++i) {
    if (p[i] == end[c->matched]) {
      if (++c->matched == 4) {
        ++heads;
        c->matched = 0;
      }
    } else {
      c->matched = p[i] == '\r' ? 1 : 0;
    }
  }
  return heads;
}

static void close_conn(struct conn *c)
{
  close(c->fd);
  free(c->out);
  free(c);
}

/* Send what is owed; 0 when done or waiting for EPOLLOUT, -1 on error. */
static int flush_out(struct conn *c)
{
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      return errno == EAGAIN ? 0 : -1;
    }
    c->out_off += (size_t)n;
  }
  c->out_off = c->out_len = 0;
  return 0;
}

static int owe(struct conn *c, int heads)
{
  size_t need = c->out_len + (size_t)heads * g_response_len;
  if (need > c->out_cap) {
    char *p = realloc(c->out, need);
    if (p == NULL) {
      return -1;
    }
    c->out = p;
    c->out_cap = need;
  }
  for (int i = 0; i < heads; ++i) {
    memcpy(c->out + c->out_len, g_response, g_response_len);
    c->out_len += g_response_len;
  }
  return 0;
}

/* Read until EAGAIN, answer every complete head; -1 when the connection is to be closed. */
static int on_readable(struct conn *c)
{
  char in[kInSize];
  for (;;) {
    ssize_t n = recv(c->fd, in, sizeof(in), 0);
    if (n == 0) {
      return -1;
    }
    if (n < 0) {
      return errno == EAGAIN ? 0 : -1;
    }
    int heads = count_heads(c, in, n);
    if (heads > 0 && (owe(c, heads) < 0 || flush_out(c) < 0)) {
      return -1;
    }
    if (n < (ssize_t)sizeof(in)) {
      return 0; /* a short read drained the socket; the next edge brings more */
    }
  }
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: raw_epoll PORT BODY_BYTES\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  size_t body = (size_t)strtoul(argv[2], NULL, 10);
  char head[128];
  int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body);
  g_response_len = (size_t)hl + body;
  g_response = malloc(g_response_len);
  memcpy(g_response, head, (size_t)hl);
  memset(g_response + hl, 'x', body);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof(sin);
  if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4096) < 0 ||
      getsockname(lfd, (struct sockaddr *)&sin, &sl) < 0) {
    perror("raw_epoll: listen");
    return 1;
  }
  printf("raw_epoll listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event events[kMaxEvents];
  for (;;) {
    int n = epoll_wait(ep, events, kMaxEvents, -1);
    for (int i = 0; i < n; ++i) {
      struct conn *c = events[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) {
            break;
          }
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          struct conn *nc = calloc(1, sizeof(*nc));
          nc->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
          if (on_readable(nc) < 0) { /* data may have come with the connection */
            close_conn(nc);
          }
        }
        continue;
      }
      uint32_t e = events[i].events;
      int bad = (e & (EPOLLERR | EPOLLHUP)) != 0;
      if (!bad && (e & (EPOLLIN | EPOLLRDHUP))) {
        bad = on_readable(c) < 0;
      }
      if (!bad && (e & EPOLLOUT)) {
        bad = flush_out(c) < 0;
      }
      if (bad) {
        close_conn(c);
      }
    }
  }
}
