#define _GNU_SOURCE
/* Contexts: device selection, the sticky error, statuses, and the on-disk
 * program cache that lets a second process skip the compiler. */
#include <dirent.h>
#include <strings.h>

#include "helpers.h"

Test(context, default_context_is_usable)
{
    cg_context *ctx = test_context();
    const cg_device_info *d = cg_context_device(ctx);
    cr_assert_not_null(d);
    cr_assert_gt(strlen(d->name), 0);
    const char *env = getenv("CLGRAD_DEVICE");
    if (env && strcasecmp(env, "ref") == 0) {
        cr_assert(cg_context_is_ref(ctx));
        cr_assert_eq(d->type, CG_DEVICE_REF);
    }
    cr_assert_str_empty(cg_error_message(ctx));
    cr_assert_eq(cg_finish(ctx), CG_OK);
    cg_context_free(ctx);
}

Test(context, ref_spec_is_case_insensitive)
{
    cg_context *ctx = cg_context_create("REF");
    cr_assert_eq(cg_status(ctx), CG_OK);
    cr_assert(cg_context_is_ref(ctx));
    cr_assert_str_eq(cg_context_device(ctx)->spec, "ref");
    cg_context_free(ctx);
}

Test(context, unknown_device_lists_what_exists)
{
    cg_context *ctx = cg_context_create("no-such-device-xyz");
    cr_assert_not_null(ctx);
    cr_assert_eq(cg_status(ctx), CG_ERROR_NO_DEVICE);
    const char *msg = cg_error_message(ctx);
    cr_assert(strstr(msg, "no-such-device-xyz") != NULL, "%s", msg);
    cr_assert(strstr(msg, "ref") != NULL, "the message lists the reference path: %s", msg);
    /* A context in error makes nothing. */
    float one = 1.0f;
    cr_assert_null(cg_tensor_from(ctx, &one, CG_SHAPE(1)));
    cr_assert_eq(cg_status(ctx), CG_ERROR_NO_DEVICE);
    cg_context_free(ctx);

    ctx = cg_context_create("99:99");
    cr_assert_eq(cg_status(ctx), CG_ERROR_NO_DEVICE);
    cg_context_free(ctx);
}

Test(context, devices_are_selectable_by_index_and_name)
{
    cg_device_info *list;
    size_t count;
    cr_assert_eq(cg_device_list(&list, &count), CG_OK);
    for (size_t i = 0; i < count; i++) {
        cg_context *a = cg_context_create(list[i].spec);
        cr_assert_eq(cg_status(a), CG_OK, "%s: %s", list[i].spec, cg_error_message(a));
        cr_assert_str_eq(cg_context_device(a)->name, list[i].name);
        cr_assert_gt(cg_context_device(a)->compute_units, 0);
        /* A lower-cased piece of the name selects the same kind of device. */
        char piece[8] = {0};
        for (int k = 0; k < 6 && list[i].name[k]; k++)
            piece[k] = (char)((list[i].name[k] >= 'A' && list[i].name[k] <= 'Z')
                                  ? list[i].name[k] + 32
                                  : list[i].name[k]);
        cg_context *b = cg_context_create(piece);
        cr_assert_eq(cg_status(b), CG_OK, "'%s': %s", piece, cg_error_message(b));
        cr_assert(strncasecmp(cg_context_device(b)->name, piece, strlen(piece)) == 0 ||
                  strcasestr(cg_context_device(b)->name, piece) != NULL);
        cg_context_free(a);
        cg_context_free(b);
    }
    cg_device_list_free(list);
}

Test(context, statuses_have_distinct_strings)
{
    for (int a = CG_OK; a <= CG_ERROR_CONTEXT_MISMATCH; a++) {
        const char *sa = cg_status_string((cg_status)a);
        cr_assert_gt(strlen(sa), 0);
        cr_assert(strcmp(sa, "unknown status") != 0, "status %d", a);
        for (int b = a + 1; b <= CG_ERROR_CONTEXT_MISMATCH; b++)
            cr_assert(strcmp(sa, cg_status_string((cg_status)b)) != 0, "%d and %d", a, b);
    }
    cr_assert_str_eq(cg_status_string((cg_status)999), "unknown status");
}

Test(context, first_error_is_kept_until_cleared)
{
    cg_context *ctx = test_context();
    float v = 1.0f;
    cr_assert_null(cg_tensor_from(ctx, NULL, CG_SHAPE(1)));
    cr_assert_eq(cg_status(ctx), CG_ERROR_NULL_POINTER);
    cr_assert_null(cg_tensor_from(ctx, &v, (cg_shape){0, {0}}));
    cr_assert_eq(cg_status(ctx), CG_ERROR_NULL_POINTER, "the first error stays");
    cr_assert(strstr(cg_error_message(ctx), "cg_tensor_from") != NULL);
    cg_clear_error(ctx);
    cg_tensor *t = cg_tensor_from(ctx, &v, CG_SHAPE(1));
    cr_assert_not_null(t);
    cg_tensor_free(t);
    cg_context_free(ctx);
}

static size_t count_bins(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin")) n++;
    closedir(d);
    return n;
}

Test(context, second_context_loads_programs_from_the_disk_cache)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    float x[3] = {1, 2, 3}, y[3] = {2, 4, 6}, p[2] = {1, 0}, loss;
    cg_context_stats stats[2];
    for (int round = 0; round < 2; round++) {
        cg_context *ctx = test_context();
        cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(3)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(3));
        cg_linreg *m = cg_linreg_create(ctx, tx, ty);
        cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK,
                     "%s", cg_error_message(ctx));
        assert_close(loss, (1.0 + 4.0 + 9.0) / 3.0, 0, 1e-6, "loss %f", loss);
        stats[round] = cg_context_get_stats(ctx);
        cg_linreg_free(m);
        cg_tensor_free(tx);
        cg_tensor_free(ty);
        bool ref = cg_context_is_ref(ctx);
        cg_context_free(ctx);
        if (ref) {
            cr_assert_eq(stats[round].programs_compiled + stats[round].programs_from_cache, 0);
            cr_assert_eq(count_bins(dir), 0);
            return;
        }
    }
    cr_assert_eq(stats[0].programs_compiled, 1);
    cr_assert_eq(stats[0].programs_from_cache, 0);
    cr_assert_eq(count_bins(dir), 1);
    cr_assert_eq(stats[1].programs_compiled, 0, "the second context compiled again");
    cr_assert_eq(stats[1].programs_from_cache, 1);
    cr_assert_geq(stats[1].kernel_launches, 2);
}

Test(context, corrupt_cache_entry_is_rebuilt)
{
    char dir[64], path[400];
    temp_dir(dir, sizeof dir);
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    cg_context *ctx = test_context();
    if (cg_context_is_ref(ctx)) {
        cg_context_free(ctx);
        return;
    }
    float x[1] = {2}, y[1] = {1}, p[2] = {1, 0}, loss;
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(1)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(1));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK);
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
    /* Overwrite the one cached binary with garbage. */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin")) snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    closedir(d);
    write_file(path, "not a binary");
    ctx = test_context();
    tx = cg_tensor_from(ctx, x, CG_SHAPE(1));
    ty = cg_tensor_from(ctx, y, CG_SHAPE(1));
    m = cg_linreg_create(ctx, tx, ty);
    cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK,
                 "%s", cg_error_message(ctx));
    assert_close(loss, 1.0, 0, 1e-6, "loss");
    cr_assert_eq(cg_context_get_stats(ctx).programs_compiled, 1);
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
}
