/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h: what Linux's mm selftests (v6.18 era) need from uapi headers newer than
 * Debian bookworm's linux-libc-dev 6.1, written for dirtybit from the uapi values.
 * build.sh passes it with -include, so it is seen before any selftest header; each
 * definition is guarded so a newer toolchain's own header wins.
 *
 *   PAGEMAP_SCAN, struct pm_scan_arg, struct page_region, PAGE_IS_*
 *       include/uapi/linux/fs.h since 6.7 (vm_util.c's pagemap_is_*()).
 *   PROCMAP_QUERY, struct procmap_query
 *       include/uapi/linux/fs.h since 6.11 (vm_util.h's struct procmap_fd).
 *   ksft_test_result_report()
 *       tools/testing/selftests/kselftest.h since 6.12; the kselftest.h the search
 *       index holds is older, and vm_util.h's log_test_result() calls it.
 */
#ifndef DIRTYBIT_SELFTESTS_COMPAT_H
#define DIRTYBIT_SELFTESTS_COMPAT_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/fs.h>

#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN		_IOWR('f', 16, struct pm_scan_arg)

#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING	(1 << 0)
#define PM_SCAN_CHECK_WPASYNC	(1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#endif /* PAGEMAP_SCAN */

#ifndef PROCMAP_QUERY
#define PROCMAP_QUERY		_IOWR('f', 17, struct procmap_query)

struct procmap_query {
	__u64 size;
	__u64 query_flags;
	__u64 query_addr;
	__u64 vma_start;
	__u64 vma_end;
	__u64 vma_flags;
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 vma_name_size;
	__u32 build_id_size;
	__u64 vma_name_addr;
	__u64 build_id_addr;
};
#endif /* PROCMAP_QUERY */

/*
 * Expanded where vm_util.h uses it, after kselftest.h is included: one result line of
 * the kind KSFT_PASS/FAIL/XFAIL/SKIP names, anything else an error line.
 */
#define ksft_test_result_report(result, ...)			\
	do {							\
		switch (result) {				\
		case KSFT_PASS:					\
			ksft_test_result_pass(__VA_ARGS__);	\
			break;					\
		case KSFT_FAIL:					\
			ksft_test_result_fail(__VA_ARGS__);	\
			break;					\
		case KSFT_XFAIL:				\
			ksft_test_result_xfail(__VA_ARGS__);	\
			break;					\
		case KSFT_SKIP:					\
			ksft_test_result_skip(__VA_ARGS__);	\
			break;					\
		default:					\
			ksft_test_result_error(__VA_ARGS__);	\
			break;					\
		}						\
	} while (0)

#endif /* DIRTYBIT_SELFTESTS_COMPAT_H */
