/*
 * kakurictl reports DIR: what the collector stored (DIR/index.jsonl), each
 * report's signature verified again with the key its agent connected
 * with (DIR/<agent>/identity.pem, whose hash is the agent id) and its
 * bytes against the SHA-256 the collector acked.  Exit 1 if any does not
 * hold: a CSIRT must not act on a report that was changed on disk.
 *
 * --drills: the drill reports, checked the same way, summed up per host
 * and overall (drillsum.c); a report that does not verify is named and
 * left out of the figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "commands.h"
#include "ctl.h"
#include "drillsum.h"
#include "kakuri.h"
#include "options.h"
#include "output.h"
#include "report.h"
#include "sign.h"
#include "wire.h"

/*
 * The longest index line taken (the collector writes under 1 KiB): the
 * index is read a line at a time, whatever its size, so that one agent's
 * lines, however many or long, cannot keep the others' from being read.
 */
#define INDEX_LINE_MAX	(64U << 10)

struct filter {
	const char *agent;		/* an id or its first characters */
	const char *type;
	char since[40];			/* RFC 3339 UTC, compared as text */
};

/* --type: one of the report types */
static int
take_type(char *value, void *filter)
{
	struct filter *f = filter;

	if (!kk_report_type_ok(value))
		return EX_USAGE;
	f->type = value;
	return EX_DONE;
}

/* --since: RFC 3339 (as stored: UTC, "Z") or seconds since the epoch. */
static int
take_since(char *value, void *filter)
{
	struct filter *f = filter;
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno == 0 && end != value && *end == '\0' && v >= 0)
		return kk_rfc3339((time_t)v, f->since, sizeof(f->since)) < 0 ?
		    EX_USAGE : EX_DONE;
	if (strlen(value) < 20 || strlen(value) >= sizeof(f->since) ||
	    value[4] != '-' || value[10] != 'T')
		return EX_USAGE;
	snprintf(f->since, sizeof(f->since), "%s", value);
	return EX_DONE;
}

static bool
wanted(const struct filter *f, json_t *line)
{
	const char *agent = str_or(line, KW_AGENT, "");
	const char *type = str_or(line, KW_TYPE, "");
	const char *time = str_or(line, KW_TIME, "");

	if (f->agent && strncmp(agent, f->agent, strlen(f->agent)) != 0)
		return false;
	if (f->type && strcmp(type, f->type) != 0)
		return false;
	return f->since[0] == '\0' || strcmp(time, f->since) >= 0;
}

/*
 * The stored report of an index line, checked: its payload, or NULL and
 * why.  The file name comes from the agent id and report id, never from
 * the index line's own path.
 */
static json_t *
check(const char *dir, json_t *line, const char **why)
{
	const char *agent = str_or(line, KW_AGENT, "");
	const char *id = str_or(line, KW_ID, "");
	char path[PATH_MAX], sha[65], kid[KK_AGENT_ID_HEX + 1];
	EVP_PKEY *key = NULL;
	json_t *p = NULL;
	char *buf = NULL;
	size_t len;

	if (!kk_is_hex(agent, strlen(agent), KK_AGENT_ID_HEX) ||
	    !kk_is_hex(id, strlen(id), KK_EPISODE_HEX)) {
		*why = "index line without an agent id and report id";
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s/identity.pem", dir, agent);
	if (kk_key_load_public(path, &key) < 0 || kk_key_id(key, kid) < 0 ||
	    strcmp(kid, agent) != 0) {
		*why = "the agent's identity.pem is missing or not its key";
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s/%s.json", dir, agent, id);
	if (kk_read_file(path, KK_REPORT_MAX, &buf, &len) < 0) {
		*why = "the stored report is missing";
		goto out;
	}
	kk_sha256_hex(buf, len, sha);
	if (strcmp(sha, str_or(line, KW_SHA256, "")) != 0) {
		*why = "the stored report is not what was acked (SHA-256)";
		goto out;
	}
	if ((p = kk_report_open((const uint8_t *)buf, len, key, agent,
	    why)) != NULL && strcmp(str_or(p, KW_ID, ""), id) != 0) {
		*why = "the stored report carries another id";
		json_decref(p);
		p = NULL;
	}
out:
	free(buf);
	EVP_PKEY_free(key);
	return p;
}

/*
 * The reports already listed, by SHA-256 of agent and report id (128 bits
 * kept): the collector indexes a report again when the agent resends it
 * after its first line scrolled out of the tail it looks at (an ack lost,
 * the agent offline for long), and a report is one report however often
 * its line stands in the index -- counted twice, a drill's figures lie.
 */
struct seen {
	uint8_t (*k)[16];
	size_t n, cap;
};

static size_t
slot_of(const uint8_t k[16], size_t cap)
{
	uint64_t v;

	memcpy(&v, k, sizeof(v));
	return (size_t)(v % cap);
}

/* true if agent/id was seen before; false (and now seen) otherwise */
static bool
seen_before(struct seen *s, const char *agent, const char *id)
{
	uint8_t h[32], (*k)[16];
	size_t i, j, cap;
	char both[KK_AGENT_ID_HEX + KK_EPISODE_HEX + 2];

	snprintf(both, sizeof(both), "%s/%s", agent, id);
	kk_sha256(both, strlen(both), h);
	h[0] |= 1;		/* all zeros marks a free slot */
	if (2 * (s->n + 1) > s->cap) {
		cap = s->cap ? 2 * s->cap : 1024;
		if ((k = calloc(cap, sizeof(*k))) == NULL)
			return false;	/* listed twice rather than not at all */
		for (i = 0; i < s->cap; i++) {
			if (s->k[i][0] == 0)
				continue;
			for (j = slot_of(s->k[i], cap); k[j][0] != 0;
			    j = (j + 1) % cap)
				;
			memcpy(k[j], s->k[i], 16);
		}
		free(s->k);
		s->k = k;
		s->cap = cap;
	}
	for (j = slot_of(h, s->cap); s->k[j][0] != 0; j = (j + 1) % s->cap)
		if (memcmp(s->k[j], h, 16) == 0)
			return true;
	memcpy(s->k[j], h, 16);
	s->n++;
	return false;
}

/* What to do with each wanted report: p its payload, or NULL and why. */
typedef int report_fn(void *arg, json_t *line, json_t *p, const char *why);

/*
 * The next line of in into line (INDEX_LINE_MAX bytes and a NUL): its
 * length, NULs and all; -1 at the end; -2 for a line too long, read to
 * its end and dropped.
 */
static long
index_line(FILE *in, char *line)
{
	size_t n = 0;
	bool over = false;
	int ch;

	while ((ch = getc_unlocked(in)) != EOF && ch != '\n') {
		if (n < INDEX_LINE_MAX)
			line[n++] = (char)ch;
		else
			over = true;
	}
	if (ch == EOF && n == 0)
		return -1;
	line[n] = '\0';
	return over ? -2 : (long)n;
}

/*
 * Every report of DIR's index that f wants, checked, to fn; *bad counts
 * the lines that are not JSON, too long, or do not verify.  EX_DONE, or EX_FAILED
 * if the index cannot be read or fn fails.
 */
static int
each_report(const char *dir, const struct filter *f, report_fn *fn,
    void *arg, unsigned long *bad)
{
	char path[PATH_MAX], *line = NULL;
	const char *why, *agent, *id;
	struct seen seen = { NULL, 0, 0 };
	struct stat st;
	FILE *in = NULL;
	json_t *o, *p;
	long n;
	int fd, r, ret = EX_FAILED;

	snprintf(path, sizeof(path), "%s/index.jsonl", dir);
	/* O_NONBLOCK: a FIFO in place of the index must not hang us */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			ret = EX_DONE;	/* nothing arrived yet */
		else
			fail_line("%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		fail_line("%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail_line("%s: not a regular file", path);
		close(fd);
		goto out;
	}
	if ((in = fdopen(fd, "r")) == NULL) {
		fail_line("%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if ((line = malloc(INDEX_LINE_MAX + 1)) == NULL) {
		fail_line("%s: out of memory", path);
		goto out;
	}
	while ((n = index_line(in, line)) != -1) {
		if (n == -2) {
			(*bad)++;
			fprintf(stderr, "%s: a line longer than %u KiB\n", path,
			    INDEX_LINE_MAX >> 10);
			continue;
		}
		if (n == 0)
			continue;
		o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(o)) {
			json_decref(o);
			(*bad)++;
			fprintf(stderr, "%s: a line that is not JSON\n", path);
			continue;
		}
		agent = str_or(o, KW_AGENT, "");
		id = str_or(o, KW_ID, "");
		if (kk_is_hex(agent, strlen(agent), KK_AGENT_ID_HEX) &&
		    kk_is_hex(id, strlen(id), KK_EPISODE_HEX) &&
		    seen_before(&seen, agent, id)) {
			json_decref(o);
			continue;
		}
		r = 0;
		if (wanted(f, o)) {
			why = "";
			if ((p = check(dir, o, &why)) == NULL)
				(*bad)++;
			r = fn(arg, o, p, why);
			json_decref(p);
		}
		json_decref(o);
		if (r < 0)
			goto out;
	}
	if (ferror(in)) {
		fail_line("%s: %s", path, strerror(errno));
		goto out;
	}
	ret = EX_DONE;
out:
	if (in != NULL)
		fclose(in);
	free(seen.k);
	free(line);
	return ret;
}

struct listing {
	bool json;
	unsigned long shown;
};

static int
show(void *arg, json_t *line, json_t *p, const char *why)
{
	struct listing *l = arg;
	/* a host name (64 bytes at most), each byte maybe escaped as \xHH */
	char time[40], type[24], agent[KK_AGENT_ID_HEX + 1], host[4 * 64 + 1];
	char id[40];
	char drill[40];
	json_t *o, *src;

	l->shown++;
	if (l->json) {
		o = json_pack("{s:O, s:b, s:s*, s:O*}", KW_REPORT, line,
		    KW_VERIFIED, p != NULL, KW_WHY, p ? NULL : why,
		    KW_PAYLOAD, p);
		print_json(o);
		json_decref(o);
		return 0;
	}
	/*
	 * What the agent wrote is its own text: cleaned of line breaks and
	 * escapes (no line can pass for another report), and taken from the
	 * verified payload when there is one, not from the index's copy.
	 */
	src = p != NULL ? p : line;
	/* a self-report made while a drill ran says which (verified only) */
	ctl_text(p != NULL ? json_object_get(p, KW_BODY) : NULL, KW_DRILL, "",
	    drill, sizeof(drill));
	/* the whole name: two long ones may differ only at the end */
	printf("%s  %-11s %.16s  %-20s seq %-6lld %s  %s%s%s%s%s\n",
	    ctl_text(src, KW_TIME, "?", time, sizeof(time)),
	    ctl_name(src, KW_TYPE, "?", type, sizeof(type)),
	    ctl_text(line, KW_AGENT, "?", agent, sizeof(agent)),
	    ctl_name(p != NULL ? json_object_get(p, KW_HOST) : line,
	    KW_HOSTNAME, "?", host, sizeof(host)),
	    (long long)json_integer_value(json_object_get(src, KW_SEQ)),
	    ctl_text(line, KW_ID, "?", id, sizeof(id)),
	    p ? "verified" : "NOT VERIFIED: ", p ? "" : why,
	    drill[0] ? "  (during drill " : "", drill, drill[0] ? ")" : "");
	return 0;
}

/* --drills: the verified drill reports summed up, the others named */
struct drills {
	struct drillsum *sum;
	json_t *problems;	/* one line each */
	unsigned long reports;
};

static int
add_drill(void *arg, json_t *line, json_t *p, const char *why)
{
	struct drills *d = arg;
	const char *host;
	char agent[80], id[80], text[512];

	d->reports++;
	if (p == NULL) {
		snprintf(text, sizeof(text), "report %s of %.16s: NOT "
		    "VERIFIED: %s", ctl_text(line, KW_ID, "?", id, sizeof(id)),
		    ctl_text(line, KW_AGENT, "?", agent, sizeof(agent)), why);
		fprintf(stderr, "kakurictl: %s\n", text);
		return json_array_append_new(d->problems, json_string(text));
	}
	/* what the agent signed, before what the collector's index says */
	host = json_string_value(json_object_get(json_object_get(p, KW_HOST),
	    KW_HOSTNAME));
	return drillsum_add(d->sum, str_or(p, KW_AGENT, ""),
	    host ? host : str_or(line, KW_HOSTNAME, ""),
	    json_object_get(p, KW_BODY));
}

/* ms figure key of o (an object, or null) as text; "-" when null */
static const char *
figure(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return "-";
	return drill_ms_text(json_number_value(v), buf, len);
}

static long long
count_of(json_t *st, const char *key)
{
	return (long long)json_integer_value(json_object_get(st, key));
}

/* one line of the table: a host's figures, or the fleet's */
static void
stats_row(const char *name, const char *agent, json_t *st)
{
	char med[32], worst[32], revert[32], iso[80], rep[48];
	json_t *isolate = json_object_get(st, KW_ISOLATE_MS);

	snprintf(iso, sizeof(iso), "%s / %s",
	    figure(isolate, KW_MEDIAN, med, sizeof(med)),
	    figure(isolate, KW_WORST, worst, sizeof(worst)));
	if (json_is_number(json_object_get(st, KW_SHARE)))
		snprintf(rep, sizeof(rep), "%lld of %lld (%.0f%%)",
		    count_of(st, KW_REPORTED_IN_TIME), count_of(st, KW_NOTIFIED),
		    100 * json_number_value(json_object_get(st, KW_SHARE)));
	else
		snprintf(rep, sizeof(rep), "n/a");
	printf("%-20s %-16.16s %6lld %5lld %8lld  %-21s %5lld  %-17s %s\n",
	    name, agent, count_of(st, KW_COUNT), count_of(st, KW_LIVE),
	    count_of(st, KW_TABLETOP), iso, count_of(st, KW_LEAKS), rep,
	    figure(json_object_get(st, KW_REVERT_MS), KW_MEDIAN, revert,
	    sizeof(revert)));
}

/* the leaking probe targets of a host, on one line */
static void
leak_line(const char *name, const char *agent, json_t *st)
{
	char target[256];
	json_t *t;
	size_t i;

	if (count_of(st, KW_LEAKS) == 0)
		return;
	printf("  leaked on %s (%.16s): %lld drill(s)", name, agent,
	    count_of(st, KW_LEAKS));
	json_array_foreach(json_object_get(st, KW_LEAK_TARGETS), i, t) {
		kk_text_clean(target, sizeof(target), json_string_value(t),
		    strlen(json_string_value(t)));
		printf("%s%s", i ? ", " : ": ", target);
	}
	putchar('\n');
}

static void
print_drills(json_t *sum)
{
	char name[4 * 64 + 1], agent[80], all[32];
	json_t *h, *hosts = json_object_get(sum, KW_HOSTS);
	size_t i;

	printf("%-20s %-16s %6s %5s %8s  %-21s %5s  %-17s %s\n", "HOST",
	    "AGENT", "DRILLS", "LIVE", "TABLETOP", "ISOLATE MEDIAN/WORST",
	    "LEAKS", "REPORTED <5 MIN", "REVERT MEDIAN");
	json_array_foreach(hosts, i, h)
		stats_row(ctl_name(h, KW_HOSTNAME, "?", name, sizeof(name)),
		    ctl_text(h, KW_AGENT, "?", agent, sizeof(agent)), h);
	snprintf(all, sizeof(all), "all (%zu host%s)", json_array_size(hosts),
	    json_array_size(hosts) == 1 ? "" : "s");
	stats_row(all, "", json_object_get(sum, KW_OVERALL));
	json_array_foreach(hosts, i, h)
		leak_line(ctl_name(h, KW_HOSTNAME, "?", name, sizeof(name)),
		    ctl_text(h, KW_AGENT, "?", agent, sizeof(agent)), h);
}

static int
drills_summary(const char *dir, const struct filter *f, bool json)
{
	struct drills d = { .sum = drillsum_new(), .problems = json_array() };
	unsigned long bad = 0;
	json_t *sum = NULL;
	int ret = EX_FAILED;

	if (d.sum == NULL || d.problems == NULL)
		goto out;
	if ((ret = each_report(dir, f, add_drill, &d, &bad)) != EX_DONE)
		goto out;
	ret = EX_FAILED;
	if ((sum = drillsum_json(d.sum)) == NULL ||
	    json_object_set(sum, KW_PROBLEMS, d.problems) < 0) {
		fail_line("out of memory");
		goto out;
	}
	if (json)
		print_json(sum);
	else {
		print_drills(sum);
		printf("%lu drill report(s), %lu not verified\n", d.reports,
		    bad);
	}
	ret = bad > 0 ? EX_FAILED : EX_DONE;
out:
	json_decref(sum);
	json_decref(d.problems);
	drillsum_free(d.sum);
	return ret;
}

int
cmd_reports(struct ctl *c, int argc, char **argv)
{
	struct filter f = { 0 };
	struct listing l = { .json = c->json };
	bool drills = false;
	const struct ctl_option opts[] = {
		CTL_FLAG("json", &l.json),
		CTL_TEXT("agent", &f.agent),
		CTL_CALL("type", take_type, &f),
		CTL_CALL("since", take_since, &f),
		CTL_FLAG("drills", &drills),
		CTL_OPTIONS_END,
	};
	unsigned long bad = 0;
	int first, ret;

	if ((ret = ctl_options(argc, argv, opts, 1, 1, &first)) != EX_DONE)
		return ret;
	if (drills) {
		if (f.type != NULL &&
		    strcmp(f.type, kk_report_type_name(KK_REPORT_DRILL)) != 0) {
			fail_line("--drills sums up the drill reports: "
			    "--type %s does not go with it", f.type);
			return EX_USAGE;
		}
		f.type = kk_report_type_name(KK_REPORT_DRILL);
		return drills_summary(argv[first], &f, l.json);
	}
	if ((ret = each_report(argv[first], &f, show, &l, &bad)) != EX_DONE)
		return ret;
	if (!l.json)
		printf("%lu report(s), %lu not verified\n", l.shown, bad);
	return bad > 0 ? EX_FAILED : EX_DONE;
}
