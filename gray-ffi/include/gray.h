/*
 * gray.h: the C API of gray, a gray-release (canary) routing engine.
 *
 * Generated from gray-ffi/src by cbindgen (gray-ffi/cbindgen.toml); do not edit. Regenerate
 * with `GRAY_WRITE_HEADER=1 cargo test -p gray-ffi --test header`.
 *
 * Ownership: what gray hands out is either borrowed for a documented lifetime (a decision's
 * strings live until gray_decision_free; the last error's until the next failing call on the
 * same thread) or owned by the caller and freed with its matching call: gray_engine_free,
 * gray_decision_free, gray_string_free. Inputs are only read during the call.
 *
 * Errors: every fallible call returns a GrayStatus (GRAY_OK is 0); gray_last_error tells the
 * message, path, file, line and column of the last failure on the calling thread. NULL
 * pointers give GRAY_ERR_NULL, text that is not UTF-8 GRAY_ERR_UTF8, and no panic unwinds
 * into the caller (GRAY_ERR_PANIC).
 *
 * Threads: a GrayEngine may be used from any number of threads at once; a GrayDecision may be
 * read from any thread and is freed once.
 */

#ifndef GRAY_H
#define GRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// What a call returned. Every function that can fail returns one; `GRAY_OK` is 0, every error
// is positive, and [`gray_last_error`] tells more about the last one on the calling thread.
typedef enum GrayStatus {
  // Success.
  GRAY_OK = 0,
  // A required pointer argument was NULL.
  GRAY_ERR_NULL = 1,
  // A text argument was not valid UTF-8.
  GRAY_ERR_UTF8 = 2,
  // An argument had a value the call does not accept: an unknown format, route kind or
  // outcome, a peer address that is not an IP address, an index out of range.
  GRAY_ERR_ARG = 3,
  // The spec, rule or admin change was rejected (syntax, invalid value, unknown reference,
  // duplicate, unsupported version); the engine keeps serving what it served.
  GRAY_ERR_CONFIG = 4,
  // A file could not be read.
  GRAY_ERR_IO = 5,
  // An admin call named a group that does not exist.
  GRAY_ERR_UNKNOWN_GROUP = 6,
  // An admin call named a node that does not exist.
  GRAY_ERR_UNKNOWN_NODE = 7,
  // gray panicked (a bug): the call was abandoned and nothing unwound into the caller.
  GRAY_ERR_PANIC = 8,
} GrayStatus;

// What gray decided for one request. Opaque; made by [`gray_engine_decide`], freed by
// [`gray_decision_free`]. Every string read from it is borrowed and lives until the decision
// is freed. A decision answers from the rules it was made with, even after a reload, and may
// be read from any thread (freed once).
typedef struct GrayDecision GrayDecision;

// A routing engine. Opaque; created by `gray_engine_from_*`, freed by [`gray_engine_free`].
//
// Thread-safe: one engine may be used from any number of threads at once (decisions are
// lock-free, reloads and admin changes are serialised inside), until it is freed.
typedef struct GrayEngine GrayEngine;

// What happened to a forwarded request: an HTTP status (0..=65535), or one of the negative
// `GRAY_OUTCOME_*` values.
typedef int32_t GrayOutcome;

// A borrowed UTF-8 string given by pointer and length, not necessarily NUL-terminated (what
// HTTP parsers hand out). `ptr == NULL` means absent, whatever `len` says; a non-NULL `ptr`
// with `len == 0` is the empty string.
//
// In C, `GRAY_STR("literal")` makes one from a string literal and `gray_str(s)` from a
// NUL-terminated string (both in `gray.h`).
typedef struct GrayStr {
  // The first byte, or NULL.
  const char *ptr;
  // The number of bytes.
  size_t len;
} GrayStr;

// One request header. Names compare case-insensitively; repeated names are separate entries,
// in order.
typedef struct GrayHeader {
  // The name, e.g. `X-Forwarded-For`.
  struct GrayStr name;
  // The value.
  struct GrayStr value;
} GrayHeader;

// A request to decide, as plain C data. gray reads it during the call only and copies
// nothing; zero-initialise it and fill in what you have.
typedef struct GrayRequest {
  // The TCP peer: an IP address (`10.0.0.1`, `2001:db8::1`) or a socket address
  // (`10.0.0.1:5555`, `[2001:db8::1]:443`). Absent: unknown (no trusted proxy, no IP rule
  // matches).
  struct GrayStr peer;
  // The method. Absent: `GET`.
  struct GrayStr method;
  // The path. Absent: `/`. With `query` absent, a `?` in the path starts the query.
  struct GrayStr path;
  // The raw query string, without `?`. Absent: none (or the part of `path` after `?`).
  struct GrayStr query;
  // The host the request is addressed to (`Host` or `:authority`), possibly with a port.
  // Absent: the `Host` header, if any.
  struct GrayStr host;
  // The headers (may be NULL when `headers_len` is 0).
  const struct GrayHeader *headers;
  // The number of headers.
  size_t headers_len;
  // A `Cookie` header value (`a=1; canary=xaaa`), read before any `Cookie` entry of
  // `headers`. Absent: only those.
  struct GrayStr cookie;
} GrayRequest;

// A routing dimension whose `n-d-*` value a decision carries: one of the `GRAY_ROUTE_*`
// values.
typedef uint32_t GrayRouteKind;

// The format of a spec given as text: one of the `GRAY_FORMAT_*` values.
typedef uint32_t GrayFormat;

// Everything a proxy does to the request a decision routed, filled in by
// [`gray_engine_decide_raw`](crate::gray_engine_decide_raw). Every pointer is borrowed from
// the decision and lives until [`gray_decision_free`](crate::gray_decision_free).
//
// A proxy removes every header named in `strip` (all its lines, any case), then sets every
// header of `set` (replacing what the request has under that name), then forwards to `node`.
// That is exactly what [`gray_decision_forwards_inbound`](crate::gray_decision_forwards_inbound)
// and [`gray_decision_header`](crate::gray_decision_header) describe, header by header.
typedef struct GrayForward {
  // The headers to set, `set_len` entries (NULL when there are none): the decision's headers
  // ([`gray_decision_header`](crate::gray_decision_header)) except those that a trusted
  // inbound routing header keeps (`inbound: keep`).
  const struct GrayHeader *set;
  // The number of headers to set.
  size_t set_len;
  // The inbound header names to remove, `strip_len` entries (NULL when there are none),
  // each once (as first spelled in the request): every inbound header that
  // [`gray_decision_forwards_inbound`](crate::gray_decision_forwards_inbound) refuses, i.e.
  // the routing headers (`headers.routing_prefixes`, `n-d-*`) of a peer that is not trusted,
  // and with `inbound: override` those the decision replaces. Copied: they do not borrow
  // the request.
  const struct GrayStr *strip;
  // The number of names to remove.
  size_t strip_len;
  // The node's address (`ip:port` or `host:port`), or absent when no group had an available
  // node: answer 503.
  struct GrayStr node;
  // The group serving the request (the decided group or its fallback).
  struct GrayStr group;
  // The id of the matched rule, or absent for the default group.
  struct GrayStr rule;
} GrayForward;

// The last error on the calling thread, as filled in by [`gray_last_error`].
//
// Every pointer is borrowed: it stays valid until the next failing call into gray on the same
// thread (or [`gray_last_error_clear`]); copy what you keep.
typedef struct GrayError {
  // The status the failing call returned (`GRAY_OK` when there was no error).
  enum GrayStatus code;
  // The whole message, one line a person can act on, location included (never NULL; empty
  // when there was no error).
  const char *message;
  // The message without the location (never NULL).
  const char *reason;
  // The field path, e.g. `rules[0] (id "c").route`, or NULL when the error has none.
  const char *path;
  // The file the text came from, or NULL.
  const char *file;
  // 1-based line, 0 when unknown.
  size_t line;
  // 1-based column (in characters) on `line`, 0 when unknown.
  size_t column;
} GrayError;

// Connecting to the node failed (refused, unreachable, DNS).
#define GRAY_OUTCOME_CONNECT_ERROR -1

// Connecting, or waiting for the response headers, timed out.
#define GRAY_OUTCOME_TIMEOUT -2

// The node broke the exchange after the connection was made (reset, closed early, invalid
// response).
#define GRAY_OUTCOME_RESET -3

// `n-d-version`: allowed versions.
#define GRAY_ROUTE_VERSION 0

// `n-d-region`: allowed regions.
#define GRAY_ROUTE_REGION 1

// `n-d-address`: allowed addresses.
#define GRAY_ROUTE_ADDRESS 2

// `n-d-version-weight`: instance weights by version.
#define GRAY_ROUTE_VERSION_WEIGHT 3

// `n-d-region-weight`: instance weights by region.
#define GRAY_ROUTE_REGION_WEIGHT 4

// The native format in YAML.
#define GRAY_FORMAT_YAML 0

// The native format in JSON.
#define GRAY_FORMAT_JSON 1

// The native format in TOML.
#define GRAY_FORMAT_TOML 2

// A Nepxion Discovery rule, XML or JSON (detected from the text).
#define GRAY_FORMAT_NEPXION 3

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Reports how the request a decision routed went, classified by the caller: `ok == false`
// is a failure (counted for the group, node and rule; may eject the node after `max_fails`
// within `fail_timeout`), whatever the group's `fail_on` says. Does nothing for a decision
// without a node.
//
// # Safety
//
// `engine` is NULL or a live engine; `decision` is NULL or a live decision of that engine.
enum GrayStatus gray_engine_report(const struct GrayEngine *engine,
                                   const struct GrayDecision *decision,
                                   bool ok);

// Records what happened to the request a decision routed (`outcome`: an HTTP status or a
// `GRAY_OUTCOME_*` value), classified by the serving group's `fail_on` (by default connect
// errors, resets and timeouts are failures and no status is). `GRAY_ERR_ARG` for an
// outcome below -3 or above 65535.
//
// # Safety
//
// `engine` is NULL or a live engine; `decision` is NULL or a live decision of that engine.
enum GrayStatus gray_engine_record(const struct GrayEngine *engine,
                                   const struct GrayDecision *decision,
                                   GrayOutcome outcome);

// [`gray_engine_record`] with the request's latency in microseconds (from sending it
// upstream to the end of the response headers, or to the failure), also observed in the
// node's latency histogram and live windows.
//
// # Safety
//
// `engine` is NULL or a live engine; `decision` is NULL or a live decision of that engine.
enum GrayStatus gray_engine_record_timed(const struct GrayEngine *engine,
                                         const struct GrayDecision *decision,
                                         GrayOutcome outcome,
                                         uint64_t latency_us);

// Adds a node (`ip:port` or `host:port`, weight 0..=10000) to a group. `*generation` (when
// not NULL) receives the new generation. `GRAY_ERR_UNKNOWN_GROUP`, or `GRAY_ERR_CONFIG` for
// a duplicate address or a weight out of range.
//
// # Safety
//
// `engine` is NULL or a live engine; `group` and `address` are NULL or NUL-terminated;
// `generation` is NULL or writable.
enum GrayStatus gray_engine_add_node(const struct GrayEngine *engine,
                                     const char *group,
                                     const char *address,
                                     uint32_t weight,
                                     uint64_t *generation);

// Removes a node from a group; requests already routed to it finish normally.
// `GRAY_ERR_UNKNOWN_GROUP` or `GRAY_ERR_UNKNOWN_NODE` when it is not there.
//
// # Safety
//
// As for [`gray_engine_add_node`].
enum GrayStatus gray_engine_remove_node(const struct GrayEngine *engine,
                                        const char *group,
                                        const char *address,
                                        uint64_t *generation);

// Sets a node's weight (0..=10000; 0 = never chosen).
//
// # Safety
//
// As for [`gray_engine_add_node`].
enum GrayStatus gray_engine_set_weight(const struct GrayEngine *engine,
                                       const char *group,
                                       const char *address,
                                       uint32_t weight,
                                       uint64_t *generation);

// Starts (`drain == true`) or ends draining a node: it finishes what it has and gets no new
// requests.
//
// # Safety
//
// As for [`gray_engine_add_node`].
enum GrayStatus gray_engine_drain(const struct GrayEngine *engine,
                                  const char *group,
                                  const char *address,
                                  bool drain,
                                  uint64_t *generation);

// The status of a group and its nodes as JSON (`{"name", "available", "requests",
// "failures", "nodes": [{"address", "weight", "drain", "health", ...}], ...}`). `*out` is freed with
// [`gray_string_free`](crate::gray_string_free); NULL on failure (`GRAY_ERR_UNKNOWN_GROUP`).
//
// # Safety
//
// `engine` is NULL or a live engine; `group` is NULL or NUL-terminated; `out` is NULL or
// writable for one pointer.
enum GrayStatus gray_engine_nodes(const struct GrayEngine *engine,
                                  const char *group,
                                  char **out);

// All counters in the Prometheus text exposition format (generation, rule, group and node
// requests and failures, node health, weights, latency histograms). `*out` is freed with
// [`gray_string_free`](crate::gray_string_free); NULL on failure.
//
// # Safety
//
// `engine` is NULL or a live engine; `out` is NULL or writable for one pointer.
enum GrayStatus gray_engine_metrics(const struct GrayEngine *engine, char **out);

// Decides where `request` goes. On success `*out` is the decision (free it with
// [`gray_decision_free`]); on failure (`GRAY_ERR_NULL`, `GRAY_ERR_UTF8` naming the field,
// `GRAY_ERR_ARG` for a peer that is not an address) `*out` is NULL. Lock-free; copies nothing
// from the request.
//
// # Safety
//
// `engine` is NULL or a live engine; `request` is NULL or points to a `GrayRequest` whose
// non-NULL pointers are valid for the call; `out` is NULL or writable for one pointer.
enum GrayStatus gray_engine_decide(const struct GrayEngine *engine,
                                   const struct GrayRequest *request,
                                   struct GrayDecision **out);

// Explains how `request` is routed, as JSON text (rules evaluated with each condition's
// outcome and the value it saw, the client IP and how it was found, groups tried, the node
// and headers). Counts nothing. `*out` is freed with
// [`gray_string_free`](crate::gray_string_free); NULL on failure.
//
// # Safety
//
// As for [`gray_engine_decide`].
enum GrayStatus gray_engine_explain(const struct GrayEngine *engine,
                                    const struct GrayRequest *request,
                                    char **out);

// Frees a decision. NULL is ignored.
//
// # Safety
//
// `decision` is NULL or a decision from [`gray_engine_decide`] that was not freed yet and
// that no other thread reads any more.
void gray_decision_free(struct GrayDecision *decision);

// The group serving the request (the decided group, or its fallback). NULL only when
// `decision` is NULL. Borrowed until [`gray_decision_free`].
//
// # Safety
//
// `decision` is NULL or a live decision.
const char *gray_decision_group(const struct GrayDecision *decision);

// The group the rules chose, before any fallback. NULL only when `decision` is NULL.
// Borrowed until [`gray_decision_free`].
//
// # Safety
//
// `decision` is NULL or a live decision.
const char *gray_decision_requested_group(const struct GrayDecision *decision);

// The picked node's address (`ip:port` or `host:port`), or NULL when no group had an
// available node (answer 503) or `decision` is NULL. Borrowed until [`gray_decision_free`].
//
// # Safety
//
// `decision` is NULL or a live decision.
const char *gray_decision_node_address(const struct GrayDecision *decision);

// The id of the matched rule, or NULL when no rule matched (the default group) or
// `decision` is NULL. Borrowed until [`gray_decision_free`].
//
// # Safety
//
// `decision` is NULL or a live decision.
const char *gray_decision_rule_id(const struct GrayDecision *decision);

// True when the request goes to a fallback group ([`gray_decision_group`] differs from
// [`gray_decision_requested_group`]); false when `decision` is NULL.
//
// # Safety
//
// `decision` is NULL or a live decision.
bool gray_decision_is_fallback(const struct GrayDecision *decision);

// True when neither the decided group nor its fallbacks had an available node (answer 503;
// [`gray_engine_explain`] says why); false when `decision` is NULL.
//
// # Safety
//
// `decision` is NULL or a live decision.
bool gray_decision_no_upstream(const struct GrayDecision *decision);

// The generation of the rules that decided; 0 when `decision` is NULL.
//
// # Safety
//
// `decision` is NULL or a live decision.
uint64_t gray_decision_generation(const struct GrayDecision *decision);

// The number of headers to set on the forwarded request (the rule's `set_headers` and routes,
// the release's `n-d-*` values, built-in headers); 0 when `decision` is NULL.
//
// # Safety
//
// `decision` is NULL or a live decision.
size_t gray_decision_header_count(const struct GrayDecision *decision);

// Header `index` (0-based, below [`gray_decision_header_count`]) to set on the forwarded
// request: `*name` and `*value`, borrowed until [`gray_decision_free`]. `GRAY_ERR_ARG` when
// `index` is out of range.
//
// # Safety
//
// `decision` is NULL or a live decision; `name` and `value` are NULL or writable for one
// pointer.
enum GrayStatus gray_decision_header(const struct GrayDecision *decision,
                                     size_t index,
                                     const char **name,
                                     const char **value);

// The release's route for dimension `kind` (`GRAY_ROUTE_*`): `*value` the text of its
// `n-d-*` header (e.g. `{"svc-a":"1.1"}`) and `*id` the route id chosen, each NULL when the
// release chose none (an id is also NULL for a value from `defaults`). Both borrowed until
// [`gray_decision_free`]; either out-pointer may be NULL. `GRAY_ERR_ARG` for an unknown
// `kind`.
//
// # Safety
//
// `decision` is NULL or a live decision; `value` and `id` are NULL or writable for one
// pointer.
enum GrayStatus gray_decision_route(const struct GrayDecision *decision,
                                    GrayRouteKind kind,
                                    const char **value,
                                    const char **id);

// Creates an engine from the spec file at `path`: the native format chosen by the extension
// (`.yaml`/`.yml`, `.json`, `.toml`), or a Nepxion XML rule for `.xml`. On success `*out` is
// the engine (free it with [`gray_engine_free`]); on failure `*out` is NULL and
// [`gray_last_error`](crate::gray_last_error) has the message with file, line and column.
//
// # Safety
//
// `path` is NULL or a NUL-terminated string; `out` is NULL or writable for one pointer.
enum GrayStatus gray_engine_from_file(const char *path, struct GrayEngine **out);

// Creates an engine from spec text in `format` (`GRAY_FORMAT_*`). A Nepxion rule gives an
// engine with no instances (add nodes with the admin calls); its import warnings go to
// `*warnings`, one a line (pass NULL to drop them; NULL when there are none; free with
// [`gray_string_free`](crate::gray_string_free)). On failure `*out` is NULL.
//
// # Safety
//
// `text` is NULL or a NUL-terminated string; `out` is NULL or writable for one pointer;
// `warnings` is NULL or writable for one pointer.
enum GrayStatus gray_engine_from_str(const char *text,
                                     GrayFormat format,
                                     struct GrayEngine **out,
                                     char **warnings);

// Replaces the engine's spec with the file at `path` (formats as in
// [`gray_engine_from_file`]; a `.xml` Nepxion rule is applied to the running spec, keeping
// its groups). On failure nothing changes: the old rules keep serving. `*generation` (when
// not NULL) receives the new generation.
//
// # Safety
//
// `engine` is NULL or a live engine; `path` is NULL or a NUL-terminated string;
// `generation` is NULL or writable.
enum GrayStatus gray_engine_reload_file(const struct GrayEngine *engine,
                                        const char *path,
                                        uint64_t *generation);

// Replaces the engine's spec with `text` in `format` (a Nepxion rule is applied to the
// running spec, keeping its groups; its warnings go to `*warnings` as in
// [`gray_engine_from_str`]). On failure nothing changes: the old rules keep serving.
// `*generation` (when not NULL) receives the new generation.
//
// # Safety
//
// `engine` is NULL or a live engine; `text` is NULL or a NUL-terminated string;
// `generation` and `warnings` are NULL or writable.
enum GrayStatus gray_engine_reload_str(const struct GrayEngine *engine,
                                       const char *text,
                                       GrayFormat format,
                                       uint64_t *generation,
                                       char **warnings);

// The generation of the rules being served (1 after creation, one more per change); 0 when
// `engine` is NULL.
//
// # Safety
//
// `engine` is NULL or a live engine.
uint64_t gray_engine_generation(const struct GrayEngine *engine);

// Frees an engine. NULL is ignored. Decisions made by it stay valid until freed themselves.
//
// # Safety
//
// `engine` is NULL or an engine from `gray_engine_from_*` that no other thread uses any more
// and that was not freed yet.
void gray_engine_free(struct GrayEngine *engine);

// The modification time (`*mtime_ns`, nanoseconds since the Unix epoch; 0 when the platform
// does not tell) and size in bytes (`*size`) of the file at `path`. `GRAY_ERR_IO` (the last
// error names the file) when it cannot be read; both outputs are then 0.
//
// # Safety
//
// `path` is NULL or NUL-terminated; `mtime_ns` and `size` are NULL or writable.
enum GrayStatus gray_file_stamp(const char *path, uint64_t *mtime_ns, uint64_t *size);

// True when the request's peer is trusted to send routing headers (`headers.trusted_peers`,
// or `inbound: keep` without that list); false when `decision` is NULL. When false, a proxy
// strips every inbound routing header.
//
// # Safety
//
// `decision` is NULL or a live decision.
bool gray_decision_trusts_inbound(const struct GrayDecision *decision);

// True when a forwarding proxy passes on the inbound header `name` (`len` bytes, any case,
// not necessarily NUL-terminated) as it arrived.
// Headers that are not routing headers always pass; inbound routing headers from untrusted
// peers never do; from trusted peers, with `inbound: override` they pass unless the decision
// sets the same name, with `inbound: keep` they pass and win over the decision's value.
//
// A proxy therefore removes every inbound header for which this is false, then sets each of
// the decision's headers ([`gray_decision_header`](crate::gray_decision_header)) unless the
// request still has that header and this is true for it. False when `decision` or `name` is
// NULL or `name` is not UTF-8 (the last error says which). (Pointer and length rather than a
// `GrayStr`: LuaJIT compiles calls with scalar arguments only.)
//
// # Safety
//
// `decision` is NULL or a live decision; `name` is NULL or points to `len` readable bytes.
bool gray_decision_forwards_inbound(const struct GrayDecision *decision,
                                    const char *name,
                                    size_t len);

// True when `name` (`len` bytes, any case) is a routing header of the rules that made the
// decision (`headers.routing_prefixes`, `n-d-` by default); false when `decision` or `name`
// is NULL or `name` is not UTF-8. A proxy keeps a trusted inbound routing header instead of
// setting the decision's value only for these names (`inbound: keep`): the decision's other
// headers (a rule's `set_headers`) always replace what the client sent.
//
// # Safety
//
// `decision` is NULL or a live decision; `name` is NULL or points to `len` readable bytes.
bool gray_decision_is_routing_header(const struct GrayDecision *decision,
                                     const char *name,
                                     size_t len);

// Decides where a request goes from its head as text: `head_len` bytes at `head`, not
// NUL-terminated, such as nginx's `ngx.req.raw_header()` (with or without the request line;
// lines end with CRLF or LF; the head ends at an empty line or at the end of the text).
//
// gray reads the request line (`METHOD SP target SP HTTP/x.y`: method, path, query, and the
// host of an absolute-form target) and every header line (`Host`, each `Cookie` line, any
// header a rule reads, `X-Forwarded-For`), in place: nothing is copied, and up to 24 headers
// nothing is allocated. `request` (NULL: none) gives the peer and may give other fields,
// which take precedence: a given `method`, `host` or `cookie` replaces the head's; a given
// `path` replaces the request line's path and query (a given `query` replaces its query);
// given `headers` come after the head's.
//
// On success `*out` is the decision (free it with [`gray_decision_free`](crate::gray_decision_free))
// and, when `forward` is not NULL, `*forward` says everything the proxy does to the request
// (the headers to set, the inbound headers to remove, the node): see [`GrayForward`]. Its
// pointers are borrowed from the decision.
//
// Failures leave `*out` NULL and `*forward` empty: `GRAY_ERR_NULL` for a NULL `engine`,
// `head` or `out`; `GRAY_ERR_ARG` for a malformed head (a line without `:`, a folded line, a
// name that is not a token, a control character, a bad request line) or a peer that is not an
// address; `GRAY_ERR_UTF8` for text that is not UTF-8. The last error says where: `path` is
// `head` (or the request field), `line` and `column` count in the head's text.
//
// # Safety
//
// `engine` is NULL or a live engine; `request` is NULL or points to a `GrayRequest` whose
// non-NULL pointers are valid for the call; `head` is NULL or readable for `head_len` bytes;
// `forward` is NULL or writable for one `GrayForward`; `out` is NULL or writable for one
// pointer.
enum GrayStatus gray_engine_decide_raw(const struct GrayEngine *engine,
                                       const struct GrayRequest *request,
                                       const char *head,
                                       size_t head_len,
                                       struct GrayForward *forward,
                                       struct GrayDecision **out);

// [`gray_engine_explain`](crate::gray_engine_explain) of a request given as in
// [`gray_engine_decide_raw`]: JSON text in `*out` (free it with
// [`gray_string_free`](crate::gray_string_free)); NULL on failure. Counts nothing.
//
// # Safety
//
// As for [`gray_engine_decide_raw`] (`out` is NULL or writable for one pointer).
enum GrayStatus gray_engine_explain_raw(const struct GrayEngine *engine,
                                        const struct GrayRequest *request,
                                        const char *head,
                                        size_t head_len,
                                        char **out);

// Fills `*out` with the last error of the calling thread and returns its code (`GRAY_OK`, with
// empty messages and NULL path and file, when no call on this thread has failed since the
// start or the last [`gray_last_error_clear`]). Returns `GRAY_ERR_NULL` (and records nothing)
// when `out` is NULL.
//
// # Safety
//
// `out` is NULL or points to writable memory for one `GrayError`.
enum GrayStatus gray_last_error(struct GrayError *out);

// The message of the last error on the calling thread (`""` when there is none): borrowed
// until the next failing call on this thread or [`gray_last_error_clear`]. Never NULL.
const char *gray_last_error_message(void);

// Forgets the last error of the calling thread (pointers from [`gray_last_error`] and
// [`gray_last_error_message`] become invalid).
void gray_last_error_clear(void);

// Frees a string gray returned as `char *` (explanations, metrics, node lists, warnings).
// NULL is ignored.
//
// # Safety
//
// `s` is NULL or a string returned by gray as `char *` that was not freed yet. Strings gray
// returns as `const char *` are borrowed and must not be passed here.
void gray_string_free(char *s);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* GRAY_H */

#ifndef GRAY_H_HELPERS
#define GRAY_H_HELPERS

/** A GrayStr of a string literal (not of a pointer: sizeof must see the array). */
#define GRAY_STR(literal) ((GrayStr){ (literal), sizeof(literal) - 1 })

/** A GrayStr of a NUL-terminated string, or the absent GrayStr for NULL. */
static inline GrayStr gray_str(const char *s) {
    GrayStr out = { s, 0 };
    if (s) { while (s[out.len]) out.len++; }
    return out;
}

#endif  /* GRAY_H_HELPERS */
