/*
 * cmap benchmark client on the real libcmap (corosync 3.1.7), used by bench/run.ts on the real
 * corosync nodes. bench/cmap-bench-client.ts does the same on our daemons.
 * Built by the bench itself: gcc -O2 -o <tmp>/cmap-bench bench/c/cmap-bench.c -lcmap.
 *
 * usage:
 *   cmap-bench get <ms> [warm_ms]                  cmap_get_uint32 of one key, for ms milliseconds
 *                                                  (after warm_ms of the same, not counted)
 *   cmap-bench set <ms> [warm_ms]                  cmap_set_uint32 of one key, likewise
 *   cmap-bench tracker <key>                       track <key> (ADD|MODIFY), then take commands
 *                                                  on stdin: `run <count> <skip>` records the
 *                                                  next count notifications carrying a u64 send
 *                                                  time after skip more (a warm-up, not
 *                                                  recorded), `quit` ends it
 *   cmap-bench setter <key>                        take commands on stdin: `run <count>
 *                                                  <interval_us>` sets <key> (u64) to the current
 *                                                  time, count times, one every interval_us;
 *                                                  `quit` ends it
 *
 * The tracker and the setter stay up for all the cmap runs of a cluster (the bench's TypeScript
 * clients need their compiler's warm-up behind them, bench/README.md item 40; these get the same
 * treatment). Between runs the tracker ignores notifications.
 *
 * One request at a time (libcmap calls are synchronous). Prints one JSON object per line;
 * times are CLOCK_MONOTONIC (the clock of Node's process.hrtime), in microseconds:
 *   {"ev":"ready","nodeid":0,"pid":P,"t":T}
 *   {"ev":"result","op":"get"|"set","n":N,"t0":T,"t1":T}             then exit 0
 *   {"ev":"tracking"}                                                the tracker is ready
 *   {"ev":"armed"}                                                   the tracker took `run`
 *   {"ev":"done","op":"track","n":N,"lat":[us,..]}                   a tracker's run
 *   {"ev":"result","op":"setter","n":N,"t0":T,"t1":T}                a setter's run
 *   {"ev":"error","what":"...","code":E}                             then exit 2
 */
#include <corosync/cmap.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static cmap_handle_t handle;
/* the tracker's run: lat_len = skip + count latencies, the first lat_skip not reported */
static double *lat;
static size_t lat_n, lat_len, lat_skip;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void die(const char *what, int code)
{
	printf("{\"ev\":\"error\",\"what\":\"%s\",\"code\":%d}\n", what, code);
	fflush(stdout);
	exit(2);
}

/* Retry CS_ERR_TRY_AGAIN (the daemon is busy), fail on anything else. */
#define CALL(what, expr)                                                                           \
	do {                                                                                       \
		cs_error_t err_;                                                                   \
		while ((err_ = (expr)) == CS_ERR_TRY_AGAIN)                                        \
			poll(NULL, 0, 1);                                                          \
		if (err_ != CS_OK)                                                                 \
			die(what, err_);                                                           \
	} while (0)

static void result(const char *op, uint32_t n, uint64_t t0, uint64_t t1)
{
	printf("{\"ev\":\"result\",\"op\":\"%s\",\"n\":%u,\"t0\":%.3f,\"t1\":%.3f}\n", op, n, us(t0),
	       us(t1));
	fflush(stdout);
}

static void notify_cb(cmap_handle_t h, cmap_track_handle_t th, int32_t event, const char *key,
		      struct cmap_notify_value new_value, struct cmap_notify_value old_value, void *user)
{
	(void)h;
	(void)th;
	(void)event;
	(void)key;
	(void)old_value;
	(void)user;
	uint64_t t = now_ns();
	uint64_t sent;
	if (new_value.type != CMAP_VALUETYPE_UINT64 || new_value.len != sizeof sent)
		return;
	memcpy(&sent, new_value.data, sizeof sent);
	if (lat_n >= lat_len)
		return; /* between runs */
	lat[lat_n++] = us(t - sent);
	if (lat_n == lat_len) {
		printf("{\"ev\":\"done\",\"op\":\"track\",\"n\":%zu,\"lat\":[", lat_len - lat_skip);
		for (size_t i = lat_skip; i < lat_len; i++)
			printf("%s%.3f", i > lat_skip ? "," : "", lat[i]);
		printf("]}\n");
		fflush(stdout);
	}
}

/*
 * One command line from stdin into line (NUL-terminated, without the newline): 1, or 0 at the
 * end of stdin or `quit`. Reads byte by byte, so that nothing is buffered past the line (the
 * tracker polls stdin beside the cmap descriptor).
 */
static int read_command(char *line, size_t size, unsigned long *a, unsigned long *b)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		if (c == '\n')
			break;
		if (n + 1 < size)
			line[n++] = c;
	}
	line[n] = '\0';
	if (strcmp(line, "quit") == 0)
		return 0;
	char extra;
	if (sscanf(line, "run %lu %lu %c", a, b, &extra) != 2)
		die("bad command", 0);
	return 1;
}

/* get (or set) calls for ms milliseconds, one at a time; returns how many, with when the loop
 * started and ended */
static uint32_t ops_loop(int get, uint64_t ms, uint32_t *v, uint64_t *t0, uint64_t *t1)
{
	uint32_t n = 0;
	uint64_t end;
	*t0 = now_ns();
	end = *t0 + ms * 1000000ull;
	while ((*t1 = now_ns()) < end) {
		if (get)
			CALL("cmap_get_uint32", cmap_get_uint32(handle, "bench.cmap.get", v));
		else
			CALL("cmap_set_uint32", cmap_set_uint32(handle, "bench.cmap.set", n));
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s get|set|track|setter ...\n", argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	const char *op = argv[1];
	CALL("cmap_initialize", cmap_initialize(&handle));
	printf("{\"ev\":\"ready\",\"nodeid\":0,\"pid\":%d,\"t\":%.3f}\n", (int)getpid(), us(now_ns()));
	fflush(stdout);

	if (strcmp(op, "get") == 0 || strcmp(op, "set") == 0) {
		uint64_t ms = strtoull(argv[2], NULL, 10);
		int get = op[0] == 'g';
		uint64_t warm_ms = argc >= 4 ? strtoull(argv[3], NULL, 10) : 0;
		uint32_t v = 0, n;
		uint64_t t0, t1;
		CALL("cmap_set_uint32", cmap_set_uint32(handle, "bench.cmap.get", 42));
		if (warm_ms > 0)
			ops_loop(get, warm_ms, &v, &t0, &t1); /* the same calls first, not counted */
		n = ops_loop(get, ms, &v, &t0, &t1);
		if (get && v != 42)
			die("cmap_get_uint32 value", (int)v);
		result(op, n, t0, t1);
	} else if (strcmp(op, "tracker") == 0) {
		cmap_track_handle_t th;
		CALL("cmap_track_add", cmap_track_add(handle, argv[2], CMAP_TRACK_ADD | CMAP_TRACK_MODIFY,
						      notify_cb, NULL, &th));
		int fd;
		CALL("cmap_fd_get", cmap_fd_get(handle, &fd));
		printf("{\"ev\":\"tracking\"}\n");
		fflush(stdout);
		for (;;) {
			struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
					       { .fd = STDIN_FILENO, .events = POLLIN } };
			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				die("poll", errno);
			}
			if (p[0].revents) {
				cs_error_t err = cmap_dispatch(handle, CS_DISPATCH_ALL);
				if (err != CS_OK && err != CS_ERR_TRY_AGAIN)
					die("cmap_dispatch", err);
			}
			if (p[1].revents) {
				char line[128];
				unsigned long count, skip;
				if (!read_command(line, sizeof line, &count, &skip))
					break;
				free(lat);
				lat = calloc(count + skip ? count + skip : 1, sizeof *lat);
				if (!lat)
					die("calloc", ENOMEM);
				lat_n = 0;
				lat_skip = skip;
				lat_len = count + skip;
				printf("{\"ev\":\"armed\"}\n");
				fflush(stdout);
			}
		}
	} else if (strcmp(op, "setter") == 0) {
		char line[128];
		unsigned long count, interval;
		while (read_command(line, sizeof line, &count, &interval)) {
			uint64_t t0 = now_ns();
			for (uint32_t i = 0; i < count; i++) {
				uint64_t due = t0 + (uint64_t)i * interval * 1000ull;
				for (uint64_t t = now_ns(); t < due; t = now_ns()) {
					struct timespec d = { (time_t)((due - t) / 1000000000ull),
							      (long)((due - t) % 1000000000ull) };
					nanosleep(&d, NULL);
				}
				CALL("cmap_set_uint64", cmap_set_uint64(handle, argv[2], now_ns()));
			}
			result(op, (uint32_t)count, t0, now_ns());
		}
	} else {
		die("bad arguments", 0);
	}
	cmap_finalize(handle);
	return 0;
}
