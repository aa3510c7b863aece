/* clgrad fit's report: the lecture-style summary, or one JSON object with
 * the contract's fields (device, epochs_run, diverged, final_loss, params,
 * params_raw, history, train_seconds) and the extras (model, optimizer,
 * parameter_count, stats). Non-finite numbers are null. */
#include <math.h>
#include <stdio.h>

#include "cli_report.h"

static void json_float(FILE *out, float v)
{
    if (isfinite(v))
        fprintf(out, "%.9g", (double)v);
    else
        fputs("null", out);
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", *s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void json_params(FILE *out, const float *p, size_t F)
{
    fputs("{\"w\": [", out);
    for (size_t j = 0; j < F; j++) {
        if (j) fputs(", ", out);
        json_float(out, p[j]);
    }
    fputs("], \"b\": ", out);
    json_float(out, p[F]);
    fputc('}', out);
}


/* Kernel launches per optimizer step (the tape's steps; 0 without any). */
static double launches_per_step(const cg_fit_result *r)
{
    return r->steps ? (double)r->step_launches / (double)r->steps : 0.0;
}

static void json_stats(FILE *out, const cg_context *ctx, const cg_fit_result *r)
{
    cg_context_stats s = cg_context_stats_of(ctx);
    fprintf(out,
            ", \"stats\": {\"kernel_launches\": %llu, \"programs_compiled\": %llu, "
            "\"programs_from_cache\": %llu, \"bytes_allocated\": %llu, \"bytes_pooled\": %llu, "
            "\"tape_nodes\": %llu, \"fused_groups\": %llu, \"fused_nodes\": %llu, "
            "\"steps\": %ld, \"steps_replayed\": %ld, \"launches_per_step\": %.2f}",
            s.kernel_launches, s.programs_compiled, s.programs_from_cache, s.bytes_allocated,
            s.bytes_pooled, s.tape_nodes, s.fused_groups, s.fused_nodes, r->steps,
            r->steps_replayed, launches_per_step(r));
}

bool cli_print_json(const report *rep)
{
    const cg_fit_result *r = rep->r;
    FILE *out = stdout;
    fputs("{\"device\": ", out);
    json_string(out, cg_context_device(rep->ctx)->name);
    fputs(", \"model\": ", out);
    json_string(out, rep->model);
    fputs(", \"optimizer\": ", out);
    json_string(out, cg_optim_name(rep->optimizer));
    fprintf(out, ", \"epochs_run\": %ld, \"diverged\": %s, \"final_loss\": ", r->epochs_run,
            r->diverged ? "true" : "false");
    json_float(out, r->final_loss);
    fprintf(out, ", \"parameter_count\": %zu", rep->parameter_count);
    if (!rep->mlp) {
        fputs(", \"params\": ", out);
        json_params(out, r->params, rep->F);
        fputs(", \"params_raw\": ", out);
        json_params(out, rep->raw, rep->F);
    } else if (rep->print_params) {
        fputs(", \"params\": [", out);
        for (size_t i = 0; i < r->nparams; i++) {
            if (i) fputs(", ", out);
            json_float(out, r->params[i]);
        }
        fputc(']', out);
    }
    fputs(", \"history\": [", out);
    for (size_t i = 0; i < r->history_count; i++) {
        fprintf(out, "%s[%ld, ", i ? ", " : "", r->history_epochs[i]);
        json_float(out, r->history_loss[i]);
        fputc(']', out);
    }
    fprintf(out, "], \"train_seconds\": %.6f", r->train_seconds);
    if (rep->stats) json_stats(out, rep->ctx, r);
    fputs("}\n", out);
    return !ferror(out);
}

bool cli_print_summary(const report *rep, const char *const *xnames, const char *yname,
                       cg_norm_kind norm)
{
    const cg_fit_result *r = rep->r;
    const float *raw = rep->raw;
    size_t F = rep->F;
    char buf[4096];
    if (!rep->mlp) {
        cli_format_values(buf, sizeof buf, r->params, r->nparams);
        printf("Params%s: %s\n", norm == CG_NORM_NONE ? "" : " (normalized inputs)", buf);
        printf("Model (raw units): %s =", yname);
        for (size_t j = 0; j < F; j++)
            printf(" %s%.6g * %s",
                   j == 0 ? (raw[j] < 0 ? "-" : "") : (raw[j] < 0 ? "- " : "+ "),
                   fabs((double)raw[j]), xnames[j]);
        printf(" %s %.6g\n", raw[F] < 0 ? "-" : "+", fabs((double)raw[F]));
    } else {
        printf("Model: %s, %zu parameters\n", rep->model, rep->parameter_count);
        if (rep->print_params) {
            cli_format_values(buf, sizeof buf, r->params, r->nparams);
            printf("Params: %s\n", buf);
        }
    }
    printf("Final loss %f after %ld epochs on %s (%s, %.3f ms)\n", (double)r->final_loss,
           r->epochs_run, cg_context_device(rep->ctx)->name, rep->path, r->train_seconds * 1e3);
    if (rep->stats) {
        cg_context_stats s = cg_context_stats_of(rep->ctx);
        printf("Stats: %llu kernel launches, %llu programs compiled, %llu from cache, "
               "%llu bytes allocated, %llu bytes pooled, %llu tape nodes, "
               "%llu fused groups of %llu nodes\n",
               s.kernel_launches, s.programs_compiled, s.programs_from_cache, s.bytes_allocated,
               s.bytes_pooled, s.tape_nodes, s.fused_groups, s.fused_nodes);
        if (r->steps)
            printf("Steps: %ld (%ld replayed from a capture), %.2f kernel launches per step\n",
                   r->steps, r->steps_replayed, launches_per_step(r));
    }
    return !ferror(stdout);
}

static const char *loss_name(float v) { return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

bool cli_print_divergence(const divergence *d)
{
    const cg_fit_result *r = d->r;
    const float first = r->curve_count ? r->curve_loss[0] : r->final_loss;
    const float last = r->history_count ? r->history_loss[r->history_count - 1] : first;
    const bool normalized = d->norm == CG_NORM_STANDARD || d->norm == CG_NORM_MINMAX;
    FILE *e = stderr;
    if (isfinite(first) && isfinite(last) && isfinite(r->final_loss)) return false;
    fputs("clgrad fit: training diverged ", e);
    if (!isfinite(first)) {
        /* Already at the initial parameters: the size of the data or of
         * those parameters, not the learning rate. */
        const double pred = d->mlp ? d->max_x : d->max_pred;
        fprintf(e, "at epoch 1: the loss at the initial parameters is already %s: ",
                loss_name(first));
        if (d->max_y >= pred)
            fprintf(e,
                    "the targets (%s) reach %.3g and the loss overflows float32 (largest "
                    "finite value 3.4e+38). Rescale %s before fitting: --normalize scales the "
                    "inputs, never y\n",
                    d->yname, d->max_y, d->yname);
        else if (d->init_given)
            fprintf(e,
                    "with --init, the predictions reach %.3g and overflow float32. Start from "
                    "smaller --init values\n",
                    pred);
        else if (!normalized)
            fprintf(e,
                    "the features reach %.3g and the predictions overflow float32. Normalize "
                    "them (--normalize standard)\n",
                    d->max_x);
        else
            fprintf(e, "the normalized features reach %.3g and the predictions overflow "
                       "float32\n",
                    d->max_x);
        return true;
    }
    if (!isfinite(last))
        fprintf(e, "at epoch %ld: the loss became %s", r->epochs_run, loss_name(last));
    else
        fprintf(e, "after the last update (epoch %ld): the final loss is %s", r->epochs_run,
                loss_name(r->final_loss));
    fprintf(e, ". The updates overshoot: try a smaller learning rate than %g (--lr)",
            (double)d->lr);
    if (!normalized)
        fputs(", or normalized inputs (--normalize standard)", e);
    else
        fprintf(e, "; --normalize %s is on already, and it does not touch y (%s reaches %.3g)",
                d->normalize, d->yname, d->max_y);
    fputc('\n', e);
    return true;
}

