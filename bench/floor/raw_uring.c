/* raw_uring: the floor an io_uring HTTP/1.1 responder can reach on this machine, for the macro
 * benchmark to measure iocore against (see raw_epoll.c for its epoll twin). One thread, one ring
 * (SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them); multishot accept, multishot recv into
 * a provided buffer ring, and every send of a loop pass submitted with the one io_uring_enter of
 * the next wait. Like raw_epoll it only counts request heads and sends canned responses.
 *
 *   raw_uring PORT BODY_BYTES      (PORT 0: any; prints "raw_uring listening on 127.0.0.1:PORT")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kEntries = 4096, kBufCount = 1024, kBufSize = 4096, kGroup = 1, kMaxBatch = 64 };
enum op { kAccept = 1, kRecv = 2, kSend = 3 };

struct conn {
  int fd;
  int matched;   /* bytes of "\r\n\r\n" matched at the end of the last buffer */
  int owed;      /* responses not yet handed to a send */
  int sending;   /* responses in the send in flight (0: none) */
  size_t sent;   /* bytes of that send already done */
  int inflight;  /* operations the kernel still holds: the conn is freed when 0 and closing */
  int closing;
};

static struct io_uring g_ring;
static struct io_uring_buf_ring *g_bufs;
static char *g_buf_mem;
static char *g_responses; /* kMaxBatch responses back to back */
static size_t g_response_len;

static void *tag(struct conn *c, enum op o) { return (void *)((uintptr_t)c | (uintptr_t)o); }

static struct io_uring_sqe *sqe_get(void)
{
  struct io_uring_sqe *s = io_uring_get_sqe(&g_ring);
  if (s == NULL) { /* full: push what is queued, then there is room */
    io_uring_submit(&g_ring);
    s = io_uring_get_sqe(&g_ring);
  }
  return s;
}

static void arm_recv(struct conn *c)
{
  struct io_uring_sqe *s = sqe_get();
  io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  io_uring_sqe_set_data(s, tag(c, kRecv));
  ++c->inflight;
}

static void start_send(struct conn *c)
{
  if (c->sending || c->owed == 0 || c->closing) {
    return;
  }
  c->sending = c->owed < kMaxBatch ? c->owed : kMaxBatch;
  c->owed -= c->sending;
  c->sent = 0;
  struct io_uring_sqe *s = sqe_get();
  io_uring_prep_send(s, c->fd, g_responses, (size_t)c->sending * g_response_len, MSG_NOSIGNAL);
  io_uring_sqe_set_data(s, tag(c, kSend));
  ++c->inflight;
}

static void begin_close(struct conn *c)
{
  if (!c->closing) {
    c->closing = 1;
    shutdown(c->fd, SHUT_RDWR); /* ends the multishot recv; its last completion frees the conn */
  }
}

static void done_op(struct conn *c)
{
  if (--c->inflight == 0 && c->closing) {
    close(c->fd);
    free(c);
  }
}

static void recycle(int bid)
{
  io_uring_buf_ring_add(g_bufs, g_buf_mem + (size_t)bid * kBufSize, kBufSize, (unsigned short)bid,
                        io_uring_buf_ring_mask(kBufCount), 0);
  io_uring_buf_ring_advance(g_bufs, 1);
}

static void on_recv(struct conn *c, struct io_uring_cqe *cqe)
{
  static const char end[4] = {'\r', '\n', '\r', '\n'};
  if (cqe->res > 0) {
    int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    const char *p = g_buf_mem + (size_t)bid * kBufSize;
    for (int i = 0; i < cqe->res; ++i) {
      if (p[i] == end[c->matched]) {
        if (++c->matched == 4) {
          ++c->owed;
          c->matched = 0;
        }
      } else {
        c->matched = p[i] == '\r' ? 1 : 0;
      }
    }
    recycle(bid);
    start_send(c);
  } else if (cqe->res != -ENOBUFS) {
    begin_close(c); /* EOF or an error */
  }
  if (!(cqe->flags & IORING_CQE_F_MORE)) {
    if (!c->closing) {
      arm_recv(c); /* the multishot stopped (out of buffers): start it again */
    }
    done_op(c);
  }
}

static void on_send(struct conn *c, int res)
{
  if (res < 0) {
    c->sending = 0;
    begin_close(c);
  } else {
    c->sent += (size_t)res;
    size_t total = (size_t)c->sending * g_response_len;
    if (c->sent < total && !c->closing) {
      struct io_uring_sqe *s = sqe_get(); /* a short send: the rest */
      io_uring_prep_send(s, c->fd, g_responses + c->sent, total - c->sent, MSG_NOSIGNAL);
      io_uring_sqe_set_data(s, tag(c, kSend));
      ++c->inflight;
    } else {
      c->sending = 0;
      start_send(c);
    }
  }
  done_op(c);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: raw_uring PORT BODY_BYTES\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  size_t body = (size_t)strtoul(argv[2], NULL, 10);
  char head[128];
  int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body);
  g_response_len = (size_t)hl + body;
  g_responses = malloc(g_response_len * kMaxBatch);
  for (int i = 0; i < kMaxBatch; ++i) {
    char *r = g_responses + (size_t)i * g_response_len;
    memcpy(r, head, (size_t)hl);
    memset(r + hl, 'x', body);
  }

  struct io_uring_params params = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
  if (io_uring_queue_init_params(kEntries, &g_ring, &params) < 0) {
    memset(&params, 0, sizeof(params));
    if (io_uring_queue_init_params(kEntries, &g_ring, &params) < 0) {
      fprintf(stderr, "raw_uring: io_uring_setup failed\n");
      return 1;
    }
  }
  /* liburing 2.3 has no io_uring_setup_buf_ring: map the ring and register it ourselves. */
  size_t ring_bytes = kBufCount * sizeof(struct io_uring_buf);
  g_bufs = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  g_buf_mem = malloc((size_t)kBufCount * kBufSize);
  struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)g_bufs, .ring_entries = kBufCount, .bgid = kGroup};
  io_uring_buf_ring_init(g_bufs);
  if (g_bufs == MAP_FAILED || g_buf_mem == NULL || io_uring_register_buf_ring(&g_ring, &reg, 0) < 0) {
    fprintf(stderr, "raw_uring: no provided buffer ring\n");
    return 1;
  }
  for (int i = 0; i < kBufCount; ++i) {
    io_uring_buf_ring_add(g_bufs, g_buf_mem + (size_t)i * kBufSize, kBufSize, (unsigned short)i,
                          io_uring_buf_ring_mask(kBufCount), i);
  }
  io_uring_buf_ring_advance(g_bufs, kBufCount);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof(sin);
  if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4096) < 0 ||
      getsockname(lfd, (struct sockaddr *)&sin, &sl) < 0) {
    perror("raw_uring: listen");
    return 1;
  }
  printf("raw_uring listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
  fflush(stdout);

  struct io_uring_sqe *s = sqe_get();
  io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
  io_uring_sqe_set_data(s, (void *)(uintptr_t)kAccept);
  for (;;) {
    io_uring_submit_and_wait(&g_ring, 1);
    struct io_uring_cqe *cqe;
    unsigned head_idx, seen = 0;
    io_uring_for_each_cqe(&g_ring, head_idx, cqe)
    {
      ++seen;
      uintptr_t data = (uintptr_t)io_uring_cqe_get_data(cqe);
      enum op o = (enum op)(data & 3);
      struct conn *c = (struct conn *)(data & ~(uintptr_t)3);
      if (o == kAccept) {
        if (cqe->res >= 0) {
          setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          struct conn *nc = calloc(1, sizeof(*nc));
          nc->fd = cqe->res;
          arm_recv(nc);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) { /* the multishot accept ended: start it again */
          s = sqe_get();
          io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
          io_uring_sqe_set_data(s, (void *)(uintptr_t)kAccept);
        }
      } else if (o == kRecv) {
        on_recv(c, cqe);
      } else {
        on_send(c, cqe->res);
      }
    }
    io_uring_cq_advance(&g_ring, seen);
  }
}
