/* SPDX-License-Identifier: MIT */
/*
 * ops.h: the FUSE low-level operations of a pcachefs mount. The session's
 * userdata is the mount's struct fs.
 */
#ifndef PCACHEFS_OPS_H
#define PCACHEFS_OPS_H

#include <fuse_lowlevel.h>

const struct fuse_lowlevel_ops *ops_table(void);

#endif
