/*
 * Inode numbers and what they stand for: pure functions of the number.
 * Every FUSE operation dispatches on jfs_node_kind() rather than testing
 * bits of the number itself.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const sub_names[] = {
	[JFS_SUB_USER] = "user.json",
	[JFS_SUB_SESSION] = "session.json",
	[JFS_SUB_HISTDIR] = "history",
	[JFS_SUB_CREATED] = "createdAt",
	[JFS_SUB_UPDATED] = "updatedAt",
	[JFS_SUB_RECORD] = "record.json",
};

static bool ino_is_user(fuse_ino_t ino)
{
	return !(ino & (JFS_INO_SCRATCH_BIT | JFS_INO_CONFLICT_BIT | JFS_INO_FIND_BIT)) &&
	       ino >= JFS_SUB_COUNT;
}

enum jfs_node_kind jfs_node_kind(fuse_ino_t ino)
{
	unsigned sub;

	if (ino & JFS_INO_SCRATCH_BIT)
		return JFS_NODE_SCRATCH;
	if (ino & JFS_INO_CONFLICT_BIT)
		return JFS_NODE_CONFLICT;
	if (ino & JFS_INO_FIND_BIT)
		return JFS_NODE_FIND;
	switch (ino) {
	case JFS_INO_ROOT:
		return JFS_NODE_ROOT;
	case JFS_INO_STATUS:
		return JFS_NODE_STATUS_DIR;
	case JFS_INO_S_CONFIG:
	case JFS_INO_S_METRICS:
	case JFS_INO_S_ERRORS:
	case JFS_INO_S_JOURNAL:
	case JFS_INO_S_UNDO:
		return JFS_NODE_STATUS_FILE;
	case JFS_INO_S_CONFL:
		return JFS_NODE_CONFLICT_DIR;
	case JFS_INO_S_FIND:
		return JFS_NODE_FIND_DIR;
	}
	if (!ino_is_user(ino))
		return JFS_NODE_NONE;
	sub = jfs_ino_sub(ino);
	switch (sub) {
	case JFS_SUB_DIR:
		return JFS_NODE_USER_DIR;
	case JFS_SUB_HISTDIR:
		return JFS_NODE_HISTORY_DIR;
	case JFS_SUB_RECORD:
		return JFS_NODE_RECORD;
	case JFS_SUB_LINK:
		return JFS_NODE_FIND_LINK;
	case JFS_SUB_USER:
	case JFS_SUB_SESSION:
	case JFS_SUB_CREATED:
	case JFS_SUB_UPDATED:
		return JFS_NODE_ELEMENT;
	default:
		return sub >= JFS_SUB_HIST0 ? JFS_NODE_ELEMENT : JFS_NODE_NONE;
	}
}

fuse_ino_t jfs_ino_make(uint64_t slot, unsigned sub)
{
	return ((fuse_ino_t)(slot + 1) << JFS_SUB_BITS) | sub;
}

uint64_t jfs_ino_slot(fuse_ino_t ino)
{
	return (ino >> JFS_SUB_BITS) - 1;
}

unsigned jfs_ino_sub(fuse_ino_t ino)
{
	return (unsigned)(ino & (JFS_SUB_COUNT - 1));
}

enum jfs_elem jfs_sub_elem(unsigned sub)
{
	switch (sub) {
	case JFS_SUB_USER:
		return JFS_EL_USER;
	case JFS_SUB_SESSION:
		return JFS_EL_SESSION;
	case JFS_SUB_CREATED:
		return JFS_EL_CREATED_AT;
	case JFS_SUB_UPDATED:
		return JFS_EL_UPDATED_AT;
	default:
		return JFS_EL_HISTORY;
	}
}

size_t jfs_sub_hist_index(unsigned sub)
{
	return sub >= JFS_SUB_HIST0 ? sub - JFS_SUB_HIST0 : 0;
}

const char *jfs_sub_name(unsigned sub)
{
	return sub < sizeof(sub_names) / sizeof(sub_names[0]) ? sub_names[sub] : NULL;
}

unsigned jfs_err_slot(unsigned sub)
{
	return sub >= JFS_SUB_HIST0 ? JFS_ERR_HISTORY : sub <= JFS_SUB_RECORD ? sub : JFS_SUB_DIR;
}

int jfs_size_slot(unsigned sub)
{
	/* a session's existence depends on the clock: its size is never remembered */
	if (sub >= JFS_SUB_USER && sub <= JFS_SUB_RECORD && sub != JFS_SUB_HISTDIR &&
	    sub != JFS_SUB_SESSION)
		return (int)sub;
	if (sub >= JFS_SUB_HIST0 && sub < JFS_SUB_HIST0 + JFS_SIZE_HIST)
		return JFS_SUB_RECORD + 1 + (int)(sub - JFS_SUB_HIST0);
	return -1;
}

int jfs_told_slot(unsigned sub)
{
	return sub == JFS_SUB_SESSION ? JFS_SUB_SESSION : jfs_size_slot(sub);
}

/* N of a canonical "N.json" in a history directory, or -1 */
static long hist_index(const char *name)
{
	char *end;
	long n;

	if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1] != '.'))
		return -1;
	errno = 0;
	n = strtol(name, &end, 10);
	if (errno || strcmp(end, ".json") || n < 0 || n >= JFS_HIST_MAX)
		return -1;
	return n;
}

enum jfs_name_kind jfs_name_kind(unsigned dirsub, const char *name, unsigned *sub)
{
	unsigned s;
	long idx;

	if (dirsub == JFS_SUB_HISTDIR) {
		idx = hist_index(name);
		if (idx < 0)
			return JFS_NAME_SCRATCH;
		*sub = (unsigned)(JFS_SUB_HIST0 + idx);
		return JFS_NAME_ELEMENT;
	}
	for (s = JFS_SUB_USER; s <= JFS_SUB_RECORD; s++) {
		if (strcmp(name, sub_names[s]))
			continue;
		*sub = s;
		if (s == JFS_SUB_HISTDIR)
			return JFS_NAME_HISTORY_DIR;
		return s == JFS_SUB_RECORD ? JFS_NAME_RECORD : JFS_NAME_ELEMENT;
	}
	return JFS_NAME_SCRATCH;
}
