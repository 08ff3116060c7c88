/*
 * The archive file: gzip-compressed JSON lines. Its first line is the header
 * TIA__AR_HEADER; every other line is one workflow's document. Each batch is
 * one gzip member (gzip files may be concatenated: gunzip and zcat read them as
 * one stream), written with zlib's deflate and fsync'd before the batch's rows
 * are deleted, so that the file is always a sequence of whole members followed,
 * after a crash, by at most one unfinished member whose rows are still in the
 * database. Appending first reads the file through, member by member, keeping
 * the workflow ids of whole members only (a re-run skips writing those) and
 * cutting off an unfinished last member. Damage anywhere else is refused,
 * never repaired: it would lose rows that exist nowhere else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "core/validate.h"
#include "ops/archive_int.h"

#define PATH_LEN_MAX 4000
#define CHUNK (64 * 1024)

struct tia__ar_file {
    int fd;
    char path[PATH_LEN_MAX + 1];
    char (*known)[TIA_UUID_BUF]; /* ids of whole members, sorted */
    size_t n_known, cap_known;
    char (*pending)[TIA_UUID_BUF]; /* ids of the batch being written or not yet committed */
    size_t n_pending, cap_pending;
    z_stream z;
    int z_open;
    off_t member_start;
    size_t pending_mark; /* n_pending when the member began */
    unsigned char out[CHUNK];
};

static int push_id(char (**v)[TIA_UUID_BUF], size_t *n, size_t *cap, const char *id)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        char(*p)[TIA_UUID_BUF] = realloc(*v, c * sizeof *p);
        if (p == NULL)
            return -1;
        *v = p;
        *cap = c;
    }
    snprintf((*v)[*n], TIA_UUID_BUF, "%s", id);
    (*n)++;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

int tia__ar_file_has(const tia__ar_file *f, const char *id)
{
    if (f->n_known > 0 && bsearch(id, f->known, f->n_known, TIA_UUID_BUF, cmp_id) != NULL)
        return 1;
    for (size_t i = 0; i < f->n_pending; i++)
        if (strcmp(f->pending[i], id) == 0)
            return 1;
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int io_fail(tia__ar_file *f, const char *what, tia_error *err)
{
    int code = errno == ENOSPC || errno == EDQUOT ? TIA_EFULL : TIA_EIO;
    return tia_error_set(err, code, "cannot %s '%s': %s", what, f->path, strerror(errno));
}

/* Runs deflate with flush until it has nothing more to give, writing its output. */
static int pump(tia__ar_file *f, int flush, tia_error *err)
{
    for (;;) {
        f->z.next_out = f->out;
        f->z.avail_out = CHUNK;
        int zr = deflate(&f->z, flush);
        if (zr == Z_STREAM_ERROR)
            return tia_error_set(err, TIA_EIO, "compressing '%s' failed", f->path);
        size_t have = CHUNK - f->z.avail_out;
        if (have > 0 && write_all(f->fd, f->out, have) != 0)
            return io_fail(f, "write", err);
        if (flush == Z_FINISH ? zr == Z_STREAM_END : f->z.avail_out != 0)
            return 0;
    }
}

int tia__ar_file_begin(tia__ar_file *f, tia_error *err)
{
    f->pending_mark = f->n_pending;
    f->member_start = lseek(f->fd, 0, SEEK_END);
    if (f->member_start < 0)
        return io_fail(f, "seek in", err);
    memset(&f->z, 0, sizeof f->z);
    /* 15 + 16: a gzip header and trailer around the deflate stream. */
    if (deflateInit2(&f->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return tia_error_set(err, TIA_ENOMEM, "out of memory starting compression");
    f->z_open = 1;
    return 0;
}

int tia__ar_file_line(tia__ar_file *f, const char *id, const char *text, size_t len, tia_error *err)
{
    if (len >= TIA_ARCHIVE_LINE_MAX)
        return tia_error_set(err, TIA_EINVAL,
                             "workflow %s is %zu bytes of JSON, more than an archive line may "
                             "hold (%u)",
                             id != NULL ? id : "", len, TIA_ARCHIVE_LINE_MAX);
    if (id != NULL && push_id(&f->pending, &f->n_pending, &f->cap_pending, id) != 0)
        return tia_error_set(err, TIA_ENOMEM, "out of memory writing '%s'", f->path);
    f->z.next_in = (unsigned char *)text;
    f->z.avail_in = (uInt)len;
    int rc = pump(f, Z_NO_FLUSH, err);
    if (rc == 0) {
        f->z.next_in = (unsigned char *)"\n";
        f->z.avail_in = 1;
        rc = pump(f, Z_NO_FLUSH, err);
    }
    return rc;
}

int tia__ar_file_end(tia__ar_file *f, tia_error *err)
{
    int rc = pump(f, Z_FINISH, err);
    deflateEnd(&f->z);
    f->z_open = 0;
    if (rc == 0 && fsync(f->fd) != 0)
        rc = io_fail(f, "sync", err);
    if (rc != 0) /* not all on disk: its rows stay in the database, so the member goes */
        tia__ar_file_abort(f);
    return rc;
}

void tia__ar_file_abort(tia__ar_file *f)
{
    if (f->z_open)
        deflateEnd(&f->z);
    f->z_open = 0;
    f->n_pending = f->pending_mark;
    if (f->member_start >= 0 && ftruncate(f->fd, f->member_start) == 0)
        (void)fsync(f->fd);
}

void tia__ar_file_committed(tia__ar_file *f, char (*ids)[TIA_UUID_BUF], size_t n)
{
    size_t keep = 0;
    for (size_t i = 0; i < f->n_pending; i++) {
        int gone = 0;
        for (size_t j = 0; j < n && !gone; j++)
            gone = strcmp(f->pending[i], ids[j]) == 0;
        if (!gone && keep != i)
            memcpy(f->pending[keep], f->pending[i], TIA_UUID_BUF);
        keep += !gone;
    }
    f->n_pending = keep;
}

void tia__ar_file_close(tia__ar_file *f)
{
    if (f == NULL)
        return;
    if (f->z_open)
        deflateEnd(&f->z);
    if (f->fd >= 0)
        close(f->fd); /* releases the flock */
    free(f->known);
    free(f->pending);
    free(f);
}

/* ---- reading ---- */

/* Called for every line; returns 1 to stop the scan, < 0 on error. */
typedef int (*line_fn)(void *ctx, char *line, size_t len, int first, tia_error *err);
/* Called at the end of every whole member. */
typedef int (*member_fn)(void *ctx, tia_error *err);

typedef struct scan_result {
    off_t good_end; /* end of the last whole member */
    off_t size;
    int unfinished; /* the bytes after good_end are an unfinished member (or zeros) */
    int damaged;    /* the bytes after good_end are not an unfinished last member */
    int stopped;    /* line_fn asked to stop */
} scan_result;

/*
 * Whether [from, size) is what a crash while writing the last batch leaves: all
 * zero bytes (a file system that extended the file but not its data), or the
 * start of one gzip member and no other member header after it.
 */
static int tail_only(int fd, off_t from, off_t size)
{
    unsigned char buf[CHUNK];
    int zeros = 1, member = 0;
    unsigned char prev2 = 0, prev1 = 0;
    for (off_t off = from; off < size;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n <= 0)
            return 0;
        for (ssize_t i = 0; i < n; i++) {
            off_t at = off + i;
            if (buf[i] != 0)
                zeros = 0;
            if (prev2 == 0x1f && prev1 == 0x8b && buf[i] == 0x08) {
                if (at != from + 2)
                    return 0; /* a second member: the damage is not at the end */
                member = 1;
            }
            prev2 = prev1;
            prev1 = buf[i];
        }
        off += n;
    }
    return zeros || member;
}

static int scan(int fd, const char *path, line_fn on_line, member_fn on_member, void *ctx,
                scan_result *res, tia_error *err)
{
    unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
    char *line = NULL;
    size_t line_len = 0, line_cap = 0;
    off_t in_off = 0; /* file offset of in[0] */
    z_stream z;
    int z_open = 0, in_member = 0, first = 1, rc = 0;
    struct stat st;
    memset(res, 0, sizeof *res);
    memset(&z, 0, sizeof z);
    if (in == NULL || out == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading '%s'", path);
        goto done;
    }
    if (fstat(fd, &st) != 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    res->size = st.st_size;
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory starting decompression");
        goto done;
    }
    z_open = 1;
    for (;;) {
        if (z.avail_in == 0) {
            in_off += z.next_in != NULL ? (off_t)(z.next_in - in) : 0;
            ssize_t n = pread(fd, in, CHUNK, in_off);
            if (n < 0) {
                rc = tia_error_set(err, TIA_EIO, "cannot read '%s': %s", path, strerror(errno));
                goto done;
            }
            if (n == 0)
                break;
            z.next_in = in;
            z.avail_in = (uInt)n;
        }
        z.next_out = out;
        z.avail_out = CHUNK;
        int zr = inflate(&z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            res->damaged = 1;
            break;
        }
        in_member = 1;
        size_t have = CHUNK - z.avail_out;
        for (size_t i = 0; i < have; i++) {
            if (out[i] != '\n') {
                if (line_len + 1 >= line_cap) {
                    if (line_cap >= TIA_ARCHIVE_LINE_MAX) {
                        rc = tia_error_set(err, TIA_EINVAL, "'%s' has a line longer than %u bytes",
                                           path, TIA_ARCHIVE_LINE_MAX);
                        goto done;
                    }
                    size_t c = line_cap ? line_cap * 2 : 4096;
                    char *p = realloc(line, c);
                    if (p == NULL) {
                        rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading '%s'", path);
                        goto done;
                    }
                    line = p;
                    line_cap = c;
                }
                line[line_len++] = (char)out[i];
                continue;
            }
            if (line == NULL) { /* an empty line */
                line_len = 0;
                continue;
            }
            line[line_len] = '\0';
            int lr = on_line(ctx, line, line_len, first, err);
            first = 0;
            line_len = 0;
            if (lr < 0) {
                rc = lr;
                goto done;
            }
            if (lr > 0) {
                res->stopped = 1;
                goto done;
            }
        }
        if (zr == Z_STREAM_END) {
            if (line_len > 0) { /* a member must end with a whole line */
                res->damaged = 1;
                break;
            }
            res->good_end = in_off + (off_t)(z.next_in - in);
            in_member = 0;
            if (on_member != NULL && (rc = on_member(ctx, err)) != 0)
                goto done;
            if (inflateReset(&z) != Z_OK) {
                res->damaged = 1;
                break;
            }
        } else if (zr == Z_BUF_ERROR && z.avail_in != 0) {
            res->damaged = 1;
            break;
        }
    }
    if (res->damaged || in_member || res->good_end < res->size) {
        res->damaged = 0;
        if (tail_only(fd, res->good_end, res->size))
            res->unfinished = 1;
        else
            res->damaged = 1;
    }
done:
    if (z_open)
        inflateEnd(&z);
    free(in);
    free(out);
    free(line);
    return rc;
}

/* Checks the first line; the workflow id of any other. */
static int check_header(const char *path, const char *line, tia_error *err)
{
    if (strcmp(line, TIA__AR_HEADER) != 0)
        return tia_error_set(err, TIA_EINVAL,
                             "'%s' is not a tokyoia archive file (its first line is not %s)", path,
                             TIA__AR_HEADER);
    return 0;
}

/* The "id" of a workflow line, into id. */
static int line_id(const char *path, const char *line, size_t len, char id[TIA_UUID_BUF],
                   tia_error *err)
{
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    const char *v = json_is_object(o) ? json_string_value(json_object_get(o, "id")) : NULL;
    int rc = 0;
    if (v == NULL || strlen(v) >= TIA_UUID_BUF)
        rc = tia_error_set(err, TIA_EINVAL, "'%s' holds a line that is not a workflow", path);
    else
        snprintf(id, TIA_UUID_BUF, "%s", v);
    json_decref(o);
    return rc;
}

typedef struct load_ctx {
    tia__ar_file *f;
    const char *path;
} load_ctx;

static int load_line(void *ctx, char *line, size_t len, int first, tia_error *err)
{
    load_ctx *c = ctx;
    if (first)
        return check_header(c->path, line, err);
    char id[TIA_UUID_BUF];
    int rc = line_id(c->path, line, len, id, err);
    if (rc == 0 && push_id(&c->f->pending, &c->f->n_pending, &c->f->cap_pending, id) != 0)
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading '%s'", c->path);
    return rc;
}

/* A whole member: its ids count as in the file. */
static int load_member(void *ctx, tia_error *err)
{
    tia__ar_file *f = ((load_ctx *)ctx)->f;
    for (size_t i = 0; i < f->n_pending; i++)
        if (push_id(&f->known, &f->n_known, &f->cap_known, f->pending[i]) != 0)
            return tia_error_set(err, TIA_ENOMEM, "out of memory reading '%s'", f->path);
    f->n_pending = 0;
    return 0;
}

static void sync_dir_of(const char *path)
{
    char dir[PATH_LEN_MAX + 2];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static int write_header(tia__ar_file *f, tia_error *err)
{
    int rc = tia__ar_file_begin(f, err);
    if (rc == 0)
        rc = tia__ar_file_line(f, NULL, TIA__AR_HEADER, strlen(TIA__AR_HEADER), err);
    if (rc == 0)
        rc = tia__ar_file_end(f, err);
    else if (f->z_open) {
        deflateEnd(&f->z);
        f->z_open = 0;
    }
    return rc;
}

int tia__ar_file_open(const char *path, int append, tia__ar_file **out, int64_t *repaired,
                      tia_error *err)
{
    *out = NULL;
    *repaired = 0;
    if (path == NULL || *path == '\0')
        return tia_error_set(err, TIA_EINVAL, "no archive file named");
    if (strlen(path) > PATH_LEN_MAX)
        return tia_error_set(err, TIA_EINVAL, "archive file name longer than %d bytes",
                             PATH_LEN_MAX);
    tia__ar_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory opening '%s'", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    int rc = 0, created = 0;
    struct stat st;
    f->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (f->fd >= 0) {
        created = 1;
    } else if (errno == EEXIST) {
        if (!append) {
            rc = tia_error_set(err, TIA_ECONFLICT,
                               "'%s' already exists (use --append to add to it)", path);
            goto done;
        }
        f->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (f->fd < 0) {
        rc = tia_error_set(err, errno == EISDIR ? TIA_EINVAL : TIA_EIO, "cannot open '%s': %s",
                           path, strerror(errno));
        goto done;
    }
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = tia_error_set(err, TIA_EINVAL, "'%s' is not a regular file", path);
        goto done;
    }
    if (flock(f->fd, LOCK_EX | LOCK_NB) != 0) {
        rc = tia_error_set(err, TIA_ECONFLICT,
                           errno == EWOULDBLOCK ? "another archive run is writing '%s'"
                                                : "cannot lock '%s'",
                           path);
        goto done;
    }
    if (created || st.st_size == 0) {
        rc = write_header(f, err);
        if (rc == 0 && created)
            sync_dir_of(path);
        goto done;
    }
    load_ctx lc = {f, path};
    scan_result sr;
    if ((rc = scan(f->fd, path, load_line, load_member, &lc, &sr, err)) != 0)
        goto done;
    f->n_pending = 0; /* ids of an unfinished member are not in the file */
    if (sr.damaged || sr.good_end == 0) {
        rc = tia_error_set(err, TIA_EINVAL,
                           sr.good_end == 0
                               ? "'%s' is not a tokyoia archive file (no whole gzip member)"
                               : "'%s' is damaged after byte %lld (not an unfinished last "
                                 "batch): refusing to append",
                           path, (long long)sr.good_end);
        goto done;
    }
    if (sr.unfinished) {
        if (ftruncate(f->fd, sr.good_end) != 0 || fsync(f->fd) != 0) {
            rc = io_fail(f, "cut the unfinished batch off", err);
            goto done;
        }
        *repaired = (int64_t)(sr.size - sr.good_end);
    }
    if (f->n_known > 1)
        qsort(f->known, f->n_known, TIA_UUID_BUF, cmp_id);
done:
    if (rc != 0) {
        if (created)
            unlink(path);
        tia__ar_file_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- show from a file ---- */

typedef struct find_ctx {
    const char *path;
    const char *id;
    char *found;
} find_ctx;

static int find_line(void *ctx, char *line, size_t len, int first, tia_error *err)
{
    find_ctx *c = ctx;
    if (first)
        return check_header(c->path, line, err);
    if (memmem(line, len, c->id, strlen(c->id)) == NULL)
        return 0;
    char id[TIA_UUID_BUF];
    int rc = line_id(c->path, line, len, id, err);
    if (rc != 0)
        return rc;
    if (strcmp(id, c->id) != 0)
        return 0;
    /* The last copy: a workflow written again by a later run is as it was then. */
    free(c->found);
    c->found = strdup(line);
    if (c->found == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading '%s'", c->path);
    return 0;
}

int tia_archive_show_file(const char *path, const char *workflow_id, char **json_out,
                          tia_error *err)
{
    char key[TIA_UUID_BUF];
    *json_out = NULL;
    int rc = tia__check_uuid(err, "workflow id", workflow_id, 1, key);
    if (rc != 0)
        return rc;
    if (path == NULL || *path == '\0' || strlen(path) > PATH_LEN_MAX)
        return tia_error_set(err, TIA_EINVAL, "no archive file named, or a name too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tia_error_set(err, errno == ENOENT ? TIA_ENOTFOUND : TIA_EIO, "cannot open '%s': %s",
                             path, strerror(errno));
    find_ctx c = {path, key, NULL};
    scan_result sr;
    rc = scan(fd, path, find_line, NULL, &c, &sr, err);
    close(fd);
    if (rc == 0 && c.found == NULL) {
        if (sr.good_end == 0 && !sr.stopped)
            rc = tia_error_set(err, TIA_EINVAL, "'%s' is not a tokyoia archive file", path);
        else if (sr.damaged)
            rc = tia_error_set(err, TIA_EINVAL,
                               "workflow %s is not in the readable part of '%s' (damaged after "
                               "byte %lld)",
                               key, path, (long long)sr.good_end);
        else
            rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s is not in '%s'", key, path);
    }
    if (rc != 0) {
        free(c.found);
        return rc;
    }
    *json_out = c.found;
    return 0;
}
