/// One page of `GET /v1/builds`: `{"builds": […], "next_cursor": "…" | null}`.
struct BuildListPage: Encodable {
    var builds: [BuildStatusDocument]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case builds
        case nextCursor = "next_cursor"
    }

    /// `next_cursor` is always present, null on the last page.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(builds, forKey: .builds)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}
