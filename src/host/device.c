/* Device selection: "ref", "P:D", a piece of a device's name, or nothing
 * (CLGRAD_DEVICE, else the first GPU, else the first device of any kind,
 * else ref), matched against the devices the backends list (DESIGN.md,
 * Device selection). Choosing the backend happens here and nowhere else. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* The backends with devices to list, in the order a spec is matched against
 * them. The reference path is not one: it is chosen by name, or when no
 * device exists. */
static const cg__backend *const listed[] = {&cg__backend_opencl};
#define NLISTED (sizeof listed / sizeof *listed)

const char *cg_device_type_string(cg_device_type type)
{
    switch (type) {
    case CG_DEVICE_REF: return "REF";
    case CG_DEVICE_CPU: return "CPU";
    case CG_DEVICE_GPU: return "GPU";
    case CG_DEVICE_ACCELERATOR: return "ACCELERATOR";
    case CG_DEVICE_OTHER: return "OTHER";
    }
    return "UNKNOWN";
}

cg_status cg_device_list(cg_device_info **out, size_t *count)
{
    if (out) *out = NULL;
    if (count) *count = 0;
    if (!out || !count) return CG_ERROR_NULL_POINTER;
    cg_device_info info;
    size_t total = 0;
    for (size_t b = 0; b < NLISTED; b++)
        for (size_t i = 0; listed[b]->device(i, &info); i++) total++;
    if (total == 0) return CG_OK;
    cg_device_info *list = cg__calloc(total, sizeof *list);
    if (!list) return CG_ERROR_NO_MEMORY;
    size_t k = 0;
    for (size_t b = 0; b < NLISTED; b++)
        for (size_t i = 0; k < total && listed[b]->device(i, &list[k]); i++) k++;
    *out = list;
    *count = k;
    return CG_OK;
}

void cg_device_list_free(cg_device_info *list) { free(list); }

int cg__strcasestr_index(const char *haystack, const char *needle)
{
    size_t hn = strlen(haystack), nn = strlen(needle);
    if (nn == 0) return 0;
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t j = 0;
        while (j < nn && tolower((unsigned char)haystack[i + j]) ==
                             tolower((unsigned char)needle[j]))
            j++;
        if (j == nn) return (int)i;
    }
    return -1;
}

static bool parse_indices(const char *spec, int *p, int *d)
{
    char *end;
    if (!isdigit((unsigned char)spec[0])) return false;
    /* Out-of-range indices stay out of range: narrowing 4294967296 to int
     * would quietly pick device 0. */
    errno = 0;
    long a = strtol(spec, &end, 10);
    if (errno || a > INT_MAX || *end != ':' || !isdigit((unsigned char)end[1])) return false;
    long b = strtol(end + 1, &end, 10);
    if (errno || b > INT_MAX || *end != '\0') return false;
    *p = (int)a;
    *d = (int)b;
    return true;
}

/* "0:0 NAME (CPU), ..., ref" for error messages. */
static void describe_available(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    cg_device_info info;
    for (size_t b = 0; b < NLISTED; b++)
        for (size_t i = 0; listed[b]->device(i, &info); i++) {
            int w = snprintf(buf + len, cap - len, "%s %s (%s), ", info.spec, info.name,
                             cg_device_type_string(info.type));
            if (w < 0 || (size_t)w >= cap - len) return;
            len += (size_t)w;
        }
    snprintf(buf + len, cap - len, "ref (the scalar reference path)");
}

static bool matches(const char *spec, const cg_device_info *info)
{
    int p, d;
    if (parse_indices(spec, &p, &d)) return info->platform_index == p && info->device_index == d;
    return cg__strcasestr_index(info->name, spec) >= 0;
}

/* The device spec names (NULL: the first GPU, else the first device of any
 * kind): its backend and index there; NULL when there is none. */
static const cg__backend *find(const char *spec, size_t *index)
{
    cg_device_info info;
    for (int want_gpu = spec ? 0 : 1; want_gpu >= 0; want_gpu--)
        for (size_t b = 0; b < NLISTED; b++)
            for (size_t i = 0; listed[b]->device(i, &info); i++) {
                if (spec ? !matches(spec, &info) : want_gpu && info.type != CG_DEVICE_GPU)
                    continue;
                *index = i;
                return listed[b];
            }
    return NULL;
}

const cg__backend *cg__device_select(cg_context *ctx, const char *spec, size_t *index)
{
    if (!spec || !*spec) spec = getenv("CLGRAD_DEVICE");
    if (spec && !*spec) spec = NULL;
    *index = 0;
    if (spec && strcasecmp(spec, "ref") == 0) return &cg__backend_ref;
    const cg__backend *backend = find(spec, index);
    if (backend) return backend;
    if (!spec) {
        cg__log("clgrad: no OpenCL device found; running on the scalar reference path");
        return &cg__backend_ref;
    }
    char avail[768];
    describe_available(avail, sizeof avail);
    cg__fail(ctx, CG_ERROR_NO_DEVICE, "cg_context_create: no device matches '%s'; available: %s",
             spec, avail);
    return NULL;
}
