/*
 * Thin wrappers over OpenSSL so that the rest of the library does not depend on
 * its headers. No hand-written cryptography here.
 */
#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/crypto.h"

/*
 * SHA-256 fetched from its provider once: EVP_sha256() makes every EVP_Digest
 * look the implementation up again (a property query under a lock), which cost
 * the API about 5 % of a small read's CPU when each request hashes its token.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int tia__sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    pthread_once(&sha256_once, fetch_sha256);
    const EVP_MD *alg = sha256_md ? sha256_md : EVP_sha256();
    if (EVP_Digest(data, len, md, &mdlen, alg, NULL) != 1 || mdlen != 32)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int tia__random_bytes(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int tia__ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
