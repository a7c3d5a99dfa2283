/*
 * Volatile evidence collection (agentd/collect.c) on this machine: three
 * runs of kk_collect, each into a fresh temporary directory, and the
 * median wall time with the number and size of the artifacts.
 *
 *	collect: median X ms, N artifacts, Y KiB total (processes P,
 *	    sockets S, journal J entries)
 *
 * Only reads the machine; writes only below its own temporary directory,
 * which it removes.  KK_BENCH_KEEP=1 keeps the last run's directory.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "evidence.h"
#include "../tests/progutil.h"

#define RUNS	3

/* items in one artifact of the run in dir, -1 if unreadable */
static long
count_items(const char *dir, const char *rel)
{
	char path[4096];
	json_error_t je;
	json_t *doc;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((doc = json_load_file(path, 0, &je)) == NULL)
		return -1;
	n = (long)json_array_size(json_object_get(doc, "items"));
	json_decref(doc);
	return n;
}

int
main(void)
{
	struct kk_collect_limits lim;
	struct kk_artifacts arts;
	char dir[] = "/tmp/kk-collect-bench.XXXXXX", sub[4096], err[256];
	double ms[RUNS];
	uint64_t total = 0;
	size_t nart = 0, i;
	long procs = 0, socks = 0, journal = 0;
	int run, dfd, r, ret = 1;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	memset(&lim, 0, sizeof(lim));	/* the defaults: 30 s, 64 MiB, 1000 */
	for (run = 0; run < RUNS; run++) {
		double t0;

		snprintf(sub, sizeof(sub), "%s/run%d", dir, run);
		if (mkdir(sub, 0700) < 0 ||
		    (dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			perror(sub);
			goto out;
		}
		kk_artifacts_init(&arts);
		t0 = pu_now_ms();
		r = kk_collect(dfd, &lim, &arts, err, sizeof(err));
		ms[run] = pu_now_ms() - t0;
		close(dfd);
		if (r < 0) {
			fprintf(stderr, "collect: %s\n", err);
			kk_artifacts_free(&arts);
			goto out;
		}
		if (err[0] != '\0')
			fprintf(stderr, "run %d: %s\n", run, err);
		nart = arts.n;
		total = 0;
		for (i = 0; i < arts.n; i++)
			total += arts.v[i].size;
		kk_artifacts_free(&arts);
		procs = count_items(sub, "collect/03-processes.json");
		socks = count_items(sub, "collect/02-sockets.json");
		journal = count_items(sub, "collect/08-journal.json");
	}
	printf("collect: median %.1f ms, %zu artifacts, %.1f KiB total "
	    "(processes %ld, sockets %ld, journal %ld entries)\n",
	    pu_median(ms, RUNS), nart, total / 1024.0, procs, socks, journal);
	ret = 0;
out:
	if (getenv("KK_BENCH_KEEP") != NULL)
		fprintf(stderr, "kept %s\n", dir);
	else
		pu_rmtree(dir);
	return ret;
}
