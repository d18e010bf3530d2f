#!/usr/bin/env python3
"""Drives the gateway's admin page in headless Chromium through chromedriver's W3C WebDriver
HTTP API (standard library only): load the page, enter the admin token, change a node's weight
and drain a node, and check both changes are applied by the gateway. Then, against a gateway
without a token: a page served from another origin tries what any web page can do without a
CORS preflight (a text/plain POST, a form POST, an <img> GET of a seed-style alias) and changes
nothing, while the console's own reload button still works.

Usage: admin_ui_test.py PATH/TO/gateway
"""

import json
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

    def click(self, element_id):
        self.s("POST", f"/element/{self.find(element_id)}/click", {})

    def type(self, element_id, text, clear=True):
        e = self.find(element_id)
        if clear:
            self.s("POST", f"/element/{e}/clear", {})
        self.s("POST", f"/element/{e}/value", {"text": text})

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

        # A rejected change shows the gateway's reason.
        browser.type("w:stable:127.0.0.1:9", "20000")
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


if __name__ == "__main__":
    main()
