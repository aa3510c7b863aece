/* Losses as compositions of ops, so their backward comes from the ops':
 * mse = reduce((p - y)^2), l1 = reduce(|p - y|), huber = reduce(h(p - y)). */
#include "internal.h"

cg_tensor *cg__huber(cg_tensor *x, float delta);

static cg_tensor *reduce(const char *what, cg_tensor *per_element, cg_reduction reduction)
{
    if (!per_element) return NULL;
    switch (reduction) {
    case CG_REDUCTION_MEAN: return cg_mean(per_element);
    case CG_REDUCTION_SUM: return cg_sum(per_element);
    case CG_REDUCTION_NONE: return per_element;
    }
    cg__fail(per_element->ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown reduction %d", what,
             (int)reduction);
    return NULL;
}

/* The loss's own name in the error when p or y is NULL, not the op it is made
 * of. Prediction and target must have one shape: broadcasting a [n,1]
 * prediction against a [n] target gives [n,n], every prediction against every
 * target, a mean that still looks like a loss and trains nothing useful
 * (PyTorch warns about it; here it is an error). */
static bool args_ok(const char *what, cg_tensor *p, cg_tensor *y)
{
    cg_tensor *ts[2] = {p, y};
    cg_context *ctx = cg__op_context(what, ts, 2);
    if (!ctx) return false;
    if (!cg__shape_equal(p->shape, y->shape)) {
        char ps[64], ys[64];
        cg__shape_format(p->shape, ps, sizeof ps);
        cg__shape_format(y->shape, ys, sizeof ys);
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                 "%s: prediction %s and target %s differ in shape (losses do not broadcast: "
                 "[n,1] against [n] would compare every prediction with every target); "
                 "reshape one to the other's shape, e.g. cg_reshape(p, cg_tensor_shape(y))",
                 what, ps, ys);
        return false;
    }
    return true;
}

cg_tensor *cg_mse_loss(cg_tensor *p, cg_tensor *y, cg_reduction reduction)
{
    if (!args_ok("cg_mse_loss", p, y)) return NULL;
    return reduce("cg_mse_loss", cg_square(cg_sub(p, y)), reduction);
}

cg_tensor *cg_l1_loss(cg_tensor *p, cg_tensor *y, cg_reduction reduction)
{
    if (!args_ok("cg_l1_loss", p, y)) return NULL;
    return reduce("cg_l1_loss", cg_abs(cg_sub(p, y)), reduction);
}

cg_tensor *cg_huber_loss(cg_tensor *p, cg_tensor *y, float delta, cg_reduction reduction)
{
    if (!args_ok("cg_huber_loss", p, y)) return NULL;
    if (!(delta > 0.0f)) {
        cg__fail(p->ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_huber_loss: delta must be positive (got %g)", (double)delta);
        return NULL;
    }
    return reduce("cg_huber_loss", cg__huber(cg_sub(p, y), delta), reduction);
}
