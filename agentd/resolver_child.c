/*
 * The resolver child: kakurid --names, an exec'd image as agent.user
 * without capabilities (resolver.h).  It takes one uid at a time and
 * answers it with getpwuid_r(3): the one place of kakurid where NSS
 * modules (sssd, LDAP, winbind) run for a caller's name, so that a
 * directory that hangs holds up this process, never the root parent.
 *
 * No seccomp allow-list: NSS modules open files, connect to sockets
 * (sssd's pipes, nscd, an LDAP server over the network) and some start
 * threads, and which ones a site has is the site's choice.  What keeps it
 * harmless is that it is nobody: agent.user's uid, no capabilities, no
 * new privileges, a fresh image without the parent's memory, and answers
 * the parent checks as untrusted text (names.c).  Its siblings run as
 * that user too, so a filter of denials (kk_seccomp_deny_others) keeps
 * it from signalling, tracing or reading any process but itself: a
 * module taken over by a hostile directory cannot kill or stop the
 * network child, the CSIRT's channel, nor outlive kakurid.  And a lookup
 * writes nothing and listens nowhere, so Landlock lets it do neither:
 * such a module cannot fill the disk kakurid's evidence and outbox live
 * on, leave files where agent.user may write (/tmp, /dev/shm), or open a
 * TCP port on the host as a way in.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "childproc.h"
#include "ipc.h"
#include "names.h"
#include "resolver.h"
#include "sandbox.h"

#define LOOKUP_BUF_MAX	(1U << 20)	/* getpwuid_r's buffer grows to this */

/* One answer to the parent, written whole (the socket is blocking). */
static void
tell(uid_t uid, enum kd_name_state state, const char *name)
{
	uint8_t buf[KD_NAME_ANSWER_MAX];
	size_t len;

	len = kd_names_answer_encode(buf, uid, state, name);
	kk_child_tell("names", KK_IPC_NAME_ANSWER, 0, buf, len);
}

/* uid's name as NSS says: found, none (no such user) or unknown (it failed). */
static void
lookup(uid_t uid)
{
	struct passwd pw, *res = NULL;
	size_t cap = 4096;
	char *buf = NULL, *more;
	int r;

	for (;;) {
		if ((more = realloc(buf, cap)) == NULL) {
			r = ENOMEM;
			break;
		}
		buf = more;
		r = getpwuid_r(uid, &pw, buf, cap, &res);
		if (r != ERANGE || cap >= LOOKUP_BUF_MAX)
			break;
		cap *= 2;
	}
	if (r == 0 && res != NULL && res->pw_name != NULL &&
	    res->pw_name[0] != '\0')
		tell(uid, KD_NAME_FOUND, res->pw_name);
	else
		/* 0 without an entry, or one of the "not found" errors */
		tell(uid, r == 0 || r == ENOENT || r == ESRCH || r == EBADF ||
		    r == EPERM ? KD_NAME_NONE : KD_NAME_UNKNOWN, NULL);
	free(buf);
}

void
kd_resolver_main(int argc, char **argv)
{
	struct kk_ipc_hdr h;
	uint8_t *body;
	uint32_t uid;
	size_t len;
	int r;

	kk_child_enter(argc, argv, "--names", "kakurid-names", false);
	if ((r = kk_seccomp_deny_others(getpid())) < 0)
		kk_child_fail("seccomp: %s", strerror(-r));
	/* a lookup writes nothing and listens nowhere: a module taken over
	 * neither (kakurid says at start when the kernel has no Landlock) */
	if ((r = kk_landlock_read_only()) < 0 && r != -ENOSYS)
		kk_child_fail("landlock: %s", strerror(-r));
	for (;;) {
		r = kk_ipc_recv(KK_CHILD_FD_IPC, -1, sizeof(h) + sizeof(uid),
		    &h, &body, &len);
		if (r < 0)
			_exit(r == -EPIPE ? 0 : 3);
		if (h.type != KK_IPC_NAME_QUERY || len != sizeof(uid) ||
		    body == NULL)
			kk_child_fail("names: a message it does not take");
		memcpy(&uid, body, sizeof(uid));
		free(body);
		lookup((uid_t)uid);
	}
}
