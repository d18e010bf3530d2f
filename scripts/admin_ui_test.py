#!/usr/bin/env python3
"""Drives the gateway's admin page in headless Chromium through chromedriver's W3C WebDriver
HTTP API (standard library only): load the page, enter the admin token, change a node's weight
and drain a node, and check both changes are applied by the gateway. Then, against a gateway
without a token: a page served from another origin tries what any web page can do without a
CORS preflight (a text/plain POST, a form POST, an <img> GET of a seed-style alias) and changes
nothing, while the console's own reload button still works.

Then the console on a gateway with real upstreams and a judged rollout: rules with their hit
counts after traffic, an explain, a what-if and its matrix, a rollout button whose effect the
API shows, and a screenshot of the page (CONSOLE_SCREENSHOT, default target/console.png).

Usage: admin_ui_test.py PATH/TO/gateway
"""

import json
import re
import os
import threading
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "ui-test-token"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what, fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


class Browser:
    def __init__(self, driver_url, chromium):
        self.base = driver_url
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--user-data-dir=" + tempfile.mkdtemp(prefix="gray-ui-")]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}}
        self.session = self.cmd("POST", "/session", caps)["sessionId"]

    def cmd(self, method, path, body=None):
        status, text = http(method, self.base + path, body if body is not None or method != "POST" else {})
        value = json.loads(text).get("value") if text else None
        if status != 200:
            raise RuntimeError(f"webdriver {method} {path}: {status} {value}")
        return value

    def s(self, method, path, body=None):
        return self.cmd(method, f"/session/{self.session}{path}", body)

    def find(self, element_id):
        found = self.s("POST", "/element", {"using": "css selector", "value": f'[id="{element_id}"]'})
        return found[ELEMENT]

    def text(self, element_id):
        return self.s("GET", f"/element/{self.find(element_id)}/text")

    def fresh(self, element_id, action):
        """Runs `action(element)` on the element with `element_id`, finding it again when the
        page replaced it in between (the console redraws its tables every two seconds)."""
        for attempt in range(5):
            try:
                return action(self.find(element_id))
            except RuntimeError as e:
                if attempt == 4 or not any(w in str(e) for w in ("stale element", "not interactable")):
                    raise
                time.sleep(0.1)

    def click(self, element_id):
        self.fresh(element_id, lambda e: self.s("POST", f"/element/{e}/click", {}))

    def type(self, element_id, text, clear=True):
        def act(e):
            if clear:
                self.s("POST", f"/element/{e}/clear", {})
            self.s("POST", f"/element/{e}/value", {"text": text})
        self.fresh(element_id, act)

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def set_value(self, element_id, value):
        """Sets a field (textarea, select) as a user would and fires its change event."""
        self.js("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                "e.dispatchEvent(new Event('change'));", element_id, value)

    def screenshot(self, path):
        import base64
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def quit(self):
        try:
            self.s("DELETE", "")
        except Exception:  # noqa: BLE001 - best effort
            pass


def main():
    gateway_bin = os.path.abspath(sys.argv[1])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromedriver must be installed"

    tmp = tempfile.mkdtemp(prefix="gray-ui-cfg-")
    config = os.path.join(tmp, "gray.yaml")
    with open(config, "w") as f:
        f.write("""version: 1
groups:
  stable:
    nodes:
      - { address: "127.0.0.1:9", weight: 1 }
      - { address: "127.0.0.1:10", weight: 1 }
  canary:
    fallback: stable
    nodes: [{ address: "127.0.0.1:11" }]
rules:
  - { id: canary-cookie, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary }
default: stable
""")
    admin_port = free_port()
    admin = f"http://127.0.0.1:{admin_port}"
    auth = {"Authorization": "Bearer " + TOKEN}
    procs = []
    browser = None
    try:
        gw = subprocess.Popen([gateway_bin, "--config", config, "--listen", "127.0.0.1:0",
                               "--admin-listen", f"127.0.0.1:{admin_port}", "--admin-token", TOKEN],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(gw)
        wait_for("the admin API", lambda: http("GET", admin + "/api/status", headers=auth)[0] == 200)

        driver_port = free_port()
        cd = subprocess.Popen([driver, f"--port={driver_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(cd)
        driver_url = f"http://127.0.0.1:{driver_port}"
        wait_for("chromedriver", lambda: json.loads(http("GET", driver_url + "/status")[1])["value"]["ready"])
        browser = Browser(driver_url, chromium)

        browser.s("POST", "/url", {"url": admin + "/"})
        # Without the token the API refuses; the page says so.
        wait_for("the 401 message", lambda: "401" in browser.text("msg"))
        browser.type("token", TOKEN)
        browser.click("generation")  # blur the token field: its change event stores it
        wait_for("the node table", lambda: browser.find("w:stable:127.0.0.1:9"))
        assert browser.text("wv:stable:127.0.0.1:9") == "1"

        browser.type("w:stable:127.0.0.1:9", "7")
        browser.click("set:stable:127.0.0.1:9")
        wait_for("the weight applied on the page", lambda: browser.text("wv:stable:127.0.0.1:9") == "7")
        assert "applied" in browser.text("msg"), browser.text("msg")
        status, body = http("GET", admin + "/api/groups/stable", headers=auth)
        nodes = {n["address"]: n for n in json.loads(body)["nodes"]}
        assert status == 200 and nodes["127.0.0.1:9"]["configured_weight"] == 7, body
        assert nodes["127.0.0.1:10"]["configured_weight"] == 1, body

        browser.click("drain:stable:127.0.0.1:10")
        wait_for("the drain shown on the page",
                 lambda: browser.text("h:stable:127.0.0.1:10").startswith("draining"))
        nodes = {n["address"]: n for n in json.loads(http("GET", admin + "/api/groups/stable", headers=auth)[1])["nodes"]}
        assert nodes["127.0.0.1:10"]["drain"] is True

        # A weight typed but not yet set survives a redraw of the table: mark the row, change
        # the other node behind the page's back (the next refresh redraws the table), and
        # find the typed value in the new field.
        browser.type("w:stable:127.0.0.1:9", "20000")
        browser.js("document.getElementById('node:stable:127.0.0.1:9').dataset.old = '1';")
        status, body = http("PUT", admin + "/api/groups/stable/nodes/127.0.0.1:10/weight",
                            {"weight": 3}, headers=auth)
        assert status == 200, body
        wait_for("the node table redrawn with the other node's change", lambda: browser.js(
            "const r = document.getElementById('node:stable:127.0.0.1:9');"
            "const w = document.getElementById('wv:stable:127.0.0.1:10');"
            "return r !== null && r.dataset.old === undefined && w !== null && w.textContent === '3';"))
        value = browser.js("return document.getElementById('w:stable:127.0.0.1:9').value;")
        assert value == "20000", f"the typed weight was reset by the redraw: {value!r}"

        # A rejected change shows the gateway's reason.
        browser.click("set:stable:127.0.0.1:9")
        wait_for("the error message", lambda: "out of range" in browser.text("msg"))
        print("admin UI test: page loaded, weight changed to 7, node drained, bad weight rejected")

        # A token-less gateway (the default) and a hostile page on another local origin.
        open_port = free_port()
        open_admin = f"http://127.0.0.1:{open_port}"
        gw2 = subprocess.Popen([gateway_bin, "--config", config, "--listen", "127.0.0.1:0",
                                "--admin-listen", f"127.0.0.1:{open_port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(gw2)
        wait_for("the token-less admin API", lambda: http("GET", open_admin + "/api/status")[0] == 200)
        before = json.loads(http("GET", open_admin + "/api/status")[1])["generation"]
        evil_config = "version: 1\\ngroups: { stable: { nodes: [{ address: '127.0.0.1:66' }] } }\\ndefault: stable\\n"
        attack = f"""<!doctype html><title>loading</title><body><script>
const admin = "{open_admin}";
const shots = [
  fetch(admin + "/api/reload", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "text/plain"}}, body: "{evil_config}"}}),
  fetch(admin + "/api/groups/stable/nodes", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "application/x-www-form-urlencoded"}},
    body: '{{"address": "127.0.0.1:67"}}'}}),
  fetch(admin + "/api/groups/stable/nodes/127.0.0.1:9/weight", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "text/plain"}}, body: '{{"weight": 9999}}'}}),
  new Promise(done => {{ const i = new Image(); i.onload = i.onerror = done;
    i.src = admin + "/upstream_add?upstream=stable&server=127.0.0.1:68"; }}),
];
Promise.allSettled(shots).then(() => {{ document.title = "sent"; }});
</script></body>"""
        attack_dir = os.path.join(tmp, "attacker")
        os.makedirs(attack_dir)
        with open(os.path.join(attack_dir, "index.html"), "w") as f:
            f.write(attack)
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = lambda *a, **k: Quiet(*a, directory=attack_dir, **k)  # noqa: E731
        evil_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=evil_server.serve_forever, daemon=True).start()
        try:
            browser.s("POST", "/url", {"url": f"http://127.0.0.1:{evil_server.server_address[1]}/index.html"})
            wait_for("the hostile page's requests", lambda: browser.s("GET", "/title") == "sent")
        finally:
            evil_server.shutdown()
        status = json.loads(http("GET", open_admin + "/api/status")[1])
        assert status["generation"] == before, f"a cross-site request changed the config: {status}"
        nodes = {n["address"]: n for n in json.loads(http("GET", open_admin + "/api/groups/stable")[1])["nodes"]}
        assert set(nodes) == {"127.0.0.1:9", "127.0.0.1:10"}, nodes
        assert nodes["127.0.0.1:9"]["configured_weight"] == 1, nodes

        # The console itself (same origin) still changes things without a token.
        browser.s("POST", "/url", {"url": open_admin + "/"})
        wait_for("the node table", lambda: browser.find("w:stable:127.0.0.1:9"))
        browser.click("reload")
        wait_for("the reload applied", lambda: "applied" in browser.text("msg"))
        status = json.loads(http("GET", open_admin + "/api/status")[1])
        assert status["generation"] == before + 1, status
        print("admin UI test: a hostile page on another origin changed nothing; the console's reload works")

        console_test(gateway_bin, browser, tmp, procs)
    finally:
        if browser:
            browser.quit()
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


class Upstream(SimpleHTTPRequestHandler):
    """Answers every request with 200 and its own name."""

    def do_GET(self):
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def upstream(name):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.name = name
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


def console_test(gateway_bin, browser, tmp, procs):
    servers = [upstream(n) for n in ("stable", "canary", "office", "office-next")]
    (_, stable), (_, canary), (_, office), (_, office_next) = servers
    config = os.path.join(tmp, "console.yaml")
    live = f"""version: 1
client_ip: {{ trusted_proxies: ["127.0.0.1"] }}
groups:
  web:
    nodes: [{{ address: "{stable}", weight: 1 }}, {{ address: "{canary}", weight: 0 }}]
    rollout:
      start: 0
      steps:
        - {{ weights: {{ "{canary}": 1 }}, hold: 10m }}
        - {{ weights: {{ "{canary}": 1, "{stable}": 0 }} }}
      analysis: {{ canary: ["{canary}"], interval: 10s, failure_limit: 2 }}
  office:
    nodes: [{{ address: "{office}" }}]
    mirror: {{ to: office-next, compare: {{ body: exact }} }}
  office-next: {{ nodes: [{{ address: "{office_next}" }}] }}
rules:
  - {{ id: beta-cookie, description: "testers' cookie", when: {{ cookie: {{ name: beta, regex: "aaa$" }} }}, route: office }}
  - {{ id: office-net, when: {{ ip: ["10.8.0.0/16"] }}, route: office }}
default: web
"""
    with open(config, "w") as f:
        f.write(live)
    proxy_port, admin_port = free_port(), free_port()
    proxy, admin = f"http://127.0.0.1:{proxy_port}", f"http://127.0.0.1:{admin_port}"
    gw = subprocess.Popen([gateway_bin, "--config", config, "--listen", f"127.0.0.1:{proxy_port}",
                           "--admin-listen", f"127.0.0.1:{admin_port}", "--sample-every", "1"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(gw)
    try:
        wait_for("the console gateway", lambda: http("GET", admin + "/api/status")[0] == 200)
        # Traffic: 6 requests with the testers' cookie, 4 from 10.8.x (the office network),
        # 10 from elsewhere; 4 of those from 10.9.x, which the candidate below adds.
        sent = []
        for i in range(20):
            headers = {"X-Forwarded-For": "192.0.2.10"}
            if i < 6:
                headers["Cookie"] = "beta=xaaa"
            elif i < 10:
                headers["X-Forwarded-For"] = "10.8.1.1"
            elif i < 14:
                headers["X-Forwarded-For"] = "10.9.3.3"
            sent.append(http("GET", proxy + "/", headers=headers))
        assert all(code == 200 for code, _ in sent), sent
        assert [b for _, b in sent].count("office") == 10, sent

        # Traffic keeps flowing while the console is open (its charts follow it): a request
        # every 50 ms, a fifth of them with the testers' cookie.
        stop = threading.Event()

        def background():
            i = 0
            while not stop.is_set():
                h = {"X-Forwarded-For": "192.0.2.20"}
                if i % 5 == 0:
                    h["Cookie"] = "beta=bgaaa"
                http("GET", proxy + "/bg", headers=h)
                i += 1
                stop.wait(0.05)

        traffic = threading.Thread(target=background, daemon=True)
        browser.s("POST", "/window/rect", {"width": 1400, "height": 1100})
        browser.s("POST", "/url", {"url": admin + "/"})
        wait_for("the rules with their hits", lambda: browser.text("hits:beta-cookie") == "6")
        assert browser.text("hits:office-net") == "4"
        assert browser.text("cond:beta-cookie") == "cookie beta matches /aaa$/", browser.text("cond:beta-cookie")
        assert browser.text("share:beta-cookie").startswith("30.0%"), browser.text("share:beta-cookie")
        traffic.start()
        wait_for("hits that follow the traffic", lambda: int(browser.text("hits:beta-cookie")) > 8)
        wait_for("the share chart", lambda: browser.js(
            "return document.querySelectorAll('#chart-share polyline').length") >= 2)
        wait_for("a last hit time", lambda: browser.text("last:beta-cookie").endswith("ago"))
        # The office group mirrors to a next build that answers differently: the console
        # lists the differences.
        wait_for("the mirror's differences", lambda: browser.js(
            "return document.querySelectorAll('.mirror-diff').length") >= 1)
        wait_for("the traffic chart", lambda: browser.js(
            "return document.querySelectorAll('#chart-p99 polyline').length") >= 1)

        # Explain: a request with the testers' cookie, from the browser's form.
        browser.type("ex-cookies", "beta=zzaaa")
        browser.type("ex-path", "/cart")
        browser.click("ex-run")
        wait_for("the explanation", lambda: "beta-cookie" in browser.text("ex-out"))
        out = browser.text("ex-out")
        assert "office" in out, out

        # What-if: the candidate adds 10.9.0.0/16 to the office rule; on the live sample the 4
        # requests from there move from web to office.
        candidate = live.replace('ip: ["10.8.0.0/16"]', 'ip: ["10.8.0.0/16", "10.9.0.0/16"]')
        browser.set_value("wi-config", candidate)
        browser.set_value("wi-source", "live")
        browser.click("wi-run")
        wait_for("the what-if matrix", lambda: browser.find("cell:web:office"))
        moved = browser.text("wi-moved")
        # The sample also holds the background traffic (from 192.0.2.20, which stays put).
        m = re.match(r"4 of (\d+) requests would change group", moved)
        assert m and int(m.group(1)) > 20, moved
        cell = browser.text("cell:web:office")
        assert cell.startswith("web office 4 "), cell
        # The same on pasted requests, with the candidate's lint warnings.
        shadowing = candidate.replace("rules:\n", "rules:\n  - { id: all, route: web }\n")
        browser.set_value("wi-config", shadowing)
        browser.set_value("wi-source", "jsonl")
        browser.set_value("wi-requests", '{"peer": "10.9.0.1"}\n{"peer": "192.0.2.1"}\n')
        browser.click("wi-run")
        wait_for("the candidate's lints", lambda: "shadowed_rule" in browser.text("wi-lints"))
        assert browser.text("wi-moved").startswith("0 of 2 requests"), browser.text("wi-moved")
        assert json.loads(http("GET", admin + "/api/status")[1])["generation"] == 1, "what-if applied something"

        # A rollout button: pause, and the API agrees.
        wait_for("the rollout row", lambda: browser.text("rstate:web") == "progressing")
        browser.js("window.scrollTo(0, 0)")
        browser.screenshot(os.environ.get("CONSOLE_SCREENSHOT", "target/console.png"))
        stop.set()
        traffic.join()
        browser.click("pause:web")
        wait_for("the paused state on the page", lambda: browser.text("rstate:web") == "paused")
        (rollout,) = json.loads(http("GET", admin + "/api/rollouts")[1])
        assert rollout["state"]["state"] == "paused", rollout
        assert rollout["history"][-1]["reason"] == "operator: Pause", rollout
        browser.click("resume:web")
        wait_for("resumed", lambda: browser.text("rstate:web") == "progressing")
        print("console test: rules and hits, explain, what-if (live sample and pasted requests, lints), "
              "rollout pause/resume; screenshot saved")
    finally:
        for server, _ in servers:
            server.shutdown()


if __name__ == "__main__":
    main()
