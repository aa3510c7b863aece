/* Layers: torch.nn.Linear's shape and initialisation, and an MLP of them. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

struct cg_mlp {
    cg_context *ctx;
    cg_linear *layers;
    size_t nlayers;
    cg_activation activation;
};

cg_status cg_linear_init(cg_context *ctx, cg_linear *l, size_t in, size_t out,
                         unsigned long long seed, unsigned long long stream)
{
    if (l) *l = (cg_linear){0};
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!l) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_linear_init: layer is NULL");
    if (in == 0 || out == 0)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "cg_linear_init: sizes must be positive (in %zu, out %zu)", in, out);
    /* torch.nn.Linear: kaiming_uniform_(a=sqrt(5)) gives bound
     * sqrt(6 / ((1 + a^2) fan_in)) = 1/sqrt(fan_in); the bias uses the same. */
    const float bound = 1.0f / sqrtf((float)in);
    l->in = in;
    l->out = out;
    l->weight = cg_rand_uniform(ctx, CG_SHAPE(out, in), -bound, bound, seed, stream << 41);
    l->bias = cg_rand_uniform(ctx, CG_SHAPE(out), -bound, bound, seed, (stream << 41) | (1ull << 40));
    cg_set_requires_grad(l->weight, true);
    cg_set_requires_grad(l->bias, true);
    if (ctx->status) cg_linear_free(l);
    return ctx->status;
}

cg_tensor *cg_linear_forward(const cg_linear *l, cg_tensor *x)
{
    cg_context *ctx = x ? x->ctx : l && l->weight ? l->weight->ctx : NULL;
    if (!ctx || ctx->status) return NULL;
    if (!l || !x || !l->weight || !l->bias) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_linear_forward: %s",
                 !l ? "the layer is NULL" : !x ? "x is NULL" : "the layer has no weight or bias "
                 "(freed, or its init failed)");
        return NULL;
    }
    return cg_add(cg_matmul(x, l->weight, false, true), l->bias);
}

void cg_linear_free(cg_linear *l)
{
    if (!l) return;
    cg_tensor_free(l->weight);
    cg_tensor_free(l->bias);
    l->weight = l->bias = NULL;
}

void cg_mlp_free(cg_mlp *mlp)
{
    if (!mlp) return;
    for (size_t i = 0; i < mlp->nlayers; i++) cg_linear_free(&mlp->layers[i]);
    free(mlp->layers);
    free(mlp);
}

cg_mlp *cg_mlp_create(cg_context *ctx, const size_t *sizes, size_t nsizes,
                      cg_activation activation, unsigned long long seed)
{
    if (!ctx || ctx->status) return NULL;
    if (!sizes) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_mlp_create: sizes is NULL");
        return NULL;
    }
    if (nsizes < 2) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_mlp_create: needs at least an input and an output size");
        return NULL;
    }
    for (size_t i = 0; i < nsizes; i++)
        if (sizes[i] == 0) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_mlp_create: size %zu is 0", i);
            return NULL;
        }
    if (activation < CG_ACT_NONE || activation > CG_ACT_SIGMOID) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_mlp_create: unknown activation %d",
                 (int)activation);
        return NULL;
    }
    cg_mlp *mlp = cg__calloc(1, sizeof *mlp);
    if (mlp) mlp->layers = cg__calloc(nsizes - 1, sizeof *mlp->layers);
    if (!mlp || !mlp->layers) {
        free(mlp);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_mlp_create: out of memory");
        return NULL;
    }
    mlp->ctx = ctx;
    mlp->activation = activation;
    mlp->nlayers = nsizes - 1;
    /* Layer i draws from stream i: the numbers do not depend on the device
     * or on the other layers' sizes. */
    for (size_t i = 0; i + 1 < nsizes && !ctx->status; i++)
        cg_linear_init(ctx, &mlp->layers[i], sizes[i], sizes[i + 1], seed, i);
    if (ctx->status) {
        cg_mlp_free(mlp);
        return NULL;
    }
    return mlp;
}

static cg_tensor *activate(cg_activation a, cg_tensor *x)
{
    switch (a) {
    case CG_ACT_TANH: return cg_tanh(x);
    case CG_ACT_RELU: return cg_relu(x);
    case CG_ACT_SIGMOID: return cg_sigmoid(x);
    default: return x;
    }
}

cg_tensor *cg_mlp_forward(cg_mlp *mlp, cg_tensor *x)
{
    cg_context *ctx = mlp ? mlp->ctx : x ? x->ctx : NULL;
    if (!ctx || ctx->status) return NULL;
    if (!mlp || !x) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_mlp_forward: %s is NULL", !mlp ? "mlp" : "x");
        return NULL;
    }
    for (size_t i = 0; i < mlp->nlayers && x; i++) {
        x = cg_linear_forward(&mlp->layers[i], x);
        if (i + 1 < mlp->nlayers) x = activate(mlp->activation, x);
    }
    return x;
}

size_t cg_mlp_parameters(const cg_mlp *mlp, cg_tensor **out, size_t cap)
{
    if (!mlp) return 0;
    if (!out && cap > 0) {
        cg__fail(mlp->ctx, CG_ERROR_NULL_POINTER,
                 "cg_mlp_parameters: out is NULL with cap %zu (cap 0 asks only the count)", cap);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < mlp->nlayers; i++) {
        if (n < cap) out[n] = mlp->layers[i].weight;
        n++;
        if (n < cap) out[n] = mlp->layers[i].bias;
        n++;
    }
    return n;
}

size_t cg_mlp_parameter_count(const cg_mlp *mlp)
{
    size_t n = 0;
    for (size_t i = 0; mlp && i < mlp->nlayers; i++)
        n += mlp->layers[i].in * mlp->layers[i].out + mlp->layers[i].out;
    return n;
}

const cg_linear *cg_mlp_layer(const cg_mlp *mlp, size_t i)
{
    if (!mlp) return NULL;
    if (i >= mlp->nlayers) {
        cg__fail(mlp->ctx, CG_ERROR_INVALID_ARGUMENT, "cg_mlp_layer: layer %zu of %zu", i,
                 mlp->nlayers);
        return NULL;
    }
    return &mlp->layers[i];
}

size_t cg_mlp_layers(const cg_mlp *mlp) { return mlp ? mlp->nlayers : 0; }
