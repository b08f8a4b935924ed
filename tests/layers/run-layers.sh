#!/bin/sh
# The layering within each program and library (an automake TESTS entry):
# check-cycles.py finds any loop of calls between the files of admin/,
# beacon/, milter/, common/, rewrite/ and store/ (from the built objects,
# with nm), and any include of the configuration in rewrite/.
if ! command -v python3 >/dev/null 2>&1 || ! command -v nm >/dev/null 2>&1 ||
    ! command -v ar >/dev/null 2>&1; then
	echo "SKIP: python3, nm or ar not found -- the layering was NOT checked"
	exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${top_srcdir:-$here/../..}
builddir=${top_builddir:-$here/../..}
exec python3 "$here/check-cycles.py" "$srcdir" "$builddir" \
	admin:mailbeacon_SOURCES beacon:mailbeacond_SOURCES milter:mailbeacon_milter_SOURCES \
	common/libmbcommon.a rewrite/librewrite.a store/libmbstore.a
