/*
 * An evidence directory and its signed manifest (verify.c): the files as
 * we have them, what checking them against the manifest came to, and the
 * rules for the paths an agent names.  Shared by fetch (after a transfer)
 * and fetch --verify (offline).
 */
#ifndef KAKURICTL_VERIFY_H
#define KAKURICTL_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ctl.h"

#define FETCH_MAX_FILES		65536		/* in a listing or a tree */
#define FETCH_MAX_TOTAL		(64ULL << 30)	/* one evidence directory */
#define FETCH_PATH_MAX		255		/* bytes of a relative path */
/*
 * Directories above a file, at most: fetch makes them before the file's
 * first chunk, and 127 a path (the most 255 bytes allow) times 65,536
 * listed files would be 8 million directories on the operator's disk.
 * kakurid writes 3; --verify's walk goes no deeper either.
 */
#define FETCH_PATH_DEPTH	16

/* One file of the evidence directory, as we have it. */
struct ffile {
	char *path;
	uint64_t listed;	/* size in the agent's listing */
	uint64_t size;		/* bytes we have */
	char sha256[65];	/* of those bytes */
	bool have;		/* complete: size and sha256 are valid */
	bool matched;		/* named by the manifest */
};

struct fset {
	struct ffile *v;
	size_t n;
};

struct outcome {
	json_t *problems;	/* one string each, also printed on stderr */
	json_t *notes;
	bool signature;		/* manifest.dsse verifies, names the agent */
	bool trusted;		/* ... and manifest.jsonl is what it signed */
	size_t matched;		/* files that match their manifest line */
	size_t verified;	/* matched, against a trusted manifest */
	size_t total;		/* distinct paths in the manifest */
	size_t files;
	uint64_t bytes;
};

/* One line on stderr ("kakurictl: fetch: ...") and in list, as ASCII. */
void outcome_add(json_t *list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Something did not match or could not be had: the run fails. */
#define problem(oc, ...)	outcome_add((oc)->problems, __VA_ARGS__)

/*
 * A path the agent names, before anything is written under it: relative,
 * printable ASCII, no empty, "." or ".." components, at most
 * FETCH_PATH_MAX bytes.
 */
bool path_ok(const char *p, size_t len);
/*
 * Opens rel (checked by path_ok) under dfd one component at a time, never
 * through a symlink.  With create, missing directories are made 0700 and
 * the file is created O_EXCL 0600; without, it is opened read-only.  An
 * fd, or a negative errno.
 */
int open_under(int dfd, const char *rel, bool create);

/* the file set, sorted by path (qsort with ffile_cmp) */
int ffile_cmp(const void *a, const void *b);
void fset_free(struct fset *fs);

/*
 * Checks the directory dfd holding fs against its manifest, signed by
 * agent_key for agent_id; everything found goes into oc.
 */
void verify_dir(int dfd, struct fset *fs, EVP_PKEY *agent_key,
    const char *agent_id, const char *evid, struct outcome *oc);
/* One line (or with --json one document) saying what oc came to. */
void print_outcome(struct ctl *c, const char *verb, const char *agent,
    const char *evid, const char *dir, const struct outcome *oc);
/* fetch --verify DIR --agent-key FILE: an exit status. */
int verify_offline(struct ctl *c, const char *dir, const char *keyfile,
    const char *evid, struct outcome *oc);

#endif
