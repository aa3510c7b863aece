/* libFuzzer harness for the CSV reader: any bytes go through the parser
 * behind cg_table_read_csv (from memory, so no temporary files), and the
 * result must be a well-formed table or an error with a message naming the
 * input and an empty table. Crashes, leaks and undefined behaviour are the
 * sanitizers' findings; a broken promise here aborts. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_internal.h"

#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "fuzz_csv: %s:%d: %s does not hold\n", __FILE__, __LINE__, #c); \
            abort();                                                              \
        }                                                                         \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Small limits, so that inputs of a few KB reach the limit paths too. */
    setenv("CLGRAD_CSV_MAX_LINE", "512", 1);
    setenv("CLGRAD_CSV_MAX_BYTES", "2K", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_context *ctx = cg_context_create("ref");
    CHECK(ctx && cg_status_of(ctx) == CG_OK);
    cg_table t;
    cg_status st = cg__table_read_csv_mem(ctx, "fuzz.csv", data, size, &t);
    CHECK(st == cg_status_of(ctx));
    if (st == CG_OK) {
        CHECK(t.rows > 0 && t.cols > 0 && t.names && t.values);
        CHECK(t.cols <= size && t.rows <= size);
        for (size_t j = 0; j < t.cols; j++) {
            CHECK(t.names[j] && t.names[j][0]);
            CHECK(!memchr(t.names[j], ',', strlen(t.names[j])));
            CHECK(cg_table_column(&t, t.names[j]) == (int)j); /* names are unique */
        }
        for (size_t i = 0; i < t.rows * t.cols; i++) CHECK(isfinite(t.values[i]));
    } else {
        const char *msg = cg_error_message(ctx);
        CHECK(strncmp(msg, "cg_table_read_csv: ", 19) == 0);
        CHECK(strstr(msg, "fuzz.csv"));
        CHECK(t.rows == 0 && t.cols == 0 && !t.names && !t.values);
    }
    cg_table_free(&t);
    cg_context_free(ctx);
    return 0;
}
