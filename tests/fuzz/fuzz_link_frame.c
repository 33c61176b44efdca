/* tests/fuzz/fuzz_link_frame.c: the cluster link's decoders (server/link.h)
 * on arbitrary bytes, read as a connection reads them: frame after frame,
 * each header checked before its payload, each payload decoded by type.
 * Whatever decodes must encode back to the very same bytes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server/link.h"

/* Re-encodes a decoded frame and compares it with the input bytes. */
static void check_same(const uint8_t *frame, size_t len, void *again,
                       size_t again_len)
{
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(again_len == len);
    FUZZ_CHECK(memcmp(again, frame, len) == 0);
    free(again);
}

static void one_frame(const uint8_t *bytes, const struct amk_link_frame *f,
                      size_t len)
{
    char errmsg[256];
    void *again = NULL;
    size_t again_len = 0;
    FUZZ_CHECK(f->h.payload_len <= amk_link_payload_cap(f->h.type));
    switch (f->h.type) {
        case AMK_LINK_PROPOSE:
            if (f->h.payload_len > 0) {
                FUZZ_CHECK(amk_link_encode_propose(f->h.id, f->payload,
                                                   f->h.payload_len, &again,
                                                   &again_len) == 0);
                check_same(bytes, len, again, again_len);
            }
            break;
        case AMK_LINK_READ_INDEX:
            FUZZ_CHECK(f->h.payload_len == 0);
            FUZZ_CHECK(
                amk_link_encode_read_index(f->h.id, &again, &again_len) == 0);
            check_same(bytes, len, again, again_len);
            break;
        case AMK_LINK_RESULT: {
            uint8_t status;
            struct amk_sm_result result;
            char message[AMK_LINK_MESSAGE_MAX + 1];
            int rv = amk_link_decode_result(f->payload, f->h.payload_len,
                                            &status, &result, message, errmsg);
            if (rv == AMK_LINK_OK) {
                FUZZ_CHECK(status < AMK_LINK_STATUS__END);
                FUZZ_CHECK(amk_link_encode_result(
                               f->h.id, status,
                               status == AMK_LINK_STATUS_OK ? &result : NULL,
                               message, &again, &again_len) == 0);
                check_same(bytes, len, again, again_len);
            } else {
                FUZZ_CHECK(rv == AMK_LINK_EPROTO);
                FUZZ_CHECK(result.body == NULL);
            }
            amk_sm_result_clear(&result);
            break;
        }
        case AMK_LINK_INDEX: {
            uint8_t status;
            uint64_t index;
            if (amk_link_decode_index(f->payload, f->h.payload_len, &status,
                                      &index, errmsg) == AMK_LINK_OK) {
                FUZZ_CHECK(amk_link_encode_index(f->h.id, status, index, &again,
                                                 &again_len) == 0);
                check_same(bytes, len, again, again_len);
            }
            break;
        }
        case AMK_LINK_HEARTBEAT: {
            struct amk_link_heartbeat hb;
            if (amk_link_decode_heartbeat(f->payload, f->h.payload_len, &hb,
                                          errmsg) == AMK_LINK_OK) {
                FUZZ_CHECK(hb.centre[0] != '\0');
                FUZZ_CHECK(amk_link_encode_heartbeat(f->h.id, &hb, &again,
                                                     &again_len) == 0);
                check_same(bytes, len, again, again_len);
            }
            break;
        }
        default:
            FUZZ_CHECK(!"a frame of an unknown type was accepted");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[256];
    size_t at = 0;
    while (at < size) {
        struct amk_link_frame f;
        size_t consumed = 0;
        int rv =
            amk_link_frame_decode(data + at, size - at, &f, &consumed, errmsg);
        if (rv == AMK_LINK_EAGAIN) {
            FUZZ_CHECK(consumed > size - at);
            break;
        }
        if (rv != AMK_LINK_OK) {
            /* A connection would be closed here. */
            FUZZ_CHECK(rv == AMK_LINK_EPROTO || rv == AMK_LINK_ETOOBIG);
            FUZZ_CHECK(errmsg[0] != '\0');
            break;
        }
        FUZZ_CHECK(consumed == AMK_LINK_HEADER_SIZE + f.h.payload_len);
        FUZZ_CHECK(consumed <= size - at);
        one_frame(data + at, &f, consumed);
        at += consumed;
    }
    return 0;
}

/* Adds the frame an encoder call makes (frame and len are its outputs). */
#define SEED(call)                                                             \
    do {                                                                       \
        void *frame = NULL;                                                    \
        size_t len = 0;                                                        \
        if ((call) == 0) {                                                     \
            add(arg, frame, len);                                              \
        }                                                                      \
        free(frame);                                                           \
    } while (0)

void amk_fuzz_seeds(amk_fuzz_add_fn *add, void *arg)
{
    static const uint8_t cmd[] = {1, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    SEED(amk_link_encode_propose(1, cmd, sizeof cmd, &frame, &len));
    SEED(amk_link_encode_read_index(2, &frame, &len));
    SEED(amk_link_encode_index(3, AMK_LINK_STATUS_OK, 4242, &frame, &len));
    SEED(amk_link_encode_index(4, AMK_LINK_STATUS_NOT_LEADER, 0, &frame, &len));
    struct amk_sm_result r;
    memset(&r, 0, sizeof r);
    r.code = AMK_ESTALE_EPOCH;
    strcpy(r.message, "incident is owned by bergen");
    strcpy(r.owner, "bergen");
    r.epoch = 3;
    r.version = 9;
    r.applied = true;
    r.created = true;
    r.index = 77;
    r.body = "{\"id\":\"oslo\",\"version\":1}";
    SEED(amk_link_encode_result(5, AMK_LINK_STATUS_OK, &r, NULL, &frame, &len));
    r.body = NULL;
    SEED(amk_link_encode_result(6, AMK_LINK_STATUS_OK, &r, NULL, &frame, &len));
    SEED(amk_link_encode_result(7, AMK_LINK_STATUS_ERROR, NULL,
                                "leadership lost", &frame, &len));
    struct amk_link_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    strcpy(hb.session, "s-1");
    strcpy(hb.centre, "oslo");
    hb.valid = true;
    SEED(amk_link_encode_heartbeat(0, &hb, &frame, &len));

    /* A stream of several frames, as one read may deliver them. */
    uint8_t stream[512];
    size_t n = 0;
    void *parts[3];
    size_t lens[3];
    if (amk_link_encode_read_index(8, &parts[0], &lens[0]) == 0 &&
        amk_link_encode_heartbeat(0, &hb, &parts[1], &lens[1]) == 0 &&
        amk_link_encode_index(9, AMK_LINK_STATUS_OK, 1, &parts[2], &lens[2]) ==
            0) {
        for (int i = 0; i < 3; i++) {
            memcpy(stream + n, parts[i], lens[i]);
            n += lens[i];
            free(parts[i]);
        }
        add(arg, stream, n);
    }
}
