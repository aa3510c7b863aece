/* Device discovery and selection: every platform's every device, chosen by
 * "P:D", a name substring, or "ref" (DESIGN.md, Device selection). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define CG__MAX_PLATFORMS 16
#define CG__MAX_DEVICES 64

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

static void device_string(cl_device_id device, cl_device_info what, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (cg__clGetDeviceInfo(device, what, cap, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
    dst[cap - 1] = '\0';
}

void cg__device_describe(cl_platform_id platform, cl_device_id device, int p, int d,
                         cg_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform_index = p;
    info->device_index = d;
    snprintf(info->spec, sizeof info->spec, "%d:%d", p, d);
    device_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(device, CL_DEVICE_VERSION, info->version, sizeof info->version);
    device_string(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    device_string(device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                  sizeof info->opencl_c_version);
    if (cg__clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof info->platform, info->platform,
                              NULL) != CL_SUCCESS)
        info->platform[0] = '\0';
    info->platform[sizeof info->platform - 1] = '\0';

    cl_device_type type = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? CG_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? CG_DEVICE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CG_DEVICE_ACCELERATOR
                                                       : CG_DEVICE_OTHER;
    cl_uint cus = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    info->compute_units = cus;
    cl_ulong mem = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    info->global_mem_bytes = mem;
    size_t wg = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
}

/* Platforms and their devices, in the order the ICD loader reports them. */
typedef struct device_table {
    cl_uint nplatforms;
    cl_platform_id platforms[CG__MAX_PLATFORMS];
    cl_uint ndevices[CG__MAX_PLATFORMS];
    cl_device_id devices[CG__MAX_PLATFORMS][CG__MAX_DEVICES];
} device_table;

static void device_table_load(device_table *t)
{
    memset(t, 0, sizeof *t);
    /* No ICD or no platform is not an error: the reference path remains. */
    if (cg__clGetPlatformIDs(CG__MAX_PLATFORMS, t->platforms, &t->nplatforms) != CL_SUCCESS) {
        t->nplatforms = 0;
        return;
    }
    if (t->nplatforms > CG__MAX_PLATFORMS) t->nplatforms = CG__MAX_PLATFORMS;
    for (cl_uint p = 0; p < t->nplatforms; p++) {
        cl_uint n = 0;
        if (cg__clGetDeviceIDs(t->platforms[p], CL_DEVICE_TYPE_ALL, CG__MAX_DEVICES, t->devices[p],
                               &n) != CL_SUCCESS)
            n = 0;
        t->ndevices[p] = n > CG__MAX_DEVICES ? CG__MAX_DEVICES : n;
    }
}

cg_status cg_device_list(cg_device_info **out, size_t *count)
{
    if (out) *out = NULL;
    if (count) *count = 0;
    if (!out || !count) return CG_ERROR_NULL_POINTER;
    device_table t;
    device_table_load(&t);
    size_t total = 0;
    for (cl_uint p = 0; p < t.nplatforms; p++) total += t.ndevices[p];
    if (total == 0) return CG_OK;
    cg_device_info *list = cg__calloc(total, sizeof *list);
    if (!list) return CG_ERROR_NO_MEMORY;
    size_t k = 0;
    for (cl_uint p = 0; p < t.nplatforms; p++)
        for (cl_uint d = 0; d < t.ndevices[p]; d++)
            cg__device_describe(t.platforms[p], t.devices[p][d], (int)p, (int)d, &list[k++]);
    *out = list;
    *count = total;
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
static void describe_available(const device_table *t, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (cl_uint p = 0; p < t->nplatforms; p++)
        for (cl_uint d = 0; d < t->ndevices[p]; d++) {
            cg_device_info info;
            cg__device_describe(t->platforms[p], t->devices[p][d], (int)p, (int)d, &info);
            int w = snprintf(buf + len, cap - len, "%s %s (%s), ", info.spec, info.name,
                             cg_device_type_string(info.type));
            if (w < 0 || (size_t)w >= cap - len) return;
            len += (size_t)w;
        }
    snprintf(buf + len, cap - len, "ref (the scalar reference path)");
}

/* Picks (p, d) of table t: fills the outputs. */
static cg_status choose(const device_table *t, cl_uint p, cl_uint d, cl_platform_id *platform,
                        cl_device_id *device, cg_device_info *info)
{
    *platform = t->platforms[p];
    *device = t->devices[p][d];
    cg__device_describe(*platform, *device, (int)p, (int)d, info);
    return CG_OK;
}

cg_status cg__device_select(cg_context *ctx, const char *spec, bool *is_ref,
                            cl_platform_id *platform, cl_device_id *device, cg_device_info *info)
{
    if (!spec || !*spec) spec = getenv("CLGRAD_DEVICE");
    *is_ref = false;
    if (spec && !*spec) spec = NULL;
    if (spec && strcasecmp(spec, "ref") == 0) {
        *is_ref = true;
        return CG_OK;
    }
    device_table t;
    device_table_load(&t);

    if (!spec) {
        /* The first GPU, else the first device of any kind, else ref. */
        for (int want_gpu = 1; want_gpu >= 0; want_gpu--)
            for (cl_uint p = 0; p < t.nplatforms; p++)
                for (cl_uint d = 0; d < t.ndevices[p]; d++) {
                    cl_device_type type = 0;
                    cg__clGetDeviceInfo(t.devices[p][d], CL_DEVICE_TYPE, sizeof type, &type, NULL);
                    if (want_gpu && !(type & CL_DEVICE_TYPE_GPU)) continue;
                    return choose(&t, p, d, platform, device, info);
                }
        cg__log("clgrad: no OpenCL device found; running on the scalar reference path");
        *is_ref = true;
        return CG_OK;
    }

    int pi, di;
    if (parse_indices(spec, &pi, &di)) {
        if (pi >= 0 && (cl_uint)pi < t.nplatforms && di >= 0 && (cl_uint)di < t.ndevices[pi])
            return choose(&t, (cl_uint)pi, (cl_uint)di, platform, device, info);
    } else {
        for (cl_uint p = 0; p < t.nplatforms; p++)
            for (cl_uint d = 0; d < t.ndevices[p]; d++) {
                char name[256];
                device_string(t.devices[p][d], CL_DEVICE_NAME, name, sizeof name);
                if (cg__strcasestr_index(name, spec) >= 0)
                    return choose(&t, p, d, platform, device, info);
            }
    }
    char avail[768];
    describe_available(&t, avail, sizeof avail);
    return cg__fail(ctx, CG_ERROR_NO_DEVICE,
                    "cg_context_create: no device matches '%s'; available: %s", spec, avail);
}
