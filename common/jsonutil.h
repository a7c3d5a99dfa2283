/*
 * Small JSON look-ups written once, for both programs and the tests
 * (jsonutil.c).  The keys are the callers' (KW_* of wire.h): nothing
 * here names a key of the protocol.
 */
#ifndef KK_JSONUTIL_H
#define KK_JSONUTIL_H

#include <jansson.h>

/*
 * The first object of array whose member key is the string value, or
 * NULL (array not an array, or no such member).
 */
json_t *kk_json_find(const json_t *array, const char *key, const char *value);

#endif
