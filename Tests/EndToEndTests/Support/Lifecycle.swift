import Foundation

/// Helpers for tests of builds as objects (queue, status, re-attach) and of the daemon's
/// operations (signals, health, metrics).
extension DaemonUnderTest {
    /// Starts a streaming `POST /v1/builds` with curl in the background, for tests that act
    /// while the build runs. The body goes through stdin, so a marker in it is not in curl's
    /// command line.
    /// - Parameter curlOptions: more of curl's options (`--limit-rate` for a slow client).
    func startBuild(_ body: String, headers: [String] = [], curlOptions: [String] = []) throws -> RunningProcess {
        var arguments = ["-sS", "-N", "--data-binary", "@-"] + curlOptions
        if let tls { arguments += ["--cacert", tls.certificates.caPath] }
        for header in headers { arguments += ["-H", header] }
        arguments.append(httpBase + "/v1/builds")
        return try TestProcess.start("/usr/bin/curl", arguments, stdin: Data(body.utf8), outputDirectory: directory)
    }

    /// A request answered with one JSON object (a build's status, a list, an error).
    func json(_ path: String, method: String = "GET", headers: [String] = [], overSocket: Bool = false) async throws
        -> (status: Int, object: [String: Any], headers: String)
    {
        let response = try await curl("", path: path, method: method, overSocket: overSocket, headers: headers)
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] else {
            throw DaemonError("\(method) \(path) answered \(response.status) without a JSON object: \(response.body)")
        }
        return (response.status, object, response.headers)
    }

    /// The ids `GET path` lists (a `{"builds":[…]}` answer), in its order.
    func listedIDs(_ path: String, headers: [String] = []) async throws -> [String] {
        let builds = try await json(path, headers: headers).object["builds"] as? [[String: Any]]
        return (builds ?? []).compactMap { $0["id"] as? String }
    }

    /// Submits `body` as a raw HTTP/1.0 client (no chunked framing to undo), reads until
    /// `count` stdout events have come, hangs up, and prints the event lines it read.
    func submitAndHangUp(_ body: String, afterStdoutEvents count: Int) async throws -> ProcessResult {
        let client = #"""
            import socket, sys
            body = sys.stdin.buffer.read()
            s = socket.create_connection(("127.0.0.1", \#(port)))
            s.sendall(b"POST /v1/builds HTTP/1.0\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            def more(data):
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit("the stream ended early: %r" % data)
                return data + chunk
            data = b""
            while b"\r\n\r\n" not in data:
                data = more(data)
            data = data.split(b"\r\n\r\n", 1)[1]
            lines, seen = [], 0
            while seen < \#(count):
                while b"\n" not in data:
                    data = more(data)
                line, data = data.split(b"\n", 1)
                lines.append(line.decode())
                if '"type":"stdout"' in lines[-1]:
                    seen += 1
            s.close()
            print("\n".join(lines))
            """#
        return try await TestProcess.run("/usr/bin/python3", ["-c", client], stdin: Data(body.utf8), outputDirectory: directory)
    }

    /// A shell script that waits until `openGate(name)` and then prints "`name` open". It gives
    /// up after 2 minutes, so that a failed test leaves no process behind for long (30 s was
    /// too short on a machine loaded by a sanitizer's run: a gate gave up before its test opened it).
    static func gatedScript(_ name: String) -> String {
        "i=0; while [ ! -e \(name) ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; echo \(name) open"
    }

    /// Lets a build running `gatedScript(name)` finish.
    func openGate(_ name: String) {
        _ = FileManager.default.createFile(atPath: projectRoot + "/" + name, contents: nil)
    }
}

func bearer(_ token: String) -> [String] { ["Authorization: Bearer \(token)"] }

/// The `id` of the first event (the `build` event) of a stream, complete or read so far.
func buildID(in stream: String) -> String? {
    guard let first = stream.split(separator: "\n").first,
        let event = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any]
    else { return nil }
    return event["id"] as? String
}

/// The `data` of the `stdout` events, joined.
func stdoutText(_ events: [EventLine]) -> String {
    events.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined()
}

/// The number each raw line of a stream ends with (`…,"seq":N}`); nil for a line without one.
func sequenceNumbers(_ stream: String) -> [Int?] {
    stream.split(separator: "\n").map { line in
        guard let range = line.range(of: #","seq":[0-9]+\}$"#, options: .regularExpression) else { return nil }
        return Int(line[range].dropFirst(#","seq":"#.count).dropLast())
    }
}

/// Whether `seqs` are `first`, `first + 1`, `first + 2`… with none missing and none nil.
func isContiguous(_ seqs: [Int?], from first: Int = 1) -> Bool {
    seqs.enumerated().allSatisfy { $0.element == first + $0.offset }
}

/// `eventually` for a condition that has to ask the daemon (an HTTP request).
func eventuallyAsync(within limit: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

/// One sample of a Prometheus text exposition: `name{label="value",…} number`.
struct MetricSample {
    var name: String
    var labels: [String: String]
    var value: Double
}

func metricSamples(_ text: String) -> [MetricSample] {
    text.split(separator: "\n").compactMap { line -> MetricSample? in
        guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
            let value = Double(line[line.index(after: space)...])
        else { return nil }
        let series = line[..<space]
        guard let brace = series.firstIndex(of: "{"), series.hasSuffix("}") else {
            return MetricSample(name: String(series), labels: [:], value: value)
        }
        var labels: [String: String] = [:]
        for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { labels[String(parts[0])] = String(parts[1].dropFirst().dropLast()) }
        }
        return MetricSample(name: String(series[..<brace]), labels: labels, value: value)
    }
}

/// The value of the first sample called `name` whose labels include `labels`.
func metricValue(_ samples: [MetricSample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
    samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
}
