#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# dracut hook (pre-pivot, emergency, shutdown-emergency; sourced): extend the lock PCR.
/usr/lib/cvmseal/cvmseal-lock || :
