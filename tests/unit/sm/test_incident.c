/* tests/unit/sm/test_incident.c: every incident command's success and
 * failure paths (sm/incident.c): create, update, notes, assignment, phases,
 * close, cancel; versions and If-Match. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

static int64_t version(struct h_ctx *h, const char *id)
{
    return h_gi(h, AMK_OBJ_INCIDENT, id, "$.version");
}

/* A full create of `id` by s-oslo, for tables to spoil. */
static void full_create(struct amk_cmd *c, const char *id)
{
    h_cmd(c, AMK_CMD_INCIDENT_CREATE, AMK_ROLE_OPERATOR, "s-oslo");
    struct amk_cmd_incident_create *b = &c->u.incident_create;
    b->id = amk_str_c(id);
    b->urgency = AMK_URG_URGENT;
    b->criterion = amk_str_c("26.03");
    b->lat = 59.9139;
    b->lon = 10.7522;
    b->accuracy_m = 12.5;
    b->address = amk_str_c("Storgata 1");
    b->municipality = amk_str_c("0301");
    b->caller_phone = amk_str_c("+47 22 00 00 00");
    b->caller_name = amk_str_c("Kari Nordmann");
    b->n_patients = 2;
    b->patients[0].name = amk_str_c("Ola");
    b->patients[0].national_id = amk_str_c("01019012345");
    b->patients[0].age = 35;
    b->patients[0].sex = AMK_SEX_MALE;
    b->patients[1].age = 4;
    b->note = amk_str_c("child involved");
}

/* --- create -------------------------------------------------------------- */

static void test_create_ok(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    full_create(&c, "i1");
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.created);
    assert_true(h->r.applied);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "incident.created");
    assert_string_equal(h_js(h, h->r.event, "$.changes[0].id"), "i1");
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.id"), "i1");
    assert_string_equal(h_js(h, b, "$.case_number"), "oslo-2026-000001");
    assert_string_equal(h_js(h, b, "$.status"), "new");
    assert_string_equal(h_js(h, b, "$.urgency"), "urgent");
    assert_string_equal(h_js(h, b, "$.criterion"), "26.03");
    assert_string_equal(h_js(h, b, "$.location.address"), "Storgata 1");
    assert_string_equal(h_js(h, b, "$.location.municipality"), "0301");
    assert_string_equal(h_js(h, b, "$.location.lat"), "59.9139");
    assert_string_equal(h_js(h, b, "$.location.accuracy_m"), "12.5");
    assert_string_equal(h_js(h, b, "$.caller.phone"), "+47 22 00 00 00");
    assert_string_equal(h_js(h, b, "$.caller.name"), "Kari Nordmann");
    assert_int_equal(h_jlen(h, b, "$.patients"), 2);
    assert_string_equal(h_js(h, b, "$.patients[0].national_id"), "01019012345");
    assert_string_equal(h_js(h, b, "$.patients[0].sex"), "male");
    assert_int_equal(h_ji(h, b, "$.patients[1].age"), 4);
    assert_string_equal(h_js(h, b, "$.patients[1].sex"), "unknown");
    assert_string_equal(h_js(h, b, "$.owner"), "oslo");
    assert_int_equal(h_ji(h, b, "$.owner_epoch"), 1);
    assert_string_equal(h_js(h, b, "$.answering_centre"), "oslo");
    assert_string_equal(h_js(h, b, "$.area_centre"), "oslo");
    assert_int_equal(h_jlen(h, b, "$.notes"), 1);
    assert_string_equal(h_js(h, b, "$.notes[0].text"), "child involved");
    assert_string_equal(h_js(h, b, "$.notes[0].by"), "nurse-1");
    assert_int_equal(h_jlen(h, b, "$.assignments"), 0);
    assert_string_not_equal(h_js(h, b, "$.times.created"), "null");
    assert_int_equal(h_ji(h, b, "$.version"), 1);
    /* The stored object is what was answered. */
    assert_string_equal(h_get(h, AMK_OBJ_INCIDENT, "i1"), b);

    /* Case numbers count per centre. */
    H_OK(h, h_incident(h, "i2", "s-oslo"));
    assert_string_equal(h_js(h, h->r.body, "$.case_number"),
                        "oslo-2026-000002");
    H_OK(h, h_incident(h, "i3", "s-bergen"));
    assert_string_equal(h_js(h, h->r.body, "$.case_number"),
                        "bergen-2026-000001");
    /* Minimal: no location, no patients. */
    h_cmd(&c, AMK_CMD_INCIDENT_CREATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_create.id = amk_str_c("i4");
    c.u.incident_create.urgency = AMK_URG_NORMAL;
    H_OK(h, h_apply(h, &c));
    assert_string_equal(h_js(h, h->r.body, "$.location"), "null");
    assert_string_equal(h_js(h, h->r.body, "$.criterion"), "null");
    assert_int_equal(h_jlen(h, h->r.body, "$.patients"), 0);
    assert_int_equal(h_jlen(h, h->r.body, "$.notes"), 0);
}

/* Case numbers count per centre and leader-time year. */
static void test_case_numbers_by_year(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    h->now_ms = 1798761599000LL; /* 2026-12-31T23:59:59Z */
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    assert_string_equal(h_js(h, h->r.body, "$.case_number"),
                        "oslo-2026-000001");
    assert_string_equal(h_js(h, h->r.body, "$.times.created"),
                        "2026-12-31T23:59:59.000Z");
    H_OK(h, h_incident(h, "i2", "s-oslo")); /* one second later */
    assert_string_equal(h_js(h, h->r.body, "$.case_number"),
                        "oslo-2027-000001");
    H_OK(h, h_incident(h, "i3", "s-oslo"));
    assert_string_equal(h_js(h, h->r.body, "$.case_number"),
                        "oslo-2027-000002");
    /* Leader time may step back (a new leader's clock): it is clamped to
     * the last applied time, so numbering stays in 2027. */
    h->now_ms = 1798761590000LL;
    H_OK(h, h_incident(h, "i4", "s-oslo"));
    assert_string_equal(h_js(h, h->r.body, "$.case_number"),
                        "oslo-2027-000003");
}

static void test_create_area_and_duplicate(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    full_create(&c, "i1");
    c.u.incident_create.area_centre = amk_str_c("bergen");
    H_OK(h, h_apply(h, &c));
    assert_string_equal(h_js(h, h->r.body, "$.area_centre"), "bergen");
    assert_string_equal(h_js(h, h->r.body, "$.owner"), "oslo");
    c.u.incident_create.area_centre = amk_str_c("nowhere");
    c.u.incident_create.id = amk_str_c("i2");
    H_EXPECT(h, AMK_EINVALID, h_apply(h, &c));
    assert_non_null(strstr(h->r.message, "area_centre"));
    /* Duplicate id: CONFLICT, and the first stays as it was. */
    const char *before = h_get(h, AMK_OBJ_INCIDENT, "i1");
    full_create(&c, "i1");
    c.u.incident_create.urgency = AMK_URG_NORMAL;
    H_EXPECT(h, AMK_ECONFLICT, h_apply(h, &c));
    assert_string_equal(h_get(h, AMK_OBJ_INCIDENT, "i1"), before);
    /* A failed create does not use up a case number. */
    H_OK(h, h_incident(h, "i3", "s-oslo"));
    assert_string_equal(h_js(h, h->r.body, "$.case_number"),
                        "oslo-2026-000002");
}

static void test_create_auth(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_session(h, "obs", "oslo", AMK_ROLE_OBSERVER));
    struct amk_cmd c;
    full_create(&c, "i1");
    c.h.session.len = 0;
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_apply(h, &c));
    full_create(&c, "i1");
    c.h.session = amk_str_c("ghost");
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_apply(h, &c));
    full_create(&c, "i1");
    c.h.session = amk_str_c("b-oslo");
    c.h.role = AMK_ROLE_BRIDGE;
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
    full_create(&c, "i1");
    c.h.session = amk_str_c("obs");
    c.h.role = AMK_ROLE_OBSERVER;
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
    H_OK(h, h_session_close(h, NULL, "s-oslo"));
    full_create(&c, "i1");
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_apply(h, &c));
    assert_null(h_get(h, AMK_OBJ_INCIDENT, "i1"));
}

enum spoil {
    SP_ID,
    SP_CRITERION,
    SP_MUNICIPALITY,
    SP_LAT,
    SP_LON,
    SP_LAT_ONLY,
    SP_LON_ONLY,
    SP_ACCURACY,
    SP_PHONE,
    SP_NATIONAL_ID,
    SP_AGE,
};

struct bad_create {
    enum spoil what;
    const char *text;
    double number;
    const char *field; /* the message starts with it; NULL: accepted */
};

static const struct bad_create bad_creates[] = {
    {SP_ID, "bad id", 0, "id"},
    {SP_ID, "", 0, "id"},
    {SP_CRITERION, "1001", 0, "criterion"},
    {SP_CRITERION, "10.1", 0, "criterion"},
    {SP_CRITERION, "10.011", 0, "criterion"},
    {SP_CRITERION, "ab.cd", 0, "criterion"},
    {SP_CRITERION, "10,01", 0, "criterion"},
    {SP_CRITERION, "", 0, "criterion"},
    {SP_CRITERION, "01.01", 0, NULL},
    {SP_MUNICIPALITY, "301", 0, "location.municipality"},
    {SP_MUNICIPALITY, "03011", 0, "location.municipality"},
    {SP_MUNICIPALITY, "03a1", 0, "location.municipality"},
    {SP_MUNICIPALITY, "", 0, "location.municipality"},
    {SP_MUNICIPALITY, "5001", 0, NULL},
    {SP_LAT, NULL, 90.0001, "location.lat"},
    {SP_LAT, NULL, -90.5, "location.lat"},
    {SP_LAT, NULL, 90, NULL},
    {SP_LAT, NULL, -90, NULL},
    {SP_LON, NULL, 180.01, "location.lon"},
    {SP_LON, NULL, -181, "location.lon"},
    {SP_LON, NULL, 180, NULL},
    {SP_LON, NULL, -180, NULL},
    {SP_LAT_ONLY, NULL, 0, "location"},
    {SP_LON_ONLY, NULL, 0, "location"},
    {SP_ACCURACY, NULL, -1, "location.accuracy_m"},
    {SP_ACCURACY, NULL, 0, NULL},
    {SP_PHONE, "call me", 0, "caller.phone"},
    {SP_PHONE, "", 0, "caller.phone"},
    {SP_PHONE, "113", 0, NULL},
    {SP_NATIONAL_ID, "0101901234", 0, "patients[1].national_id"},
    {SP_NATIONAL_ID, "010190123456", 0, "patients[1].national_id"},
    {SP_NATIONAL_ID, "0101901234x", 0, "patients[1].national_id"},
    {SP_NATIONAL_ID, "01019012345", 0, NULL},
    {SP_AGE, NULL, -1, "patients[1].age"},
    {SP_AGE, NULL, 151, "patients[1].age"},
    {SP_AGE, NULL, 0, NULL},
    {SP_AGE, NULL, 150, NULL},
};
#define N_BAD_CREATES (sizeof bad_creates / sizeof bad_creates[0])

static void spoil_fields(struct amk_cmd *c, const struct bad_create *row,
                         bool update)
{
    /* create and update share the field layout after the id, but not
     * the struct; spoil the right one. */
    struct amk_str *criterion, *municipality, *phone;
    double *lat, *lon, *accuracy;
    struct amk_patient *patients;
    if (update) {
        struct amk_cmd_incident_update *u = &c->u.incident_update;
        criterion = &u->criterion;
        municipality = &u->municipality;
        phone = &u->caller_phone;
        lat = &u->lat;
        lon = &u->lon;
        accuracy = &u->accuracy_m;
        patients = u->patients;
        if (row->what == SP_NATIONAL_ID || row->what == SP_AGE) {
            u->n_patients = 2;
        }
        if (row->what >= SP_LAT && row->what <= SP_ACCURACY) {
            u->lat = 60;
            u->lon = 11;
        }
    } else {
        struct amk_cmd_incident_create *cr = &c->u.incident_create;
        criterion = &cr->criterion;
        municipality = &cr->municipality;
        phone = &cr->caller_phone;
        lat = &cr->lat;
        lon = &cr->lon;
        accuracy = &cr->accuracy_m;
        patients = cr->patients;
        if (row->what == SP_ID) {
            cr->id = amk_str_c(row->text);
        }
    }
    switch (row->what) {
        case SP_ID:
            break;
        case SP_CRITERION:
            *criterion = amk_str_c(row->text);
            break;
        case SP_MUNICIPALITY:
            *municipality = amk_str_c(row->text);
            break;
        case SP_LAT:
            *lat = row->number;
            break;
        case SP_LON:
            *lon = row->number;
            break;
        case SP_LAT_ONLY:
            *lon = NAN;
            break;
        case SP_LON_ONLY:
            *lat = NAN;
            break;
        case SP_ACCURACY:
            *accuracy = row->number;
            break;
        case SP_PHONE:
            *phone = amk_str_c(row->text);
            break;
        case SP_NATIONAL_ID:
            patients[1].national_id = amk_str_c(row->text);
            break;
        case SP_AGE:
            patients[1].age = (int32_t)row->number;
            break;
    }
}

static void expect_field(struct h_ctx *h, int rc, const struct bad_create *row)
{
    if (row->field == NULL) {
        H_OK(h, rc);
        return;
    }
    H_EXPECT(h, AMK_EINVALID, rc);
    if (strncmp(h->r.message, row->field, strlen(row->field)) != 0) {
        fail_msg("message '%s' does not name %s", h->r.message, row->field);
    }
    assert_null(h->r.event);
    assert_null(h->r.body);
}

static void test_create_fields(void **state)
{
    struct h_fixture *f = *state;
    struct h_ctx *h = &f->h;
    const struct bad_create *row = f->row;
    struct amk_cmd c;
    full_create(&c, "i1");
    spoil_fields(&c, row, false);
    int rc = h_apply(h, &c);
    expect_field(h, rc, row);
    if (row->field != NULL) {
        char *list;
        assert_int_equal(amk_sm_list(h->sm, AMK_OBJ_INCIDENT, NULL, &list), 0);
        assert_int_equal(h_jlen(h, list, "$.items"), 0);
        free(list);
    }
}

/* The same table through incident.update: validation is shared, and a
 * rejected update leaves the incident as it was. */
static void test_update_fields(void **state)
{
    struct h_fixture *f = *state;
    struct h_ctx *h = &f->h;
    const struct bad_create *row = f->row;
    struct amk_cmd c;
    full_create(&c, "i1");
    H_OK(h, h_apply(h, &c));
    if (row->what == SP_ID) {
        /* No incident has a malformed id: it is simply not found. */
        H_EXPECT(h, AMK_ENOTFOUND, h_note(h, "s-oslo", row->text, "x"));
        return;
    }
    const char *before = h_get(h, AMK_OBJ_INCIDENT, "i1");
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.urgency = AMK_URG_ACUTE;
    spoil_fields(&c, row, true);
    int rc = h_apply(h, &c);
    expect_field(h, rc, row);
    if (row->field != NULL) {
        assert_string_equal(h_get(h, AMK_OBJ_INCIDENT, "i1"), before);
    } else {
        assert_int_equal(version(h, "i1"), 2);
    }
}

/* --- update -------------------------------------------------------------- */

static void test_update_replaces_whole(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    full_create(&c, "i1");
    H_OK(h, h_apply(h, &c));

    /* Only lat/lon: the rest of the location becomes null. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.lat = 60.39;
    c.u.incident_update.lon = 5.32;
    H_OK(h, h_apply(h, &c));
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.location.lat"), "60.39");
    assert_string_equal(h_js(h, b, "$.location.lon"), "5.32");
    assert_string_equal(h_js(h, b, "$.location.address"), "null");
    assert_string_equal(h_js(h, b, "$.location.municipality"), "null");
    assert_string_equal(h_js(h, b, "$.location.accuracy_m"), "null");
    /* Untouched groups stay. */
    assert_string_equal(h_js(h, b, "$.caller.name"), "Kari Nordmann");
    assert_int_equal(h_jlen(h, b, "$.patients"), 2);
    assert_string_equal(h_js(h, b, "$.urgency"), "urgent");
    assert_int_equal(h_ji(h, b, "$.version"), 2);

    /* Only an address: coordinates go. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.address = amk_str_c("Bryggen 1");
    c.u.incident_update.municipality = amk_str_c("4601");
    H_OK(h, h_apply(h, &c));
    b = h->r.body;
    assert_string_equal(h_js(h, b, "$.location.lat"), "null");
    assert_string_equal(h_js(h, b, "$.location.address"), "Bryggen 1");
    assert_string_equal(h_js(h, b, "$.location.municipality"), "4601");

    /* Caller whole: only the phone given clears the name. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.caller_phone = amk_str_c("99999999");
    H_OK(h, h_apply(h, &c));
    assert_string_equal(h_js(h, h->r.body, "$.caller.phone"), "99999999");
    assert_string_equal(h_js(h, h->r.body, "$.caller.name"), "null");

    /* Patients replaced: one, then none. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.n_patients = 1;
    c.u.incident_update.patients[0].name = amk_str_c("Per");
    c.u.incident_update.patients[0].sex = AMK_SEX_OTHER;
    H_OK(h, h_apply(h, &c));
    assert_int_equal(h_jlen(h, h->r.body, "$.patients"), 1);
    assert_string_equal(h_js(h, h->r.body, "$.patients[0].name"), "Per");
    assert_string_equal(h_js(h, h->r.body, "$.patients[0].sex"), "other");
    assert_string_equal(h_js(h, h->r.body, "$.patients[0].national_id"),
                        "null");
    c.u.incident_update.n_patients = 0;
    H_OK(h, h_apply(h, &c));
    assert_int_equal(h_jlen(h, h->r.body, "$.patients"), 0);

    /* Urgency and criterion alone. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.urgency = AMK_URG_ACUTE;
    c.u.incident_update.criterion = amk_str_c("04.01");
    H_OK(h, h_apply(h, &c));
    assert_string_equal(h_js(h, h->r.body, "$.urgency"), "acute");
    assert_string_equal(h_js(h, h->r.body, "$.criterion"), "04.01");
    assert_string_equal(h_js(h, h->r.body, "$.location.address"), "Bryggen 1");
    assert_int_equal(h_ji(h, h->r.body, "$.version"), 7);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "incident.updated");

    /* Nothing to update. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    H_EXPECT(h, AMK_EINVALID, h_apply(h, &c));
    assert_int_equal(version(h, "i1"), 7);

    /* A status and fields in one command (two statements on the row):
     * one version, in the answer and in the row. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.status = AMK_INC_TRIAGED;
    c.u.incident_update.urgency = AMK_URG_URGENT;
    H_OK(h, h_apply(h, &c));
    assert_string_equal(h_js(h, h->r.body, "$.status"), "triaged");
    assert_int_equal(h_ji(h, h->r.body, "$.version"), 8);
    assert_int_equal(version(h, "i1"), 8);
}

static void test_update_if_match_and_order(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i1");
    c.u.incident_update.urgency = AMK_URG_NORMAL;
    c.h.if_match = 1;
    H_OK(h, h_apply(h, &c));
    assert_int_equal(h_ji(h, h->r.body, "$.version"), 2);
    /* Replaying the same If-Match now fails, naming the current version. */
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    assert_int_equal(h->r.version, 2);
    assert_null(h->r.event);

    /* Check order: 401 before 404 before 409 before 412 before 400 before
     * the transition's 409. */
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "ghost");
    c.u.incident_update.id = amk_str_c("nowhere");
    c.h.if_match = 99;
    c.u.incident_update.criterion = amk_str_c("bad");
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_apply(h, &c));
    c.h.session = amk_str_c("s-bergen");
    H_EXPECT(h, AMK_ENOTFOUND, h_apply(h, &c));
    c.u.incident_update.id = amk_str_c("i1");
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_apply(h, &c));
    c.h.session = amk_str_c("s-oslo");
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    c.h.if_match = 2;
    c.u.incident_update.status = AMK_INC_RESOLVED; /* not allowed from new */
    H_EXPECT(h, AMK_EINVALID, h_apply(h, &c));
    c.u.incident_update.criterion = amk_str_c("10.02");
    H_EXPECT(h, AMK_ECONFLICT, h_apply(h, &c));
    assert_int_equal(version(h, "i1"), 2);
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i1", "$.criterion"),
                        "10.01");
    /* Closed incidents take no update. */
    H_OK(h, h_close_incident(h, "s-oslo", "i1", AMK_DISP_NO_PATIENT));
    c.h.if_match = 0;
    c.u.incident_update.status = AMK_ENUM_NONE;
    H_EXPECT(h, AMK_ECONFLICT, h_apply(h, &c));
}

/* --- notes --------------------------------------------------------------- */

static void test_notes(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    H_OK(h, h_note(h, "s-oslo", "i1", "first"));
    assert_true(h->r.created);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "incident.note_added");
    H_OK(h, h_note(h, "s-oslo", "i1", "second"));
    assert_int_equal(h_jlen(h, h->r.body, "$.notes"), 2);
    assert_string_equal(h_js(h, h->r.body, "$.notes[0].text"), "first");
    assert_string_equal(h_js(h, h->r.body, "$.notes[1].text"), "second");
    assert_string_equal(h_js(h, h->r.body, "$.notes[1].by"), "nurse-1");
    assert_int_equal(h_ji(h, h->r.body, "$.version"), 3);
    H_EXPECT(h, AMK_EINVALID, h_note(h, "s-oslo", "i1", ""));
    assert_non_null(strstr(h->r.message, "text"));
    H_EXPECT(h, AMK_ENOTFOUND, h_note(h, "s-oslo", "i2", "x"));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-bergen", "i1", "x"));
    /* Late documentation on a closed incident. */
    H_OK(h, h_close_incident(h, "s-oslo", "i1", AMK_DISP_REFERRED));
    H_OK(h, h_note(h, "s-oslo", "i1", "late"));
    assert_int_equal(h_jlen(h, h->r.body, "$.notes"), 3);
    assert_string_equal(h_js(h, h->r.body, "$.status"), "closed");
    /* Notes are kept as text, whatever their content. */
    H_OK(h, h_note(h, "s-oslo", "i1", "quote \" backslash \\ æøå"));
    assert_string_equal(h_js(h, h->r.body, "$.notes[3].text"),
                        "quote \" backslash \\ æøå");
}

/* --- assign, phase, unassign --------------------------------------------- */

static void test_assign(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    int64_t v_res = h_gi(h, AMK_OBJ_RESOURCE, "oslo-1", "$.version");
    H_OK(h, h_assign(h, "s-oslo", "i1", "oslo-1"));
    assert_true(h->r.created);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "incident.assigned");
    assert_string_equal(h_js(h, h->r.event, "$.changes[0].object"), "incident");
    assert_string_equal(h_js(h, h->r.event, "$.changes[1].object"), "resource");
    assert_int_equal(h_jlen(h, h->r.event, "$.changes"), 2);
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.status"), "dispatched");
    assert_string_not_equal(h_js(h, b, "$.times.dispatched"), "null");
    assert_int_equal(h_ji(h, b, "$.version"), 2);
    assert_string_equal(h_js(h, b, "$.assignments[0].resource"), "oslo-1");
    assert_string_equal(h_js(h, b, "$.assignments[0].phase"), "alerted");
    assert_int_equal(h_ji(h, b, "$.assignments[0].active"), 1);
    assert_string_not_equal(h_js(h, b, "$.assignments[0].times.alerted"),
                            "null");
    const char *r = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    assert_string_equal(h_js(h, r, "$.status"), "alerted");
    assert_string_equal(h_js(h, r, "$.incident"), "i1");
    assert_int_equal(h_ji(h, r, "$.version"), v_res + 1);

    /* Already assigned, here or elsewhere: CONFLICT. */
    H_OK(h, h_incident(h, "i2", "s-oslo"));
    H_EXPECT(h, AMK_ECONFLICT, h_assign(h, "s-oslo", "i2", "oslo-1"));
    H_EXPECT(h, AMK_ECONFLICT, h_assign(h, "s-oslo", "i1", "oslo-1"));
    /* Not available: CONFLICT. */
    H_OK(h, h_report(h, "b-oslo", "oslo-2", AMK_RS_OUT_OF_SERVICE, 1));
    H_EXPECT(h, AMK_ECONFLICT, h_assign(h, "s-oslo", "i2", "oslo-2"));
    /* Unknown resource 404; another centre's resource is fenced. */
    H_EXPECT(h, AMK_ENOTFOUND, h_assign(h, "s-oslo", "i2", "nope"));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_assign(h, "s-oslo", "i2", "bergen-1"));
    assert_string_equal(h->r.owner, "bergen");
    assert_int_equal(h->r.epoch, 1);
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i2", "$.status"), "new");
    /* A triaged incident becomes dispatched; a later status stays. */
    H_OK(h, h_move(h, "s-oslo", "i2", AMK_INC_TRIAGED));
    H_OK(h, h_report(h, "b-oslo", "oslo-2", AMK_RS_AVAILABLE_MOBILE, 2));
    H_OK(h, h_assign(h, "s-oslo", "i2", "oslo-2"));
    assert_string_equal(h_js(h, h->r.body, "$.status"), "dispatched");
    H_OK(h, h_move(h, "s-oslo", "i1", AMK_INC_ON_SCENE));
    H_OK(h, h_phase(h, "s-oslo", "i2", "oslo-2", AMK_RS_AVAILABLE_MOBILE));
    H_OK(h, h_assign(h, "s-oslo", "i1", "oslo-2"));
    assert_string_equal(h_js(h, h->r.body, "$.status"), "on_scene");
    /* Resolved and closed incidents take no new unit. */
    H_OK(h, h_move(h, "s-oslo", "i1", AMK_INC_RESOLVED));
    H_OK(h, h_incident(h, "i3", "s-oslo"));
    H_OK(h, h_close_incident(h, "s-oslo", "i3", AMK_DISP_ADVICE_GIVEN));
    H_OK(h, h_unassign(h, "s-oslo", "i1", "oslo-2"));
    H_EXPECT(h, AMK_ECONFLICT, h_assign(h, "s-oslo", "i1", "oslo-2"));
    H_EXPECT(h, AMK_ECONFLICT, h_assign(h, "s-oslo", "i3", "oslo-2"));
}

static void test_phase_moves_incident_forward(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    H_OK(h, h_assign(h, "s-oslo", "i1", "oslo-1"));
    struct step {
        uint8_t phase;
        const char *incident_status;
    } steps[] = {
        {AMK_RS_ACKNOWLEDGED, "dispatched"},
        {AMK_RS_EN_ROUTE, "dispatched"},
        {AMK_RS_ON_SCENE, "on_scene"},
        {AMK_RS_TRANSPORTING, "transporting"},
        {AMK_RS_AT_DESTINATION, "transporting"},
    };
    int64_t v = version(h, "i1");
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        H_OK(h, h_phase(h, "s-oslo", "i1", "oslo-1", steps[i].phase));
        const char *phase =
            amk_enum_name(AMK_ENUM_RESOURCE_STATUS, steps[i].phase);
        assert_string_equal(h_js(h, h->r.body, "$.status"),
                            steps[i].incident_status);
        assert_string_equal(h_js(h, h->r.body, "$.assignments[0].phase"),
                            phase);
        char path[64];
        snprintf(path, sizeof path, "$.assignments[0].times.%s", phase);
        assert_string_not_equal(h_js(h, h->r.body, path), "null");
        assert_int_equal(h_ji(h, h->r.body, "$.version"), v + 1 + (int)i);
        assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-1", "$.status"),
                            phase);
    }
    /* Illegal phases, alerted, and a unit not on the incident. */
    H_EXPECT(h, AMK_ECONFLICT,
             h_phase(h, "s-oslo", "i1", "oslo-1", AMK_RS_EN_ROUTE));
    H_EXPECT(h, AMK_ECONFLICT,
             h_phase(h, "s-oslo", "i1", "oslo-1", AMK_RS_ALERTED));
    H_EXPECT(h, AMK_ECONFLICT,
             h_phase(h, "s-oslo", "i1", "oslo-2", AMK_RS_EN_ROUTE));
    /* Clearing: available ends the assignment. */
    H_OK(h, h_phase(h, "s-oslo", "i1", "oslo-1", AMK_RS_AVAILABLE_MOBILE));
    assert_string_equal(h_js(h, h->r.body, "$.assignments[0].phase"),
                        "cleared");
    assert_int_equal(h_ji(h, h->r.body, "$.assignments[0].active"), 0);
    assert_string_equal(h_js(h, h->r.body, "$.status"), "transporting");
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-1", "$.incident"),
                        "null");
    H_EXPECT(h, AMK_ECONFLICT,
             h_phase(h, "s-oslo", "i1", "oslo-1", AMK_RS_EN_ROUTE));

    /* A second unit does not move the incident back. */
    H_OK(h, h_assign(h, "s-oslo", "i1", "oslo-2"));
    assert_string_equal(h_js(h, h->r.body, "$.status"), "transporting");
    H_OK(h, h_phase(h, "s-oslo", "i1", "oslo-2", AMK_RS_ON_SCENE));
    assert_string_equal(h_js(h, h->r.body, "$.status"), "transporting");
}

struct release_case {
    uint8_t before_alert; /* status the unit had when assigned */
    uint8_t reached;      /* status reached on the mission */
    uint8_t expect;       /* status after release */
};

static const struct release_case release_cases[] = {
    {AMK_RS_AVAILABLE_STATION, AMK_RS_ALERTED, AMK_RS_AVAILABLE_STATION},
    {AMK_RS_AVAILABLE_MOBILE, AMK_RS_ALERTED, AMK_RS_AVAILABLE_MOBILE},
    {AMK_RS_AVAILABLE_STATION, AMK_RS_ACKNOWLEDGED, AMK_RS_AVAILABLE_STATION},
    {AMK_RS_AVAILABLE_MOBILE, AMK_RS_ACKNOWLEDGED, AMK_RS_AVAILABLE_MOBILE},
    {AMK_RS_AVAILABLE_STATION, AMK_RS_EN_ROUTE, AMK_RS_AVAILABLE_MOBILE},
    {AMK_RS_AVAILABLE_STATION, AMK_RS_ON_SCENE, AMK_RS_AVAILABLE_MOBILE},
    {AMK_RS_AVAILABLE_STATION, AMK_RS_TRANSPORTING, AMK_RS_AVAILABLE_MOBILE},
    {AMK_RS_AVAILABLE_STATION, AMK_RS_AT_DESTINATION, AMK_RS_AVAILABLE_MOBILE},
};
#define N_RELEASE (sizeof release_cases / sizeof release_cases[0])

/* Drives oslo-1 onto i1 to rc->reached. */
static void mission(struct h_ctx *h, const struct release_case *rc)
{
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    if (rc->before_alert != AMK_RS_AVAILABLE_STATION) {
        H_OK(h, h_report(h, "b-oslo", "oslo-1", rc->before_alert, 1));
    }
    H_OK(h, h_assign(h, "s-oslo", "i1", "oslo-1"));
    static const uint8_t path[] = {AMK_RS_ACKNOWLEDGED, AMK_RS_EN_ROUTE,
                                   AMK_RS_ON_SCENE, AMK_RS_TRANSPORTING,
                                   AMK_RS_AT_DESTINATION};
    for (size_t i = 0; i < sizeof path && path[i] <= rc->reached; i++) {
        H_OK(h, h_phase(h, "s-oslo", "i1", "oslo-1", path[i]));
    }
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-1", "$.status"),
                        amk_enum_name(AMK_ENUM_RESOURCE_STATUS, rc->reached));
}

static void expect_released(struct h_ctx *h, const struct release_case *rc)
{
    const char *r = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    assert_string_equal(h_js(h, r, "$.status"),
                        amk_enum_name(AMK_ENUM_RESOURCE_STATUS, rc->expect));
    assert_string_equal(h_js(h, r, "$.incident"), "null");
    const char *inc = h_get(h, AMK_OBJ_INCIDENT, "i1");
    assert_string_equal(h_js(h, inc, "$.assignments[0].phase"), "cleared");
    assert_int_equal(h_ji(h, inc, "$.assignments[0].active"), 0);
    assert_string_not_equal(h_js(h, inc, "$.assignments[0].times.cleared"),
                            "null");
    /* Free again: it can take a new incident. */
    H_OK(h, h_incident(h, "i-next", "s-oslo"));
    H_OK(h, h_assign(h, "s-oslo", "i-next", "oslo-1"));
}

static void test_unassign_releases(void **state)
{
    struct h_fixture *f = *state;
    struct h_ctx *h = &f->h;
    const struct release_case *rc = f->row;
    mission(h, rc);
    int64_t v = version(h, "i1");
    H_OK(h, h_unassign(h, "s-oslo", "i1", "oslo-1"));
    assert_string_equal(h_js(h, h->r.event, "$.type"), "incident.unassigned");
    assert_int_equal(h_ji(h, h->r.body, "$.version"), v + 1);
    /* The incident keeps its status. */
    expect_released(h, rc);
    H_EXPECT(h, AMK_ECONFLICT, h_unassign(h, "s-oslo", "i1", "oslo-1"));
    H_EXPECT(h, AMK_ENOTFOUND, h_unassign(h, "s-oslo", "i1", "nope"));
}

static const uint8_t dispositions[] = {
    AMK_DISP_TRANSPORTED, AMK_DISP_TREATED_ON_SCENE, AMK_DISP_ADVICE_GIVEN,
    AMK_DISP_REFERRED,    AMK_DISP_NO_PATIENT,       AMK_DISP_FALSE_ALARM,
    AMK_DISP_DUPLICATE,
};

static void test_close_each_disposition(void **state)
{
    struct h_fixture *f = *state;
    struct h_ctx *h = &f->h;
    uint8_t disposition = *(const uint8_t *)f->row;
    /* The disposition picks the release case too, to cover them all. */
    const struct release_case *rc = &release_cases[disposition % N_RELEASE];
    mission(h, rc);
    H_OK(h, h_assign(h, "s-oslo", "i1", "oslo-2"));
    int64_t v = version(h, "i1");
    H_OK(h, h_close_incident(h, "s-oslo", "i1", disposition));
    assert_string_equal(h_js(h, h->r.event, "$.type"), "incident.closed");
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.status"), "closed");
    assert_string_equal(h_js(h, b, "$.disposition"),
                        amk_enum_name(AMK_ENUM_DISPOSITION, disposition));
    assert_string_not_equal(h_js(h, b, "$.times.closed"), "null");
    assert_int_equal(h_ji(h, b, "$.version"), v + 1);
    /* Both units freed, each listed once in the event. */
    assert_int_equal(h_jlen(h, h->r.event, "$.changes"), 3);
    assert_int_equal(h_ji(h, b, "$.assignments[1].active"), 0);
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-2", "$.status"),
                        "available_station");
    expect_released(h, rc);
    /* Closed is terminal. */
    H_EXPECT(h, AMK_ECONFLICT,
             h_close_incident(h, "s-oslo", "i1", AMK_DISP_DUPLICATE));
    H_EXPECT(h, AMK_ECONFLICT, h_cancel(h, "s-oslo", "i1"));
    /* Any open status closes, even new (advice by phone). */
    H_OK(h, h_incident(h, "i2", "s-oslo"));
    H_OK(h, h_close_incident(h, "s-oslo", "i2", disposition));
}

static void test_cancel(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* Allowed from new, triaged, dispatched. */
    struct {
        const char *id;
        uint8_t status;
        int expect;
    } cases[] = {
        {"c-new", AMK_INC_NEW, AMK_OK},
        {"c-triaged", AMK_INC_TRIAGED, AMK_OK},
        {"c-dispatched", AMK_INC_DISPATCHED, AMK_OK},
        {"c-on-scene", AMK_INC_ON_SCENE, AMK_ECONFLICT},
        {"c-transporting", AMK_INC_TRANSPORTING, AMK_ECONFLICT},
        {"c-resolved", AMK_INC_RESOLVED, AMK_ECONFLICT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        H_OK(h, h_incident(h, cases[i].id, "s-oslo"));
        if (cases[i].status >= AMK_INC_DISPATCHED) {
            H_OK(h, h_move(h, "s-oslo", cases[i].id, AMK_INC_DISPATCHED));
        } else if (cases[i].status == AMK_INC_TRIAGED) {
            H_OK(h, h_move(h, "s-oslo", cases[i].id, AMK_INC_TRIAGED));
        }
        if (cases[i].status > AMK_INC_DISPATCHED) {
            H_OK(h, h_move(h, "s-oslo", cases[i].id, cases[i].status));
        }
        int64_t v = version(h, cases[i].id);
        H_EXPECT(h, cases[i].expect, h_cancel(h, "s-oslo", cases[i].id));
        const char *inc = h_get(h, AMK_OBJ_INCIDENT, cases[i].id);
        if (cases[i].expect == AMK_OK) {
            assert_string_equal(h_js(h, inc, "$.status"), "cancelled");
            assert_string_not_equal(h_js(h, inc, "$.times.cancelled"), "null");
            assert_int_equal(h_ji(h, inc, "$.version"), v + 1);
            H_EXPECT(h, AMK_ECONFLICT, h_cancel(h, "s-oslo", cases[i].id));
            H_EXPECT(
                h, AMK_ECONFLICT,
                h_close_incident(h, "s-oslo", cases[i].id, AMK_DISP_DUPLICATE));
        } else {
            assert_string_equal(
                h_js(h, inc, "$.status"),
                amk_enum_name(AMK_ENUM_INCIDENT_STATUS, cases[i].status));
            assert_int_equal(h_ji(h, inc, "$.version"), v);
        }
    }
    /* Cancelling frees the alerted unit to where it was. */
    H_OK(h, h_incident(h, "c-unit", "s-oslo"));
    H_OK(h, h_assign(h, "s-oslo", "c-unit", "oslo-1"));
    H_OK(h, h_phase(h, "s-oslo", "c-unit", "oslo-1", AMK_RS_ACKNOWLEDGED));
    H_OK(h, h_cancel(h, "s-oslo", "c-unit"));
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-1", "$.status"),
                        "available_station");
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-1", "$.incident"),
                        "null");
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_cancel(h, "s-bergen", "c-new"));
    H_EXPECT(h, AMK_ENOTFOUND, h_cancel(h, "s-oslo", "nope"));
}

/* Every applied command raises the version by exactly one; a rejected one
 * changes nothing, whatever it is. */
static void test_versions_rise_by_one(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    int64_t v = 1;
    assert_int_equal(version(h, "i1"), v);
#define STEP(expect, expr)                                                     \
    do {                                                                       \
        H_EXPECT(h, expect, expr);                                             \
        v += (expect) == AMK_OK ? 1 : 0;                                       \
        assert_int_equal(version(h, "i1"), v);                                 \
    } while (0)
    STEP(AMK_OK, h_move(h, "s-oslo", "i1", AMK_INC_TRIAGED));
    STEP(AMK_ECONFLICT, h_move(h, "s-oslo", "i1", AMK_INC_NEW));
    STEP(AMK_OK, h_note(h, "s-oslo", "i1", "n"));
    /* Assign touches the incident twice (status and assignment): once. */
    STEP(AMK_OK, h_assign(h, "s-oslo", "i1", "oslo-1"));
    STEP(AMK_OK, h_assign(h, "s-oslo", "i1", "oslo-2"));
    STEP(AMK_OK, h_phase(h, "s-oslo", "i1", "oslo-1", AMK_RS_ON_SCENE));
    STEP(AMK_ECONFLICT,
         h_report(h, "b-oslo", "oslo-2", AMK_RS_TRANSPORTING, 1));
    STEP(AMK_OK, h_report(h, "b-oslo", "oslo-2", AMK_RS_ON_SCENE, 2));
    STEP(AMK_OK, h_report(h, "b-oslo", "oslo-2", AMK_RS_TRANSPORTING, 3));
    STEP(AMK_OK, h_report(h, "b-oslo", "oslo-2", AMK_RS_TRANSPORTING, 4));
    STEP(AMK_OK, h_unassign(h, "s-oslo", "i1", "oslo-1"));
    STEP(AMK_ESTALE_EPOCH, h_note(h, "s-bergen", "i1", "n"));
    STEP(AMK_OK, h_move(h, "s-oslo", "i1", AMK_INC_RESOLVED));
    /* Closing frees the unit (two statements on the incident): once. */
    STEP(AMK_OK, h_close_incident(h, "s-oslo", "i1", AMK_DISP_TRANSPORTED));
    STEP(AMK_OK, h_note(h, "s-oslo", "i1", "late"));
#undef STEP
    /* The event of each applied command carries the new version. */
    char *events;
    assert_int_equal(amk_sm_events(h->sm, h->index - 1, 1, &events), 0);
    assert_int_equal(h_ji(h, events, "$.events[0].changes[0].data.version"), v);
    free(events);
}

#define CREATE_CASE(i)                                                         \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_create_fields, h_fixture_setup, h_fixture_teardown,               \
        (void *)&bad_creates[i]),                                              \
        cmocka_unit_test_prestate_setup_teardown(                              \
            test_update_fields, h_fixture_setup, h_fixture_teardown,           \
            (void *)&bad_creates[i])
#define RELEASE_CASE(i)                                                        \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_unassign_releases, h_fixture_setup, h_fixture_teardown,           \
        (void *)&release_cases[i])
#define CLOSE_CASE(i)                                                          \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_close_each_disposition, h_fixture_setup, h_fixture_teardown,      \
        (void *)&dispositions[i])
#define T(f)                                                                   \
    cmocka_unit_test_setup_teardown(f, h_fixture_setup, h_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_create_ok),
        T(test_case_numbers_by_year),
        T(test_create_area_and_duplicate),
        T(test_create_auth),
        CREATE_CASE(0),
        CREATE_CASE(1),
        CREATE_CASE(2),
        CREATE_CASE(3),
        CREATE_CASE(4),
        CREATE_CASE(5),
        CREATE_CASE(6),
        CREATE_CASE(7),
        CREATE_CASE(8),
        CREATE_CASE(9),
        CREATE_CASE(10),
        CREATE_CASE(11),
        CREATE_CASE(12),
        CREATE_CASE(13),
        CREATE_CASE(14),
        CREATE_CASE(15),
        CREATE_CASE(16),
        CREATE_CASE(17),
        CREATE_CASE(18),
        CREATE_CASE(19),
        CREATE_CASE(20),
        CREATE_CASE(21),
        CREATE_CASE(22),
        CREATE_CASE(23),
        CREATE_CASE(24),
        CREATE_CASE(25),
        CREATE_CASE(26),
        CREATE_CASE(27),
        CREATE_CASE(28),
        CREATE_CASE(29),
        CREATE_CASE(30),
        CREATE_CASE(31),
        CREATE_CASE(32),
        CREATE_CASE(33),
        CREATE_CASE(34),
        CREATE_CASE(35),
        CREATE_CASE(36),
        T(test_update_replaces_whole),
        T(test_update_if_match_and_order),
        T(test_notes),
        T(test_assign),
        T(test_phase_moves_incident_forward),
        RELEASE_CASE(0),
        RELEASE_CASE(1),
        RELEASE_CASE(2),
        RELEASE_CASE(3),
        RELEASE_CASE(4),
        RELEASE_CASE(5),
        RELEASE_CASE(6),
        RELEASE_CASE(7),
        CLOSE_CASE(0),
        CLOSE_CASE(1),
        CLOSE_CASE(2),
        CLOSE_CASE(3),
        CLOSE_CASE(4),
        CLOSE_CASE(5),
        CLOSE_CASE(6),
        T(test_cancel),
        T(test_versions_rise_by_one),
    };
    _Static_assert(N_BAD_CREATES == 37, "register every bad_creates row");
    _Static_assert(N_RELEASE == 8, "register every release case");
    _Static_assert(sizeof dispositions == 7, "register every disposition");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
