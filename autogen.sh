#!/bin/sh
# Regenerates the autotools build files (configure, Makefile.in) from
# configure.ac and the Makefile.am files; they are never committed.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force
