/*
 * kakurictl fetch: pull an evidence directory from an agent over the
 * mutual-TLS channel and verify it against the agent's signed manifest
 * (DESIGN 7); the checking itself is verify.c's, which is also all that
 * kakurictl fetch --verify does, later and offline.  The connection is
 * agentconn.c's.
 *
 * On one TLS connection:
 *   -> a fetch command signed in-process, {"action":"fetch","args":{"id":EVID}}
 *   <- the receipt, signed by the agent key; output.files = [{path, size}]
 *   -> {"chunk":{"path":P,"offset":O,"length":L}}, 16 KiB <= L <= 512 KiB
 *   <- {"ok":true,"path":P,"offset":O,"length":n,"eof":b} "\n" n raw bytes,
 *      or {"ok":false,"error":WORD,"message":TEXT} "\n"
 * The agent lets only the connection that carried the command read the
 * directory, and only while the command is valid (30 minutes at most).
 * When it answers no-grant, a fresh fetch command on the same connection
 * renews the grant, so a large memory image does not need a long-lived
 * command.
 *
 * TLS says who sent the bytes; it does not make them evidence.  They are
 * trusted only after manifest.dsse verifies with the agent key and every
 * file matches manifest.jsonl.  Everything the agent sends is bounded:
 * the listing, each path, the requests per file and the total size.
 */
/* SHA256_* without EVP, like common/util.c: the same code, no provider */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "kakuri.h"
#include "agentconn.h"
#include "commands.h"
#include "options.h"
#include "output.h"
#include "receipts.h"
#include "sign.h"
#include "signing.h"
#include "tls.h"
#include "verify.h"
#include "wire.h"

#define CHUNK_LEN		(512U * 1024)	/* the agent's limit */
#define CHUNK_MIN		(16U * 1024)	/* asked for on a slow link */
#define HEADER_MAX		4096		/* a chunk reply's header */
#define MAX_RENEWALS		64		/* fetch commands per run */
#define BLOCK			4096		/* hole granularity */
#define DEFAULT_TTL		600
#define DEFAULT_TIMEOUT		30		/* seconds */
#define DEFAULT_MAX_TIME	86400		/* seconds: the whole fetch */

struct fetch {
	struct agentconn conn;	/* its identity: the agent we fetch from */
	EVP_PKEY *signkey;
	const char *keyid;
	const char *evid;
	long long ttl;
	long long max_time;	/* seconds: --max-time */
	unsigned renewals;
	bool fresh;		/* a grant and no chunk since */
	size_t want;		/* the next chunk's length (chunk_adapt) */
	uint64_t total;		/* bytes received */
	struct outcome *oc;
};

/* ---- writing: holes for zero blocks, SHA-256 on the way ---- */

struct sink {
	int fd;
	uint64_t off;
	SHA256_CTX sha;
};

static bool
all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*
 * Appends n bytes.  Aligned all-zero 4 KiB blocks are skipped, not
 * written: a sparse core or RAM image stays sparse here too (the size is
 * set at the end, which covers trailing holes).  Every iteration consumes
 * at least one byte.
 */
static int
sink_write(struct sink *s, const uint8_t *p, size_t n)
{
	size_t run, b, head;
	int r;

	SHA256_Update(&s->sha, p, n);
	while (n > 0) {
		head = BLOCK - (size_t)(s->off % BLOCK);
		if (head == BLOCK && n >= BLOCK && all_zero(p, BLOCK)) {
			s->off += BLOCK;
			p += BLOCK;
			n -= BLOCK;
			continue;
		}
		/* data up to the next aligned all-zero block */
		run = head < n ? head : n;
		while (run < n) {
			b = n - run < BLOCK ? n - run : BLOCK;
			if (b == BLOCK && all_zero(p + run, BLOCK))
				break;
			run += b;
		}
		if ((r = kk_pwrite_all(s->fd, p, run, (off_t)s->off)) < 0)
			return r;
		s->off += run;
		p += run;
		n -= run;
	}
	return 0;
}

static int
sink_finish(struct sink *s, struct ffile *ff)
{
	unsigned char md[32];

	SHA256_Final(md, &s->sha);
	if (ftruncate(s->fd, (off_t)s->off) < 0 || fsync(s->fd) < 0)
		return -errno;
	kk_hex(md, sizeof(md), ff->sha256);
	ff->size = s->off;
	return 0;
}

/* ---- the transfer ---- */

/*
 * Has --max-time run out?  Then a step that failed failed for that: the
 * agent answered each one in time, too slowly to be done in all.
 */
static bool
out_of_time(const struct fetch *f)
{
	return f->conn.end != 0 && kk_mono_ms() >= f->conn.end;
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/*
 * Signs a fetch command, sends it, checks the receipt.  EX_DONE with the
 * listing in *files (if files is not NULL; caller decrefs).
 */
static int
grant(struct fetch *f, json_t **files)
{
	char id[KK_ID_HEX + 1], why[160], reason[KK_TEXT_MAX], *text = NULL;
	struct cmd_spec s = { .agent = f->conn.id, .action = "fetch",
		.incident = "", .reason = reason, .iat = time(NULL),
		.ttl = f->ttl };
	const char *rwhy = NULL, *res, *cmd;
	json_t *rec = NULL, *out, *list;
	int ret = EX_FAILED;

	snprintf(reason, sizeof(reason), "fetch evidence %s", f->evid);
	s.args = json_pack("{s:s}", KW_ID, f->evid);
	if (s.args == NULL)
		goto out;
	if ((ret = sign_command(&s, f->signkey, f->keyid, id, &text, why,
	    sizeof(why))) != EX_DONE) {
		problem(f->oc, "cannot sign the fetch command: %s", why);
		ret = EX_FAILED;
		goto out;
	}
	ret = agentconn_command(&f->conn, text, strlen(text), id, &rec, &rwhy);
	if (ret == EX_UNREACHABLE && out_of_time(f)) {
		problem(f->oc, "--max-time (%lld s) ran out waiting for the "
		    "receipt", f->max_time);
		goto out;
	}
	if (ret == EX_UNREACHABLE) {
		problem(f->oc, "no receipt from the agent (connection lost)");
		goto out;
	}
	if (ret != EX_DONE) {
		problem(f->oc, "%s", rwhy);
		goto out;
	}
	ret = EX_FAILED;
	cmd = jstr(rec, KW_COMMAND);
	res = jstr(rec, KW_RESULT);
	if (res == NULL || strcmp(res, KR_DONE) != 0) {
		problem(f->oc, "refused: %s%s%s%s", jstr(rec, KW_REASON) ?
		    jstr(rec, KW_REASON) : res ? res : "no result",
		    jstr(rec, KW_DETAIL) ? " (" : "",
		    jstr(rec, KW_DETAIL) ? jstr(rec, KW_DETAIL) : "",
		    jstr(rec, KW_DETAIL) ? ")" : "");
		goto out;
	}
	if (cmd == NULL) {
		problem(f->oc, "receipt names no command");
		goto out;
	}
	out = json_object_get(rec, KW_OUTPUT);
	list = json_object_get(out, KW_FILES);
	if (jstr(out, KW_EVIDENCE) == NULL ||
	    strcmp(jstr(out, KW_EVIDENCE), f->evid) != 0 ||
	    !json_is_array(list)) {
		problem(f->oc, "receipt carries no listing of evidence %s",
		    f->evid);
		goto out;
	}
	if (files != NULL)
		*files = json_incref(list);
	ret = EX_DONE;
out:
	json_decref(rec);
	json_decref(s.args);
	free(text);
	return ret;
}

/* The agent's listing, checked and sorted. */
static int
parse_listing(json_t *files, struct fset *fs, struct outcome *oc)
{
	json_t *e, *p, *sz;
	uint64_t total = 0;
	size_t i, n;

	n = json_array_size(files);
	if (n > FETCH_MAX_FILES) {
		problem(oc, "the listing has %zu files (at most %d)", n,
		    FETCH_MAX_FILES);
		return -E2BIG;
	}
	fs->v = calloc(n ? n : 1, sizeof(*fs->v));
	if (fs->v == NULL)
		return -ENOMEM;
	json_array_foreach(files, i, e) {
		p = json_object_get(e, KW_PATH);
		sz = json_object_get(e, KW_SIZE);
		if (!json_is_string(p) || !path_ok(json_string_value(p),
		    json_string_length(p)) || !json_is_integer(sz) ||
		    json_integer_value(sz) < 0) {
			problem(oc, "the listing has an invalid entry (#%zu)",
			    i + 1);
			return -EBADMSG;
		}
		fs->v[fs->n].listed = (uint64_t)json_integer_value(sz);
		fs->v[fs->n].path = strdup(json_string_value(p));
		if (fs->v[fs->n].path == NULL)
			return -ENOMEM;
		fs->n++;
		total += (uint64_t)json_integer_value(sz);
		if (total > FETCH_MAX_TOTAL) {
			problem(oc, "the evidence is larger than %llu GiB; not fetched",
			    FETCH_MAX_TOTAL >> 30);
			return -EFBIG;
		}
	}
	qsort(fs->v, fs->n, sizeof(*fs->v), ffile_cmp);
	for (i = 1; i < fs->n; i++)
		if (strcmp(fs->v[i - 1].path, fs->v[i].path) == 0) {
			problem(oc, "the listing names %s twice",
			    fs->v[i].path);
			return -EBADMSG;
		}
	return 0;
}

/*
 * The next chunk's length, from how long this one took.  Every exchange
 * must end within --timeout, and a fixed 512 KiB chunk needed 140 kbit/s
 * to do so at the default 30 s: an isolated PC's management link, a VPN
 * or a site link under an incident's load is often slower.  So the first
 * chunk is small and the length follows the link: doubled after a whole
 * chunk that took under a quarter of the timeout, halved after one that
 * took over half (a link whose rate wavers does not flap), between 16 KiB
 * (about 4.4 kbit/s at 30 s) and the agent's 512 KiB.  A fast link is at
 * 512 KiB after five exchanges.
 */
static void
chunk_adapt(struct fetch *f, size_t got, long long took_ms)
{
	long long limit = f->conn.timeout_ms;

	if (took_ms * 2 > limit && f->want > CHUNK_MIN)
		f->want /= 2;
	else if (got == f->want && took_ms * 4 < limit && f->want < CHUNK_LEN)
		f->want *= 2;
}

/* chunk(): besides an EX_* status after a reported problem */
#define CHUNK_OK	0
#define CHUNK_REFUSED	(-1)

/*
 * One chunk request and its reply.  CHUNK_OK with *body (caller frees)
 * and the data at *data, n bytes; CHUNK_REFUSED with word and msg if the
 * agent said no; EX_FAILED or EX_UNREACHABLE after a problem was reported
 * (the connection is no longer usable).
 */
static int
chunk(struct fetch *f, const char *path, uint64_t off, uint8_t **body,
    const uint8_t **data, size_t *n, bool *eof, char *word, size_t wlen,
    char *msg, size_t mlen)
{
	json_t *req, *h = NULL, *v;
	const uint8_t *nl;
	const char *w, *m;
	char *text = NULL;
	size_t len, hlen;
	long long t0;
	int ok, ret = EX_FAILED;

	*body = NULL;
	req = json_pack("{s:{s:s, s:I, s:I}}", KW_CHUNK, KW_PATH, path,
	    KW_OFFSET, (json_int_t)off, KW_LENGTH, (json_int_t)f->want);
	text = req ? json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(req);
	if (text == NULL)
		goto out;
	t0 = kk_mono_ms();
	if (agentconn_send(&f->conn, text, strlen(text)) < 0 ||
	    agentconn_recv(&f->conn, body, &len) < 0) {
		if (out_of_time(f))
			problem(f->oc, "%s: --max-time (%lld s) ran out at "
			    "offset %llu", path, f->max_time,
			    (unsigned long long)off);
		else
			problem(f->oc, "%s: connection to the agent lost at "
			    "offset %llu", path, (unsigned long long)off);
		ret = EX_UNREACHABLE;
		goto out;
	}
	nl = memchr(*body, '\n', len < HEADER_MAX ? len : HEADER_MAX);
	h = nl ? json_loadb((const char *)*body, (size_t)(nl - *body),
	    JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_object(h) || (ok = kk_wire_answer(h, &w, &m)) < 0) {
		problem(f->oc, "%s: the agent's answer is not a chunk", path);
		goto out;
	}
	if (ok == 0) {
		snprintf(word, wlen, "%s", w);
		snprintf(msg, mlen, "%s", m);
		ret = CHUNK_REFUSED;
		goto out;
	}
	hlen = (size_t)(nl - *body) + 1;
	v = json_object_get(h, KW_LENGTH);
	if (jstr(h, KW_PATH) == NULL || strcmp(jstr(h, KW_PATH), path) != 0 ||
	    !json_is_integer(json_object_get(h, KW_OFFSET)) ||
	    (uint64_t)json_integer_value(json_object_get(h, KW_OFFSET)) !=
	    off ||
	    !json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > f->want ||
	    (size_t)json_integer_value(v) != len - hlen ||
	    !json_is_boolean(json_object_get(h, KW_EOF))) {
		problem(f->oc, "%s: the agent's chunk header at offset %llu does not match the request",
		    path, (unsigned long long)off);
		goto out;
	}
	*data = *body + hlen;
	*n = len - hlen;
	*eof = json_is_true(json_object_get(h, KW_EOF));
	chunk_adapt(f, *n, kk_mono_ms() - t0);
	ret = CHUNK_OK;
out:
	if (ret != CHUNK_OK) {
		free(*body);
		*body = NULL;
	}
	json_decref(h);
	free(text);
	return ret;
}

/*
 * A file that did not come whole is not left under its name, where an
 * analyst would take a cut core for the process's memory: what came is
 * kept as NAME.partial, an empty one goes.
 */
static void
not_whole(int dfd, int fd, const char *path, uint64_t got)
{
	char partial[PATH_MAX];
	struct stat st;

	/*
	 * Bytes a failed write left count too; blocks of zeros that came
	 * after the last one written are holes to the length that came.
	 */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > got)
		got = (uint64_t)st.st_size;
	else if (got > 0 && ftruncate(fd, (off_t)got) < 0)
		got = 0;	/* a partial file must not look shorter */
	if (got == 0 || snprintf(partial, sizeof(partial), "%s.partial",
	    path) >= (int)sizeof(partial) ||
	    renameat(dfd, path, dfd, partial) < 0)
		unlinkat(dfd, path, 0);
}

/*
 * One file: chunks in order until eof.  EX_DONE also when the agent
 * refused this file (a problem is recorded and the others are fetched);
 * EX_FAILED / EX_UNREACHABLE end the whole transfer.
 */
static int
fetch_file(struct fetch *f, int dfd, struct ffile *ff)
{
	char word[64], msg[200];
	struct sink s = { .fd = -1 };
	const uint8_t *data = NULL;
	uint8_t *body;
	uint64_t req, maxreq;
	size_t n = 0;
	bool eof = false;
	int r, ret = EX_FAILED;

	s.fd = open_under(dfd, ff->path, true);
	if (s.fd < 0) {
		problem(f->oc, "%s: cannot create: %s", ff->path,
		    strerror(-s.fd));
		goto out;
	}
	SHA256_Init(&s.sha);
	/*
	 * The file may grow by a chunk while we read; not by more.  Counted
	 * in the smallest chunks: whole larger ones only take fewer.
	 */
	maxreq = ff->listed / CHUNK_MIN + 2;
	for (req = 0; req < maxreq && !eof; ) {
		r = chunk(f, ff->path, s.off, &body, &data, &n, &eof, word,
		    sizeof(word), msg, sizeof(msg));
		if (r == CHUNK_REFUSED && strcmp(word, KE_NO_GRANT) == 0 &&
		    !f->fresh && f->renewals < MAX_RENEWALS) {
			/*
			 * The grant ended with the command: ask again.  Not
			 * twice in a row, though: a grant that is refused at
			 * once will be refused again.
			 */
			f->renewals++;
			if ((ret = grant(f, NULL)) != EX_DONE)
				goto out;
			f->fresh = true;
			continue;
		}
		if (r == CHUNK_REFUSED) {
			problem(f->oc, "%s: the agent did not send it: %s (%s)",
			    ff->path, word, msg);
			/* without a grant no other file can come either */
			ret = strcmp(word, KE_NO_GRANT) == 0 ? EX_FAILED :
			    EX_DONE;
			goto out;
		}
		if (r != CHUNK_OK) {
			ret = r;
			goto out;
		}
		f->fresh = false;
		req++;
		if (n == 0 && !eof) {
			free(body);
			problem(f->oc, "%s: empty chunk before the end",
			    ff->path);
			goto out;
		}
		f->total += n;
		if (f->total > FETCH_MAX_TOTAL) {
			free(body);
			problem(f->oc, "more than %llu GiB; stopped",
			    FETCH_MAX_TOTAL >> 30);
			goto out;
		}
		r = sink_write(&s, data, n);
		free(body);
		if (r < 0) {
			problem(f->oc, "%s: writing: %s", ff->path,
			    strerror(-r));
			goto out;
		}
	}
	if (!eof) {
		problem(f->oc, "%s: %s (listed %llu bytes, stopped after %llu requests at %llu)",
		    ff->path, s.off > ff->listed ? "still growing" :
		    "the agent sent short chunks",
		    (unsigned long long)ff->listed, (unsigned long long)req,
		    (unsigned long long)s.off);
		ret = EX_DONE;
		goto out;
	}
	if ((r = sink_finish(&s, ff)) < 0) {
		problem(f->oc, "%s: writing: %s", ff->path, strerror(-r));
		goto out;
	}
	ff->have = true;
	f->oc->files++;
	f->oc->bytes += ff->size;
	ret = EX_DONE;
out:
	if (s.fd >= 0) {
		if (!ff->have)
			not_whole(dfd, s.fd, ff->path, s.off);
		close(s.fd);
	}
	return ret;
}

/* DIR must be new or empty: the fetched directory is exactly the evidence. */
static int
open_outdir(const char *dir, bool *created)
{
	struct dirent *de;
	DIR *d;
	int fd, fd2, n = 0;

	*created = false;
	if (mkdir(dir, 0700) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (*created)
		return fd;
	/*
	 * One that was there: only if it is ours alone.  Whoever else may
	 * write in it could swap a verified artifact after the check (the
	 * hashes are of what came over the wire, not of what is on disk).
	 */
	if (!dir_is_ours(fd)) {
		close(fd);
		return -EPERM;
	}
	fd2 = dup(fd);
	d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	if (d == NULL) {
		kk_close(fd2);
		close(fd);
		return -EIO;
	}
	/* three entries are enough to know: ".", ".." and one more */
	while (n < 3 && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n = 3;
	closedir(d);
	if (n == 3) {
		close(fd);
		return -ENOTEMPTY;
	}
	return fd;
}

int
cmd_fetch(struct ctl *c, int argc, char **argv)
{
	const char *to = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	const char *pin = NULL, *signfile = NULL, *keyid = NULL, *outdir = NULL;
	const char *vdir = NULL, *agentkey = NULL;
	char err[300], hint[KK_KEYID_MAX];
	struct outcome oc = { 0 };
	struct fetch f = { .conn.fd = -1, .ttl = DEFAULT_TTL,
		.max_time = DEFAULT_MAX_TIME, .want = CHUNK_MIN };
	struct agentconn_cfg cfg = { 0 };
	struct fset fs = { 0 };
	EVP_PKEY *agent_key = NULL;
	json_t *files = NULL;
	long long timeout = DEFAULT_TIMEOUT;
	const struct ctl_option opts[] = {
		CTL_TEXT("to", &to),
		CTL_TLS_FILES(&ca, &cert, &key),
		CTL_TEXT("agent-id", &pin),
		CTL_TEXT("k", &signfile),
		CTL_TEXT("keyid", &keyid),
		CTL_TEXT("id", &f.evid),
		CTL_TEXT("o", &outdir),
		CTL_NUMBER("ttl", &f.ttl, 1, 7 * 86400, NULL),
		CTL_NUMBER("timeout", &timeout, 1, 3600, NULL),
		CTL_NUMBER("max-time", &f.max_time, 1, 7 * 86400, NULL),
		CTL_FLAG("json", &c->json),
		CTL_TEXT("verify", &vdir),
		CTL_TEXT("agent-key", &agentkey),
		CTL_OPTIONS_END,
	};
	long long t0 = kk_mono_ms();
	size_t i;
	bool created = false, report = false;
	int dfd = -1, r, ret = EX_USAGE;

	oc.problems = json_array();
	oc.notes = json_array();
	f.oc = &oc;
	if (oc.problems == NULL || oc.notes == NULL) {
		ret = EX_FAILED;
		goto out;
	}
	if ((ret = ctl_options(argc, argv, opts, 0, 0, NULL)) != EX_DONE)
		goto out;
	ret = EX_USAGE;
	if (vdir != NULL) {
		/* offline: nothing of the network side applies */
		/* --id: the evidence id the signed manifest must name */
		if (agentkey == NULL || to || ca || cert || key || pin ||
		    signfile || keyid || outdir)
			goto out;
		if (f.evid != NULL && !kk_evidence_id_ok(f.evid)) {
			fail_line("--id: an evidence id is 1..%d of "
			    "[A-Za-z0-9._-]", KK_EVIDENCE_ID_MAX);
			goto out;
		}
		ret = verify_offline(c, vdir, agentkey, f.evid, &oc);
		goto out;
	}
	if (to == NULL || cert == NULL || key == NULL || signfile == NULL ||
	    f.evid == NULL || outdir == NULL || agentkey != NULL)
		goto out;
	if (pin && !kk_is_hex(pin, strlen(pin), KK_AGENT_ID_HEX)) {
		fail_line("--agent-id must be %d lowercase hex digits",
		    KK_AGENT_ID_HEX);
		goto out;
	}
	if (pin == NULL) {
		fail_line("give --agent-id: the fetch command is signed for that agent, and only that agent may answer");
		goto out;
	}
	if (!kk_evidence_id_ok(f.evid)) {
		fail_line("--id: an evidence id is 1..%d of [A-Za-z0-9._-]",
		    KK_EVIDENCE_ID_MAX);
		goto out;
	}
	ret = EX_FAILED;
	/* the key, for hours: no core, no /proc/PID/mem */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((r = kk_key_load_private(signfile, &f.signkey)) < 0) {
		fail_line("%s: %s", signfile, strerror(-r));
		goto out;
	}
	f.keyid = keyid ? keyid : key_hint(signfile, hint, sizeof(hint));
	/* before connecting: a full DIR should not cost the agent anything */
	if ((dfd = open_outdir(outdir, &created)) < 0) {
		fail_line("%s: %s", outdir, dfd == -ENOTEMPTY ?
		    "exists and is not empty" : dfd == -EPERM ? "exists and is "
		    "not yours alone (another owner, or group or world "
		    "writable): the evidence could be changed there" :
		    strerror(-dfd));
		goto out;
	}
	cfg.tls = kk_tls_client_ctx(cert, key, ca, err, sizeof(err));
	if (cfg.tls == NULL) {
		fail_line("%s", err);
		goto out;
	}
	cfg.have_ca = ca != NULL;
	cfg.timeout_ms = (int)timeout * 1000;
	/* from the start: the connection counts too */
	cfg.end = t0 + f.max_time * 1000;
	report = true;
	/*
	 * The fetch command is signed for the agent named by --agent-id;
	 * whoever answers must be that identity, in CA mode too.
	 */
	ret = agentconn_open(&f.conn, &cfg, to, pin, err, sizeof(err));
	if (ret != EX_DONE) {
		/* a TCP error names the address itself */
		if (out_of_time(&f))
			problem(&oc, "%s: --max-time (%lld s) ran out while "
			    "connecting", to, f.max_time);
		else if (f.conn.ssl == NULL)
			problem(&oc, "%s", err);
		else
			problem(&oc, "%s: %s", to, err);
		goto out;
	}
	if ((ret = grant(&f, &files)) != EX_DONE)
		goto out;
	f.fresh = true;
	ret = EX_FAILED;
	if (parse_listing(files, &fs, &oc) < 0)
		goto out;
	for (i = 0; i < fs.n; i++)
		if ((ret = fetch_file(&f, dfd, &fs.v[i])) != EX_DONE)
			goto out;
	/* names of new files reach the disk with the files */
	fsync(dfd);
	/* hang up before the checking: the agent need not wait for it */
	agent_key = f.conn.identity;
	EVP_PKEY_up_ref(agent_key);
	agentconn_close(&f.conn);
	verify_dir(dfd, &fs, agent_key, f.conn.id, f.evid, &oc);
	ret = json_array_size(oc.problems) ? EX_FAILED : EX_DONE;
	print_outcome(c, "fetched", f.conn.id, f.evid, outdir, &oc);
	report = false;
out:
	/* a transfer that ended early is not verified; JSON still answers */
	if (report && c->json)
		print_outcome(c, "fetched", f.conn.id[0] ? f.conn.id :
		    pin ? pin : "", f.evid, outdir, &oc);
	agentconn_close(&f.conn);
	/* nothing fetched into a directory we made: leave no trace */
	if (dfd >= 0) {
		close(dfd);
		if (created && oc.files == 0)
			rmdir(outdir);	/* fails, as it should, unless empty */
	}
	EVP_PKEY_free(agent_key);
	SSL_CTX_free(cfg.tls);
	EVP_PKEY_free(f.signkey);
	json_decref(files);
	fset_free(&fs);
	json_decref(oc.problems);
	json_decref(oc.notes);
	return ret;
}
