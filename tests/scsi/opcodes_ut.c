/* SPDX-License-Identifier: BSD-3-Clause */
#include "scsi_test.h"
int main(void) { return 0; }
