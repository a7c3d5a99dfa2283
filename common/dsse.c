/*
 * DSSE envelopes (DESIGN 4): the pre-authentication encoding, a strict
 * parser, signing, encoding and the verification of one signature.
 *
 * A signature covers PAE(payloadType, payload) of the raw type string and
 * the raw payload bytes as they came off the wire; nothing is ever
 * re-serialised before verification.  The parser is strict so that one
 * envelope has exactly one reading: the size cap first, then JSON without
 * duplicate keys or trailing data, exactly the three top-level keys and
 * the two signature keys, and canonical base64 (decoding and encoding
 * again must give back the same text).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "jsonutil.h"
#include "kakuri.h"
#include "sign.h"
#include "wire.h"

#define KK_ED25519_SIGLEN	64
#define PAE_PREFIX		"DSSEv1"

/* Base64 text length (without the NUL) for n bytes, n small enough. */
#define B64_LEN(n)		((((n) + 2) / 3) * 4)

int
kk_dsse_pae(const char *type, const uint8_t *payload, size_t len,
    uint8_t **out, size_t *outlen)
{
	char tdec[24], pdec[24];
	uint8_t *buf = NULL, *p;
	size_t tlen, total;
	int tn, pn, r;

	if (out != NULL)
		*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (type == NULL || out == NULL || outlen == NULL ||
	    (payload == NULL && len > 0)) {
		r = -EINVAL;
		goto out;
	}
	tlen = strlen(type);
	tn = snprintf(tdec, sizeof(tdec), "%zu", tlen);
	pn = snprintf(pdec, sizeof(pdec), "%zu", len);
	if (tn <= 0 || (size_t)tn >= sizeof(tdec) || pn <= 0 ||
	    (size_t)pn >= sizeof(pdec)) {
		r = -EOVERFLOW;
		goto out;
	}
	/* "DSSEv1" SP len(T) SP T SP len(P) SP P */
	total = sizeof(PAE_PREFIX) - 1 + 1 + (size_t)tn + 1 + 1 + (size_t)pn +
	    1;
	if (tlen > SIZE_MAX - total || len > SIZE_MAX - total - tlen) {
		r = -EOVERFLOW;
		goto out;
	}
	total += tlen + len;
	buf = malloc(total);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	p = buf;
	memcpy(p, PAE_PREFIX, sizeof(PAE_PREFIX) - 1);
	p += sizeof(PAE_PREFIX) - 1;
	*p++ = ' ';
	memcpy(p, tdec, (size_t)tn);
	p += tn;
	*p++ = ' ';
	memcpy(p, type, tlen);
	p += tlen;
	*p++ = ' ';
	memcpy(p, pdec, (size_t)pn);
	p += pn;
	*p++ = ' ';
	if (len > 0)
		memcpy(p, payload, len);
	*out = buf;
	*outlen = total;
	buf = NULL;
	r = 0;
out:
	free(buf);
	return r;
}

/*
 * Printable text: no C0 controls, no DEL, no C1 controls (U+0080..U+009F,
 * UTF-8 C2 80..C2 9F).  The rest of UTF-8 validity is jansson's job.
 */
static bool
text_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return false;
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

static bool
type_ok(const char *type, size_t len)
{
	return len < sizeof(((struct kk_envelope *)0)->type) &&
	    strlen(type) == len && text_ok(type, len);
}

static bool
keyid_ok(const char *keyid, size_t len)
{
	return len < KK_KEYID_MAX && strlen(keyid) == len &&
	    text_ok(keyid, len);
}

static bool
b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Strict standard base64 (RFC 4648 section 4, with padding): the length
 * is a multiple of four, only the alphabet, at most two '=' and only at
 * the end, and the unused bits of the last group are zero (checked by
 * encoding the result again and comparing).  *out (malloc'd, at least one
 * byte) gets the bytes.  Returns 0 or -EBADMSG (-ENOMEM).
 */
static int
b64_decode_strict(const char *text, size_t tlen, uint8_t **out,
    size_t *outlen)
{
	uint8_t *bin = NULL;
	char *again = NULL;
	size_t i, pad = 0, binmax, n;
	int r;

	*out = NULL;
	*outlen = 0;
	if (tlen % 4 != 0 || tlen > KK_ENVELOPE_MAX) {
		r = -EBADMSG;
		goto out;
	}
	if (tlen > 0 && text[tlen - 1] == '=')
		pad++;
	if (tlen > 1 && text[tlen - 2] == '=')
		pad++;
	for (i = 0; i < tlen - pad; i++) {
		if (!b64_char((unsigned char)text[i])) {
			r = -EBADMSG;
			goto out;
		}
	}
	binmax = tlen / 4 * 3;
	bin = malloc(binmax > 0 ? binmax : 1);
	if (bin == NULL) {
		r = -ENOMEM;
		goto out;
	}
	n = 0;
	if (tlen > 0) {
		/* counts the padding as bytes (zeros) */
		if (EVP_DecodeBlock(bin, (const unsigned char *)text,
		    (int)tlen) != (int)binmax) {
			r = -EBADMSG;
			goto out;
		}
		n = binmax - pad;
	}
	/* canonical: encoding again gives the same text */
	again = malloc(tlen + 1);
	if (again == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_EncodeBlock((unsigned char *)again, bin, (int)n) != (int)tlen ||
	    memcmp(again, text, tlen) != 0) {
		r = -EBADMSG;
		goto out;
	}
	*out = bin;
	*outlen = n;
	bin = NULL;
	r = 0;
out:
	free(bin);
	free(again);
	return r;
}

/* base64 of data as a new JSON string, or NULL */
static json_t *
b64_json(const uint8_t *data, size_t len)
{
	json_t *s = NULL;
	char *text;
	size_t tlen;

	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return NULL;
	tlen = B64_LEN(len);
	text = malloc(tlen + 1);
	if (text == NULL)
		return NULL;
	if (EVP_EncodeBlock((unsigned char *)text, data, (int)len) ==
	    (int)tlen)
		s = json_stringn(text, tlen);
	free(text);
	return s;
}

/*
 * o's members named keys[0..n) into v, when o is an object of exactly
 * n members; false otherwise (a member missing is one too many elsewhere).
 */
static bool
members(json_t *o, const char *const keys[], json_t *v[], size_t n)
{
	size_t i;

	if (!json_is_object(o) || json_object_size(o) != n)
		return false;
	for (i = 0; i < n; i++)
		if ((v[i] = json_object_get(o, keys[i])) == NULL)
			return false;
	return true;
}

static int
parse_sig(json_t *o, struct kk_dsse_sig *sig)
{
	static const char *const keys[] = { KW_KEYID, KW_SIG };
	json_t *m[2], *keyid, *sigtext;
	uint8_t *bin = NULL;
	size_t binlen;
	int r;

	if (!members(o, keys, m, 2) || !json_is_string(m[0]) ||
	    !json_is_string(m[1]) ||
	    !keyid_ok(json_string_value(m[0]), json_string_length(m[0]))) {
		r = -EBADMSG;
		goto out;
	}
	keyid = m[0];
	sigtext = m[1];
	r = b64_decode_strict(json_string_value(sigtext),
	    json_string_length(sigtext), &bin, &binlen);
	if (r < 0)
		goto out;
	if (binlen != KK_ED25519_SIGLEN) {
		r = -EBADMSG;
		goto out;
	}
	memcpy(sig->keyid, json_string_value(keyid),
	    json_string_length(keyid) + 1);
	memcpy(sig->sig, bin, binlen);
	sig->siglen = binlen;
	r = 0;
out:
	free(bin);
	return r;
}

/*
 * jansson lexes a string a byte at a time into a buffer that grows by
 * doubling, then copies it again: a block command's envelope of a few
 * MiB spends most of its parse, and most of its memory, in the payload's
 * base64 (about 40 ns a byte here).  So a long run of base64 between two
 * quotes is lifted out before jansson sees the text: jansson parses the
 * envelope with PLACEHOLDER where the run was, and the run is decoded
 * from the caller's buffer.  That is the same parse only when the run was
 * the whole payload string, which holds when the payload's value is
 * PLACEHOLDER, the text has no backslash (no escape can spell it) and
 * holds PLACEHOLDER once (no other string is it); otherwise the text is
 * parsed as it came.
 */
#ifndef KK_DSSE_LIFT_MIN	/* the fuzzer's build makes it small */
#define KK_DSSE_LIFT_MIN	(64 * 1024)
#endif
#define PLACEHOLDER	"kakuri-lifted-payload"

struct lift {
	const char *run;	/* in the caller's buffer */
	size_t runlen;
	char *doc;		/* the text with PLACEHOLDER for the run */
	size_t doclen;
};

/* 1 and *l filled when buf has a run worth lifting; 0 if not; -ENOMEM */
static int
lift_payload(const char *buf, size_t len, struct lift *l)
{
	const char *p, *end = buf + len, *q;
	size_t head, tail;

	memset(l, 0, sizeof(*l));
	if (len < KK_DSSE_LIFT_MIN)
		return 0;
	for (p = memchr(buf, '"', len); p != NULL;
	    p = memchr(q, '"', (size_t)(end - q))) {
		for (q = p + 1; q < end && (b64_char((unsigned char)*q) ||
		    *q == '='); q++)
			;
		if (q == end)
			return 0;
		if (*q == '"' && (size_t)(q - p - 1) >= KK_DSSE_LIFT_MIN)
			break;
	}
	if (p == NULL)
		return 0;
	head = (size_t)(p + 1 - buf);
	tail = (size_t)(end - q);
	l->run = p + 1;
	l->runlen = (size_t)(q - p - 1);
	l->doclen = head + sizeof(PLACEHOLDER) - 1 + tail;
	if ((l->doc = malloc(l->doclen)) == NULL)
		return -ENOMEM;
	memcpy(l->doc, buf, head);
	memcpy(l->doc + head, PLACEHOLDER, sizeof(PLACEHOLDER) - 1);
	memcpy(l->doc + head + sizeof(PLACEHOLDER) - 1, q, tail);
	if (memchr(l->doc, '\\', l->doclen) != NULL ||
	    memmem(l->doc + head + 1, l->doclen - head - 1, PLACEHOLDER,
	    sizeof(PLACEHOLDER) - 1) != NULL ||
	    memmem(l->doc, head + sizeof(PLACEHOLDER) - 2, PLACEHOLDER,
	    sizeof(PLACEHOLDER) - 1) != NULL) {
		free(l->doc);
		memset(l, 0, sizeof(*l));
		return 0;
	}
	return 1;
}

/*
 * What jansson is given is bounded, not only the bytes: text of small
 * values ({}, [], 0) costs it 40 to 80 times its size in memory, and
 * seconds of the parent's time for a few MiB, before any signature is
 * looked at.  An envelope is small but for its payload (a type, at most
 * KK_DSSE_MAX_SIGS signatures), so a large one is parsed only with its
 * payload lifted out and at most KK_DSSE_DOC_MAX left; one too short to
 * lift, as it came.
 */
static bool
too_big_to_parse(size_t len, const struct lift *l)
{
	if (l->doc != NULL)
		return l->doclen > KK_DSSE_DOC_MAX;
	return len > KK_DSSE_LIFT_MIN + KK_DSSE_DOC_MAX;
}

/* Was the payload (a string) the run lift_payload took out? */
static bool
lifted_is_payload(const struct lift *l, json_t *payload)
{
	return l->doc != NULL && json_string_length(payload) ==
	    sizeof(PLACEHOLDER) - 1 && memcmp(json_string_value(payload),
	    PLACEHOLDER, sizeof(PLACEHOLDER) - 1) == 0;
}

static int
envelope_parse(const uint8_t *buf, size_t len, struct kk_envelope *env,
    bool may_lift)
{
	static const char *const keys[] = { KW_PAYLOADTYPE, KW_PAYLOAD,
		KW_SIGNATURES };
	json_error_t jerr;
	json_t *root = NULL, *m[3], *type, *payload, *sigs;
	struct lift l = { 0 };
	size_t i, n;
	int r, tries;

	if (env == NULL)
		return -EINVAL;
	memset(env, 0, sizeof(*env));
	/* the cap comes before anything else looks at the bytes */
	if (len > KK_ENVELOPE_MAX) {
		r = -E2BIG;
		goto out;
	}
	if (buf == NULL) {
		r = -EINVAL;
		goto out;
	}
	/*
	 * No JSON_DECODE_ANY (an object or array only), no
	 * JSON_DISABLE_EOF_CHECK (anything but whitespace after the value
	 * fails; the tests hold jansson to that), no JSON_ALLOW_NUL.
	 */
	if (may_lift && (r = lift_payload((const char *)buf, len, &l)) < 0)
		goto out;
	for (tries = 0; tries < 2; tries++) {
		if (may_lift && too_big_to_parse(len, &l)) {
			r = -EBADMSG;
			break;
		}
		root = l.doc != NULL ?
		    json_loadb(l.doc, l.doclen, JSON_REJECT_DUPLICATES, &jerr) :
		    json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
		    &jerr);
		if (root == NULL || !members(root, keys, m, 3) ||
		    !json_is_string(m[0]) || !json_is_string(m[1]) ||
		    !json_is_array(m[2])) {
			r = -EBADMSG;
		} else
			r = 0;
		if (l.doc == NULL || (r == 0 && lifted_is_payload(&l, m[1])))
			break;
		/* the run was not the payload: the text as it came */
		json_decref(root);
		root = NULL;
		free(l.doc);
		memset(&l, 0, sizeof(l));
	}
	if (r < 0)
		goto out;
	type = m[0];
	payload = m[1];
	sigs = m[2];
	if (!type_ok(json_string_value(type), json_string_length(type))) {
		r = -EBADMSG;
		goto out;
	}
	n = json_array_size(sigs);
	if (n < 1 || n > KK_DSSE_MAX_SIGS) {
		r = -EBADMSG;
		goto out;
	}
	for (i = 0; i < n; i++) {
		r = parse_sig(json_array_get(sigs, i), &env->sigs[i]);
		if (r < 0)
			goto out;
	}
	if (l.doc != NULL)
		r = b64_decode_strict(l.run, l.runlen, &env->payload,
		    &env->payload_len);
	else
		r = b64_decode_strict(json_string_value(payload),
		    json_string_length(payload), &env->payload,
		    &env->payload_len);
	if (r < 0)
		goto out;
	memcpy(env->type, json_string_value(type),
	    json_string_length(type) + 1);
	env->nsigs = n;
	r = 0;
out:
	json_decref(root);
	free(l.doc);
	if (r < 0)
		kk_envelope_free(env);
	return r;
}

int
kk_envelope_parse(const uint8_t *buf, size_t len, struct kk_envelope *env)
{
	return envelope_parse(buf, len, env, true);
}

int
kk_envelope_parse_as_is(const uint8_t *buf, size_t len,
    struct kk_envelope *env)
{
	return envelope_parse(buf, len, env, false);
}

void
kk_envelope_free(struct kk_envelope *env)
{
	if (env == NULL)
		return;
	if (env->payload != NULL) {
		OPENSSL_cleanse(env->payload, env->payload_len);
		free(env->payload);
	}
	OPENSSL_cleanse(env, sizeof(*env));
}

int
kk_envelope_init(struct kk_envelope *env, const char *type,
    const uint8_t *payload, size_t len)
{
	int r;

	if (env == NULL)
		return -EINVAL;
	memset(env, 0, sizeof(*env));
	if (type == NULL || (payload == NULL && len > 0) ||
	    !type_ok(type, strlen(type))) {
		r = -EINVAL;
		goto out;
	}
	if (len > KK_ENVELOPE_MAX) {
		r = -E2BIG;
		goto out;
	}
	env->payload = malloc(len > 0 ? len : 1);
	if (env->payload == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (len > 0)
		memcpy(env->payload, payload, len);
	env->payload_len = len;
	strcpy(env->type, type);
	r = 0;
out:
	if (r < 0)
		kk_envelope_free(env);
	return r;
}

/* The PAE of env, and a context to sign or verify it with. */
static int
pae_ctx(const struct kk_envelope *env, uint8_t **pae, size_t *paelen,
    EVP_MD_CTX **ctx)
{
	int r;

	r = kk_dsse_pae(env->type, env->payload, env->payload_len, pae,
	    paelen);
	if (r < 0)
		return r;
	if ((*ctx = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	return 0;
}

int
kk_envelope_sign(struct kk_envelope *env, const char *keyid, EVP_PKEY *key)
{
	EVP_MD_CTX *ctx = NULL;
	struct kk_dsse_sig *s;
	uint8_t *pae = NULL;
	size_t paelen, siglen;
	int r;

	if (env == NULL || key == NULL || !EVP_PKEY_is_a(key, "ED25519") ||
	    strnlen(env->type, sizeof(env->type)) == sizeof(env->type)) {
		r = -EINVAL;
		goto out;
	}
	if (keyid == NULL)
		keyid = "";
	if (!keyid_ok(keyid, strlen(keyid))) {
		r = -EINVAL;
		goto out;
	}
	if (env->nsigs >= KK_DSSE_MAX_SIGS) {
		r = -ENOSPC;
		goto out;
	}
	if ((r = pae_ctx(env, &pae, &paelen, &ctx)) < 0)
		goto out;
	s = &env->sigs[env->nsigs];
	memset(s, 0, sizeof(*s));
	siglen = sizeof(s->sig);
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, s->sig, &siglen, pae, paelen) != 1 ||
	    siglen != KK_ED25519_SIGLEN) {
		/* a public key alone cannot sign */
		memset(s, 0, sizeof(*s));
		r = -EINVAL;
		goto out;
	}
	s->siglen = siglen;
	strcpy(s->keyid, keyid);
	env->nsigs++;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(pae);
	return r;
}

char *
kk_envelope_encode(const struct kk_envelope *env)
{
	json_t *root = NULL, *sigs = NULL, *o;
	char *text = NULL;
	size_t i;

	if (env == NULL || env->nsigs < 1 || env->nsigs > KK_DSSE_MAX_SIGS ||
	    (env->payload == NULL && env->payload_len > 0) ||
	    strnlen(env->type, sizeof(env->type)) == sizeof(env->type))
		goto out;
	root = json_object();
	sigs = json_array();
	if (root == NULL || sigs == NULL)
		goto out;
	if (json_object_set_new(root, KW_PAYLOADTYPE,
	    json_string(env->type)) < 0 ||
	    json_object_set_new(root, KW_PAYLOAD,
	    b64_json(env->payload, env->payload_len)) < 0)
		goto out;
	for (i = 0; i < env->nsigs; i++) {
		if (env->sigs[i].siglen != KK_ED25519_SIGLEN ||
		    strnlen(env->sigs[i].keyid, KK_KEYID_MAX) == KK_KEYID_MAX)
			goto out;
		o = json_object();
		if (json_array_append_new(sigs, o) < 0 ||
		    json_object_set_new(o, KW_KEYID,
		    json_string(env->sigs[i].keyid)) < 0 ||
		    json_object_set_new(o, KW_SIG, b64_json(env->sigs[i].sig,
		    env->sigs[i].siglen)) < 0)
			goto out;
	}
	if (json_object_set(root, KW_SIGNATURES, sigs) < 0)
		goto out;
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(sigs);
	json_decref(root);
	return text;
}

int
kk_envelope_seal(const char *type, const uint8_t *payload, size_t len,
    const char *keyid, EVP_PKEY *key, char **text)
{
	struct kk_envelope env;
	int r;

	if (text == NULL)
		return -EINVAL;
	*text = NULL;
	if ((r = kk_envelope_init(&env, type, payload, len)) < 0)
		return r;
	if ((r = kk_envelope_sign(&env, keyid, key)) < 0)
		goto out;
	if ((*text = kk_envelope_encode(&env)) == NULL)
		r = -ENOMEM;
out:
	kk_envelope_free(&env);
	return r;
}

int
kk_dsse_verify_one(const struct kk_envelope *env, size_t i, EVP_PKEY *pub)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *pae = NULL;
	size_t paelen;
	int r;

	if (env == NULL || pub == NULL || i >= env->nsigs ||
	    env->nsigs > KK_DSSE_MAX_SIGS ||
	    strnlen(env->type, sizeof(env->type)) == sizeof(env->type)) {
		r = -EINVAL;
		goto out;
	}
	/*
	 * Ed25519 only: with any other key type, a NULL digest would pick a
	 * default one and verify some other kind of signature.
	 */
	if (!EVP_PKEY_is_a(pub, "ED25519") ||
	    env->sigs[i].siglen != KK_ED25519_SIGLEN) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = pae_ctx(env, &pae, &paelen, &ctx)) < 0)
		goto out;
	/*
	 * A signature that does not verify is an expected outcome (every
	 * trusted key is tried): leave no stale entries in the thread's
	 * OpenSSL error queue, where SSL_get_error() would find them.
	 */
	ERR_set_mark();
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) != 1 ||
	    EVP_DigestVerify(ctx, env->sigs[i].sig, env->sigs[i].siglen, pae,
	    paelen) != 1) {
		ERR_pop_to_mark();
		r = -EBADMSG;
		goto out;
	}
	ERR_clear_last_mark();
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(pae);
	return r;
}

json_t *
kk_envelope_open_code(const uint8_t *buf, size_t len, const char *type,
    EVP_PKEY *key, enum kk_open_fail *fail, char got_type[KK_DSSE_TYPE_MAX])
{
	struct kk_envelope env;
	json_t *o = NULL;
	size_t i;

	if (kk_envelope_parse(buf, len, &env) < 0) {
		*fail = KK_OPEN_NOT_DSSE;
		return NULL;
	}
	if (strcmp(env.type, type) != 0) {
		*fail = KK_OPEN_OTHER_TYPE;
		if (got_type != NULL)
			memcpy(got_type, env.type, sizeof(env.type));
		goto out;
	}
	for (i = 0; i < env.nsigs; i++)
		if (kk_dsse_verify_one(&env, i, key) == 0)
			break;
	if (i == env.nsigs) {
		*fail = KK_OPEN_UNSIGNED;
		goto out;
	}
	if (!kk_json_few_values((const char *)env.payload, env.payload_len,
	    KK_PAYLOAD_VALUES_MAX)) {
		*fail = KK_OPEN_TOO_MANY_VALUES;
		goto out;
	}
	o = json_loadb((const char *)env.payload, env.payload_len,
	    JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = NULL;
		*fail = KK_OPEN_MALFORMED;
	}
out:
	kk_envelope_free(&env);
	return o;
}

json_t *
kk_envelope_open(const uint8_t *buf, size_t len, const char *type,
    EVP_PKEY *key, const char **why)
{
	static const char *const words[KK_OPEN_NFAILS] = {
		[KK_OPEN_NOT_DSSE] = "not a DSSE envelope",
		[KK_OPEN_OTHER_TYPE] = "wrong payload type",
		[KK_OPEN_UNSIGNED] = "the signature does not verify",
		[KK_OPEN_TOO_MANY_VALUES] = "too many values in the payload",
		[KK_OPEN_MALFORMED] = "malformed payload",
	};
	enum kk_open_fail fail;
	json_t *o;

	if ((o = kk_envelope_open_code(buf, len, type, key, &fail,
	    NULL)) == NULL)
		*why = words[fail];
	return o;
}
