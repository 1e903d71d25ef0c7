// OpenSSL 3, loaded when it is first used instead of when the program starts.
//
// build-cli over the Unix socket never uses TLS, and loading libssl and libcrypto at start-up
// (mapping them and resolving their ~4,000 symbol references) cost it more than half a
// millisecond of a 6 ms start. So the binaries do not link them: each OpenSSL function the
// Swift code calls (directly, or through the static inline wrappers of shim.h) is defined here
// with its own prototype, and the first call of any of them opens libssl.so.3 (which brings
// libcrypto.so.3) with dlopen; each function's address is then looked up once and kept.
//
// Everything here is hidden: the definitions stay out of the dynamic symbol table, so
// libssl's own calls into libcrypto can never be bound to them.

// The C library first, with its own visibility (what OpenSSL's headers include of it, too).
#include <dlfcn.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#pragma GCC visibility push(hidden)

#include "shim.h"

static void *library;
static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void open_library(void) {
    library = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
}

/// The address of `name` in libssl or libcrypto. Without OpenSSL 3 nothing that needs it can
/// go on: the program says so and exits 70 (EX_SOFTWARE).
void *bs_openssl_symbol(const char *name) {
    pthread_once(&library_once, open_library);
    void *symbol = library != NULL ? dlsym(library, name) : NULL;
    if (symbol == NULL) {
        const char *why = dlerror();
        fprintf(stderr, "OpenSSL 3 (libssl.so.3, libcrypto.so.3) could not be loaded: %s; install the libssl3 package\n",
                why != NULL ? why : name);
        _exit(70);
    }
    return symbol;
}

/// NAME_resolved(): the function's address in OpenSSL, looked up on the first call.
#define RESOLVER(NAME)                                                                        \
    static __typeof__(NAME) *NAME##_resolved(void) {                                          \
        static __typeof__(NAME) *resolved;                                                    \
        __typeof__(NAME) *function = __atomic_load_n(&resolved, __ATOMIC_ACQUIRE);            \
        if (function == NULL) {                                                               \
            function = (__typeof__(NAME) *)bs_openssl_symbol(#NAME);                          \
            __atomic_store_n(&resolved, function, __ATOMIC_RELEASE);                          \
        }                                                                                     \
        return function;                                                                      \
    }

// Generated from the prototypes in Debian's OpenSSL 3.0 headers (the compiler checks each
// against them). A function the Swift code starts to use must be added here; until it is,
// the link fails naming it.

RESOLVER(ASN1_TIME_to_tm)
int ASN1_TIME_to_tm(const ASN1_TIME *a0, struct tm *a1) {
    return ASN1_TIME_to_tm_resolved()(a0, a1);
}

RESOLVER(BIO_ctrl)
long BIO_ctrl(BIO *a0, int a1, long a2, void *a3) {
    return BIO_ctrl_resolved()(a0, a1, a2, a3);
}

RESOLVER(BIO_ctrl_pending)
size_t BIO_ctrl_pending(BIO *a0) {
    return BIO_ctrl_pending_resolved()(a0);
}

RESOLVER(BIO_free)
int BIO_free(BIO *a0) {
    return BIO_free_resolved()(a0);
}

RESOLVER(BIO_new)
BIO * BIO_new(const BIO_METHOD *a0) {
    return BIO_new_resolved()(a0);
}

RESOLVER(BIO_new_file)
BIO * BIO_new_file(const char *a0, const char *a1) {
    return BIO_new_file_resolved()(a0, a1);
}

RESOLVER(BIO_read)
int BIO_read(BIO *a0, void *a1, int a2) {
    return BIO_read_resolved()(a0, a1, a2);
}

RESOLVER(BIO_s_mem)
const BIO_METHOD * BIO_s_mem(void) {
    return BIO_s_mem_resolved()();
}

RESOLVER(BIO_write)
int BIO_write(BIO *a0, const void *a1, int a2) {
    return BIO_write_resolved()(a0, a1, a2);
}

RESOLVER(CRYPTO_free)
void CRYPTO_free(void *a0, const char *a1, int a2) {
    CRYPTO_free_resolved()(a0, a1, a2);
}

RESOLVER(ERR_clear_error)
void ERR_clear_error(void) {
    ERR_clear_error_resolved()();
}

RESOLVER(ERR_get_error_all)
unsigned long ERR_get_error_all(const char **a0, int *a1, const char **a2, const char **a3, int *a4) {
    return ERR_get_error_all_resolved()(a0, a1, a2, a3, a4);
}

RESOLVER(ERR_reason_error_string)
const char * ERR_reason_error_string(unsigned long a0) {
    return ERR_reason_error_string_resolved()(a0);
}

RESOLVER(EVP_Digest)
int EVP_Digest(const void *a0, size_t a1, unsigned char *a2, unsigned int *a3, const EVP_MD *a4, ENGINE *a5) {
    return EVP_Digest_resolved()(a0, a1, a2, a3, a4, a5);
}

RESOLVER(EVP_DigestFinal_ex)
int EVP_DigestFinal_ex(EVP_MD_CTX *a0, unsigned char *a1, unsigned int *a2) {
    return EVP_DigestFinal_ex_resolved()(a0, a1, a2);
}

RESOLVER(EVP_DigestInit_ex)
int EVP_DigestInit_ex(EVP_MD_CTX *a0, const EVP_MD *a1, ENGINE *a2) {
    return EVP_DigestInit_ex_resolved()(a0, a1, a2);
}

RESOLVER(EVP_DigestUpdate)
int EVP_DigestUpdate(EVP_MD_CTX *a0, const void *a1, size_t a2) {
    return EVP_DigestUpdate_resolved()(a0, a1, a2);
}

RESOLVER(EVP_MD_CTX_free)
void EVP_MD_CTX_free(EVP_MD_CTX *a0) {
    EVP_MD_CTX_free_resolved()(a0);
}

RESOLVER(EVP_MD_CTX_new)
EVP_MD_CTX * EVP_MD_CTX_new(void) {
    return EVP_MD_CTX_new_resolved()();
}

RESOLVER(EVP_sha256)
const EVP_MD * EVP_sha256(void) {
    return EVP_sha256_resolved()();
}

RESOLVER(HMAC)
unsigned char * HMAC(const EVP_MD *a0, const void *a1, int a2, const unsigned char *a3, size_t a4, unsigned char *a5, unsigned int *a6) {
    return HMAC_resolved()(a0, a1, a2, a3, a4, a5, a6);
}

RESOLVER(OpenSSL_version)
const char * OpenSSL_version(int a0) {
    return OpenSSL_version_resolved()(a0);
}

RESOLVER(PEM_read_bio_X509)
X509 * PEM_read_bio_X509(BIO *a0, X509 **a1, pem_password_cb *a2, void *a3) {
    return PEM_read_bio_X509_resolved()(a0, a1, a2, a3);
}

RESOLVER(RAND_bytes)
int RAND_bytes(unsigned char *a0, int a1) {
    return RAND_bytes_resolved()(a0, a1);
}

RESOLVER(SSL_CTX_check_private_key)
int SSL_CTX_check_private_key(const SSL_CTX *a0) {
    return SSL_CTX_check_private_key_resolved()(a0);
}

RESOLVER(SSL_CTX_ctrl)
long SSL_CTX_ctrl(SSL_CTX *a0, int a1, long a2, void *a3) {
    return SSL_CTX_ctrl_resolved()(a0, a1, a2, a3);
}

RESOLVER(SSL_CTX_free)
void SSL_CTX_free(SSL_CTX *a0) {
    SSL_CTX_free_resolved()(a0);
}

RESOLVER(SSL_CTX_get0_certificate)
X509 * SSL_CTX_get0_certificate(const SSL_CTX *a0) {
    return SSL_CTX_get0_certificate_resolved()(a0);
}

RESOLVER(SSL_CTX_load_verify_file)
int SSL_CTX_load_verify_file(SSL_CTX *a0, const char *a1) {
    return SSL_CTX_load_verify_file_resolved()(a0, a1);
}

RESOLVER(SSL_CTX_new)
SSL_CTX * SSL_CTX_new(const SSL_METHOD *a0) {
    return SSL_CTX_new_resolved()(a0);
}

RESOLVER(SSL_CTX_set_alpn_select_cb)
void SSL_CTX_set_alpn_select_cb(SSL_CTX *a0, SSL_CTX_alpn_select_cb_func a1, void *a2) {
    SSL_CTX_set_alpn_select_cb_resolved()(a0, a1, a2);
}

RESOLVER(SSL_CTX_set_cipher_list)
int SSL_CTX_set_cipher_list(SSL_CTX *a0, const char *a1) {
    return SSL_CTX_set_cipher_list_resolved()(a0, a1);
}

RESOLVER(SSL_CTX_set_ciphersuites)
int SSL_CTX_set_ciphersuites(SSL_CTX *a0, const char *a1) {
    return SSL_CTX_set_ciphersuites_resolved()(a0, a1);
}

RESOLVER(SSL_CTX_set_client_CA_list)
void SSL_CTX_set_client_CA_list(SSL_CTX *a0, struct stack_st_X509_NAME *a1) {
    SSL_CTX_set_client_CA_list_resolved()(a0, a1);
}

RESOLVER(SSL_CTX_set_default_verify_paths)
int SSL_CTX_set_default_verify_paths(SSL_CTX *a0) {
    return SSL_CTX_set_default_verify_paths_resolved()(a0);
}

RESOLVER(SSL_CTX_set_options)
uint64_t SSL_CTX_set_options(SSL_CTX *a0, uint64_t a1) {
    return SSL_CTX_set_options_resolved()(a0, a1);
}

RESOLVER(SSL_CTX_set_security_level)
void SSL_CTX_set_security_level(SSL_CTX *a0, int a1) {
    SSL_CTX_set_security_level_resolved()(a0, a1);
}

RESOLVER(SSL_CTX_set_session_id_context)
int SSL_CTX_set_session_id_context(SSL_CTX *a0, const unsigned char *a1, unsigned int a2) {
    return SSL_CTX_set_session_id_context_resolved()(a0, a1, a2);
}

RESOLVER(SSL_CTX_set_verify)
void SSL_CTX_set_verify(SSL_CTX *a0, int a1, SSL_verify_cb a2) {
    SSL_CTX_set_verify_resolved()(a0, a1, a2);
}

RESOLVER(SSL_CTX_use_PrivateKey_file)
int SSL_CTX_use_PrivateKey_file(SSL_CTX *a0, const char *a1, int a2) {
    return SSL_CTX_use_PrivateKey_file_resolved()(a0, a1, a2);
}

RESOLVER(SSL_CTX_use_certificate_chain_file)
int SSL_CTX_use_certificate_chain_file(SSL_CTX *a0, const char *a1) {
    return SSL_CTX_use_certificate_chain_file_resolved()(a0, a1);
}

RESOLVER(SSL_ctrl)
long SSL_ctrl(SSL *a0, int a1, long a2, void *a3) {
    return SSL_ctrl_resolved()(a0, a1, a2, a3);
}

RESOLVER(SSL_do_handshake)
int SSL_do_handshake(SSL *a0) {
    return SSL_do_handshake_resolved()(a0);
}

RESOLVER(SSL_free)
void SSL_free(SSL *a0) {
    SSL_free_resolved()(a0);
}

RESOLVER(SSL_get0_alpn_selected)
void SSL_get0_alpn_selected(const SSL *a0, const unsigned char **a1, unsigned int *a2) {
    SSL_get0_alpn_selected_resolved()(a0, a1, a2);
}

RESOLVER(SSL_get_error)
int SSL_get_error(const SSL *a0, int a1) {
    return SSL_get_error_resolved()(a0, a1);
}

RESOLVER(SSL_get_verify_result)
long SSL_get_verify_result(const SSL *a0) {
    return SSL_get_verify_result_resolved()(a0);
}

RESOLVER(SSL_get_version)
const char * SSL_get_version(const SSL *a0) {
    return SSL_get_version_resolved()(a0);
}

RESOLVER(SSL_load_client_CA_file)
struct stack_st_X509_NAME * SSL_load_client_CA_file(const char *a0) {
    return SSL_load_client_CA_file_resolved()(a0);
}

RESOLVER(SSL_new)
SSL * SSL_new(SSL_CTX *a0) {
    return SSL_new_resolved()(a0);
}

RESOLVER(SSL_read_ex)
int SSL_read_ex(SSL *a0, void *a1, size_t a2, size_t *a3) {
    return SSL_read_ex_resolved()(a0, a1, a2, a3);
}

RESOLVER(SSL_select_next_proto)
int SSL_select_next_proto(unsigned char **a0, unsigned char *a1, const unsigned char *a2, unsigned int a3, const unsigned char *a4, unsigned int a5) {
    return SSL_select_next_proto_resolved()(a0, a1, a2, a3, a4, a5);
}

RESOLVER(SSL_session_reused)
int SSL_session_reused(const SSL *a0) {
    return SSL_session_reused_resolved()(a0);
}

RESOLVER(SSL_set1_host)
int SSL_set1_host(SSL *a0, const char *a1) {
    return SSL_set1_host_resolved()(a0, a1);
}

RESOLVER(SSL_set_accept_state)
void SSL_set_accept_state(SSL *a0) {
    SSL_set_accept_state_resolved()(a0);
}

RESOLVER(SSL_set_alpn_protos)
int SSL_set_alpn_protos(SSL *a0, const unsigned char *a1, unsigned int a2) {
    return SSL_set_alpn_protos_resolved()(a0, a1, a2);
}

RESOLVER(SSL_set_bio)
void SSL_set_bio(SSL *a0, BIO *a1, BIO *a2) {
    SSL_set_bio_resolved()(a0, a1, a2);
}

RESOLVER(SSL_set_connect_state)
void SSL_set_connect_state(SSL *a0) {
    SSL_set_connect_state_resolved()(a0);
}

RESOLVER(SSL_set_hostflags)
void SSL_set_hostflags(SSL *a0, unsigned int a1) {
    SSL_set_hostflags_resolved()(a0, a1);
}

RESOLVER(SSL_shutdown)
int SSL_shutdown(SSL *a0) {
    return SSL_shutdown_resolved()(a0);
}

RESOLVER(SSL_write_ex)
int SSL_write_ex(SSL *a0, const void *a1, size_t a2, size_t *a3) {
    return SSL_write_ex_resolved()(a0, a1, a2, a3);
}

RESOLVER(TLS_client_method)
const SSL_METHOD * TLS_client_method(void) {
    return TLS_client_method_resolved()();
}

RESOLVER(TLS_server_method)
const SSL_METHOD * TLS_server_method(void) {
    return TLS_server_method_resolved()();
}

RESOLVER(X509_NAME_oneline)
char * X509_NAME_oneline(const X509_NAME *a0, char *a1, int a2) {
    return X509_NAME_oneline_resolved()(a0, a1, a2);
}

RESOLVER(X509_free)
void X509_free(X509 *a0) {
    X509_free_resolved()(a0);
}

RESOLVER(X509_get0_notAfter)
const ASN1_TIME * X509_get0_notAfter(const X509 *a0) {
    return X509_get0_notAfter_resolved()(a0);
}

RESOLVER(X509_get_subject_name)
X509_NAME * X509_get_subject_name(const X509 *a0) {
    return X509_get_subject_name_resolved()(a0);
}

RESOLVER(X509_up_ref)
int X509_up_ref(X509 *a0) {
    return X509_up_ref_resolved()(a0);
}

RESOLVER(X509_verify_cert_error_string)
const char * X509_verify_cert_error_string(long a0) {
    return X509_verify_cert_error_string_resolved()(a0);
}
#pragma GCC visibility pop
