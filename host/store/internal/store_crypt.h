/*
 * store_crypt.h -- encryption at rest of message content (seed 000:
 * AES-GCM before storage).
 *
 * AES-256-GCM through OpenSSL's EVP API; a fresh random 96-bit nonce per
 * sealing; the associated data binds the ciphertext to its place: the
 * room's key ("chat-room:7") and the message id, so a sealed content
 * copied into another row or room fails to open.  Each row stores the id
 * of the key that sealed it, so keys can be rotated: new rows use the
 * current key, old rows stay readable while their key is in the ring.
 *
 * Keyring text (a file, or an environment variable's value): one key per
 * line, "ID:BASE64", where ID is a positive integer and BASE64 encodes
 * exactly 32 bytes; blank lines and lines starting with '#' are ignored.
 * The key with the highest ID is the current one.  A missing or wrong key
 * is an error, never a fallback to plaintext.
 */
#ifndef CH_STORE_CRYPT_H
#define CH_STORE_CRYPT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ch_keyring ch_keyring;

/* Load keys from the environment variable key_env (if non-NULL and set)
 * or else from key_file.  With create set and key_file absent, a new file
 * holding one fresh random key (ID 1) is written with mode 0600 (its
 * directory is created if needed).  A key file readable by group or
 * others is refused.  Returns a new keyring (free with ch_keyring_free),
 * or NULL with the reason in err. */
ch_keyring *ch_keyring_load(const char *key_file, const char *key_env, int create, char *err,
                            size_t errlen);

/* Parse keyring text (for tests and the env variable). */
ch_keyring *ch_keyring_parse(const char *text, char *err, size_t errlen);

void ch_keyring_free(ch_keyring *k);

/* The current key's id. */
int ch_keyring_current(const ch_keyring *k);

/* Seal plain[0..len) for (room_key, msg_id) with the current key.  On
 * success returns 0 and sets *key_id, *nonce_b64 and *sealed_b64 (new
 * malloc'd base64 strings; sealed = ciphertext followed by the 16-byte
 * tag).  Returns -1 on failure.  Thread-safe. */
int ch_seal(const ch_keyring *k, const char *room_key, int64_t msg_id, const char *plain,
            size_t len, int *key_id, char **nonce_b64, char **sealed_b64);

/* Open what ch_seal made.  On success returns 0 and sets *plain (new
 * malloc'd, NUL-terminated) and *len.  Returns -1 if the key id is not in
 * the ring, the base64 is malformed, or authentication fails (tampered
 * data, wrong room or id).  Thread-safe. */
int ch_open(const ch_keyring *k, int key_id, const char *room_key, int64_t msg_id,
            const char *nonce_b64, const char *sealed_b64, char **plain, size_t *len);

/* Make the text of a keyring file holding one new random key with the
 * given id (for `chanhost` key rotation and first runs).  New malloc'd
 * string "ID:BASE64\n", or NULL. */
char *ch_keyring_new_key_line(int id);

#endif
