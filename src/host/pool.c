/* The per-context buffer pool (DESIGN.md, Objects and ownership). A freed
 * tensor's buffer goes back to the pool by size class, so the steady state
 * of a training loop allocates nothing; the pool is bounded in bytes, so a
 * loop with changing shapes cannot grow it without limit (issue 7, item 16):
 * past the bound the oldest idle buffers are released. A failed allocation
 * releases every idle buffer and tries once more. The bookkeeping is the
 * same for every backend: device buffers come from the OpenCL backend's half
 * (backend/cl_pool.c), host memory (the reference path's) from here, and
 * the backend's drop frees an idle buffer for good. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Size classes: 8 per doubling above 2 KiB (at most 12.5% unused), multiples
 * of 256 bytes below. A request the device could hold exactly but not
 * rounded up keeps its exact size. */
size_t cg__pool_class(const cg_context *ctx, size_t bytes)
{
    if (bytes == 0) bytes = sizeof(float); /* OpenCL rejects empty buffers */
    size_t c;
    if (bytes <= 2048) {
        c = (bytes + 255) / 256 * 256;
    } else {
        size_t top = (size_t)1 << (sizeof(size_t) * 8 - 1 - (size_t)__builtin_clzl(bytes));
        size_t step = top / 8;
        c = bytes > SIZE_MAX - step ? bytes : (bytes + step - 1) / step * step;
    }
    if (ctx->max_alloc_bytes && c > ctx->max_alloc_bytes && bytes <= ctx->max_alloc_bytes)
        c = bytes;
    return c;
}

static void entry_release(cg_context *ctx, cg__pool_entry *e)
{
    ctx->backend->drop(ctx, e);
}

static void pool_remove(cg_context *ctx, size_t i)
{
    cg__pool *pool = &ctx->pool;
    ctx->stats.bytes_pooled -= pool->free_list[i].bytes;
    memmove(&pool->free_list[i], &pool->free_list[i + 1],
            (pool->count - i - 1) * sizeof *pool->free_list);
    pool->count--;
}

/* Releases the oldest idle buffers until `room` more bytes fit the bound. */
static void pool_trim(cg_context *ctx, size_t room)
{
    cg__pool *pool = &ctx->pool;
    while (pool->count && ctx->stats.bytes_pooled + room > ctx->pool_limit) {
        cg__pool_entry e = pool->free_list[0];
        pool_remove(ctx, 0);
        entry_release(ctx, &e);
        ctx->stats.pool_evictions++;
    }
}

bool cg__pool_take(cg_context *ctx, size_t bytes, cg__pool_entry *out)
{
    cg__pool *pool = &ctx->pool;
    for (size_t i = pool->count; i-- > 0;) { /* the most recent: warm in cache */
        if (pool->free_list[i].bytes != bytes) continue;
        *out = pool->free_list[i];
        pool_remove(ctx, i);
        return true;
    }
    return false;
}

void cg__pool_give(cg_context *ctx, cg__pool_entry entry)
{
    cg__pool *pool = &ctx->pool;
    if (entry.bytes > ctx->pool_limit) {
        entry_release(ctx, &entry);
        ctx->stats.pool_evictions++;
        return;
    }
    pool_trim(ctx, entry.bytes);
    if (pool->count == pool->capacity) {
        size_t cap = pool->capacity ? 2 * pool->capacity : 16;
        cg__pool_entry *list = cg__realloc(pool->free_list, cap * sizeof *list);
        if (!list) { /* keep nothing rather than fail a free */
            entry_release(ctx, &entry);
            return;
        }
        pool->free_list = list;
        pool->capacity = cap;
    }
    pool->free_list[pool->count++] = entry;
    ctx->stats.bytes_pooled += entry.bytes;
}

void cg__pool_release(cg_context *ctx)
{
    for (size_t i = 0; i < ctx->pool.count; i++) entry_release(ctx, &ctx->pool.free_list[i]);
    ctx->stats.pool_evictions += ctx->pool.count;
    free(ctx->pool.free_list);
    memset(&ctx->pool, 0, sizeof ctx->pool);
    ctx->stats.bytes_pooled = 0;
}

/* A request beyond the largest allocation is out of memory, not a driver
 * error (drivers answer CL_INVALID_BUFFER_SIZE). */
bool cg__pool_too_large(cg_context *ctx, size_t bytes, const char *what)
{
    if (!ctx->max_alloc_bytes || bytes <= ctx->max_alloc_bytes) return false;
    cg__fail(ctx, CG_ERROR_NO_MEMORY,
             "%s: %zu bytes at once is more than the device can allocate (%zu bytes)", what, bytes,
             ctx->max_alloc_bytes);
    return true;
}

static float *host_alloc(cg_context *ctx, size_t bytes)
{
    cg__pool_entry e;
    if (cg__pool_take(ctx, bytes, &e)) return e.host;
    float *host = cg__malloc(bytes);
    if (!host && ctx->pool.count) {
        cg__pool_release(ctx);
        host = cg__malloc(bytes);
    }
    return host;
}

float *cg__host_get(cg_context *ctx, size_t bytes, const char *what)
{
    if (ctx->status || cg__pool_too_large(ctx, bytes, what)) return NULL;
    const size_t c = cg__pool_class(ctx, bytes);
    float *host = host_alloc(ctx, c);
    if (!host) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: cannot allocate %zu bytes", what, bytes);
        return NULL;
    }
    ctx->stats.bytes_allocated += c;
    return host;
}

float *cg__host_get_anyway(cg_context *ctx, size_t bytes)
{
    const size_t c = cg__pool_class(ctx, bytes);
    float *host = host_alloc(ctx, c);
    if (host) ctx->stats.bytes_allocated += c;
    return host;
}

void cg__host_put(cg_context *ctx, float *host, size_t bytes)
{
    if (!host) return;
    bytes = cg__pool_class(ctx, bytes);
    ctx->stats.bytes_allocated -= bytes;
    cg__pool_give(ctx, (cg__pool_entry){.bytes = bytes, .host = host});
}

/* "1073741824", "512M", "2G", "64k", "10%" (of the device's memory). */
static bool parse_limit(const char *s, unsigned long long memory, size_t *out)
{
    errno = 0;
    char *end;
    if (!isdigit((unsigned char)*s)) return false;
    double v = strtod(s, &end);
    if (errno || end == s) return false;
    double scale = 1;
    switch (tolower((unsigned char)*end)) {
    case '\0': break;
    case 'k': scale = 1024.0; end++; break;
    case 'm': scale = 1024.0 * 1024; end++; break;
    case 'g': scale = 1024.0 * 1024 * 1024; end++; break;
    case '%':
        if (v > 100) return false;
        scale = (double)memory / 100;
        end++;
        break;
    default: return false;
    }
    if (*end != '\0') return false;
    double bytes = v * scale;
    if (bytes >= (double)SIZE_MAX) return false;
    *out = (size_t)bytes;
    return true;
}

unsigned long long cg__host_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (unsigned long long)pages * (unsigned long long)page : 0;
}

void cg__pool_configure(cg_context *ctx, unsigned long long memory)
{
    if (memory == 0) memory = 1ull << 32;
    ctx->pool_limit = (size_t)(memory / 4);
    const char *env = getenv("CLGRAD_POOL_LIMIT");
    if (env && *env && !parse_limit(env, memory, &ctx->pool_limit))
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_context_create: CLGRAD_POOL_LIMIT must be a byte count (1048576, 512M, 2G) "
                 "or a percentage of device memory (10%%), got '%.64s'",
                 env);
}

cg_status cg_context_set_pool_limit(cg_context *ctx, size_t bytes)
{
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    ctx->pool_limit = bytes;
    pool_trim(ctx, 0);
    return CG_OK;
}

void cg__buffer_orphan(cg_context *ctx, cl_mem mem, float *host, size_t bytes)
{
    if (!mem && !host) return;
    cg__pool *o = &ctx->orphans;
    if (o->count == o->capacity) {
        size_t cap = o->capacity ? 2 * o->capacity : 4;
        cg__pool_entry *list = cg__realloc(o->free_list, cap * sizeof *list);
        if (!list) return; /* lost until the process ends; nothing else is safe */
        o->free_list = list;
        o->capacity = cap;
    }
    o->free_list[o->count++] = (cg__pool_entry){.bytes = cg__pool_class(ctx, bytes), .mem = mem,
                                                .host = host};
}

void cg__orphans_release(cg_context *ctx)
{
    for (size_t i = 0; i < ctx->orphans.count; i++) entry_release(ctx, &ctx->orphans.free_list[i]);
    free(ctx->orphans.free_list);
    memset(&ctx->orphans, 0, sizeof ctx->orphans);
}
