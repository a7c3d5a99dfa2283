/*
 * fetch (DESIGN 4): the evidence directory's listing, and a grant of
 * chunked reads of that directory for the TLS connection that carried
 * the command (and only that one), for a while.  The network child sees
 * those bytes anyway: the grant gives it nothing it could not read off
 * the wire, and it cannot make one without a signed fetch command.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "act.h"
#include "log.h"
#include "preserve.h"
#include "wire.h"

int
kd_act_fetch(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;
	const char *id;
	char dir[PATH_MAX];
	json_t *files;
	struct grant *g;
	time_t now = time(NULL);
	int dfd, e;

	id = json_string_value(json_object_get(r->cmd.args, KW_ID));
	if (id == NULL || json_object_size(r->cmd.args) != 1 ||
	    !kk_evidence_id_ok(id)) {
		kd_run_reject(r, KE_MALFORMED, "fetch takes args.id, an evidence id");
		return -EINVAL;
	}
	/* the table says so too; never the actor's text, which children write */
	if (r->origin != KD_ORIGIN_REMOTE) {
		kd_run_reject(r, KE_UNAVAILABLE, "fetch works over the CSIRT channel only");
		return -EINVAL;
	}
	pv_strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, id);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0) {
		kd_run_reject(r, KE_NO_EVIDENCE, "no evidence with that id");
		return -ENOENT;
	}
	files = json_array();
	e = kk_evidence_list(dfd, "", KD_FETCH_MAX_FILES, files);
	close(dfd);
	if (e < 0) {
		json_decref(files);
		kd_run_fail(r, KE_IO, "listing evidence/%s: %s", id, strerror(-e));
		return e;
	}
	/* the listing travels in the receipt: base64 in a 1 MiB frame */
	{
		char *t = json_dumps(files, JSON_COMPACT);
		size_t n = t ? strlen(t) : SIZE_MAX;

		free(t);
		if (n > 640U * 1024) {
			json_decref(files);
			kd_run_fail(r, KE_TOO_LARGE, "evidence/%s lists too many "
			    "files for one receipt", id);
			return -E2BIG;
		}
	}
	/* the connection that carried the command may read this directory */
	g = kd_grant_slot(pv, r->token, now);
	g->token = r->token;
	snprintf(g->evid, sizeof(g->evid), "%s", id);
	g->until = now + KD_GRANT_SECONDS;
	if ((time_t)r->cmd.exp + r->d->policy->clock_skew < g->until)
		g->until = (time_t)r->cmd.exp + r->d->policy->clock_skew;
	r->output = json_pack("{s:s, s:o}", KW_EVIDENCE, id, KW_FILES, files);
	kd_run_applied(r);
	return 0;
}

struct grant *
kd_grant_slot(struct kd_preserve *pv, uint64_t token, time_t now)
{
	struct grant *g = NULL;
	size_t i;

	for (i = 0; i < KD_MAX_GRANTS; i++)
		if (pv->grants[i].token == token)
			return &pv->grants[i];
	for (i = 0; i < KD_MAX_GRANTS; i++) {
		if (pv->grants[i].until < now)
			return &pv->grants[i];
		if (g == NULL || pv->grants[i].until < g->until)
			g = &pv->grants[i];
	}
	return g;
}

void
kd_fetch_forget(struct kd *d)
{
	if (d->pv)
		memset(d->pv->grants, 0, sizeof(d->pv->grants));
}

const char kd_fetch_no_memory[] = "{\"" KW_OK "\":false,\"" KW_ERROR "\":\""
    KE_IO "\",\"" KW_MESSAGE "\":\"out of memory\"}\n";

static uint8_t *
chunk_error(const char *word, const char *msg, size_t *outlen)
{
	char *text;
	json_t *o;
	size_t n;

	o = kk_wire_error(word, msg);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	text[n] = '\n';		/* json_dumps leaves room for the NUL */
	*outlen = n + 1;
	return (uint8_t *)text;
}

/*
 * {"chunk":{"path":P,"offset":O,"length":L}} on a connection holding a
 * grant -> header line + raw bytes, or an error line.  NULL: not a chunk
 * request at all (the network child said it was one: it broke the IPC),
 * or no memory for either line.
 */
uint8_t *
kd_fetch_chunk(struct kd *d, uint64_t token, const uint8_t *body, size_t len,
    size_t *outlen)
{
	struct kd_preserve *pv = d->pv;
	json_error_t jerr;
	json_t *o = NULL, *c;
	const char *path;
	json_int_t off, want;
	struct grant *g = NULL;
	struct stat st;
	char dir[PATH_MAX], *hdr = NULL;
	uint8_t *out = NULL;
	time_t now = time(NULL);
	size_t i, hlen;
	ssize_t n = 0;
	int dfd = -1, fd = -1;

	if (!kk_frame_is_chunk(body, len))
		return NULL;
	/*
	 * A request is a path and two numbers: nothing larger is given to
	 * jansson, which spends 40 to 80 times a hostile text's size on it
	 * before the grant is looked at.
	 */
	if (len > KD_CHUNK_REQ_MAX) {
		out = chunk_error(KE_TOO_LARGE, "a chunk request is a path, "
		    "an offset and a length", outlen);
		goto out;
	}
	if (pv == NULL) {
		out = chunk_error(KE_UNAVAILABLE, "evidence is off", outlen);
		goto out;
	}
	o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	c = json_object_get(o, KW_CHUNK);
	if (json_object_size(o) != 1 || json_object_size(c) != 3 ||
	    !json_is_string(json_object_get(c, KW_PATH)) ||
	    !json_is_integer(json_object_get(c, KW_OFFSET)) ||
	    !json_is_integer(json_object_get(c, KW_LENGTH))) {
		out = chunk_error(KE_MALFORMED, "chunk: path, offset, length", outlen);
		goto out;
	}
	path = json_string_value(json_object_get(c, KW_PATH));
	off = json_integer_value(json_object_get(c, KW_OFFSET));
	want = json_integer_value(json_object_get(c, KW_LENGTH));
	if (off < 0 || want < 1 || want > KD_CHUNK_MAX || path[0] == '\0' ||
	    path[0] == '/') {
		out = chunk_error(KE_MALFORMED, "bad offset, length or path", outlen);
		goto out;
	}
	for (i = 0; i < KD_MAX_GRANTS; i++)
		if (pv->grants[i].token == token && pv->grants[i].until >= now)
			g = &pv->grants[i];
	if (g == NULL) {
		out = chunk_error(KE_NO_GRANT, "send a signed fetch command first",
		    outlen);
		goto out;
	}
	pv_strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, g->evid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	/* a FIFO there would hold the root parent in open(2): never waited on */
	fd = dfd < 0 ? -1 : kk_evidence_open(dfd, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		out = chunk_error(KE_NO_FILE, "no such file in this evidence", outlen);
		goto out;
	}
	if (off > st.st_size)
		off = st.st_size;
	if (want > st.st_size - off)
		want = st.st_size - off;
	{
		json_t *h = json_pack("{s:b, s:s, s:I, s:I, s:b}", KW_OK, 1,
		    KW_PATH, path, KW_OFFSET, off, KW_LENGTH, want,
		    KW_EOF, off + want >= st.st_size);

		hdr = h ? json_dumps(h, JSON_COMPACT) : NULL;
		json_decref(h);
	}
	if (hdr == NULL)
		goto out;
	hlen = strlen(hdr);
	out = malloc(hlen + 1 + (size_t)want);
	if (out == NULL)
		goto out;
	memcpy(out, hdr, hlen);
	out[hlen] = '\n';
	while (n < want) {
		ssize_t k = pread(fd, out + hlen + 1 + n, (size_t)(want - n),
		    off + n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += k;
	}
	if (n != want) {
		free(out);
		out = chunk_error(KE_IO,
		    "the file changed or could not be read", outlen);
		goto out;
	}
	*outlen = hlen + 1 + (size_t)want;
out:
	free(hdr);
	kk_close(fd);
	kk_close(dfd);
	json_decref(o);
	return out;
}
