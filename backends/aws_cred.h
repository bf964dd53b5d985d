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
 * jfs_aws_cred_load() reads only those static keys (and the region).
 * The whole chain, with temporary credentials and their refresh, is the
 * provider's (struct jfs_aws_provider, aws_cred_chain.c), in the order of
 * the AWS SDKs:
 *
 *   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *   2. AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME):
 *      STS AssumeRoleWithWebIdentity
 *   3. the profile AWS_PROFILE (else "default", when it exists): static
 *      keys; role_arn with source_profile or credential_source
 *      (Environment, Ec2InstanceMetadata, EcsContainer): STS AssumeRole
 *      signed with the source's keys; web_identity_token_file + role_arn;
 *      credential_process; sso_session or sso_start_url (the AWS CLI's
 *      cached token in ~/.aws/sso/cache/, then the portal's
 *      GetRoleCredentials)
 *   4. AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN (ECS, EKS)
 *   5. EC2 instance metadata, IMDSv2 only (AWS_EC2_METADATA_SERVICE_ENDPOINT,
 *      _ENDPOINT_MODE; off with AWS_EC2_METADATA_DISABLED=true)
 *
 * AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_SSO name other STS and SSO
 * portal endpoints, as in the SDKs. Nothing here ever logs or returns a
 * secret in a message: sources are named, never their keys.
 */
#ifndef JFS_AWS_CRED_H
#define JFS_AWS_CRED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	uint64_t gen;        /**< jfs_aws_provider_get(): which fetch these keys came from */
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

/* ---- the chain, refreshed (aws_cred_chain.c) ---- */

struct jfs_aws_provider;

/**
 * Before the fork: decide which source of the chain applies, from the
 * environment and the shared files only (no network), or use
 * @explicit_keys (keys of the config file; NULL: the chain). Static keys
 * are read at once; the others are fetched on the first
 * jfs_aws_provider_get(). @timeout_ms bounds each HTTP request. Returns 0,
 * or -EACCES/-EINVAL naming what was looked at or what is wrong.
 */
int jfs_aws_provider_new(struct jfs_aws_provider **out, const struct jfs_aws_cred *explicit_keys,
			 int64_t timeout_ms, struct jfs_err *err);

/** Free @p (NULL: no-op). No other call may run. */
void jfs_aws_provider_free(struct jfs_aws_provider *p);

/**
 * Keys to sign a request with, copied into @c (key id, secret, token,
 * source, gen; release with jfs_aws_cred_release()). Fetches them when
 * there are none, they expired, or less than 5 minutes remain; one thread
 * fetches while the others use the old keys as long as those are valid
 * (else they wait for it). A failed refresh keeps valid keys in use and is
 * tried again 30 s later. Returns 0, or -EACCES/-EIO naming the source
 * (@c is then empty; releasing it is harmless).
 */
int jfs_aws_provider_get(struct jfs_aws_provider *p, struct jfs_aws_cred *c, struct jfs_err *err);

/** The keys of fetch @gen were refused as expired: the next get() fetches new ones. */
void jfs_aws_provider_expired(struct jfs_aws_provider *p, uint64_t gen);

/**
 * SIGHUP: resolve the chain again (the files may have changed) and fetch
 * now. On failure what was there stays in use.
 */
int jfs_aws_provider_reload(struct jfs_aws_provider *p, struct jfs_err *err);

/** The description of the source in use into @buf ("env", "profile x: credential_process"). */
void jfs_aws_provider_source(struct jfs_aws_provider *p, char *buf, size_t size);

struct jfs_aws_provider_stats {
	uint64_t refreshes;  /**< successful fetches, the first one too */
	uint64_t failures;   /**< failed fetches */
	int64_t expires_ms;  /**< of the keys in use: 0 never, -1 none yet */
	bool session_token;  /**< the keys in use have a session token */
};

void jfs_aws_provider_stats(struct jfs_aws_provider *p, struct jfs_aws_provider_stats *st);

/**
 * The region of the EC2 instance from IMDSv2 (when nothing else gives
 * one): a malloc()ed string in *@region, or -errno (-ENOENT when
 * instance metadata is disabled).
 */
int jfs_aws_imds_region(struct jfs_aws_provider *p, char **region, struct jfs_err *err);

/** SHA-1 of @text as 40 hex digits (the AWS CLI's SSO cache file names). */
void jfs_aws_sha1_hex(const char *text, char out[41]);

/** Wipe and free secret @s (may be NULL). */
void jfs_aws_free_secret(char *s);

/** The environment variable @name, or NULL when it is unset or empty. */
const char *jfs_aws_env(const char *name);

#endif
