/*
 * 05-kernel.json (uname, boot, modules, taint), 06-mounts.json (the
 * mount table) and 09-os-release.json: the system as the kernel and
 * /etc describe it.
 */
#include <sys/utsname.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect.h"

/*
 * Every line of f, at most max of them (the rest cut, as "at most max
 * what"), as the item item makes of it (NULL: none for that line); f is
 * closed.
 */
static void
push_lines(struct art *b, FILE *f, unsigned max, const char *what,
    json_t *(*item)(char *line))
{
	char line[TEXT_LINE];
	unsigned nlines = 0;
	json_t *o;

	while (col_art_line(b, f, line, sizeof(line), &nlines, max, what))
		if ((o = item(line)) != NULL && !col_art_push(b, o, 0))
			break;
	fclose(f);
}

/* ---- 05 kernel: uname, boot, modules -------------------------------- */

/* A line of /proc/modules as an item; NULL for a short one. */
json_t *
col_module_item(char *line)
{
	char *fld[7], *save = NULL, *p;
	json_t *o;
	int k = 0;
	size_t dl;

	for (p = strtok_r(line, " ", &save); p != NULL && k < 7;
	    p = strtok_r(NULL, " ", &save))
		fld[k++] = p;
	if (k < 5 || (o = json_object()) == NULL)
		return NULL;
	col_set_str(o, "kind", "module");
	col_set_str(o, "name", fld[0]);
	col_set_int(o, "size", strtoll(fld[1], NULL, 10));
	col_set_int(o, "refcount", strtoll(fld[2], NULL, 10));
	dl = strlen(fld[3]);
	if (dl > 0 && fld[3][dl - 1] == ',')
		fld[3][dl - 1] = '\0';
	col_set_str(o, "used_by", strcmp(fld[3], "-") == 0 ? "" : fld[3]);
	col_set_str(o, "state", fld[4]);
	if (k > 5)
		col_set_str(o, "address", fld[5]);
	if (k > 6)
		col_set_str(o, "taint", fld[6]);
	return o;
}

void
collect_kernel(struct collector *c, struct art *b)
{
	struct utsname u;
	char buf[4096], when[48];
	json_t *o;
	FILE *f;
	int err;

	if ((o = json_object()) != NULL) {
		col_set_str(o, "kind", "uname");
		if (uname(&u) == 0) {
			col_set_str(o, "sysname", u.sysname);
			col_set_str(o, "nodename", u.nodename);
			col_set_str(o, "release", u.release);
			col_set_str(o, "version", u.version);
			col_set_str(o, "machine", u.machine);
		} else {
			col_art_error(b, "uname: %s", strerror(errno));
		}
		if (!col_art_push(b, o, 0))
			return;
	}
	if ((o = json_object()) != NULL) {
		col_set_str(o, "kind", "boot");
		if (col_read_small(AT_FDCWD,
		    "/proc/sys/kernel/random/boot_id", buf,
		    sizeof(buf)) > 0) {
			col_chomp(buf);
			col_set_str(o, "boot_id", buf);
		}
		if (c->btime > 0) {
			col_rfc3339_usec(c->btime, 0, when, sizeof(when));
			col_set_str(o, "booted", when);
		}
		if (col_read_small(AT_FDCWD, "/proc/uptime", buf,
		    sizeof(buf)) > 0)
			json_object_set_new(o, "uptime_s",
			    json_real(strtod(buf, NULL)));
		if (col_read_small(AT_FDCWD, "/proc/sys/kernel/tainted", buf,
		    sizeof(buf)) > 0)
			col_set_int(o, "tainted", strtoll(buf, NULL, 10));
		if (col_read_small(AT_FDCWD,
		    "/proc/sys/kernel/modules_disabled", buf,
		    sizeof(buf)) > 0)
			col_set_int(o, "modules_disabled",
			    strtoll(buf, NULL, 10));
		if (col_read_small(AT_FDCWD, "/proc/loadavg", buf,
		    sizeof(buf)) > 0) {
			col_chomp(buf);
			col_set_str(o, "loadavg", buf);
		}
		if (col_read_small(AT_FDCWD, "/proc/cmdline", buf,
		    sizeof(buf)) > 0) {
			col_chomp(buf);
			col_set_str(o, "cmdline", buf);
		}
		if (!col_art_push(b, o, 0))
			return;
	}
	/* "name size refcount deps state address [taint]" */
	if ((f = fopen("/proc/modules", "re")) == NULL) {
		/* a kernel without modules has no /proc/modules */
		err = errno;
		if (err == ENOENT)
			col_art_note(b, "no /proc/modules (no module support)");
		else
			col_art_error(b, "/proc/modules: %s", strerror(err));
		return;
	}
	push_lines(b, f, MAX_MODULES, "modules", col_module_item);
}

/* ---- 06 mounts: mountinfo ------------------------------------------- */

/*
 * A line of mountinfo as an item; NULL for a short one.
 * 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
 * (id parent dev root mountpoint options [optional...] - fstype
 * source superoptions)
 */
json_t *
col_mount_item(char *line)
{
	char *fld[6], *tail[3], *save = NULL, *p;
	char opt[512];
	int k = 0, t = 0;
	bool dash = false;
	json_t *o;

	opt[0] = '\0';
	for (p = strtok_r(line, " ", &save); p != NULL;
	    p = strtok_r(NULL, " ", &save)) {
		if (k < 6)
			fld[k++] = p;
		else if (!dash && strcmp(p, "-") == 0)
			dash = true;
		else if (!dash) {
			size_t ol = strlen(opt);

			snprintf(opt + ol, sizeof(opt) - ol, "%s%s",
			    ol ? " " : "", p);
		} else if (t < 3)
			tail[t++] = p;
	}
	if (k < 6 || t < 2 || (o = json_object()) == NULL)
		return NULL;
	col_set_int(o, "id", strtoll(fld[0], NULL, 10));
	col_set_int(o, "parent", strtoll(fld[1], NULL, 10));
	col_set_str(o, "dev", fld[2]);
	kk_unescape_octal(fld[3]);
	col_set_str(o, "root", fld[3]);
	kk_unescape_octal(fld[4]);
	col_set_str(o, "mount_point", fld[4]);
	col_set_str(o, "options", fld[5]);
	if (opt[0] != '\0')
		col_set_str(o, "propagation", opt);
	col_set_str(o, "fstype", tail[0]);
	kk_unescape_octal(tail[1]);
	col_set_str(o, "source", tail[1]);
	if (t > 2)
		col_set_str(o, "super_options", tail[2]);
	return o;
}

void
collect_mounts(struct collector *c, struct art *b)
{
	FILE *f;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL) {
		col_art_error(b, "/proc/self/mountinfo: %s", strerror(errno));
		return;
	}
	json_object_set_new(b->extra, "path",
	    json_string("/proc/self/mountinfo"));
	push_lines(b, f, MAX_MOUNTS, "mounts", col_mount_item);
}

/* ---- 09 os-release -------------------------------------------------- */

/* Shell-like value: "..." or '...' with \-escapes, or bare. */
static void
os_release_value(char *v)
{
	char *w = v, q = 0;

	if (*v == '"' || *v == '\'')
		q = *v++;
	for (; *v != '\0' && *v != q; v++) {
		if (*v == '\\' && q != '\'' && v[1] != '\0')
			v++;
		*w++ = *v;
	}
	*w = '\0';
}

void
collect_os_release(struct collector *c, struct art *b)
{
	static const char *const paths[] = { "/etc/os-release",
	    "/usr/lib/os-release" };
	char line[TEXT_LINE], *eq, *k;
	unsigned nlines = 0;
	const char *path = NULL;
	FILE *f = NULL;
	json_t *o;
	size_t i;
	int err = -ENOENT;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && f == NULL; i++)
		if ((f = col_fopen_regular(paths[i], &err)) != NULL)
			path = paths[i];
	if (f == NULL) {
		col_art_error(b, "%s: %s", paths[0], strerror(-err));
		return;
	}
	json_object_set_new(b->extra, "path", json_string(path));
	while (col_art_line(b, f, line, sizeof(line), &nlines, MAX_OS_RELEASE,
	    "lines")) {
		for (k = line; *k == ' ' || *k == '\t'; k++)
			;
		if (*k == '#' || (eq = strchr(k, '=')) == NULL)
			continue;
		*eq = '\0';
		os_release_value(eq + 1);
		if ((o = json_object()) == NULL)
			break;
		col_set_str(o, "key", k);
		col_set_str(o, "value", eq + 1);
		if (!col_art_push(b, o, 0))
			break;
	}
	fclose(f);
}
