/* What clgrad fit prints after training: the text summary or the JSON
 * object of the fit contract (cli_report.c). */
#ifndef CG_CLI_REPORT_H
#define CG_CLI_REPORT_H

#include "cli_common.h"

/* What a run reports, whichever path trained it. */
typedef struct report {
    const cg_context *ctx;
    const cg_fit_result *r; /* the tape path fills one too */
    const char *path;       /* how it ran */
    const float *raw;       /* linear: params in raw input units */
    size_t F;
    bool mlp, print_params, stats;
    const char *model;
    size_t parameter_count;
    cg_optim_kind optimizer;
} report;

void cli_print_json(const report *rep);
void cli_print_summary(const report *rep, const char *const *xnames, const char *yname,
                       cg_norm_kind norm);

#endif
