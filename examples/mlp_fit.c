/* An MLP fitting a non-linear function on the device: y = sin(3x) + noise,
 * 1-32-32-1 with tanh, Adam, full batch. The loss falls from around 0.5 to
 * under 0.01. */
#include <math.h>
#include <stdio.h>

#include <clgrad.h>

#define N 256

int main(void)
{
    float x[N], y[N];
    unsigned s = 7;
    for (int i = 0; i < N; i++) {
        x[i] = -1.0f + 2.0f * (float)i / (N - 1);
        s = s * 1103515245u + 12345u;
        float noise = ((float)((s >> 8) & 0xffff) / 65535.0f - 0.5f) * 0.05f;
        y[i] = sinf(3.0f * x[i]) + noise;
    }
    cg_context *ctx = cg_context_create(NULL);
    if (!ctx) return 1;
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(N, 1));
    cg_tensor *ty = cg_tensor_from(ctx, y, CG_SHAPE(N, 1));
    const size_t sizes[] = {1, 32, 32, 1};
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, CG_ACT_TANH, 42);
    cg_tensor *params[6];
    size_t np = cg_mlp_parameters(mlp, params, 6);
    cg_optim_options adam = cg_optim_defaults(CG_OPTIM_ADAM); /* torch.optim.Adam's */
    adam.lr = 1e-2f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_ADAM, params, np, &adam);
    printf("MLP 1-32-32-1 (tanh), %zu parameters, on %s\n", cg_mlp_parameter_count(mlp),
           cg_context_device(ctx)->name);
    float first = NAN, last = NAN;
    for (int epoch = 1; epoch <= 2000; epoch++) {
        cg_tensor *loss = cg_mse_loss(cg_mlp_forward(mlp, tx), ty, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        if (epoch == 1 || epoch % 250 == 0) {
            last = cg_item(loss);
            if (epoch == 1) first = last;
            printf("Epoch %d, Loss %f\n", epoch, (double)last);
        }
        cg_tape_reset(ctx);
    }
    int rc = cg_status_of(ctx) == CG_OK && last < 0.01f && first > 0.1f ? 0 : 1;
    if (cg_status_of(ctx) != CG_OK) fprintf(stderr, "clgrad: %s\n", cg_error_message(ctx));
    cg_optimizer_free(opt);
    cg_mlp_free(mlp);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
    return rc;
}
