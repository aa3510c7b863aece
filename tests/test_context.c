#define _GNU_SOURCE
/* Contexts: device selection, the sticky error, statuses, kernel shapes.
 * The program cache has its own file (test_program_cache.c). */
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
    cr_assert_eq(cg_status_of(ctx), CG_OK);
    cr_assert(cg_context_is_ref(ctx));
    cr_assert_str_eq(cg_context_device(ctx)->spec, "ref");
    cg_context_free(ctx);
}

Test(context, unknown_device_lists_what_exists)
{
    cg_context *ctx = cg_context_create("no-such-device-xyz");
    cr_assert_not_null(ctx);
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_DEVICE);
    const char *msg = cg_error_message(ctx);
    cr_assert(strstr(msg, "no-such-device-xyz") != NULL, "%s", msg);
    cr_assert(strstr(msg, "ref") != NULL, "the message lists the reference path: %s", msg);
    /* A context in error makes nothing. */
    float one = 1.0f;
    cr_assert_null(cg_tensor_from(ctx, &one, CG_SHAPE(1)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_DEVICE);
    cg_context_free(ctx);

    ctx = cg_context_create("99:99");
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_DEVICE);
    cg_context_free(ctx);
}

Test(context, devices_are_selectable_by_index_and_name)
{
    cg_device_info *list;
    size_t count;
    cr_assert_eq(cg_device_list(&list, &count), CG_OK);
    for (size_t i = 0; i < count; i++) {
        cg_context *a = cg_context_create(list[i].spec);
        cr_assert_eq(cg_status_of(a), CG_OK, "%s: %s", list[i].spec, cg_error_message(a));
        cr_assert_str_eq(cg_context_device(a)->name, list[i].name);
        cr_assert_gt(cg_context_device(a)->compute_units, 0);
        /* A lower-cased piece of the name selects the same kind of device. */
        char piece[8] = {0};
        for (int k = 0; k < 6 && list[i].name[k]; k++)
            piece[k] = (char)((list[i].name[k] >= 'A' && list[i].name[k] <= 'Z')
                                  ? list[i].name[k] + 32
                                  : list[i].name[k]);
        cg_context *b = cg_context_create(piece);
        cr_assert_eq(cg_status_of(b), CG_OK, "'%s': %s", piece, cg_error_message(b));
        cr_assert(strncasecmp(cg_context_device(b)->name, piece, strlen(piece)) == 0 ||
                  strcasestr(cg_context_device(b)->name, piece) != NULL);
        cg_context_free(a);
        cg_context_free(b);
    }
    cg_device_list_free(list);
}

/* cg_status is only a type: a function-like macro of that name (there was
 * one, for cg_status_of) breaks declarations such as these at compile time. */
typedef cg_status (*status_fn)(const cg_context *);
typedef cg_status (*action_fn)(void);

static cg_status always_unsupported(void) { return CG_ERROR_UNSUPPORTED; }

Test(context, the_status_type_declares_function_pointers)
{
    status_fn query = cg_status_of;
    action_fn action = always_unsupported;
    cg_context *ctx = cg_context_create("ref");
    cr_assert_eq(query(ctx), CG_OK);
    cr_assert_eq(query(NULL), CG_ERROR_NULL_POINTER);
    cr_assert_eq(action(), CG_ERROR_UNSUPPORTED);
    cg_context_free(ctx);
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
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NULL_POINTER);
    cr_assert_null(cg_tensor_from(ctx, &v, (cg_shape){0, {0}}));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NULL_POINTER, "the first error stays");
    cr_assert(strstr(cg_error_message(ctx), "cg_tensor_from") != NULL);
    cg_clear_error(ctx);
    cg_tensor *t = cg_tensor_from(ctx, &v, CG_SHAPE(1));
    cr_assert_not_null(t);
    cg_tensor_free(t);
    cg_context_free(ctx);
}

Test(context, device_index_out_of_int_range_is_not_device_0)
{
    /* 4294967296 narrowed through int is 0: it must match nothing instead. */
    cg_context *ctx = cg_context_create("4294967296:0");
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_DEVICE, "%s", cg_error_message(ctx));
    cg_context_free(ctx);
    ctx = cg_context_create("0:4294967296");
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_DEVICE, "%s", cg_error_message(ctx));
    cg_context_free(ctx);
}

Test(context, kernel_shape_follows_the_environment_and_the_api)
{
    const char *saved = getenv("CLGRAD_KERNEL_SHAPE");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("CLGRAD_KERNEL_SHAPE", "gpu", 1);
    cg_context *ctx = test_context();
    bool ref = cg_context_is_ref(ctx);
    cr_assert_eq(cg_context_kernel_shape(ctx), ref ? CG_KERNEL_SHAPE_CPU : CG_KERNEL_SHAPE_GPU);
    cr_assert_eq(cg_context_set_kernel_shape(ctx, CG_KERNEL_SHAPE_CPU), CG_OK);
    cr_assert_eq(cg_context_kernel_shape(ctx), CG_KERNEL_SHAPE_CPU);
    cr_assert_eq(cg_context_set_kernel_shape(ctx, CG_KERNEL_SHAPE_AUTO), CG_OK);
    bool gpu = cg_context_device(ctx)->type == CG_DEVICE_GPU;
    cr_assert_eq(cg_context_kernel_shape(ctx), gpu ? CG_KERNEL_SHAPE_GPU : CG_KERNEL_SHAPE_CPU);
    cr_assert_eq(cg_context_set_kernel_shape(ctx, (cg_kernel_shape)7), CG_ERROR_INVALID_ARGUMENT);
    cg_context_free(ctx);

    setenv("CLGRAD_KERNEL_SHAPE", "cpu", 1);
    ctx = test_context();
    cr_assert_eq(cg_context_kernel_shape(ctx), CG_KERNEL_SHAPE_CPU);
    cg_context_free(ctx);

    if (!ref) { /* the reference path has no kernels to shape */
        setenv("CLGRAD_KERNEL_SHAPE", "tpu", 1);
        ctx = cg_context_create(NULL);
        cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
        cr_assert(strstr(cg_error_message(ctx), "CLGRAD_KERNEL_SHAPE") != NULL, "%s",
                  cg_error_message(ctx));
        cg_context_free(ctx);
    }
    if (keep) setenv("CLGRAD_KERNEL_SHAPE", keep, 1);
    else unsetenv("CLGRAD_KERNEL_SHAPE");
    free(keep);
}
