/*
 * A small CPG test client on the real libcpg (corosync 3.1.7), used by test/interop to put
 * C processes into mixed rings of real corosync and corosync-ts daemons. Built by the test
 * itself: gcc -o <tmp>/cpg-client test/c/cpg-client.c -lcpg (never committed).
 *
 * usage: cpg-client <group> <label> [exit-after-deliveries]
 *
 * Joins <group> (model V1 with CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF) and prints one JSON
 * object per line on stdout:
 *   {"ev":"ready","nodeid":N,"pid":P}                       cpg_join accepted
 *   {"ev":"confchg","group":"g","members":[[n,p],..],"left":[[n,p,r],..],"joined":[[n,p,r],..]}
 *   {"ev":"totem","rep":N,"seq":S,"members":[n,..]}
 *   {"ev":"deliver","nodeid":N,"pid":P,"msg":"<label>:<seq>"}
 *   {"ev":"sent","count":C}                                 a "send" command finished
 *   {"ev":"error","what":"...","code":E}                    then exit 2
 *   {"ev":"bye"}                                            then exit 0
 * Commands on stdin, one per line:
 *   send <n>   multicast n messages "<label>:<seq>" (seq counts from 1 over the whole run),
 *              retrying CS_ERR_TRY_AGAIN while dispatching callbacks
 *   quit       leave nothing behind: cpg_finalize and exit 0 (also on EOF)
 * With exit-after-deliveries, it also exits (bye) once that many messages were delivered.
 */
#include <corosync/cpg.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static cpg_handle_t handle;
static const char *label;
static unsigned long next_seq = 1;
static unsigned long delivered;
static unsigned long exit_after;
static char inbuf[4096];
static size_t inlen;

static void json_str(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
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

static void deliver_cb(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t msg_len)
{
	(void)h;
	(void)group;
	printf("{\"ev\":\"deliver\",\"nodeid\":%u,\"pid\":%u,\"msg\":", nodeid, pid);
	json_str(msg, msg_len);
	printf("}\n");
	delivered++;
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

static void confchg_cb(cpg_handle_t h, const struct cpg_name *group, const struct cpg_address *members,
		       size_t n_members, const struct cpg_address *left, size_t n_left,
		       const struct cpg_address *joined, size_t n_joined)
{
	(void)h;
	printf("{\"ev\":\"confchg\",\"group\":");
	json_str(group->value, group->length);
	printf(",\"members\":");
	addr_list(members, n_members, 0);
	printf(",\"left\":");
	addr_list(left, n_left, 1);
	printf(",\"joined\":");
	addr_list(joined, n_joined, 1);
	printf("}\n");
}

static void totem_cb(cpg_handle_t h, struct cpg_ring_id ring_id, uint32_t n, const uint32_t *members)
{
	(void)h;
	printf("{\"ev\":\"totem\",\"rep\":%u,\"seq\":%llu,\"members\":[", ring_id.nodeid,
	       (unsigned long long)ring_id.seq);
	for (uint32_t i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", members[i]);
	printf("]}\n");
}

static void dispatch_all(void)
{
	cs_error_t err = cpg_dispatch(handle, CS_DISPATCH_ALL);
	if (err != CS_OK && err != CS_ERR_TRY_AGAIN)
		die("cpg_dispatch", err);
	fflush(stdout);
	if (exit_after && delivered >= exit_after)
		bye();
}

static void send_messages(unsigned long n)
{
	int fd;
	cpg_fd_get(handle, &fd);
	for (unsigned long i = 0; i < n; i++) {
		char buf[256];
		int len = snprintf(buf, sizeof buf, "%s:%lu", label, next_seq);
		struct iovec iov = { .iov_base = buf, .iov_len = (size_t)len };
		for (;;) {
			cs_error_t err = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
			if (err == CS_OK)
				break;
			if (err != CS_ERR_TRY_AGAIN)
				die("cpg_mcast_joined", err);
			/* flow control: serve callbacks until the daemon lifts it */
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, 10) > 0)
				dispatch_all();
		}
		next_seq++;
	}
	printf("{\"ev\":\"sent\",\"count\":%lu}\n", next_seq - 1);
	fflush(stdout);
}

static void command(char *line)
{
	unsigned long n;
	if (sscanf(line, "send %lu", &n) == 1)
		send_messages(n);
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
		fprintf(stderr, "usage: %s <group> <label> [exit-after-deliveries]\n", argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	label = argv[2];
	if (argc > 3)
		exit_after = strtoul(argv[3], NULL, 10);

	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = deliver_cb,
		.cpg_confchg_fn = confchg_cb,
		.cpg_totem_confchg_fn = totem_cb,
		/* as the TypeScript clients: one totem confchg right after our own join confchg */
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
	printf("{\"ev\":\"ready\",\"nodeid\":%u,\"pid\":%d}\n", nodeid, (int)getpid());
	fflush(stdout);

	int fd;
	err = cpg_fd_get(handle, &fd);
	if (err != CS_OK)
		die("cpg_fd_get", err);
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", errno);
		}
		if (p[0].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
			dispatch_all();
		if (p[1].revents & (POLLIN | POLLERR | POLLHUP))
			read_stdin();
	}
}
