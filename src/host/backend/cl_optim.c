/* The optimizers' device work on OpenCL (cg__backend's optim): the rule's
 * launches (optim.cl), the arena's buffers and sub-buffer views, and
 * L-BFGS's vector operations. The twin of ref_optim.c. */
#include <stdio.h>
#include <string.h>

#include "../optim_internal.h"

/* OpenCL lets / and sqrt be off by 2.5 and 3 ulp unless the program asks for
 * them correctly rounded, which a device may offer: the rules then give the
 * reference path's bits (tests/test_optim_rules.c). An OpenCL context's. */
const char *cg__optim_cl_options(cg_context *ctx)
{
    cl_device_fp_config fp = 0;
    if (cg__clGetDeviceInfo(ctx->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) !=
        CL_SUCCESS)
        return "";
    return (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? " -cl-fp32-correctly-rounded-divide-sqrt"
                                                      : "";
}

/* ---- steps ----------------------------------------------------------------- */

static cg_status update(cg_optimizer *opt, const group *g, const span *sp, const float *h,
                        int flags)
{
    cg_context *ctx = opt->ctx;
    /* one rule per program: its switch folds away, the compiler vectorizes it */
    if (!opt->kernel_options[0])
        snprintf(opt->kernel_options, sizeof opt->kernel_options, "-DCG_OPT_KIND=%d%s",
                 opt->desc->rule, cg__optim_cl_options(ctx));
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_OPTIM, opt->kernel_options, "cg_optim_update");
    cl_int kind = opt->desc->rule, f = flags, used = cg__optim_used_slots(opt->kind, &g->o);
    cl_uint n = (cl_uint)sp->n;
    /* The scalars travel by value: no buffer, no wait. */
    cl_float16 ha;
    cl_float8 hb;
    memcpy(ha.s, h, sizeof ha.s);
    memcpy(hb.s, h + 16, sizeof hb.s);
    /* Unused slots get any valid buffer: the kernel leaves them alone. */
    cl_mem m[ARENA_COUNT];
    for (int j = 0; j < ARENA_COUNT; j++) m[j] = sp->mem[j] ? sp->mem[j] : sp->mem[ARENA_P];
    if (!k || cg__set_args(ctx, k, "cg_step", sizeof kind, &kind, sizeof f, &f, sizeof ha, &ha,
                           sizeof hb, &hb, sizeof(cl_mem), &m[ARENA_P], sizeof(cl_mem),
                           &m[ARENA_G], sizeof(cl_mem), &m[ARENA_S0], sizeof(cl_mem),
                           &m[ARENA_S0 + 1], sizeof(cl_mem), &m[ARENA_S0 + 2], sizeof n, &n,
                           sizeof used, &used, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "cg_step");
}

static cg_status sparse_adam(cg_context *ctx, const cg_optim_options *o, cg_tensor *p,
                             cg_tensor *m, cg_tensor *v, float c1, float c2, float neg_step)
{
    const cg__sparse *sp = p->sparse;
    cl_kernel k =
        cg__kernel(ctx, CG__PROGRAM_OPTIM, cg__optim_cl_options(ctx), "cg_sparse_adam_update");
    cl_mem rows = cg__buffer_get(ctx, sp->nrows * sizeof(cl_uint), "cg_step");
    cl_uint nr = (cl_uint)sp->nrows, dim = (cl_uint)sp->dim;
    cl_int maximize = o->maximize;
    float eps = o->eps;
    if (k && rows &&
        !cg__write(ctx, rows, 0, sp->nrows * sizeof(cl_uint), sp->rows, true, "cg_step") &&
        !cg__set_args(ctx, k, "cg_step", sizeof(cl_mem), &p->mem, sizeof(cl_mem), &m->mem,
                      sizeof(cl_mem), &v->mem, sizeof(cl_mem), &sp->values->mem, sizeof(cl_mem),
                      &rows, sizeof nr, &nr, sizeof dim, &dim, sizeof c1, &c1, sizeof c2, &c2,
                      sizeof neg_step, &neg_step, sizeof eps, &eps, sizeof maximize, &maximize,
                      (size_t)0))
        cg__launch_n(ctx, k, sp->nrows * sp->dim, "cg_step");
    cg__buffer_put(ctx, rows, sp->nrows * sizeof(cl_uint));
    return ctx->status;
}

static cg_status scalars(cg_context *ctx, int rule, const float *b, const int *steps, size_t n,
                         float *h)
{
    static const char what[] = "cg__optim_fused_scalars";
    const size_t bbytes = CG_B_COUNT * sizeof(float);
    const size_t hbytes = n * CG_H_COUNT * sizeof(float), sbytes = n * sizeof(cl_int);
    cl_kernel k =
        cg__kernel(ctx, CG__PROGRAM_OPTIM, cg__optim_cl_options(ctx), "cg_optim_scalars_at");
    cl_mem base = cg__buffer_get(ctx, bbytes, what), st = cg__buffer_get(ctx, sbytes, what);
    cl_mem out = cg__buffer_get(ctx, hbytes, what);
    cl_int r = rule;
    cl_uint count = (cl_uint)n;
    if (k && base && st && out && !cg__write(ctx, base, 0, bbytes, b, true, what) &&
        !cg__write(ctx, st, 0, sbytes, steps, true, what) &&
        !cg__set_args(ctx, k, what, sizeof r, &r, sizeof(cl_mem), &base, sizeof(cl_mem), &st,
                      sizeof count, &count, sizeof(cl_mem), &out, (size_t)0) &&
        !cg__launch_n(ctx, k, n, what))
        cg__read(ctx, out, 0, hbytes, h, true, what);
    cg__buffer_put(ctx, base, bbytes);
    cg__buffer_put(ctx, st, sbytes);
    cg__buffer_put(ctx, out, hbytes);
    return ctx->status;
}

/* ---- the arena ------------------------------------------------------------- */

static cg_status arena_alloc(cg_context *ctx, group *g, int k)
{
    g->mem[k] = cg__buffer_get(ctx, g->total * sizeof(float), "cg_optimizer");
    return ctx->status;
}

/* A view of n floats at off of an arena buffer. */
static cl_mem view(cg_context *ctx, cl_mem parent, size_t off, size_t n)
{
    cl_buffer_region r = {off * sizeof(float), n * sizeof(float)};
    cl_int err;
    cl_mem m = cg__clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
    if (!m) cg__cl_fail(ctx, err, "cg_optimizer: clCreateSubBuffer");
    return m;
}

/* A borrowed tensor shaped like `like` over a new view of parent at off (no
 * memory when parent is NULL): a state slot. NULL (error on ctx) on failure. */
static cg_tensor *arena_tensor(cg_context *ctx, const cg_tensor *like, cl_mem parent, size_t off)
{
    cl_mem m = NULL;
    if (parent && !(m = view(ctx, parent, off, like->numel))) return NULL;
    return cg__tensor_borrowed(ctx, like->shape, m, NULL, "cg_optimizer");
}

static bool move_in(cg_context *ctx, group *g, size_t i, int used)
{
    cg_tensor *p = g->params[i];
    const size_t off = g->offset[i], n = p->numel;
    cg_tensor *state[CG_OPT_STATE_SLOTS] = {NULL}, *grad = NULL;
    cl_mem v = NULL, grad_home = NULL;
    if (cg__clEnqueueCopyBuffer(ctx->queue, p->mem, g->mem[ARENA_P], 0, off * sizeof(float),
                                p->bytes, 0, NULL, NULL) != CL_SUCCESS) {
        cg__fail(ctx, CG_ERROR_OPENCL, "cg_optimizer: copying a parameter in failed");
        goto fail;
    }
    if (!(v = view(ctx, g->mem[ARENA_P], off, n))) goto fail;
    if (!(grad_home = view(ctx, g->mem[ARENA_G], off, n))) goto fail;
    if (p->grad) {
        if (cg__clEnqueueCopyBuffer(ctx->queue, p->grad->mem, g->mem[ARENA_G], 0,
                                    off * sizeof(float), p->bytes, 0, NULL,
                                    NULL) != CL_SUCCESS) {
            cg__fail(ctx, CG_ERROR_OPENCL, "cg_optimizer: copying a gradient in failed");
            goto fail;
        }
        /* The gradient tensor shares the grad_home view (one more reference). */
        cg__clRetainMemObject(grad_home);
        if (!(grad = cg__tensor_borrowed(ctx, p->shape, grad_home, NULL, "cg_optimizer")))
            goto fail;
    }
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++)
        if ((used & (1 << s)) && !(state[s] = arena_tensor(ctx, p, g->mem[ARENA_S0 + s], off)))
            goto fail;

    /* Nothing can fail from here: the parameter moves in. */
    cg__storage *st = p->storage;
    cg__buffer_put(ctx, st->mem, st->bytes); /* in-order queue: after the copy */
    st->mem = v;
    p->grad_home = grad_home;
    cg__arena_adopt(g, i, grad, state);
    return true;
fail:
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) cg__tensor_release(state[s]);
    cg__tensor_release(grad);
    if (v) cg__clReleaseMemObject(v);
    if (grad_home) cg__clReleaseMemObject(grad_home);
    return false;
}

/* t (a view) gets its own memory again, with its values; false when that or
 * the copy fails: t stays a view, and the caller keeps the arena buffer
 * alive for it. */
static bool unborrow(cg_context *ctx, cg_tensor *t)
{
    cg__storage *s = t ? t->storage : NULL;
    if (!s || !s->borrowed) return true;
    cl_mem own = cg__buffer_get_anyway(ctx, s->bytes);
    if (!own) return false;
    if (cg__clEnqueueCopyBuffer(ctx->queue, s->mem, own, 0, 0, s->bytes, 0, NULL, NULL) !=
        CL_SUCCESS) {
        cg__buffer_put(ctx, own, s->bytes);
        return false;
    }
    cg__clReleaseMemObject(s->mem);
    s->mem = own;
    s->borrowed = false;
    cg__tensor_refresh(t);
    return true;
}

static void move_out(cg_context *ctx, cg_tensor *p, bool *pinned)
{
    if (!unborrow(ctx, p)) pinned[ARENA_P] = true;
    if (p->grad && !unborrow(ctx, p->grad)) pinned[ARENA_G] = true;
    if (p->grad_home) cg__clReleaseMemObject(p->grad_home);
    p->grad_home = NULL;
    p->grad_home_host = NULL;
}

/* ---- L-BFGS ------------------------------------------------------------------ */

static cg_status axpy_at(cg_context *ctx, cg_tensor *y, float a, const cg_tensor *x, size_t off)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, "cg_axpy_off");
    cl_uint xo = (cl_uint)off, n = (cl_uint)y->numel;
    if (!k || cg__set_args(ctx, k, "lbfgs", sizeof(cl_mem), &y->mem, sizeof a, &a, sizeof(cl_mem),
                           &x->mem, sizeof xo, &xo, sizeof n, &n, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "lbfgs");
}

static cg_tensor *grad_home(cg_context *ctx, cg_tensor *p, const char *what)
{
    cg__clRetainMemObject(p->grad_home); /* the new tensor's reference */
    return cg__tensor_borrowed(ctx, p->shape, p->grad_home, NULL, what);
}

const struct cg__optim_backend cg__optim_opencl = {
    .update = update,
    .sparse_adam = sparse_adam,
    .scalars = scalars,
    .arena_alloc = arena_alloc,
    .move_in = move_in,
    .move_out = move_out,
    .axpy_at = axpy_at,
    .grad_home = grad_home,
};
