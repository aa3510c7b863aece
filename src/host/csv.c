/* Data in: CSV files with a header row and numeric cells, and the lecture's
 * own eleven readings. Every rejection names the file, line and column. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

cg_status cg_table_lecture(cg_table *out)
{
    if (!out) return CG_ERROR_NULL_POINTER;
    memset(out, 0, sizeof *out);
    out->names = calloc(2, sizeof *out->names);
    out->values = malloc(22 * sizeof *out->values);
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

/* Reads one line of any length; NULL at end of file. */
static char *read_line(FILE *f, char **buf, size_t *cap)
{
    size_t len = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (len + 2 > *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            char *nb = realloc(*buf, ncap);
            if (!nb) return NULL;
            *buf = nb;
            *cap = ncap;
        }
        (*buf)[len++] = (char)c;
        if (c == '\n') break;
    }
    if (len == 0 && c == EOF) return NULL;
    (*buf)[len] = '\0';
    return *buf;
}

cg_status cg_table_read_csv(cg_context *ctx, const char *path, cg_table *out)
{
    static const char fn[] = "cg_table_read_csv";
    if (out) memset(out, 0, sizeof *out);
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!path || !out) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: NULL argument", fn);
    FILE *f = fopen(path, "rb");
    if (!f) return cg__fail(ctx, CG_ERROR_IO, "%s: cannot open %s: %s", fn, path, strerror(errno));

    char *buf = NULL, **fields = NULL;
    size_t cap = 0, rows_cap = 0, line_no = 0;
    char *line;
    /* The header: the first non-blank line. */
    while ((line = read_line(f, &buf, &cap)) && (line_no++, blank(line)))
        ;
    if (!line) {
        if (ferror(f))
            cg__fail(ctx, CG_ERROR_IO, "%s: cannot read %s: %s", fn, path, strerror(errno));
        else
            cg__fail(ctx, CG_ERROR_PARSE, "%s: %s is empty (expected a header row, then data)",
                     fn, path);
        goto done;
    }
    size_t cols = 1;
    for (const char *c = line; *c; c++) cols += *c == ',';
    fields = calloc(cols, sizeof *fields);
    out->names = calloc(cols, sizeof *out->names);
    if (!fields || !out->names) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", fn);
        goto done;
    }
    split(line, fields, cols);
    out->cols = cols;
    for (size_t j = 0; j < cols; j++) {
        if (!*fields[j]) {
            cg__fail(ctx, CG_ERROR_PARSE, "%s: %s:%zu: column %zu has an empty name", fn, path,
                     line_no, j + 1);
            goto done;
        }
        out->names[j] = dup_str(fields[j]);
        if (!out->names[j]) {
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", fn);
            goto done;
        }
    }
    while ((line = read_line(f, &buf, &cap))) {
        line_no++;
        if (blank(line)) continue;
        size_t n = split(line, fields, cols);
        if (n != cols) {
            cg__fail(ctx, CG_ERROR_PARSE, "%s: %s:%zu: %zu field%s, but the header has %zu", fn,
                     path, line_no, n, n == 1 ? "" : "s", cols);
            goto done;
        }
        if (out->rows == rows_cap) {
            rows_cap = rows_cap ? rows_cap * 2 : 64;
            float *v = realloc(out->values, rows_cap * cols * sizeof *v);
            if (!v) {
                cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", fn);
                goto done;
            }
            out->values = v;
        }
        for (size_t j = 0; j < cols; j++) {
            char *end;
            errno = 0;
            double v = strtod(fields[j], &end);
            if (end == fields[j] || *end != '\0') {
                cg__fail(ctx, CG_ERROR_PARSE,
                         "%s: %s:%zu: column %zu (%s): '%s' is not a number", fn, path, line_no,
                         j + 1, out->names[j], fields[j]);
                goto done;
            }
            if (!isfinite(v) || !isfinite((float)v)) {
                cg__fail(ctx, CG_ERROR_INVALID_DATA,
                         "%s: %s:%zu: column %zu (%s): '%s' is not finite (NaN and inf are "
                         "not data)",
                         fn, path, line_no, j + 1, out->names[j], fields[j]);
                goto done;
            }
            out->values[out->rows * cols + j] = (float)v;
        }
        out->rows++;
    }
    if (ferror(f))
        cg__fail(ctx, CG_ERROR_IO, "%s: cannot read %s: %s", fn, path, strerror(errno));
    else if (out->rows == 0)
        cg__fail(ctx, CG_ERROR_PARSE, "%s: %s has a header but no data rows", fn, path);
done:
    free(buf);
    free(fields);
    fclose(f);
    if (ctx->status) cg_table_free(out);
    return ctx->status;
}
