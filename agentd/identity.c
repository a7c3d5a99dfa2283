/*
 * The agent's identity in the root parent (DESIGN 2 and 4): kakurid
 * --init creates the Ed25519 identity key and its certificate, then the
 * network child's own TLS key certified by it; the daemon loads the
 * identity key (it never leaves this process), trust.conf and the replay
 * store for signed commands.
 *
 * The private key is kept as its 32-byte seed in a page of memfd_secret(2)
 * memory: not in the kernel's direct map, so nothing reads it through
 * /proc/PID/mem or ptrace, not even root, and not inherited by fork
 * (MADV_DONTFORK).  An evidence worker is forked from this process and
 * keeps CAP_SYS_PTRACE: taken over, it finds the key neither in its own
 * copy of the heap nor in ours.  A signing key is made from the seed for
 * each signature and cleared right after (kd_agent_signer).  Where the
 * kernel has no memfd_secret the page is an ordinary one, locked, left
 * out of core dumps and still not inherited.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "identity.h"
#include "log.h"
#include "record.h"
#include "sign.h"
#include "wire.h"

/* --init: an Ed25519 key file, loaded if it exists, else created (0600). */
static int
init_key(const char *path, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;
	int err;

	*out = NULL;
	if (access(path, F_OK) == 0) {
		if ((err = kk_key_load_private(path, &k)) < 0) {
			fprintf(stderr, "kakurid: %s: %s\n", path, strerror(-err));
			return err;
		}
	} else {
		k = kk_key_generate();
		if (k == NULL || (err = kk_key_save_private(k, path)) < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", path,
			    k ? strerror(-err) : "key generation failed");
			EVP_PKEY_free(k);
			return -EIO;
		}
		fprintf(stderr, "kakurid: created %s\n", path);
	}
	*out = k;
	return 0;
}

/* --init: cert exists, loads, and carries key; says what is wrong if not. */
static int
init_check_cert(const char *path, EVP_PKEY *key, X509 **out)
{
	EVP_PKEY *pub;
	X509 *x = NULL;
	int err;

	if ((err = kk_cert_load(path, &x)) < 0) {
		fprintf(stderr, "kakurid: %s: %s\n", path, err == -EINVAL ?
		    "not a PEM certificate" : strerror(-err));
		return err;
	}
	pub = X509_get0_pubkey(x);
	if (pub == NULL || EVP_PKEY_eq(pub, key) != 1) {
		fprintf(stderr, "kakurid: %s does not carry the key of its key "
		    "file\n", path);
		X509_free(x);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/*
 * --init (DESIGN 2): the agent's Ed25519 identity key and a self-signed
 * certificate carrying it, then the network child's own TLS key and a
 * certificate for it that the identity key signs, each created only where
 * missing (an install from before the TLS key gets just that).  Prints
 * the agent id.
 */
int
kd_identity_init(const struct kk_policy *p)
{
	EVP_PKEY *k = NULL, *tk = NULL;
	X509 *idcert = NULL, *tlscert = NULL;
	char id[KK_AGENT_ID_HEX + 1], host[64] = "kakuri-agent";
	int err;

	gethostname(host, sizeof(host) - 1);
	if ((err = init_key(p->key, &k)) < 0)
		goto out;
	if (access(p->cert, F_OK) != 0) {
		err = kk_cert_selfsigned(k, host, 3650, p->cert);
		if (err < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", p->cert,
			    strerror(-err));
			goto out;
		}
		fprintf(stderr, "kakurid: created %s\n", p->cert);
	}
	if ((err = init_check_cert(p->cert, k, &idcert)) < 0 ||
	    (err = init_key(p->tls_key, &tk)) < 0)
		goto out;
	if (EVP_PKEY_eq(k, tk) == 1) {
		fprintf(stderr, "kakurid: %s holds the identity key; the network "
		    "child needs a key of its own\n", p->tls_key);
		err = -EINVAL;
		goto out;
	}
	if (access(p->tls_cert, F_OK) != 0) {
		/* a subject of its own: it is not the identity certificate */
		err = kk_cert_issue(tk, "kakurid network child", 3650, idcert,
		    k, p->tls_cert);
		if (err < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n",
			    p->tls_cert, strerror(-err));
			goto out;
		}
		fprintf(stderr, "kakurid: created %s (certified by %s)\n",
		    p->tls_cert, p->key);
	}
	if ((err = init_check_cert(p->tls_cert, tk, &tlscert)) < 0)
		goto out;
	if ((err = kk_cert_check_issued(tlscert, k)) < 0) {
		fprintf(stderr, "kakurid: %s is not certified by the identity key "
		    "%s; remove it and run kakurid --init again\n", p->tls_cert,
		    p->key);
		goto out;
	}
	err = kk_key_id(k, id);
	if (err == 0)
		printf("%s\n", id);
out:
	X509_free(idcert);
	X509_free(tlscert);
	EVP_PKEY_free(tk);
	EVP_PKEY_free(k);
	return err;
}

#define SEED_LEN	32	/* an Ed25519 private key */

/* One page for the seed: secret memory if the kernel has it. */
static unsigned char *
seed_page(size_t len, bool *secret)
{
	void *p = MAP_FAILED;
	int fd;

	*secret = false;
#ifdef SYS_memfd_secret
	fd = (int)syscall(SYS_memfd_secret, (unsigned)O_CLOEXEC);
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)len) == 0)
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			    fd, 0);
		close(fd);
		*secret = p != MAP_FAILED;
	}
#endif
	if (p == MAP_FAILED) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		(void)mlock(p, len);
		(void)madvise(p, len, MADV_DONTDUMP);
	}
	/* a forked evidence worker must not have it */
	if (madvise(p, len, MADV_DONTFORK) < 0) {
		munmap(p, len);
		return NULL;
	}
	return p;
}

/* The seed page of d cleared and gone. */
static void
seed_drop(struct kd *d)
{
	if (d->agent_seed == NULL)
		return;
	OPENSSL_cleanse(d->agent_seed, SEED_LEN);
	munmap(d->agent_seed, (size_t)sysconf(_SC_PAGESIZE));
	d->agent_seed = NULL;
}

/* The public half of the seed in d->agent_seed, as d->agent_key. */
static int
public_of_seed(struct kd *d)
{
	unsigned char pub[SEED_LEN];
	size_t plen = sizeof(pub);
	EVP_PKEY *sk;
	int r = -EINVAL;

	if ((sk = kd_agent_signer(d)) == NULL)
		return -ENOMEM;
	if (EVP_PKEY_get_raw_public_key(sk, pub, &plen) == 1 &&
	    plen == sizeof(pub) &&
	    (d->agent_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
	    NULL, pub, plen)) != NULL)
		r = 0;
	EVP_PKEY_free(sk);
	return r;
}

int
kd_identity_keep(struct kd *d, EVP_PKEY *k)
{
	size_t len = SEED_LEN;
	int r = -ENOMEM;

	if ((d->agent_seed = seed_page((size_t)sysconf(_SC_PAGESIZE),
	    &d->agent_seed_secret)) != NULL)
		r = EVP_PKEY_get_raw_private_key(k, d->agent_seed, &len) == 1 &&
		    len == SEED_LEN ? public_of_seed(d) : -EINVAL;
	EVP_PKEY_free(k);
	if (r < 0)
		seed_drop(d);
	return r;
}

/*
 * The identity key file straight into a seed page: the plain PKCS#8 form
 * decoded by kk_key_load_seed, which leaves no copy behind; any other
 * form through OpenSSL's decoder (kd_identity_keep).
 */
static int
load_key(struct kd *d, const char *path)
{
	EVP_PKEY *k = NULL;
	int r;

	if ((d->agent_seed = seed_page((size_t)sysconf(_SC_PAGESIZE),
	    &d->agent_seed_secret)) == NULL)
		return -ENOMEM;
	r = kk_key_load_seed(path, d->agent_seed);
	if (r == 0 && (r = public_of_seed(d)) == 0)
		goto out;
	seed_drop(d);
	if (r != -EINVAL)
		goto out;
	if ((r = kk_key_load_private(path, &k)) == 0)
		r = kd_identity_keep(d, k);
out:
	if (r == 0 && !d->agent_seed_secret)
		kk_log(LOG_WARNING, KK_MID_START, "identity key: this kernel has "
		    "no memfd_secret; the key is kept in locked memory that "
		    "root and ptrace-capable processes can read");
	return r;
}

EVP_PKEY *
kd_agent_signer(struct kd *d)
{
	if (d->agent_seed == NULL)
		return NULL;
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    d->agent_seed, SEED_LEN);
}

/*
 * The agent key (it signs receipts and certifies the network child's TLS
 * key), trust.conf and the replay store: what signed commands need.  On
 * SIGHUP again: a new trust.conf that does not load turns them off.
 */
int
kd_identity_load(struct kd *d)
{
	struct kk_trust *t = NULL;
	char err[512] = "";
	int r;

	if (snprintf(d->replay_dir, sizeof(d->replay_dir), "%s/replay",
	    d->policy->state_dir) >= (int)sizeof(d->replay_dir))
		return -ENAMETOOLONG;
	if (mkdir(d->replay_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(d->remote_err, sizeof(d->remote_err), "%.200s: %s",
		    d->replay_dir, strerror(errno));
		return -errno;
	}
	if (d->agent_key == NULL) {
		r = load_key(d, d->policy->key);
		if (r < 0) {
			snprintf(d->remote_err, sizeof(d->remote_err),
			    "agent key %.160s: %s (run kakurid --init)",
			    d->policy->key, strerror(-r));
			return r;
		}
		kk_key_id(d->agent_key, d->agent_id);
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	r = kk_trust_load(d->policy->trust, 0, t, err, sizeof(err));
	if (r < 0) {
		/*
		 * A trust.conf that does not load is no trust, at a reload as
		 * at the start.  Keeping the keys in force would keep a key
		 * being revoked (its line taken out, leaving a threshold no
		 * longer met, or its file deleted) counting towards release
		 * until the file is mended.
		 */
		if (d->remote_ready) {
			kk_log(LOG_CRIT, KK_MID_POLICY, "trust reload refused: "
			    "%s: signed commands are off until trust.conf "
			    "loads", err);
			kd_audit(d, "signal:SIGHUP", "trust-reload", "refused",
			    json_pack("{s:s}", KW_ERROR, err));
			kk_trust_free(d->trust);
			free(d->trust);
			d->trust = NULL;
			d->remote_ready = false;
		}
		snprintf(d->remote_err, sizeof(d->remote_err), "%s", err);
		free(t);
		return r;
	}
	if (d->trust) {
		kk_trust_free(d->trust);
		free(d->trust);
	}
	d->trust = t;
	d->remote_ready = true;
	d->remote_err[0] = '\0';
	return 0;
}

void
kd_identity_free(struct kd *d)
{
	if (d->trust) {
		kk_trust_free(d->trust);
		free(d->trust);
		d->trust = NULL;
	}
	EVP_PKEY_free(d->agent_key);
	d->agent_key = NULL;
	seed_drop(d);
}
