/*
 * JSON in the unit tests: test data parsed and items printed the way the
 * mount does (common/json.h), so that expected texts read like
 * JSON.stringify()'s.
 */
#ifndef JFS_TEST_JSON_H
#define JFS_TEST_JSON_H

#include <jansson.h>

/**
 * Parse @text (numbers as doubles). Returns a new reference; bad test data
 * is a bug of the test: it is printed and the program exits with status 2.
 */
json_t *jfs_test_json(const char *text);

/** JSON.stringify(@v), compact, malloc()ed; "(null)" when @v is NULL. */
char *jfs_test_stringify(const json_t *v);

#endif
