/*
 * sysfs read without trusting it, and what is below a USB storage
 * interface (usb_sysfs.c): the parts of usb.c that only read and decide,
 * unit-tested against a built tree.
 */
#ifndef KD_USB_SYSFS_H
#define KD_USB_SYSFS_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#define KD_USB_ENTRIES_MAX	4096	/* entries read in one directory */
#define KD_USB_DEVS_MAX		32	/* block devices per interface */
#define KD_USB_MOUNTS_MAX	64	/* mounts per interface */
#define KD_USB_ATTR_MAX		256	/* bytes of one sysfs attribute */
#define KD_USB_MOUNTINFO_MAX	(4 * 1024 * 1024)

/*
 * The decision of the mount part: the mounts in the mountinfo file whose
 * device is one of devs, as {mount, device, ro} (ro: the filesystem is
 * read-only already).  At most KD_USB_MOUNTS_MAX (-E2BIG past it).
 */
struct kd_usb_mount {
	char point[4096];
	dev_t dev;
	bool ro;
};
int kd_usb_mounts_on(const char *mountinfo, const dev_t *devs, size_t ndevs,
    struct kd_usb_mount **mounts, size_t *nmounts);
/*
 * The block devices below a storage interface's sysfs directory
 * (host*\/target*\/H:C:T:L/block/sdX[/sdXN]/dev), at most max.
 */
int kd_usb_block_devs(int ifacefd, dev_t *devs, size_t max, size_t *ndevs);
/* The mount flags that keep a mount's own flags (statvfs f_flag) on remount. */
unsigned long kd_usb_remount_flags(unsigned long st_flag);
/*
 * The syscalls alone: the filesystem on point (which must still be dev)
 * synced, then remounted read-only.  Not unit-tested: it needs a real
 * device.
 */
int kd_usb_remount_ro(const char *point, dev_t dev);
/*
 * The same, waited for until deadline_ms (kk_mono_ms) at most: then
 * -ETIMEDOUT, and the sync goes on in a thread of its own.
 */
int kd_usb_remount_ro_by(const char *point, dev_t dev, long long deadline_ms);
/* work(point, dev) in a thread, waited for as kd_usb_remount_ro_by does */
int kd_usb_call_by(int (*work)(const char *point, dev_t dev), const char *point,
    dev_t dev, long long deadline_ms);
/*
 * One sysfs attribute of dirfd into buf (len bytes, NUL included), the
 * trailing newline cut: its length, -EFBIG if longer, -EINVAL if not a
 * regular file, or another negative errno.
 */
int kd_usb_attr_read(int dirfd, const char *name, char *buf, size_t len);

/* An unsigned number of base 10 or 16 up to max, the whole text: or -EBADMSG. */
int kd_usb_parse_uint(const char *s, int base, long max);
/* An attribute read as such a number, or a negative errno. */
int kd_usb_attr_uint(int dirfd, const char *name, int base, long max);
/* value written into the attribute, then read back: 0, -EIO, -errno. */
int kd_usb_attr_set(int dirfd, const char *name, int value);
/*
 * A driver bound to interface name: its name written to
 * sysfs/bus/usb/drivers/DRIVER/bind (that driver only), or with driver
 * NULL to sysfs/bus/usb/drivers_probe (any driver that matches).
 * Writing authorized = 1 only sets the interface's flag (the kernel's
 * Documentation/usb/authorization.rst); the bind or the probe is what
 * binds usbhid, usb-storage...  0 or a negative errno.
 */
int kd_usb_probe(const char *sysfs, const char *driver, const char *name);
/*
 * Writes that wait on a device (the cut's, usb_cut.c), named by the
 * device ("1-2"), each with the interface directory it writes through.
 * The kernel takes a device's lock to deauthorise an interface of it,
 * and a device can hold that lock for minutes: until such a write ends,
 * no other write to that device starts (it would wait on the same lock,
 * or land after it).  kd_usb_waiting_take names dev, taking fd: 0,
 * -EINPROGRESS if dev waits already, -EBUSY if KD_USB_WAITING_MAX do;
 * kd_usb_waiting_fd is its fd, or -1; kd_usb_waiting_drop closes it and
 * forgets dev; kd_usb_waiting says whether the device of interface iface
 * ("1-2:1.0") waits.
 */
#define KD_USB_WAITING_MAX	32
#define KD_USB_WAITING_NAME_MAX	64
int kd_usb_waiting_take(const char *dev, int fd);
int kd_usb_waiting_fd(const char *dev);
void kd_usb_waiting_drop(const char *dev);
bool kd_usb_waiting(const char *iface);
/*
 * The device of interface iface: "1-2" of "1-2:1.0" (cut to len); false
 * if it names none.
 */
bool kd_usb_device_of(const char *iface, char *dev, size_t len);
/* A directory of dfd opened (follow: through a link too); fd or -errno. */
int kd_usb_open_dir(int dfd, const char *name, bool follow);
/*
 * fn for each entry of dfd (not . and ..), at most KD_USB_ENTRIES_MAX:
 * -E2BIG past that.  fn's negative return stops the walk.
 */
int kd_usb_each_entry(int dfd, int (*fn)(int dfd, const char *name, void *arg),
    void *arg);

#endif
