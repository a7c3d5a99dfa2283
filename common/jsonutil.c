/*
 * Small JSON look-ups (jsonutil.h).
 */
#include <string.h>

#include <jansson.h>

#include "jsonutil.h"

json_t *
kk_json_find(const json_t *array, const char *key, const char *value)
{
	const char *s;
	json_t *e;
	size_t i;

	json_array_foreach(array, i, e) {
		s = json_string_value(json_object_get(e, key));
		/* an entry whose member is not a string matches nothing */
		if (s != NULL && strcmp(s, value) == 0)
			return e;
	}
	return NULL;
}
