/*
 * USB mass storage cut while isolated: the quarantine's second enforcer
 * (usb.h).  The guides count external media as part of 隔離: a stick
 * must not carry data off an infected PC, nor bring tools onto it.
 *
 * It works at the level of interfaces, never devices: a composite
 * keyboard + storage device keeps its keyboard.  Every root hub gets
 * interface_authorized_default = 0, so the kernel binds no driver to an
 * interface that appears while isolated; each interface present whose
 * class is not let in (usb_admitted: HID and hubs; storage, bInterfaceClass
 * 08, is the first of the others) gets authorized = 0 after whatever is
 * mounted from it was synced and remounted read-only.  HID and hub
 * interfaces and the host controllers are never deauthorised.
 *
 * What it is about to change is saved in state_dir/usb.json before it
 * changes it (write-ahead), so that a release after a restart, or after
 * a crash half-way, still restores the values that were there before.
 * It is held in memory too: a usb.json that cannot be written (a full
 * disk, chattr +i by root malware) or read is an error, audited, and
 * never a reason not to cut (fail closed); the release then restores
 * from memory, and with no record at all gives the root hubs the
 * kernel's default.
 *
 * A failure here never holds back the network isolation: it is
 * logged, audited and reported, and verify() says the quarantine does
 * not hold (status: verified false) until it does.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "usb.h"
#include "wire.h"

#define ERRORS_MAX		32	/* error entries in one record */
#define DEVICES_DIR		"bus/usb/devices"
/*
 * usb.json's flag: the cut was found in force with no record of it (a
 * restart after a save that failed), so root hubs refusing new
 * interfaces may be a predecessor's; the release gives them the
 * kernel's default.
 */
#define KW_UNRECORDED		"unrecorded"

/*
 * The interface classes let in while isolated, and only these: what an
 * isolated PC needs to be used at all.  Every other class is kept out as
 * storage is (cut when present, left deauthorised and recorded when it
 * arrives): not only storage (08) carries files off a PC, an Android
 * phone's MTP or PTP does (06, or vendor class ff, which the desktop's
 * file manager opens), usb-storage and the ums-* drivers bind some vendor
 * class (ff) devices by vendor and product id, and a printer, a network
 * adapter or a camera has no business on a PC cut off for an incident.
 * A list of what is let in fails closed for a class nobody thought of.
 */
static const struct {
	int class;
	const char *name;
} usb_admitted[] = {
	/* keyboards and mice: the employee still works at the isolated PC */
	{ 0x03, "HID" },
	/* a hub: what is plugged in behind it is judged in its turn */
	{ 0x09, "hub" },
	/*
	 * a smart card reader (CCID): the employee unlocks the screen with a
	 * card (PIV, a national or company ID); a card holds keys and a few
	 * kilobytes, not files
	 */
	{ 0x0b, "smart card" },
};

static bool
class_admitted(int class)
{
	size_t i;

	for (i = 0; i < sizeof(usb_admitted) / sizeof(usb_admitted[0]); i++)
		if (usb_admitted[i].class == class)
			return true;
	return false;
}

struct usb_hub {
	char name[KD_USB_NAME_MAX];
	int value;			/* interface_authorized_default; -1 unread */
};

/*
 * An interface of a class kept out while isolated (barred: storage and
 * all but usb_admitted), or one of a class let in that is deauthorised
 */
struct usb_iface {
	char name[KD_USB_NAME_MAX];
	int authorized;			/* -1 unread */
	int class;			/* bInterfaceClass */
	bool barred;			/* not of a class in usb_admitted */
};

/* bus/usb/devices as it is now */
struct usb_scan {
	int devfd;			/* bus/usb/devices; -1 if there is none */
	struct usb_hub hubs[KD_USB_HUBS_MAX];
	size_t nhubs;
	/* barred ones not deauthorised, and deauthorised ones (any class) */
	struct usb_iface ifaces[2 * KD_USB_IFACES_MAX];
	size_t nifaces, nbarred, nwaiting;
	bool waiting_over;		/* more deauthorised than followed */
	json_t *errors;			/* [{what, error}] */
	int err;			/* the first failure */
};

/* An error in words: the usual ones of a hostile tree said plainly. */
static const char *
describe(int err)
{
	switch (err) {
	case -EFBIG:
		return "larger than a sysfs attribute can be";
	case -EBADMSG:
		return "not a value it can have";
	case -ELOOP:
		return "a symbolic link where a file or directory must be";
	case -E2BIG:
		return "more entries than kakurid follows";
	case -EINVAL:
		return "not a regular file";
	case -ENODATA:
		return "no record of what the USB cut changed";
	default:
		return strerror(-err);
	}
}

static void
note(json_t *errors, int *first, const char *what, const char *detail,
    int err)
{
	char text[KD_USB_NAME_MAX * 2 + 64];

	if (*first == 0)
		*first = err;
	if (errors == NULL || json_array_size(errors) >= ERRORS_MAX)
		return;
	snprintf(text, sizeof(text), "%s%s%s", what, detail ? " " : "",
	    detail ? detail : "");
	json_array_append_new(errors, json_pack("{s:s, s:s}", KW_WHAT, text,
	    KW_ERROR, describe(err)));
}

/* sysfs names: "usb1", "1-2.3", "1-2:1.0"; nothing to climb out with */
static bool
name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= KD_USB_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (strchr("0123456789abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:", name[i]) == NULL)
			return false;
	return true;
}

static bool
is_root_hub(const char *name)
{
	size_t i;

	if (strncmp(name, "usb", 3) != 0 || name[3] == '\0')
		return false;
	for (i = 3; name[i]; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

static int
scan_hub(struct usb_scan *sc, int fd, const char *name)
{
	struct usb_hub *h;
	int v;

	if (sc->nhubs == KD_USB_HUBS_MAX) {
		note(sc->errors, &sc->err, "root hub", name, -E2BIG);
		return 0;
	}
	v = kd_usb_attr_uint(fd, "interface_authorized_default", 10, 1);
	if (v < 0)
		note(sc->errors, &sc->err, name, "interface_authorized_default",
		    v);
	h = &sc->hubs[sc->nhubs++];
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->value = v < 0 ? -1 : v;
	return 0;
}

static int
scan_iface(struct usb_scan *sc, int fd, const char *name)
{
	struct usb_iface *f;
	bool barred;
	int class, v;

	class = kd_usb_attr_uint(fd, "bInterfaceClass", 16, 0xff);
	if (class < 0) {
		/* no class: not an interface kakurid may judge */
		note(sc->errors, &sc->err, name, "bInterfaceClass", class);
		return 0;
	}
	v = kd_usb_attr_uint(fd, "authorized", 10, 1);
	barred = !class_admitted(class);
	/* of a class let in, only those waiting to be let in (admit) */
	if (!barred && v != 0)
		return 0;
	/*
	 * Each kind has its own limit: interfaces deauthorised on a hub that
	 * is not kakurid's never hide an authorised one from the cut.  Those
	 * past the limit are deauthorised already: held out, only not judged.
	 */
	if (v != 0 && sc->nbarred == KD_USB_IFACES_MAX) {
		note(sc->errors, &sc->err, "interface", name, -E2BIG);
		return 0;
	}
	if (v == 0 && sc->nwaiting == KD_USB_IFACES_MAX) {
		sc->waiting_over = true;	/* admission's failure only */
		return 0;
	}
	if (v != 0)
		sc->nbarred++;
	else
		sc->nwaiting++;
	if (v < 0)
		note(sc->errors, &sc->err, name, "authorized", v);
	f = &sc->ifaces[sc->nifaces++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->authorized = v < 0 ? -1 : v;
	f->class = class;
	f->barred = barred;
	return 0;
}

static int
scan_entry(int dfd, const char *name, void *arg)
{
	struct usb_scan *sc = arg;
	bool hub = is_root_hub(name), iface = strchr(name, ':') != NULL;
	int fd;

	if (!hub && !iface)
		return 0;		/* a device: its interfaces say it all */
	if (!name_ok(name)) {
		note(sc->errors, &sc->err, DEVICES_DIR, "entry with a strange name",
		    -EBADMSG);
		return 0;
	}
	/* the entries are links into /sys/devices: followed, once */
	if ((fd = kd_usb_open_dir(dfd, name, true)) < 0) {
		note(sc->errors, &sc->err, name, NULL, fd);
		return 0;
	}
	if (hub)
		scan_hub(sc, fd, name);
	else
		scan_iface(sc, fd, name);
	close(fd);
	return 0;
}

/*
 * The root hubs and the interfaces to judge (those of a class kept out,
 * and those of a class let in that are deauthorised) under sysfs.  A machine without
 * USB (no bus/usb/devices) has none: 0 with sc->devfd -1.
 */
static int
scan(const char *sysfs, struct usb_scan *sc, json_t *errors)
{
	char path[PATH_MAX];
	int err;

	memset(sc, 0, sizeof(*sc));
	sc->devfd = -1;
	sc->errors = errors;
	if (snprintf(path, sizeof(path), "%s/%s", sysfs, DEVICES_DIR) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	sc->devfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sc->devfd < 0) {
		err = -errno;
		sc->devfd = -1;
		return err == -ENOENT ? 0 : err;
	}
	if ((err = kd_usb_each_entry(sc->devfd, scan_entry, sc)) < 0)
		note(sc->errors, &sc->err, DEVICES_DIR, NULL, err);
	return 0;
}

/* A scan not made yet: scan_free may follow at once. */
static struct usb_scan *
scan_new(void)
{
	struct usb_scan *sc = calloc(1, sizeof(*sc));

	if (sc != NULL)
		sc->devfd = -1;
	return sc;
}

static void
scan_free(struct usb_scan *sc)
{
	if (sc == NULL)
		return;
	if (sc->devfd >= 0)
		close(sc->devfd);
	free(sc);
}

/* ---- what was changed: state_dir/usb.json ---- */

/* interface names ("1-2:1.0"), at most KD_USB_IFACES_MAX */
static bool
iface_names_ok(json_t *a)
{
	json_t *e;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > KD_USB_IFACES_MAX)
		return false;
	json_array_foreach(a, i, e)
		if (!json_is_string(e) || !name_ok(json_string_value(e)) ||
		    strchr(json_string_value(e), ':') == NULL)
			return false;
	return true;
}

/*
 * {v:1, hubs:[{name, was}], interfaces:[name], kept:[name],
 * unrecorded?:bool}: -ENOENT, -EBADMSG.  kept (interfaces deauthorised by
 * someone else when their hub was cut) came later: a file without it has
 * none.
 */
static int
state_load(const char *path, json_t **out)
{
	json_t *st = NULL, *hubs, *e, *name, *was, *flag;
	char *text = NULL;
	size_t len, i;
	int err;

	*out = NULL;
	if ((err = kk_read_file(path, KD_USB_STATE_MAX, &text, &len)) < 0)
		return err;
	err = -EBADMSG;
	st = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	hubs = json_object_get(st, KW_HUBS);
	if (!json_is_array(hubs) || json_array_size(hubs) > KD_USB_HUBS_MAX ||
	    !iface_names_ok(json_object_get(st, KW_INTERFACES)))
		goto out;
	if (json_object_get(st, KW_KEPT) == NULL)
		json_object_set_new(st, KW_KEPT, json_array());
	if (!iface_names_ok(json_object_get(st, KW_KEPT)))
		goto out;
	flag = json_object_get(st, KW_UNRECORDED);
	if (flag != NULL && !json_is_boolean(flag))
		goto out;
	json_array_foreach(hubs, i, e) {
		name = json_object_get(e, KW_NAME);
		was = json_object_get(e, KW_WAS);
		if (!json_is_string(name) || !is_root_hub(json_string_value(name)) ||
		    !name_ok(json_string_value(name)) || !json_is_integer(was) ||
		    json_integer_value(was) < 0 || json_integer_value(was) > 1)
			goto out;
	}
	*out = st;
	st = NULL;
	err = 0;
out:
	json_decref(st);
	free(text);
	return err;
}

static int
state_save(const char *path, json_t *st)
{
	char *text;
	int err;

	if ((text = json_dumps(st, JSON_COMPACT)) == NULL)
		return -ENOMEM;
	/* write-ahead: a release must find what to restore (the reserve) */
	err = kk_write_file_vital(path, text, strlen(text), 0600);
	free(text);
	return err;
}

static int
state_remove(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return kk_fsync_dir_of(path);
}

static json_t *
state_fresh(void)
{
	return json_pack("{s:i, s:[], s:[], s:[]}", KW_V, 1, KW_HUBS,
	    KW_INTERFACES, KW_KEPT);
}

/* ---- what was changed, in memory ---- */

static json_t *
mem_state(const struct kd_usb_paths *p)
{
	return p->mem != NULL ? p->mem->state : NULL;
}

/* st held in memory (a copy); saved: usb.json says all of it */
static void
mem_keep(const struct kd_usb_paths *p, json_t *st, bool saved)
{
	json_t *copy;

	if (p->mem == NULL)
		return;
	/* out of memory: the older copy, still not all in usb.json */
	if ((copy = json_deep_copy(st)) != NULL) {
		json_decref(p->mem->state);
		p->mem->state = copy;
	}
	p->mem->unsaved = !saved || copy == NULL;
}

static void
mem_forget(const struct kd_usb_paths *p)
{
	if (p->mem == NULL)
		return;
	json_decref(p->mem->state);
	p->mem->state = NULL;
	p->mem->unsaved = false;
}

/*
 * What kakurid changed as far as it knows: memory where usb.json is
 * behind it (not saved) or says nothing (gone, unreadable), usb.json
 * otherwise.  0 with *st, or usb.json's error.
 */
static int
state_known(const struct kd_usb_paths *p, json_t **st)
{
	int err = state_load(p->state, st);

	if (mem_state(p) != NULL && (err < 0 || p->mem->unsaved)) {
		json_decref(*st);
		*st = json_deep_copy(mem_state(p));
		return *st == NULL ? -ENOMEM : 0;
	}
	return err;
}

json_t *
kd_usb_entry(json_t *o, const char *list, const char *field, const char *name)
{
	const char *v;
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(o, list), i, e) {
		v = json_string_value(json_object_get(e, field));
		if (v != NULL && strcmp(v, name) == 0)
			return e;
	}
	return NULL;
}

static json_t *
saved_hub(json_t *st, const char *name)
{
	return kd_usb_entry(st, KW_HUBS, KW_NAME, name);
}

/* whether name is in the state's list key (KW_INTERFACES, KW_KEPT) */
static bool
listed(json_t *st, const char *key, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(st, key), i, e)
		if (strcmp(json_string_value(e), name) == 0)
			return true;
	return false;
}

static void
list_add(json_t *st, const char *key, const char *name)
{
	json_array_append_new(json_object_get(st, key), json_string(name));
}

/* The root hub of an interface: "usb1" for "1-2.3:1.0" (and "1-0:1.0"). */
static void
hub_of(const char *iface, char *hub, size_t len)
{
	snprintf(hub, len, "usb%.*s", (int)strspn(iface, "0123456789"), iface);
}

/*
 * What is to be done with interface f while the cut is in force, given
 * what st says kakurid changed: its decision, apart from the writes.
 */
static enum kd_usb_verdict
verdict(const struct usb_iface *f, json_t *st)
{
	char hub[KD_USB_NAME_MAX + 8];
	bool ours;

	if (f->barred && f->authorized == 1)
		return KD_USB_CUT;
	if (f->authorized != 0)
		return KD_USB_LEAVE;		/* unreadable: not judged */
	/*
	 * Deauthorised: by kakurid's cut of its root hub (it came while
	 * isolated), or by someone else (kept when the hub was cut, or on
	 * a hub that refused new interfaces before kakurid came).
	 */
	hub_of(f->name, hub, sizeof(hub));
	ours = saved_hub(st, hub) != NULL && !listed(st, KW_KEPT, f->name);
	if (!ours)
		return KD_USB_LEAVE;
	if (!f->barred)
		return KD_USB_ADMIT;
	return listed(st, KW_INTERFACES, f->name) ? KD_USB_LEAVE :
	    KD_USB_KEEP_OUT;
}

enum kd_usb_verdict
kd_usb_judge(const char *sysfs, const char *name, json_t *st)
{
	struct usb_scan *sc;
	enum kd_usb_verdict v = KD_USB_LEAVE;
	char path[PATH_MAX];
	int fd;

	if (!name_ok(name) || strchr(name, ':') == NULL ||
	    (sc = scan_new()) == NULL)
		return KD_USB_LEAVE;
	snprintf(path, sizeof(path), "%s/%s", sysfs, DEVICES_DIR);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		scan_entry(fd, name, sc);
		if (sc->nifaces == 1)
			v = verdict(&sc->ifaces[0], st);
		close(fd);
	}
	scan_free(sc);
	return v;
}

static json_t *
record_new(void)
{
	return json_pack("{s:[], s:[], s:[], s:[]}", KW_HUBS, KW_INTERFACES,
	    KW_MOUNTS, KW_ERRORS);
}

/* ---- deauthorise ---- */

static void
set_text(json_t *o, const char *key, int dirfd, const char *attr)
{
	char raw[KD_USB_ATTR_MAX], clean[KD_USB_ATTR_MAX];
	int n;

	/* the device says what these are: any bytes, cleaned */
	if ((n = kd_usb_attr_read(dirfd, attr, raw, sizeof(raw))) <= 0)
		return;
	kk_text_clean(clean, sizeof(clean), raw, (size_t)n);
	json_object_set_new(o, key, json_string(clean));
}

/*
 * An interface's class and the vendor, product, serial and strings of the
 * device it is of
 */
static json_t *
describe_iface(const char *sysfs, int devfd, const struct usb_iface *f)
{
	char dev[KD_USB_NAME_MAX], path[PATH_MAX], real[PATH_MAX], class[4];
	const char *name = f->name;
	json_t *o;
	int fd;

	/* as sysfs and lsusb write it: "08", "06", "ff" */
	snprintf(class, sizeof(class), "%02x", f->class & 0xff);
	o = json_pack("{s:s, s:s}", KW_INTERFACE, name, KW_CLASS, class);
	if (o == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s/%s", sysfs, DEVICES_DIR, name);
	json_object_set_new(o, KW_PATH, json_string(realpath(path, real) ?
	    real : path));
	snprintf(dev, sizeof(dev), "%.*s", (int)strcspn(name, ":"), name);
	if ((fd = kd_usb_open_dir(devfd, dev, true)) < 0)
		return o;
	set_text(o, KW_VENDOR, fd, "idVendor");
	set_text(o, KW_PRODUCT, fd, "idProduct");
	set_text(o, KW_SERIAL, fd, "serial");
	set_text(o, KW_MANUFACTURER, fd, "manufacturer");
	set_text(o, KW_PRODUCT_NAME, fd, "product");
	close(fd);
	return o;
}

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
		note(errors, first, name, "block devices", err);
	if ((err = kd_usb_mounts_on(p->mountinfo, devs, ndevs, &m, &nm)) < 0)
		note(errors, first, name, p->mountinfo, err);
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
			note(errors, first, "remount", m[i].point, err);
		snprintf(devtext, sizeof(devtext), "%u:%u", major(m[i].dev),
		    minor(m[i].dev));
		json_array_append_new(json_object_get(rec, KW_MOUNTS),
		    json_pack("{s:s, s:s, s:s, s:s}", KW_MOUNT, m[i].point,
		    KW_DEVICE, devtext, KW_INTERFACE, name, KW_RESULT, result));
	}
	free(m);
}

static void
deauthorize_iface(const struct kd_usb_paths *p, struct usb_scan *sc,
    const struct usb_iface *f, json_t *rec, int *first, long long quiesce_by)
{
	json_t *errors = json_object_get(rec, KW_ERRORS);
	const char *name = f->name;
	int fd, err;

	if ((fd = kd_usb_open_dir(sc->devfd, name, true)) < 0) {
		note(errors, first, name, NULL, fd);
		return;
	}
	/* sync and remount before the disk goes away under the filesystem */
	quiesce_mounts(p, fd, name, rec, first, quiesce_by);
	if ((err = kd_usb_attr_set(fd, "authorized", 0)) < 0)
		note(errors, first, name, "authorized", err);
	else
		json_array_append_new(json_object_get(rec, KW_INTERFACES),
		    describe_iface(p->sysfs, sc->devfd, f));
	close(fd);
}

/*
 * What is about to change added to st (write-ahead): the root hubs that
 * accept new interfaces, with the interfaces someone else deauthorised
 * on them (kept: never kakurid's to let in or put back), the interfaces
 * of a class kept out to cut and those that came while isolated.  vs gets each
 * interface's verdict, judged once the hubs are in st (a hub cut is
 * kakurid's from now) and before the interfaces are.  Whether st
 * changed.
 */
static bool
plan(struct usb_scan *sc, json_t *st, enum kd_usb_verdict *vs)
{
	char hub[KD_USB_NAME_MAX + 8];
	bool dirty = false;
	size_t i, j;

	for (i = 0; i < sc->nhubs; i++) {
		if (sc->hubs[i].value != 1 || saved_hub(st, sc->hubs[i].name))
			continue;
		json_array_append_new(json_object_get(st, KW_HUBS),
		    json_pack("{s:s, s:i}", KW_NAME, sc->hubs[i].name,
		    KW_WAS, sc->hubs[i].value));
		for (j = 0; j < sc->nifaces; j++) {
			hub_of(sc->ifaces[j].name, hub, sizeof(hub));
			if (sc->ifaces[j].authorized == 0 &&
			    strcmp(hub, sc->hubs[i].name) == 0 &&
			    !listed(st, KW_KEPT, sc->ifaces[j].name))
				list_add(st, KW_KEPT, sc->ifaces[j].name);
		}
		dirty = true;
	}
	for (i = 0; i < sc->nifaces; i++)
		vs[i] = verdict(&sc->ifaces[i], st);
	for (i = 0; i < sc->nifaces; i++)
		if ((vs[i] == KD_USB_CUT || vs[i] == KD_USB_KEEP_OUT) &&
		    !listed(st, KW_INTERFACES, sc->ifaces[i].name)) {
			list_add(st, KW_INTERFACES, sc->ifaces[i].name);
			dirty = true;
		}
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
	json_t *o = describe_iface(p->sysfs, sc->devfd, f);

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
		    saved_hub(st, sc->hubs[i].name) == NULL)
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

	if (need && writable && (err = state_save(p->state, st)) < 0)
		note(errors, first, "not saved, cut all the same:", p->state,
		    err);
	mem_keep(p, st, !need || (writable && err == 0));
}

int
kd_usb_deauthorize(const struct kd_usb_paths *p, json_t **record)
{
	char aside[PATH_MAX];
	struct usb_scan *sc = NULL;
	json_t *rec, *st = NULL, *errors;
	enum kd_usb_verdict *vs = NULL;
	bool dirty, writable = true, recorded;
	long long quiesce_by;
	size_t i;
	int err, loaded, first = 0, fd;

	*record = NULL;
	if ((rec = record_new()) == NULL)
		return -ENOMEM;
	errors = json_object_get(rec, KW_ERRORS);
	loaded = state_load(p->state, &st);
	/* not JSON, not ours, too large, not a file: nothing it says counts */
	if (loaded == -EBADMSG || loaded == -EFBIG || loaded == -EINVAL) {
		/* what it said is lost: kept for the CSIRT, begun afresh */
		snprintf(aside, sizeof(aside), "%s.bad", p->state);
		if (rename(p->state, aside) < 0) {
			note(errors, &first, p->state, "kept aside", -errno);
			writable = false;
		}
		note(errors, &first, p->state, NULL, loaded);
	} else if (loaded < 0 && loaded != -ENOENT) {
		/*
		 * Unreadable: it may still say what to restore, so it is not
		 * written over; the cut is made all the same (fail closed).
		 */
		note(errors, &first, p->state, NULL, loaded);
		writable = false;
	}
	/* memory is ahead of a file that could not be written or read */
	recorded = loaded == 0 || mem_state(p) != NULL;
	if (mem_state(p) != NULL && (loaded < 0 || p->mem->unsaved)) {
		json_decref(st);
		st = json_deep_copy(mem_state(p));
	} else if (st == NULL) {
		st = state_fresh();
	}
	if (st == NULL || (sc = scan_new()) == NULL) {
		first = -ENOMEM;
		goto out;
	}
	if ((err = scan(p->sysfs, sc, errors)) < 0) {
		note(errors, &first, p->sysfs, DEVICES_DIR, err);
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
		note(errors, &first, "root hubs refuse new interfaces",
		    "with no usb.json: given the kernel's default at release",
		    -ENODATA);
	}
	dirty = plan(sc, st, vs);
	/*
	 * The first cut writes usb.json even with nothing in it: one that
	 * is not there at a release then says its record was lost.
	 */
	if (loaded != 0 && sc->devfd >= 0)
		dirty = true;
	save(p, st, dirty, writable, errors, &first);

	/* new interfaces refused first, so that none slips in meanwhile */
	for (i = 0; i < sc->nhubs; i++) {
		if (sc->hubs[i].value != 1)	/* 0 already, or unreadable */
			continue;
		if ((fd = kd_usb_open_dir(sc->devfd, sc->hubs[i].name, true)) < 0) {
			note(errors, &first, sc->hubs[i].name, NULL, fd);
			continue;
		}
		err = kd_usb_attr_set(fd, "interface_authorized_default", 0);
		close(fd);
		if (err < 0)
			note(errors, &first, sc->hubs[i].name,
			    "interface_authorized_default", err);
		else
			json_array_append_new(json_object_get(rec, KW_HUBS),
			    json_pack("{s:s, s:i}", KW_NAME, sc->hubs[i].name,
			    KW_WAS, sc->hubs[i].value));
	}
	/* every mount's sync within one budget: the loop waits meanwhile */
	quiesce_by = kk_mono_ms() + KD_USB_QUIESCE_MS;
	for (i = 0; i < sc->nifaces; i++)
		if (vs[i] == KD_USB_CUT)
			deauthorize_iface(p, sc, &sc->ifaces[i], rec, &first,
			    quiesce_by);
		else if (vs[i] == KD_USB_KEEP_OUT)
			keep_out(p, sc, &sc->ifaces[i], rec);
out:
	scan_free(sc);
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

/* ---- restore ---- */

/*
 * A driver bound to an interface just authorised: authorized = 1 only
 * sets the flag, so a keyboard let in while isolated, or a stick put
 * back at release, would stay without a driver until plugged in again.
 * A probe that fails is no reason to take the authorisation back: it is
 * logged, and said in o (the audit's entry for the interface).
 */
static void
probe(const struct kd_usb_paths *p, const char *name, json_t *o)
{
	char text[128];
	int err;

	if ((err = kd_usb_probe(p->sysfs, name)) == 0)
		return;
	snprintf(text, sizeof(text), "authorised, no driver probed "
	    "(bus/usb/drivers_probe: %s)", describe(err));
	kk_log(LOG_WARNING, KK_MID_APPLY, "USB interface %s %s", name, text);
	json_object_set_new(o, KW_DETAIL, json_string(text));
}

/* value into attr of sysfs entry name; 1 if the entry is gone */
static int
restore_one(int devfd, const char *name, const char *attr, int value)
{
	int fd, err;

	if (devfd < 0)
		return 1;
	if ((fd = kd_usb_open_dir(devfd, name, true)) < 0)
		return fd == -ENOENT ? 1 : fd;
	err = kd_usb_attr_set(fd, attr, value);
	close(fd);
	return err == -ENOENT ? 1 : err;
}

/* what src says was changed added to dst, where dst does not say it */
static void
state_merge(json_t *dst, json_t *src)
{
	static const char *const lists[] = { KW_INTERFACES, KW_KEPT };
	const char *name;
	json_t *e;
	size_t i, k;

	json_array_foreach(json_object_get(src, KW_HUBS), i, e) {
		name = json_string_value(json_object_get(e, KW_NAME));
		if (name != NULL && saved_hub(dst, name) == NULL)
			json_array_append(json_object_get(dst, KW_HUBS), e);
	}
	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
		json_array_foreach(json_object_get(src, lists[k]), i, e)
			if (!listed(dst, lists[k], json_string_value(e)))
				list_add(dst, lists[k], json_string_value(e));
	if (json_is_true(json_object_get(src, KW_UNRECORDED)))
		json_object_set_new(dst, KW_UNRECORDED, json_true());
}

/*
 * No record of what the cut changed (usb.json and memory both lost: a
 * restart after a save that failed): the root hubs that refuse new
 * interfaces and that st does not name get the kernel's default (1), so
 * the PC takes devices again after the release.  The interfaces cut are
 * recorded nowhere: they stay deauthorised (a replug brings them back).
 */
static void
restore_defaults(const struct usb_scan *sc, json_t *st, json_t *rec,
    int *first)
{
	json_t *errors = json_object_get(rec, KW_ERRORS);
	const char *name;
	size_t i, n = 0;
	int err;

	for (i = 0; i < sc->nhubs; i++) {
		name = sc->hubs[i].name;
		if (sc->hubs[i].value != 0 || saved_hub(st, name) != NULL)
			continue;
		err = restore_one(sc->devfd, name,
		    "interface_authorized_default", 1);
		if (err < 0) {
			note(errors, first, name,
			    "interface_authorized_default", err);
			continue;
		}
		json_array_append_new(json_object_get(rec, KW_HUBS), json_pack(
		    "{s:s, s:s}", KW_NAME, name, KW_RESULT,
		    "no record: the kernel's default (1)"));
		n++;
	}
	if (n > 0)
		note(errors, first, "root hubs given the kernel's default;",
		    "interfaces cut stay deauthorised", -ENODATA);
}

int
kd_usb_restore(const struct kd_usb_paths *p, bool was_cut, json_t **record)
{
	json_t *rec, *st = NULL, *errors, *e, *o, *left = NULL, *lefth = NULL;
	struct usb_scan *sc = NULL;
	const char *name;
	bool writable, lost;
	size_t i;
	int err, loaded, first = 0, was;

	*record = NULL;
	loaded = state_load(p->state, &st);
	/* nothing recorded, and no cut left: nothing was changed */
	if (loaded == -ENOENT && mem_state(p) == NULL && !was_cut)
		return 0;
	if ((rec = record_new()) == NULL) {
		json_decref(st);
		return -ENOMEM;
	}
	errors = json_object_get(rec, KW_ERRORS);
	/* unreadable or not ours: kept as it is, for the CSIRT */
	writable = loaded == 0 || loaded == -ENOENT;
	if (!writable)
		note(errors, &first, p->state, NULL, loaded);
	lost = was_cut && loaded < 0 && mem_state(p) == NULL;
	if (st == NULL)
		st = state_fresh();
	if (st == NULL || (sc = scan_new()) == NULL ||
	    (left = json_array()) == NULL || (lefth = json_array()) == NULL) {
		first = -ENOMEM;
		goto out;
	}
	/* what could not be saved, or was lost from the file since */
	if (mem_state(p) != NULL)
		state_merge(st, mem_state(p));
	lost = lost || (was_cut && json_is_true(json_object_get(st,
	    KW_UNRECORDED)));
	if ((err = scan(p->sysfs, sc, NULL)) < 0)
		note(errors, &first, p->sysfs, DEVICES_DIR, err);
	json_array_foreach(json_object_get(st, KW_INTERFACES), i, e) {
		name = json_string_value(e);
		err = restore_one(sc->devfd, name, "authorized", 1);
		if (err < 0) {
			note(errors, &first, name, "authorized", err);
			json_array_append(left, e);
			continue;
		}
		o = json_pack("{s:s, s:s}", KW_INTERFACE, name, KW_RESULT,
		    err == 1 ? "gone" : "restored");
		if (err == 0 && o != NULL)
			probe(p, name, o);
		json_array_append_new(json_object_get(rec, KW_INTERFACES), o);
	}
	json_array_foreach(json_object_get(st, KW_HUBS), i, e) {
		name = json_string_value(json_object_get(e, KW_NAME));
		was = (int)json_integer_value(json_object_get(e, KW_WAS));
		err = restore_one(sc->devfd, name,
		    "interface_authorized_default", was);
		if (err < 0) {
			note(errors, &first, name, "interface_authorized_default",
			    err);
			json_array_append(lefth, e);
			continue;
		}
		json_array_append_new(json_object_get(rec, KW_HUBS),
		    json_pack("{s:s, s:i, s:s}", KW_NAME, name, KW_WAS, was,
		    KW_RESULT, err == 1 ? "gone" : "restored"));
	}
	if (lost)
		restore_defaults(sc, st, rec, &first);
	/* what could not be put back stays saved, for the next try */
	err = 0;
	if (json_array_size(left) == 0 && json_array_size(lefth) == 0) {
		mem_forget(p);
		if (writable && loaded == 0)
			err = state_remove(p->state);
	} else {
		json_object_set(st, KW_INTERFACES, left);
		json_object_set(st, KW_HUBS, lefth);
		if (writable)
			err = state_save(p->state, st);
		mem_keep(p, st, writable && err == 0);
	}
	if (err < 0)
		note(errors, &first, p->state, NULL, err);
out:
	scan_free(sc);
	json_decref(left);
	json_decref(lefth);
	json_decref(st);
	/* nothing there, nothing done, nothing failed: no record */
	if (json_array_size(json_object_get(rec, KW_HUBS)) == 0 &&
	    json_array_size(json_object_get(rec, KW_INTERFACES)) == 0 &&
	    json_array_size(errors) == 0 && loaded == -ENOENT) {
		json_decref(rec);
		rec = NULL;
	}
	*record = rec;
	return first;
}

/* ---- verify ---- */

int
kd_usb_check(const struct kd_usb_paths *p, bool deauthorize, char *why,
    size_t whylen)
{
	const struct usb_iface *f;
	struct usb_scan *sc;
	json_t *saved = NULL;
	struct stat st;
	size_t i;
	int err = 0;

	if (why != NULL && whylen)
		why[0] = '\0';
	if (!deauthorize) {
		if (stat(p->state, &st) == 0 || mem_state(p) != NULL) {
			if (why != NULL)
				snprintf(why, whylen, "%s: USB changes not restored",
				    p->state);
			return -ESTALE;
		}
		return errno == ENOENT ? 0 : -errno;
	}
	if ((sc = scan_new()) == NULL)
		return -ENOMEM;
	if ((err = scan(p->sysfs, sc, NULL)) < 0)
		goto out;
	for (i = 0; i < sc->nhubs && err == 0; i++)
		if (sc->hubs[i].value != 0) {
			if (why != NULL)
				snprintf(why, whylen, "%s accepts new interfaces",
				    sc->hubs[i].name);
			err = -ESTALE;
		}
	/* unloadable: nothing is known to be kakurid's, nothing pending */
	state_known(p, &saved);
	for (i = 0; i < sc->nifaces && err == 0; i++) {
		f = &sc->ifaces[i];
		/* of a class kept out: as storage, whatever it is */
		if (!f->barred)
			continue;
		if (f->authorized != 0) {
			if (why != NULL)
				snprintf(why, whylen, "interface %s (class %02x) is "
				    "authorised", f->name, f->class & 0xff);
			err = -ESTALE;
		} else if (verdict(f, saved) == KD_USB_KEEP_OUT) {
			if (why != NULL)
				snprintf(why, whylen, "interface %s (class %02x) "
				    "arrived while isolated and is not recorded",
				    f->name, f->class & 0xff);
			err = -ESTALE;
		}
	}
	/* a hub or an interface it cannot judge: not known to hold */
	if (err == 0 && sc->err != 0) {
		if (why != NULL)
			snprintf(why, whylen, "sysfs could not be read whole: %s",
			    describe(sc->err));
		err = -ESTALE;
	}
	/* held, but a restart would lose what to restore: tried again */
	if (err == 0 && p->mem != NULL && p->mem->unsaved) {
		if (why != NULL)
			snprintf(why, whylen, "%s could not be saved: what the "
			    "USB cut changed is held in memory only", p->state);
		err = -ESTALE;
	}
out:
	json_decref(saved);
	scan_free(sc);
	return err;
}

/* ---- interfaces of a class let in that came while isolated ---- */

int
kd_usb_admit(const struct kd_usb_paths *p, json_t **admitted)
{
	struct usb_scan *sc = NULL;
	json_t *st = NULL, *o;
	int err, first = 0, fd;
	size_t i;

	*admitted = NULL;
	/* nothing saved: no hub is kakurid's, nothing came in its stead */
	if ((err = state_known(p, &st)) < 0)
		return err == -ENOENT ? 0 : err;
	if ((sc = scan_new()) == NULL ||
	    (*admitted = json_array()) == NULL) {
		first = -ENOMEM;
		goto out;
	}
	if ((first = scan(p->sysfs, sc, NULL)) < 0)
		goto out;
	if (sc->waiting_over)
		first = -E2BIG;
	for (i = 0; i < sc->nifaces; i++) {
		if (verdict(&sc->ifaces[i], st) != KD_USB_ADMIT)
			continue;
		o = describe_iface(p->sysfs, sc->devfd, &sc->ifaces[i]);
		if ((fd = kd_usb_open_dir(sc->devfd, sc->ifaces[i].name,
		    true)) < 0)
			err = fd;
		else
			err = kd_usb_attr_set(fd, "authorized", 1);
		if (fd >= 0)
			close(fd);
		if (err < 0) {
			if (first == 0)
				first = err;
			json_object_set_new(o, KW_ERROR,
			    json_string(describe(err)));
		} else {
			probe(p, sc->ifaces[i].name, o);
		}
		json_array_append_new(*admitted, o);
	}
out:
	scan_free(sc);
	json_decref(st);
	if (*admitted != NULL && json_array_size(*admitted) == 0) {
		json_decref(*admitted);
		*admitted = NULL;
	}
	return first;
}
