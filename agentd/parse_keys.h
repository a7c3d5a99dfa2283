/*
 * The policy loader's insides (parse.c, parse_keys.c): what a key is
 * (its kind, flags and place in struct kk_policy) and the loading of one
 * key's value, every value checked before it is stored.
 */
#ifndef KD_PARSE_KEYS_H
#define KD_PARSE_KEYS_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "kakuri.h"
#include "cfgfile.h"

#define NAME_LEN_MAX		32	/* [a-z_][a-z0-9_-]{0,31} */

enum key_kind {
	KEY_PATH,		/* absolute path */
	KEY_NAME,		/* user or group name */
	KEY_TEXT,		/* UTF-8 shown on an employee's terminal */
	KEY_BOOL,
	KEY_ENDPOINT,		/* "ADDR:PORT", ADDR an IP literal */
	KEY_ADDRS,		/* list of IP literals */
	KEY_PORTS,		/* list of port numbers */
	KEY_MODE,		/* "isolated" or "egress" */
	KEY_PROTECT,		/* "auto" or "monitor" */
	KEY_SECONDS,		/* integer 0..KK_SECONDS_MAX */
	KEY_PATHS,		/* list of absolute paths */
	KEY_MIB,		/* integer 1..KK_MIB_MAX */
	KEY_KEEP,		/* integer 1..KK_AUDIT_KEEP_MAX */
	KEY_KEYID,		/* 64 lowercase hex: a pinned key's id */
	KEY_ENDPOINTS,		/* list of "ADDR:PORT" */
	KEY_GATE,		/* integer KK_GATE_MIN..KK_GATE_MAX */
	KEY_USB_STORAGE,	/* "deauthorize" or "keep" */
	KEY_LOG_GROUP,		/* integer 0..65535: an NFLOG group */
	KEY_INTERVAL,		/* integer 1..3600 seconds */
	KEY_RATE,		/* "N/second" or "N/minute", N 0..KK_RATE_MAX */
	KEY_BROKER,		/* "mqtts://ADDR:PORT", ADDR an IP literal */
	KEY_GROUPS,		/* list of fleet group names */
};

#define KEY_REQUIRED	0x1	/* must be present */
#define KEY_NONEMPTY	0x2	/* lists: at least one element */
#define KEY_REMOTE	0x4	/* endpoint we connect to: "" turns it off,
				   and it must name one host */
#define KEY_EMPTY_OFF	0x8	/* endpoint we listen on: "" turns it off */
#define KK_SECONDS_MAX	(7 * 86400)
#define KK_RATE_MAX	10000		/* blocklists.log_rate: packets */
#define KK_MIB_MAX	(1024 * 1024)
#define KK_GATE_MIN	1		/* drill.gate: refreshed every third of it */
#define KK_GATE_MAX	300

struct key_spec {
	const char *name;
	enum key_kind kind;
	unsigned flags;
	size_t off;		/* destination in struct kk_policy */
	size_t size;		/* of the destination, for strings */
};

/*
 * One key's value (s, named qname in messages) checked and stored into
 * np as k says: 0, or -EINVAL with the message given to l.
 */
int kd_policy_load_key(struct kk_cfg_loader *l, const struct key_spec *k,
    const char *qname, const config_setting_t *s, struct kk_policy *np);

#endif
