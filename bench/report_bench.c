/*
 * report_bench: the employee's report and the outbox (issue 10).
 *
 *   report_bench latency SOCK DIR N
 *	N self-reports over kakurid's control socket, each timed from the
 *	request to the moment the collector renamed DIR/<id>.json into
 *	place (inotify), one at a time: microseconds, one line each.
 *   report_bench queue SOCK N
 *	N self-reports as fast as kakurid takes them (the outbox fills
 *	while the collector is away); prints the seconds it took.
 *   report_bench floor DIR N SIZE
 *	The floor of a durable store on this disk: N files of SIZE bytes
 *	written as the collector writes a report (temporary file, fsync,
 *	rename, directory fsync); prints files per second.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "wire.h"
#include "../tests/progutil.h"

#define WAIT_MS		30000	/* for one report to arrive, at most */

static int
control(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(sock);
		exit(1);
	}
	return fd;
}

static int
read_exact(int fd, void *buf, size_t len)
{
	size_t have = 0;
	ssize_t n;

	while (have < len) {
		n = read(fd, (char *)buf + have, len - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return 0;
}

/* One report; its id in id.  0, or -1 (said why). */
static int
report(const char *sock, int i, char id[KK_EPISODE_HEX + 1])
{
	char what[64], *req, *ans = NULL;
	uint8_t hdr[4];
	size_t len, alen;
	json_t *o;
	int fd, r = -1;

	snprintf(what, sizeof(what), "bench report %d", i);
	o = json_pack("{s:s, s:s, s:s}", KW_CMD, "report", KW_CATEGORY,
	    "other", KW_WHAT, what);
	req = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	len = strlen(req);
	fd = control(sock);
	kk_frame_header(hdr, len, KK_FRAME_MAX);
	if (write(fd, hdr, 4) != 4 || write(fd, req, len) != (ssize_t)len ||
	    read_exact(fd, hdr, 4) < 0)
		goto out;
	alen = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	    (size_t)hdr[2] << 8 | hdr[3];
	if (alen > KK_FRAME_MAX || (ans = malloc(alen + 1)) == NULL ||
	    read_exact(fd, ans, alen) < 0)
		goto out;
	o = json_loadb(ans, alen, 0, NULL);
	if (json_string_value(json_object_get(o, KW_REPORT)) != NULL) {
		snprintf(id, KK_EPISODE_HEX + 1, "%s",
		    json_string_value(json_object_get(o, KW_REPORT)));
		r = 0;
	} else
		fprintf(stderr, "report refused: %.*s\n", (int)alen, ans);
	json_decref(o);
out:
	free(ans);
	free(req);
	close(fd);
	return r;
}

/* Waits for DIR/<id>.json to be renamed into place (or to be there). */
static int
arrived(int in, const char *dir, const char *id)
{
	char name[KK_EPISODE_HEX + 8], path[PATH_MAX], buf[4096];
	struct pollfd p = { .fd = in, .events = POLLIN };
	struct inotify_event *ev;
	double end = pu_now_ms() + WAIT_MS;
	ssize_t n;
	char *q;

	snprintf(name, sizeof(name), "%s.json", id);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	while (pu_now_ms() < end) {
		if (access(path, F_OK) == 0)
			return 0;
		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((n = read(in, buf, sizeof(buf))) <= 0)
			continue;
		for (q = buf; q < buf + n; q += sizeof(*ev) + ev->len) {
			ev = (struct inotify_event *)q;
			if (ev->len > 0 && strcmp(ev->name, name) == 0)
				return 0;
		}
	}
	return -1;
}

static int
latency(const char *sock, const char *dir, int n)
{
	char id[KK_EPISODE_HEX + 1];
	double t0;
	int in, i;

	in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in < 0 || inotify_add_watch(in, dir, IN_MOVED_TO) < 0) {
		perror(dir);
		return 1;
	}
	for (i = 0; i < n; i++) {
		t0 = pu_now_us();
		if (report(sock, i, id) < 0 || arrived(in, dir, id) < 0) {
			fprintf(stderr, "report %d did not arrive\n", i);
			return 1;
		}
		printf("%.0f\n", pu_now_us() - t0);
	}
	return 0;
}

static int
queue(const char *sock, int n)
{
	char id[KK_EPISODE_HEX + 1];
	double t0 = pu_now_s();
	int i;

	for (i = 0; i < n; i++)
		if (report(sock, i, id) < 0)
			return 1;
	printf("%.3f\n", pu_now_s() - t0);
	return 0;
}

static int
floor_rate(const char *dir, int n, size_t size)
{
	char tmp[PATH_MAX], path[PATH_MAX], *data;
	double t0;
	int dfd, fd, i;

	if ((data = malloc(size)) == NULL ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return 1;
	memset(data, 'x', size);
	t0 = pu_now_s();
	for (i = 0; i < n; i++) {
		snprintf(tmp, sizeof(tmp), "%s/.f%d.tmp", dir, i);
		snprintf(path, sizeof(path), "%s/f%d.json", dir, i);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd < 0 || write(fd, data, size) != (ssize_t)size ||
		    fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0 ||
		    fsync(dfd) < 0) {
			perror(tmp);
			return 1;
		}
	}
	printf("%.1f\n", n / (pu_now_s() - t0));
	close(dfd);
	free(data);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "latency") == 0)
		return latency(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "queue") == 0)
		return queue(argv[2], atoi(argv[3]));
	if (argc == 5 && strcmp(argv[1], "floor") == 0)
		return floor_rate(argv[2], atoi(argv[3]),
		    (size_t)atoi(argv[4]));
	fprintf(stderr, "usage: report_bench latency SOCK DIR N | queue SOCK N | "
	    "floor DIR N SIZE\n");
	return 2;
}
