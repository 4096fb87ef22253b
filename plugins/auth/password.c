/*
 * password.c - NFKC normalisation, the per-tenant password policy and
 * Argon2id hashing (S12).  See password.h.
 *
 * Order of the policy checks: the cheap, precise reasons first (length,
 * login ID, digits), then the lists, then cracklib, so a refusal names the
 * most useful reason.
 */
#define _POSIX_C_SOURCE 200809L
#include "password.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pwquality.h>
#include <uninorm.h>
#include <unistr.h>

#define COMMON_LINE_MAX 256
#define EMAIL_LOCAL_MIN 3   /* a shorter local part is refused only within the address */
#define LOGIN_CONTAIN_MIN 4 /* shorter login IDs are only refused as the whole password */
#define WORD_MIN 3          /* tenant words shorter than this are ignored */

/* ---- the common-password set ------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static int common_has(const auth_pw_ctx *pw, const char *lower)
{
    if (pw->common_cap == 0)
        return 0;
    for (size_t i = fnv1a(lower) & (pw->common_cap - 1);; i = (i + 1) & (pw->common_cap - 1)) {
        if (pw->common[i] == NULL)
            return 0;
        if (strcmp(pw->common[i], lower) == 0)
            return 1;
    }
}

static int common_add(auth_pw_ctx *pw, const char *word)
{
    if ((pw->common_n + 1) * 2 > pw->common_cap) { /* keep the load under 1/2 */
        size_t cap = pw->common_cap ? pw->common_cap * 2 : 8192;
        char **slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return -1;
        for (size_t i = 0; i < pw->common_cap; i++) {
            if (pw->common[i] == NULL)
                continue;
            size_t j = fnv1a(pw->common[i]) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = pw->common[i];
        }
        free(pw->common);
        pw->common = slots;
        pw->common_cap = cap;
    }
    if (common_has(pw, word))
        return 0;
    size_t i = fnv1a(word) & (pw->common_cap - 1);
    while (pw->common[i])
        i = (i + 1) & (pw->common_cap - 1);
    if ((pw->common[i] = strdup(word)) == NULL)
        return -1;
    pw->common_n++;
    return 0;
}

static int common_load(auth_pw_ctx *pw, const char *path, char *err, size_t errlen)
{
    char line[COMMON_LINE_MAX];
    int rc = -1;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "cannot open common passwords list %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || strncmp(line, "#!comment", 9) == 0)
            continue;
        ascii_lower(line);
        if (common_add(pw, line) != 0) {
            snprintf(err, errlen, "out of memory loading %s", path);
            goto fail;
        }
    }
    if (pw->common_n == 0) {
        snprintf(err, errlen, "common passwords list %s is empty", path);
        goto fail;
    }
    rc = 0;
fail:
    fclose(f);
    return rc;
}

/* ---- set-up -------------------------------------------------------------- */

int auth_pw_init(auth_pw_ctx *pw, const char *common_path, char *err, size_t errlen)
{
    unsigned char junk[32];
    pwquality_settings_t *pwq;

    memset(pw, 0, sizeof *pw);
    if (pthread_mutex_init(&pw->pwq_lock, NULL) != 0) {
        snprintf(err, errlen, "mutex");
        return -1;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium did not initialise");
        goto fail;
    }
    if (common_load(pw, common_path, err, errlen) != 0)
        goto fail;
    /* Only cracklib's dictionary check: every other rule is ours. */
    if ((pwq = pwquality_default_settings()) == NULL) {
        snprintf(err, errlen, "libpwquality: out of memory");
        goto fail;
    }
    pw->pwq = pwq;
    static const int zero[] = {PWQ_SETTING_DIFF_OK,     PWQ_SETTING_DIG_CREDIT,
                               PWQ_SETTING_UP_CREDIT,   PWQ_SETTING_LOW_CREDIT,
                               PWQ_SETTING_OTH_CREDIT,  PWQ_SETTING_MIN_CLASS,
                               PWQ_SETTING_MAX_REPEAT,  PWQ_SETTING_MAX_CLASS_REPEAT,
                               PWQ_SETTING_GECOS_CHECK, PWQ_SETTING_MAX_SEQUENCE,
                               PWQ_SETTING_USER_CHECK};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        pwquality_set_int_value(pwq, zero[i], 0);
    pwquality_set_int_value(pwq, PWQ_SETTING_MIN_LENGTH, 6);
    pwquality_set_int_value(pwq, PWQ_SETTING_DICT_CHECK, 1);
    /* The dummy hash: a random password nobody knows, hashed with the
     * current parameters, so an unknown login costs what a known one does. */
    randombytes_buf(junk, sizeof junk);
    if (crypto_pwhash_str_alg(pw->dummy_hash, (const char *)junk, sizeof junk, AUTH_PW_OPSLIMIT,
                              AUTH_PW_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        snprintf(err, errlen, "Argon2id: out of memory");
        goto fail;
    }
    sodium_memzero(junk, sizeof junk);
    return 0;
fail:
    auth_pw_free(pw);
    return -1;
}

void auth_pw_free(auth_pw_ctx *pw)
{
    for (size_t i = 0; i < pw->common_cap; i++)
        free(pw->common[i]);
    free(pw->common);
    if (pw->pwq)
        pwquality_free_settings(pw->pwq);
    pthread_mutex_destroy(&pw->pwq_lock);
    memset(pw, 0, sizeof *pw);
}

/* ---- normalisation and policy ------------------------------------------- */

char *auth_pw_normalize(const char *pw, size_t len, size_t *out_len, const char **reason)
{
    size_t n = 0;
    uint8_t *norm;
    char *out;

    if (len == 0) {
        *reason = "empty";
        return NULL;
    }
    if (len > AUTH_PW_MAX_BYTES) {
        *reason = "too_long";
        return NULL;
    }
    if (memchr(pw, '\0', len) || u8_check((const uint8_t *)pw, len) != NULL) {
        *reason = "invalid_utf8";
        return NULL;
    }
    norm = u8_normalize(UNINORM_NFKC, (const uint8_t *)pw, len, NULL, &n);
    if (norm == NULL) {
        *reason = "invalid_utf8";
        return NULL;
    }
    /* One more byte for the NUL; the copy lets us wipe libunistring's. */
    out = malloc(n + 1);
    if (out != NULL) {
        memcpy(out, norm, n);
        out[n] = '\0';
        *out_len = n;
    } else {
        *reason = "too_long";
    }
    sodium_memzero(norm, n);
    free(norm);
    return out;
}

static int digits_only(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Case-insensitive (ASCII) containment of each comma-separated word. */
static int contains_word(const char *lower, const char *words)
{
    char w[COMMON_LINE_MAX];

    while (words && *words) {
        size_t n = strcspn(words, ",");
        const char *p = words;
        while (n > 0 && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n >= WORD_MIN && n < sizeof w) {
            memcpy(w, p, n);
            w[n] = '\0';
            ascii_lower(w);
            if (strstr(lower, w))
                return 1;
        }
        words += strcspn(words, ",");
        if (*words == ',')
            words++;
    }
    return 0;
}

/* Equal to or containing the address, or its local part of EMAIL_LOCAL_MIN
 * characters or more (ASCII case ignored: the domain is stored lower-case,
 * and a local part in other case is the same person). */
static int contains_email(const char *lower, const char *email)
{
    char buf[COMMON_LINE_MAX];
    size_t n = email ? strlen(email) : 0, local;

    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, email, n + 1);
    ascii_lower(buf);
    if (strstr(lower, buf))
        return 1;
    local = strcspn(buf, "@");
    buf[local] = '\0';
    return local >= EMAIL_LOCAL_MIN && strstr(lower, buf) != NULL;
}

static int dictionary_word(auth_pw_ctx *pw, const char *norm)
{
    void *aux = NULL;
    char buf[256];
    int rc;

    pthread_mutex_lock(&pw->pwq_lock);
    rc = pwquality_check(pw->pwq, norm, NULL, NULL, &aux);
    pwquality_strerror(buf, sizeof buf, rc, aux); /* frees aux, if allocated */
    pthread_mutex_unlock(&pw->pwq_lock);
    return rc == PWQ_ERROR_CRACKLIB_CHECK;
}

const char *auth_pw_check(auth_pw_ctx *pw, const auth_policy *pol, const char *norm, size_t len)
{
    const char *reason = NULL;
    int min = pol->min_length < AUTH_PW_MIN_FLOOR ? AUTH_PW_MIN_FLOOR : pol->min_length;
    size_t chars = u8_mbsnlen((const uint8_t *)norm, len);
    char *lower = NULL, *login = NULL;

    if (chars < (size_t)min)
        return "too_short";
    if (chars > AUTH_PW_MAX_CHARS)
        return "too_long";
    if (digits_only(norm))
        return "digits_only";
    if ((lower = strdup(norm)) == NULL || (login = strdup(pol->login ? pol->login : "")) == NULL) {
        reason = "too_long"; /* out of memory: refuse rather than pass */
        goto done;
    }
    ascii_lower(lower);
    ascii_lower(login);
    if (login[0] && (strcmp(lower, login) == 0 ||
                     (strlen(login) >= LOGIN_CONTAIN_MIN && strstr(lower, login)))) {
        reason = "contains_login";
    } else if (contains_email(lower, pol->email)) {
        reason = "contains_email";
    } else if (common_has(pw, lower)) {
        reason = "common_password";
    } else if (contains_word(lower, pol->words)) {
        reason = "tenant_word";
    } else if (dictionary_word(pw, norm)) {
        reason = "dictionary_word";
    }
done:
    if (lower) {
        sodium_memzero(lower, len);
        free(lower);
    }
    free(login);
    return reason;
}

const char *auth_pw_reason_message(const char *reason)
{
    static const struct {
        const char *code, *msg;
    } msgs[] = {
        {"empty", "the password is empty"},
        {"too_short", "the password is shorter than the tenant's minimum length"},
        {"too_long", "the password is longer than 1024 characters"},
        {"invalid_utf8", "the password is not valid UTF-8"},
        {"contains_login", "the password contains the login ID"},
        {"contains_email", "the password contains the e-mail address or its local part"},
        {"digits_only", "the password consists of digits only"},
        {"common_password", "the password is in a list of commonly used passwords"},
        {"dictionary_word", "the password is based on a dictionary word"},
        {"tenant_word", "the password contains a word the tenant forbids"},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
        if (strcmp(msgs[i].code, reason) == 0)
            return msgs[i].msg;
    return "the password is refused";
}

/* ---- hashing ------------------------------------------------------------- */

int auth_pw_hash(const char *norm, size_t len, char out[AUTH_PW_HASH_MAX])
{
    return crypto_pwhash_str_alg(out, norm, len, AUTH_PW_OPSLIMIT, AUTH_PW_MEMLIMIT,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

int auth_pw_verify(const char *hash, const char *norm, size_t len)
{
    /* Only Argon2id is ever stored (the table's CHECK says so). */
    if (strncmp(hash, "$argon2id$", 10) != 0)
        return 0;
    return crypto_pwhash_str_verify(hash, norm, len) == 0;
}

int auth_pw_needs_rehash(const char *hash)
{
    return crypto_pwhash_str_needs_rehash(hash, AUTH_PW_OPSLIMIT, AUTH_PW_MEMLIMIT) != 0;
}
