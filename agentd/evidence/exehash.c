/*
 * Hashing the executables of running processes, for the sha256 selector
 * of freeze and thaw.  The root parent never does this itself (a file
 * can take seconds or for ever to read, see exefile.c): an evidence
 * worker runs kk_exe_hash_scan and streams what it does as JSON lines,
 * and the parent, which kills the worker at its deadline, reads them back
 * with kk_hash_result_line.  Because every step is a line of its own, a
 * worker killed half-way still tells which files were hashed, which one
 * it was reading, and which it never reached.
 *
 * Lines, in this order:
 *   {"file":N,"dev":D,"ino":I,"size":S,"exe":"/path","pids":[...],"npids":K}
 *			one per distinct executable (device, inode), all
 *			before any hashing starts
 *   {"begin":N}	reading file N now
 *   {"done":N,"sha256":"hex"}  or  {"done":N,"skipped":"why"}
 *   {"end":true}
 * Files over the size cap are answered first, without being read; the
 * others are hashed smallest first, so that a few huge ones cannot keep
 * the many ordinary ones from being hashed before the deadline.
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "evidence.h"
#include "jsonutil.h"
#include "wire.h"

#define SCAN_MAX	(1 << 20)	/* processes looked at */
#define FILES_MAX	65536		/* distinct executables */
#define LINE_PIDS	64		/* pids listed per file line */
/* values and separators of a line at most: a file's with its pids */
#define LINE_VALUES	(LINE_PIDS + 64)
#define WHY_MAX		255		/* a done line's why (hash_one's) */
/*
 * The executable's name in a plan line, for the receipt's list of what
 * was not hashed: EXE_LINE_RAW bytes at most, so that 65,536 files of
 * names in bytes that are not UTF-8 (each written \xNN) stay far below
 * what the parent takes from a worker (KD_JOB_OUTPUT_MAX).  The parent
 * takes 4 bytes a byte of both.
 */
#define EXE_LINE_RAW	256

/*
 * A long name as "..." and its end, the file's own name, from the start
 * of a character: cut inside one, a name in UTF-8 would be written
 * \xNN all through.
 */
static json_t *
exe_for_line(const char *exe)
{
	char buf[EXE_LINE_RAW + 1];
	size_t n = strlen(exe), from;
	int k;

	if (n <= EXE_LINE_RAW)
		return kk_json_strn(exe, n);
	from = n - (EXE_LINE_RAW - 3);
	for (k = 0; k < 3 && ((unsigned char)exe[from] & 0xc0) == 0x80; k++)
		from++;
	snprintf(buf, sizeof(buf), "...%s", exe + from);
	return kk_json_str(buf);
}

struct proc_ent {
	struct kk_file_id id;
	uint64_t size;
	pid_t pid;
};

static int
cmp_ent(const void *a, const void *b)
{
	const struct proc_ent *x = a, *y = b;

	return KK_CMP(x->id.dev, y->id.dev) ?:
	    KK_CMP(x->id.ino, y->id.ino) ?:
	    KK_CMP(x->pid, y->pid);
}

/* A distinct file: entries [first, first + n) of the sorted table. */
struct file_ref {
	size_t idx;		/* its number in the plan */
	size_t first;
	size_t n;
	uint64_t size;
	bool skip;		/* answered without reading */
};

static int
cmp_size(const void *a, const void *b)
{
	const struct file_ref *x = a, *y = b;

	return KK_CMP(x->size, y->size) ?: KK_CMP(x->idx, y->idx);
}

static int
put_line(int fd, json_t *o)
{
	return kk_json_put_line(fd, o, JSON_COMPACT);
}

static int
add_proc(struct proc_ent **v, size_t *n, size_t *cap, pid_t pid)
{
	struct kk_exe_info info;
	int err;

	/* kernel threads and processes gone meanwhile have no executable */
	if (kk_exe_stat(pid, &info) < 0)
		return 0;
	if ((err = kk_grow(v, cap, *n, sizeof(**v), 1024, SCAN_MAX)) < 0)
		return err;
	(*v)[*n].id = info.id;
	(*v)[*n].size = info.size;
	(*v)[*n].pid = pid;
	(*n)++;
	return 0;
}

static int
list_procs(const struct kk_hash_spec *spec, struct proc_ent **v, size_t *n)
{
	struct dirent *de;
	size_t cap = 0, i;
	char *end;
	long pid;
	DIR *d;
	int r = 0;

	*v = NULL;
	*n = 0;
	if (spec->pids != NULL) {
		for (i = 0; i < spec->npids && r == 0; i++)
			r = add_proc(v, n, &cap, spec->pids[i]);
		return r;
	}
	if ((d = opendir("/proc")) == NULL)
		return -errno;
	for (i = 0; i < SCAN_MAX + 1024 && r == 0 &&
	    (de = readdir(d)) != NULL; i++) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid > INT_MAX)
			continue;
		r = add_proc(v, n, &cap, (pid_t)pid);
	}
	closedir(d);
	return r;
}

/* The plan line of one file. */
static json_t *
file_line(size_t idx, const struct proc_ent *e, size_t n)
{
	char exe[PATH_MAX];
	json_t *o, *pids;
	size_t i;

	kk_exe_name(e[0].pid, exe, sizeof(exe));
	if ((pids = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n && i < LINE_PIDS; i++)
		json_array_append_new(pids, json_integer(e[i].pid));
	o = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:I}",
	    KW_FILE, (json_int_t)idx, KW_DEV, (json_int_t)e[0].id.dev,
	    KW_INO, (json_int_t)e[0].id.ino, KW_SIZE, (json_int_t)e[0].size,
	    KW_EXE, exe_for_line(exe), KW_PIDS, pids,
	    KW_NPIDS, (json_int_t)n);
	return o;
}

/* Hashes one file through any of its processes; fills sha or why. */
static int
hash_one(const struct kk_hash_spec *spec, const struct proc_ent *e, size_t n,
    char sha[65], char *why, size_t whylen)
{
	struct kk_exe_info info;
	size_t i;
	int fd = -1, r = -ESRCH;

	snprintf(why, whylen, "gone before hashing");
	for (i = 0; i < n && fd < 0; i++) {
		r = kk_exe_open(e[i].pid, &info, &fd, why, whylen);
		/* it may run another file by now: only this one counts */
		if (r == 0 && (info.id.dev != e[0].id.dev ||
		    info.id.ino != e[0].id.ino)) {
			close(fd);
			fd = -1;
			r = -ESRCH;
			snprintf(why, whylen, "gone before hashing");
		}
		/* a file that may not be read is that for every process */
		if (r == -EPERM)
			return r;
	}
	if (fd < 0)
		return r;
	r = kk_fd_sha256(fd, spec->max_bytes, spec->deadline_ns, sha);
	close(fd);
	if (r == -ETIMEDOUT)
		snprintf(why, whylen, "not hashed: the deadline came first");
	else if (r == -EFBIG)
		snprintf(why, whylen, "larger than %llu MiB (not read)",
		    (unsigned long long)(spec->max_bytes >> 20));
	else if (r < 0)
		snprintf(why, whylen, "reading: %s", strerror(-r));
	return r;
}

int
kk_exe_hash_scan(int fd, const struct kk_hash_spec *spec)
{
	struct proc_ent *v = NULL;
	struct file_ref *files = NULL;
	struct kk_exe_info info;
	char sha[65], why[WHY_MAX + 1];
	size_t n = 0, nf = 0, i, j;
	int r;

	if ((r = list_procs(spec, &v, &n)) < 0)
		goto out;
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_ent);
	if ((files = calloc(n + 1, sizeof(*files))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && nf < FILES_MAX; i = j) {
		for (j = i + 1; j < n && v[j].id.dev == v[i].id.dev &&
		    v[j].id.ino == v[i].id.ino; j++)
			;
		files[nf].idx = nf;
		files[nf].first = i;
		files[nf].n = j - i;
		files[nf].size = v[i].size;
		if ((r = put_line(fd, file_line(nf, &v[i], j - i))) < 0)
			goto out;
		nf++;
	}
	/*
	 * What is not to be read at all (too large, a FUSE, network or
	 * special file system) is said at once, before a file that hangs
	 * can keep the worker from saying it.
	 */
	for (i = 0; i < nf; i++) {
		if (files[i].size > spec->max_bytes) {
			snprintf(why, sizeof(why), "larger than %llu MiB (not "
			    "read)",
			    (unsigned long long)(spec->max_bytes >> 20));
		} else if (kk_exe_check(v[files[i].first].pid, &info, why,
		    sizeof(why)) != -EPERM) {
			continue;
		}
		files[i].skip = true;
		r = put_line(fd, json_pack("{s:I, s:o}", KW_DONE,
		    (json_int_t)files[i].idx, KW_SKIPPED, kk_json_str(why)));
		if (r < 0)
			goto out;
	}
	/* smallest first; each keeps the number the plan gave it */
	qsort(files, nf, sizeof(*files), cmp_size);
	for (i = 0; i < nf; i++) {
		json_t *o;

		if (files[i].skip)
			continue;
		if (spec->deadline_ns != 0 &&
		    kk_mono_ns() >= spec->deadline_ns) {
			o = json_pack("{s:I, s:s}", KW_DONE,
			    (json_int_t)files[i].idx, KW_SKIPPED,
			    "not hashed: the deadline came first");
		} else {
			if ((r = put_line(fd, json_pack("{s:I}", KW_BEGIN,
			    (json_int_t)files[i].idx))) < 0)
				goto out;
			if (hash_one(spec, &v[files[i].first], files[i].n, sha,
			    why, sizeof(why)) == 0)
				o = json_pack("{s:I, s:s}", KW_DONE,
				    (json_int_t)files[i].idx, KW_SHA256, sha);
			else
				o = json_pack("{s:I, s:o}", KW_DONE,
				    (json_int_t)files[i].idx, KW_SKIPPED,
				    kk_json_str(why));
		}
		if ((r = put_line(fd, o)) < 0)
			goto out;
	}
	r = put_line(fd, json_pack("{s:b}", KW_END, 1));
out:
	free(files);
	free(v);
	return r;
}

/* ---- the parent's side: the worker's lines back into a result ---- */

static bool
get_idx(json_t *o, const char *key, const struct kk_hash_result *res,
    size_t *idx)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) >= res->n)
		return false;
	*idx = (size_t)json_integer_value(v);
	return true;
}

static int
plan_line(struct kk_hash_result *res, json_t *o)
{
	struct kk_hash_file *f;
	json_t *dev = json_object_get(o, KW_DEV);
	json_t *ino = json_object_get(o, KW_INO);
	json_t *size = json_object_get(o, KW_SIZE);
	json_t *pids = json_object_get(o, KW_PIDS);
	json_t *npids = json_object_get(o, KW_NPIDS);
	const char *exe = json_string_value(json_object_get(o, KW_EXE));

	json_t *p;
	size_t i;

	/*
	 * Numbered in order, each once, and as file_line makes them: what
	 * the parent keeps of a worker's word has the worker's own bounds.
	 */
	if (json_integer_value(json_object_get(o, KW_FILE)) !=
	    (json_int_t)res->n ||
	    !json_is_integer(dev) || !json_is_integer(ino) ||
	    !json_is_integer(size) || !json_is_array(pids) ||
	    json_array_size(pids) > LINE_PIDS || !json_is_integer(npids) ||
	    exe == NULL || strlen(exe) > 4 * EXE_LINE_RAW ||
	    res->n >= FILES_MAX)
		return -EBADMSG;
	json_array_foreach(pids, i, p)
		if (!json_is_integer(p) || json_integer_value(p) <= 0 ||
		    json_integer_value(p) > INT_MAX)
			return -EBADMSG;
	if (kk_grow(&res->v, &res->cap, res->n, sizeof(*res->v), 64,
	    FILES_MAX) < 0)
		return -ENOMEM;
	f = &res->v[res->n];
	memset(f, 0, sizeof(*f));
	f->id.dev = (uint64_t)json_integer_value(dev);
	f->id.ino = (uint64_t)json_integer_value(ino);
	f->size = (uint64_t)json_integer_value(size);
	f->npids = (size_t)json_integer_value(npids);
	if ((f->exe = strdup(exe)) == NULL)
		return -ENOMEM;
	f->pids = json_incref(pids);
	res->n++;
	return 0;
}

int
kk_hash_result_line(struct kk_hash_result *res, const char *line, size_t len)
{
	struct kk_hash_file *f;
	const char *sha, *why;
	json_error_t jerr;
	json_t *o;
	size_t idx;
	int r = -EBADMSG;

	/* nothing larger is given to jansson (see KD_JOB_LINE_VALUES) */
	o = kk_json_few_values(line, len, LINE_VALUES) ? json_loadb(line, len,
	    JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!json_is_object(o))
		goto out;
	if (json_object_get(o, KW_FILE) != NULL) {
		r = plan_line(res, o);
	} else if (get_idx(o, KW_BEGIN, res, &idx)) {
		res->v[idx].begun = true;
		r = 0;
	} else if (get_idx(o, KW_DONE, res, &idx)) {
		f = &res->v[idx];
		sha = json_string_value(json_object_get(o, KW_SHA256));
		why = json_string_value(json_object_get(o, KW_SKIPPED));
		if (f->done || (sha == NULL) == (why == NULL))
			goto out;
		if (sha != NULL) {
			if (strlen(sha) != 64 ||
			    strspn(sha, "0123456789abcdef") != 64)
				goto out;
			memcpy(f->sha256, sha, 65);
		} else if (strlen(why) > 4 * WHY_MAX) {
			goto out;
		} else if ((f->why = strdup(why)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		f->done = true;
		r = 0;
	} else if (json_is_true(json_object_get(o, KW_END))) {
		res->ended = true;
		r = 0;
	}
out:
	json_decref(o);
	return r;
}

void
kk_hash_result_close(struct kk_hash_result *res, const char *why_reading,
    const char *why_pending)
{
	size_t i;

	for (i = 0; i < res->n; i++) {
		if (res->v[i].done)
			continue;
		res->v[i].why = strdup(res->v[i].begun ? why_reading :
		    why_pending);
		res->v[i].done = true;
	}
}

int
kk_hash_result_match(const struct kk_hash_result *res, const char *sha,
    struct kk_file_id **ids, size_t *n)
{
	struct kk_file_id *v;
	size_t i, k = 0;

	*ids = NULL;
	*n = 0;
	if ((v = calloc(res->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < res->n; i++)
		if (res->v[i].sha256[0] != '\0' &&
		    strcasecmp(res->v[i].sha256, sha) == 0)
			v[k++] = res->v[i].id;
	*ids = v;
	*n = k;
	return 0;
}

json_t *
kk_hash_result_unhashed(const struct kk_hash_result *res, size_t max)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < res->n; i++) {
		const struct kk_hash_file *f = &res->v[i];

		if (f->sha256[0] != '\0')
			continue;
		if (json_array_size(a) >= max)
			break;
		json_array_append_new(a, json_pack("{s:o, s:I, s:O, s:I, s:s}",
		    KW_EXE, kk_json_str(f->exe), KW_SIZE, (json_int_t)f->size,
		    KW_PIDS, f->pids, KW_NPIDS, (json_int_t)f->npids,
		    KW_WHY, f->why ? f->why : "no answer"));
	}
	return a;
}

size_t
kk_hash_result_count(const struct kk_hash_result *res, bool hashed)
{
	size_t i, k = 0;

	for (i = 0; i < res->n; i++)
		if ((res->v[i].sha256[0] != '\0') == hashed)
			k++;
	return k;
}

void
kk_hash_result_free(struct kk_hash_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++) {
		free(res->v[i].exe);
		free(res->v[i].why);
		json_decref(res->v[i].pids);
	}
	free(res->v);
	memset(res, 0, sizeof(*res));
}
