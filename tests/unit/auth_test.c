/* auth_test: CURVE key files and the authorized keys directory. Key pairs
 * round-trip through their files, a secret key others may read is refused,
 * nothing is overwritten, malformed files name file and line, a file with a
 * second key or a repeated line is refused, and the keyring finds a client
 * by its public key (and not when two files claim it, nor a bad file's). */
#include "test.h"

#include <fcntl.h>

#include <zmq.h>

#include "auth.h"
#include "keyring.h"

static void s_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ASSERT_TRUE(fd >= 0);
    ASSERT_TRUE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    ASSERT_TRUE(chmod(path, mode) == 0);
}

static void s_keypair_round_trip(void)
{
    auth_keypair_t kp, back;
    auth_client_t who = {"", "writer", "alice", false}, pub;
    char path[600], err[256];

    ASSERT_OK(auth_keypair_new(&kp));
    ASSERT_EQ_INT((int)strlen(kp.public_key), AUTH_KEY_LEN);
    ASSERT_EQ_INT((int)strlen(kp.secret_key), AUTH_KEY_LEN);
    ASSERT_OK(auth_keypair_write(test_tmpdir(), "alice", &kp, &who, err, sizeof(err)));
    test_path(path, sizeof(path), "alice.key");
    ASSERT_OK(auth_keypair_load(path, &back, err, sizeof(err)));
    ASSERT_EQ_STR(back.secret_key, kp.secret_key);
    ASSERT_EQ_STR(back.public_key, kp.public_key); /* derived from the secret */
    test_path(path, sizeof(path), "alice.pub");
    ASSERT_OK(auth_public_load(path, &pub, err, sizeof(err)));
    ASSERT_EQ_STR(pub.public_key, kp.public_key);
    ASSERT_EQ_STR(pub.role, "writer");
    ASSERT_EQ_STR(pub.user, "alice");
    ASSERT_FALSE(pub.relay);
    /* never overwritten */
    ASSERT_ERR(auth_keypair_write(test_tmpdir(), "alice", &kp, NULL, err, sizeof(err)), RP_EEXIST);
    ASSERT_ERR(auth_keypair_write(test_tmpdir(), "../evil", &kp, NULL, err, sizeof(err)),
               RP_EINVAL);
}

static void s_secret_readable_by_others_refused(void)
{
    auth_keypair_t kp, back;
    char path[600], err[256];

    ASSERT_OK(auth_keypair_new(&kp));
    ASSERT_OK(auth_keypair_write(test_tmpdir(), "k", &kp, NULL, err, sizeof(err)));
    test_path(path, sizeof(path), "k.key");
    ASSERT_TRUE(chmod(path, 0644) == 0);
    ASSERT_ERR(auth_keypair_load(path, &back, err, sizeof(err)), RP_EPERM);
    test_path(path, sizeof(path), "missing.key");
    ASSERT_ERR(auth_keypair_load(path, &back, err, sizeof(err)), RP_ENOTFOUND);
}

static void s_bare_z85_and_malformed_files(void)
{
    auth_keypair_t kp;
    auth_client_t pub;
    char path[600], err[256], text[128];

    ASSERT_OK(auth_keypair_new(&kp));
    /* the output of zmq_curve_keypair() pasted as it is */
    snprintf(text, sizeof(text), "%s\n", kp.public_key);
    test_path(path, sizeof(path), "bare.pub");
    s_write_file(path, text, 0644);
    ASSERT_OK(auth_public_load(path, &pub, err, sizeof(err)));
    ASSERT_EQ_STR(pub.public_key, kp.public_key);
    ASSERT_EQ_STR(pub.user, "bare");
    ASSERT_EQ_STR(pub.role, "");
    test_path(path, sizeof(path), "bad.pub");
    s_write_file(path, "# a comment\npublic-key = tooshort\n", 0644);
    ASSERT_ERR(auth_public_load(path, &pub, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "bad.pub");
    ASSERT_CONTAINS(err, ":2");
}

/* A key file holds one key and each line once: the last one never wins. */
static void s_repeated_lines_refused(void)
{
    auth_keypair_t a, b;
    auth_client_t pub;
    char path[600], err[256], text[512];
    static const char *const repeats[] = {"role = writer\nrole = admin\n", "user = u1\nuser = u2\n",
                                          "relay = no\nrelay = yes\n"};

    ASSERT_OK(auth_keypair_new(&a));
    ASSERT_OK(auth_keypair_new(&b));
    test_path(path, sizeof(path), "two.pub");
    snprintf(text, sizeof(text), "public-key = %s\nrole = reader\npublic-key = %s\n", a.public_key,
             b.public_key);
    s_write_file(path, text, 0644);
    ASSERT_ERR(auth_public_load(path, &pub, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "two.pub:3");
    /* the same key twice, once bare */
    snprintf(text, sizeof(text), "public-key = %s\n%s\n", a.public_key, a.public_key);
    s_write_file(path, text, 0644);
    ASSERT_ERR(auth_public_load(path, &pub, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "two.pub:2");
    for (size_t i = 0; i < sizeof(repeats) / sizeof(repeats[0]); i++) {
        snprintf(text, sizeof(text), "public-key = %s\n%s", a.public_key, repeats[i]);
        s_write_file(path, text, 0644);
        ASSERT_ERR(auth_public_load(path, &pub, err, sizeof(err)), RP_ECONFIG);
        ASSERT_CONTAINS(err, "two.pub:3: a second");
    }
    /* a secret key file with two secret keys */
    test_path(path, sizeof(path), "two.key");
    snprintf(text, sizeof(text), "secret-key = %s\nsecret-key = %s\n", a.secret_key, b.secret_key);
    s_write_file(path, text, 0600);
    ASSERT_ERR(auth_keypair_load(path, &a, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "two.key:2");
}

static void s_keyring_finds_each_key_once(void)
{
    auth_keypair_t a, b, c;
    auth_client_t who = {"", "reader", "rita", false};
    const auth_client_t *found;
    keyring_t *k = NULL;
    uint8_t raw[32];
    char dir[600], path[700], err[256], text[256];

    test_path(dir, sizeof(dir), "keys");
    ASSERT_TRUE(mkdir(dir, 0700) == 0);
    ASSERT_OK(auth_keypair_new(&a));
    ASSERT_OK(auth_keypair_new(&b));
    ASSERT_OK(auth_keypair_new(&c));
    ASSERT_OK(auth_keypair_write(dir, "rita", &a, &who, err, sizeof(err)));
    /* a bad file (two role lines) is left out, the others stay */
    snprintf(path, sizeof(path), "%s/bad.pub", dir);
    snprintf(text, sizeof(text), "public-key = %s\nrole = writer\nrole = admin\n", c.public_key);
    s_write_file(path, text, 0644);
    ASSERT_OK(keyring_load(dir, &k, err, sizeof(err)));
    ASSERT_EQ_U64(keyring_count(k), 1);
    ASSERT_NOT_NULL(zmq_z85_decode(raw, a.public_key));
    found = keyring_find(k, raw);
    ASSERT_NOT_NULL(found);
    ASSERT_EQ_STR(found->role, "reader");
    ASSERT_EQ_STR(found->user, "rita");
    ASSERT_NOT_NULL(zmq_z85_decode(raw, b.public_key));
    ASSERT_TRUE(keyring_find(k, raw) == NULL);
    ASSERT_NOT_NULL(zmq_z85_decode(raw, c.public_key));
    ASSERT_TRUE(keyring_find(k, raw) == NULL);
    keyring_destroy(&k);
    ASSERT_TRUE(k == NULL);
    /* the same key in two files is refused rather than guessed */
    snprintf(who.role, sizeof(who.role), "admin");
    ASSERT_OK(auth_keypair_write(dir, "rita2", &a, &who, err, sizeof(err)));
    ASSERT_OK(keyring_load(dir, &k, err, sizeof(err)));
    ASSERT_NOT_NULL(zmq_z85_decode(raw, a.public_key));
    ASSERT_TRUE(keyring_find(k, raw) == NULL);
    ASSERT_EQ_U64(keyring_count(k), 0);
    keyring_destroy(&k);
    /* a directory that is not there */
    snprintf(path, sizeof(path), "%s/nope", dir);
    ASSERT_ERR(keyring_load(path, &k, err, sizeof(err)), RP_EIO);
    ASSERT_CONTAINS(err, "nope");
}

/* Thousands of keys: every one is found, no other is. The .pub files are
 * written directly: auth_keypair_write's two fsyncs a key took 30 s. */
static void s_keyring_many_keys(void)
{
    enum { N = 3000 };
    static char pubs[N][AUTH_KEY_LEN + 1];
    keyring_t *k = NULL;
    uint8_t raw[32];
    char dir[600], err[256], name[32], path[700], text[256];

    test_path(dir, sizeof(dir), "many");
    ASSERT_TRUE(mkdir(dir, 0700) == 0);
    for (int i = 0; i < N; i++) {
        auth_keypair_t kp;
        ASSERT_OK(auth_keypair_new(&kp));
        snprintf(path, sizeof(path), "%s/k%04d.pub", dir, i);
        snprintf(text, sizeof(text), "public-key = %s\nrole = writer\nuser = user%04d\n",
                 kp.public_key, i);
        s_write_file(path, text, 0644);
        memcpy(pubs[i], kp.public_key, sizeof(pubs[i]));
    }
    ASSERT_OK(keyring_load(dir, &k, err, sizeof(err)));
    ASSERT_EQ_U64(keyring_count(k), N);
    for (int i = 0; i < N; i++) {
        const auth_client_t *found;
        ASSERT_NOT_NULL(zmq_z85_decode(raw, pubs[i]));
        found = keyring_find(k, raw);
        ASSERT_NOT_NULL(found);
        snprintf(name, sizeof(name), "user%04d", i);
        ASSERT_EQ_STR(found->user, name);
        raw[31] ^= 1; /* a neighbour is no key */
        ASSERT_TRUE(keyring_find(k, raw) == NULL);
    }
    keyring_destroy(&k);
}

static void s_roles_and_endpoints(void)
{
    ASSERT_TRUE(auth_role_valid("reader"));
    ASSERT_TRUE(auth_role_valid("writer"));
    ASSERT_TRUE(auth_role_valid("admin"));
    ASSERT_FALSE(auth_role_valid("root"));
    ASSERT_FALSE(auth_role_valid(""));
    ASSERT_TRUE(auth_endpoint_is_tcp("tcp://127.0.0.1:5555"));
    ASSERT_FALSE(auth_endpoint_is_tcp("ipc:///run/rapport/logwriter.sock"));
}

static const test_case_t s_cases[] = {
    {"keypair_round_trip", s_keypair_round_trip},
    {"secret_readable_by_others_refused", s_secret_readable_by_others_refused},
    {"bare_z85_and_malformed_files", s_bare_z85_and_malformed_files},
    {"repeated_lines_refused", s_repeated_lines_refused},
    {"keyring_finds_each_key_once", s_keyring_finds_each_key_once},
    {"keyring_many_keys", s_keyring_many_keys},
    {"roles_and_endpoints", s_roles_and_endpoints},
};

TEST_MAIN(s_cases)
