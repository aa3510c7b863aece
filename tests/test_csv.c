/* CSV input: good files, and every malformed one gets a precise error. */
#include "helpers.h"

static cg_status read_text(const char *text, cg_table *t, char *path, cg_context **ctx)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    snprintf(path, 128, "%s/data.csv", dir);
    write_file(path, text);
    *ctx = test_context();
    return cg_table_read_csv(*ctx, path, t);
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

static void expect_error(const char *text, cg_status status, const char *needle1,
                         const char *needle2)
{
    cg_table t;
    char path[128];
    cg_context *ctx;
    cr_assert_eq(read_text(text, &t, path, &ctx), status, "for %s: %s", text,
                 cg_error_message(ctx));
    const char *msg = cg_error_message(ctx);
    cr_assert(strstr(msg, path) != NULL, "the message names the file: %s", msg);
    cr_assert(strstr(msg, needle1) != NULL, "'%s' not in: %s", needle1, msg);
    if (needle2) cr_assert(strstr(msg, needle2) != NULL, "'%s' not in: %s", needle2, msg);
    cr_assert_null(t.values);
    cg_context_free(ctx);
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
