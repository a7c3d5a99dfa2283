/*
 * The interface watch of the quarantine: an interface moved to another
 * network namespace takes its traffic out of reach of kakurid's tables,
 * and one of a kind whose siblings bypass the hooks (macvlan, ipvlan...)
 * cannot be covered.  rtnetlink events say so at once (links.c); a
 * rescan catches what lost events hide.  Netlink says when events were
 * lost (ENOBUFS): the rescan then runs at once, and again a second later
 * while an interface is missing (the second dump decides); otherwise a
 * slow timer of its own rescans anyway, so that an idle kakurid does not
 * wake every second.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alerts.h"
#include "daemon.h"
#include "lean.h"
#include "linkwatch.h"
#include "log.h"
#include "nlreq.h"
#include "tables.h"
#include "wire.h"

#define LINKS_PERIOD_USEC	(1000ULL * 1000)	/* while a dump must be confirmed */
/*
 * Nothing lost, nothing missing.  The dump is also the only way to see
 * an XDP program attached (the kernel sends no link event for it): 10 s
 * is how long one can go unreported, for one dump of about 100 us.
 */
#define LINKS_IDLE_USEC		(10ULL * 1000 * 1000)
#define LINKS_IDLE_ACCURACY_USEC	(1000ULL * 1000)

/* The next rescan: usec from now, unless one is due sooner. */
static void
links_rescan_in(struct kd *d, uint64_t usec, uint64_t accuracy)
{
	uint64_t now, at;
	int on = 0;

	if (d->links_timer == NULL || sd_event_now(d->ev, CLOCK_MONOTONIC,
	    &now) < 0)
		return;
	if (sd_event_source_get_enabled(d->links_timer, &on) >= 0 &&
	    on != SD_EVENT_OFF && sd_event_source_get_time(d->links_timer,
	    &at) >= 0 && at <= now + usec)
		return;
	sd_event_source_set_time_accuracy(d->links_timer, accuracy);
	sd_event_source_set_time(d->links_timer, now + usec);
	sd_event_source_set_enabled(d->links_timer, SD_EVENT_ON);
}

/* re-applies for changed devices, at most one per this */
#define NETDEV_GAP_USEC		(100ULL * 1000)
/* a netdev table the kernel refused for a while: tried again after this */
#define NETDEV_RETRY_USEC	(1000ULL * 1000)
#define NETDEV_LOG_USEC		(1000ULL * 1000)	/* a log line at most per this */

static void links_changed(struct kd *d);

static int
on_netdev_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	links_changed(userdata);
	return 0;
}

/* The netdev timer, oneshot, at CLOCK_MONOTONIC usec (sooner stays). */
static void
netdev_timer_at(struct kd *d, uint64_t usec)
{
	uint64_t at;
	int on;

	if (d->netdev_timer == NULL) {
		if (sd_event_add_time(d->ev, &d->netdev_timer, CLOCK_MONOTONIC,
		    usec, KD_TIMER_ACCURACY_USEC, on_netdev_timer, d) < 0)
			kk_log(LOG_ERR, KK_MID_APPLY,
			    "netdev table: no retry timer");
		return;
	}
	if (sd_event_source_get_enabled(d->netdev_timer, &on) >= 0 &&
	    on != SD_EVENT_OFF &&
	    sd_event_source_get_time(d->netdev_timer, &at) >= 0 && at <= usec)
		return;
	sd_event_source_set_time(d->netdev_timer, usec);
	sd_event_source_set_enabled(d->netdev_timer, SD_EVENT_ONESHOT);
}

/*
 * While isolated, when the Ethernet devices differ from those the netdev
 * table hooks (or one of those went away since), the tables are put in
 * place again with the devices there are now.
 */
static void
links_changed(struct kd *d)
{
	struct kd_netdevs now = { 0 };
	uint64_t t = kd_now_usec();
	int err;

	if (d->state.mode != KK_MODE_ISOLATED || d->netdev_unsupported ||
	    d->ev == NULL)
		return;
	if (kd_netdevs_gather(&d->links, &now) < 0) {
		netdev_timer_at(d, t + NETDEV_RETRY_USEC);
		goto out;
	}
	if (!d->netdevs_dirty && !d->netdev_failed &&
	    kd_netdevs_same(&now, &d->netdevs))
		goto out;
	/* a storm of interface changes costs one apply per gap */
	if (t < d->netdev_apply_usec + NETDEV_GAP_USEC) {
		netdev_timer_at(d, d->netdev_apply_usec + NETDEV_GAP_USEC);
		goto out;
	}
	d->netdev_apply_usec = t;
	if (t >= d->netdev_log_usec + NETDEV_LOG_USEC) {
		d->netdev_log_usec = t;
		kk_log(LOG_NOTICE, KK_MID_APPLY,
		    "Ethernet or raw-IP devices changed (%zu now, %zu before): the tables are put in place again",
		    now.n + now.nip, d->netdevs.n + d->netdevs.nip);
	}
	if ((err = kd_tables_enforcer.apply(d, d->state.mode,
	    d->state.episode)) < 0)
		kk_log(LOG_ERR, KK_MID_APPLY,
		    "tables for the changed devices: %s", strerror(-err));
	if (err < 0 || d->netdev_failed)
		netdev_timer_at(d, t + NETDEV_RETRY_USEC);
out:
	kd_netdevs_free(&now);
}

bool
kd_netdev_covers(const struct kd *d)
{
	return d->state.mode == KK_MODE_ISOLATED && d->netdevs.n > 0 &&
	    !d->netdev_unsupported && !d->netdev_failed && !d->netdevs.over;
}

bool
kd_stacked_covered(const struct kd *d, const struct kk_link *k)
{
	size_t i;

	if (!kd_netdev_covers(d) || k == NULL)
		return false;
	if (strcmp(k->kind, "openvswitch") == 0)
		return true;
	if (k->lower <= 0 || k->lower_elsewhere)
		return false;
	for (i = 0; i < d->netdevs.n; i++)
		if (d->netdevs.ifindex[i] == k->lower)
			return true;
	return false;
}

/*
 * udev names a new device once, within moments of its appearance: that
 * first rename of a device kakurid saw appear is logged, any other of a
 * device the netdev table hooks is an alert (one found at kakurid's
 * start gets no grace: restarting kakurid must not buy a silent rename).
 * Renaming away and back, as a toggle that unhooks the device in
 * between, takes two.
 */
#define RENAME_GRACE_USEC	(5ULL * 1000 * 1000)

/*
 * An alert about the interface of ch, "interface NAME (ifindex N[,
 * detail]): why", recorded with its name and index, and extra's keys.
 */
static void
link_alert(struct kd *d, const struct kk_link_change *ch, const char *result,
    const char *detail, json_t *extra, const char *why)
{
	char who[IF_NAMESIZE + 16], what[256];
	json_t *o = json_pack("{s:s, s:i}", KW_INTERFACE, ch->name,
	    KW_IFINDEX, ch->ifindex);

	snprintf(who, sizeof(who), "interface %s", ch->name);
	snprintf(what, sizeof(what), "%s %s (ifindex %d%s%s): %s",
	    ch->ifindex ? "interface" : "tc", ch->name, ch->ifindex,
	    detail ? ", " : "", detail ? detail : "", why);
	if (o && extra)
		json_object_update(o, extra);
	json_decref(extra);
	kd_link_alert(d, who, result, what, o);
}

static void
link_renamed(struct kd *d, const struct kk_link_change *ch)
{
	bool isolated = d->state.mode == KK_MODE_ISOLATED, hooked, grace;
	char from[IF_NAMESIZE + 8];

	hooked = isolated && (kd_netdevs_has(&d->netdevs, ch->old_name) ||
	    kd_netdevs_has(&d->netdevs, ch->name));
	if (hooked)
		d->netdevs_dirty = true;
	grace = ch->renames == 1 && ch->age_usec < RENAME_GRACE_USEC;
	if (!hooked || grace) {
		kk_log(hooked ? LOG_NOTICE : LOG_INFO, KK_MID_TAMPER,
		    "interface %s (ifindex %d) renamed %s while %s: %s",
		    ch->old_name, ch->ifindex, ch->name,
		    kk_mode_name(d->state.mode), grace ?
		    "just after it appeared (udev naming it), no alert" :
		    isolated ? "not hooked, no alert" : "no alert");
		return;
	}
	snprintf(from, sizeof(from), "from %s", ch->old_name);
	link_alert(d, ch, "interface-renamed", from, json_pack("{s:s}",
	    KW_FROM, ch->old_name),
	    "renamed while isolated: the netdev table hooks devices by name, its frames met no netdev hook until the tables were put in place again");
}

/* An interface left: one the netdev table hooks is hooked again. */
static void
link_gone(struct kd *d, const char *name)
{
	if (kd_netdevs_has(&d->netdevs, name))
		d->netdevs_dirty = true;
}

/* The quarantine ended: the interface alerts of its episode go with it. */
void
kd_linkwatch_released(struct kd *d)
{
	memset(d->link_alerts, 0, sizeof(d->link_alerts));
	d->nlink_alerts = 0;
	memset(&d->forged, 0, sizeof(d->forged));
	memset(&d->foreign, 0, sizeof(d->foreign));
	d->foreign_valid = false;
	d->nforeign_told = 0;
	d->foreign_primed = false;
}


static void
on_link_change(void *data, const struct kk_link_change *ch)
{
	struct kd *d = data;
	char nsid[24];

	if (d->state.mode == KK_MODE_OPEN) {
		if (ch->how == KK_LINK_MOVED)
			kk_log(LOG_INFO, KK_MID_TAMPER,
			    "interface %s (ifindex %d) moved to another network namespace while open: no alert",
			    ch->name, ch->ifindex);
		return;
	}
	if (ch->how == KK_LINK_DELETED || ch->how == KK_LINK_MOVED ||
	    ch->how == KK_LINK_MOVED_PAIRED || ch->how == KK_LINK_VANISHED)
		link_gone(d, ch->name);
	switch (ch->how) {
	case KK_LINK_DELETED:
	case KK_LINK_MOVED_PAIRED:
		kk_log(LOG_NOTICE, KK_MID_TAMPER,
		    "interface %s (ifindex %d) %s while %s", ch->name,
		    ch->ifindex, ch->how == KK_LINK_DELETED ? "deleted" :
		    "moved to another namespace; its veth peer stays here",
		    kk_mode_name(d->state.mode));
		return;
	case KK_LINK_MOVED:
		snprintf(nsid, sizeof(nsid), "netnsid %d", (int)ch->nsid);
		link_alert(d, ch, "interface-moved", nsid, json_pack("{s:i}",
		    KW_NETNSID, (int)ch->nsid),
		    "moved to another network namespace: its traffic no longer meets kakuri's tables");
		return;
	case KK_LINK_UNCOVERED:
		if (kd_stacked_covered(d, kk_links_find(&d->links,
		    ch->ifindex))) {
			kk_log(LOG_NOTICE, KK_MID_TAMPER,
			    "interface %s (%s, ifindex %d) appeared while isolated: the netdev table's chains on its lower device cut its siblings off",
			    ch->name, ch->kind, ch->ifindex);
			return;
		}
		link_alert(d, ch, "interface-not-covered", ch->kind,
		    json_pack("{s:s}", KW_KIND, ch->kind),
		    "appeared: traffic of its siblings on the same device bypasses kakuri's tables");
		return;
	case KK_LINK_XDP:
		link_alert(d, ch, "interface-xdp", NULL, NULL,
		    "an XDP program was attached: frames it sends back or redirects pass every hook");
		return;
	case KK_LINK_XSK:
		link_alert(d, ch, "interface-xsk", NULL, NULL,
		    "an AF_XDP socket was bound to it: the frames it sends go to the driver past every hook");
		return;
	case KK_LINK_RENAMED:
		link_renamed(d, ch);
		return;
	case KK_LINK_TC:
		link_alert(d, ch, "interface-tc", ch->kind[0] ? ch->kind : NULL,
		    ch->kind[0] ? json_pack("{s:s}", KW_KIND, ch->kind) : NULL,
		    "tc on it (a filter or a tcx program) can redirect frames past every egress hook, or rewrite them after it");
		return;
	case KK_LINK_VANISHED:
		return;		/* summed up by on_links_timer() */
	}
}

/* Interfaces gone without an event (events were lost): one alert per rescan. */
struct vanished {
	struct kd *d;
	unsigned n;
	char names[160];
};

static void
on_link_rescanned(void *data, const struct kk_link_change *ch)
{
	struct vanished *v = data;
	size_t len = strlen(v->names);

	if (ch->how != KK_LINK_VANISHED) {
		on_link_change(v->d, ch);
		return;
	}
	v->n++;
	if (len + strlen(ch->name) + 5 < sizeof(v->names))
		snprintf(v->names + len, sizeof(v->names) - len, "%s%s",
		    len ? " " : "", ch->name);
	else if (len + 4 < sizeof(v->names) && strstr(v->names, "...") == NULL)
		strcat(v->names, " ...");
}

static int
on_links_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kd *d = userdata;
	int err;

	if ((err = kk_links_drain(&d->links, on_link_change, d)) < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "interface events: %s",
		    strerror(-err));
	else if (err > 0)	/* events were lost: the dump says what they said */
		links_rescan_in(d, 0, KD_TIMER_ACCURACY_USEC);
	links_changed(d);
	return 0;
}

/* A look of the rescan that failed, or works again: logged once each time. */
static void
look_logged(int err, int *logged, const char *look)
{
	if (err == *logged)
		return;
	*logged = err;
	if (err < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "%s failed: %s", look,
		    strerror(-err));
	else
		kk_log(LOG_NOTICE, KK_MID_START, "%s works again", look);
}

/*
 * Netlink messages that did not come from the kernel were passed over
 * (nlreq.h): only root sends to rtnetlink's or nftables' groups, and no
 * one has a reason to but to pose as the kernel to kakurid.  Looked at
 * once per rescan, whatever the flood.
 */
static void
forged_reported(struct kd *d)
{
	unsigned long n = kk_nl_forged - d->nl_forged_seen;

	if (n == 0)
		return;
	d->nl_forged_seen = kk_nl_forged;
	if (d->state.mode == KK_MODE_OPEN)
		kk_log(LOG_WARNING, KK_MID_TAMPER,
		    "%lu netlink message(s) sent by a process, not the kernel, to kakurid's sockets: passed over, while open",
		    n);
	else
		kd_forged_alert(d, n);
}

/*
 * The periodic half of the interface watch, for events that were lost:
 * its own timer, so that nothing else (nftables events re-arming the
 * verification) can keep it from running.  Every second while a dump is
 * to be confirmed, else every LINKS_IDLE_USEC.
 */
static int
on_links_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	struct vanished v = { .d = d };
	char what[256];
	long faults = kd_lean_faults();
	bool confirm;
	int err;

	if (d->state.mode == KK_MODE_OPEN && (d->nlink_alerts ||
	    d->forged.what[0]))
		kd_linkwatch_released(d);
	/* events first: one may explain an interface the dump misses */
	if ((err = kk_links_drain(&d->links, on_link_change, d)) < 0 ||
	    (err = kk_links_rescan(&d->links, on_link_rescanned, &v)) < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "interface rescan: %s",
		    strerror(-err));
	forged_reported(d);
	look_logged(d->links.tc_err, &d->tc_err_logged, "the tc look");
	look_logged(d->links.xsk_err, &d->xsk_err_logged,
	    "AF_XDP sockets: the queue dump");
	/* the looks use the same pages every time: no settle after them */
	kd_lean_idle_work(faults);
	/* a failed dump is tried again soon, as one that must be confirmed */
	confirm = err < 0 || kk_links_pending(&d->links);
	sd_event_source_set_time_accuracy(s, confirm ? KD_TIMER_ACCURACY_USEC :
	    LINKS_IDLE_ACCURACY_USEC);
	sd_event_source_set_time(s, usec + (confirm ? LINKS_PERIOD_USEC :
	    LINKS_IDLE_USEC));
	links_changed(d);
	if (v.n == 0 || d->state.mode == KK_MODE_OPEN)
		return 0;
	snprintf(what, sizeof(what),
	    "%u interface(s) left the network namespace with no event seen (moved or deleted): %s",
	    v.n, v.names);
	kd_link_alert(d, "kernel", "interface-vanished", what, json_pack(
	    "{s:s, s:i}", KW_INTERFACES, v.names, KW_COUNT, (int)v.n));
	return 0;
}

/*
 * Events and the rescan timer; without them, status says what goes
 * unnoticed (not_covered).  A failure here is logged, never fatal.
 */
void
kd_linkwatch_start(struct kd *d)
{
	const char *rcvbuf = getenv("KAKURID_TEST_LINKS_RCVBUF");
	int err;

	if ((err = kk_links_open(&d->links)) < 0)
		goto links_off;
	/* test only: a tiny buffer, so that a test loses events for sure */
	if (rcvbuf != NULL) {
		kk_log(LOG_WARNING, KK_MID_START,
		    "KAKURID_TEST_LINKS_RCVBUF=%s: interface events buffer made small (for tests only)",
		    rcvbuf);
		if ((err = kk_links_set_rcvbuf(&d->links, atoi(rcvbuf))) < 0)
			goto links_off;
	}
	if (d->links.xsk.listing != KK_XSK_LISTED)
		kk_log(LOG_WARNING, KK_MID_START,
		    "AF_XDP sockets: %s: one bound to an interface goes unreported",
		    d->links.xsk.why);
	if ((err = sd_event_add_io(d->ev, &d->links_src, kk_links_fd(&d->links),
	    EPOLLIN, on_links_event, d)) < 0 ||
	    (err = sd_event_add_time_relative(d->ev, &d->links_timer,
	    CLOCK_MONOTONIC, LINKS_IDLE_USEC, LINKS_IDLE_ACCURACY_USEC,
	    on_links_timer, d)) < 0 ||
	    (err = sd_event_source_set_enabled(d->links_timer, SD_EVENT_ON)) < 0)
		goto links_off;
	return;
links_off:
	kk_log(LOG_ERR, KK_MID_ERROR,
	    "interface watch: %s: an interface moved to another namespace goes unnoticed",
	    strerror(-err));
	kd_linkwatch_stop(d);
}

void
kd_linkwatch_stop(struct kd *d)
{
	d->netdev_timer = sd_event_source_disable_unref(d->netdev_timer);
	d->links_src = sd_event_source_disable_unref(d->links_src);
	d->links_timer = sd_event_source_disable_unref(d->links_timer);
	kk_links_close(&d->links);
}
