/*
 * kakurictl reports DIR: what the collector stored (DIR/index.jsonl), each
 * report's signature verified again with the key its agent connected
 * with (DIR/<agent>/identity.pem, whose hash is the agent id) and its
 * bytes against the SHA-256 the collector acked.  Exit 1 if any does not
 * hold: a CSIRT must not act on a report that was changed on disk.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "commands.h"
#include "ctl.h"
#include "kakuri.h"
#include "options.h"
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
	struct filter f = { 0 };
	bool json = c->json;
	const struct ctl_option opts[] = {
		CTL_FLAG("json", &json),
		CTL_TEXT("agent", &f.agent),
		CTL_CALL("type", take_type, &f),
		CTL_CALL("since", take_since, &f),
		CTL_OPTIONS_END,
	};
	char path[PATH_MAX], *text = NULL, *line, *save = NULL;
	const char *dir, *why;
	unsigned long shown = 0, bad = 0;
	json_t *o, *p;
	size_t len;
	int first, r, ret;

	if ((ret = ctl_options(argc, argv, opts, 1, 1, &first)) != EX_DONE)
		goto out;
	dir = argv[first];
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
