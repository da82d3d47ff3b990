#!/bin/sh
# The man pages document every option, command, action (key binding), color role and theme file,
# and every option of imp-bench.
. "$(dirname "$0")/lib.sh"
: "${SRCDIR:=$(dirname "$0")/..}"
MAN="$SRCDIR/man/imp-chat.1"
# man pages escape '-' as '\-'
plain="$WORK/man.txt"
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN" >"$plain"

check_all() { # KIND FILE: the names in FILE (one a line, at least one) must appear in the man page
    missing=""
    while read -r name; do
        grep -qF -- "$name" "$plain" || missing="$missing $name"
    done <"$2"
    [ -s "$2" ] && [ -z "$missing" ]; ok $? "every $1 is in the man page (missing:$missing)"
}

# listed options (a NULL help marks test hooks)
grep '^    {"[a-z-]*", [a-z_]*, [^,]*, [^,]*, "' "$SRCDIR/src/options.c" |
    sed 's/^    {"\([a-z-]*\)".*/--\1/' >"$WORK/options"
check_all option "$WORK/options"
sed -n 's/^ *{"\(\/[a-z]*\)", \(NULL\|"\(\/[a-z]*\)"\).*/\1 \3/p' "$SRCDIR/src/chat/cmdtable.c" |
    tr ' ' '\n' | sed '/^$/d' >"$WORK/commands"
check_all command "$WORK/commands"
sed -n 's/^ *X(ACTION_[A-Z_]*, "\([a-z-]*\)".*/\1/p' "$SRCDIR/ui/actions.h" >"$WORK/actions"
check_all action "$WORK/actions"
sed -n 's/^ *X(ROLE_[A-Z_]*, "\([a-z-]*\)").*/\1/p' "$SRCDIR/ui/roles.h" >"$WORK/roles"
check_all "color role" "$WORK/roles"
for theme in "$SRCDIR"/themes/*.theme; do basename "$theme" .theme; done >"$WORK/themes"
check_all theme "$WORK/themes"
# imp-bench's options, in its own page
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$SRCDIR/man/imp-bench.1" >"$plain"
sed -n 's/^        {"\([a-z-]*\)", [a-z_]*, NULL, .*/--\1/p' "$SRCDIR/src/bench.c" >"$WORK/bench-options"
check_all "imp-bench option" "$WORK/bench-options"
[ "$(wc -l <"$WORK/bench-options")" -gt 8 ]; ok $? "imp-bench's options were read"
[ "$(wc -l <"$WORK/actions")" -gt 20 ] && [ "$(wc -l <"$WORK/options")" -gt 25 ] &&
    [ "$(wc -l <"$WORK/commands")" -gt 18 ]
ok $? "the lists were read ($(wc -l <"$WORK/actions") actions, $(wc -l <"$WORK/options") options, $(wc -l <"$WORK/commands") commands)"
finish
