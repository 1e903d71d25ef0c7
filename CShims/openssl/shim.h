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

#endif
