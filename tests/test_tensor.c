/* Tensors: host round trips, fills, shapes, and the buffer pool. */
#include "helpers.h"
#include "fault.h"

Test(tensor, round_trips_awkward_sizes)
{
    cg_context *ctx = test_context();
    test_rng rng = {test_seed() | 1};
    const size_t sizes[] = {1, 2, 11, 255, 256, 257, 4097, 1000003};
    for (size_t s = 0; s < 8; s++) {
        size_t n = sizes[s];
        float *src = malloc(n * sizeof *src), *dst = malloc(n * sizeof *dst);
        for (size_t i = 0; i < n; i++) src[i] = rng_range(&rng, -1e3, 1e3);
        cg_tensor *t = cg_tensor_from(ctx, src, CG_SHAPE(n));
        cr_assert_not_null(t, "%s", cg_error_message(ctx));
        cr_assert_eq(cg_tensor_numel(t), n);
        cr_assert_eq(cg_tensor_read(t, dst, n), CG_OK);
        cr_assert_eq(memcmp(src, dst, n * sizeof *src), 0, "n=%zu", n);
        cg_tensor_free(t);
        free(src);
        free(dst);
    }
    cg_context_free(ctx);
}

Test(tensor, full_and_zeros)
{
    cg_context *ctx = test_context();
    float out[257];
    cg_tensor *t = cg_tensor_full(ctx, CG_SHAPE(257), -2.5f);
    cr_assert_eq(cg_tensor_read(t, out, 257), CG_OK);
    for (int i = 0; i < 257; i++) cr_assert_eq(out[i], -2.5f);
    cg_tensor_free(t);
    /* The same size comes back from the pool dirty; zeros must still be 0. */
    t = cg_tensor_zeros(ctx, CG_SHAPE(257));
    cr_assert_eq(cg_tensor_read(t, out, 257), CG_OK);
    for (int i = 0; i < 257; i++) cr_assert_eq(out[i], 0.0f);
    cg_tensor_free(t);
    cg_context_free(ctx);
}

Test(tensor, shapes_and_counts_are_checked)
{
    cg_context *ctx = test_context();
    cg_tensor *t = cg_tensor_zeros(ctx, CG_SHAPE(2, 3, 4, 5));
    cr_assert_not_null(t);
    cg_shape s = cg_tensor_shape(t);
    cr_assert_eq(s.ndim, 4);
    cr_assert_eq(s.dims[3], 5);
    cr_assert_eq(cg_tensor_numel(t), 120);
    float buf[120];
    cr_assert_eq(cg_tensor_read(t, buf, 119), CG_ERROR_SHAPE_MISMATCH);
    cr_assert(strstr(cg_error_message(ctx), "119") != NULL, "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    cg_tensor_free(t);

    cr_assert_null(cg_tensor_zeros(ctx, (cg_shape){5, {1, 1, 1, 1}}));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
    cg_clear_error(ctx);
    cr_assert_null(cg_tensor_zeros(ctx, CG_SHAPE(3, 0)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
    cr_assert(strstr(cg_error_message(ctx), "dimension 1 is 0") != NULL);
    cg_context_free(ctx);
}

Test(tensor, freed_buffers_are_reused_from_the_pool)
{
    cg_context *ctx = test_context();
    cg_tensor *a = cg_tensor_zeros(ctx, CG_SHAPE(1000));
    cg_context_stats s0 = cg_context_stats_of(ctx);
    cr_assert_eq(s0.bytes_allocated, 4096, "4000 bytes take the 4096-byte class");
    cr_assert_eq(s0.bytes_pooled, 0);
    cg_tensor_free(a);
    cg_context_stats s1 = cg_context_stats_of(ctx);
    cr_assert_eq(s1.bytes_allocated, 0);
    cr_assert_eq(s1.bytes_pooled, 4096);
    /* 100 create/free cycles of sizes in one class hold one buffer, no more. */
    for (int i = 0; i < 100; i++) {
        cg_tensor *t = cg_tensor_zeros(ctx, CG_SHAPE(10, 100 + (size_t)(i % 3)));
        cr_assert_eq(cg_context_stats_of(ctx).bytes_pooled, 0, "cycle %d reused the buffer", i);
        cg_tensor_free(t);
    }
    cr_assert_eq(cg_context_stats_of(ctx).bytes_pooled, 4096);
    cg_context_free(ctx);
}

Test(tensor, pool_is_bounded_when_shapes_keep_changing)
{
    /* Every size distinct: an exact-size pool without a bound grew to 9 GB
     * this way (issue 7, item 16). */
    cg_context *ctx = test_context();
    const size_t limit = 1 << 20;
    cr_assert_eq(cg_context_set_pool_limit(ctx, limit), CG_OK);
    cr_assert_eq(cg_context_stats_of(ctx).pool_limit_bytes, limit);
    for (size_t i = 0; i < 300; i++) {
        cg_tensor *t = cg_tensor_zeros(ctx, CG_SHAPE(1000 + 997 * i));
        cr_assert_not_null(t, "%s", cg_error_message(ctx));
        cg_tensor_free(t);
        cr_assert_leq(cg_context_stats_of(ctx).bytes_pooled, limit, "step %zu", i);
    }
    cg_context_stats s = cg_context_stats_of(ctx);
    cr_assert_gt(s.pool_evictions, 20, "evictions: %llu", s.pool_evictions);
    cr_assert_eq(s.bytes_allocated, 0);
    /* Lowering the bound releases at once; 0 keeps nothing. */
    cr_assert_eq(cg_context_set_pool_limit(ctx, 0), CG_OK);
    cr_assert_eq(cg_context_stats_of(ctx).bytes_pooled, 0);
    cg_tensor_free(cg_tensor_zeros(ctx, CG_SHAPE(10)));
    cr_assert_eq(cg_context_stats_of(ctx).bytes_pooled, 0);
    cg_context_free(ctx);
}

Test(tensor, pool_limit_from_the_environment)
{
    setenv("CLGRAD_POOL_LIMIT", "3M", 1);
    cg_context *ctx = test_context();
    cr_assert_eq(cg_context_stats_of(ctx).pool_limit_bytes, 3u << 20);
    cg_context_free(ctx);
    setenv("CLGRAD_POOL_LIMIT", "100%", 1);
    ctx = test_context();
    cr_assert_gt(cg_context_stats_of(ctx).pool_limit_bytes, 3u << 20);
    cg_context_free(ctx);
    setenv("CLGRAD_POOL_LIMIT", "lots", 1);
    ctx = cg_context_create(NULL);
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "CLGRAD_POOL_LIMIT") != NULL, "%s",
              cg_error_message(ctx));
    cg_context_free(ctx);
    unsetenv("CLGRAD_POOL_LIMIT");
}

/* Makes the next buffer allocation of the pool fail (a device or host out of
 * memory), whatever other calls come first. */
static void fail_next_pool_allocation(void *armed, unsigned long long index, const char *site,
                                      const char *call)
{
    if (*(bool *)armed || !strstr(site, "pool.c")) return;
    if (strcmp(call, "clCreateBuffer") != 0 && strcmp(call, "malloc") != 0) return;
    *(bool *)armed = true;
    cg__fault_arm(index); /* this very call */
}

Test(tensor, failed_allocation_releases_the_pool_and_retries_once)
{
    cg_context *ctx = test_context();
    cg_tensor_free(cg_tensor_zeros(ctx, CG_SHAPE(5000)));
    cr_assert_gt(cg_context_stats_of(ctx).bytes_pooled, 0);
    bool armed = false;
    cg__fault_reset();
    cg__fault_trace(fail_next_pool_allocation, &armed);
    cg_tensor *t = cg_tensor_zeros(ctx, CG_SHAPE(7000));
    cg__fault_trace(NULL, NULL);
    cr_assert(cg__fault_fired());
    cr_assert_not_null(t, "the retry succeeds: %s", cg_error_message(ctx));
    cr_assert_eq(cg_context_stats_of(ctx).bytes_pooled, 0, "the idle buffer was released");
    cg_tensor_free(t);
    /* Nothing idle to release: the failure is reported. */
    cr_assert_eq(cg_context_set_pool_limit(ctx, 0), CG_OK);
    armed = false;
    cg__fault_reset();
    cg__fault_trace(fail_next_pool_allocation, &armed);
    cr_assert_null(cg_tensor_zeros(ctx, CG_SHAPE(7000)));
    cg__fault_trace(NULL, NULL);
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_MEMORY, "%s", cg_error_message(ctx));
    cg__fault_reset();
    cg_context_free(ctx);
}

Test(tensor, write_overwrites)
{
    cg_context *ctx = test_context();
    float a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, out[3];
    cg_tensor *t = cg_tensor_from(ctx, a, CG_SHAPE(3));
    cr_assert_eq(cg_tensor_write(t, b, 3), CG_OK);
    cr_assert_eq(cg_tensor_read(t, out, 3), CG_OK);
    cr_assert_arr_eq(out, b, sizeof b);
    cr_assert_eq(cg_tensor_write(t, b, 4), CG_ERROR_SHAPE_MISMATCH);
    cg_tensor_free(t);
    cg_context_free(ctx);
}
