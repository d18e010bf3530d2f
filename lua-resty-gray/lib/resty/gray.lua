-- lua-resty-gray: gray's routing engine inside nginx, through LuaJIT's FFI over libgray.so.
--
--   init_worker_by_lua_block { require("resty.gray").init{ rules = "/etc/gray/rules.yaml" } }
--   access_by_lua_block      { require("resty.gray").route() }     -- decide, set headers
--   balancer_by_lua_block    { require("resty.gray").balance() }   -- or proxy_pass $gray_upstream
--   log_by_lua_block         { require("resty.gray").log() }       -- record the outcome
--   content_by_lua_block     { require("resty.gray").metrics() }   -- Prometheus text
--
-- Each worker holds one engine (gray_engine_from_file) and watches the rules file with an
-- ngx.timer.every: a change is reloaded atomically (gray_engine_reload_file); a bad file is
-- refused, logged with gray's message and location, and the old rules keep serving.
-- See lua-resty-gray/README.md.

local ffi = require "ffi"

local C_ = nil -- the loaded libgray, set by init

local ngx = ngx
local ngx_var = ngx.var
local ngx_log = ngx.log
local ERR, WARN, NOTICE = ngx.ERR, ngx.WARN, ngx.NOTICE
local req_get_headers = ngx.req.get_headers
local req_raw_header = ngx.req.raw_header
local req_get_method = ngx.req.get_method
local req_set_header = ngx.req.set_header
local req_clear_header = ngx.req.clear_header
local ffi_string, ffi_gc = ffi.string, ffi.gc
local tonumber, tostring, type, pairs = tonumber, tostring, type, pairs
local str_find, str_sub, str_match = string.find, string.sub, string.match

-- The subset of gray-ffi/include/gray.h this module uses. Every declaration between the
-- markers must be in gray.h exactly (comments and spacing aside): lua-resty-gray's
-- tests/cdef.rs checks it, so the header and this copy cannot drift apart.
-- BEGIN GRAY CDEF
ffi.cdef[[
typedef enum GrayStatus {
  GRAY_OK = 0,
  GRAY_ERR_NULL = 1,
  GRAY_ERR_UTF8 = 2,
  GRAY_ERR_ARG = 3,
  GRAY_ERR_CONFIG = 4,
  GRAY_ERR_IO = 5,
  GRAY_ERR_UNKNOWN_GROUP = 6,
  GRAY_ERR_UNKNOWN_NODE = 7,
  GRAY_ERR_PANIC = 8,
} GrayStatus;
typedef struct GrayDecision GrayDecision;
typedef struct GrayEngine GrayEngine;
typedef int32_t GrayOutcome;
typedef struct GrayStr {
  const char *ptr;
  size_t len;
} GrayStr;
typedef struct GrayHeader {
  struct GrayStr name;
  struct GrayStr value;
} GrayHeader;
typedef struct GrayRequest {
  struct GrayStr peer;
  struct GrayStr method;
  struct GrayStr path;
  struct GrayStr query;
  struct GrayStr host;
  const struct GrayHeader *headers;
  size_t headers_len;
  struct GrayStr cookie;
} GrayRequest;
typedef struct GrayForward {
  const struct GrayHeader *set;
  size_t set_len;
  const struct GrayStr *strip;
  size_t strip_len;
  struct GrayStr node;
  struct GrayStr group;
  struct GrayStr rule;
} GrayForward;
enum GrayStatus gray_engine_record_timed(const struct GrayEngine *engine,
                                         const struct GrayDecision *decision,
                                         GrayOutcome outcome,
                                         uint64_t latency_us);
enum GrayStatus gray_engine_add_node(const struct GrayEngine *engine,
                                     const char *group,
                                     const char *address,
                                     uint32_t weight,
                                     uint64_t *generation);
enum GrayStatus gray_engine_remove_node(const struct GrayEngine *engine,
                                        const char *group,
                                        const char *address,
                                        uint64_t *generation);
enum GrayStatus gray_engine_set_weight(const struct GrayEngine *engine,
                                       const char *group,
                                       const char *address,
                                       uint32_t weight,
                                       uint64_t *generation);
enum GrayStatus gray_engine_drain(const struct GrayEngine *engine,
                                  const char *group,
                                  const char *address,
                                  bool drain,
                                  uint64_t *generation);
enum GrayStatus gray_engine_nodes(const struct GrayEngine *engine,
                                  const char *group,
                                  char **out);
enum GrayStatus gray_engine_metrics(const struct GrayEngine *engine, char **out);
void gray_decision_free(struct GrayDecision *decision);
const char *gray_decision_group(const struct GrayDecision *decision);
const char *gray_decision_node_address(const struct GrayDecision *decision);
const char *gray_decision_rule_id(const struct GrayDecision *decision);
enum GrayStatus gray_engine_decide_raw(const struct GrayEngine *engine,
                                       const struct GrayRequest *request,
                                       const char *head,
                                       size_t head_len,
                                       struct GrayForward *forward,
                                       struct GrayDecision **out);
enum GrayStatus gray_engine_explain_raw(const struct GrayEngine *engine,
                                        const struct GrayRequest *request,
                                        const char *head,
                                        size_t head_len,
                                        char **out);
enum GrayStatus gray_engine_from_file(const char *path, struct GrayEngine **out);
enum GrayStatus gray_engine_reload_file(const struct GrayEngine *engine,
                                        const char *path,
                                        uint64_t *generation);
uint64_t gray_engine_generation(const struct GrayEngine *engine);
void gray_engine_free(struct GrayEngine *engine);
enum GrayStatus gray_file_stamp(const char *path, uint64_t *mtime_ns, uint64_t *size);
const char *gray_last_error_message(void);
void gray_string_free(char *s);
]]
-- END GRAY CDEF

-- The #define constants of gray.h this module uses (tests/cdef.rs checks each value).
local GRAY_OUTCOME_CONNECT_ERROR = -1
local GRAY_OUTCOME_TIMEOUT = -2
local GRAY_OUTCOME_RESET = -3

local _M = { _VERSION = "0.1.0" }

-- Per worker: the engine, the options, and the FFI buffers every request reuses.
local engine = nil
local opts = nil
local req_buf = nil      -- GrayRequest
local hdr_buf = nil      -- GrayHeader[max_headers], for requests without a raw head (HTTP/2)
local max_headers = 100
local fwd = ffi.new("GrayForward")
local out_decision = ffi.new("GrayDecision *[1]")
local out_gen = ffi.new("uint64_t[1]")
local out_text = ffi.new("char *[1]")
local stamp_mtime = ffi.new("uint64_t[1]")
local stamp_size = ffi.new("uint64_t[1]")
local last_mtime, last_size = nil, nil
local truncated_warned = false
local head_warned = false
local headers_anchor = nil -- nginx's header table while gray reads it
-- "ip:port" -> { host, port } for balance(); node addresses are few.
local peers = {}
local balancer = nil -- ngx.balancer, loaded by the first balance()

local function last_error()
    return ffi_string(C_.gray_last_error_message())
end

local function gen_of(n)
    return tonumber(n)
end

-- Loads libgray (once per worker).
local function load_lib(path)
    if C_ then
        return true
    end
    local ok, lib = pcall(ffi.load, path)
    if not ok then
        return nil, "cannot load " .. tostring(path) .. ": " .. tostring(lib)
    end
    C_ = lib
    return true
end

-- The stamp (mtime in ns, size) of the rules file, or nil and gray's message.
local function file_stamp(path)
    if C_.gray_file_stamp(path, stamp_mtime, stamp_size) ~= 0 then
        return nil, nil, last_error()
    end
    return stamp_mtime[0], stamp_size[0]
end

local function create_engine(path)
    local out = ffi.new("GrayEngine *[1]")
    if C_.gray_engine_from_file(path, out) ~= 0 then
        return nil, last_error()
    end
    return out[0]
end

--- Reloads the rules file now (the watcher calls this when the file changes). Atomic: on
--- failure nothing changes and the old rules keep serving. Returns the new generation, or
--- nil and gray's message (with file, line and column).
function _M.reload()
    if not C_ then
        return nil, "resty.gray: init() was not called"
    end
    local path = opts.rules
    if not engine then
        local e, err = create_engine(path)
        if not e then
            return nil, err
        end
        engine = e
        return gen_of(C_.gray_engine_generation(engine))
    end
    if C_.gray_engine_reload_file(engine, path, out_gen) ~= 0 then
        return nil, last_error()
    end
    return gen_of(out_gen[0])
end

local function admin_result(status)
    if status ~= 0 then
        return nil, last_error()
    end
    return gen_of(out_gen[0])
end

-- Applies one node change to this worker's engine.
local function apply_change(op, group, address, weight)
    if not engine then
        return nil, "no rules loaded"
    end
    if op == "add" then
        return admin_result(C_.gray_engine_add_node(engine, group, address, weight or 1, out_gen))
    elseif op == "remove" then
        return admin_result(C_.gray_engine_remove_node(engine, group, address, out_gen))
    elseif op == "weight" then
        return admin_result(C_.gray_engine_set_weight(engine, group, address, weight or 1, out_gen))
    elseif op == "drain" or op == "undrain" then
        return admin_result(C_.gray_engine_drain(engine, group, address, op == "drain", out_gen))
    end
    return nil, "unknown node change " .. tostring(op)
end

-- Node changes reach every worker through a journal in the shared dict named by the init
-- option `shared` (nginx: lua_shared_dict gray 1m): "seq" counts the changes, "change:N" holds
-- change N. The worker that takes an admin call validates it on its own engine first; each
-- worker's watcher applies the changes it has not seen. Without the option a change stays in
-- the worker that took it.
local applied_seq = 0
local own_changes = {}
local JOURNAL_TTL = 3600

local function follow_journal()
    local dict = opts.shared and ngx.shared[opts.shared]
    if not dict then
        return
    end
    local seq = dict:get("seq") or 0
    for i = applied_seq + 1, seq do
        if own_changes[i] then
            own_changes[i] = nil
        else
            local change = dict:get("change:" .. i)
            if change then
                local op, group, address, weight = str_match(change, "^(%w+)\t([^\t]*)\t([^\t]*)\t(%d*)$")
                local ok, err = apply_change(op, group, address, tonumber(weight))
                if not ok then
                    ngx_log(ERR, "gray: node change ", i, " (", change, ") failed here: ", err)
                end
            end
        end
    end
    applied_seq = seq
end

-- One watcher tick: reload when the file's stamp changed since the last look.
local function watch(premature)
    if premature then
        return
    end
    follow_journal()
    local mtime, size, err = file_stamp(opts.rules)
    if not mtime then
        if last_mtime ~= false then
            ngx_log(ERR, "gray: cannot watch the rules file: ", err)
            last_mtime = false
        end
        return
    end
    if mtime == last_mtime and size == last_size then
        return
    end
    last_mtime, last_size = mtime, size
    local gen, rerr = _M.reload()
    if gen then
        ngx_log(NOTICE, "gray: reloaded ", opts.rules, ", generation ", gen)
    else
        -- Logged once per change of the file; the old rules keep serving.
        ngx_log(ERR, "gray: rules file refused, the previous rules keep serving: ", rerr)
    end
end

--- Loads the rules in this worker: call it from init_worker_by_lua*. Options:
---   rules        the rules file (YAML, JSON, TOML, or a Nepxion .xml) — required
---   lib          path of libgray.so (default: $GRAY_LIB, else "libgray.so" from the
---                loader's search path)
---   watch        seconds between checks of the rules file (default 1; 0 = no watching)
---   max_headers  for requests without a raw head (HTTP/2), the request headers passed to gray
---                (default 100; more are ignored, with a warning). HTTP/1 heads are read whole.
---   shared       a lua_shared_dict name: node changes made through the admin calls reach
---                every worker (default: none; a change stays in the worker that took it)
---   var          the nginx variable route() stores the node in for proxy_pass (default
---                "gray_upstream"; false: none, e.g. with balance())
--- Returns true, or nil and the error (also logged). A worker whose first load failed
--- answers 503 and keeps retrying through its watcher.
function _M.init(o)
    if type(o) ~= "table" or type(o.rules) ~= "string" then
        error("resty.gray.init: { rules = '/path/to/rules.yaml' } is required", 2)
    end
    opts = {
        rules = o.rules,
        lib = o.lib or os.getenv("GRAY_LIB") or "libgray.so",
        watch = o.watch == nil and 1 or o.watch,
        var = o.var == nil and "gray_upstream" or o.var,
        shared = o.shared,
    }
    max_headers = o.max_headers or 100
    local ok, err = load_lib(opts.lib)
    if not ok then
        ngx_log(ERR, "gray: ", err)
        return nil, err
    end
    req_buf = ffi.new("GrayRequest")
    hdr_buf = ffi.new("GrayHeader[?]", max_headers)
    last_mtime, last_size = file_stamp(opts.rules)
    local gen
    gen, err = _M.reload()
    if gen then
        ngx_log(NOTICE, "gray: loaded ", opts.rules, ", generation ", gen)
    else
        ngx_log(ERR, "gray: cannot load the rules: ", err)
    end
    if opts.watch and opts.watch > 0 then
        local tok, terr = ngx.timer.every(opts.watch, watch)
        if not tok then
            ngx_log(ERR, "gray: cannot start the rules watcher: ", terr)
        end
    end
    if not gen then
        return nil, err
    end
    return true
end

local function set_str(field, s)
    if s then
        field.ptr = s
        field.len = #s
    else
        field.ptr = nil
        field.len = 0
    end
end

-- Fills the per-worker GrayRequest with what nginx itself says of the request: the TCP peer
-- (with the realip module, $remote_addr is already the forwarded client, so gray gets the real
-- peer and applies its own trusted-proxy rules), the method, $uri, $args and $host. These take
-- precedence over the request line of the raw head; the headers come from the head.
local function fill_given()
    local r = req_buf
    set_str(r.peer, ngx_var.realip_remote_addr or ngx_var.remote_addr)
    set_str(r.method, req_get_method())
    set_str(r.path, ngx_var.uri)
    set_str(r.query, ngx_var.args)
    set_str(r.host, ngx_var.host)
    r.headers_len = 0
    r.cookie.ptr = nil
end

-- Puts nginx's parsed request headers into the GrayRequest (for requests that have no raw head:
-- HTTP/2, or one gray refuses). Returns the header table: it keeps the strings alive while gray
-- reads them.
local function fill_headers()
    local r = req_buf
    local headers, err = req_get_headers(max_headers)
    if err == "truncated" and not truncated_warned then
        truncated_warned = true
        ngx_log(WARN, "gray: a request had more than ", max_headers,
                " headers; the rest were not seen by gray (init option max_headers)")
    end
    local n = 0
    for name, value in pairs(headers) do
        if type(value) == "table" then
            for i = 1, #value do
                if n < max_headers then
                    local h = hdr_buf[n]
                    set_str(h.name, name)
                    set_str(h.value, value[i])
                    n = n + 1
                end
            end
        elseif n < max_headers then
            local h = hdr_buf[n]
            set_str(h.name, name)
            set_str(h.value, value)
            n = n + 1
        end
    end
    r.headers = hdr_buf
    r.headers_len = n
    return headers
end

-- The request's raw head: ngx.req.raw_header(true), the header lines as the client sent them,
-- which gray parses itself; nil for HTTP/2 and later, which have none.
local function raw_head()
    local proto = ngx_var.server_protocol
    if proto == "HTTP/1.1" or proto == "HTTP/1.0" then
        return req_raw_header(true)
    end
    return nil
end

-- Calls `decide(head)` (gray_engine_decide_raw or _explain_raw on req_buf, filled by
-- fill_given) with nginx's parsed headers in req_buf and an empty head: for requests without a
-- raw head, or one gray refused (`refused`: the status; a header line nginx ignored, say).
-- Returns the status.
local function with_parsed_headers(decide, refused)
    if refused and not head_warned then
        head_warned = true
        ngx_log(WARN, "gray: ", last_error(), "; deciding from nginx's parsed headers ",
                "instead (logged once per worker)")
    end
    -- The table holds the strings req_buf points to: anchored until gray has read them.
    headers_anchor = fill_headers()
    local rc = decide("")
    headers_anchor = nil
    req_buf.headers_len = 0
    return rc
end

local function decide_raw(head)
    return C_.gray_engine_decide_raw(engine, req_buf, head, #head, fwd, out_decision)
end

local function set_header(h)
    req_set_header(ffi_string(h.name.ptr, h.name.len), ffi_string(h.value.ptr, h.value.len))
end

-- Applies gray's plan to the proxied request: removes the inbound headers gray does not forward
-- (routing headers, n-d-* by default, from peers that are not trusted, and those the decision
-- replaces), then sets the decision's headers. The common request strips nothing and sets one
-- to three headers: no loop runs then, so that LuaJIT compiles route() whole.
local function apply_plan(f)
    local n = tonumber(f.strip_len)
    if n > 0 then
        local strip = f.strip
        for i = 0, n - 1 do
            req_clear_header(ffi_string(strip[i].ptr, strip[i].len))
        end
    end
    n = tonumber(f.set_len)
    if n > 0 then
        local set = f.set
        set_header(set[0])
        if n > 1 then
            set_header(set[1])
            if n > 2 then
                set_header(set[2])
                for i = 3, n - 1 do
                    set_header(set[i])
                end
            end
        end
    end
end

-- Decides the current request into `fwd` and `out_decision[0]` (the caller owns the decision):
-- from the raw head when there is one, else (or when gray refuses it) from nginx's parsed
-- headers. Straight-line code on the common path (an HTTP/1 head gray reads): LuaJIT compiles
-- it as one trace after the raw_header call. Returns true, or false after logging the error.
local function decide_request()
    local head = raw_head()
    fill_given()
    local rc
    if head then
        rc = C_.gray_engine_decide_raw(engine, req_buf, head, #head, fwd, out_decision)
    end
    if rc ~= 0 then
        rc = with_parsed_headers(decide_raw, rc)
    end
    if rc ~= 0 then
        ngx_log(ERR, "gray: decide failed: ", last_error())
        return false
    end
    return true
end

--- Decides where the current request goes: call it from access_by_lua* (or rewrite_by_lua*).
--- Strips and sets headers, stores the node in ngx.var[var] (for `proxy_pass
--- http://$gray_upstream`; `var` defaults to init's option, false for none, as with
--- balance()) and in ngx.ctx for balance() and log(). Answers 503 when no group has an
--- available node (or no rules are loaded). Returns the node address and the group.
function _M.route(var)
    if not engine then
        ngx_log(ERR, "gray: no rules loaded; answering 503")
        return ngx.exit(503)
    end
    if not decide_request() then
        return ngx.exit(500)
    end
    local f = fwd
    local ctx = ngx.ctx
    ctx.gray_decision = ffi_gc(out_decision[0], C_.gray_decision_free)
    if f.node.ptr == nil then
        return ngx.exit(503)
    end
    apply_plan(f)
    local node = ffi_string(f.node.ptr, f.node.len)
    ctx.gray_node = node
    if var == nil then
        var = opts.var
    end
    if var then
        ngx_var[var] = node
    end
    return node, ffi_string(f.group.ptr, f.group.len)
end

--- Decides where the current request goes and returns the name of the group that serves it,
--- for `set_by_lua_block $gray_group { return require("resty.gray").group() }` in front of
--- `proxy_pass http://$gray_group;` with one nginx `upstream` block per gray group. nginx's
--- upstream then picks the node, keeps its connections and takes failing servers out
--- (`max_fails`), as with seed 000's hand-written map, so no balancer or log phase runs: the
--- cheapest way to have gray decide. Strips and sets headers as route() does. The group is
--- gray's choice after fallbacks when its groups list nodes, else the rules' choice. Returns
--- `default` (nil: an empty value) when no rules are loaded or the request cannot be decided
--- (logged).
function _M.group(default)
    if not engine then
        ngx_log(ERR, "gray: no rules loaded")
        return default
    end
    if not decide_request() then
        return default
    end
    local f = fwd
    apply_plan(f)
    -- The plan borrows from the decision: copy the name before freeing it.
    local group = ffi_string(f.group.ptr, f.group.len)
    C_.gray_decision_free(out_decision[0])
    return group
end

--- The group, rule id (or nil) and node of the current request's decision, after route().
function _M.decision()
    local d = ngx.ctx.gray_decision
    if not d then
        return nil
    end
    local rule = C_.gray_decision_rule_id(d)
    local node = C_.gray_decision_node_address(d)
    return ffi_string(C_.gray_decision_group(d)), rule ~= nil and ffi_string(rule) or nil,
        node ~= nil and ffi_string(node) or nil
end

local function split_peer(addr)
    local p = peers[addr]
    if p then
        return p[1], p[2]
    end
    local host, port = str_match(addr, "^%[(.+)%]:(%d+)$")
    if not host then
        host, port = str_match(addr, "^(.+):(%d+)$")
    end
    if not host then
        return nil, nil
    end
    p = { host, tonumber(port) }
    peers[addr] = p
    return p[1], p[2]
end

--- Sets the decided node as the upstream peer: call it from balancer_by_lua* (with an
--- `upstream { server 0.0.0.1; balancer_by_lua_block { ... } }`) after route() ran.
function _M.balance()
    local node = ngx.ctx.gray_node
    if not node then
        ngx_log(ERR, "gray: balance() without a routed request")
        return ngx.exit(500)
    end
    local host, port = split_peer(node)
    if not balancer then
        balancer = require "ngx.balancer"
    end
    local ok, err = balancer.set_current_peer(host, port)
    if not ok then
        ngx_log(ERR, "gray: cannot set the peer ", node, ": ", err)
        return ngx.exit(500)
    end
end

-- The last entry of a comma- or colon-separated nginx upstream variable (one per upstream
-- tried), or nil.
local function last_entry(v)
    if not v or v == "" then
        return nil
    end
    -- One upstream tried (the common case): no separator, no loop (LuaJIT compiles log()).
    if not str_find(v, " ", 1, true) then
        return v
    end
    local i = 0
    while true do
        local j = str_find(v, "[,:] ", i + 1)
        if not j then
            break
        end
        i = j + 1
    end
    if i == 0 then
        return v
    end
    return str_sub(v, i + 1)
end

--- Records the outcome of the proxied request: call it from log_by_lua*. The status and
--- $upstream_response_time are recorded for the node (passive health, latency histograms);
--- a 502/504 without a response from the node is a connect error, a reset or a timeout.
--- Frees the decision.
function _M.log()
    local ctx = ngx.ctx
    local d = ctx.gray_decision
    if not d then
        return
    end
    ctx.gray_decision = nil
    local status = last_entry(ngx_var.upstream_status)
    if status and status ~= "-" then
        local outcome = tonumber(status) or 0
        local header_time = last_entry(ngx_var.upstream_header_time)
        if header_time == nil or header_time == "-" then
            -- No response headers arrived from the node.
            if outcome == 504 then
                outcome = GRAY_OUTCOME_TIMEOUT
            elseif outcome == 502 then
                local connect = last_entry(ngx_var.upstream_connect_time)
                if connect == nil or connect == "-" then
                    outcome = GRAY_OUTCOME_CONNECT_ERROR
                else
                    outcome = GRAY_OUTCOME_RESET
                end
            end
        end
        local secs = tonumber(last_entry(ngx_var.upstream_response_time)) or 0
        C_.gray_engine_record_timed(engine, d, outcome, secs * 1000000)
    end
    C_.gray_decision_free(ffi_gc(d, nil))
end

local function take_string(p)
    local s = ffi_string(p)
    C_.gray_string_free(p)
    return s
end

--- Prometheus text of this worker's engine: call it from content_by_lua*.
function _M.metrics()
    if not engine or C_.gray_engine_metrics(engine, out_text) ~= 0 then
        ngx.status = 503
        ngx.say("gray: ", engine and last_error() or "no rules loaded")
        return
    end
    ngx.header["Content-Type"] = "text/plain; version=0.0.4"
    ngx.print(take_string(out_text[0]))
end

--- The explanation (JSON) of how the current request is routed; counts nothing.
function _M.explain()
    if not engine then
        return nil, "no rules loaded"
    end
    local function explain(head)
        return C_.gray_engine_explain_raw(engine, req_buf, head, #head, out_text)
    end
    local head = raw_head()
    fill_given()
    local rc = head and explain(head)
    if rc ~= 0 then
        rc = with_parsed_headers(explain, rc)
    end
    if rc ~= 0 then
        return nil, last_error()
    end
    return take_string(out_text[0])
end

--- The rules generation this worker serves.
function _M.generation()
    return engine and gen_of(C_.gray_engine_generation(engine)) or 0
end

local function change(op, group, address, weight)
    if type(group) ~= "string" or type(address) ~= "string" then
        return nil, "a group and a node address are required"
    end
    follow_journal()
    local gen, err = apply_change(op, group, address, weight)
    if not gen then
        return nil, err
    end
    local dict = opts.shared and ngx.shared[opts.shared]
    if dict then
        local seq, ierr = dict:incr("seq", 1, 0)
        if not seq then
            return nil, "cannot journal the change for the other workers: " .. tostring(ierr)
        end
        own_changes[seq] = true
        dict:set("change:" .. seq, op .. "\t" .. group .. "\t" .. address .. "\t" .. (weight or ""),
                 JOURNAL_TTL)
    end
    return gen
end

--- Node administration (each returns the new generation, or nil and gray's message). With the
--- init option `shared`, every worker applies the change within its watch interval. A rules
--- reload replaces these changes with the file's node lists.
function _M.add_node(group, address, weight)
    return change("add", group, address, weight or 1)
end

function _M.remove_node(group, address)
    return change("remove", group, address)
end

function _M.set_weight(group, address, weight)
    return change("weight", group, address, weight)
end

function _M.drain(group, address, on)
    return change(on == false and "undrain" or "drain", group, address)
end

--- A group's status and nodes as JSON, or nil and gray's message.
function _M.nodes(group)
    if not engine then
        return nil, "no rules loaded"
    end
    if type(group) ~= "string" then
        return nil, "a group is required"
    end
    if C_.gray_engine_nodes(engine, group, out_text) ~= 0 then
        return nil, last_error()
    end
    return take_string(out_text[0])
end

local function json_str(s)
    return '"' .. string.gsub(tostring(s), '[%c"\\]', function(c)
        return string.format("\\u%04x", string.byte(c))
    end) .. '"'
end

local function say_json(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.say(body)
end

--- The admin API of seed 002, as a content handler (content_by_lua*) for a location such as
--- `location ~ ^/gray/`: `.../upstream_add?upstream=canary&server=127.0.0.1:8082&weight=1`,
--- `.../upstream_remove?upstream=canary&server=...`, `.../upstream_weight?...&weight=N`,
--- `.../upstream_drain?...` (`&undrain=1` ends it), `.../upstream_list?upstream=canary`,
--- `.../reload`. Protect it (allow/deny, auth): it changes routing.
function _M.admin()
    local uri = ngx_var.uri
    local action = str_match(uri, "([%w_]+)$")
    local args = ngx.req.get_uri_args()
    local group, server = args.upstream, args.server
    local weight = tonumber(args.weight)
    local gen, err
    if action == "upstream_list" then
        local json, lerr = _M.nodes(group)
        if not json then
            return say_json(404, '{"error":' .. json_str(lerr) .. '}')
        end
        return say_json(200, json)
    elseif action == "upstream_add" then
        gen, err = _M.add_node(group, server, weight or 1)
    elseif action == "upstream_remove" then
        gen, err = _M.remove_node(group, server)
    elseif action == "upstream_weight" then
        gen, err = _M.set_weight(group, server, weight)
    elseif action == "upstream_drain" then
        gen, err = _M.drain(group, server, not args.undrain)
    elseif action == "reload" then
        gen, err = _M.reload()
    else
        return say_json(404, '{"error":' .. json_str("unknown admin call " .. tostring(action)) .. '}')
    end
    if not gen then
        return say_json(400, '{"error":' .. json_str(err) .. '}')
    end
    return say_json(200, '{"generation":' .. gen .. '}')
end

return _M
