/*
 * kakurictl reports DIR: what the collector stored (DIR/index.jsonl), each
 * report's signature verified again with the key its agent connected
 * with (DIR/<agent>/identity.pem, whose hash is the agent id) and its
 * bytes against the SHA-256 the collector acked.  Exit 1 if any does not
 * hold: a CSIRT must not act on a report that was changed on disk.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "commands.h"
#include "ctl.h"
#include "kakuri.h"
#include "output.h"
#include "report.h"
#include "sign.h"
#include "wire.h"

#define INDEX_MAX	(1024U << 20)	/* a large fleet's year, and a bound */

struct filter {
	const char *agent;		/* an id or its first characters */
	const char *type;
	char since[40];			/* RFC 3339 UTC, compared as text */
};

/* --since: RFC 3339 (as stored: UTC, "Z") or seconds since the epoch. */
static int
parse_since(const char *s, char *out, size_t len)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == 0 && end != s && *end == '\0' && v >= 0)
		return kk_rfc3339((time_t)v, out, len);
	if (strlen(s) < 20 || strlen(s) >= len || s[4] != '-' || s[10] != 'T')
		return -EINVAL;
	snprintf(out, len, "%s", s);
	return 0;
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

static void
show(json_t *line, json_t *p, const char *why, bool json)
{
	json_t *o;

	if (json) {
		o = json_pack("{s:O, s:b, s:s*, s:O*}", KW_REPORT, line,
		    KW_VERIFIED, p != NULL, KW_WHY, p ? NULL : why,
		    KW_PAYLOAD, p);
		print_json(o);
		json_decref(o);
		return;
	}
	printf("%s  %-11s %.16s  %-20.20s seq %-6lld %s  %s%s\n",
	    str_or(line, KW_TIME, "?"), str_or(line, KW_TYPE, "?"),
	    str_or(line, KW_AGENT, "?"), str_or(line, KW_HOSTNAME, "?"),
	    (long long)json_integer_value(json_object_get(line, KW_SEQ)),
	    str_or(line, KW_ID, "?"), p ? "verified" : "NOT VERIFIED: ",
	    p ? "" : why);
}

int
cmd_reports(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "agent", required_argument, NULL, 'a' },
		{ "type", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct filter f = { 0 };
	char path[PATH_MAX], *text = NULL, *line, *save = NULL;
	const char *dir, *why;
	unsigned long shown = 0, bad = 0;
	bool json = c->json;
	json_t *o, *p;
	size_t len;
	int ch, r, ret = EX_USAGE;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'J': json = true; break;
		case 'a': f.agent = optarg; break;
		case 't':
			if (!kk_report_type_ok(optarg))
				goto out;
			f.type = optarg;
			break;
		case 's':
			if (parse_since(optarg, f.since, sizeof(f.since)) < 0)
				goto out;
			break;
		default: goto out;
		}
	}
	if (optind != argc - 1)
		goto out;
	dir = argv[optind];
	ret = EX_FAILED;
	snprintf(path, sizeof(path), "%s/index.jsonl", dir);
	if ((r = kk_read_file(path, INDEX_MAX, &text, &len)) < 0) {
		if (r != -ENOENT) {
			fail_line("%s: %s", path, strerror(-r));
			goto out;
		}
		text = NULL;	/* nothing arrived yet */
	}
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(o)) {
			json_decref(o);
			bad++;
			fprintf(stderr, "%s: a line that is not JSON\n", path);
			continue;
		}
		if (wanted(&f, o)) {
			why = "";
			p = check(dir, o, &why);
			if (p == NULL)
				bad++;
			show(o, p, why, json);
			json_decref(p);
			shown++;
		}
		json_decref(o);
	}
	if (!json)
		printf("%lu report(s), %lu not verified\n", shown, bad);
	ret = bad > 0 ? EX_FAILED : EX_DONE;
out:
	free(text);
	return ret;
}
