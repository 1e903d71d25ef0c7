import BuildServiceCore
import NIOHTTP1
import Testing

@testable import BuildServiceServer

/// Paths to routes, and artifact paths to what they name: tables of what a client can send.
@Suite struct RoutingTableTests {
    static let id = BuildID.make()

    @Test(arguments: [
        ("/healthz", Route.health),
        ("/metrics", .metrics),
        ("/v1/builds", .builds),
        ("/v1/builds/\(id)", .build(id: id)),
        ("/v1/builds/\(id)/events", .buildEvents(id: id)),
        ("/v1/builds/\(id)/artifacts/out/app.bin", .artifact),
        ("/artifacts/\(id)/app.bin", .artifact),
        ("/v1/builds/\(id)/nothing", .unknown),
        ("/v1/builds/\(id)/events/more", .unknown),
        ("/healthz/", .unknown),
        ("/v1/builds/", .build(id: "")),
        ("/v1/builds/\(id)/page", .buildPage(id: id)),
        ("/v1/builds/\(id)/page/x", .unknown),
        ("/assets/page.css", .asset(name: "page.css")),
        ("/", .home),
        ("/login", .login),
        ("/logout", .logout),
        ("/cancel", .cancelForm),
        ("/login/", .unknown),
        ("", .unknown),
    ])
    func pathsMapToRoutes(path: String, route: Route) {
        #expect(Route(path: Substring(path)) == route)
    }

    /// Every route's methods, HEAD wherever GET is but for the live event stream; nothing else
    /// is answered (a method outside the Allow header is a 405), a made-up method included.
    @Test func eachRouteAnswersItsMethodsAndHEADWhereverGET() {
        let table: [(Route, [HTTPMethod])] = [
            (.health, [.GET, .HEAD]), (.metrics, [.GET, .HEAD]), (.builds, [.GET, .HEAD, .POST]),
            (.build(id: "x"), [.GET, .HEAD, .DELETE]), (.buildEvents(id: "x"), [.GET]), (.buildPage(id: "x"), [.GET, .HEAD]),
            (.artifact, [.GET, .HEAD]), (.asset(name: "page.css"), [.GET, .HEAD]), (.home, [.GET, .HEAD]),
            (.login, [.GET, .HEAD, .POST]), (.logout, [.POST]), (.cancelForm, [.POST]), (.unknown, []),
        ]
        let every: [HTTPMethod] = [.GET, .HEAD, .POST, .PUT, .DELETE, .PATCH, .OPTIONS, .TRACE, .CONNECT, .RAW(value: "BREW")]
        for (route, allowed) in table {
            #expect(route.methods == allowed, "\(route)")
            for method in every {
                #expect(route.answers(method) == allowed.contains(method), "\(route) \(method)")
            }
        }
        #expect(Route.artifact.allowHeader == "GET, HEAD")
        #expect(Route.cancelForm.allowHeader == "POST" && Route.logout.allowHeader == "POST")
    }

    @Test(arguments: [
        ("/v1/builds/\(id)/artifacts/out/app.bin", "out/app.bin"),
        ("/artifacts/\(id)/out/app.bin", "out/app.bin"),
        ("/v1/builds/\(id)/artifacts/a%20b.txt", "a b.txt"),
        ("/v1/builds/\(id)/artifacts/r%C3%A9sum%C3%A9.pdf?expires=1&sig=ab", "résumé.pdf"),
    ])
    func artifactPathsNameACleanRelativePath(uri: String, name: String) throws {
        let route = try #require(ArtifactRoute(uri: uri))
        #expect(route.buildID == Self.id)
        #expect(route.name == name)
    }

    @Test(arguments: [
        "/v1/builds/\(id)/artifacts/../secret",
        "/v1/builds/\(id)/artifacts/out/../../x",
        "/v1/builds/\(id)/artifacts/%2e%2e/x",
        "/v1/builds/\(id)/artifacts/a%2Fb",
        "/v1/builds/\(id)/artifacts/a%00b",
        "/v1/builds/\(id)/artifacts/a//b",
        "/v1/builds/\(id)/artifacts/./a",
        "/v1/builds/\(id)/artifacts/",
        "/v1/builds/not-an-id/artifacts/a",
        "/v1/builds/\(id)/artifacts/%zz",
        "/artifacts/\(id)",
    ])
    func suspiciousArtifactPathsNameNothing(uri: String) {
        #expect(ArtifactRoute(uri: uri) == nil)
    }

    @Test func queryParametersArePercentDecodedAndUndecodablePairsLeftOut() {
        let query = QueryString.parse(uri: "/x?after=3&project=my%20app&bad=%zz&flag")
        #expect(query == ["after": "3", "project": "my app", "flag": ""])
        #expect(QueryString.parse(uri: "/x").isEmpty)
    }
}
