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

bool
kk_json_few_values(const char *text, size_t len, size_t max)
{
	bool in_string = false;
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (text[i] == '\\')
				i++;	/* the escaped character, whatever it is */
			else if (text[i] == '"')
				in_string = false;
			continue;
		}
		switch (text[i]) {
		case '"':
			in_string = true;
			break;
		case '{':
		case '[':
		case ',':
		case ':':
			if (++n > max)
				return false;
			break;
		}
	}
	return true;
}
