/* Number parsing, exit statuses, output checks, torch-style value
 * formatting and the epoch log line. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_common.h"

int cli_exit_for(cg_status status)
{
    switch (status) {
    case CG_OK: return CLI_OK;
    case CG_ERROR_OPENCL:
    case CG_ERROR_BUILD_FAILED:
    case CG_ERROR_NO_MEMORY: return CLI_RUNTIME;
    default: return CLI_USAGE;
    }
}

void cli_say(FILE *err, const char *prog, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(err, "%s: ", prog);
    vfprintf(err, fmt, ap);
    fputc('\n', err);
    va_end(ap);
}

bool cli_parse_float_n(const char *s, size_t len, float *out)
{
    if (!s || len == 0) return false;
    /* strtod wants a terminated string: a copy of any length. */
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, s, len);
    copy[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(copy, &end);
    bool ok = end == copy + len && errno != ERANGE && isfinite(v) && isfinite((float)v);
    free(copy);
    if (ok) *out = (float)v;
    return ok;
}

bool cli_parse_float(const char *s, float *out)
{
    return s && cli_parse_float_n(s, strlen(s), out);
}

bool cli_parse_uint(const char *s, size_t len, unsigned long long lo, unsigned long long hi,
                    unsigned long long *out)
{
    if (!s || len == 0) return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_uint_flag(FILE *err, const char *prog, const char *flag, const char *s,
                   unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
    if (s && cli_parse_uint(s, strlen(s), lo, hi, out)) return true;
    cli_say(err, prog, "%s must be an integer from %llu to %llu (got '%s')", flag, lo, hi,
            s ? s : "");
    return false;
}

float *cli_parse_floats(const char *s, char sep, size_t *count)
{
    *count = 0;
    size_t n = 1;
    for (const char *p = s; *p; p++) n += *p == sep;
    float *v = malloc(n * sizeof *v);
    if (!v) return NULL;
    const char *p = s;
    for (size_t i = 0; i < n; i++) {
        const char *q = strchr(p, sep);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (!cli_parse_float_n(p, len, &v[i])) {
            free(v);
            return NULL;
        }
        p += len + 1;
    }
    *count = n;
    return v;
}

/* torch switches to scientific notation when the finite nonzero magnitudes
 * span more than 1e3 or exceed 1e8; values are right-aligned to one width. */
void cli_format_values(char *buf, size_t cap, const float *v, size_t n)
{
    double lo = INFINITY, hi = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)v[i]);
        if (!isfinite(a) || a == 0.0) continue;
        lo = fmin(lo, a);
        hi = fmax(hi, a);
    }
    bool sci = hi > 0.0 && (hi / lo > 1000.0 || hi > 1e8);
    char items[64][32];
    size_t width = 0, shown = n < 64 ? n : 64;
    for (size_t i = 0; i < shown; i++) {
        if (isnan(v[i]))
            snprintf(items[i], sizeof items[i], "nan");
        else if (isinf(v[i]))
            snprintf(items[i], sizeof items[i], "%sinf", v[i] < 0 ? "-" : "");
        else
            snprintf(items[i], sizeof items[i], sci ? "%.4e" : "%.4f", (double)v[i]);
        size_t len = strlen(items[i]);
        width = len > width ? len : width;
    }
    size_t len = 0;
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (size_t i = 0; i < shown && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%*s", i ? ", " : "", (int)width,
                                items[i]);
    if (len < cap) snprintf(buf + len, cap - len, "%s]", shown < n ? ", ..." : "");
}

/* digits:digits, the form the library reads as platform and device indices. */
static const char *indices_colon(const char *spec)
{
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) return NULL;
    for (const char *p = spec; *p; p++)
        if (p != colon && (*p < '0' || *p > '9')) return NULL;
    return colon;
}

int cli_context(const char *device, const char *prog, cg_context **out)
{
    *out = NULL;
    const char *spec = device && *device ? device : getenv("CLGRAD_DEVICE");
    const char *colon = spec ? indices_colon(spec) : NULL;
    unsigned long long p, d;
    if (colon && (!cli_parse_uint(spec, (size_t)(colon - spec), 0, INT_MAX, &p) ||
                  !cli_parse_uint(colon + 1, strlen(colon + 1), 0, INT_MAX, &d))) {
        cli_say(stderr, prog,
                "%s '%s': P:D indices go from 0 to %d (see clgrad devices for the values)",
                device && *device ? "--device" : "CLGRAD_DEVICE", spec, INT_MAX);
        return CLI_USAGE;
    }
    cg_context *ctx = cg_context_create(device);
    if (!ctx) {
        cli_say(stderr, prog, "out of memory");
        return CLI_RUNTIME;
    }
    if (cg_status_of(ctx) != CG_OK) {
        cli_say(stderr, prog, "%s", cg_error_message(ctx));
        int rc = cli_exit_for(cg_status_of(ctx));
        cg_context_free(ctx);
        return rc;
    }
    *out = ctx;
    return -1;
}

/* 0 when dir is a directory that takes a new file, else errno's value. */
static int probe_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode)) return ENOTDIR;
    size_t cap = strlen(dir) + 64;
    char *probe = malloc(cap);
    if (!probe) return ENOMEM;
    int e = 0;
    for (unsigned i = 0;; i++) {
        snprintf(probe, cap, "%s/.clgrad-probe.%ld.%u", dir, (long)getpid(), i);
        int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            unlink(probe);
            break;
        }
        if (errno != EEXIST || i == 99) {
            e = errno;
            break;
        }
    }
    free(probe);
    return e;
}

bool cli_check_output(const char *path, const char *prog, const char *flag)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_say(stderr, prog, "%s %s: cannot write there: %s", flag, path, strerror(EISDIR));
        return false;
    }
    const char *slash = strrchr(path, '/');
    size_t len = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = len ? strndup(path, len) : strdup(".");
    int e = dir ? probe_dir(dir) : ENOMEM;
    if (e) cli_say(stderr, prog, "%s %s: cannot write there: %s: %s", flag, path,
                   dir ? dir : ".", strerror(e));
    free(dir);
    return e == 0;
}

bool cli_check_output_dir(const char *dir, const char *prog, const char *flag)
{
    int e = probe_dir(dir);
    if (e) cli_say(stderr, prog, "%s %s: cannot write there: %s", flag, dir, strerror(e));
    return e == 0;
}

void cli_log_to_stderr(void *user, const char *message)
{
    (void)user;
    fprintf(stderr, "%s\n", message);
}

int cli_finish_stdout(int rc)
{
    errno = 0;
    bool failed = fflush(stdout) != 0;
    int e = errno;
    failed = ferror(stdout) || failed;
    errno = 0;
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        e = errno;
    }
    if (!failed) return rc;
    if (e)
        fprintf(stderr, "clgrad: writing the results to stdout failed: %s\n", strerror(e));
    else
        fprintf(stderr, "clgrad: writing the results to stdout failed\n");
    return CLI_RUNTIME;
}

void cli_print_epoch(void *user, const cg_epoch_log *log)
{
    const cli_log_style *style = user;
    char buf[2048];
    fprintf(style->out, "Epoch %ld, Loss %f\n", log->epoch, (double)log->loss);
    if (style->params) {
        cli_format_values(buf, sizeof buf, log->params, log->nparams);
        fprintf(style->out, "    Params: %s\n", buf);
    }
    if (style->grad) {
        cli_format_values(buf, sizeof buf, log->grad, log->nparams);
        fprintf(style->out, "    Grad:   %s\n", buf);
    }
}
