/*
 * AWS credentials and region from the standard places, in the order the
 * AWS SDKs look:
 *
 *   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *   2. the profile AWS_PROFILE (else "default") of the shared files:
 *      AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials, sections "[name]")
 *      and AWS_CONFIG_FILE (~/.aws/config, sections "[profile name]" and
 *      "[default]"); a key in the credentials file wins over the same key
 *      of the same profile in the config file.
 *
 * Region: AWS_REGION, AWS_DEFAULT_REGION, then the profile's "region".
 *
 * Role assumption, SSO, credential_process, container and instance
 * metadata credentials are not supported; a profile that only has those
 * is reported by name. Nothing here ever logs or returns a secret in a
 * message: jfs_aws_cred.source names where the keys came from.
 */
#ifndef JFS_AWS_CRED_H
#define JFS_AWS_CRED_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

/** Resolved credentials; every string malloc()ed, free with jfs_aws_cred_release(). */
struct jfs_aws_cred {
	char *access_key_id;
	char *secret_access_key;
	char *session_token; /**< NULL when there is none */
	char *source;        /**< "env", "profile NAME from FILE" or "config file"; never a secret */
	char *profile;       /**< the profile name looked at (AWS_PROFILE or "default") */
	char *region;        /**< region from the environment or the profile, NULL when none */
	char *region_source; /**< where region came from ("AWS_REGION", "profile NAME from FILE") */
};

/**
 * Find credentials and a region in the environment and the shared files.
 * Returns 0, or -EACCES with the places looked at in @err when no static
 * credentials were found (the key fields and source are then NULL, but
 * profile and region are filled). A missing region is not an error
 * (region stays NULL). Release @cred in both cases.
 */
int jfs_aws_cred_load(struct jfs_aws_cred *cred, struct jfs_err *err);

/** Set the credentials explicitly (e.g. from the config file); copies the strings. */
void jfs_aws_cred_set(struct jfs_aws_cred *cred, const char *key_id, const char *secret,
		      const char *token, const char *source);

/** Free the contents of @cred (secrets are zeroed first) and zero it. */
void jfs_aws_cred_release(struct jfs_aws_cred *cred);

/**
 * Parse an AWS shared ini file. @config_style: "[profile x]" names profile
 * x and other sections but "[default]" are skipped (the config file);
 * otherwise every "[x]" is profile x (the credentials file). Returns a new
 * reference: an object of profile name -> object of key -> string, or
 * NULL when the file cannot be read (errno set).
 */
json_t *jfs_aws_ini_load(const char *path, bool config_style);

/** Same as jfs_aws_ini_load() on text in memory. New reference. */
json_t *jfs_aws_ini_parse(const char *text, bool config_style);

#endif
