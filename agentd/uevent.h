/*
 * The USB watch of the quarantine (uevent.c): the kernel's uevents say
 * when a USB interface appears, and the USB cut is verified again at
 * once (usb.c: a keyboard plugged in while isolated is let in, a stick
 * is recorded and kept out).  The verify timer calls kd_usb_watch_tick
 * too, which finds what the events did not say (a lost event, an
 * interface authorised by hand, a kernel or a test tree without events).
 */
#ifndef KD_UEVENT_H
#define KD_UEVENT_H

#include <stdbool.h>
#include <stddef.h>

struct kd;

#define KD_UEVENT_MAX		8192	/* bytes of one message (the kernel's: 2048) */

/* What one kernel uevent says: pointers into the message. */
struct kd_uevent {
	const char *action;		/* "add", "bind", ... */
	const char *devpath;
	const char *subsystem;		/* NULL if the message has none */
	const char *devtype;		/* NULL if the message has none */
};

/*
 * A kernel uevent ("ACTION@DEVPATH", then KEY=VALUE fields, each ended by
 * a NUL) of len bytes parsed: 0, or -EBADMSG (no header, no ACTION or
 * DEVPATH, a field not ended, a udev message).
 */
int kd_uevent_parse(const char *msg, size_t len, struct kd_uevent *ev);
/* Whether it says a USB interface appeared (add, or bind to a driver). */
bool kd_uevent_usb_interface(const struct kd_uevent *ev);

/* The uevent socket in d's event loop, with usb.storage = "deauthorize". */
void kd_uevent_start(struct kd *d);
void kd_uevent_stop(struct kd *d);
/* The USB cut verified again, at most once a second: for the verify timer. */
void kd_usb_watch_tick(struct kd *d);

#endif
