import BuildServiceProtocol
import BuildServiceTLS
import NIOCore
import NIOHTTP1

/// The style sheet and script of the daemon's pages, served by the daemon itself at
/// `/assets/…` (no external resource, no build step: they are Swift strings). Pages allow
/// scripts and styles from 'self' only, so nothing inline runs.
enum PageAssets {
    struct Asset: Sendable {
        let contentType: String
        let body: [UInt8]
        /// Strong, from the content: a new daemon version with a new script is fetched anew.
        let etag: String

        init(contentType: String, text: String) {
            self.contentType = contentType
            self.body = Array(text.utf8)
            self.etag = "\"" + SHA256Digest.hex(body).prefix(32) + "\""
        }
    }

    static let styleSheetPath = "/assets/page.css"
    static let buildPageScriptPath = "/assets/build-page.js"

    static let assets: [String: Asset] = [
        "page.css": Asset(contentType: "text/css; charset=utf-8", text: styleSheet),
        "build-page.js": Asset(contentType: "text/javascript; charset=utf-8", text: buildPageScript),
    ]

    /// `GET /assets/{name}`: 200, or 304 for a matching `If-None-Match`.
    static func respond(name: String, head: HTTPRequestHead) -> HTTPResponse {
        guard let asset = assets[name] else {
            return .refusal(ServiceError(.notFound, "no asset \(name.count > 40 ? String(name.prefix(40)) + "…" : name)"))
        }
        var headers = HTTPHeaders()
        headers.add(name: "ETag", value: asset.etag)
        // Revalidated each time: cheap (a 304), and a page never runs an old script.
        headers.add(name: "Cache-Control", value: "no-cache")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        if head.headers[canonicalForm: "If-None-Match"].contains(where: { $0 == asset.etag || $0 == "*" }) {
            return .complete(.notModified, headers, nil)
        }
        headers.add(name: "Content-Type", value: asset.contentType)
        headers.add(name: "Content-Length", value: String(asset.body.count))
        return .complete(.ok, headers, ByteBuffer(bytes: asset.body))
    }

    static let styleSheet = """
        :root { color-scheme: light dark; --muted: #6a737d; --err: #d73a49; --note: #b08800; --line: #d0d7de; }
        * { box-sizing: border-box; }
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; }
        h1 { font-size: 1.3rem; margin: 0 0 .3rem; overflow-wrap: anywhere; }
        h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
        code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
        .command { margin: 0 0 .8rem; overflow-wrap: anywhere; }
        .state { display: inline-block; padding: 0 .5rem; border-radius: .8rem; font-size: .85rem;
            border: 1px solid var(--line); vertical-align: middle; }
        .state.succeeded { background: #dafbe1; color: #116329; }
        .state.failed { background: #ffebe9; color: #a40e26; }
        .state.running, .state.queued { background: #fff8c5; color: #7d4e00; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        pre#log { background: #0d1117; color: #e6edf3; padding: .6rem; border-radius: 6px; margin: 0;
            white-space: pre-wrap; overflow-wrap: anywhere; max-height: 75vh; overflow-y: auto; }
        pre#log .e { color: #ff9492; }
        pre#log .n { color: #e3b341; }
        #follow { color: var(--muted); font-size: .85rem; min-height: 1.2em; margin: .3rem 0; }
        .table { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        td.size { white-space: nowrap; }
        td.sha { font-family: ui-monospace, monospace; font-size: 12px; overflow-wrap: anywhere; color: var(--muted); }
        .muted { color: var(--muted); }
        header.bar { display: flex; justify-content: space-between; align-items: center; gap: 1rem; }
        header.bar form { margin: 0; }
        .notice { background: #fff8c5; color: #3b2300; padding: .4rem .6rem; border-radius: 6px; }
        form.login { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: 1rem 0; }
        form.login input { flex: 1 1 16rem; font: inherit; padding: .35rem .5rem; }
        form.filter { margin: .6rem 0; display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; }
        button, select { font: inherit; padding: .2rem .6rem; }
        button.cancel { color: #a40e26; }
        td form { margin: 0; }
        @media (max-width: 40rem) {
            body { padding: .6rem; }
            dl.facts { grid-template-columns: 1fr; }
            dl.facts dd { margin-bottom: .3rem; }
        }

        """

    /// Follows a running build: reads `data-events` (the build's event stream, a signed link)
    /// with fetch as NDJSON, appends output as text nodes (never as markup), re-attaches with
    /// `after=` when the connection drops, and loads the finished page at `exit`.
    static let buildPageScript = #"""
        "use strict";
        (function () {
          const log = document.getElementById("log");
          if (!log || !log.dataset.events) return;
          const follow = document.getElementById("follow");
          const state = document.getElementById("state");
          // As TerminalText.stripped: escape sequences, carriage returns and controls out.
          const escapes = /\x1b(?:\[[0-?]*[ -\/]*[@-~]?|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b.)?|[ -\/]*[0-~]?)|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
          const keep = 2000000; // characters of output the page holds; the oldest go first
          let after = Number(log.dataset.after) || 0;
          let held = log.textContent.length;
          let queue = [];
          let timer = 0;
          let flushed = 0;

          function say(text) { follow.textContent = text; }

          function add(kind, text) {
            text = text.replace(escapes, "");
            if (text) queue.push([kind, text]);
            // A line after a quiet spell shows at once; a flood is drawn at most 20 times a second.
            if (!timer) timer = setTimeout(flush, performance.now() - flushed > 50 ? 0 : 50);
          }

          function flush() {
            timer = 0;
            flushed = performance.now();
            const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
            const fragment = document.createDocumentFragment();
            let size = 0;
            for (const [, text] of queue) size += text.length;
            for (const [kind, text] of queue) {
              size -= text.length;
              if (size >= keep) continue; // pushed out by what follows it anyway
              const span = document.createElement("span");
              span.className = kind;
              span.textContent = text;
              fragment.appendChild(span);
              held += text.length;
            }
            queue = [];
            log.appendChild(fragment);
            while (held > keep && log.firstChild) {
              held -= log.firstChild.textContent.length;
              log.removeChild(log.firstChild);
            }
            if (atEnd) log.scrollTop = log.scrollHeight;
          }

          function handle(event) {
            if (typeof event.seq === "number") after = event.seq;
            switch (event.type) {
              case "stdout": add("o", event.data); break;
              case "stderr": add("e", event.data); break;
              case "warning":
              case "error": add("n", "[" + event.code + "] " + event.message + "\n"); break;
              case "build":
                state.textContent = event.status === "queued" ? "queued, position " + event.position : event.status;
                state.className = "state " + event.status;
                break;
              case "exit": return true;
            }
            return false;
          }

          function finished(exit) {
            flush();
            say("finished with exit code " + exit.code + "; loading the complete page");
            const next = new URL(exit.page_url || location.href, location.href);
            location.replace(next.pathname + next.search);
          }

          async function attach() {
            const url = new URL(log.dataset.events, location.href);
            url.searchParams.set("after", String(after));
            url.searchParams.set("heartbeat_sec", "15");
            const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
            if (response.status === 403 || response.status === 404 || response.status === 410) {
              say("cannot follow this build any more (HTTP " + response.status + "); ask for a fresh link");
              return "stop";
            }
            if (!response.ok) throw new Error("HTTP " + response.status);
            say("following live output");
            const reader = response.body.getReader();
            const decoder = new TextDecoder();
            let partial = "";
            for (;;) {
              const { value, done } = await reader.read();
              if (done) return "dropped";
              const lines = (partial + decoder.decode(value, { stream: true })).split("\n");
              partial = lines.pop();
              for (const line of lines) {
                if (!line) continue;
                let event;
                try { event = JSON.parse(line); } catch (error) { continue; }
                if (handle(event)) { finished(event); return "stop"; }
              }
            }
          }

          async function run() {
            for (let attempt = 1; ; attempt++) {
              try {
                if (await attach() === "stop") return;
                attempt = 0;
              } catch (error) {
                // fetch failed: the daemon restarting, the network gone; tried again below
              }
              say("connection lost; reconnecting");
              await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * attempt, 10000)));
            }
          }

          run();
        })();

        """#
}
