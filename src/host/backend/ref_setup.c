/* The reference backend's setup: its one device is the host, its storage
 * host memory from the context's pool (pool.c), and nothing is ever queued.
 * The twin of cl_device.c and cl_pool.c. */
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

bool cg__ref_device(size_t i, cg_device_info *info)
{
    if (i != 0) return false;
    memset(info, 0, sizeof *info);
    info->platform_index = -1;
    info->device_index = -1;
    strcpy(info->spec, "ref");
    strcpy(info->name, "reference (scalar C)");
    strcpy(info->platform, "clgrad");
    strcpy(info->vendor, "clgrad");
    strcpy(info->version, CG_VERSION_STRING);
    info->type = CG_DEVICE_REF;
    info->compute_units = 1;
    info->max_work_group_size = 1;
    return true;
}

cg_status cg__ref_open(cg_context *ctx, size_t i)
{
    cg__ref_device(i, &ctx->info);
    /* What an overcommitting malloc might promise beyond it is no help. */
    ctx->max_alloc_bytes = (size_t)cg__host_memory_bytes();
    cg__pool_configure(ctx, cg__host_memory_bytes());
    return CG_OK;
}

/* finish, close and drain: nothing is ever queued or opened. */
void cg__ref_nothing(cg_context *ctx) { (void)ctx; }

cg_status cg__ref_alloc(cg_context *ctx, cg__storage *s, const char *what)
{
    s->host = cg__host_get(ctx, s->bytes, what);
    return s->host ? CG_OK : ctx->status;
}

void cg__ref_release(cg_context *ctx, cg__storage *s)
{
    if (!s->borrowed) cg__host_put(ctx, s->host, s->bytes); /* borrowed: the arena's */
}

void cg__ref_drop(cg_context *ctx, cg__pool_entry *e)
{
    (void)ctx;
    free(e->host);
}
