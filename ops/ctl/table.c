/* ops/ctl/table.c: rows printed in aligned columns for people (scripts use
 * --json). Widths count UTF-8 characters, so "Helse Sør-Øst" lines up. */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static size_t display_width(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        n += (*p & 0xC0) != 0x80; /* continuation bytes add nothing */
    }
    return n;
}

int ctl_table_init(struct ctl_table *t, unsigned n_cols,
                   const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
    return ctl_table_add(t, headers);
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows == 0 ? 16 : t->cap_rows * 2;
        char **grown = realloc(t->cells, cap * t->n_cols * sizeof *grown);
        if (grown == NULL) {
            return -1;
        }
        t->cells = grown;
        t->cap_rows = cap;
    }
    char **row = t->cells + (size_t)t->n_rows * t->n_cols;
    for (unsigned c = 0; c < t->n_cols; c++) {
        row[c] =
            strdup(cells[c] != NULL && cells[c][0] != '\0' ? cells[c] : "-");
        if (row[c] == NULL) {
            while (c-- > 0) {
                free(row[c]);
            }
            return -1;
        }
    }
    t->n_rows++;
    return 0;
}

void ctl_table_print(const struct ctl_table *t, FILE *out)
{
    size_t *widths = calloc(t->n_cols, sizeof *widths);
    if (widths == NULL) {
        return;
    }
    for (unsigned r = 0; r < t->n_rows; r++) {
        for (unsigned c = 0; c < t->n_cols; c++) {
            size_t w = display_width(t->cells[(size_t)r * t->n_cols + c]);
            if (w > widths[c]) {
                widths[c] = w;
            }
        }
    }
    for (unsigned r = 0; r < t->n_rows; r++) {
        for (unsigned c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[(size_t)r * t->n_cols + c];
            fputs(cell, out);
            if (c + 1 < t->n_cols) {
                for (size_t pad = display_width(cell); pad < widths[c] + 2;
                     pad++) {
                    fputc(' ', out);
                }
            }
        }
        fputc('\n', out);
    }
    free(widths);
}

void ctl_table_free(struct ctl_table *t)
{
    for (size_t i = 0; i < (size_t)t->n_rows * t->n_cols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    memset(t, 0, sizeof *t);
}
