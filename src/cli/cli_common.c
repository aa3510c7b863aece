/* Number parsing, torch-style value formatting and the epoch log line. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

bool cli_parse_float(const char *s, float *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v) || !isfinite((float)v)) return false;
    *out = (float)v;
    return true;
}

bool cli_parse_long(const char *s, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || errno == ERANGE) return false;
    *out = v;
    return true;
}

int cli_parse_floats(const char *s, float *out, int cap)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (n == cap || len == 0 || len >= sizeof item) return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        if (!cli_parse_float(item, &out[n++])) return -1;
        if (!comma) return n;
        p = comma + 1;
    }
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

cg_context *cli_context(const char *device, const char *prog)
{
    cg_context *ctx = cg_context_create(device);
    if (!ctx) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    if (cg_status(ctx) != CG_OK) {
        fprintf(stderr, "%s: %s\n", prog, cg_error_message(ctx));
        cg_context_free(ctx);
        return NULL;
    }
    return ctx;
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
