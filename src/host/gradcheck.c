/* gradcheck: every backward rule against central differences of its forward
 * (the lecture's delta method), element by element. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* L = sum(fn(inputs) * r) for the fixed projection r; NaN on error. */
static float projected(cg_context *ctx, cg_gradcheck_fn fn, void *user, cg_tensor *const *inputs,
                       size_t count, cg_tensor **r, bool keep_graph, cg_tensor **loss)
{
    cg_tensor *out = fn(user, inputs, count);
    if (!out) {
        if (!ctx->status)
            cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_gradcheck: the function returned NULL");
        return NAN;
    }
    if (!*r) /* positive weights, away from 0: no element's gradient vanishes */
        *r = cg_rand_uniform(ctx, out->shape, 0.5f, 1.5f, 0x5eedULL, 0);
    cg_tensor *l = cg_sum(cg_mul(out, *r));
    if (keep_graph) *loss = l;
    return cg_item(l);
}

static cg_status set_element(cg_tensor *t, size_t j, float v)
{
    cg_context *ctx = t->ctx;
    if (!t->plain)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                        "cg_gradcheck: input is a view that is not contiguous");
    return ctx->backend->write(ctx, t->storage, j * sizeof(float), sizeof v, &v, "cg_gradcheck");
}

cg_status cg_gradcheck(cg_context *ctx, cg_gradcheck_fn fn, void *user, cg_tensor *const *inputs,
                       size_t count, float eps, float atol, float rtol,
                       cg_gradcheck_report *report)
{
    static const char what[] = "cg_gradcheck";
    cg_gradcheck_report rep = {0};
    if (report) *report = rep;
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (cg__realize(ctx)) return ctx->status; /* it writes the inputs in place */
    if (!fn || !inputs) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: NULL argument", what);
    if (!(eps > 0.0f)) return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: eps must be positive", what);
    for (size_t i = 0; i < count; i++)
        if (!inputs[i])
            return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: input %zu is NULL", what, i);
    for (size_t i = 0; i < count; i++)
        if (!inputs[i]->requires_grad || inputs[i]->tape_owned)
            return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                            "%s: input %zu must be a leaf that requires grad", what, i);
    cg_tensor *r = NULL, *loss = NULL;
    cg_tape_reset(ctx);
    for (size_t i = 0; i < count; i++) cg_zero_grad_of(inputs[i]);
    projected(ctx, fn, user, inputs, count, &r, true, &loss);
    if (!ctx->status) cg_backward(loss);
    cg_tape_reset(ctx);

    for (size_t i = 0; i < count && !ctx->status; i++) {
        cg_tensor *x = inputs[i];
        size_t n = x->numel;
        float *values = cg__malloc(n * sizeof *values), *analytic = cg__malloc(n * sizeof *analytic);
        if (!values || !analytic) {
            free(values);
            free(analytic);
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
            break;
        }
        cg_tensor_read(x, values, n);
        if (x->grad)
            cg_tensor_read(x->grad, analytic, n);
        else
            for (size_t j = 0; j < n; j++) analytic[j] = 0.0f;
        for (size_t j = 0; j < n && !ctx->status; j++) {
            cg_no_grad_begin(ctx);
            set_element(x, j, values[j] + eps);
            float plus = projected(ctx, fn, user, inputs, count, &r, false, NULL);
            cg_tape_reset(ctx);
            set_element(x, j, values[j] - eps);
            float minus = projected(ctx, fn, user, inputs, count, &r, false, NULL);
            cg_tape_reset(ctx);
            set_element(x, j, values[j]);
            cg_no_grad_end(ctx);
            double numeric = ((double)plus - (double)minus) / (2.0 * (double)eps);
            double err = fabs((double)analytic[j] - numeric);
            rep.checked++;
            bool ok = err <= atol + rtol * fabs(numeric);
            if (!ok) rep.failures++;
            if (err > rep.max_abs_error || (!ok && rep.failures == 1)) {
                rep.max_abs_error = err;
                rep.worst_input = i;
                rep.worst_element = j;
                rep.worst_analytic = analytic[j];
                rep.worst_numeric = numeric;
            }
        }
        free(values);
        free(analytic);
    }
    cg_tensor_free(r);
    for (size_t i = 0; i < count; i++) cg_zero_grad_of(inputs[i]);
    if (report) *report = rep;
    if (ctx->status) return ctx->status;
    if (rep.failures)
        return cg__fail(ctx, CG_ERROR_INVALID_DATA,
                        "%s: %zu of %zu gradient elements differ; worst: input %zu element %zu, "
                        "backward %.7g vs central difference %.7g",
                        what, rep.failures, rep.checked, rep.worst_input, rep.worst_element,
                        rep.worst_analytic, rep.worst_numeric);
    return CG_OK;
}
