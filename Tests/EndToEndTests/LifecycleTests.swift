import Foundation
import Testing

/// Builds as objects that outlive a connection: the queue, sequence numbers, re-attaching,
/// the re-attach grace, request ids, status/list/cancel with their token rules, heartbeats.
@Suite(.serialized)
struct LifecycleTests {
    /// Each status a stream's `build` events carry: "queued 2", "queued 1", "started".
    /// The `build_service_retained_event_bytes` gauge.
    private func retainedEventBytes(_ daemon: DaemonUnderTest) async throws -> Double {
        try #require(
            metricValue(metricSamples(try await daemon.curl("", path: "/metrics", method: "GET").body), "build_service_retained_event_bytes")
        )
    }

    private func statuses(_ events: [EventLine]) -> [String] {
        events.filter { $0["type"] as? String == "build" }.map { event in
            [event["status"] as? String, (event["position"] as? Int).map { String($0) }].compactMap { $0 }.joined(separator: " ")
        }
    }

    /// A build over the project's limit tells its client its place in line as it moves up; one
    /// more than the queue holds is refused with 429 and Retry-After.
    @Test func buildsOverTheLimitWaitInLineAndTheQueueHasAnEnd() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nmax_queued = 2\nreattach_grace_sec = 0\nshutdown_grace_sec = 2"
        options.demoMaxConcurrent = 1
        let daemon = try await DaemonUnderTest(options)
        func gated(_ name: String) -> String { requestJSON(["command": "sh", "args": ["-c", DaemonUnderTest.gatedScript(name)]]) }
        let a = try daemon.startBuild(gated("gate-a"))
        #expect(await eventually { a.stdoutSoFar.contains(#""status":"started""#) })
        let b = try daemon.startBuild(gated("gate-b"))
        #expect(await eventually { b.stdoutSoFar.contains(#""status":"queued","position":1,"#) })
        let c = try daemon.startBuild(gated("gate-c"))
        #expect(await eventually { c.stdoutSoFar.contains(#""status":"queued","position":2,"#) })

        let queuedID = try #require(buildID(in: c.stdoutSoFar))
        let waiting = try await daemon.json("/v1/builds/\(queuedID)")
        #expect(waiting.object["state"] as? String == "queued")
        #expect(waiting.object["queue_position"] as? Int == 2)
        let refused = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(refused.status == 429)
        #expect(refused.headers.lowercased().contains("retry-after:"))
        #expect(refused.body.contains(#""code":"queue_full""#))
        // Another project has slots of its own: a full queue for "demo" does not hold it up.
        let other = try await daemon.curl(requestJSON(["project_id": "other", "command": "true"]))
        #expect(other.status == 200)
        #expect(try parseEvents(other.body).last?["code"] as? Int == 0)

        daemon.openGate("gate-a")
        #expect(await eventually { b.stdoutSoFar.contains(#""status":"started""#) })
        #expect(await eventually { c.stdoutSoFar.contains(#""status":"queued","position":1,"#) })
        #expect(!c.stdoutSoFar.contains(#""status":"started""#))
        daemon.openGate("gate-b")
        daemon.openGate("gate-c")
        let streams = [await a.wait().stdoutText, await b.wait().stdoutText, await c.wait().stdoutText]
        let events = try streams.map(parseEvents)
        #expect(events.map { statuses($0) } == [["started"], ["queued 1", "started"], ["queued 2", "queued 1", "started"]])
        #expect(events.map { $0.last?["code"] as? Int } == [0, 0, 0])
        #expect(events.map(stdoutText) == ["gate-a open\n", "gate-b open\n", "gate-c open\n"])
        for stream in streams { #expect(isContiguous(sequenceNumbers(stream)), "\(stream)") }
        await daemon.stop()
    }

    /// Every event line ends with `,"seq":N}`, numbered 1, 2, 3… without gaps, in both framings.
    @Test(arguments: [false, true])
    func everyEventIsNumberedFromOneWithoutGaps(legacy: Bool) async throws {
        let daemon = try await DaemonUnderTest()
        let body = requestJSON(["command": "sh", "args": ["-c", "seq 1 20; echo oops >&2; exit 2"]])
        let stream = if legacy { try await daemon.legacy(body).stdoutText } else { try await daemon.curl(body).body }
        let seqs = sequenceNumbers(stream)
        #expect(seqs.count >= 4)
        #expect(isContiguous(seqs), "\(stream)")
        let events = try parseEvents(stream)
        #expect(stdoutText(events) == (1...20).map { "\($0)\n" }.joined())
        #expect(events.last?["code"] as? Int == 2)
        await daemon.stop()
    }

    /// A re-attach asking for events past the build's newest one, or with a hostile number, is
    /// refused with a message naming `after`; HEAD of the live stream is not served; the daemon
    /// keeps serving.
    @Test func anImpossibleReattachPointIsRefused() async throws {
        let daemon = try await DaemonUnderTest()
        let finished = try await daemon.curl(requestJSON(["command": "true"]))
        let id = try #require(buildID(in: finished.body))
        for after in ["9223372036854775807", "5", "-1", "x"] {
            let refused = try await daemon.curl("", path: "/v1/builds/\(id)/events?after=\(after)", method: "GET")
            #expect(refused.status == 400, "after=\(after): \(refused.body)")
            #expect(refused.body.contains("after"))
        }
        let replay = try await daemon.curl("", path: "/v1/builds/\(id)/events?after=1", method: "GET")
        #expect(replay.status == 200)
        #expect(replay.body.hasPrefix(#"{"type":"exit""#), "\(replay.body)")
        let head = try await daemon.curl("", path: "/v1/builds/\(id)/events", method: "HEAD", curlArguments: ["-I"])
        #expect(head.status == 405)
        #expect(try await daemon.curl(requestJSON(["command": "true"])).status == 200)
        await daemon.stop()
    }

    /// A client that drops mid-build and comes back with `?after=<last seq it saw>` gets the
    /// output it missed, then the rest live, each line once; the build was never interrupted.
    @Test func aClientThatDroppedOffReattachesAndMissesNothing() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nreattach_grace_sec = 10\nshutdown_grace_sec = 2"
        let daemon = try await DaemonUnderTest(options)
        let expected = (1...10).map { "line \($0)\n" }.joined()
        // Lines 1-5, then waits for the gate, then lines 6-10.
        let script = [
            "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done; touch printed-5",
            DaemonUnderTest.gatedScript("gate") + " >/dev/null",
            "for i in 6 7 8 9 10; do echo line $i; sleep 0.1; done",
        ].joined(separator: "; ")
        // The idempotency key says the client can come back for its build.
        let body = requestJSON(["command": "sh", "args": ["-c", script], "idempotency_key": "reattach-\(uniqueMarker())"])
        let first = try await daemon.submitAndHangUp(body, afterStdoutEvents: 3)
        #expect(first.status == 0, "\(first.stderrText)")
        let before = try parseEvents(first.stdoutText)
        let id = try #require(buildID(in: first.stdoutText))
        let seen = sequenceNumbers(first.stdoutText)
        #expect(isContiguous(seen))
        let lastSeen = try #require(seen.last ?? nil)
        #expect(before.filter { $0["type"] as? String == "stdout" }.count == 3)

        // Gone, but not given up on: the build goes on (and prints more) within the grace.
        #expect(await eventually { FileManager.default.fileExists(atPath: daemon.projectRoot + "/printed-5") })
        try await Task.sleep(for: .milliseconds(300))
        let meanwhile = try await daemon.json("/v1/builds/\(id)")
        #expect(meanwhile.object["state"] as? String == "running")
        #expect(meanwhile.object["cancelled"] as? Bool == false)

        // Back: what was missed comes at once, the rest as it happens.
        let reattached = try TestProcess.start(
            "/usr/bin/curl",
            ["-sS", "-N", daemon.httpBase + "/v1/builds/\(id)/events?after=\(lastSeen)"],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { reattached.stdoutSoFar.contains(#""data":"line 5\n""#) })
        #expect(!reattached.stdoutSoFar.contains("line 6"))
        daemon.openGate("gate")
        let rest = await reattached.wait().stdoutText
        #expect(isContiguous(sequenceNumbers(rest), from: lastSeen + 1), "\(rest)")
        let after = try parseEvents(rest)
        #expect(stdoutText(before) + stdoutText(after) == expected)
        #expect(after.last?["type"] as? String == "exit")
        #expect(after.last?["code"] as? Int == 0)
        #expect(after.last?["cancelled"] as? Bool != true)
        // Once it is over, the whole stream can still be read again.
        let replay = try await daemon.curl("", path: "/v1/builds/\(id)/events?after=0", method: "GET")
        #expect(isContiguous(sequenceNumbers(replay.body)))
        #expect(stdoutText(try parseEvents(replay.body)) == expected)
        await daemon.stop()
    }

    /// The events of finished builds share one bound (`build.retained_event_bytes`): the
    /// oldest build's output goes first, a reader asking for it is told how much is gone and
    /// still gets the build's exit, the newest build replays whole.
    @Test func finishedBuildsShareOneBoundOnTheirEvents() async throws {
        var options = DaemonUnderTest.Options()
        let limit = 4 << 20
        options.lifecycle += "\nretained_event_bytes = \(limit)"
        let daemon = try await DaemonUnderTest(options)
        let size = 1 << 20
        let body = requestJSON(["command": "sh", "args": ["-c", "yes 0123456789abcdef | head -c \(size)"]])
        var ids: [String] = []
        for _ in 1...6 {
            let response = try await daemon.curl(body)
            #expect(response.status == 200)
            ids.append(try #require(buildID(in: response.body)))
        }

        let oldest = try await daemon.curl("", path: "/v1/builds/\(ids[0])/events?after=0", method: "GET")
        let events = try parseEvents(oldest.body)
        #expect(events.first?["type"] as? String == "warning")
        #expect(events.first?["code"] as? String == "events_dropped")
        #expect(events.last?["type"] as? String == "exit")
        #expect(events.last?["code"] as? Int == 0)
        // The warning stands for the dropped events (its seq is the last of them): no gap.
        let seqs = sequenceNumbers(oldest.body)
        #expect(seqs.count == 2 && isContiguous(seqs, from: seqs.first.flatMap { $0 } ?? 0), "\(oldest.body.prefix(300))")
        #expect(try await daemon.json("/v1/builds/\(ids[0])").object["state"] as? String == "finished")

        let newest = try await daemon.curl("", path: "/v1/builds/\(ids[5])/events?after=0", method: "GET")
        #expect(stdoutText(try parseEvents(newest.body)).utf8.count == size)

        let retained = try await retainedEventBytes(daemon)
        #expect(retained > 0 && retained <= Double(limit))
        await daemon.stop()
    }

    /// Lowering `retained_event_bytes` with SIGHUP applies at once to builds already finished,
    /// not only to the next one: the gauge drops within the new bound, and the older build's
    /// events replay as `events_dropped` then its exit.
    @Test func aLowerRetentionBoundTakesEffectOnReload() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle += "\nretained_event_bytes = \(64 << 20)"
        let daemon = try await DaemonUnderTest(options)
        let size = 1 << 20
        let body = requestJSON(["command": "sh", "args": ["-c", "yes 0123456789abcdef | head -c \(size)"]])
        var ids: [String] = []
        for _ in 1...2 {
            let response = try await daemon.curl(body)
            #expect(stdoutText(try parseEvents(response.body)).utf8.count == size)
            ids.append(try #require(buildID(in: response.body)))
        }
        let before = try await retainedEventBytes(daemon)
        #expect(before >= Double(2 * size), "\(before)")

        let limit = 3 << 20  // room for one of the two (each holds about 2 MiB of buffers)
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "retained_event_bytes = \(64 << 20)", with: "retained_event_bytes = \(limit)")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        #expect(try await retainedEventBytes(daemon) <= Double(limit))
        let oldest = try parseEvents(try await daemon.curl("", path: "/v1/builds/\(ids[0])/events?after=0", method: "GET").body)
        #expect(oldest.first?["code"] as? String == "events_dropped")
        #expect(oldest.last?["type"] as? String == "exit")
        let newest = try await daemon.curl("", path: "/v1/builds/\(ids[1])/events?after=0", method: "GET")
        #expect(stdoutText(try parseEvents(newest.body)).utf8.count == size)
        await daemon.stop()
    }

    /// `retained_event_bytes = 0` keeps only each finished build's exit: every build with large
    /// output replays as `events_dropped` then its exit, and the daemon keeps serving (pruning
    /// the list of such builds once crashed it).
    @Test func withNothingRetainedEachFinishedBuildKeepsItsExit() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle += "\nretained_event_bytes = 0"
        let daemon = try await DaemonUnderTest(options)
        let body = requestJSON(["command": "sh", "args": ["-c", "yes 0123456789abcdef | head -c 300000"]])
        var ids: [String] = []
        for _ in 1...4 {
            let response = try await daemon.curl(body)
            #expect(stdoutText(try parseEvents(response.body)).utf8.count == 300_000)
            ids.append(try #require(buildID(in: response.body)))
        }
        for id in ids {
            let replay = try parseEvents(try await daemon.curl("", path: "/v1/builds/\(id)/events?after=0", method: "GET").body)
            #expect(replay.map { $0["type"] as? String } == ["warning", "exit"], "\(id)")
            #expect(replay.first?["code"] as? String == "events_dropped")
        }
        #expect(try await daemon.curl("", path: "/healthz", method: "GET").status == 200)
        await daemon.stop()
    }

    /// A client still reading a build that has just finished gets every event although the
    /// retention bound is 0: events are only dropped from finished builds nobody is reading.
    @Test func aSlowClientOfAFinishedBuildStillGetsEverything() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle += "\nretained_event_bytes = 0"
        let daemon = try await DaemonUnderTest(options)
        let size = 4 << 20
        // The build is over long before this client (2 MiB/s) has read its output.
        let slow = try daemon.startBuild(
            requestJSON(["command": "sh", "args": ["-c", "yes 0123456789abcdef | head -c \(size)"]]),
            curlOptions: ["--limit-rate", "2M"]
        )
        #expect(await eventually { daemon.log.contains("build finished") })
        let events = try parseEvents(await slow.wait().stdoutText)
        #expect(!events.contains { $0["type"] as? String == "warning" })
        #expect(stdoutText(events).utf8.count == size)
        #expect(events.last?["type"] as? String == "exit")
        await daemon.stop()
    }

    /// A finished build's events are not trimmed while a client still reads them; once that
    /// client is gone they are, at once, not when the next build finishes.
    @Test func eventsHeldForAReaderAreTrimmedWhenItLeaves() async throws {
        var options = DaemonUnderTest.Options()
        let limit = 1 << 20
        options.lifecycle += "\nevent_buffer_bytes = \(32 << 20)\nretained_event_bytes = \(limit)"
        let daemon = try await DaemonUnderTest(options)
        // Done long before this client has read its output: at 256 KiB/s it needs a minute for
        // 16 MiB, so a slow machine still finishes the build well within that (at 1 MiB/s and
        // 8 MiB, a loaded machine sometimes put the build away only after the client was done).
        let slow = try daemon.startBuild(
            requestJSON(["command": "sh", "args": ["-c", "yes 0123456789abcdef | head -c \(16 << 20)"]]),
            curlOptions: ["--limit-rate", "256K"]
        )
        // Finished and put away (its events counted) while the client still reads.
        #expect(try await eventuallyAsync(within: .seconds(30)) { try await retainedEventBytes(daemon) > Double(limit) })
        slow.signal(SIGKILL)
        _ = await slow.wait()
        #expect(try await eventuallyAsync(within: .seconds(5)) { try await retainedEventBytes(daemon) <= Double(limit) })
        await daemon.stop()
    }

    /// Two clients follow one running build, one of them slowly: the build goes at the slower
    /// one's pace, and neither misses an event (none is dropped while an attached reader still
    /// needs it, however far the other has got).
    @Test func aSecondSlowerReaderOfARunningBuildMissesNothing() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle += "\nevent_buffer_bytes = 262144"
        let daemon = try await DaemonUnderTest(options)
        let size = 4 << 20
        let script = DaemonUnderTest.gatedScript("gate") + "; yes 0123456789abcdef | head -c \(size)"
        let fast = try daemon.startBuild(requestJSON(["command": "sh", "args": ["-c", script]]))
        #expect(await eventually { buildID(in: fast.stdoutSoFar) != nil })
        let id = try #require(buildID(in: fast.stdoutSoFar))
        let slow = try TestProcess.start(
            "/usr/bin/curl",
            ["-sS", "-N", "--limit-rate", "4M", daemon.httpBase + "/v1/builds/\(id)/events?after=0"],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { slow.stdoutSoFar.contains(#""type":"build""#) })
        daemon.openGate("gate")
        for reader in [slow, fast] {
            let stream = await reader.wait().stdoutText
            let events = try parseEvents(stream)
            #expect(!events.contains { $0["type"] as? String == "warning" }, "\(events.filter { $0["type"] as? String == "warning" })")
            #expect(isContiguous(sequenceNumbers(stream)))
            let expected = "gate open\n" + String(repeating: "0123456789abcdef\n", count: size / 17) + "0123456789abcdef\n".prefix(size % 17)
            // A Bool: a failed comparison of two 3 MiB strings would be diffed for minutes.
            let complete = stdoutText(events) == expected
            #expect(complete)
            #expect(events.last?["type"] as? String == "exit")
            #expect(events.last?["code"] as? Int == 0)
        }
        await daemon.stop()
    }

    /// A build whose client vanished, and said it could come back (an idempotency key), runs on
    /// for the re-attach grace (or not at all with 0), then is cancelled as "abandoned" and its
    /// processes are gone.
    @Test(arguments: [0, 3])
    func anAbandonedBuildIsCancelledWhenTheGraceRunsOut(graceSec: Int) async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nreattach_grace_sec = \(graceSec)\nshutdown_grace_sec = 2"
        let daemon = try await DaemonUnderTest(options)
        let marker = uniqueMarker()
        let client = try daemon.startBuild(requestJSON(["command": "sleep", "args": [marker]]), headers: ["Idempotency-Key: key-\(marker)"])
        #expect(await eventually { client.stdoutSoFar.contains(#""status":"started""#) })
        let id = try #require(buildID(in: client.stdoutSoFar))
        client.signal(SIGKILL)
        _ = await client.wait()
        if graceSec > 0 {
            try await Task.sleep(for: .seconds(1))
            #expect(!processes(matching: "sleep \(marker)").isEmpty)
            #expect(try await daemon.json("/v1/builds/\(id)").object["state"] as? String == "running")
        }
        #expect(await eventually(within: .seconds(graceSec == 0 ? 3 : graceSec + 10)) { processes(matching: "sleep \(marker)").isEmpty })
        var status: [String: Any] = [:]
        let finished = try await eventuallyAsync {
            status = try await daemon.json("/v1/builds/\(id)").object
            return status["state"] as? String == "finished"
        }
        #expect(finished)
        #expect(status["cancelled"] as? Bool == true)
        #expect(status["cancel_reason"] as? String == "abandoned")
        #expect(status["exit_code"] as? Int == 130)
        await daemon.stop()
    }

    /// Without an idempotency key, or on the legacy framing (whose clients cannot come back), a
    /// client that goes away cancels its build at once, as Ctrl-C on a local make would, so the
    /// next build of the project does not wait behind it; with a key it waits out the grace.
    @Test func onlyABuildWithAnIdempotencyKeyWaitsForItsClient() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nreattach_grace_sec = 30\nshutdown_grace_sec = 2"
        let daemon = try await DaemonUnderTest(options)
        let (plain, legacy, keyed) = (uniqueMarker(), uniqueMarker(), uniqueMarker())
        let clients = [
            try daemon.startBuild(requestJSON(["command": "sleep", "args": [plain], "request_id": "label"])),
            try TestProcess.start(
                "/usr/bin/socat",
                ["-t", "30", "-", "UNIX-CONNECT:\(daemon.socketPath)"],
                stdin: Data((requestJSON(["command": "sleep", "args": [legacy], "idempotency_key": "k-\(legacy)"]) + "\n").utf8),
                outputDirectory: daemon.directory
            ),
            try daemon.startBuild(requestJSON(["command": "sleep", "args": [keyed], "idempotency_key": "k-\(keyed)"])),
        ]
        for marker in [plain, legacy, keyed] {
            #expect(await eventually { !processes(matching: "sleep \(marker)").isEmpty }, "\(marker) did not start")
        }
        for client in clients {
            client.signal(SIGKILL)
            _ = await client.wait()
        }
        #expect(await eventually(within: .seconds(5)) { processes(matching: "sleep \(plain)").isEmpty }, "a label is no way back")
        #expect(await eventually(within: .seconds(5)) { processes(matching: "sleep \(legacy)").isEmpty }, "the legacy framing has no way back")
        #expect(!processes(matching: "sleep \(keyed)").isEmpty, "a keyed build waits for its client")
        await daemon.stop()
    }

    /// A re-attach to a build that prints nothing gets its response head at once: the client
    /// can tell "attached" from "hung".
    @Test func aReattachToASilentBuildIsAnsweredAtOnce() async throws {
        let daemon = try await DaemonUnderTest()
        let marker = uniqueMarker()
        let first = try daemon.startBuild(requestJSON(["command": "sleep", "args": [marker], "idempotency_key": "k-\(marker)"]))
        #expect(await eventually { first.stdoutSoFar.contains(#""status":"started""#) })
        let id = try #require(buildID(in: first.stdoutSoFar))
        let headers = daemon.directory + "/reattach-headers"
        let reattach = try await TestProcess.run(
            "/usr/bin/curl",
            ["-sS", "-N", "-m", "2", "-D", headers, daemon.httpBase + "/v1/builds/\(id)/events?after=1"],
            outputDirectory: daemon.directory
        )
        #expect(reattach.status == 28, "curl timed out waiting for events, not for the head: \(reattach.stderrText)")
        let head = (try? String(contentsOfFile: headers, encoding: .utf8)) ?? ""
        #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
        #expect(head.contains("application/x-ndjson"))
        first.signal(SIGKILL)
        await daemon.stop()
    }

    /// The original's clients reuse request_id freely: each request is a build of its own.
    @Test func aReusedRequestIDRunsAgain() async throws {
        let daemon = try await DaemonUnderTest()
        let body = requestJSON(["command": "sh", "args": ["-c", "echo run >> runs.txt"], "request_id": "make all"])
        let first = try await daemon.curl(body)
        let second = try await daemon.legacy(body)
        #expect(buildID(in: first.body) != nil)
        #expect(buildID(in: first.body) != buildID(in: second.stdoutText))
        #expect(try String(contentsOfFile: daemon.projectRoot + "/runs.txt", encoding: .utf8) == "run\nrun\n")
        let status = try await daemon.json("/v1/builds/\(try #require(buildID(in: first.body)))")
        #expect(status.object["request_id"] as? String == "make all")
        await daemon.stop()
    }

    /// Sending the same request with the same idempotency key (field or header) again, during
    /// or after the build, gets that build's id and events: the build ran once.
    @Test func repeatingAnIdempotencyKeyGivesTheSameBuildWhichRunsOnce() async throws {
        let daemon = try await DaemonUnderTest()
        let script = "echo run >> runs.txt; sleep 1; echo done"
        let key = "deploy-\(uniqueMarker())"
        let body = requestJSON(["command": "sh", "args": ["-c", script], "idempotency_key": key])
        let first = try daemon.startBuild(body)
        #expect(await eventually { first.stdoutSoFar.contains(#""status":"started""#) })
        let whileRunning = try await daemon.curl(
            requestJSON(["command": "sh", "args": ["-c", script]]),
            headers: ["Idempotency-Key: \(key)"]
        )
        let original = await first.wait().stdoutText
        let afterwards = try await daemon.curl(body)
        #expect(buildID(in: original)?.hasPrefix("bld_") == true)
        #expect(whileRunning.status == 200)
        #expect(whileRunning.body == original)
        #expect(afterwards.status == 200)
        #expect(afterwards.body == original)
        #expect(stdoutText(try parseEvents(original)) == "done\n")
        let runs = daemon.projectRoot + "/runs.txt"
        #expect(try String(contentsOfFile: runs, encoding: .utf8) == "run\n")
        // The same key with a different request is refused, not answered with the old build.
        let conflicting = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "echo other"], "idempotency_key": key]))
        #expect(conflicting.status == 409)
        #expect(conflicting.body.contains("idempotency_key_conflict"))
        // Another key is another build.
        let another = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script], "idempotency_key": "deploy-2"]))
        #expect(buildID(in: another.body) != buildID(in: original))
        #expect(try String(contentsOfFile: runs, encoding: .utf8) == "run\nrun\n")
        await daemon.stop()
    }

    /// A token sees, lists and cancels only its own builds (others are "not found"); an admin
    /// token sees and cancels all; a cancelled build ends with code 130 and its processes go.
    @Test func statusListAndCancelFollowTheTokenThatStartedTheBuild() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTOML = """
            required = true
            tokens = [
                { token = "tok-a-4f1e", name = "a" },
                { token = "tok-b-8c2d", name = "b" },
                { token = "tok-root-1b7a", name = "root", admin = true },
            ]
            """
        let daemon = try await DaemonUnderTest(options)
        let (a, b, root) = (bearer("tok-a-4f1e"), bearer("tok-b-8c2d"), bearer("tok-root-1b7a"))
        let marker = uniqueMarker()
        let client = try daemon.startBuild(
            requestJSON(["command": "sleep", "args": [marker], "request_id": "rid-\(marker)", "idempotency_key": "rid-\(marker)"]),
            headers: a
        )
        #expect(await eventually { client.stdoutSoFar.contains(#""status":"started""#) })
        let running = try #require(buildID(in: client.stdoutSoFar))
        let done = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "exit 3"]]), headers: a)
        let finished = try #require(buildID(in: done.body))

        let status = try await daemon.json("/v1/builds/\(running)", headers: a)
        #expect(status.status == 200)
        let expected = ["id": running, "state": "running", "project": "demo", "command": "sleep", "request_id": "rid-\(marker)", "token_name": "a"]
        for (key, value) in expected {
            #expect(status.object[key] as? String == value, "\(key)")
        }
        #expect(status.object["args"] as? [String] == [marker])
        #expect(status.object["submitted_at"] is String)
        #expect(status.object["started_at"] is String)
        #expect(status.object["cancelled"] as? Bool == false)
        let ended = try await daemon.json("/v1/builds/\(finished)", headers: a).object
        #expect(ended["state"] as? String == "finished")
        #expect(ended["exit_code"] as? Int == 3)
        #expect(ended["timed_out"] as? Bool == false)
        #expect(ended["finished_at"] is String)
        #expect((ended["artifacts"] as? [Any])?.isEmpty == true)
        #expect(ended["last_seq"] as? Int == sequenceNumbers(done.body).count)

        #expect(try await daemon.listedIDs("/v1/builds", headers: a) == [finished, running])
        #expect(try await daemon.listedIDs("/v1/builds?state=running", headers: a) == [running])
        #expect(try await daemon.listedIDs("/v1/builds?project=demo&limit=1", headers: a) == [finished])
        #expect(try await daemon.listedIDs("/v1/builds?project=other", headers: a) == [])
        #expect(try await daemon.listedIDs("/v1/builds", headers: b) == [])
        #expect(try await daemon.listedIDs("/v1/builds", headers: root) == [finished, running])
        // B learns nothing of A's build: the same answer as for an id that never existed.
        let unknown = "bld_0123456789abcdef0123456789abcdef"
        for (method, path) in [("GET", running), ("DELETE", running), ("GET", running + "/events"), ("GET", unknown)] {
            let refused = try await daemon.curl("", path: "/v1/builds/\(path)", method: method, headers: b)
            #expect(refused.status == 404, "\(method) \(path)")
            #expect(refused.body.contains(#""code":"build_not_found""#))
        }
        // The same idempotency key from another token is another build.
        let sameID = try await daemon.curl(requestJSON(["command": "true", "idempotency_key": "rid-\(marker)"]), headers: b)
        #expect(buildID(in: sameID.body) != running)
        #expect(!processes(matching: "sleep \(marker)").isEmpty)

        let cancel = try await daemon.json("/v1/builds/\(running)", method: "DELETE", headers: a)
        #expect(cancel.status == 202)
        #expect(cancel.object["id"] as? String == running)
        #expect(cancel.object["cancelled"] as? Bool == true)
        let stream = try parseEvents(await client.wait().stdoutText)
        #expect(stream.last?["code"] as? Int == 130)
        #expect(stream.last?["cancelled"] as? Bool == true)
        #expect(await eventually { processes(matching: "sleep \(marker)").isEmpty })
        let after = try await daemon.json("/v1/builds/\(running)", headers: a).object
        #expect(after["state"] as? String == "finished")
        #expect(after["cancel_reason"] as? String == "requested")
        for id in [running, finished] {
            let again = try await daemon.curl("", path: "/v1/builds/\(id)", method: "DELETE", headers: a)
            #expect(again.status == 409)
            #expect(again.body.contains(#""code":"build_finished""#))
        }

        // The admin token cancels B's build.
        let other = uniqueMarker()
        let bClient = try daemon.startBuild(requestJSON(["command": "sleep", "args": [other]]), headers: b)
        #expect(await eventually { bClient.stdoutSoFar.contains(#""status":"started""#) })
        let bBuild = try #require(buildID(in: bClient.stdoutSoFar))
        #expect(try await daemon.json("/v1/builds/\(bBuild)", method: "DELETE", headers: root).status == 202)
        #expect(try parseEvents(await bClient.wait().stdoutText).last?["cancelled"] as? Bool == true)
        #expect(await eventually { processes(matching: "sleep \(other)").isEmpty })
        await daemon.stop()
    }

    /// A silent build sends `heartbeat` lines to a client that asked for them, and none to one
    /// that did not or to a legacy-framing client.
    @Test func heartbeatsOnlyForClientsThatAskForThem() async throws {
        let daemon = try await DaemonUnderTest()
        let quiet: [String: Any] = ["command": "sleep", "args": ["3"]]
        var asking = quiet
        asking["heartbeat_sec"] = 1
        let (askingBody, quietBody) = (requestJSON(asking), requestJSON(quiet))
        async let asked = daemon.curl(askingBody)
        async let notAsked = daemon.curl(quietBody)
        async let legacy = daemon.legacy(askingBody)
        let (withHeartbeats, without, old) = try await (asked, notAsked, legacy)

        let lines = withHeartbeats.body.split(separator: "\n").map(String.init)
        let seqs = sequenceNumbers(withHeartbeats.body)
        let heartbeats = lines.indices.filter { lines[$0].contains(#""type":"heartbeat""#) }
        #expect(!heartbeats.isEmpty, "\(withHeartbeats.body)")
        #expect(!heartbeats.contains(0))
        for index in heartbeats where index > 0 {
            #expect(lines[index].range(of: #"^\{"type":"heartbeat","seq":[0-9]+\}$"#, options: .regularExpression) != nil)
            // It carries the seq of the event before it: it takes no number of its own.
            #expect(seqs[index] == seqs[index - 1], "\(lines[index])")
        }
        #expect(isContiguous(seqs.indices.filter { !heartbeats.contains($0) }.map { seqs[$0] }))
        #expect(try parseEvents(withHeartbeats.body).last?["code"] as? Int == 0)
        #expect(!without.body.contains("heartbeat"))
        #expect(try parseEvents(without.body).last?["code"] as? Int == 0)
        #expect(!old.stdoutText.contains("heartbeat"))
        #expect(try parseEvents(old.stdoutText).last?["code"] as? Int == 0)
        await daemon.stop()
    }
}
