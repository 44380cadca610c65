/*
 * cmap benchmark client on the real libcmap (corosync 3.1.7), used by bench/run.ts on the real
 * corosync nodes. bench/cmap-bench-client.ts does the same on our daemons.
 * Built by the bench itself: gcc -O2 -o <tmp>/cmap-bench bench/c/cmap-bench.c -lcmap.
 *
 * usage:
 *   cmap-bench get <ms> [warm_ms]                  cmap_get_uint32 of one key, for ms milliseconds
 *                                                  (after warm_ms of the same, not counted)
 *   cmap-bench set <ms> [warm_ms]                  cmap_set_uint32 of one key, likewise
 *   cmap-bench track <key> <count> [skip]          track <key> (ADD|MODIFY); wait for count
 *                                                  notifications carrying a u64 send time, after
 *                                                  skip more (a warm-up, not recorded)
 *   cmap-bench setter <key> <count> <interval_us>  set <key> (u64) to the current time, count
 *                                                  times, one every interval_us
 *
 * One request at a time (libcmap calls are synchronous). Prints one JSON object per line;
 * times are CLOCK_MONOTONIC (the clock of Node's process.hrtime), in microseconds:
 *   {"ev":"ready","nodeid":0,"pid":P,"t":T}
 *   {"ev":"result","op":"get"|"set"|"setter","n":N,"t0":T,"t1":T}    then exit 0
 *   {"ev":"done","op":"track","n":N,"lat":[us,..]}                   then exit 0
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
static double *lat;
static size_t lat_n, lat_want, lat_skip;

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
	if (lat_skip > 0) {
		lat_skip--;
		return;
	}
	if (lat_n < lat_want)
		lat[lat_n++] = us(t - sent);
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
	} else if (strcmp(op, "track") == 0 && argc >= 4) {
		lat_want = strtoul(argv[3], NULL, 10);
		lat_skip = argc >= 5 ? strtoul(argv[4], NULL, 10) : 0;
		lat = calloc(lat_want ? lat_want : 1, sizeof *lat);
		if (!lat)
			die("calloc", ENOMEM);
		cmap_track_handle_t th;
		CALL("cmap_track_add", cmap_track_add(handle, argv[2], CMAP_TRACK_ADD | CMAP_TRACK_MODIFY,
						      notify_cb, NULL, &th));
		int fd;
		CALL("cmap_fd_get", cmap_fd_get(handle, &fd));
		printf("{\"ev\":\"tracking\"}\n");
		fflush(stdout);
		while (lat_n < lat_want) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				die("poll", errno);
			}
			cs_error_t err = cmap_dispatch(handle, CS_DISPATCH_ALL);
			if (err != CS_OK && err != CS_ERR_TRY_AGAIN)
				die("cmap_dispatch", err);
		}
		printf("{\"ev\":\"done\",\"op\":\"track\",\"n\":%zu,\"lat\":[", lat_n);
		for (size_t i = 0; i < lat_n; i++)
			printf("%s%.3f", i ? "," : "", lat[i]);
		printf("]}\n");
		fflush(stdout);
	} else if (strcmp(op, "setter") == 0 && argc >= 5) {
		uint32_t count = (uint32_t)strtoul(argv[3], NULL, 10);
		uint64_t interval = strtoull(argv[4], NULL, 10);
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
		result(op, count, t0, now_ns());
	} else {
		die("bad arguments", 0);
	}
	cmap_finalize(handle);
	return 0;
}
