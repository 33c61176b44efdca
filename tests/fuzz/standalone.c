/* tests/fuzz/standalone.c: runs any fuzz target (fuzz_*.c) without libFuzzer,
 * so ctest exercises every decoder on each build: the target's seeds, then a
 * fixed budget of deterministic mutations of them (bit flips, truncations,
 * insertions, smashed length fields, splices).
 *
 *   fuzz_x [N [SEED]]   N mutated inputs (default 20000), PRNG seed SEED
 *   fuzz_x FILE...      replay inputs saved from libFuzzer or from a crash
 *
 * On a crash the input is saved to crash-<target>.bin for replay. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define DEFAULT_ITERATIONS 20000
#define DEFAULT_SEED       UINT64_C(0x414D4B2D66757A7A) /* "AMK-fuzz" */
#define MAX_INPUT          (512u * 1024u) /* above every decoder's cap */

/* Weak: a target may leave it out. */
__attribute__((weak)) void amk_fuzz_seeds(amk_fuzz_add_fn *add, void *arg);

struct corpus {
    uint8_t **data;
    size_t *size;
    size_t n, cap;
};

static void corpus_add(void *arg, const uint8_t *data, size_t size)
{
    struct corpus *corpus = arg;
    uint8_t *copy = malloc(size > 0 ? size : 1);

    if (corpus->n == corpus->cap) {
        corpus->cap = corpus->cap ? 2 * corpus->cap : 32;
        corpus->data = realloc(corpus->data, corpus->cap * sizeof(uint8_t *));
        corpus->size = realloc(corpus->size, corpus->cap * sizeof(size_t));
    }
    if (copy == NULL || corpus->data == NULL || corpus->size == NULL) {
        fprintf(stderr, "standalone: out of memory\n");
        exit(2);
    }
    if (size > 0) {
        memcpy(copy, data, size);
    }
    corpus->data[corpus->n] = copy;
    corpus->size[corpus->n++] = size;
}

static void corpus_free(struct corpus *corpus)
{
    size_t i;
    for (i = 0; i < corpus->n; i++) {
        free(corpus->data[i]);
    }
    free(corpus->data);
    free(corpus->size);
}

/* --- Crash reports ------------------------------------------------------ */

/* The input being run, for the signal handler: process-wide by nature. */
static const uint8_t *current_input;
static size_t current_size;
static unsigned long current_index;
static char crash_path[256];
static struct sigaction previous[NSIG];

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Async-signal-safe: saves the input, then hands the signal back to whoever
 * had it before (the sanitizers' handlers print their report). */
static void on_crash(int sig)
{
    static const char msg[] = "standalone: crash; input saved to ";
    char digits[24];
    size_t k = sizeof digits;
    unsigned long index = current_index;
    int fd;

    fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        write_all(fd, current_input, current_size);
        close(fd);
    }
    write_all(2, msg, sizeof msg - 1);
    write_all(2, crash_path, strlen(crash_path));
    write_all(2, " (input #", 9);
    do {
        digits[--k] = (char)('0' + index % 10);
        index /= 10;
    } while (index > 0 && k > 0);
    write_all(2, digits + k, sizeof digits - k);
    write_all(2, ")\n", 2);
    sigaction(sig, &previous[sig], NULL);
    raise(sig);
}

static void install_crash_handlers(const char *name)
{
    static const int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction action;
    size_t i;

    snprintf(crash_path, sizeof crash_path, "crash-%s.bin", name);
    memset(&action, 0, sizeof action);
    action.sa_handler = on_crash;
    sigemptyset(&action.sa_mask);
    for (i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        sigaction(signals[i], &action, &previous[signals[i]]);
    }
}

/* Runs one input from an exact-size heap copy, so sanitizers see any read
 * past its end. */
static void run(const uint8_t *data, size_t size)
{
    uint8_t *exact = malloc(size > 0 ? size : 1);

    if (exact == NULL) {
        fprintf(stderr, "standalone: out of memory\n");
        exit(2);
    }
    if (size > 0) {
        memcpy(exact, data, size);
    }
    current_input = exact;
    current_size = size;
    LLVMFuzzerTestOneInput(exact, size);
    current_input = NULL;
    free(exact);
    current_index++;
}

/* --- Mutations ---------------------------------------------------------- */

static uint64_t next_random(uint64_t *state) /* xorshift64* */
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C(2685821657736338717);
}

static size_t below(uint64_t *rng, size_t n) /* 0..n-1; n > 0 */
{
    return (size_t)(next_random(rng) % n);
}

struct input {
    uint8_t *data;
    size_t size;
};

static void store_le(uint8_t *p, uint64_t v, unsigned size)
{
    unsigned i;
    for (i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Values that sit on the edges of length fields, caps, enums and floats. */
static uint64_t interesting(uint64_t *rng, unsigned size)
{
    static const uint64_t values[] = {
        0,
        1,
        2,
        15,
        16,
        17,
        63,
        64,
        65,
        127,
        128,
        129,
        255,
        256,
        257,
        16383,
        16384,
        16385,
        0x7FFFFFFF,
        0x80000000,
        0xFFFFFFFE,
        0xFFFFFFFF,
        UINT64_MAX,
        UINT64_C(0x8000000000000000),
        UINT64_C(0x7FF8000000000000), /* NaN */
        UINT64_C(0x7FF0000000000000), /* +inf */
    };
    if (below(rng, 4) == 0) {
        return next_random(rng) & (size == 8 ? UINT64_MAX : 0xFFFFFFFF);
    }
    return values[below(rng, sizeof values / sizeof values[0])];
}

static void mutate(struct input *in, const struct corpus *corpus, uint64_t *rng)
{
    size_t pos, n, k;
    const uint8_t *other;
    size_t other_size;

    switch (below(rng, 10)) {
        case 0: /* flip a bit */
            if (in->size > 0) {
                in->data[below(rng, in->size)] ^=
                    (uint8_t)(1u << below(rng, 8));
            }
            break;
        case 1: /* set a byte */
            if (in->size > 0) {
                in->data[below(rng, in->size)] = (uint8_t)interesting(rng, 1);
            }
            break;
        case 2: /* truncate */
            in->size = below(rng, in->size + 1);
            break;
        case 3: /* insert random bytes */
            n = 1 + below(rng, 8);
            if (in->size + n > MAX_INPUT) {
                break;
            }
            pos = below(rng, in->size + 1);
            memmove(in->data + pos + n, in->data + pos, in->size - pos);
            for (k = 0; k < n; k++) {
                in->data[pos + k] = (uint8_t)next_random(rng);
            }
            in->size += n;
            break;
        case 4: /* delete a range */
            if (in->size > 0) {
                pos = below(rng, in->size);
                n = 1 + below(rng, in->size - pos);
                memmove(in->data + pos, in->data + pos + n, in->size - pos - n);
                in->size -= n;
            }
            break;
        case 5: /* smash a u32 (length, count) */
        case 6:
            if (in->size >= 4) {
                store_le(in->data + below(rng, in->size - 3),
                         interesting(rng, 4), 4);
            }
            break;
        case 7: /* smash a u64 (present mask, number) */
            if (in->size >= 8) {
                store_le(in->data + below(rng, in->size - 7),
                         interesting(rng, 8), 8);
            }
            break;
        case 8: /* splice: own prefix, another seed's suffix */
            k = below(rng, corpus->n);
            other = corpus->data[k];
            other_size = corpus->size[k];
            pos = below(rng, in->size + 1);
            n = below(rng, other_size + 1);
            if (pos + (other_size - n) <= MAX_INPUT) {
                memcpy(in->data + pos, other + n, other_size - n);
                in->size = pos + (other_size - n);
            }
            break;
        case 9: /* duplicate a chunk in place, or rarely grow huge */
            if (below(rng, 64) == 0) {
                n = MAX_INPUT - in->size;
                memset(in->data + in->size, 0, n);
                in->size += n;
            } else if (in->size > 0) {
                pos = below(rng, in->size);
                n = 1 + below(rng, in->size - pos);
                if (in->size + n <= MAX_INPUT) {
                    memmove(in->data + pos + n, in->data + pos, in->size - pos);
                    in->size += n;
                }
            }
            break;
    }
}

/* --- Main --------------------------------------------------------------- */

static int replay_files(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        static uint8_t data[MAX_INPUT];
        FILE *f = fopen(argv[i], "rb");
        size_t size;
        if (f == NULL) {
            fprintf(stderr, "standalone: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        size = fread(data, 1, sizeof data, f);
        fclose(f);
        run(data, size);
    }
    return 0;
}

static bool parse_number(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno == 0 && end != s && *end == '\0';
}

int main(int argc, char **argv)
{
    const char *name =
        strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    unsigned long long iterations = DEFAULT_ITERATIONS, seed = DEFAULT_SEED;
    struct corpus corpus = {NULL, NULL, 0, 0};
    struct input in;
    uint64_t rng;
    unsigned long long i;
    size_t k, rounds;

    install_crash_handlers(name);
    if (argc > 1 && !parse_number(argv[1], &iterations)) {
        return replay_files(argc, argv);
    }
    if (argc > 2 && !parse_number(argv[2], &seed)) {
        fprintf(stderr, "usage: %s [N [SEED]] | FILE...\n", name);
        return 2;
    }
    if (amk_fuzz_seeds != NULL) {
        amk_fuzz_seeds(corpus_add, &corpus);
    }
    /* Generic seeds, for targets without their own and as odd shapes. */
    {
        static const uint8_t zeros[64];
        uint8_t ones[64];
        memset(ones, 0xFF, sizeof ones);
        corpus_add(&corpus, zeros, 0);
        corpus_add(&corpus, zeros, 1);
        corpus_add(&corpus, zeros, sizeof zeros);
        corpus_add(&corpus, ones, sizeof ones);
    }

    in.data = malloc(MAX_INPUT);
    if (in.data == NULL) {
        fprintf(stderr, "standalone: out of memory\n");
        return 2;
    }
    for (k = 0; k < corpus.n; k++) {
        run(corpus.data[k], corpus.size[k]);
    }
    rng = seed != 0 ? seed : DEFAULT_SEED; /* xorshift needs non-zero */
    for (i = 0; i < iterations; i++) {
        k = below(&rng, corpus.n);
        memcpy(in.data, corpus.data[k], corpus.size[k]);
        in.size = corpus.size[k];
        for (rounds = 1 + below(&rng, 4); rounds > 0; rounds--) {
            mutate(&in, &corpus, &rng);
        }
        run(in.data, in.size);
    }
    printf("%s: %lu inputs, 0 crashes\n", name, current_index);
    free(in.data);
    corpus_free(&corpus);
    return 0;
}
