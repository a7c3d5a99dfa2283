/*
 * 10-packages.json: installed software, from the dpkg status file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collect.h"

/* ---- 10 packages: dpkg status --------------------------------------- */

struct pkg {
	char name[256];
	char version[256];
	char arch[64];
	char status[128];
};

/* Anything with files on disk: not "not-installed", not "config-files". */
static bool
pkg_present(const char *status)
{
	const char *s = strrchr(status, ' ');

	s = s ? s + 1 : status;
	return s[0] != '\0' && strcmp(s, "not-installed") != 0 &&
	    strcmp(s, "config-files") != 0;
}

static bool
pkg_flush(struct art *b, struct pkg *p)
{
	json_t *o;
	bool ok = true;

	if (p->name[0] != '\0' && pkg_present(p->status)) {
		if ((o = json_object()) == NULL)
			return false;
		col_set_str(o, "package", p->name);
		col_set_str(o, "version", p->version);
		col_set_str(o, "arch", p->arch);
		col_set_str(o, "status", p->status);
		ok = col_art_push(b, o, 0);
	}
	memset(p, 0, sizeof(*p));
	return ok;
}

static void
pkg_field(char *dst, size_t size, const char *v)
{
	size_t n;

	while (*v == ' ')
		v++;
	/* longer values are cut: a field of ours, not the package's */
	n = strnlen(v, size - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

void
collect_packages(struct collector *c, struct art *b)
{
	static const char path[] = "/var/lib/dpkg/status";
	char line[TEXT_LINE];
	unsigned nlines = 0;
	struct pkg p;
	FILE *f;
	int err;

	if ((f = col_fopen_regular(path, &err)) == NULL) {
		col_art_error(b, "%s: %s", path, err == -ENOENT ?
		    "no dpkg database" : strerror(-err));
		return;
	}
	json_object_set_new(b->extra, "path", json_string(path));
	memset(&p, 0, sizeof(p));
	while (col_art_line(b, f, line, sizeof(line), &nlines, MAX_LINES,
	    "lines")) {
		if (line[0] == '\0') {
			if (!pkg_flush(b, &p))
				break;
		} else if (strncmp(line, "Package:", 8) == 0) {
			pkg_field(p.name, sizeof(p.name), line + 8);
		} else if (strncmp(line, "Version:", 8) == 0) {
			pkg_field(p.version, sizeof(p.version), line + 8);
		} else if (strncmp(line, "Architecture:", 13) == 0) {
			pkg_field(p.arch, sizeof(p.arch), line + 13);
		} else if (strncmp(line, "Status:", 7) == 0) {
			pkg_field(p.status, sizeof(p.status), line + 7);
		}
	}
	if (!b->cut && !b->timeout)
		pkg_flush(b, &p);
	fclose(f);
}
