/*
 * The USB enforcer's look at bus/usb/devices (usb.h): the root hubs and
 * the interfaces it follows, each read without trusting the tree, and
 * the classes let in while isolated.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <jansson.h>

#include "daemon.h"
#include "usb_int.h"
#include "wire.h"

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
	/*
	 * The drivers that may hold such an interface while isolated, the
	 * first the one admission binds (none for a card reader: pcscd
	 * claims it through usbfs).  Any other driver bound makes it one
	 * kept out: usb-storage and the ums-* drivers match some devices by
	 * vendor and product id whatever the interface class says, so a
	 * gadget can offer storage as "HID".
	 */
	const char *drivers[3];
} usb_admitted[] = {
	/* keyboards and mice: the employee still works at the isolated PC */
	{ 0x03, "HID", { "usbhid", "usbfs" } },
	/* a hub: what is plugged in behind it is judged in its turn */
	{ 0x09, "hub", { "hub" } },
	/*
	 * a smart card reader (CCID): the employee unlocks the screen with a
	 * card (PIV, a national or company ID); a card holds keys and a few
	 * kilobytes, not files
	 */
	{ 0x0b, "smart card", { NULL, "usbfs" } },
};

#define N_ADMITTED	(sizeof(usb_admitted) / sizeof(usb_admitted[0]))

static bool
class_admitted(int class)
{
	size_t i;

	for (i = 0; i < N_ADMITTED; i++)
		if (usb_admitted[i].class == class)
			return true;
	return false;
}

const char *
usb_bind_driver(int class)
{
	size_t i;

	for (i = 0; i < N_ADMITTED; i++)
		if (usb_admitted[i].class == class)
			return usb_admitted[i].drivers[0];
	return NULL;
}

/* whether driver may hold an interface of class while isolated */
static bool
driver_admitted(int class, const char *driver)
{
	size_t i, j;

	for (i = 0; i < N_ADMITTED; i++)
		for (j = 0; usb_admitted[i].class == class &&
		    j < sizeof(usb_admitted[i].drivers) /
		    sizeof(usb_admitted[i].drivers[0]); j++)
			if (usb_admitted[i].drivers[j] != NULL &&
			    strcmp(usb_admitted[i].drivers[j], driver) == 0)
				return true;
	return false;
}

/*
 * The name of the driver bound to the interface at fd into buf ("" if
 * none): the last part of its "driver" link.  0 or a negative errno.
 */
static int
iface_driver(int fd, char *buf, size_t len)
{
	char link[PATH_MAX];
	const char *base;
	ssize_t n;

	buf[0] = '\0';
	n = readlinkat(fd, "driver", link, sizeof(link));
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((size_t)n >= sizeof(link))
		return -ENAMETOOLONG;
	link[n] = '\0';
	base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	if (base[0] == '\0' || strlen(base) >= len)
		return -EBADMSG;
	snprintf(buf, len, "%s", base);
	return 0;
}

/* An error in words: the usual ones of a hostile tree said plainly. */
const char *
usb_describe(int err)
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
	case -ESTALE:
		return "another interface came under its name since it was "
		    "judged: not let in";
	case -EDEADLK:
		return "the device holds the kernel up; the write goes on";
	case -EINPROGRESS:
		return "a write to its device still waits on the device";
	case -EBUSY:
		return "too many devices hold writes up";
	default:
		return strerror(-err);
	}
}

void
usb_note(json_t *errors, int *first, const char *what, const char *detail,
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
	    KW_ERROR, usb_describe(err)));
}

/* sysfs names: "usb1", "1-2.3", "1-2:1.0"; nothing to climb out with */
bool
usb_name_ok(const char *name)
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

bool
usb_is_root_hub(const char *name)
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
		usb_note(sc->errors, &sc->err, "root hub", name, -E2BIG);
		return 0;
	}
	v = kd_usb_attr_uint(fd, "interface_authorized_default", 10, 1);
	if (v < 0)
		usb_note(sc->errors, &sc->err, name, "interface_authorized_default",
		    v);
	h = &sc->hubs[sc->nhubs++];
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->value = v < 0 ? -1 : v;
	return 0;
}

/*
 * The devnum of the device the interface at fd is of: the kernel's
 * number for it on its bus, new at each enumeration (a device plugged
 * in again at the same port has another).  -1 if unread.
 */
static long
iface_devnum(int fd)
{
	int dfd, v;

	if ((dfd = kd_usb_open_dir(fd, "..", false)) < 0)
		return -1;
	v = kd_usb_attr_uint(dfd, "devnum", 10, 1L << 20);
	close(dfd);
	return v < 0 ? -1 : v;
}

static int
scan_iface(struct usb_scan *sc, int fd, const char *name)
{
	struct usb_iface *f;
	char driver[sizeof(f->driver)];
	bool barred;
	int class, v, err = 0;

	class = kd_usb_attr_uint(fd, "bInterfaceClass", 16, 0xff);
	if (class < 0) {
		/* no class: not an interface kakurid may judge */
		usb_note(sc->errors, &sc->err, name, "bInterfaceClass", class);
		return 0;
	}
	v = kd_usb_attr_uint(fd, "authorized", 10, 1);
	barred = !class_admitted(class);
	/*
	 * Of a class let in, one bound to a driver not of its class is
	 * kept out as storage is (a driver that cannot be named: so too).
	 */
	if (!barred && v == 1 &&
	    ((err = iface_driver(fd, driver, sizeof(driver))) < 0 ||
	    (driver[0] != '\0' && !driver_admitted(class, driver)))) {
		if (err < 0)
			usb_note(sc->errors, &sc->err, name, "driver", err);
		barred = true;
	}
	/* of a class let in, only those waiting to be let in (admit) */
	if (!barred && v != 0)
		return 0;
	/*
	 * Each kind has its own limit: interfaces deauthorised on a hub that
	 * is not kakurid's never hide an authorised one from the cut.  Those
	 * past the limit are deauthorised already: held out, only not judged.
	 */
	if (v != 0 && sc->nbarred == KD_USB_IFACES_MAX) {
		usb_note(sc->errors, &sc->err, "interface", name, -E2BIG);
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
		usb_note(sc->errors, &sc->err, name, "authorized", v);
	f = &sc->ifaces[sc->nifaces++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->authorized = v < 0 ? -1 : v;
	f->class = class;
	f->barred = barred;
	f->foreign = barred && class_admitted(class);
	snprintf(f->driver, sizeof(f->driver), "%s", f->foreign ? driver : "");
	/* which device: one cut for its driver stays out, not its successor */
	f->devnum = class_admitted(class) ? iface_devnum(fd) : -1;
	return 0;
}

int
usb_scan_entry(int dfd, const char *name, void *arg)
{
	struct usb_scan *sc = arg;
	bool hub = usb_is_root_hub(name), iface = strchr(name, ':') != NULL;
	int fd;

	if (!hub && !iface)
		return 0;		/* a device: its interfaces say it all */
	if (!usb_name_ok(name)) {
		usb_note(sc->errors, &sc->err, DEVICES_DIR, "entry with a strange name",
		    -EBADMSG);
		return 0;
	}
	/* the entries are links into /sys/devices: followed, once */
	if ((fd = kd_usb_open_dir(dfd, name, true)) < 0) {
		usb_note(sc->errors, &sc->err, name, NULL, fd);
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
/* USB bus numbers: the kernel gives 1 to 255 at most */
#define USB_BUS_MAX	255

/* the entries after the root hubs usb1..usbUSB_BUS_MAX: the interfaces */
static int
scan_rest(int dfd, const char *name, void *arg)
{
	char first[16];
	int bus = usb_is_root_hub(name) && strlen(name) <= 6 ?
	    atoi(name + 3) : 0;

	/* exactly a name the first pass tried */
	snprintf(first, sizeof(first), "usb%d", bus);
	if (bus >= 1 && bus <= USB_BUS_MAX && strcmp(first, name) == 0)
		return 0;
	return usb_scan_entry(dfd, name, arg);
}

int
usb_scan_read(const char *sysfs, struct usb_scan *sc, json_t *errors)
{
	char path[PATH_MAX], name[16];
	struct stat st;
	int bus, err;

	memset(sc, 0, sizeof(*sc));
	sc->devfd = -1;
	sc->errors = errors;
	kd_usb_scans++;
	if (snprintf(path, sizeof(path), "%s/%s", sysfs, DEVICES_DIR) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	sc->devfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sc->devfd < 0) {
		err = -errno;
		sc->devfd = -1;
		return err == -ENOENT ? 0 : err;
	}
	/*
	 * The root hubs first, by name: a directory of thousands of entries
	 * (devices and interfaces a hostile tree of hubs makes) must not
	 * keep a hub listed after them from being cut.
	 */
	for (bus = 1; bus <= USB_BUS_MAX; bus++) {
		snprintf(name, sizeof(name), "usb%d", bus);
		/* only "not there" is no hub: any other failure is said */
		if (fstatat(sc->devfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			usb_scan_entry(sc->devfd, name, sc);
		else if (errno != ENOENT)
			usb_note(sc->errors, &sc->err, name, NULL, -errno);
	}
	if ((err = kd_usb_each_entry(sc->devfd, scan_rest, sc)) < 0)
		usb_note(sc->errors, &sc->err, DEVICES_DIR, NULL, err);
	return 0;
}

unsigned long kd_usb_scans;

/* A scan not made yet: scan_free may follow at once. */
struct usb_scan *
usb_scan_new(void)
{
	struct usb_scan *sc = calloc(1, sizeof(*sc));

	if (sc != NULL)
		sc->devfd = -1;
	return sc;
}

void
usb_scan_free(struct usb_scan *sc)
{
	if (sc == NULL)
		return;
	if (sc->devfd >= 0)
		close(sc->devfd);
	free(sc);
}
