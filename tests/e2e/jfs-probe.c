/*
 * jfs-probe: the checks of the end-to-end suites that a shell cannot make
 * (which call failed, with which errno; raw extended attributes).
 *
 * Every command prints one line: "OK", a value, or the errno name of the
 * call that failed. A failure before the step a command is about is
 * prefixed by that step ("open:ENOENT", "write:EFBIG"), so a test that
 * expects close() to fail with EINVAL does not pass when open() did.
 * Exit status: 0 when the command ran (whatever it printed), 2 on usage
 * errors, so tests compare the output, not the status.
 *
 *   write-close FILE CONTENT     open(O_WRONLY|O_CREAT|O_TRUNC), write, close
 *   append-close FILE CONTENT    open(O_WRONLY|O_APPEND), write, close
 *   copy-close SRC FILE          write-close with the content of the file SRC
 *                                (for contents beyond the 128 KiB argv limit)
 *   write-fsync FILE CONTENT     open, write, fsync: prints fsync's result;
 *                                then close, whose result goes to stderr
 *   fsync FILE                   open(O_RDONLY), fsync, close: prints fsync's result
 *   hold-edit FILE CONTENT SYNC  open(O_RDWR), read all, create SYNC.ready, wait
 *                                for SYNC to exist (30 s at most), then
 *                                ftruncate+pwrite CONTENT and close: prints
 *                                close()'s result (an editor that kept the file open)
 *   hold-fsync FILE CONTENT SYNC N   open(O_WRONLY|O_TRUNC), write CONTENT, close a
 *                                dup() of it (a commit that keeps the descriptor),
 *                                create SYNC.ready; then N times: wait for SYNC.<i>
 *                                (30 s at most), fsync, create SYNC.<i>.done; then
 *                                close. One line per step, flushed as it happens:
 *                                "commit OK", "fsync1 ESTALE", ..., "close OK"
 *   read-stamps FILE SECONDS     read FILE whole (4 KiB a read(), as stdio and jq
 *                                read, 0.2 ms apart), over and over for SECONDS; each
 *                                time the first "v": number and the last "w":
 *                                number must be equal (a writer changes both):
 *                                prints "reads N torn M"
 *   open-many FILE N SYNC        open FILE N times read-only and read each whole,
 *                                create SYNC.ready, wait for SYNC (60 s at most),
 *                                close them: "OK", or the errno name, or
 *                                "short" when a read was not the whole file
 *   stat-many DIR PREFIX N       stat DIR/PREFIX0 .. DIR/PREFIX<N-1>: prints
 *                                "missing M found F" (any other error: its name)
 *   read-while-unlink FILE       open FILE; three threads pread() it over and over
 *                                while the main thread unlink()s it: prints
 *                                unlink's result, then "reads N short M" (reads that
 *                                returned the whole file, and the others)
 *   read FILE                    the content, raw, or the errno name
 *   read-size FILE               how many bytes read() returned in total
 *   stat-size FILE               st_size
 *   stat-mode FILE               st_mode & 07777, octal
 *   rename A B | unlink P | rmdir P | mkdir P | truncate P LEN
 *   getxattr FILE NAME           the raw value, or the errno name
 *   getxattr-hex FILE NAME       the value as lowercase hex
 *   listxattr FILE               the names, one a line
 *   setxattr FILE NAME VALUE
 *   hex STRING                   STRING as lowercase hex (to compare with getxattr-hex)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	static char buf[32];
	const char *n = strerrorname_np(e);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static int say(const char *step, int rc)
{
	if (rc == 0)
		puts("OK");
	else if (step)
		printf("%s:%s\n", step, errname(errno));
	else
		puts(errname(errno));
	return 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* open @path with @flags and write @content: the fd, or -1 after saying which step failed */
static int open_write(const char *path, int flags, const char *content)
{
	int fd = open(path, flags, 0644);

	if (fd < 0)
		return say("open", -1), -1;
	if (write_all(fd, content, strlen(content)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return say("write", -1), -1;
	}
	return fd;
}

static int do_write(const char *path, const char *content, int flags, int want_fsync)
{
	int fd = open_write(path, flags, content);

	if (fd < 0)
		return 0;
	if (want_fsync) {
		int rc = fsync(fd);
		int e = errno;

		if (close(fd) < 0)
			fprintf(stderr, "close: %s\n", errname(errno));
		errno = e;
		return say(NULL, rc);
	}
	return say(NULL, close(fd));
}

static int do_read(const char *path, int print)
{
	char buf[65536];
	long long total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return say("open", -1);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;

			close(fd);
			errno = e;
			return say("read", -1);
		}
		if (n == 0)
			break;
		total += n;
		if (print)
			fwrite(buf, 1, (size_t)n, stdout);
	}
	close(fd);
	if (!print)
		printf("%lld\n", total);
	return 0;
}

static int hold_edit(const char *path, const char *content, const char *sync)
{
	char buf[65536];
	char ready[4096];
	struct stat st;
	int fd, i;

	fd = open(path, O_RDWR);
	if (fd < 0)
		return say("open", -1);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	snprintf(ready, sizeof(ready), "%s.ready", sync);
	close(open(ready, O_WRONLY | O_CREAT, 0644));
	for (i = 0; i < 3000 && stat(sync, &st) < 0; i++)
		usleep(10000);
	if (ftruncate(fd, 0) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return say("ftruncate", -1);
	}
	if (pwrite(fd, content, strlen(content), 0) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return say("write", -1);
	}
	return say(NULL, close(fd));
}

static void touch(const char *fmt, const char *a, int i)
{
	char path[4096];

	snprintf(path, sizeof(path), fmt, a, i);
	close(open(path, O_WRONLY | O_CREAT, 0644));
}

static void step(const char *name, int rc)
{
	printf("%s %s\n", name, rc == 0 ? "OK" : errname(errno));
	fflush(stdout);
}

static int hold_fsync(const char *path, const char *content, const char *sync, int n)
{
	char wait_for[4096], name[32];
	struct stat st;
	int fd, i, k;

	fd = open_write(path, O_WRONLY | O_TRUNC, content);
	if (fd < 0)
		return 0;
	step("commit", close(dup(fd)));
	touch("%s.ready", sync, 0);
	for (i = 1; i <= n; i++) {
		snprintf(wait_for, sizeof(wait_for), "%s.%d", sync, i);
		for (k = 0; k < 3000 && stat(wait_for, &st) < 0; k++)
			usleep(10000);
		snprintf(name, sizeof(name), "fsync%d", i);
		step(name, fsync(fd));
		touch("%s.%d.done", sync, i);
	}
	step("close", close(fd));
	return 0;
}

struct reader {
	int fd;
	off_t size;
	int stop;     /* atomic */
	long whole, other;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char *buf = malloc((size_t)r->size + 1);

	while (buf && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		ssize_t n = pread(r->fd, buf, (size_t)r->size + 1, 0);

		if (n == r->size)
			__atomic_add_fetch(&r->whole, 1, __ATOMIC_RELAXED);
		else
			__atomic_add_fetch(&r->other, 1, __ATOMIC_RELAXED);
	}
	free(buf);
	return NULL;
}

static int read_while_unlink(const char *path)
{
	struct reader r = { .fd = -1 };
	pthread_t th[3];
	struct stat st;
	int rc, e, i;

	r.fd = open(path, O_RDONLY);
	if (r.fd < 0 || fstat(r.fd, &st) < 0)
		return say("open", -1);
	r.size = st.st_size;
	for (i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, reader_main, &r);
	usleep(2000);
	rc = unlink(path);
	e = errno;
	usleep(3000);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	close(r.fd);
	errno = e;
	say(NULL, rc);
	printf("reads %ld short %ld\n", r.whole, r.other);
	return 0;
}

/* The number after the first (@last: last) occurrence of @key in @buf, or -1. */
static long long stamp(const char *buf, const char *key, int last)
{
	const char *p = strstr(buf, key), *q;

	if (last)
		while (p && (q = strstr(p + 1, key)))
			p = q;
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/*
 * Read all of @fd into *@buf, @chunk bytes a read() as stdio would, @pause_us
 * between reads: the length, or -1.
 */
static ssize_t read_whole(int fd, char **buf, size_t *alloc, size_t chunk, unsigned pause_us)
{
	size_t len = 0;
	ssize_t n;

	for (;;) {
		if (len + chunk + 1 > *alloc) {
			*alloc = (len + chunk + 1) * 2;
			*buf = realloc(*buf, *alloc);
			if (!*buf)
				abort();
		}
		n = read(fd, *buf + len, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (!n)
			break;
		len += (size_t)n;
		if (pause_us)
			usleep(pause_us); /* a slow reader: a change may land between two reads */
	}
	(*buf)[len] = '\0';
	return (ssize_t)len;
}

static int read_stamps(const char *path, double seconds)
{
	struct timespec t0, t;
	long reads = 0, torn = 0;
	size_t alloc = 0;
	char *buf = NULL;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int fd = open(path, O_RDONLY);
		long long v, w;

		if (fd < 0)
			return say("open", -1);
		if (read_whole(fd, &buf, &alloc, 4096, 200) < 0) {
			close(fd);
			return say("read", -1);
		}
		close(fd);
		v = stamp(buf, "\"v\": ", 0);
		w = stamp(buf, "\"w\": ", 1);
		reads++;
		if (v < 0 || v != w) {
			if (torn < 3)
				fprintf(stderr, "torn read: v %lld w %lld, %zu bytes\n", v, w,
					strlen(buf));
			torn++;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	free(buf);
	printf("reads %ld torn %ld\n", reads, torn);
	return 0;
}

static int open_many(const char *path, int n, const char *sync)
{
	char ready[4096], *buf = NULL;
	size_t alloc = 0;
	struct stat st;
	int *fds = calloc((size_t)n, sizeof(*fds)), i, k, ret = 0;

	for (i = 0; fds && i < n; i++) {
		fds[i] = open(path, O_RDONLY);
		if (fds[i] < 0 || fstat(fds[i], &st) < 0) {
			say("open", -1);
			ret = 1;
			break;
		}
		if (read_whole(fds[i], &buf, &alloc, 65536, 0) != st.st_size) {
			puts("short");
			ret = 1;
			i++;
			break;
		}
	}
	snprintf(ready, sizeof(ready), "%s.ready", sync);
	close(open(ready, O_WRONLY | O_CREAT, 0644));
	for (k = 0; k < 6000 && stat(sync, &st) < 0; k++)
		usleep(10000);
	while (i-- > 0)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(buf);
	if (!ret)
		puts("OK");
	return 0;
}

static int stat_many(const char *dir, const char *prefix, long n)
{
	char path[4096];
	long i, missing = 0, found = 0;
	struct stat st;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s%ld", dir, prefix, i);
		if (stat(path, &st) == 0)
			found++;
		else if (errno == ENOENT)
			missing++;
		else
			return say("stat", -1);
	}
	printf("missing %ld found %ld\n", missing, found);
	return 0;
}

static int do_getxattr(const char *path, const char *name, int hex)
{
	char buf[65536];
	ssize_t n = getxattr(path, name, buf, sizeof(buf));

	if (n < 0)
		return say(NULL, -1);
	if (hex) {
		for (ssize_t i = 0; i < n; i++)
			printf("%02x", (unsigned char)buf[i]);
		putchar('\n');
	} else {
		fwrite(buf, 1, (size_t)n, stdout);
	}
	return 0;
}

static int do_listxattr(const char *path)
{
	char buf[65536];
	ssize_t n = listxattr(path, buf, sizeof(buf));

	if (n < 0)
		return say(NULL, -1);
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		puts(buf + i);
	return 0;
}

static int usage(void)
{
	fputs("usage: jfs-probe COMMAND ARGS... (see the head of jfs-probe.c)\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd;
	struct stat st;

	if (argc < 2)
		return usage();
	cmd = argv[1];
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

#define NEED(n) do { if (argc != (n) + 2) return usage(); } while (0)
	if (!strcmp(cmd, "write-close")) {
		NEED(2);
		return do_write(argv[2], argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0);
	} else if (!strcmp(cmd, "copy-close")) {
		NEED(2);
		FILE *f = fopen(argv[2], "rb");
		char *buf;
		long n;

		if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
			return usage();
		buf = calloc(1, (size_t)n + 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
			return usage();
		fclose(f);
		int rc = do_write(argv[3], buf, O_WRONLY | O_CREAT | O_TRUNC, 0);

		free(buf);
		return rc;
	} else if (!strcmp(cmd, "append-close")) {
		NEED(2);
		return do_write(argv[2], argv[3], O_WRONLY | O_APPEND, 0);
	} else if (!strcmp(cmd, "write-fsync")) {
		NEED(2);
		return do_write(argv[2], argv[3], O_WRONLY | O_CREAT | O_TRUNC, 1);
	} else if (!strcmp(cmd, "fsync")) {
		NEED(1);
		int fd = open(argv[2], O_RDONLY);

		if (fd < 0)
			return say("open", -1);
		int rc = fsync(fd);
		int e = errno;

		close(fd);
		errno = e;
		return say(NULL, rc);
	} else if (!strcmp(cmd, "hold-edit")) {
		NEED(3);
		return hold_edit(argv[2], argv[3], argv[4]);
	} else if (!strcmp(cmd, "hold-fsync")) {
		NEED(4);
		return hold_fsync(argv[2], argv[3], argv[4], (int)strtol(argv[5], NULL, 10));
	} else if (!strcmp(cmd, "read-stamps")) {
		NEED(2);
		return read_stamps(argv[2], strtod(argv[3], NULL));
	} else if (!strcmp(cmd, "open-many")) {
		NEED(3);
		return open_many(argv[2], (int)strtol(argv[3], NULL, 10), argv[4]);
	} else if (!strcmp(cmd, "stat-many")) {
		NEED(3);
		return stat_many(argv[2], argv[3], strtol(argv[4], NULL, 10));
	} else if (!strcmp(cmd, "read-while-unlink")) {
		NEED(1);
		return read_while_unlink(argv[2]);
	} else if (!strcmp(cmd, "read")) {
		NEED(1);
		return do_read(argv[2], 1);
	} else if (!strcmp(cmd, "read-size")) {
		NEED(1);
		return do_read(argv[2], 0);
	} else if (!strcmp(cmd, "stat-size") || !strcmp(cmd, "stat-mode")) {
		NEED(1);
		if (lstat(argv[2], &st) < 0)
			return say(NULL, -1);
		if (cmd[5] == 's')
			printf("%lld\n", (long long)st.st_size);
		else
			printf("%o\n", (unsigned)(st.st_mode & 07777));
		return 0;
	} else if (!strcmp(cmd, "rename")) {
		NEED(2);
		return say(NULL, rename(argv[2], argv[3]));
	} else if (!strcmp(cmd, "unlink")) {
		NEED(1);
		return say(NULL, unlink(argv[2]));
	} else if (!strcmp(cmd, "rmdir")) {
		NEED(1);
		return say(NULL, rmdir(argv[2]));
	} else if (!strcmp(cmd, "mkdir")) {
		NEED(1);
		return say(NULL, mkdir(argv[2], 0755));
	} else if (!strcmp(cmd, "truncate")) {
		NEED(2);
		return say(NULL, truncate(argv[2], strtoll(argv[3], NULL, 10)));
	} else if (!strcmp(cmd, "getxattr")) {
		NEED(2);
		return do_getxattr(argv[2], argv[3], 0);
	} else if (!strcmp(cmd, "getxattr-hex")) {
		NEED(2);
		return do_getxattr(argv[2], argv[3], 1);
	} else if (!strcmp(cmd, "listxattr")) {
		NEED(1);
		return do_listxattr(argv[2]);
	} else if (!strcmp(cmd, "setxattr")) {
		NEED(3);
		return say(NULL, setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0));
	} else if (!strcmp(cmd, "hex")) {
		NEED(1);
		for (const char *s = argv[2]; *s; s++)
			printf("%02x", (unsigned char)*s);
		putchar('\n');
		return 0;
	}
	return usage();
}
