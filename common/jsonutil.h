/*
 * Small JSON look-ups written once, for both programs and the tests
 * (jsonutil.c).  The keys are the callers' (KW_* of wire.h): nothing
 * here names a key of the protocol.
 */
#ifndef KK_JSONUTIL_H
#define KK_JSONUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * The first object of array whose member key is the string value, or
 * NULL (array not an array, or no such member).
 */
json_t *kk_json_find(const json_t *array, const char *key, const char *value);

/*
 * Whether the text has at most max of the characters that begin a value
 * or separate two ({ [ , :) outside its strings: a linear look before
 * jansson's parse, which spends 40 to 80 times a hostile text's size
 * ([{},{},...]) on it.  A request's few fields and long strings pass.
 */
bool kk_json_few_values(const char *text, size_t len, size_t max);

#endif
