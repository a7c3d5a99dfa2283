/*
 * Signed commands (DESIGN 4): Ed25519 keys, DSSE envelopes, trust.conf,
 * the replay store and the strict command payload.  Shared by kakurid
 * (verifies) and kakurictl (signs).  Same conventions as kakuri.h: 0 or a
 * negative errno; modules never log.
 */
#ifndef KK_SIGN_H
#define KK_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kakuri.h"

#define KK_PT_COMMAND	"application/vnd.kakuri.command.v1+json"
#define KK_PT_RECEIPT	"application/vnd.kakuri.receipt.v1+json"
#define KK_PT_REPORT	"application/vnd.kakuri.report.v1+json"
#define KK_PT_MANIFEST	"application/vnd.kakuri.manifest.v1+json"

/*
 * Size caps (DESIGN 4), checked first.  An envelope over KK_FRAME_MAX
 * reaches kakurid only from a peer that completed mutual TLS (the
 * transports' frame limits say so); its payload runs only if, once
 * verified, it is a block list.
 */
#define KK_ENVELOPE_MAX		(24 * 1024 * 1024)
#define KK_COMMAND_MAX		(64 * 1024)	/* payloads of every other action */
#define KK_BLOCK_PAYLOAD_MAX	(16 * 1024 * 1024)	/* a block command's payload */
#define KK_DSSE_MAX_SIGS	16
/*
 * Values and separators (kk_json_few_values) of a payload that
 * kk_envelope_open parses once it verified: root on an agent signs what
 * it likes, and jansson spends 40 to 80 times a hostile text's size on
 * it ([{},{},...]).  The biggest real payload, a fetch receipt listing
 * KD_FETCH_MAX_FILES (4,096) files, has about 5 a file.
 */
#define KK_PAYLOAD_VALUES_MAX	65536
#define KK_KEYID_MAX		128
#define KK_TRUST_MAX_KEYS	64
#define KK_ID_HEX		32		/* command ids: 128 bits, hex */
#define KK_AGENT_ID_HEX		64		/* SHA-256 of the raw public key */

/* keys.c */
EVP_PKEY *kk_key_generate(void);
/* PEM, PKCS#8; created with O_EXCL and mode 0600 */
int kk_key_save_private(EVP_PKEY *k, const char *path);
/* PEM SubjectPublicKeyInfo, mode 0644 */
int kk_key_save_public(EVP_PKEY *k, const char *path);
int kk_key_load_private(const char *path, EVP_PKEY **out);
/*
 * The 32-byte seed of an Ed25519 key file in plain PKCS#8 PEM (what
 * kakurid --init and openssl genpkey write), decoded here and not by
 * OpenSSL's PEM and DER decoders, which free their buffers uncleared:
 * every buffer that held the key is cleared.  -EINVAL for any other
 * encoding (kk_key_load_private reads those).
 */
#define KK_ED25519_SEED		32
int kk_key_load_seed(const char *path, unsigned char *seed);
/* the same from PEM text in memory (never asks for a passphrase) */
int kk_key_parse_private(const char *pem, size_t len, EVP_PKEY **out);
/* a PEM public key or a PEM X.509 certificate; Ed25519 only */
int kk_key_load_public(const char *path, EVP_PKEY **out);
/* lowercase hex SHA-256 of the raw 32-byte Ed25519 public key */
int kk_key_id(EVP_PKEY *k, char out[KK_AGENT_ID_HEX + 1]);
/* *out is k with a reference of its own (the caller frees it), or -ENOMEM */
int kk_key_hold(EVP_PKEY *k, EVP_PKEY **out);
/*
 * The end of a check of k as an identity whose id is in id: when the
 * check passed (r == 0) *out holds k as kk_key_hold does; else, or when
 * that fails, id is emptied.  r, or -ENOMEM.
 */
int kk_key_identity_end(int r, EVP_PKEY *k, EVP_PKEY **out,
    char id[KK_AGENT_ID_HEX + 1]);
/* self-signed X.509 (v3, CN=cn, valid days), PEM, mode 0644 */
int kk_cert_selfsigned(EVP_PKEY *k, const char *cn, int days, const char *path);
/*
 * The network child's TLS certificate (DESIGN 2): X.509 v3 for key
 * (CN=cn, valid days, CA:FALSE, serverAuth+clientAuth), issued under the
 * subject of issuer (the identity certificate, agent.crt) and signed by
 * issuer_key, the identity key that certificate carries.  key must not be
 * the identity key.  PEM, created (never replaced) with mode 0644.
 */
int kk_cert_issue(EVP_PKEY *key, const char *cn, int days, X509 *issuer,
    EVP_PKEY *issuer_key, const char *path);
/* 0 if cert carries a valid signature by issuer_key, else -EBADMSG */
int kk_cert_check_issued(X509 *cert, EVP_PKEY *issuer_key);
/* the first certificate of a PEM file (same size cap as key files) */
int kk_cert_load(const char *path, X509 **out);
/*
 * A whole key or certificate file (regular, at most 64 KiB) in memory
 * that kk_pem_free clears: for handing TLS material to the network child.
 */
int kk_pem_read(const char *path, char **out, size_t *len);
void kk_pem_free(char *buf);

/* dsse.c */
struct kk_dsse_sig {
	char keyid[KK_KEYID_MAX];	/* a hint, never a decision */
	uint8_t sig[64];
	size_t siglen;
};

/* a payload type, its NUL included */
#define KK_DSSE_TYPE_MAX	128

struct kk_envelope {
	char type[KK_DSSE_TYPE_MAX];
	uint8_t *payload;
	size_t payload_len;
	struct kk_dsse_sig sigs[KK_DSSE_MAX_SIGS];
	size_t nsigs;
};

/* PAE(T, P) = "DSSEv1" SP len(T) SP T SP len(P) SP P; caller frees *out */
int kk_dsse_pae(const char *type, const uint8_t *payload, size_t len,
    uint8_t **out, size_t *outlen);
/*
 * Strict parse of an envelope (*env is treated as uninitialised and is
 * zeroed on failure): a JSON object with exactly payloadType,
 * payload (standard base64) and signatures (1..KK_DSSE_MAX_SIGS objects of
 * keyid and sig), no duplicate keys, no trailing data, len <= cap.
 * -E2BIG for too large, -EBADMSG for malformed.
 */
int kk_envelope_parse(const uint8_t *buf, size_t len, struct kk_envelope *env);
/*
 * What of an envelope jansson is given, at most: a longer one parses
 * only with its payload (one run of base64, no escapes) taken out first
 * and at most this left; -EBADMSG otherwise, before any JSON is read.
 */
#define KK_DSSE_DOC_MAX		(16 * 1024)
/*
 * The same parse without lifting a long payload out of the text before
 * jansson reads it (dsse.c): the tests and the fuzzer hold the two to the
 * same results.
 */
int kk_envelope_parse_as_is(const uint8_t *buf, size_t len,
    struct kk_envelope *env);
void kk_envelope_free(struct kk_envelope *env);
int kk_envelope_init(struct kk_envelope *env, const char *type,
    const uint8_t *payload, size_t len);
/* appends a signature by key, with keyid as the hint */
int kk_envelope_sign(struct kk_envelope *env, const char *keyid, EVP_PKEY *key);
/* JSON text (caller frees) */
char *kk_envelope_encode(const struct kk_envelope *env);
/*
 * init, sign by key (keyid its hint) and encode in one: *text is the
 * envelope's JSON text (caller frees), NULL on error; 0 or -errno.
 */
int kk_envelope_seal(const char *type, const uint8_t *payload, size_t len,
    const char *keyid, EVP_PKEY *key, char **text);
/* 0 if signature i verifies with pub, -EBADMSG if not; -EINVAL/-ENOMEM on misuse */
int kk_dsse_verify_one(const struct kk_envelope *env, size_t i, EVP_PKEY *pub);
/* Why an envelope was not opened, in the order the checks run. */
enum kk_open_fail {
	KK_OPEN_NOT_DSSE,
	KK_OPEN_OTHER_TYPE,
	KK_OPEN_UNSIGNED,		/* no signature verifies with the key */
	KK_OPEN_TOO_MANY_VALUES,	/* over KK_PAYLOAD_VALUES_MAX */
	KK_OPEN_MALFORMED,		/* the payload is not a JSON object */
	KK_OPEN_NFAILS
};
/*
 * The payload object of an envelope of type that a signature by key
 * verifies (verified before the payload is parsed, and its values
 * counted, KK_PAYLOAD_VALUES_MAX); NULL and *fail if not.  With another
 * payload type, that type is copied to got_type (when not NULL) so the
 * caller can name it; each reader says a failure in its own words.
 */
struct json_t *kk_envelope_open_code(const uint8_t *buf, size_t len,
    const char *type, EVP_PKEY *key, enum kk_open_fail *fail,
    char got_type[KK_DSSE_TYPE_MAX]);
/* The same, with *why in general words. */
struct json_t *kk_envelope_open(const uint8_t *buf, size_t len,
    const char *type, EVP_PKEY *key, const char **why);

/*
 * receipt.c: a receipt's payload object if a signature by the agent's
 * identity key verifies and the payload names agent_id; else NULL and
 * *why says what is wrong.  Caller decrefs.
 */
struct json_t *kk_receipt_open(const uint8_t *buf, size_t len,
    EVP_PKEY *identity, const char *agent_id, const char **why);

/* Actions: a role is an action name (DESIGN 4). */
#define KK_ACTIONS(X)						\
	X(KK_ACT_ISOLATE, "isolate")				\
	X(KK_ACT_RELEASE, "release")				\
	X(KK_ACT_STATUS, "status")				\
	X(KK_ACT_FREEZE, "freeze")				\
	X(KK_ACT_THAW, "thaw")					\
	X(KK_ACT_SNAPSHOT, "snapshot")				\
	X(KK_ACT_COLLECT, "collect")				\
	X(KK_ACT_FETCH, "fetch")				\
	X(KK_ACT_DRILL, "drill")				\
	X(KK_ACT_UNBLOCK, "unblock")				\
	X(KK_ACT_BLOCK, "block")	/* IOC block lists (issue 12) */

enum kk_action {
	KK_ACTIONS(KK_ENUM_VALUE)
	KK_ACT__MAX,
};
int kk_action_parse(const char *name, enum kk_action *out);
const char *kk_action_name(enum kk_action a);

/* trust.c: trust.conf (libconfig), same file rules as the policy */
struct kk_trust_key {
	char id[KK_NAME_MAX];
	EVP_PKEY *pub;
	uint32_t roles;			/* bit (1 << enum kk_action) */
};

struct kk_trust {
	struct kk_trust_key keys[KK_TRUST_MAX_KEYS];
	size_t nkeys;
	unsigned threshold[KK_ACT__MAX];	/* default 1 */
};

int kk_trust_load(const char *path, unsigned flags, struct kk_trust *t,
    char *err, size_t errlen);
void kk_trust_free(struct kk_trust *t);
/*
 * Failed verifications kk_trust_signers spends on one envelope at most.
 * An honest signature costs one verification when its keyid is the
 * signer's id in trust.conf, and up to one for every other key when it is
 * not (kakurictl's keyid is the key file's name unless --keyid is given,
 * and other signers may give none), plus one when it names another
 * trusted key.  Twice the most keys: a two-person release whose signers
 * both name themselves wrongly still verifies with the largest trust.conf
 * (at most 2 x 63 failures), and with up to 15 keys no envelope of honest
 * signatures can reach it, whatever their keyids.  Sixteen garbage
 * signatures then cost at most 128 verifications, not 16 x 64 = 1,024.
 */
#define KK_TRUST_FAIL_BUDGET	(2 * KK_TRUST_MAX_KEYS)
/*
 * Failed verifications for an envelope whose payload is over
 * KK_COMMAND_MAX (a block list, up to 16 MiB, each verification hashing
 * all of it): its signatures are tried only with the key each names, and
 * two that fail end it.  Sixteen garbage signatures naming sixteen
 * trusted keys then cost two hashes of 16 MiB, not sixteen (half a
 * second of the root parent's time, per envelope a compromised network
 * child could send).
 */
#define KK_TRUST_BIG_FAILS	2
/*
 * Which trusted keys signed env: *signers gets bit i set for every trust
 * key i whose signature verifies (each key counts once, however many
 * signatures it made; keyid only decides which key is tried first).  0,
 * or -EDQUOT when KK_TRUST_FAIL_BUDGET ran out before every signature was
 * tried with every key: *signers holds the keys that did verify, and a
 * signature not tried might have added one (or, for a payload over
 * KK_COMMAND_MAX, when KK_TRUST_BIG_FAILS failed).  -EINVAL on misuse.
 * named_only: every signature is tried with the key its keyid names only,
 * and KK_TRUST_BIG_FAILS failures end it, as for a payload over
 * KK_COMMAND_MAX; -EDQUOT if a signature was not tried with every key.
 * *failures (unless NULL): the failed verifications spent.
 */
int kk_trust_signers(const struct kk_trust *t, const struct kk_envelope *env,
    bool named_only, uint64_t *signers, unsigned *failures);
/* how many of signers hold the role for action a */
unsigned kk_trust_count_role(const struct kk_trust *t, uint64_t signers,
    enum kk_action a);

/* replay.c: ids of executed commands, one file each, kept until expiry */
/*
 * 0 and recorded (fsync'd) if new; -EALREADY if seen before; -EKEYEXPIRED
 * if exp is not above the store's cutoff (the highest exp of the ids it
 * pruned: this one may be among them, whatever the clock says now);
 * -EBADMSG if the cutoff cannot be read
 */
int kk_replay_record(const char *dir, const char *id, time_t exp);
bool kk_replay_seen(const char *dir, const char *id);
/* 1 if recorded, 0 if not, a negative errno if the store cannot be read */
int kk_replay_lookup(const char *dir, const char *id);
/*
 * removes entries whose exp is before now - skew, first raising the
 * store's cutoff to the highest of their exps (durably; never lowered);
 * returns how many.  -EBADMSG: the cutoff file was unreadable and has
 * been written again from now - skew, nothing pruned (the caller logs it)
 */
int kk_replay_prune(const char *dir, time_t now, int skew);

/* command.c: the strict command payload (DESIGN 4) */
struct kk_command {
	char id[KK_ID_HEX + 1];
	/* exactly one of the two is set, the other is "" */
	char agent[KK_AGENT_ID_HEX + 1];
	char group[KK_GROUP_NAME_MAX + 1];	/* a fleet group (DESIGN 9) */
	int64_t iat;
	int64_t exp;
	enum kk_action action;
	char incident[KK_TEXT_MAX];
	char reason[KK_TEXT_MAX];
	char episode[KK_EPISODE_HEX + 1];	/* "" unless given */
	struct json_t *args;		/* an object (owned; kk_command_free) */
};

/*
 * Strict: top-level keys exactly v, id, agent or group (one of the two),
 * iat, exp, action, args, incident, reason and optionally episode; a
 * group named as kk_group_name_problem says; v == 1; ids lowercase hex of
 * the right length; iat/exp integers; args an object; strings without
 * control characters; no duplicate keys, no trailing data.  Release-type
 * actions (release, thaw) need episode; unblock does not (a block list
 * outlives episodes: it names its set, and optionally its version).
 * *why gets a short explanation.  Returns 0, -EBADMSG (malformed) or -ENOENT
 * (unknown-action).
 */
int kk_command_parse(const uint8_t *payload, size_t len, struct kk_command *c,
    char *why, size_t whylen);
/*
 * The same for a payload whose signatures nobody checked (a file handed
 * to an operator): one of more values than a command has (KK_PAYLOAD_
 * VALUES_MAX; a block list's, over KK_COMMAND_MAX, one per 8 bytes) is
 * refused unparsed, -E2BIG: jansson spends 80 times a hostile text's
 * size on [{},{},...].
 */
int kk_command_parse_untrusted(const uint8_t *payload, size_t len,
    struct kk_command *c, char *why, size_t whylen);
void kk_command_free(struct kk_command *c);
/*
 * Time window: iat - skew <= now <= exp + skew and exp - iat <= max_life.
 * Returns 0 or the rejection word ("expired", "not-yet-valid",
 * "lifetime") through *reason with -EKEYEXPIRED / -EKEYREJECTED.
 */
int kk_command_check_time(const struct kk_command *c, time_t now, int skew,
    int max_life, const char **reason);

#endif
