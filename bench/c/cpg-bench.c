/*
 * CPG benchmark client on the real libcpg (corosync 3.1.7), used by bench/run.ts on the real
 * corosync nodes. bench/cpg-bench-client.ts speaks the same protocol on our daemons.
 * Built by the bench itself: gcc -O2 -o <tmp>/cpg-bench bench/c/cpg-bench.c -lcpg.
 *
 * usage: cpg-bench <group> <label>
 *
 * Joins <group> and prints one JSON object per line on stdout. Times are CLOCK_MONOTONIC in
 * microseconds (the same clock as Node's process.hrtime), so they compare across processes.
 *   {"ev":"ready","nodeid":N,"pid":P,"t":T}
 *   {"ev":"confchg","members":M,"left":[[n,p,r],..],"joined":[[n,p,r],..],"t":T}
 *   {"ev":"totem","members":[n,..],"t":T}
 *   {"ev":"sent","run":R,"n":N,"t0":T,"t1":T,"try_again":K}   a "send" command finished; K =
 *        CS_ERR_TRY_AGAIN answers retried (flow control)
 *   {"ev":"done","run":R,"n":N,"bytes":B,"start":T,"first":T,"last":T,"lat":[us,..]}
 *        all N messages of run R were delivered here; start = earliest send time delivered,
 *        first/last = delivery times, lat = per-message latencies (only for latency runs)
 *        (a latency run's "done" and "sent" come REPORT_DELAY_NS after its last message)
 *   {"ev":"error","what":"...","code":E}                 then exit 2
 *   {"ev":"bye"}                                         then exit 0
 * Commands on stdin:
 *   send <run> <count> <size> <interval_us> [<total>]   multicast count messages of size bytes
 *        (>= 32); interval 0: back to back (CS_ERR_TRY_AGAIN retried while dispatching); else
 *        one every interval_us, and receivers record each message's latency. total (default
 *        count): messages of the run from all senders together (every node sending)
 *   stat       print {"ev":"stat",...}: as "done", without lat, for the current run so far
 *   quit
 * Every message starts with a header: magic, run, seq, total, flags (u32), send time (u64 ns).
 */
#include <corosync/cpg.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x43424e43u
#define FLAG_LATENCY 1u

struct hdr {
	uint32_t magic;
	uint32_t run;
	uint32_t seq;
	uint32_t total;
	uint32_t flags;
	uint32_t pad;
	uint64_t send_ns;
};

static cpg_handle_t handle;
static int cpg_fd;
static char inbuf[4096];
static size_t inlen;

/* the run being received */
static uint32_t cur_run = UINT32_MAX;
static uint32_t got;
static uint64_t got_bytes;
static uint64_t start_ns, first_ns, last_ns;
static double *lat;
static size_t lat_n, lat_cap;

/*
 * A latency run's "done" (and the sender's "sent") is printed this long after the run's last
 * message, not at once: the bench's own process wakes up to read every line, and a report
 * printed right away woke it while the other clients were still receiving that message (the
 * run's last message was a tail sample in every run). The TypeScript client waits the same.
 */
#define REPORT_DELAY_NS 20000000ull
/* when the pending "done" is due (0: none pending) */
static uint64_t done_due_ns;

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

static void bye(void)
{
	cpg_finalize(handle);
	printf("{\"ev\":\"bye\"}\n");
	fflush(stdout);
	exit(0);
}

/* {"ev":<ev>,"run":R,"n":N,"bytes":B,"start":T,"first":T,"last":T[,"lat":[..]]} */
static void report(const char *ev, int with_lat)
{
	printf("{\"ev\":\"%s\",\"run\":%d,\"n\":%u,\"bytes\":%llu,\"start\":%.3f,\"first\":%.3f,"
	       "\"last\":%.3f",
	       ev, (int)cur_run, got, (unsigned long long)got_bytes, us(start_ns), us(first_ns), us(last_ns));
	if (with_lat) {
		printf(",\"lat\":[");
		for (size_t i = 0; i < lat_n; i++)
			printf("%s%.3f", i ? "," : "", lat[i]);
		putchar(']');
	}
	printf("}\n");
	fflush(stdout);
}

static void deliver_cb(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t msg_len)
{
	(void)h;
	(void)group;
	(void)nodeid;
	(void)pid;
	uint64_t t = now_ns();
	struct hdr hd;
	if (msg_len < sizeof hd)
		return;
	memcpy(&hd, msg, sizeof hd);
	if (hd.magic != MAGIC)
		return;
	if (hd.run != cur_run) {
		cur_run = hd.run;
		got = 0;
		got_bytes = 0;
		lat_n = 0;
		start_ns = hd.send_ns;
		first_ns = t;
	}
	if (hd.send_ns < start_ns) /* several senders: the earliest send of the run */
		start_ns = hd.send_ns;
	got++;
	got_bytes += msg_len;
	last_ns = t;
	if (hd.flags & FLAG_LATENCY) {
		if (lat_n == lat_cap) {
			lat_cap = lat_cap ? lat_cap * 2 : 1024;
			lat = realloc(lat, lat_cap * sizeof *lat);
			if (!lat)
				die("realloc", ENOMEM);
		}
		lat[lat_n++] = us(t - hd.send_ns);
	}
	if (got == hd.total) {
		if (hd.flags & FLAG_LATENCY)
			done_due_ns = t + REPORT_DELAY_NS;
		else
			report("done", 1);
	}
}

/* Print the pending "done" once it is due. */
static void report_if_due(void)
{
	if (done_due_ns != 0 && now_ns() >= done_due_ns) {
		done_due_ns = 0;
		report("done", 1);
	}
}

/* timeout_ms (-1: none) shortened to when the pending "done" is due */
static int until_report(int timeout_ms)
{
	if (done_due_ns == 0)
		return timeout_ms;
	uint64_t t = now_ns();
	int ms = t >= done_due_ns ? 0 : (int)((done_due_ns - t + 999999) / 1000000);
	return timeout_ms < 0 || ms < timeout_ms ? ms : timeout_ms;
}

static void addr_list(const struct cpg_address *l, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++)
		printf("%s[%u,%u,%u]", i ? "," : "", l[i].nodeid, l[i].pid, l[i].reason);
	putchar(']');
}

static void confchg_cb(cpg_handle_t h, const struct cpg_name *group, const struct cpg_address *members,
		       size_t n_members, const struct cpg_address *left, size_t n_left,
		       const struct cpg_address *joined, size_t n_joined)
{
	(void)h;
	(void)group;
	(void)members;
	uint64_t t = now_ns();
	printf("{\"ev\":\"confchg\",\"members\":%zu,\"left\":", n_members);
	addr_list(left, n_left);
	printf(",\"joined\":");
	addr_list(joined, n_joined);
	printf(",\"t\":%.3f}\n", us(t));
	fflush(stdout);
}

static void totem_cb(cpg_handle_t h, struct cpg_ring_id ring_id, uint32_t n, const uint32_t *members)
{
	(void)h;
	(void)ring_id;
	uint64_t t = now_ns();
	printf("{\"ev\":\"totem\",\"members\":[");
	for (uint32_t i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", members[i]);
	printf("],\"t\":%.3f}\n", us(t));
	fflush(stdout);
}

static void dispatch_all(void)
{
	cs_error_t err = cpg_dispatch(handle, CS_DISPATCH_ALL);
	if (err != CS_OK && err != CS_ERR_TRY_AGAIN)
		die("cpg_dispatch", err);
}

/* Dispatch whatever is pending, waiting at most timeout_ms for something to arrive. */
static void serve(int timeout_ms)
{
	struct pollfd p = { .fd = cpg_fd, .events = POLLIN };
	int r = poll(&p, 1, until_report(timeout_ms));
	if (r > 0)
		dispatch_all();
	report_if_due();
}

static void send_run(uint32_t run, uint32_t count, size_t size, uint64_t interval_us, uint32_t total)
{
	if (size < sizeof(struct hdr))
		size = sizeof(struct hdr);
	char *buf = calloc(1, size);
	if (!buf)
		die("calloc", ENOMEM);
	memset(buf + sizeof(struct hdr), 'x', size - sizeof(struct hdr));
	uint64_t t0 = now_ns();
	unsigned long long try_again = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (interval_us) {
			uint64_t due = t0 + (uint64_t)i * interval_us * 1000ull;
			for (;;) {
				uint64_t t = now_ns();
				if (t >= due)
					break;
				serve((int)((due - t + 999999) / 1000000));
			}
		}
		struct hdr hd = { MAGIC, run, i + 1, total, interval_us ? FLAG_LATENCY : 0, 0, 0 };
		struct iovec iov = { .iov_base = buf, .iov_len = size };
		for (;;) {
			hd.send_ns = now_ns();
			memcpy(buf, &hd, sizeof hd);
			cs_error_t err = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
			if (err == CS_OK)
				break;
			if (err != CS_ERR_TRY_AGAIN)
				die("cpg_mcast_joined", err);
			try_again++;
			serve(1); /* flow control: serve callbacks until the daemon lifts it */
		}
		serve(0);
	}
	uint64_t t1 = now_ns();
	free(buf);
	if (interval_us) { /* a latency run: see REPORT_DELAY_NS */
		for (uint64_t t = t1; t < t1 + REPORT_DELAY_NS; t = now_ns())
			serve((int)((t1 + REPORT_DELAY_NS - t + 999999) / 1000000));
	}
	printf("{\"ev\":\"sent\",\"run\":%u,\"n\":%u,\"t0\":%.3f,\"t1\":%.3f,\"try_again\":%llu}\n", run,
	       count, us(t0), us(t1), try_again);
	fflush(stdout);
}

static void command(char *line)
{
	unsigned int run, count, total;
	size_t size;
	unsigned long long interval;
	int n = sscanf(line, "send %u %u %zu %llu %u", &run, &count, &size, &interval, &total);
	if (n == 4 || n == 5)
		send_run(run, count, size, interval, n == 5 ? total : count);
	else if (strncmp(line, "stat", 4) == 0)
		report("stat", 0);
	else if (strncmp(line, "quit", 4) == 0)
		bye();
	else if (line[0] != '\0')
		die("unknown command", 0);
}

static void read_stdin(void)
{
	ssize_t r = read(0, inbuf + inlen, sizeof inbuf - 1 - inlen);
	if (r <= 0)
		bye();
	inlen += (size_t)r;
	inbuf[inlen] = '\0';
	char *nl;
	while ((nl = strchr(inbuf, '\n')) != NULL) {
		*nl = '\0';
		command(inbuf);
		size_t used = (size_t)(nl - inbuf) + 1;
		memmove(inbuf, nl + 1, inlen - used + 1);
		inlen -= used;
	}
	if (inlen == sizeof inbuf - 1)
		die("command too long", 0);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <group> <label>\n", argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = deliver_cb,
		.cpg_confchg_fn = confchg_cb,
		.cpg_totem_confchg_fn = totem_cb,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	cs_error_t err;
	do
		err = cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL);
	while (err == CS_ERR_TRY_AGAIN && poll(NULL, 0, 10) == 0);
	if (err != CS_OK)
		die("cpg_model_initialize", err);

	struct cpg_name group;
	size_t glen = strlen(argv[1]);
	if (glen > CPG_MAX_NAME_LENGTH)
		die("group name too long", 0);
	memset(&group, 0, sizeof group);
	memcpy(group.value, argv[1], glen);
	group.length = (uint32_t)glen;
	do
		err = cpg_join(handle, &group);
	while (err == CS_ERR_TRY_AGAIN && poll(NULL, 0, 10) == 0);
	if (err != CS_OK)
		die("cpg_join", err);

	unsigned int nodeid = 0;
	cpg_local_get(handle, &nodeid);
	err = cpg_fd_get(handle, &cpg_fd);
	if (err != CS_OK)
		die("cpg_fd_get", err);
	printf("{\"ev\":\"ready\",\"nodeid\":%u,\"pid\":%d,\"t\":%.3f}\n", nodeid, (int)getpid(), us(now_ns()));
	fflush(stdout);

	for (;;) {
		struct pollfd p[2] = { { .fd = cpg_fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
		if (poll(p, 2, until_report(-1)) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", errno);
		}
		if (p[0].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
			dispatch_all();
		if (p[1].revents & (POLLIN | POLLERR | POLLHUP))
			read_stdin();
		report_if_due();
	}
}
