/*
 * A CPG client on Debian's libcpg (corosync 3.1.7) that exercises the libcpg calls the plain
 * test/c/cpg-client.c does not: cpg_local_get, cpg_max_atomic_msgsize_get, cpg_context_set/get,
 * cpg_membership_get, cpg_iteration_*, cpg_flow_control_state_get, multi-iovec and large
 * messages (libcpg sends those as MESSAGE_REQ_CPG_PARTIAL_MCAST fragments and reassembles the
 * PARTIAL_DELIVER callbacks), the zero-copy calls (cpg_zcb_alloc / cpg_zcb_mcast_joined) and
 * cpg_leave. Built by test/interop/libqb-cpg-ring.test.ts:
 *   gcc -o <tmp>/libqb-cpg-api test/c/libqb-cpg-api.c -lcpg   (never committed)
 *
 * usage: libqb-cpg-api <group> <label>
 *
 * One JSON object per line on stdout:
 *   {"ev":"ready","nodeid":N,"pid":P,"max_atomic":M,"context":1,"members":[[n,p],..],"iterated":I}
 *     (members: cpg_membership_get; iterated: entries of CPG_ITERATION_ALL for our group)
 *   {"ev":"confchg","members":[[n,p],..],"left":[[n,p,r],..],"joined":[[n,p,r],..]}
 *   {"ev":"deliver","nodeid":N,"pid":P,"len":L,"head":"<label>:<seq>","sum":S,"ok":true|false}
 *   {"ev":"sent","what":"big|zcb","seq":Q,"len":L,"code":E}   (E = cs_error_t of the send)
 *   {"ev":"flow","state":F}
 *   {"ev":"left"}                                              our own leave confchg arrived
 *   {"ev":"error","what":"...","code":E}                       then exit 2
 *   {"ev":"bye"}                                               then exit 0
 * Commands on stdin, one per line:
 *   big <len>   multicast one message of <len> bytes in three iovecs
 *   zcb <len>   the same through cpg_zcb_alloc + cpg_zcb_mcast_joined + cpg_zcb_free
 *   flow        print cpg_flow_control_state_get
 *   leave       cpg_leave (then wait for our own leave confchg)
 *   quit        cpg_finalize and exit 0 (also on EOF)
 *
 * Message layout: "<label>:<seq>\n" then filler bytes b[i] = (i * 31 + seq) & 0xff up to <len>;
 * "sum" is FNV-1a (32 bit) over the whole message, "ok" says whether the filler is intact.
 */
#include <corosync/cpg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static cpg_handle_t handle;
static struct cpg_name group;
static const char *label;
static unsigned long next_seq = 1;
static unsigned int my_nodeid;
static int my_pid;
static int joined_self;
static int left_self;
static char inbuf[4096];
static size_t inlen;

static void die(const char *what, int code)
{
	printf("{\"ev\":\"error\",\"what\":\"%s\",\"code\":%d}\n", what, code);
	fflush(stdout);
	exit(2);
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static void addr_list(const struct cpg_address *l, size_t n, int with_reason)
{
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		if (with_reason)
			printf("%s[%u,%u,%u]", i ? "," : "", l[i].nodeid, l[i].pid, l[i].reason);
		else
			printf("%s[%u,%u]", i ? "," : "", l[i].nodeid, l[i].pid);
	}
	putchar(']');
}

static void deliver_cb(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid, uint32_t pid, void *msg,
		       size_t len)
{
	(void)h;
	(void)g;
	const unsigned char *m = msg;
	size_t head = 0;
	while (head < len && head < 64 && m[head] != '\n')
		head++;
	unsigned long seq = 0;
	const char *colon = memchr(m, ':', head);
	if (colon)
		seq = strtoul(colon + 1, NULL, 10);
	int ok = head < len;
	for (size_t i = head + 1; ok && i < len; i++)
		if (m[i] != (unsigned char)((i * 31 + seq) & 0xff))
			ok = 0;
	printf("{\"ev\":\"deliver\",\"nodeid\":%u,\"pid\":%u,\"len\":%zu,\"head\":\"", nodeid, pid, len);
	for (size_t i = 0; i < head; i++)
		putchar(m[i] >= 0x20 && m[i] < 0x7f && m[i] != '"' && m[i] != '\\' ? m[i] : '?');
	printf("\",\"sum\":%u,\"ok\":%s}\n", fnv1a(m, len), ok ? "true" : "false");
}

static int has(const struct cpg_address *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].nodeid == my_nodeid && (int)l[i].pid == my_pid)
			return 1;
	return 0;
}

static void confchg_cb(cpg_handle_t h, const struct cpg_name *g, const struct cpg_address *members, size_t nm,
		       const struct cpg_address *left, size_t nl, const struct cpg_address *joined, size_t nj)
{
	(void)h;
	(void)g;
	printf("{\"ev\":\"confchg\",\"members\":");
	addr_list(members, nm, 0);
	printf(",\"left\":");
	addr_list(left, nl, 1);
	printf(",\"joined\":");
	addr_list(joined, nj, 1);
	printf("}\n");
	if (has(joined, nj))
		joined_self = 1;
	if (has(left, nl)) {
		left_self = 1;
		printf("{\"ev\":\"left\"}\n");
	}
}

static void dispatch_all(void)
{
	cs_error_t err = cpg_dispatch(handle, CS_DISPATCH_ALL);
	if (err != CS_OK && err != CS_ERR_TRY_AGAIN)
		die("cpg_dispatch", err);
	fflush(stdout);
}

static void wait_for(int *flag)
{
	int fd;
	cpg_fd_get(handle, &fd);
	while (!*flag) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 1000) > 0)
			dispatch_all();
	}
}

static void fill(unsigned char *buf, size_t len, unsigned long seq, size_t *head)
{
	int n = snprintf((char *)buf, len, "%s:%lu\n", label, seq);
	*head = (size_t)n;
	for (size_t i = (size_t)n; i < len; i++)
		buf[i] = (unsigned char)((i * 31 + seq) & 0xff);
}

static cs_error_t retry(cs_error_t (*fn)(void *), void *arg)
{
	int fd;
	cpg_fd_get(handle, &fd);
	for (;;) {
		cs_error_t err = fn(arg);
		if (err != CS_ERR_TRY_AGAIN)
			return err;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) > 0)
			dispatch_all();
	}
}

struct big_arg {
	struct iovec iov[3];
};

static cs_error_t send_big(void *a)
{
	struct big_arg *b = a;
	return cpg_mcast_joined(handle, CPG_TYPE_AGREED, b->iov, 3);
}

struct zcb_arg {
	void *buf;
	size_t len;
};

static cs_error_t send_zcb(void *a)
{
	struct zcb_arg *z = a;
	return cpg_zcb_mcast_joined(handle, CPG_TYPE_AGREED, z->buf, z->len);
}

static void big(size_t len)
{
	unsigned char *buf = malloc(len);
	size_t head;
	if (!buf || len < 64)
		die("big: bad length", 0);
	unsigned long seq = next_seq++;
	fill(buf, len, seq, &head);
	/* three pieces: the header, an odd-sized middle, the rest */
	struct big_arg b = { .iov = { { buf, head }, { buf + head, 7 }, { buf + head + 7, len - head - 7 } } };
	cs_error_t err = retry(send_big, &b);
	printf("{\"ev\":\"sent\",\"what\":\"big\",\"seq\":%lu,\"len\":%zu,\"code\":%d}\n", seq, len, err);
	fflush(stdout);
	free(buf);
}

static void zcb(size_t len)
{
	void *buf = NULL;
	cs_error_t err = cpg_zcb_alloc(handle, len, &buf);
	unsigned long seq = next_seq++;
	if (err == CS_OK) {
		size_t head;
		fill(buf, len, seq, &head);
		struct zcb_arg z = { buf, len };
		err = retry(send_zcb, &z);
		cs_error_t ferr = cpg_zcb_free(handle, buf);
		if (err == CS_OK && ferr != CS_OK)
			err = ferr;
	}
	printf("{\"ev\":\"sent\",\"what\":\"zcb\",\"seq\":%lu,\"len\":%zu,\"code\":%d}\n", seq, len, err);
	fflush(stdout);
}

static void bye(void)
{
	cpg_finalize(handle);
	printf("{\"ev\":\"bye\"}\n");
	fflush(stdout);
	exit(0);
}

static void command(char *line)
{
	unsigned long n;
	if (sscanf(line, "big %lu", &n) == 1) {
		big(n);
	} else if (sscanf(line, "zcb %lu", &n) == 1) {
		zcb(n);
	} else if (strncmp(line, "flow", 4) == 0) {
		cpg_flow_control_state_t st;
		cs_error_t err = cpg_flow_control_state_get(handle, &st);
		if (err != CS_OK)
			die("cpg_flow_control_state_get", err);
		printf("{\"ev\":\"flow\",\"state\":%d}\n", (int)st);
		fflush(stdout);
	} else if (strncmp(line, "leave", 5) == 0) {
		cs_error_t err = cpg_leave(handle, &group);
		if (err != CS_OK)
			die("cpg_leave", err);
		wait_for(&left_self);
		fflush(stdout);
	} else if (strncmp(line, "quit", 4) == 0) {
		bye();
	} else if (line[0] != '\0') {
		die("unknown command", 0);
	}
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
	label = argv[2];
	group.length = (uint32_t)strlen(argv[1]);
	memcpy(group.value, argv[1], group.length);
	my_pid = getpid();

	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = deliver_cb,
		.cpg_confchg_fn = confchg_cb,
		.flags = 0,
	};
	static int ctx_value = 42;
	cs_error_t err;
	while ((err = cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, &ctx_value)) ==
	       CS_ERR_TRY_AGAIN)
		usleep(50000);
	if (err != CS_OK)
		die("cpg_model_initialize", err);
	void *ctx = NULL;
	if ((err = cpg_context_get(handle, &ctx)) != CS_OK)
		die("cpg_context_get", err);
	int context_ok = ctx == &ctx_value;
	if ((err = cpg_context_set(handle, &my_pid)) != CS_OK || cpg_context_get(handle, &ctx) != CS_OK)
		die("cpg_context_set", err);
	context_ok = context_ok && ctx == &my_pid;
	if ((err = cpg_local_get(handle, &my_nodeid)) != CS_OK)
		die("cpg_local_get", err);
	uint32_t max_atomic = 0;
	if ((err = cpg_max_atomic_msgsize_get(handle, &max_atomic)) != CS_OK)
		die("cpg_max_atomic_msgsize_get", err);
	while ((err = cpg_join(handle, &group)) == CS_ERR_TRY_AGAIN)
		usleep(50000);
	if (err != CS_OK)
		die("cpg_join", err);
	wait_for(&joined_self);

	struct cpg_address members[CPG_MEMBERS_MAX];
	int nm = CPG_MEMBERS_MAX;
	if ((err = cpg_membership_get(handle, &group, members, &nm)) != CS_OK)
		die("cpg_membership_get", err);
	cpg_iteration_handle_t it;
	struct cpg_iteration_description_t d;
	int iterated = 0;
	if ((err = cpg_iteration_initialize(handle, CPG_ITERATION_ALL, NULL, &it)) != CS_OK)
		die("cpg_iteration_initialize", err);
	while (cpg_iteration_next(it, &d) == CS_OK)
		if (d.group.length == group.length && memcmp(d.group.value, group.value, group.length) == 0)
			iterated++;
	cpg_iteration_finalize(it);

	printf("{\"ev\":\"ready\",\"nodeid\":%u,\"pid\":%d,\"max_atomic\":%u,\"context\":%d,\"members\":", my_nodeid,
	       my_pid, max_atomic, context_ok);
	addr_list(members, (size_t)nm, 0);
	printf(",\"iterated\":%d}\n", iterated);
	fflush(stdout);

	int fd;
	cpg_fd_get(handle, &fd);
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents)
			dispatch_all();
		if (p[1].revents)
			read_stdin();
	}
}
