/*
 * BSON <-> JSON for the MongoDb backend: stored documents become the
 * jansson values JavaScript (and so Jovo) would see, and edited values go
 * back with the BSON types they had. The round-trip table is at the top of
 * mongodb_bson.c.
 */
#ifndef JFS_MONGODB_BSON_H
#define JFS_MONGODB_BSON_H

#include <bson/bson.h>
#include <jansson.h>

#include "common/err.h"

/**
 * The JSON value of the BSON element at @it. Returns a new reference, or
 * NULL with a message in @err (-EIO: a string or key that is not UTF-8).
 */
json_t *jfs_bson_value_to_json(const bson_iter_t *it, struct jfs_err *err);

/**
 * A stored document as a jovofs item: "id" first (the string _id, or
 * @id when given), then every other key in stored order. A stored key
 * "id" is hidden behind the user id (it is never written either). Returns
 * a new reference, or NULL with a message in @err.
 */
json_t *jfs_bson_to_item(const bson_t *doc, const char *id, struct jfs_err *err);

/**
 * Append @v (borrowed) to @b under @key as BSON. @old is the value stored
 * at the same place before (NULL when none): where @v equals it as
 * JavaScript sees values, @old is appended unchanged, type and all; a
 * changed number keeps @old's numeric type where it can (see the table).
 * Extended JSON wrappers ({"$oid": ...}) become their BSON type. @path
 * names the place in messages. Returns 0, or -EINVAL for a malformed
 * wrapper with a message in @err.
 */
int jfs_bson_append_json(bson_t *b, const char *key, const json_t *v, const bson_iter_t *old,
			 const char *path, struct jfs_err *err);

/**
 * The BSON document for a new item: {_id: @id} followed by every key of
 * @item (borrowed) but "id" and "_id". @out must be initialised by the
 * caller (bson_init) and destroyed by the caller. Returns 0 or -EINVAL.
 */
int jfs_bson_from_item(const json_t *item, const char *id, bson_t *out, struct jfs_err *err);

/**
 * @uri with its password and secret options (tlsCertificateKeyFilePassword,
 * authMechanismProperties) replaced by "***", for logs and describe(). The
 * password is found where libmongoc's parse of @uri says it is, whatever
 * it holds ('?', '@', '/' included). Returns a malloc()ed string.
 */
char *jfs_mongo_redact_uri(const char *uri);

/**
 * Where @password (as libmongoc decoded it) is written in the connection
 * string @text: true with *@off and *@len, false when it is not there.
 */
bool jfs_mongo_password_span(const char *text, const char *password, size_t *off,
			     size_t *len);

/**
 * @text (a message of libmongoc's or the server's, a connection string)
 * with every one of the @nsecrets @secrets, the user info of a connection
 * string in it and the value of every secret option ("name=value")
 * replaced by "***". The one redactor every libmongoc message goes
 * through. Returns a malloc()ed string.
 */
char *jfs_mongo_redact(const char *text, const char *const *secrets, size_t nsecrets);

#endif
