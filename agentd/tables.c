/*
 * The nftables enforcer: kakurid's tables, put in place as one batch and
 * read back (nft.c), under their own name where they can be and under a
 * fallback name where another process holds it.  The first enforcer of
 * the quarantine (quarantine.c); the tamper watch there restores them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "enforcer.h"
#include "log.h"
#include "tables.h"

void
kd_tables_spec(struct kd *d, enum kk_mode mode, const char *episode,
    const char *name, struct kk_nft_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->mode = mode;
	spec->policy = d->policy;
	spec->own_uid_known = d->own_known;
	spec->own_uid = d->own_uid;
	spec->own_gid = d->own_gid;
	spec->table_flags = d->table_flags;
	/*
	 * A fallback is always kakurid's owner table: no other process can
	 * swap it for one of its own, as it did with the name it replaces.
	 * It vanishes with kakurid where persist is missing.
	 */
	if (strcmp(name, KK_TABLE_NAME) != 0)
		spec->table_flags |= KK_NFT_F_OWNER;
	spec->no_bridge = d->no_bridge;
	if (!d->netdev_unsupported && !d->netdev_failed) {
		spec->netdevs = (const char (*)[KK_NFT_IFNAME])d->netdevs.name;
		spec->nnetdevs = d->netdevs.n;
		spec->ipdevs = (const char (*)[KK_NFT_IFNAME])d->netdevs.ipname;
		spec->nipdevs = d->netdevs.nip;
	}
	snprintf(spec->episode, sizeof(spec->episode), "%s", episode);
	snprintf(spec->name, sizeof(spec->name), "%s", name);
	/*
	 * The block lists in force hold in every mode.  A drill's table has
	 * none (drill.c takes them off its spec, and rules.c builds none
	 * for a drill spec): kakurid's own table keeps enforcing them.
	 */
	spec->ipsets = d->blocklists.ipsets;
	spec->nipsets = d->blocklists.nipsets;
	spec->log_group = (uint16_t)d->policy->block_log_group;
	spec->log_rate = (uint32_t)d->policy->block_log_rate;
	spec->log_unit = (uint32_t)d->policy->block_log_unit;
}

/* The name kakurid's tables have now. */
const char *
kd_tables_name(const struct kd *d)
{
	return d->table_name[0] ? d->table_name : KK_TABLE_NAME;
}

bool
kd_tables_own_name(const struct kd *d)
{
	return strcmp(kd_tables_name(d), KK_TABLE_NAME) == 0;
}

/*
 * Apply under one name.  Where the kernel lacks NFT_TABLE_F_PERSIST
 * (Linux < 6.9) the owner flag alone would take the table down with
 * kakurid, so it falls back to no flags and relies on the monitor; where
 * it has no nftables bridge family, isolation goes on without the bridge
 * table and is never reported as verified.
 */
static int
apply_named(struct kd *d, enum kk_mode mode, const char *episode,
    const char *name)
{
	struct kk_nft_spec spec;
	int err;

	kd_tables_spec(d, mode, episode, name, &spec);
	err = kk_nft_apply(&d->nft, &spec);
	if (err == -EOPNOTSUPP && d->table_flags != 0 &&
	    d->nft.err_family != NFPROTO_BRIDGE) {
		kk_log(LOG_WARNING, KK_MID_APPLY,
		    "kernel refused table flags owner+persist (%s); falling back to the tamper monitor",
		    d->nft.err);
		d->table_flags = 0;
		d->persist_supported = false;
		kd_tables_spec(d, mode, episode, name, &spec);
		err = kk_nft_apply(&d->nft, &spec);
	}
	if (err < 0 && d->nft.err_family == NFPROTO_BRIDGE &&
	    (err == -EOPNOTSUPP || err == -ENOENT || err == -EAFNOSUPPORT)) {
		kk_log(LOG_CRIT, KK_MID_APPLY,
		    "kernel refused the bridge table (%s): bridged traffic is NOT cut off; isolating without it",
		    d->nft.err);
		d->no_bridge = true;
		kd_tables_spec(d, mode, episode, name, &spec);
		err = kk_nft_apply(&d->nft, &spec);
	}
	if (err < 0 && d->nft.err_family == NFPROTO_NETDEV) {
		/*
		 * No egress hook (before Linux 5.16): for good.  Anything
		 * else (a device gone between the look and the commit, which
		 * kernels before 6.16 refuse with ENOENT) only this time:
		 * the timer tries again with the devices there are then.
		 */
		if (err == -EOPNOTSUPP || err == -EAFNOSUPPORT)
			d->netdev_unsupported = true;
		else
			d->netdev_failed = true;
		kk_log(LOG_CRIT, KK_MID_APPLY,
		    "kernel refused the netdev table (%s%s): frames of AF_PACKET sockets and of devices stacked into other namespaces are NOT cut off; isolating without it%s",
		    d->nft.err, d->netdev_unsupported ?
		    "; its egress hook needs Linux 5.16" : "",
		    d->netdev_unsupported || d->ev == NULL ? "" :
		    " and trying again in 1 s");
		kd_tables_spec(d, mode, episode, name, &spec);
		err = kk_nft_apply(&d->nft, &spec);
	}
	return err;
}

void
kd_tables_free(struct kd *d)
{
	kd_netdevs_free(&d->netdevs);
}

#define FALLBACK_TRIES	4	/* fresh random names per apply */

/*
 * The name to try at step i: kakurid's own, kakuri_fallback, the random
 * name in use, then fresh random ones.  Another process can read a name
 * from the kernel and take it: one it holds is not tried again.
 */
static int
candidate(struct kd *d, int i, const char **name)
{
	char hex[KK_EPISODE_HEX + 1];
	int err;

	if (i == 0 || i == 1) {
		*name = i == 0 ? KK_TABLE_NAME : KK_FALLBACK_NAME;
		return 0;
	}
	if (i > 2 || d->fallback_name[0] == '\0') {
		if ((err = kk_episode_new(hex)) < 0)
			return err;
		snprintf(d->fallback_name, sizeof(d->fallback_name), "%s_%.*s",
		    KK_FALLBACK_NAME, KK_FALLBACK_HEX, hex);
	}
	*name = d->fallback_name;
	return 0;
}

/*
 * Put the tables into mode: one atomic batch, then read back.  If another
 * process holds the name (an owner table of its own: a root process can
 * swap one in, in the same transaction that deletes kakurid's table, where
 * persist is missing), the same tables go in under a fallback name at
 * once, and the batch removes kakurid's tables under its other names.
 */
/* the last verify's answer, until the next apply: its outcome says it */
static int verify_err;

static int
tables_apply(struct kd *d, enum kk_mode mode, const char *episode)
{
	unsigned long long t0 = kd_now_usec();
	const char *name = KK_TABLE_NAME;
	int i, err = -EPERM;

	/* the devices there are now; a list that failed stays dirty */
	d->netdev_failed = false;
	d->netdevs_dirty = true;
	if ((err = kd_netdevs_gather(&d->links, &d->netdevs)) < 0)
		return err;
	err = -EPERM;
	if (d->nft.scan_incomplete) {
		kk_log(LOG_WARNING, KK_MID_APPLY,
		    "old fallback tables may be left over: %s", d->nft.err);
		d->nft.scan_incomplete = false;
	}
	for (i = 0; err == -EPERM && i < 3 + FALLBACK_TRIES; i++) {
		if ((err = candidate(d, i, &name)) < 0)
			break;
		err = apply_named(d, mode, episode, name);
		if (err == -EPERM && i == 0)
			snprintf(d->held_err, sizeof(d->held_err), "%.150s",
			    d->nft.err);
	}
	if (err == 0) {
		snprintf(d->table_name, sizeof(d->table_name), "%s", name);
		d->netdevs_dirty = false;
		verify_err = 0;		/* read back as applied */
	}
	if (err == 0 && kd_tables_own_name(d))
		d->fallback_name[0] = '\0';
	d->last_apply_usec = kd_now_usec() - t0;
	return err;
}

static int
tables_verify(struct kd *d, enum kk_mode mode, const char *episode)
{
	struct kk_nft_spec spec;

	kd_tables_spec(d, mode, episode, kd_tables_name(d), &spec);
	verify_err = kk_nft_verify(&d->nft, &spec);
	return verify_err;
}

/*
 * What the kernel refused of the tables while quarantined, in words
 * joined by "; "; false if nothing: the bridge table (bridged traffic),
 * the netdev table while isolated (AF_PACKET frames, stacked devices).
 */
bool
kd_tables_refused(const struct kd *d, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (d->state.mode == KK_MODE_OPEN)
		return false;
	if (d->no_bridge)
		n += (size_t)snprintf(buf, len, "bridged traffic: the kernel "
		    "has no nftables bridge family");
	if (d->state.mode == KK_MODE_ISOLATED &&
	    (d->netdev_unsupported || d->netdev_failed) && n < len)
		snprintf(buf + n, len - n, "%sframes of AF_PACKET sockets and "
		    "stacked devices: the kernel refused the netdev table",
		    n ? "; " : "");
	return buf[0] != '\0';
}

/*
 * How the tables hold: not verified (the last look), or applied without
 * a table the kernel refused.  Applied without them, the receipt said
 * "done" and nothing more, and the CSIRT believed a cut that kernels
 * before 5.16 do not make whole.
 */
static void
tables_outcome(struct kd *d, struct kd_outcome *out)
{
	out->result = KD_ENF_APPLIED;
	out->reason[0] = out->detail[0] = '\0';
	if (verify_err < 0) {
		out->result = KD_ENF_DEGRADED;
		snprintf(out->reason, sizeof(out->reason), "not-verified");
		snprintf(out->detail, sizeof(out->detail), "%s",
		    strerror(-verify_err));
		return;
	}
	if (kd_tables_refused(d, out->detail, sizeof(out->detail))) {
		out->result = KD_ENF_DEGRADED;
		snprintf(out->reason, sizeof(out->reason), "table-refused");
	}
}

const struct kd_enforcer kd_tables_enforcer = {
	.name = "nftables",
	.apply = tables_apply,
	.verify = tables_verify,
	.outcome = tables_outcome,
	/* no release: applied open, the table drops nothing (enforcer.h) */
};
