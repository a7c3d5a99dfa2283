/*
 * IOC block lists on disk (see blocklist.h): dir/NAME.list holds a list's
 * normalised ranges as raw keys, not its text, with digests over every
 * byte; dir/NAME.gone when its unblock was signed.  A restore at boot
 * checks that the keys are as seal left them (one pass, no sort, no
 * merge) and that they make the elements digest the file's hashed text
 * names, and never normalises them again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "blocklist.h"
#include "sha256.h"
#include "wire.h"

#define FILE_MAGIC	"kakuri-blocklist 3\n"
#define FILE_MAGIC_V2	"kakuri-blocklist 2\n"	/* still read: no "signed" */
#define FILE_MAGIC_V1	"kakuri-blocklist 1\n"	/* still read */
#define FILE_SUFFIX	".list"
/* the largest file: a list's ranges of both families, with its header */
#define FILE_MAX	((size_t)KK_NFT_RANGES_MAX * 2 * (4 + 16) + 4096)

/* dir/name + suffix (FILE_SUFFIX, GONE_SUFFIX) */
static int
named_path(const char *dir, const char *name, const char *suffix, char *buf,
    size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
file_path(const char *dir, const char *name, char *buf, size_t len)
{
	return named_path(dir, name, FILE_SUFFIX, buf, len);
}

/* dir/name + suffix gone, and dir synced; 0 when it was not there */
static int
unlink_named(const char *dir, const char *name, const char *suffix)
{
	char path[PATH_MAX];
	int err;

	if ((err = named_path(dir, name, suffix, path, sizeof(path))) < 0)
		return err;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return kk_fsync_dir_of(path);
}

static void
hex_of(const unsigned char d[32], char out[65])
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/*
 * The file: text lines, the last the SHA-256 of all before it, then the
 * keys of both families as seal left them, unhashed: the elements
 * lines hold the digest of the elements they make (intervals.c), which a
 * load computes anyway, so the keys are hashed once, not twice.
 *
 *	kakuri-blocklist 3
 *	set NAME / version N / direction D / ports P|- / entries N
 *	signed IAT (the block command's; version 2 has no such line)
 *	ranges4 N / ranges6 N / elements4 HEX / elements6 HEX
 *	sha256 HEX
 *	KEYS4 KEYS6
 */
int
kd_blocklist_save(const char *dir, const struct kd_blocklist *b)
{
	char path[PATH_MAX], head[640], hex[2][65], sum[65],
	    ports[KK_NFT_MAX_BLOCK_PORTS * 6 + 2] = "-";
	unsigned char digest[32];
	size_t i, off = 0, size, maplen;
	uint8_t *buf;
	int k, n, err;

	if ((err = file_path(dir, b->name, path, sizeof(path))) < 0)
		return err;
	for (i = 0; i < b->nports; i++)
		off += (size_t)snprintf(ports + off, sizeof(ports) - off,
		    "%s%u", i ? "," : "", b->ports[i]);
	hex_of(b->r[0].digest, hex[0]);
	hex_of(b->r[1].digest, hex[1]);
	n = snprintf(head, sizeof(head), FILE_MAGIC "set %s\nversion %u\n"
	    "direction %s\nports %s\nentries %zu\nsigned %lld\n"
	    "ranges4 %zu\nranges6 %zu\nelements4 %s\nelements6 %s\n", b->name,
	    b->version, kd_blocklist_dir_name(b->dir), ports, b->entries,
	    (long long)(b->signed_at > 0 ? b->signed_at : 0), b->r[0].n,
	    b->r[1].n, hex[0], hex[1]);
	if (n < 0 || (size_t)n + 72 >= sizeof(head))
		return -ENOBUFS;
	kk_sha256(head, (size_t)n, digest);
	hex_of(digest, sum);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "sha256 %s\n", sum);
	size = (size_t)n + b->r[0].n * 8 + b->r[1].n * 32;
	if ((buf = kk_nft_bigbuf_alloc(size, &maplen)) == NULL)
		return -ENOMEM;
	memcpy(buf, head, (size_t)n);
	off = (size_t)n;
	for (k = 0; k < 2; k++) {
		/* a family without ranges has no keys (NULL) */
		if (b->r[k].n > 0)
			memcpy(buf + off, b->r[k].keys, b->r[k].n * 2 *
			    b->r[k].keylen);
		off += b->r[k].n * 2 * b->r[k].keylen;
	}
	err = kk_write_file_atomic(path, buf, off, 0600);
	kk_nft_bigbuf_free(buf, maplen);
	return err;
}

int
kd_blocklist_unlink(const char *dir, const char *name)
{
	return unlink_named(dir, name, FILE_SUFFIX);
}

#define GONE_SUFFIX	".gone"
#define GONE_MAGIC	"kakuri-unblocked 1\nsigned "

static int
gone_path(const char *dir, const char *name, char *buf, size_t len)
{
	return named_path(dir, name, GONE_SUFFIX, buf, len);
}

int
kd_blocklist_gone_load(const char *dir, const char *name, int64_t *iat)
{
	char path[PATH_MAX], *text = NULL, *end;
	size_t len, m = strlen(GONE_MAGIC);
	long long v;
	int err;

	*iat = 0;
	if ((err = gone_path(dir, name, path, sizeof(path))) < 0 ||
	    (err = kk_read_file(path, 128, &text, &len)) < 0)
		return err;
	err = -EBADMSG;
	if (len > m && memcmp(text, GONE_MAGIC, m) == 0 && text[len - 1] ==
	    '\n' && text[m] >= '0' && text[m] <= '9') {
		text[len - 1] = '\0';
		errno = 0;
		v = strtoll(text + m, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0) {
			*iat = v;
			err = 0;
		}
	}
	free(text);
	return err;
}

int
kd_blocklist_gone_save(const char *dir, const char *name, int64_t iat)
{
	char path[PATH_MAX], text[64];
	int64_t was;
	int err, n;

	if ((err = gone_path(dir, name, path, sizeof(path))) < 0)
		return err;
	if (kd_blocklist_gone_load(dir, name, &was) == 0 && was > iat)
		iat = was;
	n = snprintf(text, sizeof(text), GONE_MAGIC "%lld\n", (long long)iat);
	return kk_write_file_atomic(path, text, (size_t)n, 0600);
}

int
kd_blocklist_gone_drop(const char *dir, const char *name)
{
	return unlink_named(dir, name, GONE_SUFFIX);
}

/* One "KEY VALUE\n" line at *pos; value in val (NUL-terminated). */
static int
line(const char *buf, size_t len, size_t *pos, const char *key, char *val,
    size_t vlen)
{
	size_t klen = strlen(key), i;

	if (len - *pos < klen + 2 || memcmp(buf + *pos, key, klen) != 0 ||
	    buf[*pos + klen] != ' ')
		return -EBADMSG;
	*pos += klen + 1;
	for (i = 0; *pos < len && buf[*pos] != '\n'; (*pos)++, i++) {
		if (i + 1 >= vlen)
			return -EBADMSG;
		val[i] = buf[*pos];
	}
	if (*pos >= len)
		return -EBADMSG;
	val[i] = '\0';
	(*pos)++;
	return 0;
}

static int
number(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EBADMSG;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' || *out > max ? -EBADMSG : 0;
}

static int
ports_load(struct kd_blocklist *b, char *s)
{
	unsigned long long p;
	char *tok, *save = NULL;

	if (strcmp(s, "-") == 0)
		return 0;
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (b->nports >= KK_NFT_MAX_BLOCK_PORTS ||
		    number(tok, 65535, &p) < 0 || p == 0)
			return -EBADMSG;
		b->ports[b->nports++] = (uint16_t)p;
	}
	return 0;
}

/* n ranges of r's family at *pos, as seal left them when it was saved. */
static int
ranges_load(struct kk_nft_ranges *r, const char *buf, size_t len, size_t *pos,
    unsigned long long n)
{
	int err;

	if (n > KK_NFT_RANGES_MAX || (len - *pos) / (2 * r->keylen) < n)
		return -EBADMSG;
	if ((err = kk_nft_ranges_load(r, (const uint8_t *)buf + *pos,
	    (size_t)n)) < 0)
		return err == -ENOMEM ? err : -EBADMSG;
	*pos += (size_t)n * 2 * r->keylen;
	return 0;
}

/*
 * The lines every version of the file begins with, after the magic, and
 * version 3's signed line (signed).
 */
static int
head_load(const char *buf, size_t end, size_t *pos, const char *name,
    bool with_signed, struct kd_blocklist *b)
{
	unsigned long long v;
	char val[128];

	if (line(buf, end, pos, "set", val, sizeof(val)) < 0 ||
	    !kd_blocklist_name_ok(val, strlen(val)) || strcmp(val, name) != 0)
		return -EBADMSG;
	memcpy(b->name, val, strlen(val) + 1);	/* checked: short enough */
	if (line(buf, end, pos, "version", val, sizeof(val)) < 0 ||
	    number(val, UINT32_MAX, &v) < 0 || v == 0)
		return -EBADMSG;
	b->version = (uint32_t)v;
	if (line(buf, end, pos, "direction", val, sizeof(val)) < 0 ||
	    kd_blocklist_dir_parse(val, &b->dir) < 0 ||
	    line(buf, end, pos, "ports", val, sizeof(val)) < 0 ||
	    ports_load(b, val) < 0 ||
	    line(buf, end, pos, "entries", val, sizeof(val)) < 0 ||
	    number(val, KD_BLOCK_ENTRIES_MAX, &v) < 0)
		return -EBADMSG;
	b->entries = (size_t)v;
	if (with_signed && (line(buf, end, pos, "signed", val,
	    sizeof(val)) < 0 || number(val, INT64_MAX, &v) < 0))
		return -EBADMSG;
	b->signed_at = with_signed ? (int64_t)v : 0;
	return 0;
}

/* Does buf[pos..) begin with the line "sha256 " + hex of buf[0..pos)? */
static bool
sum_ok(const char *buf, size_t len, size_t pos)
{
	unsigned char digest[32];
	char hex[65];

	if (len - pos < 72 || memcmp(buf + pos, "sha256 ", 7) != 0 ||
	    buf[pos + 71] != '\n')
		return false;
	kk_sha256(buf, pos, digest);
	hex_of(digest, hex);
	return memcmp(buf + pos + 7, hex, 64) == 0;
}

/* Version 1: the keys inside the hashed text, after their count. */
static int
decode_v1(const char *buf, size_t len, struct kd_blocklist *b, size_t pos)
{
	unsigned long long v;
	char val[128];
	size_t end = len - 72;
	int k, err;

	if (len < pos + 72 || !sum_ok(buf, len, end))
		return -EBADMSG;
	for (k = 0; k < 2; k++)
		if (line(buf, end, &pos, k == 0 ? "ranges4" : "ranges6", val,
		    sizeof(val)) < 0 || number(val, KK_NFT_RANGES_MAX, &v) < 0 ||
		    (err = ranges_load(&b->r[k], buf, end, &pos, v)) < 0)
			return err == -ENOMEM ? err : -EBADMSG;
	return pos == end ? 0 : -EBADMSG;
}

/* Version 2 (see kd_blocklist_save). */
static int
decode_v2(const char *buf, size_t len, struct kd_blocklist *b, size_t pos)
{
	static const char *const counts[2] = { "ranges4", "ranges6" };
	static const char *const sums[2] = { "elements4", "elements6" };
	unsigned long long n[2];
	char val[128], want[2][65], hex[65];
	int k, err;

	for (k = 0; k < 2; k++)
		if (line(buf, len, &pos, counts[k], val, sizeof(val)) < 0 ||
		    number(val, KK_NFT_RANGES_MAX, &n[k]) < 0)
			return -EBADMSG;
	for (k = 0; k < 2; k++)
		if (line(buf, len, &pos, sums[k], want[k],
		    sizeof(want[k])) < 0 || strlen(want[k]) != 64)
			return -EBADMSG;
	/* the counts are bounded: the keys' size cannot wrap */
	if (!sum_ok(buf, len, pos) || len - pos - 72 != n[0] * 8 + n[1] * 32)
		return -EBADMSG;
	pos += 72;
	for (k = 0; k < 2; k++) {
		if ((err = ranges_load(&b->r[k], buf, len, &pos, n[k])) < 0)
			return err;
		/* the keys make the elements the hashed text names */
		hex_of(b->r[k].digest, hex);
		if (memcmp(hex, want[k], 64) != 0)
			return -EBADMSG;
	}
	return pos == len ? 0 : -EBADMSG;
}

/* A list's file, whole and as it was written. */
static int
blocklist_decode(const char *buf, size_t len, const char *name,
    struct kd_blocklist **out)
{
	struct kd_blocklist *b;
	size_t pos = sizeof(FILE_MAGIC) - 1;
	bool v1, v2;
	int err;

	*out = NULL;
	if (len < pos)
		return -EBADMSG;
	v1 = memcmp(buf, FILE_MAGIC_V1, pos) == 0;
	v2 = memcmp(buf, FILE_MAGIC_V2, pos) == 0;
	if (!v1 && !v2 && memcmp(buf, FILE_MAGIC, pos) != 0)
		return -EBADMSG;
	if ((b = kd_blocklist_new()) == NULL)
		return -ENOMEM;
	if ((err = head_load(buf, len, &pos, name, !v1 && !v2, b)) == 0)
		err = v1 ? decode_v1(buf, len, b, pos) :
		    decode_v2(buf, len, b, pos);
	if (err < 0) {
		kd_blocklist_free(b);
		return err == -ENOMEM ? err : -EBADMSG;
	}
	*out = b;
	return 0;
}

static void
note_bad(char *bad, size_t len, const char *name)
{
	size_t n = strlen(bad);

	if (len > n)
		snprintf(bad + n, len - n, "%s%s", n ? "," : "", name);
}

/*
 * A list's file, whole, in a buffer of its own (kk_nft_bigbuf_alloc): a
 * 100k list's megabytes land in huge pages, not in page faults.
 */
static int
read_list(const char *path, char **out, size_t *len, size_t *maplen)
{
	size_t size = 0;
	ssize_t got;
	int fd, err;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO in place of the file must not hang a restore */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -errno;
	if ((err = kk_fd_regular(fd, FILE_MAX, &size)) == 0 &&
	    (*out = kk_nft_bigbuf_alloc(size > 0 ? size : 1, maplen)) == NULL)
		err = -ENOMEM;
	if (err == 0 && (got = kk_read_upto(fd, *out, size)) != (ssize_t)size)
		err = got < 0 ? (int)got : -EIO;
	close(fd);
	if (err < 0 && *out != NULL) {
		kk_nft_bigbuf_free(*out, *maplen);
		*out = NULL;
	}
	*len = size;
	return err;
}

/* The file of one list, into ls; a file that does not load is set aside. */
static int
load_one(const char *dir, const char *name, struct kd_blocklists *ls,
    char *bad, size_t badlen)
{
	char path[PATH_MAX], aside[PATH_MAX + 8];
	struct kd_blocklist *b, *old;
	size_t len, maplen;
	char *buf;
	int err;

	if ((err = file_path(dir, name, path, sizeof(path))) < 0)
		return err;
	if ((err = read_list(path, &buf, &len, &maplen)) == 0) {
		err = blocklist_decode(buf, len, name, &b);
		kk_nft_bigbuf_free(buf, maplen);
	}
	if (err == 0 && (err = kd_blocklists_put(ls, b, &old)) < 0)
		kd_blocklist_free(b);
	if (err == 0) {
		kd_blocklist_free(old);
		return 0;
	}
	if (err == -ENOMEM)
		return err;
	note_bad(bad, badlen, name);
	snprintf(aside, sizeof(aside), "%s.bad", path);
	if (rename(path, aside) == 0)
		kk_fsync_dir_of(path);
	return 0;
}

int
kd_blocklists_load(const char *dir, struct kd_blocklists *ls, char *bad,
    size_t badlen)
{
	char name[KD_BLOCK_NAME_MAX + 1];
	struct dirent *de;
	size_t n;
	DIR *dp;
	int err = 0;

	if (badlen > 0)
		bad[0] = '\0';
	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (err == 0 && (de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n <= strlen(FILE_SUFFIX) || strcmp(de->d_name + n -
		    strlen(FILE_SUFFIX), FILE_SUFFIX) != 0)
			continue;
		n -= strlen(FILE_SUFFIX);
		if (n >= sizeof(name)) {
			note_bad(bad, badlen, de->d_name);
			continue;
		}
		memcpy(name, de->d_name, n);
		name[n] = '\0';
		err = load_one(dir, name, ls, bad, badlen);
	}
	closedir(dp);
	return err;
}
