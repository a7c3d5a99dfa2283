/*
 * The USB watch (uevent.h): a NETLINK_KOBJECT_UEVENT socket bound to the
 * kernel's group (1) in kakurid's event loop.  No libudev: kakurid needs
 * four fields of the kernel's own messages, not udev's database or its
 * rules (udev's re-broadcast is group 2, and is not read).
 *
 * Nothing a message says is acted on as such: a message from anyone but
 * the kernel (nl_pid 0) is dropped, one larger than KD_UEVENT_MAX is
 * dropped, and a message only says "look again": the USB cut is then
 * verified from the sysfs attributes (usb.c: kd_usb_judge), never from
 * the event's text.  Bursts cost one verification per wakeup, and at
 * most UEVENT_BATCH messages are read per wakeup.
 *
 * The socket is opened only with usb.storage = "deauthorize" (otherwise
 * every uevent of the machine would wake kakurid for nothing); a policy
 * that turns it on at SIGHUP is covered by the verify timer alone until
 * the next start.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <systemd/sd-event.h>

#include "daemon.h"
#include "log.h"
#include "uevent.h"
#include "usb.h"

#define UEVENT_GROUP_KERNEL	1
#define UEVENT_BATCH		64
#define TICK_MIN_USEC		(1000ULL * 1000)

static int uevent_fd = -1;
static sd_event_source *uevent_src;
static unsigned long long last_tick;

int
kd_uevent_parse(const char *msg, size_t len, struct kd_uevent *ev)
{
	const char *p = msg, *end = msg + len, *at;
	size_t n;

	memset(ev, 0, sizeof(*ev));
	/* the header: "add@/devices/..."; udev's start "libudev" */
	if (len == 0 || (n = strnlen(p, len)) == len ||
	    (at = memchr(p, '@', n)) == NULL || at == p)
		return -EBADMSG;
	for (p += n + 1; p < end; p += n + 1) {
		if ((n = strnlen(p, (size_t)(end - p))) == (size_t)(end - p))
			return -EBADMSG;	/* a field not ended */
		if (strncmp(p, "ACTION=", 7) == 0)
			ev->action = p + 7;
		else if (strncmp(p, "DEVPATH=", 8) == 0)
			ev->devpath = p + 8;
		else if (strncmp(p, "SUBSYSTEM=", 10) == 0)
			ev->subsystem = p + 10;
		else if (strncmp(p, "DEVTYPE=", 8) == 0)
			ev->devtype = p + 8;
	}
	if (ev->action == NULL || ev->devpath == NULL)
		return -EBADMSG;
	return 0;
}

bool
kd_uevent_usb_interface(const struct kd_uevent *ev)
{
	return (strcmp(ev->action, "add") == 0 ||
	    strcmp(ev->action, "bind") == 0) &&
	    ev->subsystem != NULL && strcmp(ev->subsystem, "usb") == 0 &&
	    ev->devtype != NULL && strcmp(ev->devtype, "usb_interface") == 0;
}

/* One message: whether it is the kernel's and says a USB interface came. */
static int
read_one(int fd, bool *usb)
{
	static char buf[KD_UEVENT_MAX + 1];
	struct sockaddr_nl sa;
	struct iovec iov = { buf, KD_UEVENT_MAX };
	struct msghdr mh = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	struct kd_uevent ev;
	ssize_t n;

	if ((n = recvmsg(fd, &mh, MSG_DONTWAIT)) < 0) {
		/* events lost: what they said is looked for anyway */
		if (errno == ENOBUFS) {
			*usb = true;
			return 0;
		}
		return -errno;
	}
	if ((mh.msg_flags & MSG_TRUNC) || mh.msg_namelen != sizeof(sa) ||
	    sa.nl_family != AF_NETLINK || sa.nl_pid != 0)
		return 0;
	buf[n] = '\0';
	if (kd_uevent_parse(buf, (size_t)n, &ev) == 0 &&
	    kd_uevent_usb_interface(&ev))
		*usb = true;
	return 0;
}

static void
verify_usb(struct kd *d)
{
	last_tick = kd_now_usec();
	/* a new interface is cut at once, whatever status looked at */
	kd_usb_verify_at(d, last_tick, true);
}

static int
on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	bool usb = false;
	int i;

	(void)s;
	(void)revents;
	for (i = 0; i < UEVENT_BATCH && read_one(fd, &usb) == 0; i++)
		;
	if (usb)
		verify_usb(userdata);
	return 0;
}

void
kd_uevent_start(struct kd *d)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK, .nl_groups = UEVENT_GROUP_KERNEL,
	};
	int err;

	if (!d->policy->usb_storage_deauthorize || uevent_fd >= 0)
		return;
	uevent_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
	if (uevent_fd < 0 ||
	    bind(uevent_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto fail;
	}
	if ((err = sd_event_add_io(d->ev, &uevent_src, uevent_fd, EPOLLIN,
	    on_uevent, d)) < 0)
		goto fail;
	return;
fail:
	/* the verify timer still finds new interfaces, a few seconds later */
	kk_log(LOG_WARNING, KK_MID_ERROR,
	    "uevent socket: %s; new USB interfaces are found by the verify timer only",
	    strerror(-err));
	kd_uevent_stop(d);
}

void
kd_uevent_stop(struct kd *d)
{
	(void)d;
	uevent_src = sd_event_source_disable_unref(uevent_src);
	uevent_fd = kk_close(uevent_fd);
}

void
kd_usb_watch_tick(struct kd *d)
{
	/* the verify timer retries fast during a tamper incident */
	if (kd_now_usec() - last_tick < TICK_MIN_USEC)
		return;
	verify_usb(d);
}
