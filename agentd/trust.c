/*
 * trust.conf (DESIGN 4): the CSIRT signing keys, the actions (roles) each
 * may sign for, and how many distinct keys each action needs.
 *
 *	keys = (
 *	  { id = "alice"; public_key = "/etc/kakuri/keys/alice.pub";
 *	    roles = [ "isolate", "release" ]; },
 *	  { id = "bob"; public_key = "/etc/kakuri/keys/bob.pub";
 *	    roles = [ "release" ]; }
 *	);
 *	thresholds = { release = 2; };
 *
 * This file decides who can cut a host off the network and who can let
 * it back on, so it is loaded like the policy (cfgfile.c): a root-owned
 * regular file nobody else can write, no @include, every key known and of
 * the right type, and all of it valid before the caller's struct changes.
 * The public key files it names get the same ownership and mode checks:
 * whoever can rewrite alice.pub can sign as alice.
 *
 * A threshold counts distinct keys, so the same public key may not appear
 * twice (one person would count twice), and a threshold that more keys
 * than hold the role would need is refused (it could never be met).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kakuri.h"
#include "cfgfile.h"
#include "sign.h"

#define KEY_ID_LEN_MAX	63		/* [A-Za-z0-9_.@-]{1,63} */
#define ED25519_LEN	32

/*
 * The size is checked after the owner and the mode, as trust.conf always
 * has been, so that a file failing both keeps its message.
 */
static const struct kk_cfg_type trust_file = {
	.noun = "trust file",
	.max = 1024 * 1024,
	.size_last = true,
};

static bool
is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static bool
valid_key_id(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (i >= KEY_ID_LEN_MAX)
			return false;
		if (!is_alnum(v[i]) && v[i] != '_' && v[i] != '.' &&
		    v[i] != '@' && v[i] != '-')
			return false;
	}
	return i > 0;
}

static int
load_id(struct kk_cfg_loader *l, const config_setting_t *s, const char *qname,
    struct kk_trust *nt, struct kk_trust_key *k)
{
	char q[KK_CFG_QUOTE_SIZE];
	const char *v;
	size_t i;
	int rc = -EINVAL;

	if ((rc = kk_cfg_string(l, s, qname, &v)) != 0)
		goto out;
	rc = -EINVAL;
	if (!valid_key_id(v)) {
		kk_cfg_fail_at(l, s, "%s: '%s' is not a valid key id "
		    "([A-Za-z0-9_.@-]{1,%d})", qname,
		    kk_cfg_quote(v, q, sizeof(q)), KEY_ID_LEN_MAX);
		goto out;
	}
	for (i = 0; i < nt->nkeys; i++) {
		if (strcmp(nt->keys[i].id, v) == 0) {
			kk_cfg_fail_at(l, s, "%s: duplicate key id '%s'", qname,
			    kk_cfg_quote(v, q, sizeof(q)));
			goto out;
		}
	}
	snprintf(k->id, sizeof(k->id), "%s", v);
	rc = 0;
out:
	return rc;
}

/*
 * The public key file: the same checks as trust.conf, then loaded with
 * kk_key_load_public.  The file is held open meanwhile, and afterwards
 * the path must still name the file that was checked, so it cannot be
 * swapped for another between the check and the load.
 */
static int
load_public(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, struct kk_trust *nt, struct kk_trust_key *k)
{
	uint8_t raw[ED25519_LEN], other[ED25519_LEN];
	struct stat st, after;
	char q[KK_CFG_QUOTE_SIZE], what[128];
	EVP_PKEY *pub = NULL;
	const char *v;
	size_t i, rawlen, olen;
	int fd = -1, rc = -EINVAL;

	if ((rc = kk_cfg_string(l, s, qname, &v)) != 0)
		goto out;
	rc = -EINVAL;
	if (*v != '/') {
		kk_cfg_fail_at(l, s, "%s must be an absolute path: '%s'", qname,
		    kk_cfg_quote(v, q, sizeof(q)));
		goto out;
	}
	if (strlen(v) >= PATH_MAX) {
		kk_cfg_fail_at(l, s, "%s is too long", qname);
		goto out;
	}
	if ((rc = kk_cfg_path_parts(l, s, qname, v)) != 0)
		goto out;

	fd = open(v, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY);
	if (fd == -1) {
		rc = -errno;
		if (rc == -ELOOP)
			kk_cfg_fail_at(l, s, "%s '%s' refused: is a symbolic "
			    "link", qname, kk_cfg_quote(v, q, sizeof(q)));
		else
			kk_cfg_fail_at(l, s, "%s '%s': cannot open: %s", qname,
			    kk_cfg_quote(v, q, sizeof(q)), strerror(-rc));
		goto out;
	}
	snprintf(what, sizeof(what), "%s '%s' ", qname,
	    kk_cfg_quote(v, q, sizeof(q)));
	if ((rc = kk_cfg_check_file(l, s, what, fd, &st)) != 0)
		goto out;
	if ((rc = kk_key_load_public(v, &pub)) != 0) {
		kk_cfg_fail_at(l, s, "%s '%s': not an Ed25519 public key (%s)",
		    qname, kk_cfg_quote(v, q, sizeof(q)), strerror(-rc));
		goto out;
	}
	if (lstat(v, &after) == -1 || after.st_dev != st.st_dev ||
	    after.st_ino != st.st_ino) {
		rc = -EAGAIN;
		kk_cfg_fail_at(l, s, "%s '%s' changed while it was loaded",
		    qname, kk_cfg_quote(v, q, sizeof(q)));
		goto out;
	}
	/* kk_key_load_public says so too; a trust anchor gets both. */
	rawlen = sizeof(raw);
	if (EVP_PKEY_get_id(pub) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pub, raw, &rawlen) != 1 ||
	    rawlen != ED25519_LEN) {
		rc = -EPROTONOSUPPORT;
		kk_cfg_fail_at(l, s, "%s '%s': not an Ed25519 public key",
		    qname, kk_cfg_quote(v, q, sizeof(q)));
		goto out;
	}
	for (i = 0; i < nt->nkeys; i++) {
		olen = sizeof(other);
		if (EVP_PKEY_get_raw_public_key(nt->keys[i].pub, other,
		    &olen) == 1 && olen == rawlen &&
		    memcmp(raw, other, rawlen) == 0) {
			rc = -EINVAL;
			kk_cfg_fail_at(l, s, "%s: the same public key as key "
			    "'%s' (one signer would count twice)", qname,
			    nt->keys[i].id);
			goto out;
		}
	}
	k->pub = pub;
	pub = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pub);
	if (fd != -1)
		close(fd);
	return rc;
}

static const struct kk_cfg_list role_list = {
	"action names", CONFIG_TYPE_STRING, NULL, 0
};

static int
load_roles(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, struct kk_trust_key *k)
{
	const config_setting_t *e;
	enum kk_action a;
	char q[KK_CFG_QUOTE_SIZE];
	const char *v;
	size_t i, n;
	int rc;

	if ((rc = kk_cfg_list_len(l, s, qname, &role_list, true, &n)) != 0)
		goto out;
	rc = -EINVAL;
	for (i = 0; i < n; i++) {
		if ((e = kk_cfg_list_elem(l, s, i, qname, &role_list)) == NULL)
			goto out;
		v = config_setting_get_string(e);
		if (kk_action_parse(v, &a) != 0) {
			kk_cfg_fail_at(l, e, "%s: unknown role '%s'", qname,
			    kk_cfg_quote(v, q, sizeof(q)));
			goto out;
		}
		if (k->roles & (1u << a)) {
			kk_cfg_fail_at(l, e, "%s: duplicate role '%s'", qname,
			    v);
			goto out;
		}
		k->roles |= 1u << a;
	}
	rc = 0;
out:
	return rc;
}

enum { F_ID, F_PUBLIC_KEY, F_ROLES, F__MAX };
static const char *const key_fields[F__MAX] = {
	[F_ID] = "id",
	[F_PUBLIC_KEY] = "public_key",
	[F_ROLES] = "roles",
};

/*
 * One element of keys.  The id is loaded first so that later messages can
 * name it, whatever order the fields are written in.
 */
static int
load_key(struct kk_cfg_loader *l, const config_setting_t *g, size_t idx,
    struct kk_trust *nt)
{
	struct kk_trust_key *k = &nt->keys[nt->nkeys];
	const config_setting_t *f[F__MAX];
	char qname[KK_NAME_MAX + 32];
	size_t j;
	int rc = -EINVAL;

	memset(k, 0, sizeof(*k));
	if (!config_setting_is_group(g)) {
		kk_cfg_fail_at(l, g, "keys[%zu] must be a group: { id = ...; "
		    "public_key = ...; roles = [ ... ]; }", idx);
		goto out;
	}
	snprintf(qname, sizeof(qname), "keys[%zu]", idx);
	if ((rc = kk_cfg_members(l, g, qname, key_fields, F__MAX, f)) != 0)
		goto out;
	rc = -EINVAL;
	for (j = 0; j < F__MAX; j++) {
		if (f[j] == NULL) {
			kk_cfg_fail_at(l, g, "missing required key "
			    "'keys[%zu].%s'", idx, key_fields[j]);
			goto out;
		}
	}
	snprintf(qname, sizeof(qname), "keys[%zu].id", idx);
	if ((rc = load_id(l, f[F_ID], qname, nt, k)) != 0)
		goto out;
	snprintf(qname, sizeof(qname), "%s.roles", k->id);
	if ((rc = load_roles(l, f[F_ROLES], qname, k)) != 0)
		goto out;
	snprintf(qname, sizeof(qname), "%s.public_key", k->id);
	if ((rc = load_public(l, f[F_PUBLIC_KEY], qname, nt, k)) != 0)
		goto out;
	nt->nkeys++;
	rc = 0;
out:
	return rc;
}

static int
load_keys(struct kk_cfg_loader *l, const config_setting_t *s,
    struct kk_trust *nt)
{
	size_t i, n;
	int rc = -EINVAL;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		kk_cfg_fail_at(l, s,
		    "keys must be a list: keys = ( { ... }, ... );");
		goto out;
	}
	n = (size_t)config_setting_length(s);
	if (n == 0) {
		kk_cfg_fail_at(l, s, "keys must not be empty");
		goto out;
	}
	if (n > KK_TRUST_MAX_KEYS) {
		kk_cfg_fail_at(l, s, "too many keys (at most %d)",
		    KK_TRUST_MAX_KEYS);
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = load_key(l, config_setting_get_elem(s, (unsigned)i),
		    i, nt)) != 0)
			goto out;
	rc = 0;
out:
	return rc;
}

/* After the keys: a threshold is checked against the keys holding it. */
static int
load_thresholds(struct kk_cfg_loader *l, const config_setting_t *g,
    struct kk_trust *nt)
{
	const config_setting_t *s;
	enum kk_action a;
	const char *name;
	long long v;
	unsigned holders;
	size_t i, j, n;
	int rc = -EINVAL;

	if (!config_setting_is_group(g)) {
		kk_cfg_fail_at(l, g, "thresholds must be a group: "
		    "thresholds = { release = 2; };");
		goto out;
	}
	n = (size_t)config_setting_length(g);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(s);
		if (kk_action_parse(name, &a) != 0) {
			kk_cfg_fail_at(l, s, "unknown key 'thresholds.%s' "
			    "(not an action)", name);
			goto out;
		}
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64) {
			kk_cfg_fail_at(l, s, "thresholds.%s must be an integer",
			    name);
			goto out;
		}
		v = config_setting_get_int64(s);
		if (v < 1 || v > KK_TRUST_MAX_KEYS) {
			kk_cfg_fail_at(l, s, "thresholds.%s: %lld out of range "
			    "1-%d", name, v, KK_TRUST_MAX_KEYS);
			goto out;
		}
		for (j = 0, holders = 0; j < nt->nkeys; j++)
			if (nt->keys[j].roles & (1u << a))
				holders++;
		if ((unsigned)v > holders) {
			kk_cfg_fail_at(l, s, "thresholds.%s = %lld can never "
			    "be met: %u key%s hold%s the role", name, v,
			    holders, holders == 1 ? "" : "s",
			    holders == 1 ? "s" : "");
			goto out;
		}
		nt->threshold[a] = (unsigned)v;
	}
	rc = 0;
out:
	return rc;
}

enum { R_KEYS, R_THRESHOLDS, R__MAX };
static const char *const root_fields[R__MAX] = {
	[R_KEYS] = "keys",
	[R_THRESHOLDS] = "thresholds",
};

static int
load_root(struct kk_cfg_loader *l, const config_setting_t *root,
    struct kk_trust *nt)
{
	const config_setting_t *f[R__MAX];
	int rc;

	if ((rc = kk_cfg_members(l, root, NULL, root_fields, R__MAX, f)) != 0)
		goto out;
	if (f[R_KEYS] == NULL) {
		kk_cfg_fail(l, 0, "missing required key 'keys'");
		rc = -EINVAL;
		goto out;
	}
	if ((rc = load_keys(l, f[R_KEYS], nt)) != 0)
		goto out;
	if (f[R_THRESHOLDS] != NULL &&
	    (rc = load_thresholds(l, f[R_THRESHOLDS], nt)) != 0)
		goto out;
	rc = 0;
out:
	return rc;
}

static void
trust_clear(struct kk_trust *t)
{
	size_t i;

	for (i = 0; i < t->nkeys && i < KK_TRUST_MAX_KEYS; i++)
		EVP_PKEY_free(t->keys[i].pub);
	memset(t, 0, sizeof(*t));
}

/*
 * Builds the new trust in a scratch copy; *t is overwritten only when all
 * of the file is valid (free the old one first, or load into a new struct
 * and swap), and untouched otherwise.
 */
int
kk_trust_load(const char *path, unsigned flags, struct kk_trust *t,
    char *err, size_t errlen)
{
	struct kk_cfg_loader l;
	struct kk_trust *nt = NULL;
	const config_setting_t *root;
	size_t i;
	int rc;

	/* Nowhere to put the keys is refused like no trust file at all. */
	nt = kk_cfg_begin(&l, path, t != NULL, flags, err, errlen,
	    &trust_file, sizeof(*nt), &rc);
	if (nt == NULL)
		goto out;
	for (i = 0; i < KK_ACT__MAX; i++)
		nt->threshold[i] = 1;

	if ((rc = kk_cfg_parse(&l, &root)) != 0)
		goto out;
	if ((rc = load_root(&l, root, nt)) != 0)
		goto out;

	memcpy(t, nt, sizeof(*t));
	nt->nkeys = 0;		/* the keys are t's now */
	rc = 0;
out:
	if (nt != NULL)
		trust_clear(nt);
	free(nt);
	kk_cfg_close(&l);
	return rc;
}

/*
 * Frees the keys.  The thresholds are left unreachable rather than 0, so
 * that a caller comparing a count against a freed trust fails closed.
 */
void
kk_trust_free(struct kk_trust *t)
{
	size_t i;

	if (t == NULL)
		return;
	trust_clear(t);
	for (i = 0; i < KK_ACT__MAX; i++)
		t->threshold[i] = KK_TRUST_MAX_KEYS + 1;
}

/*
 * The first signature of env that signature i is a copy of (i if none).
 * Ed25519 is deterministic: a key signing the same bytes twice gives the
 * same signature, so a copy can credit no key the first could not, and
 * no signature is verified twice with one key.
 */
static size_t
first_copy(const struct kk_envelope *env, size_t i)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (env->sigs[k].siglen == env->sigs[i].siglen &&
		    memcmp(env->sigs[k].sig, env->sigs[i].sig,
		    env->sigs[i].siglen) == 0)
			break;
	return k;
}

/* The trust key that keyid names, or t->nkeys. */
static size_t
key_named(const struct kk_trust *t, const char *keyid)
{
	size_t j;

	if (strnlen(keyid, KK_KEYID_MAX) == KK_KEYID_MAX)
		return t->nkeys;
	for (j = 0; j < t->nkeys; j++)
		if (strcmp(t->keys[j].id, keyid) == 0)
			return j;
	return t->nkeys;
}

/* the bits of t's keys that can verify (a key without pub cannot) */
static uint64_t
all_keys(const struct kk_trust *t)
{
	uint64_t all = 0;
	size_t j;

	for (j = 0; j < t->nkeys; j++)
		if (t->keys[j].pub != NULL)
			all |= UINT64_C(1) << j;
	return all;
}

/*
 * Each signature is credited to at most one key: the one its keyid names,
 * if that key verifies it, otherwise the first other key that does.  A
 * key is counted once however many signatures it made, and a key already
 * credited is not tried again.  The keyid only saves verifications; it
 * never decides -- but for a payload larger than KK_COMMAND_MAX (a block
 * list, up to 16 MiB, every verification hashing all of it): there a
 * signature is tried with the key its keyid names only, and after
 * KK_TRUST_BIG_FAILS (2) that fail no more are tried, so that garbage
 * signatures cost two verifications, not sixteen.  named_only asks the
 * same of any envelope: the caller's budget of failures in time is spent
 * (a flood of garbage signatures), and -EDQUOT then says that a
 * signature no named key verified was not tried with the others.
 *
 * Two passes.  First every signature with the key its keyid names: an
 * honest envelope is done here, one verification a signer.  Then the
 * signatures left with the other keys, within KK_TRUST_FAIL_BUDGET failed
 * verifications for the envelope, counting those of the first pass:
 * without it, sixteen garbage signatures against 64 keys cost 1,024
 * verifications of up to 64 KiB each, some 0.15 s of the parent's time
 * per envelope, from any peer that can send one.  When the budget runs
 * out the keys found so far are real signers; the caller is told that
 * the others were not all tried (-EDQUOT), so that it refuses only an
 * envelope that would need them.
 */
int
kk_trust_signers(const struct kk_trust *t, const struct kk_envelope *env,
    bool named_only, uint64_t *signers, unsigned *failures)
{
	/* by a signature's first copy: keys tried, and whether it counted */
	uint64_t tried[KK_DSSE_MAX_SIGS], bit, got = 0, all;
	bool done[KK_DSSE_MAX_SIGS];
	unsigned failed = 0;
	size_t i, j, k;
	int rc = -EINVAL;

	if (signers != NULL)
		*signers = 0;
	if (t == NULL || env == NULL || signers == NULL ||
	    t->nkeys > KK_TRUST_MAX_KEYS || env->nsigs > KK_DSSE_MAX_SIGS)
		goto out;
	/* each try of a big payload hashes all of it */
	if (env->payload_len > KK_COMMAND_MAX)
		named_only = true;
	for (i = 0; i < env->nsigs; i++) {
		if ((k = first_copy(env, i)) == i) {
			tried[i] = 0;
			done[i] = false;
		}
		j = key_named(t, env->sigs[i].keyid);
		if (done[k] || j == t->nkeys || t->keys[j].pub == NULL)
			continue;
		bit = UINT64_C(1) << j;
		if ((got | tried[k]) & bit)
			continue;
		if (named_only && failed >= KK_TRUST_BIG_FAILS) {
			rc = -EDQUOT;
			goto out;
		}
		tried[k] |= bit;
		if (kk_dsse_verify_one(env, i, t->keys[j].pub) == 0) {
			got |= bit;
			done[k] = true;
		} else {
			failed++;
		}
	}
	rc = 0;
	if (env->payload_len > KK_COMMAND_MAX)
		goto out;
	all = named_only ? all_keys(t) : 0;
	for (i = 0; named_only && i < env->nsigs; i++) {
		/* one that no key named verified might have had another */
		if (first_copy(env, i) == i && !done[i] &&
		    (got | tried[i]) != all) {
			rc = -EDQUOT;
			goto out;
		}
	}
	for (i = 0; !named_only && i < env->nsigs; i++) {
		/* a copy was tried as its first is */
		if (first_copy(env, i) != i)
			continue;
		for (j = 0; !done[i] && j < t->nkeys; j++) {
			bit = UINT64_C(1) << j;
			if (((got | tried[i]) & bit) || t->keys[j].pub == NULL)
				continue;
			if (failed >= KK_TRUST_FAIL_BUDGET) {
				rc = -EDQUOT;
				goto out;
			}
			tried[i] |= bit;
			if (kk_dsse_verify_one(env, i, t->keys[j].pub) == 0) {
				got |= bit;
				done[i] = true;
			} else {
				failed++;
			}
		}
	}
out:
	if (signers != NULL && rc != -EINVAL)
		*signers = got;
	if (failures != NULL)
		*failures = failed;
	return rc;
}

unsigned
kk_trust_count_role(const struct kk_trust *t, uint64_t signers,
    enum kk_action a)
{
	unsigned n = 0;
	size_t i;

	if (t == NULL || (unsigned)a >= KK_ACT__MAX)
		goto out;
	for (i = 0; i < t->nkeys && i < KK_TRUST_MAX_KEYS; i++)
		if ((signers & (UINT64_C(1) << i)) &&
		    (t->keys[i].roles & (1u << a)))
			n++;
out:
	return n;
}
