/*
 * DynamoDB typed JSON (AttributeValues) <-> plain JSON, the way
 * @aws-sdk/util-dynamodb's marshall(item, {removeUndefinedValues: true,
 * convertClassInstanceToMap: true}) and unmarshall(item) see Jovo's items.
 *
 *   plain        typed                 plain       typed
 *   null         {"NULL": true}        string      {"S": "..."}
 *   true/false   {"BOOL": b}           array       {"L": [...]}
 *   number       {"N": "JS form"}      object      {"M": {...}}
 *
 * Reading also accepts what other writers store: SS, NS and BS become
 * arrays (of strings, numbers, base64 strings), B a base64 string.
 *
 * Numbers: an N holds up to 38 digits, more than a double. Unmarshalled
 * numbers are json_real, what JavaScript sees. To never lose digits the
 * edit did not change, the marshaller takes the previously stored typed
 * value of the same element (@ref) and re-emits the old AttributeValue
 * verbatim wherever the new plain value equals what the old one reads as
 * (numbers compared as doubles, sets as arrays); new numbers are written
 * the way JavaScript prints them.
 *
 * Values given in and returned are never modified afterwards, so a
 * returned tree may share (borrowed, refcounted) nodes with @ref.
 */
#ifndef JFS_DYNAMODB_MARSHAL_H
#define JFS_DYNAMODB_MARSHAL_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

/**
 * Marshal plain @v (borrowed) into an AttributeValue. @ref (borrowed, may
 * be NULL) is the typed value stored before at the same path. Returns a
 * new reference, or NULL when @v holds something DynamoDB cannot store
 * (a NaN or infinite number: JavaScript's marshall throws there too).
 */
json_t *jfs_ddb_marshal(const json_t *v, const json_t *ref);

/**
 * jfs_ddb_marshal() of a value a user wrote, named @path ("user"), that a
 * Jovo app must be able to load back: a number that is new or changed (not
 * kept verbatim from @ref) beyond +-(2^53 - 1) is refused, as the app's
 * unmarshall() refuses it (it throws, or gives a BigInt, never the number
 * the mount showed). Returns a new reference, or NULL with -EINVAL worth
 * in @err naming the JSON path ("user.data.big").
 */
json_t *jfs_ddb_marshal_loadable(const json_t *v, const json_t *ref, const char *path,
				 struct jfs_err *err);

/**
 * Marshal the object @item into an attribute map (what PutItem's "Item"
 * holds), each key against @ref_item's attribute of the same name
 * (@ref_item may be NULL). New reference or NULL as jfs_ddb_marshal().
 */
json_t *jfs_ddb_marshal_map(const json_t *item, const json_t *ref_item);

/**
 * Unmarshal one AttributeValue. Returns a new reference, or NULL with the
 * reason in @err (-EIO worth) when @av is not a valid AttributeValue.
 */
json_t *jfs_ddb_unmarshal(const json_t *av, struct jfs_err *err);

/** Unmarshal an attribute map (GetItem's "Item") into an object. New reference or NULL. */
json_t *jfs_ddb_unmarshal_map(const json_t *attrs, struct jfs_err *err);

/**
 * Whether plain @v equals what @av reads as, the way the marshaller
 * decides to keep @av (numbers as doubles, sets as arrays in stored order).
 */
bool jfs_ddb_equals_plain(const json_t *av, const json_t *v);

/**
 * Whether a fresh marshal of the unmarshalled @av could differ from @av:
 * an N not in JavaScript's form, a set or binary value somewhere inside.
 * Items without such values need no @ref when they are written back.
 */
bool jfs_ddb_needs_ref(const json_t *av);

#endif
