/* CSV input: good files, and every malformed one gets a precise error. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "csv_internal.h"
#include "fault.h"
#include "helpers.h"

static void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    cr_assert_eq(fclose(f), 0);
}

/* Writes size bytes to a fresh path/data.csv and reads them back. */
static cg_status read_bytes(const void *data, size_t size, cg_table *t, char *path,
                            cg_context **ctx)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    snprintf(path, 128, "%s/data.csv", dir);
    write_bytes(path, data, size);
    *ctx = test_context();
    return cg_table_read_csv(*ctx, path, t);
}

static cg_status read_text(const char *text, cg_table *t, char *path, cg_context **ctx)
{
    return read_bytes(text, strlen(text), t, path, ctx);
}

Test(csv, reads_header_values_blank_lines_and_crlf)
{
    cg_table t;
    char path[128];
    cg_context *ctx;
    cr_assert_eq(read_text("a, \"b\" ,c\r\n1,2,3\r\n\r\n4.5,-6e1, 7\r\n", &t, path, &ctx), CG_OK,
                 "%s", cg_error_message(ctx));
    cr_assert_eq(t.rows, 2);
    cr_assert_eq(t.cols, 3);
    cr_assert_str_eq(t.names[1], "b");
    cr_assert_eq(cg_table_column(&t, "c"), 2);
    cr_assert_eq(cg_table_column(&t, "d"), -1);
    cr_assert_eq(t.values[3], 4.5f);
    cr_assert_eq(t.values[4], -60.0f);
    cg_table_free(&t);
    cg_context_free(ctx);
}

/* The table after a failure: empty, and freeable. */
static void assert_empty(cg_table *t)
{
    cr_assert_eq(t->rows, 0);
    cr_assert_eq(t->cols, 0);
    cr_assert_null(t->names);
    cr_assert_null(t->values);
    cg_table_free(t);
}

static void expect_error_bytes(const void *data, size_t size, cg_status status,
                               const char *needle1, const char *needle2)
{
    cg_table t;
    char path[128];
    cg_context *ctx;
    cr_assert_eq(read_bytes(data, size, &t, path, &ctx), status, "for %.*s: %s", (int)size,
                 (const char *)data, cg_error_message(ctx));
    const char *msg = cg_error_message(ctx);
    cr_assert(strstr(msg, path) != NULL, "the message names the file: %s", msg);
    cr_assert(strstr(msg, needle1) != NULL, "'%s' not in: %s", needle1, msg);
    if (needle2) cr_assert(strstr(msg, needle2) != NULL, "'%s' not in: %s", needle2, msg);
    assert_empty(&t);
    cg_context_free(ctx);
}

static void expect_error(const char *text, cg_status status, const char *needle1,
                         const char *needle2)
{
    expect_error_bytes(text, strlen(text), status, needle1, needle2);
}

Test(csv, empty_file) { expect_error("", CG_ERROR_PARSE, "empty", NULL); }
Test(csv, header_only) { expect_error("x,y\n", CG_ERROR_PARSE, "no data rows", NULL); }
Test(csv, ragged_row) { expect_error("x,y\n1,2\n3\n", CG_ERROR_PARSE, ":3:", "1 field"); }
Test(csv, non_numeric_cell_names_line_and_column)
{
    expect_error("x,y\n1,2\n3,abc\n", CG_ERROR_PARSE, ":3: column 2 (y)", "'abc'");
}
Test(csv, empty_cell) { expect_error("x,y\n1,\n", CG_ERROR_PARSE, ":2: column 2", NULL); }
Test(csv, nan_cell) { expect_error("x,y\n1,2\nnan,4\n", CG_ERROR_INVALID_DATA, ":3: column 1", "not finite"); }
Test(csv, inf_cell) { expect_error("x,y\n1,inf\n", CG_ERROR_INVALID_DATA, ":2: column 2", NULL); }
Test(csv, float_overflow) { expect_error("x,y\n1,1e39\n", CG_ERROR_INVALID_DATA, ":2:", NULL); }

Test(csv, missing_file)
{
    cg_context *ctx = test_context();
    cg_table t;
    cr_assert_eq(cg_table_read_csv(ctx, "/nonexistent/data.csv", &t), CG_ERROR_IO);
    cr_assert(strstr(cg_error_message(ctx), "/nonexistent/data.csv") != NULL);
    cr_assert(strstr(cg_error_message(ctx), "No such file") != NULL, "%s", cg_error_message(ctx));
    cg_context_free(ctx);
}

Test(csv, lecture_data)
{
    cg_table t;
    cr_assert_eq(cg_table_lecture(&t), CG_OK);
    cr_assert_eq(t.rows, 11);
    cr_assert_str_eq(t.names[0], "t_u");
    cr_assert_str_eq(t.names[1], "t_c");
    cr_assert_eq(t.values[0], 35.7f);
    cr_assert_eq(t.values[21], 21.0f);
    cg_table_free(&t);
}

/* ---- issue 7 --------------------------------------------------------------- */

/* Item 7: every allocation of the reader fails in turn; each is
 * CG_ERROR_NO_MEMORY with an empty table, never a short read. The long
 * line makes the line buffer grow while rows are still to come. */
Test(csv, failed_allocation_is_no_memory_never_a_short_read)
{
    char text[6000];
    int n = snprintf(text, sizeof text, "x,y\n1,2\n3,");
    memset(text + n, ' ', 5000);
    snprintf(text + n + 5000, sizeof text - (size_t)n - 5000, "4\n5,6\n");
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/data.csv", dir);
    write_file(path, text);
    cg_context *ctx = test_context();
    unsigned long failures = 0, nth;
    for (nth = 1; nth < 200; nth++) {
        cg_table t;
        memset(&t, 0xab, sizeof t);
        cg__fault_reset();
        cg__fault_arm(nth);
        cg_status st = cg_table_read_csv(ctx, path, &t);
        bool fired = cg__fault_fired();
        cg__fault_reset();
        if (!fired) {
            cr_assert_eq(st, CG_OK, "%s", cg_error_message(ctx));
            cr_assert_eq(t.rows, 3);
            cr_assert_eq(t.values[5], 6.0f);
            cg_table_free(&t);
            break;
        }
        cr_assert_eq(st, CG_ERROR_NO_MEMORY, "allocation %lu failed, yet status %d (%s), %zu rows",
                     nth, st, cg_error_message(ctx), st == CG_OK ? t.rows : 0);
        cr_assert(strstr(cg_error_message(ctx), "out of memory"), "%s", cg_error_message(ctx));
        cr_assert(strstr(cg_error_message(ctx), path), "%s", cg_error_message(ctx));
        assert_empty(&t);
        cg_clear_error(ctx);
        failures++;
    }
    cr_assert_lt(nth, 200, "the walk did not reach a run without failures");
    cr_assert_geq(failures, 6, "only %lu allocations walked", failures);
    cg_context_free(ctx);
}

/* Item 15: a NUL byte used to end the line there, hiding the third field. */
Test(csv, nul_byte_names_line_and_column)
{
    static const char data[] = "x,y\n1,2\n3,4\0,5\n";
    expect_error_bytes(data, sizeof data - 1, CG_ERROR_PARSE, ":3:4:", "NUL");
    static const char header[] = "xy,\0z\n1,2\n";
    expect_error_bytes(header, sizeof header - 1, CG_ERROR_PARSE, ":1:4:", "NUL");
    static const char bom[] = "\xEF\xBB\xBFxy\0,z\n1,2\n";
    expect_error_bytes(bom, sizeof bom - 1, CG_ERROR_PARSE, ":1:3:", "NUL");
    expect_error_bytes("\0", 1, CG_ERROR_PARSE, ":1:1:", "NUL");
}

/* Item 17's file of NULs: refused at its first byte, not read as a line. */
Test(csv, a_stream_of_nuls_fails_at_once)
{
    size_t n = 3u << 20;
    char *zeros = calloc(n, 1);
    cr_assert_not_null(zeros);
    expect_error_bytes(zeros, n, CG_ERROR_PARSE, ":1:1: NUL", NULL);
    free(zeros);
}

/* Item 23. */
Test(csv, utf8_byte_order_mark_is_stripped)
{
    cg_table t;
    char path[128];
    cg_context *ctx;
    cr_assert_eq(read_text("\xEF\xBB\xBFx,y\n1,2\n", &t, path, &ctx), CG_OK, "%s",
                 cg_error_message(ctx));
    cr_assert_str_eq(t.names[0], "x");
    cr_assert_eq(cg_table_column(&t, "x"), 0);
    cg_table_free(&t);
    cg_context_free(ctx);
    expect_error("\xEF\xBB\xBF\n\n", CG_ERROR_PARSE, "empty", NULL);
}

Test(csv, utf16_is_named_as_unsupported)
{
    static const char le_bom[] = "\xFF\xFEx\0,\0y\0\n\0" "1\0,\0" "2\0\n\0";
    static const char be_bom[] = "\xFE\xFF\0x\0,\0y\0\n\0" "1\0,\0" "2\0\n";
    static const char le[] = "x\0,\0y\0\n\0" "1\0,\0" "2\0\n\0";
    static const char be[] = "\0x\0,\0y\0\n\0" "1\0,\0" "2\0\n";
    expect_error_bytes(le_bom, sizeof le_bom - 1, CG_ERROR_UNSUPPORTED, "UTF-16", "little");
    expect_error_bytes(be_bom, sizeof be_bom - 1, CG_ERROR_UNSUPPORTED, "UTF-16", "big");
    expect_error_bytes(le, sizeof le - 1, CG_ERROR_UNSUPPORTED, "UTF-16", "little");
    expect_error_bytes(be, sizeof be - 1, CG_ERROR_UNSUPPORTED, "UTF-16", "big");
}

/* Item 24. */
Test(csv, duplicate_column_names)
{
    expect_error("x,y,x\n1,2,3\n", CG_ERROR_PARSE, ":1: columns 1 and 3", "'x'");
    expect_error("a,b,\"b\",a\n1,2,3,4\n", CG_ERROR_PARSE, "columns 2 and 3", "'b'");
}

/* Item 17: limits on a line and on the whole input, set by environment. */
Test(csv, line_length_limit)
{
    setenv("CLGRAD_CSV_MAX_LINE", "16", 1);
    cg_table t;
    char path[128];
    cg_context *ctx;
    cr_assert_eq(read_text("x,y\n12345678,1234567\n", &t, path, &ctx), CG_OK, "%s",
                 cg_error_message(ctx));
    cg_table_free(&t);
    cg_context_free(ctx);
    expect_error("x,y\n12345678,12345678\n", CG_ERROR_PARSE, ":2:", "CLGRAD_CSV_MAX_LINE");
    setenv("CLGRAD_CSV_MAX_LINE", "1K", 1);
    char text[1100] = "x,y\n1,";
    memset(text + 6, '0', 1030);
    expect_error(text, CG_ERROR_PARSE, ":2:", "1024 bytes");
}

Test(csv, default_line_limit_is_one_mebibyte)
{
    size_t n = (1u << 20) + 16;
    char *text = malloc(n + 1);
    cr_assert_not_null(text);
    memcpy(text, "x,y\n1,", 6);
    memset(text + 6, '0', n - 6);
    text[n] = '\0';
    expect_error(text, CG_ERROR_PARSE, ":2:", "1048576 bytes");
    free(text);
}

Test(csv, total_size_limit)
{
    setenv("CLGRAD_CSV_MAX_BYTES", "20", 1);
    cg_table t;
    char path[128];
    cg_context *ctx;
    cr_assert_eq(read_text("x,y\n1,2\n3,4\n5,6\n7,8\n", &t, path, &ctx), CG_OK, "%s",
                 cg_error_message(ctx));
    cg_table_free(&t);
    cg_context_free(ctx);
    expect_error("x,y\n1,2\n3,4\n5,6\n789,1\n", CG_ERROR_PARSE, "more than 20 bytes",
                 "CLGRAD_CSV_MAX_BYTES");
}

Test(csv, bad_limit_settings_are_named)
{
    const char *bad[] = {"abc", "0", "-5", "12Q", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("CLGRAD_CSV_MAX_BYTES", bad[i], 1);
        cg_table t;
        char path[128];
        cg_context *ctx;
        cr_assert_eq(read_text("x,y\n1,2\n", &t, path, &ctx), CG_ERROR_INVALID_ARGUMENT, "%s: %s",
                     bad[i], cg_error_message(ctx));
        cr_assert(strstr(cg_error_message(ctx), "CLGRAD_CSV_MAX_BYTES"), "%s",
                  cg_error_message(ctx));
        assert_empty(&t);
        cg_context_free(ctx);
    }
}

static void expect_device_refused(const char *path, const char *kind)
{
    cg_context *ctx = test_context();
    cg_table t;
    cr_assert_eq(cg_table_read_csv(ctx, path, &t), CG_ERROR_INVALID_ARGUMENT, "%s: %s", path,
                 cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), path), "%s", cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), kind), "%s", cg_error_message(ctx));
    assert_empty(&t);
    cg_context_free(ctx);
}

Test(csv, devices_are_refused, .timeout = 60)
{
    expect_device_refused("/dev/zero", "character device");
    expect_device_refused("/dev/null", "character device");
    DIR *d = opendir("/dev");
    cr_assert_not_null(d);
    struct dirent *e;
    char path[300] = "";
    while ((e = readdir(d))) {
        struct stat st;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        if (stat(path, &st) == 0 && S_ISBLK(st.st_mode)) break;
        path[0] = '\0';
    }
    closedir(d);
    if (path[0]) expect_device_refused(path, "block device");
}

static const char pipe_csv[] = "x,y\n1,2\n3,4\n";

/* A pipe holding pipe_csv, its write end closed; returns the read end. */
static int filled_pipe(void)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(write(fds[1], pipe_csv, sizeof pipe_csv - 1), (ssize_t)(sizeof pipe_csv - 1));
    close(fds[1]);
    return fds[0];
}

static void expect_pipe_csv(const char *path)
{
    cg_context *ctx = test_context();
    cg_table t;
    cr_assert_eq(cg_table_read_csv(ctx, path, &t), CG_OK, "%s: %s", path, cg_error_message(ctx));
    cr_assert_eq(t.rows, 2);
    cr_assert_eq(t.values[3], 4.0f);
    cg_table_free(&t);
    cg_context_free(ctx);
}

Test(csv, pipes_process_substitution_and_stdin_are_read)
{
    char path[64];
    int fd = filled_pipe();
    snprintf(path, sizeof path, "/dev/fd/%d", fd); /* as bash's <(...) */
    expect_pipe_csv(path);
    close(fd);

    fd = filled_pipe();
    cr_assert_geq(dup2(fd, 0), 0);
    close(fd);
    expect_pipe_csv("/dev/stdin");

    char dir[64], fifo[128];
    temp_dir(dir, sizeof dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        int w = open(fifo, O_WRONLY);
        _exit(w >= 0 && write(w, pipe_csv, sizeof pipe_csv - 1) == sizeof pipe_csv - 1 ? 0 : 1);
    }
    expect_pipe_csv(fifo);
    int wst;
    cr_assert_eq(waitpid(child, &wst, 0), child);
    cr_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
}

Test(csv, pipes_obey_the_limits)
{
    setenv("CLGRAD_CSV_MAX_BYTES", "8", 1);
    int fd = filled_pipe();
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fd);
    cg_context *ctx = test_context();
    cg_table t;
    cr_assert_eq(cg_table_read_csv(ctx, path, &t), CG_ERROR_PARSE, "%s", cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), "more than 8 bytes"), "%s", cg_error_message(ctx));
    assert_empty(&t);
    close(fd);
    cg_context_free(ctx);
}

/* Item 2: the table is empty and freeable whatever the failure. */
Test(csv, out_is_emptied_before_any_failure)
{
    cg_table t;
    memset(&t, 0xab, sizeof t);
    cr_assert_eq(cg_table_read_csv(NULL, "x.csv", &t), CG_ERROR_NULL_POINTER);
    assert_empty(&t);

    cg_context *ctx = test_context();
    memset(&t, 0xab, sizeof t);
    cr_assert_eq(cg_table_read_csv(ctx, NULL, &t), CG_ERROR_NULL_POINTER);
    assert_empty(&t);
    cr_assert(strstr(cg_error_message(ctx), "cg_table_read_csv"));

    /* The context is now in error: the call does nothing, but empties t. */
    memset(&t, 0xab, sizeof t);
    cr_assert_eq(cg_table_read_csv(ctx, "/nonexistent.csv", &t), CG_ERROR_NULL_POINTER);
    assert_empty(&t);
    cg_clear_error(ctx);
    cr_assert_eq(cg_table_read_csv(ctx, "/nonexistent.csv", NULL), CG_ERROR_NULL_POINTER);
    cg_context_free(ctx);
}

/* The fuzz harness's entry point runs the same parser on memory. */
Test(csv, reads_from_memory_like_from_a_file)
{
    static const char good[] = "\xEF\xBB\xBFx,y\r\n1,2\n\n3,4";
    cg_context *ctx = test_context();
    cg_table t;
    cr_assert_eq(cg__table_read_csv_mem(ctx, "mem.csv", good, sizeof good - 1, &t), CG_OK, "%s",
                 cg_error_message(ctx));
    cr_assert_eq(t.rows, 2);
    cr_assert_str_eq(t.names[0], "x");
    cr_assert_eq(t.values[3], 4.0f);
    cg_table_free(&t);
    static const char nul[] = "x,y\n1,2\0\n";
    cr_assert_eq(cg__table_read_csv_mem(ctx, "mem.csv", nul, sizeof nul - 1, &t), CG_ERROR_PARSE);
    cr_assert(strstr(cg_error_message(ctx), "mem.csv:2:4: NUL"), "%s", cg_error_message(ctx));
    assert_empty(&t);
    cg_context_free(ctx);
}
