/*
 * A user name for a uid without waiting for a directory (names.c): the
 * local password file read directly, and a bounded cache of what the
 * resolver child (resolver.h) answered for the rest.
 *
 * The root parent names local callers in its audit lines and in
 * self-reports.  getpwuid(3) goes through NSS, and on a company PC passwd
 * is often sssd, LDAP or winbind: while the directory is slow or out of
 * reach (exactly when the host is isolated) one call can block for the
 * module's timeout, tens of seconds, and a single-threaded parent serves
 * nothing meanwhile.  So the parent never calls NSS for a name: this
 * module answers from /etc/passwd (fgetpwent, no NSS module loaded, read
 * again only when the file changed) and from the cache, and says which
 * uids are worth a lookup by the child.  It is a pure data structure:
 * the caller gives the time, sends the queries and reads the answers.
 *
 * Everything here is bounded: the file's entries kept, the cache's
 * entries (and those of one owner, subids.h, so that a user with many
 * uids evicts only his own), and the lookups waiting for an answer (in
 * all and per owner).
 */
#ifndef KD_NAMES_H
#define KD_NAMES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kakuri.h"

#define KD_PASSWD_PATH		"/etc/passwd"
#define KD_NAMES_FILE_MAX	65536	/* entries of the local file kept */
#define KD_NAMES_CACHE		256	/* uids the cache remembers */
#define KD_NAMES_CACHE_OWNER	16	/* ... of one owner at most */
#define KD_NAMES_QUEUE		16	/* lookups waiting for the resolver */
#define KD_NAMES_QUEUE_OWNER	4	/* ... of one owner at most */
#define KD_NAMES_FOUND_TTL_USEC	(600ULL * 1000000ULL)	/* a name */
#define KD_NAMES_NONE_TTL_USEC	(60ULL * 1000000ULL)	/* no such user */
/* no answer (the directory failed, or the child was killed): asked again after */
#define KD_NAMES_UNKNOWN_TTL_USEC (30ULL * 1000000ULL)
/* the local file is looked at (stat) at most this often */
#define KD_NAMES_STAT_USEC	(1ULL * 1000000ULL)

enum kd_name_state {
	KD_NAME_UNKNOWN,	/* nothing known now (never asked, expired, failed) */
	KD_NAME_PENDING,	/* the resolver was asked */
	KD_NAME_FOUND,		/* a name */
	KD_NAME_NONE,		/* the directory knows no such uid */
};

struct kd_name_entry {
	uid_t uid;
	uid_t owner;		/* whose uid it is (kd_uid_owner) */
	enum kd_name_state state;
	char name[KK_NAME_MAX];
	uint64_t expires;	/* FOUND, NONE, UNKNOWN: forgotten after */
	uint64_t used;		/* the last look: the least recent goes first */
};

struct kd_name_file {
	uid_t uid;
	char name[KK_NAME_MAX];
};

struct kd_names {
	char path[PATH_MAX];	/* the password file */
	/* the file as it was read: read again only when one of these moved */
	struct {
		dev_t dev;
		ino_t ino;
		off_t size;
		struct timespec mtime;
		bool have;
	} stamp;
	uint64_t looked;	/* the last stat */
	struct kd_name_file *file;	/* sorted by uid, the first line's first */
	size_t nfile;
	size_t file_skipped;	/* entries of the last read not kept */
	struct kd_name_entry cache[KD_NAMES_CACHE];
	size_t ncache;
};

/*
 * The answer of the resolver child, as it goes over IPC: this, then the
 * name's bytes (none unless state is KD_NAME_FOUND; no NUL).
 */
struct kd_name_answer {
	uint32_t uid;
	uint32_t state;		/* KD_NAME_FOUND, KD_NAME_NONE or KD_NAME_UNKNOWN */
};
/* the longest name an answer may carry (it is cut to KK_NAME_MAX - 1) */
#define KD_NAME_ANSWER_NAME_MAX	255
#define KD_NAME_ANSWER_MAX	(sizeof(struct kd_name_answer) + \
				    KD_NAME_ANSWER_NAME_MAX)

void kd_names_init(struct kd_names *n, const char *path);
void kd_names_free(struct kd_names *n);
/*
 * The local file read again if it changed since (looked at once per
 * KD_NAMES_STAT_USEC at most; force: now).  0, or a negative errno with
 * what was read before kept (a missing file: nothing kept).
 */
int kd_names_refresh(struct kd_names *n, uint64_t now, bool force);
/*
 * What is known of uid now (the file first, then the cache), never
 * waiting: the state, and the name in name (len bytes; "?" without one).
 */
enum kd_name_state kd_names_get(struct kd_names *n, uid_t uid, uint64_t now,
    char *name, size_t len);
/*
 * A lookup of uid (of owner) to be sent to the resolver: 0 if it is to
 * be sent now (it is pending from now on), -EALREADY if one is pending
 * or the answer is still good, -EBUSY when the queue (or owner's share of
 * it) is full: nothing is asked, the caller goes on without the name.
 */
int kd_names_ask(struct kd_names *n, uid_t uid, uid_t owner, uint64_t now);
/*
 * An answer of the resolver (body of len bytes, untrusted): checked for
 * length and sense, its name cleaned (kk_text_clean) and cut, kept.
 * The state kept and *uid, or -EBADMSG (not an answer), -ESRCH (not
 * asked for: nothing pending for that uid).
 */
int kd_names_answer(struct kd_names *n, const void *body, size_t len,
    uint64_t now, uid_t *uid);
/* The resolver is gone: every pending lookup is unknown (asked again later). */
void kd_names_fail_pending(struct kd_names *n, uint64_t now);
size_t kd_names_pending(const struct kd_names *n);
/* The resolver's side: an answer into buf (KD_NAME_ANSWER_MAX); its length. */
/*
 * name as the actor of a local request writes it ("local:uid=N(name),
 * pid=P"): a directory's answer is anyone's text, and "root),pid=1" must
 * not read as another caller.  ASCII but letters, digits and "._-@$\\"
 * becomes "?"; UTF-8 stays.  Cut to len.
 */
void kd_name_for_actor(char *dst, size_t len, const char *name);
size_t kd_names_answer_encode(uint8_t *buf, uid_t uid,
    enum kd_name_state state, const char *name);

#endif
