/*
 * The C API from C: compiled against include/gray.h and libgray.a by tests/c_program.rs, and
 * run there directly and under valgrind. usage: test DATA_DIR (gray-ffi/tests/data)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gray.h"

static int passed, failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            passed++;                                                            \
        } else {                                                                 \
            failed++;                                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, \
                    __LINE__, #cond, gray_last_error_message());                 \
        }                                                                        \
    } while (0)

static int eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The decision for a request from `peer` with `cookie` and one header (NULL name: none). */
static GrayDecision *decide(GrayEngine *e, const char *peer, const char *cookie,
                            const char *name, const char *value) {
    GrayHeader h = {gray_str(name), gray_str(value)};
    GrayRequest req = {0};
    req.peer = gray_str(peer);
    req.method = GRAY_STR("GET");
    req.path = GRAY_STR("/api/items?uid=42");
    req.cookie = gray_str(cookie);
    req.headers = name ? &h : NULL;
    req.headers_len = name ? 1 : 0;
    GrayDecision *d = NULL;
    GrayStatus s = gray_engine_decide(e, &req, &d);
    CHECK(s == GRAY_OK && d != NULL);
    return d;
}

static void test_decide_and_read(GrayEngine *e) {
    GrayDecision *d = decide(e, "203.0.113.9", "uid=1; canary=userAAA", NULL, NULL);
    CHECK(eq(gray_decision_group(d), "canary"));
    CHECK(eq(gray_decision_requested_group(d), "canary"));
    CHECK(!gray_decision_is_fallback(d));
    CHECK(!gray_decision_no_upstream(d));
    CHECK(eq(gray_decision_node_address(d), "10.0.2.10:8080"));
    CHECK(eq(gray_decision_rule_id(d), "canary-cookie"));
    CHECK(gray_decision_generation(d) == 1);
    CHECK(gray_decision_header_count(d) == 2);
    const char *name = NULL, *value = NULL;
    CHECK(gray_decision_header(d, 0, &name, &value) == GRAY_OK);
    CHECK(eq(name, "x-gray") && eq(value, "canary"));
    CHECK(gray_decision_header(d, 1, &name, &value) == GRAY_OK);
    CHECK(eq(name, "n-d-version") && eq(value, "{\"svc-a\":\"1.0\"}"));
    CHECK(gray_decision_header(d, 2, &name, &value) == GRAY_ERR_ARG);
    const char *route = NULL, *id = NULL;
    CHECK(gray_decision_route(d, GRAY_ROUTE_VERSION, &route, &id) == GRAY_OK);
    CHECK(eq(route, "{\"svc-a\":\"1.0\"}") && id == NULL); /* from `defaults` */
    gray_decision_free(d);

    /* The blue-green entry picks route `green`. */
    d = decide(e, "203.0.113.9", NULL, "X-User", "tester");
    CHECK(gray_decision_route(d, GRAY_ROUTE_VERSION, &route, &id) == GRAY_OK);
    CHECK(eq(route, "{\"svc-a\":\"1.1\"}") && eq(id, "green"));
    CHECK(eq(gray_decision_group(d), "stable") && gray_decision_rule_id(d) == NULL);
    gray_decision_free(d);

    /* X-Forwarded-For counts behind a trusted proxy only. */
    d = decide(e, "10.0.0.1:40000", NULL, "X-Forwarded-For", "192.168.2.20");
    CHECK(eq(gray_decision_group(d), "canary") && eq(gray_decision_rule_id(d), "testers"));
    gray_decision_free(d);
    d = decide(e, "203.0.113.9", NULL, "X-Forwarded-For", "192.168.2.20");
    CHECK(eq(gray_decision_group(d), "stable"));
    gray_decision_free(d);
}

/* `len` bytes at `s` equal the NUL-terminated `want`. */
static int eqn(GrayStr s, const char *want) {
    return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* gray_engine_decide_raw: a head as nginx's ngx.req.raw_header() gives it. */
static void test_decide_raw(GrayEngine *e) {
    GrayRequest req = {0};
    req.peer = GRAY_STR("203.0.113.9");
    GrayForward f;
    GrayDecision *d = NULL;

    /* Cookies on two Cookie lines, a value with ':', repeated and spoofed n-d-* headers from a
     * peer that is not trusted: all stripped, each name once; gray's n-d-version is set. */
    static const char head[] = "GET /api/items?uid=42 HTTP/1.1\r\n"
                               "Host: shop.example\r\n"
                               "Cookie: uid=1\r\n"
                               "X-Time: 12:30:00\r\n"
                               "N-D-Version: {\"svc-a\":\"9.9\"}\r\n"
                               "n-d-region: far\r\n"
                               "n-d-region: again\r\n"
                               "cookie: canary=userAAA\r\n"
                               "\r\n";
    CHECK(gray_engine_decide_raw(e, &req, head, sizeof(head) - 1, &f, &d) == GRAY_OK && d);
    CHECK(eqn(f.group, "canary") && eqn(f.rule, "canary-cookie"));
    CHECK(eqn(f.node, "10.0.2.10:8080"));
    CHECK(eq(gray_decision_rule_id(d), "canary-cookie"));
    CHECK(f.set_len == 2);
    if (f.set_len == 2) {
        CHECK(eqn(f.set[0].name, "x-gray") && eqn(f.set[0].value, "canary"));
        CHECK(eqn(f.set[1].name, "n-d-version") && eqn(f.set[1].value, "{\"svc-a\":\"1.0\"}"));
    }
    CHECK(f.strip_len == 2);
    if (f.strip_len == 2) {
        CHECK(eqn(f.strip[0], "N-D-Version") && eqn(f.strip[1], "n-d-region"));
        CHECK(!gray_decision_forwards_inbound(d, f.strip[1].ptr, f.strip[1].len));
    }
    gray_decision_free(d);

    /* LF line ends, no request line, no plan wanted. */
    static const char lf[] = "X-User: tester\nCookie: a=1\n\n";
    CHECK(gray_engine_decide_raw(e, &req, lf, sizeof(lf) - 1, NULL, &d) == GRAY_OK);
    const char *route = NULL, *id = NULL;
    CHECK(gray_decision_route(d, GRAY_ROUTE_VERSION, &route, &id) == GRAY_OK && eq(id, "green"));
    gray_decision_free(d);

    /* Malformed heads: an error with line and column, no decision, an empty plan. */
    static const char bad[] = "Host: a\r\nX-Bad header\r\n\r\n";
    d = (GrayDecision *)&req;
    CHECK(gray_engine_decide_raw(e, &req, bad, sizeof(bad) - 1, &f, &d) == GRAY_ERR_ARG);
    CHECK(d == NULL && f.node.ptr == NULL && f.set_len == 0 && f.strip_len == 0);
    GrayError err;
    CHECK(gray_last_error(&err) == GRAY_ERR_ARG);
    CHECK(eq(err.path, "head") && err.line == 2 && err.column == 6);
    CHECK(strstr(err.message, "request head, line 2, column 6: ") == err.message);
    static const char utf8[] = "X-A: caf\xff\r\n";
    CHECK(gray_engine_decide_raw(e, &req, utf8, sizeof(utf8) - 1, &f, &d) == GRAY_ERR_UTF8);
    static const char nul[] = "X-A: a\0b\r\n";
    CHECK(gray_engine_decide_raw(e, &req, nul, sizeof(nul) - 1, &f, &d) == GRAY_ERR_ARG);
    CHECK(gray_engine_decide_raw(e, &req, NULL, 0, &f, &d) == GRAY_ERR_NULL);
    CHECK(eq(gray_last_error_message(), "head is NULL"));

    char *json = NULL;
    CHECK(gray_engine_explain_raw(e, NULL, head, sizeof(head) - 1, &json) == GRAY_OK);
    CHECK(json && strstr(json, "\"rule\":\"canary-cookie\""));
    gray_string_free(json);
}

static void test_explain(GrayEngine *e) {
    GrayRequest req = {0};
    req.peer = GRAY_STR("203.0.113.9");
    req.cookie = GRAY_STR("canary=xAAA");
    char *json = NULL;
    CHECK(gray_engine_explain(e, &req, &json) == GRAY_OK);
    CHECK(json && strstr(json, "\"rule\":\"canary-cookie\""));
    CHECK(json && strstr(json, "\"client_ip\":\"203.0.113.9\""));
    gray_string_free(json);
}

static void test_errors(GrayEngine *e, const char *dir) {
    GrayRequest req = {0};
    GrayDecision *d = (GrayDecision *)&req; /* overwritten with NULL on failure */
    CHECK(gray_engine_decide(NULL, &req, &d) == GRAY_ERR_NULL && d == NULL);
    CHECK(eq(gray_last_error_message(), "engine is NULL"));
    CHECK(gray_engine_decide(e, NULL, &d) == GRAY_ERR_NULL);
    CHECK(gray_engine_decide(e, &req, NULL) == GRAY_ERR_NULL);
    CHECK(gray_decision_group(NULL) == NULL);
    CHECK(gray_decision_header_count(NULL) == 0);

    /* Invalid UTF-8 in a request field and in a spec text. */
    static const char bad[] = {'c', 'a', 'n', 'a', 'r', 'y', '=', (char)0xff, 0};
    req.cookie = gray_str(bad);
    CHECK(gray_engine_decide(e, &req, &d) == GRAY_ERR_UTF8 && d == NULL);
    CHECK(eq(gray_last_error_message(), "request.cookie is not valid UTF-8"));
    req.cookie = GRAY_STR("");
    req.peer = GRAY_STR("not-an-address");
    CHECK(gray_engine_decide(e, &req, &d) == GRAY_ERR_ARG);
    GrayEngine *none = (GrayEngine *)&req;
    CHECK(gray_engine_from_str(bad, GRAY_FORMAT_YAML, &none, NULL) == GRAY_ERR_UTF8);
    CHECK(none == NULL);
    CHECK(gray_engine_from_str("version: 1", 7, &none, NULL) == GRAY_ERR_ARG);
    CHECK(gray_engine_from_str(NULL, GRAY_FORMAT_YAML, &none, NULL) == GRAY_ERR_NULL);

    /* A bad spec file: kind, path, file, line and column. */
    char *path = path_in(dir, "bad.yaml");
    CHECK(gray_engine_from_file(path, &none) == GRAY_ERR_CONFIG && none == NULL);
    GrayError err;
    CHECK(gray_last_error(&err) == GRAY_ERR_CONFIG && err.code == GRAY_ERR_CONFIG);
    CHECK(eq(err.path, "default"));
    CHECK(err.file && strstr(err.file, "bad.yaml"));
    CHECK(err.line == 4 && err.column == 10);
    CHECK(strstr(err.message, "no group named \"nosuchgroup\"") != NULL);
    CHECK(strstr(err.reason, "no group named") == err.reason);
    free(path);
    path = path_in(dir, "missing.yaml");
    CHECK(gray_engine_from_file(path, &none) == GRAY_ERR_IO);
    free(path);
    gray_last_error_clear();
    CHECK(gray_last_error(&err) == GRAY_OK && eq(err.message, "") && err.path == NULL);
    CHECK(gray_last_error(NULL) == GRAY_ERR_NULL);

    gray_engine_free(NULL);
    gray_decision_free(NULL);
    gray_string_free(NULL);
}

static void test_reload(GrayEngine *e, const char *dir) {
    uint64_t generation = 0;
    CHECK(gray_engine_reload_str(e, "version: 1\ndefault: nowhere\n", GRAY_FORMAT_YAML,
                                 &generation, NULL) == GRAY_ERR_CONFIG);
    CHECK(generation == 0);
    GrayError err;
    gray_last_error(&err);
    CHECK(err.line == 2 && err.column == 10);
    /* The old rules keep serving. */
    GrayDecision *d = decide(e, "203.0.113.9", "canary=xaaa", NULL, NULL);
    CHECK(eq(gray_decision_group(d), "canary") && gray_decision_generation(d) == 1);

    const char *toml = "version = 1\ndefault = \"only\"\n"
                       "[groups.only]\nnodes = [{ address = \"127.0.0.1:9\" }]\n";
    CHECK(gray_engine_reload_str(e, toml, GRAY_FORMAT_TOML, &generation, NULL) == GRAY_OK);
    CHECK(generation == 2 && gray_engine_generation(e) == 2);
    GrayDecision *after = decide(e, "203.0.113.9", "canary=xaaa", NULL, NULL);
    CHECK(eq(gray_decision_group(after), "only"));
    gray_decision_free(after);
    /* A decision made before answers from its own rules. */
    CHECK(eq(gray_decision_node_address(d), "10.0.2.10:8080"));
    gray_decision_free(d);

    char *path = path_in(dir, "gray.yaml");
    CHECK(gray_engine_reload_file(e, path, &generation) == GRAY_OK && generation == 3);
    free(path);
}

static void test_outcomes_and_metrics(GrayEngine *e) {
    GrayDecision *d = decide(e, "203.0.113.9", "canary=xaaa", NULL, NULL);
    CHECK(gray_engine_report(e, d, true) == GRAY_OK);
    CHECK(gray_engine_record_timed(e, d, 200, 2500) == GRAY_OK);
    CHECK(gray_engine_record(e, d, 404) == GRAY_OK); /* not in fail_on: a success */
    CHECK(gray_engine_record(e, d, -9) == GRAY_ERR_ARG);
    CHECK(gray_engine_report(e, NULL, true) == GRAY_ERR_NULL);
    /* A timeout is in the canary's fail_on: its one node is ejected (max_fails 1). */
    CHECK(gray_engine_record_timed(e, d, GRAY_OUTCOME_TIMEOUT, 30000) == GRAY_OK);
    gray_decision_free(d);
    d = decide(e, "203.0.113.9", "canary=xaaa", NULL, NULL);
    CHECK(gray_decision_is_fallback(d));
    CHECK(eq(gray_decision_group(d), "stable") && eq(gray_decision_requested_group(d), "canary"));
    gray_decision_free(d);

    char *metrics = NULL;
    CHECK(gray_engine_metrics(e, &metrics) == GRAY_OK);
    CHECK(metrics && strstr(metrics, "gray_rule_failures_total{rule=\"canary-cookie\"} 1"));
    CHECK(metrics && strstr(metrics, "gray_upstream_request_duration_seconds_bucket"));
    gray_string_free(metrics);
    CHECK(gray_engine_metrics(e, NULL) == GRAY_ERR_NULL);
}

static void test_nodes(GrayEngine *e) {
    uint64_t g = 0;
    CHECK(gray_engine_add_node(e, "stable", "10.0.1.11:8080", 3, &g) == GRAY_OK);
    CHECK(gray_engine_add_node(e, "stable", "10.0.1.11:8080", 3, &g) == GRAY_ERR_CONFIG);
    CHECK(gray_engine_set_weight(e, "stable", "10.0.1.11:8080", 7, &g) == GRAY_OK);
    CHECK(gray_engine_drain(e, "stable", "10.0.1.10:8080", true, &g) == GRAY_OK);
    /* With the first node draining, stable's requests go to the new one. */
    GrayDecision *d = decide(e, "203.0.113.9", NULL, NULL, NULL);
    CHECK(eq(gray_decision_node_address(d), "10.0.1.11:8080"));
    gray_decision_free(d);
    char *json = NULL;
    CHECK(gray_engine_nodes(e, "stable", &json) == GRAY_OK);
    CHECK(json && strstr(json, "\"address\":\"10.0.1.11:8080\",\"weight\":7"));
    gray_string_free(json);
    CHECK(gray_engine_nodes(e, "nowhere", &json) == GRAY_ERR_UNKNOWN_GROUP && json == NULL);
    CHECK(gray_engine_drain(e, "stable", "10.0.1.10:8080", false, NULL) == GRAY_OK);
    CHECK(gray_engine_remove_node(e, "stable", "10.0.1.11:8080", &g) == GRAY_OK);
    CHECK(gray_engine_remove_node(e, "stable", "10.0.1.11:8080", NULL) == GRAY_ERR_UNKNOWN_NODE);
    CHECK(gray_engine_set_weight(e, "nowhere", "x", 1, NULL) == GRAY_ERR_UNKNOWN_GROUP);
    CHECK(gray_engine_add_node(e, NULL, "x", 1, NULL) == GRAY_ERR_NULL);
    CHECK(gray_engine_generation(e) == g); /* failed changes change nothing */
}

static void test_nepxion(const char *dir) {
    const char *rule =
        "<rule><strategy-release>"
        "<conditions type=\"blue-green\">"
        "<condition id=\"c1\" expression=\"#H['a'] == '1'\" version-id=\"r1\"/></conditions>"
        "<routes><route id=\"r1\" type=\"version\">{\"svc-a\":\"1.1\"}</route></routes>"
        "</strategy-release><register/></rule>";
    GrayEngine *e = NULL;
    char *warnings = NULL;
    CHECK(gray_engine_from_str(rule, GRAY_FORMAT_NEPXION, &e, &warnings) == GRAY_OK);
    CHECK(warnings && strstr(warnings, "register"));
    gray_string_free(warnings);
    GrayDecision *d = decide(e, "10.0.0.1", NULL, "a", "1");
    const char *route = NULL;
    CHECK(gray_decision_route(d, GRAY_ROUTE_VERSION, &route, NULL) == GRAY_OK);
    CHECK(eq(route, "{\"svc-a\":\"1.1\"}"));
    gray_decision_free(d);
    CHECK(gray_engine_reload_str(e, "<rule><bad", GRAY_FORMAT_NEPXION, NULL, NULL) ==
          GRAY_ERR_CONFIG);
    char *path = path_in(dir, "rule.xml");
    CHECK(gray_engine_reload_file(e, path, NULL) == GRAY_OK);
    gray_engine_free(e);
    e = NULL;
    CHECK(gray_engine_from_file(path, &e) == GRAY_OK && e != NULL);
    gray_engine_free(e);
    free(path);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    char *path = path_in(argv[1], "gray.yaml");
    GrayEngine *e = NULL;
    CHECK(gray_engine_from_file(path, &e) == GRAY_OK && e != NULL);
    free(path);
    if (!e) {
        fprintf(stderr, "cannot create the engine: %s\n", gray_last_error_message());
        return 1;
    }
    test_decide_and_read(e);
    test_decide_raw(e);
    test_explain(e);
    test_errors(e, argv[1]);
    test_reload(e, argv[1]);
    test_outcomes_and_metrics(e);
    test_nodes(e);
    gray_engine_free(e);
    test_nepxion(argv[1]);
    printf("c api: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
