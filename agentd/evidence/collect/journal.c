/*
 * 08-journal.json: the most recent journal entries (sd-journal).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-journal.h>

#include "collect.h"

/* ---- 08 journal: sd-journal ----------------------------------------- */

static json_t *
journal_entry(sd_journal *j)
{
	static const char *const fields[] = {
		"_PID", "_COMM", "SYSLOG_IDENTIFIER", "PRIORITY", "MESSAGE",
	};
	const void *d;
	char when[48];
	uint64_t usec;
	size_t len, fl, i;
	json_t *o;

	if ((o = json_object()) == NULL)
		return NULL;
	if (sd_journal_get_realtime_usec(j, &usec) >= 0) {
		col_set_int(o, "__REALTIME_TIMESTAMP", (long long)usec);
		col_rfc3339_usec((time_t)(usec / 1000000),
		    (long)(usec % 1000000), when, sizeof(when));
		col_set_str(o, "time", when);
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		fl = strlen(fields[i]);
		if (sd_journal_get_data(j, fields[i], &d, &len) < 0 ||
		    len <= fl || ((const char *)d)[fl] != '=')
			continue;
		/* "FIELD=value" */
		len -= fl + 1;
		if (len > MESSAGE_MAX) {
			len = MESSAGE_MAX;
			col_set_bool(o, "cut", true);
		}
		json_object_set_new(o, fields[i],
		    kk_json_strn((const char *)d + fl + 1, len));
	}
	return o;
}

void
collect_journal(struct collector *c, struct art *b)
{
	sd_journal *j = NULL;
	json_t *chrono;
	unsigned n;
	size_t i;
	int r;

	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		col_art_error(b, "sd_journal_open: %s", strerror(-r));
		return;
	}
	/* big fields are not decompressed beyond what we keep */
	sd_journal_set_data_threshold(j, MESSAGE_MAX + 64);
	if ((r = sd_journal_seek_tail(j)) < 0) {
		col_art_error(b, "sd_journal_seek_tail: %s", strerror(-r));
		goto out;
	}
	for (n = 0; n < c->journal_entries && col_art_alive(b); n++) {
		r = sd_journal_previous(j);
		if (r < 0) {
			col_art_error(b, "sd_journal_previous: %s",
			    strerror(-r));
			break;
		}
		if (r == 0)
			break;
		if (!col_art_push(b, journal_entry(j), 0))
			break;
	}
	if (b->n == 0 && b->error[0] == '\0' && !b->timeout) {
		/* containers often have no journal: say so, it is no failure */
		if (access("/var/log/journal", F_OK) < 0 &&
		    access("/run/log/journal", F_OK) < 0)
			col_art_note(b, "no journal on this system "
			    "(neither /var/log/journal nor /run/log/journal)");
		else
			col_art_note(b, "the journal has no entries");
	}
	/* read newest first (they survive a cut); kept oldest first */
	if (b->n > 1 && (chrono = json_array()) != NULL) {
		for (i = json_array_size(b->items); i > 0; i--)
			json_array_append(chrono, json_array_get(b->items,
			    i - 1));
		if (json_array_size(chrono) == json_array_size(b->items)) {
			json_decref(b->items);
			b->items = chrono;
		} else {
			json_decref(chrono);
		}
	}
out:
	sd_journal_close(j);
}
