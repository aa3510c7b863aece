/* Private entry points of the CSV reader, for its tests and fuzz harness. */
#ifndef CG_CSV_INTERNAL_H
#define CG_CSV_INTERNAL_H

#include <stddef.h>

#include "clgrad.h"

/* cg_table_read_csv's parser on bytes in memory; name stands for the path
 * in messages. The same limits apply (CLGRAD_CSV_MAX_LINE, _MAX_BYTES). */
cg_status cg__table_read_csv_mem(cg_context *ctx, const char *name, const void *data,
                                 size_t size, cg_table *out);

/* Test seam until the host allocation fault-injection layer exists: the
 * reader's nth allocation from now on (1 = the next) fails; 0 turns it off.
 * Returns how many were still to go before the call (0: it fired or was off).
 * Not thread-safe: for single-threaded tests only. */
unsigned long cg__csv_fail_alloc(unsigned long nth);

#endif
