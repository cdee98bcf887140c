/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * file: a regular file or a block device. Requests go through the
 * reactor's io_uring (READ / WRITE with RWF_DSYNC for FUA / FSYNC with
 * DATASYNC for FLUSH); without a reactor or a free SQE they run inline
 * with pread / pwrite(v2) / fdatasync. Either way a short transfer
 * resumes where it stopped (io->moved), and a read past the end of a
 * regular file (shrunk behind our back) returns zeros.
 *
 * The page cache is used (no O_DIRECT): durability comes from FUA and
 * FLUSH, which is what SCSI asks for.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h> /* BLKGETSIZE64 */
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backing/backing_priv.h"

#ifdef IDM_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

struct file_store {
	struct idm_backing b;
	int fd;
};

static struct file_store *io_file(struct idm_backing_io *io)
{
	return (struct file_store *)io->store;
}

static struct idm_backing_io *ureq_to_io(struct idm_uring_req *req)
{
	return (struct idm_backing_io *)((char *)req - offsetof(struct idm_backing_io, ureq));
}

/* READ and WRITE move bytes; FLUSH, WRITE ZEROES and UNMAP complete
 * in one step. */
static bool moves_data(const struct idm_backing_io *io)
{
	return io->op == IDM_BACKING_READ || io->op == IDM_BACKING_WRITE;
}

/* fallocate mode of WRITE ZEROES / UNMAP. */
static int zero_mode(const struct idm_backing_io *io)
{
	return (io->op == IDM_BACKING_UNMAP ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
	       FALLOC_FL_KEEP_SIZE;
}

/* For files and devices that cannot fallocate: write zeros, in chunks
 * from a shared zero page. Returns 0 or -errno. */
static long write_zeros(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[64 * 1024];

	while (len > 0) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return w < 0 ? -errno : -EIO;
		}
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/* WRITE ZEROES / UNMAP inline: fallocate, else explicit zeros. */
static long zero_sync(struct file_store *f, struct idm_backing_io *io)
{
	if (fallocate(f->fd, zero_mode(io), (off_t)io->offset, (off_t)io->len) == 0) {
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EINVAL && errno != ENODEV) {
		return -errno;
	}
	return write_zeros(f->fd, io->offset, io->len);
}

/*
 * Account for one transfer that returned `res` (bytes or -errno).
 * Returns true when `io` is finished (its `done` has run), false when
 * there is more to move (or the call was interrupted) and the caller
 * must issue the rest.
 */
static bool file_account(struct idm_backing_io *io, long res)
{
	if (res == -EINTR) {
		return false;
	}
	if (res < 0 || !moves_data(io)) {
		/* WRITE ZEROES / UNMAP are done in one step: all of it. */
		if (res >= 0 && io->op != IDM_BACKING_FLUSH) {
			io->moved = io->len;
		}
		idm_backing_complete(io, res < 0 ? (int)res : 0);
		return true;
	}
	if (res > 0) {
		io->moved += (uint32_t)res;
	} else if (io->op == IDM_BACKING_READ) {
		/* End of file inside the store: the rest reads as zeros. */
		memset(io->buf + io->moved, 0, io->len - io->moved);
		io->moved = io->len;
	} else {
		idm_backing_complete(io, -EIO); /* a write that moves nothing */
		return true;
	}
	if (io->moved < io->len) {
		return false;
	}
	idm_backing_complete(io, 0);
	return true;
}

/* One blocking system call for what is left of `io`: bytes or -errno. */
static long file_sync_step(struct file_store *f, struct idm_backing_io *io)
{
	struct iovec iov = {io->buf + io->moved, io->len - io->moved};
	off_t off = (off_t)(io->offset + io->moved);
	ssize_t n;

	switch (io->op) {
	case IDM_BACKING_READ:
		n = pread(f->fd, iov.iov_base, iov.iov_len, off);
		break;
	case IDM_BACKING_WRITE:
		n = pwritev2(f->fd, &iov, 1, off, io->fua ? RWF_DSYNC : 0);
		break;
	case IDM_BACKING_WRITE_ZEROES:
	case IDM_BACKING_UNMAP:
		return zero_sync(f, io);
	default:
		n = fdatasync(f->fd);
		break;
	}
	return n < 0 ? -errno : (long)n;
}

/* Finish `io` on the calling thread. */
static void file_run_sync(struct file_store *f, struct idm_backing_io *io)
{
	while (!file_account(io, file_sync_step(f, io))) {
	}
}

static void file_issue(struct idm_backing_io *io, struct idm_reactor *r);

/* io_uring completion of one step of a file request. */
static void file_uring_done(struct idm_uring_req *req, int res)
{
	struct idm_backing_io *io = ureq_to_io(req);

	/* No fallocate here (some block devices, old filesystems): the
	 * inline path writes the zeros instead. */
	if (res == -EAGAIN || (!moves_data(io) && io->op != IDM_BACKING_FLUSH &&
	                       (res == -EOPNOTSUPP || res == -EINVAL || res == -ENODEV))) {
		/* The ring could not take it now: finish it inline. */
		file_run_sync(io_file(io), io);
		return;
	}
	if (io->op == IDM_BACKING_READ && res > 0) {
		/* The kernel filled the buffer behind memcheck's back. */
		VALGRIND_MAKE_MEM_DEFINED(io->buf + io->moved, (size_t)res);
	}
	if (!file_account(io, res)) {
		/* Completions run on the reactor thread: resume there. */
		file_issue(io, idm_reactor_self());
	}
}

/* Start (or resume) `io` through r's io_uring, or inline without one. */
static void file_issue(struct idm_backing_io *io, struct idm_reactor *r)
{
	struct file_store *f = io_file(io);
	struct io_uring_sqe *sqe = r ? idm_reactor_sqe(r, &io->ureq) : NULL;

	if (!sqe) {
		file_run_sync(f, io);
		return;
	}
	io->ureq.done = file_uring_done;
	switch (io->op) {
	case IDM_BACKING_READ:
		io_uring_prep_read(sqe, f->fd, io->buf + io->moved, io->len - io->moved,
		                   io->offset + io->moved);
		break;
	case IDM_BACKING_WRITE:
		io_uring_prep_write(sqe, f->fd, io->buf + io->moved, io->len - io->moved,
		                    io->offset + io->moved);
		if (io->fua) {
			sqe->rw_flags = RWF_DSYNC;
		}
		break;
	case IDM_BACKING_WRITE_ZEROES:
	case IDM_BACKING_UNMAP:
		io_uring_prep_fallocate(sqe, f->fd, zero_mode(io), io->offset, io->len);
		break;
	default:
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		break;
	}
}

static void file_submit(struct idm_backing *b, struct idm_backing_io *io, struct idm_reactor *r)
{
	if (!idm_backing_done_early(b, io)) {
		file_issue(io, r);
	}
}

static void file_close(struct idm_backing *b)
{
	struct file_store *f = (struct file_store *)b;

	if (fdatasync(f->fd) != 0) {
		fprintf(stderr, "idm: backing '%s': flush at close failed: %s\n", b->desc,
		        strerror(errno));
	}
	close(f->fd);
	free(f);
}

/* Holes from SEEK_DATA / SEEK_HOLE; where those are not supported
 * (block devices) everything counts as allocated. */
static int file_lba_status(struct idm_backing *b, uint64_t offset, bool *mapped, uint64_t *run)
{
	struct file_store *f = (struct file_store *)b;
	off_t data = lseek(f->fd, (off_t)offset, SEEK_DATA);
	off_t hole;

	*mapped = true;
	*run = b->size - offset;
	if (data < 0) {
		if (errno == ENXIO) { /* only a hole from here to EOF */
			*mapped = false;
		}
		return 0;
	}
	if ((uint64_t)data > offset) {
		*mapped = false;
		*run = (uint64_t)data - offset;
	} else {
		hole = lseek(f->fd, (off_t)offset, SEEK_HOLE);
		if (hole > (off_t)offset) {
			*run = (uint64_t)hole - offset;
		}
	}
	if (*run > b->size - offset) {
		*run = b->size - offset;
	}
	return 0;
}

/* A regular file grows or shrinks (ftruncate); a device cannot. */
static int file_resize(struct idm_backing *b, uint64_t size)
{
	struct file_store *f = (struct file_store *)b;

	if (ftruncate(f->fd, (off_t)size) != 0) {
		return -errno;
	}
	b->size = size;
	return 0;
}

static const struct idm_backing_ops file_ops = {
    .kind = "file",
    .submit = file_submit,
    .map = NULL,
    .close = file_close,
    .lba_status = file_lba_status,
    .resize = file_resize,
};

/* Open `path` read-write; create it when a size is given and it is
 * missing (*created tells). Returns the fd or -errno with a reason. */
static int open_path(const char *path, uint64_t size, bool *created, char *why, size_t whylen)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	*created = false;
	if (fd < 0 && errno == ENOENT && size > 0) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
		*created = fd >= 0;
	}
	if (fd >= 0) {
		return fd;
	}
	if (errno == EISDIR) {
		snprintf(why, whylen, "'%s' is a directory", path);
		return -EISDIR;
	}
	if (errno == ENOENT && size == 0) {
		snprintf(why, whylen,
		         "'%s' does not exist (give a size to create it: file:PATH:SIZE)", path);
		return -ENOENT;
	}
	snprintf(why, whylen, "cannot %s '%s': %s", size > 0 ? "open or create" : "open", path,
	         strerror(errno));
	return -errno;
}

/* Size a regular file store: the file's own size when none was asked,
 * else extend the file (sparse) when it is smaller; never shrink it. */
static int size_regular(int fd, const char *path, const struct stat *st, uint32_t bs,
                        uint64_t *size, char *why, size_t whylen)
{
	uint64_t have = (uint64_t)st->st_size;

	if (*size == 0) {
		if (have == 0) {
			snprintf(why, whylen, "'%s' is empty (give a size: file:PATH:SIZE)", path);
			return -EINVAL;
		}
		if (have % bs) {
			snprintf(why, whylen,
			         "size %llu of '%s' is not a multiple of the block size %u",
			         (unsigned long long)have, path, bs);
			return -EINVAL;
		}
		*size = have;
		return 0;
	}
	if (have < *size && ftruncate(fd, (off_t)*size) != 0) {
		int rc = -errno;

		snprintf(why, whylen, "'%s' has %llu bytes and cannot be extended to %llu: %s",
		         path, (unsigned long long)have, (unsigned long long)*size, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Size a block device store: the device (rounded down to whole blocks)
 * when no size was asked, else the asked size if the device holds it. */
static int size_blockdev(int fd, const char *path, uint32_t bs, uint64_t *size, char *why,
                         size_t whylen)
{
	uint64_t have = 0;

	if (ioctl(fd, BLKGETSIZE64, &have) != 0) {
		int rc = -errno;

		snprintf(why, whylen, "cannot get the size of '%s': %s", path, strerror(-rc));
		return rc;
	}
	if (*size == 0) {
		*size = have - have % bs;
		if (*size == 0) {
			snprintf(why, whylen, "block device '%s' is smaller than one block", path);
			return -EINVAL;
		}
		return 0;
	}
	if (have < *size) {
		snprintf(why, whylen, "block device '%s' holds %llu bytes, %llu asked", path,
		         (unsigned long long)have, (unsigned long long)*size);
		return -ENOSPC;
	}
	return 0;
}

/* Reopen a block device exclusively (O_EXCL): a device that is mounted
 * or claimed by another store must not be exported behind its back. */
static int claim_blockdev(int *fd, const char *path, char *why, size_t whylen)
{
	int excl = open(path, O_RDWR | O_CLOEXEC | O_EXCL);

	if (excl < 0) {
		int rc = -errno;

		snprintf(why, whylen, "block device '%s' is in use (mounted or claimed): %s", path,
		         strerror(-rc));
		return rc;
	}
	close(*fd);
	*fd = excl;
	return 0;
}

/* Find the store's size from what `*fd` is (a block device's fd is
 * replaced by an exclusive one). */
static int size_store(int *fd, const char *path, uint32_t bs, uint64_t *size, char *why,
                      size_t whylen)
{
	struct stat st;
	int rc;

	if (fstat(*fd, &st) != 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot stat '%s': %s", path, strerror(-rc));
		return rc;
	}
	if (S_ISREG(st.st_mode)) {
		return size_regular(*fd, path, &st, bs, size, why, whylen);
	}
	if (S_ISBLK(st.st_mode)) {
		rc = claim_blockdev(fd, path, why, whylen);
		return rc ? rc : size_blockdev(*fd, path, bs, size, why, whylen);
	}
	snprintf(why, whylen, "'%s' is not a regular file or a block device", path);
	return -EINVAL;
}

int idm_file_open(const char *path, uint64_t size, uint32_t block_size, struct idm_backing **out,
                  char *why, size_t whylen)
{
	struct file_store *f;
	bool created;
	int fd, rc;

	fd = open_path(path, size, &created, why, whylen);
	if (fd < 0) {
		return fd;
	}
	rc = size_store(&fd, path, block_size, &size, why, whylen);
	f = rc ? NULL : calloc(1, sizeof(*f));
	if (!rc && !f) {
		snprintf(why, whylen, "out of memory");
		rc = -ENOMEM;
	}
	if (rc) {
		close(fd);
		if (created) {
			unlink(path); /* leave nothing half-made behind */
		}
		return rc;
	}
	f->b.ops = &file_ops;
	f->b.size = size;
	f->fd = fd;
	*out = &f->b;
	return 0;
}
