/* tests/fuzz/fuzz.h: what a fuzz target (fuzz_*.c) defines, shared by
 * libFuzzer builds and the standalone replay driver (standalone.c). */
#ifndef AMK_TESTS_FUZZ_H
#define AMK_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The target: must not crash, leak or trip a sanitizer on any input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Receives one seed input; copies it (the caller keeps ownership). */
typedef void amk_fuzz_add_fn(void *arg, const uint8_t *data, size_t size);

/* Optional in a target: hands the standalone driver its seed inputs, valid
 * encodings to mutate from. Without it the driver uses generic seeds. */
void amk_fuzz_seeds(amk_fuzz_add_fn *add, void *arg);

/* Aborts with the location when cond is false; unlike assert() it stays in
 * release (NDEBUG) builds. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fuzz_check_failed(__FILE__, __LINE__, #cond);                      \
        }                                                                      \
    } while (0)

#include <stdio.h>
#include <stdlib.h>

static inline void fuzz_check_failed(const char *file, int line,
                                     const char *cond)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, cond);
    abort();
}

#endif
