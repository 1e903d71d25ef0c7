#ifndef BUILD_SERVICE_OPENSSL_SHIM_H
#define BUILD_SERVICE_OPENSSL_SHIM_H

// Debian's OpenSSL 3 headers. Swift imports plain functions directly; macros and option
// constants built by function-like macros are invisible to it, so they get static inline
// wrappers here. The TLS module is the only Swift code that imports this module.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/opensslv.h>

static inline int bs_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int bs_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline const char *bs_openssl_version_text(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}

static inline int bs_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

static inline int bs_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return (int)SSL_CTX_add1_chain_cert(ctx, cert);
}

/// What every server context sets: no renegotiation (nginx does the same), the server picks
/// the suite (ChaCha20 first for clients that prefer it, i.e. those without AES hardware),
/// no compression.
static inline void bs_SSL_CTX_set_server_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION);
    // Idle connections give their buffers back (nginx sets this, too).
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

static inline void bs_SSL_CTX_set_client_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
}

/// ALPN on the server: `http/1.1` only; a client that offers ALPN without it gets a fatal
/// no_application_protocol alert (as nginx answers an h2-only client). The selected name
/// points into our static list, never into memory that goes away.
static int bs_alpn_select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                 const unsigned char *in, unsigned int inlen, void *arg) {
    static const unsigned char supported[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char *selected = NULL;
    unsigned char selected_length = 0;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&selected, &selected_length, supported, sizeof(supported), in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    *outlen = selected_length;
    return SSL_TLSEXT_ERR_OK;
}

static inline void bs_SSL_CTX_select_http11_alpn(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, bs_alpn_select_http11, NULL);
}

/// The client offers `http/1.1`. Returns 1 on success (SSL_set_alpn_protos returns 0 then).
static inline int bs_SSL_offer_http11_alpn(SSL *ssl) {
    static const unsigned char offered[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    return SSL_set_alpn_protos(ssl, offered, sizeof(offered)) == 0;
}

static inline int bs_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// A memory BIO that reports "no data yet" (retry) when empty instead of end-of-file.
static inline void bs_BIO_set_mem_eof_return(BIO *bio, int value) {
    (void)BIO_set_mem_eof_return(bio, value);
}

static inline int bs_ERR_GET_REASON(unsigned long error) {
    return ERR_GET_REASON(error);
}

static inline int bs_ERR_GET_LIB(unsigned long error) {
    return ERR_GET_LIB(error);
}

static const int bs_SSL_R_HTTP_REQUEST = SSL_R_HTTP_REQUEST;
static const int bs_SSL_R_UNEXPECTED_EOF_WHILE_READING = SSL_R_UNEXPECTED_EOF_WHILE_READING;
static const unsigned int bs_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
static const unsigned int bs_X509_CHECK_FLAG_NEVER_CHECK_SUBJECT = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;

#endif
