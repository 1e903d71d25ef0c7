import Foundation
import Testing

/// `GET /v1/builds` in pages, over a registry that keeps at most `build.max_retained`
/// finished builds (the oldest go first).
@Suite struct BuildListTests {
    @Test func theListIsPagedNewestFirstAndHoldsAtMostMaxRetained() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle += "\nmax_retained = 5"
        let daemon = try await DaemonUnderTest(options)
        var started: [String] = []
        for _ in 0..<7 {
            let response = try await daemon.curl(requestJSON(["command": "true"]))
            started.append(try #require(buildID(in: response.body)))
        }
        let newestFive = Array(started.reversed().prefix(5))
        #expect(try await daemon.listedIDs("/v1/builds") == newestFive)
        // The two oldest are gone entirely.
        #expect(try await daemon.json("/v1/builds/\(started[0])").status == 404)

        var paged: [String] = []
        var path = "/v1/builds?limit=2"
        var pages = 0
        while pages < 10 {
            let page = try await daemon.json(path)
            #expect(page.status == 200)
            paged += (page.object["builds"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            pages += 1
            guard let cursor = page.object["next_cursor"] as? String else {
                #expect(page.object["next_cursor"] is NSNull, "next_cursor is present, null on the last page")
                break
            }
            path = "/v1/builds?limit=2&cursor=\(cursor)"
        }
        #expect(pages == 3)
        #expect(paged == newestFive)

        // A limit over the page size is capped, not refused; nonsense is refused.
        #expect(try await daemon.listedIDs("/v1/builds?limit=100000") == newestFive)
        for bad in ["limit=0", "limit=x", "cursor=nonsense", "cursor=1_bld_x"] {
            let refused = try await daemon.curl("", path: "/v1/builds?\(bad)", method: "GET")
            #expect(refused.status == 400, "\(bad)")
            #expect(refused.body.contains(bad.hasPrefix("limit") ? "parameter \\\"limit\\\"" : "parameter \\\"cursor\\\""), "\(refused.body)")
        }
        // A state filter pages the same way: one running build among the finished ones is on
        // the first page of state=running, and the page after a finished build's cursor
        // holds only finished ones.
        let running = try daemon.startBuild(requestJSON(["command": "sh", "args": ["-c", DaemonUnderTest.gatedScript("gate")]]))
        #expect(await eventually { running.stdoutSoFar.contains(#""status":"started""#) })
        let runningID = try #require(buildID(in: running.stdoutSoFar))
        #expect(try await daemon.listedIDs("/v1/builds?state=running&limit=1") == [runningID])
        let firstFinished = try await daemon.json("/v1/builds?state=finished&limit=2")
        let cursor = try #require(firstFinished.object["next_cursor"] as? String)
        #expect(try await daemon.listedIDs("/v1/builds?state=finished&limit=2&cursor=\(cursor)") == Array(newestFive[2..<4]))
        #expect(try await daemon.listedIDs("/v1/builds?state=running&cursor=\(cursor)") == [])
        daemon.openGate("gate")
        _ = await running.wait()
        await daemon.stop()
    }
}
