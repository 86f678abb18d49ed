/* auth_test: CURVE key files and the authorized keys directory. Key pairs
 * round-trip through their files, a secret key others may read is refused,
 * nothing is overwritten, malformed files name file and line, and a client
 * is found by its public key (and not when two files claim it). */
#include "test.h"

#include <fcntl.h>

#include "auth.h"

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

static void s_client_found_by_key_once(void)
{
    auth_keypair_t a, b;
    auth_client_t who = {"", "reader", "rita", false}, found;
    char dir[600], err[256];

    test_path(dir, sizeof(dir), "keys");
    ASSERT_TRUE(mkdir(dir, 0700) == 0);
    ASSERT_OK(auth_keypair_new(&a));
    ASSERT_OK(auth_keypair_new(&b));
    ASSERT_OK(auth_keypair_write(dir, "rita", &a, &who, err, sizeof(err)));
    ASSERT_OK(auth_client_find(dir, a.public_key, &found));
    ASSERT_EQ_STR(found.role, "reader");
    ASSERT_EQ_STR(found.user, "rita");
    ASSERT_ERR(auth_client_find(dir, b.public_key, &found), RP_ENOTFOUND);
    /* the same key in two files is refused rather than guessed */
    who.role[0] = '\0';
    snprintf(who.role, sizeof(who.role), "admin");
    ASSERT_OK(auth_keypair_write(dir, "rita2", &a, &who, err, sizeof(err)));
    ASSERT_ERR(auth_client_find(dir, a.public_key, &found), RP_ENOTFOUND);
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
    {"client_found_by_key_once", s_client_found_by_key_once},
    {"roles_and_endpoints", s_roles_and_endpoints},
};

TEST_MAIN(s_cases)
