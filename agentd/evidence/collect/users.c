/*
 * 04-users.json: logged-in users, from utmp and from logind (sd-login).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utmpx.h>

#include <systemd/sd-login.h>

#include "collect.h"

/* ---- 04 users: utmp and logind -------------------------------------- */

static void
set_fixed(json_t *o, const char *key, const char *p, size_t max)
{
	size_t n = strnlen(p, max);

	if (n > 0)
		json_object_set_new(o, key, kk_json_strn(p, n));
}

static void
collect_utmp(struct art *b)
{
	struct utmpx u;
	char when[48], addr[INET6_ADDRSTRLEN];
	ssize_t n;
	json_t *o;
	unsigned i;
	int fd;

	/*
	 * Read as a file rather than with getutxent(3): no hidden static
	 * state shared with the rest of the process, no lock waits, bounded.
	 * The record layout is the one getutxent itself reads.
	 */
	if ((fd = col_open_regular(_PATH_UTMPX)) < 0) {
		if (fd == -ENOENT)
			col_art_note(b, "no %s", _PATH_UTMPX);
		else
			col_art_error(b, "%s: %s", _PATH_UTMPX, strerror(-fd));
		return;
	}
	for (i = 0; i < MAX_UTMP && col_art_alive(b); i++) {
		n = read(fd, &u, sizeof(u));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			col_art_error(b, "%s: %s", _PATH_UTMPX,
			    strerror(errno));
			break;
		}
		if ((size_t)n < sizeof(u))
			break;
		if (u.ut_type != USER_PROCESS)
			continue;
		if ((o = json_object()) == NULL)
			break;
		col_set_str(o, "source", "utmp");
		set_fixed(o, "user", u.ut_user, sizeof(u.ut_user));
		set_fixed(o, "line", u.ut_line, sizeof(u.ut_line));
		set_fixed(o, "host", u.ut_host, sizeof(u.ut_host));
		col_set_int(o, "pid", u.ut_pid);
		col_rfc3339_usec((time_t)u.ut_tv.tv_sec, (long)u.ut_tv.tv_usec,
		    when, sizeof(when));
		col_set_str(o, "login", when);
		if (u.ut_addr_v6[1] == 0 && u.ut_addr_v6[2] == 0 &&
		    u.ut_addr_v6[3] == 0) {
			if (u.ut_addr_v6[0] != 0 && inet_ntop(AF_INET,
			    u.ut_addr_v6, addr, sizeof(addr)) != NULL)
				col_set_str(o, "address", addr);
		} else if (inet_ntop(AF_INET6, u.ut_addr_v6, addr,
		    sizeof(addr)) != NULL) {
			col_set_str(o, "address", addr);
		}
		if (!col_art_push(b, o, 0))
			break;
	}
	close(fd);
}

/* one sd_session_get_* string: set if there, freed either way */
/* What sd-login says about a session, member by member. */
static const struct {
	const char *key;
	int (*get)(const char *session, char **out);
} session_fields[] = {
	{ "state", sd_session_get_state },
	{ "type", sd_session_get_type },
	{ "class", sd_session_get_class },
	{ "tty", sd_session_get_tty },
	{ "seat", sd_session_get_seat },
	{ "service", sd_session_get_service },
	{ "remote_host", sd_session_get_remote_host },
	{ "remote_user", sd_session_get_remote_user },
};

static void
collect_logind(struct art *b)
{
	char **ids = NULL, *s;
	json_t *o;
	uid_t uid;
	size_t k;
	int r, i;

	r = sd_get_sessions(&ids);
	if (r < 0) {
		if (r == -ENOENT)
			col_art_note(b, "no logind sessions directory");
		else
			col_art_error(b, "sd_get_sessions: %s", strerror(-r));
		return;
	}
	for (i = 0; ids != NULL && ids[i] != NULL; i++) {
		if (i >= MAX_SESSIONS || !col_art_alive(b) ||
		    (o = json_object()) == NULL) {
			if (i >= MAX_SESSIONS)
				col_art_cut(b, "at most %d sessions",
				    MAX_SESSIONS);
			continue;	/* still free them all */
		}
		col_set_str(o, "source", "logind");
		col_set_str(o, "session", ids[i]);
		if (sd_session_get_uid(ids[i], &uid) >= 0)
			col_set_int(o, "uid", uid);
		for (k = 0; k < sizeof(session_fields) /
		    sizeof(session_fields[0]); k++) {
			s = NULL;
			r = session_fields[k].get(ids[i], &s);
			if (r >= 0 && s != NULL && s[0] != '\0')
				col_set_str(o, session_fields[k].key, s);
			free(s);
		}
		col_set_bool(o, "remote", sd_session_is_remote(ids[i]) > 0);
		col_art_push(b, o, 0);
	}
	for (i = 0; ids != NULL && ids[i] != NULL; i++)
		free(ids[i]);
	free(ids);
}

void
collect_users(struct collector *c, struct art *b)
{
	collect_utmp(b);
	collect_logind(b);
}
