/// `/` without a session: a form that posts a token to `/login` (never in a URL: it would end
/// up in the history and in logs). The token field is a password field.
enum LoginPage {
    static func html(message: String? = nil) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Log in · build-service</title>
        <link rel="stylesheet" href="\(PageAssets.styleSheetPath)"></head><body>
        <h1>build-service</h1>
        \(message.map { "<p class=\"notice\" role=\"alert\">\(HTMLText.escaped($0))</p>" } ?? "")
        <form class="login" method="post" action="/login">
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <button type="submit">Log in</button>
        </form>
        <p class="muted">The token is one of the service's bearer tokens (the one build-cli uses). \
        It stays on the server; the browser keeps only a session cookie.</p>
        </body></html>

        """
    }
}
