/*
 * What the parts of the USB enforcer share: the scan of bus/usb/devices
 * (usb_scan.c), what was changed, on disk and in memory (usb_state.c),
 * the cut (usb_cut.c), and the release, the checks and the admission
 * (usb.c).  Internal to them.
 */
#ifndef KD_USB_INT_H
#define KD_USB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "usb.h"

#define ERRORS_MAX		32	/* error entries in one record */
#define DEVICES_DIR		"bus/usb/devices"
/*
 * usb.json's flag: the cut was found in force with no record of it (a
 * restart after a save that failed), so root hubs refusing new
 * interfaces may be a predecessor's; the release gives them the
 * kernel's default.
 */
#define KW_UNRECORDED		"unrecorded"

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
	/* kept out: not of a class in usb_admitted, or held by a driver not of it */
	bool barred;
	/* of a class let in, bound to a driver not of it: that driver */
	char driver[32];
	bool foreign;			/* of a class let in, barred for its driver */
	long devnum;			/* its device's (class let in), -1 unread */
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

/* usb_scan.c */
const char *usb_describe(int err);
void usb_note(json_t *errors, int *first, const char *what, const char *detail,
    int err);
bool usb_name_ok(const char *name);
const char *usb_bind_driver(int class);
bool usb_is_root_hub(const char *name);
int usb_scan_entry(int dfd, const char *name, void *arg);
int usb_scan_read(const char *sysfs, struct usb_scan *sc, json_t *errors);
struct usb_scan *usb_scan_new(void);
void usb_scan_free(struct usb_scan *sc);

/* usb_state.c */
int usb_state_load(const char *path, json_t **out);
int usb_state_save(const char *path, json_t *st);
int usb_state_remove(const char *path);
json_t *usb_state_fresh(void);
json_t *usb_mem_state(const struct kd_usb_paths *p);
void usb_mem_keep(const struct kd_usb_paths *p, json_t *st, bool saved);
void usb_mem_forget(const struct kd_usb_paths *p);
int usb_state_known(const struct kd_usb_paths *p, json_t **st);
json_t *usb_saved_hub(json_t *st, const char *name);
bool usb_listed(json_t *st, const char *key, const char *name);
int usb_list_add(json_t *st, const char *key, const char *name);
bool usb_list_prune(json_t *st, const char *key, const struct usb_scan *sc);
int usb_foreign_add(json_t *st, const char *name, long devnum);
bool usb_foreign_prune(json_t *st, const struct usb_scan *sc);
void usb_hub_of(const char *iface, char *hub, size_t len);
enum kd_usb_verdict usb_verdict(const struct usb_iface *f, json_t *st);
/* usb.c */
json_t *usb_describe_iface(const char *sysfs, int devfd,
    const struct usb_iface *f);
long long usb_probes_by(const struct kd_usb_paths *p);
json_t *usb_record_new(void);

#endif
