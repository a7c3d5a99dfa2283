/*
 * What the USB cut changed (usb.h): state_dir/usb.json, written ahead of
 * each change, and the same held in memory; the verdict on an interface
 * from it.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "usb_int.h"
#include "wire.h"

/* ---- what was changed: state_dir/usb.json ---- */

/* interface names ("1-2:1.0"), at most KD_USB_LISTED_MAX */
static bool
iface_names_ok(json_t *a)
{
	json_t *e;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > KD_USB_LISTED_MAX)
		return false;
	json_array_foreach(a, i, e)
		if (!json_is_string(e) || !usb_name_ok(json_string_value(e)) ||
		    strchr(json_string_value(e), ':') == NULL)
			return false;
	return true;
}

/* {name: devnum}: interface names, at most KD_USB_LISTED_MAX */
static bool
foreign_ok(json_t *o)
{
	const char *name;
	json_t *v;

	if (!json_is_object(o) || json_object_size(o) > KD_USB_LISTED_MAX)
		return false;
	json_object_foreach(o, name, v)
		if (!usb_name_ok(name) || strchr(name, ':') == NULL ||
		    !json_is_integer(v) || json_integer_value(v) < -1 ||
		    json_integer_value(v) > (1L << 20))
			return false;
	return true;
}

/*
 * {v:1, hubs:[{name, was}], interfaces:[name], kept:[name],
 * foreign:{name: devnum}, unrecorded?:bool}: -ENOENT, -EBADMSG.  kept
 * (interfaces deauthorised by someone else when their hub was cut) and
 * foreign (interfaces of a class let in, cut for a driver not of it)
 * came later: a file without them has none.
 */
int
usb_state_load(const char *path, json_t **out)
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
	if (json_object_get(st, KW_FOREIGN) == NULL)
		json_object_set_new(st, KW_FOREIGN, json_object());
	if (!foreign_ok(json_object_get(st, KW_FOREIGN)))
		goto out;
	flag = json_object_get(st, KW_UNRECORDED);
	if (flag != NULL && !json_is_boolean(flag))
		goto out;
	json_array_foreach(hubs, i, e) {
		name = json_object_get(e, KW_NAME);
		was = json_object_get(e, KW_WAS);
		if (!json_is_string(name) || !usb_is_root_hub(json_string_value(name)) ||
		    !usb_name_ok(json_string_value(name)) || !json_is_integer(was) ||
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

int
usb_state_save(const char *path, json_t *st)
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

int
usb_state_remove(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return kk_fsync_dir_of(path);
}

json_t *
usb_state_fresh(void)
{
	return json_pack("{s:i, s:[], s:[], s:[], s:{}}", KW_V, 1, KW_HUBS,
	    KW_INTERFACES, KW_KEPT, KW_FOREIGN);
}

/* ---- what was changed, in memory ---- */

json_t *
usb_mem_state(const struct kd_usb_paths *p)
{
	return p->mem != NULL ? p->mem->state : NULL;
}

/* st held in memory (a copy); saved: usb.json says all of it */
void
usb_mem_keep(const struct kd_usb_paths *p, json_t *st, bool saved)
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

void
usb_mem_forget(const struct kd_usb_paths *p)
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
int
usb_state_known(const struct kd_usb_paths *p, json_t **st)
{
	int err = usb_state_load(p->state, st);

	if (usb_mem_state(p) != NULL && (err < 0 || p->mem->unsaved)) {
		json_decref(*st);
		*st = json_deep_copy(usb_mem_state(p));
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

json_t *
usb_saved_hub(json_t *st, const char *name)
{
	return kd_usb_entry(st, KW_HUBS, KW_NAME, name);
}

/* whether name is in the state's list key (KW_INTERFACES, KW_KEPT) */
bool
usb_listed(json_t *st, const char *key, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(st, key), i, e)
		if (strcmp(json_string_value(e), name) == 0)
			return true;
	return false;
}

/*
 * Never more than a load takes back (iface_names_ok): a file it refused
 * would lose the whole record at the next start.  -E2BIG when full.
 */
int
usb_list_add(json_t *st, const char *key, const char *name)
{
	json_t *a = json_object_get(st, key);

	if (json_array_size(a) >= KD_USB_LISTED_MAX)
		return -E2BIG;
	return json_array_append_new(a, json_string(name)) < 0 ? -ENOMEM : 0;
}

/* whether a whole scan has an interface of that name */
static bool
scan_has(const struct usb_scan *sc, const char *name)
{
	size_t j;

	for (j = 0; j < sc->nifaces; j++)
		if (strcmp(name, sc->ifaces[j].name) == 0)
			return true;
	return false;
}

/*
 * The names of st's list key that no interface of a whole scan has: a
 * device gone (a name may come back with another device, which is then
 * judged anew).  Whether any went.
 */
bool
usb_list_prune(json_t *st, const char *key, const struct usb_scan *sc)
{
	json_t *a = json_object_get(st, key);
	const char *name;
	bool gone = false;
	size_t i;

	for (i = json_array_size(a); i-- > 0;) {
		name = json_string_value(json_array_get(a, i));
		if (name == NULL || !scan_has(sc, name)) {
			json_array_remove(a, i);
			gone = true;
		}
	}
	return gone;
}

/*
 * An interface of a class let in, cut for a driver not of its class,
 * with its device's devnum: it is not let in again while that device is
 * there (another driver of it would bind it again, a report and an
 * admission each time, and the release puts it back to its own driver).
 * -E2BIG when full.
 */
int
usb_foreign_add(json_t *st, const char *name, long devnum)
{
	/* the loader and usb_state_fresh make it; jansson takes NULL */
	json_t *o = json_object_get(st, KW_FOREIGN);

	if (json_object_get(o, name) == NULL &&
	    json_object_size(o) >= KD_USB_LISTED_MAX)
		return -E2BIG;
	return json_object_set_new(o, name, json_integer(devnum)) < 0 ?
	    -ENOMEM : 0;
}

/* usb_list_prune for the foreign record */
bool
usb_foreign_prune(json_t *st, const struct usb_scan *sc)
{
	json_t *o = json_object_get(st, KW_FOREIGN), *v;
	const char *name;
	void *tmp;
	bool gone = false;

	json_object_foreach_safe(o, tmp, name, v) {
		if (!scan_has(sc, name)) {
			json_object_del(o, name);
			gone = true;
		}
	}
	return gone;
}

/* whether f is one cut for its driver, of the same device */
static bool
foreign_still(json_t *st, const struct usb_iface *f)
{
	json_t *v = json_object_get(json_object_get(st, KW_FOREIGN), f->name);

	/* a device not told apart (no devnum) is taken for the same */
	return v != NULL && (f->devnum < 0 || json_integer_value(v) < 0 ||
	    json_integer_value(v) == f->devnum);
}

/* The root hub of an interface: "usb1" for "1-2.3:1.0" (and "1-0:1.0"). */
void
usb_hub_of(const char *iface, char *hub, size_t len)
{
	snprintf(hub, len, "usb%.*s", (int)strspn(iface, "0123456789"), iface);
}

/*
 * What is to be done with interface f while the cut is in force, given
 * what st says kakurid changed: its decision, apart from the writes.
 */
enum kd_usb_verdict
usb_verdict(const struct usb_iface *f, json_t *st)
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
	usb_hub_of(f->name, hub, sizeof(hub));
	ours = usb_saved_hub(st, hub) != NULL && !usb_listed(st, KW_KEPT, f->name);
	if (!ours)
		return KD_USB_LEAVE;
	if (!f->barred)
		return foreign_still(st, f) ? KD_USB_LEAVE : KD_USB_ADMIT;
	return usb_listed(st, KW_INTERFACES, f->name) ? KD_USB_LEAVE :
	    KD_USB_KEEP_OUT;
}

enum kd_usb_verdict
kd_usb_judge(const char *sysfs, const char *name, json_t *st)
{
	struct usb_scan *sc;
	enum kd_usb_verdict v = KD_USB_LEAVE;
	char path[PATH_MAX];
	int fd;

	if (!usb_name_ok(name) || strchr(name, ':') == NULL ||
	    (sc = usb_scan_new()) == NULL)
		return KD_USB_LEAVE;
	snprintf(path, sizeof(path), "%s/%s", sysfs, DEVICES_DIR);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		usb_scan_entry(fd, name, sc);
		if (sc->nifaces == 1)
			v = usb_verdict(&sc->ifaces[0], st);
		close(fd);
	}
	usb_scan_free(sc);
	return v;
}

json_t *
usb_record_new(void)
{
	return json_pack("{s:[], s:[], s:[], s:[]}", KW_HUBS, KW_INTERFACES,
	    KW_MOUNTS, KW_ERRORS);
}
