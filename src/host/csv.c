/* Data in: CSV files with a header row and numeric cells, and the lecture's
 * own eleven readings. Every rejection names the file, line and column.
 *
 * The input is bounded, so that a hostile or mistaken path (a 2 GB file
 * without a newline, /dev/zero, an endless pipe) is an error and not the
 * whole memory: a line may hold CLGRAD_CSV_MAX_LINE bytes (1 MiB unless set)
 * and the input CLGRAD_CSV_MAX_BYTES (4 GiB unless set); both take a byte
 * count with an optional K, M, G or T suffix (powers of 1024). Character and
 * block devices are refused; regular files, pipes, FIFOs, process
 * substitution (/dev/fd/N) and /dev/stdin are read under the same limits.
 * Text is ASCII or UTF-8 (a byte-order mark is skipped); UTF-16 and NUL bytes
 * are refused. One parser serves files and, for the fuzz harness, memory. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv_internal.h"
#include "internal.h"

#define DEFAULT_MAX_LINE ((size_t)1 << 20)
#define DEFAULT_MAX_BYTES ((size_t)4 << 30)

static const char fn[] = "cg_table_read_csv";

/* Allocations go through the library's fault-injection point (fault.h). */
#define csv_realloc(p, n) cg__realloc((p), (n))
#define dup_str(s) cg__strdup(s)

static void *csv_calloc(size_t n, size_t size)
{
    return size && n > SIZE_MAX / size ? NULL : cg__calloc(n, size);
}

/* ---- the lecture's table, and table helpers ------------------------------- */

static const float lecture_t_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f,
                                      33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
static const float lecture_t_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f,
                                      3.0f, -4.0f, 6.0f, 13.0f, 21.0f};

void cg_table_free(cg_table *t)
{
    if (!t) return;
    if (t->names)
        for (size_t j = 0; j < t->cols; j++) free(t->names[j]);
    free(t->names);
    free(t->values);
    t->names = NULL;
    t->values = NULL;
    t->rows = t->cols = 0;
}

cg_status cg_table_lecture(cg_table *out)
{
    if (!out) return CG_ERROR_NULL_POINTER;
    memset(out, 0, sizeof *out);
    out->names = csv_calloc(2, sizeof *out->names);
    out->values = cg__malloc(22 * sizeof *out->values);
    if (!out->names || !out->values) goto oom;
    out->cols = 2;
    out->names[0] = dup_str("t_u");
    out->names[1] = dup_str("t_c");
    if (!out->names[0] || !out->names[1]) goto oom;
    for (size_t i = 0; i < 11; i++) {
        out->values[2 * i] = lecture_t_u[i];
        out->values[2 * i + 1] = lecture_t_c[i];
    }
    out->rows = 11;
    return CG_OK;
oom:
    cg_table_free(out);
    return CG_ERROR_NO_MEMORY;
}

int cg_table_column(const cg_table *t, const char *name)
{
    if (!t || !name) return -1;
    for (size_t j = 0; j < t->cols; j++)
        if (strcmp(t->names[j], name) == 0) return (int)j;
    return -1;
}

/* ---- limits ---------------------------------------------------------------- */

typedef struct limits {
    size_t line;  /* bytes in a line, its '\n' not counted */
    size_t bytes; /* bytes in the whole input */
} limits;

/* A byte count from the environment: digits, then K, M, G or T at most. */
static cg_status env_size(cg_context *ctx, const char *var, size_t dflt, size_t *out)
{
    *out = dflt;
    const char *s = getenv(var);
    if (!s || !*s) return CG_OK;
    const char *p = s;
    uint64_t v = 0;
    bool ok = *p >= '0' && *p <= '9';
    for (; ok && *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) ok = false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    unsigned shift = 0;
    if (ok && *p) {
        const char *units = "KMGT", *u = strchr(units, *p & ~0x20);
        if (u && *u) shift = 10u * (unsigned)(u - units + 1), p++;
        else ok = false;
    }
    /* The ceiling keeps line + 2 and the row buffer's arithmetic far from
     * overflow; nobody needs more than 2^60 bytes of CSV. */
    if (ok && (*p || v == 0 || v > ((uint64_t)1 << 60) >> shift)) ok = false;
    if (ok && (v << shift) > SIZE_MAX / 8) ok = false;
    if (!ok)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: %s='%.64s' is not a size in bytes (a positive integer, optionally "
                        "followed by K, M, G or T)",
                        fn, var, s);
    *out = (size_t)(v << shift);
    return CG_OK;
}

static cg_status read_limits(cg_context *ctx, limits *lim)
{
    if (env_size(ctx, "CLGRAD_CSV_MAX_LINE", DEFAULT_MAX_LINE, &lim->line)) return ctx->status;
    return env_size(ctx, "CLGRAD_CSV_MAX_BYTES", DEFAULT_MAX_BYTES, &lim->bytes);
}

/* ---- input: a file or memory, read a line at a time ------------------------ */

typedef struct reader {
    cg_context *ctx;
    const char *path;
    FILE *f; /* NULL: read mem */
    const unsigned char *mem;
    size_t mem_size, mem_pos;
    limits lim;
    size_t total;   /* bytes read so far */
    unsigned char head[2]; /* the first two */
    size_t line_no; /* of the line in buf */
    char *buf;
    size_t cap, len;
} reader;

static int next_byte(reader *r)
{
    if (r->f) return getc_unlocked(r->f); /* the FILE is this call's alone */
    return r->mem_pos < r->mem_size ? r->mem[r->mem_pos++] : EOF;
}

static void fail_oom(reader *r)
{
    cg__fail(r->ctx, CG_ERROR_NO_MEMORY, "%s: out of memory reading %s (line %zu)", fn, r->path,
             r->line_no + 1);
}

/* UTF-16, by its byte-order mark or by a NUL before or after the first
 * character, is refused by name rather than as NUL bytes. */
static cg_status check_utf16(reader *r)
{
    const unsigned char *b = r->head;
    const char *order = NULL, *how = "its byte-order mark";
    if (b[0] == 0xFF && b[1] == 0xFE) order = "little";
    else if (b[0] == 0xFE && b[1] == 0xFF) order = "big";
    else if (b[0] != 0 && b[1] == 0) order = "little", how = "NUL bytes between characters";
    else if (b[0] == 0 && b[1] != 0) order = "big", how = "NUL bytes between characters";
    if (!order) return CG_OK;
    return cg__fail(r->ctx, CG_ERROR_UNSUPPORTED,
                    "%s: %s is UTF-16 (%s-endian, by %s), which is not supported; convert it "
                    "to UTF-8, e.g. iconv -f UTF-16 -t UTF-8",
                    fn, r->path, order, how);
}

/* A NUL would end the line early for the C string functions of the parser,
 * hiding the rest of the row; it is refused where it is read, so that a
 * stream of NULs fails at once. col counts from 1, after a UTF-8 BOM. */
static cg_status fail_nul(reader *r, size_t col)
{
    if (r->line_no == 0 && col > 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) col -= 3;
    return cg__fail(r->ctx, CG_ERROR_PARSE,
                    "%s: %s:%zu:%zu: NUL byte; a CSV file is text (is this a binary or UTF-16 "
                    "file?)",
                    fn, r->path, r->line_no + 1, col);
}

/* Reads the next line, its '\n' kept, into buf (len bytes, then a '\0').
 * Returns 1 for a line, 0 at the end of the input, -1 with ctx failed: a
 * read error, a limit passed, or out of memory (never taken as the end). */
static int read_line(reader *r)
{
    size_t len = 0;
    int c;
    while ((c = next_byte(r)) != EOF) {
        if (++r->total > r->lim.bytes) {
            cg__fail(r->ctx, CG_ERROR_PARSE,
                     "%s: %s: more than %zu bytes, the limit (set CLGRAD_CSV_MAX_BYTES to raise "
                     "it)",
                     fn, r->path, r->lim.bytes);
            return -1;
        }
        if (len + 2 > r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 256;
            if (ncap > r->lim.line + 2) ncap = r->lim.line + 2;
            char *nb = csv_realloc(r->buf, ncap);
            if (!nb) {
                fail_oom(r);
                return -1;
            }
            r->buf = nb;
            r->cap = ncap;
        }
        r->buf[len++] = (char)c;
        if (r->total <= 2) {
            /* A NUL first may be UTF-16's: decided by the second byte. */
            r->head[r->total - 1] = (unsigned char)c;
            if (r->total == 2 && check_utf16(r)) return -1;
            if (r->total == 2 && r->head[0] == 0) {
                fail_nul(r, 1);
                return -1;
            }
        }
        if (c == '\0' && r->total > 1 && fail_nul(r, len)) return -1;
        if (c == '\n') break;
        if (len > r->lim.line) {
            cg__fail(r->ctx, CG_ERROR_PARSE,
                     "%s: %s:%zu: the line is longer than %zu bytes, the limit (set "
                     "CLGRAD_CSV_MAX_LINE to raise it)",
                     fn, r->path, r->line_no + 1, r->lim.line);
            return -1;
        }
    }
    if (c == EOF && r->f && ferror(r->f)) {
        cg__fail(r->ctx, CG_ERROR_IO, "%s: cannot read %s: %s", fn, r->path, strerror(errno));
        return -1;
    }
    if (len == 0) return 0;
    if (r->total == 1 && r->head[0] == 0) {
        fail_nul(r, 1);
        return -1;
    }
    r->buf[len] = '\0';
    r->len = len;
    r->line_no++;
    return 1;
}

/* ---- parsing ----------------------------------------------------------------- */

/* Trims spaces and one pair of surrounding double quotes, in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
    return true;
}

/* Splits line in place at commas into at most cap fields; returns the field
 * count (which may exceed cap). */
static size_t split(char *line, char **fields, size_t cap)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (n < cap) fields[n] = trim(p);
        n++;
        if (!comma) return n;
        p = comma + 1;
    }
}

typedef struct named {
    const char *name;
    size_t index;
} named;

static int by_name_then_index(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Duplicate names would make a lookup by name take the first silently.
 * Sorted, so that a header of many columns costs n log n; the pair named is
 * the first repeat in the file and the earliest column of its name. */
static cg_status check_unique(reader *r, cg_table *t)
{
    named *v = csv_calloc(t->cols, sizeof *v);
    if (!v) {
        fail_oom(r);
        return r->ctx->status;
    }
    for (size_t j = 0; j < t->cols; j++) v[j] = (named){t->names[j], j};
    qsort(v, t->cols, sizeof *v, by_name_then_index);
    size_t first = 0, second = SIZE_MAX;
    for (size_t k = 1, run = 0; k < t->cols; k++) {
        if (strcmp(v[k - 1].name, v[k].name) != 0) {
            run = k;
            continue;
        }
        if (v[k].index < second) first = v[run].index, second = v[k].index;
    }
    free(v);
    if (second == SIZE_MAX) return CG_OK;
    return cg__fail(r->ctx, CG_ERROR_PARSE,
                    "%s: %s:%zu: columns %zu and %zu are both named '%s'; names must be unique",
                    fn, r->path, r->line_no, first + 1, second + 1, t->names[second]);
}

static cg_status parse_header(reader *r, cg_table *out, char ***fields)
{
    int got;
    size_t skip = 0;
    /* The header: the first non-blank line, after a UTF-8 byte-order mark. */
    while ((got = read_line(r)) == 1) {
        skip = r->line_no == 1 && r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        if (!blank(r->buf + skip)) break;
    }
    if (got < 0) return r->ctx->status;
    if (got == 0)
        return cg__fail(r->ctx, CG_ERROR_PARSE,
                        "%s: %s is empty (expected a header row, then data)", fn, r->path);
    char *line = r->buf + skip;
    size_t cols = 1;
    for (const char *c = line; *c; c++) cols += *c == ',';
    *fields = csv_calloc(cols, sizeof **fields);
    out->names = csv_calloc(cols, sizeof *out->names);
    if (!*fields || !out->names) {
        fail_oom(r);
        return r->ctx->status;
    }
    split(line, *fields, cols);
    out->cols = cols;
    for (size_t j = 0; j < cols; j++) {
        if (!*(*fields)[j])
            return cg__fail(r->ctx, CG_ERROR_PARSE, "%s: %s:%zu: column %zu has an empty name",
                            fn, r->path, r->line_no, j + 1);
        out->names[j] = dup_str((*fields)[j]);
        if (!out->names[j]) {
            fail_oom(r);
            return r->ctx->status;
        }
    }
    return check_unique(r, out);
}

static cg_status parse_row(reader *r, cg_table *out, char **fields, size_t *rows_cap)
{
    size_t cols = out->cols;
    size_t n = split(r->buf, fields, cols);
    if (n != cols)
        return cg__fail(r->ctx, CG_ERROR_PARSE, "%s: %s:%zu: %zu field%s, but the header has %zu",
                        fn, r->path, r->line_no, n, n == 1 ? "" : "s", cols);
    if (out->rows == *rows_cap) {
        size_t ncap = *rows_cap ? *rows_cap * 2 : 64;
        /* Each cell took a byte or more of the bounded input, so this only
         * trips for limits set near SIZE_MAX. */
        if (ncap > SIZE_MAX / cols / sizeof *out->values) {
            fail_oom(r);
            return r->ctx->status;
        }
        float *v = csv_realloc(out->values, ncap * cols * sizeof *v);
        if (!v) {
            fail_oom(r);
            return r->ctx->status;
        }
        out->values = v;
        *rows_cap = ncap;
    }
    for (size_t j = 0; j < cols; j++) {
        char *end;
        errno = 0;
        double v = strtod(fields[j], &end);
        if (end == fields[j] || *end != '\0')
            return cg__fail(r->ctx, CG_ERROR_PARSE,
                            "%s: %s:%zu: column %zu (%s): '%s' is not a number", fn, r->path,
                            r->line_no, j + 1, out->names[j], fields[j]);
        if (!isfinite(v) || !isfinite((float)v))
            return cg__fail(r->ctx, CG_ERROR_INVALID_DATA,
                            "%s: %s:%zu: column %zu (%s): '%s' is not finite (NaN and inf are "
                            "not data)",
                            fn, r->path, r->line_no, j + 1, out->names[j], fields[j]);
        out->values[out->rows * cols + j] = (float)v;
    }
    out->rows++;
    return CG_OK;
}

/* Fills out (empty on entry) from r; on failure out is freed and empty. */
static cg_status parse(reader *r, cg_table *out)
{
    char **fields = NULL;
    size_t rows_cap = 0;
    int got = -1;
    if (parse_header(r, out, &fields)) goto done;
    while ((got = read_line(r)) == 1) {
        if (blank(r->buf)) continue;
        if (parse_row(r, out, fields, &rows_cap)) goto done;
    }
    if (got == 0 && out->rows == 0)
        cg__fail(r->ctx, CG_ERROR_PARSE, "%s: %s has a header but no data rows", fn, r->path);
done:
    free(r->buf);
    r->buf = NULL;
    free(fields);
    if (r->ctx->status) cg_table_free(out);
    return r->ctx->status;
}

/* ---- entry points -------------------------------------------------------- */

static const char *device_kind(mode_t mode)
{
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return NULL;
}

static cg_status refuse_device(cg_context *ctx, const char *path, const char *kind)
{
    return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                    "%s: %s is %s, not a file; read data from a file or a pipe", fn,
                    path, kind);
}

cg_status cg_table_read_csv(cg_context *ctx, const char *path, cg_table *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!path || !out) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: NULL argument", fn);
    reader r = {.ctx = ctx, .path = path};
    if (read_limits(ctx, &r.lim)) return ctx->status;

    /* Checked before opening too: opening a device can block or act. */
    struct stat st;
    const char *kind;
    if (stat(path, &st) == 0 && (kind = device_kind(st.st_mode)))
        return refuse_device(ctx, path, kind);
    r.f = fopen(path, "rb");
    if (!r.f)
        return cg__fail(ctx, CG_ERROR_IO, "%s: cannot open %s: %s", fn, path, strerror(errno));
    if (fstat(fileno(r.f), &st) == 0 && (kind = device_kind(st.st_mode)))
        refuse_device(ctx, path, kind);
    else
        parse(&r, out);
    fclose(r.f);
    return ctx->status;
}

cg_status cg__table_read_csv_mem(cg_context *ctx, const char *name, const void *data,
                                 size_t size, cg_table *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!name || (!data && size) || !out)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: NULL argument", fn);
    reader r = {.ctx = ctx, .path = name, .mem = data, .mem_size = size};
    if (read_limits(ctx, &r.lim)) return ctx->status;
    return parse(&r, out);
}
