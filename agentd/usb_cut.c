/*
 * The USB cut (usb.h, usb.c): the root hubs made to refuse new
 * interfaces and the interfaces of a class kept out deauthorised, after
 * what is mounted from them was synced and remounted read-only; what it
 * is about to change saved ahead in usb.json (usb_state.c).
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "usb_int.h"
#include "wire.h"

/*
 * What is mounted from the interface's disks: synced, remounted read-only,
 * by quiesce_by (kk_mono_ms) at the latest.  A sync still running then
 * (gigabytes left for a slow stick) goes on in its thread, and the
 * interface is cut all the same: isolation does not wait for a stick.
 */
static void
quiesce_mounts(const struct kd_usb_paths *p, int fd, const char *name,
    json_t *rec, int *first, long long quiesce_by)
{
	json_t *errors = json_object_get(rec, KW_ERRORS);
	struct kd_usb_mount *m = NULL;
	dev_t devs[KD_USB_DEVS_MAX];
	const char *result;
	char devtext[32];
	size_t ndevs = 0, nm = 0, i;
	int err;

	if ((err = kd_usb_block_devs(fd, devs, KD_USB_DEVS_MAX, &ndevs)) < 0)
		usb_note(errors, first, name, "block devices", err);
	if ((err = kd_usb_mounts_on(p->mountinfo, devs, ndevs, &m, &nm)) < 0)
		usb_note(errors, first, name, p->mountinfo, err);
	for (i = 0; i < nm; i++) {
		err = 0;
		if (m[i].ro)
			result = "read-only already";
		else if (!p->remount)
			result = "not remounted (test tree)";
		else if ((err = kd_usb_remount_ro_by(m[i].point, m[i].dev,
		    quiesce_by)) == -ETIMEDOUT)
			result = "still syncing at the deadline: cut all the "
			    "same";
		else if (err < 0)
			result = "remount failed";
		else
			result = "synced, read-only";
		if (err < 0)
			usb_note(errors, first, "remount", m[i].point, err);
		snprintf(devtext, sizeof(devtext), "%u:%u", major(m[i].dev),
		    minor(m[i].dev));
		json_array_append_new(json_object_get(rec, KW_MOUNTS),
		    json_pack("{s:s, s:s, s:s, s:s}", KW_MOUNT, m[i].point,
		    KW_DEVICE, devtext, KW_INTERFACE, name, KW_RESULT, result));
	}
	free(m);
}

/*
 * A cut's write of authorized = 0 waits on the device: the kernel takes
 * the device's lock to deauthorise an interface of it, and a device can
 * hold that lock for minutes (a reset, then the rebind of each
 * interface, each probe stalled for seconds), the writer meanwhile in D
 * state, past the watchdog.  The write is waited for until the cut's
 * deadline, then goes on in its thread; until it ends, its device is
 * named as waiting (usb_sysfs.c) and no other write to it starts.
 */
/* authorized = 0 for kd_usb_call_by: point is the device's name */
static int
cut_job(const char *point, dev_t unused)
{
	int fd, err = -ENOENT;

	(void)unused;
	/* only this thread drops it (or the caller, once it has ended) */
	if ((fd = kd_usb_waiting_fd(point)) >= 0)
		err = kd_usb_attr_set(fd, "authorized", 0);
	kd_usb_waiting_drop(point);
	return err;
}

/*
 * authorized = 0 through fd, the directory of interface name (taken),
 * waited for until by (kk_mono_ms) at most
 */
static int
cut_write(const char *name, int fd, long long by)
{
	char dev[KD_USB_NAME_MAX];
	int err;

	if (!kd_usb_device_of(name, dev, sizeof(dev))) {
		close(fd);
		return -EINVAL;
	}
	if ((err = kd_usb_waiting_take(dev, fd)) < 0) {
		close(fd);
		return err;
	}
	err = kd_usb_call_by(cut_job, dev, 0, by);
	/* ended, or never began: its device is no longer waited on */
	if (err != -ETIMEDOUT)
		kd_usb_waiting_drop(dev);
	/* said as held by the device, not as a sync's deadline */
	return err == -ETIMEDOUT ? -EDEADLK : err;
}

static void
deauthorize_iface(const struct kd_usb_paths *p, struct usb_scan *sc,
    const struct usb_iface *f, json_t *rec, int *first, long long quiesce_by,
    long long cut_by)
{
	json_t *errors = json_object_get(rec, KW_ERRORS);
	const char *name = f->name;
	long long by;
	json_t *o;
	int fd, err;

	if ((fd = kd_usb_open_dir(sc->devfd, name, true)) < 0) {
		usb_note(errors, first, name, NULL, fd);
		return;
	}
	/* sync and remount before the disk goes away under the filesystem */
	quiesce_mounts(p, fd, name, rec, first, quiesce_by);
	/* past the cut's deadline (a sync took it), a moment each */
	by = kk_mono_ms() + 100;
	if ((err = cut_write(name, fd, by > cut_by ? by : cut_by)) < 0)
		usb_note(errors, first, name, "authorized", err);
	/* held by the device: named all the same, a hostile one likely */
	if (err == 0 || err == -EDEADLK) {
		o = usb_describe_iface(p->sysfs, sc->devfd, f);
		if (err < 0)
			json_object_set_new(o, KW_RESULT, json_string("cut "
			    "pending: the device holds the kernel up"));
		json_array_append_new(json_object_get(rec, KW_INTERFACES), o);
	}
}

/*
 * What is about to change added to st (write-ahead): the root hubs that
 * accept new interfaces, with the interfaces someone else deauthorised
 * on them (kept: never kakurid's to let in or put back), the interfaces
 * of a class kept out to cut and those that came while isolated.  vs gets each
 * interface's verdict, judged once the hubs are in st (a hub cut is
 * kakurid's from now) and before the interfaces are.  Whether st
 * changed.  Past KD_USB_LISTED_MAX names an interface is cut, and noted
 * in errors, unrecorded.
 */
static bool
plan(struct usb_scan *sc, json_t *st, enum kd_usb_verdict *vs,
    json_t *errors, int *first)
{
	static const char *const lists[] = { KW_INTERFACES, KW_KEPT };
	char hub[KD_USB_NAME_MAX + 8];
	bool dirty = false, full = false;
	size_t i, j;

	/*
	 * Names of devices gone leave the record, when the scan saw every
	 * interface: a gadget that comes back under ever new names (its
	 * configuration) would otherwise fill it.
	 */
	for (i = 0; sc->devfd >= 0 && sc->err == 0 && !sc->waiting_over &&
	    i < sizeof(lists) / sizeof(lists[0]); i++)
		if (usb_list_prune(st, lists[i], sc))
			dirty = true;
	if (sc->devfd >= 0 && sc->err == 0 && !sc->waiting_over &&
	    usb_foreign_prune(st, sc))
		dirty = true;
	for (i = 0; i < sc->nhubs; i++) {
		if (sc->hubs[i].value != 1 || usb_saved_hub(st, sc->hubs[i].name))
			continue;
		json_array_append_new(json_object_get(st, KW_HUBS),
		    json_pack("{s:s, s:i}", KW_NAME, sc->hubs[i].name,
		    KW_WAS, sc->hubs[i].value));
		for (j = 0; j < sc->nifaces; j++) {
			usb_hub_of(sc->ifaces[j].name, hub, sizeof(hub));
			if (sc->ifaces[j].authorized == 0 &&
			    strcmp(hub, sc->hubs[i].name) == 0 &&
			    !usb_listed(st, KW_KEPT, sc->ifaces[j].name) &&
			    usb_list_add(st, KW_KEPT, sc->ifaces[j].name) < 0)
				full = true;
		}
		dirty = true;
	}
	for (i = 0; i < sc->nifaces; i++)
		vs[i] = usb_verdict(&sc->ifaces[i], st);
	for (i = 0; i < sc->nifaces; i++) {
		if ((vs[i] == KD_USB_CUT || vs[i] == KD_USB_KEEP_OUT) &&
		    !usb_listed(st, KW_INTERFACES, sc->ifaces[i].name)) {
			if (usb_list_add(st, KW_INTERFACES,
			    sc->ifaces[i].name) < 0)
				full = true;
			else
				dirty = true;
		}
		/* out until its device goes; the release puts it back */
		if (vs[i] == KD_USB_CUT && sc->ifaces[i].foreign) {
			if (usb_foreign_add(st, sc->ifaces[i].name,
			    sc->ifaces[i].devnum) < 0)
				full = true;
			else
				dirty = true;
		}
	}
	/* cut all the same; what the release would put back is not known */
	if (full)
		usb_note(errors, first, "usb.json", "more interfaces than it "
		    "records", -E2BIG);
	return dirty;
}

/*
 * An interface of a class kept out that came while isolated (storage, a
 * phone): deauthorised by the kernel already (its hub's default),
 * recorded as those cut are.
 */
static void
keep_out(const struct kd_usb_paths *p, struct usb_scan *sc,
    const struct usb_iface *f, json_t *rec)
{
	json_t *o = usb_describe_iface(p->sysfs, sc->devfd, f);

	json_object_set_new(o, KW_RESULT,
	    json_string("arrived while isolated: left deauthorised"));
	json_array_append_new(json_object_get(rec, KW_INTERFACES), o);
}

/* a root hub refusing new interfaces that st does not name */
static bool
hub_unrecorded(const struct usb_scan *sc, json_t *st)
{
	size_t i;

	for (i = 0; i < sc->nhubs; i++)
		if (sc->hubs[i].value == 0 &&
		    usb_saved_hub(st, sc->hubs[i].name) == NULL)
			return true;
	return false;
}

/*
 * What the cut is about to change saved in usb.json and held in memory;
 * a save that failed before is tried again.  writable: usb.json was read
 * or is not there (set aside, or never written); an unreadable one is
 * not written over, as it may still say what to restore.  A save that
 * fails is noted and the cut made all the same: what it changes is in
 * memory and in the record.
 */
static void
save(const struct kd_usb_paths *p, json_t *st, bool dirty, bool writable,
    json_t *errors, int *first)
{
	bool need = dirty || (p->mem != NULL && p->mem->unsaved);
	int err = 0;

	if (need && writable && (err = usb_state_save(p->state, st)) < 0)
		usb_note(errors, first, "not saved, cut all the same:", p->state,
		    err);
	usb_mem_keep(p, st, !need || (writable && err == 0));
}

/* the errors of more that errors does not say already, up to ERRORS_MAX */
static void
errors_merge(json_t *errors, json_t *more)
{
	json_t *e, *f;
	size_t i, j;

	json_array_foreach(more, i, e) {
		json_array_foreach(errors, j, f)
			if (json_equal(e, f))
				break;
		if (j == json_array_size(errors) &&
		    json_array_size(errors) < ERRORS_MAX)
			json_array_append(errors, e);
	}
}

/*
 * The cut's second look (after the root hubs' write) in place of *sc and
 * *vs, planned and saved ahead as the first was; the first kept if it
 * cannot be taken.
 */
static void
look_again(const struct kd_usb_paths *p, struct usb_scan **sc,
    enum kd_usb_verdict **vs, json_t *st, bool writable, json_t *errors,
    int *first)
{
	struct usb_scan *again = NULL;
	enum kd_usb_verdict *vs2 = NULL;
	json_t *more = NULL;
	bool dirty;
	int err = -ENOMEM;

	if ((again = usb_scan_new()) == NULL || (more = json_array()) == NULL)
		goto out;
	if ((err = usb_scan_read(p->sysfs, again, more)) < 0)
		goto out;
	/* no bus/usb/devices now, where the first look had one */
	err = -ENOENT;
	if (again->devfd < 0 && (*sc)->devfd >= 0)
		goto out;
	err = -ENOMEM;
	if ((vs2 = calloc(again->nifaces + 1, sizeof(*vs2))) == NULL)
		goto out;
	errors_merge(errors, more);
	if (again->err && !*first)
		*first = again->err;
	dirty = plan(again, st, vs2, errors, first);
	save(p, st, dirty, writable, errors, first);
	usb_scan_free(*sc);
	free(*vs);
	*sc = again;
	*vs = vs2;
	again = NULL;
	vs2 = NULL;
	err = 0;
out:
	if (err < 0)
		usb_note(errors, first, "second look at", DEVICES_DIR, err);
	usb_scan_free(again);
	free(vs2);
	json_decref(more);
}

/*
 * The root hubs that accept new interfaces made to refuse them (their
 * value in st already, write-ahead), each in rec; how many.
 */
static size_t
cut_hubs(struct usb_scan *sc, json_t *rec, json_t *errors, int *first)
{
	size_t i, n = 0;
	int fd, err;

	for (i = 0; i < sc->nhubs; i++) {
		if (sc->hubs[i].value != 1)	/* 0 already, or unreadable */
			continue;
		if ((fd = kd_usb_open_dir(sc->devfd, sc->hubs[i].name, true)) < 0) {
			usb_note(errors, first, sc->hubs[i].name, NULL, fd);
			continue;
		}
		err = kd_usb_attr_set(fd, "interface_authorized_default", 0);
		close(fd);
		if (err < 0) {
			usb_note(errors, first, sc->hubs[i].name,
			    "interface_authorized_default", err);
		} else {
			json_array_append_new(json_object_get(rec, KW_HUBS),
			    json_pack("{s:s, s:i}", KW_NAME, sc->hubs[i].name,
			    KW_WAS, sc->hubs[i].value));
			n++;
		}
	}
	return n;
}

int
kd_usb_deauthorize(const struct kd_usb_paths *p, json_t **record)
{
	char aside[PATH_MAX];
	struct usb_scan *sc = NULL;
	json_t *rec, *st = NULL, *errors;
	enum kd_usb_verdict *vs = NULL;
	bool dirty, writable = true, recorded;
	long long quiesce_by, cut_by;
	size_t i, hubs_cut = 0;
	int err, loaded, first = 0;

	*record = NULL;
	if ((rec = usb_record_new()) == NULL)
		return -ENOMEM;
	errors = json_object_get(rec, KW_ERRORS);
	loaded = usb_state_load(p->state, &st);
	/* not JSON, not ours, too large, not a file: nothing it says counts */
	if (loaded == -EBADMSG || loaded == -EFBIG || loaded == -EINVAL) {
		/* what it said is lost: kept for the CSIRT, begun afresh */
		snprintf(aside, sizeof(aside), "%s.bad", p->state);
		if (rename(p->state, aside) < 0) {
			usb_note(errors, &first, p->state, "kept aside", -errno);
			writable = false;
		}
		usb_note(errors, &first, p->state, NULL, loaded);
	} else if (loaded < 0 && loaded != -ENOENT) {
		/*
		 * Unreadable: it may still say what to restore, so it is not
		 * written over; the cut is made all the same (fail closed).
		 */
		usb_note(errors, &first, p->state, NULL, loaded);
		writable = false;
	}
	/* memory is ahead of a file that could not be written or read */
	recorded = loaded == 0 || usb_mem_state(p) != NULL;
	if (usb_mem_state(p) != NULL && (loaded < 0 || p->mem->unsaved)) {
		json_decref(st);
		st = json_deep_copy(usb_mem_state(p));
	} else if (st == NULL) {
		st = usb_state_fresh();
	}
	if (st == NULL || (sc = usb_scan_new()) == NULL) {
		first = -ENOMEM;
		goto out;
	}
	if ((err = usb_scan_read(p->sysfs, sc, errors)) < 0) {
		usb_note(errors, &first, p->sysfs, DEVICES_DIR, err);
		goto out;
	}
	if (sc->err && !first)
		first = sc->err;
	if ((vs = calloc(sc->nifaces + 1, sizeof(*vs))) == NULL) {
		first = -ENOMEM;
		goto out;
	}
	/*
	 * Found in force with no record of it: a predecessor's record is
	 * lost, and the release gives such hubs the kernel's default.
	 */
	if (!recorded && p->resumed && hub_unrecorded(sc, st)) {
		json_object_set_new(st, KW_UNRECORDED, json_true());
		usb_note(errors, &first, "root hubs refuse new interfaces",
		    "with no usb.json: given the kernel's default at release",
		    -ENODATA);
	}
	dirty = plan(sc, st, vs, errors, &first);
	/*
	 * The first cut writes usb.json even with nothing in it: one that
	 * is not there at a release then says its record was lost.
	 */
	if (loaded != 0 && sc->devfd >= 0)
		dirty = true;
	save(p, st, dirty, writable, errors, &first);

	/* new interfaces refused first, so that none slips in meanwhile */
	hubs_cut = cut_hubs(sc, rec, errors, &first);
	/*
	 * An interface that came between the look and its hub's write was
	 * authorised by the kernel (the default was 1 still), and that look
	 * did not see it: the interfaces are judged again by a look taken
	 * now that the hubs refuse new ones, so that it is cut now, not at
	 * the next look.  If that look fails, the first one's verdicts stand.
	 */
	if (hubs_cut > 0) {
		look_again(p, &sc, &vs, st, writable, errors, &first);
		/* a root hub that came meanwhile (planned as cut already) */
		cut_hubs(sc, rec, errors, &first);
	}
	/* every mount's sync within one budget: the loop waits meanwhile */
	quiesce_by = kk_mono_ms() + KD_USB_QUIESCE_MS;
	/* and every write's, after them (a device can hold one up) */
	cut_by = usb_probes_by(p);
	for (i = 0; i < sc->nifaces; i++)
		if (vs[i] == KD_USB_CUT)
			deauthorize_iface(p, sc, &sc->ifaces[i], rec, &first,
			    quiesce_by, cut_by);
		else if (vs[i] == KD_USB_KEEP_OUT)
			keep_out(p, sc, &sc->ifaces[i], rec);
out:
	usb_scan_free(sc);
	free(vs);
	json_decref(st);
	if (json_array_size(json_object_get(rec, KW_HUBS)) ||
	    json_array_size(json_object_get(rec, KW_INTERFACES)) ||
	    json_array_size(errors))
		*record = rec;
	else
		json_decref(rec);
	return first;
}

