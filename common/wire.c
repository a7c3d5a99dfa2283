/*
 * The answers of the wire (DESIGN 5) as kakurid builds them and
 * kakurictl reads them: one shape, in one place.
 */
#include <jansson.h>

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
