/*
 * Request latency over libqb IPC, measured with the real libcmap (corosync 3.1.7): times N
 * cmap_get round trips of one key and prints one JSON line. Used by
 * test/interop/libqb-tools.test.ts against our daemon and against real corosync.
 * Built by the test: gcc -O1 -o <tmp>/libqb-cmap-latency test/c/libqb-cmap-latency.c -lcmap
 *
 * usage: libqb-cmap-latency <key> <count> [announce]
 * With "announce", prints "started" after the first successful get (flow-control test).
 * output: {"count":N,"us_per_op":X,"value_len":L,"peer_pid":P,"peer_uid":U,"peer_gid":G}
 *         exit 0; on error {"error":"...","code":E}, exit 1
 * peer_*: SO_PEERCRED of the descriptor cmap_fd_get returns, what Pacemaker checks
 * (crm_ipc_is_authentic_process): the daemon's credentials over SHM, none (0, -1, -1) over the
 * socket transport's datagram socket.
 */
#define _GNU_SOURCE
#include <corosync/cmap.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <key> <count>\n", argv[0]);
		return 2;
	}
	cmap_handle_t h;
	cs_error_t err = cmap_initialize(&h);
	if (err != CS_OK) {
		printf("{\"error\":\"cmap_initialize\",\"code\":%d}\n", err);
		return 1;
	}
	long count = atol(argv[2]);
	char value[4096];
	size_t len = 0;
	cmap_value_types_t type;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < count; i++) {
		len = sizeof(value);
		err = cmap_get(h, argv[1], value, &len, &type);
		if (err != CS_OK) {
			printf("{\"error\":\"cmap_get\",\"code\":%d}\n", err);
			cmap_finalize(h);
			return 1;
		}
		if (i == 0 && argc > 3 && strcmp(argv[3], "announce") == 0) {
			printf("started\n");
			fflush(stdout);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / (double)count;
	int fd = -1;
	struct ucred cred = {0, (uid_t)-1, (gid_t)-1};
	socklen_t cl = sizeof(cred);
	if (cmap_fd_get(h, &fd) != CS_OK || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0)
		cred.pid = -1;
	printf("{\"count\":%ld,\"us_per_op\":%.2f,\"value_len\":%zu,\"peer_pid\":%d,\"peer_uid\":%d,\"peer_gid\":%d}\n",
	       count, us, len, (int)cred.pid, (int)cred.uid, (int)cred.gid);
	cmap_finalize(h);
	return 0;
}
