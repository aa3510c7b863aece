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


static void json_stats(FILE *out, const cg_context *ctx)
{
    cg_context_stats s = cg_context_get_stats(ctx);
    fprintf(out,
            ", \"stats\": {\"kernel_launches\": %llu, \"programs_compiled\": %llu, "
            "\"programs_from_cache\": %llu, \"bytes_allocated\": %llu, \"bytes_pooled\": %llu, "
            "\"tape_nodes\": %llu}",
            s.kernel_launches, s.programs_compiled, s.programs_from_cache, s.bytes_allocated,
            s.bytes_pooled, s.tape_nodes);
}

void cli_print_json(const report *rep)
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
    if (rep->stats) json_stats(out, rep->ctx);
    fputs("}\n", out);
}

void cli_print_summary(const report *rep, const char *const *xnames, const char *yname,
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
        cg_context_stats s = cg_context_get_stats(rep->ctx);
        printf("Stats: %llu kernel launches, %llu programs compiled, %llu from cache, "
               "%llu bytes allocated, %llu bytes pooled, %llu tape nodes\n",
               s.kernel_launches, s.programs_compiled, s.programs_from_cache, s.bytes_allocated,
               s.bytes_pooled, s.tape_nodes);
    }
}

