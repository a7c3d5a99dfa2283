/*
 * USB mass storage cut while isolated (usb.c): an enforcer of the
 * quarantine core beside nftables (enforcer.h).  With usb.storage =
 * "deauthorize", isolation refuses new USB interfaces on every root hub
 * (interface_authorized_default = 0) and deauthorises each interface
 * present whose class is not let in while isolated (all but HID and
 * hubs: storage, bInterfaceClass 08, a phone's MTP, 06 or ff, ...), after
 * syncing and remounting read-only what is mounted from it; release
 * restores what was there.  Everything it changed is saved under
 * state_dir first, so a restart in isolation can still restore it.
 *
 * While the cut is in force, an interface that appears is deauthorised
 * by the kernel (its root hub's default): kd_usb_admit lets in those of
 * the classes let in (a keyboard plugged in while isolated works), and
 * kd_usb_deauthorize records the others, as for those present.
 * kakurid calls them on the kernel's uevents (uevent.c) and from the
 * verify timer, which also finds what the events did not say.
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
#define KD_USB_IFACES_MAX	256	/* interfaces cut or kept out followed */
/*
 * Names in each of usb.json's lists: what one scan can find (cut and
 * deauthorised ones, KD_USB_IFACES_MAX of each); names no longer there
 * leave the lists at each whole scan.
 */
#define KD_USB_LISTED_MAX	(2 * KD_USB_IFACES_MAX)
#define KD_USB_STATE_MAX	(256 * 1024)
#define KD_USB_NAME_MAX		64	/* "1-2.3.4:1.0" and the like */
/*
 * The time an isolation gives the sticks' filesystems to sync and go
 * read-only, all of them together, before they are cut all the same:
 * kakurid's loop waits meanwhile (its watchdog is 30 s).
 */
#define KD_USB_QUIESCE_MS	5000
/*
 * Driver probes waited for, all of one admission or release together: a
 * device can stall the kernel's probe (usbhid asks its descriptors again
 * and again, 5 s each), and the probes after a stalled one of the same
 * device wait on it too; past it each probe goes on in a thread of its
 * own, unwaited for.
 */
#define KD_USB_PROBE_MS		2000

/*
 * What the cut changed, held in memory as well as in usb.json (one per
 * process: usb_enforcer.c's).  usb.json may be neither writable (a full
 * disk, chattr +i by root malware) nor readable: the cut is made anyway
 * (fail closed), and the release puts back what is held here.
 */
struct kd_usb_memory {
	struct json_t *state;	/* as usb.json says it; NULL: nothing */
	bool unsaved;		/* state is not (all) in usb.json */
};

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
	/* NULL: usb.json alone says what was changed */
	struct kd_usb_memory *mem;
	/*
	 * The cut was in force before this process (a restart in
	 * isolation): a root hub found refusing new interfaces with no
	 * record at all may be a predecessor's whose record was lost.
	 */
	bool resumed;
	/* how long one admission or release waits on driver probes, in all; 0: KD_USB_PROBE_MS */
	long long probe_ms;
};

/*
 * What is to be done with an interface while the cut is in force, given
 * what kakurid changed (state: p->state as loaded, NULL for nothing).
 */
enum kd_usb_verdict {
	KD_USB_LEAVE,		/* not kakurid's: someone else's, or unreadable */
	KD_USB_CUT,		/* of a class kept out, authorised: deauthorised */
	KD_USB_KEEP_OUT,	/* of a class kept out, came while isolated: recorded */
	KD_USB_ADMIT,		/* HID or hub that came while isolated: authorised */
};
/*
 * The decision for interface name (of sysfs/bus/usb/devices), from its
 * sysfs attributes alone (a uevent's text is not trusted): reads only.
 */
enum kd_usb_verdict kd_usb_judge(const char *sysfs, const char *name,
    struct json_t *state);

/*
 * Interfaces of a class kept out deauthorised and new interfaces
 * refused; what was there before saved in p->state first, and held in
 * p->mem.  A usb.json that cannot be read or written is an error, never
 * a reason not to cut.  *record (NULL if nothing changed) gets what was
 * done and what failed (wire.h: hubs, interfaces, mounts, errors).  0,
 * or the first failure's negative errno (the rest was still done).
 */
int kd_usb_deauthorize(const struct kd_usb_paths *p, struct json_t **record);
/*
 * What p->state and p->mem say was changed put back, and p->state
 * removed (kept with what could not be restored).  was_cut: a quarantine
 * with the cut in force is being left; with no record of what it changed,
 * the root hubs that refuse new interfaces get the kernel's default (1)
 * and -ENODATA says so.  *record as above, NULL if nothing was done.
 */
int kd_usb_restore(const struct kd_usb_paths *p, bool was_cut,
    struct json_t **record);
/*
 * Whether it holds: with deauthorize, every root hub refuses new
 * interfaces, no interface of a class kept out is authorised or
 * unrecorded, and what was changed is in usb.json, not in p->mem alone;
 * without, nothing is left to restore.  0, -ESTALE, or another negative
 * errno; why (may be NULL) says what differs.
 */
int kd_usb_check(const struct kd_usb_paths *p, bool deauthorize, char *why,
    size_t whylen);

/*
 * The interfaces of a class let in (HID, hub) that came while isolated
 * (KD_USB_ADMIT) authorised.  *admitted (NULL if none) gets them, as the
 * record's interfaces are, with an error where the write failed.  0 or
 * the first failure's negative errno.
 */
int kd_usb_admit(const struct kd_usb_paths *p, struct json_t **admitted);

/*
 * The object of o's array list whose string field is name (the state's
 * hubs by KW_NAME, a record's interfaces by KW_INTERFACE); NULL if none.
 */
struct json_t *kd_usb_entry(struct json_t *o, const char *list,
    const char *field, const char *name);

/* How many times bus/usb/devices was read: what a caller can make kakurid do. */
extern unsigned long kd_usb_scans;

/*
 * How long a look at sysfs answers a verification that is not forced:
 * status (any local user may ask it, as often as it likes) and an
 * isolate while isolated reuse the last result that long rather than
 * scan sysfs each time.  The kernel's uevents and the verify timer look
 * again at once.
 */
#define KD_USB_CHECK_REUSE_USEC	(1000ULL * 1000)

/*
 * The enforcer's verification at monotonic time now (usec): the last
 * one's result if it is younger than KD_USB_CHECK_REUSE_USEC and for the
 * same decision, unless force.  0, -ESTALE, or another negative errno.
 */
int kd_usb_verify_at(struct kd *d, unsigned long long now, bool force);

extern const struct kd_enforcer kd_usb_enforcer;

#endif
