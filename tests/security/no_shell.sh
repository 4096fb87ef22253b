#!/bin/sh
# S2: no shell is ever started, no input can reach exec/popen/system.  The
# host binary and every shipped plugin must not even import a function
# that starts a program: checked on the built binaries' dynamic symbols,
# so a call added anywhere (or pulled in by a library we link statically)
# fails this test.  Usage: no_shell.sh BUILD_DIR
set -eu
BUILD=$1
bad=0
for f in "$BUILD/bin/tanomu" "$BUILD"/plugins/*.so; do
    [ -e "$f" ] || continue
    hits=$(nm -D --undefined-only "$f" |
           grep -E ' (system|popen|execl|execle|execlp|execv|execve|execvp|execvpe|fexecve|posix_spawn|posix_spawnp|wordexp)(@|$)' || true)
    if [ -n "$hits" ]; then
        echo "S2: $f imports a way to start programs:" >&2
        echo "$hits" >&2
        bad=1
    fi
done
[ -x "$BUILD/bin/tanomu" ] || { echo "no $BUILD/bin/tanomu" >&2; exit 1; }
[ $bad = 0 ] && echo "S2: no exec/popen/system in the host or its plugins"
exit $bad
