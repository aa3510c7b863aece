/* clgrad fit through the autograd tape: the linear model built from ops
 * (--grad autograd, or wider than the fused kernels), MLPs (--model mlp:...),
 * and whatever needs a step of its own (minibatches, lbfgs, a schedule,
 * clipping). The loop is the library's (cg_fit); this builds the model. */
#include <stdlib.h>

#include "cli_fit_args.h"
#include "cli_tape.h"

/* The lecture's log lines; an MLP's parameters would fill the screen, so
 * its lines show the loss alone (cg_fit reads them only when asked). */
static void log_epoch(void *user, const cg_epoch_log *log)
{
    cli_log_style style = *(const cli_log_style *)user;
    if (!log->nparams) style.params = style.grad = false;
    cli_print_epoch(&style, log);
}

int cli_fit_tape(cg_context *ctx, tape_fit *t, cg_fit_result *r)
{
    const size_t n = t->n, F = t->F;
    cg_mlp *mlp = NULL;
    cg_tensor *X, *Y, *params = NULL;
    cg_fit_model model = {0};
    float *init = NULL;

    /* An MLP takes X [n, F] and y [n, 1]; the linear model X [n] or [n, F], y [n]. */
    X = cg_tensor_from(ctx, t->x, (F == 1 && !t->mlp) ? CG_SHAPE(n) : CG_SHAPE(n, F));
    Y = cg_tensor_from(ctx, t->y, t->mlp ? CG_SHAPE(n, 1) : CG_SHAPE(n));
    if (t->mlp) {
        size_t sizes[CLI_MAX_HIDDEN + 2];
        sizes[0] = F;
        for (size_t i = 0; i < t->nhidden; i++) sizes[1 + i] = t->hidden[i];
        sizes[1 + t->nhidden] = 1;
        mlp = cg_mlp_create(ctx, sizes, t->nhidden + 2, t->activation, t->seed);
        model = cg_fit_model_mlp(mlp);
    } else if ((init = malloc((F + 1) * sizeof *init))) {
        for (size_t k = 0; k <= F; k++) init[k] = t->init ? t->init[k] : (k < F ? 1.0f : 0.0f);
        params = cg_tensor_from(ctx, init, CG_SHAPE(F + 1));
        cg_set_requires_grad(params, true);
        model = cg_fit_model_linreg(params);
    }
    int rc = -2;
    if (!t->mlp && !init) {
        cli_say(stderr, "clgrad fit", "out of memory");
        rc = CLI_RUNTIME;
    } else {
        cg_fit_options o = t->opt;
        o.init = NULL; /* the model's tensors hold it */
        /* The tape's gradients are autograd's, whatever --grad said: the flags
         * that bring a run here (a schedule, clipping, lbfgs) take it along. */
        o.grad = CG_GRAD_ANALYTIC;
        o.on_epoch = t->log ? log_epoch : NULL;
        o.user = t->log;
        o.log_params = t->log && !t->mlp && (t->log->params || t->log->grad);
        o.seed = t->seed;
        if (cg_fit(&model, X, Y, &o, r) == CG_OK) rc = -1;
    }
    free(init);
    cg_mlp_free(mlp);
    cg_tensor_free(params);
    cg_tensor_free(X);
    cg_tensor_free(Y);
    return rc;
}
