/*
 * A misbehaving libqb IPC client for the safety tests of our libqb transport
 * (test/interop/libqb-tools.test.ts). Built by the test: gcc -o <tmp>/libqb-raw-client
 * test/c/libqb-raw-client.c (no libraries).
 *
 * usage: libqb-raw-client <service> <mode>
 *   garbage    send 24 bytes of garbage as the connection request, then wait for the server
 *              to hang up: prints "closed" (or "data <n>" if it answered something)
 *   partial    send half a connection request and exit at once
 *   truncate   do a proper SHM setup, truncate the request ring's header and data files to
 *              0 bytes, post nothing and send one notification byte: the server must survive
 *              the SIGBUS it would get and hang up: prints "setup <type>" then "closed"
 *   die        do a proper setup, send one notification byte and exit at once (mid request)
 *   dgram      socket transport: do a proper setup, then send a 5-byte garbage datagram to the
 *              server's request socket: prints "setup 0" then "closed" once it hangs up
 * Exit status 0 when the expected thing happened, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RESPONSE_SIZE 12328

static int connect_service(const char *name)
{
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "%s", name);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		printf("connect failed: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

/* Wait up to 10 s for the server to hang up; print what happened. */
static int wait_hangup(int fd)
{
	char buf[4096];
	size_t total = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, 10000);
		if (r <= 0) {
			printf("timeout\n");
			return 1;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			if (total)
				printf("data %zu\n", total);
			printf("closed\n");
			return 0;
		}
		total += (size_t)n;
	}
}

static void send_request(int fd, uint32_t max)
{
	unsigned char req[24];
	memset(req, 0, sizeof(req));
	int32_t id = -1, size = 24;
	memcpy(req, &id, 4);
	memcpy(req + 8, &size, 4);
	memcpy(req + 16, &max, 4);
	if (write(fd, req, sizeof(req)) != sizeof(req)) {
		printf("write failed\n");
		exit(1);
	}
}

static void read_response(int fd, unsigned char *resp)
{
	size_t got = 0;
	while (got < RESPONSE_SIZE) {
		ssize_t n = read(fd, resp + got, RESPONSE_SIZE - got);
		if (n <= 0) {
			printf("no response\n");
			exit(1);
		}
		got += (size_t)n;
	}
	int32_t err, type;
	memcpy(&err, resp + 16, 4);
	memcpy(&type, resp + 24, 4);
	if (err != 0) {
		printf("refused %d\n", err);
		exit(1);
	}
	printf("setup %d\n", type);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <service> garbage|partial|truncate|die\n", argv[0]);
		return 2;
	}
	const char *mode = argv[2];
	int fd = connect_service(argv[1]);
	static unsigned char resp[RESPONSE_SIZE];

	if (strcmp(mode, "garbage") == 0) {
		unsigned char junk[24];
		memset(junk, 0xab, sizeof(junk));
		if (write(fd, junk, sizeof(junk)) != sizeof(junk))
			return 1;
		return wait_hangup(fd);
	}
	if (strcmp(mode, "partial") == 0) {
		unsigned char half[10] = {0xff, 0xff, 0xff, 0xff};
		if (write(fd, half, sizeof(half)) != sizeof(half))
			return 1;
		printf("sent\n");
		return 0;
	}
	send_request(fd, 1024 * 1024);
	read_response(fd, resp);
	if (strcmp(mode, "truncate") == 0) {
		char path[4200];
		const char *request = (const char *)resp + 40;
		for (int i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%.4095s-%s", request, i == 0 ? "header" : "data");
			if (truncate(path, 0) != 0) {
				printf("truncate %s: %s\n", path, strerror(errno));
				return 1;
			}
		}
		char one = 1;
		if (write(fd, &one, 1) != 1)
			return 1;
		return wait_hangup(fd);
	}
	if (strcmp(mode, "dgram") == 0) {
		struct sockaddr_un to;
		memset(&to, 0, sizeof(to));
		to.sun_family = AF_UNIX;
		snprintf(to.sun_path + 1, sizeof(to.sun_path) - 1, "%.90s-request", (const char *)resp + 4136);
		int d = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (d < 0 || sendto(d, "junk!", 5, 0, (struct sockaddr *)&to, sizeof(to)) != 5) {
			printf("sendto: %s\n", strerror(errno));
			return 1;
		}
		return wait_hangup(fd);
	}
	if (strcmp(mode, "die") == 0) {
		char one = 1;
		if (write(fd, &one, 1) != 1)
			return 1;
		_exit(0);
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
