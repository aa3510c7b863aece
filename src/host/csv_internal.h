/* Private entry points of the CSV reader, for its tests and fuzz harness. */
#ifndef CG_CSV_INTERNAL_H
#define CG_CSV_INTERNAL_H

#include <stddef.h>

#include "clgrad.h"

/* cg_table_read_csv's parser on bytes in memory; name stands for the path
 * in messages. The same limits apply (CLGRAD_CSV_MAX_LINE, _MAX_BYTES). */
cg_status cg__table_read_csv_mem(cg_context *ctx, const char *name, const void *data,
                                 size_t size, cg_table *out);

#endif
