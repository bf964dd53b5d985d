/* The one place that knows which backends were compiled in. */
#include "backends/backend.h"

#include <string.h>

#include "config.h"

extern const struct jfs_backend_ops jfs_backend_filedb;
#ifdef HAVE_DYNAMODB
extern const struct jfs_backend_ops jfs_backend_dynamodb;
#endif
#ifdef HAVE_MONGODB
extern const struct jfs_backend_ops jfs_backend_mongodb;
#endif

static const struct jfs_backend_ops *const backends[] = {
	&jfs_backend_filedb,
#ifdef HAVE_DYNAMODB
	&jfs_backend_dynamodb,
#endif
#ifdef HAVE_MONGODB
	&jfs_backend_mongodb,
#endif
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct jfs_backend_ops *jfs_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < NBACKENDS; i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

const struct jfs_backend_ops *jfs_backend_at(size_t i)
{
	return i < NBACKENDS ? backends[i] : NULL;
}
