/*
 * USB mass storage cut while isolated (usb.c): an enforcer of the
 * quarantine core beside nftables (enforcer.h).  With usb.storage =
 * "deauthorize", isolation refuses new USB interfaces on every root hub
 * (interface_authorized_default = 0) and deauthorises each storage
 * interface present (bInterfaceClass 08), after syncing and remounting
 * read-only what is mounted from it; release restores what was there.
 * Everything it changed is saved under state_dir first, so a restart in
 * isolation can still restore it.
 *
 * The functions below take the sysfs root and the mountinfo file as
 * parameters: the unit tests and t-usb.sh run them against a tree they
 * build (this machine's kernel has no USB).
 */
#ifndef KD_USB_H
#define KD_USB_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "enforcer.h"
#include "usb_sysfs.h"

struct json_t;

#define KD_USB_SYSFS		"/sys"
#define KD_USB_MOUNTINFO	"/proc/self/mountinfo"
#define KD_USB_STATE_FILE	"usb.json"	/* in state_dir */

/* the test hook (kakurid.8): a built tree instead of /sys */
#define KD_USB_SYSFS_ENV	"KAKURI_SYSFS_ROOT"
#define KD_USB_MOUNTINFO_ENV	"KAKURI_MOUNTINFO"

/* Limits: what a device or a hostile tree can make kakurid hold (and usb_sysfs.h's). */
#define KD_USB_HUBS_MAX		64	/* root hubs followed */
#define KD_USB_IFACES_MAX	256	/* storage interfaces followed */
#define KD_USB_STATE_MAX	(256 * 1024)
#define KD_USB_NAME_MAX		64	/* "1-2.3.4:1.0" and the like */

struct kd_usb_paths {
	const char *sysfs;		/* "/sys", or a test tree */
	const char *mountinfo;		/* "/proc/self/mountinfo", or a file */
	const char *state;		/* state_dir/usb.json */
	/*
	 * Whether mounts are really remounted: only against the real
	 * /sys.  The device numbers of a built tree may name a disk of
	 * the machine running the test.
	 */
	bool remount;
};

/*
 * Storage interfaces deauthorised and new interfaces refused; what was
 * there before saved in p->state first.  *record (NULL if nothing
 * changed) gets what was done and what failed (wire.h: hubs,
 * interfaces, mounts, errors).  0, or the first failure's negative errno
 * (the rest was still done).
 */
int kd_usb_deauthorize(const struct kd_usb_paths *p, struct json_t **record);
/*
 * What p->state says was changed put back, and p->state removed (kept
 * with what could not be restored).  *record as above, NULL if there was
 * nothing to restore.
 */
int kd_usb_restore(const struct kd_usb_paths *p, struct json_t **record);
/*
 * Whether it holds: with deauthorize, every root hub refuses new
 * interfaces and no storage interface is authorised; without, nothing
 * is left to restore.  0, -ESTALE, or another negative errno; why (may
 * be NULL) says what differs.
 */
int kd_usb_check(const struct kd_usb_paths *p, bool deauthorize, char *why,
    size_t whylen);

extern const struct kd_enforcer kd_usb_enforcer;

#endif
