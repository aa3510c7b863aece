/* The on-disk program binary cache (DESIGN.md, Programs). An entry is one
 * file named by a hash of its key:
 *
 *   magic "CLGRADPB" | format u32 | key length u32 | binary length u64 |
 *   FNV-1a 64 checksum of the binary u64 | key text | binary
 *
 * (integers little-endian). The key text names the device, platform, device
 * and driver versions, build options and a hash of the source. A file that
 * is short, long, foreign, built for another key, or whose checksum fails is
 * deleted before the driver ever sees it: PoCL aborts or crashes on a
 * truncated binary. One the driver still rejects is deleted too, and the
 * program is built from source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"

#define MAGIC "CLGRADPB"
#define FORMAT 1u
#define HEADER_BYTES (8 + 4 + 4 + 8 + 8)
/* Longest path the cache accepts; longer is an error, never a cut. */
#define PATH_CAP 4096

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

#define FNV_BASIS 14695981039346656037ull

static void put_le(unsigned char *dst, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) dst[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *src, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes; i-- > 0;) v = (v << 8) | src[i];
    return v;
}

/* The cache directory: CLGRAD_CACHE_DIR, else XDG's, else ~/.cache/clgrad.
 * Returns 0 with dir "" when none applies, -1 (error on ctx) when the name
 * is too long. */
static int cache_dir(cg_context *ctx, char *dir, size_t cap)
{
    const char *env = getenv("CLGRAD_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (env && *env)
        n = snprintf(dir, cap, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(dir, cap, "%s/clgrad", xdg);
    else if (home && *home)
        n = snprintf(dir, cap, "%s/.cache/clgrad", home);
    else {
        dir[0] = '\0';
        return 0;
    }
    if (n < 0 || (size_t)n >= cap) {
        dir[0] = '\0';
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "clgrad: the kernel cache directory (CLGRAD_CACHE_DIR, XDG_CACHE_HOME or HOME) "
                 "is longer than %zu bytes",
                 cap - 1);
        return -1;
    }
    /* mkdir -p: each prefix in turn; failures surface when the file is opened. */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    mkdir(dir, 0755);
    return 0;
}

cg_status cg__cache_entry_init(cg_context *ctx, const char *options, const char *const *srcs,
                               size_t nsrc, cg__cache_entry *e)
{
    memset(e, 0, sizeof *e);
    uint64_t source_hash = FNV_BASIS;
    for (size_t i = 0; i < nsrc; i++) source_hash = fnv1a(source_hash, srcs[i], strlen(srcs[i]) + 1);
    const cg_device_info *d = &ctx->info;
    int n = snprintf(NULL, 0, "%s\n%s\n%s\n%s\n%s\n%016llx", d->name, d->platform, d->version,
                     d->driver_version, options, (unsigned long long)source_hash);
    e->key = cg__malloc((size_t)n + 1);
    char *dir = cg__malloc(PATH_CAP);
    if (!e->key || !dir) {
        free(dir);
        cg__cache_entry_free(e);
        return cg__fail(ctx, CG_ERROR_NO_MEMORY, "clgrad: out of memory for a program cache key");
    }
    snprintf(e->key, (size_t)n + 1, "%s\n%s\n%s\n%s\n%s\n%016llx", d->name, d->platform,
             d->version, d->driver_version, options, (unsigned long long)source_hash);
    e->key_len = (size_t)n;
    /* 22 = "/" + 16 hex digits + ".bin" + NUL. */
    if (cache_dir(ctx, dir, PATH_CAP - 22) != 0) {
        free(dir);
        cg__cache_entry_free(e);
        return ctx->status;
    }
    if (dir[0]) {
        size_t len = strlen(dir);
        snprintf(dir + len, PATH_CAP - len, "/%016llx.bin",
                 (unsigned long long)fnv1a(FNV_BASIS, e->key, e->key_len));
        e->path = dir;
    } else {
        free(dir);
    }
    return CG_OK;
}

void cg__cache_entry_free(cg__cache_entry *e)
{
    free(e->key);
    free(e->path);
    memset(e, 0, sizeof *e);
}

void cg__cache_forget(const cg__cache_entry *e)
{
    if (e->path) remove(e->path);
}

/* Reads and checks the entry's file: the binary (malloc'd) or NULL. */
static unsigned char *read_checked(const cg__cache_entry *e, size_t *bin_len, bool *bad)
{
    *bad = false;
    FILE *f = fopen(e->path, "rb");
    if (!f) return NULL;
    unsigned char header[HEADER_BYTES], *bin = NULL, *key = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        fread(header, 1, sizeof header, f) != sizeof header)
        goto bad;
    uint64_t key_len = get_le(header + 12, 4), len = get_le(header + 16, 8);
    if (memcmp(header, MAGIC, 8) != 0 || get_le(header + 8, 4) != FORMAT ||
        key_len != e->key_len || len == 0 ||
        (uint64_t)st.st_size != HEADER_BYTES + key_len + len)
        goto bad;
    key = cg__malloc(key_len + 1);
    bin = cg__malloc(len);
    if (!key || !bin) goto fail; /* no memory says nothing about the file */
    if (fread(key, 1, key_len, f) != key_len || memcmp(key, e->key, key_len) != 0 ||
        fread(bin, 1, len, f) != len || fnv1a(FNV_BASIS, bin, len) != get_le(header + 24, 8))
        goto bad;
    free(key);
    fclose(f);
    *bin_len = (size_t)len;
    return bin;
bad:
    *bad = true;
fail:
    free(key);
    free(bin);
    fclose(f);
    return NULL;
}

static bool resource_error(cl_int err)
{
    return err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
           err == CL_MEM_OBJECT_ALLOCATION_FAILURE;
}

cl_program cg__cache_load(cg_context *ctx, const cg__cache_entry *e, const char *options)
{
    if (!e->path) return NULL;
    size_t len = 0;
    bool bad;
    unsigned char *bin = read_checked(e, &len, &bad);
    if (!bin) {
        if (bad) cg__cache_forget(e);
        return NULL;
    }
    cl_int status = CL_SUCCESS, err = CL_SUCCESS;
    const unsigned char *bins[1] = {bin};
    cl_program program =
        cg__clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &len, bins, &status, &err);
    free(bin);
    if (program && err == CL_SUCCESS && status == CL_SUCCESS)
        err = cg__clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (program && err == CL_SUCCESS && status == CL_SUCCESS) return program;
    if (program) cg__clReleaseProgram(program);
    /* A binary the driver rejects is never tried again; a driver short of
     * memory says nothing about the file. Either way, build from source. */
    if (!resource_error(err) && !resource_error(status)) cg__cache_forget(e);
    return NULL;
}

void cg__cache_store(cg_context *ctx, const cg__cache_entry *e, cl_program program)
{
    (void)ctx;
    if (!e->path) return;
    size_t size = 0;
    if (cg__clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = cg__malloc(size);
    size_t tmp_len = strlen(e->path) + 8;
    char *tmp = cg__malloc(tmp_len);
    unsigned char *bins[1] = {bin};
    if (!bin || !tmp ||
        cg__clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS)
        goto done;
    unsigned char header[HEADER_BYTES];
    memcpy(header, MAGIC, 8);
    put_le(header + 8, FORMAT, 4);
    put_le(header + 12, e->key_len, 4);
    put_le(header + 16, size, 8);
    put_le(header + 24, fnv1a(FNV_BASIS, bin, size), 8);
    /* A unique temporary file, then rename: a concurrent reader (another
     * process, or another context of this one) never sees half a file. */
    snprintf(tmp, tmp_len, "%s.XXXXXX", e->path);
    int fd = mkstemp(tmp);
    if (fd < 0) goto done;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        remove(tmp);
        goto done;
    }
    bool ok = fwrite(header, 1, sizeof header, f) == sizeof header &&
              fwrite(e->key, 1, e->key_len, f) == e->key_len && fwrite(bin, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || chmod(tmp, 0644) != 0 || rename(tmp, e->path) != 0) remove(tmp);
done:
    free(tmp);
    free(bin);
}
