/*
 * block and unblock (DESIGN 4, issue 12): an IOC block list in force, or
 * out of it, through one batch of the tables (tables.c), read back, then
 * on disk.  A list that does not apply or cannot be saved leaves the
 * lists in force, the tables and the files as they were.
 *
 * A new version of a list replaces the old one in the same transaction
 * that adds it (its sets are named after the version: the new set is
 * filled, the rules point at it, the old set goes), so there is no moment
 * without enforcement.  A version not newer than the one in force is
 * stale: a command signed earlier cannot bring an old list back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "act.h"
#include "blocklist.h"
#include "daemon.h"
#include "log.h"
#include "run.h"
#include "tables.h"
#include "wire.h"

/* The tables with d->blocklists as they are now, in the current mode. */
static int
tables_again(struct kd *d)
{
	return kd_tables_enforcer.apply(d, d->state.mode, d->state.episode);
}

static json_t *
list_json(const struct kd_blocklist *b)
{
	json_t *ports = json_array();
	size_t i;

	for (i = 0; ports != NULL && i < b->nports; i++)
		json_array_append_new(ports, json_integer(b->ports[i]));
	return json_pack("{s:s, s:I, s:s, s:o*, s:I, s:I}", KW_SET, b->name,
	    KW_VERSION, (json_int_t)b->version, KW_DIRECTION,
	    kd_blocklist_dir_name(b->dir), KW_PORTS, ports,
	    KW_ENTRIES, (json_int_t)b->entries,
	    KW_RANGES, (json_int_t)kd_blocklist_ranges(b));
}

/* b in force in place of its namesake: 0, or r failed and nothing changed. */
static int
block_put(struct run *r, struct kd_blocklist *b, uint32_t *replaced)
{
	struct kd *d = r->d;
	struct kd_blocklist *old, *back;
	int err;

	*replaced = 0;
	if ((err = kd_blocklists_put(&d->blocklists, b, &old)) < 0) {
		kd_run_reject(r, KE_TOO_LARGE, err == -ENOSPC ?
		    "too many block lists in force (unblock one first)" :
		    "the block lists in force would hold too many ranges");
		return err;
	}
	if ((err = tables_again(d)) < 0) {
		kd_run_fail(r, KE_APPLY_FAILED, "%s", d->nft.err);
		goto undo;
	}
	if ((err = kd_blocklist_save(d->blocklist_dir, b)) < 0) {
		kd_run_fail(r, KE_SAVE_FAILED, "%s/%s.list: %s",
		    d->blocklist_dir, b->name, strerror(-err));
		goto undo;
	}
	if (old != NULL)
		*replaced = old->version;
	kd_blocklist_free(old);
	return 0;
undo:
	/* the lists as they were, and the tables after them */
	if (old != NULL)
		kd_blocklists_put(&d->blocklists, old, &back);
	else
		back = kd_blocklists_take(&d->blocklists, b->name);
	if (tables_again(d) < 0)
		kk_log(LOG_ERR, KK_MID_APPLY, "block lists: tables not back "
		    "as they were: %s", d->nft.err);
	(void)back;	/* b itself: the caller frees it */
	return err;
}

int
kd_act_block(struct run *r)
{
	struct kd *d = r->d;
	struct kd_blocklist *b, *cur;
	uint32_t replaced;
	char why[160] = "";
	int64_t gone;
	int err;

	err = kd_blocklist_parse(r->args, d->policy, &b, why, sizeof(why));
	if (err == -ENOMEM) {
		kd_run_fail(r, KE_IO, "out of memory");
		return err;
	}
	if (err < 0) {
		kd_run_reject(r, err == -E2BIG ? KE_TOO_LARGE : KE_MALFORMED,
		    why);
		return err;
	}
	b->signed_at = r->have_cmd && r->cmd.iat > 0 ? r->cmd.iat : 0;
	/*
	 * A list of this name was ended by an unblock: a block signed before
	 * that (a second copy of an old version, held back) does not bring
	 * it back.  Once no command signed before the unblock can be valid
	 * any more, the record of it goes.
	 */
	if (kd_blocklist_gone_load(d->blocklist_dir, b->name, &gone) == 0) {
		if (b->signed_at < gone) {
			snprintf(why, sizeof(why), "signed before %s was "
			    "unblocked", b->name);
			kd_run_reject(r, KE_STALE, why);
			kd_blocklist_free(b);
			return -ESTALE;
		}
		if ((int64_t)time(NULL) > gone + d->policy->max_lifetime +
		    d->policy->clock_skew)
			(void)kd_blocklist_gone_drop(d->blocklist_dir, b->name);
	}
	cur = kd_blocklists_find(&d->blocklists, b->name);
	if (cur != NULL && b->version <= cur->version) {
		snprintf(why, sizeof(why), "version %u of %s is not newer than "
		    "version %u in force", b->version, b->name, cur->version);
		kd_run_reject(r, KE_STALE, why);
		kd_blocklist_free(b);
		return -ESTALE;
	}
	if ((err = block_put(r, b, &replaced)) < 0) {
		kd_blocklist_free(b);
		return err;
	}
	kd_run_committed(r);
	snprintf(r->detail, sizeof(r->detail), "%s v%u: %zu entries, %zu "
	    "IPv4 and %zu IPv6 ranges in force%s", b->name, b->version,
	    b->entries, b->r[0].n, b->r[1].n, replaced ? " (replaced an "
	    "older version)" : "");
	r->output = list_json(b);
	if (r->output != NULL && replaced)
		json_object_set_new(r->output, KW_REPLACED,
		    json_integer(replaced));
	kk_log(LOG_NOTICE, KK_MID_APPLY, "block list %s", r->detail);
	return 0;
}

int
kd_act_unblock(struct run *r)
{
	struct kd *d = r->d;
	struct kd_blocklist *b, *back;
	const char *key, *name = NULL;
	char why[160];
	json_int_t ver = 0;
	json_t *v;
	int err;

	json_object_foreach(r->args, key, v) {
		if (strcmp(key, KW_SET) == 0 && json_is_string(v))
			name = json_string_value(v);
		else if (strcmp(key, KW_VERSION) == 0 && json_is_integer(v) &&
		    json_integer_value(v) > 0)
			ver = json_integer_value(v);
		else {
			kd_run_reject(r, KE_MALFORMED, "unblock takes args.set "
			    "and optionally args.version");
			return -EINVAL;
		}
	}
	if (name == NULL || (b = kd_blocklists_find(&d->blocklists, name)) ==
	    NULL) {
		kd_run_reject(r, KE_UNKNOWN_SET, name ? "no block list of "
		    "that name is in force" : "unblock needs args.set");
		return -ENOENT;
	}
	/*
	 * A token for one version does not end a later one; nor does one
	 * that names no version and was signed before the list in force was
	 * (one held back, meant for an earlier version).  One naming the
	 * version in force ends it, whatever the signers' clocks say.
	 */
	if (ver != 0 && ver != (json_int_t)b->version) {
		kd_run_reject(r, KE_STALE, "the command names another version "
		    "than the one in force");
		return -ESTALE;
	}
	if (ver == 0 && r->have_cmd && b->signed_at > 0 &&
	    r->cmd.iat < b->signed_at) {
		snprintf(why, sizeof(why), "the command was signed before "
		    "version %u of %s in force was", b->version, b->name);
		kd_run_reject(r, KE_STALE, why);
		return -ESTALE;
	}
	b = kd_blocklists_take(&d->blocklists, name);
	if ((err = tables_again(d)) < 0) {
		kd_run_fail(r, KE_APPLY_FAILED, "%s", d->nft.err);
		kd_blocklists_put(&d->blocklists, b, &back);
		return err;
	}
	/*
	 * When it was ended, written before its file goes: a crash between
	 * the two must not lose it (see kd_act_block).
	 */
	if (r->have_cmd && (err = kd_blocklist_gone_save(d->blocklist_dir,
	    b->name, r->cmd.iat)) < 0)
		kk_log(LOG_ERR, KK_MID_APPLY, "%s/%s.gone: %s: a block of it "
		    "signed before this unblock would not be refused",
		    d->blocklist_dir, b->name, strerror(-err));
	if ((err = kd_blocklist_unlink(d->blocklist_dir, b->name)) < 0) {
		/* in force again, as on disk: a restart must not differ */
		kd_run_fail(r, KE_SAVE_FAILED, "%s/%s.list: %s",
		    d->blocklist_dir, b->name, strerror(-err));
		kd_blocklists_put(&d->blocklists, b, &back);
		if (tables_again(d) < 0)
			kk_log(LOG_ERR, KK_MID_APPLY, "block lists: tables not "
			    "back as they were: %s", d->nft.err);
		return err;
	}
	kd_run_committed(r);
	snprintf(r->detail, sizeof(r->detail), "%s v%u out of force", b->name,
	    b->version);
	r->output = list_json(b);
	kk_log(LOG_NOTICE, KK_MID_APPLY, "block list %s", r->detail);
	kd_blocklist_free(b);
	return 0;
}

json_t *
kd_blocklists_status(struct kd *d)
{
	struct kk_nft_block_count c[KD_BLOCK_LISTS_MAX];
	const struct kd_blocklists *ls = &d->blocklists;
	json_t *a = json_array(), *o;
	bool counted;
	size_t i;

	for (i = 0; i < ls->n; i++)
		c[i].list = ls->list[i]->name;
	counted = ls->n > 0 && kk_nft_block_counters(&d->nft,
	    kd_tables_name(d), c, ls->n) == 0;
	for (i = 0; a != NULL && i < ls->n; i++) {
		if ((o = list_json(ls->list[i])) == NULL)
			continue;
		if (counted)
			json_object_set_new(o, KW_PACKETS, json_integer(
			    (json_int_t)c[i].pkts));
		if (counted)
			json_object_set_new(o, KW_BYTES, json_integer(
			    (json_int_t)c[i].bytes));
		json_array_append_new(a, o);
	}
	return a;
}
