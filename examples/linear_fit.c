/* The lecture's fit through the C API: upload once, train on the device,
 * read back the parameters. Build: cc linear_fit.c $(pkg-config --cflags --libs clgrad) */
#include <stdio.h>

#include <clgrad.h>

static void print_epoch(void *user, const cg_epoch_log *log)
{
    (void)user;
    printf("Epoch %ld, Loss %f\n", log->epoch, (double)log->loss);
}

int main(void)
{
    const float t_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f, 33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
    const float t_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f, 3.0f, -4.0f, 6.0f, 13.0f, 21.0f};

    cg_context *ctx = cg_context_create(NULL); /* CLGRAD_DEVICE, else the default */
    if (!ctx) return 1;
    cg_tensor *x = cg_tensor_from(ctx, t_u, CG_SHAPE(11));
    cg_tensor *y = cg_tensor_from(ctx, t_c, CG_SHAPE(11));
    cg_linreg *model = cg_linreg_create(ctx, x, y);
    const float scale = 0.1f; /* t_un = 0.1 * t_u, applied on the device */
    cg_linreg_set_transform(model, NULL, &scale);

    cg_fit_options opt = cg_fit_defaults(); /* sgd, lr 1e-2, 5000 epochs, mse */
    opt.on_epoch = print_epoch;
    cg_fit_result result;
    if (cg_linreg_fit(model, &opt, &result) == CG_OK)
        printf("params: w = %.4f, b = %.4f on %s\n", (double)result.params[0],
               (double)result.params[1], cg_context_device(ctx)->name);

    cg_status status = cg_status_of(ctx); /* one check for the whole chain */
    if (status == CG_OK && (result.params[0] < 5.36f || result.params[0] > 5.375f)) status = CG_ERROR_INVALID_DATA;
    if (status != CG_OK) fprintf(stderr, "clgrad: %s\n", cg_error_message(ctx));
    cg_fit_result_free(&result);
    cg_linreg_free(model);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_context_free(ctx);
    return status == CG_OK ? 0 : 1;
}
