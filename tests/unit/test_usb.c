/*
 * USB storage cut while isolated (agentd/usb.c, issue 12 item 3),
 * against a sysfs tree built here: this machine's kernel has no USB.
 * The tree looks like /sys: devices under devices/usbN, and
 * bus/usb/devices holding links to them.
 *
 *	usb1		root hub, interface_authorized_default 1
 *	  1-0:1.0	its hub interface (class 09)
 *	  1-1		a stick: 1-1:1.0 storage (08), disk sdb (8:16), sdb1 (8:17)
 *	  1-2		keyboard + storage: 1-2:1.0 HID (03), 1-2:1.1 storage
 *	  1-3		a hub: 1-3:1.0 (09); behind it 1-3.1, a mouse (03)
 *	usb2		root hub, interface_authorized_default 0 already
 *	bus/usb/drivers_probe	a regular file: what was written to it stays
 *	bus/usb/drivers/{usbhid,hub}/bind	so too
 *
 * The remount itself needs a real device: kd_usb_remount_ro is a thin
 * wrapper around syncfs(2) and mount(2) and is not called on a built
 * tree; the decision (which mounts, which flags) is tested here.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "adopt.h"
#include "daemon.h"
#include "identity.h"
#include "kakuri.h"
#include "run.h"
#include "sign.h"
#include "tables.h"
#include "uevent.h"
#include "usb.h"
#include "wire.h"
#include "suites.h"
#include "testutil.h"

static char root[PATH_MAX], state[PATH_MAX], mountinfo[PATH_MAX];
static struct kd_usb_paths paths;

/* root/REL (printf-style) */
static const char *
at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
at(const char *fmt, ...)
{
	static char buf[4][PATH_MAX];
	static int turn;
	char rel[PATH_MAX / 2];
	va_list ap;
	char *out = buf[turn++ % 4];

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(out, PATH_MAX, "%.*s/%s", PATH_MAX / 2 - 1, root, rel);
	return out;
}

static void
mkdirs(const char *path)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert(mkdir(tmp, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	ck_assert(mkdir(tmp, 0755) == 0 || errno == EEXIST);
}

static void
put(const char *path, const char *text)
{
	kk_test_overwrite(path, text, strlen(text));
}

static char *
get(const char *path)
{
	size_t len;

	return kk_test_read(path, &len);
}

/*
 * Does path hold want now?  Read to its end, not to the size fstat saw
 * first: a cut's thread may be writing it meanwhile (O_TRUNC, then the
 * value), and a poll must see that as "not yet", not fail.
 */
static bool
reads(const char *path, const char *want)
{
	char *s = NULL;
	size_t len;
	bool same;

	if (kk_read_file(path, 4096, &s, &len) < 0)
		return false;
	same = len == strlen(want) && memcmp(s, want, len) == 0;
	free(s);
	return same;
}

/* devices/PARENT/NAME, linked from bus/usb/devices/NAME */
static void
node(const char *parent, const char *name)
{
	char target[PATH_MAX];

	mkdirs(at("devices/%s%s%s", parent, parent[0] ? "/" : "", name));
	snprintf(target, sizeof(target), "../../../devices/%s%s%s", parent,
	    parent[0] ? "/" : "", name);
	ck_assert_int_eq(symlink(target, at("bus/usb/devices/%s", name)), 0);
}

static void
device(const char *parent, const char *name, const char *vendor,
    const char *product, const char *serial, const char *strings)
{
	node(parent, name);
	put(at("devices/%s/%s/idVendor", parent, name), vendor);
	put(at("devices/%s/%s/idProduct", parent, name), product);
	if (serial != NULL)
		put(at("devices/%s/%s/serial", parent, name), serial);
	if (strings != NULL) {
		put(at("devices/%s/%s/manufacturer", parent, name), strings);
		put(at("devices/%s/%s/product", parent, name), strings);
	}
	put(at("devices/%s/%s/authorized", parent, name), "1\n");
}

static void
iface(const char *parent, const char *name, const char *class)
{
	node(parent, name);
	put(at("devices/%s/%s/bInterfaceClass", parent, name), class);
	put(at("devices/%s/%s/authorized", parent, name), "1\n");
}

/* the disk below a storage interface: host0/target0:0:0/0:0:0:0/block/DISK */
static void
disk(const char *ifpath, const char *name, const char *dev,
    const char *part, const char *pdev)
{
	char b[PATH_MAX];

	snprintf(b, sizeof(b), "%s/host0/target0:0:0/0:0:0:0/block/%s",
	    ifpath, name);
	mkdirs(b);
	put(at("%s/dev", b + strlen(root) + 1), dev);
	/* sysfs's links lead back up: a loop if followed */
	ck_assert_int_eq(symlink("../../../0:0:0:0",
	    at("%s/device", b + strlen(root) + 1)), 0);
	if (part != NULL) {
		mkdirs(at("%s/%s", b + strlen(root) + 1, part));
		put(at("%s/%s/dev", b + strlen(root) + 1, part), pdev);
	}
}

static void
build_tree(void)
{
	kk_test_workdir(root);
	kk_test_join(state, root, "usb.json");
	kk_test_join(mountinfo, root, "mountinfo");
	mkdirs(at("bus/usb/devices"));
	put(at("bus/usb/drivers_probe"), "");
	mkdirs(at("bus/usb/drivers/usbhid"));
	put(at("bus/usb/drivers/usbhid/bind"), "");
	mkdirs(at("bus/usb/drivers/hub"));
	put(at("bus/usb/drivers/hub/bind"), "");
	node("", "usb1");
	put(at("devices/usb1/interface_authorized_default"), "1\n");
	put(at("devices/usb1/bDeviceClass"), "09\n");
	iface("usb1", "1-0:1.0", "09\n");
	device("usb1", "1-1", "0781\n", "5567\n", "4C530001230101117412\n",
	    "SanDisk Cruzer\n");
	iface("usb1/1-1", "1-1:1.0", "08\n");
	disk(at("devices/usb1/1-1/1-1:1.0"), "sdb", "8:16\n", "sdb1", "8:17\n");
	device("usb1", "1-2", "046d\n", "c52b\n", NULL, "Combo\n");
	iface("usb1/1-2", "1-2:1.0", "03\n");
	iface("usb1/1-2", "1-2:1.1", "08\n");
	device("usb1", "1-3", "05e3\n", "0608\n", NULL, NULL);
	iface("usb1/1-3", "1-3:1.0", "09\n");
	device("usb1/1-3", "1-3.1", "046d\n", "c077\n", NULL, "Mouse\n");
	iface("usb1/1-3/1-3.1", "1-3.1:1.0", "03\n");
	node("", "usb2");
	put(at("devices/usb2/interface_authorized_default"), "0\n");
	put(mountinfo,
	    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	    "40 22 8:17 / /media/alice/STICK\\040ONE rw,nosuid,nodev shared:2 - vfat /dev/sdb1 rw,fmask=0022\n"
	    "41 22 8:17 / /mnt/bind rw shared:2 - vfat /dev/sdb1 rw\n"
	    "42 22 8:16 / /mnt/ro ro - iso9660 /dev/sdb ro\n"
	    "garbage line\n"
	    "43 22 x:y / /mnt/bad rw - ext4 /dev/x rw\n");
	paths.sysfs = root;
	paths.mountinfo = mountinfo;
	paths.state = state;
	paths.remount = false;
	paths.mem = NULL;
	paths.resumed = false;
	paths.probe_ms = 0;
}

#define IF(name, path)	at("devices/usb1/%s/%s/authorized", path, name)
#define STICK		IF("1-1:1.0", "1-1")
#define COMBO_HID	IF("1-2:1.0", "1-2")
#define COMBO_STORAGE	IF("1-2:1.1", "1-2")
#define HUB_IF		IF("1-3:1.0", "1-3")
#define MOUSE		at("devices/usb1/1-3/1-3.1/1-3.1:1.0/authorized")
#define ROOT_IF		at("devices/usb1/1-0:1.0/authorized")
#define DEFAULT1	at("devices/usb1/interface_authorized_default")
#define DEFAULT2	at("devices/usb2/interface_authorized_default")

static json_t *
find_iface(json_t *rec, const char *name)
{
	return kd_usb_entry(rec, KW_INTERFACES, KW_INTERFACE, name);
}

static void
assert_untouched(void)
{
	ck_assert(reads(COMBO_HID, "1\n"));
	ck_assert(reads(HUB_IF, "1\n"));
	ck_assert(reads(MOUSE, "1\n"));
	ck_assert(reads(ROOT_IF, "1\n"));
	ck_assert(reads(at("devices/usb1/1-1/authorized"), "1\n"));
	ck_assert(reads(at("devices/usb1/1-2/authorized"), "1\n"));
	ck_assert(reads(DEFAULT2, "0\n"));
}

/* the storage interfaces and usb1's default: cut ("0\n") or back ("1\n") */
static void
assert_storage(const char *v)
{
	ck_assert(reads(STICK, v));
	ck_assert(reads(COMBO_STORAGE, v));
	ck_assert(reads(DEFAULT1, v));
}

static size_t
count(json_t *rec, const char *key)
{
	return json_array_size(json_object_get(rec, key));
}

/*
 * A whole cut ("0\n") or restore ("1\n") of the tree as built: both
 * storage interfaces in the record, no error, the rest untouched.
 */
static void
assert_applied(json_t *rec, const char *v)
{
	ck_assert_ptr_nonnull(rec);
	assert_storage(v);
	/* the composite keeps its keyboard; what was 0 before stays 0 */
	assert_untouched();
	ck_assert_int_eq(count(rec, KW_INTERFACES), 2);
	ck_assert_int_eq(count(rec, KW_ERRORS), 0);
}

/* a deauthorize or a restore that must succeed; its record dropped */
static void
cut(void)
{
	json_t *rec;

	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	json_decref(rec);
}

static void
put_back(void)
{
	json_t *rec;

	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	json_decref(rec);
}

/* put_back, after which the stick and usb1's default are authorised again */
static void
put_back_storage(void)
{
	put_back();
	ck_assert(reads(STICK, "1\n"));
	ck_assert(reads(DEFAULT1, "1\n"));
}

START_TEST(test_deauthorize)
{
	json_t *rec, *e;

	build_tree();
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), -ESTALE);
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	assert_applied(rec, "0\n");
	ck_assert_int_eq(count(rec, KW_HUBS), 1);
	e = find_iface(rec, "1-1:1.0");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_VENDOR)), "0781");
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_PRODUCT)), "5567");
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_SERIAL)),
	    "4C530001230101117412");
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_PRODUCT_NAME)),
	    "SanDisk Cruzer");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e,
	    KW_PATH)), "devices/usb1/1-1/1-1:1.0"));
	e = find_iface(rec, "1-2:1.1");
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(json_object_get(e, KW_SERIAL));
	ck_assert_ptr_null(find_iface(rec, "1-2:1.0"));
	/* the stick's mounts: decided, not remounted on a built tree */
	ck_assert_int_eq(count(rec, KW_MOUNTS), 3);
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	ck_assert_int_eq(access(state, F_OK), 0);
	json_decref(rec);
}
END_TEST

int __real_kd_usb_attr_set(int dirfd, const char *name, int value);
int __wrap_kd_usb_attr_set(int dirfd, const char *name, int value);
/* called once, before the next write of a root hub's default */
static void (*hub_write_hook)(void);
/* called before each write of authorized = 0, in the cut's thread */
static void (*cut_write_hook)(void);

int
__wrap_kd_usb_attr_set(int dirfd, const char *name, int value)
{
	void (*hook)(void) = hub_write_hook;

	if (hook != NULL && strcmp(name, "interface_authorized_default") == 0) {
		hub_write_hook = NULL;	/* once */
		hook();
	}
	hook = __atomic_load_n(&cut_write_hook, __ATOMIC_SEQ_CST);
	if (hook != NULL && strcmp(name, "authorized") == 0 && value == 0)
		hook();
	return __real_kd_usb_attr_set(dirfd, name, value);
}

static int cut_pipe[2];
static int cut_writes;

/* a device holding the kernel's lock: the write waits for a byte */
static void
cut_stalls(void)
{
	char c;

	__atomic_add_fetch(&cut_writes, 1, __ATOMIC_SEQ_CST);
	while (read(cut_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
}

/*
 * Two devices hold the kernel up at the write of authorized = 0 (a reset
 * and a stalled rebind hold the device's lock, the writer in D state).
 * The cut returns at its deadline, naming them, and their writes go on;
 * a cut meanwhile starts no second write to either device.  Before, the
 * loop waited in the write as long as the device held it (past the
 * watchdog).
 */
START_TEST(test_cut_write_stalled)
{
	json_t *rec, *e;
	size_t i;
	int n = 0, k, err = -1;

	ck_assert_int_eq(pipe(cut_pipe), 0);
	cut_writes = 0;
	build_tree();
	paths.probe_ms = 200;
	__atomic_store_n(&cut_write_hook, cut_stalls, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -EDEADLK);
	/* both writes reach the device (their threads, however busy) */
	for (k = 0; k < 500 &&
	    __atomic_load_n(&cut_writes, __ATOMIC_SEQ_CST) < 2; k++)
		usleep(10000);
	ck_assert_int_eq(__atomic_load_n(&cut_writes, __ATOMIC_SEQ_CST), 2);
	json_array_foreach(json_object_get(rec, KW_ERRORS), i, e)
		if (strstr(json_string_value(json_object_get(e, KW_ERROR)),
		    "holds the kernel up") != NULL)
			n++;
	ck_assert_int_eq(n, 2);
	/* named all the same, as cut pending */
	ck_assert_str_eq(json_string_value(json_object_get(find_iface(rec,
	    "1-1:1.0"), KW_SERIAL)), "4C530001230101117412");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
	    find_iface(rec, "1-1:1.0"), KW_RESULT)), "cut pending"));
	json_decref(rec);
	ck_assert(reads(STICK, "1\n"));
	ck_assert(reads(DEFAULT1, "0\n"));
	/* a look meanwhile: no second write to the same devices */
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -EINPROGRESS);
	json_decref(rec);
	ck_assert_int_eq(__atomic_load_n(&cut_writes, __ATOMIC_SEQ_CST), 2);
	/*
	 * A release meanwhile: those held are not put back (the held write
	 * would land after it, the stick cut after the release with no
	 * record); usb.json stays for a later try.
	 */
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), -EINPROGRESS);
	json_decref(rec);
	ck_assert_int_eq(access(state, F_OK), 0);
	ck_assert(reads(DEFAULT1, "1\n"));
	/* the devices let go: the writes end (bounded poll) */
	ck_assert_int_eq(write(cut_pipe[1], "xx", 2), 2);
	for (k = 0; k < 500 && !(reads(STICK, "0\n") &&
	    reads(COMBO_STORAGE, "0\n")); k++)
		usleep(10000);
	ck_assert(reads(STICK, "0\n") && reads(COMBO_STORAGE, "0\n"));
	__atomic_store_n(&cut_write_hook, NULL, __ATOMIC_SEQ_CST);
	/*
	 * the release tried again puts them back, once the threads let go
	 * of their devices (just after their writes; bounded poll)
	 */
	for (k = 0; k < 500; k++) {
		err = kd_usb_restore(&paths, false, &rec);
		json_decref(rec);
		if (err != -EINPROGRESS)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(err, 0);
	assert_storage("1\n");
	ck_assert_int_eq(access(state, F_OK), -1);
	close(cut_pipe[0]);
	close(cut_pipe[1]);
}
END_TEST

/*
 * a stick plugged in while usb1 still authorises new interfaces, and a
 * controller's root hub come meanwhile (a hot-plugged dock)
 */
static void
stick_comes(void)
{
	device("usb1", "1-4", "0951\n", "1666\n", "LATE4\n", "DataTraveler\n");
	iface("usb1/1-4", "1-4:1.0", "08\n");
	node("", "usb3");
	put(at("devices/usb3/interface_authorized_default"), "1\n");
}

/*
 * A stick plugged in between the cut's look at sysfs and its write of
 * the root hub's default is authorised by the kernel (the default was
 * 1 still), and that look did not see it.  It is cut by the same cut,
 * recorded (write-ahead) and reported; before, it stayed authorised
 * until the next look (a uevent's, or the verify timer's).
 */
START_TEST(test_deauthorize_late)
{
	json_t *rec, *st;
	char *names;

	build_tree();
	hub_write_hook = stick_comes;
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_null(hub_write_hook);
	ck_assert_msg(reads(IF("1-4:1.0", "1-4"), "0\n"),
	    "a stick plugged in during the cut is authorised");
	ck_assert_ptr_nonnull(find_iface(rec, "1-4:1.0"));
	ck_assert_str_eq(json_string_value(json_object_get(find_iface(rec,
	    "1-4:1.0"), KW_SERIAL)), "LATE4");
	ck_assert_int_eq(count(rec, KW_INTERFACES), 3);
	/* the hub that came is cut too, not only planned as cut */
	ck_assert_int_eq(count(rec, KW_HUBS), 2);
	ck_assert(reads(at("devices/usb3/interface_authorized_default"), "0\n"));
	json_decref(rec);
	assert_storage("0\n");
	assert_untouched();
	st = json_load_file(state, 0, NULL);
	ck_assert_ptr_nonnull(st);
	names = json_dumps(json_object_get(st, KW_INTERFACES), JSON_COMPACT);
	ck_assert_ptr_nonnull(names);
	ck_assert_msg(strstr(names, "\"1-4:1.0\"") != NULL,
	    "1-4:1.0 not in usb.json: %s", names);
	free(names);
	json_decref(st);
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	/* and put back at release, as the others */
	put_back_storage();
	ck_assert(reads(IF("1-4:1.0", "1-4"), "1\n"));
	ck_assert(reads(at("devices/usb3/interface_authorized_default"), "1\n"));
}
END_TEST

/* bus/usb/devices gone from under the cut, a file in its place */
static void
devices_go(void)
{
	char away[PATH_MAX];

	snprintf(away, sizeof(away), "%s.away", at("bus/usb/devices"));
	ck_assert_int_eq(rename(at("bus/usb/devices"), away), 0);
	put(at("bus/usb/devices"), "not a directory\n");
}

/*
 * The cut's second look cannot be taken: the first look's verdicts
 * stand (the storage it found is cut), and the record says so.  Before,
 * nothing was cut by that run.
 */
START_TEST(test_deauthorize_second_look_fails)
{
	json_t *rec, *e;
	size_t i;
	bool said = false;

	build_tree();
	hub_write_hook = devices_go;
	ck_assert_int_ne(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_null(hub_write_hook);
	ck_assert_ptr_nonnull(rec);
	assert_storage("0\n");
	ck_assert_ptr_nonnull(find_iface(rec, "1-1:1.0"));
	json_array_foreach(json_object_get(rec, KW_ERRORS), i, e)
		if (strstr(json_string_value(json_object_get(e, KW_WHAT)),
		    "second look") != NULL)
			said = true;
	ck_assert(said);
	json_decref(rec);
}
END_TEST

START_TEST(test_restore)
{
	json_t *rec;

	build_tree();
	cut();
	ck_assert_int_eq(kd_usb_check(&paths, false, NULL, 0), -ESTALE);
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	assert_applied(rec, "1\n");
	ck_assert_int_eq(access(state, F_OK), -1);
	ck_assert_int_eq(kd_usb_check(&paths, false, NULL, 0), 0);
	json_decref(rec);
	/* nothing left to restore */
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	ck_assert_ptr_null(rec);
}
END_TEST

/* An interface someone else had deauthorised is not kakurid's to restore. */
START_TEST(test_not_ours)
{
	json_t *rec;

	build_tree();
	put(COMBO_STORAGE, "0\n");
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_null(find_iface(rec, "1-2:1.1"));
	json_decref(rec);
	put_back();
	ck_assert(reads(STICK, "1\n"));
	ck_assert(reads(COMBO_STORAGE, "0\n"));
}
END_TEST

/* A restart in isolation: the saved values, not the current zeros, come back. */
START_TEST(test_restart)
{
	json_t *rec;
	char *saved;

	build_tree();
	cut();
	saved = get(state);
	/* kakurid starts again, still isolated: nothing new to do */
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert(reads(state, saved));
	free(saved);
	put_back_storage();
}
END_TEST

/* A storage interface authorised again (or a new one): verify sees it. */
START_TEST(test_reauthorised)
{
	char why[256];
	json_t *rec;

	build_tree();
	cut();
	device("usb1", "1-4", "1234\n", "5678\n", "NEW1\n", NULL);
	iface("usb1/1-4", "1-4:1.0", "08\n");
	ck_assert_int_eq(kd_usb_check(&paths, true, why, sizeof(why)), -ESTALE);
	ck_assert_ptr_nonnull(strstr(why, "1-4:1.0"));
	put(DEFAULT1, "1\n");
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_int_eq(count(rec, KW_INTERFACES), 1);
	ck_assert_ptr_nonnull(find_iface(rec, "1-4:1.0"));
	json_decref(rec);
	ck_assert(reads(at("devices/usb1/1-4/1-4:1.0/authorized"), "0\n"));
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	/* the hub's saved value is the first one (1), not the 0 it wrote */
	put_back_storage();
	ck_assert(reads(at("devices/usb1/1-4/1-4:1.0/authorized"), "1\n"));
}
END_TEST

/*
 * A keyboard + card reader plugged in while isolated: the kernel made its
 * interfaces with authorized 0 (usb1's default, cut).
 */
static void
plug_in(void)
{
	device("usb1", "1-5", "04f2\n", "0402\n", "KBD5\n", "Keyboard\n");
	iface("usb1/1-5", "1-5:1.0", "03\n");
	iface("usb1/1-5", "1-5:1.1", "08\n");
	put(at("devices/usb1/1-5/1-5:1.0/authorized"), "0\n");
	put(at("devices/usb1/1-5/1-5:1.1/authorized"), "0\n");
}

#define NEW_HID		IF("1-5:1.0", "1-5")
#define NEW_STORAGE	IF("1-5:1.1", "1-5")

/* whether name was written to the file rel as a line of its own */
static bool
written(const char *rel, const char *name)
{
	char *text = get(at("%s", rel)), line[KD_USB_NAME_MAX + 2];
	bool found;

	snprintf(line, sizeof(line), "%s\n", name);
	found = strncmp(text, line, strlen(line)) == 0 ||
	    (strstr(text, line) != NULL && strstr(text, line)[-1] == '\n');
	free(text);
	return found;
}

/* whether name was written to bus/usb/drivers_probe: any driver */
static bool
probed(const char *name)
{
	return written("bus/usb/drivers_probe", name);
}

/* whether name was written to bus/usb/drivers/DRIVER/bind: that one only */
static bool
bound(const char *driver, const char *name)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "bus/usb/drivers/%s/bind", driver);
	return written(rel, name);
}

/* The decision for each kind of interface, from the tree and usb.json. */
START_TEST(test_judge)
{
	static const struct {
		const char *name;
		enum kd_usb_verdict want;
	} rows[] = {
		{ "1-5:1.0", KD_USB_ADMIT },	/* came while isolated, HID */
		{ "1-5:1.1", KD_USB_KEEP_OUT },	/* came while isolated, storage */
		{ "1-1:1.0", KD_USB_LEAVE },	/* cut, recorded */
		{ "1-2:1.1", KD_USB_CUT },	/* storage authorised again */
		{ "1-2:1.0", KD_USB_LEAVE },	/* a keyboard that works */
		{ "1-3.1:1.0", KD_USB_LEAVE },	/* deauthorised before the cut */
		{ "2-1:1.0", KD_USB_LEAVE },	/* on usb2: refused before kakurid */
		{ "9-9:1.0", KD_USB_LEAVE },	/* not there */
		{ "1-5", KD_USB_LEAVE },	/* a device, not an interface */
		{ "usb1", KD_USB_LEAVE },
		{ "../1-5:1.0", KD_USB_LEAVE },	/* no climbing out */
		{ "", KD_USB_LEAVE },
	};
	json_t *st;
	size_t i;

	build_tree();
	put(MOUSE, "0\n");
	node("usb2", "2-1");
	iface("usb2/2-1", "2-1:1.0", "03\n");
	put(at("devices/usb2/2-1/2-1:1.0/authorized"), "0\n");
	cut();
	plug_in();
	put(COMBO_STORAGE, "1\n");
	st = json_load_file(state, 0, NULL);
	ck_assert_ptr_nonnull(st);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ck_assert_msg(kd_usb_judge(root, rows[i].name, st) == rows[i].want,
		    "%s: %d", rows[i].name, kd_usb_judge(root, rows[i].name, st));
	/* nothing saved: no hub is kakurid's, nothing came in its stead */
	ck_assert(kd_usb_judge(root, "1-5:1.0", NULL) == KD_USB_LEAVE);
	ck_assert(kd_usb_judge(root, "1-2:1.1", NULL) == KD_USB_CUT);
	json_decref(st);
}
END_TEST

START_TEST(test_plugged_in)
{
	json_t *rec, *e;
	char why[256];

	build_tree();
	cut();
	plug_in();
	/* not recorded yet: the cut does not hold */
	ck_assert_int_eq(kd_usb_check(&paths, true, why, sizeof(why)), -ESTALE);
	ck_assert_ptr_nonnull(strstr(why, "1-5:1.1"));
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_int_eq(count(rec, KW_INTERFACES), 1);
	e = find_iface(rec, "1-5:1.1");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_SERIAL)), "KBD5");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e,
	    KW_RESULT)), "arrived while isolated"));
	json_decref(rec);
	ck_assert(reads(NEW_STORAGE, "0\n"));
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	/* recorded once */
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	/* the keyboard is let in, once */
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_int_eq(json_array_size(rec), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rec,
	    0), KW_INTERFACE)), "1-5:1.0");
	json_decref(rec);
	ck_assert(reads(NEW_HID, "1\n"));
	ck_assert(reads(NEW_STORAGE, "0\n"));
	/*
	 * and bound to its driver, usbhid: authorized 1 alone binds none,
	 * and a probe would let any driver that matches take it
	 */
	ck_assert(reads(at("bus/usb/drivers/usbhid/bind"), "1-5:1.0\n"));
	ck_assert(reads(at("bus/usb/drivers_probe"), ""));
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	assert_untouched();
	/* released: as if it had been plugged in before, drivers probed */
	put_back();
	assert_storage("1\n");
	ck_assert(reads(NEW_STORAGE, "1\n"));
	ck_assert(reads(NEW_HID, "1\n"));
	ck_assert(probed("1-1:1.0") && probed("1-2:1.1") && probed("1-5:1.1"));
	ck_assert(!probed("1-2:1.0"));
}
END_TEST

/*
 * The unit tests link with --wrap=kd_usb_probe (Makefile): a device's
 * side of a probe, run before the real one when a test sets it.
 */
int __real_kd_usb_probe(const char *sysfs, const char *driver,
    const char *name);
int __wrap_kd_usb_probe(const char *sysfs, const char *driver,
    const char *name);
static void (*probe_hook)(const char *name);

int
__wrap_kd_usb_probe(const char *sysfs, const char *driver, const char *name)
{
	void (*hook)(const char *) = probe_hook;

	probe_hook = NULL;	/* once */
	if (hook != NULL)
		hook(name);
	return __real_kd_usb_probe(sysfs, driver, name);
}

/* the interface of two keyboards not probed first */
static const char *swapped;

/*
 * While the first keyboard's probe runs (a device can stall it for
 * seconds), the other port's device goes and comes back as storage:
 * the same interface name, class 08, not authorised.
 */
static void
comes_back_as_storage(const char *name)
{
	swapped = strcmp(name, "1-6:1.0") == 0 ? "1-7:1.0" : "1-6:1.0";
	put(at("devices/usb1/%.3s/%s/bInterfaceClass", swapped, swapped),
	    "08\n");
	put(at("devices/usb1/%.3s/%s/authorized", swapped, swapped), "0\n");
}

/*
 * Two keyboards came while isolated, both judged HID by one scan; between
 * letting in the first and the second, the second's port holds storage
 * under the same name.  It is not let in, nor probed, nor recorded as a
 * keyboard.  Before, the scan's verdict was written to whatever the name
 * then held: the storage interface was authorised while isolated.
 */
START_TEST(test_admit_swap)
{
	json_t *rec, *e;
	size_t i;

	build_tree();
	cut();
	device("usb1", "1-6", "1234\n", "0001\n", "A\n", "A\n");
	iface("usb1/1-6", "1-6:1.0", "03\n");
	put(at("devices/usb1/1-6/1-6:1.0/authorized"), "0\n");
	device("usb1", "1-7", "1234\n", "0002\n", "B\n", "B\n");
	iface("usb1/1-7", "1-7:1.0", "03\n");
	put(at("devices/usb1/1-7/1-7:1.0/authorized"), "0\n");
	swapped = NULL;
	/* the hook's swap done before admission goes on, however busy */
	paths.probe_ms = 60000;
	probe_hook = comes_back_as_storage;
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), -ESTALE);
	ck_assert_ptr_nonnull(swapped);
	ck_assert_msg(reads(at("devices/usb1/%.3s/%s/authorized", swapped,
	    swapped), "0\n"), "storage at %s authorised while isolated",
	    swapped);
	ck_assert(!probed(swapped) && !bound("usbhid", swapped));
	/* the first keyboard is in; the other is named as not let in */
	ck_assert_int_eq(json_array_size(rec), 2);
	json_array_foreach(rec, i, e) {
		if (strcmp(json_string_value(json_object_get(e, KW_INTERFACE)),
		    swapped) == 0)
			ck_assert_ptr_nonnull(json_object_get(e, KW_ERROR));
		else
			ck_assert_ptr_null(json_object_get(e, KW_ERROR));
	}
	json_decref(rec);
	/* storage now: kept out, and the next admission lets nothing in */
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert(reads(at("devices/usb1/%.3s/%s/authorized", swapped,
	    swapped), "0\n"));
}
END_TEST

/*
 * A device's strings as long as USB allows (126 UTF-16 units: 378 bytes
 * of UTF-8), and one longer than that: in the record, not left out.
 * Before, an attribute of 256 bytes or more was dropped, so a device
 * could keep its serial out of the CSIRT's record with a long one.
 */
START_TEST(test_long_strings_recorded)
{
	char serial[400] = "", product[1200];
	json_t *rec, *e;
	int i;

	for (i = 0; i < 126; i++)
		strcat(serial, "\xe3\x81\x82");	/* 3 bytes each */
	memset(product, 'P', 1100);
	strcpy(product + 1100, "\n");
	build_tree();
	cut();
	device("usb1", "1-8", "1234\n", "0003\n", "x\n", NULL);
	put(at("devices/usb1/1-8/serial"), serial);
	put(at("devices/usb1/1-8/product"), product);
	iface("usb1/1-8", "1-8:1.0", "08\n");
	put(at("devices/usb1/1-8/1-8:1.0/authorized"), "0\n");
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	e = find_iface(rec, "1-8:1.0");
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(json_object_get(e, KW_SERIAL));
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_SERIAL)),
	    serial);
	ck_assert_str_eq(json_string_value(json_object_get(e,
	    KW_PRODUCT_NAME)), "(longer than 1 KiB)");
	json_decref(rec);
}
END_TEST

/*
 * A hostile tree of hubs: more entries in bus/usb/devices than a scan
 * reads (6,000 devices), ten more root hubs.  Every root hub is cut all
 * the same (the scan is said to be incomplete).  Before, every entry
 * counted towards the limit before any was judged: hubs listed after the
 * first 4,096 kept taking new interfaces while isolated.
 */
START_TEST(test_many_entries_hubs_cut)
{
	char name[32];
	json_t *rec;
	int i;

	build_tree();
	for (i = 3; i < 13; i++) {
		snprintf(name, sizeof(name), "usb%d", i);
		node("", name);
		put(at("devices/%s/interface_authorized_default", name), "1\n");
	}
	for (i = 0; i < 6000; i++) {
		snprintf(name, sizeof(name), "1-%d", 100 + i);
		node("usb1", name);
	}
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -E2BIG);
	json_decref(rec);
	for (i = 3; i < 13; i++)
		ck_assert_msg(reads(at("devices/usb%d/"
		    "interface_authorized_default", i), "0\n"),
		    "root hub usb%d still takes new interfaces", i);
	ck_assert(reads(DEFAULT1, "0\n"));
}
END_TEST

/* the probe held until the test writes to it (a device stalling it) */
static int stall_pipe[2] = { -1, -1 };

static void
stalls(const char *name)
{
	char c;

	(void)name;
	while (read(stall_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
}

/*
 * A keyboard whose probe the device stalls (the kernel's usbhid asks its
 * descriptors again and again): admission does not wait for it, and says
 * so; the probe goes on in its thread.  Before, kakurid's loop waited in
 * the write, past its watchdog with two such devices.  The hook holds the
 * probe until admission has returned: waiting for it would never end
 * (the suite's timeout).
 */
START_TEST(test_admit_probe_stalled)
{
	json_t *rec;
	const char *detail;
	int i;

	ck_assert_int_eq(pipe(stall_pipe), 0);
	build_tree();
	cut();
	device("usb1", "1-6", "1234\n", "0001\n", "A\n", "A\n");
	iface("usb1/1-6", "1-6:1.0", "03\n");
	put(at("devices/usb1/1-6/1-6:1.0/authorized"), "0\n");
	paths.probe_ms = 200;
	probe_hook = stalls;
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_int_eq(json_array_size(rec), 1);
	detail = json_string_value(json_object_get(json_array_get(rec, 0),
	    KW_DETAIL));
	ck_assert_ptr_nonnull(detail);
	ck_assert_ptr_nonnull(strstr(detail, "the device holds it up"));
	ck_assert(reads(at("devices/usb1/1-6/1-6:1.0/authorized"), "1\n"));
	json_decref(rec);
	/* the device lets go: the probe ends (bounded poll) */
	ck_assert_int_eq(write(stall_pipe[1], "x", 1), 1);
	for (i = 0; i < 500 && !bound("usbhid", "1-6:1.0"); i++)
		usleep(10000);
	ck_assert(bound("usbhid", "1-6:1.0"));
	close(stall_pipe[0]);
	close(stall_pipe[1]);
}
END_TEST

/*
 * A tree without bus/usb/drivers_probe nor usbhid: the interfaces are
 * authorised all the same, and the entries say no driver was bound or
 * probed.
 */
START_TEST(test_probe_missing)
{
	const char *detail;
	json_t *rec;

	build_tree();
	ck_assert_int_eq(unlink(at("bus/usb/drivers_probe")), 0);
	/* usbhid not loaded: no bus/usb/drivers/usbhid */
	ck_assert_int_eq(unlink(at("bus/usb/drivers/usbhid/bind")), 0);
	ck_assert_int_eq(rmdir(at("bus/usb/drivers/usbhid")), 0);
	cut();
	plug_in();
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	json_decref(rec);
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_int_eq(json_array_size(rec), 1);
	ck_assert_ptr_null(json_object_get(json_array_get(rec, 0), KW_ERROR));
	detail = json_string_value(json_object_get(json_array_get(rec, 0),
	    KW_DETAIL));
	ck_assert_ptr_nonnull(detail);
	ck_assert_ptr_nonnull(strstr(detail, "drivers/usbhid/bind"));
	json_decref(rec);
	ck_assert(reads(NEW_HID, "1\n"));
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	ck_assert_int_eq(count(rec, KW_ERRORS), 0);
	detail = json_string_value(json_object_get(find_iface(rec, "1-1:1.0"),
	    KW_DETAIL));
	ck_assert_ptr_nonnull(detail);
	ck_assert_ptr_nonnull(strstr(detail, "No such file"));
	json_decref(rec);
	assert_storage("1\n");
	ck_assert(reads(NEW_STORAGE, "1\n"));
}
END_TEST

/* interface name of the tree's usb1 at rel is held by driver */
static void
held_by(const char *rel, const char *driver)
{
	char target[PATH_MAX];

	snprintf(target, sizeof(target), "../../../../../bus/usb/drivers/%s",
	    driver);
	ck_assert_int_eq(symlink(target, at("devices/usb1/%s/driver", rel)), 0);
}

/*
 * usb-storage (and the ums-* drivers) match some devices by vendor and
 * product id whatever the interface class says: a gadget offering
 * storage as "HID" (03), at an id of usb-storage's table, got it bound
 * while isolated.  An interface of a class let in that a driver not of
 * its class holds is kept out as storage is: cut at isolation, cut when
 * it comes (the kernel's "bind" uevent), named in the check, and not let
 * in again while its device is there (another of its drivers would take
 * it again: a cut, a report and an admission each time); the release
 * gives it back to a driver of its own (a trackpad's bcm5974).  One that
 * comes while isolated is bound to usbhid, not probed for any driver.
 * usbhid and usbfs (a program's claim) hold a keyboard; usbfs a card
 * reader (pcscd).
 */
START_TEST(test_foreign_driver)
{
	json_t *rec, *e, *st;
	char why[256];

	build_tree();
	device("usb1", "1-9", "0b95\n", "7720\n", "R9\n", "Reader\n");
	iface("usb1/1-9", "1-9:1.0", "0b\n");
	held_by("1-9/1-9:1.0", "usbfs");
	held_by("1-2/1-2:1.0", "usb-storage");
	held_by("1-3/1-3:1.0", "hub");
	held_by("1-3/1-3.1/1-3.1:1.0", "usbhid");
	put(at("devices/usb1/1-2/devnum"), "4\n");
	/* at isolation: the "keyboard" held by usb-storage is cut */
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert(reads(COMBO_HID, "0\n"));
	e = find_iface(rec, "1-2:1.0");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_CLASS)), "03");
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_DRIVER)),
	    "usb-storage");
	ck_assert_ptr_null(json_object_get(find_iface(rec, "1-1:1.0"),
	    KW_DRIVER));
	json_decref(rec);
	/* those held by their own drivers are not */
	ck_assert(reads(HUB_IF, "1\n"));
	ck_assert(reads(MOUSE, "1\n"));
	ck_assert(reads(at("devices/usb1/1-9/1-9:1.0/authorized"), "1\n"));
	/* deauthorised, the kernel unbinds it */
	ck_assert_int_eq(unlink(at("devices/usb1/1-2/1-2:1.0/driver")), 0);
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);

	/* the same device: not let in again, nor recorded as arrived */
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert(reads(COMBO_HID, "0\n"));
	ck_assert(!bound("usbhid", "1-2:1.0") && !probed("1-2:1.0"));
	st = json_load_file(state, 0, NULL);
	ck_assert_ptr_nonnull(st);
	ck_assert(kd_usb_judge(root, "1-2:1.0", st) == KD_USB_LEAVE);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st,
	    KW_FOREIGN), "1-2:1.0")), 4);
	json_decref(st);

	/* another device at that port (its devnum): let in, usbhid only */
	put(at("devices/usb1/1-2/devnum"), "9\n");
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_int_eq(json_array_size(rec), 1);
	json_decref(rec);
	ck_assert(reads(COMBO_HID, "1\n"));
	ck_assert(bound("usbhid", "1-2:1.0") && !probed("1-2:1.0"));
	/* a driver loaded later takes it: named, judged, cut again */
	held_by("1-2/1-2:1.0", "ums-alauda");
	ck_assert_int_eq(kd_usb_check(&paths, true, why, sizeof(why)), -ESTALE);
	ck_assert_msg(strstr(why, "1-2:1.0 (class 03, driver ums-alauda)") !=
	    NULL, "%s", why);
	st = json_load_file(state, 0, NULL);
	ck_assert_ptr_nonnull(st);
	ck_assert(kd_usb_judge(root, "1-2:1.0", st) == KD_USB_CUT);
	json_decref(st);
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert(reads(COMBO_HID, "0\n"));
	json_decref(rec);
	ck_assert_int_eq(unlink(at("devices/usb1/1-2/1-2:1.0/driver")), 0);

	/* a "driver" that is not a link: not named, so kept out */
	ck_assert_int_eq(unlink(at("devices/usb1/1-3/1-3.1/1-3.1:1.0/driver")),
	    0);
	put(at("devices/usb1/1-3/1-3.1/1-3.1:1.0/driver"), "usbhid\n");
	ck_assert_int_eq(kd_usb_check(&paths, true, why, sizeof(why)), -ESTALE);
	ck_assert_ptr_nonnull(strstr(why, "1-3.1:1.0"));
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -EINVAL);
	json_decref(rec);
	ck_assert(reads(MOUSE, "0\n"));

	/* released: put back, any driver probed */
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	json_decref(rec);
	ck_assert(reads(COMBO_HID, "1\n"));
	ck_assert(reads(MOUSE, "1\n"));
	ck_assert(probed("1-2:1.0"));
	ck_assert_int_eq(access(state, F_OK), -1);
}
END_TEST

/*
 * Only HID (03), hubs (09) and smart card readers (0b) are let in while
 * isolated.  An Android
 * phone plugged in (MTP/PTP: still image 06, and a vendor class ff
 * interface, which usb-storage binds for some devices too) stays out and
 * is recorded as storage is; a phone present at isolation is cut; a hub
 * and a keyboard plugged in are let in; release puts the phone back.
 */
#define PHONE_PTP	IF("1-6:1.0", "1-6")
#define PHONE_VENDOR	IF("1-6:1.1", "1-6")
#define NEW_KBD		IF("1-6:1.2", "1-6")
#define NEW_HUB		IF("1-7:1.0", "1-7")
#define OLD_PHONE	IF("1-8:1.0", "1-8")

static void
plug_in_phone(void)
{
	device("usb1", "1-6", "18d1\n", "4ee1\n", "PHONE6\n", "Pixel\n");
	iface("usb1/1-6", "1-6:1.0", "06\n");
	iface("usb1/1-6", "1-6:1.1", "ff\n");
	iface("usb1/1-6", "1-6:1.2", "03\n");
	device("usb1", "1-7", "05e3\n", "0610\n", NULL, NULL);
	iface("usb1/1-7", "1-7:1.0", "09\n");
	/* a smart card reader in the same hub's port: the screen's lock */
	iface("usb1/1-7", "1-7:1.1", "0b\n");
	put(IF("1-7:1.1", "1-7"), "0\n");
	put(PHONE_PTP, "0\n");
	put(PHONE_VENDOR, "0\n");
	put(NEW_KBD, "0\n");
	put(NEW_HUB, "0\n");
}

/* whether a list of interfaces (kd_usb_admit's) names name */
static bool
in_list(json_t *list, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
		if (strcmp(json_string_value(json_object_get(e, KW_INTERFACE)),
		    name) == 0)
			return true;
	return false;
}

static const char *
class_of(json_t *rec, const char *name)
{
	return json_string_value(json_object_get(find_iface(rec, name),
	    KW_CLASS));
}

START_TEST(test_other_classes)
{
	json_t *rec, *st;
	char why[256];

	build_tree();
	/* a phone in MTP mode plugged in before the isolation */
	device("usb1", "1-8", "04e8\n", "6860\n", "OLD8\n", "Galaxy\n");
	iface("usb1/1-8", "1-8:1.0", "ff\n");
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert(reads(OLD_PHONE, "0\n"));
	ck_assert_int_eq(count(rec, KW_INTERFACES), 3);
	ck_assert_str_eq(class_of(rec, "1-8:1.0"), "ff");
	ck_assert_str_eq(class_of(rec, "1-1:1.0"), "08");
	json_decref(rec);
	assert_untouched();

	plug_in_phone();
	st = json_load_file(state, 0, NULL);
	ck_assert(kd_usb_judge(root, "1-6:1.0", st) == KD_USB_KEEP_OUT);
	ck_assert(kd_usb_judge(root, "1-6:1.1", st) == KD_USB_KEEP_OUT);
	ck_assert(kd_usb_judge(root, "1-6:1.2", st) == KD_USB_ADMIT);
	ck_assert(kd_usb_judge(root, "1-7:1.0", st) == KD_USB_ADMIT);
	ck_assert(kd_usb_judge(root, "1-7:1.1", st) == KD_USB_ADMIT);
	json_decref(st);
	/* not recorded yet: the cut does not hold */
	ck_assert_int_eq(kd_usb_check(&paths, true, why, sizeof(why)), -ESTALE);
	ck_assert_ptr_nonnull(strstr(why, "1-6:1."));
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_int_eq(count(rec, KW_INTERFACES), 2);
	ck_assert_str_eq(class_of(rec, "1-6:1.0"), "06");
	ck_assert_str_eq(class_of(rec, "1-6:1.1"), "ff");
	ck_assert_str_eq(json_string_value(json_object_get(find_iface(rec,
	    "1-6:1.1"), KW_SERIAL)), "PHONE6");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
	    find_iface(rec, "1-6:1.0"), KW_RESULT)), "arrived while isolated"));
	json_decref(rec);
	/* the keyboard, the hub and the card reader are let in, the phone not */
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_int_eq(json_array_size(rec), 3);
	ck_assert(in_list(rec, "1-6:1.2") && in_list(rec, "1-7:1.0") &&
	    in_list(rec, "1-7:1.1"));
	json_decref(rec);
	ck_assert(reads(NEW_KBD, "1\n"));
	ck_assert(reads(NEW_HUB, "1\n"));
	/* each bound to its class's driver; the card reader to none */
	ck_assert(bound("usbhid", "1-6:1.2") && bound("hub", "1-7:1.0"));
	ck_assert(!bound("usbhid", "1-7:1.1") && !bound("hub", "1-7:1.1"));
	ck_assert(reads(at("bus/usb/drivers_probe"), ""));
	ck_assert(reads(PHONE_PTP, "0\n"));
	ck_assert(reads(PHONE_VENDOR, "0\n"));
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);

	/* the phone's vendor interface authorised by hand: cut again */
	put(PHONE_VENDOR, "1\n");
	ck_assert_int_eq(kd_usb_check(&paths, true, why, sizeof(why)), -ESTALE);
	ck_assert_ptr_nonnull(strstr(why, "1-6:1.1 (class ff) is authorised"));
	cut();
	ck_assert(reads(PHONE_VENDOR, "0\n"));
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);

	/* released: as if plugged in before */
	put_back_storage();
	ck_assert(reads(PHONE_PTP, "1\n"));
	ck_assert(reads(PHONE_VENDOR, "1\n"));
	ck_assert(reads(OLD_PHONE, "1\n"));
	ck_assert(reads(NEW_KBD, "1\n"));
	assert_untouched();
}
END_TEST

/*
 * Interfaces someone else had deauthorised when the hub was cut stay
 * so: not let in while isolated, not put back at release, also after a
 * restart; a usb.json of before (without "kept") still loads.
 */
START_TEST(test_kept)
{
	json_t *rec;

	build_tree();
	put(MOUSE, "0\n");
	put(COMBO_STORAGE, "0\n");
	cut();
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);	/* a restart */
	ck_assert_ptr_null(rec);
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert(reads(MOUSE, "0\n"));
	ck_assert(reads(COMBO_STORAGE, "0\n"));
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	put_back();
	ck_assert(reads(MOUSE, "0\n"));
	ck_assert(reads(COMBO_STORAGE, "0\n"));
	ck_assert(reads(STICK, "1\n"));
	/* a usb.json written before "kept" existed */
	put(state, "{\"v\":1,\"hubs\":[{\"name\":\"usb1\",\"was\":1}],"
	    "\"interfaces\":[\"1-1:1.0\"]}");
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	ck_assert_int_eq(count(rec, KW_INTERFACES), 1);
	json_decref(rec);
}
END_TEST

/*
 * More deauthorised interfaces than are followed, on a hub that is not
 * kakurid's: they hide no storage interface from the cut, and only the
 * admission says it could not look at them all.
 */
START_TEST(test_many_waiting)
{
	char name[32];
	json_t *rec;
	int i;

	build_tree();
	node("usb2", "2-1");
	for (i = 0; i < KD_USB_IFACES_MAX + 10; i++) {
		snprintf(name, sizeof(name), "2-1:1.%d", i);
		iface("usb2/2-1", name, "03\n");
		put(at("devices/usb2/2-1/%s/authorized", name), "0\n");
	}
	cut();
	assert_storage("0\n");
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), -E2BIG);
	ck_assert_ptr_null(rec);
	ck_assert(reads(at("devices/usb2/2-1/2-1:1.0/authorized"), "0\n"));
}
END_TEST

/* A stick pulled while isolated: gone at release, not an error. */
START_TEST(test_gone)
{
	json_t *rec;

	build_tree();
	cut();
	ck_assert_int_eq(unlink(at("bus/usb/devices/1-1:1.0")), 0);
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	ck_assert_str_eq(json_string_value(json_object_get(find_iface(rec,
	    "1-1:1.0"), KW_RESULT)), "gone");
	ck_assert_str_eq(json_string_value(json_object_get(find_iface(rec,
	    "1-2:1.1"), KW_RESULT)), "restored");
	json_decref(rec);
	ck_assert_int_eq(access(state, F_OK), -1);
}
END_TEST

START_TEST(test_no_usb)
{
	json_t *rec;

	kk_test_workdir(root);
	kk_test_join(state, root, "usb.json");
	paths.sysfs = root;
	paths.mountinfo = "/nonexistent";
	paths.state = state;
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert_int_eq(access(state, F_OK), -1);
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), 0);
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	ck_assert_ptr_null(rec);
}
END_TEST

/* ---- the kernel's uevents ---- */

#define MSG(s)	{ s, sizeof(s) - 1 }
#define IFPATH	"/devices/pci0000:00/0000:00:14.0/usb1/1-5/1-5:1.0"

START_TEST(test_uevent_parse)
{
	static const struct {
		struct { const char *text; size_t len; } msg;
		int rc;
		bool usb;
	} rows[] = {
		{ MSG("add@" IFPATH "\0ACTION=add\0DEVPATH=" IFPATH "\0"
		    "SUBSYSTEM=usb\0DEVTYPE=usb_interface\0SEQNUM=7\0"), 0, true },
		{ MSG("bind@" IFPATH "\0ACTION=bind\0DEVPATH=" IFPATH "\0"
		    "SUBSYSTEM=usb\0DEVTYPE=usb_interface\0DRIVER=usbhid\0"), 0, true },
		{ MSG("remove@" IFPATH "\0ACTION=remove\0DEVPATH=" IFPATH "\0"
		    "SUBSYSTEM=usb\0DEVTYPE=usb_interface\0"), 0, false },
		{ MSG("add@/devices/x/usb1/1-5\0ACTION=add\0DEVPATH=/devices/x/usb1/1-5\0"
		    "SUBSYSTEM=usb\0DEVTYPE=usb_device\0"), 0, false },
		{ MSG("add@/devices/virtual/block/loop0\0ACTION=add\0"
		    "DEVPATH=/devices/virtual/block/loop0\0SUBSYSTEM=block\0"), 0, false },
		/* no DEVTYPE, no SUBSYSTEM: not said, not assumed */
		{ MSG("add@" IFPATH "\0ACTION=add\0DEVPATH=" IFPATH "\0"), 0, false },
		/* udev's own messages (group 2) */
		{ MSG("libudev\0\xfe\xed\xca\xfe\0ACTION=add\0"), -EBADMSG, false },
		{ MSG("add@" IFPATH "\0ACTION=add\0DEVPATH=" IFPATH "\0SUBSYSTEM=usb"),
		    -EBADMSG, false },		/* a field not ended */
		{ MSG("add@" IFPATH "\0DEVPATH=" IFPATH "\0SUBSYSTEM=usb\0"),
		    -EBADMSG, false },		/* no ACTION */
		{ MSG("add@" IFPATH "\0ACTION=add\0SUBSYSTEM=usb\0"), -EBADMSG, false },
		{ MSG("@" IFPATH "\0ACTION=add\0DEVPATH=" IFPATH "\0"), -EBADMSG, false },
		{ MSG("add@" IFPATH), -EBADMSG, false },	/* header not ended */
		{ MSG(""), -EBADMSG, false },
	};
	struct kd_uevent ev;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rc = kd_uevent_parse(rows[i].msg.text, rows[i].msg.len, &ev);
		ck_assert_msg(rc == rows[i].rc, "row %zu: %d", i, rc);
		if (rc == 0)
			ck_assert_msg(kd_uevent_usb_interface(&ev) == rows[i].usb,
			    "row %zu", i);
	}
	ck_assert_int_eq(kd_uevent_parse(rows[0].msg.text, rows[0].msg.len,
	    &ev), 0);
	ck_assert_str_eq(ev.devpath, IFPATH);
	ck_assert_str_eq(ev.action, "add");
}
END_TEST

/* ---- mounts ---- */

START_TEST(test_block_devs)
{
	dev_t devs[KD_USB_DEVS_MAX];
	size_t n = 0;
	int fd;

	build_tree();
	fd = open(at("bus/usb/devices/1-1:1.0"), O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(kd_usb_block_devs(fd, devs, KD_USB_DEVS_MAX, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert(devs[0] == makedev(8, 16) || devs[1] == makedev(8, 16));
	ck_assert(devs[0] == makedev(8, 17) || devs[1] == makedev(8, 17));
	/* room for one: -E2BIG, not an overflow */
	ck_assert_int_eq(kd_usb_block_devs(fd, devs, 1, &n), -E2BIG);
	close(fd);
	fd = open(at("bus/usb/devices/1-2:1.0"), O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(kd_usb_block_devs(fd, devs, KD_USB_DEVS_MAX, &n), 0);
	ck_assert_int_eq(n, 0);
	close(fd);
}
END_TEST

START_TEST(test_mounts_on)
{
	dev_t devs[] = { makedev(8, 16), makedev(8, 17) };
	struct kd_usb_mount *m;
	size_t n;

	build_tree();
	ck_assert_int_eq(kd_usb_mounts_on(mountinfo, devs, 2, &m, &n), 0);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(m[0].point, "/media/alice/STICK ONE");
	ck_assert(m[0].dev == makedev(8, 17) && !m[0].ro);
	ck_assert_str_eq(m[1].point, "/mnt/bind");
	ck_assert_str_eq(m[2].point, "/mnt/ro");
	ck_assert(m[2].ro);
	free(m);
	/* the machine's own root (8:1) is never among them */
	ck_assert_int_eq(kd_usb_mounts_on(mountinfo, devs + 1, 1, &m, &n), 0);
	ck_assert_int_eq(n, 2);
	free(m);
	ck_assert_int_eq(kd_usb_mounts_on("/nonexistent/mountinfo", devs, 2,
	    &m, &n), -ENOENT);
	ck_assert_int_eq(kd_usb_mounts_on(mountinfo, devs, 0, &m, &n), 0);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_mounts_bounded)
{
	dev_t dev = makedev(8, 17);
	struct kd_usb_mount *m;
	char *text;
	size_t n, i, len = 0;
	int fd;

	build_tree();
	/* more mounts of the stick than are followed */
	text = malloc(100 * 128);
	ck_assert_ptr_nonnull(text);
	for (i = 0; i < 100; i++)
		len += (size_t)sprintf(text + len,
		    "%zu 1 8:17 / /m/%zu rw - vfat /dev/sdb1 rw\n", i + 50, i);
	put(mountinfo, text);
	free(text);
	ck_assert_int_eq(kd_usb_mounts_on(mountinfo, &dev, 1, &m, &n), -E2BIG);
	/* a mountinfo larger than any real one */
	fd = open(mountinfo, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(ftruncate(fd, KD_USB_MOUNTINFO_MAX + 1), 0);
	close(fd);
	ck_assert_int_eq(kd_usb_mounts_on(mountinfo, &dev, 1, &m, &n), -EFBIG);
}
END_TEST

START_TEST(test_remount_flags)
{
	unsigned long f;

	f = kd_usb_remount_flags(ST_NOSUID | ST_NODEV | ST_RELATIME);
	ck_assert(f & MS_REMOUNT);
	ck_assert(f & MS_RDONLY);
	ck_assert(f & MS_NOSUID);
	ck_assert(f & MS_NODEV);
	ck_assert(f & MS_RELATIME);
	ck_assert(!(f & MS_NOEXEC));
	ck_assert(!(f & MS_STRICTATIME));
	ck_assert(!(f & MS_BIND));	/* the filesystem, not one mount of it */
	f = kd_usb_remount_flags(ST_NOEXEC);
	ck_assert(f & MS_NOEXEC);
	ck_assert(f & MS_STRICTATIME);
	f = kd_usb_remount_flags(ST_NOATIME);
	ck_assert(f & MS_NOATIME);
	ck_assert(!(f & MS_STRICTATIME));
}
END_TEST

/* The wrapper refuses a mount point that is not the device it was told. */
/*
 * A sync that takes minutes (a slow stick's dirty pages; syncfs(2) cannot
 * be interrupted) holds the caller until its deadline and no longer: the
 * work goes on in its thread, which frees what it shares once it is done.
 * A stand-in that blocks on a pipe plays the sync; the real one is not
 * exercised (the test tree has no mounts).
 */
static int slow_pipe[2] = { -1, -1 };
static volatile int slow_done;

static int
slow_work(const char *point, dev_t dev)
{
	char c;

	(void)point;
	(void)dev;
	while (read(slow_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	__atomic_store_n(&slow_done, 1, __ATOMIC_SEQ_CST);
	return -EIO;
}

/* the threads of this process */
static int
threads(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
quick_work(const char *point, dev_t dev)
{
	return strcmp(point, "/mnt/stick") == 0 && dev == makedev(8, 17) ?
	    0 : -EINVAL;
}

START_TEST(test_remount_bounded)
{
	long long t0, took;
	int i;

	/* done in time: its answer */
	ck_assert_int_eq(kd_usb_call_by(quick_work, "/mnt/stick",
	    makedev(8, 17), kk_mono_ms() + 5000), 0);
	/* not done: -ETIMEDOUT at the deadline, the work left running */
	ck_assert_int_eq(pipe(slow_pipe), 0);
	t0 = kk_mono_ms();
	ck_assert_int_eq(kd_usb_call_by(slow_work, "/mnt/stick", 0, t0 + 200),
	    -ETIMEDOUT);
	took = kk_mono_ms() - t0;
	ck_assert_msg(took >= 190, "returned after %lld ms", took);
	ck_assert(!__atomic_load_n(&slow_done, __ATOMIC_SEQ_CST));
	/* the sync ends later: the thread finishes and frees its job */
	ck_assert_int_eq(write(slow_pipe[1], "x", 1), 1);
	for (i = 0; i < 3000 && !__atomic_load_n(&slow_done,
	    __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	ck_assert(__atomic_load_n(&slow_done, __ATOMIC_SEQ_CST));
	/* gone once it freed the job (else ASan counts a leak at exit) */
	for (i = 0; i < 3000 && threads() > 1; i++)
		usleep(1000);
	ck_assert_int_eq(threads(), 1);
	close(slow_pipe[0]);
	close(slow_pipe[1]);
}
END_TEST

START_TEST(test_remount_wrong_dev)
{
	struct stat st;

	ck_assert_int_eq(stat("/", &st), 0);
	ck_assert_int_eq(kd_usb_remount_ro("/", st.st_dev + 1), -ESTALE);
	ck_assert_int_eq(kd_usb_remount_ro("/nonexistent", st.st_dev), -ENOENT);
}
END_TEST

/* ---- hostile trees ---- */

START_TEST(test_attr_read)
{
	char buf[16];
	int dfd;

	build_tree();
	dfd = open(root, O_RDONLY | O_DIRECTORY);
	put(at("a"), "08\n");
	ck_assert_int_eq(kd_usb_attr_read(dfd, "a", buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "08");
	put(at("big"), "0123456789abcdefXYZ");
	ck_assert_int_eq(kd_usb_attr_read(dfd, "big", buf, sizeof(buf)), -EFBIG);
	ck_assert_int_eq(mkfifo(at("fifo"), 0600), 0);
	ck_assert_int_eq(kd_usb_attr_read(dfd, "fifo", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(symlink("a", at("link")), 0);
	ck_assert_int_eq(kd_usb_attr_read(dfd, "link", buf, sizeof(buf)), -ELOOP);
	ck_assert_int_eq(kd_usb_attr_read(dfd, "none", buf, sizeof(buf)), -ENOENT);
	close(dfd);
}
END_TEST

/* each row: what is done to the tree, and the interface that suffers */
static void
hostile(int i)
{
	int fd;

	switch (i) {
	case 0:	/* a link loop among the devices */
		ck_assert_int_eq(symlink("loop-b", at("bus/usb/devices/9-9:1.0")), 0);
		ck_assert_int_eq(symlink("9-9:1.0", at("bus/usb/devices/loop-b")), 0);
		break;
	case 1:	/* a huge authorized file */
		fd = open(COMBO_STORAGE, O_WRONLY | O_TRUNC);
		ck_assert_int_eq(ftruncate(fd, 64 << 20), 0);
		close(fd);
		break;
	case 2:	/* no authorized file */
		ck_assert_int_eq(unlink(COMBO_STORAGE), 0);
		break;
	case 3:	/* not a number */
		put(COMBO_STORAGE, "yes\n");
		break;
	case 4:	/* a class that is no hex byte */
		put(at("devices/usb1/1-2/1-2:1.1/bInterfaceClass"), "zz\n");
		break;
	case 5:	/* a root hub's default no boolean */
		put(DEFAULT2, "-1\n");
		break;
	case 6:	/* a loop below the interface, where disks are looked for */
		ck_assert_int_eq(symlink(".", at("devices/usb1/1-1/1-1:1.0/host1")), 0);
		break;
	case 7:	/* a device string of control characters and bad UTF-8 */
		put(at("devices/usb1/1-1/serial"), "\x1b[2J\xff\xfe");
		break;
	}
}

START_TEST(test_hostile)
{
	json_t *rec, *e;
	int err;

	build_tree();
	hostile(_i);
	err = kd_usb_deauthorize(&paths, &rec);
	ck_assert_ptr_nonnull(rec);
	/* the stick is cut whatever else the tree holds */
	ck_assert(reads(STICK, "0\n"));
	ck_assert(reads(DEFAULT1, "0\n"));
	ck_assert(reads(COMBO_HID, "1\n"));
	ck_assert(reads(MOUSE, "1\n"));
	e = json_array_get(json_object_get(rec, KW_ERRORS), 0);
	if (_i == 6 || _i == 7) {
		ck_assert_int_eq(err, 0);
		ck_assert_ptr_null(e);
	} else {
		/* a clear error, naming what it is about */
		ck_assert_int_lt(err, 0);
		ck_assert_ptr_nonnull(e);
		ck_assert_ptr_nonnull(json_string_value(json_object_get(e, KW_WHAT)));
		ck_assert_ptr_nonnull(json_string_value(json_object_get(e, KW_ERROR)));
		/* and what it cannot judge is not claimed to hold */
		ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), -ESTALE);
	}
	if (_i == 7)
		ck_assert_ptr_nonnull(json_string_value(json_object_get(
		    find_iface(rec, "1-1:1.0"), KW_SERIAL)));
	json_decref(rec);
	put_back_storage();
}
END_TEST

START_TEST(test_state_hostile)
{
	static const char *const bad[] = {
		"not json",
		"{\"v\":1,\"hubs\":[],\"interfaces\":[\"../../../etc/x:1\"]}",
		"{\"v\":1,\"hubs\":[{\"name\":\"sda\",\"was\":1}],\"interfaces\":[]}",
		"{\"v\":1,\"hubs\":[{\"name\":\"usb1\",\"was\":7}],\"interfaces\":[]}",
		"{\"v\":1,\"hubs\":{},\"interfaces\":[]}",
	};
	char aside[PATH_MAX + 8];
	json_t *rec;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build_tree();
		put(state, bad[i]);
		/* restore refuses it and keeps it */
		ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), -EBADMSG);
		json_decref(rec);
		ck_assert_int_eq(access(state, F_OK), 0);
		/* apply keeps it aside and cuts anyway */
		ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -EBADMSG);
		json_decref(rec);
		snprintf(aside, sizeof(aside), "%s.bad", state);
		ck_assert_int_eq(access(aside, F_OK), 0);
		ck_assert(reads(STICK, "0\n"));
		ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
		json_decref(rec);
		ck_assert(reads(STICK, "1\n"));
	}
}
END_TEST

/* A usb.json larger than any kakurid writes: kept aside, the media cut. */
START_TEST(test_state_huge)
{
	json_t *rec;
	int fd;

	build_tree();
	fd = open(state, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, KD_USB_STATE_MAX + 1), 0);
	close(fd);
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), -EFBIG);
	json_decref(rec);
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -EFBIG);
	json_decref(rec);
	assert_storage("0\n");
	put_back();
	assert_storage("1\n");
}
END_TEST

/* whether rec's errors name text */
static bool
error_says(json_t *rec, const char *text)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(rec, KW_ERRORS), i, e) {
		if (strstr(json_string_value(json_object_get(e, KW_WHAT)),
		    text) != NULL || strstr(json_string_value(json_object_get(e,
		    KW_ERROR)), text) != NULL)
			return true;
	}
	return false;
}

/*
 * usb.json cannot be written (a full disk, chattr +i): the cut is made
 * anyway (fail closed), the error returned and recorded with what was
 * changed; the release puts it back from memory.
 */
START_TEST(test_state_unwritable)
{
	struct kd_usb_memory mem = { NULL, false };
	char why[256];
	json_t *rec;

	build_tree();
	paths.mem = &mem;
	kk_test_join(state, root, "no/such/dir/usb.json");
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -ENOENT);
	ck_assert_ptr_nonnull(rec);
	ck_assert(error_says(rec, "not saved, cut all the same"));
	/* what is needed to restore is in the record: the hub's value before */
	ck_assert_int_eq(json_integer_value(json_object_get(kd_usb_entry(rec,
	    KW_HUBS, KW_NAME, "usb1"), KW_WAS)), 1);
	ck_assert_ptr_nonnull(find_iface(rec, "1-1:1.0"));
	json_decref(rec);
	assert_storage("0\n");
	assert_untouched();
	ck_assert(mem.unsaved);
	/* it holds, but not durably: not verified, and tried again */
	ck_assert_int_eq(kd_usb_check(&paths, true, why, sizeof(why)), -ESTALE);
	ck_assert_ptr_nonnull(strstr(why, "held in memory only"));
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -ENOENT);
	json_decref(rec);
	/* a phone that comes meanwhile is judged from memory */
	plug_in_phone();
	ck_assert_int_eq(kd_usb_admit(&paths, &rec), 0);
	ck_assert_int_eq(json_array_size(rec), 3);
	json_decref(rec);
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -ENOENT);
	ck_assert_ptr_nonnull(find_iface(rec, "1-6:1.0"));
	json_decref(rec);
	ck_assert(reads(PHONE_PTP, "0\n"));
	/* released: from memory */
	ck_assert_int_eq(kd_usb_restore(&paths, true, &rec), 0);
	ck_assert_int_eq(count(rec, KW_INTERFACES), 4);
	json_decref(rec);
	assert_storage("1\n");
	ck_assert(reads(PHONE_PTP, "1\n"));
	ck_assert_ptr_null(mem.state);
	ck_assert_int_eq(kd_usb_check(&paths, false, NULL, 0), 0);
}
END_TEST

/*
 * Neither usb.json nor memory (the process that cut is gone, and it
 * could not save): the release gives the root hubs the kernel's
 * default and says so; the interfaces cut stay deauthorised.
 */
START_TEST(test_state_lost)
{
	struct kd_usb_memory mem = { NULL, false };
	json_t *rec;

	build_tree();
	kk_test_join(state, root, "no/such/dir/usb.json");
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -ENOENT);
	json_decref(rec);
	assert_storage("0\n");
	/* a restart in isolation: it finds the cut in force, no record */
	paths.mem = &mem;
	paths.resumed = true;
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), -ENODATA);
	ck_assert(error_says(rec, "no record"));
	json_decref(rec);
	ck_assert(json_is_true(json_object_get(mem.state, "unrecorded")));
	/* not a release of a cut (egress, open at start): nothing */
	paths.mem = NULL;
	ck_assert_int_eq(kd_usb_restore(&paths, false, &rec), 0);
	ck_assert_ptr_null(rec);
	ck_assert(reads(DEFAULT1, "0\n"));
	/* the release: usb1 back to the kernel's default, usb2 as well */
	ck_assert_int_eq(kd_usb_restore(&paths, true, &rec), -ENODATA);
	ck_assert(error_says(rec, "kernel's default"));
	ck_assert_ptr_nonnull(kd_usb_entry(rec, KW_HUBS, KW_NAME, "usb1"));
	json_decref(rec);
	ck_assert(reads(DEFAULT1, "1\n"));
	ck_assert(reads(STICK, "0\n"));
	/* from the memory's flag alone, too */
	put(DEFAULT1, "0\n");
	paths.mem = &mem;
	ck_assert_int_eq(kd_usb_restore(&paths, true, &rec), -ENODATA);
	json_decref(rec);
	ck_assert(reads(DEFAULT1, "1\n"));
	ck_assert_ptr_null(mem.state);
}
END_TEST

/*
 * A gadget that comes back again and again under new interface names (its
 * configuration number), 9 times 32 while isolated: the names of those
 * gone leave usb.json, which stays one the next start loads.  Before, the
 * writer kept every name and wrote what its loader refuses (more than
 * 256): a restart lost the whole record, and the release left the stick
 * cut at isolation deauthorised and opened a hub someone else had closed.
 */
START_TEST(test_state_names_come_and_go)
{
	struct kd_usb_memory mem0 = { NULL, false }, mem = { NULL, false };
	char name[32];
	json_t *rec, *st;
	int b, i;

	build_tree();
	paths.mem = &mem0;
	cut();
	device("usb1", "1-6", "1234\n", "0001\n", "EVIL\n", "Gadget\n");
	for (b = 1; b <= 9; b++) {
		for (i = 0; i < 32; i++) {
			snprintf(name, sizeof(name), "1-6:%d.%d", b, i);
			iface("usb1/1-6", name, "08\n");
			put(at("devices/usb1/1-6/%s/authorized", name), "0\n");
		}
		ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
		ck_assert_int_eq(count(rec, KW_INTERFACES), 32);
		json_decref(rec);
		for (i = 0; i < 32; i++) {
			snprintf(name, sizeof(name), "1-6:%d.%d", b, i);
			ck_assert_int_eq(unlink(at("bus/usb/devices/%s", name)),
			    0);
		}
	}
	st = json_load_file(state, 0, NULL);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_le(json_array_size(json_object_get(st, KW_INTERFACES)),
	    KD_USB_LISTED_MAX);
	json_decref(st);
	/* kakurid restarts while isolated: the record loads */
	paths.mem = &mem;
	paths.resumed = true;
	ck_assert_int_eq(kd_usb_deauthorize(&paths, &rec), 0);
	json_decref(rec);
	ck_assert_ptr_null(json_object_get(mem.state, "unrecorded"));
	/* the release puts back what was there, no more */
	ck_assert_int_eq(kd_usb_restore(&paths, true, &rec), 0);
	json_decref(rec);
	ck_assert(reads(STICK, "1\n"));
	ck_assert(reads(DEFAULT1, "1\n"));
	ck_assert(reads(DEFAULT2, "0\n"));
	json_decref(mem0.state);
	json_decref(mem.state);
}
END_TEST

/*
 * An existing usb.json that cannot be read: not written over (it may
 * still say what to restore), and the media are cut all the same.
 */
START_TEST(test_state_unreadable)
{
	struct kd_usb_memory mem = { NULL, false };
	char target[PATH_MAX];
	json_t *rec;

	build_tree();
	paths.mem = &mem;
	/* a link loop: ELOOP, which even root cannot read through */
	ck_assert_int_eq(symlink("usb.json", state), 0);
	ck_assert_int_lt(kd_usb_deauthorize(&paths, &rec), 0);
	ck_assert_ptr_nonnull(rec);
	ck_assert(error_says(rec, "symbolic link"));
	json_decref(rec);
	assert_storage("0\n");
	assert_untouched();
	ck_assert_int_eq(readlink(state, target, sizeof(target)), 8);
	ck_assert_int_eq(kd_usb_check(&paths, true, NULL, 0), -ESTALE);
	/* released from memory; the file is left for the CSIRT */
	ck_assert_int_lt(kd_usb_restore(&paths, true, &rec), 0);
	json_decref(rec);
	assert_storage("1\n");
	ck_assert_int_eq(readlink(state, target, sizeof(target)), 8);
}
END_TEST

/* ---- the policy key ---- */

START_TEST(test_policy)
{
	static const struct { const char *usb; int rc; bool want; } rows[] = {
		{ "", 0, false },
		{ "usb: { storage = \"deauthorize\"; };", 0, true },
		{ "usb: { storage = \"keep\"; };", 0, false },
		{ "usb: { storage = \"maybe\"; };", -EINVAL, false },
		{ "usb: { storage = 1; };", -EINVAL, false },
		{ "usb: { stroage = \"keep\"; };", -EINVAL, false },
	};
	struct kk_policy p;
	char dir[PATH_MAX], path[PATH_MAX], text[1024], err[256];
	size_t i;
	int rc;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "kakuri.conf");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(text, sizeof(text),
		    "agent: { state_dir = \"/var/lib/kakuri\"; "
		    "control_socket = \"/run/kakuri/control.sock\"; };\n"
		    "management: { peers = [ \"192.0.2.10\" ]; ports = [ 7443 ]; };\n"
		    "%s\n", rows[i].usb);
		put(path, text);
		err[0] = '\0';
		rc = kk_policy_load(path, KK_POLICY_SKIP_OWNER_CHECK, &p, err,
		    sizeof(err));
		ck_assert_msg(rc == rows[i].rc, "row %zu: %d (%s)", i, rc, err);
		if (rc == 0)
			ck_assert(p.usb_storage_deauthorize == rows[i].want);
		else
			ck_assert_ptr_nonnull(strstr(err, "usb.st"));
	}
}
END_TEST

/* ---- the enforcer: what it says it did, and how often it looks ---- */

static struct kd kd;
static struct kk_policy kpolicy;
static char *receipt_text;

/*
 * kakurid as far as the USB enforcer needs it (policy, audit, outbox,
 * identity key), on the tree: the test hook of kakurid.8
 */
static void
enforcer_kd(const char *state_dir)
{
	memset(&kd, 0, sizeof(kd));
	kk_policy_defaults(&kpolicy);
	snprintf(kpolicy.state_dir, sizeof(kpolicy.state_dir), "%s",
	    state_dir);
	kpolicy.usb_storage_deauthorize = true;
	kd.policy = &kpolicy;
	kk_test_outbox_kd(&kd, root, true);
	ck_assert_int_eq(setenv(KD_USB_SYSFS_ENV, root, 1), 0);
	ck_assert_int_eq(setenv(KD_USB_MOUNTINFO_ENV, mountinfo, 1), 0);
}

static void
enforcer_kd_free(void)
{
	kk_audit_close(&kd.audit);
	kd_identity_free(&kd);
	unsetenv(KD_USB_SYSFS_ENV);
	unsetenv(KD_USB_MOUNTINFO_ENV);
	free(receipt_text);
	receipt_text = NULL;
}

static void
keep_receipt(struct kd *d, void *opaque, uint64_t token, struct kd_answer *a)
{
	(void)d;
	(void)opaque;
	(void)token;
	ck_assert_ptr_nonnull(a->receipt);
	receipt_text = strdup(a->receipt);
}

/*
 * A done signed isolate's receipt after the USB enforcer applied, as
 * kakurictl reads it: opened with the agent's identity key.
 */
static json_t *
isolate_receipt(void)
{
	struct run *r;
	const char *why = NULL;
	json_t *rec;

	r = kd_run_new(&kd, KD_ORIGIN_APPLY, "test", keep_receipt, NULL, 0);
	ck_assert_ptr_nonnull(r);
	r->result = KR_DONE;
	kd_run_enforcers(r);
	kd_run_finish(r);
	ck_assert_ptr_nonnull(receipt_text);
	rec = kk_receipt_open((const uint8_t *)receipt_text,
	    strlen(receipt_text), kd.agent_key, kd.agent_id, &why);
	ck_assert_msg(rec != NULL, "%s", why);
	free(receipt_text);
	receipt_text = NULL;
	return rec;
}

/*
 * The USB cut done only partly (usb.json cannot be written): the
 * network's isolation is never held back (apply answers 0), but the
 * enforcer says degraded, and so do the receipt (still "done": an old
 * kakurictl accepts it) and the audit, naming usb and why.
 */
START_TEST(test_enforcer_degraded)
{
	char dir[PATH_MAX], what[512], *audit;
	struct kd_outcome out;
	json_t *rec, *e;
	size_t len;

	build_tree();
	kk_test_join(dir, root, "no/such/dir");
	enforcer_kd(dir);
	ck_assert_int_eq(kd_usb_enforcer.apply(&kd, KK_MODE_ISOLATED,
	    kd.state.episode), 0);
	assert_storage("0\n");
	ck_assert_ptr_nonnull(kd_usb_enforcer.outcome);
	kd_usb_enforcer.outcome(&kd, &out);
	ck_assert_int_eq(out.result, KD_ENF_DEGRADED);
	ck_assert_str_eq(out.reason, "state-unsaved");
	ck_assert_ptr_nonnull(strstr(out.detail, "not saved"));

	rec = isolate_receipt();
	ck_assert_str_eq(json_string_value(json_object_get(rec, KW_RESULT)),
	    KR_DONE);
	ck_assert_str_eq(json_string_value(json_object_get(rec, KW_REASON)),
	    KR_DEGRADED);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(rec,
	    KW_DETAIL)), "usb degraded state-unsaved"));
	ck_assert_int_eq(json_array_size(json_object_get(rec, KW_ENFORCERS)),
	    1);
	e = json_array_get(json_object_get(rec, KW_ENFORCERS), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_NAME)), "usb");
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_RESULT)),
	    KR_DEGRADED);
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_REASON)),
	    "state-unsaved");
	/* what kakurictl send shows the operator */
	ck_assert_int_eq(kk_receipt_degraded(rec, what, sizeof(what)), 1);
	ck_assert_ptr_nonnull(strstr(what, "usb degraded state-unsaved: "));
	ck_assert_ptr_nonnull(strstr(what, "not saved"));
	json_decref(rec);
	audit = kk_test_read(kd.audit_path, &len);
	ck_assert_ptr_nonnull(strstr(audit, "\"enforcers\""));
	ck_assert_ptr_nonnull(strstr(audit, "state-unsaved"));
	free(audit);

	/* status, isolated: not verified, and still says why */
	kd.state.mode = KK_MODE_ISOLATED;
	ck_assert_int_eq(kd_usb_enforcer.verify(&kd, KK_MODE_ISOLATED,
	    kd.state.episode), -ESTALE);
	kd_usb_enforcer.outcome(&kd, &out);
	ck_assert_int_eq(out.result, KD_ENF_DEGRADED);
	ck_assert_str_eq(out.reason, "state-unsaved");

	/* released from memory: all of it back, nothing degraded */
	ck_assert_int_eq(kd_usb_enforcer.release(&kd), 0);
	assert_storage("1\n");
	kd_usb_enforcer.outcome(&kd, &out);
	ck_assert_int_eq(out.result, KD_ENF_APPLIED);
	enforcer_kd_free();
}
END_TEST

/*
 * The tables applied without one the kernel refused (no bridge family;
 * no netdev egress hook before Linux 5.16) are degraded, said in the
 * receipt: applied, the CSIRT was told "done" and nothing more.
 */
START_TEST(test_tables_refused_degraded)
{
	struct kd_outcome out;
	struct kd *k = calloc(1, sizeof(*k));

	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(kd_tables_enforcer.outcome);
	k->state.mode = KK_MODE_ISOLATED;
	kd_tables_enforcer.outcome(k, &out);
	ck_assert_int_eq(out.result, KD_ENF_APPLIED);
	k->netdev_unsupported = true;
	kd_tables_enforcer.outcome(k, &out);
	ck_assert_int_eq(out.result, KD_ENF_DEGRADED);
	ck_assert_str_eq(out.reason, "table-refused");
	ck_assert_ptr_nonnull(strstr(out.detail, "refused the netdev table"));
	k->no_bridge = true;
	kd_tables_enforcer.outcome(k, &out);
	ck_assert_ptr_nonnull(strstr(out.detail, "bridged traffic"));
	ck_assert_ptr_nonnull(strstr(out.detail, "; frames of AF_PACKET"));
	/* egress mode has no netdev table: only the bridge is missing */
	k->state.mode = KK_MODE_EGRESS;
	kd_tables_enforcer.outcome(k, &out);
	ck_assert_int_eq(out.result, KD_ENF_DEGRADED);
	ck_assert_ptr_null(strstr(out.detail, "netdev"));
	/* open: nothing to cut, nothing missing */
	k->state.mode = KK_MODE_OPEN;
	kd_tables_enforcer.outcome(k, &out);
	ck_assert_int_eq(out.result, KD_ENF_APPLIED);
	ck_assert_str_eq(out.detail, "");
	free(k);
}
END_TEST

/* The whole cut: the receipt names usb applied, and says nothing more. */
START_TEST(test_enforcer_applied)
{
	char what[64];
	json_t *rec, *e;

	build_tree();
	enforcer_kd(root);
	ck_assert_int_eq(kd_usb_enforcer.apply(&kd, KK_MODE_ISOLATED,
	    kd.state.episode), 0);
	assert_storage("0\n");
	rec = isolate_receipt();
	ck_assert_ptr_null(json_object_get(rec, KW_REASON));
	e = json_array_get(json_object_get(rec, KW_ENFORCERS), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, KW_RESULT)),
	    KR_APPLIED);
	ck_assert_int_eq(kk_receipt_degraded(rec, what, sizeof(what)), 0);
	json_decref(rec);
	kd.state.mode = KK_MODE_ISOLATED;
	ck_assert_int_eq(kd_usb_enforcer.release(&kd), 0);
	assert_storage("1\n");
	enforcer_kd_free();
}
END_TEST

/*
 * status (any local user, as often as it likes) verifies the USB cut:
 * within KD_USB_CHECK_REUSE_USEC of a look, the same result without a
 * scan of sysfs.  The kernel's uevents (force) look at once.  The time
 * is given, not waited for.
 */
START_TEST(test_status_scans)
{
	const unsigned long long t0 = 1000ULL * 1000 * 1000;
	struct kd_outcome out;
	unsigned long before, looked;
	int i;

	build_tree();
	enforcer_kd(root);
	ck_assert_int_eq(kd_usb_enforcer.apply(&kd, KK_MODE_ISOLATED,
	    kd.state.episode), 0);
	kd.state.mode = KK_MODE_ISOLATED;
	before = kd_usb_scans;
	ck_assert_int_eq(kd_usb_verify_at(&kd, t0, false), 0);
	looked = kd_usb_scans;
	ck_assert_uint_gt(looked, before);
	/* a thousand status requests within the second: no scan */
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(kd_usb_verify_at(&kd, t0 + (unsigned)i * 900,
		    false), 0);
	ck_assert_uint_eq(kd_usb_scans, looked);
	/* the result says when it was looked at: its age */
	kd_usb_enforcer.outcome(&kd, &out);
	ck_assert_uint_eq(out.at, t0);
	/* a stick authorised by hand: a uevent's look cuts it at once */
	put(STICK, "1\n");
	ck_assert_int_eq(kd_usb_verify_at(&kd, t0 + 1000, true), 0);
	ck_assert(reads(STICK, "0\n"));
	looked = kd_usb_scans;
	/* once the result is a second old, status looks again */
	ck_assert_int_eq(kd_usb_verify_at(&kd, t0 + 1000 +
	    KD_USB_CHECK_REUSE_USEC, false), 0);
	ck_assert_uint_gt(kd_usb_scans, looked);
	ck_assert_int_eq(kd_usb_enforcer.release(&kd), 0);
	enforcer_kd_free();
}
END_TEST

KK_SUITE(usb_suite, "usb",
	KK_CASE("enforce", KK_TMPDIR, 0),
	    KK_TEST(test_deauthorize), KK_TEST(test_deauthorize_late),
	    KK_TEST(test_deauthorize_second_look_fails),
	    KK_TEST(test_cut_write_stalled),
	    KK_TEST(test_restore),
	    KK_TEST(test_not_ours), KK_TEST(test_restart),
	    KK_TEST(test_reauthorised), KK_TEST(test_gone),
	    KK_TEST(test_no_usb),
	KK_CASE("while isolated", KK_TMPDIR, 0),
	    KK_TEST(test_judge), KK_TEST(test_plugged_in),
	    KK_TEST(test_other_classes), KK_TEST(test_probe_missing),
	    KK_TEST(test_foreign_driver),
	    KK_TEST(test_kept),
	    KK_TEST(test_many_waiting), KK_TEST(test_uevent_parse),
	    KK_TEST(test_admit_swap), KK_TEST(test_admit_probe_stalled),
	    KK_TEST(test_long_strings_recorded), KK_TEST(test_many_entries_hubs_cut),
	KK_CASE("mounts", KK_TMPDIR, 0),
	    KK_TEST(test_block_devs), KK_TEST(test_mounts_on),
	    KK_TEST(test_mounts_bounded), KK_TEST(test_remount_flags),
	    KK_TEST(test_remount_wrong_dev), KK_TEST(test_remount_bounded),
	KK_CASE("hostile", KK_TMPDIR, 0),
	    KK_TEST(test_attr_read), KK_LOOP(test_hostile, 8),
	    KK_TEST(test_state_hostile), KK_TEST(test_state_huge),
	    KK_TEST(test_state_unwritable), KK_TEST(test_state_lost),
	    KK_TEST(test_state_unreadable), KK_TEST(test_state_names_come_and_go),
	KK_CASE("enforcer", KK_TMPDIR, 0),
	    KK_TEST(test_enforcer_degraded), KK_TEST(test_enforcer_applied),
	    KK_TEST(test_tables_refused_degraded),
	    KK_TEST(test_status_scans),
	KK_CASE("policy", KK_TMPDIR, 0), KK_TEST(test_policy))
