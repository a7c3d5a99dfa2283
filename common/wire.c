/*
 * The answers of the wire (DESIGN 5) as kakurid builds them and
 * kakurictl reads them: one shape, in one place.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kakuri.h"
#include "wire.h"

json_t *
kk_wire_error(const char *word, const char *message)
{
	return json_pack("{s:b, s:s, s:s}", KW_OK, 0, KW_ERROR, word,
	    KW_MESSAGE, message);
}

int
kk_wire_answer(json_t *answer, const char **word, const char **message)
{
	json_t *ok = json_object_get(answer, KW_OK);
	const char *w, *m;

	if (json_is_true(ok))
		return 1;
	w = json_string_value(json_object_get(answer, KW_ERROR));
	m = json_string_value(json_object_get(answer, KW_MESSAGE));
	if (word != NULL)
		*word = w ? w : "refused";
	if (message != NULL)
		*message = m ? m : "";
	return json_is_boolean(ok) ? 0 : -1;
}

json_t *
kk_enforcer_entry(const char *name, const char *result, const char *reason,
    const char *detail)
{
	return json_pack("{s:s, s:s, s:s*, s:s*}", KW_NAME, name,
	    KW_RESULT, result,
	    KW_REASON, reason != NULL && reason[0] ? reason : NULL,
	    KW_DETAIL, detail != NULL && detail[0] ? detail : NULL);
}

/*
 * What an agent wrote is cleaned before it is shown (no line breaks or
 * escapes: a receipt must not print lines of its own) and cut.
 */
static void
append_clean(char *buf, size_t len, const char *sep, const char *s,
    size_t max)
{
	size_t used = strlen(buf);

	if (s == NULL || used + strlen(sep) + 1 >= len)
		return;
	snprintf(buf + used, len - used, "%s", sep);
	used = strlen(buf);
	kk_text_clean(buf + used, len - used < max + 1 ? len - used : max + 1,
	    s, strlen(s));
}

size_t
kk_receipt_degraded(json_t *rec, char *buf, size_t len)
{
	json_t *e;
	size_t i, n = 0;
	const char *res;

	if (len > 0)
		buf[0] = '\0';
	json_array_foreach(json_object_get(rec, KW_ENFORCERS), i, e) {
		res = json_string_value(json_object_get(e, KW_RESULT));
		if (res == NULL || strcmp(res, KR_APPLIED) == 0)
			continue;
		n++;
		if (len == 0)
			continue;
		append_clean(buf, len, n > 1 ? "; " : "",
		    json_string_value(json_object_get(e, KW_NAME)), 24);
		append_clean(buf, len, " ", res, 16);
		append_clean(buf, len, " ", json_string_value(json_object_get(e,
		    KW_REASON)), 32);
		append_clean(buf, len, ": ", json_string_value(json_object_get(e,
		    KW_DETAIL)), 200);
	}
	return n;
}
