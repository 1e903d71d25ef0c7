#!/usr/bin/env python3
"""Drives Debian's headless Chromium over the DevTools protocol for the page tests.

The test sends a list of steps as JSON on stdin; this prints one JSON result a step, as a list,
on stdout. Only the Python standard library: the protocol runs over a pipe
(--remote-debugging-pipe: fd 3 into the browser, fd 4 out of it, NUL-separated JSON), so no
WebSocket client and no download is needed.

Steps:
  {"open": URL}                         navigate and wait for the load event; result: HTTP status
  {"wait": JS, "timeout": S}            poll JS until truthy; result: seconds it took (error on timeout)
  {"eval": JS}                          result: the value
  {"click": CSS}                        click the element's centre
  {"type": CSS, "text": T}              focus and insert text
  {"downloads": DIR}                    downloads go to DIR from now on
  {"wait_file": PATH, "timeout": S}     until PATH exists complete; result: seconds
  {"screenshot": PATH, "width": W}      full-page PNG at W CSS pixels wide
  {"console": true}                     result: console messages and exceptions so far
  {"touch": PATH}                       create an empty file (a build waiting for it goes on)
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time


class Browser:
    def __init__(self, executable):
        self.profile = tempfile.mkdtemp(prefix="bs-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def child_fds():
            # Moved out of the way first: dup2 onto 3 could close the other end otherwise.
            reading = os.dup(to_browser_r)
            writing = os.dup(from_browser_w)
            os.dup2(reading, 3)
            os.dup2(writing, 4)
            os.setsid()

        self.process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",  # tests run as root in CI
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile,
                "--window-size=1280,900",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Python's own descriptors are not inherited (PEP 446); closing the rest would come
            # after child_fds and take 3 and 4 with it.
            close_fds=False,
            preexec_fn=child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.replies = {}
        self.events = []
        self.console = []
        self.lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(domain + ".enable", session=True)

    def _read(self):
        buffer = b""
        while True:
            chunk = os.read(self.from_browser, 65536)
            if not chunk:
                with self.lock:
                    self.replies["closed"] = True
                    self.lock.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                data = json.loads(message)
                with self.lock:
                    if "id" in data:
                        self.replies[data["id"]] = data
                    else:
                        self.events.append(data)
                        method = data.get("method")
                        params = data.get("params", {})
                        if method == "Runtime.consoleAPICalled":
                            self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
                        elif method == "Runtime.exceptionThrown":
                            self.console.append("exception: " + json.dumps(params.get("exceptionDetails", {}))[:500])
                        elif method == "Log.entryAdded":
                            self.console.append(params.get("entry", {}).get("text", ""))
                    self.lock.notify_all()

    def call(self, method, params=None, session=False, timeout=60):
        with self.lock:
            self.next_id += 1
            ident = self.next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.lock:
            while ident not in self.replies:
                if "closed" in self.replies:
                    raise RuntimeError("the browser exited")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(method + " got no answer in %d s" % timeout)
                self.lock.wait(left)
            reply = self.replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(method + ": " + reply["error"].get("message", "error"))
        return reply.get("result", {})

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError("script failed: " + json.dumps(result["exceptionDetails"])[:300])
        return result.get("result", {}).get("value")

    def open(self, url, timeout=30):
        """Navigates and waits for this navigation's document and then its load event (one that
        a page loaded before may still send does not count); returns the document's status."""
        with self.lock:
            seen = len(self.events)
        reply = self.call("Page.navigate", {"url": url}, session=True)
        if reply.get("errorText"):
            raise RuntimeError("navigation failed: " + reply["errorText"])
        loader = reply.get("loaderId")
        deadline = time.monotonic() + timeout
        status = None
        with self.lock:
            while True:
                for event in self.events[seen:]:
                    method = event.get("method")
                    params = event.get("params", {})
                    if method == "Network.responseReceived" and params.get("type") == "Document" and params.get("loaderId") == loader:
                        status = params["response"]["status"]
                    elif method == "Page.loadEventFired" and status is not None:
                        return status
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("page did not load in %d s: %s" % (timeout, url))
                self.lock.wait(left)

    def wait(self, expression, timeout):
        start = time.monotonic()
        while True:
            try:
                if self.evaluate(expression):
                    return round(time.monotonic() - start, 3)
            except RuntimeError:
                pass  # a page between documents
            if time.monotonic() - start > timeout:
                try:
                    where = self.evaluate("location.href + ' | ' + document.title + ' | ' + document.body.textContent.slice(0, 300)")
                except RuntimeError as error:
                    where = str(error)
                raise RuntimeError("not true within %s s: %s (the page: %s)" % (timeout, expression, where))
            time.sleep(0.02)

    def click(self, selector, timeout=20):
        """A real mouse click on the element's centre, once the page has loaded and the element is
        what is at that point (a style sheet arriving late moves things)."""
        locate = (
            "(() => { if (document.readyState !== 'complete') return null;"
            " const e = document.querySelector(%s); if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect(); const x = r.x + r.width / 2, y = r.y + r.height / 2;"
            " const hit = document.elementFromPoint(x, y); return hit && (hit === e || e.contains(hit)) ? [x, y] : null; })()"
        ) % json.dumps(selector)
        deadline = time.monotonic() + timeout
        while True:
            try:
                box = self.evaluate(locate)
            except RuntimeError:
                box = None  # between documents
            if box:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nothing to click at " + selector)
            time.sleep(0.05)
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
                session=True,
            )

    def type(self, selector, text):
        self.evaluate("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", {"text": text}, session=True)

    def screenshot(self, path, width):
        height = self.evaluate("Math.ceil(document.documentElement.scrollHeight)") or 800
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": min(int(height), 4000), "deviceScaleFactor": 1, "mobile": width < 600},
            session=True,
        )
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))
        self.call("Emulation.clearDeviceMetricsOverride", session=True)
        return os.path.getsize(path)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except RuntimeError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        subprocess.run(["rm", "-rf", self.profile])


def run(browser, step):
    if "open" in step:
        return browser.open(step["open"], step.get("timeout", 30))
    if "wait" in step:
        return browser.wait(step["wait"], step.get("timeout", 20))
    if "eval" in step:
        return browser.evaluate(step["eval"])
    if "click" in step:
        return browser.click(step["click"])
    if "type" in step:
        return browser.type(step["type"], step["text"])
    if "downloads" in step:
        return browser.call(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": step["downloads"], "eventsEnabled": True},
        )
    if "wait_file" in step:
        start = time.monotonic()
        path = step["wait_file"]
        while not (os.path.exists(path) and not os.path.exists(path + ".crdownload")):
            if time.monotonic() - start > step.get("timeout", 20):
                raise RuntimeError("no download at " + path)
            time.sleep(0.05)
        return round(time.monotonic() - start, 3)
    if "screenshot" in step:
        return browser.screenshot(step["screenshot"], step.get("width", 1100))
    if "touch" in step:
        open(step["touch"], "a").close()
        return True
    if "console" in step:
        with browser.lock:
            return list(browser.console)
    raise RuntimeError("unknown step " + json.dumps(step))


def main():
    steps = json.load(sys.stdin)
    browser = Browser(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    results = []
    try:
        for step in steps:
            try:
                results.append({"ok": run(browser, step)})
            except RuntimeError as error:
                results.append({"error": str(error)})
                break
    finally:
        browser.close()
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
