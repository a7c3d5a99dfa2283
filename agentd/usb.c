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
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "usb_int.h"
#include "wire.h"

/* ---- what an interface is, for the records ---- */

/*
 * A USB string descriptor holds up to 126 UTF-16 units: up to 378 bytes
 * of UTF-8 in sysfs, more than other attributes.  One longer than sysfs
 * can give is still named, not left out of the record.
 */
#define USB_TEXT_MAX	1024

static void
set_text(json_t *o, const char *key, int dirfd, const char *attr)
{
	char raw[USB_TEXT_MAX], clean[USB_TEXT_MAX];
	int n;

	/* the device says what these are: any bytes, cleaned */
	n = kd_usb_attr_read(dirfd, attr, raw, sizeof(raw));
	if (n == -EFBIG) {
		json_object_set_new(o, key, json_string("(longer than 1 KiB)"));
		return;
	}
	if (n <= 0)
		return;
	kk_text_clean(clean, sizeof(clean), raw, (size_t)n);
	json_object_set_new(o, key, json_string(clean));
}

/*
 * An interface's class and the vendor, product, serial and strings of the
 * device it is of
 */
json_t *
usb_describe_iface(const char *sysfs, int devfd, const struct usb_iface *f)
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
	if (f->driver[0] != '\0')
		json_object_set_new(o, KW_DRIVER, json_string(f->driver));
	snprintf(path, sizeof(path), "%s/%s/%s", sysfs, DEVICES_DIR, name);
	json_object_set_new(o, KW_PATH, json_string(realpath(path, real) ?
	    real : path));
	if (!kd_usb_device_of(name, dev, sizeof(dev)) ||
	    (fd = kd_usb_open_dir(devfd, dev, true)) < 0)
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
 * The deadline of one admission's or release's probes, or of one cut's
 * writes (kk_mono_ms).
 */
long long
usb_probes_by(const struct kd_usb_paths *p)
{
	return kk_mono_ms() + (p->probe_ms > 0 ? p->probe_ms :
	    KD_USB_PROBE_MS);
}

/* ---- restore ---- */

/*
 * A driver bound to an interface just authorised: authorized = 1 only
 * sets the flag, so a keyboard let in while isolated, or a stick put
 * back at release, would stay without a driver until plugged in again.
 * Let in while isolated, only its class's own driver is bound
 * (usb_bind_driver): a probe would let usb-storage take a "HID"
 * interface it matches by vendor and product id.  At release any driver
 * may (driver NULL: bus/usb/drivers_probe).  A bind or probe that fails
 * is no reason to take the authorisation back: it is logged, and said
 * in o (the audit's entry for the interface).
 */
/* kd_usb_probe for kd_usb_call_by: point is "SYSFS\nDRIVER\nNAME" */
static int
probe_job(const char *point, dev_t dev)
{
	char sysfs[PATH_MAX], driver[64];
	const char *nl = strchr(point, '\n'), *nl2;

	(void)dev;
	if (nl == NULL || (size_t)(nl - point) >= sizeof(sysfs) ||
	    (nl2 = strchr(nl + 1, '\n')) == NULL ||
	    (size_t)(nl2 - nl - 1) >= sizeof(driver))
		return -EINVAL;
	memcpy(sysfs, point, (size_t)(nl - point));
	sysfs[nl - point] = '\0';
	memcpy(driver, nl + 1, (size_t)(nl2 - nl - 1));
	driver[nl2 - nl - 1] = '\0';
	return kd_usb_probe(sysfs, driver[0] ? driver : NULL, nl2 + 1);
}

static void
probe(const struct kd_usb_paths *p, const char *driver, const char *name,
    json_t *o, long long by)
{
	char text[256], job[PATH_MAX], what[64];
	int err;

	if (driver != NULL)
		snprintf(what, sizeof(what), "bus/usb/drivers/%s/bind", driver);
	else
		snprintf(what, sizeof(what), "bus/usb/drivers_probe");
	/* waited for until by at most: a device can stall it */
	if ((size_t)snprintf(job, sizeof(job), "%s\n%s\n%s", p->sysfs,
	    driver ? driver : "", name) >= sizeof(job))
		err = -ENAMETOOLONG;
	else
		err = kd_usb_call_by(probe_job, job, 0, by);
	if (err == 0)
		return;
	snprintf(text, sizeof(text), "authorised, no driver %s %s(%s: %s)",
	    driver ? "bound" : "probed", err == -ETIMEDOUT ? "yet " : "",
	    what, err == -ETIMEDOUT ? "the device holds it up; it goes on" :
	    usb_describe(err));
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
		if (name != NULL && usb_saved_hub(dst, name) == NULL)
			json_array_append(json_object_get(dst, KW_HUBS), e);
	}
	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
		json_array_foreach(json_object_get(src, lists[k]), i, e)
			if (!usb_listed(dst, lists[k], json_string_value(e)))
				usb_list_add(dst, lists[k], json_string_value(e));
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
		if (sc->hubs[i].value != 0 || usb_saved_hub(st, name) != NULL)
			continue;
		err = restore_one(sc->devfd, name,
		    "interface_authorized_default", 1);
		if (err < 0) {
			usb_note(errors, first, name,
			    "interface_authorized_default", err);
			continue;
		}
		json_array_append_new(json_object_get(rec, KW_HUBS), json_pack(
		    "{s:s, s:s}", KW_NAME, name, KW_RESULT,
		    "no record: the kernel's default (1)"));
		n++;
	}
	if (n > 0)
		usb_note(errors, first, "root hubs given the kernel's default;",
		    "interfaces cut stay deauthorised", -ENODATA);
}

int
kd_usb_restore(const struct kd_usb_paths *p, bool was_cut, json_t **record)
{
	json_t *rec, *st = NULL, *errors, *e, *o, *left = NULL, *lefth = NULL;
	struct usb_scan *sc = NULL;
	const char *name;
	bool writable, lost;
	long long by = usb_probes_by(p);
	size_t i;
	int err, loaded, first = 0, was;

	*record = NULL;
	loaded = usb_state_load(p->state, &st);
	/* nothing recorded, and no cut left: nothing was changed */
	if (loaded == -ENOENT && usb_mem_state(p) == NULL && !was_cut)
		return 0;
	if ((rec = usb_record_new()) == NULL) {
		json_decref(st);
		return -ENOMEM;
	}
	errors = json_object_get(rec, KW_ERRORS);
	/* unreadable or not ours: kept as it is, for the CSIRT */
	writable = loaded == 0 || loaded == -ENOENT;
	if (!writable)
		usb_note(errors, &first, p->state, NULL, loaded);
	lost = was_cut && loaded < 0 && usb_mem_state(p) == NULL;
	if (st == NULL)
		st = usb_state_fresh();
	if (st == NULL || (sc = usb_scan_new()) == NULL ||
	    (left = json_array()) == NULL || (lefth = json_array()) == NULL) {
		first = -ENOMEM;
		goto out;
	}
	/* what could not be saved, or was lost from the file since */
	if (usb_mem_state(p) != NULL)
		state_merge(st, usb_mem_state(p));
	lost = lost || (was_cut && json_is_true(json_object_get(st,
	    KW_UNRECORDED)));
	if ((err = usb_scan_read(p->sysfs, sc, NULL)) < 0)
		usb_note(errors, &first, p->sysfs, DEVICES_DIR, err);
	json_array_foreach(json_object_get(st, KW_INTERFACES), i, e) {
		name = json_string_value(e);
		/*
		 * A cut's write to its device still waits on the device: it
		 * would land after this one.  Kept, for a later try.
		 */
		if (kd_usb_waiting(name)) {
			usb_note(errors, &first, name, "authorized",
			    -EINPROGRESS);
			json_array_append(left, e);
			continue;
		}
		err = restore_one(sc->devfd, name, "authorized", 1);
		if (err < 0) {
			usb_note(errors, &first, name, "authorized", err);
			json_array_append(left, e);
			continue;
		}
		o = json_pack("{s:s, s:s}", KW_INTERFACE, name, KW_RESULT,
		    err == 1 ? "gone" : "restored");
		if (err == 0 && o != NULL)
			probe(p, NULL, name, o, by);
		json_array_append_new(json_object_get(rec, KW_INTERFACES), o);
	}
	json_array_foreach(json_object_get(st, KW_HUBS), i, e) {
		name = json_string_value(json_object_get(e, KW_NAME));
		was = (int)json_integer_value(json_object_get(e, KW_WAS));
		err = restore_one(sc->devfd, name,
		    "interface_authorized_default", was);
		if (err < 0) {
			usb_note(errors, &first, name, "interface_authorized_default",
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
		usb_mem_forget(p);
		if (writable && loaded == 0)
			err = usb_state_remove(p->state);
	} else {
		json_object_set(st, KW_INTERFACES, left);
		json_object_set(st, KW_HUBS, lefth);
		if (writable)
			err = usb_state_save(p->state, st);
		usb_mem_keep(p, st, writable && err == 0);
	}
	if (err < 0)
		usb_note(errors, &first, p->state, NULL, err);
out:
	usb_scan_free(sc);
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
		if (stat(p->state, &st) == 0 || usb_mem_state(p) != NULL) {
			if (why != NULL)
				snprintf(why, whylen, "%s: USB changes not restored",
				    p->state);
			return -ESTALE;
		}
		return errno == ENOENT ? 0 : -errno;
	}
	if ((sc = usb_scan_new()) == NULL)
		return -ENOMEM;
	if ((err = usb_scan_read(p->sysfs, sc, NULL)) < 0)
		goto out;
	for (i = 0; i < sc->nhubs && err == 0; i++)
		if (sc->hubs[i].value != 0) {
			if (why != NULL)
				snprintf(why, whylen, "%s accepts new interfaces",
				    sc->hubs[i].name);
			err = -ESTALE;
		}
	/* unloadable: nothing is known to be kakurid's, nothing pending */
	usb_state_known(p, &saved);
	for (i = 0; i < sc->nifaces && err == 0; i++) {
		f = &sc->ifaces[i];
		/* of a class kept out: as storage, whatever it is */
		if (!f->barred)
			continue;
		if (f->authorized != 0) {
			if (why != NULL)
				snprintf(why, whylen, "interface %s (class %02x%s%s) "
				    "is authorised", f->name, f->class & 0xff,
				    f->driver[0] ? ", driver " : "", f->driver);
			err = -ESTALE;
		} else if (usb_verdict(f, saved) == KD_USB_KEEP_OUT) {
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
			    usb_describe(sc->err));
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
	usb_scan_free(sc);
	return err;
}

/* ---- interfaces of a class let in that came while isolated ---- */

int
kd_usb_admit(const struct kd_usb_paths *p, json_t **admitted)
{
	struct usb_scan *sc = NULL;
	json_t *st = NULL, *o;
	long long by = usb_probes_by(p);
	int err, first = 0, fd;
	size_t i;

	*admitted = NULL;
	/* nothing saved: no hub is kakurid's, nothing came in its stead */
	if ((err = usb_state_known(p, &st)) < 0)
		return err == -ENOENT ? 0 : err;
	if ((sc = usb_scan_new()) == NULL ||
	    (*admitted = json_array()) == NULL) {
		first = -ENOMEM;
		goto out;
	}
	if ((first = usb_scan_read(p->sysfs, sc, NULL)) < 0)
		goto out;
	if (sc->waiting_over)
		first = -E2BIG;
	for (i = 0; i < sc->nifaces; i++) {
		if (usb_verdict(&sc->ifaces[i], st) != KD_USB_ADMIT)
			continue;
		o = usb_describe_iface(p->sysfs, sc->devfd, &sc->ifaces[i]);
		/*
		 * Judged by the scan, written to later, after other
		 * interfaces' probes (which a device can stall): by then
		 * another device may have come under the same name.  Its
		 * class is read again through the directory written to; a
		 * node gone after the open fails the write (ENODEV).
		 */
		if ((fd = kd_usb_open_dir(sc->devfd, sc->ifaces[i].name,
		    true)) < 0)
			err = fd;
		else if (kd_usb_attr_uint(fd, "bInterfaceClass", 16, 0xff) !=
		    sc->ifaces[i].class)
			err = -ESTALE;
		else
			err = kd_usb_attr_set(fd, "authorized", 1);
		if (fd >= 0)
			close(fd);
		if (err < 0) {
			if (first == 0)
				first = err;
			json_object_set_new(o, KW_ERROR,
			    json_string(usb_describe(err)));
		} else if (usb_bind_driver(sc->ifaces[i].class) != NULL) {
			probe(p, usb_bind_driver(sc->ifaces[i].class),
			    sc->ifaces[i].name, o, by);
		}
		json_array_append_new(*admitted, o);
	}
out:
	usb_scan_free(sc);
	json_decref(st);
	if (*admitted != NULL && json_array_size(*admitted) == 0) {
		json_decref(*admitted);
		*admitted = NULL;
	}
	return first;
}
