/* The lecture's autograd training loop, line for line:
 *
 *   def training_loop(n_epochs, learning_rate, params, t_u, t_c):
 *       for epoch in range(1, n_epochs + 1):
 *           if params.grad is not None:
 *               params.grad.zero_()
 *           t_p = model(t_u, *params)
 *           loss = loss_fn(t_p, t_c)
 *           loss.backward()
 *           with torch.no_grad():
 *               params -= learning_rate * params.grad
 *           if epoch % 500 == 0:
 *               print('Epoch %d, Loss %f' % (epoch, float(loss)))
 *       return params
 */
#include <math.h>
#include <stdio.h>

#include <clgrad.h>

static cg_tensor *model(cg_tensor *t_u, cg_tensor *w, cg_tensor *b)
{
    return cg_add(cg_mul(w, t_u), b);
}

static cg_tensor *loss_fn(cg_tensor *t_p, cg_tensor *t_c)
{
    cg_tensor *squared_diffs = cg_pow_scalar(cg_sub(t_p, t_c), 2.0f);
    return cg_mean(squared_diffs);
}

static void training_loop(int n_epochs, float learning_rate, cg_tensor *params, cg_tensor *t_u,
                          cg_tensor *t_c)
{
    cg_context *ctx = cg_tensor_context(params);
    for (int epoch = 1; epoch <= n_epochs; epoch++) {
        if (cg_grad(params)) cg_zero_grad_of(params);
        cg_tensor *t_p = model(t_u, cg_at(params, 0), cg_at(params, 1));
        cg_tensor *loss = loss_fn(t_p, t_c);
        cg_backward(loss);
        cg_no_grad_begin(ctx);
        cg_add_scaled_(params, -learning_rate, cg_grad(params));
        cg_no_grad_end(ctx);
        if (epoch % 500 == 0) printf("Epoch %d, Loss %f\n", epoch, (double)cg_item(loss));
        cg_tape_reset(ctx); /* this iteration's intermediates go back to the pool */
    }
}

int main(void)
{
    const float t_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f, 3.0f, -4.0f, 6.0f, 13.0f, 21.0f};
    const float t_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f, 33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
    float t_un[11];
    for (int i = 0; i < 11; i++) t_un[i] = 0.1f * t_u[i];

    cg_context *ctx = cg_context_create(NULL);
    if (!ctx) return 1;
    cg_tensor *tun = cg_tensor_from(ctx, t_un, CG_SHAPE(11));
    cg_tensor *tc = cg_tensor_from(ctx, t_c, CG_SHAPE(11));
    cg_tensor *params = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(params, true);

    training_loop(5000, 1e-2f, params, tun, tc);

    float p[2] = {0, 0};
    cg_tensor_read(params, p, 2);
    printf("tensor([%8.4f, %8.4f], requires_grad=True)\n", (double)p[0], (double)p[1]);
    /* The lecture's result, or this example fails. */
    int rc = cg_status_of(ctx) == CG_OK && fabsf(p[0] - 5.3671f) < 1e-3f && fabsf(p[1] + 17.3012f) < 1e-3f
                 ? 0
                 : 1;
    if (rc) fprintf(stderr, "clgrad: %s\n", cg_error_message(ctx));
    cg_tensor_free(params);
    cg_tensor_free(tun);
    cg_tensor_free(tc);
    cg_context_free(ctx);
    return rc;
}
