/* Whole files in and out, for the migration files (domain, unit, approval, bundle):
 * read with read() only, written next to their destination and renamed into place,
 * so a reader never sees half a file and a failed write leaves the old one. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secret.h"
#include "tools/cli.h"

int cli_file_read(const char *opt, const char *path, size_t max, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = CLI_OK;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	ssize_t got;

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return cli_fail("--%s: cannot open %s: %s", opt, path, strerror(errno));
	for (;;) {
		if (n == cap) {
			size_t more = cap ? cap * 2 : 64 * 1024;
			uint8_t *grown;
			if (cap > max) {
				rc = cli_fail("--%s: %s is larger than %zu bytes", opt, path, max);
				goto out;
			}
			grown = malloc(more + 1);
			if (!grown) {
				rc = cli_fail("out of memory");
				goto out;
			}
			if (n)
				memcpy(grown, buf, n);
			secret_free(buf, cap);
			buf = grown;
			cap = more;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = cli_fail("--%s: cannot read %s: %s", opt, path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > max) {
		rc = cli_fail("--%s: %s is larger than %zu bytes", opt, path, max);
		goto out;
	}
	if (n == 0) {
		rc = cli_fail("--%s: %s is empty", opt, path);
		goto out;
	}
	buf[n] = 0; /* PEM readers may treat it as a string */
	*data = buf;
	*len = n;
	buf = NULL;
out:
	secret_free(buf, cap);
	close(fd);
	return rc;
}

void cli_file_free(uint8_t *data, size_t len)
{
	secret_free(data, len);
}

int cli_file_write(const char *opt, const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	const uint8_t *p = data;
	size_t done = 0;
	int fd, rc = CLI_OK;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
		return cli_fail("--%s: the path %s is too long", opt, path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return cli_fail("--%s: cannot create %s: %s", opt, path, strerror(errno));
	/* Migration files are public (what protects them is inside): the usual mode. */
	{
		mode_t mask = umask(0);
		umask(mask);
		if (fchmod(fd, 0666 & ~mask) != 0)
			rc = cli_fail("--%s: cannot set the mode of %s: %s", opt, tmp, strerror(errno));
	}
	while (rc == CLI_OK && done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = cli_fail("--%s: cannot write %s: %s", opt, path, strerror(errno));
		else
			done += (size_t)n;
	}
	if (rc == CLI_OK && fsync(fd) != 0)
		rc = cli_fail("--%s: cannot write %s: %s", opt, path, strerror(errno));
	if (close(fd) != 0 && rc == CLI_OK)
		rc = cli_fail("--%s: cannot write %s: %s", opt, path, strerror(errno));
	if (rc == CLI_OK && rename(tmp, path) != 0)
		rc = cli_fail("--%s: cannot write %s: %s", opt, path, strerror(errno));
	if (rc != CLI_OK)
		unlink(tmp);
	return rc;
}
