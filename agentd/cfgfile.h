/*
 * Reading a libconfig file we trust (the policy, trust.conf): what the
 * loaders in parse.c and trust.c have in common, so that each of them
 * keeps only its schema.
 *
 * A load goes
 *
 *	kk_cfg_init(&l, path, flags, err, errlen);
 *	kk_cfg_read(&l, &type);		checked, read, scanned
 *					(or both, and a scratch struct,
 *					kk_cfg_begin)
 *	kk_cfg_parse(&l, &root);	libconfig
 *	... the schema, with kk_cfg_fail_at(&l, setting, ...)
 *	kk_cfg_close(&l);		always, whatever failed
 *
 * and every failure leaves one line "PATH:LINE: message" (or "PATH:
 * message") in err.
 */
#ifndef KK_CFGFILE_H
#define KK_CFGFILE_H

#include <sys/stat.h>

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#define KK_CFG_QUOTE_MAX	48	/* bytes of a value in a message */
#define KK_CFG_QUOTE_SIZE	(KK_CFG_QUOTE_MAX + 8)	/* its buffer */

/* One kind of file, as the checks and the messages need it. */
struct kk_cfg_type {
	const char *noun;	/* "policy", "trust file": in messages */
	size_t max;		/* bytes; a larger file is refused */
	/*
	 * trust.conf has always checked its size after the owner and the
	 * mode, the policy before them; a file failing both keeps getting
	 * the message it always got.
	 */
	bool size_last;
};

/* One file being loaded: where its errors go, and its text once read. */
struct kk_cfg_loader {
	const char *path;	/* in messages */
	unsigned flags;		/* KK_POLICY_SKIP_OWNER_CHECK */
	char *err;
	size_t errlen;
	char *buf;		/* the text, NUL-terminated, once read */
	size_t len;
	config_t cfg;		/* once parsed */
	bool cfg_live;
};

/* Sets l up and empties err. */
void kk_cfg_init(struct kk_cfg_loader *l, const char *path, unsigned flags,
    char *err, size_t errlen);

/*
 * Opens l->path without following a link and reads it into l->buf, after
 * kk_cfg_check_file and the size cap, then refuses what libconfig 1.5
 * would let through silently: NUL bytes, @include, out-of-range integers.
 * A NULL path is refused (-EINVAL, "no <noun> given"), and so is one of
 * PATH_MAX bytes or more (-ENAMETOOLONG).
 */
int kk_cfg_read(struct kk_cfg_loader *l, const struct kk_cfg_type *type);

/*
 * How both loaders begin: kk_cfg_init and kk_cfg_read, path refused like
 * no path at all when the caller has nowhere to put the result (no dest),
 * then size zeroed bytes to build the new one in.  NULL, with *rc set and
 * err filled in, when any of it failed.
 */
void *kk_cfg_begin(struct kk_cfg_loader *l, const char *path, bool dest,
    unsigned flags, char *err, size_t errlen, const struct kk_cfg_type *type,
    size_t size, int *rc);

/* Parses l->buf; *rootp stays valid until kk_cfg_close. */
int kk_cfg_parse(struct kk_cfg_loader *l, const config_setting_t **rootp);

/* Frees what kk_cfg_read and kk_cfg_parse made; safe after any failure. */
void kk_cfg_close(struct kk_cfg_loader *l);

/*
 * A file we trust must be a regular file (a FIFO would block the daemon),
 * owned by root unless l->flags says otherwise, and not group- or
 * world-writable; for files the loaded one names (trust.conf's public
 * keys).  fd was opened with O_NOFOLLOW; s is the setting naming the file,
 * for the line, and prefix starts every message.  Fills in *st.
 */
int kk_cfg_check_file(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *prefix, int fd, struct stat *st);

/* An error at a line of the file; 0 for none. */
void kk_cfg_fail(struct kk_cfg_loader *l, unsigned line, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* An error about one setting, at its line. */
void kk_cfg_fail_at(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The line s was written on (0 if unknown or s is NULL). */
unsigned kk_cfg_line_of(const struct kk_cfg_loader *l,
    const config_setting_t *s);

/* s made printable and short enough for a message, in buf. */
const char *kk_cfg_quote(const char *s, char *buf, size_t len);

/* Whether s is an array or a list. */
bool kk_cfg_is_list(const config_setting_t *s);

/* Whether s holds a C0 control character or DEL. */
bool kk_cfg_has_control(const char *s);

/*
 * The members of the group g by name: f[j] is the one named names[j],
 * NULL where it is not written.  A member of another name is refused
 * (-EINVAL) as "unknown key 'PARENT.NAME'" ('NAME' when parent is NULL).
 */
int kk_cfg_members(struct kk_cfg_loader *l, const config_setting_t *g,
    const char *parent, const char *const *names, size_t nnames,
    const config_setting_t **f);

/* s as a string in *out, or -EINVAL with "QNAME must be a string". */
int kk_cfg_string(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char **out);

/*
 * The parts of a path every path in a file we trust is checked for, after
 * its form and length (which the loaders word each their own way): no
 * control character, no '..' component.
 */
int kk_cfg_path_parts(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v);

/* A kind of list, for the messages about it and its elements. */
struct kk_cfg_list {
	const char *of;		/* "QNAME must be an array of <of>" */
	int type;		/* of its elements (CONFIG_TYPE_INT: any int) */
	const char *noun;	/* "QNAME: too many <noun> (at most <max>)" */
	size_t max;		/* elements; 0: no limit */
};

/*
 * The length of the list s, once it is one, not empty if nonempty, and
 * not longer than kind->max; -EINVAL with the message otherwise.
 */
int kk_cfg_list_len(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const struct kk_cfg_list *kind, bool nonempty,
    size_t *np);
/* Element i of the list s if it is of kind->type; NULL with the message. */
const config_setting_t *kk_cfg_list_elem(struct kk_cfg_loader *l,
    const config_setting_t *s, size_t i, const char *qname,
    const struct kk_cfg_list *kind);

#endif /* KK_CFGFILE_H */
