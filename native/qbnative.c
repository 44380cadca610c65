/*
 * qbnative: the few system calls a libqb-compatible IPC server needs and Node.js 20 lacks.
 *
 *   listenAbstract(name, backlog) -> fd   AF_UNIX stream listener on the abstract name
 *                                          "\0<name>" padded with NULs to the whole sun_path,
 *                                          bound with the full sizeof(struct sockaddr_un)
 *                                          (libqb clients connect with that length).
 *   listenPath(path, backlog) -> fd | -errno   non-blocking AF_UNIX stream listener bound to a
 *                                          filesystem path (our own IPC endpoints)
 *   acceptFd(fd) -> fd | -errno            accept4(NONBLOCK, CLOEXEC) on a listener; -EAGAIN: none
 *                                          waiting. With pollStart this replaces net.Server, whose
 *                                          listen() loads Node's cluster, child_process and dgram
 *                                          modules (~1 MiB of a daemon's RSS)
 *   peerCred(fd) -> [pid, uid, gid]        SO_PEERCRED of a connected unix socket.
 *   closeFd(fd)
 *   pageSize                               sysconf(_SC_PAGESIZE)
 *   ringCreate(base, dataBytes, hdrBytes, uid, gid) -> ring
 *                                          creates <base>-header and <base>-data (O_EXCL,
 *                                          0600, owned by uid:gid), maps the header once and
 *                                          the data twice back to back, initialises the
 *                                          header (pointers, word size, paths, ref count 1,
 *                                          process-shared semaphore) and the data (zero, 5 in
 *                                          word 0).
 *   ringHdrGet(ring, off) / ringHdrSet(ring, off, value)        i32 at a byte offset of the header
 *   ringWordGet(ring, idx) / ringWordSet(ring, idx, value)      u32 data word (acquire / release)
 *   ringRead(ring, idx, len) -> Buffer / ringWrite(ring, idx, buf)   bytes from data word idx
 *   ringSemPost(ring) / ringSemTryWait(ring) -> bool / ringSemValue(ring) -> number
 *   ringRefDec(ring) -> number             atomically decrement the shared ref count
 *   ringSizesOk(ring) -> bool              both files still have the sizes we created
 *   ringClose(ring, unlink)                sem_destroy, unmap, close, optionally unlink
 *
 * For the socket transport (AF_UNIX datagrams on abstract names, which Node cannot open):
 *   dgramBind(name, bufBytes) -> fd       non-blocking SOCK_DGRAM bound to "\0<name>" (full
 *                                          address length), SO_SNDBUF/SO_RCVBUF raised to bufBytes
 *   dgramConnect(fd, name) -> 0 | -errno
 *   dgramSend(fd, buf) -> bytes | -errno   one datagram, never blocks (-EAGAIN when full)
 *   dgramSend2(fd, head, body) -> bytes | -errno   the same for a frame in two Buffers, one
 *                                          sendmsg(2) (a stream socket may take part of it)
 *   dgramRecv(fd, max) -> Buffer | -errno  one datagram; -EMSGSIZE if it was longer than max
 *   udpSendTo(fd, buf, sockaddr) -> bytes | -errno   one UDP datagram (totem's send path)
 *   udpSendSegments(fd, bufs, first, count, segBytes, sockaddr) -> bytes | -errno
 *                                          count equal-sized datagrams (the last may be
 *                                          shorter) to one destination in one sendmsg(2)
 *                                          with UDP_SEGMENT (generic segmentation offload)
 *   udpOpen(sockaddr, reuseAddr, bufBytes) -> fd | -errno
 *                                          non-blocking, close-on-exec UDP socket of the
 *                                          sockaddr's family (sockaddr_in / sockaddr_in6),
 *                                          SO_REUSEADDR when asked, SO_RCVBUF/SO_SNDBUF raised
 *                                          to bufBytes (failures ignored), bound to sockaddr
 *   setSockOpt(fd, level, name, value) -> 0 | -errno   setsockopt(2) with the bytes of a Buffer
 *   unixDgramOpen(path) -> fd | -errno     datagram socket connected to a filesystem socket (syslog)
 *   pollStart(fd, events, cb) -> poller    libuv poll watcher; cb(status, events) on readiness
 *                                          (events: 1 readable, 2 writable)
 *   udpRecvPollStart(fd, slab, slotBytes, meta, cb) -> poller
 *                                          a readable watcher of a UDP socket that, on a readable
 *                                          event, takes up to 64 datagrams in one
 *                                          recvmmsg(MSG_DONTWAIT) before it calls
 *                                          cb(status, events, count | -errno; -EAGAIN: none or
 *                                          not read): datagram i in slab[i*slotBytes ..]; meta
 *                                          (Int32Array) gets 8 words per datagram: length,
 *                                          truncated (0/1), source port, family (4/6), then the
 *                                          source address (IPv4: word 4 = the 4 address bytes as
 *                                          read little-endian; IPv6: words 4..7)
 *   udpRecvNext(poller) -> count | -errno  the next batch of such a poller (after a full one)
 *   streamRecvPollStart(fd, buf, cb) -> poller
 *                                          a readable watcher of a stream socket that, on a
 *                                          readable event, makes one recv(MSG_DONTWAIT) into buf
 *                                          before it calls cb(status, events, bytes | 0 at the
 *                                          end of the stream | -errno; -EAGAIN: nothing or not
 *                                          read); further reads are the caller's (streamRecv)
 *   pollSet(poller, events)                change the watched events (0 pauses)
 *   pollClose(poller)
 *   loopTurns() -> Uint32Array(1)          a word the event loop bumps before and after polling
 *                                          (equal readings: the same loop turn)
 *
 * Process scheduling (corosync's system.sched_rr / system.priority):
 *   schedSetRr() -> priority | -errno       SCHED_RR at sched_get_priority_max(SCHED_RR) for the
 *                                          calling (main) thread, as corosync's main thread
 *   schedSetOther() -> 0 | -errno           SCHED_OTHER for the calling thread (the daemon's
 *                                          quiet-time collection runs so, then schedSetRr again)
 *   setPriorityPgrp(prio) -> 0 | -errno     setpriority(PRIO_PGRP, 0, prio) (the kernel clamps)
 *   memlockUnlimited() -> 0 | -errno       setrlimit(RLIMIT_MEMLOCK, unlimited), as corosync before locking
 *   lockFileMappings() -> [count, bytes, errno]   mlock2(MLOCK_ONFAULT) of every private file
 *                                          mapping (code and data of node, the libraries, this addon)
 *   mallocTrim() -> 0 | 1                   malloc_trim(0): give freed C heap back to the kernel
 *   lowMemoryNotification() -> 0 | 1        V8's low-memory notification (v8mem.cc): a full GC
 *                                          that also shrinks the young generation
 *   collectIncrementally(restoreRr) -> 0 | 1   V8's moderate memory-pressure notification
 *                                          (v8mem.cc): incremental marking that shrinks the heap
 *                                          as the notification above, in small steps; with
 *                                          restoreRr the thread goes back to SCHED_RR (highest
 *                                          priority) when that full collection ends
 *   fullGcCount() -> n                      full collections ended since the first
 *                                          collectIncrementally (counted from then on)
 *   cancelRrRestore() -> 0                  forget a pending restoreRr
 *   oldGenerationGrowth() -> bytes | -1     growth of V8's old generation since the last full
 *                                          collection ended (the first call counts from then)
 *   mapFileLatin1(path) -> string | -errno   the file as a JavaScript string whose characters
 *                                          stay in a private read-only mapping of it (an
 *                                          external string, freed with it): a large source
 *                                          kept by V8 costs file pages touched on demand, not
 *                                          a copy in the JavaScript heap. The bytes are taken
 *                                          as Latin-1 (pure ASCII is the same text). -ENOSYS
 *                                          where Node lacks external strings.
 *   execv(path, argv[]) -> -errno           replace the process image (same pid); returns only
 *                                          on failure (the daemon re-executes Node with its flags)
 *
 * The ring-buffer protocol itself (chunks, pointers, free space) lives in TypeScript; this
 * file only gives bounded, fault-guarded access to the shared memory.
 *
 * Safety: the client owns the files (libqb chowns them to it) and may truncate them while
 * they are mapped, which makes our next access raise SIGBUS. Every access to the mappings
 * runs inside a guard: a SIGBUS handler long-jumps back out of the access when a guard is
 * active on the faulting thread (the call then throws an Error with code 'EFAULT') and
 * otherwise passes the signal on to the previous disposition. Every index and length is
 * checked against the sizes we created, never against values read from shared memory.
 *
 * What remains: a SIGBUS on a thread without an active guard is handled as before our
 * handler existed (default: the process dies), as it must be; the guard is per thread, so
 * the addon is safe to load in worker threads too. Semaphore calls on a header the client
 * overwrote with garbage may fail (EINVAL), which we report; glibc's sem_post never blocks.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <node_api.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/* Layout of libqb's shared ring header (x86_64 / glibc), see src/ipc/libqb/ring.ts. */
#define HDR_WRITE_PT 0
#define HDR_READ_PT 4
#define HDR_WORD_SIZE 8
#define HDR_HDR_PATH 12
#define HDR_DATA_PATH 4108
#define HDR_PATH_MAX 4096
#define HDR_REF_COUNT 8204
#define HDR_SEM 8208
#define HDR_BASE_SIZE 8248
#define MAX_DATA_BYTES (64u * 1024u * 1024u)

/* ---- SIGBUS guard ---- */

static __thread sigjmp_buf guard_env;
static __thread volatile sig_atomic_t guard_active = 0;
static struct sigaction previous_sigbus;
static int sigbus_installed = 0;

static void on_sigbus(int sig, siginfo_t *info, void *ctx) {
  if (guard_active) {
    guard_active = 0;
    siglongjmp(guard_env, 1);
  }
  /* not ours: behave as the disposition we replaced */
  if (previous_sigbus.sa_flags & SA_SIGINFO) {
    if (previous_sigbus.sa_sigaction) {
      previous_sigbus.sa_sigaction(sig, info, ctx);
      return;
    }
  } else if (previous_sigbus.sa_handler == SIG_IGN) {
    if (info == NULL || info->si_code <= 0) return; /* sent by kill(): ignored as before */
  } else if (previous_sigbus.sa_handler != SIG_DFL) {
    previous_sigbus.sa_handler(sig);
    return;
  }
  /* default action (a real fault, or SIG_DFL): terminate as the kernel would have */
  signal(SIGBUS, SIG_DFL);
  raise(SIGBUS);
}

static void install_sigbus(void) {
  if (__atomic_exchange_n(&sigbus_installed, 1, __ATOMIC_ACQ_REL)) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_sigbus;
  /* SA_NODEFER: SIGBUS stays unblocked in the handler, so the long jump out of it needs no
   * saved signal mask (sigsetjmp(env, 0) below: no rt_sigprocmask per guarded access). */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previous_sigbus);
}

/* Run `body` with the guard active; on a fault set `faulted`. No N-API calls inside. */
#define GUARDED(faulted, body)                                                                     \
  do {                                                                                             \
    (faulted) = 0;                                                                                 \
    if (sigsetjmp(guard_env, 0) != 0) {                                                            \
      (faulted) = 1;                                                                               \
    } else {                                                                                       \
      guard_active = 1;                                                                            \
      body;                                                                                        \
      guard_active = 0;                                                                            \
    }                                                                                              \
  } while (0)

/* ---- helpers ---- */

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
  const char *code = "EIO";
  switch (err) {
  case EFAULT: code = "EFAULT"; break;
  case EADDRINUSE: code = "EADDRINUSE"; break;
  case EEXIST: code = "EEXIST"; break;
  case EINVAL: code = "EINVAL"; break;
  case ENOENT: code = "ENOENT"; break;
  case EACCES: code = "EACCES"; break;
  case EPERM: code = "EPERM"; break;
  case ERANGE: code = "ERANGE"; break;
  case ENOMEM: code = "ENOMEM"; break;
  case ENOSPC: code = "ENOSPC"; break;
  default: break;
  }
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return 0;
  }
  return 1;
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a number");
    return 0;
  }
  return 1;
}

/* A Buffer argument's memory and length; a TypeError is pending when it is not a Buffer. */
static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  if (napi_get_buffer_info(env, v, data, len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return 0;
  }
  return 1;
}

/* Two Buffer arguments; one TypeError for either (the second is not looked at when the first fails). */
static int get_buffers(napi_env env, napi_value a, void **a_data, size_t *a_len, napi_value b, void **b_data,
                       size_t *b_len) {
  if (napi_get_buffer_info(env, a, a_data, a_len) != napi_ok ||
      napi_get_buffer_info(env, b, b_data, b_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected Buffers");
    return 0;
  }
  return 1;
}

/*
 * A file descriptor argument. A TypeError is pending when it is not a number; a number outside
 * 0..INT32_MAX comes back as -1, which the caller reports (usually -EBADF) only after its other
 * argument checks, so a wrong argument elsewhere still throws first, as it always has.
 */
static int get_fd(napi_env env, napi_value v, int *fd) {
  int64_t raw;
  if (!get_i64(env, v, &raw)) return 0;
  *fd = raw >= 0 && raw <= INT32_MAX ? (int)raw : -1;
  return 1;
}

/* The argument of a call that takes only a number. */
static int i64_arg(napi_env env, napi_callback_info info, int64_t *v) {
  napi_value argv[1];
  return get_args(env, info, 1, argv) && get_i64(env, argv[0], v);
}

/* The argument of a call that takes only a file descriptor (see get_fd). */
static int fd_arg(napi_env env, napi_callback_info info, int *fd) {
  napi_value argv[1];
  return get_args(env, info, 1, argv) && get_fd(env, argv[0], fd);
}

/* The arguments of a call taking (fd, Buffer, ...): want of them in argv, the first two read. */
static int fd_buffer_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, int *fd,
                          void **data, size_t *len) {
  return get_args(env, info, want, argv) && get_fd(env, argv[0], fd) && get_buffer(env, argv[1], data, len);
}

/* The pointer a napi external holds; NULL, with the TypeError `what` pending, when v is none or holds NULL. */
static void *get_external(napi_env env, napi_value v, const char *what) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return p;
}

static napi_value make_i64(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

/*
 * A system call's answer as the JavaScript side expects it: the call's own non-negative result,
 * or -errno when it failed. Call it straight after the system call, before anything that may
 * change errno.
 */
static napi_value make_result(napi_env env, int64_t n) { return make_i64(env, n < 0 ? -errno : n); }

/* A JavaScript array of three numbers. */
static napi_value make_i64_triple(napi_env env, int64_t a, int64_t b, int64_t c) {
  napi_value arr;
  napi_create_array_with_length(env, 3, &arr);
  napi_set_element(env, arr, 0, make_i64(env, a));
  napi_set_element(env, arr, 1, make_i64(env, b));
  napi_set_element(env, arr, 2, make_i64(env, c));
  return arr;
}

static napi_value make_bool(napi_env env, int v) {
  napi_value out;
  napi_get_boolean(env, v != 0, &out);
  return out;
}

/* ---- sockets ---- */

/* Call `call` into `var` again for as long as it fails with EINTR (a signal came first). */
#define RETRY_EINTR(var, call)                                                                     \
  do {                                                                                             \
    (var) = (call);                                                                                \
  } while ((var) < 0 && errno == EINTR)

/* Close fd after a failed call, keeping that call's errno: returns -errno. */
static int close_errno(int fd) {
  int err = errno;
  close(fd);
  return -err;
}

/* A non-blocking, close-on-exec AF_UNIX stream listener on addr: fd or -errno. */
static int stream_listener(const struct sockaddr_un *addr, int64_t backlog) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
      listen(fd, backlog > 0 && backlog < 4096 ? (int)backlog : 128) != 0)
    return close_errno(fd);
  return fd;
}

static napi_value listen_abstract(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char name[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "name must be a string");
    return NULL;
  }
  int64_t backlog;
  if (!get_i64(env, argv[1], &backlog)) return NULL;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (len == 0 || len + 1 >= sizeof(addr.sun_path)) return throw_errno(env, "abstract name", EINVAL);
  memcpy(addr.sun_path + 1, name, len); /* sun_path[0] stays NUL: abstract namespace */
  int fd = stream_listener(&addr, backlog);
  if (fd < 0) return throw_errno(env, name, -fd);
  return make_i64(env, fd);
}

/*
 * A filesystem AF_UNIX address from a JS path. 0 when there is none, and *fail is then what the
 * call answers: NULL with a TypeError pending (not a string), or -ENAMETOOLONG (empty, too long).
 */
static int path_addr(napi_env env, napi_value v, struct sockaddr_un *addr, napi_value *fail) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, addr->sun_path, sizeof(addr->sun_path), &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a path");
    *fail = NULL;
    return 0;
  }
  if (len == 0 || len + 1 >= sizeof(addr->sun_path)) {
    *fail = make_i64(env, -ENAMETOOLONG);
    return 0;
  }
  return 1;
}

/*
 * The path argument's AF_UNIX socket of `type` (non-blocking, close-on-exec), connected: fd or
 * -errno. A stream connect interrupted by a signal is made again, as streamConnect always did; a
 * datagram one is not (unixDgramOpen never retried; it is kept that way).
 */
static napi_value connect_path(napi_env env, napi_callback_info info, int type) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  struct sockaddr_un addr;
  napi_value fail;
  if (!path_addr(env, argv[0], &addr, &fail)) return fail;
  int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_i64(env, -errno);
  int rc;
  do {
    rc = connect(fd, (const struct sockaddr *)&addr, sizeof(addr));
  } while (rc != 0 && type == SOCK_STREAM && errno == EINTR);
  return make_i64(env, rc == 0 ? fd : close_errno(fd));
}

static napi_value listen_path(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  struct sockaddr_un addr;
  napi_value fail;
  if (!path_addr(env, argv[0], &addr, &fail)) return fail;
  int64_t backlog;
  if (!get_i64(env, argv[1], &backlog)) return NULL;
  return make_i64(env, stream_listener(&addr, backlog));
}

static napi_value accept_fd(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_arg(env, info, &fd)) return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  int c;
  RETRY_EINTR(c, accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
  return make_result(env, c);
}

static napi_value peer_cred(napi_env env, napi_callback_info info) {
  int64_t fd;
  if (!i64_arg(env, info, &fd)) return NULL;
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (fd < 0 || fd > INT32_MAX || getsockopt((int)fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return throw_errno(env, "SO_PEERCRED", fd < 0 ? EINVAL : errno);
  return make_i64_triple(env, cred.pid, cred.uid, cred.gid);
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_arg(env, info, &fd)) return NULL;
  if (fd >= 0) close(fd);
  return NULL;
}

/* A second descriptor of the same open socket (close-on-exec): libuv watches each descriptor
   with one watcher, so a socket read through a poll watcher and written by a Node stream needs
   two. */
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_arg(env, info, &fd)) return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  return make_result(env, fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

/* ---- rings ---- */

typedef struct {
  uint8_t *hdr;      /* header mapping, hdr_bytes long */
  size_t hdr_bytes;
  uint8_t *data;     /* 2 * data_bytes of address space, the file mapped twice */
  size_t data_bytes;
  int hdr_fd;
  int data_fd;
  int closed;
  char hdr_path[HDR_PATH_MAX];
  char data_path[HDR_PATH_MAX];
} ring_t;

/* The process-shared semaphore in the ring's header. */
static sem_t *ring_sem(ring_t *r) { return (sem_t *)(r->hdr + HDR_SEM); }

static void ring_release(ring_t *r, int unlink_files) {
  if (r->closed) return;
  r->closed = 1;
  if (r->hdr) {
    int faulted;
    GUARDED(faulted, sem_destroy(ring_sem(r)));
    (void)faulted;
    munmap(r->hdr, r->hdr_bytes);
    r->hdr = NULL;
  }
  if (r->data) {
    munmap(r->data, r->data_bytes * 2);
    r->data = NULL;
  }
  if (r->hdr_fd >= 0) close(r->hdr_fd);
  if (r->data_fd >= 0) close(r->data_fd);
  r->hdr_fd = r->data_fd = -1;
  if (unlink_files) {
    if (r->hdr_path[0]) unlink(r->hdr_path);
    if (r->data_path[0]) unlink(r->data_path);
  }
}

static void ring_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ring_t *r = data;
  ring_release(r, 0);
  free(r);
}

static int create_file(const char *path, size_t bytes, int uid, int gid) {
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  int err = 0;
  if (ftruncate(fd, (off_t)bytes) != 0) err = errno;
  if (!err) {
    int rc = posix_fallocate(fd, 0, (off_t)bytes);
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) err = rc;
  }
  if (!err && uid >= 0 && fchown(fd, (uid_t)uid, (gid_t)gid) != 0 && errno != EPERM) err = errno;
  if (!err && fchmod(fd, 0600) != 0) err = errno;
  if (err) {
    close(fd);
    unlink(path);
    return -err;
  }
  return fd;
}

static napi_value ring_create(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  char base[HDR_PATH_MAX - 16];
  size_t base_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], base, sizeof(base), &base_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "base must be a string");
    return NULL;
  }
  int64_t data_bytes, hdr_bytes, uid, gid;
  if (!get_i64(env, argv[1], &data_bytes) || !get_i64(env, argv[2], &hdr_bytes) ||
      !get_i64(env, argv[3], &uid) || !get_i64(env, argv[4], &gid))
    return NULL;
  long page = sysconf(_SC_PAGESIZE);
  if (base_len == 0 || base_len + 8 >= HDR_PATH_MAX || data_bytes <= 0 || data_bytes > MAX_DATA_BYTES ||
      data_bytes % page != 0 || hdr_bytes < HDR_BASE_SIZE || hdr_bytes > HDR_BASE_SIZE + 4096)
    return throw_errno(env, "ringCreate arguments", EINVAL);

  ring_t *r = calloc(1, sizeof(ring_t));
  if (!r) return throw_errno(env, "ringCreate", ENOMEM);
  r->hdr_fd = r->data_fd = -1;
  r->hdr_bytes = (size_t)hdr_bytes;
  r->data_bytes = (size_t)data_bytes;
  snprintf(r->hdr_path, sizeof(r->hdr_path), "%s-header", base);
  snprintf(r->data_path, sizeof(r->data_path), "%s-data", base);
  int err = 0;
  const char *what = "header file";

  int fd = create_file(r->hdr_path, r->hdr_bytes, (int)uid, (int)gid);
  if (fd < 0) {
    err = -fd;
    r->hdr_path[0] = 0; /* not ours: never unlink it */
    goto fail;
  }
  r->hdr_fd = fd;
  void *h = mmap(NULL, r->hdr_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED) {
    err = errno;
    what = "header mmap";
    goto fail;
  }
  r->hdr = h;

  what = "data file";
  fd = create_file(r->data_path, r->data_bytes, (int)uid, (int)gid);
  if (fd < 0) {
    err = -fd;
    r->data_path[0] = 0;
    goto fail;
  }
  r->data_fd = fd;
  what = "data mmap";
  void *area = mmap(NULL, r->data_bytes * 2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) {
    err = errno;
    goto fail;
  }
  void *a1 = mmap(area, r->data_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  void *a2 = a1 == MAP_FAILED ? MAP_FAILED
                              : mmap((uint8_t *)area + r->data_bytes, r->data_bytes, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_FIXED, fd, 0);
  if (a1 != area || a2 != (uint8_t *)area + r->data_bytes) {
    err = errno ? errno : EINVAL;
    munmap(area, r->data_bytes * 2);
    goto fail;
  }
  r->data = area;

  /* the files are new and still only ours to size (the client learns the names later) */
  memset(r->hdr, 0, r->hdr_bytes);
  uint32_t words = (uint32_t)(r->data_bytes / 4);
  memcpy(r->hdr + HDR_WORD_SIZE, &words, 4);
  memcpy(r->hdr + HDR_HDR_PATH, r->hdr_path, strlen(r->hdr_path) + 1);
  memcpy(r->hdr + HDR_DATA_PATH, r->data_path, strlen(r->data_path) + 1);
  what = "sem_init";
  if (sem_init(ring_sem(r), 1, 0) != 0) {
    err = errno;
    goto fail;
  }
  memset(r->data, 0, r->data_bytes);
  ((uint32_t *)r->data)[0] = 5; /* libqb writes 5 into word word_size, i.e. word 0 */
  int32_t one = 1;
  __atomic_store_n((int32_t *)(r->hdr + HDR_REF_COUNT), one, __ATOMIC_RELEASE);

  napi_value ext;
  if (napi_create_external(env, r, ring_finalize, NULL, &ext) != napi_ok) {
    ring_release(r, 1);
    free(r);
    return NULL;
  }
  return ext;

fail:
  ring_release(r, 1);
  free(r);
  return throw_errno(env, what, err);
}

static ring_t *get_ring(napi_env env, napi_value v) {
  ring_t *r = get_external(env, v, "not a ring");
  if (r && r->closed) {
    throw_errno(env, "ring is closed", EINVAL);
    return NULL;
  }
  return r;
}

/* The arguments of a ring call, the first of them the ring: the ring, or NULL with an exception pending. */
static ring_t *ring_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  if (!get_args(env, info, want, argv)) return NULL;
  return get_ring(env, argv[0]);
}

/* The ring of a call that takes nothing else. */
static ring_t *ring_arg(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  return ring_args(env, info, 1, argv);
}

/* The header's i32 at byte offset off; NULL (an ERANGE error thrown) when off is unaligned or outside it. */
static int32_t *hdr_word(napi_env env, ring_t *r, int64_t off) {
  if (off < 0 || off % 4 != 0 || (size_t)off + 4 > r->hdr_bytes) {
    throw_errno(env, "header offset", ERANGE);
    return NULL;
  }
  return (int32_t *)(r->hdr + off);
}

/* Data word idx of either mapping of the data; NULL (an ERANGE error thrown) past the second. */
static uint32_t *data_word(napi_env env, ring_t *r, int64_t idx) {
  if (idx < 0 || (size_t)idx >= (r->data_bytes / 4) * 2) {
    throw_errno(env, "word index", ERANGE);
    return NULL;
  }
  return (uint32_t *)r->data + idx;
}

static napi_value fault(napi_env env) { return throw_errno(env, "shared memory access (file truncated?)", EFAULT); }

static napi_value ring_hdr_get(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  ring_t *r = ring_args(env, info, 2, argv);
  int64_t off;
  int32_t *at;
  if (!r || !get_i64(env, argv[1], &off) || !(at = hdr_word(env, r, off))) return NULL;
  int32_t v = 0;
  int faulted;
  GUARDED(faulted, v = __atomic_load_n(at, __ATOMIC_ACQUIRE));
  if (faulted) return fault(env);
  return make_i64(env, v);
}

static napi_value ring_hdr_set(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  ring_t *r = ring_args(env, info, 3, argv);
  int64_t off, val;
  int32_t *at;
  if (!r || !get_i64(env, argv[1], &off) || !get_i64(env, argv[2], &val) || !(at = hdr_word(env, r, off)))
    return NULL;
  int32_t v = (int32_t)(uint32_t)val;
  int faulted;
  GUARDED(faulted, __atomic_store_n(at, v, __ATOMIC_RELEASE));
  if (faulted) return fault(env);
  return NULL;
}

static napi_value ring_word_get(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  ring_t *r = ring_args(env, info, 2, argv);
  int64_t idx;
  uint32_t *at;
  if (!r || !get_i64(env, argv[1], &idx) || !(at = data_word(env, r, idx))) return NULL;
  uint32_t v = 0;
  int faulted;
  GUARDED(faulted, v = __atomic_load_n(at, __ATOMIC_ACQUIRE));
  if (faulted) return fault(env);
  return make_i64(env, v);
}

static napi_value ring_word_set(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  ring_t *r = ring_args(env, info, 3, argv);
  int64_t idx, val;
  uint32_t *at;
  if (!r || !get_i64(env, argv[1], &idx) || !get_i64(env, argv[2], &val) || !(at = data_word(env, r, idx)))
    return NULL;
  uint32_t v = (uint32_t)val;
  int faulted;
  GUARDED(faulted, __atomic_store_n(at, v, __ATOMIC_RELEASE));
  if (faulted) return fault(env);
  return NULL;
}

static napi_value ring_read(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  ring_t *r = ring_args(env, info, 3, argv);
  int64_t idx, len;
  if (!r || !get_i64(env, argv[1], &idx) || !get_i64(env, argv[2], &len)) return NULL;
  if (idx < 0 || len < 0 || (size_t)idx >= r->data_bytes / 4 || (size_t)len > r->data_bytes)
    return throw_errno(env, "ring read bounds", ERANGE);
  void *dst = NULL;
  napi_value buf;
  if (napi_create_buffer(env, (size_t)len, &dst, &buf) != napi_ok) return NULL;
  int faulted;
  GUARDED(faulted, memcpy(dst, r->data + idx * 4, (size_t)len));
  if (faulted) return fault(env);
  return buf;
}

static napi_value ring_write(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  ring_t *r = ring_args(env, info, 3, argv);
  int64_t idx;
  if (!r || !get_i64(env, argv[1], &idx)) return NULL;
  void *src = NULL;
  size_t len = 0;
  if (!get_buffer(env, argv[2], &src, &len)) return NULL;
  if (idx < 0 || (size_t)idx >= r->data_bytes / 4 || len > r->data_bytes)
    return throw_errno(env, "ring write bounds", ERANGE);
  int faulted;
  GUARDED(faulted, memcpy(r->data + idx * 4, src, len));
  if (faulted) return fault(env);
  return NULL;
}

static napi_value ring_sem_post(napi_env env, napi_callback_info info) {
  ring_t *r = ring_arg(env, info);
  if (!r) return NULL;
  int rc = 0, err = 0, faulted;
  GUARDED(faulted, {
    rc = sem_post(ring_sem(r));
    err = errno;
  });
  if (faulted) return fault(env);
  if (rc != 0) return throw_errno(env, "sem_post", err);
  return NULL;
}

static napi_value ring_sem_trywait(napi_env env, napi_callback_info info) {
  ring_t *r = ring_arg(env, info);
  if (!r) return NULL;
  int rc = 0, err = 0, faulted;
  GUARDED(faulted, {
    do {
      rc = sem_trywait(ring_sem(r));
      err = errno;
    } while (rc != 0 && err == EINTR);
  });
  if (faulted) return fault(env);
  if (rc == 0) return make_bool(env, 1);
  if (err == EAGAIN) return make_bool(env, 0);
  return throw_errno(env, "sem_trywait", err);
}

static napi_value ring_sem_value(napi_env env, napi_callback_info info) {
  ring_t *r = ring_arg(env, info);
  if (!r) return NULL;
  int rc = 0, err = 0, val = 0, faulted;
  GUARDED(faulted, {
    rc = sem_getvalue(ring_sem(r), &val);
    err = errno;
  });
  if (faulted) return fault(env);
  if (rc != 0) return throw_errno(env, "sem_getvalue", err);
  return make_i64(env, val);
}

static napi_value ring_ref_dec(napi_env env, napi_callback_info info) {
  ring_t *r = ring_arg(env, info);
  if (!r) return NULL;
  int32_t v = 0;
  int faulted;
  GUARDED(faulted, v = __atomic_sub_fetch((int32_t *)(r->hdr + HDR_REF_COUNT), 1, __ATOMIC_ACQ_REL));
  if (faulted) return fault(env);
  return make_i64(env, v);
}

static napi_value ring_sizes_ok(napi_env env, napi_callback_info info) {
  ring_t *r = ring_arg(env, info);
  if (!r) return NULL;
  struct stat h, d;
  /* libqb clients truncate the response and event headers to the base size: still fine */
  int ok = fstat(r->hdr_fd, &h) == 0 && fstat(r->data_fd, &d) == 0 && (size_t)h.st_size >= HDR_BASE_SIZE &&
           (size_t)d.st_size >= r->data_bytes;
  return make_bool(env, ok);
}

static napi_value ring_close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  ring_t *r = get_external(env, argv[0], "not a ring");
  if (!r) return NULL;
  bool unlink_files = false;
  napi_get_value_bool(env, argv[1], &unlink_files);
  ring_release(r, unlink_files);
  return NULL;
}

/* ---- datagram sockets (socket transport) ---- */

static int abstract_addr(napi_env env, napi_value v, struct sockaddr_un *addr) {
  char name[sizeof(addr->sun_path)];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, name, sizeof(name), &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "name must be a string");
    return 0;
  }
  if (len == 0 || len + 1 >= sizeof(addr->sun_path)) {
    throw_errno(env, "abstract name", EINVAL);
    return 0;
  }
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path + 1, name, len);
  return 1;
}

static void raise_buffer(int fd, int opt, int bytes) {
  int cur = 0;
  socklen_t l = sizeof(cur);
  if (getsockopt(fd, SOL_SOCKET, opt, &cur, &l) == 0 && cur >= bytes) return;
  (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

static napi_value dgram_bind(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  struct sockaddr_un addr;
  int64_t bytes;
  if (!abstract_addr(env, argv[0], &addr) || !get_i64(env, argv[1], &bytes)) return NULL;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (bytes > 0 && bytes <= INT32_MAX) {
    raise_buffer(fd, SO_SNDBUF, (int)bytes);
    raise_buffer(fd, SO_RCVBUF, (int)bytes);
  }
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) return throw_errno(env, "bind", -close_errno(fd));
  return make_i64(env, fd);
}

static napi_value dgram_connect(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd;
  struct sockaddr_un addr;
  if (!get_fd(env, argv[0], &fd) || !abstract_addr(env, argv[1], &addr)) return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  return make_result(env, connect(fd, (struct sockaddr *)&addr, sizeof(addr)));
}

/*
 * unixDgramOpen(path) -> fd | -errno: a non-blocking SOCK_DGRAM socket connected to the
 * filesystem socket `path` (syslog's /dev/log). Send with dgramSend, close with closeFd.
 */
static napi_value unix_dgram_open(napi_env env, napi_callback_info info) {
  return connect_path(env, info, SOCK_DGRAM);
}

static napi_value sched_set_rr(napi_env env, napi_callback_info info) {
  (void)info;
  int prio = sched_get_priority_max(SCHED_RR);
  if (prio == -1) return make_i64(env, -errno);
  struct sched_param param;
  memset(&param, 0, sizeof(param));
  param.sched_priority = prio;
  if (sched_setscheduler(0, SCHED_RR, &param) != 0) return make_i64(env, -errno);
  return make_i64(env, prio);
}

static napi_value sched_set_other(napi_env env, napi_callback_info info) {
  (void)info;
  struct sched_param param;
  memset(&param, 0, sizeof(param));
  return make_result(env, sched_setscheduler(0, SCHED_OTHER, &param));
}

static napi_value set_priority_pgrp(napi_env env, napi_callback_info info) {
  int64_t prio;
  if (!i64_arg(env, info, &prio)) return NULL;
  if (prio < INT32_MIN) prio = INT32_MIN;
  if (prio > INT32_MAX) prio = INT32_MAX;
  errno = 0;
  return make_result(env, setpriority(PRIO_PGRP, 0, (int)prio));
}

/*
 * corosync raises RLIMIT_MEMLOCK to unlimited before it locks its memory; without that a
 * process lacking CAP_IPC_LOCK may lock only the soft limit.
 */
static napi_value memlock_unlimited(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit lim = {RLIM_INFINITY, RLIM_INFINITY};
  return make_result(env, setrlimit(RLIMIT_MEMLOCK, &lim));
}

/*
 * Locks the private file mappings of the process (the node binary's text, read-only data and
 * data, the shared libraries, this addon) with MLOCK_ONFAULT: pages already resident are
 * locked now, the others when first touched, and none is evicted afterwards. Anonymous memory
 * is left alone: V8 changes the permissions of its heap pages and discards them with madvise,
 * both of which fail on locked memory and make V8 abort (mlockall in a node process: "Check
 * failed" in OS::SetPermissions). Shared mappings (/dev/shm rings) are not ours to pin.
 * Returns [mappings locked, bytes locked, first errno or 0].
 */
static napi_value lock_file_mappings(napi_env env, napi_callback_info info) {
  (void)info;
  char line[4352];
  int64_t count = 0;
  int64_t bytes = 0;
  int first_errno = 0;
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) first_errno = errno;
  while (maps != NULL && fgets(line, sizeof(line), maps) != NULL) {
    unsigned long start = 0;
    unsigned long end = 0;
    char perms[8] = {0};
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3) continue;
    if (path_at <= 0 || line[path_at] != '/') continue; /* anonymous, [heap], [stack], [vdso] */
    if (perms[3] != 'p') continue;                       /* shared mappings */
    if (strncmp(line + path_at, "/dev/", 5) == 0) continue;
    if (strstr(line + path_at, " (deleted)") != NULL) continue;
    if (mlock2((void *)start, end - start, MLOCK_ONFAULT) != 0) {
      if (first_errno == 0) first_errno = errno;
      continue;
    }
    count++;
    bytes += (int64_t)(end - start);
  }
  if (maps != NULL) fclose(maps);
  return make_i64_triple(env, count, bytes, first_errno);
}

static napi_value malloc_trim_all(napi_env env, napi_callback_info info) {
  (void)info;
  return make_i64(env, malloc_trim(0));
}

int qb_v8_low_memory_notification(void); /* v8mem.cc */

static napi_value low_memory_notification(napi_env env, napi_callback_info info) {
  (void)info;
  return make_i64(env, qb_v8_low_memory_notification());
}

int qb_v8_collect_incrementally(int restore); /* v8mem.cc */
unsigned qb_v8_full_gcs(void);
void qb_v8_cancel_restore(void);

static napi_value collect_incrementally(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  bool restore = false;
  if (napi_get_value_bool(env, argv[0], &restore) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a boolean");
    return NULL;
  }
  return make_i64(env, qb_v8_collect_incrementally(restore ? 1 : 0));
}

static napi_value full_gc_count(napi_env env, napi_callback_info info) {
  (void)info;
  return make_i64(env, (int64_t)qb_v8_full_gcs());
}

long long qb_v8_old_generation_growth(void);

static napi_value old_generation_growth(napi_env env, napi_callback_info info) {
  (void)info;
  return make_i64(env, (int64_t)qb_v8_old_generation_growth());
}

static napi_value cancel_rr_restore(napi_env env, napi_callback_info info) {
  (void)info;
  qb_v8_cancel_restore();
  return make_i64(env, 0);
}

/* ---- a file as an external string ---- */

/* node_api_create_external_string_latin1 (Node >= 20.12), looked up at run time: declaring it
 * through NAPI_EXPERIMENTAL would put the whole module on the experimental Node-API version. */
typedef napi_status (*create_external_latin1_fn)(napi_env, char *, size_t,
                                                 void (*)(napi_env, void *, void *), void *,
                                                 napi_value *, bool *);

static void unmap_external(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value map_file_latin1(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  char path[4096];
  size_t plen = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &plen) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a path");
    return NULL;
  }
  if (plen + 1 >= sizeof(path)) return make_i64(env, -ENAMETOOLONG);
  static create_external_latin1_fn create;
  static int looked_up;
  if (!looked_up) {
    create = (create_external_latin1_fn)dlsym(RTLD_DEFAULT, "node_api_create_external_string_latin1");
    looked_up = 1;
  }
  if (!create) return make_i64(env, -ENOSYS);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_i64(env, -errno);
  struct stat st;
  if (fstat(fd, &st) != 0) return make_i64(env, close_errno(fd));
  if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
    close(fd);
    return make_i64(env, -EINVAL);
  }
  size_t len = (size_t)st.st_size;
  void *data = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) return make_i64(env, close_errno(fd));
  close(fd);
  napi_value out;
  bool copied = false;
  if (create(env, data, len, unmap_external, (void *)(uintptr_t)len, &out, &copied) != napi_ok) {
    munmap(data, len);
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    return make_i64(env, -ENOMEM);
  }
  /* copied: V8 made its own string and Node has already called the finaliser (unmapped) */
  return out;
}

static napi_value exec_v(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char path[4096];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok || len == 0 ||
      len >= sizeof(path) - 1) {
    napi_throw_type_error(env, NULL, "expected a path");
    return NULL;
  }
  uint32_t n = 0;
  if (napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > 4096) {
    napi_throw_type_error(env, NULL, "expected a non-empty array of arguments");
    return NULL;
  }
  char **args = calloc((size_t)n + 1, sizeof(char *));
  if (args == NULL) return make_i64(env, -ENOMEM);
  int64_t result = -EINVAL;
  uint32_t filled = 0;
  for (; filled < n; filled++) {
    napi_value item;
    size_t item_len = 0;
    if (napi_get_element(env, argv[1], filled, &item) != napi_ok ||
        napi_get_value_string_utf8(env, item, NULL, 0, &item_len) != napi_ok) {
      napi_throw_type_error(env, NULL, "expected string arguments");
      result = 0;
      break;
    }
    args[filled] = malloc(item_len + 1);
    if (args[filled] == NULL) {
      result = -ENOMEM;
      break;
    }
    napi_get_value_string_utf8(env, item, args[filled], item_len + 1, &item_len);
  }
  if (filled == n) {
    /* Node marks its stdio close-on-exec; the new image must keep stdin, stdout and stderr */
    for (int fd = 0; fd <= 2; fd++) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    execv(path, args);
    result = -errno;
  }
  for (uint32_t i = 0; i < filled; i++) free(args[i]);
  free(args);
  if (result == 0) return NULL; /* a TypeError is pending */
  return make_i64(env, result);
}

/* The family of a sockaddr_in / sockaddr_in6 the caller prepared, told by its length; 0 for any other length. */
static int inet_family(size_t alen) {
  if (alen == sizeof(struct sockaddr_in)) return AF_INET;
  if (alen == sizeof(struct sockaddr_in6)) return AF_INET6;
  return 0;
}

/* One sendmsg(2) that never blocks nor raises SIGPIPE: bytes sent, or -1 with errno set. */
static ssize_t send_msg(int fd, const struct msghdr *msg) {
  ssize_t n;
  RETRY_EINTR(n, sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL));
  return n;
}

static napi_value dgram_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  void *data = NULL;
  size_t len = 0;
  if (!fd_buffer_args(env, info, 2, argv, &fd, &data, &len)) return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  ssize_t n;
  RETRY_EINTR(n, send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL));
  return make_result(env, n);
}

/*
 * dgramSend2(fd, head, body) -> bytes | -errno: dgramSend of a frame given as two Buffers (a
 * request header and the caller's payload), in one sendmsg(2) with two iovecs, so the payload
 * is not first copied behind the header. A stream socket may take part of it (the caller
 * writes the rest).
 */
static napi_value dgram_send2(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int fd;
  struct iovec iov[2];
  if (!get_fd(env, argv[0], &fd) ||
      !get_buffers(env, argv[1], &iov[0].iov_base, &iov[0].iov_len, argv[2], &iov[1].iov_base, &iov[1].iov_len))
    return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  return make_result(env, send_msg(fd, &msg));
}

/*
 * udpSendTo(fd, buf, sockaddr) -> bytes | -errno: one UDP datagram with sendto(2), never
 * blocking. `sockaddr` is a struct sockaddr_in / sockaddr_in6 prepared by the caller. Node's
 * dgram send costs several microseconds of bookkeeping per datagram on top of the system call;
 * totem sends one datagram per peer per packet, so this is on the token's critical path.
 */
static napi_value udp_send_to(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int fd;
  void *data = NULL, *addr = NULL;
  size_t len = 0, alen = 0;
  if (!get_fd(env, argv[0], &fd) || !get_buffers(env, argv[1], &data, &len, argv[2], &addr, &alen)) return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  if (!inet_family(alen)) return make_i64(env, -EINVAL);
  ssize_t n;
  RETRY_EINTR(n, sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)addr, (socklen_t)alen));
  return make_result(env, n);
}

/* UDP generic segmentation offload (linux/udp.h; glibc's headers lack it before 2.36). */
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
/* The kernel's cap on segments per send (UDP_MAX_SEGMENTS). */
#define SEGMENTS_MAX 64

/*
 * udpSendSegments(fd, bufs, first, count, segBytes, sockaddr) -> bytes | -errno: bufs[first ..
 * first+count-1] to one destination as count UDP datagrams in one sendmsg(2) with UDP_SEGMENT:
 * every buffer but the last must be exactly segBytes long, the last at most that. The kernel
 * carries the run through the stack (routing, bridge, netfilter, veth) as one packet and splits
 * it into the same datagrams sendto(2) would have made, late (the NIC, or the receiving
 * socket): totem sends up to max_messages equal-sized frames per peer per token visit, and
 * that per-packet path is most of a sender's CPU. -EIO / -EINVAL / -ENOPROTOOPT: no
 * segmentation on this route (the caller sends one by one).
 */
static napi_value udp_send_segments(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv)) return NULL;
  int fd;
  int64_t first, count, seg;
  void *addr = NULL;
  size_t alen = 0;
  bool is_array = false;
  if (!get_fd(env, argv[0], &fd) || !get_i64(env, argv[2], &first) || !get_i64(env, argv[3], &count) ||
      !get_i64(env, argv[4], &seg))
    return NULL;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_buffer_info(env, argv[5], &addr, &alen) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (fd, Buffer[], first, count, segBytes, Buffer sockaddr)");
    return NULL;
  }
  if (fd < 0) return make_i64(env, -EBADF);
  if (!inet_family(alen)) return make_i64(env, -EINVAL);
  if (count < 1 || count > SEGMENTS_MAX || first < 0 || seg < 1 || seg > UINT16_MAX) return make_i64(env, -EINVAL);
  struct iovec iov[SEGMENTS_MAX];
  for (int64_t i = 0; i < count; i++) {
    napi_value el;
    if (napi_get_element(env, argv[1], (uint32_t)(first + i), &el) != napi_ok ||
        napi_get_buffer_info(env, el, &iov[i].iov_base, &iov[i].iov_len) != napi_ok) {
      napi_throw_type_error(env, NULL, "expected Buffers in the array");
      return NULL;
    }
    bool last = i == count - 1;
    if (last ? iov[i].iov_len > (size_t)seg : iov[i].iov_len != (size_t)seg) return make_i64(env, -EINVAL);
  }
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof(ctl));
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_name = addr;
  msg.msg_namelen = (socklen_t)alen;
  msg.msg_iov = iov;
  msg.msg_iovlen = (size_t)count;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof(ctl.buf);
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_UDP;
  cm->cmsg_type = UDP_SEGMENT;
  cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t seg16 = (uint16_t)seg;
  memcpy(CMSG_DATA(cm), &seg16, sizeof(seg16));
  return make_result(env, send_msg(fd, &msg));
}

/*
 * udpOpen(sockaddr, reuseAddr, bufBytes) -> fd | -errno: totem's UDP socket without Node's
 * dgram (whose bind loads the cluster and child_process modules: ~1 MiB of a daemon's RSS).
 */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  void *addr = NULL;
  size_t alen = 0;
  bool reuse = false;
  int64_t bytes;
  if (napi_get_buffer_info(env, argv[0], &addr, &alen) != napi_ok ||
      napi_get_value_bool(env, argv[1], &reuse) != napi_ok || !get_i64(env, argv[2], &bytes)) {
    napi_throw_type_error(env, NULL, "expected (Buffer sockaddr, boolean, number)");
    return NULL;
  }
  int family = inet_family(alen);
  if (!family) return make_i64(env, -EINVAL);
  if (((const struct sockaddr *)addr)->sa_family != family) return make_i64(env, -EAFNOSUPPORT);
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_i64(env, -errno);
  int one = 1;
  if (family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    return make_i64(env, close_errno(fd));
  if (bytes > 0 && bytes <= INT32_MAX) {
    raise_buffer(fd, SO_RCVBUF, (int)bytes);
    raise_buffer(fd, SO_SNDBUF, (int)bytes);
  }
  if (bind(fd, (const struct sockaddr *)addr, (socklen_t)alen) != 0) return make_i64(env, close_errno(fd));
  return make_i64(env, fd);
}

/* setSockOpt(fd, level, name, value) -> 0 | -errno: the option's bytes as the caller laid them out. */
static napi_value set_sock_opt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  int fd;
  int64_t level, name;
  void *val = NULL;
  size_t vlen = 0;
  if (!get_fd(env, argv[0], &fd) || !get_i64(env, argv[1], &level) || !get_i64(env, argv[2], &name) ||
      !get_buffer(env, argv[3], &val, &vlen))
    return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  if (level < 0 || level > INT32_MAX || name < 0 || name > INT32_MAX || vlen > 256) return make_i64(env, -EINVAL);
  return make_result(env, setsockopt(fd, (int)level, (int)name, val, (socklen_t)vlen));
}

#define RECV_BATCH_MAX 64
#define RECV_META_WORDS 8

/*
 * monotonicMs(out: Float64Array): CLOCK_MONOTONIC in milliseconds into out[0]. The daemon reads
 * the clock on every token visit; process.hrtime() allocates an array (and its numbers) each
 * time, this writes into memory the caller keeps.
 */
static napi_value monotonic_ms(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[0], &type, &len, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || len < 1) {
    napi_throw_type_error(env, NULL, "expected a Float64Array");
    return NULL;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ((double *)data)[0] = (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
  return NULL;
}

/*
 * The recvmmsg(2) of a batch: datagram i into slab[i*slot..], its length, truncation, port,
 * family and address into meta[i*8..]. The headers (msgs, iovs, addrs) are set up by
 * recv_prepare once per receiving poller; a call resets only the address lengths the last one
 * changed.
 */
typedef struct {
  int fd;
  size_t n; /* slots: min(slab / slot, meta / 8, RECV_BATCH_MAX) */
  int32_t *meta;
  int last; /* datagrams of the previous call (their msg_namelen was overwritten) */
  struct mmsghdr msgs[RECV_BATCH_MAX];
  struct iovec iovs[RECV_BATCH_MAX];
  struct sockaddr_storage addrs[RECV_BATCH_MAX];
} udp_batch_t;

static void recv_prepare(udp_batch_t *b, int fd, uint8_t *slab, size_t slot, size_t n, int32_t *meta) {
  b->fd = fd;
  b->n = n;
  b->meta = meta;
  b->last = 0;
  memset(b->msgs, 0, sizeof(struct mmsghdr) * n);
  for (size_t i = 0; i < n; i++) {
    b->iovs[i].iov_base = slab + i * slot;
    b->iovs[i].iov_len = slot;
    b->msgs[i].msg_hdr.msg_iov = &b->iovs[i];
    b->msgs[i].msg_hdr.msg_iovlen = 1;
    b->msgs[i].msg_hdr.msg_name = &b->addrs[i];
    b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addrs[i]);
  }
}

/* One recvmmsg: the count, or a negative errno (-EAGAIN: nothing waiting). */
static int recv_batch(udp_batch_t *b) {
  for (int i = 0; i < b->last; i++) b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addrs[i]);
  int got;
  RETRY_EINTR(got, recvmmsg(b->fd, b->msgs, (unsigned int)b->n, MSG_DONTWAIT, NULL));
  if (got < 0) {
    b->last = 0;
    return -errno;
  }
  b->last = got;
  for (int i = 0; i < got; i++) {
    int32_t *m = b->meta + (size_t)i * RECV_META_WORDS;
    memset(m, 0, RECV_META_WORDS * sizeof(int32_t));
    m[0] = (int32_t)b->msgs[i].msg_len;
    m[1] = (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    if (b->addrs[i].ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&b->addrs[i];
      m[2] = ntohs(a->sin_port);
      m[3] = 4;
      memcpy(&m[4], &a->sin_addr, 4);
    } else if (b->addrs[i].ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&b->addrs[i];
      m[2] = ntohs(a->sin6_port);
      m[3] = 6;
      memcpy(&m[4], &a->sin6_addr, 16);
    }
  }
  return got;
}

static napi_value dgram_recv(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd;
  int64_t max;
  if (!get_fd(env, argv[0], &fd) || !get_i64(env, argv[1], &max)) return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  if (max <= 0 || max > MAX_DATA_BYTES) return throw_errno(env, "dgramRecv size", ERANGE);
  /* how long is the next datagram? (MSG_TRUNC reports its real length) */
  char probe;
  ssize_t n;
  RETRY_EINTR(n, recv(fd, &probe, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC));
  if (n < 0) return make_i64(env, -errno);
  if (n > max) {
    (void)recv(fd, &probe, 1, MSG_DONTWAIT); /* drop it */
    return make_i64(env, -EMSGSIZE);
  }
  void *dst = NULL;
  napi_value buf;
  if (napi_create_buffer(env, n > 0 ? (size_t)n : 1, &dst, &buf) != napi_ok) return NULL;
  ssize_t got;
  RETRY_EINTR(got, recv(fd, dst, n > 0 ? (size_t)n : 1, MSG_DONTWAIT));
  if (got < 0) return make_i64(env, -errno);
  if (got == 0) {
    napi_value empty;
    napi_create_buffer(env, 0, &dst, &empty);
    return empty;
  }
  return buf;
}

/*
 * streamConnect(path) -> fd | -errno: a non-blocking, close-on-exec AF_UNIX stream socket
 * connected to a filesystem path. A unix connect completes at once or fails (-EAGAIN when the
 * listener's backlog is full).
 */
static napi_value stream_connect(napi_env env, napi_callback_info info) {
  return connect_path(env, info, SOCK_STREAM);
}

/* One non-blocking recv(2): bytes, 0 at the end of the stream, or a negative errno. */
static int stream_recv_once(int fd, uint8_t *buf, size_t len) {
  ssize_t n;
  RETRY_EINTR(n, recv(fd, buf, len, MSG_DONTWAIT));
  return n < 0 ? -errno : (int)n;
}

/*
 * streamRecv(fd, buf, off, len) -> bytes | 0 at end of stream | -errno (-EAGAIN: nothing to
 * read): one recv(2) into buf[off, off + len), never blocking. The caller owns and reuses buf,
 * so a read costs no allocation.
 */
static napi_value stream_recv(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  int fd;
  int64_t off, len;
  void *data = NULL;
  size_t cap = 0;
  if (!get_fd(env, argv[0], &fd) || !get_i64(env, argv[2], &off) || !get_i64(env, argv[3], &len) ||
      !get_buffer(env, argv[1], &data, &cap))
    return NULL;
  if (fd < 0) return make_i64(env, -EBADF);
  if (off < 0 || len <= 0 || (uint64_t)off + (uint64_t)len > cap) return throw_errno(env, "streamRecv range", ERANGE);
  return make_i64(env, stream_recv_once(fd, (uint8_t *)data + off, (size_t)len));
}

/* ---- libuv poll watchers ---- */

/*
 * Per thread's environment: set when its teardown begins (a cleanup hook added at module
 * init, so it runs before N-API finalizes what JavaScript still held). A worker's loop finishes
 * closing its handles after its addons were unloaded: a handle closed from then on gets no close
 * callback of ours (one would no longer exist: a worker terminated with a connection open
 * crashed), and its memory is left behind. Never freed: pollers may read it until the end.
 */
typedef struct {
  int tearing_down;
} env_state_t;

static void env_state_teardown(void *arg) { ((env_state_t *)arg)->tearing_down = 1; }

typedef struct {
  uv_poll_t handle;
  env_state_t *state;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  /*
   * A receiving poller (udpRecvPollStart): each readable event first takes a batch of
   * datagrams into the slab, and the callback gets the count, so a token visit costs the
   * daemon no JavaScript call into the addon. The references keep the slab and meta alive.
   */
  udp_batch_t *rx;
  /*
   * A receiving stream poller (streamRecvPollStart): each readable event first takes one
   * recv(2) into the caller's buffer (rx_slab keeps it alive), as a UDP one takes a batch.
   */
  int srx_fd;
  uint8_t *srx_buf;
  size_t srx_len;
  napi_ref rx_slab;
  napi_ref rx_meta;
  int closing;
  int external_gone;
  int closed;
} poller_t;

static void poller_free(poller_t *p) {
  free(p->rx);
  free(p);
}

static void on_poll_closed(uv_handle_t *h) {
  poller_t *p = h->data;
  p->closed = 1;
  if (p->external_gone) poller_free(p);
}

/* Release *ref if held (a poller's references are released once, at close). */
static void drop_ref(napi_env env, napi_ref *ref) {
  if (!*ref) return;
  napi_delete_reference(env, *ref);
  *ref = NULL;
}

static void poller_close(poller_t *p) {
  if (p->closing) return;
  p->closing = 1;
  uv_poll_stop(&p->handle);
  drop_ref(p->env, &p->cb);
  if (p->ctx) {
    napi_async_destroy(p->env, p->ctx);
    p->ctx = NULL;
  }
  drop_ref(p->env, &p->rx_slab);
  drop_ref(p->env, &p->rx_meta);
  uv_close((uv_handle_t *)&p->handle, p->state->tearing_down ? NULL : on_poll_closed);
}

static void poller_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poller_t *p = data;
  p->external_gone = 1;
  if (!p->closing) poller_close(p);
  else if (p->closed) poller_free(p);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poller_t *p = h->data;
  if (p->closing || !p->cb) return;
  /*
   * A receiving poller reads before any N-API call: a token's way through a daemon runs from
   * here to its forward, and the handle scope, the callback's lookup and its arguments cost
   * about a microsecond (bench/README.md item 38).
   */
  int received = -EAGAIN;
  if (status >= 0 && (events & UV_READABLE)) {
    if (p->rx) received = recv_batch(p->rx);
    else if (p->srx_buf) received = stream_recv_once(p->srx_fd, p->srx_buf, p->srx_len);
  }
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[3];
  if (napi_get_reference_value(env, p->cb, &cb) == napi_ok && cb) {
    napi_get_global(env, &recv); // napi_make_callback wants an object
    argv[0] = make_i64(env, status);
    argv[1] = make_i64(env, ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0));
    size_t argc = 2;
    if (p->rx || p->srx_buf) {
      argv[2] = make_i64(env, received);
      argc = 3;
    }
    napi_value result;
    napi_make_callback(env, p->ctx, recv, cb, argc, argv, &result);
  }
  napi_close_handle_scope(env, scope);
}

static int uv_events(int64_t events) {
  return ((events & 1) ? UV_READABLE : 0) | ((events & 2) ? UV_WRITABLE : 0);
}

/*
 * A poller of fd calling cb; rx (owned from here on, may be NULL) makes it a receiving UDP one,
 * srx_buf (the data of slab, srx_len bytes; may be NULL) a receiving stream one.
 */
static napi_value poller_new(napi_env env, int fd, int64_t events, napi_value cb, udp_batch_t *rx,
                             napi_value slab, napi_value meta, uint8_t *srx_buf, size_t srx_len) {
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    free(rx);
    return throw_errno(env, "uv loop", EINVAL);
  }
  poller_t *p = calloc(1, sizeof(poller_t));
  if (!p) {
    free(rx);
    return throw_errno(env, "pollStart", ENOMEM);
  }
  p->env = env;
  p->rx = rx;
  p->srx_fd = fd;
  p->srx_buf = srx_buf;
  p->srx_len = srx_len;
  if (napi_get_instance_data(env, (void **)&p->state) != napi_ok || !p->state) {
    poller_free(p);
    return throw_errno(env, "pollStart", EINVAL);
  }
  p->handle.data = p;
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc != 0) {
    poller_free(p);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  napi_value name;
  napi_create_string_utf8(env, "qbnative.poll", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, cb, 1, &p->cb) != napi_ok ||
      napi_async_init(env, NULL, name, &p->ctx) != napi_ok ||
      (slab && napi_create_reference(env, slab, 1, &p->rx_slab) != napi_ok) ||
      (meta && napi_create_reference(env, meta, 1, &p->rx_meta) != napi_ok)) {
    poller_close(p);
    p->external_gone = 1;
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, p, poller_finalize, NULL, &ext) != napi_ok) {
    poller_close(p);
    p->external_gone = 1;
    return NULL;
  }
  if (events) uv_poll_start(&p->handle, uv_events(events), on_poll);
  return ext;
}

static napi_value poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int fd;
  int64_t events;
  if (!get_fd(env, argv[0], &fd) || !get_i64(env, argv[1], &events)) return NULL;
  if (fd < 0) return throw_errno(env, "pollStart", EBADF);
  return poller_new(env, fd, events, argv[2], NULL, NULL, NULL, NULL, 0);
}

static poller_t *get_poller(napi_env env, napi_value v) { return get_external(env, v, "not a poller"); }

/*
 * udpRecvPollStart(fd, slab, slotBytes, meta, cb): a poller for readability of a UDP socket
 * whose callback gets (status, events, count): on a readable event the addon has already taken
 * one batch into slab and meta (count, or a negative errno; -EAGAIN when it did not read). The
 * receive headers are set up here once; the poller keeps the slab and meta alive, which must
 * not be detached while it runs.
 */
static napi_value udp_recv_poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  int fd;
  int64_t slot;
  void *slab = NULL;
  size_t slab_len = 0;
  if (!get_fd(env, argv[0], &fd) || !get_i64(env, argv[2], &slot) || !get_buffer(env, argv[1], &slab, &slab_len))
    return NULL;
  napi_typedarray_type type;
  size_t meta_len = 0;
  void *meta = NULL;
  if (napi_get_typedarray_info(env, argv[3], &type, &meta_len, &meta, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "expected an Int32Array");
    return NULL;
  }
  if (fd < 0) return throw_errno(env, "udpRecvPollStart", EBADF);
  if (slot <= 0 || (size_t)slot > slab_len) return throw_errno(env, "udpRecvPollStart slot", ERANGE);
  size_t n = slab_len / (size_t)slot;
  if (n > meta_len / RECV_META_WORDS) n = meta_len / RECV_META_WORDS;
  if (n > RECV_BATCH_MAX) n = RECV_BATCH_MAX;
  if (n == 0) return throw_errno(env, "udpRecvPollStart meta", ERANGE);
  udp_batch_t *rx = malloc(sizeof(udp_batch_t));
  if (!rx) return throw_errno(env, "udpRecvPollStart", ENOMEM);
  recv_prepare(rx, fd, slab, (size_t)slot, n, meta);
  return poller_new(env, fd, 1, argv[4], rx, argv[1], argv[3], NULL, 0);
}

/* udpRecvNext(poller): the next batch of a receiving poller, as its callback gets one. */
static napi_value udp_recv_next(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  poller_t *p = get_poller(env, argv[0]);
  if (!p) return NULL;
  if (!p->rx) {
    napi_throw_type_error(env, NULL, "not a receiving poller");
    return NULL;
  }
  return make_i64(env, p->closing ? -EBADF : recv_batch(p->rx));
}

/*
 * streamRecvPollStart(fd, buf, cb): a poller for readability of a stream socket whose callback
 * gets (status, events, received): on a readable event the addon has already made one recv(2)
 * into buf (bytes, 0 at the end of the stream, or a negative errno; -EAGAIN when it did not
 * read). Saves the read's call back into the addon on every wake-up of an IPC reader (a client's
 * dispatch message, a request at the daemon). The poller keeps buf alive; it must not be
 * detached while the poller runs.
 */
static napi_value stream_recv_poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  void *buf = NULL;
  size_t len = 0;
  if (!fd_buffer_args(env, info, 3, argv, &fd, &buf, &len)) return NULL;
  if (fd < 0) return throw_errno(env, "streamRecvPollStart", EBADF);
  if (len == 0 || len > INT32_MAX) return throw_errno(env, "streamRecvPollStart buffer", ERANGE);
  return poller_new(env, fd, 1, argv[2], NULL, argv[1], NULL, buf, len);
}

static napi_value poll_set(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  poller_t *p = get_poller(env, argv[0]);
  int64_t events;
  if (!p || !get_i64(env, argv[1], &events)) return NULL;
  if (p->closing) return NULL;
  if (events) uv_poll_start(&p->handle, uv_events(events), on_poll);
  else uv_poll_stop(&p->handle);
  return NULL;
}

static napi_value poll_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  poller_t *p = get_poller(env, argv[0]);
  if (p) poller_close(p);
  return NULL;
}

/*
 * loopTurns() -> Uint32Array(1): a counter the event loop advances, with no JavaScript run,
 * before it polls for I/O and after (libuv prepare and check handles, unreferenced so they
 * never keep the loop alive). Code that must tell "still the same callback and the microtasks
 * after it" from "a later event" reads it: the client library sends the first request of a
 * loop turn at once and gathers the later ones (process.nextTick per request cost tens of
 * microseconds at low rates). One counter per thread's loop; call once and keep the array.
 */
typedef struct {
  uv_prepare_t prepare;
  uv_check_t check;
  uint32_t count; /* the word the JavaScript view reads */
} turn_counter_t;

static void turn_on_prepare(uv_prepare_t *h) { ((turn_counter_t *)h->data)->count++; }
static void turn_on_check(uv_check_t *h) { ((turn_counter_t *)h->data)->count++; }

/*
 * At the thread's end: stop and close both handles. Without a close callback, and the struct is
 * never freed (one per thread's loop): a worker's loop finishes closing its handles after its
 * addons were unloaded, so a callback of ours would no longer exist then (a freeing callback
 * crashed a terminating worker), and the handles' memory must outlive that.
 */
static void turn_counter_cleanup(void *arg) {
  turn_counter_t *tc = arg;
  uv_prepare_stop(&tc->prepare);
  uv_check_stop(&tc->check);
  uv_close((uv_handle_t *)&tc->prepare, NULL);
  uv_close((uv_handle_t *)&tc->check, NULL);
}

static napi_value loop_turns(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return throw_errno(env, "uv loop", EINVAL);
  turn_counter_t *tc = calloc(1, sizeof(turn_counter_t));
  if (!tc) return throw_errno(env, "loopTurns", ENOMEM);
  napi_value ab, view;
  if (napi_create_external_arraybuffer(env, &tc->count, sizeof(tc->count), NULL, NULL, &ab) !=
      napi_ok) {
    free(tc);
    return NULL;
  }
  uv_prepare_init(loop, &tc->prepare);
  uv_check_init(loop, &tc->check);
  tc->prepare.data = tc;
  tc->check.data = tc;
  uv_unref((uv_handle_t *)&tc->prepare);
  uv_unref((uv_handle_t *)&tc->check);
  uv_prepare_start(&tc->prepare, turn_on_prepare);
  uv_check_start(&tc->check, turn_on_check);
  napi_add_env_cleanup_hook(env, turn_counter_cleanup, tc);
  if (napi_create_typedarray(env, napi_uint32_array, 1, ab, 0, &view) != napi_ok) return NULL;
  return view;
}

/* An enumerable method of the module's exports. */
#define EXPORT(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

static napi_value init(napi_env env, napi_value exports) {
  install_sigbus();
  env_state_t *state = calloc(1, sizeof(env_state_t));
  if (!state || napi_set_instance_data(env, state, NULL, NULL) != napi_ok) {
    free(state);
    napi_throw_error(env, NULL, "qbnative: cannot keep per-thread state");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_state_teardown, state);
  napi_property_descriptor props[] = {
      EXPORT("listenAbstract", listen_abstract),
      EXPORT("listenPath", listen_path),
      EXPORT("acceptFd", accept_fd),
      EXPORT("peerCred", peer_cred),
      EXPORT("closeFd", close_fd),
      EXPORT("dupFd", dup_fd),
      EXPORT("ringCreate", ring_create),
      EXPORT("ringHdrGet", ring_hdr_get),
      EXPORT("ringHdrSet", ring_hdr_set),
      EXPORT("ringWordGet", ring_word_get),
      EXPORT("ringWordSet", ring_word_set),
      EXPORT("ringRead", ring_read),
      EXPORT("ringWrite", ring_write),
      EXPORT("ringSemPost", ring_sem_post),
      EXPORT("ringSemTryWait", ring_sem_trywait),
      EXPORT("ringSemValue", ring_sem_value),
      EXPORT("ringRefDec", ring_ref_dec),
      EXPORT("ringSizesOk", ring_sizes_ok),
      EXPORT("ringClose", ring_close),
      EXPORT("dgramBind", dgram_bind),
      EXPORT("dgramConnect", dgram_connect),
      EXPORT("dgramSend", dgram_send),
      EXPORT("dgramSend2", dgram_send2),
      EXPORT("loopTurns", loop_turns),
      EXPORT("dgramRecv", dgram_recv),
      EXPORT("streamConnect", stream_connect),
      EXPORT("streamRecv", stream_recv),
      EXPORT("udpSendTo", udp_send_to),
      EXPORT("udpSendSegments", udp_send_segments),
      EXPORT("udpOpen", udp_open),
      EXPORT("setSockOpt", set_sock_opt),
      EXPORT("monotonicMs", monotonic_ms),
      EXPORT("unixDgramOpen", unix_dgram_open),
      EXPORT("schedSetRr", sched_set_rr),
      EXPORT("memlockUnlimited", memlock_unlimited),
      EXPORT("lockFileMappings", lock_file_mappings),
      EXPORT("setPriorityPgrp", set_priority_pgrp),
      EXPORT("execv", exec_v),
      EXPORT("mapFileLatin1", map_file_latin1),
      EXPORT("mallocTrim", malloc_trim_all),
      EXPORT("lowMemoryNotification", low_memory_notification),
      EXPORT("collectIncrementally", collect_incrementally),
      EXPORT("fullGcCount", full_gc_count),
      EXPORT("cancelRrRestore", cancel_rr_restore),
      EXPORT("oldGenerationGrowth", old_generation_growth),
      EXPORT("schedSetOther", sched_set_other),
      EXPORT("pollStart", poll_start),
      EXPORT("udpRecvPollStart", udp_recv_poll_start),
      EXPORT("udpRecvNext", udp_recv_next),
      EXPORT("streamRecvPollStart", stream_recv_poll_start),
      EXPORT("pollSet", poll_set),
      EXPORT("pollClose", poll_close),
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value page;
  napi_create_int64(env, sysconf(_SC_PAGESIZE), &page);
  napi_set_named_property(env, exports, "pageSize", page);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
